// SPDX-License-Identifier: GPL-2.0-or-later
/* The route planner: a pure function from what is wanted and what the
 * tables hold to the calls that make them agree. */
#include "config.h"

#include <stdlib.h>

#include "cfg.h"
#include "planner.h"
#include "unit.h"

#define ENI   "eni-0a0a0a0a"
#define OTHER "eni-0b0b0b0b"
#define VPC   "vpc-01"
#define GRACE 300000LL /* aws.withdraw_grace_s 300, in ms */
#define T0    1000000LL

static const char *const server_conf =
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.0.0/16\",\"fd00:1::/56\"],"
	"\"tunnel\":{\"pool\":\"10.8.0.0/24\",\"pool6\":\"fd00:8::/64\"},"
	"\"clients\":{\"home\":{\"allow\":[\"192.168.1.0/24\",\"fd00:99::/48\"]},"
	"\"shop\":{\"allow\":[\"192.168.2.0/24\"]}},"
	"\"aws\":{\"enabled\":true,\"route_tables\":\"auto\",\"withdraw_grace_s\":300}}";

static struct cfg *load(const char *text)
{
	char err[CFG_ERRLEN];
	struct cfg *c = NULL;

	if (cfg_load_buf("t.conf", text, strlen(text), &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return c;
}

/* A table: routes as "dst kind target" triples. */
static void table(struct ec2_rtb *t, const char *id, const char *vpc, bool main, const char *subnet,
		  const char *const *routes)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->vpc, sizeof(t->vpc), "%s", vpc);
	t->main = main;
	if (subnet) {
		t->subnets = calloc(1, sizeof(*t->subnets));
		snprintf(t->subnets[0], sizeof(t->subnets[0]), "%s", subnet);
		t->nsubnets = 1;
	}
	for (size_t i = 0; routes && routes[i]; i += 3) {
		t->routes = realloc(t->routes, (t->nroutes + 1) * sizeof(*t->routes));
		memset(&t->routes[t->nroutes], 0, sizeof(*t->routes));
		t->routes[t->nroutes].dst = pfx_of(routes[i]);
		snprintf(t->routes[t->nroutes].kind, sizeof(t->routes->kind), "%s", routes[i + 1]);
		snprintf(t->routes[t->nroutes].target, sizeof(t->routes->target), "%s",
			 routes[i + 2]);
		t->nroutes++;
	}
}

struct fix {
	struct cfg *cfg;
	struct ec2_rtb tables[4];
	size_t ntables;
	struct plan_want want[128];
	size_t nwant;
	struct plan_book book;
	struct plan_failed failed[4];
	size_t nfailed;
	unsigned withdraw;
	bool no_additions;
	const struct pfx_list *vpc_cidrs;
};

static void want(struct fix *f, const char *s)
{
	f->want[f->nwant].dst = pfx_of(s);
	f->want[f->nwant++].refs = 1;
}

static void main_table(struct fix *f, const char *const *routes)
{
	table(&f->tables[f->ntables++], "rtb-main", VPC, true, NULL, routes);
	plan_tables_sort(f->tables, f->ntables);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	f->cfg = load(server_conf);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	for (size_t i = 0; i < f->ntables; i++) {
		free(f->tables[i].routes);
		free(f->tables[i].subnets);
	}
	plan_book_free(&f->book);
	cfg_free(f->cfg);
	free(f);
	return 0;
}

/* Plans; checks on the way that the input is left as it was. */
static void plan(struct fix *f, long long now, struct plan *p)
{
	struct plan_in in = { .cfg = f->cfg,
			      .vpc = VPC,
			      .eni = ENI,
			      .want = f->want,
			      .nwant = f->nwant,
			      .tables_known = true,
			      .tables = f->tables,
			      .ntables = f->ntables,
			      .book = &f->book,
			      .failed = f->failed,
			      .nfailed = f->nfailed,
			      .now = now,
			      .withdraw = f->withdraw,
			      .no_additions = f->no_additions,
			      .vpc_cidrs = f->vpc_cidrs };
	size_t ngone = f->book.ngone, nconf = f->book.nconflicts;
	struct plan_gone *gone = ngone ? malloc(ngone * sizeof(*gone)) : NULL;
	struct plan_conflict *conf = nconf ? malloc(nconf * sizeof(*conf)) : NULL;
	struct plan again;

	qsort(f->want, f->nwant, sizeof(*f->want), plan_want_cmp);
	if (ngone)
		memcpy(gone, f->book.gone, ngone * sizeof(*gone));
	if (nconf)
		memcpy(conf, f->book.conflicts, nconf * sizeof(*conf));
	assert_int_equal(plan_make(&in, p), 0);
	/* pure: the bookkeeping given is untouched, a second call says the same */
	assert_int_equal(f->book.ngone, ngone);
	assert_int_equal(f->book.nconflicts, nconf);
	assert_true(!ngone || memcmp(gone, f->book.gone, ngone * sizeof(*gone)) == 0);
	assert_true(!nconf || memcmp(conf, f->book.conflicts, nconf * sizeof(*conf)) == 0);
	assert_int_equal(plan_make(&in, &again), 0);
	assert_int_equal(again.nops, p->nops);
	assert_true(!p->nops || memcmp(again.ops, p->ops, p->nops * sizeof(*p->ops)) == 0);
	assert_int_equal(again.book.ngone, p->book.ngone);
	assert_int_equal(again.book.nconflicts, p->book.nconflicts);
	assert_true(again.next_due == p->next_due);
	plan_free(&again);
	free(gone);
	free(conf);
}

static void assert_op(const struct fix *f, const struct plan *p, size_t i, enum plan_kind k,
		      const char *table_id, const char *dst)
{
	char d[PFX_STRLEN];

	assert_true(i < p->nops);
	assert_int_equal(p->ops[i].kind, k);
	assert_string_equal(f->tables[p->ops[i].table].id, table_id);
	assert_string_equal(pfx_format(&p->ops[i].dst, d, sizeof(d)), dst);
}

static void test_create(void **state)
{
	struct fix *f = *state;
	static const char *const routes[] = { "10.1.0.0/16", "gatewayId", "local", NULL };
	struct plan p;
	char desc[128];

	want(f, "192.168.1.0/24");
	want(f, "10.8.0.0/24");
	main_table(f, routes);
	plan(f, T0, &p);
	assert_int_equal(p.nops, 2);
	assert_op(f, &p, 0, PLAN_CREATE, "rtb-main", "10.8.0.0/24");
	assert_op(f, &p, 1, PLAN_CREATE, "rtb-main", "192.168.1.0/24");
	plan_op_describe(&p.ops[1], f->tables, ENI, desc, sizeof(desc));
	assert_string_equal(desc, "CreateRoute rtb-main 192.168.1.0/24 -> " ENI);
	assert_int_equal(p.book.nconflicts, 0);
	assert_int_equal(p.book.ngone, 0);
	assert_true(p.next_due == 0);
	plan_free(&p);

	/* done: the table as updated after the call, nothing left to do */
	assert_int_equal(plan_route_set(&f->tables[0], &f->want[0].dst, ENI), 0);
	assert_int_equal(plan_route_set(&f->tables[0], &f->want[1].dst, ENI), 0);
	assert_int_equal(f->tables[0].nroutes, 3);
	plan(f, T0, &p);
	assert_int_equal(p.nops, 0);
	plan_free(&p);
}

/* Two wanted networks that the main table sends elsewhere. */
static void elsewhere(struct fix *f)
{
	static const char *const routes[] = { "192.168.1.0/24",
					      "networkInterfaceId",
					      OTHER,
					      "192.168.2.0/24",
					      "gatewayId",
					      "vgw-1",
					      NULL };

	want(f, "192.168.1.0/24");
	want(f, "192.168.2.0/24");
	main_table(f, routes);
}

static void test_conflict_reported_once_and_left_alone(void **state)
{
	struct fix *f = *state;
	struct plan p;

	elsewhere(f);
	plan(f, T0, &p);
	assert_int_equal(p.nops, 0); /* left alone */
	assert_int_equal(p.book.nconflicts, 2);
	assert_string_equal(p.book.conflicts[0].table, "rtb-main");
	assert_string_equal(p.book.conflicts[0].target, OTHER);
	assert_string_equal(p.book.conflicts[0].kind, "networkInterfaceId");
	assert_string_equal(p.book.conflicts[1].target, "vgw-1");
	assert_false(p.book.conflicts[0].reported);
	assert_false(p.book.conflicts[1].reported);
	/* as long as the caller does not keep them, they stay new */
	plan_free(&p);
	plan(f, T0 + 1, &p);
	assert_false(p.book.conflicts[0].reported);
	plan_commit(&f->book, &p);
	plan_free(&p);
	/* kept: reported once */
	plan(f, T0 + 2, &p);
	assert_int_equal(p.book.nconflicts, 2);
	assert_true(p.book.conflicts[0].reported);
	assert_true(p.book.conflicts[1].reported);
	plan_commit(&f->book, &p);
	plan_free(&p);
	/* the target changes: a new conflict */
	snprintf(f->tables[0].routes[0].target, sizeof(f->tables[0].routes[0].target), "%s",
		 "eni-0c0c0c0c");
	plan(f, T0 + 3, &p);
	assert_false(p.book.conflicts[0].reported);
	assert_true(p.book.conflicts[1].reported);
	plan_free(&p);
}

static void test_takeover_replaces(void **state)
{
	struct fix *f = *state;
	struct plan p;
	char desc[128];

	f->cfg->aws.takeover = true;
	elsewhere(f);
	plan(f, T0, &p);
	assert_int_equal(p.nops, 2);
	assert_op(f, &p, 0, PLAN_REPLACE, "rtb-main", "192.168.1.0/24");
	assert_op(f, &p, 1, PLAN_REPLACE, "rtb-main", "192.168.2.0/24");
	assert_int_equal(p.book.nconflicts, 0);
	plan_op_describe(&p.ops[0], f->tables, ENI, desc, sizeof(desc));
	assert_string_equal(desc, "ReplaceRoute rtb-main 192.168.1.0/24 -> " ENI);
	plan_free(&p);
}

static void test_withdraw_only_after_grace(void **state)
{
	struct fix *f = *state;
	static const char *const routes[] = { "10.8.0.0/24",
					      "networkInterfaceId",
					      ENI,
					      "192.168.1.0/24",
					      "networkInterfaceId",
					      ENI,
					      NULL };
	struct plan p;
	char desc[128];

	want(f, "192.168.1.0/24");
	main_table(f, routes);
	/* 10.8.0.0/24 ours but not wanted (left from before a restart): its grace starts */
	plan(f, T0, &p);
	assert_int_equal(p.nops, 0);
	assert_int_equal(p.book.ngone, 1);
	assert_true(p.book.gone[0].since == T0);
	assert_true(p.next_due == T0 + GRACE);
	plan_commit(&f->book, &p);
	plan_free(&p);
	/* the client goes: its grace starts when it went */
	f->nwant = 0;
	assert_int_equal(plan_book_gone(&f->book, P("192.168.1.0/24"), T0 + 1000), 0);
	plan(f, T0 + GRACE - 1, &p);
	assert_int_equal(p.nops, 0);
	assert_true(p.next_due == T0 + GRACE);
	plan_commit(&f->book, &p);
	plan_free(&p);
	plan(f, T0 + GRACE, &p);
	assert_int_equal(p.nops, 1);
	assert_op(f, &p, 0, PLAN_DELETE, "rtb-main", "10.8.0.0/24");
	assert_true(p.next_due == T0 + 1000 + GRACE);
	plan_op_describe(&p.ops[0], f->tables, ENI, desc, sizeof(desc));
	assert_string_equal(desc, "DeleteRoute rtb-main 10.8.0.0/24");
	plan_commit(&f->book, &p);
	plan_free(&p);
	plan(f, T0 + 1000 + GRACE, &p);
	assert_int_equal(p.nops, 2);
	assert_op(f, &p, 1, PLAN_DELETE, "rtb-main", "192.168.1.0/24");
	assert_true(p.next_due == 0);
	plan_free(&p);
	/* withdrawn everywhere: forgotten */
	plan_route_unset(&f->tables[0], P("10.8.0.0/24"));
	plan_route_unset(&f->tables[0], P("192.168.1.0/24"));
	assert_int_equal(f->tables[0].nroutes, 0);
	plan(f, T0 + 1000 + GRACE, &p);
	assert_int_equal(p.nops, 0);
	assert_int_equal(p.book.ngone, 0);
	plan_free(&p);
}

static void test_reconnect_inside_grace_costs_nothing(void **state)
{
	struct fix *f = *state;
	static const char *const routes[] = { "192.168.1.0/24", "networkInterfaceId", ENI, NULL };
	struct plan p;

	main_table(f, routes);
	assert_int_equal(plan_book_gone(&f->book, P("192.168.1.0/24"), T0), 0);
	plan(f, T0 + 1000, &p);
	assert_int_equal(p.nops, 0);
	plan_commit(&f->book, &p);
	plan_free(&p);
	/* back before the grace is over: no call, and the grace is forgotten */
	want(f, "192.168.1.0/24");
	plan(f, T0 + 2000, &p);
	assert_int_equal(p.nops, 0);
	assert_int_equal(p.book.ngone, 0);
	assert_true(p.next_due == 0);
	plan_commit(&f->book, &p);
	plan_free(&p);
	/* gone again: a new grace from then, not from the first time */
	f->nwant = 0;
	assert_int_equal(plan_book_gone(&f->book, P("192.168.1.0/24"), T0 + 3000), 0);
	plan(f, T0 + GRACE + 1, &p);
	assert_int_equal(p.nops, 0);
	assert_true(p.next_due == T0 + 3000 + GRACE);
	plan_free(&p);
}

static void test_never_a_default_route(void **state)
{
	struct fix *f = *state;
	static const char *const routes[] = { "0.0.0.0/0", "networkInterfaceId", ENI,
					      "::/0",	   "networkInterfaceId", ENI,
					      NULL };
	struct plan p;

	main_table(f, routes);
	plan(f, T0, &p);
	assert_int_equal(p.nops, 0);
	assert_int_equal(p.book.ngone, 0); /* not even a grace started */
	assert_true(p.next_due == 0);
	plan_commit(&f->book, &p);
	plan_free(&p);
	plan(f, T0 + 100 * GRACE, &p);
	assert_int_equal(p.nops, 0);
	plan_free(&p);
	assert_false(plan_may_own(f->cfg, P("0.0.0.0/0")));
	assert_false(plan_may_own(f->cfg, P("::/0")));
}

static void test_only_what_the_agent_could_have_made(void **state)
{
	struct fix *f = *state;
	static const char *const routes[] = { "172.16.0.0/16",
					      "networkInterfaceId",
					      ENI, /* an administrator's */
					      "192.168.2.0/25",
					      "networkInterfaceId",
					      ENI, /* inside shop's allow */
					      "10.8.0.0/24",
					      "gatewayId",
					      "igw-1", /* not to us */
					      NULL };
	struct plan p;

	main_table(f, routes);
	/* one the agent wanted before is its own, whatever it is */
	assert_int_equal(plan_book_gone(&f->book, P("172.16.0.0/16"), T0), 0);
	plan(f, T0 + GRACE, &p);
	assert_int_equal(p.book.nunwanted, 0); /* "withdrawing", not "ours, not wanted" */
	plan_commit(&f->book, &p);
	plan_free(&p);
	plan(f, T0 + 2 * GRACE, &p);
	assert_int_equal(p.nops, 2);
	assert_op(f, &p, 0, PLAN_DELETE, "rtb-main", "172.16.0.0/16");
	assert_op(f, &p, 1, PLAN_DELETE, "rtb-main", "192.168.2.0/25");
	plan_free(&p);
	assert_false(plan_may_own(f->cfg, P("172.16.0.0/16")));
	assert_true(plan_may_own(f->cfg, P("10.8.0.0/24")));
	assert_true(plan_may_own(f->cfg, P("fd00:8::/64")));
	assert_false(plan_may_own(f->cfg, P("10.8.0.0/16")));
}

static void test_client_role_may_own(void **state)
{
	struct cfg *c = load("{\"version\":1,\"role\":\"client\","
			     "\"local_networks\":[\"10.1.0.0/16\"],"
			     "\"aws\":{\"enabled\":true}}");
	struct cfg *d = load("{\"version\":1,\"role\":\"client\","
			     "\"local_networks\":[\"10.1.0.0/16\"],"
			     "\"accept_routes\":[\"192.168.0.0/16\"],"
			     "\"aws\":{\"enabled\":true}}");

	/* local_networks "auto" before the VPC's blocks are known: all but a default route */
	struct cfg *e = load("{\"version\":1,\"role\":\"client\",\"local_networks\":\"auto\","
			     "\"aws\":{\"enabled\":true}}");

	(void)state;
	assert_int_equal(e->local.n, 0);
	assert_true(plan_may_own(e, P("192.168.7.0/24")));
	assert_false(plan_may_own(e, P("0.0.0.0/0")));
	assert_false(plan_may_own(e, P("::/0")));
	cfg_free(e);
	assert_true(plan_may_own(c, P("192.168.7.0/24")));
	assert_false(plan_may_own(c, P("10.1.2.0/24")));
	assert_false(plan_may_own(c, P("0.0.0.0/0")));
	assert_true(plan_may_own(d, P("192.168.7.0/24")));
	assert_false(plan_may_own(d, P("172.16.0.0/24")));
	cfg_free(c);
	cfg_free(d);
}

static void test_several_tables(void **state)
{
	struct fix *f = *state;
	static const char *const mine[] = { "192.168.1.0/24", "networkInterfaceId", ENI, NULL };
	static const char *const stale[] = { "10.8.0.0/24", "networkInterfaceId", ENI, NULL };
	struct plan p;

	want(f, "192.168.1.0/24");
	table(&f->tables[0], "rtb-a", VPC, true, NULL, mine);
	table(&f->tables[1], "rtb-b", VPC, false, "subnet-1", stale); /* associated */
	table(&f->tables[2], "rtb-c", VPC, false, NULL, NULL);	      /* no association */
	table(&f->tables[3], "rtb-d", "vpc-02", true, NULL, NULL);    /* another VPC */
	f->ntables = 4;
	plan_tables_sort(f->tables, f->ntables);
	plan(f, T0, &p);
	assert_int_equal(p.nops, 1);
	assert_op(f, &p, 0, PLAN_CREATE, "rtb-b", "192.168.1.0/24");
	assert_int_equal(p.book.ngone, 1); /* rtb-b's stale route: grace started */
	plan_commit(&f->book, &p);
	plan_free(&p);
	/* additions first, then withdrawals */
	plan(f, T0 + GRACE, &p);
	assert_int_equal(p.nops, 2);
	assert_op(f, &p, 0, PLAN_CREATE, "rtb-b", "192.168.1.0/24");
	assert_op(f, &p, 1, PLAN_DELETE, "rtb-b", "10.8.0.0/24");
	plan_free(&p);

	/* the listed tables instead: only those */
	f->cfg->aws.route_tables_auto = false;
	f->cfg->aws.route_tables = calloc(2, sizeof(char *));
	f->cfg->aws.route_tables[0] = strdup("rtb-c");
	f->cfg->aws.route_tables[1] = strdup("rtb-d");
	f->cfg->aws.nroute_tables = 2;
	plan(f, T0, &p);
	assert_int_equal(p.nops, 2);
	assert_op(f, &p, 0, PLAN_CREATE, "rtb-c", "192.168.1.0/24");
	assert_op(f, &p, 1, PLAN_CREATE, "rtb-d", "192.168.1.0/24");
	plan_free(&p);
}

static void test_ipv6(void **state)
{
	struct fix *f = *state;
	static const char *const routes[] = { "fd00:8::/64",
					      "networkInterfaceId",
					      ENI,
					      "fd00:99::/48",
					      "networkInterfaceId",
					      OTHER,
					      "fd00:1::/56",
					      "gatewayId",
					      "local",
					      NULL };
	struct plan p;

	want(f, "fd00:99::/48");
	want(f, "fd00:99:1::/48");
	main_table(f, routes);
	plan(f, T0, &p);
	assert_int_equal(p.nops, 1);
	assert_op(f, &p, 0, PLAN_CREATE, "rtb-main", "fd00:99:1::/48");
	assert_int_equal(p.book.nconflicts, 1);
	assert_int_equal(p.book.ngone, 1);
	plan_commit(&f->book, &p);
	plan_free(&p);
	plan(f, T0 + GRACE, &p);
	assert_int_equal(p.nops, 2);
	assert_op(f, &p, 1, PLAN_DELETE, "rtb-main", "fd00:8::/64");
	plan_free(&p);
}

static void test_failed_left_until_the_next_check(void **state)
{
	struct fix *f = *state;
	static const char *const routes[] = { "10.8.0.0/24", "networkInterfaceId", ENI, NULL };
	struct plan p;

	want(f, "192.168.1.0/24");
	want(f, "192.168.2.0/24");
	main_table(f, routes);
	snprintf(f->failed[0].table, sizeof(f->failed[0].table), "rtb-main");
	f->failed[0].dst = pfx_of("10.8.0.0/24");
	snprintf(f->failed[1].table, sizeof(f->failed[1].table), "rtb-main");
	f->failed[1].dst = pfx_of("192.168.1.0/24");
	f->nfailed = 2;
	qsort(f->failed, f->nfailed, sizeof(*f->failed), plan_failed_cmp);
	plan(f, T0 + GRACE, &p);
	assert_int_equal(p.nops, 1);
	assert_op(f, &p, 0, PLAN_CREATE, "rtb-main", "192.168.2.0/24");
	plan_free(&p);
}

/* A route whose target is gone (state blackhole) is replaced without
 * aws.takeover; a live one to another target stays a conflict. */
static void test_blackhole_replaced(void **state)
{
	struct fix *f = *state;
	struct plan p;
	char desc[160];

	elsewhere(f);
	snprintf(f->tables[0].routes[0].state, sizeof(f->tables[0].routes[0].state), "blackhole");
	snprintf(f->tables[0].routes[1].state, sizeof(f->tables[0].routes[1].state), "active");
	assert_true(plan_route_dead(&f->tables[0].routes[0]));
	assert_false(plan_route_dead(&f->tables[0].routes[1]));
	plan(f, T0, &p);
	assert_int_equal(p.nops, 1);
	assert_op(f, &p, 0, PLAN_REPLACE, "rtb-main", "192.168.1.0/24");
	assert_string_equal(p.ops[0].dead, OTHER);
	plan_op_describe(&p.ops[0], f->tables, ENI, desc, sizeof(desc));
	assert_string_equal(desc, "ReplaceRoute rtb-main 192.168.1.0/24 -> " ENI " (was " OTHER
				  ", a blackhole)");
	assert_int_equal(p.book.nconflicts, 1);
	assert_string_equal(p.book.conflicts[0].target, "vgw-1");
	plan_free(&p);
	/* a blackhole for a network nobody wants is not ours to touch */
	f->nwant = 0;
	plan(f, T0, &p);
	assert_int_equal(p.nops, 0);
	plan_free(&p);
}

/* Ours in the table: wanted, once wanted (may own), an administrator's
 * 172.16.0.0/12, a default route; and a route elsewhere. */
static void ours_everywhere(struct fix *f)
{
	static const char *const routes[] = { "192.168.1.0/24",
					      "networkInterfaceId",
					      ENI,
					      "192.168.2.0/25",
					      "networkInterfaceId",
					      ENI,
					      "172.16.0.0/12",
					      "networkInterfaceId",
					      ENI,
					      "0.0.0.0/0",
					      "networkInterfaceId",
					      ENI,
					      "10.1.0.0/16",
					      "gatewayId",
					      "local",
					      NULL };

	want(f, "192.168.1.0/24");
	want(f, "10.8.0.0/24"); /* missing: a withdraw creates nothing */
	main_table(f, routes);
}

static void test_withdraw_ours(void **state)
{
	struct fix *f = *state;
	struct plan p;

	ours_everywhere(f);
	f->withdraw = PLAN_WITHDRAW_OURS;
	plan(f, T0, &p);
	assert_int_equal(p.nops, 2);
	assert_op(f, &p, 0, PLAN_DELETE, "rtb-main", "192.168.1.0/24");
	assert_op(f, &p, 1, PLAN_DELETE, "rtb-main", "192.168.2.0/25");
	assert_true(p.next_due == 0);
	plan_free(&p);
	/* what failed for good is not asked again */
	snprintf(f->failed[0].table, sizeof(f->failed[0].table), "rtb-main");
	f->failed[0].dst = pfx_of("192.168.1.0/24");
	f->nfailed = 1;
	plan(f, T0, &p);
	assert_int_equal(p.nops, 1);
	assert_op(f, &p, 0, PLAN_DELETE, "rtb-main", "192.168.2.0/25");
	plan_free(&p);
}

static bool unwanted_in(const struct fix *f, const struct plan_book *book, const char *dst)
{
	return plan_unwanted(&(struct plan_in){ .cfg = f->cfg,
						.eni = ENI,
						.want = f->want,
						.nwant = f->nwant,
						.book = book },
			     plan_route_find(&f->tables[0], P(dst)));
}

static bool deletes(const struct plan *p, const char *dst)
{
	for (size_t i = 0; i < p->nops; i++)
		if (p->ops[i].kind == PLAN_DELETE && pfx_equal(&p->ops[i].dst, P(dst)))
			return true;
	return false;
}

static void test_withdraw_unwanted(void **state)
{
	struct fix *f = *state;
	struct plan p;

	ours_everywhere(f);
	f->withdraw = PLAN_WITHDRAW_UNWANTED;
	plan(f, T0, &p);
	assert_int_equal(p.nops, 1);
	assert_op(f, &p, 0, PLAN_DELETE, "rtb-main", "172.16.0.0/12");
	plan_free(&p);
	f->withdraw = PLAN_WITHDRAW_OURS | PLAN_WITHDRAW_UNWANTED;
	plan(f, T0, &p);
	assert_int_equal(p.nops, 3); /* never the default route */
	assert_op(f, &p, 0, PLAN_DELETE, "rtb-main", "172.16.0.0/12");
	plan_free(&p);
	/* with its grace running: still only on request, never by scope ours */
	f->withdraw = 0;
	plan(f, T0, &p);
	plan_commit(&f->book, &p);
	plan_free(&p);
	f->withdraw = PLAN_WITHDRAW_OURS;
	plan(f, T0 + 1, &p);
	assert_int_equal(p.nops, 2);
	assert_false(deletes(&p, "172.16.0.0/12"));
	plan_free(&p);
	f->withdraw = PLAN_WITHDRAW_UNWANTED;
	plan(f, T0 + 1, &p);
	assert_int_equal(p.nops, 1);
	assert_op(f, &p, 0, PLAN_DELETE, "rtb-main", "172.16.0.0/12");
	plan_free(&p);
}

/* Ours, not wanted (the leftover of an adopted route no policy allows):
 * reported once, withdrawn once seen unwanted for the grace period. */
static void test_unwanted_withdrawn_after_grace(void **state)
{
	struct fix *f = *state;
	struct plan p;

	ours_everywhere(f);
	assert_true(unwanted_in(f, &f->book, "172.16.0.0/12"));
	assert_false(unwanted_in(f, &f->book, "192.168.2.0/25")); /* may be ours */
	assert_false(unwanted_in(f, &f->book, "0.0.0.0/0"));
	plan(f, T0, &p);
	assert_int_equal(p.nops, 1);
	assert_op(f, &p, 0, PLAN_CREATE, "rtb-main", "10.8.0.0/24");
	assert_int_equal(p.book.nunwanted, 1);
	assert_string_equal(p.book.unwanted[0].table, "rtb-main");
	assert_true(pfx_equal(&p.book.unwanted[0].dst, P("172.16.0.0/12")));
	assert_false(p.book.unwanted[0].reported);
	/* its grace runs from when it was first seen */
	assert_true(plan_book_find(&p.book, P("172.16.0.0/12"))->since == T0);
	assert_true(plan_book_find(&p.book, P("172.16.0.0/12"))->unwanted);
	assert_false(plan_book_find(&p.book, P("192.168.2.0/25"))->unwanted);
	assert_null(plan_book_find(&p.book, P("0.0.0.0/0")));
	assert_true(p.next_due == T0 + GRACE);
	assert_true(unwanted_in(f, &p.book, "172.16.0.0/12"));
	plan_commit(&f->book, &p);
	plan_free(&p);
	plan(f, T0 + GRACE - 1, &p);
	assert_false(deletes(&p, "172.16.0.0/12"));
	assert_int_equal(p.book.nunwanted, 1);
	assert_true(p.book.unwanted[0].reported); /* reported once */
	assert_true(plan_book_find(&p.book, P("172.16.0.0/12"))->since == T0);
	plan_commit(&f->book, &p);
	plan_free(&p);
	plan(f, T0 + GRACE, &p);
	assert_true(deletes(&p, "172.16.0.0/12"));
	assert_true(deletes(&p, "192.168.2.0/25"));
	assert_false(deletes(&p, "0.0.0.0/0"));	  /* never a default route */
	assert_false(deletes(&p, "10.1.0.0/16")); /* nor a route elsewhere */
	assert_true(p.next_due == 0);
	plan_free(&p);
	/* after a withdraw: nothing is created, the withdrawals go on */
	f->no_additions = true;
	plan(f, T0 + GRACE, &p);
	assert_true(deletes(&p, "172.16.0.0/12"));
	for (size_t i = 0; i < p.nops; i++)
		assert_int_equal(p.ops[i].kind, PLAN_DELETE);
	plan_free(&p);
}

/* A network no policy allows, sent to another interface: never ours. */
static void test_unwanted_never_another_target(void **state)
{
	struct fix *f = *state;
	static const char *const routes[] = { "172.16.0.0/12",
					      "networkInterfaceId",
					      OTHER,
					      "172.17.0.0/16",
					      "instanceId",
					      "i-0123",
					      "172.18.0.0/16",
					      "gatewayId",
					      ENI,
					      NULL };
	struct plan p;

	main_table(f, routes);
	plan(f, T0, &p);
	assert_int_equal(p.book.nunwanted, 0);
	assert_int_equal(p.book.ngone, 0);
	plan_commit(&f->book, &p);
	plan_free(&p);
	plan(f, T0 + 100 * GRACE, &p);
	assert_int_equal(p.nops, 0);
	plan_free(&p);
}

/* Wanted during its grace (a reload allows it, a client claims it): the
 * grace is cancelled; unwanted again, a new one starts. */
static void test_unwanted_claim_cancels_grace(void **state)
{
	struct fix *f = *state;
	static const char *const routes[] = { "172.16.0.0/12", "networkInterfaceId", ENI, NULL };
	struct plan p;

	main_table(f, routes);
	plan(f, T0, &p);
	assert_true(plan_book_find(&p.book, P("172.16.0.0/12"))->unwanted);
	plan_commit(&f->book, &p);
	plan_free(&p);
	want(f, "172.16.0.0/12");
	plan(f, T0 + GRACE, &p);
	assert_int_equal(p.nops, 0);
	assert_int_equal(p.book.ngone, 0); /* forgotten */
	assert_int_equal(p.book.nunwanted, 0);
	plan_commit(&f->book, &p);
	plan_free(&p);
	/* unwanted again, no longer allowed: its grace starts again when seen */
	f->nwant = 0;
	plan(f, T0 + GRACE + 10, &p);
	assert_int_equal(p.nops, 0);
	assert_true(p.next_due == T0 + 2 * GRACE + 10);
	assert_int_equal(p.book.nunwanted, 1);
	assert_false(p.book.unwanted[0].reported);
	plan_commit(&f->book, &p);
	plan_free(&p);
	/* claimed and let go between two plans: its grace runs from the release */
	assert_int_equal(plan_book_gone(&f->book, P("172.16.0.0/12"), T0 + GRACE + 20), 0);
	assert_false(plan_book_find(&f->book, P("172.16.0.0/12"))->unwanted);
	assert_false(unwanted_in(f, &f->book, "172.16.0.0/12"));
	plan(f, T0 + 2 * GRACE + 10, &p);
	assert_int_equal(p.nops, 0);
	assert_true(p.next_due == T0 + 2 * GRACE + 20);
	assert_int_equal(p.book.nunwanted, 0); /* one it wanted: "withdrawing" */
	plan_free(&p);
	plan(f, T0 + 2 * GRACE + 20, &p);
	assert_int_equal(p.nops, 1);
	assert_op(f, &p, 0, PLAN_DELETE, "rtb-main", "172.16.0.0/12");
	plan_free(&p);
}

static void test_tables_unknown(void **state)
{
	struct fix *f = *state;
	struct plan_in in = { .cfg = f->cfg, .vpc = VPC, .eni = ENI, .book = &f->book, .now = T0 };
	struct plan p;

	want(f, "192.168.1.0/24");
	in.want = f->want;
	in.nwant = f->nwant;
	assert_int_equal(plan_book_gone(&f->book, P("192.168.2.0/24"), 5), 0);
	assert_int_equal(plan_make(&in, &p), 0);
	assert_int_equal(p.nops, 0);
	assert_int_equal(p.book.ngone, 1); /* nothing forgotten either */
	assert_true(p.book.gone[0].since == 5);
	plan_free(&p);
}

static void test_book_sorted(void **state)
{
	struct fix *f = *state;
	const char *nets[] = { "192.168.2.0/24", "10.8.0.0/24", "192.168.1.0/24", "10.8.0.0/24" };

	for (size_t i = 0; i < 4; i++)
		assert_int_equal(plan_book_gone(&f->book, P(nets[i]), (long long)i), 0);
	assert_int_equal(f->book.ngone, 3);
	for (size_t i = 1; i < f->book.ngone; i++)
		assert_true(pfx_cmp(&f->book.gone[i - 1].dst, &f->book.gone[i].dst) < 0);
	/* the first time counts */
	assert_true(plan_book_find(&f->book, P("10.8.0.0/24"))->since == 1);
	assert_null(plan_book_find(&f->book, P("10.9.0.0/24")));
}

/* --- summaries (aws.summaries) --- */

static const char *const summary_conf =
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.0.0/16\"],"
	"\"tunnel\":{\"pool\":\"10.8.0.0/24\"},"
	"\"default_client\":{\"allow\":[\"192.168.0.0/16\",\"172.16.0.0/12\"]},"
	"\"aws\":{\"enabled\":true,\"summaries\":[\"192.168.0.0/16\",\"10.200.0.0/16\"]}}";

static void use_summaries(struct fix *f)
{
	cfg_free(f->cfg);
	f->cfg = load(summary_conf);
}

/* The main table and a subnet's table, each with its local route. */
static void two_tables(struct fix *f)
{
	static const char *const routes[] = { "10.1.0.0/16", "gatewayId", "local", NULL };

	table(&f->tables[f->ntables++], "rtb-main", VPC, true, NULL, routes);
	table(&f->tables[f->ntables++], "rtb-sub", VPC, false, "subnet-1", routes);
	plan_tables_sort(f->tables, f->ntables);
}

static void want_sites(struct fix *f, size_t n)
{
	char s[PFX_STRLEN];

	for (size_t i = 0; i < n; i++) {
		snprintf(s, sizeof(s), "192.168.%zu.0/24", i);
		want(f, s);
	}
}

/* The calls of p done: the tables as EC2 then holds them. */
static void apply(struct fix *f, const struct plan *p)
{
	for (size_t i = 0; i < p->nops; i++)
		if (p->ops[i].kind == PLAN_DELETE)
			plan_route_unset(&f->tables[p->ops[i].table], &p->ops[i].dst);
		else
			assert_int_equal(
				plan_route_set(&f->tables[p->ops[i].table], &p->ops[i].dst, ENI),
				0);
}

/* 100 client networks inside a summary cost one route per table; one
 * outside every summary gets its own; the pool its own. */
static void test_summary_one_route_per_table(void **state)
{
	struct fix *f = *state;
	struct plan p;

	use_summaries(f);
	two_tables(f);
	want(f, "10.8.0.0/24");
	want(f, "172.16.1.0/24");
	want_sites(f, 100);
	plan(f, T0, &p);
	assert_int_equal(p.nops, 6);
	assert_op(f, &p, 0, PLAN_CREATE, "rtb-main", "10.8.0.0/24");
	assert_op(f, &p, 1, PLAN_CREATE, "rtb-main", "172.16.1.0/24");
	assert_op(f, &p, 2, PLAN_CREATE, "rtb-main", "192.168.0.0/16");
	assert_op(f, &p, 3, PLAN_CREATE, "rtb-sub", "10.8.0.0/24");
	assert_op(f, &p, 5, PLAN_CREATE, "rtb-sub", "192.168.0.0/16");
	apply(f, &p);
	plan_commit(&f->book, &p);
	plan_free(&p);
	plan(f, T0, &p);
	assert_int_equal(p.nops, 0);
	plan_free(&p);
	/* clients go, one stays inside: the summary stays, no call */
	f->nwant = 3;
	plan(f, T0 + 1000, &p);
	assert_int_equal(p.nops, 0);
	assert_int_equal(p.book.ngone, 0);
	plan_commit(&f->book, &p);
	plan_free(&p);
	/* the last one inside goes: the summary is withdrawn after the grace */
	f->nwant = 2;
	plan(f, T0 + 2000, &p);
	assert_int_equal(p.nops, 0);
	assert_int_equal(p.book.ngone, 1);
	assert_true(p.next_due == T0 + 2000 + GRACE);
	plan_commit(&f->book, &p);
	plan_free(&p);
	plan(f, T0 + 2000 + GRACE, &p);
	assert_int_equal(p.nops, 2);
	assert_op(f, &p, 0, PLAN_DELETE, "rtb-main", "192.168.0.0/16");
	assert_op(f, &p, 1, PLAN_DELETE, "rtb-sub", "192.168.0.0/16");
	plan_free(&p);
}

/* Per-network routes of before the summaries were configured: the summary
 * comes first, the old routes go after the grace (nothing is ever cut). */
static void test_summary_replaces_old_routes(void **state)
{
	struct fix *f = *state;
	static const char *const routes[] = { "192.168.1.0/24",
					      "networkInterfaceId",
					      ENI,
					      "192.168.2.0/24",
					      "networkInterfaceId",
					      ENI,
					      NULL };
	struct plan p;

	use_summaries(f);
	main_table(f, routes);
	want(f, "192.168.1.0/24");
	want(f, "192.168.2.0/24");
	plan(f, T0, &p);
	assert_int_equal(p.nops, 1);
	assert_op(f, &p, 0, PLAN_CREATE, "rtb-main", "192.168.0.0/16");
	assert_int_equal(p.book.ngone, 2); /* the /24s: their grace runs */
	apply(f, &p);
	plan_commit(&f->book, &p);
	plan_free(&p);
	plan(f, T0 + GRACE, &p);
	assert_int_equal(p.nops, 2);
	assert_op(f, &p, 0, PLAN_DELETE, "rtb-main", "192.168.1.0/24");
	assert_op(f, &p, 1, PLAN_DELETE, "rtb-main", "192.168.2.0/24");
	plan_free(&p);
}

/* A summary is the agent's own even where no client may announce (so it is
 * withdrawn, not "ours, not wanted"); what lies inside it is not. */
static void test_summary_may_own(void **state)
{
	struct fix *f = *state;
	static const char *const routes[] = { "10.200.0.0/16",
					      "networkInterfaceId",
					      ENI,
					      "10.200.1.0/24",
					      "networkInterfaceId",
					      ENI,
					      NULL };
	struct plan p;

	use_summaries(f);
	assert_true(plan_may_own(f->cfg, P("10.200.0.0/16")));
	assert_false(plan_may_own(f->cfg, P("10.200.1.0/24")));
	assert_true(plan_may_own(f->cfg, P("192.168.7.0/24")));
	main_table(f, routes);
	plan(f, T0, &p);
	/* both have a grace: the summary as withdrawn, the /24 as not wanted */
	assert_int_equal(p.book.ngone, 2);
	for (size_t i = 0; i < p.book.ngone; i++)
		assert_int_equal(p.book.gone[i].unwanted,
				 pfx_equal(&p.book.gone[i].dst, P("10.200.1.0/24")));
	assert_int_equal(p.book.nunwanted, 1);
	assert_string_equal(
		pfx_format(&p.book.unwanted[0].dst, (char[PFX_STRLEN]){ 0 }, PFX_STRLEN),
		"10.200.1.0/24");
	plan_free(&p);
}

/* A summary that overlaps one of the VPC's blocks (local_networks "auto"
 * cannot check it at load) is not used: its networks get their own routes. */
static void test_summary_blocked_by_vpc(void **state)
{
	struct fix *f = *state;
	struct pfx blocks[] = { pfx_of("192.168.128.0/17") };
	struct pfx_list vpc = { .v = blocks, .n = 1 };
	struct plan_want *w;
	size_t n;
	struct plan p;

	use_summaries(f);
	assert_null(plan_summary_blocked(NULL, P("192.168.0.0/16")));
	assert_true(pfx_equal(plan_summary_blocked(&vpc, P("192.168.0.0/16")), &blocks[0]));
	assert_null(plan_summary_blocked(&vpc, P("10.200.0.0/16")));
	assert_true(
		pfx_equal(plan_summary_of(f->cfg, NULL, P("192.168.3.0/24")), P("192.168.0.0/16")));
	assert_null(plan_summary_of(f->cfg, &vpc, P("192.168.3.0/24")));
	assert_null(plan_summary_of(f->cfg, NULL, P("172.16.3.0/24")));
	main_table(f, NULL);
	want_sites(f, 2);
	want(f, "10.200.5.0/24");
	want(f, "10.200.6.0/24");
	qsort(f->want, f->nwant, sizeof(*f->want), plan_want_cmp);
	assert_int_equal(plan_want_summarize(f->cfg, &vpc, f->want, f->nwant, &w, &n), 0);
	assert_int_equal(n, 3);
	assert_true(pfx_equal(&w[0].dst, P("10.200.0.0/16")));
	assert_int_equal(w[0].refs, 2);
	assert_true(pfx_equal(&w[1].dst, P("192.168.0.0/24")));
	free(w);
	f->vpc_cidrs = &vpc;
	plan(f, T0, &p);
	assert_int_equal(p.nops, 3);
	assert_op(f, &p, 0, PLAN_CREATE, "rtb-main", "10.200.0.0/16");
	assert_op(f, &p, 1, PLAN_CREATE, "rtb-main", "192.168.0.0/24");
	assert_op(f, &p, 2, PLAN_CREATE, "rtb-main", "192.168.1.0/24");
	plan_free(&p);
}

/* --- the route quota --- */

/* n routes of family v4/v6 to a gateway, from base. */
static void fill(struct ec2_rtb *t, size_t n, bool v6, const char *origin)
{
	char s[PFX_STRLEN];

	for (size_t i = 0; i < n; i++) {
		struct ec2_route *r;

		t->routes = realloc(t->routes, (t->nroutes + 1) * sizeof(*t->routes));
		r = memset(&t->routes[t->nroutes++], 0, sizeof(*r));
		if (v6)
			snprintf(s, sizeof(s), "fd00:%zx::/32", 0x100 + i);
		else
			snprintf(s, sizeof(s), "172.31.%zu.0/24", i);
		r->dst = pfx_of(s);
		snprintf(r->kind, sizeof(r->kind), "gatewayId");
		snprintf(r->target, sizeof(r->target), "vgw-1");
		snprintf(r->origin, sizeof(r->origin), "%s", origin);
	}
}

/* What plan_quota_check reads: the configuration, the tables, the wanted
 * networks (f->want as it is at each call: plan() sorts it). */
static void quota_in(struct fix *f, struct plan_in *in)
{
	memset(in, 0, sizeof(*in));
	in->cfg = f->cfg;
	in->vpc = VPC;
	in->tables_known = true;
	in->tables = f->tables;
	in->ntables = f->ntables;
	in->want = f->want;
}

static int quota_check(const struct fix *f, struct plan_in *in, const struct plan *p,
		       struct plan_quota **q, size_t *n)
{
	in->nwant = f->nwant;
	return plan_quota_check(in, p, q, n);
}

static void test_quota_near_and_over(void **state)
{
	struct fix *f = *state;
	struct plan_quota *q;
	size_t nq;
	struct plan p;
	struct plan_in in;

	cfg_free(f->cfg);
	f->cfg = load("{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.0.0/16\"],"
		      "\"tunnel\":{\"pool\":\"10.8.0.0/24\"},"
		      "\"default_client\":{\"allow\":[\"192.168.0.0/16\"]},"
		      "\"aws\":{\"enabled\":true}}");
	two_tables(f);
	/* rtb-main: 1 local + 34 = 35 IPv4 routes, 45 IPv6 (another count),
	 * 20 propagated (not counted) */
	fill(&f->tables[0], 34, false, "CreateRoute");
	fill(&f->tables[0], 45, true, "CreateRoute");
	fill(&f->tables[0], 20, false, "EnableVgwRoutePropagation");
	plan_tables_sort(f->tables, f->ntables);
	want_sites(f, 4);
	plan(f, T0, &p);
	quota_in(f, &in);
	assert_int_equal(quota_check(f, &in, &p, &q, &nq), 0);
	/* IPv4: 35 now, 39 after: below 80 % of 50; IPv6 45: near */
	assert_int_equal(nq, 1);
	assert_int_equal(q[0].table, 0);
	assert_int_equal(q[0].family, AF_INET6);
	assert_int_equal(q[0].routes, 45);
	assert_int_equal(q[0].after, 45);
	assert_false(q[0].over);
	free(q);
	plan_free(&p);
	/* 5 more: 40 after, near; without the plan (as described) not yet */
	f->nwant = 0;
	want_sites(f, 5);
	plan(f, T0, &p);
	assert_int_equal(quota_check(f, &in, &p, &q, &nq), 0);
	assert_int_equal(nq, 2);
	assert_int_equal(q[0].family, AF_INET);
	assert_int_equal(q[0].routes, 35);
	assert_int_equal(q[0].after, 40);
	assert_int_equal(q[0].quota, 50);
	assert_false(q[0].over);
	free(q);
	assert_int_equal(quota_check(f, &in, NULL, &q, &nq), 0);
	assert_int_equal(nq, 1);
	free(q);
	plan_free(&p);
	/* 15: exactly the quota, not over */
	f->nwant = 0;
	want_sites(f, 15);
	plan(f, T0, &p);
	assert_int_equal(quota_check(f, &in, &p, &q, &nq), 0);
	assert_int_equal(q[0].after, 50);
	assert_false(q[0].over);
	assert_int_equal(q[0].left_out, 0);
	free(q);
	plan_free(&p);
	/* 16: one does not fit, and is not asked for (EC2 would refuse it) */
	f->nwant = 0;
	want_sites(f, 16);
	plan(f, T0, &p);
	assert_int_equal(p.nops, 31); /* 15 in rtb-main, 16 in rtb-sub */
	assert_false(plan_has_op(&p, 0, P("192.168.15.0/24")));
	assert_true(plan_has_op(&p, 0, P("192.168.14.0/24")));
	assert_true(plan_has_op(&p, 1, P("192.168.15.0/24")));
	assert_int_equal(quota_check(f, &in, &p, &q, &nq), 0);
	assert_int_equal(nq, 2);
	assert_int_equal(q[0].after, 50);
	assert_int_equal(q[0].left_out, 1);
	assert_true(q[0].over);
	free(q);
	plan_free(&p);
	/* a route of the table goes: room for it */
	plan_route_unset(&f->tables[0], P("172.31.0.0/24"));
	plan(f, T0, &p);
	assert_int_equal(p.nops, 32);
	assert_true(plan_has_op(&p, 0, P("192.168.15.0/24")));
	plan_free(&p);
	/* a raised quota (aws.route_quota 100): nothing near */
	f->cfg->aws.route_quota = 100;
	plan(f, T0, &p);
	assert_int_equal(quota_check(f, &in, &p, &q, &nq), 0);
	assert_int_equal(nq, 0);
	assert_null(q);
	plan_free(&p);
}

/* 100 client networks in a summary: the quota is never neared. */
static void test_quota_with_summary(void **state)
{
	struct fix *f = *state;
	struct plan_quota *q;
	size_t nq;
	struct plan p;
	struct plan_in in;

	use_summaries(f);
	two_tables(f);
	want_sites(f, 100);
	plan(f, T0, &p);
	assert_int_equal(p.nops, 2);
	quota_in(f, &in);
	assert_int_equal(quota_check(f, &in, &p, &q, &nq), 0);
	assert_int_equal(nq, 0);
	plan_free(&p);
	/* without: 100 routes per table; 49 fit next to the local route, the
	 * quota leaves 51 out in each, and no call is made for them */
	f->cfg->aws.summaries.n = 0;
	plan(f, T0, &p);
	assert_int_equal(p.nops, 98);
	assert_int_equal(quota_check(f, &in, &p, &q, &nq), 0);
	assert_int_equal(nq, 2);
	assert_true(q[0].over && q[1].over);
	assert_int_equal(q[1].after, 50);
	assert_int_equal(q[1].left_out, 51);
	free(q);
	f->cfg->aws.summaries.n = 2;
	plan_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_reported_once_and_left_alone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_takeover_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_withdraw_only_after_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_inside_grace_costs_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_never_a_default_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_what_the_agent_could_have_made, setup,
						teardown),
		cmocka_unit_test(test_client_role_may_own),
		cmocka_unit_test_setup_teardown(test_several_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_left_until_the_next_check, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_blackhole_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_withdraw_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_withdraw_unwanted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwanted_withdrawn_after_grace, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unwanted_never_another_target, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unwanted_claim_cancels_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tables_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_book_sorted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_summary_one_route_per_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_summary_replaces_old_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_summary_may_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_summary_blocked_by_vpc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_near_and_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_with_summary, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
