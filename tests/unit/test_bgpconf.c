// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vpcroutectl bgp-config (ctl/bgpconf.c): the options' rules, and what the
 * BIRD and FRR configurations announce for a server's configuration (BIRD:
 * protocol 212 and the pools; FRR: the networks policy_announceable lists).
 * The lab runs BIRD's (tests/lab/test_route_server.py).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "bgpconf.h"

static const char conf_text[] =
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
	"\"tunnel\":{\"pool\":\"10.1.2.0/24\",\"pool6\":\"fd00:2::/64\"},"
	"\"clients\":{\"home\":{\"allow\":[\"192.168.1.0/24\"],\"iroutes\":[\"192.168.1.128/25\"]},"
	"\"shop\":{\"iroutes\":[\"192.168.2.0/24\",\"fd00:5::/48\"]}},"
	"\"default_client\":{\"allow\":[\"172.16.0.0/12\"]},"
	"\"aws\":{\"routes\":\"route-server\"}}";

static char *render(const struct bgpconf *p)
{
	char err[CFG_ERRLEN], *out = NULL;
	size_t len = 0;
	struct cfg *c;
	FILE *f;

	if (cfg_load_buf("t.conf", conf_text, strlen(conf_text), &c, err, sizeof(err)))
		fail_msg("%s", err);
	assert_non_null(f = open_memstream(&out, &len));
	assert_int_equal(bgpconf_print(f, p, c, "t.conf"), 0);
	fclose(f);
	cfg_free(c);
	return out;
}

static void has(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("no \"%s\" in:\n%s", want, text);
}

static struct bgpconf base(void)
{
	struct bgpconf p = { .bfd_ms = 300, .hold_s = 30 };

	assert_null(bgpconf_set(&p, "asn", "65001"));
	assert_null(bgpconf_set(&p, "peer-asn", "4200000000"));
	assert_null(bgpconf_set(&p, "peer", "10.1.1.50"));
	assert_null(bgpconf_set(&p, "peer", "fd00::50"));
	return p;
}

static void test_options(void **state)
{
	struct bgpconf p = { 0 };

	(void)state;
	assert_string_equal(bgpconf_set(&p, "asn", "0"), "expected an AS number, 1 to 4294967295");
	assert_non_null(bgpconf_set(&p, "asn", "4294967296"));
	assert_non_null(bgpconf_set(&p, "asn", "-1"));
	assert_non_null(bgpconf_set(&p, "asn", "65001x"));
	assert_null(bgpconf_set(&p, "asn", "4294967295"));
	assert_int_equal(p.asn, 4294967295ULL);
	assert_non_null(bgpconf_set(&p, "daemon", "quagga"));
	assert_null(bgpconf_set(&p, "daemon", "frr"));
	assert_int_equal(p.daemon, BGPCONF_FRR);
	assert_non_null(bgpconf_set(&p, "peer", "10.1.1.0/24"));
	assert_non_null(bgpconf_set(&p, "peer", "endpoint"));
	for (int i = 0; i < BGPCONF_MAX_PEERS; i++) {
		char a[32];

		snprintf(a, sizeof(a), "10.0.0.%d", i + 1);
		assert_null(bgpconf_set(&p, "peer", a));
	}
	assert_string_equal(bgpconf_set(&p, "peer", "10.0.0.99"), "at most 8 peers");
	assert_string_equal(bgpconf_set(&p, "peer", "10.0.0.1"), "that peer is given twice");
	assert_non_null(bgpconf_set(&p, "bfd-ms", "9"));
	assert_non_null(bgpconf_set(&p, "hold", "2"));
	assert_null(bgpconf_set(&p, "hold", "9"));
	assert_non_null(bgpconf_set(&p, "router-id", "fd00::1"));
	assert_null(bgpconf_set(&p, "router-id", "10.1.1.2"));
}

static void test_bird(void **state)
{
	struct bgpconf p = base();
	char *t;

	(void)state;
	assert_null(bgpconf_set(&p, "router-id", "10.1.1.2"));
	t = render(&p);
	has(t, "router id 10.1.1.2;\n");
	has(t, "\tipv4 { import where krt_source = 212; export none; };\n\tlearn;\n");
	has(t, "\tipv6 { import where krt_source = 212; export none; };\n\tlearn;\n");
	has(t, "\tipv4 { import where net = 10.1.2.0/24; };\n");
	has(t, "\tipv6 { import where net = fd00:2::/64; };\n");
	has(t, "if proto = \"vpcroute4\" || proto = \"vpcroute6\" || proto = \"vpcroute_pool\" "
	       "then accept;\n\treject;\n");
	has(t, "\tlocal as 65001;\n\thold time 30;\n\tkeepalive time 10;\n");
	has(t, "\tgraceful restart off;\n\tbfd on;\n");
	has(t, "\t\tmin rx interval 300 ms;\n");
	has(t, "protocol bgp vpcroute_rs1 from vpcroute_rs {\n\tneighbor 10.1.1.50 as 4200000000;\n"
	       "\tipv4 { import none; export filter vpcroute_out; next hop self; };\n");
	has(t, "protocol bgp vpcroute_rs2 from vpcroute_rs {\n\tneighbor fd00::50 as 4200000000;\n"
	       "\tipv6 { import none;");
	/* nothing of the clients' networks: BIRD filters by protocol, not prefix */
	assert_null(strstr(t, "192.168."));
	free(t);
}

static void test_frr(void **state)
{
	struct bgpconf p = base();
	char *t;

	(void)state;
	p.daemon = BGPCONF_FRR;
	t = render(&p);
	/* the pools exactly, each client's allow else its iroutes, the default entry */
	has(t, "ip prefix-list VPCROUTE4 seq 5 permit 10.1.2.0/24\n"
	       "ip prefix-list VPCROUTE4 seq 10 permit 192.168.1.0/24 le 32\n"
	       "ip prefix-list VPCROUTE4 seq 15 permit 192.168.2.0/24 le 32\n"
	       "ip prefix-list VPCROUTE4 seq 20 permit 172.16.0.0/12 le 32\n");
	has(t, "ipv6 prefix-list VPCROUTE6 seq 5 permit fd00:2::/64\n"
	       "ipv6 prefix-list VPCROUTE6 seq 10 permit fd00:5::/48 le 128\n");
	assert_null(strstr(t, "192.168.1.128/25")); /* inside home's allow */
	assert_null(strstr(t, "10.1.1.0/24"));	    /* the local network */
	has(t, "route-map VPCROUTE-IN deny 10\n");
	has(t, "router bgp 65001\n no bgp default ipv4-unicast\n no bgp graceful-restart\n");
	has(t, " neighbor 10.1.1.50 remote-as 4200000000\n neighbor 10.1.1.50 bfd profile "
	       "vpcroute\n neighbor 10.1.1.50 timers 10 30\n");
	has(t, " address-family ipv4 unicast\n  redistribute kernel route-map VPCROUTE-OUT\n"
	       "  redistribute connected route-map VPCROUTE-OUT\n  neighbor 10.1.1.50 activate\n"
	       "  neighbor 10.1.1.50 route-map VPCROUTE-IN in\n"
	       "  neighbor 10.1.1.50 route-map VPCROUTE-OUT out\n exit-address-family\n");
	has(t, " address-family ipv6 unicast\n");
	has(t, "  neighbor fd00::50 activate\n");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_bird),
		cmocka_unit_test(test_frr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
