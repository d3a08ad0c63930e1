// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "policy.h"

static const char *srcdir(void)
{
	const char *s = getenv("top_srcdir");

	return s ? s : ".";
}

static struct cfg *load_example(const char *name)
{
	char path[512], err[CFG_ERRLEN];
	struct cfg *c = NULL;

	snprintf(path, sizeof(path), "%s/doc/examples/%s", srcdir(), name);
	if (cfg_load_file(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return c;
}

static void test_examples(void **state)
{
	struct cfg *c = load_example("topology-a-server.conf");
	const struct cfg_client *pi;
	char s[PFX_STRLEN];

	assert_int_equal(c->role, CFG_ROLE_SERVER);
	assert_true(c->strict);
	assert_int_equal(c->socket.mode, 0660);
	assert_string_equal(c->socket.group, "nogroup");
	pi = cfg_client_find(c, "pi-home");
	assert_non_null(pi);
	assert_null(cfg_client_find(c, "stranger")); /* strict */
	assert_int_equal(pi->iroutes.n, 1);
	assert_string_equal(pfx_format(&pi->iroutes.v[0], s, sizeof(s)), "192.168.1.128/25");
	assert_string_equal(pfx_format_addr(&pi->address, s, sizeof(s)), "10.1.2.10");
	assert_int_equal(pi->from_local.kind, CFG_ACCESS_RULES);
	assert_int_equal(pi->from_local.nrules, 2);
	assert_int_equal(pi->from_local.rules[0].nports, 2);
	assert_int_equal(pi->from_local.rules[0].ports[1].lo, 8000);
	assert_int_equal(pi->from_local.rules[0].ports[1].hi, 8080);
	assert_int_equal(pi->to_local.kind, CFG_ACCESS_ALL);
	assert_int_equal(c->nnat, 1);
	assert_string_equal(c->nat[0].out_interface, "eth0");
	assert_true(c->aws.enabled);
	assert_true(c->aws.route_tables_auto);
	assert_int_equal(c->plugin.fail_mode, CFG_FAIL_CLOSED);
	cfg_free(c);

	c = load_example("topology-a-pi.conf");
	assert_int_equal(c->role, CFG_ROLE_CLIENT);
	assert_int_equal(c->to_local.kind, CFG_ACCESS_RULES);
	assert_int_equal(c->from_local.kind, CFG_ACCESS_ALL);
	assert_false(c->aws.enabled);
	cfg_free(c);

	c = load_example("topology-b-ec2-client.conf");
	assert_true(c->local_auto);
	assert_int_equal(c->aws.nroute_tables, 1);
	assert_string_equal(c->aws.route_tables[0], "rtb-0a1b2c3d4e5f60718");
	cfg_free(c);

	c = load_example("topology-c-road-warriors.conf");
	assert_false(c->strict);
	assert_ptr_equal(cfg_client_find(c, "laptop-7"), c->default_client);
	assert_int_equal(c->default_client->push_routes.n, 2);
	assert_int_equal(c->plugin.fail_mode, CFG_FAIL_OPEN);
	cfg_free(c);
}

static void test_defaults_and_dump(void **state)
{
	const char *t = "{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
			"\"tunnel\":{\"pool\":\"10.1.2.0/24\"}}";
	char err[CFG_ERRLEN], *dump;
	struct cfg *c, *c2;
	json_t *j;

	assert_int_equal(cfg_load_buf("t.conf", t, strlen(t), &c, err, sizeof(err)), 0);
	assert_string_equal(c->socket.path, VR_RUNSTATEDIR "/vpcroute/agent.sock");
	assert_int_equal(c->plugin.admission, CFG_ADMIT_IMMEDIATE);
	assert_int_equal(c->plugin.defer_timeout_ms, 5000);
	assert_false(c->aws.enabled);
	assert_int_equal(c->aws.withdraw_grace_s, 300);
	assert_int_equal(c->kernel_check_s, 30);
	assert_null(cfg_client_find(c, "anyone")); /* no default entry */
	/* The normalised dump is itself a valid config that dumps the same. */
	j = cfg_to_json(c);
	dump = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (cfg_load_buf("dump", dump, strlen(dump), &c2, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	j = cfg_to_json(c2);
	char *dump2 = json_dumps(j, JSON_COMPACT);

	assert_string_equal(dump, dump2);
	json_decref(j);
	free(dump);
	free(dump2);
	cfg_free(c);
	cfg_free(c2);
}

/*
 * aws.summaries, aws.route_quota, aws.max_calls_burst: loaded, defaulted,
 * dumped. A client may announce a network outside every summary (it gets
 * its own VPC route) or one that holds a summary: the policy is unchanged.
 */
static void test_aws_summaries(void **state)
{
	const char *t = "{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
			"\"tunnel\":{\"pool\":\"10.1.2.0/24\"},"
			"\"default_client\":{\"allow\":[\"192.168.0.0/15\",\"172.16.0.0/12\"]},"
			"\"aws\":{\"summaries\":[\"192.168.0.0/16\",\"fd00:1::/48\"],"
			"\"route_quota\":100,\"max_calls_burst\":20}}";
	const char *d = "{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
			"\"tunnel\":{\"pool\":\"10.1.2.0/24\"}}";
	struct proto_client pc = { .cn = "site" };
	struct pfx nets[1];
	char err[CFG_ERRLEN], s[PFX_STRLEN], *dump;
	struct cfg *c;
	json_t *j;

	assert_int_equal(cfg_load_buf("t.conf", t, strlen(t), &c, err, sizeof(err)), 0);
	assert_int_equal(c->aws.summaries.n, 2);
	assert_string_equal(pfx_format(&c->aws.summaries.v[0], s, sizeof(s)), "192.168.0.0/16");
	assert_string_equal(pfx_format(&c->aws.summaries.v[1], s, sizeof(s)), "fd00:1::/48");
	assert_int_equal(c->aws.route_quota, 100);
	assert_int_equal(c->aws.max_calls_burst, 20);
	dump = json_dumps(j = cfg_to_json(c), JSON_COMPACT);
	json_decref(j);
	assert_non_null(strstr(dump, "\"summaries\":[\"192.168.0.0/16\",\"fd00:1::/48\"]"));
	assert_non_null(strstr(dump, "\"route_quota\":100"));
	assert_non_null(strstr(dump, "\"max_calls_burst\":20"));
	free(dump);
	/* outside every summary, and holding one: both admitted as before */
	nets[0] = (struct pfx){ 0 };
	assert_int_equal(pfx_parse("172.16.5.0/24", 0, &nets[0], err, sizeof(err)), 0);
	pc.nets.v = nets;
	pc.nets.n = 1;
	assert_true(policy_check(c, "i", &pc, NULL, err, sizeof(err)));
	assert_int_equal(pfx_parse("192.168.0.0/15", 0, &nets[0], err, sizeof(err)), 0);
	assert_true(policy_check(c, "i", &pc, NULL, err, sizeof(err)));
	/* what a summary can stand for: networks a client may announce inside it */
	assert_true(policy_may_announce_within(c, &c->aws.summaries.v[0]));
	assert_false(policy_may_announce_within(c, &c->aws.summaries.v[1])); /* fd00:1::/48 */
	assert_int_equal(pfx_parse("172.0.0.0/8", 0, &nets[0], err, sizeof(err)), 0);
	assert_true(policy_may_announce_within(c, &nets[0]));
	assert_int_equal(pfx_parse("10.200.0.0/16", 0, &nets[0], err, sizeof(err)), 0);
	assert_false(policy_may_announce_within(c, &nets[0]));
	cfg_free(c);
	/* the defaults */
	assert_int_equal(cfg_load_buf("t.conf", d, strlen(d), &c, err, sizeof(err)), 0);
	assert_int_equal(c->aws.summaries.n, 0);
	assert_int_equal(c->aws.route_quota, 50);
	assert_int_equal(c->aws.max_calls_burst, 10);
	cfg_free(c);
	(void)state;
}

/* A rule's "to" by host name: kept in lower case without the final dot, no
 * prefix; the resolver's settings; both in the dump, which loads again. */
static void test_host_names(void **state)
{
	const char *t =
		"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
		"\"tunnel\":{\"pool\":\"10.1.2.0/24\"},\"clients\":{\"a\":{\"iroutes\":["
		"\"192.168.1.0/24\"],\"to_local\":[{\"to\":\"Svc.Example.COM.\",\"proto\":"
		"\"tcp\",\"ports\":[443]},{\"to\":\"10.1.1.5\"}],\"from_local\":[{\"to\":"
		"\"nas.home.arpa\",\"proto\":\"icmp\"}]}},\"dns\":{\"servers\":[\"10.1.1.2\","
		"\"[fd00::53]:5353\"],\"min_ttl_s\":1,\"max_ttl_s\":60}}";
	char err[CFG_ERRLEN], *dump, *dump2;
	struct cfg *c, *c2;
	const struct cfg_client *a;
	json_t *j;

	if (cfg_load_buf("t.conf", t, strlen(t), &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	a = cfg_client_find(c, "a");
	assert_string_equal(a->to_local.rules[0].to_name, "svc.example.com");
	assert_int_equal(a->to_local.rules[0].to.family, 0);
	assert_null(a->to_local.rules[1].to_name);
	assert_int_equal(a->to_local.rules[1].to.family, AF_INET);
	/* not checked against the client's networks at load: the agent checks each address */
	assert_string_equal(a->from_local.rules[0].to_name, "nas.home.arpa");
	assert_int_equal(c->dns.nservers, 2);
	assert_string_equal(c->dns.servers[0], "10.1.1.2:53");
	assert_string_equal(c->dns.servers[1], "[fd00::53]:5353");
	assert_int_equal(c->dns.min_ttl_s, 1);
	assert_int_equal(c->dns.max_ttl_s, 60);
	assert_int_equal(c->dns.timeout_ms, 2000);
	j = cfg_to_json(c);
	dump = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_non_null(strstr(dump, "\"to\":\"svc.example.com\""));
	if (cfg_load_buf("dump", dump, strlen(dump), &c2, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	j = cfg_to_json(c2);
	dump2 = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_string_equal(dump, dump2);
	free(dump);
	free(dump2);
	cfg_free(c);
	cfg_free(c2);
}

/* Client role: networks reached through the tunnel that the server does not
 * push are loaded, dumped, and the planner may own their VPC routes. */
static void test_tunnel_networks(void **state)
{
	const char *t = "{\"version\":1,\"role\":\"client\",\"local_networks\":[\"10.1.1.0/24\"],"
			"\"accept_routes\":[\"192.168.0.0/16\",\"10.100.0.0/16\"],"
			"\"tunnel_networks\":[\"10.100.8.0/24\"]}";
	char err[CFG_ERRLEN], s[PFX_STRLEN], *dump;
	struct pfx in = { 0 };
	struct cfg *c;
	json_t *j;

	if (cfg_load_buf("t.conf", t, strlen(t), &c, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(pfx_parse("10.100.8.0/24", 0, &in, err, sizeof(err)), 0);
	assert_int_equal(c->tunnel_networks.n, 1);
	assert_string_equal(pfx_format(&c->tunnel_networks.v[0], s, sizeof(s)), "10.100.8.0/24");
	assert_true(policy_may_announce(c, &in)); /* the planner may own its VPC route */
	j = cfg_to_json(c);
	dump = json_dumps(json_object_get(j, "tunnel_networks"), JSON_COMPACT);
	assert_string_equal(dump, "[\"10.100.8.0/24\"]");
	free(dump);
	json_decref(j);
	cfg_free(c);
}

/* Each bad config yields one line naming file:line:col, the key path and the value. */
struct bad {
	const char *text;
	const char *expect;
};

#define SRV                                                                       \
	"\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"]," \
	"\"tunnel\":{\"pool\":\"10.1.2.0/24\"}"

static const struct bad bads[] = {
	{ "{\n  \"version\": 1,\n  \"role\": \"server\",,\n}", "t.conf:3:20: " },
	{ "{\"version\":2,\"role\":\"server\"}",
	  "t.conf:1:2: version: unsupported schema version" },
	{ "{\"role\":\"server\"}", "t.conf:1:1: missing required key \"version\"" },
	{ "{\"version\":1,\"role\":\"hub\"}",
	  "t.conf:1:14: role: \"hub\" is not one of \"server\", \"client\"" },
	{ "{" SRV ",\"bogus\":1}", "bogus: unknown key" },
	{ "{" SRV ",\"clients\":{\"pi-home\":{\n\"iroutes\":[\"192.168.1.128/25\",\n  "
	  "\"192.168.2.1/24\"]}}}",
	  "t.conf:3:3: clients.pi-home.iroutes[1]: \"192.168.2.1/24\": host bits set (the network "
	  "is 192.168.2.0/24)" },
	{ "{" SRV ",\"clients\":{\"pi\":{\"iroutes\":[\"10.1.1.128/25\"]}}}",
	  "clients.pi.iroutes[0]: 10.1.1.128/25 overlaps the local network 10.1.1.0/24" },
	{ "{" SRV ",\"clients\":{\"a\":{\"iroutes\":[\"192.168.1.0/"
	  "24\"]},\"b\":{\"iroutes\":[\"192.168.1.128/25\"]}}}",
	  "clients.b.iroutes[0]: 192.168.1.128/25 overlaps 192.168.1.0/24 of client \"a\"" },
	{ "{" SRV
	  ",\"clients\":{\"a\":{\"allow\":[\"192.168.0.0/24\"],\"iroutes\":[\"192.168.1.0/24\"]}}}",
	  "clients.a.iroutes[0]: 192.168.1.0/24 is not inside the client's \"allow\" networks" },
	{ "{" SRV ",\"clients\":{\"a\":{\"address\":\"10.1.3.5\"}}}",
	  "clients.a.address: 10.1.3.5 is outside the tunnel pool 10.1.2.0/24" },
	{ "{" SRV ",\"clients\":{\"a\":{\"address\":\"10.1.2.255\"}}}", "broadcast" },
	{ "{" SRV
	  ",\"clients\":{\"a\":{\"address\":\"10.1.2.5\"},\"b\":{\"address\":\"10.1.2.5\"}}}",
	  "clients.b.address: 10.1.2.5 is already the address of client \"a\"" },
	{ "{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/"
	  "24\"],\"tunnel\":{\"pool\":\"10.1.2.0/24\",\"pool6\":\"fd00:2::/64\"},"
	  "\"clients\":{\"a\":{\"address6\":\"fd00:2::5\"},\"b\":{\"address6\":\"fd00:2::5\"}}}",
	  "clients.b.address6: fd00:2::5 is already the address of client \"a\"" },
	{ "{\"version\":1,\"role\":\"client\",\"local_networks\":[\"192.168.1.0/"
	  "24\"],\"accept_routes\":[\"10.1.0.0/16\"],"
	  "\"from_local\":[{\"to\":\"10.2.0.0/16\"}]}",
	  "from_local[0].to: 10.2.0.0/16 is not inside the accepted routes (accept_routes)" },
	{ "{" SRV ",\"aws\":{\"route_tables\":[\"rtb-0123456789\"]}}",
	  "aws.route_tables[0]: expected a route table id" },
	{ "{" SRV ",\"clients\":{\"../etc\":{}}}", "clients.../etc: common name" },
	{ "{" SRV ",\"clients\":{\"a\":{\"iroutes\":\"192.168.1.0/24\"}}}",
	  "clients.a.iroutes: expected an array of prefixes, got a string" },
	{ "{" SRV
	  ",\"clients\":{\"a\":{\"from_local\":[{\"to\":\"10.9.9.9\",\"proto\":\"tcp\"}]}}}",
	  "clients.a.from_local[0].to: 10.9.9.9/32 is not inside the client's networks" },
	{ "{" SRV ",\"clients\":{\"a\":{\"iroutes\":[\"192.168.1.0/"
	  "24\"],\"from_local\":[{\"to\":\"192.168.1.5\",\"proto\":\"icmp\",\"ports\":[22]}]}}}",
	  "ports need \"proto\": \"tcp\" or \"udp\"" },
	{ "{" SRV ",\"clients\":{\"a\":{\"iroutes\":[\"192.168.1.0/"
	  "24\"],\"from_local\":[{\"to\":\"192.168.1.5\",\"proto\":\"tcp\",\"ports\":[\"90-"
	  "80\"]}]}}}",
	  "\"90-80\" is not a port range" },
	{ "{" SRV ",\"strict\":true,\"default_client\":{}}", "default_client: never used" },
	{ "{" SRV ",\"default_client\":{\"iroutes\":[\"192.168.1.0/24\"]}}",
	  "default_client.iroutes: the default entry cannot announce" },
	{ "{" SRV ",\"accept_routes\":[]}", "accept_routes: only valid with \"role\": \"client\"" },
	/* tunnel_networks: like a pushed route, never a local network, inside accept_routes */
	{ "{" SRV ",\"tunnel_networks\":[\"10.100.8.0/24\"]}",
	  "tunnel_networks: only valid with \"role\": \"client\"" },
	{ "{\"version\":1,\"role\":\"client\",\"local_networks\":[\"192.168.1.0/"
	  "24\"],\"tunnel_networks\":[\"192.168.0.0/16\"]}",
	  "t.conf:1:85: tunnel_networks[0]: 192.168.0.0/16 overlaps the local network "
	  "192.168.1.0/24" },
	{ "{\"version\":1,\"role\":\"client\",\"local_networks\":[\"192.168.1.0/"
	  "24\"],\"accept_routes\":[\"10.1.0.0/16\"],\"tunnel_networks\":[\"10.1.8.0/24\","
	  "\"10.100.8.0/24\"]}",
	  "tunnel_networks[1]: 10.100.8.0/24 is outside the accepted routes (accept_routes)" },
	{ "{\"version\":1,\"role\":\"client\",\"local_networks\":[\"192.168.1.0/"
	  "24\"],\"tunnel_networks\":[\"0.0.0.0/0\"]}",
	  "tunnel_networks[0]: 0.0.0.0/0 is a default route" },
	{ "{\"version\":1,\"role\":\"client\",\"local_networks\":[\"192.168.1.0/"
	  "24\"],\"tunnel_networks\":\"10.100.8.0/24\"}",
	  "tunnel_networks: expected an array of prefixes" },
	{ "{\"version\":1,\"role\":\"client\",\"local_networks\":[\"192.168.1.0/"
	  "24\"],\"tunnel\":{\"pool\":\"10.1.2.0/24\"}}",
	  "tunnel: only valid with \"role\": \"server\"" },
	{ "{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.0.0/"
	  "16\"],\"tunnel\":{\"pool\":\"10.1.2.0/24\"}}",
	  "tunnel.pool: 10.1.2.0/24 overlaps the local network 10.1.0.0/16" },
	{ "{\"version\":1,\"role\":\"server\",\"local_networks\":\"auto\",\"tunnel\":{\"pool\":"
	  "\"10.1.2.0/24\"}}",
	  "local_networks: \"auto\" needs the \"aws\" section enabled" },
	{ "{\"version\":1,\"role\":\"server\",\"local_networks\":[],\"tunnel\":{\"pool\":\"10.1.2."
	  "0/24\"}}",
	  "local_networks: must name at least one network" },
	{ "{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.0.0/16\",\"10.1.1.0/"
	  "24\"],\"tunnel\":{\"pool\":\"10.2.0.0/24\"}}",
	  "local_networks[1]: 10.1.1.0/24 overlaps 10.1.0.0/16 at local_networks[0]" },
	{ "{" SRV ",\"socket\":{\"mode\":\"0999\"}}", "socket.mode: expected an octal mode" },
	{ "{" SRV ",\"socket\":{\"path\":\"run/x.sock\"}}",
	  "socket.path: \"run/x.sock\" is not an absolute path" },
	{ "{" SRV ",\"aws\":{\"region\":\"Mars\"}}",
	  "aws.region: \"Mars\" is not an AWS region name" },
	{ "{" SRV ",\"aws\":{\"route_tables\":[\"rtb-xyz\"]}}",
	  "aws.route_tables[0]: expected a route table id" },
	{ "{" SRV ",\"aws\":{\"access_key_id\":\"AKIA\"}}",
	  "access_key_id and secret_access_key go together" },
	{ "{" SRV ",\"aws\":{\"max_calls_per_s\":0}}",
	  "aws.max_calls_per_s: expected a number above 0" },
	/* summaries: never where the VPC's own or the tunnel's traffic goes */
	{ "{" SRV ",\"aws\":{\"summaries\":[\"10.0.0.0/8\"]}}",
	  "t.conf:1:115: aws.summaries[0]: 10.0.0.0/8 overlaps the local network 10.1.1.0/24 "
	  "(local_networks)" },
	{ "{" SRV ",\"aws\":{\"summaries\":[\"192.168.0.0/16\",\"10.1.2.128/25\"]}}",
	  "aws.summaries[1]: 10.1.2.128/25 overlaps the tunnel pool 10.1.2.0/24 (tunnel.pool)" },
	{ "{" SRV ",\"aws\":{\"summaries\":[\"192.168.0.0/16\",\"192.168.4.0/22\"]}}",
	  "aws.summaries[1]: 192.168.4.0/22 overlaps 192.168.0.0/16 at aws.summaries[0]" },
	{ "{" SRV ",\"aws\":{\"summaries\":[\"::/0\"]}}",
	  "aws.summaries[0]: ::/0 is a default route, never a summary" },
	{ "{" SRV ",\"aws\":{\"summaries\":\"192.168.0.0/16\"}}",
	  "aws.summaries: expected an array of prefixes" },
	{ "{" SRV ",\"aws\":{\"summaries\":[\"192.168.0.1/16\"]}}", "aws.summaries[0]: " },
	{ "{" SRV ",\"aws\":{\"route_quota\":0}}", "aws.route_quota: 0 is out of range (1-1000)" },
	{ "{" SRV ",\"aws\":{\"max_calls_burst\":201}}",
	  "aws.max_calls_burst: 201 is out of range (1-200)" },
	{ "{" SRV ",\"aws\":{\"withdraw_grace_s\":-5}}",
	  "aws.withdraw_grace_s: -5 is out of range (0-86400)" },
	{ "{" SRV ",\"aws\":{\"endpoint\":\"ftp://x\"}}",
	  "aws.endpoint: \"ftp://x\" is not an http:// or https:// URL" },
	{ "{" SRV ",\"plugin\":{\"fail_mode\":\"maybe\"}}",
	  "plugin.fail_mode: \"maybe\" is not one of \"closed\", \"open\"" },
	{ "{" SRV ",\"kernel_check_s\":0}", "kernel_check_s: 0 is out of range (1-86400)" },
	{ "{" SRV ",\"plugin\":{\"defer_timeout_ms\":1.5}}",
	  "plugin.defer_timeout_ms: expected an integer, got a number" },
	{ "{" SRV ",\"nat\":{\"masquerade\":[{\"sources\":[\"10.1.1.0/"
	  "24\"],\"out_interface\":\"eth0/1\"}]}}",
	  "nat.masquerade[0].out_interface: not a valid interface name" },
	{ "{" SRV ",\"nat\":{\"masquerade\":[{\"sources\":[\"10.1.1.0/"
	  "24\"],\"out_interface\":\"eth0\",\"snat_to\":\"2001:db8::1\"}]}}",
	  "nat.masquerade[0].snat_to: address family differs from sources[0]" },
	{ "{" SRV ",\"nat\":{\"masquerade\":[{\"out_interface\":\"eth0\"}]}}",
	  "nat.masquerade[0]: missing or empty \"sources\"" },
	{ "{" SRV ",\"version\":1}", "t.conf:1:103: duplicate object key near '\"version\"'" },
	{ "[]", "t.conf:1:1: expected a JSON object at the top level, got an array" },
	/* the usual mistakes of people who edit JSON by hand, in words */
	{ "", "t.conf:1:1: the file is empty; it needs a JSON object" },
	{ " \n\t\r\n", "t.conf:1:1: the file is empty" },
	{ "\xef\xbb\xbf{" SRV "}", "t.conf:1:1: the file begins with a UTF-8 byte order mark" },
	{ "{\n  // the office\n" SRV "}",
	  "t.conf:2:3: JSON has no comments (\"//\"); write the note as a key that begins with "
	  "'_', e.g. \"_comment\": \"...\"" },
	{ "{" SRV ", /* the office */ \"strict\": true}",
	  "t.conf:1:96: JSON has no comments (\"/* */\")" },
	{ "{" SRV ",\n# the office\n\"strict\": true}",
	  "t.conf:2:1: JSON has no comments (\"#\")" },
	{ "{" SRV ", \"strict\": true // the office\n}", "t.conf:1:111: JSON has no comments" },
	{ "{" SRV ",\n  \"strict\": true,\n}",
	  "t.conf:2:17: trailing comma before '}': JSON allows no comma after the last member" },
	{ "{" SRV ",\"strict\":true,\"clients\":{\"a\":{\"iroutes\":[\"192.168.1.0/24\",  \n ]}}}",
	  "t.conf:1:152: trailing comma before ']': JSON allows no comma after the last element" },
	{ "{" SRV ",\"x\":/2}", "t.conf:1:99: invalid token near '/'" }, /* not a comment */
	/* an unknown key names the closest known key of its object */
	{ "{" SRV ",\"stict\":true}",
	  "t.conf:1:95: stict: unknown key (did you mean \"strict\"?)" },
	{ "{" SRV ",\"socket\":{\"gruop\":\"vpn\"}}",
	  "socket.gruop: unknown key (did you mean \"group\"?)" },
	{ "{" SRV ",\"aws\":{\"drift_check\":30}}",
	  "aws.drift_check: unknown key (did you mean \"drift_check_s\"?)" },
	{ "{" SRV ",\"nat\":{\"masquerade\":[{\"sources\":[\"10.1.1.0/"
	  "24\"],\"out_interfce\":\"eth0\"}]}}",
	  "nat.masquerade[0].out_interfce: unknown key (did you mean \"out_interface\"?)" },
	{ "{" SRV ",\"clients\":{\"a\":{\"iroute\":[]}}}",
	  "clients.a.iroute: unknown key (did you mean \"iroutes\"?)" },
	{ "{" SRV ",\"plugin\":{\"Admission\":\"deferred\"}}",
	  "plugin.Admission: unknown key (did you mean \"admission\"?)" },
	{ "{" SRV ",\"bogus\":1}", "bogus: unknown key" }, /* nothing close: no suggestion */
	/* a client whose common name begins with '_' is a client, not a note */
	{ "{" SRV ",\"clients\":{\"_lab\":{\"adress\":\"10.1.2.5\"}}}",
	  "clients._lab.adress: unknown key (did you mean \"address\"?)" },
	/* port_forwards: each check a line naming file:line:col */
	{ "{" SRV ",\n\"port_forwards\":[{\"proto\":\"tcp\",\"port\":70000,\"to\":"
	  "\"10.1.1.10\"}]}",
	  "t.conf:2:33: port_forwards[0].port: port 70000 is out of range (1-65535)" },
	{ "{" SRV ",\"port_forwards\":[{\"proto\":\"tcp\",\"port\":80,\"to\":\"10.1.1.10\","
	  "\"to_port\":0}]}",
	  "port_forwards[0].to_port: port 0 is out of range (1-65535)" },
	{ "{" SRV ",\"port_forwards\":[{\"proto\":\"tcp\",\"port\":8080,\"to\":\"10.1.1.10\"},"
	  "\n{\"proto\":\"tcp\",\"port\":8080,\"to\":\"10.1.1.11\"}]}",
	  "t.conf:2:16: port_forwards[1].port: tcp port 8080 is already forwarded by "
	  "port_forwards[0]" },
	{ "{" SRV ",\"port_forwards\":[{\"proto\":\"tcp\",\"port\":8080,\"to\":\"10.1.1.10\","
	  "\"in_interface\":\"eth0\"},{\"proto\":\"tcp\",\"port\":8080,\"to\":\"10.1.1.11\"}]}",
	  "port_forwards[1].port: tcp port 8080 is already forwarded by port_forwards[0]" },
	{ "{" SRV ",\"port_forwards\":[{\"proto\":\"tcp\",\"port\":80,\"to\":\"172.16.0.5\"}]}",
	  "port_forwards[0].to: 172.16.0.5 is not inside a network vpcroute reaches" },
	{ "{" SRV ",\"port_forwards\":[{\"proto\":\"udp\",\"port\":1194,\"to\":\"10.1.1.10\"}]}",
	  "port_forwards[0].port: udp port 1194 is OpenVPN's own (openvpn.proto/openvpn.port)" },
	{ "{" SRV ",\"openvpn\":{\"proto\":\"tcp\",\"port\":443},\"port_forwards\":[{\"proto\":"
	  "\"tcp\",\"port\":443,\"to\":\"10.1.1.10\"}]}",
	  "port_forwards[0].port: tcp port 443 is OpenVPN's own" },
	{ "{" SRV ",\"port_forwards\":[{\"proto\":\"icmp\",\"port\":1,\"to\":\"10.1.1.10\"}]}",
	  "port_forwards[0].proto: \"icmp\" is not one of \"tcp\", \"udp\"" },
	{ "{" SRV ",\"port_forwards\":[{\"proto\":\"tcp\",\"port\":1,\"to\":\"10.1.1.0/24\"}]}",
	  "port_forwards[0].to: \"10.1.1.0/24\" is not an IPv4 or IPv6 address" },
	{ "{" SRV ",\"port_forwards\":[{\"proto\":\"tcp\",\"to\":\"10.1.1.10\"}]}",
	  "port_forwards[0]: missing required key \"port\"" },
	{ "{" SRV ",\"port_forwards\":[{\"proto\":\"tcp\",\"port\":1,\"to\":\"10.1.1.10\","
	  "\"in_interface\":\"a b\"}]}",
	  "port_forwards[0].in_interface: not a valid interface name" },
	{ "{" SRV ",\"port_forwards\":[{\"proto\":\"tcp\",\"portt\":1,\"to\":\"10.1.1.10\"}]}",
	  "port_forwards[0].portt: unknown key (did you mean \"port\"?)" },
	/* masquerade: a to_local rule only */
	{ "{" SRV ",\"clients\":{\"a\":{\"iroutes\":[\"192.168.1.0/24\"],\"from_local\":"
	  "[{\"to\":\"192.168.1.5\",\"masquerade\":true}]}}}",
	  "clients.a.from_local[0].masquerade: only in \"to_local\" rules" },
	{ "{" SRV ",\"clients\":{\"a\":{\"to_local\":[{\"to\":\"10.1.1.5\",\"masquerade\":1}]}}}",
	  "clients.a.to_local[0].masquerade: expected true or false" },
	{ "{" SRV ",\"connection_log\":{\"group\":70000}}",
	  "connection_log.group: 70000 is out of range (0-65535)" },
	{ "{" SRV ",\"connection_log\":{\"rate_per_s\":0}}",
	  "connection_log.rate_per_s: 0 is out of range" },
	/* offload: interface names as the kernel takes them, once each */
	{ "{" SRV ",\"offload\":true}", "offload: expected an object" },
	{ "{" SRV ",\"offload\":{\"device\":[]}}",
	  "offload.device: unknown key (did you mean \"devices\"?)" },
	{ "{" SRV ",\"offload\":{\"devices\":\"ens5\"}}", "offload.devices: expected an array" },
	{ "{" SRV ",\"offload\":{\"devices\":[5]}}",
	  "offload.devices[0]: expected an interface name" },
	{ "{" SRV ",\"offload\":{\"devices\":[\"ens5\",\n\"eth 1\"]}}",
	  "t.conf:2:1: offload.devices[1]: \"eth 1\" is not a valid interface name" },
	{ "{" SRV ",\"offload\":{\"devices\":[\"\"]}}",
	  "offload.devices[0]: \"\" is not a valid interface name" },
	{ "{" SRV ",\"offload\":{\"devices\":[\"0123456789abcdef\"]}}",
	  "offload.devices[0]: \"0123456789abcdef\" is not a valid interface name" },
	{ "{" SRV ",\"offload\":{\"devices\":[\"a/b\"]}}",
	  "offload.devices[0]: \"a/b\" is not a valid interface name" },
	{ "{" SRV ",\"offload\":{\"devices\":[\"..\"]}}",
	  "offload.devices[0]: \"..\" is not a valid interface name" },
	{ "{" SRV ",\"offload\":{\"devices\":[\".\"]}}",
	  "offload.devices[0]: \".\" is not a valid interface name" },
	{ "{" SRV ",\"offload\":{\"devices\":[\"ens5\",\"tun0\",\"ens5\"]}}",
	  "offload.devices[2]: ens5 is listed twice" },
	/* "$schema" and "_..." are ignored, whatever their value, but nothing else is */
	{ "{" SRV ",\"$schemas\":\"x\"}", "t.conf:1:95: $schemas: unknown key" },
	/* host names: only as a rule's "to", well formed, without a prefix length */
	{ "{" SRV ",\"clients\":{\"a\":{\n\"to_local\":[{\"to\":\"svc..example.com\"}]}}}",
	  "t.conf:2:14: clients.a.to_local[0].to: host name \"svc..example.com\": an empty label "
	  "at "
	  "position 5" },
	{ "{" SRV ",\"clients\":{\"a\":{\"to_local\":[{\"to\":\"svc.example.com/32\"}]}}}",
	  "clients.a.to_local[0].to: \"svc.example.com/32\": a host name takes no prefix length" },
	{ "{" SRV ",\"clients\":{\"a\":{\"to_local\":[{\"to\":\"svc_1.example.com\"}]}}}",
	  "host name \"svc_1.example.com\": the character '_' at position 4" },
	{ "{" SRV ",\"clients\":{\"a\":{\"to_local\":[{\"to\":\"svc-.example.com\"}]}}}",
	  "the label \"svc-\" ends with '-' (RFC 1123)" },
	{ "{" SRV ",\"clients\":{\"a\":{\"to_local\":[{\"to\":\"x."
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com\"}]}}}",
	  "a label longer than 63 characters" },
	{ "{" SRV ",\"clients\":{\"a\":{\"to_local\":[{\"to\":\"10.1.1.300\"}]}}}",
	  "clients.a.to_local[0].to: \"10.1.1.300\": \"10.1.1.300\" is not an IPv4 or IPv6 "
	  "address" },
	{ "{" SRV ",\"clients\":{\"a\":{\"iroutes\":[\"home.example.com\"]}}}",
	  "clients.a.iroutes[0]: \"home.example.com\" is a host name; names are allowed only as "
	  "the \"to\" of a to_local or from_local rule" },
	{ "{" SRV ",\"nat\":{\"masquerade\":[{\"sources\":[\"lan.example.com\"],"
	  "\"out_interface\":\"eth0\"}]}}",
	  "nat.masquerade[0].sources[0]: \"lan.example.com\" is a host name" },
	{ "{" SRV ",\"dns\":{\"servers\":[\"ns1.example.com\"]}}",
	  "dns.servers[0]: \"ns1.example.com\" is not a DNS server" },
	{ "{" SRV ",\"dns\":{\"servers\":[\"10.1.1.2\",\"10.1.1.2:53\"]}}",
	  "dns.servers[1]: 10.1.1.2:53 is listed twice" },
	{ "{" SRV ",\"dns\":{\"servers\":[]}}", "dns.servers: expected an array of 1-8" },
	{ "{" SRV ",\"dns\":{\"min_ttl_s\":60,\"max_ttl_s\":30}}",
	  "dns.max_ttl_s: 30 is below min_ttl_s (60)" },
	{ "{" SRV ",\"dns\":{\"min_ttl_s\":0}}", "dns.min_ttl_s: 0 is out of range (1-86400)" },
	{ "{" SRV ",\"dns\":{\"max_ttl\":60}}",
	  "dns.max_ttl: unknown key (did you mean \"max_ttl_s\"?)" },
	/* ipsec.peers: by address or IKE identity, with what they may announce */
	{ "{" SRV ",\"ipsec\":{\"peers\":{\n\"10.0.0.300\":{\"allow\":[\"192.168.99.0/24\"]}}}}",
	  "t.conf:2:1: ipsec.peers.10.0.0.300: \"10.0.0.300\" is not an address: a peer is named "
	  "by the IPv4 or IPv6 address of its tunnel end, or by its IKE identity (write "
	  "\"id:10.0.0.300\" for an identity that looks like an address)" },
	{ "{" SRV ",\"ipsec\":{\"peers\":{\"2001:db8::12345\":{\"allow\":[\"192.168.99.0/24\"]}}}}",
	  "ipsec.peers.2001:db8::12345: \"2001:db8::12345\" is not an address" },
	{ "{" SRV ",\"ipsec\":{\"peers\":{\"id:\":{\"allow\":[\"192.168.99.0/24\"]}}}}",
	  "ipsec.peers.id:: an IKE identity of 1 to 255 bytes" },
	{ "{" SRV ",\"ipsec\":{\"peers\":{\"@a\\u0007\":{\"allow\":[\"192.168.99.0/24\"]}}}}",
	  "an IKE identity has no control characters (byte 2)" },
	{ "{" SRV ",\"ipsec\":{\"peers\":{\"@site1\":{\"allow\":[\"192.168.9.0/"
	  "24\"]},\"id:@site1\":{\"allow\":[\"192.168.8.0/24\"]}}}}",
	  "ipsec.peers.id:@site1: the IKE identity \"@site1\" is already the peer \"@site1\"" },
	{ "{" SRV ",\"ipsec\":{\"peers\":{\"site1\":{\"allow\":[\"192.168.9.0/"
	  "24\"]},\"@site1\":{\"allow\":[\"192.168.8.0/24\"]}}}}",
	  "ipsec.peers.@site1: the IKE identity \"@site1\" is already the peer \"site1\"" },
	{ "{" SRV ",\"ipsec\":{\"peers\":{\"@\":{\"allow\":[\"192.168.9.0/24\"]}}}}",
	  "ipsec.peers.@: an IKE identity of 1 to 255 bytes" },
	{ "{" SRV ",\"ipsec\":{\"vici_socket\":\"run/charon.vici\"}}",
	  "ipsec.vici_socket: \"run/charon.vici\" is not an absolute path" },
	{ "{" SRV ",\"ipsec\":{\"peers\":{\"203.0.113.7\":{}}}}",
	  "ipsec.peers.203.0.113.7: missing required key \"allow\"" },
	{ "{" SRV ",\"ipsec\":{\"peers\":{\"203.0.113.7\":{\"allow\":[]}}}}",
	  "ipsec.peers.203.0.113.7.allow: must name at least one network" },
	{ "{" SRV ",\"ipsec\":{\"peers\":{\"203.0.113.7\":{\"allow\":[\"10.1.1.0/"
	  "25\"]}}}}",
	  "ipsec.peers.203.0.113.7.allow[0]: 10.1.1.0/25 overlaps the local network 10.1.1.0/24" },
	{ "{" SRV ",\"ipsec\":{\"peers\":{\"203.0.113.7\":{\"allow\":[\"192.168.9.0/"
	  "24\"],\"iroutes\":[]}}}}",
	  "ipsec.peers.203.0.113.7.iroutes: unknown key" },
	{ "{" SRV ",\"ipsec\":{\"peers\":{\"203.0.113.7\":{\"allow\":[\"192.168.9.0/"
	  "24\"]},\"203.0.113.07\":{\"allow\":[\"192.168.8.0/24\"]}}}}",
	  "ipsec.peers.203.0.113.07: \"203.0.113.07\" is not an address" },
	{ "{" SRV ",\"ipsec\":{\"peers\":{\"2001:db8::7\":{\"allow\":[\"fd00::/"
	  "48\"]},\"2001:DB8::7\":{\"allow\":[\"fd01::/48\"]}}}}",
	  "ipsec.peers.2001:DB8::7: 2001:db8::7 is already the peer \"2001:db8::7\"" },
	{ "{" SRV ",\"ipsec\":{\"peer\":{}}}",
	  "ipsec.peer: unknown key (did you mean \"peers\"?)" },
};

/* port_forwards, masquerade rules, OpenVPN's port and the connection log, loaded and dumped. */
static void test_forwards(void **state)
{
	const char *text =
		"{" SRV ",\"clients\":{\"a\":{\"iroutes\":[\"192.168.1.0/24\"],\"address\":"
		"\"10.1.2.10\",\"to_local\":[{\"to\":\"10.1.1.0/"
		"24\",\"masquerade\":true,\"log\":true}]}},"
		"\"port_forwards\":[{\"proto\":\"tcp\",\"port\":8080,\"to\":\"10.1.1.10\","
		"\"to_port\":80},{\"proto\":\"udp\",\"port\":8080,\"to\":\"192.168.1.5\","
		"\"in_interface\":\"tun0\",\"masquerade\":true,\"log\":false},"
		"{\"proto\":\"tcp\",\"port\":2222,\"to\":\"10.1.2.10\",\"to_port\":22}],"
		"\"connection_log\":{\"group\":3}}";
	char err[CFG_ERRLEN], *dump;
	struct cfg *c;
	json_t *j;

	(void)state;
	if (cfg_load_buf("f.conf", text, strlen(text), &c, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(c->nforwards, 3);
	assert_int_equal(c->forwards[0].proto, IPPROTO_TCP);
	assert_int_equal(c->forwards[0].to_port, 80);
	assert_int_equal(c->forwards[1].to_port, 8080); /* defaults to port */
	assert_true(c->forwards[1].masquerade);
	assert_false(c->forwards[1].log);
	assert_string_equal(c->forwards[1].in_interface, "tun0");
	assert_true(c->clients[0].to_local.rules[0].masquerade);
	assert_true(c->clients[0].to_local.rules[0].log);
	assert_true(c->rules_log);
	assert_int_equal(c->openvpn_proto, IPPROTO_UDP); /* the server's default */
	assert_int_equal(c->openvpn_port, 1194);
	assert_true(c->connlog.enabled && c->connlog.has_group && c->connlog.group == 3);
	assert_int_equal(c->connlog.rate_per_s, 10);
	j = cfg_to_json(c);
	dump = json_dumps(json_object_get(j, "port_forwards"), JSON_COMPACT);
	assert_string_equal(
		dump,
		"[{\"proto\":\"tcp\",\"port\":8080,\"to\":\"10.1.1.10\",\"to_port\":80,"
		"\"masquerade\":false,\"log\":true},{\"proto\":\"udp\",\"port\":8080,\"to\":"
		"\"192.168.1.5\",\"to_port\":8080,\"in_interface\":\"tun0\",\"masquerade\":true,"
		"\"log\":false},{\"proto\":\"tcp\",\"port\":2222,\"to\":\"10.1.2.10\","
		"\"to_port\":22,\"masquerade\":false,\"log\":true}]");
	free(dump);
	dump = json_dumps(json_object_get(j, "connection_log"), JSON_COMPACT);
	assert_string_equal(dump, "{\"new\":true,\"drop\":true,\"rate_per_s\":10,\"burst\":5,"
				  "\"group\":3}");
	free(dump);
	json_decref(j);
	cfg_free(c);
}

/* offload: present turns the fast path on; devices are optional; the dump
 * shows it (and nothing when absent). */
static void test_offload(void **state)
{
	static const char *const texts[] = {
		"{" SRV "}",
		"{" SRV ",\"offload\":{}}",
		"{" SRV ",\"offload\":{\"devices\":[\"ens5\",\"br-lan.10\",\"012345678912345\"]}}",
	};
	static const char *const dumps[] = { NULL, "{\"devices\":[]}",
					     "{\"devices\":[\"ens5\",\"br-lan.10\","
					     "\"012345678912345\"]}" };
	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char err[CFG_ERRLEN], *dump;
		struct cfg *c;
		json_t *j;

		if (cfg_load_buf("f.conf", texts[i], strlen(texts[i]), &c, err, sizeof(err)))
			fail_msg("%s", err);
		assert_int_equal(c->offload.enabled, i > 0);
		assert_int_equal(c->offload.ndevices, i == 2 ? 3 : 0);
		if (i == 2) {
			assert_string_equal(c->offload.devices[0], "ens5");
			assert_string_equal(c->offload.devices[2], "012345678912345");
		}
		j = cfg_to_json(c);
		if (!dumps[i]) {
			assert_null(json_object_get(j, "offload"));
		} else {
			dump = json_dumps(json_object_get(j, "offload"), JSON_COMPACT);
			assert_string_equal(dump, dumps[i]);
			free(dump);
		}
		json_decref(j);
		cfg_free(c);
	}
}

static void test_bad_configs(void **state)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		char err[CFG_ERRLEN] = "";
		struct cfg *c = (struct cfg *)0x1;

		assert_int_equal(cfg_load_buf("t.conf", bads[i].text, strlen(bads[i].text), &c, err,
					      sizeof(err)),
				 -EINVAL);
		assert_ptr_equal(c, (struct cfg *)0x1); /* untouched */
		if (!strstr(err, bads[i].expect))
			fail_msg("case %zu: got \"%s\", expected it to contain \"%s\"", i, err,
				 bads[i].expect);
		assert_null(strchr(err, '\n')); /* one line */
		assert_true(strncmp(err, "t.conf:", 7) == 0);
	}
}

/*
 * "$schema" and keys that begin with '_' are accepted and ignored in every
 * object of both roles: the annotated text loads to the same configuration
 * as the bare one.
 */
#define NOTE "\"_comment\":\"why\",\"$schema\":\"x\",\"_n\":[1,{\"a\":null}]"

static void same_as(const char *annotated, const char *bare)
{
	char err[CFG_ERRLEN], *da, *db;
	struct cfg *a, *b;
	json_t *j;

	if (cfg_load_buf("a.conf", annotated, strlen(annotated), &a, err, sizeof(err)))
		fail_msg("%s", err);
	if (cfg_load_buf("b.conf", bare, strlen(bare), &b, err, sizeof(err)))
		fail_msg("%s", err);
	da = json_dumps(j = cfg_to_json(a), JSON_COMPACT);
	json_decref(j);
	db = json_dumps(j = cfg_to_json(b), JSON_COMPACT);
	json_decref(j);
	assert_string_equal(da, db);
	free(da);
	free(db);
	cfg_free(a);
	cfg_free(b);
}

static void test_annotations(void **state)
{
	const char *server =
		"{" NOTE ",\"version\":1,\"role\":\"server\",\"socket\":{" NOTE
		",\"group\":\"vpn\"},\"local_networks\":[\"10.1.1.0/24\"],\"tunnel\":{" NOTE
		",\"pool\":\"10.1.2.0/24\"},\"clients\":{" NOTE ",\"a\":{" NOTE
		",\"iroutes\":[\"192.168.1.0/24\"],\"from_local\":[{" NOTE
		",\"to\":\"192.168.1.5\",\"proto\":\"tcp\",\"ports\":[22]}]}},"
		"\"default_client\":{" NOTE ",\"to_local\":[{" NOTE
		",\"to\":\"10.1.1.0/24\"}]},\"nat\":{" NOTE ",\"masquerade\":[{" NOTE
		",\"sources\":[\"10.1.2.0/24\"],\"out_interface\":\"eth0\"}]},\"aws\":{" NOTE
		",\"enabled\":false},\"plugin\":{" NOTE ",\"queue_max\":64}}";
	const char *client =
		"{" NOTE ",\"version\":1,\"role\":\"client\","
		"\"local_networks\":[\"192.168.1.0/24\"],\"to_local\":[{" NOTE
		",\"to\":\"192.168.1.0/24\"}],\"from_local\":[{" NOTE ",\"to\":\"10.1.0.0/16\"}]}";
	char bare[2048];
	const char *s;
	size_t n;

	for (int i = 0; i < 2; i++) {
		const char *text = i ? client : server;

		/* the same text with every NOTE (and the comma after it) cut out */
		n = 0;
		for (s = text; *s;) {
			if (strncmp(s, NOTE ",", strlen(NOTE ",")) == 0) {
				s += strlen(NOTE ",");
				continue;
			}
			bare[n++] = *s++;
		}
		bare[n] = '\0';
		assert_null(strstr(bare, "_comment"));
		same_as(text, bare);
	}
	/* a common name may begin with '_': an object there is a client */
	same_as("{" SRV ",\"clients\":{\"_comment\":\"the lab\",\"_lab\":{}}}",
		"{" SRV ",\"clients\":{\"_lab\":{}}}");
	{
		char err[CFG_ERRLEN];
		const char *t = "{" SRV ",\"clients\":{\"_lab\":{}}}";
		struct cfg *c;

		assert_int_equal(cfg_load_buf("t.conf", t, strlen(t), &c, err, sizeof(err)), 0);
		assert_int_equal(c->nclients, 1);
		assert_string_equal(c->clients[0].name, "_lab");
		cfg_free(c);
	}
}

static void test_file_errors(void **state)
{
	char err[CFG_ERRLEN];
	struct cfg *c;

	assert_int_equal(cfg_load_file("/nonexistent/vpcroute.conf", &c, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "/nonexistent/vpcroute.conf: No such file or directory");
	assert_int_equal(cfg_load_file("/", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
}

static void on_alarm(int sig)
{
	(void)sig;
	fail_msg("cfg_load_file blocked");
}

/* Only regular files, without blocking on a FIFO, of bounded size; the error names the path. */
static void test_file_kinds(void **state)
{
	char dir[] = "/tmp/vr-test-cfg-XXXXXX", path[128], err[CFG_ERRLEN];
	struct cfg *c = NULL;
	int fd;

	assert_non_null(mkdtemp(dir));
	signal(SIGALRM, on_alarm);
	alarm(5); /* a FIFO must not wait for a writer */
	snprintf(path, sizeof(path), "%s/fifo.conf", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(cfg_load_file(path, &c, err, sizeof(err)), -EINVAL);
	alarm(0);
	assert_null(c);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_non_null(strstr(err, "not a regular file (a FIFO)"));
	unlink(path);

	assert_int_equal(cfg_load_file(dir, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file (a directory)"));
	assert_int_equal(cfg_load_file("/dev/null", &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/dev/null: not a regular file (a device)");

	/* larger than CFG_MAX_SIZE: refused before anything is read */
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, CFG_MAX_SIZE + 1), 0);
	close(fd);
	assert_int_equal(cfg_load_file(path, &c, err, sizeof(err)), -EFBIG);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_non_null(strstr(err, "larger than"));
	unlink(path);
	assert_null(c);
	rmdir(dir);
}

/* Standard input and other streams: read to their end, bounded, named as the caller says. */
static void test_load_fd(void **state)
{
	char path[512], big[] = "/tmp/vr-test-cfg-fd-XXXXXX", err[CFG_ERRLEN];
	struct cfg *c = NULL;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/doc/examples/topology-a-server.conf", srcdir());
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(cfg_load_fd(fd, "<stdin>", &c, err, sizeof(err)), 0);
	close(fd);
	assert_non_null(c);
	assert_int_equal(c->role, CFG_ROLE_SERVER);
	cfg_free(c);
	c = NULL;

	/* one byte more than a file may have: refused, by the name given */
	fd = mkstemp(big);
	assert_true(fd >= 0);
	unlink(big);
	assert_int_equal(ftruncate(fd, CFG_MAX_SIZE + 1), 0);
	assert_int_equal(cfg_load_fd(fd, "<stdin>", &c, err, sizeof(err)), -EFBIG);
	assert_string_equal(err, "<stdin>: larger than 1048576 bytes");
	/* at its end: empty, the loader's own error with the name */
	assert_true(cfg_load_fd(fd, "<stdin>", &c, err, sizeof(err)) < 0);
	assert_true(strncmp(err, "<stdin>:", 8) == 0);
	close(fd);
	/* a descriptor that is not open */
	assert_int_equal(cfg_load_fd(fd, "<stdin>", &c, err, sizeof(err)), -EBADF);
	assert_string_equal(err, "<stdin>: Bad file descriptor");
	assert_null(c);
}

/* ipsec.peers keyed by IKE identity: "id:" or anything not an address; the
 * identity's entry before the address's (cfg_peer_lookup). */
static struct pfx addr_of(const char *s)
{
	struct pfx p;

	assert_int_equal(pfx_addr_parse(s, &p), 0);
	return p;
}

#define P(s) (&(struct pfx[]){ addr_of(s) }[0])

static void test_peer_ids(void **state)
{
	static const char text[] =
		"{" SRV ",\"ipsec\":{\"vici_socket\":\"/run/charon.vici\",\"peers\":{"
		"\"203.0.113.7\":{\"allow\":[\"192.168.7.0/24\"]},"
		"\"@site1.example\":{\"allow\":[\"192.168.1.0/24\"]},"
		"\"CN=site2, O=Example\":{\"allow\":[\"192.168.2.0/24\"]},"
		"\"id:203.0.113.9\":{\"allow\":[\"192.168.9.0/24\"]}}}}";
	char err[CFG_ERRLEN], *dump;
	struct cfg *c = NULL;
	const struct cfg_peer *pe;
	const char *id;
	json_t *j;

	if (cfg_load_buf("t.conf", text, strlen(text), &c, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(c->npeers, 4);
	assert_int_equal(c->npeer_ids, 3);
	assert_string_equal(c->vici_socket, "/run/charon.vici");
	pe = cfg_peer_find_id(c, "@site1.example");
	assert_non_null(pe);
	assert_string_equal(pe->pol.name, "@site1.example");
	assert_string_equal(cfg_peer_find_id(c, "203.0.113.9")->pol.name, "id:203.0.113.9");
	assert_string_equal(cfg_peer_find_id(c, "CN=site2, O=Example")->pol.name,
			    "CN=site2, O=Example");
	/* an address-keyed entry is never found by identity, nor the reverse */
	assert_null(cfg_peer_find_id(c, "203.0.113.7"));
	assert_null(cfg_peer_find(c, P("203.0.113.9")));
	/* the identity first, else the address */
	assert_string_equal(cfg_peer_lookup(c, P("203.0.113.7"), "@site1.example")->pol.name,
			    "@site1.example");
	assert_string_equal(cfg_peer_lookup(c, P("203.0.113.7"), "@other")->pol.name,
			    "203.0.113.7");
	assert_string_equal(cfg_peer_lookup(c, P("203.0.113.7"), NULL)->pol.name, "203.0.113.7");
	assert_null(cfg_peer_lookup(c, P("203.0.113.8"), "@other"));
	/* strongSwan reports identities without swanctl.conf's "@" or "@@" */
	assert_string_equal(cfg_peer_find_id(c, "site1.example")->pol.name, "@site1.example");
	assert_string_equal(cfg_id_text("@@user@example.org"), "user@example.org");
	assert_string_equal(cfg_id_text("@#0123"), "@#0123");
	assert_string_equal(cfg_id_text("CN=x"), "CN=x");
	assert_true(cfg_peer_key_id("id:1.2.3.4", &id));
	assert_string_equal(id, "1.2.3.4");
	assert_false(cfg_peer_key_id("1.2.3.4", &id));
	assert_true(cfg_peer_key_id("site1.example", &id));
	assert_false(cfg_peer_key_id("1.2.3.400", &id)); /* a mistyped address */
	/* the normalised form keeps the keys as written, and the socket */
	j = cfg_to_json(c);
	dump = json_dumps(json_object_get(j, "ipsec"), JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(dump, "\"@site1.example\":{\"allow\":[\"192.168.1.0/24\"]"));
	assert_non_null(strstr(dump, "\"id:203.0.113.9\""));
	assert_non_null(strstr(dump, "\"vici_socket\":\"/run/charon.vici\""));
	free(dump);
	json_decref(j);
	cfg_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),	cmocka_unit_test(test_defaults_and_dump),
		cmocka_unit_test(test_bad_configs),	cmocka_unit_test(test_aws_summaries),
		cmocka_unit_test(test_file_errors),	cmocka_unit_test(test_file_kinds),
		cmocka_unit_test(test_annotations),	cmocka_unit_test(test_load_fd),
		cmocka_unit_test(test_tunnel_networks), cmocka_unit_test(test_host_names),
		cmocka_unit_test(test_forwards),	cmocka_unit_test(test_peer_ids),
		cmocka_unit_test(test_offload),
	};

	return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
