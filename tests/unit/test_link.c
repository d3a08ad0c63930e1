// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The plugin's agent link (plugin/link.c), against an agent double: a
 * SOCK_SEQPACKET socket in a temporary directory that this test plays
 * synchronously, message by message, while the link's thread runs.
 *
 * The file includes link.c itself, so that its test hooks (LINK_HOOK) can
 * stop the thread at a known point: holding its lock (fork), or about to
 * sleep (close). Waits are "eventually, within a generous bound": nothing
 * here measures time.
 */
#include "config.h"

#include <stdatomic.h>

struct link;
static void test_hook(struct link *l, int where);
#define LINK_HOOK(l, where) test_hook(l, where)
#include "link.c"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "unit.h"

#define BOUND_MS 30000 /* a generous bound for anything to happen */

/* ---- test hooks ---- */

enum { HOOK_NONE, HOOK_HOLD_LOCK, HOOK_PARK_UNTIL_STOP, HOOK_PARK_ENCODED };

static struct {
	atomic_int mode;
	int held[2];	/* the thread writes a byte: it is in the hook */
	int release[2]; /* the test writes a byte: leave the hook */
} hook = { .held = { -1, -1 }, .release = { -1, -1 } };

static void hook_signal(void)
{
	char c = 'h';

	if (write(hook.held[1], &c, 1) != 1)
		abort();
}

static void test_hook(struct link *l, int where)
{
	int mode = atomic_load(&hook.mode);

	if (mode == HOOK_HOLD_LOCK && where == LINK_HOOK_LOCKED) {
		/*
		 * Hold the lock until the test says so, or for a second: a
		 * fork() that waits for the lock (as it must) cannot say so.
		 */
		struct pollfd p = { .fd = hook.release[0], .events = POLLIN };
		char c;

		atomic_store(&hook.mode, HOOK_NONE);
		hook_signal();
		if (poll(&p, 1, 1000) > 0 && read(hook.release[0], &c, 1) < 0)
			abort();
	} else if (mode == HOOK_PARK_ENCODED && where == LINK_HOOK_ENCODED) {
		/* a resync is encoded: stay here until the test says so */
		char c;

		atomic_store(&hook.mode, HOOK_NONE);
		hook_signal();
		if (read(hook.release[0], &c, 1) != 1)
			abort();
	} else if (mode == HOOK_PARK_UNTIL_STOP && where == LINK_HOOK_IDLE) {
		/* stay away from the socket until link_free() asks to stop */
		bool stop = false;

		atomic_store(&hook.mode, HOOK_NONE);
		hook_signal();
		while (!stop) {
			struct timespec ms = { .tv_nsec = 1000000 };

			pthread_mutex_lock(&l->mu);
			stop = l->stop;
			pthread_mutex_unlock(&l->mu);
			nanosleep(&ms, NULL);
		}
	}
}

static void hook_arm(int mode)
{
	atomic_store(&hook.mode, mode);
}

/* Waits until the thread is in the armed hook. */
static void hook_wait(void)
{
	struct pollfd p = { .fd = hook.held[0], .events = POLLIN };
	char c;

	if (poll(&p, 1, BOUND_MS) != 1 || read(hook.held[0], &c, 1) != 1)
		fail_msg("the link thread never reached the test hook");
}

/* Appends to the string in buf; a word list gets a space between words. */
static void appendf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void appendf(char *buf, size_t len, const char *fmt, ...)
{
	size_t o = strlen(buf);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + o, len - o, fmt, ap);
	va_end(ap);
}

#define WORD(buf) ((buf)[0] ? " " : "")

/* Lets the thread leave the hook it waits in. */
static void hook_release(void)
{
	char c = 'r';

	if (write(hook.release[1], &c, 1) != 1)
		fail_msg("cannot release the test hook: %s", strerror(errno));
}

/* ---- the agent double ---- */

struct dbl {
	char dir[80];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;
};

static struct dbl D;
static enum proto_role hello_role; /* what the next hello must say */

static void dbl_listen(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	D.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(D.lfd >= 0);
	strcpy(sun.sun_path, D.path);
	unlink(D.path);
	assert_int_equal(bind(D.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(D.lfd, 16), 0);
}

/* The agent goes away: no socket, no file. */
static void dbl_vanish(void)
{
	close(D.lfd);
	D.lfd = -1;
	unlink(D.path);
}

static int dbl_accept(void)
{
	struct pollfd p = { .fd = D.lfd, .events = POLLIN };
	int fd;

	if (poll(&p, 1, BOUND_MS) != 1)
		fail_msg("the link never connected");
	fd = accept4(D.lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* The next message from the link; false at the end of the connection. */
static bool dbl_recv(int fd, struct proto_msg *m)
{
	static char buf[PROTO_MAX_MSG + 1];
	char err[PROTO_ERRLEN];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, BOUND_MS) != 1)
		fail_msg("no message from the link");
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0 && errno == ECONNRESET)
		return false;
	assert_true(n >= 0);
	if (n == 0)
		return false;
	if (proto_decode(buf, (size_t)n, m, err, sizeof(err)) < 0)
		fail_msg("the link sent a bad message: %s", err);
	return true;
}

static void dbl_expect(int fd, enum proto_type t, struct proto_msg *m)
{
	if (!dbl_recv(fd, m))
		fail_msg("the link closed; expected %s", proto_type_name(t));
	if (m->type != t)
		fail_msg("the link sent %s; expected %s", proto_type_name(m->type),
			 proto_type_name(t));
}

static void dbl_send(int fd, const struct proto_msg *m)
{
	char buf[PROTO_MAX_MSG];
	int n = proto_encode(m, buf, sizeof(buf));

	assert_true(n > 0);
	assert_int_equal(send(fd, buf, (size_t)n, MSG_NOSIGNAL), n);
}

/* Reads a connect of cn (NULL: any) with this id (0: any); returns its id. */
static uint64_t dbl_expect_connect(int fd, uint64_t id, const char *cn)
{
	struct proto_msg m;

	dbl_expect(fd, PROTO_CONNECT, &m);
	if (id)
		assert_int_equal(m.id, id);
	if (cn)
		assert_string_equal(m.connect.cn, cn);
	proto_msg_free(&m);
	return m.id;
}

/* An answer the link may no longer read: false when it has gone. */
static bool dbl_try_ack(int fd, uint64_t ref, const char *refusal)
{
	struct proto_msg m = { .type = PROTO_ACK };
	char buf[PROTO_MAX_MSG];
	int n;

	m.ack.ref = ref;
	m.ack.ok = !refusal;
	if (refusal)
		snprintf(m.ack.error, sizeof(m.ack.error), "%s", refusal);
	n = proto_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	return send(fd, buf, (size_t)n, MSG_NOSIGNAL) == n;
}

static void dbl_ack(int fd, uint64_t ref, const char *refusal)
{
	if (!dbl_try_ack(fd, ref, refusal))
		fail_msg("cannot answer the link: %s", strerror(errno));
}

/*
 * Reads hello and the whole sync; returns the clients of the sync as
 * "cn1 cn2 ..." in buf.
 */
static struct proto_msg resync_policy; /* the policy of the last resync; type 0: none */

static void dbl_expect_resync(int fd, pid_t pid, char *buf, size_t len)
{
	struct proto_msg m;
	bool first = true;

	dbl_expect(fd, PROTO_HELLO, &m);
	assert_int_equal(m.hello.pid, (uint32_t)pid);
	assert_int_equal(m.hello.role, hello_role);
	assert_string_equal(m.hello.instance, "unit");
	buf[0] = 0;
	memset(&resync_policy, 0, sizeof(resync_policy));
	/* a link with a configuration says which one it runs, after hello */
	if (!dbl_recv(fd, &m))
		fail_msg("the link closed after hello");
	if (m.type == PROTO_POLICY) {
		resync_policy = m;
		first = false;
	}
	do {
		if (!first)
			dbl_expect(fd, PROTO_SYNC, &m);
		else if (m.type != PROTO_SYNC)
			fail_msg("the link sent %s; expected sync", proto_type_name(m.type));
		first = false;
		for (size_t i = 0; i < m.sync.n; i++) {
			appendf(buf, len, "%s%s", WORD(buf), m.sync.clients[i].cn);
		}
		proto_msg_free(&m);
	} while (m.sync.more);
}

/* ---- helpers ---- */

static struct proto_client client(const char *cn, const char *net)
{
	struct proto_client c = { 0 };
	static struct pfx nets[64];
	static size_t next;

	snprintf(c.cn, sizeof(c.cn), "%s", cn);
	if (net) {
		nets[next % 64] = pfx_of(net);
		c.nets.v = &nets[next++ % 64];
		c.nets.n = 1;
	}
	return c;
}

static char logbuf[1 << 16];

static void collect(int prio, const char *msg, void *ctx)
{
	appendf(logbuf, sizeof(logbuf), "%s\n", msg);
}

/* How often the link logged s, since the test began. */
static int nlogged(struct link *l, const char *s)
{
	int n = 0;

	link_flush_log(l, collect, NULL);
	for (const char *p = logbuf; (p = strstr(p, s)); p++)
		n++;
	return n;
}

static bool logged(struct link *l, const char *s)
{
	return nlogged(l, s) > 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

/* Polls cond until it holds; fails after BOUND_MS. */
#define EVENTUALLY(cond)                                               \
	do {                                                           \
		int waited_ = 0;                                       \
		while (!(cond)) {                                      \
			if (waited_++ >= BOUND_MS)                     \
				fail_msg("never happened: %s", #cond); \
			sleep_ms(1);                                   \
		}                                                      \
	} while (0)

/* What link_view shows: the clients (how many; their networks
 * "net=cn@instance ...", their tunnel addresses the same way) and the
 * claims ("net=cn@instance ..."). */
struct view {
	size_t npeers, nclaims;
	char peers[256], addrs[256], claims[512];
};

static void claims_text(const struct claimset *set, char *out, size_t len)
{
	char net[PFX_STRLEN];

	for (size_t i = 0; i < set->n; i++)
		appendf(out, len, "%s%s=%s@%s", WORD(out),
			pfx_format(&set->v[i].net, net, sizeof(net)), set->v[i].cn,
			set->v[i].instance);
}

static void view_all(const struct claimset *set, const struct link_own *own, void *ctx)
{
	struct view *v = ctx;

	memset(v, 0, sizeof(*v));
	v->npeers = own->n;
	v->nclaims = set->n;
	claims_text(own->nets, v->peers, sizeof(v->peers));
	claims_text(own->addrs, v->addrs, sizeof(v->addrs));
	claims_text(set, v->claims, sizeof(v->claims));
}

static size_t nclaims(struct link *l, struct view *v)
{
	link_view(l, view_all, v);
	return v->nclaims;
}

static size_t npeers(struct link *l)
{
	struct view v;

	link_view(l, view_all, &v);
	return v.npeers;
}

/* A started link whose resync the double has read. */
static struct link *started_as(enum proto_role role, unsigned queue_max, unsigned reconnect_max_ms,
			       int *fd)
{
	struct link *l = link_new(D.path, "unit", role, queue_max, reconnect_max_ms);
	char cns[64];

	assert_non_null(l);
	assert_int_equal(link_start(l), 0);
	*fd = dbl_accept();
	dbl_expect_resync(*fd, getpid(), cns, sizeof(cns));
	assert_string_equal(cns, "");
	EVENTUALLY(logged(l, "connected to the agent at"));
	assert_true(link_connected(l));
	return l;
}

static struct link *started(unsigned queue_max, unsigned reconnect_max_ms, int *fd)
{
	return started_as(PROTO_ROLE_SERVER, queue_max, reconnect_max_ms, fd);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(D.dir, sizeof(D.dir), "%s/vr-link-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(D.dir) ||
	    (size_t)snprintf(D.path, sizeof(D.path), "%s/agent.sock", D.dir) >= sizeof(D.path))
		return -1;
	dbl_listen();
	logbuf[0] = 0;
	hello_role = PROTO_ROLE_SERVER;
	atomic_store(&hook.mode, HOOK_NONE);
	if (pipe2(hook.held, O_CLOEXEC) < 0 || pipe2(hook.release, O_CLOEXEC) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char conf[160];

	if (D.lfd >= 0)
		close(D.lfd);
	unlink(D.path);
	snprintf(conf, sizeof(conf), "%s/vpcroute.conf", D.dir);
	unlink(conf);
	rmdir(D.dir);
	for (int i = 0; i < 2; i++) {
		close(hook.held[i]);
		close(hook.release[i]);
	}
	return 0;
}

/* ---- tests ---- */

/* A server configuration with clients alpha (and beta when with_beta) and an aws section. */
static void conf_text(char *buf, size_t len, bool with_beta, const char *extra)
{
	snprintf(buf, len,
		 "{\"version\": 1, \"role\": \"server\", \"socket\": {\"path\": \"%s\"},\n"
		 " \"local_networks\": [\"10.1.1.0/24\"], \"tunnel\": {\"pool\": "
		 "\"10.1.2.0/24\"},\n"
		 " \"strict\": true, \"clients\": {\"alpha\": {\"allow\": "
		 "[\"192.168.1.0/24\"]}%s},\n"
		 " \"aws\": {\"region\": \"eu-west-1\", \"access_key_id\": \"AKIDEXAMPLEUNIT\",\n"
		 "  \"secret_access_key\": \"wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETUNIT\",\n"
		 "  \"session_token\": \"TOKENSECRETUNIT\"}%s}\n",
		 D.path, with_beta ? ", \"beta\": {\"allow\": [\"192.168.2.0/24\"]}" : "",
		 extra ? extra : "");
}

/* Replaces the configuration file at once (rename): a reader sees old or new. */
static void conf_write(const char *text)
{
	char path[160], tmp[170];
	FILE *f;

	snprintf(path, sizeof(path), "%s/vpcroute.conf", D.dir);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static void conf_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/vpcroute.conf", D.dir);
}

/* The plugin's copy has nothing of the aws section; its digest is the file's. */
static void test_cfg_without_secrets(void **state)
{
	char text[2048], path[160], want[DIGEST_HEXLEN], err[CFG_ERRLEN];
	struct cfg *c;

	conf_text(text, sizeof(text), true, NULL);
	conf_write(text);
	conf_path(path, sizeof(path));
	/* the file has them (the agent needs them) */
	assert_int_equal(cfg_load_file(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->aws.secret_access_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETUNIT");
	cfg_free(c);
	/* the plugin's copy does not */
	assert_int_equal(link_cfg_load(path, &c, err, sizeof(err)), 0);
	assert_null(c->aws.secret_access_key);
	assert_null(c->aws.session_token);
	assert_null(c->aws.access_key_id);
	assert_null(c->aws.region);
	digest_hex(text, strlen(text), want);
	assert_string_equal(c->digest, want);
	assert_non_null(cfg_client_find(c, "beta"));
	{
		json_t *j = cfg_to_json(c);
		char *dump = json_dumps(j, 0);

		assert_null(strstr(dump, "SECRETUNIT"));
		assert_null(strstr(dump, "AKIDEXAMPLEUNIT"));
		free(dump);
		json_decref(j);
	}
	cfg_free(c);
}

/* Sends a policy as the agent does; expects the link's answer when answer. */
static void dbl_policy(int fd, uint64_t gen, const char *digest)
{
	struct proto_msg m = { .type = PROTO_POLICY };

	m.policy.gen = gen;
	snprintf(m.policy.digest, sizeof(m.policy.digest), "%s", digest);
	dbl_send(fd, &m);
}

static void dbl_expect_policy(int fd, uint64_t gen, const char *digest)
{
	struct proto_msg m;

	dbl_expect(fd, PROTO_POLICY, &m);
	assert_int_equal(m.policy.gen, gen);
	assert_string_equal(m.policy.digest, digest);
}

static bool runs(struct link *l, const char *digest, uint64_t gen)
{
	const struct link_cfg *h = link_cfg_hold(l);
	bool r = h && !strcmp(h->cfg->digest, digest) && h->gen == gen;

	link_cfg_release(l, h);
	return r;
}

/*
 * The agent announces a configuration: the link reads the file on its
 * thread, takes it only when the digest is the agent's (retrying while it
 * is not), says so, and names the connected client the new one forbids;
 * an unreadable file leaves it as it was.
 */
static void test_policy_follows_the_agent(void **state)
{
	char v1[2048], v2[2048], v3[2048], d1[DIGEST_HEXLEN], d2[DIGEST_HEXLEN], d3[DIGEST_HEXLEN],
		dbad[DIGEST_HEXLEN], path[160], err[CFG_ERRLEN], cns[64];
	struct proto_client beta = client("beta", "192.168.2.0/24");
	const struct link_cfg *held;
	struct link *l;
	struct cfg *c;
	int fd;

	conf_text(v1, sizeof(v1), true, NULL);
	conf_text(v2, sizeof(v2), false, NULL);
	conf_text(v3, sizeof(v3), false, ", \"plugin\": {\"fail_mode\": \"open\"}");
	digest_hex(v1, strlen(v1), d1);
	digest_hex(v2, strlen(v2), d2);
	digest_hex(v3, strlen(v3), d3);
	digest_hex("{", 1, dbad);
	conf_write(v1);
	conf_path(path, sizeof(path));
	assert_int_equal(link_cfg_load(path, &c, err, sizeof(err)), 0);
	l = link_new(D.path, "unit", PROTO_ROLE_SERVER, 1024, 400);
	assert_non_null(l);
	assert_int_equal(link_set_cfg(l, c), 0);
	assert_int_equal(link_start(l), 0);
	fd = dbl_accept();
	dbl_expect_resync(fd, getpid(), cns, sizeof(cns));
	/* after hello: the digest it runs, not confirmed by any agent yet */
	assert_int_equal(resync_policy.type, PROTO_POLICY);
	assert_int_equal(resync_policy.policy.gen, 0);
	assert_string_equal(resync_policy.policy.digest, d1);
	/* the agent runs the same: confirmed, and said so */
	dbl_policy(fd, 1, d1);
	dbl_expect_policy(fd, 1, d1);
	assert_true(runs(l, d1, 1));
	link_client_connect(l, &beta, false);
	dbl_expect_connect(fd, 0, "beta");

	/* the agent read v3, but the file holds v2 by now: not taken, retried */
	held = link_cfg_hold(l); /* a connect in progress keeps the old one */
	conf_write(v2);
	dbl_policy(fd, 2, d3);
	EVENTUALLY(logged(l, "the file changed since the agent read it"));
	assert_true(logged(l, "configuration generation 2 of the agent not taken yet"));
	assert_true(runs(l, d1, 1));
	/* the file becomes what the agent read: taken at the next try */
	conf_write(v3);
	dbl_expect_policy(fd, 2, d3);
	assert_true(runs(l, d3, 2));
	EVENTUALLY(logged(l, "client beta, connected under the previous configuration, is not "
			     "allowed by the new one: client beta: unknown common name (rule: "
			     "strict)"));
	assert_true(logged(l, "configuration generation 2 of"));
	assert_false(logged(l, "client alpha"));
	/* the holder of the old one still has it intact */
	assert_string_equal(held->cfg->digest, d1);
	assert_non_null(cfg_client_find(held->cfg, "beta"));
	link_cfg_release(l, held);

	/* an announcement the file cannot give (invalid now): nothing changes */
	conf_write("{");
	dbl_policy(fd, 3, dbad);
	EVENTUALLY(logged(l, "configuration generation 3 of the agent not taken yet"));
	assert_true(runs(l, d3, 2));

	/* the same digest again: only the generation is confirmed */
	dbl_policy(fd, 4, d3);
	dbl_expect_policy(fd, 4, d3);
	assert_true(runs(l, d3, 4));
	link_free(l);
	close(fd);
}

/*
 * The table's indexes (what link_view shows the admission check): the
 * networks and tunnel addresses follow connects, a reconnect with other
 * ones and disconnects, and the clients are still found by name after the
 * last one moved into a hole.
 */
static void test_view_index(void **state)
{
	struct proto_client a = client("alpha", "10.1.0.0/24"), b = client("bravo", "10.2.0.0/24"),
			    c = client("charlie", "10.3.0.0/24");
	char err[PROTO_ERROR_MAX + 1];
	uint64_t ida, idc;
	struct view v;
	int fd;
	struct link *l = started(1024, 400, &fd);

	a.has_tunnel4 = true;
	a.tunnel4 = pfx_of("100.64.0.2");
	ida = link_client_connect(l, &a, false);
	link_client_connect(l, &b, true);
	idc = link_client_connect(l, &c, false);
	link_view(l, view_all, &v);
	assert_int_equal(v.npeers, 3);
	assert_string_equal(v.peers, "10.1.0.0/24=alpha@unit 10.2.0.0/24=bravo@unit "
				     "10.3.0.0/24=charlie@unit");
	assert_string_equal(v.addrs, "100.64.0.2/32=alpha@unit");
	/* alpha again, with another network and no tunnel address */
	a = client("alpha", "10.9.0.0/24");
	assert_int_not_equal(link_client_connect(l, &a, false), ida);
	dbl_ack(fd, ida, "stale"); /* the answer to its previous connect: no longer its */
	link_view(l, view_all, &v);
	assert_int_equal(v.npeers, 3);
	assert_null(strstr(v.peers, "10.1.0.0/24"));
	assert_non_null(strstr(v.peers, "10.9.0.0/24=alpha@unit"));
	assert_string_equal(v.addrs, "");
	/* alpha leaves (charlie moves into its place): each found by name */
	assert_true(link_client_disconnect(l, "alpha"));
	assert_false(link_client_disconnect(l, "alpha"));
	dbl_ack(fd, idc, NULL);
	EVENTUALLY(link_ack(l, idc, err, sizeof(err)) == 1);
	assert_int_equal(link_ack(l, ida, err, sizeof(err)), 0);
	link_client_admitted(l, "bravo");
	assert_true(link_client_disconnect(l, "charlie"));
	link_view(l, view_all, &v);
	assert_int_equal(v.npeers, 1);
	assert_string_equal(v.peers, "10.2.0.0/24=bravo@unit");
	assert_true(link_client_disconnect(l, "bravo"));
	link_view(l, view_all, &v);
	assert_int_equal(v.npeers, 0);
	assert_string_equal(v.peers, "");
	link_free(l);
	close(fd);
}

/* Immediate admission: the agent's refusal drops an admitted client. */
static void test_ack_immediate(void **state)
{
	struct proto_client a = client("alpha", "192.168.1.0/24"),
			    b = client("bravo", "192.168.2.0/24");
	struct proto_msg m;
	uint64_t ida, idb;
	int fd;
	struct link *l = started(1024, 400, &fd);
	struct view v;
	char err[PROTO_ERROR_MAX + 1];

	ida = link_client_connect(l, &a, false);
	idb = link_client_connect(l, &b, false);
	assert_int_equal(npeers(l), 2);
	dbl_expect(fd, PROTO_CONNECT, &m);
	assert_int_equal(m.id, ida);
	assert_string_equal(m.connect.cn, "alpha");
	assert_int_equal(m.connect.nets.n, 1);
	proto_msg_free(&m);
	dbl_expect_connect(fd, idb, NULL);
	dbl_ack(fd, ida, NULL);
	dbl_ack(fd, idb, "192.168.2.0/24 is already claimed by x");
	EVENTUALLY(npeers(l) == 1);
	link_view(l, view_all, &v);
	assert_string_equal(v.peers, "192.168.1.0/24=alpha@unit");
	assert_true(logged(l, "agent refused client bravo: 192.168.2.0/24 is already claimed "
			      "by x; its networks are not programmed"));
	assert_int_equal(link_ack(l, ida, err, sizeof(err)), 1);
	/* the refused client is gone: its connect has no answer any more */
	assert_int_equal(link_ack(l, idb, err, sizeof(err)), 0);
	link_free(l);
	close(fd);
}

/* Deferred admission: link_ack reports the agent's answer. */
static void test_ack_deferred(void **state)
{
	struct proto_client c = client("charlie", "10.9.0.0/16"), d = client("delta", NULL);
	struct proto_msg m;
	uint64_t idc, idd;
	int fd;
	struct link *l = started(1024, 400, &fd);
	char err[PROTO_ERROR_MAX + 1] = "";

	idc = link_client_connect(l, &c, true);
	idd = link_client_connect(l, &d, true);
	dbl_expect_connect(fd, idc, NULL);
	dbl_expect_connect(fd, idd, NULL);
	/* the double has them and has not answered */
	assert_int_equal(link_ack(l, idc, err, sizeof(err)), 0);
	assert_int_equal(link_ack(l, idd, err, sizeof(err)), 0);
	dbl_ack(fd, idd, "delta refused by the test");
	dbl_ack(fd, idc, NULL);
	EVENTUALLY(link_ack(l, idc, err, sizeof(err)) == 1);
	assert_int_equal(link_ack(l, idd, err, sizeof(err)), -1);
	assert_string_equal(err, "delta refused by the test");
	/* as the plugin does: the refused one is forgotten, the other admitted */
	assert_true(link_client_disconnect(l, "delta"));
	link_client_admitted(l, "charlie");
	dbl_expect(fd, PROTO_DISCONNECT, &m);
	assert_string_equal(m.disconnect.cn, "delta");
	assert_int_equal(npeers(l), 1);
	assert_false(link_client_disconnect(l, "delta"));
	link_free(l);
	close(fd);
}

/*
 * More answers than the old 256-slot ring held arrive before OpenVPN polls
 * its deferred clients: every client is admitted.
 */
#define BURST 600
static void test_ack_burst(void **state)
{
	static uint64_t ids[BURST];
	struct proto_msg m;
	char cn[16], err[PROTO_ERROR_MAX + 1];
	int fd;
	struct link *l = started(1024, 400, &fd);

	for (int i = 0; i < BURST; i++) {
		struct proto_client c;

		snprintf(cn, sizeof(cn), "burst%d", i);
		c = client(cn, NULL);
		ids[i] = link_client_connect(l, &c, true);
	}
	for (int i = 0; i < BURST; i++) {
		dbl_expect(fd, PROTO_CONNECT, &m);
		assert_int_equal(m.id, ids[i]);
		dbl_ack(fd, m.id, NULL);
		proto_msg_free(&m);
	}
	/* the link reads in order: the last answer in means all are in */
	EVENTUALLY(link_ack(l, ids[BURST - 1], err, sizeof(err)) == 1);
	for (int i = 0; i < BURST; i++)
		if (link_ack(l, ids[i], err, sizeof(err)) != 1)
			fail_msg("client burst%d: its acknowledgement was lost", i);
	link_free(l);
	close(fd);
}

/*
 * Connects of q0, q1, ... until the link of queue_max 16 reports the
 * overflow (the double reads nothing meanwhile), then one of "marker";
 * returns how many q clients.
 */
static int overflow_then_marker(struct link *l)
{
	struct proto_client c;
	char cn[16];
	int n = 0;

	while (!logged(l, "agent is not reading: 16 queued messages dropped, will resend "
			  "the client table")) {
		if (n == 200000)
			fail_msg("no overflow after %d clients", n);
		snprintf(cn, sizeof(cn), "q%d", n++);
		c = client(cn, NULL);
		link_client_connect(l, &c, false);
	}
	c = client("marker", NULL);
	link_client_connect(l, &c, false);
	return n;
}

/*
 * A full queue is dropped, and the agent gets the whole table again, and
 * nothing else: the claims the agent sends after hello are still due (this
 * double never sends them), but no request for them was dropped, so none
 * is sent (it came after the table, or before the marker when the thread
 * resynced before the marker was queued).
 */
static void test_overflow_resync(void **state)
{
	static char have[1 << 20];
	struct proto_msg m;
	char cn[16];
	int fd, n = 0, connects = 0, tables = 0;
	struct link *l = started(16, 400, &fd);
	bool marker = false, in_sync = false;

	/* the double reads nothing until the link reports the overflow */
	n = overflow_then_marker(l);
	/* now read: connects, then the table (no second hello), until the marker */
	have[0] = 0;
	while (!marker || in_sync) {
		if (!dbl_recv(fd, &m))
			fail_msg("the link closed");
		if (m.type == PROTO_SYNC) {
			if (!in_sync) {
				tables++;
				have[0] = 0;
			}
			in_sync = m.sync.more;
			for (size_t i = 0; i < m.sync.n; i++) {
				appendf(have, sizeof(have), " %s ", m.sync.clients[i].cn);
				marker |= strcmp(m.sync.clients[i].cn, "marker") == 0;
			}
		} else if (m.type == PROTO_CONNECT) {
			connects++;
			appendf(have, sizeof(have), " %s ", m.connect.cn);
			marker |= strcmp(m.connect.cn, "marker") == 0;
		} else {
			fail_msg("unexpected %s", proto_type_name(m.type));
		}
		proto_msg_free(&m);
	}
	assert_int_equal(tables, 1);
	/* the dropped queue never went out as connects */
	assert_true(connects <= n + 1 - 16);
	/* and the agent's view is the whole table */
	for (int i = 0; i < n; i++) {
		snprintf(cn, sizeof(cn), " q%d ", i);
		if (!strstr(have, cn))
			fail_msg("client q%d (of %d) missing after the resync", i, n);
	}
	assert_int_equal(npeers(l), (size_t)n + 1);
	/* what is still queued goes out before the link closes: nothing is */
	link_free(l);
	while (dbl_recv(fd, &m)) {
		fail_msg("%s after the table and the marker", proto_type_name(m.type));
		proto_msg_free(&m);
	}
	close(fd);
}

/* The agent goes away and comes back: the table is sent again. */
static void test_reconnect(void **state)
{
	struct proto_client a = client("alpha", "192.168.1.0/24"), b = client("bravo", NULL),
			    c = client("charlie", "192.168.3.0/24");
	char cns[64], err[PROTO_ERROR_MAX + 1];
	uint64_t ida, idb;
	int fd;
	struct link *l = started(1024, 400, &fd);

	ida = link_client_connect(l, &a, false);
	idb = link_client_connect(l, &b, true);
	dbl_expect_connect(fd, ida, NULL);
	dbl_ack(fd, ida, NULL);
	dbl_expect_connect(fd, idb, NULL);

	dbl_vanish();
	close(fd);
	EVENTUALLY(!link_connected(l));
	EVENTUALLY(logged(l, "cannot reach the agent at"));
	assert_true(logged(l, "lost the agent at"));
	/* admitted while the agent is away (fail-open): nothing is queued */
	link_client_connect(l, &c, false);
	pthread_mutex_lock(&l->mu);
	assert_int_equal(l->q.len, 0);
	pthread_mutex_unlock(&l->mu);

	dbl_listen();
	fd = dbl_accept();
	dbl_expect_resync(fd, getpid(), cns, sizeof(cns));
	assert_string_equal(cns, "alpha charlie");
	/* the client still waiting is asked for again, with its id */
	dbl_expect_connect(fd, idb, "bravo");
	dbl_ack(fd, idb, NULL);
	EVENTUALLY(link_ack(l, idb, err, sizeof(err)) == 1);
	assert_true(link_connected(l));
	link_free(l);
	close(fd);
}

/*
 * The agent refuses the hello (it still serves this instance's previous
 * connection): the link reconnects instead of taking the refusals of all
 * that follows as the agent's answers.
 */
static void test_hello_refused(void **state)
{
	struct proto_client a = client("alpha", "192.168.1.0/24"), b = client("bravo", NULL);
	struct proto_msg m, hello, sync;
	char cns[64], err[PROTO_ERROR_MAX + 1];
	uint64_t idb;
	int fd;
	struct link *l = started(1024, 400, &fd);

	link_client_connect(l, &a, false);
	idb = link_client_connect(l, &b, true);
	dbl_expect_connect(fd, 0, NULL);
	dbl_expect_connect(fd, 0, NULL);
	close(fd);

	/* the next connection: as the agent does, refuse the hello, then what follows */
	fd = dbl_accept();
	dbl_expect(fd, PROTO_HELLO, &hello);
	dbl_expect(fd, PROTO_SYNC, &sync);
	dbl_expect_connect(fd, idb, NULL);
	proto_msg_free(&sync);
	dbl_ack(fd, hello.id, "instance unit already has a connected plugin");
	/* the link may be gone before these arrive */
	if (dbl_try_ack(fd, sync.id, "hello first"))
		dbl_try_ack(fd, idb, "hello first");
	while (dbl_recv(fd, &m))
		proto_msg_free(&m);
	close(fd);
	EVENTUALLY(logged(l, "agent refused this plugin: instance unit already has a connected "
			     "plugin; reconnecting"));
	assert_int_equal(link_ack(l, idb, err, sizeof(err)), 0);
	assert_int_equal(npeers(l), 2);

	/* and the one after that is served */
	fd = dbl_accept();
	dbl_expect_resync(fd, getpid(), cns, sizeof(cns));
	assert_string_equal(cns, "alpha");
	dbl_expect_connect(fd, idb, NULL);
	dbl_ack(fd, idb, NULL);
	EVENTUALLY(link_ack(l, idb, err, sizeof(err)) == 1);
	link_free(l);
	close(fd);
}

/*
 * A change made while the thread encodes a resync goes out after the
 * table: nothing made after the snapshot is lost, nothing is sent twice.
 */
static void test_change_during_resync(void **state)
{
	struct proto_client a = client("alpha", "192.168.1.0/24"), x = client("xray", NULL);
	char cns[64];
	uint64_t idx;
	int fd;
	struct link *l = started(1024, 400, &fd);

	link_client_connect(l, &a, false);
	dbl_expect_connect(fd, 0, NULL);
	/* the agent restarts: the link reconnects and encodes its table */
	hook_arm(HOOK_PARK_ENCODED);
	close(fd);
	fd = dbl_accept();
	hook_wait();
	/* encoded, not yet queued: OpenVPN's thread is not held up meanwhile */
	idx = link_client_connect(l, &x, false);
	assert_int_equal(npeers(l), 2);
	hook_release();
	dbl_expect_resync(fd, getpid(), cns, sizeof(cns));
	assert_string_equal(cns, "alpha");
	dbl_expect_connect(fd, idx, "xray");
	link_free(l);
	close(fd);
}

/* The agent's claims replica: chunks count only once the table is complete. */
static void test_claims(void **state)
{
	struct proto_claim v[3] = { { .cn = "alpha", .instance = "unit" },
				    { .cn = "zulu", .instance = "other" },
				    { .cn = "yankee", .instance = "other" } };
	struct proto_msg m = { .type = PROTO_CLAIMS };
	struct view seen;
	char cns[64];
	int fd;
	struct link *l = started(1024, 400, &fd);

	v[0].net = pfx_of("192.168.1.0/24");
	v[1].net = pfx_of("192.168.2.0/24");
	v[2].net = pfx_of("192.168.3.0/24");
	m.claims.gen = 1;
	m.claims.v = v;
	m.claims.n = 2;
	m.claims.more = true;
	dbl_send(fd, &m);
	m.claims.v = v + 2;
	m.claims.n = 1;
	m.claims.more = false;
	dbl_send(fd, &m);
	EVENTUALLY(nclaims(l, &seen) == 3);
	assert_string_equal(seen.claims, "192.168.1.0/24=alpha@unit 192.168.2.0/24=zulu@other "
					 "192.168.3.0/24=yankee@other");
	/* a new table replaces the old one; a half table does not count */
	m.claims.gen = 2;
	m.claims.v = v + 1;
	m.claims.n = 1;
	m.claims.more = false;
	dbl_send(fd, &m);
	EVENTUALLY(nclaims(l, &seen) == 1);
	assert_string_equal(seen.claims, "192.168.2.0/24=zulu@other");
	m.claims.gen = 3;
	m.claims.v = v;
	m.claims.n = 1;
	m.claims.more = true;
	dbl_send(fd, &m);
	/* a connection lost in the middle of a table drops the half */
	close(fd);
	fd = dbl_accept();
	dbl_expect_resync(fd, getpid(), cns, sizeof(cns));
	m.claims.v = v + 2;
	m.claims.n = 1;
	m.claims.more = false;
	dbl_send(fd, &m);
	EVENTUALLY(nclaims(l, &seen) == 1 && strstr(seen.claims, "yankee"));
	assert_string_equal(seen.claims, "192.168.3.0/24=yankee@other");
	link_free(l);
	close(fd);
}

/* Sends the claims of generation gen whole (delta false) or as a delta from base. */
static void dbl_claims(int fd, bool delta, uint64_t base, uint64_t gen, struct proto_claim *add,
		       size_t nadd, struct proto_claim *del, size_t ndel, bool more)
{
	struct proto_msg m = { .type = PROTO_CLAIMS };

	m.claims.gen = gen;
	m.claims.delta = delta;
	m.claims.base = base;
	m.claims.v = add;
	m.claims.n = nadd;
	m.claims.del = del;
	m.claims.ndel = ndel;
	m.claims.more = more;
	dbl_send(fd, &m);
}

static struct proto_claim mkclaim(const char *net, const char *cn, const char *instance)
{
	struct proto_claim c = { .net = pfx_of(net) };

	snprintf(c.cn, sizeof(c.cn), "%s", cn);
	snprintf(c.instance, sizeof(c.instance), "%s", instance);
	return c;
}

/* Whether link_view shows claim "net=cn@instance". */
static bool has_claim(struct link *l, const char *want)
{
	struct view v;
	char pad[600];

	link_view(l, view_all, &v);
	snprintf(pad, sizeof(pad), " %s ", v.claims);
	for (char *p = pad; *p; p++)
		if (*p == ' ' && strncmp(p + 1, want, strlen(want)) == 0 &&
		    p[1 + strlen(want)] == ' ')
			return true;
	return false;
}

/* The next message of the link is the connect of cn: it sent nothing before it. */
static void expect_next_is_connect(struct link *l, int fd, const char *cn)
{
	struct proto_client c = client(cn, NULL);

	link_client_connect(l, &c, false);
	dbl_expect_connect(fd, 0, cn);
}

/* Deltas change the replica in place, a chunked one too; the link asks for nothing. */
static void test_claims_delta(void **state)
{
	struct proto_claim a = mkclaim("192.168.1.0/24", "alpha", "unit"),
			   b = mkclaim("192.168.2.0/24", "bravo", "other"),
			   c = mkclaim("192.168.3.0/24", "charlie", "other"),
			   d = mkclaim("2001:db8::/48", "delta", "unit"),
			   e = mkclaim("192.168.5.0/24", "echo", "other"), snap[3] = { a, b, c };
	struct view seen;
	int fd;
	struct link *l = started(1024, 400, &fd);

	dbl_claims(fd, false, 0, 1, snap, 3, NULL, 0, false);
	EVENTUALLY(nclaims(l, &seen) == 3);
	/* generation 1 -> 2: d added, b removed */
	dbl_claims(fd, true, 1, 2, &d, 1, &b, 1, false);
	EVENTUALLY(has_claim(l, "2001:db8::/48=delta@unit"));
	assert_false(has_claim(l, "192.168.2.0/24=bravo@other"));
	assert_int_equal(nclaims(l, &seen), 3);
	/* 2 -> 3 in two chunks: e added, then a removed */
	dbl_claims(fd, true, 2, 3, &e, 1, NULL, 0, true);
	dbl_claims(fd, true, 2, 3, NULL, 0, &a, 1, false);
	EVENTUALLY(!has_claim(l, "192.168.1.0/24=alpha@unit"));
	assert_true(has_claim(l, "192.168.5.0/24=echo@other"));
	assert_true(has_claim(l, "192.168.3.0/24=charlie@other"));
	assert_true(has_claim(l, "2001:db8::/48=delta@unit"));
	assert_int_equal(nclaims(l, &seen), 3);
	/* 3 -> 4: a removal of what is not there changes nothing; b comes back */
	dbl_claims(fd, true, 3, 4, &b, 1, &a, 1, false);
	EVENTUALLY(has_claim(l, "192.168.2.0/24=bravo@other"));
	assert_int_equal(nclaims(l, &seen), 4);
	pthread_mutex_lock(&l->mu);
	assert_int_equal(l->claims_gen, 4);
	pthread_mutex_unlock(&l->mu);
	/* every delta started from the generation held: no request for a snapshot */
	expect_next_is_connect(l, fd, "zulu");
	link_free(l);
	close(fd);
}

/*
 * A delta from a generation the link does not hold (a message lost): the
 * link asks for the whole table once, ignores deltas until it comes, and
 * follows deltas from it.
 */
static void test_claims_gap(void **state)
{
	struct proto_claim a = mkclaim("192.168.1.0/24", "alpha", "unit"),
			   x = mkclaim("192.168.8.0/24", "xray", "other"),
			   y = mkclaim("192.168.9.0/24", "yankee", "other"), snap[3] = { a, x, y };
	struct proto_msg m;
	struct view seen;
	int fd;
	struct link *l = started(1024, 400, &fd);

	dbl_claims(fd, false, 0, 1, &a, 1, NULL, 0, false);
	EVENTUALLY(nclaims(l, &seen) == 1);
	/* generations 2 to 5 never arrived */
	dbl_claims(fd, true, 5, 6, &x, 1, NULL, 0, false);
	dbl_expect(fd, PROTO_SNAPSHOT, &m);
	assert_int_equal(m.version, PROTO_VERSION);
	EVENTUALLY(logged(l, "claims: a change from generation 5, this plugin holds 1; asking "
			     "the agent for the whole table"));
	/* while the snapshot is on its way, deltas are not applied, nor asked about again */
	dbl_claims(fd, true, 6, 7, &y, 1, NULL, 0, false);
	assert_true(has_claim(l, "192.168.1.0/24=alpha@unit"));
	dbl_claims(fd, false, 0, 7, snap, 2, NULL, 0, true);
	dbl_claims(fd, false, 0, 7, snap + 2, 1, NULL, 0, false);
	EVENTUALLY(nclaims(l, &seen) == 3);
	assert_true(has_claim(l, "192.168.9.0/24=yankee@other"));
	dbl_claims(fd, true, 7, 8, NULL, 0, &a, 1, false);
	EVENTUALLY(nclaims(l, &seen) == 2);
	assert_false(has_claim(l, "192.168.1.0/24=alpha@unit"));
	assert_int_equal(nlogged(l, "asking the agent for the whole table"), 1);
	expect_next_is_connect(l, fd, "zulu");
	link_free(l);
	close(fd);
}

/*
 * A request for the claims (after a gap) that an overflow drops with the
 * queue is sent again after the table.
 */
static void test_overflow_reasks_claims(void **state)
{
	struct proto_claim a = mkclaim("192.168.1.0/24", "alpha", "unit"),
			   x = mkclaim("192.168.8.0/24", "xray", "other");
	struct proto_msg m;
	int fd, snapshots = 0, tables = 0;
	struct link *l = started(16, 400, &fd);
	bool marker = false, queued = false, in_sync = false;

	dbl_claims(fd, false, 0, 1, &a, 1, NULL, 0, false);
	EVENTUALLY(has_claim(l, "192.168.1.0/24=alpha@unit"));
	/* the double reads nothing: the link's socket is filled (with connects
	 * of "filler"), so that what the link queues from now on stays queued */
	{
		struct proto_msg f = { .type = PROTO_CONNECT, .id = 1 << 30 };
		char buf[PROTO_MAX_MSG];
		int len;

		snprintf(f.connect.cn, sizeof(f.connect.cn), "filler");
		len = proto_encode(&f, buf, sizeof(buf));
		assert_true(len > 0);
		pthread_mutex_lock(&l->mu);
		while (send(l->fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL) == len)
			;
		assert_int_equal(errno, EAGAIN);
		pthread_mutex_unlock(&l->mu);
	}
	/* a gap: the request for the claims waits in the queue */
	dbl_claims(fd, true, 5, 6, &x, 1, NULL, 0, false);
	EVENTUALLY(logged(l, "asking the agent for the whole table"));
	for (int i = 0; !queued; i++) {
		if (i == BOUND_MS)
			fail_msg("the request for the claims was never queued");
		sleep_ms(1);
		pthread_mutex_lock(&l->mu);
		queued = !l->claims_ask && queue_asks_claims(&l->q);
		pthread_mutex_unlock(&l->mu);
	}
	/* more connects than the queue holds: dropped with the request */
	overflow_then_marker(l);
	/* now read: the table, the marker and the request, once */
	while (!marker || !snapshots || in_sync) {
		if (!dbl_recv(fd, &m))
			fail_msg("the link closed");
		if (m.type == PROTO_SNAPSHOT) {
			snapshots++;
			/* after the table */
			assert_int_equal(tables, 1);
			assert_false(in_sync);
		} else if (m.type == PROTO_SYNC) {
			tables += !in_sync;
			in_sync = m.sync.more;
			for (size_t i = 0; i < m.sync.n; i++)
				marker |= strcmp(m.sync.clients[i].cn, "marker") == 0;
		} else if (m.type == PROTO_CONNECT)
			marker |= strcmp(m.connect.cn, "marker") == 0;
		else
			fail_msg("unexpected %s", proto_type_name(m.type));
		proto_msg_free(&m);
	}
	link_free(l); /* what is still queued goes out, then the link closes */
	while (dbl_recv(fd, &m)) {
		fail_msg("%s after the table, the marker and the request", proto_type_name(m.type));
		proto_msg_free(&m);
	}
	close(fd);
}

/* An agent of an older protocol version refuses this plugin's messages: said clearly. */
static void test_old_agent(void **state)
{
	struct proto_msg m = { .type = PROTO_ACK, .version = 1 };
	char cns[64];
	int fd;
	struct link *l = started(1024, 400, &fd);

	snprintf(m.ack.error, sizeof(m.ack.error),
		 "unsupported protocol version (this side speaks 1)");
	dbl_send(fd, &m);
	EVENTUALLY(logged(l, "does not speak protocol version 2"));
	close(fd);
	fd = dbl_accept();
	dbl_expect_resync(fd, getpid(), cns, sizeof(cns));
	link_free(l);
	close(fd);
}

/* An agent that sends what only a plugin sends: the link reconnects. */
static void test_unexpected_message(void **state)
{
	struct proto_client a = client("alpha", "192.168.1.0/24");
	struct proto_msg m = { .type = PROTO_CONNECT };
	char cns[64];
	int fd;
	struct link *l = started(1024, 400, &fd);

	link_client_connect(l, &a, false);
	dbl_expect_connect(fd, 0, NULL);
	memset(&m, 0, sizeof(m));
	m.type = PROTO_CONNECT;
	m.connect = a;
	dbl_send(fd, &m);
	while (dbl_recv(fd, &m))
		proto_msg_free(&m);
	close(fd);
	fd = dbl_accept();
	dbl_expect_resync(fd, getpid(), cns, sizeof(cns));
	assert_string_equal(cns, "alpha");
	assert_true(logged(l, "unexpected connect message from the agent; reconnecting"));
	link_free(l);
	close(fd);
}

/* Client role: the tunnel's last state is sent again after a reconnect, until DOWN. */
static void test_tunnel(void **state)
{
	struct pfx routes[2];
	struct proto_msg t = { .type = PROTO_TUNNEL }, m;
	char cns[64];
	int fd;
	struct link *l;

	hello_role = PROTO_ROLE_CLIENT;
	l = started_as(PROTO_ROLE_CLIENT, 1024, 400, &fd);
	routes[0] = pfx_of("10.1.1.0/24");
	routes[1] = pfx_of("10.1.9.0/24");
	t.tunnel.event = PROTO_TUNNEL_ROUTE_UP;
	snprintf(t.tunnel.dev, sizeof(t.tunnel.dev), "tun0");
	t.tunnel.routes.v = routes;
	t.tunnel.routes.n = 2;
	link_tunnel(l, &t);
	dbl_expect(fd, PROTO_TUNNEL, &m);
	assert_int_equal(m.tunnel.event, PROTO_TUNNEL_ROUTE_UP);
	assert_int_equal(m.tunnel.routes.n, 2);
	proto_msg_free(&m);

	close(fd);
	fd = dbl_accept();
	dbl_expect_resync(fd, getpid(), cns, sizeof(cns));
	dbl_expect(fd, PROTO_TUNNEL, &m);
	assert_int_equal(m.tunnel.event, PROTO_TUNNEL_ROUTE_UP);
	assert_string_equal(m.tunnel.dev, "tun0");
	assert_int_equal(m.tunnel.routes.n, 2);
	proto_msg_free(&m);

	t.tunnel.event = PROTO_TUNNEL_DOWN;
	t.tunnel.routes.n = 0;
	link_tunnel(l, &t);
	dbl_expect(fd, PROTO_TUNNEL, &m);
	assert_int_equal(m.tunnel.event, PROTO_TUNNEL_DOWN);
	proto_msg_free(&m);
	/* after DOWN there is no tunnel to announce: a marker comes right after the table */
	close(fd);
	fd = dbl_accept();
	dbl_expect_resync(fd, getpid(), cns, sizeof(cns));
	{
		struct proto_client marker = client("marker", NULL);

		link_client_connect(l, &marker, false);
	}
	dbl_expect_connect(fd, 0, "marker");
	link_free(l);
	close(fd);
}

/* More log lines than the ring holds between two calls of OpenVPN: counted. */
static void test_log_ring(void **state)
{
	struct proto_msg m;
	char cn[16];
	int fd;
	struct link *l = started(1024, 400, &fd);

	for (int i = 0; i < 70; i++) {
		struct proto_client c;

		snprintf(cn, sizeof(cn), "r%d", i);
		c = client(cn, NULL);
		link_client_connect(l, &c, false);
		dbl_expect(fd, PROTO_CONNECT, &m);
		dbl_ack(fd, m.id, "refused");
		proto_msg_free(&m);
	}
	/* 70 refusals, 64 lines kept */
	EVENTUALLY(npeers(l) == 0);
	assert_int_equal(nlogged(l, "agent refused client"), 64);
	assert_true(logged(l, "6 log lines of the agent link lost"));
	link_free(l);
	close(fd);
}

/* An agent that answers garbage: the link backs off, longer each time. */
static void test_garbage_agent(void **state)
{
	static const char *const pauses[] = { "in 100 ms", "in 200 ms", "in 400 ms", "in 400 ms",
					      "in 400 ms" };
	int fd;
	struct link *l = started(1024, 400, &fd);
	const char *at = logbuf;

	for (size_t round = 0; round < 5; round++) {
		struct proto_msg m;

		if (round)
			fd = dbl_accept();
		assert_int_equal(send(fd, "garbage", 7, MSG_NOSIGNAL), 7);
		/* the link closes the connection (after its hello, sync) */
		while (dbl_recv(fd, &m))
			proto_msg_free(&m);
		close(fd);
	}
	EVENTUALLY(nlogged(l, "lost the agent at ") == 5);
	for (size_t i = 0; i < 5; i++) {
		const char *lost = strstr(at, "lost the agent at "), *eol;

		if (!lost)
			fail_msg("connection %zu: no \"lost the agent\" line in:\n%s", i, logbuf);
		eol = strchr(lost, '\n');
		assert_non_null(eol);
		if (!memmem(lost, (size_t)(eol - lost), pauses[i], strlen(pauses[i])))
			fail_msg("connection %zu: expected \"reconnecting %s\": %.*s", i, pauses[i],
				 (int)(eol - lost), lost);
		at = eol;
	}
	assert_true(logged(l, "bad message from the agent (not JSON"));
	link_free(l);
}

/* link_free() sends what is still queued. */
static void test_close_flushes(void **state)
{
	struct proto_client x = client("xray", "192.168.9.0/24");
	struct proto_msg m;
	int fd;
	struct link *l = started(1024, 400, &fd);

	/* keep the thread from sending until link_free() asks it to stop */
	hook_arm(HOOK_PARK_UNTIL_STOP);
	pthread_mutex_lock(&l->mu);
	wake(l);
	pthread_mutex_unlock(&l->mu);
	hook_wait();
	link_client_connect(l, &x, false);
	link_client_disconnect(l, "xray");
	link_free(l);
	dbl_expect_connect(fd, 0, "xray");
	dbl_expect(fd, PROTO_DISCONNECT, &m);
	assert_string_equal(m.disconnect.cn, "xray");
	assert_false(dbl_recv(fd, &m));
	close(fd);
}

/* The child's side of test_fork; exits with what failed. */
static void fork_child(struct link *l)
{
	struct proto_client k = client("kid", "192.168.7.0/24");
	char err[PROTO_ERROR_MAX + 1];
	uint64_t id;
	int r, waited = 0;

	/* the lock the parent's thread held when fork() was called */
	if ((r = pthread_mutex_trylock(&l->mu)) != 0) {
		fprintf(stderr, "child: the link's lock is held: %s\n", strerror(r));
		_exit(10);
	}
	pthread_mutex_unlock(&l->mu);
	if ((r = link_start(l)) != 0) {
		fprintf(stderr, "child: link_start: %s\n", strerror(-r));
		_exit(11);
	}
	id = link_client_connect(l, &k, true);
	while (link_ack(l, id, err, sizeof(err)) != 1) {
		if (waited++ >= BOUND_MS) {
			fprintf(stderr, "child: no acknowledgement\n");
			_exit(12);
		}
		sleep_ms(1);
	}
	if (npeers(l) != 2) {
		fprintf(stderr, "child: %zu clients, expected 2\n", npeers(l));
		_exit(13);
	}
	link_free(l);
	_exit(0);
}

/* fork() while the link thread holds its lock: the child's link works. */
static void test_fork(void **state)
{
	struct proto_client a = client("alpha", "192.168.1.0/24"), b = client("bravo", NULL);
	struct proto_msg m;
	char cns[64];
	int fd, kfd, status;
	struct link *l = started(1024, 400, &fd);
	uint64_t ida;
	pid_t pid;

	ida = link_client_connect(l, &a, false);
	dbl_expect_connect(fd, ida, NULL);

	hook_arm(HOOK_HOLD_LOCK);
	wake(l);
	hook_wait();
	/* the thread is inside its lock now */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		fork_child(l);
	hook_release();

	/* the child connects on its own, with its own pid and the table */
	for (int waited = 0;; waited += 10) {
		struct pollfd p = { .fd = D.lfd, .events = POLLIN };

		if (poll(&p, 1, 10) == 1)
			break;
		if (waitpid(pid, &status, WNOHANG) == pid)
			fail_msg("the child exited (status %#x) before it connected", status);
		if (waited >= BOUND_MS)
			fail_msg("the child never connected");
	}
	kfd = dbl_accept();
	dbl_expect_resync(kfd, pid, cns, sizeof(cns));
	assert_string_equal(cns, "alpha");
	dbl_expect(kfd, PROTO_CONNECT, &m);
	assert_string_equal(m.connect.cn, "kid");
	dbl_ack(kfd, m.id, NULL);
	proto_msg_free(&m);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the child failed (status %#x)", status);
	close(kfd);

	/* the parent's link goes on as before, on its own connection */
	link_client_connect(l, &b, false);
	dbl_expect_connect(fd, 0, "bravo");
	assert_true(link_connected(l));
	link_free(l);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_view_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_immediate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_resync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_reasks_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hello_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_during_resync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims_delta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unexpected_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tunnel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_flushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cfg_without_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_follows_the_agent, setup, teardown),
	};

	/* a peer that closes must not kill the test with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	/* VR_TEST_SKIP: a cmocka pattern of tests to skip (reported as skipped). debian/rules
	 * sets it to test_fork under qemu-user, which cannot run a thread in the forked child
	 * of a threaded process (qemu 7.2 aborts in qemu_plugin_vcpu_init_hook). */
	if (getenv("VR_TEST_SKIP") != NULL)
		cmocka_set_skip_filter(getenv("VR_TEST_SKIP"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
