// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the EC2 Query API answer parsers. Property of the route
 * table parser: the tables it read, written back as a DescribeRouteTables
 * answer split into pages (nextToken on every page but the last) and parsed
 * page by page, are the same tables with the same routes in the same order;
 * each page's nextToken is the one written. No route is lost or changed
 * between pages. And the routes it read are all there are: as many as
 * libxml2's XPath counts route items with a destination in the document.
 * The network interfaces (DescribeNetworkInterfaces) come sorted and
 * distinct, each found by ec2_eni_find. abort() on any violation.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "ec2xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	char *s;
	size_t n, cap;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (k < 0)
		abort();
	if (o->n + (size_t)k + 1 > o->cap) {
		o->cap = 2 * (o->n + (size_t)k + 1);
		if (!(o->s = realloc(o->s, o->cap)))
			abort();
	}
	va_start(ap, fmt);
	vsnprintf(o->s + o->n, o->cap - o->n, fmt, ap);
	va_end(ap);
	o->n += (size_t)k;
}

/* <name>text</name>, every character that markup or whitespace handling could
 * change written as a character reference */
static void put_elem(struct out *o, const char *name, const char *text)
{
	put(o, "<%s>", name);
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		if (strchr("&<>\"' \t\r\n", *p))
			put(o, "&#%u;", *p);
		else
			put(o, "%c", *p);
	put(o, "</%s>", name);
}

static void put_table(struct out *o, const struct ec2_rtb *t)
{
	char s[PFX_STRLEN];

	put(o, "<item>");
	put_elem(o, "routeTableId", t->id);
	if (t->vpc[0])
		put_elem(o, "vpcId", t->vpc);
	put(o, "<routeSet>");
	for (size_t i = 0; i < t->nroutes; i++) {
		const struct ec2_route *r = &t->routes[i];

		put(o, "<item>");
		put_elem(o,
			 r->dst.family == AF_INET6 ? "destinationIpv6CidrBlock"
						   : "destinationCidrBlock",
			 pfx_format(&r->dst, s, sizeof(s)));
		if (r->kind[0])
			put_elem(o, r->kind, r->target);
		if (r->state[0])
			put_elem(o, "state", r->state);
		if (r->origin[0])
			put_elem(o, "origin", r->origin);
		put(o, "</item>");
	}
	put(o, "</routeSet><associationSet>");
	if (t->main)
		put(o, "<item><main>true</main></item>");
	for (size_t i = 0; i < t->nsubnets; i++) {
		put(o, "<item><main>false</main>");
		put_elem(o, "subnetId", t->subnets[i]);
		put(o, "</item>");
	}
	put(o, "</associationSet></item>");
}

static bool route_eq(const struct ec2_route *a, const struct ec2_route *b)
{
	return pfx_equal(&a->dst, &b->dst) && !strcmp(a->kind, b->kind) &&
	       !strcmp(a->target, b->target) && !strcmp(a->state, b->state) &&
	       !strcmp(a->origin, b->origin);
}

static bool table_eq(const struct ec2_rtb *a, const struct ec2_rtb *b)
{
	if (strcmp(a->id, b->id) || strcmp(a->vpc, b->vpc) || a->main != b->main ||
	    a->nroutes != b->nroutes || a->nsubnets != b->nsubnets)
		return false;
	for (size_t i = 0; i < a->nroutes; i++)
		if (!route_eq(&a->routes[i], &b->routes[i]))
			return false;
	for (size_t i = 0; i < a->nsubnets; i++)
		if (strcmp(a->subnets[i], b->subnets[i]))
			return false;
	return true;
}

/* Route items with a destination, counted by XPath: what the parser must read. */
// clang-format off
static const char routes_xpath[] =
	"count(/*[local-name()='DescribeRouteTablesResponse']"
	"/*[local-name()='routeTableSet'][1]/*[local-name()='item']"
	"/*[local-name()='routeSet'][1]/*[local-name()='item']"
	"[*[local-name()='destinationCidrBlock'] or *[local-name()='destinationIpv6CidrBlock']])";
// clang-format on

static void check_count(const char *buf, size_t len, const struct ec2_rtb *t, size_t n)
{
	xmlDoc *doc = xmlReadMemory(buf, (int)len, "ec2.xml", NULL,
				    XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
					    XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
	xmlXPathContext *ctx = doc ? xmlXPathNewContext(doc) : NULL;
	xmlXPathObject *r = ctx ? xmlXPathEvalExpression((const xmlChar *)routes_xpath, ctx) : NULL;
	size_t routes = 0;

	if (!r || r->type != XPATH_NUMBER)
		abort(); /* it parsed once: it parses again */
	for (size_t i = 0; i < n; i++)
		routes += t[i].nroutes;
	if ((double)routes != r->floatval) {
		fprintf(stderr, "the parser read %zu routes, the document has %.0f\n", routes,
			r->floatval);
		abort();
	}
	xmlXPathFreeObject(r);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
}

/* The tables t[0..n) in pages of per tables, parsed back page by page. */
static void check_pages(const struct ec2_rtb *t, size_t n, size_t per)
{
	size_t got = 0, pages = n ? (n + per - 1) / per : 1;

	for (size_t p = 0; p < pages; p++) {
		struct out o = { 0 };
		char next[128], err[EC2_ERRLEN], want[32] = "";
		struct ec2_rtb *v;
		size_t nv;

		if (p + 1 < pages)
			snprintf(want, sizeof(want), "page-%zu", p + 2);
		put(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeRouteTablesResponse "
			"xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><routeTableSet>");
		for (size_t i = p * per; i < n && i < (p + 1) * per; i++)
			put_table(&o, &t[i]);
		put(&o, "</routeTableSet>");
		if (want[0])
			put_elem(&o, "nextToken", want);
		put(&o, "</DescribeRouteTablesResponse>");
		if (ec2_parse_route_tables(o.s, o.n, &v, &nv, next, sizeof(next), err,
					   sizeof(err)) != 0) {
			fprintf(stderr, "page %zu does not parse: %s\n%s\n", p + 1, err, o.s);
			abort();
		}
		if (strcmp(next, want))
			abort(); /* the nextToken written is the one read */
		for (size_t i = 0; i < nv; i++)
			if (got + i >= n || !table_eq(&t[got + i], &v[i])) {
				fprintf(stderr, "table %zu changed on page %zu:\n%s\n", got + i,
					p + 1, o.s);
				abort();
			}
		got += nv;
		ec2_rtbs_free(v, nv);
		free(o.s);
	}
	if (got != n)
		abort(); /* a table lost between pages */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char next[128], err[EC2_ERRLEN];
	struct ec2_rtb *t;
	struct ec2_error e;
	char ids[EC2_MAX_GROUPS][EC2_ID_MAX];
	struct ec2_perm *perms;
	struct ec2_eni *enis;
	size_t n;
	bool on;

	if (ec2_parse_route_tables(buf, size, &t, &n, next, sizeof(next), err, sizeof(err)) == 0) {
		check_count(buf, size, t, n);
		check_pages(t, n, 1 + size % 3);
		ec2_rtbs_free(t, n);
	}
	if (ec2_parse_error(buf, size, &e) == 1 &&
	    (!memchr(e.code, 0, sizeof(e.code)) || strchr(e.message, '\n')))
		__builtin_trap();
	ec2_parse_source_dest_check(buf, size, &on, err, sizeof(err));
	if (ec2_parse_group_set(buf, size, ids, EC2_MAX_GROUPS, &n, err, sizeof(err)) == 0)
		for (size_t i = 0; i < n; i++)
			if (!memchr(ids[i], 0, EC2_ID_MAX) || !ids[i][0])
				__builtin_trap();
	if (ec2_parse_ingress(buf, size, &perms, &n, err, sizeof(err)) == 0) {
		struct pfx peer = { .family = AF_INET, .len = 32, .addr = { 203, 0, 113, 7 } };

		for (size_t i = 0; i < n; i++)
			if (perms[i].from < -1 || perms[i].to > 65535 || !perms[i].proto[0] ||
			    !memchr(perms[i].group, 0, sizeof(perms[i].group)) ||
			    perms[i].src.n > EC2_MAX_SOURCES ||
			    /* from an address: only through an address source */
			    (ec2_perm_allows(&perms[i], "esp", 0, &peer) &&
			     !pfx_list_contains(&perms[i].src, &peer)))
				__builtin_trap();
			else
				ec2_perm_allows(&perms[i], "udp", 1194, NULL);
		ec2_perms_free(perms, n);
	}
	if (ec2_parse_network_interfaces(buf, size, &enis, &n, next, sizeof(next), err,
					 sizeof(err)) == 0) {
		/* sorted, distinct, each id a found non-empty string, each MAC
		 * empty or of its one shape */
		for (size_t i = 0; i < n; i++)
			if (!enis[i].id[0] || (i && strcmp(enis[i - 1].id, enis[i].id) >= 0) ||
			    ec2_eni_find(enis, n, enis[i].id) != &enis[i] ||
			    (enis[i].mac[0] && strlen(enis[i].mac) != 17))
				__builtin_trap();
		free(enis);
	} else if (enis || n) {
		__builtin_trap(); /* refused: nothing handed out */
	}
	{
		char st[24];
		int r = ec2_parse_instance_state(buf, size, "i-1", st, sizeof(st), err,
						 sizeof(err));

		if ((r == 0) != (st[0] != '\0') || !memchr(st, 0, sizeof(st)))
			__builtin_trap(); /* a state exactly when found */
	}
	ec2_parse_return(buf, size, "CreateRoute", err, sizeof(err));
	return 0;
}
