// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control socket's limits (agent/sock.c): each class of peer has its
 * own budget of connections, no uid but root holds more than PER_UID_MAX,
 * a peer that is not a plugin is closed after idle_ms of silence. Peers are
 * socketpairs; their credentials (SO_PEERCRED) and the clock are the
 * test's: sock.c is included with getsockopt and loop_now_ms replaced, and
 * the timer is an eventfd the test makes readable.
 */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"

static uint64_t fake_now = 1000;
static struct ucred fake_cred;

/* The peer's credentials are the test's; other options are the kernel's. */
static int fake_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	if (level == SOL_SOCKET && name == SO_PEERCRED) {
		memcpy(val, &fake_cred, sizeof(fake_cred));
		*len = sizeof(fake_cred);
		return 0;
	}
	return getsockopt(fd, level, name, val, len);
}

#define getsockopt    fake_getsockopt
#define loop_now_ms() (fake_now)
#include "../../agent/sock.c"
#undef getsockopt
#undef loop_now_ms

#include "unit.h"

#include "agent_stubs.h"

/* the status is status.c's business (and the lab's) */
json_t *status_json(struct agent *a)
{
	return json_object();
}

/* so are the gauges the metrics take from it (metrics_collect.c) */
int metrics_collect(struct agent *a)
{
	return 0;
}

enum { OVPN_UID = 1000, OVPN_GID = 3000, GROUP_GID = 2000 };

struct bench {
	struct sock *s;
	int peers[512]; /* the peers' ends */
	size_t npeers;
};

static void quiet(int prio, const char *msg, void *ctx)
{
}

static int setup(void **state)
{
	struct bench *b = calloc(1, sizeof(*b));
	struct sock *s = calloc(1, sizeof(*s));

	assert_non_null(b);
	assert_non_null(s);
	log_set_sink(quiet, NULL);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	assert_true(s->epfd >= 0);
	s->listen_w.fd = s->claims_w.fd = -1;
	s->timer_w = (struct watcher){ .fn = on_timer, .ctx = s };
	s->timer_w.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(s->timer_w.fd >= 0);
	s->rl_refused = (struct log_rl)LOG_RL_INIT(5, 1);
	s->rl_bad = (struct log_rl)LOG_RL_INIT(5, 1);
	snprintf(s->path, sizeof(s->path), "test.sock");
	/* the classes: the OpenVPN user and group write, the socket's group reads */
	s->has_ovpn_uid = s->has_ovpn_gid = s->has_group = true;
	s->ovpn_uid = OVPN_UID;
	s->ovpn_gid = OVPN_GID;
	s->group_gid = GROUP_GID;
	b->s = s;
	*state = b;
	return 0;
}

static int teardown(void **state)
{
	struct bench *b = *state;
	struct sock *s = b->s;

	for (struct conn *c = s->conns; c; c = c->next)
		conn_close(s, c, "test over");
	sock_reap(s);
	close(s->timer_w.fd);
	close(s->epfd);
	free(s);
	for (size_t i = 0; i < b->npeers; i++)
		close(b->peers[i]);
	free(b);
	return 0;
}

static size_t live(const struct sock *s)
{
	size_t n = 0;

	for (const struct conn *c = s->conns; c; c = c->next)
		n += !c->dead;
	return n;
}

/* A peer with uid/gid connects; whether the agent kept the connection. */
static bool connect_as(struct bench *b, uid_t uid, gid_t gid)
{
	int sv[2];
	size_t before = live(b->s);
	char byte;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_true(b->npeers < sizeof(b->peers) / sizeof(b->peers[0]));
	b->peers[b->npeers++] = sv[1];
	fake_cred = (struct ucred){ .pid = 4000 + (pid_t)b->npeers, .uid = uid, .gid = gid };
	admit(b->s, sv[0]);
	if (live(b->s) == before + 1)
		return true;
	/* refused: the agent closed its end, the peer reads end of file */
	assert_int_equal(live(b->s), before);
	assert_int_equal(recv(sv[1], &byte, 1, MSG_DONTWAIT), 0);
	return false;
}

static void test_classes(void **state)
{
	struct bench *b = *state;

	assert_true(connect_as(b, 0, 0));
	assert_int_equal(b->s->conns->p.cls, PEER_ROOT);
	assert_true(connect_as(b, OVPN_UID, 65534));
	assert_int_equal(b->s->conns->p.cls, PEER_WRITER);
	assert_true(connect_as(b, 1234, OVPN_GID));
	assert_int_equal(b->s->conns->p.cls, PEER_WRITER);
	assert_true(connect_as(b, 1235, GROUP_GID));
	assert_int_equal(b->s->conns->p.cls, PEER_READONLY);
	/* anyone else is refused */
	assert_false(connect_as(b, 1236, 1236));
	assert_int_equal(live(b->s), 4);
}

static void test_per_uid_limit(void **state)
{
	struct bench *b = *state;

	for (int i = 0; i < PER_UID_MAX; i++)
		assert_true(connect_as(b, OVPN_UID, OVPN_GID));
	/* one more of that uid is refused, whatever its class */
	assert_false(connect_as(b, OVPN_UID, OVPN_GID));
	assert_false(connect_as(b, OVPN_UID, GROUP_GID));
	/* another uid of the same class is not */
	assert_true(connect_as(b, 1001, OVPN_GID));
	/* root has no per-uid limit */
	for (int i = 0; i < PER_UID_MAX + 4; i++)
		assert_true(connect_as(b, 0, 0));
	/* a connection closed frees its place */
	for (struct conn *c = b->s->conns; c; c = c->next)
		if (c->p.uid == OVPN_UID) {
			conn_close(b->s, c, "test");
			break;
		}
	sock_reap(b->s);
	assert_true(connect_as(b, OVPN_UID, OVPN_GID));
}

static void test_reader_budget(void **state)
{
	struct bench *b = *state;

	for (int i = 0; i < READERS_MAX; i++)
		assert_true(connect_as(b, 2000 + (uid_t)i, GROUP_GID));
	assert_false(connect_as(b, 2999, GROUP_GID));
	/* readers never use up what plugins need */
	assert_true(connect_as(b, OVPN_UID, OVPN_GID));
	assert_true(connect_as(b, 0, 0));
}

static void test_writer_budget(void **state)
{
	struct bench *b = *state;

	for (int i = 0; i < WRITERS_MAX; i++)
		assert_true(connect_as(b, i % 2 ? 0 : 5000 + (uid_t)i, OVPN_GID));
	/* root counts in the writers' budget too */
	assert_false(connect_as(b, 0, 0));
	assert_false(connect_as(b, 5999, OVPN_GID));
	/* the readers' budget is its own */
	assert_true(connect_as(b, 2000, GROUP_GID));
}

/* The timer fires at fake time now. */
static void tick(struct sock *s, uint64_t now)
{
	uint64_t one = 1;

	fake_now = now;
	assert_int_equal(write(s->timer_w.fd, &one, sizeof(one)), sizeof(one));
	on_timer(&s->timer_w, EPOLLIN);
}

static void test_idle_timeout(void **state)
{
	struct bench *b = *state;
	struct sock *s = b->s;
	struct ainst inst = { 0 };
	struct conn *ctl, *plugin, *busy;

	s->idle_ms = 5000;
	fake_now = 1000;
	assert_true(connect_as(b, 1235, GROUP_GID)); /* a vpcroutectl, silent */
	ctl = s->conns;
	assert_true(connect_as(b, OVPN_UID, OVPN_GID)); /* a plugin, after its hello */
	plugin = s->conns;
	plugin->p.inst = &inst;
	assert_true(connect_as(b, 1236, GROUP_GID)); /* one whose request waits */
	busy = s->conns;

	tick(s, 5999);
	assert_int_equal(live(s), 3);
	/* the request arrived, the loop had not read it yet */
	assert_int_equal(send(b->peers[b->npeers - 1], "x", 1, 0), 1);
	tick(s, 6000);
	assert_true(ctl->dead);
	assert_false(busy->dead);   /* its silence ended at 6000 */
	assert_false(plugin->dead); /* plugins are not idle-limited */
	sock_reap(s);
	assert_int_equal(live(s), 2);
	/* without a word more, the waiting one goes idle_ms later */
	{
		char buf[8];

		assert_int_equal(recv(busy->w.fd, buf, sizeof(buf), 0), 1);
	}
	tick(s, 10999);
	assert_false(busy->dead);
	tick(s, 11000);
	assert_true(busy->dead);
	assert_false(plugin->dead);
	sock_reap(s);
	assert_int_equal(live(s), 1);
}

static void test_no_idle_limit(void **state)
{
	struct bench *b = *state;

	b->s->idle_ms = 0; /* -i 0: no idle timeout */
	fake_now = 1000;
	assert_true(connect_as(b, 1235, GROUP_GID));
	tick(b->s, 1000 + 24 * 3600 * 1000ULL);
	assert_int_equal(live(b->s), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_classes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_uid_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_idle_limit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
