// SPDX-License-Identifier: GPL-2.0-or-later
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
	" \"pi-office\":{\"iroutes\":[\"192.168.20.0/24\"]}}"                                  \
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

static void decide(struct admission *in, struct verdict *v)
{
	if (!in->instance)
		in->instance = "server";
	assert_int_equal(policy_decide(in, v), 0);
}

static void test_admit_policy_and_ccd(void **state)
{
	struct cfg *c = conf(true, "");
	struct ccd ccd =
		ccd_of("iroute-ipv6 2001:db8:1:5::/64\npush \"dhcp-option DNS 10.1.1.2\"\n");
	struct admission in = { .cfg = c, .cn = "pi-home", .ccd = &ccd };
	struct verdict v;
	char s[PFX_STRLEN];

	decide(&in, &v);
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

static void expect_refusal(struct admission *in, const char *needle)
{
	struct verdict v;

	decide(in, &v);
	assert_false(v.admit);
	assert_null(v.config);
	if (!strstr(v.reason, needle))
		fail_msg("reason \"%s\" lacks \"%s\"", v.reason, needle);
	verdict_free(&v);
}

static void test_refusals(void **state)
{
	struct cfg *c = conf(true, "");
	struct ccd outside = ccd_of("iroute 192.168.2.0 255.255.255.0\n");
	struct ccd disabled = ccd_of("disable\n");
	struct ccd other_addr = ccd_of("ifconfig-push 10.1.2.11 255.255.255.0\n");
	struct admission in = { .cfg = c, .cn = "pi-home" };

	in.ccd = &outside;
	expect_refusal(
		&in,
		"client pi-home: iroute 192.168.2.0/24 from ccd/x is not inside its "
		"allowed networks (192.168.1.0/24, 2001:db8:1::/48) (rule: clients.pi-home.allow)");
	in.ccd = &disabled;
	expect_refusal(&in, "client pi-home: disabled by ccd/x (rule: disable)");
	struct ccd wider = ccd_of("iroute 192.168.1.0 255.255.255.0\n");

	in.ccd = &wider;
	expect_refusal(&in, "client pi-home: 192.168.1.0/24 overlaps 192.168.1.128/25, which it "
			    "also announces (rule: one route per network)");
	ccd_free(&wider);
	in.ccd = &other_addr;
	expect_refusal(
		&in,
		"ifconfig-push 10.1.2.11 in ccd/x conflicts with the policy address 10.1.2.10");
	in.ccd = NULL;
	in.cn = "stranger";
	expect_refusal(&in, "client stranger: unknown common name (rule: strict)");
	in.cn = "../../etc/passwd";
	expect_refusal(&in, "(rule: common name)");
	ccd_free(&outside);
	ccd_free(&disabled);
	ccd_free(&other_addr);
	cfg_free(c);
}

static void test_claims_and_peers(void **state)
{
	struct cfg *c = conf(true, "");
	struct proto_claim claims[2] = { 0 };
	struct proto_client peers[1] = { 0 };
	struct pfx peer_nets[] = { pfx_of("192.168.1.0/24") };
	struct admission in = { .cfg = c, .cn = "pi-home" };
	struct verdict v;

	/* its own earlier claim (reconnect) does not count against it */
	claims[0].net = pfx_of("192.168.1.128/25");
	strcpy(claims[0].cn, "pi-home");
	strcpy(claims[0].instance, "server");
	in.claims = claims;
	in.nclaims = 1;
	decide(&in, &v);
	assert_true(v.admit);
	verdict_free(&v);
	/* the same network claimed through another OpenVPN instance does */
	strcpy(claims[0].instance, "server-tcp");
	expect_refusal(&in,
		       "client pi-home: 192.168.1.128/25 overlaps 192.168.1.128/25, already "
		       "announced by client pi-home of server-tcp (rule: one owner per network)");
	/* a connected client of this instance with an overlapping network */
	in.nclaims = 0;
	strcpy(peers[0].cn, "pi-office");
	peers[0].nets.v = peer_nets;
	peers[0].nets.n = 1;
	in.peers = peers;
	in.npeers = 1;
	expect_refusal(&in,
		       "overlaps 192.168.1.0/24, already announced by connected client pi-office");
	/* its fixed address taken by another connected client */
	peers[0].nets.n = 0;
	peers[0].has_tunnel4 = true;
	peers[0].tunnel4 = pfx_of("10.1.2.10");
	expect_refusal(&in, "client pi-home: fixed IPv4 address 10.1.2.10 is taken by connected "
			    "client pi-office (rule: one client per address)");
	cfg_free(c);
}

static void test_default_entry(void **state)
{
	struct cfg *c = conf(false, ",\"default_client\":{\"allow\":[\"172.16.0.0/12\"],"
				    "\"push_routes\":[\"10.1.1.0/24\"]}");
	struct ccd inside = ccd_of("iroute 172.16.5.0 255.255.255.0\n");
	struct ccd outside_pool = ccd_of("ifconfig-push 10.1.3.5 255.255.255.0\n");
	struct admission in = { .cfg = c, .cn = "laptop-7", .has_pool_ip = true };
	struct verdict v;
	char s[PFX_STRLEN];

	in.pool_ip = pfx_of("10.1.2.77");
	decide(&in, &v);
	assert_true(v.admit);
	assert_string_equal(v.config, "push \"route 10.1.1.0 255.255.255.0\"\n");
	/* no fixed address: the pool's choice is what the agent is told */
	assert_string_equal(pfx_format_addr(&v.client.tunnel4, s, sizeof(s)), "10.1.2.77");
	verdict_free(&v);
	in.ccd = &inside;
	decide(&in, &v);
	assert_true(v.admit);
	assert_string_equal(v.config, "iroute 172.16.5.0 255.255.255.0\n"
				      "push \"route 10.1.1.0 255.255.255.0\"\n");
	verdict_free(&v);
	in.ccd = &outside_pool;
	expect_refusal(
		&in,
		"client laptop-7: fixed IPv4 address 10.1.3.5 is outside the pool 10.1.2.0/24");
	ccd_free(&inside);
	ccd_free(&outside_pool);
	cfg_free(c);
}

static void test_no_entry_announces_nothing(void **state)
{
	struct cfg *c = conf(false, "");
	struct ccd any = ccd_of("iroute 172.16.5.0 255.255.255.0\n");
	struct admission in = { .cfg = c, .cn = "guest", .ccd = &any };
	struct verdict v;

	expect_refusal(&in, "is not inside its allowed networks (none) (rule: clients.*.allow)");
	in.ccd = NULL;
	decide(&in, &v);
	assert_true(v.admit);
	assert_string_equal(v.config, "");
	verdict_free(&v);
	ccd_free(&any);
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admit_policy_and_ccd),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_claims_and_peers),
		cmocka_unit_test(test_default_entry),
		cmocka_unit_test(test_no_entry_announces_nothing),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
