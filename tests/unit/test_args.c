// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include "unit.h"

#include "args.h"

static void test_plugin_line(void **state)
{
	const char *ok[] = { "/usr/lib/openvpn/vpcroute.so", "/etc/vpcroute/vpcroute.conf",
			     "ccd=/etc/openvpn/ccd", "instance=server-udp", NULL };
	const char *none[] = { "/usr/lib/openvpn/vpcroute.so", NULL };
	const char *rel[] = { "x.so", "vpcroute.conf", NULL };
	const char *unk[] = { "x.so", "/etc/v.conf", "debug=1", NULL };
	const char *badinst[] = { "x.so", "/etc/v.conf", "instance=a/b", NULL };
	const char *badccd[] = { "x.so", "/etc/v.conf", "ccd=ccd", NULL };
	struct plugin_opts o;
	char err[ARGS_ERRLEN];

	assert_int_equal(plugin_args_parse(ok, &o, err, sizeof(err)), 0);
	assert_string_equal(o.config, "/etc/vpcroute/vpcroute.conf");
	assert_string_equal(o.ccd_dir, "/etc/openvpn/ccd");
	assert_string_equal(o.instance, "server-udp");
	assert_int_equal(plugin_args_parse(none, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no CONFIG given"));
	assert_int_equal(plugin_args_parse(rel, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "must be an absolute path"));
	assert_int_equal(plugin_args_parse(unk, &o, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "argument 2 \"debug=1\": unknown (expected ccd=DIR or instance=NAME)");
	assert_int_equal(plugin_args_parse(badinst, &o, err, sizeof(err)), -EINVAL);
	assert_int_equal(plugin_args_parse(badccd, &o, err, sizeof(err)), -EINVAL);
	assert_int_equal(plugin_args_parse(NULL, &o, err, sizeof(err)), -EINVAL);
}

static void test_default_instance(void **state)
{
	const char *e1[] = { "verb=3", "config=/etc/openvpn/server/udp.conf", NULL };
	const char *e2[] = { "config=bad name!.conf", NULL };
	const char *e3[] = { NULL };
	char buf[PROTO_INSTANCE_MAX + 1];

	plugin_default_instance(e1, buf, sizeof(buf));
	assert_string_equal(buf, "udp");
	plugin_default_instance(e2, buf, sizeof(buf));
	assert_string_equal(buf, "openvpn");
	plugin_default_instance(e3, buf, sizeof(buf));
	assert_string_equal(buf, "openvpn");
}

static void test_env_tunnel(void **state)
{
	const char *env[] = { "dev=tun0",
			      "ifconfig_local=10.1.2.6",
			      "route_vpn_gateway=10.1.2.1",
			      "route_network_1=10.1.1.0",
			      "route_netmask_1=255.255.255.0",
			      "route_network_2=172.16.0.0",
			      "route_netmask_2=255.240.0.0",
			      "route_network_4=10.9.0.0",
			      "route_netmask_4=255.255.0.0",
			      "route_ipv6_network_1=2001:db8::/48",
			      "proto_1=tcp-server",
			      "local_port_1=443",
			      NULL };
	const char *udp6[] = { "dev=tun0", "proto_1=udp6", "local_port_1=1194", NULL };
	const char *badport[] = { "dev=tun0", "proto_1=udp", "local_port_1=70000", NULL };
	const char *nodev[] = { "ifconfig_local=10.1.2.6", NULL };
	const char *badmask[] = { "dev=tun0", "route_network_1=10.1.1.0",
				  "route_netmask_1=255.0.255.0", NULL };
	const char *nomask[] = { "dev=tun0", "route_network_1=10.1.1.0", NULL };
	struct proto_msg m;
	char err[ARGS_ERRLEN], s[PFX_STRLEN];

	assert_int_equal(env_tunnel(env, PROTO_TUNNEL_ROUTE_UP, &m, err, sizeof(err)), 0);
	assert_string_equal(m.tunnel.dev, "tun0");
	assert_true(m.tunnel.has_local && m.tunnel.has_remote);
	assert_string_equal(pfx_format_addr(&m.tunnel.remote, s, sizeof(s)), "10.1.2.1");
	/* numbering stops at the first gap, as OpenVPN numbers without gaps */
	assert_int_equal(m.tunnel.routes.n, 3);
	assert_string_equal(pfx_format(&m.tunnel.routes.v[1], s, sizeof(s)), "172.16.0.0/12");
	assert_string_equal(pfx_format(&m.tunnel.routes.v[2], s, sizeof(s)), "2001:db8::/48");
	assert_int_equal(m.tunnel.listen_proto, PROTO_TCP);
	assert_int_equal(m.tunnel.listen_port, 443);
	proto_msg_free(&m);
	/* where it listens: known, or left out when not usable */
	assert_int_equal(env_tunnel(udp6, PROTO_TUNNEL_UP, &m, err, sizeof(err)), 0);
	assert_int_equal(m.tunnel.listen_proto, PROTO_UDP);
	assert_int_equal(m.tunnel.listen_port, 1194);
	proto_msg_free(&m);
	assert_int_equal(env_tunnel(badport, PROTO_TUNNEL_UP, &m, err, sizeof(err)), 0);
	assert_int_equal(m.tunnel.listen_proto, 0);
	proto_msg_free(&m);
	assert_int_equal(env_tunnel(nodev, PROTO_TUNNEL_UP, &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "\"dev\""));
	assert_int_equal(env_tunnel(badmask, PROTO_TUNNEL_UP, &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "route_network_1/route_netmask_1"));
	assert_int_equal(env_tunnel(nomask, PROTO_TUNNEL_UP, &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "netmask missing"));
}

static void test_learn(void **state)
{
	const char *add[] = { "x.so", "add", "10.1.2.10", "pi-home", NULL };
	const char *iroute[] = { "x.so", "update", "192.168.1.128/25", "pi-home", NULL };
	const char *del[] = { "x.so", "delete", "10.1.2.10", NULL };
	const char *mac[] = { "x.so", "add", "00:11:22:33:44:55", "pi-home", NULL };
	const char *badcn[] = { "x.so", "add", "10.1.2.10", "a/b", NULL };
	const char *noop[] = { "x.so", "frob", "10.1.2.10", NULL };
	enum proto_learn_op op;
	struct pfx a;
	char cn[CN_MAX + 1], err[ARGS_ERRLEN];

	assert_int_equal(args_learn(add, &op, &a, cn, err, sizeof(err)), 0);
	assert_int_equal(op, PROTO_LEARN_ADD);
	assert_string_equal(cn, "pi-home");
	assert_int_equal(args_learn(iroute, &op, &a, cn, err, sizeof(err)), 0);
	assert_int_equal(a.len, 25);
	assert_int_equal(args_learn(del, &op, &a, cn, err, sizeof(err)), 0);
	assert_string_equal(cn, "");
	assert_int_equal(args_learn(mac, &op, &a, cn, err, sizeof(err)), -EINVAL);
	assert_int_equal(args_learn(badcn, &op, &a, cn, err, sizeof(err)), -EINVAL);
	assert_int_equal(args_learn(noop, &op, &a, cn, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown operation"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plugin_line),
		cmocka_unit_test(test_default_instance),
		cmocka_unit_test(test_env_tunnel),
		cmocka_unit_test(test_learn),
	};

	return cmocka_run_group_tests_name("args", tests, NULL, NULL);
}
