// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vpcroutectl's output: the agent's status (doc/status.schema.json) and plan,
 * as tables for people or as JSON for scripts.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "output.h"

const char *output_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

const char *output_route(json_t *r, char *buf, size_t len)
{
	if (strcmp(output_str(r, "type"), "unreachable") == 0)
		snprintf(buf, len, "unreachable %s", output_str(r, "destination"));
	else
		snprintf(buf, len, "%s dev %s", output_str(r, "destination"),
			 output_str(r, "device"));
	return buf;
}

static void print_list(json_t *a, const char *none)
{
	size_t i;
	json_t *v;

	if (!json_array_size(a))
		fputs(none, stdout);
	json_array_foreach(a, i, v)
	{
		printf("%s%s", i ? ", " : "", json_is_string(v) ? json_string_value(v) : "?");
	}
}

static void print_when(json_int_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm))
		fputs(buf, stdout);
	else
		fputs("?", stdout);
}

/* aws.cluster: the tagged interfaces and the routes that moved lately. */
static void print_cluster(json_t *cl)
{
	json_t *e, *m;
	size_t i;

	if (!json_is_object(cl))
		return;
	printf("  cluster %s: %s\n", output_str(cl, "name"),
	       !json_is_true(json_object_get(cl, "peers_known")) ? "peers not known yet"
	       : json_is_true(json_object_get(cl, "tagged"))	 ? "this interface tagged"
								 : "this interface NOT tagged");
	json_array_foreach(json_object_get(cl, "interfaces"), i, e)
		printf("    %-22s %-20s %-12s %-10s %s\n", output_str(e, "network_interface"),
		       output_str(e, "instance"), output_str(e, "availability_zone"),
		       output_str(e, "attachment"),
		       json_is_true(json_object_get(e, "ours"))	       ? "this server"
		       : json_is_true(json_object_get(e, "live_peer")) ? "peer"
								       : "not live");
	json_array_foreach(json_object_get(cl, "moves"), i, m)
		printf("    moved %5.0f s ago: %s in %s %s -> %s (%s)\n",
		       json_number_value(json_object_get(m, "seconds_ago")),
		       output_str(m, "destination"), output_str(m, "table"), output_str(m, "from"),
		       output_str(m, "to"), strcmp(output_str(m, "by"), "us") ? "seen" : "by us");
}

/* aws.summaries, each with what it stands for. */
static void print_summaries(json_t *a)
{
	json_t *v;
	size_t i;

	json_array_foreach(a, i, v)
	{
		long long n = (long long)json_integer_value(json_object_get(v, "networks"));

		printf("  summary %s: %s, %lld network%s inside", output_str(v, "prefix"),
		       output_str(v, "state"), n, n == 1 ? "" : "s");
		if (json_is_string(json_object_get(v, "vpc_cidr_block")))
			printf(" (overlaps the VPC's block %s: each network gets its own route)",
			       output_str(v, "vpc_cidr_block"));
		putchar('\n');
	}
}

static void print_aws(json_t *w)
{
	json_t *t, *r, *c = json_object_get(w, "credentials");
	size_t i, k;

	printf("aws: instance %s, interface %s, %s (", output_str(w, "instance"),
	       output_str(w, "network_interface"), output_str(w, "vpc"));
	print_list(json_object_get(w, "vpc_cidr_blocks"), "-");
	printf("), region %s (%s)%s\n", output_str(w, "region"), output_str(w, "region_source"),
	       json_is_true(json_object_get(w, "dry_run")) ? ", dry run" : "");
	printf("  EC2 endpoint %s, credentials from the %s%s%s\n", output_str(w, "endpoint"),
	       output_str(c, "source"), json_object_get(c, "role") ? ", role " : "",
	       json_object_get(c, "role") ? output_str(c, "role") : "");
	printf("  source/dest check: %s\n", output_str(w, "source_dest_check"));
	print_summaries(json_object_get(w, "summaries"));
	if (strcmp(output_str(w, "routes"), "route-server") == 0)
		printf("  VPC routes: announced by the BGP daemon to VPC Route Server "
		       "(aws.routes \"route-server\"), no route-table call\n");
	else if (strcmp(output_str(w, "routes"), "off") == 0)
		printf("  VPC routes: not made by vpcroute (aws.routes \"off\")\n");
	json_array_foreach(json_object_get(w, "route_tables"), i, t)
	{
		json_t *q = json_object_get(t, "route_quota");

		printf("  route table %s%s, %lld IPv4 and %lld IPv6 routes of %lld allowed:\n",
		       output_str(t, "id"),
		       json_is_true(json_object_get(t, "main")) ? " (main)" : "",
		       (long long)json_integer_value(json_object_get(q, "ipv4")),
		       (long long)json_integer_value(json_object_get(q, "ipv6")),
		       (long long)json_integer_value(json_object_get(q, "limit")));
		if (json_is_string(json_object_get(q, "warning")))
			printf("    WARNING: %s\n", output_str(q, "warning"));
		if (!json_array_size(json_object_get(t, "routes")))
			printf("    (no remote network)\n");
		json_array_foreach(json_object_get(t, "routes"), k, r)
		{
			char st[64];

			snprintf(st, sizeof(st), "%s", output_str(r, "state"));
			if (json_is_integer(json_object_get(r, "withdraw_in_s")))
				snprintf(st + strlen(st), sizeof(st) - strlen(st),
					 " \u2014 withdrawn in %llds",
					 (long long)json_integer_value(
						 json_object_get(r, "withdraw_in_s")));
			printf("    %-20s %-13s %s", output_str(r, "destination"), st,
			       output_str(r, "target"));
			if (json_is_string(json_object_get(r, "target_state")) &&
			    strcmp(output_str(r, "target_state"), "active"))
				printf(" (%s)", output_str(r, "target_state"));
			if (json_is_string(json_object_get(r, "error")))
				printf(": %s", output_str(r, "error"));
			printf("\n");
		}
	}
	print_cluster(json_object_get(w, "cluster"));
	if (json_is_true(json_object_get(w, "withdrawn")))
		printf("  withdrawn (vpcroutectl withdraw): no VPC route is created until a "
		       "reload\n");
	printf("  pending calls: ");
	print_list(json_object_get(w, "pending_calls"), "none");
	printf("\n  in flight: %s; calls %lld (mutating %lld, retries %lld)\n",
	       output_str(w, "in_flight"),
	       (long long)json_integer_value(json_object_get(w, "calls")),
	       (long long)json_integer_value(json_object_get(w, "mutating_calls")),
	       (long long)json_integer_value(json_object_get(w, "retries")));
	printf("  last error: %s\n", output_str(w, "last_error"));
}

/* Whether the instance's plugin runs the configuration the agent runs. */
static void print_plugin_policy(json_t *s, json_t *pp)
{
	if (!json_is_object(pp))
		printf("  configuration: the plugin has not said which it runs\n");
	else if (json_is_true(json_object_get(pp, "matches")))
		printf("  configuration: the plugin runs the agent's (generation %lld)\n",
		       (long long)json_integer_value(json_object_get(s, "config_generation")));
	else
		printf("  configuration: MISMATCH: the plugin runs sha256 %.16s..., the agent "
		       "%.16s... (generation %lld)\n",
		       output_str(pp, "sha256"), output_str(s, "config_sha256"),
		       (long long)json_integer_value(json_object_get(s, "config_generation")));
}

/* port_forwards and connection_log of the status. */
static void print_forwards(json_t *s)
{
	json_t *f, *g = json_object_get(s, "connection_log");
	size_t i;

	json_array_foreach(json_object_get(s, "port_forwards"), i, f)
	{
		printf("port forward %s %lld -> %s:%lld%s%s%s: %s", output_str(f, "proto"),
		       (long long)json_integer_value(json_object_get(f, "port")),
		       output_str(f, "to"),
		       (long long)json_integer_value(json_object_get(f, "to_port")),
		       json_is_string(json_object_get(f, "in_interface")) ? " (on " : "",
		       json_is_string(json_object_get(f, "in_interface"))
			       ? output_str(f, "in_interface")
			       : "",
		       json_is_string(json_object_get(f, "in_interface")) ? ")" : "",
		       output_str(f, "state"));
		if (json_is_integer(json_object_get(f, "packets")))
			printf(", %lld packets",
			       (long long)json_integer_value(json_object_get(f, "packets")));
		if (json_is_true(json_object_get(f, "masquerade")))
			printf(", masqueraded");
		if (json_is_false(json_object_get(f, "reachable")))
			printf(", TARGET NOT REACHED NOW");
		putchar('\n');
	}
	if (!json_is_object(g))
		return;
	printf("connection log: %s",
	       json_is_true(json_object_get(g, "new")) ? "new connections" : "");
	if (json_is_true(json_object_get(g, "drop")))
		printf("%sdrops", json_is_true(json_object_get(g, "new")) ? ", " : "");
	if (!json_is_true(json_object_get(g, "new")) && json_is_true(json_object_get(g, "rules")))
		printf("%sthe new connections of rules with \"log\"",
		       json_is_true(json_object_get(g, "drop")) ? ", " : "");
	printf(", at most %lld/s (burst %lld) per rule, to ",
	       (long long)json_integer_value(json_object_get(g, "rate_per_s")),
	       (long long)json_integer_value(json_object_get(g, "burst")));
	if (json_is_integer(json_object_get(g, "group")))
		printf("NFLOG group %lld\n",
		       (long long)json_integer_value(json_object_get(g, "group")));
	else
		printf("the kernel log\n");
}

/* The flowtable fast path, one line (nothing when not configured). */
static void print_offload(json_t *o)
{
	const char *st = output_str(o, "state");
	json_t *v;
	size_t i;

	if (!json_is_object(o) || strcmp(st, "off") == 0)
		return;
	printf("offload: %s", st);
	if (strcmp(st, "unsupported") == 0)
		printf(" (the kernel: %s)", output_str(o, "kernel"));
	json_array_foreach(json_object_get(o, "devices"), i, v)
		printf("%s%s", i ? ", " : ", devices ", json_string_value(v));
	json_array_foreach(json_object_get(o, "missing"), i, v)
		printf("%s%s", i ? ", " : "; missing ", json_string_value(v));
	putchar('\n');
}

/* One line per host name of the rules: its addresses, state and next lookup. */
static void output_dns_names(json_t *names, const char *indent)
{
	json_t *n, *a;
	size_t i, k;

	json_array_foreach(names, i, n)
	{
		printf("%s%s ->", indent, output_str(n, "name"));
		json_array_foreach(json_object_get(n, "addresses"), k, a) printf(
			"%s %s", k ? "," : "", json_string_value(a) ? json_string_value(a) : "?");
		if (!json_array_size(json_object_get(n, "addresses")))
			printf(" (none)");
		printf(" [%s", output_str(n, "state"));
		if (json_is_integer(json_object_get(n, "ttl_s")))
			printf(", TTL %lld s",
			       (long long)json_integer_value(json_object_get(n, "ttl_s")));
		printf(", next lookup in %lld s",
		       (long long)json_integer_value(json_object_get(n, "next_lookup_in_s")));
		if (json_is_string(json_object_get(n, "error")))
			printf(", last error: %s", output_str(n, "error"));
		printf("]\n");
	}
}

/* A tunnel's IKE_SA as strongSwan's VICI socket lists it, and its policy. */
static void output_ike_sa(json_t *t)
{
	json_t *ike = json_object_get(t, "ike_sa");

	if (json_is_object(ike))
		printf("    IKE_SA %s (%s), remote id %s%s\n", output_str(ike, "name"),
		       output_str(ike, "state"),
		       json_is_string(json_object_get(ike, "remote_id"))
			       ? output_str(ike, "remote_id")
			       : "-",
		       json_is_true(json_object_get(ike, "ambiguous"))
			       ? " (several IKE_SAs from this address and port name different "
				 "identities)"
			       : "");
	if (json_is_string(json_object_get(t, "policy")))
		printf("    policy: ipsec.peers.%s\n", output_str(t, "policy"));
}

/* The agent's VICI client (null: ipsec.vici_socket unset). */
static void output_vici(json_t *v)
{
	if (!json_is_object(v))
		return;
	printf("strongSwan VICI %s: %s, %lld IKE_SA%s listed", output_str(v, "socket"),
	       json_is_true(json_object_get(v, "connected")) ? "connected" : "NOT CONNECTED",
	       (long long)json_integer_value(json_object_get(v, "ike_sas")),
	       json_integer_value(json_object_get(v, "ike_sas")) == 1 ? "" : "s");
	if (json_is_string(json_object_get(v, "error")))
		printf(" (%s)", output_str(v, "error"));
	putchar('\n');
}

/* The IPsec tunnels the agent read from the kernel's XFRM tables. */
static void output_ipsec(json_t *ip)
{
	json_t *t;
	size_t i;

	if (!json_is_object(ip))
		return;
	if (json_is_true(json_object_get(ip, "xfrm")) &&
	    !json_array_size(json_object_get(ip, "tunnels"))) {
		output_vici(json_object_get(ip, "vici"));
		return;
	}
	if (!json_is_true(json_object_get(ip, "xfrm"))) {
		printf("IPsec tunnels: the kernel's XFRM tables cannot be read\n");
		return;
	}
	printf("IPsec tunnels (from the kernel's XFRM tables):\n");
	printf("  %-24s %-19s %-19s %-12s %s\n", "PEER", "NETWORK", "SINCE", "STATE", "LOCAL");
	json_array_foreach(json_object_get(ip, "tunnels"), i, t)
	{
		/* the name: the address, with its port when several peers sit behind it */
		printf("  %-24s %-19s ",
		       output_str(t, json_is_string(json_object_get(t, "name")) ? "name" : "peer"),
		       output_str(t, "network"));
		if (json_is_integer(json_object_get(t, "since")))
			print_when(json_integer_value(json_object_get(t, "since")));
		else
			printf("%-19s", "-");
		printf(" %-12s %s", output_str(t, "state"), output_str(t, "local_network"));
		if (json_is_string(json_object_get(t, "interface")))
			printf(" via %s%s", output_str(t, "interface"),
			       json_is_true(json_object_get(t, "from_allow")) ? " (from allow)"
									      : "");
		putchar('\n');
		output_ike_sa(t);
		if (json_is_string(json_object_get(t, "refusal")))
			printf("    REFUSED: %s\n", output_str(t, "refusal"));
	}
	output_vici(json_object_get(ip, "vici"));
	json_array_foreach(json_object_get(ip, "peers"), i, t)
	{
		static const char *const keys[][2] = { { "udp500", "UDP 500" },
						       { "udp4500", "UDP 4500" },
						       { "esp", "ESP" } };
		json_t *g = json_object_get(t, "security_groups");

		if (json_is_null(json_object_get(t, "peer")) &&
		    json_is_string(json_object_get(t, "id"))) {
			printf("  security groups, from %s: its address is not known yet\n",
			       output_str(t, "id"));
			continue;
		}
		if (!json_is_boolean(json_object_get(g, "udp500")))
			continue; /* the groups are not known */
		printf("  security groups, from %s", output_str(t, "peer"));
		if (json_is_string(json_object_get(t, "id")))
			printf(" (%s)", output_str(t, "id"));
		putchar(':');
		for (size_t k = 0; k < 3; k++)
			printf(" %s %s%s", keys[k][1],
			       json_is_true(json_object_get(g, keys[k][0])) ? "open" : "CLOSED",
			       k < 2 ? "," : "\n");
	}
}

void output_status(json_t *s)
{
	json_t *in, *c, *r, *sets = json_object_get(json_object_get(s, "nftables"), "set_elements");
	const char *key;
	char rt[OUTPUT_ROUTE_LEN];
	json_t *v;
	size_t i, k;
	long long up = (long long)(time(NULL) - json_integer_value(json_object_get(s, "started")));

	printf("vpcroute-agent %s (pid %lld), %s role, up %lldh%02lldm, configuration %s%s\n",
	       output_str(s, "version"), (long long)json_integer_value(json_object_get(s, "pid")),
	       output_str(s, "role"), up / 3600, up / 60 % 60, output_str(s, "config"),
	       json_is_true(json_object_get(s, "in_grace")) ? " (start-up grace period)" : "");
	printf("local networks: ");
	print_list(json_object_get(s, "local_networks"), "none");
	putchar('\n');
	json_array_foreach(json_object_get(s, "instances"), i, in)
	{
		json_t *cl = json_object_get(in, "clients");

		printf("instance %s (%s role): plugin %s, tunnel %s", output_str(in, "name"),
		       output_str(in, "role"),
		       json_is_true(json_object_get(in, "plugin_connected")) ? "connected"
									     : "not connected",
		       output_str(in, "device"));
		if (json_object_get(in, "pushed_routes")) {
			printf(" %s, pushed routes ",
			       json_is_true(json_object_get(in, "tunnel_up")) ? "up" : "down");
			print_list(json_object_get(in, "pushed_routes"), "none");
		}
		printf(", %zu client%s\n", json_array_size(cl),
		       json_array_size(cl) == 1 ? "" : "s");
		print_plugin_policy(s, json_object_get(in, "plugin_policy"));
		if (json_array_size(cl))
			printf("  %-24s %-15s %-19s %s\n", "CLIENT", "TUNNEL", "SINCE", "NETWORKS");
		json_array_foreach(cl, k, c)
		{
			printf("  %-24s %-15s ", output_str(c, "cn"), output_str(c, "tunnel4"));
			print_when(json_integer_value(json_object_get(c, "since")));
			putchar(' ');
			print_list(json_object_get(c, "networks"), "-");
			if (json_is_false(json_object_get(c, "allowed")))
				printf("\n    NOT ALLOWED by the configuration now in effect: %s",
				       output_str(c, "refusal"));
			if (json_is_string(json_object_get(c, "state")) &&
			    strcmp(output_str(c, "state"), "programmed"))
				printf(" [%s%s%s]", output_str(c, "state"),
				       json_is_string(json_object_get(c, "error")) ? ": " : "",
				       json_is_string(json_object_get(c, "error"))
					       ? output_str(c, "error")
					       : "");
			putchar('\n');
		}
	}
	output_ipsec(json_object_get(s, "ipsec"));
	printf("kernel routes (proto vpcroute): ");
	if (!json_array_size(json_object_get(s, "routes")))
		printf("%s", json_is_string(json_object_get(s, "routes_error"))
				     ? output_str(s, "routes_error")
				     : "none");
	json_array_foreach(json_object_get(s, "routes"), i, r)
	{
		printf("%s%s%s", i ? ", " : "", output_route(r, rt, sizeof(rt)),
		       strcmp(output_str(r, "state"), "not wanted") ? "" : " (not wanted)");
	}
	printf("\nwanted, not in the kernel: ");
	if (!json_array_size(json_object_get(s, "routes_missing")))
		printf("none");
	json_array_foreach(json_object_get(s, "routes_missing"), i, r)
	{
		printf("%s%s (%s%s%s)", i ? ", " : "", output_route(r, rt, sizeof(rt)),
		       output_str(r, "state"),
		       json_is_string(json_object_get(r, "error")) ? ": " : "",
		       json_is_string(json_object_get(r, "error")) ? output_str(r, "error") : "");
	}
	printf("\nleft to routes of other protocols: ");
	print_list(json_object_get(s, "routes_left_to_others"), "none");
	printf("\nnftables %s: %s", output_str(json_object_get(s, "nftables"), "table"),
	       json_is_true(json_object_get(json_object_get(s, "nftables"), "built"))
		       ? "built"
		       : "not built");
	if (json_is_string(json_object_get(json_object_get(s, "nftables"), "state")))
		printf(" (%s)", output_str(json_object_get(s, "nftables"), "state"));
	printf("; elements as read:");
	json_object_foreach(sets, key, v)
	{
		printf(" %s %lld", key, (long long)json_integer_value(v));
	}
	putchar('\n');
	json_array_foreach(json_object_get(s, "foreign_nat"), i, v)
	{
		printf("foreign NAT rule in %s %s, chain %s (priority %lld), handle %lld: %s%s\n",
		       output_str(v, "family"), output_str(v, "table"), output_str(v, "chain"),
		       (long long)json_integer_value(json_object_get(v, "priority")),
		       (long long)json_integer_value(json_object_get(v, "handle")),
		       output_str(v, "rule"),
		       json_is_true(json_object_get(v, "before_exemptions"))
			       ? " (runs before the exemptions: can rewrite tunnel traffic)"
			       : "");
	}
	print_forwards(s);
	print_offload(json_object_get(s, "offload"));
	if (json_array_size(json_object_get(json_object_get(s, "dns"), "names"))) {
		printf("host names of the rules:\n");
		output_dns_names(json_object_get(json_object_get(s, "dns"), "names"), "  ");
	}
	if (json_is_object(json_object_get(s, "aws")))
		print_aws(json_object_get(s, "aws"));
	else
		printf("aws: off\n");
}

void output_plan(json_t *s)
{
	json_t *p = json_object_get(s, "plan"), *w = json_object_get(s, "aws"), *v;
	char rt[OUTPUT_ROUTE_LEN];
	size_t i, n = 0;

	if (json_is_string(json_object_get(p, "error")))
		printf("kernel: %s\n", output_str(p, "error"));
	json_array_foreach(json_object_get(p, "routes_to_add"), i, v)
	{
		printf("kernel: add route %s\n", output_route(v, rt, sizeof(rt)));
		n++;
	}
	json_array_foreach(json_object_get(p, "routes_to_remove"), i, v)
	{
		printf("kernel: remove route %s\n", json_string_value(v));
		n++;
	}
	if (json_is_string(json_object_get(p, "nftables"))) {
		printf("nftables: %s\n", output_str(p, "nftables"));
		n++;
	}
	json_array_foreach(json_object_get(w, "pending_calls"), i, v)
	{
		printf("aws: %s\n", json_string_value(v));
		n++;
	}
	json_array_foreach(json_object_get(s, "port_forwards"), i, v)
	{
		if (strcmp(output_str(v, "state"), "programmed"))
			printf("note: port forward %s %lld is %s\n", output_str(v, "proto"),
			       (long long)json_integer_value(json_object_get(v, "port")),
			       output_str(v, "state"));
	}
	if (!n)
		printf("nothing to change\n");
	output_dns_names(json_object_get(json_object_get(s, "dns"), "names"), "dns: ");
}

void output_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	fputc('\n', stdout);
}
