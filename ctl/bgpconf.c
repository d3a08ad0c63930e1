// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vpcroutectl bgp-config: BIRD 2 or FRR, configured to announce exactly what
 * the agent routes (kernel routes of protocol RTNL_PROTO, in the main table)
 * and the tunnel pools (OpenVPN's connected routes, when its tunnel is up) to
 * the route server endpoints, with BFD; importing nothing and writing no
 * kernel route. doc/guide-route-server.md explains each part.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bgpconf.h"
#include "policy.h"
#include "rtnl.h"

static bool asn(const char *s, unsigned long long *out)
{
	char *end;

	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && *out >= 1 && *out <= 4294967295ULL;
}

static bool uint_in(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	unsigned long v;

	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 6)
		return false;
	v = strtoul(s, NULL, 10);
	if (v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

const char *bgpconf_set(struct bgpconf *p, const char *opt, const char *v)
{
	struct pfx a;

	if (strcmp(opt, "daemon") == 0) {
		if (strcmp(v, "bird") == 0)
			p->daemon = BGPCONF_BIRD;
		else if (strcmp(v, "frr") == 0)
			p->daemon = BGPCONF_FRR;
		else
			return "expected \"bird\" or \"frr\"";
	} else if (strcmp(opt, "asn") == 0 || strcmp(opt, "peer-asn") == 0) {
		if (!asn(v, opt[0] == 'a' ? &p->asn : &p->peer_asn))
			return "expected an AS number, 1 to 4294967295";
	} else if (strcmp(opt, "peer") == 0) {
		if (pfx_addr_parse(v, &a) < 0)
			return "expected the IPv4 or IPv6 address of a route server endpoint";
		for (size_t i = 0; i < p->npeers; i++)
			if (pfx_equal(&p->peers[i], &a))
				return "that peer is given twice";
		if (p->npeers >= BGPCONF_MAX_PEERS)
			return "at most 8 peers";
		p->peers[p->npeers++] = a;
	} else if (strcmp(opt, "bfd-ms") == 0) {
		if (!uint_in(v, 10, 10000, &p->bfd_ms))
			return "expected milliseconds, 10 to 10000";
	} else if (strcmp(opt, "hold") == 0) {
		if (!uint_in(v, 3, 65535, &p->hold_s))
			return "expected seconds, 3 to 65535";
	} else if (strcmp(opt, "router-id") == 0) {
		if (pfx_addr_parse(v, &a) < 0 || a.family != AF_INET)
			return "expected an IPv4 address";
		p->router_id = a;
	} else {
		return "unknown option";
	}
	return NULL;
}

/* Whether the configuration has a pool of family fam; its text into buf. */
static bool pool_of(const struct cfg *c, int fam, char *buf, size_t len)
{
	const struct pfx *p = fam == AF_INET ? (c->has_pool ? &c->pool : NULL)
					     : (c->has_pool6 ? &c->pool6 : NULL);

	if (!p)
		return false;
	pfx_format(p, buf, len);
	return true;
}

static void bird(FILE *f, const struct bgpconf *p, const struct cfg *c)
{
	char a[PFX_STRLEN], pool4[PFX_STRLEN], pool6[PFX_STRLEN];
	bool has4 = pool_of(c, AF_INET, pool4, sizeof(pool4)),
	     has6 = pool_of(c, AF_INET6, pool6, sizeof(pool6));

	if (p->router_id.family)
		fprintf(f, "router id %s;\n\n", pfx_format_addr(&p->router_id, a, sizeof(a)));
	fprintf(f,
		"protocol device {\n}\n\n"
		"# The routes vpcroute-agent installs (protocol %d, main table), learnt\n"
		"# from the kernel; BIRD never writes a kernel route (export none).\n"
		"protocol kernel vpcroute4 {\n"
		"\tipv4 { import where krt_source = %d; export none; };\n"
		"\tlearn;\n"
		"}\n\n"
		"protocol kernel vpcroute6 {\n"
		"\tipv6 { import where krt_source = %d; export none; };\n"
		"\tlearn;\n"
		"}\n\n",
		RTNL_PROTO, RTNL_PROTO, RTNL_PROTO);
	if (has4 || has6) {
		fprintf(f, "# The tunnel pool: OpenVPN's own route, there while its tunnel is up.\n"
			   "protocol direct vpcroute_pool {\n");
		if (has4)
			fprintf(f, "\tipv4 { import where net = %s; };\n", pool4);
		if (has6)
			fprintf(f, "\tipv6 { import where net = %s; };\n", pool6);
		fprintf(f, "}\n\n");
	}
	fprintf(f,
		"# Only those go to the route server.\n"
		"filter vpcroute_out {\n"
		"\tif proto = \"vpcroute4\" || proto = \"vpcroute6\"%s then accept;\n"
		"\treject;\n"
		"}\n\n"
		"protocol bfd {\n"
		"\tinterface \"*\" {\n"
		"\t\tmin rx interval %u ms;\n"
		"\t\tmin tx interval %u ms;\n"
		"\t\tmultiplier 3;\n"
		"\t};\n"
		"}\n\n"
		"template bgp vpcroute_rs {\n"
		"\tlocal as %llu;\n"
		"\thold time %u;\n"
		"\tkeepalive time %u;\n"
		"\tconnect retry time 5;\n"
		"\terror wait time 5, 60;\n"
		"\t# a dead instance's routes leave at once, not after a restart time\n"
		"\tgraceful restart off;\n"
		"\tbfd on;\n"
		"}\n",
		has4 || has6 ? " || proto = \"vpcroute_pool\"" : "", p->bfd_ms, p->bfd_ms, p->asn,
		p->hold_s, p->hold_s / 3 ? p->hold_s / 3 : 1);
	for (size_t i = 0; i < p->npeers; i++) {
		bool v4 = p->peers[i].family == AF_INET;

		fprintf(f,
			"\nprotocol bgp vpcroute_rs%zu from vpcroute_rs {\n"
			"\tneighbor %s as %llu;\n"
			"\t%s { import none; export filter vpcroute_out; next hop self; };\n"
			"}\n",
			i + 1, pfx_format_addr(&p->peers[i], a, sizeof(a)), p->peer_asn,
			v4 ? "ipv4" : "ipv6");
	}
}

/* A prefix-list entry: the network and, inside it, any longer prefix. */
static void frr_entry(FILE *f, const char *list, unsigned seq, const char *action,
		      const struct pfx *n, bool longer)
{
	char a[PFX_STRLEN];

	fprintf(f, "%s %s seq %u %s %s",
		n->family == AF_INET ? "ip prefix-list" : "ipv6 prefix-list", list, seq, action,
		pfx_format(n, a, sizeof(a)));
	if (longer && n->len < (n->family == AF_INET ? 32 : 128))
		fprintf(f, " le %d", n->family == AF_INET ? 32 : 128);
	fputc('\n', f);
}

/* Entries of list l of family fam; pools exactly, the rest with longer prefixes. */
static void frr_list(FILE *f, const struct cfg *c, const struct pfx_list *l, int fam,
		     const char *action, unsigned *seq)
{
	for (size_t i = 0; i < l->n; i++) {
		bool pool = (c->has_pool && pfx_equal(&l->v[i], &c->pool)) ||
			    (c->has_pool6 && pfx_equal(&l->v[i], &c->pool6));

		if (l->v[i].family == fam)
			frr_entry(f, fam == AF_INET ? "VPCROUTE4" : "VPCROUTE6", ++*seq * 5, action,
				  &l->v[i], !pool);
	}
}

static int frr(FILE *f, const struct bgpconf *p, const struct cfg *c)
{
	struct pfx_list nets = { 0 };
	char a[PFX_STRLEN];
	int e;

	/* server role: the networks policy_may_announce covers; client role:
	 * what policy_route_accepted lets the agent route */
	if (c->role == CFG_ROLE_SERVER && (e = policy_announceable(c, &nets)) < 0)
		return e;
	for (int fam = AF_INET; fam; fam = fam == AF_INET ? AF_INET6 : 0) {
		const char *v = fam == AF_INET ? "" : "v6", *name = fam == AF_INET ? "4" : "6";
		unsigned seq = 0;

		if (c->role == CFG_ROLE_SERVER) {
			frr_list(f, c, &nets, fam, "permit", &seq);
		} else if (c->accept_routes.n) {
			frr_list(f, c, &c->accept_routes, fam, "permit", &seq);
		} else {
			frr_list(f, c, &c->local, fam, "deny", &seq);
			/* ge 1: never the default route */
			fprintf(f, "ip%s prefix-list VPCROUTE%s seq %u permit %s ge 1 le %d\n", v,
				name, ++seq * 5, fam == AF_INET ? "0.0.0.0/0" : "::/0",
				fam == AF_INET ? 32 : 128);
		}
		/* an empty list would permit nothing: say so rather than leave it undefined */
		if (!seq)
			fprintf(f, "ip%s prefix-list VPCROUTE%s seq 5 deny any\n", v, name);
	}
	pfx_list_free(&nets);
	fprintf(f,
		"!\n"
		"route-map VPCROUTE-OUT permit 10\n"
		" match ip address prefix-list VPCROUTE4\n"
		"route-map VPCROUTE-OUT permit 20\n"
		" match ipv6 address prefix-list VPCROUTE6\n"
		"route-map VPCROUTE-OUT deny 100\n"
		"!\n"
		"route-map VPCROUTE-IN deny 10\n"
		"!\n"
		"bfd\n"
		" profile vpcroute\n"
		"  receive-interval %u\n"
		"  transmit-interval %u\n"
		"  detect-multiplier 3\n"
		" exit\n"
		"exit\n"
		"!\n"
		"router bgp %llu\n",
		p->bfd_ms, p->bfd_ms, p->asn);
	if (p->router_id.family)
		fprintf(f, " bgp router-id %s\n", pfx_format_addr(&p->router_id, a, sizeof(a)));
	fprintf(f, " no bgp default ipv4-unicast\n"
		   " no bgp graceful-restart\n");
	for (size_t i = 0; i < p->npeers; i++) {
		pfx_format_addr(&p->peers[i], a, sizeof(a));
		fprintf(f,
			" neighbor %s remote-as %llu\n"
			" neighbor %s bfd profile vpcroute\n"
			" neighbor %s timers %u %u\n",
			a, p->peer_asn, a, a, p->hold_s / 3 ? p->hold_s / 3 : 1, p->hold_s);
	}
	for (int fam = 0; fam < 2; fam++) {
		bool any = false;

		for (size_t i = 0; i < p->npeers; i++)
			any |= (p->peers[i].family == AF_INET) == (fam == 0);
		if (!any)
			continue;
		fprintf(f,
			" !\n"
			" address-family %s unicast\n"
			"  redistribute kernel route-map VPCROUTE-OUT\n"
			"  redistribute connected route-map VPCROUTE-OUT\n",
			fam == 0 ? "ipv4" : "ipv6");
		for (size_t i = 0; i < p->npeers; i++) {
			if ((p->peers[i].family == AF_INET) != (fam == 0))
				continue;
			pfx_format_addr(&p->peers[i], a, sizeof(a));
			fprintf(f,
				"  neighbor %s activate\n"
				"  neighbor %s route-map VPCROUTE-IN in\n"
				"  neighbor %s route-map VPCROUTE-OUT out\n",
				a, a, a);
		}
		fprintf(f, " exit-address-family\n");
	}
	fprintf(f, "exit\n!\n");
	return 0;
}

int bgpconf_print(FILE *f, const struct bgpconf *p, const struct cfg *c, const char *cfg_path)
{
	bool b = p->daemon == BGPCONF_BIRD;
	const char *k = b ? "#" : "!";

	fprintf(f,
		"%s vpcroute: %s configuration for VPC Route Server (vpcroutectl %s\n"
		"%s bgp-config), from %s.\n"
		"%s To the route server endpoints, with BFD, it announces %s;\n"
		"%s it imports nothing. See doc/guide-route-server.md.\n",
		k, b ? "BIRD 2" : "FRR", PACKAGE_VERSION, k, cfg_path, k,
		b ? "the kernel routes of\n# protocol 212 (vpcroute) and the tunnel pools"
		  : "the kernel and connected\n! routes inside the configuration's networks",
		k);
	if (b) {
		fputc('\n', f);
		bird(f, p, c);
		return 0;
	}
	fprintf(f, "!\n");
	return frr(f, p, c);
}
