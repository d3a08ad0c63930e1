// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "ec2xml.h"
#include "log.h"

#define EC2_MAX_DOC (4u << 20)

/* No network, no DTD, entities left as they are, no messages on stderr. */
static xmlDoc *parse(const char *buf, size_t len)
{
	if (len == 0 || len > EC2_MAX_DOC)
		return NULL;
	return xmlReadMemory(buf, (int)len, "ec2.xml", NULL,
			     XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
				     XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
}

static bool is(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *child(const xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (is(c, name))
			return c;
	return NULL;
}

/* The text of an element into buf; -E2BIG when it does not fit. */
static int text(const xmlNode *n, char *buf, size_t len)
{
	xmlChar *t = xmlNodeGetContent(n);
	size_t l;

	if (!t)
		return -ENOMEM;
	l = strlen((const char *)t);
	if (l >= len) {
		xmlFree(t);
		return -E2BIG;
	}
	memcpy(buf, t, l + 1);
	xmlFree(t);
	return 0;
}

/* An AWS id: letters, digits and '-', as in rtb-0a1b2c..., eni-..., local. */
static bool valid_id(const char *s)
{
	size_t n = strlen(s);

	return n > 0 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
}

static int id_of(const xmlNode *n, const char *what, char *buf, size_t len, char *err,
		 size_t errlen)
{
	if (text(n, buf, len) < 0 || !valid_id(buf))
		return errf(err, errlen, "%s is not an AWS id", what);
	return 0;
}

int ec2_parse_error(const char *buf, size_t len, struct ec2_error *e)
{
	xmlDoc *doc = parse(buf, len);
	xmlNode *root, *x;
	int r = 0;

	memset(e, 0, sizeof(*e));
	if (!doc)
		return 0;
	root = xmlDocGetRootElement(doc);
	/* <Response><Errors><Error><Code/><Message/></Error></Errors></Response> */
	x = child(child(is(root, "Response") ? root : NULL, "Errors"), "Error");
	if (x) {
		xmlNode *code = child(x, "Code"), *msg = child(x, "Message");

		if (!code || text(code, e->code, sizeof(e->code)) < 0 || !e->code[0])
			snprintf(e->code, sizeof(e->code), "(unreadable)");
		if (msg && text(msg, e->message, sizeof(e->message)) == -E2BIG)
			snprintf(e->message, sizeof(e->message), "(message too long)");
		for (char *p = e->message; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		r = 1;
	}
	xmlFreeDoc(doc);
	return r;
}

static const char *const route_targets[] = { "gatewayId",
					     "networkInterfaceId",
					     "instanceId",
					     "natGatewayId",
					     "transitGatewayId",
					     "vpcPeeringConnectionId",
					     "egressOnlyInternetGatewayId",
					     "localGatewayId",
					     "carrierGatewayId",
					     "coreNetworkArn",
					     NULL };

static int parse_route(const xmlNode *item, struct ec2_route *r, char *err, size_t errlen)
{
	char s[PFX_STRLEN + 8], e[PFX_ERRLEN] = "";
	xmlNode *x;

	memset(r, 0, sizeof(*r));
	x = child(item, "destinationCidrBlock");
	if (!x)
		x = child(item, "destinationIpv6CidrBlock");
	if (!x) {
		/* prefix-list routes: not ours to own, kept out of the picture */
		return child(item, "destinationPrefixListId")
			       ? 1
			       : errf(err, errlen, "a route without a destination");
	}
	if (text(x, s, sizeof(s)) < 0 || pfx_parse(s, 0, &r->dst, e, sizeof(e)) < 0)
		return errf(err, errlen, "route destination: %s", e[0] ? e : "too long");
	for (size_t i = 0; route_targets[i]; i++) {
		if (!(x = child(item, route_targets[i])))
			continue;
		snprintf(r->kind, sizeof(r->kind), "%s", route_targets[i]);
		if (text(x, r->target, sizeof(r->target)) < 0 ||
		    (strcmp(route_targets[i], "coreNetworkArn") && !valid_id(r->target)))
			return errf(err, errlen, "route %s: %s is not an AWS id",
				    pfx_format(&r->dst, s, sizeof(s)), route_targets[i]);
		break;
	}
	if ((x = child(item, "state")) && text(x, r->state, sizeof(r->state)) < 0)
		return errf(err, errlen, "route state too long");
	if ((x = child(item, "origin")) && text(x, r->origin, sizeof(r->origin)) < 0)
		return errf(err, errlen, "route origin too long");
	return 0;
}

static int parse_table(const xmlNode *item, struct ec2_rtb *t, char *err, size_t errlen)
{
	xmlNode *x;

	if (!(x = child(item, "routeTableId")))
		return errf(err, errlen, "a route table without routeTableId");
	if (id_of(x, "routeTableId", t->id, sizeof(t->id), err, errlen))
		return -EINVAL;
	if ((x = child(item, "vpcId")) && id_of(x, "vpcId", t->vpc, sizeof(t->vpc), err, errlen))
		return -EINVAL;
	for (x = child(child(item, "routeSet"), "item"); x; x = x->next) {
		struct ec2_route *v;
		int r;

		if (!is(x, "item"))
			continue;
		if (t->nroutes == EC2_MAX_ROUTES)
			return errf(err, errlen, "%s: more than %d routes", t->id, EC2_MAX_ROUTES);
		v = realloc(t->routes, (t->nroutes + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->routes = v;
		r = parse_route(x, &v[t->nroutes], err, errlen);
		if (r < 0)
			return r;
		if (r == 0)
			t->nroutes++;
	}
	for (x = child(child(item, "associationSet"), "item"); x; x = x->next) {
		xmlNode *sub, *main;
		char flag[8];

		if (!is(x, "item"))
			continue;
		if ((main = child(x, "main")) && text(main, flag, sizeof(flag)) == 0 &&
		    strcmp(flag, "true") == 0)
			t->main = true;
		if (!(sub = child(x, "subnetId")))
			continue;
		if (t->nsubnets == EC2_MAX_ROUTES)
			return errf(err, errlen, "%s: too many associations", t->id);
		char(*s)[EC2_ID_MAX] = realloc(t->subnets, (t->nsubnets + 1) * sizeof(*s));

		if (!s)
			return -ENOMEM;
		t->subnets = s;
		if (id_of(sub, "subnetId", s[t->nsubnets], EC2_ID_MAX, err, errlen))
			return -EINVAL;
		t->nsubnets++;
	}
	return 0;
}

int ec2_parse_route_tables(const char *buf, size_t len, struct ec2_rtb **out, size_t *n, char *next,
			   size_t nextlen, char *err, size_t errlen)
{
	xmlDoc *doc = parse(buf, len);
	xmlNode *root, *x;
	struct ec2_rtb *v = NULL;
	size_t nv = 0;
	int r = 0;

	*out = NULL;
	*n = 0;
	next[0] = '\0';
	if (!doc)
		return errf(err, errlen, "DescribeRouteTables: not XML");
	root = xmlDocGetRootElement(doc);
	if (!is(root, "DescribeRouteTablesResponse")) {
		r = errf(err, errlen, "DescribeRouteTables: unexpected answer <%.40s>",
			 root ? (const char *)root->name : "");
		goto out;
	}
	if ((x = child(root, "nextToken")) && text(x, next, nextlen) < 0) {
		r = errf(err, errlen, "DescribeRouteTables: nextToken too long");
		goto out;
	}
	for (x = child(child(root, "routeTableSet"), "item"); x; x = x->next) {
		struct ec2_rtb *w;

		if (!is(x, "item"))
			continue;
		if (nv == EC2_MAX_TABLES) {
			r = errf(err, errlen, "DescribeRouteTables: more than %d tables",
				 EC2_MAX_TABLES);
			goto out;
		}
		w = realloc(v, (nv + 1) * sizeof(*w));
		if (!w) {
			r = -ENOMEM;
			goto out;
		}
		v = w;
		memset(&v[nv], 0, sizeof(v[nv]));
		r = parse_table(x, &v[nv++], err, errlen);
		if (r)
			goto out;
	}
out:
	xmlFreeDoc(doc);
	if (r) {
		ec2_rtbs_free(v, nv);
		return r;
	}
	*out = v;
	*n = nv;
	return 0;
}

void ec2_rtbs_free(struct ec2_rtb *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].routes);
		free(v[i].subnets);
	}
	free(v);
}

/* The text of root/name/.../child as "true" or "false". */
static int boolean_at(xmlNode *x, bool *out, const char *what, char *err, size_t errlen)
{
	char s[8];

	if (!x || text(x, s, sizeof(s)) < 0 || (strcmp(s, "true") && strcmp(s, "false")))
		return errf(err, errlen, "%s: no true/false answer", what);
	*out = strcmp(s, "true") == 0;
	return 0;
}

int ec2_parse_source_dest_check(const char *buf, size_t len, bool *on, char *err, size_t errlen)
{
	xmlDoc *doc = parse(buf, len);
	xmlNode *root;
	int r;

	if (!doc)
		return errf(err, errlen, "DescribeNetworkInterfaceAttribute: not XML");
	root = xmlDocGetRootElement(doc);
	if (!is(root, "DescribeNetworkInterfaceAttributeResponse"))
		r = errf(err, errlen, "DescribeNetworkInterfaceAttribute: unexpected answer");
	else
		r = boolean_at(child(child(root, "sourceDestCheck"), "value"), on,
			       "DescribeNetworkInterfaceAttribute sourceDestCheck", err, errlen);
	xmlFreeDoc(doc);
	return r;
}

int ec2_parse_return(const char *buf, size_t len, const char *action, char *err, size_t errlen)
{
	xmlDoc *doc = parse(buf, len);
	xmlNode *root, *ret;
	char want[96];
	bool ok = true;
	int r = 0;

	if (!doc)
		return errf(err, errlen, "not XML");
	root = xmlDocGetRootElement(doc);
	snprintf(want, sizeof(want), "%sResponse", action);
	if (!root || !is(root, want))
		r = errf(err, errlen, "expected a %s document", want);
	/* AWS answers <return>true</return>; some emulators answer nothing */
	else if ((ret = child(root, "return")))
		r = boolean_at(ret, &ok, want, err, errlen);
	if (r == 0 && !ok)
		r = errf(err, errlen, "%s returned false", want);
	xmlFreeDoc(doc);
	return r;
}

int ec2_parse_group_set(const char *buf, size_t len, char (*ids)[EC2_ID_MAX], size_t max, size_t *n,
			char *err, size_t errlen)
{
	xmlDoc *doc = parse(buf, len);
	xmlNode *root, *x;
	int r = 0;

	*n = 0;
	if (!doc)
		return errf(err, errlen, "DescribeNetworkInterfaceAttribute: not XML");
	root = xmlDocGetRootElement(doc);
	if (!is(root, "DescribeNetworkInterfaceAttributeResponse") || !child(root, "groupSet"))
		r = errf(err, errlen,
			 "DescribeNetworkInterfaceAttribute: no groupSet in the answer");
	for (x = r ? NULL : child(child(root, "groupSet"), "item"); x && !r; x = x->next) {
		xmlNode *g;

		if (!is(x, "item"))
			continue;
		if (*n == max)
			r = errf(err, errlen, "more than %zu security groups", max);
		else if (!(g = child(x, "groupId")))
			r = errf(err, errlen, "a security group without groupId");
		else if (!(r = id_of(g, "groupId", ids[*n], EC2_ID_MAX, err, errlen)))
			(*n)++;
	}
	xmlFreeDoc(doc);
	if (r)
		*n = 0;
	return r;
}

static int port_at(const xmlNode *x, int *out)
{
	char s[16], *end;
	long v;

	if (!x) {
		*out = -1;
		return 0;
	}
	if (text(x, s, sizeof(s)) < 0)
		return -EINVAL;
	v = strtol(s, &end, 10);
	/* -1 stands for all (ICMP types and codes too) */
	if (end == s || *end || v < -1 || v > 65535)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

void ec2_perms_free(struct ec2_perm *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		pfx_list_free(&v[i].src);
	free(v);
}

/* The address sources of a rule p (ipRanges' cidrIp, ipv6Ranges' cidrIpv6)
 * into e; groups and prefix lists only noted. */
static int perm_sources(const xmlNode *p, struct ec2_perm *e, char *err, size_t errlen)
{
	static const char *const lists[][2] = { { "ipRanges", "cidrIp" },
						{ "ipv6Ranges", "cidrIpv6" } };
	char s[PFX_STRLEN + 8], why[PFX_ERRLEN];
	struct pfx x;

	e->other_src =
		child(child(p, "groups"), "item") || child(child(p, "prefixListIds"), "item");
	for (size_t l = 0; l < 2; l++)
		for (xmlNode *r = child(child(p, lists[l][0]), "item"); r; r = r->next) {
			const xmlNode *c = is(r, "item") ? child(r, lists[l][1]) : NULL;
			int e2;

			if (!c)
				continue;
			if (text(c, s, sizeof(s)) < 0 ||
			    pfx_parse(s, PFX_NORMALISE, &x, why, sizeof(why)) < 0)
				return errf(err, errlen, "an inbound rule of %s with a bad %s",
					    e->group[0] ? e->group : "a group", lists[l][1]);
			if ((e2 = pfx_list_add(&e->src, &x, EC2_MAX_SOURCES)) == -E2BIG)
				return errf(err, errlen,
					    "an inbound rule with more than %d sources",
					    EC2_MAX_SOURCES);
			if (e2 < 0)
				return e2;
		}
	return 0;
}

int ec2_parse_ingress(const char *buf, size_t len, struct ec2_perm **out, size_t *n, char *err,
		      size_t errlen)
{
	xmlDoc *doc = parse(buf, len);
	xmlNode *root, *g, *p;
	struct ec2_perm *v = NULL;
	size_t k = 0;
	int r = 0;

	*out = NULL;
	*n = 0;
	if (!doc)
		return errf(err, errlen, "DescribeSecurityGroups: not XML");
	root = xmlDocGetRootElement(doc);
	if (!is(root, "DescribeSecurityGroupsResponse") || !child(root, "securityGroupInfo"))
		r = errf(err, errlen, "DescribeSecurityGroups: unexpected answer");
	for (g = r ? NULL : child(child(root, "securityGroupInfo"), "item"); g && !r; g = g->next) {
		char gid[EC2_ID_MAX] = "";
		xmlNode *id;

		if (!is(g, "item"))
			continue;
		if ((id = child(g, "groupId")) &&
		    id_of(id, "groupId", gid, sizeof(gid), err, errlen))
			r = -EINVAL;
		for (p = r ? NULL : child(child(g, "ipPermissions"), "item"); p && !r;
		     p = p->next) {
			struct ec2_perm *w, e = { 0 };
			xmlNode *proto = child(p, "ipProtocol");

			if (!is(p, "item"))
				continue;
			if (k == EC2_MAX_PERMS) {
				r = errf(err, errlen, "more than %d inbound rules", EC2_MAX_PERMS);
				break;
			}
			if (!proto || text(proto, e.proto, sizeof(e.proto)) < 0 || !e.proto[0] ||
			    strspn(e.proto, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
				    strlen(e.proto)) {
				r = errf(err, errlen,
					 "an inbound rule without a usable ipProtocol");
				break;
			}
			if (port_at(child(p, "fromPort"), &e.from) < 0 ||
			    port_at(child(p, "toPort"), &e.to) < 0) {
				r = errf(err, errlen, "an inbound rule with a bad port");
				break;
			}
			memcpy(e.group, gid, sizeof(e.group));
			if ((r = perm_sources(p, &e, err, errlen)) < 0 ||
			    !(w = realloc(v, (k + 1) * sizeof(*w)))) {
				pfx_list_free(&e.src);
				r = r ? r : -ENOMEM;
				break;
			}
			v = w;
			v[k++] = e;
		}
	}
	xmlFreeDoc(doc);
	if (r) {
		ec2_perms_free(v, k);
		return r;
	}
	*out = v;
	*n = k;
	return 0;
}

bool ec2_perm_allows(const struct ec2_perm *p, const char *proto, unsigned port,
		     const struct pfx *from)
{
	bool ports = strcmp(proto, "esp") != 0;
	const char *num = !ports ? "50" : strcmp(proto, "udp") == 0 ? "17" : "6";

	if (strcmp(p->proto, "-1") && strcmp(p->proto, proto) && strcmp(p->proto, num))
		return false;
	if (from && !pfx_list_contains(&p->src, from))
		return false;
	/* all ports: no range, or -1 */
	if (!ports || p->from < 0 || p->to < 0)
		return true;
	return (unsigned)p->from <= port && port <= (unsigned)p->to;
}

/* --- DescribeNetworkInterfaces, DescribeInstances --- */

/* 02:00:00:aa:bb:cc, lower case (EC2 writes them so; /sys shows them so) */
static bool valid_mac(const char *s)
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static int eni_cmp(const void *x, const void *y)
{
	return strcmp(((const struct ec2_eni *)x)->id, ((const struct ec2_eni *)y)->id);
}

/* An optional short field: absent is "", too long or not an id refused. */
static int field(const xmlNode *item, const char *name, bool id, char *buf, size_t len, char *err,
		 size_t errlen)
{
	xmlNode *x = child(item, name);

	buf[0] = '\0';
	if (!x)
		return 0;
	if (text(x, buf, len) < 0 ||
	    (id ? !valid_id(buf) : strspn(buf, "abcdefghijklmnopqrstuvwxyz-") != strlen(buf)))
		return errf(err, errlen, "network interface: %s is not %s", name,
			    id ? "an AWS id" : "a state word");
	return 0;
}

static int parse_eni(const xmlNode *item, struct ec2_eni *e, char *err, size_t errlen)
{
	xmlNode *x = child(item, "networkInterfaceId"), *at = child(item, "attachment");

	memset(e, 0, sizeof(*e));
	if (!x)
		return errf(err, errlen, "a network interface without networkInterfaceId");
	if (id_of(x, "networkInterfaceId", e->id, sizeof(e->id), err, errlen))
		return -EINVAL;
	if (field(item, "subnetId", true, e->subnet, sizeof(e->subnet), err, errlen) ||
	    field(item, "availabilityZone", true, e->az, sizeof(e->az), err, errlen) ||
	    field(item, "status", false, e->status, sizeof(e->status), err, errlen))
		return -EINVAL;
	if (at &&
	    (field(at, "instanceId", true, e->instance, sizeof(e->instance), err, errlen) ||
	     field(at, "status", false, e->attach_status, sizeof(e->attach_status), err, errlen) ||
	     field(at, "attachmentId", true, e->attachment, sizeof(e->attachment), err, errlen)))
		return -EINVAL;
	if ((x = child(item, "macAddress")) &&
	    (text(x, e->mac, sizeof(e->mac)) < 0 || !valid_mac(e->mac)))
		return errf(err, errlen, "network interface %s: macAddress is not a MAC address",
			    e->id);
	return 0;
}

int ec2_parse_instance_state(const char *buf, size_t len, const char *id, char *state,
			     size_t statelen, char *err, size_t errlen)
{
	xmlDoc *doc = parse(buf, len);
	xmlNode *root, *res, *in;
	char got[EC2_ID_MAX];
	int r = -ENOENT;

	state[0] = '\0';
	if (!doc)
		return errf(err, errlen, "DescribeInstances: not XML");
	root = xmlDocGetRootElement(doc);
	if (!is(root, "DescribeInstancesResponse")) {
		r = errf(err, errlen, "DescribeInstances: unexpected answer");
		goto out;
	}
	for (res = child(child(root, "reservationSet"), "item"); res && r == -ENOENT;
	     res = res->next) {
		if (!is(res, "item"))
			continue;
		for (in = child(child(res, "instancesSet"), "item"); in && r == -ENOENT;
		     in = in->next) {
			xmlNode *x = child(in, "instanceId");

			if (!is(in, "item") || !x || text(x, got, sizeof(got)) < 0 ||
			    strcmp(got, id))
				continue;
			x = child(child(in, "instanceState"), "name");
			if (!x || text(x, state, statelen) < 0 || !state[0] ||
			    strspn(state, "abcdefghijklmnopqrstuvwxyz-") != strlen(state)) {
				state[0] = '\0';
				r = errf(err, errlen, "DescribeInstances: %s has no usable state",
					 id);
			} else {
				r = 0;
			}
		}
	}
	if (r == -ENOENT)
		snprintf(err, errlen, "DescribeInstances: %s is not in the answer", id);
out:
	xmlFreeDoc(doc);
	return r;
}

int ec2_parse_network_interfaces(const char *buf, size_t len, struct ec2_eni **out, size_t *n,
				 char *next, size_t nextlen, char *err, size_t errlen)
{
	xmlDoc *doc = parse(buf, len);
	xmlNode *root, *x;
	struct ec2_eni *v = NULL, *w;
	size_t nv = 0;
	int r = 0;

	*out = NULL;
	*n = 0;
	next[0] = '\0';
	if (!doc)
		return errf(err, errlen, "DescribeNetworkInterfaces: not XML");
	root = xmlDocGetRootElement(doc);
	if (!is(root, "DescribeNetworkInterfacesResponse")) {
		r = errf(err, errlen, "DescribeNetworkInterfaces: unexpected answer <%.40s>",
			 root ? (const char *)root->name : "");
		goto out;
	}
	if ((x = child(root, "nextToken")) && text(x, next, nextlen) < 0) {
		r = errf(err, errlen, "DescribeNetworkInterfaces: nextToken too long");
		goto out;
	}
	for (x = child(child(root, "networkInterfaceSet"), "item"); x; x = x->next) {
		if (!is(x, "item"))
			continue;
		if (nv == EC2_MAX_ENIS) {
			r = errf(err, errlen, "DescribeNetworkInterfaces: more than %d interfaces",
				 EC2_MAX_ENIS);
			goto out;
		}
		if (!(w = realloc(v, (nv + 1) * sizeof(*w)))) {
			r = -ENOMEM;
			goto out;
		}
		v = w;
		if ((r = parse_eni(x, &v[nv], err, errlen)))
			goto out;
		nv++;
	}
	if (nv)
		qsort(v, nv, sizeof(*v), eni_cmp);
	for (size_t i = 1; i < nv; i++)
		if (strcmp(v[i - 1].id, v[i].id) == 0) {
			r = errf(err, errlen, "DescribeNetworkInterfaces: %s twice", v[i].id);
			goto out;
		}
out:
	xmlFreeDoc(doc);
	if (r) {
		free(v);
		return r;
	}
	*out = v;
	*n = nv;
	return 0;
}

const struct ec2_eni *ec2_eni_find(const struct ec2_eni *v, size_t n, const char *id)
{
	struct ec2_eni k;

	if (!n || snprintf(k.id, sizeof(k.id), "%s", id) >= (int)sizeof(k.id))
		return NULL;
	return bsearch(&k, v, n, sizeof(k), eni_cmp);
}
