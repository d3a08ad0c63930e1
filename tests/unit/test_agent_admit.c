// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The agent's side of the admission policy (agent/state.c, agent/dispatch.c
 * over lib/policy.c): what a peer's connect and sync get programmed, with
 * the kernel stubbed.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "unit.h"

#include "agent_stubs.h"
#include "log.h"

static const char conf[] =
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
	"\"tunnel\":{\"pool\":\"10.1.2.0/24\"},\"strict\":true,\"clients\":{"
	"\"pi-home\":{\"allow\":[\"192.168.1.0/24\"],\"iroutes\":[\"192.168.1.128/25\"],"
	"\"address\":\"10.1.2.10\"},"
	"\"a\":{\"allow\":[\"172.16.0.0/12\"]},\"b\":{\"allow\":[\"172.16.0.0/12\"]},"
	"\"c\":{\"allow\":[\"172.16.0.0/12\"]}}}";

static void quiet(int prio, const char *msg, void *ctx)
{
}

struct world {
	struct agent a;
	struct peer p[2]; /* two plugins, as root (the class is sock.c's business) */
};

/* The answers of a commit, in order. */
struct answers {
	size_t n;
	const void *tag[BATCH_MAX * 2];
	uint64_t ref[BATCH_MAX * 2];
	char error[BATCH_MAX * 2][PROTO_ERROR_MAX]; /* "" for success */
};

static void answered(void *ctx, const void *tag, uint64_t ref, const char *error)
{
	struct answers *a = ctx;

	assert_true(a->n < BATCH_MAX * 2);
	a->tag[a->n] = tag;
	a->ref[a->n] = ref;
	snprintf(a->error[a->n++], PROTO_ERROR_MAX, "%s", error ? error : "");
}

/* One message of plugin i, committed at once (as the loop would at the end
 * of a pass with nothing else in it); the error is copied into why. */
static const char *send_msg(struct world *w, int i, struct proto_msg *m, char *why, size_t len)
{
	struct peer *p = &w->p[i];
	struct answers ans = { 0 };
	const char *e;

	p->pid = 100 + i;
	if (!p->name[0])
		snprintf(p->name, sizeof(p->name), "pid %d", (int)p->pid);
	e = dispatch(&w->a, p, m);
	if (e == dispatch_batched) {
		dispatch_commit(&w->a, answered, &ans);
		assert_int_equal(ans.n, 1);
		assert_ptr_equal(ans.tag[0], p);
		e = ans.error[0][0] ? ans.error[0] : NULL;
	}
	if (e && why) {
		snprintf(why, len, "%s", e);
		e = why;
	}
	return e;
}

static void hello(struct world *w, int i, const char *instance, enum proto_role role,
		  const char *expect)
{
	struct proto_msg m = { .type = PROTO_HELLO };
	char why[PROTO_ERROR_MAX];
	const char *e;

	m.hello.role = role;
	snprintf(m.hello.instance, sizeof(m.hello.instance), "%s", instance);
	e = send_msg(w, i, &m, why, sizeof(why));
	if (expect ? !e || !strstr(e, expect) : e != NULL)
		fail_msg("hello %s: \"%s\", expected \"%s\"", instance, e ? e : "(ok)",
			 expect ? expect : "(ok)");
}

static struct world *world_of(const char *text)
{
	struct world *w = calloc(1, sizeof(*w));
	char err[CFG_ERRLEN];

	log_set_sink(quiet, NULL);
	w->a.nft_ready = true;
	if (cfg_load_buf("t.conf", text, strlen(text), &w->a.cfg, err, sizeof(err)))
		fail_msg("%s", err);
	hello(w, 0, "server", PROTO_ROLE_SERVER, NULL);
	hello(w, 1, "server-tcp", PROTO_ROLE_SERVER, NULL);
	return w;
}

static struct world *world(void)
{
	return world_of(conf);
}

static void world_free(struct world *w)
{
	state_free(&w->a);
	cfg_free(w->a.cfg);
	free(w);
	stub_kernel_clear();
}

static struct proto_client client_of(const char *cn, const char *net, const char *t4)
{
	struct proto_client c = { 0 };
	struct pfx p;

	snprintf(c.cn, sizeof(c.cn), "%s", cn);
	if (net) {
		p = pfx_of(net);
		assert_int_equal(pfx_list_add(&c.nets, &p, PROTO_MAX_NETS), 0);
	}
	if (t4) {
		c.has_tunnel4 = true;
		c.tunnel4 = pfx_of(t4);
	}
	return c;
}

/* A connect from peer i: NULL (programmed) or the ack's error. */
static const char *peer_connect(struct world *w, int i, const char *cn, const char *net,
				const char *t4, char *why, size_t len)
{
	struct proto_msg m = { .type = PROTO_CONNECT };
	const char *e;

	m.connect = client_of(cn, net, t4);
	e = send_msg(w, i, &m, why, len);
	proto_msg_free(&m);
	return e;
}

static size_t nclaims(struct world *w)
{
	struct proto_claim *c;
	size_t n = state_claims(&w->a, &c);

	free(c);
	return n;
}

static void test_connect(void **state)
{
	struct world *w = world();
	char why[PROTO_ERROR_MAX];
	const char *e;

	/* what the rogue peer sent */
	e = peer_connect(w, 0, "made-up", "1.0.0.0/8", NULL, why, sizeof(why));
	assert_non_null(e);
	assert_string_equal(e, "client made-up: unknown common name (rule: strict)");
	e = peer_connect(w, 0, "pi-home", "8.8.8.0/24", NULL, why, sizeof(why));
	assert_non_null(e);
	assert_non_null(strstr(e, "(rule: clients.pi-home.allow)"));
	e = peer_connect(w, 0, "pi-home", "192.168.1.128/25", "10.1.2.200", why, sizeof(why));
	assert_non_null(e);
	assert_non_null(strstr(e, "(rule: clients.pi-home.address)"));
	e = peer_connect(w, 0, "a", "172.16.0.0/16", "10.1.2.1", why, sizeof(why));
	assert_non_null(e);
	assert_non_null(strstr(e, "the server's own address"));
	assert_int_equal(nclaims(w), 0);
	assert_int_equal(w->p[0].inst->n, 0);
	/* the legitimate ones */
	assert_null(
		peer_connect(w, 0, "pi-home", "192.168.1.128/25", "10.1.2.10", why, sizeof(why)));
	assert_null(peer_connect(w, 1, "a", "172.16.0.0/16", "10.1.2.30", why, sizeof(why)));
	/* another instance's client, its network and its address */
	e = peer_connect(w, 0, "b", "172.16.5.0/24", NULL, why, sizeof(why));
	assert_non_null(e);
	assert_string_equal(e, "client b: 172.16.5.0/24 overlaps 172.16.0.0/16, already announced "
			       "by client a of server-tcp (rule: one owner per network)");
	e = peer_connect(w, 0, "b", "172.17.0.0/16", "10.1.2.30", why, sizeof(why));
	assert_non_null(e);
	assert_non_null(strstr(e, "is taken by client a of server-tcp (rule: one client per"));
	/* a reconnect with other networks: its own claim does not count */
	assert_null(peer_connect(w, 1, "a", "172.16.0.0/15", "10.1.2.30", why, sizeof(why)));
	assert_int_equal(nclaims(w), 2);
	world_free(w);
}

static void sync_of(struct world *w, int i, struct proto_client *v, size_t n)
{
	struct proto_msg m = { .type = PROTO_SYNC };
	char why[PROTO_ERROR_MAX];

	m.sync.clients = v;
	m.sync.n = n;
	assert_null(send_msg(w, i, &m, why, sizeof(why)));
	proto_msg_free(&m);
}

static const struct aclient *find(struct world *w, int i, const char *cn)
{
	return state_client_find(w->p[i].inst, cn);
}

static void test_sync(void **state)
{
	struct world *w = world();
	char why[PROTO_ERROR_MAX];
	struct proto_client *v = calloc(7, sizeof(*v));
	char s[PFX_STRLEN];

	assert_null(peer_connect(w, 1, "c", "172.20.0.0/16", NULL, why, sizeof(why)));
	v[0] = client_of("made-up", "8.8.8.0/24", NULL);	    /* strict */
	v[1] = client_of("a", "172.16.0.0/16", NULL);		    /* admitted */
	v[2] = client_of("b", "172.16.1.0/24", NULL);		    /* superseded by the last b */
	v[3] = client_of("pi-home", "192.168.2.0/24", NULL);	    /* superseded */
	v[4] = client_of("b", "172.20.1.0/24", NULL);		    /* superseded */
	v[5] = client_of("pi-home", "192.168.1.0/25", "10.1.2.10"); /* last of its name */
	v[6] = client_of("b", "172.18.0.0/16", NULL);		    /* last b: admitted */
	sync_of(w, 0, v, 7);
	assert_int_equal(w->p[0].inst->n, 3);
	assert_non_null(find(w, 0, "a"));
	assert_null(find(w, 0, "made-up"));
	assert_string_equal(pfx_format(&find(w, 0, "pi-home")->pc.nets.v[0], s, sizeof(s)),
			    "192.168.1.0/25");
	assert_string_equal(pfx_format(&find(w, 0, "b")->pc.nets.v[0], s, sizeof(s)),
			    "172.18.0.0/16");
	/* the first of two overlapping clients wins, a refused one blocks nobody */
	v = calloc(3, sizeof(*v));
	v[0] = client_of("a", "172.16.0.0/16", NULL);
	v[1] = client_of("b", "172.16.0.0/14", NULL); /* overlaps a, the earlier */
	v[2] = client_of("pi-home", "192.168.1.128/25", NULL);
	sync_of(w, 0, v, 3);
	assert_int_equal(w->p[0].inst->n, 2);
	assert_null(find(w, 0, "b"));
	assert_non_null(find(w, 0, "pi-home"));
	v = calloc(2, sizeof(*v));
	v[0] = client_of("b", "172.16.0.0/12", NULL); /* overlaps c of server-tcp */
	v[1] = client_of("a", "172.16.0.0/16", NULL);
	sync_of(w, 0, v, 2);
	assert_int_equal(w->p[0].inst->n, 1);
	assert_non_null(find(w, 0, "a"));
	world_free(w);
}

/* host i of 172.16.0.0/12, as a /32 */
static struct proto_client host(size_t i)
{
	char cn[16], net[32];

	snprintf(cn, sizeof(cn), "h%zu", i);
	snprintf(net, sizeof(net), "172.16.%zu.%zu/32", i >> 8 & 255, i & 255);
	return client_of(cn, net, NULL);
}

/*
 * A large sync installs its routes STATE_ROUTES_PER_PASS per call, the loop
 * (state_continue) the rest; a connect meanwhile gets its route at once, and
 * a client that leaves before its route went in never gets it.
 */
static void test_routes_per_pass(void **state)
{
	static const char open[] =
		"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
		"\"tunnel\":{\"pool\":\"10.1.2.0/24\"},"
		"\"default_client\":{\"allow\":[\"172.16.0.0/12\"]}}";
	const size_t n = 1000, per = STATE_ROUTES_PER_PASS;
	struct world *w = world_of(open);
	struct proto_msg m = { .type = PROTO_TUNNEL };
	char why[PROTO_ERROR_MAX], s[PFX_STRLEN];
	size_t before, passes = 0;

	m.tunnel.event = PROTO_TUNNEL_UP;
	snprintf(m.tunnel.dev, sizeof(m.tunnel.dev), "lo"); /* in every namespace */
	assert_null(send_msg(w, 0, &m, why, sizeof(why)));
	assert_false(state_busy(&w->a));
	before = stub_nadded;
	for (size_t i = 0; i < n; i += 500) {
		struct proto_msg sm = { .type = PROTO_SYNC };

		sm.sync.clients = calloc(500, sizeof(*sm.sync.clients));
		for (size_t k = 0; k < 500; k++)
			sm.sync.clients[k] = host(i + k);
		sm.sync.n = 500;
		sm.sync.more = i + 500 < n;
		assert_null(send_msg(w, 0, &sm, why, sizeof(why)));
		proto_msg_free(&sm);
	}
	/* the sync's commit: one pass's worth, the rest left */
	assert_int_equal(w->p[0].inst->n, n);
	assert_int_equal(stub_nadded - before, per);
	assert_int_equal(w->a.nroutes, per);
	assert_true(state_busy(&w->a));
	/* a connect in the meantime: its route is in when it is acknowledged */
	assert_null(peer_connect(w, 0, "late", "172.31.0.1/32", NULL, why, sizeof(why)));
	assert_string_equal(pfx_format(&stub_added[(stub_nadded - 1) % 64], s, sizeof(s)),
			    "172.31.0.1/32");
	/* a queued client leaves: its route never goes in */
	{
		struct proto_msg dm = { .type = PROTO_DISCONNECT };

		snprintf(dm.disconnect.cn, sizeof(dm.disconnect.cn), "h%zu", n - 1);
		assert_null(send_msg(w, 0, &dm, why, sizeof(why)));
	}
	before = stub_nadded;
	while (state_busy(&w->a)) {
		size_t was = stub_nadded;

		state_continue(&w->a);
		assert_true(stub_nadded - was <= per);
		passes++;
	}
	assert_int_equal(stub_nadded - before, n - per - 1);
	assert_int_equal(passes, (n - per - 1 + per - 1) / per);
	/* ours: every host but the one that left, and the late one */
	assert_int_equal(w->a.nroutes, n);
	for (size_t i = 1; i < w->a.nroutes; i++)
		assert_true(pfx_cmp(&w->a.routes[i - 1].dst, &w->a.routes[i].dst) < 0);
	world_free(w);
}

/* The tunnel of peer 0 up on "lo" (in every namespace). */
static void tunnel_up_lo(struct world *w)
{
	struct proto_msg m = { .type = PROTO_TUNNEL };
	char why[PROTO_ERROR_MAX];

	m.tunnel.event = PROTO_TUNNEL_UP;
	snprintf(m.tunnel.dev, sizeof(m.tunnel.dev), "lo");
	assert_null(send_msg(w, 0, &m, why, sizeof(why)));
}

/* n clients connecting on peer 0 (ids 10, 11, ...), then the pass's commit:
 * how many route batches it made. */
static unsigned connect_pass(struct world *w, const char *const *cns, const char *const *nets,
			     size_t n, struct answers *ans)
{
	unsigned batches;

	for (size_t i = 0; i < n; i++) {
		struct proto_msg cm = { .type = PROTO_CONNECT };

		cm.id = 10 + i;
		cm.connect = client_of(cns[i], nets[i], NULL);
		assert_ptr_equal(dispatch(&w->a, &w->p[0], &cm), dispatch_batched);
		proto_msg_free(&cm);
	}
	batches = stub_nbatches;
	dispatch_commit(&w->a, answered, ans);
	return stub_nbatches - batches;
}

/*
 * The connects of one pass go to the kernel as one route batch, each
 * answered on its own: one route the kernel refuses fails its client alone
 * (deferred admission: refused, naming the client and the error; immediate:
 * admitted, its route shown failed), the others are acknowledged with
 * their routes in.
 */
static void batch_one_failing(bool deferred)
{
	static const char fmt[] =
		"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
		"\"tunnel\":{\"pool\":\"10.1.2.0/24\"},\"plugin\":{\"admission\":\"%s\"},"
		"\"default_client\":{\"allow\":[\"172.16.0.0/12\"]}}";
	static const char *const cns[] = { "a", "b", "c" };
	static const char *const nets[] = { "172.16.1.0/24", "172.16.2.0/24", "172.16.3.0/24" };
	char conf_text[512];
	struct answers ans = { 0 };
	struct world *w;

	snprintf(conf_text, sizeof(conf_text), fmt, deferred ? "deferred" : "immediate");
	w = world_of(conf_text);
	tunnel_up_lo(w);
	stub_fail_dst = pfx_of(nets[1]);
	stub_fail_err = -ENETDOWN;
	/* one batch carried the three routes */
	assert_int_equal(connect_pass(w, cns, nets, 3, &ans), 1);
	assert_int_equal(stub_batch_ops, 3);
	assert_int_equal(ans.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_ptr_equal(ans.tag[i], &w->p[0]);
		assert_int_equal(ans.ref[i], 10 + i);
	}
	assert_string_equal(ans.error[0], "");
	assert_string_equal(ans.error[2], "");
	if (deferred) {
		assert_non_null(strstr(ans.error[1], "programming client b failed"));
		assert_non_null(strstr(ans.error[1], strerror(ENETDOWN)));
		assert_null(find(w, 0, "b"));
	} else {
		assert_string_equal(ans.error[1], "");
		assert_non_null(find(w, 0, "b"));
		assert_int_equal(state_route_failed(&w->a, &stub_fail_dst, NULL), -ENETDOWN);
	}
	/* the others' routes are in, and ours; b's is not */
	assert_non_null(find(w, 0, "a"));
	assert_non_null(find(w, 0, "c"));
	assert_int_equal(w->a.nroutes, 2);
	for (size_t i = 0; i < 3; i++) {
		struct pfx p = pfx_of(nets[i]);

		assert_int_equal(stub_kernel_find(&p) != NULL, i != 1);
		assert_int_equal(state_route_failed(&w->a, &p, NULL) != 0, i == 1 && !deferred);
	}
	stub_fail_err = 0;
	world_free(w);
}

static void test_batch_one_failing_deferred(void **state)
{
	batch_one_failing(true);
}

static void test_batch_one_failing_immediate(void **state)
{
	batch_one_failing(false);
}

/*
 * An active summary's unreachable route (aws.summaries) goes to the kernel
 * in the same batch as the pass's client routes, each answered on its own:
 * refused, it fails alone (shown failed), the clients' routes are in.
 */
static void batch_summary(bool refused)
{
	static const char conf_text[] =
		"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
		"\"tunnel\":{\"pool\":\"10.1.2.0/24\"},\"plugin\":{\"admission\":\"deferred\"},"
		"\"default_client\":{\"allow\":[\"172.16.0.0/12\"]},"
		"\"aws\":{\"summaries\":[\"172.16.0.0/12\"]}}";
	static const char *const cns[] = { "a", "b" };
	static const char *const nets[] = { "172.16.1.0/24", "172.16.2.0/24" };
	struct pfx sum = pfx_of("172.16.0.0/12");
	struct answers ans = { 0 };
	struct world *w = world_of(conf_text);
	const struct rtnl_route *k;
	char cloud_dummy;

	w->a.cloud = (struct cloud *)&cloud_dummy; /* the stubs never look inside */
	tunnel_up_lo(w);
	/* made active by the clients' networks (the cloud's wanted routes) */
	stub_summary_active = true;
	if (refused) {
		stub_fail_dst = sum;
		stub_fail_err = -ENETDOWN;
	}
	/* one batch: the two clients' routes and the summary's */
	assert_int_equal(connect_pass(w, cns, nets, 2, &ans), 1);
	assert_int_equal(stub_batch_ops, 3);
	assert_int_equal(ans.n, 2);
	assert_string_equal(ans.error[0], "");
	assert_string_equal(ans.error[1], "");
	for (size_t i = 0; i < 2; i++) {
		struct pfx p = pfx_of(nets[i]);

		assert_non_null(find(w, 0, cns[i]));
		assert_non_null(stub_kernel_find(&p));
	}
	k = stub_kernel_find(&sum);
	if (refused) {
		assert_null(k);
		assert_int_equal(state_route_failed(&w->a, &sum, NULL), -ENETDOWN);
		assert_int_equal(w->a.nroutes, 2);
	} else {
		assert_non_null(k);
		assert_int_equal(k->type, RTN_UNREACHABLE);
		assert_int_equal(state_route_failed(&w->a, &sum, NULL), 0);
		assert_int_equal(w->a.nroutes, 3);
	}
	stub_fail_err = 0;
	stub_summary_active = false;
	w->a.cloud = NULL;
	world_free(w);
}

static void test_batch_summary(void **state)
{
	batch_summary(false);
}

static void test_batch_summary_refused(void **state)
{
	batch_summary(true);
}

/* A disconnect from peer i, programmed. */
static void peer_disconnect(struct world *w, int i, const char *cn)
{
	struct proto_msg m = { .type = PROTO_DISCONNECT };
	char why[PROTO_ERROR_MAX];

	snprintf(m.disconnect.cn, sizeof(m.disconnect.cn), "%s", cn);
	assert_null(send_msg(w, i, &m, why, sizeof(why)));
}

/* Whether a newcomer on peer 1 may take net (and t4): NULL, or the error
 * (it is disconnected again when admitted). */
static const char *probe_conflict(struct world *w, const char *net, const char *t4, char *why,
				  size_t len)
{
	const char *e = peer_connect(w, 1, "newcomer", net, t4, why, len);

	if (!e)
		peer_disconnect(w, 1, "newcomer");
	return e;
}

/*
 * The clients' index (by name, by prefix) through connects, disconnects
 * (the last client moving into the hole), reconnects with other networks
 * and a sync (the index rebuilt): each conflict names the holder that is
 * there, and a network or address freed is free.
 */
static void test_index(void **state)
{
	struct world *w =
		world_of("{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
			 "\"tunnel\":{\"pool\":\"10.1.2.0/24\"},"
			 "\"default_client\":{\"allow\":[\"172.16.0.0/12\"]}}");
	char why[PROTO_ERROR_MAX], net[32], t4[32], want[96];
	bool in[100] = { 0 };
	const char *e;

	for (size_t i = 0; i < 100; i++) {
		struct proto_client c = host(i);

		snprintf(t4, sizeof(t4), "10.1.2.%zu", 10 + i);
		assert_null(peer_connect(w, 0, c.cn, pfx_format(&c.nets.v[0], net, sizeof(net)), t4,
					 why, sizeof(why)));
		pfx_list_free(&c.nets);
		in[i] = true;
	}
	for (size_t i = 0; i < 100; i += 7) { /* every 7th leaves */
		char cn[16];

		snprintf(cn, sizeof(cn), "h%zu", i);
		peer_disconnect(w, 0, cn);
		in[i] = false;
	}
	assert_int_equal(w->p[0].inst->n, 100 - 15);
	for (size_t i = 0; i < 100; i++) {
		snprintf(net, sizeof(net), "172.16.0.%zu/32", i);
		snprintf(t4, sizeof(t4), "10.1.2.%zu", 10 + i);
		snprintf(want, sizeof(want), "already announced by client h%zu of server", i);
		e = probe_conflict(w, net, NULL, why, sizeof(why));
		assert_true(in[i] ? e && strstr(e, want) : !e);
		snprintf(want, sizeof(want), "is taken by client h%zu of server", i);
		e = probe_conflict(w, "172.20.0.0/16", t4, why, sizeof(why));
		assert_true(in[i] ? e && strstr(e, want) : !e);
		assert_int_equal(find(w, 0, "h0") != NULL, false);
		snprintf(net, sizeof(net), "h%zu", i);
		assert_int_equal(find(w, 0, net) != NULL, in[i]);
		if (in[i])
			assert_string_equal(find(w, 0, net)->pc.cn, net);
	}
	/* a network that contains them all, one inside one */
	e = probe_conflict(w, "172.16.0.0/24", NULL, why, sizeof(why));
	assert_true(e && strstr(e, "already announced by client h"));
	/* h1 moves: its host is free, its new network taken */
	assert_null(peer_connect(w, 0, "h1", "172.17.0.0/16", "10.1.2.11", why, sizeof(why)));
	assert_null(probe_conflict(w, "172.16.0.1/32", NULL, why, sizeof(why)));
	e = probe_conflict(w, "172.17.5.0/24", NULL, why, sizeof(why));
	assert_true(e && strstr(e, "overlaps 172.17.0.0/16, already announced by client h1 of"));
	e = probe_conflict(w, "172.16.0.0/12", NULL, why, sizeof(why));
	assert_true(e && strstr(e, "already announced by client h"));
	/* a sync of peer 0 replaces its clients: the index follows */
	{
		struct proto_client *v = calloc(2, sizeof(*v));

		v[0] = client_of("s0", "172.18.0.0/16", "10.1.2.200");
		v[1] = client_of("s1", "172.16.0.7/32", NULL);
		sync_of(w, 0, v, 2);
	}
	assert_int_equal(w->p[0].inst->n, 2);
	assert_null(find(w, 0, "h1"));
	assert_non_null(find(w, 0, "s1"));
	assert_null(probe_conflict(w, "172.17.0.0/16", "10.1.2.11", why, sizeof(why)));
	e = probe_conflict(w, "172.18.1.0/24", NULL, why, sizeof(why));
	assert_true(e && strstr(e, "already announced by client s0 of server"));
	e = probe_conflict(w, "172.20.0.0/16", "10.1.2.200", why, sizeof(why));
	assert_true(e && strstr(e, "is taken by client s0 of server"));
	peer_disconnect(w, 0, "s0");
	assert_null(probe_conflict(w, "172.18.1.0/24", "10.1.2.200", why, sizeof(why)));
	world_free(w);
}

static void test_roles(void **state)
{
	static const char cli[] =
		"{\"version\":1,\"role\":\"client\",\"local_networks\":[\"192.168.1.0/24\"]}";
	struct world *w = world();
	char why[PROTO_ERROR_MAX], err[CFG_ERRLEN];
	struct world c = { 0 };

	/* a client-role plugin on a server host */
	w->p[1].inst = NULL;
	hello(w, 1, "pi", PROTO_ROLE_CLIENT,
	      "instance pi: a plugin in an OpenVPN client, but this host has the server role "
	      "(rule: role)");
	world_free(w);
	/* a server-role plugin on a client host, and its connects */
	assert_int_equal(cfg_load_buf("c.conf", cli, sizeof(cli) - 1, &c.a.cfg, err, sizeof(err)),
			 0);
	hello(&c, 0, "server", PROTO_ROLE_SERVER, "(rule: role)");
	hello(&c, 0, "pi", PROTO_ROLE_CLIENT, NULL);
	assert_non_null(peer_connect(&c, 0, "x", NULL, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "(rule: role)"));
	state_free(&c.a);
	cfg_free(c.a.cfg);
	stub_kernel_clear();
}

/* Client role: of the routes the server pushes, only what the policy
 * accepts is programmed (inside accept_routes, never a local network). */
static void test_pushed_routes(void **state)
{
	static const char cli[] =
		"{\"version\":1,\"role\":\"client\",\"local_networks\":[\"192.168.1.0/24\"],"
		"\"accept_routes\":[\"10.1.0.0/16\"]}";
	static const char *const pushed[] = { "10.1.5.0/24", "10.2.0.0/16", "192.168.1.0/25",
					      "0.0.0.0/0" };
	struct world c = { .a.nft_ready = true };
	struct proto_msg m = { .type = PROTO_TUNNEL };
	char why[PROTO_ERROR_MAX], err[CFG_ERRLEN], s[PFX_STRLEN];

	log_set_sink(quiet, NULL);
	assert_int_equal(cfg_load_buf("c.conf", cli, sizeof(cli) - 1, &c.a.cfg, err, sizeof(err)),
			 0);
	hello(&c, 0, "pi", PROTO_ROLE_CLIENT, NULL);
	m.tunnel.event = PROTO_TUNNEL_ROUTE_UP;
	snprintf(m.tunnel.dev, sizeof(m.tunnel.dev), "lo"); /* exists in every namespace */
	for (size_t i = 0; i < 4; i++) {
		struct pfx p = pfx_of(pushed[i]);

		assert_int_equal(pfx_list_add(&m.tunnel.routes, &p, PROTO_MAX_NETS), 0);
	}
	stub_nadded = 0;
	assert_null(send_msg(&c, 0, &m, why, sizeof(why)));
	assert_int_equal(stub_nadded, 1);
	assert_string_equal(pfx_format(&stub_added[0], s, sizeof(s)), "10.1.5.0/24");
	proto_msg_free(&m);
	state_free(&c.a);
	cfg_free(c.a.cfg);
	stub_kernel_clear();
}

/* Client role: the networks the server reaches without pushing them
 * (tunnel_networks) are routed, exempted and filtered like accepted pushed
 * routes once the tunnel is up, before and after OpenVPN's route-up; never
 * while it is down. */
static void test_tunnel_networks(void **state)
{
	static const char cli[] =
		"{\"version\":1,\"role\":\"client\",\"local_networks\":[\"10.1.1.0/24\"],"
		"\"accept_routes\":[\"192.168.0.0/16\",\"10.100.0.0/16\"],"
		"\"tunnel_networks\":[\"10.100.8.0/24\",\"192.168.0.128/25\"]}";
	struct world c = { .a.nft_ready = true };
	struct proto_msg m = { .type = PROTO_TUNNEL };
	struct pfx p = pfx_of("192.168.0.0/24");
	char why[PROTO_ERROR_MAX], err[CFG_ERRLEN], s[PFX_STRLEN], all[256] = "";

	log_set_sink(quiet, NULL);
	assert_int_equal(cfg_load_buf("c.conf", cli, sizeof(cli) - 1, &c.a.cfg, err, sizeof(err)),
			 0);
	hello(&c, 0, "branch", PROTO_ROLE_CLIENT, NULL);
	/* nothing before the tunnel is up */
	stub_nadded = 0;
	stub_nremote = 0;
	assert_int_equal(state_apply(&c.a), 0);
	assert_int_equal(stub_nadded, 0);
	assert_int_equal(stub_nremote, 0);

	/* up: the tunnel network gets its route at once; the pushed route
	 * (which covers the other) waits for OpenVPN's route-up */
	m.tunnel.event = PROTO_TUNNEL_UP;
	snprintf(m.tunnel.dev, sizeof(m.tunnel.dev), "lo"); /* exists in every namespace */
	assert_int_equal(pfx_list_add(&m.tunnel.routes, &p, PROTO_MAX_NETS), 0);
	assert_null(send_msg(&c, 0, &m, why, sizeof(why)));
	assert_int_equal(stub_nadded, 1);
	assert_string_equal(pfx_format(&stub_added[0], s, sizeof(s)), "10.100.8.0/24");
	assert_int_equal(stub_nremote, 2);
	for (size_t i = 0; i < stub_nremote; i++)
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s ",
			 pfx_format(&stub_remote[i], s, sizeof(s)));
	assert_string_equal(all, "192.168.0.0/24 10.100.8.0/24 ");
	assert_int_equal(stub_nacc, 2); /* from_local (default all) to both */

	stub_nadded = 0;
	m.tunnel.event = PROTO_TUNNEL_ROUTE_UP;
	assert_null(send_msg(&c, 0, &m, why, sizeof(why)));
	all[0] = 0;
	for (size_t i = 0; i < stub_nadded && i < 64; i++)
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s ",
			 pfx_format(&stub_added[i], s, sizeof(s)));
	assert_non_null(strstr(all, "192.168.0.0/24 "));
	assert_null(strstr(all, "192.168.0.128/25")); /* covered by the pushed route */
	proto_msg_free(&m);
	state_free(&c.a);
	cfg_free(c.a.cfg);
	stub_kernel_clear();
}

/* A to_local rule by host name: each address the resolver last found
 * becomes an element like a literal one, but only inside local_networks
 * (a DNS answer is untrusted) and of the rule's family for icmp; a name
 * with no addresses adds nothing and takes nothing from the other rules. */
static void test_named_rules(void **state)
{
	static const char text[] =
		"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\","
		"\"fd00:1::/64\"],\"tunnel\":{\"pool\":\"10.1.2.0/24\"},\"clients\":{\"pi\":{"
		"\"iroutes\":[\"192.168.1.0/24\"],\"to_local\":[{\"to\":\"svc.example.com\","
		"\"proto\":\"tcp\",\"ports\":[443]},{\"to\":\"ping.example.com\",\"proto\":"
		"\"icmp\"},{\"to\":\"never.example.com\"},{\"to\":\"10.1.1.9\"}]}}}";
	struct world *w = world_of(text);
	struct dns_entry svc = { .name = "svc.example.com" }, ping = { .name = "ping.example.com" },
			 never = { .name = "never.example.com" };
	struct dns_entry *v[] = { &never, &ping, &svc }; /* sorted */
	struct dns_table t = { .v = v, .n = 3 };
	const char *svc_addrs[] = { "10.1.1.5", "8.8.8.8", "fd00:1::5", "10.1.1.6" };
	char why[PROTO_ERROR_MAX], s[PFX_STRLEN];
	bool seen5 = false, seen6 = false, seen_v6 = false, seen9 = false, seen_ping = false;

	for (size_t i = 0; i < 4; i++) {
		struct pfx p = pfx_of(svc_addrs[i]);

		assert_int_equal(pfx_list_add(&svc.addrs, &p, 64), 0);
	}
	for (size_t i = 0; i < 2; i++) {
		struct pfx p = pfx_of(i ? "fd00:1::7" : "10.1.1.7");

		assert_int_equal(pfx_list_add(&ping.addrs, &p, 64), 0);
	}
	w->a.names = &t;
	assert_null(peer_connect(w, 0, "pi", "192.168.1.0/24", "10.1.2.10", why, sizeof(why)));
	state_apply(&w->a);
	for (size_t i = 0; i < stub_nacc; i++) {
		const struct nft_acc *x = &stub_acc[i];

		if (x->src.family != AF_INET || pfx_format(&x->src, s, sizeof(s)) == NULL ||
		    (strcmp(s, "192.168.1.0/24") && strcmp(s, "10.1.2.10/32")))
			fail_msg("source %s", s);
		pfx_format(&x->dst, s, sizeof(s));
		if (strcmp(s, "10.1.1.5/32") == 0 || strcmp(s, "10.1.1.6/32") == 0) {
			seen5 |= s[7] == '5';
			seen6 |= s[7] == '6';
			assert_true(x->ports && x->port_lo == 443 && x->proto_lo == IPPROTO_TCP);
		} else if (strcmp(s, "10.1.1.7/32") == 0) {
			seen_ping = true;
			assert_int_equal(x->proto_lo, IPPROTO_ICMP);
		} else if (strcmp(s, "10.1.1.9/32") == 0) {
			seen9 = true;
		} else {
			fail_msg("unexpected destination %s", s); /* 8.8.8.8: outside */
		}
	}
	assert_true(seen5 && seen6 && seen_ping && seen9);
	/* IPv6: the client has no IPv6 network, so nothing of that family */
	for (size_t i = 0; i < stub_nacc; i++)
		seen_v6 |= stub_acc[i].dst.family == AF_INET6;
	assert_false(seen_v6);
	/* 2 sources x (2 svc + 1 ping + 1 literal) */
	assert_int_equal(stub_nacc, 8);
	/* the name moves: the next reconcile has the new address only */
	pfx_list_free(&svc.addrs);
	{
		struct pfx p = pfx_of("10.1.1.50");

		assert_int_equal(pfx_list_add(&svc.addrs, &p, 64), 0);
	}
	state_apply(&w->a);
	assert_int_equal(stub_nacc, 6);
	for (size_t i = 0; i < stub_nacc; i++) {
		pfx_format(&stub_acc[i].dst, s, sizeof(s));
		assert_true(strcmp(s, "10.1.1.5/32") && strcmp(s, "10.1.1.6/32"));
	}
	w->a.names = NULL;
	pfx_list_free(&svc.addrs);
	pfx_list_free(&ping.addrs);
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_sync),
		cmocka_unit_test(test_routes_per_pass),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_pushed_routes),
		cmocka_unit_test(test_tunnel_networks),
		cmocka_unit_test(test_named_rules),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_batch_one_failing_deferred),
		cmocka_unit_test(test_batch_one_failing_immediate),
		cmocka_unit_test(test_batch_summary),
		cmocka_unit_test(test_batch_summary_refused),
	};

	return cmocka_run_group_tests_name("agent admission", tests, NULL, NULL);
}
