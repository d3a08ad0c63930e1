// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vpcroutectl doctor: checks this host (its /proc and /sys) and what the
 * agent reports, and explains each problem in plain words with the way out.
 */
#include "config.h"

#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bird.h"
#include "cfg.h"
#include "client.h"
#include "doctor.h"
#include "output.h"

struct diag {
	unsigned problems;
	json_t *findings; /* --json: the findings, printed at the end; NULL: lines now */
	bool colour;	  /* ok and PROBLEM in colour: a terminal, and no NO_COLOR */
	json_t *bgp;	  /* --json, route-server mode: the BGP daemon's sessions */
};

static void say(struct diag *d, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct diag *d, const char *level, const char *fmt, ...)
{
	va_list ap;

	if (strcmp(level, "PROBLEM") == 0)
		d->problems++;
	if (d->findings) {
		char *msg = NULL;

		va_start(ap, fmt);
		if (vasprintf(&msg, fmt, ap) < 0)
			msg = NULL;
		va_end(ap);
		/* "ok", "note", "problem" */
		json_array_append_new(d->findings,
				      json_pack("{s:s, s:s}", "level",
						strcmp(level, "PROBLEM") ? level : "problem",
						"message", msg ? msg : "(out of memory)"));
		free(msg);
		return;
	}
	if (d->colour && strcmp(level, "note"))
		printf("\033[%sm%-8s\033[0m ", strcmp(level, "ok") ? "1;31" : "32", level);
	else
		printf("%-8s ", level);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* The interface of the IPv4 default route, from /proc/net/route. */
static bool default_dev(char *dev, size_t len)
{
	FILE *f = fopen("/proc/net/route", "r");
	char line[256], ifn[IF_NAMESIZE + 1];
	unsigned long dst, mask;
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%16s %lx %*x %*x %*d %*d %*d %lx", ifn, &dst, &mask) == 3 &&
		    dst == 0 && mask == 0) {
			snprintf(dev, len, "%s", ifn);
			found = true;
		}
	fclose(f);
	return found;
}

static void doctor_mtu(struct diag *d, const char *tun)
{
	char path[128], up[IF_NAMESIZE + 1];
	long tmtu, umtu;

	snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", tun);
	tmtu = read_long(path);
	if (tmtu < 0 || !default_dev(up, sizeof(up)))
		return;
	snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", up);
	umtu = read_long(path);
	/* OpenVPN over UDP adds about 69 bytes: IPv4 20, UDP 8, its own 41 (AEAD) */
	if (umtu > 0 && tmtu + 69 > umtu)
		say(d, "note",
		    "MTU: %s carries %ld-byte packets but leaves through %s (MTU %ld): full-size "
		    "packets are fragmented after encryption. TCP is fine with OpenVPN's mssfix; "
		    "if other traffic stalls, lower tun-mtu to %ld.",
		    tun, tmtu, up, umtu, umtu - 69);
	else if (umtu > 0)
		say(d, "ok", "MTU: %s (%ld) fits through %s (%ld) after encryption", tun, tmtu, up,
		    umtu);
}

/* --- EC2's addressing rules --- */

/* Which of the addresses EC2 reserves in subnet s the host a is: 0-3 (the
 * network, the VPC router, DNS, future use), 4 (the last), or -1. */
static int reserved_index(const struct pfx *s, const struct pfx *a)
{
	unsigned bits = s->family == AF_INET ? 32 : 128, low = 0;
	bool ones = true;

	if (a->family != s->family || a->len != bits || (unsigned)s->len + 3 > bits ||
	    !pfx_contains(s, a))
		return -1;
	for (unsigned i = s->len; i < bits; i++) {
		bool bit = a->addr[i / 8] & (0x80 >> (i % 8));

		ones &= bit;
		if (bit && i < bits - 2)
			low = 4; /* above the two lowest bits: not one of the first four */
		else if (bit)
			low |= 1u << (bits - 1 - i);
	}
	return ones ? 4 : low < 4 ? (int)low : -1;
}

static void say_reserved(const struct pfx *a, const char *what, const struct pfx_list *subnets,
			 doctor_finding_fn *fn, void *ctx)
{
	static const char *const which[] = { "the network address", "the VPC router's address",
					     "reserved by AWS (DNS)", "reserved for future use",
					     "the broadcast address" };
	char text[512], x[PFX_STRLEN], s[PFX_STRLEN];

	for (size_t i = 0; i < subnets->n; i++) {
		int k = reserved_index(&subnets->v[i], a);

		if (k < 0)
			continue;
		snprintf(text, sizeof(text),
			 "%s %s is %s of %s: EC2 reserves the first four and the last address of "
			 "every subnet, so if %s is a subnet no host has that address",
			 what, pfx_format_addr(a, x, sizeof(x)), which[k],
			 pfx_format(&subnets->v[i], s, sizeof(s)), s);
		fn(ctx, false, NULL, text);
		return;
	}
}

static void rules_reserved(const struct cfg_access *ac, const char *what,
			   const struct pfx_list *subnets, doctor_finding_fn *fn, void *ctx)
{
	for (size_t i = 0; ac->kind == CFG_ACCESS_RULES && i < ac->nrules; i++)
		if (!ac->rules[i].to_name) /* a name's addresses are the resolver's */
			say_reserved(&ac->rules[i].to, what, subnets, fn, ctx);
}

static void say_inside(const struct pfx *p, const char *what, const char *key,
		       const struct pfx_list *blocks, doctor_finding_fn *fn, void *ctx)
{
	char text[512], n[PFX_STRLEN], b[PFX_STRLEN];
	const struct pfx *o = pfx_list_overlap(blocks, p);

	if (!o || !pfx_contains(o, p))
		return;
	snprintf(text, sizeof(text),
		 "%s %s lies inside the VPC's CIDR block %s: EC2 refuses a VPC route there "
		 "unless it is exactly a subnet's CIDR, and the VPC's local route claims those "
		 "addresses. Use a network outside every block of the VPC (guide A: VPC "
		 "10.1.0.0/23, tunnel pool 10.1.2.0/24).",
		 what, pfx_format(p, n, sizeof(n)), pfx_format(o, b, sizeof(b)));
	fn(ctx, true, key, text);
}

void doctor_addressing(const struct cfg *c, const struct pfx_list *blocks,
		       const struct pfx_list *wanted, doctor_finding_fn *fn, void *ctx)
{
	struct pfx_list subnets = { 0 };
	struct pfx *v;
	char what[128], key[160];

	if (blocks) {
		if (c && c->has_pool)
			say_inside(&c->pool, "the tunnel pool", "tunnel.pool", blocks, fn, ctx);
		if (c && c->has_pool6)
			say_inside(&c->pool6, "the tunnel pool", "tunnel.pool6", blocks, fn, ctx);
		for (size_t i = 0; c && i <= c->nclients; i++) {
			const struct cfg_client *k =
				i < c->nclients ? &c->clients[i] : c->default_client;

			for (size_t j = 0; k && j < k->iroutes.n; j++) {
				snprintf(what, sizeof(what), "client %s: iroute",
					 k->name ? k->name : "default");
				if (k->name)
					snprintf(key, sizeof(key), "clients.%s.iroutes[%zu]",
						 k->name, j);
				else
					snprintf(key, sizeof(key), "default_client.iroutes[%zu]",
						 j);
				say_inside(&k->iroutes.v[j], what, key, blocks, fn, ctx);
			}
		}
		for (size_t i = 0; wanted && i < wanted->n; i++)
			if (!c || !c->has_pool || !pfx_equal(&wanted->v[i], &c->pool))
				say_inside(&wanted->v[i], "the remote network", NULL, blocks, fn,
					   ctx);
	}
	if (!c)
		return;
	/* the local networks and the VPC's blocks, each maybe a subnet */
	v = calloc(c->local.n + (blocks ? blocks->n : 0) + 1, sizeof(*v));
	if (!v)
		return;
	subnets.v = v;
	for (size_t i = 0; !c->local_auto && i < c->local.n; i++)
		v[subnets.n++] = c->local.v[i];
	for (size_t i = 0; blocks && i < blocks->n; i++)
		v[subnets.n++] = blocks->v[i];
	for (size_t i = 0; i < c->nnat; i++)
		if (c->nat[i].has_snat_to) {
			snprintf(what, sizeof(what), "nat[%zu].snat_to", i);
			say_reserved(&c->nat[i].snat_to, what, &subnets, fn, ctx);
		}
	for (size_t i = 0; i <= c->nclients; i++) {
		const struct cfg_client *k = i < c->nclients ? &c->clients[i] : c->default_client;

		if (!k)
			continue;
		snprintf(what, sizeof(what), "client %s: access rule to",
			 k->name ? k->name : "default");
		rules_reserved(&k->to_local, what, &subnets, fn, ctx);
	}
	rules_reserved(&c->to_local, "access rule to", &subnets, fn, ctx);
	free(v);
}

struct doctor_ctx {
	struct diag *d;
};

static void doctor_finding(void *ctx, bool problem, const char *key, const char *text)
{
	(void)key;
	say(((struct doctor_ctx *)ctx)->d, problem ? "PROBLEM" : "note", "aws: %s", text);
}

/* The wanted networks of the status (every table), and the VPC's blocks. */
static void doctor_aws_addressing(struct diag *d, json_t *w, const struct cfg *c)
{
	struct pfx_list blocks = { 0 }, wanted = { 0 };
	struct doctor_ctx x = { d };
	json_t *t, *r, *b;
	size_t i, k, n = 0;
	char e[PFX_ERRLEN];
	struct pfx p;

	blocks.v = calloc(json_array_size(json_object_get(w, "vpc_cidr_blocks")) + 1, sizeof(p));
	json_array_foreach(json_object_get(w, "route_tables"), i, t) n +=
		json_array_size(json_object_get(t, "routes"));
	wanted.v = calloc(n + 1, sizeof(p));
	if (!blocks.v || !wanted.v)
		goto out;
	json_array_foreach(json_object_get(w, "vpc_cidr_blocks"), i,
			   b) if (pfx_parse(json_string_value(b) ? json_string_value(b) : "", 0, &p,
					    e, sizeof(e)) == 0) blocks.v[blocks.n++] = p;
	json_array_foreach(json_object_get(w, "route_tables"), i, t)
	{
		json_array_foreach(json_object_get(t, "routes"), k, r)
		{
			const char *st = output_str(r, "state");

			if (strcmp(st, "withdrawing") == 0 || strcmp(st, "ours, not wanted") == 0 ||
			    pfx_parse(output_str(r, "destination"), 0, &p, e, sizeof(e)) < 0 ||
			    pfx_list_contains(&wanted, &p))
				continue;
			wanted.v[wanted.n++] = p;
		}
	}
	doctor_addressing(c, &blocks, &wanted, doctor_finding, &x);
out:
	free(blocks.v);
	free(wanted.v);
}

/* The states of a VPC route that replacement and retirement added. */
static void doctor_aws_route(struct diag *d, json_t *t, json_t *r)
{
	const char *st = output_str(r, "state"), *dst = output_str(r, "destination"),
		   *id = output_str(t, "id");

	if (strcmp(st, "to replace") == 0)
		say(d, "note",
		    "aws: route table %s sends %s to %s, which is gone (blackhole: a replaced "
		    "instance); the agent replaces it with a route to this instance",
		    id, dst, output_str(r, "target"));
	else if (strcmp(st, "over quota") == 0)
		say(d, "PROBLEM",
		    "aws: route table %s has no route for %s: the table holds as many routes as "
		    "aws.route_quota allows, so the agent does not ask EC2 for it. Announce the "
		    "client networks as one route with aws.summaries, or have the quota raised "
		    "and set aws.route_quota.",
		    id, dst);
	else if (strcmp(st, "failed") == 0)
		say(d, "PROBLEM",
		    "aws: route table %s: EC2 refused the route for %s: %s. The agent tries "
		    "again at the next drift check.",
		    id, dst, output_str(r, "error"));
	else if (strcmp(st, "at peer") == 0)
		say(d, "ok",
		    "aws: route table %s sends %s to %s, a peer of the cluster: its client's "
		    "connection there is newer; this agent leaves it alone",
		    id, dst, output_str(r, "target"));
	else if (strcmp(st, "to claim") == 0)
		say(d, "note",
		    "aws: route table %s sends %s to peer %s, but the client connected here "
		    "since: the agent takes the route (the newest connection wins)",
		    id, dst, output_str(r, "target"));
	else if (strcmp(st, "ours, not wanted") == 0) {
		char when[96] = "at the next drift check (its DeleteRoute failed)";
		json_t *in = json_object_get(r, "withdraw_in_s");

		if (json_is_integer(in))
			snprintf(when, sizeof(when),
				 "in %llds (aws.withdraw_grace_s from when it first saw it)",
				 (long long)json_integer_value(in));
		say(d, "note",
		    "aws: route table %s sends %s to this instance, but no policy allows that "
		    "network: ours, not wanted (a leftover of an earlier run). The agent "
		    "withdraws it %s unless a policy allows it by then; `vpcroutectl withdraw "
		    "--unwanted` removes it now. "
		    "A route through this instance that must stay needs a default route or another "
		    "target.",
		    id, dst, when);
	}
}

/* A table near or past its route quota (aws.route_quota). */
static void doctor_aws_quota(struct diag *d, json_t *t)
{
	json_t *q = json_object_get(t, "route_quota");

	if (json_is_string(json_object_get(q, "warning")))
		say(d, json_is_true(json_object_get(q, "over")) ? "PROBLEM" : "note", "aws: %s",
		    output_str(q, "warning"));
}

/* aws.summaries: what each one stands for, and those the VPC's blocks rule out. */
static void doctor_aws_summaries(struct diag *d, json_t *w)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(w, "summaries"), i, v)
	{
		long long n = (long long)json_integer_value(json_object_get(v, "networks"));

		if (json_is_string(json_object_get(v, "vpc_cidr_block")))
			say(d, "PROBLEM",
			    "aws: the summary %s overlaps the VPC's CIDR block %s, so it is not "
			    "used: each network inside it gets its own route. Remove it from "
			    "aws.summaries or make it smaller.",
			    output_str(v, "prefix"), output_str(v, "vpc_cidr_block"));
		else if (n && !strcmp(output_str(v, "state"), "withdrawn"))
			say(d, "note",
			    "aws: the summary %s stands for %lld network%s, but its routes were "
			    "withdrawn (vpcroutectl withdraw); a reload announces it again",
			    output_str(v, "prefix"), n, n == 1 ? "" : "s");
		else if (n)
			say(d, "ok",
			    "aws: the summary %s stands for %lld network%s, one route per table",
			    output_str(v, "prefix"), n, n == 1 ? "" : "s");
	}
}

/* aws.cluster: our tag, the peers seen, the routes that moved lately. */
static void doctor_cluster(struct diag *d, json_t *cl)
{
	json_t *e, *m;
	size_t i, live = 0;

	if (!json_is_object(cl))
		return;
	if (!json_is_true(json_object_get(cl, "peers_known"))) {
		say(d, "note",
		    "aws: cluster %s: the peers are not known yet (DescribeNetworkInterfaces "
		    "with the tag vpcroute:cluster=%s; the IAM policy needs it)",
		    output_str(cl, "name"), output_str(cl, "name"));
		return;
	}
	if (!json_is_true(json_object_get(cl, "tagged")))
		say(d, "PROBLEM",
		    "aws: cluster %s: this instance's network interface lacks the tag "
		    "vpcroute:cluster=%s, so its peers count its routes as conflicts. The agent "
		    "adds it (ec2:CreateTags; see the last error) or tag it by hand.",
		    output_str(cl, "name"), output_str(cl, "name"));
	json_array_foreach(json_object_get(cl, "interfaces"), i, e)
	{
		if (!json_is_true(json_object_get(e, "live_peer")))
			continue;
		live++;
		say(d, "ok", "aws: cluster %s: peer %s (instance %s, %s)", output_str(cl, "name"),
		    output_str(e, "network_interface"), output_str(e, "instance"),
		    output_str(e, "availability_zone"));
	}
	if (!live)
		say(d, "note",
		    "aws: cluster %s: no live peer (no other attached interface with the tag): "
		    "this server is alone",
		    output_str(cl, "name"));
	json_array_foreach(json_object_get(cl, "moves"), i, m)
		say(d, "note", "aws: cluster %s: %.0f s ago %s %s in %s: %s -> %s",
		    output_str(cl, "name"), json_number_value(json_object_get(m, "seconds_ago")),
		    strcmp(output_str(m, "by"), "us") ? "a peer moved" : "we moved",
		    output_str(m, "destination"), output_str(m, "table"), output_str(m, "from"),
		    output_str(m, "to"));
}

static void doctor_aws(struct diag *d, json_t *w)
{
	const char *sdc = output_str(w, "source_dest_check"), *err = output_str(w, "last_error"),
		   *mode = output_str(w, "routes");
	json_t *t, *r;
	size_t i, k;

	if (!json_is_string(json_object_get(w, "network_interface"))) {
		say(d, "PROBLEM",
		    "aws: the agent does not know its network interface yet: the instance metadata "
		    "service did not answer (last error: %s)",
		    err);
		return;
	}
	if (strcmp(sdc, "on") == 0)
		say(d, "PROBLEM",
		    "aws: the source/dest check of %s is on: EC2 drops everything the instance "
		    "forwards. The agent turns it off unless aws.disable_source_dest_check is "
		    "false "
		    "or it runs with --dry-run (last error: %s).",
		    output_str(w, "network_interface"), err);
	else if (strcmp(sdc, "off") == 0)
		say(d, "ok", "aws: the source/dest check of %s is off",
		    output_str(w, "network_interface"));
	else
		say(d, "note", "aws: the source/dest check of %s is not known yet",
		    output_str(w, "network_interface"));
	if (strcmp(mode, "route-server") == 0 || strcmp(mode, "off") == 0) {
		say(d, "note", "aws: routes \"%s\": the agent makes no route-table call; %s", mode,
		    strcmp(mode, "off") ? "the BGP daemon announces the routes to VPC Route Server"
					: "someone else must route the remote networks to this "
					  "instance");
		goto errors;
	}
	if (!json_array_size(json_object_get(w, "route_tables")))
		say(d, "PROBLEM",
		    "aws: no VPC route table to program: with route_tables \"auto\" the VPC's main "
		    "table and the tables associated with its subnets are used; with a list, check "
		    "the ids (last error: %s)",
		    err);
	json_array_foreach(json_object_get(w, "route_tables"), i, t)
	{
		unsigned ok = 0;

		json_array_foreach(json_object_get(t, "routes"), k, r)
		{
			const char *st = output_str(r, "state"),
				   *dst = output_str(r, "destination");

			if (strcmp(st, "ours") == 0)
				ok++;
			else if (strcmp(st, "missing") == 0)
				say(d, "PROBLEM",
				    "aws: route table %s has no route for %s: hosts behind it "
				    "cannot "
				    "reach that network. The agent adds it (pending: it may be "
				    "backing "
				    "off; last error: %s).",
				    output_str(t, "id"), dst, err);
			else if (strcmp(st, "conflict") == 0)
				say(d, "PROBLEM",
				    "aws: route table %s sends %s to %s, not to this instance: the "
				    "agent leaves a route it does not own alone. Remove it, or set "
				    "aws.takeover to true.",
				    output_str(t, "id"), dst, output_str(r, "target"));
			else if (strcmp(st, "to take over") == 0)
				say(d, "note", "aws: route table %s: %s will be taken over from %s",
				    output_str(t, "id"), dst, output_str(r, "target"));
			else
				doctor_aws_route(d, t, r);
		}
		if (ok)
			say(d, "ok", "aws: route table %s sends %u network%s to this instance",
			    output_str(t, "id"), ok, ok == 1 ? "" : "s");
		doctor_aws_quota(d, t);
	}
	doctor_aws_summaries(d, w);
	doctor_cluster(d, json_object_get(w, "cluster"));
	if (json_is_true(json_object_get(w, "withdrawn")))
		say(d, "PROBLEM",
		    "aws: the VPC routes were withdrawn (vpcroutectl withdraw) and the agent "
		    "creates none until `vpcroutectl reload`: hosts in the VPC cannot reach the "
		    "remote networks through this instance");
errors:
	if (json_is_string(json_object_get(w, "last_error")))
		say(d, "note", "aws: the last EC2 or metadata error: %s", err);
}

/*
 * Route-server mode: each BGP session of the daemon, read from BIRD's control
 * socket, and how many routes it exports (the kernel routes of protocol 212).
 */
static void doctor_bgp(struct diag *d, const char *path, unsigned kernel_routes)
{
	struct bird_sessions ss = { 0 };
	char err[BIRD_ERRLEN], *reply = NULL;
	json_t *sessions = json_array();
	unsigned up = 0;
	size_t len;

	if (d->findings)
		d->bgp = json_pack("{s:s, s:o}", "socket", path, "sessions", sessions);
	else
		json_decref(sessions);
	if (bird_query(path, "show protocols all", 5000, &reply, &len, err, sizeof(err)) < 0) {
		say(d, "PROBLEM",
		    "bgp: cannot read BIRD's sessions (%s): nothing announces this instance's "
		    "networks to VPC Route Server. Is bird running (systemctl status bird), with "
		    "the configuration of `vpcroutectl bgp-config`? Another control socket is "
		    "aws.bgp_socket.",
		    err);
		return;
	}
	if (bird_parse_protocols(reply, len, &ss, err, sizeof(err)) < 0) {
		say(d, "PROBLEM", "bgp: %s: BIRD's reply to \"show protocols all\": %s", path, err);
		goto out;
	}
	if (!ss.n)
		say(d, "PROBLEM",
		    "bgp: BIRD (%s) has no BGP protocol: nothing announces this instance's "
		    "networks; configure the route-server endpoints as peers (vpcroutectl "
		    "bgp-config)",
		    path);
	for (size_t i = 0; i < ss.n; i++) {
		const struct bird_session *b = &ss.v[i];
		bool est = strcmp(b->bgp_state, "Established") == 0;

		if (d->bgp)
			json_array_append_new(
				json_object_get(d->bgp, "sessions"),
				json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s*}", "name",
					  b->name, "state", b->state, "bgp_state", b->bgp_state,
					  "neighbor", b->neighbor, "neighbor_as",
					  (json_int_t)b->neighbor_as, "local_as",
					  (json_int_t)b->local_as, "exported",
					  (json_int_t)b->exported, "imported",
					  (json_int_t)b->imported, "last_error",
					  b->last_error[0] ? b->last_error : NULL));
		if (est) {
			up++;
			say(d, "ok",
			    "bgp: session %s with %s (AS %llu) established, %llu route%s exported",
			    b->name, b->neighbor, b->neighbor_as, b->exported,
			    b->exported == 1 ? "" : "s");
			/* the pools come on top of the kernel routes of protocol 212 */
			if (b->exported < kernel_routes)
				say(d, "note",
				    "bgp: session %s exports %llu route%s, fewer than the %u the "
				    "agent installed (protocol vpcroute): check the export filter "
				    "(krt_source = 212) of `vpcroutectl bgp-config`",
				    b->name, b->exported, b->exported == 1 ? "" : "s",
				    kernel_routes);
		} else {
			say(d, "PROBLEM",
			    "bgp: session %s with %s (AS %llu) is %s (%s)%s%s: the route server "
			    "endpoint behind it does not hear this instance's networks. Check "
			    "the route server peer's address and ASN, and the security groups "
			    "(TCP 179, UDP 3784 for BFD)",
			    b->name, b->neighbor[0] ? b->neighbor : "?", b->neighbor_as,
			    b->bgp_state[0] ? b->bgp_state : "not established", b->state,
			    b->last_error[0] ? "; last error: " : "", b->last_error);
		}
	}
	if (ss.n && !up)
		say(d, "PROBLEM",
		    "bgp: no session established: the VPC route tables lose this instance's "
		    "networks");
out:
	bird_sessions_free(&ss);
	free(reply);
}

/* Whether the interface's security groups let OpenVPN's port in (from anywhere). */
static void doctor_groups(struct diag *d, json_t *s)
{
	json_t *sg = json_object_get(json_object_get(s, "aws"), "security_groups"), *in;
	size_t i;

	if (!json_is_object(sg)) {
		say(d, "note",
		    "aws: the security groups are not read yet (at start and every "
		    "drift check)");
		return;
	}
	if (json_is_string(json_object_get(sg, "error"))) {
		say(d, "note",
		    "aws: the security groups could not be read (%s): check by hand that "
		    "OpenVPN's port is open (the IAM policy needs ec2:DescribeSecurityGroups)",
		    output_str(sg, "error"));
		return;
	}
	json_array_foreach(json_object_get(s, "instances"), i, in)
	{
		json_t *l = json_object_get(in, "listen"), *allow;

		if (!json_is_object(l) || strcmp(output_str(in, "role"), "server"))
			continue;
		allow = json_object_get(l, "security_groups_allow");
		if (json_is_true(allow))
			say(d, "ok",
			    "aws: the security groups let %s/%lld in (OpenVPN instance %s)",
			    output_str(l, "proto"),
			    (long long)json_integer_value(json_object_get(l, "port")),
			    output_str(in, "name"));
		else if (json_is_false(allow))
			say(d, "PROBLEM",
			    "aws: no inbound rule of the instance's security groups lets %s/%lld "
			    "in, "
			    "where OpenVPN instance %s listens: no client can connect. Add a rule "
			    "for that protocol and port from the clients' addresses.",
			    output_str(l, "proto"),
			    (long long)json_integer_value(json_object_get(l, "port")),
			    output_str(in, "name"));
	}
}

/* The kernel routes of protocol vpcroute that the agent wants, as it read them. */
static unsigned kernel_routes(json_t *s)
{
	unsigned n = 0;
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(s, "routes"), i, r) n +=
		strcmp(output_str(r, "state"), "not wanted") != 0;
	return n;
}

/* What the kernel holds now against what the agent wants: routes, clients, table. */
static void doctor_kernel(struct diag *d, json_t *s)
{
	json_t *nft = json_object_get(s, "nftables"), *r, *in, *c;
	const char *st = output_str(nft, "state");
	char rt[OUTPUT_ROUTE_LEN];
	unsigned ok = 0;
	size_t i, k;

	json_array_foreach(json_object_get(s, "routes"), i, r)
	{
		if (strcmp(output_str(r, "state"), "not wanted") == 0)
			say(d, "note",
			    "route %s of protocol vpcroute is not wanted: the agent removes it",
			    output_route(r, rt, sizeof(rt)));
		else
			ok++;
	}
	json_array_foreach(json_object_get(s, "routes_missing"), i, r)
	{
		if (strcmp(output_str(r, "state"), "failed") == 0)
			say(d, "PROBLEM",
			    "route %s failed: %s. The agent retries with back-off, and at "
			    "once when the device appears.",
			    output_route(r, rt, sizeof(rt)), output_str(r, "error"));
		else
			say(d, "PROBLEM",
			    "route %s is missing from the kernel (removed behind the agent's "
			    "back): the agent puts it back",
			    output_route(r, rt, sizeof(rt)));
	}
	if (json_is_string(json_object_get(s, "routes_error")))
		say(d, "PROBLEM", "kernel routes: %s", output_str(s, "routes_error"));
	else if (ok)
		say(d, "ok", "kernel: %u route%s installed as wanted", ok, ok == 1 ? "" : "s");
	json_array_foreach(json_object_get(s, "instances"), i, in)
	{
		json_array_foreach(json_object_get(in, "clients"), k, c)
		{
			if (strcmp(output_str(c, "state"), "failed") == 0)
				say(d, "PROBLEM",
				    "client %s of %s is not programmed: %s (OpenVPN admitted it; "
				    "its networks are unreachable until the agent succeeds)",
				    output_str(c, "cn"), output_str(in, "name"),
				    output_str(c, "error"));
		}
	}
	if (strcmp(st, "not built yet") == 0)
		say(d, "PROBLEM",
		    "nftables: the table inet vpcroute is not built yet (the agent builds it "
		    "after its start-up grace period): no NAT exemption, no filter");
	else if (strcmp(st, "missing") == 0 || strcmp(st, "differs") == 0)
		say(d, "PROBLEM",
		    "nftables: the table inet vpcroute is %s%s%s (changed from outside: "
		    "\"systemctl restart nftables\" flushes the ruleset); the agent rebuilds it",
		    st, json_is_string(json_object_get(nft, "differs")) ? ": " : "",
		    json_is_string(json_object_get(nft, "differs")) ? output_str(nft, "differs")
								    : "");
	else if (!json_is_true(json_object_get(nft, "built")))
		say(d, "PROBLEM",
		    "nftables: the table inet vpcroute is not built (%s%s%s): no NAT exemption, "
		    "no filter",
		    st, json_is_string(json_object_get(nft, "error")) ? ": " : "",
		    json_is_string(json_object_get(nft, "error")) ? output_str(nft, "error") : "");
	else
		say(d, "ok", "nftables: table inet vpcroute built, as read from the kernel");
}

/* Port forwards: programmed, and their targets inside a network reached now. */
static void doctor_forwards(struct diag *d, json_t *s)
{
	json_t *f;
	size_t i;

	json_array_foreach(json_object_get(s, "port_forwards"), i, f)
	{
		long long port = json_integer_value(json_object_get(f, "port"));
		const char *proto = output_str(f, "proto"), *to = output_str(f, "to");

		if (strcmp(output_str(f, "state"), "programmed") &&
		    !json_is_false(json_object_get(f, "reachable")))
			say(d, "PROBLEM", "port_forwards[%zu] (%s port %lld -> %s): %s", i, proto,
			    port, to, output_str(f, "state"));
		else if (json_is_false(json_object_get(f, "reachable")))
			say(d, "PROBLEM",
			    "port_forwards[%zu] (%s port %lld -> %s port %lld): %s is not inside a "
			    "network reached now (no local network, no connected client's network "
			    "or pushed route holds it): connections to the forward go nowhere "
			    "until the client that announces it connects",
			    i, proto, port, to,
			    (long long)json_integer_value(json_object_get(f, "to_port")), to);
		else
			say(d, "ok",
			    "port_forwards[%zu]: %s port %lld -> %s port %lld, %lld packets", i,
			    proto, port, to,
			    (long long)json_integer_value(json_object_get(f, "to_port")),
			    (long long)json_integer_value(json_object_get(f, "packets")));
	}
}

/* The flowtable fast path (offload): on with both sides hooked, or why not. */
static void doctor_offload(struct diag *d, json_t *s)
{
	json_t *o = json_object_get(s, "offload"), *v;
	const char *st = output_str(o, "state");
	size_t ndev = json_array_size(json_object_get(o, "devices")), i;

	if (!json_is_object(o) || strcmp(st, "off") == 0)
		return;
	if (strcmp(st, "unsupported") == 0)
		say(d, "note",
		    "offload: the kernel refuses a flowtable (%s): forwarding works without a fast "
		    "path (a kernel with CONFIG_NF_FLOW_TABLE has one: Debian 12's does)",
		    output_str(o, "kernel"));
	else if (ndev >= 2)
		say(d, "ok", "offload: flowtable fastpath hooks %zu devices", ndev);
	else
		say(d, "note",
		    "offload: flowtable fastpath hooks %zu device%s: a flow is offloaded only "
		    "between two hooked devices (a tunnel device and the LAN side, "
		    "offload.devices)",
		    ndev, ndev == 1 ? "" : "s");
	json_array_foreach(json_object_get(o, "missing"), i, v)
		say(d, "note",
		    "offload: device %s (offload.devices) does not exist; hooked when "
		    "it appears",
		    json_string_value(v) ? json_string_value(v) : "?");
}

/* The rules' host names: one that does not resolve allows nothing. */
static void doctor_dns(struct diag *d, json_t *s)
{
	json_t *n;
	unsigned ok = 0;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(s, "dns"), "names"), i, n)
	{
		const char *st = output_str(n, "state");
		char addrs[512] = "";
		size_t pos = 0, k;
		json_t *a;

		json_array_foreach(json_object_get(n, "addresses"), k, a)
		{
			const char *x = json_string_value(a);

			if (pos < sizeof(addrs))
				pos += (size_t)snprintf(addrs + pos, sizeof(addrs) - pos, "%s%s",
							k ? ", " : "", x ? x : "?");
		}
		if (strcmp(st, "unresolved") == 0)
			say(d, "PROBLEM",
			    "dns: the rules' host name %s does not resolve (%s): nothing is "
			    "allowed "
			    "for it until it does. Check the name, and that the DNS servers "
			    "(dns.servers, else /etc/resolv.conf) answer for it.",
			    output_str(n, "name"), output_str(n, "error"));
		else if (strcmp(st, "failing") == 0)
			say(d, "PROBLEM",
			    "dns: lookups of %s fail (%s, %lld in a row): its last addresses (%s) "
			    "stay allowed until it resolves again",
			    output_str(n, "name"), output_str(n, "error"),
			    (long long)json_integer_value(json_object_get(n, "failures")), addrs);
		else if (strcmp(st, "pending") == 0)
			say(d, "note", "dns: %s: its first lookup is on its way",
			    output_str(n, "name"));
		else
			ok++;
	}
	if (ok)
		say(d, "ok", "dns: %u host name%s of the rules resolved", ok, ok == 1 ? "" : "s");
}

/* The VICI client (status "ipsec.vici") and the ipsec.peers keyed by IKE
 * identity (c, NULL when the configuration could not be read). */
static void doctor_vici(struct diag *d, json_t *ip, const struct cfg *c)
{
	json_t *v = json_object_get(ip, "vici"), *t;
	size_t i;

	if (json_is_object(v) && !json_is_true(json_object_get(v, "connected")))
		say(d, "PROBLEM",
		    "the agent is not connected to strongSwan's VICI socket %s (%s): is charon "
		    "running, with the vici plugin, and is ipsec.vici_socket its path? Until it "
		    "connects, the peers' IKE identities are as last listed (%s)",
		    output_str(v, "socket"),
		    json_is_string(json_object_get(v, "error")) ? output_str(v, "error") : "-",
		    json_is_null(json_object_get(v, "listed_at")) ? "never" : "kept");
	else if (json_is_object(v))
		say(d, "ok", "strongSwan's VICI socket %s: connected, %lld IKE_SA%s listed",
		    output_str(v, "socket"),
		    (long long)json_integer_value(json_object_get(v, "ike_sas")),
		    json_integer_value(json_object_get(v, "ike_sas")) == 1 ? "" : "s");
	for (size_t k = 0; c && k < c->npeers; k++) {
		bool seen = false;

		if (!c->peers[k].id)
			continue;
		if (!c->vici_socket) {
			say(d, "PROBLEM",
			    "ipsec.peers.%s is keyed by IKE identity, but ipsec.vici_socket is not "
			    "set: the kernel's tunnels name only addresses, so it never matches",
			    c->peers[k].pol.name);
			continue;
		}
		json_array_foreach(json_object_get(ip, "tunnels"), i, t)
		{
			seen = seen || strcmp(output_str(t, "policy"), c->peers[k].pol.name) == 0;
		}
		if (!seen)
			say(d, "PROBLEM",
			    "ipsec.peers.%s: no tunnel's IKE_SA has the remote identity \"%s\": "
			    "strongSwan has no IKE_SA up with it (swanctl --list-sas), or the VICI "
			    "socket does not answer",
			    c->peers[k].pol.name, c->peers[k].id);
	}
}

/* The security groups against each IPsec peer: IKE, NAT traversal, ESP
 * (status "ipsec" "peers", computed by the agent from the groups' rules). */
static void doctor_ipsec_groups(struct diag *d, json_t *s, json_t *ip)
{
	static const struct {
		const char *key, *what, *level, *why;
	} need[] = {
		{ "udp500", "UDP 500", "PROBLEM", "IKE cannot start" },
		{ "udp4500", "UDP 4500", "PROBLEM",
		  "IKE and ESP with NAT traversal (always with an Elastic IP) cannot "
		  "pass" },
		{ "esp", "ESP (IP protocol 50)", "note",
		  "needed only when neither end is behind NAT" },
	};
	json_t *sg = json_object_get(json_object_get(s, "aws"), "security_groups"), *p, *id;
	char groups[256] = "";
	size_t i, k, len = 0;

	json_array_foreach(json_object_get(sg, "ids"), k, id)
	{
		int w = snprintf(groups + len, sizeof(groups) - len, "%s%s", k ? ", " : "",
				 json_string_value(id) ? json_string_value(id) : "?");

		if (w < 0 || (size_t)w >= sizeof(groups) - len)
			break;
		len += (size_t)w;
	}
	json_array_foreach(json_object_get(ip, "peers"), i, p)
	{
		json_t *g = json_object_get(p, "security_groups");
		const char *pid = json_string_value(json_object_get(p, "id"));
		char who[CFG_PEER_ID_MAX + 80];
		unsigned open = 0;

		if (json_is_null(json_object_get(p, "peer"))) {
			/* keyed by IKE identity, no tunnel or IKE_SA from it yet */
			say(d, "note",
			    "IPsec peer %s: its address is not known yet (VICI lists no IKE_SA "
			    "with that remote identity), so the security groups are not checked "
			    "against it: they must let UDP 500, UDP 4500 and ESP in from wherever "
			    "it connects from",
			    pid ? pid : "?");
			continue;
		}
		if (pid)
			snprintf(who, sizeof(who), "%s (%s)", output_str(p, "peer"), pid);
		else
			snprintf(who, sizeof(who), "%s", output_str(p, "peer"));
		for (k = 0; k < sizeof(need) / sizeof(need[0]); k++) {
			json_t *v = json_object_get(g, need[k].key);

			if (json_is_true(v))
				open++;
			else if (json_is_false(v))
				say(d, need[k].level,
				    "IPsec peer %s: no inbound rule of the security "
				    "group%s %s "
				    "lets "
				    "%s in from %s (%s): add one to %s",
				    who, strchr(groups, ',') ? "s" : "",
				    groups[0] ? groups : "(none)", need[k].what,
				    output_str(p, "peer"), need[k].why,
				    groups[0] ? groups : "a group of the interface");
		}
		if (open == k)
			say(d, "ok",
			    "IPsec peer %s: the security groups let IKE, NAT traversal and "
			    "ESP in from it",
			    who);
	}
}

/* The IPsec tunnels (status "ipsec") against ipsec.peers (c, NULL when the
 * configuration could not be read). */
static void doctor_ipsec(struct diag *d, json_t *s, const struct cfg *c)
{
	json_t *ip = json_object_get(s, "ipsec"), *t;
	char a[PFX_STRLEN];
	size_t i;

	if (!json_is_object(ip))
		return;
	if (!json_is_true(json_object_get(ip, "xfrm"))) {
		if (c && c->npeers)
			say(d, "PROBLEM",
			    "ipsec.peers is set, but the agent cannot read the kernel's "
			    "XFRM "
			    "tables "
			    "(no CONFIG_XFRM_USER?): no IPsec tunnel is followed");
		return;
	}
	json_array_foreach(json_object_get(ip, "tunnels"), i, t)
	{
		const char *st = output_str(t, "state");
		json_t *ike = json_object_get(t, "ike_sa");
		json_t *if_id = json_object_get(t, "if_id");
		bool routed = json_is_integer(if_id) || json_is_string(json_object_get(t, "mark"));
		char id[64];

		if (json_is_integer(if_id))
			snprintf(id, sizeof(id), "if_id %lld",
				 (long long)json_integer_value(if_id));
		else
			snprintf(id, sizeof(id), "mark %s", output_str(t, "mark"));
		if (strcmp(st, "up") == 0 && routed &&
		    !json_is_string(json_object_get(t, "interface")))
			say(d, "PROBLEM",
			    "IPsec tunnel to %s for %s is route-based (%s), but no XFRM interface "
			    "of that if_id (or VTI of that key) exists: nothing enters the tunnel "
			    "(ip link add ... type xfrm if_id N, or type vti key K; the agent "
			    "routes through it once it is there)",
			    output_str(t, "peer"), output_str(t, "network"), id);
		else if (strcmp(st, "up") == 0 && json_is_object(ike))
			say(d, "ok",
			    "IPsec tunnel to %s for %s is up and routed (IKE_SA %s, %s, "
			    "remote id "
			    "%s; policy ipsec.peers.%s)",
			    output_str(t, "peer"), output_str(t, "network"),
			    output_str(ike, "name"), output_str(ike, "state"),
			    output_str(ike, "remote_id"), output_str(t, "policy"));
		else if (strcmp(st, "up") == 0 && routed)
			say(d, "ok", "IPsec tunnel to %s for %s is up and routed via %s",
			    output_str(t, "peer"), output_str(t, "network"),
			    output_str(t, "interface"));
		else if (strcmp(st, "up") == 0)
			say(d, "ok", "IPsec tunnel to %s for %s is up and routed",
			    output_str(t, "peer"), output_str(t, "network"));
		else if (strcmp(st, "refused") == 0)
			say(d, "PROBLEM",
			    "IPsec tunnel to %s for %s is ignored: %s. Nothing is routed "
			    "to it; "
			    "allow the network in ipsec.peers, or change the IKE daemon's "
			    "connection (the agent never changes its policies)",
			    output_str(t, "peer"), output_str(t, "network"),
			    output_str(t, "refusal"));
		else
			say(d, "note",
			    "IPsec policy to %s for %s has no SA: the IKE daemon has not "
			    "brought "
			    "the tunnel up (ipsec status, swanctl --list-sas); nothing is "
			    "routed "
			    "to it until it does",
			    output_str(t, "peer"), output_str(t, "network"));
	}
	doctor_vici(d, ip, c);
	for (size_t k = 0; c && k < c->npeers; k++) {
		bool seen = false;

		if (c->peers[k].id)
			continue; /* doctor_vici */
		pfx_format_addr(&c->peers[k].addr, a, sizeof(a));
		json_array_foreach(json_object_get(ip, "tunnels"), i, t)
		{
			seen = seen || strcmp(output_str(t, "peer"), a) == 0;
		}
		if (!seen)
			say(d, "PROBLEM",
			    "ipsec.peers.%s: the kernel has no tunnel-mode policy to %s: "
			    "the IKE "
			    "daemon has not loaded that connection (ipsec auto --add / "
			    "swanctl "
			    "--load-conns), or names the peer by another address",
			    c->peers[k].pol.name, a);
	}
	doctor_ipsec_groups(d, s, ip);
}

int doctor(const struct ctl_target *t, bool json)
{
	const char *no_colour = getenv("NO_COLOR");
	struct diag d = { .colour = isatty(STDOUT_FILENO) && !(no_colour && *no_colour) };
	char err[CFG_ERRLEN];
	size_t i;
	struct cfg *c = NULL;
	json_t *s = NULL, *in, *f;
	long fwd;

	if (json && !(d.findings = json_array())) {
		fprintf(stderr, "vpcroutectl: out of memory\n");
		return CTL_EXIT_FAIL;
	}
	if (!t->socket_path && cfg_load_file(t->config_path, &c, err, sizeof(err)) < 0)
		say(&d, "PROBLEM", "configuration: %s", err);
	else if (c)
		say(&d, "ok", "configuration %s is valid", t->config_path);
	fwd = read_long("/proc/sys/net/ipv4/ip_forward");
	if (fwd == 1)
		say(&d, "ok", "IPv4 forwarding is on");
	else
		say(&d, "PROBLEM",
		    "IPv4 forwarding is off (net.ipv4.ip_forward=%ld): this host does not "
		    "route "
		    "between the tunnel and its networks. The agent turns it on at start "
		    "and at "
		    "reload; something turned it off since.",
		    fwd);
	client_status(t, &s);
	if (!json_is_object(s)) {
		say(&d, "PROBLEM",
		    "vpcroute-agent does not answer (see above): nothing is programmed or "
		    "kept "
		    "right; start it (systemctl start vpcroute-agent) before OpenVPN");
		goto out;
	}
	say(&d, "ok", "vpcroute-agent %s answers (pid %lld, %s role)", output_str(s, "version"),
	    (long long)json_integer_value(json_object_get(s, "pid")), output_str(s, "role"));
	if (!json_array_size(json_object_get(s, "instances")) && c && c->npeers)
		say(&d, "note", "no OpenVPN instance has connected (this host has IPsec peers)");
	else if (!json_array_size(json_object_get(s, "instances")))
		say(&d, "PROBLEM",
		    "no OpenVPN instance has connected: is \"plugin %s/vpcroute.so "
		    "CONFIG\" in "
		    "its configuration, and can its user reach the socket?",
		    VR_PLUGINDIR);
	json_array_foreach(json_object_get(s, "instances"), i, in)
	{
		if (!json_is_true(json_object_get(in, "plugin_connected")))
			say(&d, "PROBLEM",
			    "OpenVPN instance %s: its plugin is not connected (OpenVPN "
			    "stopped, or "
			    "cannot reach the socket): its clients stay as they were",
			    output_str(in, "name"));
		else
			say(&d, "ok",
			    "OpenVPN instance %s: plugin connected, tunnel %s, %zu "
			    "client%s",
			    output_str(in, "name"), output_str(in, "device"),
			    json_array_size(json_object_get(in, "clients")),
			    json_array_size(json_object_get(in, "clients")) == 1 ? "" : "s");
		if (json_is_string(json_object_get(in, "device")))
			doctor_mtu(&d, output_str(in, "device"));
	}
	doctor_kernel(&d, s);
	doctor_forwards(&d, s);
	doctor_offload(&d, s);
	doctor_dns(&d, s);
	doctor_ipsec(&d, s, c);
	json_array_foreach(json_object_get(s, "foreign_nat"), i, f)
	{
		if (json_is_true(json_object_get(f, "before_exemptions")))
			say(&d, "PROBLEM",
			    "a foreign NAT rule runs before vpcroute's exemptions and can "
			    "rewrite "
			    "tunnel traffic: '%s' in table %s %s, chain %s (priority "
			    "%lld), "
			    "handle %lld. Give that chain a priority of %lld or more "
			    "(srcnat is "
			    "100), or exempt the tunnel networks in it.",
			    output_str(f, "rule"), output_str(f, "family"), output_str(f, "table"),
			    output_str(f, "chain"),
			    (long long)json_integer_value(json_object_get(f, "priority")),
			    (long long)json_integer_value(json_object_get(f, "handle")),
			    (long long)json_integer_value(json_object_get(
				    json_object_get(s, "nftables"), "exempt_priority")));
		else
			say(&d, "ok",
			    "foreign NAT rule '%s' in %s %s, chain %s, handle %lld runs "
			    "after the "
			    "exemptions",
			    output_str(f, "rule"), output_str(f, "family"), output_str(f, "table"),
			    output_str(f, "chain"),
			    (long long)json_integer_value(json_object_get(f, "handle")));
	}
	json_array_foreach(json_object_get(s, "routes_left_to_others"), i, f)
	{
		say(&d, "note",
		    "%s: a route of another protocol (OpenVPN's own, or an "
		    "administrator's) is "
		    "there, and the agent leaves it alone",
		    json_string_value(f) ? json_string_value(f) : "?");
	}
	if (json_is_object(json_object_get(s, "aws"))) {
		doctor_aws(&d, json_object_get(s, "aws"));
		if (strcmp(output_str(json_object_get(s, "aws"), "routes"), "route-server") == 0)
			doctor_bgp(&d,
				   c && c->aws.bgp_socket ? c->aws.bgp_socket
							  : CFG_DEFAULT_BGP_SOCKET,
				   kernel_routes(s));
		doctor_aws_addressing(&d, json_object_get(s, "aws"), c);
		doctor_groups(&d, s);
	}
	say(&d, "note",
	    "not checked: network ACLs, the sources the security groups allow, and the "
	    "home "
	    "router's static route to the gateway");
out:
	if (d.findings) {
		json_t *o = json_pack("{s:I, s:o, s:o*}", "problems", (json_int_t)d.problems,
				      "findings", d.findings, "bgp", d.bgp);

		if (o)
			output_json(o);
		else
			fprintf(stderr, "vpcroutectl: out of memory\n");
		json_decref(o);
	} else {
		printf("%u problem%s found\n", d.problems, d.problems == 1 ? "" : "s");
	}
	json_decref(s);
	cfg_free(c);
	return d.problems ? CTL_EXIT_FAIL : 0;
}
