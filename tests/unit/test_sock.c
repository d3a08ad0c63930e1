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
#include <stdarg.h>
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
char *status_json_text(struct agent *a)
{
	return strdup("{}");
}

/* so are the gauges the metrics take from it (metrics_collect.c) */
int metrics_collect(struct agent *a)
{
	return 0;
}

enum { OVPN_UID = 1000, OVPN_GID = 3000, GROUP_GID = 2000 };

struct bench {
	struct agent a; /* a server whose clients announce hosts of 172.16.0.0/12 */
	struct sock *s;
	int peers[512]; /* the peers' ends */
	size_t npeers;
};

static void quiet(int prio, const char *msg, void *ctx)
{
}

static const char conf_immediate[] =
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
	"\"tunnel\":{\"pool\":\"10.1.2.0/24\"},"
	"\"default_client\":{\"allow\":[\"172.16.0.0/12\"],\"to_local\":true}}";
static const char conf_deferred[] =
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
	"\"tunnel\":{\"pool\":\"10.1.2.0/24\"},\"plugin\":{\"admission\":\"deferred\"},"
	"\"default_client\":{\"allow\":[\"172.16.0.0/12\"],\"to_local\":true}}";

static void agent_conf(struct agent *a, const char *text)
{
	char err[CFG_ERRLEN];

	cfg_free(a->cfg);
	a->cfg = NULL;
	if (cfg_load_buf("t.conf", text, strlen(text), &a->cfg, err, sizeof(err)))
		fail_msg("%s", err);
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
	b->a.nft_ready = true;
	b->a.claims_gen = 1;
	/* batches close by their size only: the tests do not depend on time
	 * (test_batch_bounded puts the time bound back) */
	b->a.batch.max_us = UINT64_MAX / 2;
	agent_conf(&b->a, conf_immediate);
	s->a = &b->a;
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
	claims_free(s);
	free(s);
	state_free(&b->a);
	cfg_free(b->a.cfg);
	stub_kernel_clear();
	stub_nft_err = 0;
	stub_nft_hook = NULL;
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

/* --- the batch: one commit for the changes of a pass, acks after it --- */

static int peer_fd; /* the plugin's end, for the hook */
static bool answered_before_commit;

/* At the nftables commit: nothing may have been acknowledged yet. */
static void at_commit(void)
{
	char b;

	answered_before_commit |= recv(peer_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

static void peer_send(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void peer_send(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_int_equal(send(fd, buf, (size_t)n, 0), n);
}

/* The acks the peer has been sent, in order: refs and whether ok (the
 * other messages skipped); how many. */
static size_t peer_acks(int fd, uint64_t *ref, bool *ok, char (*error)[PROTO_ERROR_MAX], size_t max)
{
	char buf[PROTO_MAX_MSG];
	size_t n = 0;
	ssize_t got;

	while ((got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		json_t *m = json_loadb(buf, (size_t)got, 0, NULL);

		assert_non_null(m);
		if (strcmp(json_string_value(json_object_get(m, "type")), "ack") == 0) {
			assert_true(n < max);
			ref[n] = (uint64_t)json_integer_value(json_object_get(m, "ref"));
			ok[n] = json_is_true(json_object_get(m, "ok"));
			snprintf(error[n], PROTO_ERROR_MAX, "%s",
				 json_string_value(json_object_get(m, "error"))
					 ? json_string_value(json_object_get(m, "error"))
					 : "");
			n++;
		}
		json_decref(m);
	}
	return n;
}

/* A plugin of instance "server", after its hello and its tunnel (dev lo). */
static struct conn *plugin_up(struct bench *b)
{
	uint64_t ref[4];
	bool ok[4];
	char error[4][PROTO_ERROR_MAX];
	struct conn *c;
	int fd;

	assert_true(connect_as(b, OVPN_UID, OVPN_GID));
	c = b->s->conns;
	fd = b->peers[b->npeers - 1];
	peer_send(fd, "{\"v\":2,\"type\":\"hello\",\"id\":1,\"role\":\"server\",\"pid\":1,"
		      "\"instance\":\"server\"}");
	peer_send(fd, "{\"v\":2,\"type\":\"tunnel\",\"id\":2,\"event\":\"up\",\"dev\":\"lo\","
		      "\"routes\":[]}");
	on_conn(&c->w, EPOLLIN);
	assert_int_equal(peer_acks(fd, ref, ok, error, 4), 2);
	assert_true(ok[0] && ok[1]);
	return c;
}

static void peer_connect(int fd, unsigned id, unsigned host)
{
	peer_send(fd,
		  "{\"v\":2,\"type\":\"connect\",\"id\":%u,\"client\":{\"cn\":\"h%u\","
		  "\"networks\":[\"172.16.0.%u/32\"]}}",
		  id, host, host);
}

/*
 * The connects and disconnects of one pass are programmed by one nftables
 * transaction and acknowledged after it, each once and in order; the
 * kernel ends with exactly the clients that stayed.
 */
static void test_batch_acks_after_commit(void **state)
{
	struct bench *b = *state;
	struct conn *c = plugin_up(b);
	int fd = b->peers[b->npeers - 1];
	unsigned commits;
	uint64_t ref[16];
	bool ok[16];
	char error[16][PROTO_ERROR_MAX];

	for (unsigned i = 0; i < 5; i++)
		peer_connect(fd, 10 + i, i + 1);
	peer_send(fd, "{\"v\":2,\"type\":\"disconnect\",\"id\":15,\"cn\":\"h1\"}");
	commits = stub_nft_commits;
	on_conn(&c->w, EPOLLIN);
	/* read, admitted, held: nothing in the kernel, nothing answered */
	assert_int_equal(b->a.batch.nw, 6);
	assert_int_equal(stub_nkernel, 0);
	assert_int_equal(stub_nft_commits, commits);
	assert_int_equal(peer_acks(fd, ref, ok, error, 16), 0);

	peer_fd = fd;
	answered_before_commit = false;
	stub_nft_hook = at_commit;
	sock_commit(b->s);
	assert_int_equal(stub_nft_commits, commits + 1);
	assert_false(answered_before_commit);
	assert_int_equal(peer_acks(fd, ref, ok, error, 16), 6);
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(ref[i], 10 + i);
		assert_true(ok[i]);
	}
	/* h1 came and went within the batch: never in the kernel */
	assert_int_equal(stub_nkernel, 4);
	for (unsigned i = 2; i <= 5; i++) {
		char net[32];
		struct pfx p;

		snprintf(net, sizeof(net), "172.16.0.%u/32", i);
		p = pfx_of(net);
		assert_non_null(stub_kernel_find(&p));
	}
	assert_int_equal(b->a.nroutes, 4);
	/* nothing left to commit */
	sock_commit(b->s);
	assert_int_equal(stub_nft_commits, commits + 1);
}

/* The messages each commit carried (the batch at the nftables commit). */
static struct batch *watched;
static size_t carried[16], ncarried;

static void count_carried(void)
{
	if (ncarried < 16)
		carried[ncarried++] = watched->nw;
}

/*
 * A batch is committed when it is full (BATCH_MAX messages), or when it has
 * gathered for BATCH_MAX_US (a slow build may get there first), before the
 * end of the pass; every message is answered once, in order.
 */
static void test_batch_bounded(void **state)
{
	struct bench *b = *state;
	struct conn *c = plugin_up(b);
	int fd = b->peers[b->npeers - 1];
	size_t n = 0, total = 0;
	uint64_t ref[BATCH_MAX * 2];
	bool ok[BATCH_MAX * 2];
	char error[BATCH_MAX * 2][PROTO_ERROR_MAX];

	for (unsigned i = 0; i < BATCH_MAX + 8; i++)
		peer_connect(fd, 100 + i, i + 1);
	b->a.batch.max_us = 0; /* BATCH_MAX_US */
	watched = &b->a.batch;
	ncarried = 0;
	stub_nft_hook = count_carried;
	/* MSGS_PER_PASS a wake-up, as the loop calls it */
	while (has_input(c))
		on_conn(&c->w, EPOLLIN);
	assert_true(ncarried >= 1); /* before the end of the pass */
	sock_commit(b->s);	    /* the end of the pass */
	for (size_t i = 0; i < ncarried; i++) {
		assert_true(carried[i] >= 1 && carried[i] <= BATCH_MAX);
		total += carried[i];
	}
	assert_int_equal(total, BATCH_MAX + 8);
	n = peer_acks(fd, ref, ok, error, BATCH_MAX * 2);
	assert_int_equal(n, BATCH_MAX + 8);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ref[i], 100 + i);
	assert_int_equal(stub_nkernel, BATCH_MAX + 8);
}

/*
 * Deferred admission: a commit that fails refuses every connect it carried,
 * and leaves nothing of them behind (kernel, claims); the next one works.
 */
static void test_batch_failed_commit_refuses_all(void **state)
{
	struct bench *b = *state;
	struct conn *c;
	int fd;
	uint64_t ref[16];
	bool ok[16];
	char error[16][PROTO_ERROR_MAX];
	struct proto_claim *claims;

	agent_conf(&b->a, conf_deferred);
	c = plugin_up(b);
	fd = b->peers[b->npeers - 1];
	for (unsigned i = 0; i < 3; i++)
		peer_connect(fd, 10 + i, i + 1);
	on_conn(&c->w, EPOLLIN);
	stub_nft_err = -EIO;
	sock_commit(b->s);
	assert_int_equal(peer_acks(fd, ref, ok, error, 16), 3);
	for (unsigned i = 0; i < 3; i++) {
		char want[64];

		assert_int_equal(ref[i], 10 + i);
		assert_false(ok[i]);
		snprintf(want, sizeof(want), "programming client h%u failed", i + 1);
		assert_non_null(strstr(error[i], want));
	}
	assert_int_equal(c->p.inst->n, 0);
	assert_int_equal(state_claims(&b->a, &claims), 0);
	free(claims);
	assert_int_equal(stub_nkernel, 0);

	stub_nft_err = 0;
	peer_connect(fd, 20, 7);
	on_conn(&c->w, EPOLLIN);
	sock_commit(b->s);
	assert_int_equal(peer_acks(fd, ref, ok, error, 16), 1);
	assert_true(ok[0]);
	assert_int_equal(c->p.inst->n, 1);
	assert_int_equal(stub_nkernel, 1);
}

/* The published claims are exactly the host's. */
static void assert_published(struct bench *b)
{
	struct proto_claim *v;
	size_t n = state_claims(&b->a, &v);

	assert_int_equal(b->s->pub.n, n);
	for (size_t i = 0; i < n; i++)
		assert_non_null(claimset_find(&b->s->pub, &v[i]));
	free(v);
	assert_int_equal(b->a.ndirty, 0);
	assert_false(b->a.claims_full);
}

/*
 * Connects and disconnects are published client by client (no comparison
 * of every claim), anything else whole; either way the published table is
 * the host's claims, and each change is logged once.
 */
static void test_claims_client_by_client(void **state)
{
	struct bench *b = *state;
	struct conn *c = plugin_up(b);
	int fd = b->peers[b->npeers - 1];
	size_t nlog;

	claims_publish(b->s); /* the hello's */
	assert_published(b);
	for (unsigned i = 0; i < 5; i++)
		peer_connect(fd, 10 + i, i + 1);
	on_conn(&c->w, EPOLLIN);
	sock_commit(b->s);
	assert_int_equal(b->a.ndirty, 5);
	assert_false(b->a.claims_full);
	nlog = b->s->nlog;
	claims_publish(b->s);
	assert_int_equal(b->s->nlog - nlog, 5);
	assert_published(b);
	/* h1 leaves, h2 moves to another address, h9 comes and goes */
	peer_send(fd, "{\"v\":2,\"type\":\"disconnect\",\"id\":20,\"cn\":\"h1\"}");
	peer_send(fd, "{\"v\":2,\"type\":\"connect\",\"id\":21,\"client\":{\"cn\":\"h2\","
		      "\"networks\":[\"172.16.1.2/32\"]}}");
	peer_connect(fd, 22, 9);
	peer_send(fd, "{\"v\":2,\"type\":\"disconnect\",\"id\":23,\"cn\":\"h9\"}");
	on_conn(&c->w, EPOLLIN);
	sock_commit(b->s);
	nlog = b->s->nlog;
	claims_publish(b->s);
	assert_int_equal(b->s->nlog - nlog, 3); /* h1 out, h2 out and in */
	assert_published(b);
	/* a sync: compared whole */
	peer_send(fd, "{\"v\":2,\"type\":\"sync\",\"id\":30,\"clients\":[{\"cn\":\"h3\","
		      "\"networks\":[\"172.16.0.3/32\"]}],\"more\":false}");
	on_conn(&c->w, EPOLLIN);
	assert_true(b->a.claims_full);
	claims_publish(b->s);
	assert_published(b);
	assert_int_equal(b->s->pub.n, 1);
}

/* The log merged from generation base: exactly claim added (or none), and
 * exactly claim removed (or none). */
static void assert_merged(struct sock *s, uint64_t base, const struct proto_claim *added,
			  const struct proto_claim *removed)
{
	struct claimset add, del;

	claimset_init(&add);
	claimset_init(&del);
	assert_int_equal(claims_merge(s, base, &add, &del), 0);
	assert_int_equal(add.n, added ? 1 : 0);
	assert_int_equal(del.n, removed ? 1 : 0);
	assert_true(!added || claimset_find(&add, added));
	assert_true(!removed || claimset_find(&del, removed));
	claimset_free(&add);
	claimset_free(&del);
}

/*
 * The log keeps each change in short (the common name, the instance's name
 * once): merged from a generation, it gives the claims in full; a claim
 * added and removed again is in neither set.
 */
static void test_claims_log_merge(void **state)
{
	struct bench *b = *state;
	struct conn *c = plugin_up(b);
	int fd = b->peers[b->npeers - 1];
	struct proto_claim h1, h2;
	char cn1[CN_MAX + 1] = "h1", cn2[CN_MAX + 1] = "h2"; /* claim_of copies CN_MAX + 1 */
	struct pfx p;
	char err[PFX_ERRLEN];
	uint64_t base, mid;

	claims_publish(b->s);
	base = b->a.claims_gen;
	peer_connect(fd, 10, 1);
	peer_connect(fd, 11, 2);
	on_conn(&c->w, EPOLLIN);
	sock_commit(b->s);
	claims_publish(b->s);
	mid = b->a.claims_gen;
	peer_send(fd, "{\"v\":2,\"type\":\"disconnect\",\"id\":12,\"cn\":\"h2\"}");
	on_conn(&c->w, EPOLLIN);
	sock_commit(b->s);
	claims_publish(b->s);
	assert_int_equal(b->s->ninames, 1);
	assert_int_equal(pfx_parse("172.16.0.1/32", 0, &p, err, sizeof(err)), 0);
	h1 = claim_of(c->p.inst, cn1, &p);
	assert_int_equal(pfx_parse("172.16.0.2/32", 0, &p, err, sizeof(err)), 0);
	h2 = claim_of(c->p.inst, cn2, &p);
	/* from before both came: h1 added, h2 came and went */
	assert_merged(b->s, base, &h1, NULL);
	/* from after they came: h2 removed */
	assert_merged(b->s, mid, NULL, &h2);
}

/* A peer that goes while its changes wait: they are programmed, not answered. */
static void test_batch_peer_gone(void **state)
{
	struct bench *b = *state;
	struct conn *c = plugin_up(b);
	int fd = b->peers[b->npeers - 1];

	peer_connect(fd, 10, 1);
	on_conn(&c->w, EPOLLIN);
	conn_close(b->s, c, "test");
	sock_commit(b->s);
	assert_int_equal(stub_nkernel, 1);
	sock_reap(b->s);
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
		cmocka_unit_test_setup_teardown(test_batch_acks_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_failed_commit_refuses_all, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_batch_peer_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims_client_by_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims_log_merge, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
