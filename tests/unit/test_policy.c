// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The admission policy (lib/policy.c): one row per rule, through the
 * plugin's builder (policy + CCD) and through the check the agent runs on
 * what a peer sends, unindexed (a connect) and indexed (a sync).
 */
#include "config.h"

#include <stdlib.h>

#include "unit.h"

#include "policy.h"

#define CONF                                                                                   \
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"             \
	"\"tunnel\":{\"pool\":\"10.1.2.0/24\",\"pool6\":\"fd00:2::/64\"},\"strict\":%s,"       \
	"\"clients\":{"                                                                        \
	" \"pi-home\":{\"allow\":[\"192.168.1.0/24\",\"2001:db8:1::/"                          \
	"48\"],\"iroutes\":[\"192.168.1.128/25\"],"                                            \
	"   \"address\":\"10.1.2.10\",\"push_routes\":[\"10.1.1.0/24\",\"2001:db8:9::/48\"]}," \
	" \"pi-office\":{\"iroutes\":[\"192.168.20.0/24\"]},"                                  \
	" \"wide\":{\"allow\":[\"172.16.0.0/12\",\"fd00:8::/32\"]}}"                           \
	"%s}"

static struct cfg *conf(bool strict, const char *extra)
{
	char text[2048], err[CFG_ERRLEN];
	struct cfg *c;

	snprintf(text, sizeof(text), CONF, strict ? "true" : "false", extra);
	if (cfg_load_buf("t.conf", text, strlen(text), &c, err, sizeof(err)))
		fail_msg("%s", err);
	return c;
}

static struct ccd ccd_of(const char *text)
{
	struct ccd c;
	char err[CCD_ERRLEN];

	if (ccd_parse("ccd/x", text, strlen(text), &c, err, sizeof(err)))
		fail_msg("%s", err);
	c.found = true;
	snprintf(c.path, sizeof(c.path), "ccd/x");
	return c;
}

static void test_admit_policy_and_ccd(void **state)
{
	struct cfg *c = conf(true, "");
	struct ccd ccd =
		ccd_of("iroute-ipv6 2001:db8:1:5::/64\npush \"dhcp-option DNS 10.1.1.2\"\n");
	struct admission in = { .cfg = c, .cn = "pi-home", .instance = "server", .ccd = &ccd };
	struct verdict v;
	char s[PFX_STRLEN];

	assert_int_equal(policy_decide(&in, &v), 0);
	assert_true(v.admit);
	assert_string_equal(v.config, "iroute 192.168.1.128 255.255.255.128\n"
				      "iroute-ipv6 2001:db8:1:5::/64\n"
				      "ifconfig-push 10.1.2.10 255.255.255.0\n"
				      "push \"route 10.1.1.0 255.255.255.0\"\n"
				      "push \"route-ipv6 2001:db8:9::/48\"\n"
				      "push \"dhcp-option DNS 10.1.1.2\"\n");
	assert_string_equal(v.client.cn, "pi-home");
	assert_int_equal(v.client.nets.n, 2);
	assert_true(v.client.has_tunnel4);
	assert_string_equal(pfx_format_addr(&v.client.tunnel4, s, sizeof(s)), "10.1.2.10");
	verdict_free(&v);
	ccd_free(&ccd);
	cfg_free(c);
}

/*
 * The plugin's decision, one row per rule. Each row: whether the config is
 * strict, an extra config text, the common name, a CCD text (NULL: no
 * file), a network another instance has claimed ("" none), a connected
 * peer of this instance ("" none; "@A" a peer holding tunnel address A),
 * and the expected reason (NULL: admitted).
 */
static const struct decide_case {
	bool strict;
	const char *extra, *cn, *ccd, *claim, *peer, *reason;
} decide_cases[] = {
	/* admits */
	{ true, "", "pi-home", NULL, "", "", NULL },
	{ true, "", "pi-home", "iroute 192.168.1.0 255.255.255.128\n", "", "", NULL },
	{ true, "", "wide", "ifconfig-push 10.1.2.77 255.255.255.0\n", "", "", NULL },
	{ false, "", "guest", NULL, "", "", NULL },
	{ false, ",\"default_client\":{\"allow\":[\"172.16.0.0/12\"]}", "laptop",
	  "iroute 172.16.5.0 255.255.255.0\n", "", "", NULL },
	/* its own earlier claim does not count against it (a reconnect) */
	{ true, "", "pi-home", NULL, "192.168.1.128/25 pi-home server", "", NULL },
	/* refusals, one per rule */
	{ true, "", "../../etc/passwd", NULL, "", "", "(rule: common name)" },
	{ true, "", "stranger", NULL, "", "",
	  "client stranger: unknown common name (rule: strict)" },
	{ true, "", "pi-home", "disable\n", "", "",
	  "client pi-home: disabled by ccd/x (rule: disable)" },
	{ true, "", "pi-home", "iroute 192.168.2.0 255.255.255.0\n", "", "",
	  "client pi-home: 192.168.2.0/24 is not inside its allowed networks (192.168.1.0/24, "
	  "2001:db8:1::/48) (rule: clients.pi-home.allow)" },
	{ true, "", "pi-office", "iroute 192.168.21.0 255.255.255.0\n", "", "",
	  "(192.168.20.0/24) (rule: clients.pi-office.allow)" },
	{ false, "", "guest", "iroute 172.16.5.0 255.255.255.0\n", "", "",
	  "client guest: 172.16.5.0/24 is not inside its allowed networks (none) (rule: "
	  "clients.*.allow)" },
	{ false, ",\"default_client\":{\"allow\":[\"172.16.0.0/12\"]}", "laptop",
	  "iroute 172.32.0.0 255.255.0.0\n", "", "", "(rule: default_client.allow)" },
	{ true, "", "pi-home", "iroute 192.168.1.0 255.255.255.0\n", "", "",
	  "client pi-home: 192.168.1.0/24 overlaps 192.168.1.128/25, which it also announces "
	  "(rule: one route per network)" },
	{ true, "", "pi-home", NULL, "192.168.1.0/24 pi-office server-tcp", "",
	  "client pi-home: 192.168.1.128/25 overlaps 192.168.1.0/24, already announced by client "
	  "pi-office of server-tcp (rule: one owner per network)" },
	{ true, "", "pi-home", NULL, "192.168.1.128/25 pi-home server-tcp", "",
	  "already announced by client pi-home of server-tcp (rule: one owner per network)" },
	{ true, "", "pi-home", NULL, "", "192.168.1.192/26",
	  "client pi-home: 192.168.1.128/25 overlaps 192.168.1.192/26, already announced by "
	  "client pi-office of server (rule: one owner per network)" },
	{ true, "", "pi-home", "ifconfig-push 10.1.2.11 255.255.255.0\n", "", "",
	  "client pi-home: tunnel address 10.1.2.11 is not its address 10.1.2.10 (rule: "
	  "clients.pi-home.address)" },
	{ true, "", "wide", "ifconfig-push 10.1.3.5 255.255.255.0\n", "", "",
	  "client wide: tunnel address 10.1.3.5 is outside the tunnel pool 10.1.2.0/24 (rule: "
	  "tunnel.pool)" },
	{ true, "", "wide", "ifconfig-push 10.1.2.0 255.255.255.0\n", "", "",
	  "10.1.2.0 is the network address of the tunnel pool 10.1.2.0/24 (rule: tunnel.pool)" },
	{ true, "", "wide", "ifconfig-push 10.1.2.255 255.255.255.0\n", "", "",
	  "10.1.2.255 is the broadcast address of the tunnel pool 10.1.2.0/24 (rule: "
	  "tunnel.pool)" },
	{ true, "", "wide", "ifconfig-push 10.1.2.1 255.255.255.0\n", "", "",
	  "10.1.2.1 is the server's own address in the tunnel pool 10.1.2.0/24 (rule: "
	  "tunnel.pool)" },
	{ true, "", "wide", "ifconfig-ipv6-push fd00:2::1/64\n", "", "",
	  "fd00:2::1 is the server's own address in the tunnel pool fd00:2::/64 (rule: "
	  "tunnel.pool6)" },
	{ true, "", "wide", "ifconfig-ipv6-push fd00:2::/64\n", "", "",
	  "fd00:2:: is the network address of the tunnel pool fd00:2::/64 (rule: tunnel.pool6)" },
	{ true, "", "wide", "ifconfig-ipv6-push fd00:3::5/64\n", "", "",
	  "fd00:3::5 is outside the IPv6 tunnel pool fd00:2::/64 (rule: tunnel.pool6)" },
	{ true, "", "pi-home", NULL, "", "@10.1.2.10",
	  "client pi-home: tunnel address 10.1.2.10 is taken by client pi-office of server (rule: "
	  "one client per address)" },
};

static void test_decide_table(void **state)
{
	for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
		const struct decide_case *t = &decide_cases[i];
		struct cfg *c = conf(t->strict, t->extra);
		struct ccd ccd = t->ccd ? ccd_of(t->ccd) : (struct ccd){ 0 };
		struct proto_claim claim = { 0 }, peer = { 0 };
		struct claimset claims, own;
		struct admission in = { .cfg = c, .cn = t->cn, .instance = "server", .ccd = &ccd };
		struct verdict v;
		char net[64];

		if (t->claim[0]) {
			assert_int_equal(
				sscanf(t->claim, "%63s %64s %64s", net, claim.cn, claim.instance),
				3);
			claim.net = pfx_of(net);
			claimset_init(&claims);
			assert_int_equal(claimset_index_nets(&claims), 0);
			assert_int_equal(claimset_add(&claims, &claim), 0);
			in.claims = &claims;
		}
		if (t->peer[0]) {
			/* a client of this instance: its address, or its network */
			strcpy(peer.cn, "pi-office");
			strcpy(peer.instance, "server");
			peer.net = pfx_of(t->peer + (t->peer[0] == '@'));
			claimset_init(&own);
			assert_int_equal(claimset_index_nets(&own), 0);
			assert_int_equal(claimset_add(&own, &peer), 0);
			if (t->peer[0] == '@')
				in.own_addrs = &own;
			else
				in.own_nets = &own;
		}
		assert_int_equal(policy_decide(&in, &v), 0);
		if (!t->reason && !v.admit)
			fail_msg("case %zu (%s): refused: %s", i, t->cn, v.reason);
		if (t->reason) {
			if (v.admit)
				fail_msg("case %zu (%s): admitted, expected \"%s\"", i, t->cn,
					 t->reason);
			assert_null(v.config);
			if (!strstr(v.reason, t->reason))
				fail_msg("case %zu: reason \"%s\" lacks \"%s\"", i, v.reason,
					 t->reason);
			assert_non_null(strstr(v.reason, "(rule: "));
		}
		verdict_free(&v);
		if (t->claim[0])
			claimset_free(&claims);
		if (t->peer[0])
			claimset_free(&own);
		ccd_free(&ccd);
		cfg_free(c);
	}
}

static void test_default_entry(void **state)
{
	struct cfg *c = conf(false, ",\"default_client\":{\"allow\":[\"172.16.0.0/12\"],"
				    "\"push_routes\":[\"10.1.1.0/24\"]}");
	struct ccd inside = ccd_of("iroute 172.16.5.0 255.255.255.0\n");
	struct admission in = {
		.cfg = c, .cn = "laptop-7", .instance = "server", .has_pool_ip = true
	};
	struct verdict v;
	char s[PFX_STRLEN];

	in.pool_ip = pfx_of("10.1.2.77");
	assert_int_equal(policy_decide(&in, &v), 0);
	assert_true(v.admit);
	assert_string_equal(v.config, "push \"route 10.1.1.0 255.255.255.0\"\n");
	/* no fixed address: the pool's choice is what the agent is told */
	assert_string_equal(pfx_format_addr(&v.client.tunnel4, s, sizeof(s)), "10.1.2.77");
	verdict_free(&v);
	in.ccd = &inside;
	assert_int_equal(policy_decide(&in, &v), 0);
	assert_true(v.admit);
	assert_string_equal(v.config, "iroute 172.16.5.0 255.255.255.0\n"
				      "push \"route 10.1.1.0 255.255.255.0\"\n");
	verdict_free(&v);
	ccd_free(&inside);
	cfg_free(c);
}

/* --- the agent's side: a proposed client as a peer sends it --- */

static struct proto_client client_of(const char *cn, const char *nets, const char *t4)
{
	struct proto_client pc = { 0 };
	char buf[256], *save = NULL;

	snprintf(pc.cn, sizeof(pc.cn), "%s", cn);
	snprintf(buf, sizeof(buf), "%s", nets);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		struct pfx p = pfx_of(t);

		assert_int_equal(pfx_list_add(&pc.nets, &p, PROTO_MAX_NETS), 0);
	}
	if (t4) {
		pc.has_tunnel4 = true;
		pc.tunnel4 = pfx_of(t4);
	}
	return pc;
}

/* What a rogue peer announces, and what the agent must answer. */
static const struct check_case {
	const char *cn, *nets, *t4, *reason;
} check_cases[] = {
	{ "pi-home", "192.168.1.128/25", "10.1.2.10", NULL },
	{ "pi-home", "192.168.1.0/25 192.168.1.128/25", NULL, NULL },
	{ "wide", "172.20.0.0/16", "10.1.2.99", NULL },
	{ "made-up", "1.0.0.0/8", NULL, "client made-up: unknown common name (rule: strict)" },
	{ "made-up", "8.8.8.0/24", NULL, "(rule: strict)" },
	{ "pi-home", "8.8.8.0/24", NULL,
	  "client pi-home: 8.8.8.0/24 is not inside its allowed networks (192.168.1.0/24, "
	  "2001:db8:1::/48) (rule: clients.pi-home.allow)" },
	{ "pi-office", "0.0.0.0/0", NULL, "(rule: clients.pi-office.allow)" },
	{ "pi-home", "192.168.1.0/24 192.168.1.0/25", NULL, "(rule: one route per network)" },
	{ "pi-home", "192.168.1.128/25", "10.1.2.11", "(rule: clients.pi-home.address)" },
	{ "wide", "", "10.9.0.1", "outside the tunnel pool 10.1.2.0/24 (rule: tunnel.pool)" },
	{ "wide", "", "10.1.2.255", "broadcast address" },
	{ "wide", "", "10.1.2.1", "the server's own address" },
	/* held by the host: pi-office 192.168.20.0/24 at 10.1.2.20 of server-tcp */
	{ "wide", "172.16.0.0/12", NULL, NULL },
	{ "pi-office", "192.168.20.0/24", NULL,
	  "client pi-office: 192.168.20.0/24 overlaps 192.168.20.0/24, already announced by "
	  "client pi-office of server-tcp (rule: one owner per network)" },
	{ "wide", "", "10.1.2.20",
	  "client wide: tunnel address 10.1.2.20 is taken by client pi-office of server-tcp "
	  "(rule: one client per address)" },
};

static void test_check_table(void **state)
{
	struct cfg *c = conf(true, "");
	struct proto_client other = client_of("pi-office", "192.168.20.0/24", "10.1.2.20");
	char why[POLICY_REASON_MAX];

	for (int indexed = 0; indexed < 2; indexed++) {
		struct policy_host h;

		policy_host_init(&h);
		assert_int_equal(policy_host_add_client(&h, &other, "server-tcp", 0), 0);
		if (indexed)
			policy_host_index(&h);
		for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
			const struct check_case *t = &check_cases[i];
			struct proto_client pc = client_of(t->cn, t->nets, t->t4);
			bool ok = policy_check(c, "server", &pc, &h, why, sizeof(why));

			if (!t->reason && !ok)
				fail_msg("case %zu: refused: %s", i, why);
			if (t->reason && ok)
				fail_msg("case %zu: admitted, expected \"%s\"", i, t->reason);
			if (t->reason && !strstr(why, t->reason))
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i, why, t->reason);
			pfx_list_free(&pc.nets);
		}
		policy_host_free(&h);
	}
	pfx_list_free(&other.nets);
	cfg_free(c);
}

/* The index answers as the scan does, for nested and neighbouring networks. */
static void test_index_equals_scan(void **state)
{
	static const char *const held[] = { "10.0.0.0/8",     "10.5.0.0/16",	"172.16.4.0/24",
					    "172.16.6.0/23",  "192.168.0.0/24", "fd00:9::/48",
					    "fd00:9:0:1::/64" };
	static const char *const probe[] = {
		"10.0.0.0/8",	    "10.5.5.0/24",    "10.6.0.0/16",   "10.0.0.0/9",
		"172.16.0.0/16",    "172.16.5.0/24",  "172.16.7.0/24", "172.16.8.0/24",
		"192.168.0.128/25", "192.168.1.0/24", "fd00::/16",     "fd00:9:0:1::/80",
		"fd00:a::/48",	    "172.16.4.0/24",
	};
	static const char open_conf[] =
		"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"203.0.113.0/24\"],"
		"\"tunnel\":{\"pool\":\"198.51.100.0/24\"},\"default_client\":{\"allow\":["
		"\"10.0.0.0/8\",\"172.16.0.0/12\",\"192.168.0.0/16\",\"fd00::/8\"]}}";
	struct policy_host scan, idx;
	char names[7][8], err[CFG_ERRLEN];
	struct cfg *c;

	policy_host_init(&scan);
	policy_host_init(&idx);
	for (size_t i = 0; i < 7; i++) {
		struct pfx p = pfx_of(held[i]);

		snprintf(names[i], sizeof(names[i]), "h%zu", i);
		assert_int_equal(policy_host_add_net(&scan, &p, names[i], "i", 0), 0);
		assert_int_equal(policy_host_add_net(&idx, &p, names[i], "i", 0), 0);
	}
	policy_host_index(&idx);
	assert_int_equal(cfg_load_buf("o.conf", open_conf, strlen(open_conf), &c, err, sizeof(err)),
			 0);
	for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		struct proto_client pc = client_of("x", probe[i], NULL);
		char w1[POLICY_REASON_MAX] = "", w2[POLICY_REASON_MAX] = "";
		bool a = policy_check(c, "j", &pc, &scan, w1, sizeof(w1));
		bool b = policy_check(c, "j", &pc, &idx, w2, sizeof(w2));
		struct pfx p = pfx_of(probe[i]);
		bool any = false;

		for (size_t k = 0; k < 7; k++) {
			struct pfx q = pfx_of(held[k]);

			any |= pfx_overlaps(&p, &q);
		}
		if (a != b || a == any || strcmp(w1, w2))
			fail_msg("probe %s: scan %d (%s), index %d (%s), overlap %d", probe[i], a,
				 w1, b, w2, any);
		pfx_list_free(&pc.nets);
	}
	cfg_free(c);
	policy_host_free(&scan);
	policy_host_free(&idx);
}

/*
 * A configured client can never be allowed a local network or the pool (the
 * loader refuses that), but local_networks "auto" changes under it: then
 * the check still refuses.
 */
static void test_reserved_networks(void **state)
{
	static const struct check_case rows[] = {
		{ "wide", "172.16.1.128/25", NULL,
		  "client wide: 172.16.1.128/25 overlaps the local network 172.16.1.0/24 (rule: "
		  "local_networks)" },
		{ "wide", "172.17.0.0/16", NULL,
		  "client wide: 172.17.0.0/16 overlaps the tunnel pool 172.17.0.0/24 (rule: "
		  "tunnel.pool)" },
		{ "wide", "fd00:8:1::/56", NULL,
		  "client wide: fd00:8:1::/56 overlaps the tunnel pool fd00:8:1::/64 (rule: "
		  "tunnel.pool6)" },
		{ "wide", "172.18.0.0/16", NULL, NULL },
	};
	struct cfg *c = conf(true, "");
	struct pfx l = pfx_of("172.16.1.0/24");
	char why[POLICY_REASON_MAX], e[POLICY_REASON_MAX];

	assert_int_equal(pfx_list_add(&c->local, &l, 16), 0);
	c->pool = pfx_of("172.17.0.0/24");
	c->pool6 = pfx_of("fd00:8:1::/64");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct proto_client pc = client_of(rows[i].cn, rows[i].nets, NULL);
		bool ok = policy_check(c, "server", &pc, NULL, why, sizeof(why));

		if (rows[i].reason ? ok || strcmp(why, rows[i].reason) : !ok)
			fail_msg("row %zu: %d \"%s\"", i, ok, ok ? "" : why);
		pfx_list_free(&pc.nets);
	}
	/* the loader's own piece of the rule, the same words */
	assert_string_equal(policy_net_reserved(c, &l, e, sizeof(e)), "local_networks");
	assert_string_equal(e, "172.16.1.0/24 overlaps the local network 172.16.1.0/24");
	cfg_free(c);
}

/* An ack's error is 256 bytes: a long reason is cut, its rule kept. */
static void test_reason_fit(void **state)
{
	char cn[CN_MAX + 1], why[POLICY_REASON_MAX], ack[PROTO_ERROR_MAX];
	struct cfg *c;
	struct proto_client pc;
	char text[1024], err[CFG_ERRLEN];

	memset(cn, 'n', CN_MAX);
	cn[CN_MAX] = '\0';
	snprintf(text, sizeof(text),
		 "{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
		 "\"tunnel\":{\"pool\":\"10.1.2.0/24\"},\"clients\":{\"%s\":{\"allow\":["
		 "\"2001:db8:1111:2222::/64\",\"2001:db8:1111:3333::/64\",\"2001:db8:1111:4444::/"
		 "64\"]}}}",
		 cn);
	assert_int_equal(cfg_load_buf("t.conf", text, strlen(text), &c, err, sizeof(err)), 0);
	pc = client_of(cn, "2001:db8:1111:5555:6666:7777::/96", NULL);
	assert_false(policy_check(c, "server", &pc, NULL, why, sizeof(why)));
	assert_true(strlen(why) >= sizeof(ack));
	policy_reason_fit(why, ack, sizeof(ack));
	assert_int_equal(strlen(ack), sizeof(ack) - 1);
	snprintf(text, sizeof(text), "... (rule: clients.%s.allow)", cn);
	assert_non_null(strstr(ack, text));
	assert_int_equal(strncmp(ack, why, 100), 0);
	/* a short one is left alone */
	policy_reason_fit("client x: y (rule: strict)", ack, sizeof(ack));
	assert_string_equal(ack, "client x: y (rule: strict)");
	pfx_list_free(&pc.nets);
	cfg_free(c);
}

/* The configuration loader holds a client's address to the same rule as a
 * CCD file's ifconfig-push, with FILE:LINE:COL. */
static void test_loader_addresses(void **state)
{
	static const struct {
		const char *addr, *expect;
	} rows[] = {
		{ "\"address\":\"10.1.2.1\"",
		  "t.conf:1:133: clients.a.address: 10.1.2.1 is the server's own address in the "
		  "tunnel pool 10.1.2.0/24" },
		{ "\"address\":\"10.1.2.0\"",
		  "10.1.2.0 is the network address of the tunnel pool" },
		{ "\"address6\":\"fd00:2::1\"",
		  "clients.a.address6: fd00:2::1 is the server's own address in the tunnel pool "
		  "fd00:2::/64" },
		{ "\"address6\":\"fd00:3::1\"", "fd00:3::1 is outside the IPv6 tunnel pool" },
	};
	char text[512], err[CFG_ERRLEN];
	struct cfg *c;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(text, sizeof(text),
			 "{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
			 "\"tunnel\":{\"pool\":\"10.1.2.0/24\",\"pool6\":\"fd00:2::/64\"},"
			 "\"clients\":{\"a\":{%s}}}",
			 rows[i].addr);
		assert_int_equal(cfg_load_buf("t.conf", text, strlen(text), &c, err, sizeof(err)),
				 -EINVAL);
		if (!strstr(err, rows[i].expect))
			fail_msg("row %zu: \"%s\" lacks \"%s\"", i, err, rows[i].expect);
	}
}

static void test_role_and_routes(void **state)
{
	static const char cli[] =
		"{\"version\":1,\"role\":\"client\",\"local_networks\":[\"192.168.1.0/24\"],"
		"\"accept_routes\":[\"10.1.0.0/16\"]}";
	static const char cli_all[] =
		"{\"version\":1,\"role\":\"client\",\"local_networks\":[\"192.168.1.0/24\"]}";
	struct cfg *s = conf(true, ""), *c, *ca;
	char err[CFG_ERRLEN], why[POLICY_REASON_MAX];
	struct proto_client pc = client_of("pi-home", "192.168.1.128/25", NULL);

	assert_int_equal(cfg_load_buf("c.conf", cli, strlen(cli), &c, err, sizeof(err)), 0);
	assert_int_equal(cfg_load_buf("c.conf", cli_all, strlen(cli_all), &ca, err, sizeof(err)),
			 0);
	assert_true(policy_check_role(s, "server", PROTO_ROLE_SERVER, why, sizeof(why)));
	assert_true(policy_check_role(s, "ctl", PROTO_ROLE_CTL, why, sizeof(why)));
	assert_false(policy_check_role(s, "x", PROTO_ROLE_CLIENT, why, sizeof(why)));
	assert_string_equal(why, "instance x: a plugin in an OpenVPN client, but this host has the "
				 "server role (rule: role)");
	assert_false(policy_check_role(c, "x", PROTO_ROLE_SERVER, why, sizeof(why)));
	assert_non_null(strstr(why, "(rule: role)"));
	/* a client-role host admits no OpenVPN clients */
	assert_false(policy_check(c, "x", &pc, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "(rule: role)"));
	/* pushed routes: inside accept_routes, never a local network */
	struct pfx in = pfx_of("10.1.5.0/24"), out = pfx_of("10.2.0.0/16"),
		   local = pfx_of("192.168.1.0/25"), def = pfx_of("0.0.0.0/0");

	assert_true(policy_route_accepted(c, &in));
	assert_false(policy_route_accepted(c, &out));
	assert_true(policy_route_accepted(ca, &out));
	assert_false(policy_route_accepted(ca, &local));
	assert_false(policy_route_accepted(ca, &def));
	/* what the configuration could ever want a route for */
	assert_true(policy_may_announce(c, &in));
	assert_false(policy_may_announce(c, &out));
	assert_true(policy_may_announce(ca, &out));
	assert_false(policy_may_announce(ca, &local));
	assert_false(policy_may_announce(ca, &def));
	struct pfx pool = pfx_of("10.1.2.0/24"), home = pfx_of("192.168.1.0/26"),
		   wide = pfx_of("172.20.0.0/16"), other = pfx_of("192.168.2.0/24");

	assert_true(policy_may_announce(s, &pool));
	assert_true(policy_may_announce(s, &home));
	assert_true(policy_may_announce(s, &wide));
	assert_false(policy_may_announce(s, &other));
	assert_false(policy_may_announce(s, &def));
	pfx_list_free(&pc.nets);
	cfg_free(s);
	cfg_free(c);
	cfg_free(ca);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admit_policy_and_ccd),
		cmocka_unit_test(test_decide_table),
		cmocka_unit_test(test_default_entry),
		cmocka_unit_test(test_check_table),
		cmocka_unit_test(test_index_equals_scan),
		cmocka_unit_test(test_reserved_networks),
		cmocka_unit_test(test_reason_fit),
		cmocka_unit_test(test_loader_addresses),
		cmocka_unit_test(test_role_and_routes),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
