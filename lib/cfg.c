// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cfg.h"
#include "cn.h"
#include "jget.h"
#include "jpos.h"
#include "policy.h"

#define PATH_LEN 512

/* Loader state: the text (for positions) and where errors go. */
struct ld {
	const char *name;
	const char *buf;
	size_t len;
	char *err;
	size_t errlen;
};

static int fail(struct ld *l, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ld *l, const char *path, const char *fmt, ...)
{
	int line, col;
	size_t n;
	va_list ap;

	if (jpos_find(l->buf, l->len, path, &line, &col) == 0)
		snprintf(l->err, l->errlen, "%s:%d:%d: %s%s", l->name, line, col, path,
			 *path ? ": " : "");
	else
		snprintf(l->err, l->errlen, "%s: %s%s", l->name, path, *path ? ": " : "");
	n = strlen(l->err);
	va_start(ap, fmt);
	vsnprintf(l->err + n, l->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Key paths longer than PATH_LEN are cut; they only label error messages. */
static const char *child(char *out, const char *parent, const char *key)
{
	if (snprintf(out, PATH_LEN, "%s%s%s", parent, *parent ? "." : "", key) >= PATH_LEN)
		strcpy(out + PATH_LEN - 4, "...");
	return out;
}

static const char *elem(char *out, const char *parent, size_t i)
{
	if (snprintf(out, PATH_LEN, "%s[%zu]", parent, i) >= PATH_LEN)
		strcpy(out + PATH_LEN - 4, "...");
	return out;
}

static const char *type_name(const json_t *v)
{
	return jget_type_name(v);
}

/* A jget_* status as an error of the member key of path (of path itself when missing). */
static int jfail(struct ld *l, const char *path, const char *key, int status, const char *msg)
{
	char p[PATH_LEN];

	if (status == JGET_OK || status == JGET_ABSENT)
		return 0;
	return fail(l, status == JGET_MISSING ? path : child(p, path, key), "%s", msg);
}

/*
 * Every key of obj must be one of the NULL-terminated list, or an annotation
 * ("$schema", "_comment", any key that begins with '_'), which is ignored. An
 * unknown key is named with the closest known one.
 */
static int check_keys(struct ld *l, const char *path, json_t *obj, const char *const *known)
{
	const char *key = NULL;
	char m[CFG_ERRLEN];
	int r = jget_keys_flags(obj, known, JGET_ANNOTATED | JGET_SUGGEST, &key, m, sizeof(m));

	return jfail(l, path, key, r, m);
}

static int want(struct ld *l, const char *path, json_t *v, json_type t, const char *what)
{
	char m[CFG_ERRLEN];

	if (jget_type(v, t, what, m, sizeof(m)) == JGET_OK)
		return 0;
	return fail(l, path, "%s", m);
}

static int get_bool(struct ld *l, const char *path, json_t *obj, const char *key, bool def,
		    bool *out)
{
	char m[CFG_ERRLEN];

	*out = def;
	return jfail(l, path, key, jget_bool(obj, key, 0, out, m, sizeof(m)), m);
}

static int get_uint(struct ld *l, const char *path, json_t *obj, const char *key, unsigned min,
		    unsigned max, unsigned def, unsigned *out)
{
	char m[CFG_ERRLEN];
	json_int_t i = def;
	int r = jget_int(obj, key, 0, min, max, &i, m, sizeof(m));

	*out = (unsigned)i;
	return jfail(l, path, key, r, m);
}

/* A string; *out is strdup'ed, or NULL when absent and not required. */
static int get_str(struct ld *l, const char *path, json_t *obj, const char *key, bool required,
		   char **out)
{
	char m[CFG_ERRLEN];
	const char *s;
	int r = jget_str(obj, key, JGET_NONEMPTY | (required ? JGET_REQUIRED : 0), JGET_ANYLEN, &s,
			 m, sizeof(m));

	*out = NULL;
	if (r != JGET_OK)
		return jfail(l, path, key, r, m);
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

/* One of a fixed list of words; returns its index in *out. */
static int get_enum(struct ld *l, const char *path, json_t *obj, const char *key,
		    const char *const *words, int def, int *out)
{
	char m[CFG_ERRLEN];

	*out = def;
	return jfail(l, path, key, jget_word(obj, key, 0, words, out, m, sizeof(m)), m);
}

static int parse_pfx_at(struct ld *l, const char *path, json_t *v, int flags, struct pfx *out)
{
	char e[PFX_ERRLEN];

	if (want(l, path, v, JSON_STRING, "a prefix string"))
		return -EINVAL;
	if (pfx_parse(json_string_value(v), flags, out, e, sizeof(e)) < 0) {
		if (dnsname_looks_like(json_string_value(v)) &&
		    dnsname_valid(json_string_value(v), NULL, e, sizeof(e)))
			return fail(
				l, path,
				"\"%s\" is a host name; names are allowed only as the \"to\" "
				"of a to_local or from_local rule, here an address or prefix is "
				"needed",
				json_string_value(v));
		return fail(l, path, "%s", e);
	}
	return 0;
}

/*
 * A rule's "to": a prefix (or address), or a host name the agent resolves
 * (lib/dnsname.h): a name with a prefix length, or a malformed one, is
 * named as such.
 */
static int parse_rule_to(struct ld *l, const char *path, json_t *v, struct cfg_rule *rule)
{
	char e[PFX_ERRLEN], name[DNSNAME_MAX + 1];
	const char *s, *slash;

	if (want(l, path, v, JSON_STRING, "a prefix, address or host name string"))
		return -EINVAL;
	s = json_string_value(v);
	if (!dnsname_looks_like(s))
		return parse_pfx_at(l, path, v, PFX_HOST, &rule->to);
	if ((slash = strchr(s, '/'))) {
		char base[DNSNAME_MAX + 2];

		snprintf(base, sizeof(base), "%.*s", (int)(slash - s), s);
		if (dnsname_valid(base, NULL, e, sizeof(e)))
			return fail(l, path,
				    "\"%s\": a host name takes no prefix length (its addresses are "
				    "allowed one by one)",
				    s);
		return fail(l, path, "\"%s\" is neither a prefix nor a host name", s);
	}
	if (!dnsname_valid(s, name, e, sizeof(e)))
		return fail(l, path, "%s", e);
	if (!(rule->to_name = strdup(name)))
		return -ENOMEM;
	return 0;
}

static int parse_addr_at(struct ld *l, const char *path, json_t *v, int family, struct pfx *out)
{
	if (want(l, path, v, JSON_STRING, "an address string"))
		return -EINVAL;
	if (pfx_addr_parse(json_string_value(v), out) < 0 || out->family != family)
		return fail(l, path, "\"%s\" is not an %s address", json_string_value(v),
			    family == AF_INET ? "IPv4" : "IPv6");
	return 0;
}

/* An array of prefixes without duplicates or overlaps among themselves. */
static int get_pfx_list(struct ld *l, const char *path, json_t *obj, const char *key,
			struct pfx_list *out)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_LEN], pe[PATH_LEN], a[PFX_STRLEN], b[PFX_STRLEN];
	size_t i;

	if (!v)
		return 0;
	child(p, path, key);
	if (want(l, p, v, JSON_ARRAY, "an array of prefixes"))
		return -EINVAL;
	if (json_array_size(v) > 4096)
		return fail(l, p, "more than 4096 prefixes");
	out->v = calloc(json_array_size(v) + 1, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	for (i = 0; i < json_array_size(v); i++) {
		struct pfx *x = &out->v[i];

		if (parse_pfx_at(l, elem(pe, p, i), json_array_get(v, i), 0, x))
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (pfx_overlaps(&out->v[j], x))
				return fail(l, pe, "%s overlaps %s at %s[%zu]",
					    pfx_format(x, a, sizeof(a)),
					    pfx_format(&out->v[j], b, sizeof(b)), p, j);
		out->n++;
	}
	return 0;
}

static const struct pfx *list_find_containing(const struct pfx_list *l, const struct pfx *x)
{
	for (size_t i = 0; i < l->n; i++)
		if (pfx_contains(&l->v[i], x))
			return &l->v[i];
	return NULL;
}

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int get_ports(struct ld *l, const char *path, json_t *arr, struct cfg_rule *r)
{
	char pe[PATH_LEN];

	if (want(l, path, arr, JSON_ARRAY, "an array of ports"))
		return -EINVAL;
	if (json_array_size(arr) == 0 || json_array_size(arr) > 256)
		return fail(l, path, "expected 1 to 256 ports or ranges");
	r->ports = calloc(json_array_size(arr), sizeof(*r->ports));
	if (!r->ports)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *v = json_array_get(arr, i);
		struct cfg_ports *pr = &r->ports[i];

		elem(pe, path, i);
		if (json_is_integer(v)) {
			json_int_t n = json_integer_value(v);

			if (n < 1 || n > 65535)
				return fail(l, pe,
					    "port %" JSON_INTEGER_FORMAT
					    " is out of range (1-65535)",
					    n);
			pr->lo = pr->hi = (uint16_t)n;
		} else if (json_is_string(v)) {
			char buf[16], *dash;
			const char *s = json_string_value(v);

			if (strlen(s) >= sizeof(buf))
				return fail(l, pe, "\"%s\" is not a port range", s);
			strcpy(buf, s);
			dash = strchr(buf, '-');
			if (!dash)
				return fail(l, pe, "\"%s\" is not a port range (\"LO-HI\")", s);
			*dash = '\0';
			if (parse_port(buf, &pr->lo) || parse_port(dash + 1, &pr->hi) ||
			    pr->lo > pr->hi)
				return fail(l, pe,
					    "\"%s\" is not a port range (\"LO-HI\", 1-65535)", s);
		} else {
			return fail(l, pe, "expected a port number or \"LO-HI\", got %s",
				    type_name(v));
		}
		r->nports++;
	}
	return 0;
}

static const char *const rule_keys[] = { "to", "proto", "ports", "masquerade", "log", NULL };
static const char *const proto_words[] = { "any", "tcp", "udp", "icmp", "icmpv6", NULL };
static const uint8_t proto_nums[] = { 0, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 };

/* true, false, or an array of rules. */
static int get_access(struct ld *l, const char *path, json_t *obj, const char *key,
		      enum cfg_access_kind def, struct cfg_access *out)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_LEN], pe[PATH_LEN], pk[PATH_LEN];

	out->kind = def;
	if (!v)
		return 0;
	child(p, path, key);
	if (json_is_boolean(v)) {
		out->kind = json_is_true(v) ? CFG_ACCESS_ALL : CFG_ACCESS_NONE;
		return 0;
	}
	if (!json_is_array(v))
		return fail(l, p, "expected true, false or an array of rules, got %s",
			    type_name(v));
	if (json_array_size(v) > 1024)
		return fail(l, p, "more than 1024 rules");
	out->kind = CFG_ACCESS_RULES;
	out->rules = calloc(json_array_size(v) + 1, sizeof(*out->rules));
	if (!out->rules)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *r = json_array_get(v, i);
		struct cfg_rule *rule = &out->rules[i];
		json_t *ports;
		int proto, e;

		elem(pe, p, i);
		out->nrules++;
		if (want(l, pe, r, JSON_OBJECT, "a rule object"))
			return -EINVAL;
		if ((e = check_keys(l, pe, r, rule_keys)))
			return e;
		if (!json_object_get(r, "to"))
			return fail(l, pe, "missing required key \"to\"");
		if ((e = parse_rule_to(l, child(pk, pe, "to"), json_object_get(r, "to"), rule)))
			return e;
		if ((e = get_enum(l, pe, r, "proto", proto_words, 0, &proto)))
			return e;
		rule->proto = proto_nums[proto];
		ports = json_object_get(r, "ports");
		if (ports) {
			if (rule->proto != IPPROTO_TCP && rule->proto != IPPROTO_UDP)
				return fail(l, child(pk, pe, "ports"),
					    "ports need \"proto\": \"tcp\" or \"udp\"");
			if ((e = get_ports(l, child(pk, pe, "ports"), ports, rule)))
				return e;
		}
		if ((e = get_bool(l, pe, r, "masquerade", false, &rule->masquerade)) ||
		    (e = get_bool(l, pe, r, "log", false, &rule->log)))
			return e;
		if (rule->masquerade && strcmp(key, "to_local"))
			return fail(l, child(pk, pe, "masquerade"),
				    "only in \"to_local\" rules (connections from the remote side "
				    "leave with this host's address)");
		/* a name's addresses of the other family are left out (icmp: A only) */
		if (!rule->to_name &&
		    ((rule->proto == IPPROTO_ICMP && rule->to.family != AF_INET) ||
		     (rule->proto == IPPROTO_ICMPV6 && rule->to.family != AF_INET6)))
			return fail(l, child(pk, pe, "proto"),
				    "%s does not match the family of \"to\"", proto_words[proto]);
	}
	return 0;
}

/* Each rule's destination must lie inside one of the networks of `a` or `b`. */
static int check_rules_inside(struct ld *l, const char *path, const char *key,
			      const struct cfg_access *acc, const struct pfx_list *a,
			      const struct pfx_list *b, const char *what)
{
	char p[PATH_LEN], pe[PATH_LEN], pk[PATH_LEN], s[PFX_STRLEN];

	child(p, path, key);
	for (size_t i = 0; i < acc->nrules; i++) {
		const struct pfx *to = &acc->rules[i].to;

		/* a name's addresses: checked by the agent as they are resolved */
		if (acc->rules[i].to_name)
			continue;
		if (list_find_containing(a, to) || (b && list_find_containing(b, to)))
			continue;
		return fail(l, child(pk, elem(pe, p, i), "to"), "%s is not inside %s",
			    pfx_format(to, s, sizeof(s)), what);
	}
	return 0;
}

static void access_free(struct cfg_access *a)
{
	for (size_t i = 0; i < a->nrules; i++) {
		free(a->rules[i].ports);
		free(a->rules[i].to_name);
	}
	free(a->rules);
	a->rules = NULL;
	a->nrules = 0;
}

static const char *const client_keys[] = { "allow",	  "iroutes",  "address",    "address6",
					   "push_routes", "to_local", "from_local", NULL };

static int load_client(struct ld *l, struct cfg *c, const char *path, const char *name, json_t *obj,
		       bool is_default, struct cfg_client *cl)
{
	char p[PATH_LEN], pe[PATH_LEN], a[PFX_STRLEN], why[POLICY_REASON_MAX];
	json_t *v;
	int e;

	if (want(l, path, obj, JSON_OBJECT, "a client object"))
		return -EINVAL;
	if ((e = check_keys(l, path, obj, client_keys)))
		return e;
	cl->name = strdup(name);
	if (!cl->name)
		return -ENOMEM;
	if ((e = get_pfx_list(l, path, obj, "allow", &cl->allow)) ||
	    (e = get_pfx_list(l, path, obj, "iroutes", &cl->iroutes)) ||
	    (e = get_pfx_list(l, path, obj, "push_routes", &cl->push_routes)) ||
	    (e = get_access(l, path, obj, "to_local", CFG_ACCESS_ALL, &cl->to_local)) ||
	    (e = get_access(l, path, obj, "from_local", CFG_ACCESS_NONE, &cl->from_local)))
		return e;
	if (is_default && cl->iroutes.n)
		return fail(l, child(p, path, "iroutes"),
			    "the default entry cannot announce networks: every unknown client "
			    "would announce the same ones");
	if (is_default && (json_object_get(obj, "address") || json_object_get(obj, "address6")))
		return fail(
			l, child(p, path, json_object_get(obj, "address") ? "address" : "address6"),
			"the default entry cannot have a fixed address");
	if ((v = json_object_get(obj, "address"))) {
		child(p, path, "address");
		if (parse_addr_at(l, p, v, AF_INET, &cl->address))
			return -EINVAL;
		if (policy_address_invalid(c, &cl->address, why, sizeof(why)))
			return fail(l, p, "%s", why);
		cl->has_address = true;
	}
	if ((v = json_object_get(obj, "address6"))) {
		child(p, path, "address6");
		if (parse_addr_at(l, p, v, AF_INET6, &cl->address6))
			return -EINVAL;
		if (policy_address_invalid(c, &cl->address6, why, sizeof(why)))
			return fail(l, p, "%s", why);
		cl->has_address6 = true;
	}
	/* What the policy announces must be allowed; allow defaults to iroutes. */
	for (size_t i = 0; cl->allow.n && i < cl->iroutes.n; i++)
		if (!list_find_containing(&cl->allow, &cl->iroutes.v[i]))
			return fail(l, elem(pe, child(p, path, "iroutes"), i),
				    "%s is not inside the client's \"allow\" networks",
				    pfx_format(&cl->iroutes.v[i], a, sizeof(a)));
	for (int pass = 0; pass < 2; pass++) {
		const struct pfx_list *nets = pass ? &cl->iroutes : &cl->allow;
		const char *key = pass ? "iroutes" : "allow";

		for (size_t i = 0; i < nets->n; i++) {
			if (policy_net_reserved(c, &nets->v[i], why, sizeof(why)))
				return fail(l, elem(pe, child(p, path, key), i), "%s", why);
		}
	}
	if ((e = check_rules_inside(l, path, "from_local", &cl->from_local, &cl->allow,
				    &cl->iroutes, "the client's networks")))
		return e;
	if (!c->local_auto && (e = check_rules_inside(l, path, "to_local", &cl->to_local, &c->local,
						      NULL, "the local networks")))
		return e;
	return 0;
}

/* A UNIX socket's path (NULL: unset): absolute, and fits sun_path. */
static int check_socket_path(struct ld *l, const char *path, const char *v)
{
	struct sockaddr_un sun;

	if (v && v[0] != '/')
		return fail(l, path, "\"%s\" is not an absolute path", v);
	if (v && strlen(v) >= sizeof(sun.sun_path))
		return fail(l, path, "longer than %zu bytes", sizeof(sun.sun_path) - 1);
	return 0;
}

bool cfg_peer_key_id(const char *key, const char **id)
{
	size_t n = strlen(key);
	struct pfx a;

	if (strncmp(key, "id:", 3) == 0) {
		*id = key + 3;
		return true;
	}
	*id = key;
	if (pfx_addr_parse(key, &a) == 0)
		return false;
	/* a mistyped address is no identity: "203.0.113.07", "2001:db8::12345" */
	return strspn(key, "0123456789.") != n &&
	       !(strchr(key, ':') && strspn(key, "0123456789abcdefABCDEF:.") == n);
}

static const char *const peer_keys[] = { "allow", "to_local", "from_local", NULL };

/* ipsec.peers.ADDR: like a client, without tunnel addresses, iroutes or
 * pushed routes (the IKE daemon's configuration says what is tunnelled). */
static int load_peer(struct ld *l, struct cfg *c, const char *path, const char *name, json_t *obj,
		     struct cfg_peer *pe)
{
	char p[PATH_LEN];
	int e;

	const char *id;

	if (cfg_peer_key_id(name, &id)) {
		size_t n = strlen(id);

		if (!*cfg_id_text(id) || n > CFG_PEER_ID_MAX)
			return fail(l, path,
				    "an IKE identity of 1 to %d bytes, or the IPv4 or IPv6 address "
				    "of the peer's tunnel end",
				    CFG_PEER_ID_MAX);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
				return fail(l, path,
					    "an IKE identity has no control characters (byte %zu)",
					    i + (size_t)(id - name));
		if (!(pe->id = strdup(id)))
			return -ENOMEM;
	} else if (pfx_addr_parse(name, &pe->addr) < 0) {
		return fail(l, path,
			    "\"%s\" is not an address: a peer is named by the IPv4 or IPv6 "
			    "address of its tunnel end, or by its IKE identity (write \"id:%s\" "
			    "for an identity that looks like an address)",
			    name, name);
	}
	if (want(l, path, obj, JSON_OBJECT, "a peer object"))
		return -EINVAL;
	if ((e = check_keys(l, path, obj, peer_keys)))
		return e;
	if (!json_object_get(obj, "allow"))
		return fail(l, path,
			    "missing required key \"allow\" (the networks it may announce)");
	if ((e = load_client(l, c, path, name, obj, false, &pe->pol)))
		return e;
	if (!pe->pol.allow.n)
		return fail(l, child(p, path, "allow"), "must name at least one network");
	return 0;
}

static void client_free(struct cfg_client *cl)
{
	free(cl->name);
	pfx_list_free(&cl->allow);
	pfx_list_free(&cl->iroutes);
	pfx_list_free(&cl->push_routes);
	access_free(&cl->to_local);
	access_free(&cl->from_local);
}

/* No two clients may announce overlapping networks or share an address. */
static int check_clients_disjoint(struct ld *l, struct cfg *c)
{
	char p[PATH_LEN], pe[PATH_LEN], pk[PATH_LEN], a[PFX_STRLEN], b[PFX_STRLEN];

	for (size_t i = 0; i < c->nclients; i++) {
		struct cfg_client *x = &c->clients[i];

		for (size_t j = 0; j < i; j++) {
			struct cfg_client *y = &c->clients[j];

			snprintf(p, sizeof(p), "clients.%s", x->name);
			if (x->has_address && y->has_address && pfx_equal(&x->address, &y->address))
				return fail(l, child(pe, p, "address"),
					    "%s is already the address of client \"%s\"",
					    pfx_format_addr(&x->address, a, sizeof(a)), y->name);
			if (x->has_address6 && y->has_address6 &&
			    pfx_equal(&x->address6, &y->address6))
				return fail(l, child(pe, p, "address6"),
					    "%s is already the address of client \"%s\"",
					    pfx_format_addr(&x->address6, a, sizeof(a)), y->name);
			for (size_t k = 0; k < x->iroutes.n; k++) {
				const struct pfx *o =
					pfx_list_overlap(&y->iroutes, &x->iroutes.v[k]);

				if (o)
					return fail(l, elem(pe, child(pk, p, "iroutes"), k),
						    "%s overlaps %s of client \"%s\"",
						    pfx_format(&x->iroutes.v[k], a, sizeof(a)),
						    pfx_format(o, b, sizeof(b)), y->name);
			}
		}
	}
	return 0;
}

static int load_clients(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *clients = json_object_get(root, "clients"), *v;
	const char *name;
	char p[PATH_LEN], e[CFG_ERRLEN];
	int r;

	if (clients) {
		if (want(l, "clients", clients, JSON_OBJECT, "an object of clients by common name"))
			return -EINVAL;
		c->clients = calloc(json_object_size(clients) + 1, sizeof(*c->clients));
		if (!c->clients)
			return -ENOMEM;
		json_object_foreach(clients, name, v)
		{
			/* A common name may begin with '_': an object there is a client. */
			if (jget_annotation(name) && !json_is_object(v))
				continue;
			child(p, "clients", name);
			if (!cn_valid(name, e, sizeof(e)))
				return fail(l, p, "%s", e);
			r = load_client(l, c, p, name, v, false, &c->clients[c->nclients++]);
			if (r)
				return r;
		}
		if ((r = check_clients_disjoint(l, c)))
			return r;
	}
	if ((v = json_object_get(root, "default_client"))) {
		if (c->strict)
			return fail(
				l, "default_client",
				"never used: \"strict\" is true, so unknown clients are refused");
		c->default_client = calloc(1, sizeof(*c->default_client));
		if (!c->default_client)
			return -ENOMEM;
		return load_client(l, c, "default_client", "(default)", v, true, c->default_client);
	}
	return 0;
}

static const char *const ipsec_keys[] = { "peers", "vici_socket", NULL };

static int load_ipsec(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *ipsec = json_object_get(root, "ipsec"), *peers, *v;
	char p[PATH_LEN], a[PFX_STRLEN];
	const char *name;
	int e;

	if (!ipsec)
		return 0;
	if (want(l, "ipsec", ipsec, JSON_OBJECT, "an object"))
		return -EINVAL;
	if ((e = check_keys(l, "ipsec", ipsec, ipsec_keys)) ||
	    (e = get_str(l, "ipsec", ipsec, "vici_socket", false, &c->vici_socket)) ||
	    (e = check_socket_path(l, "ipsec.vici_socket", c->vici_socket)))
		return e;
	if (!(peers = json_object_get(ipsec, "peers")))
		return 0;
	if (want(l, "ipsec.peers", peers, JSON_OBJECT,
		 "an object of peers by address or IKE identity"))
		return -EINVAL;
	c->peers = calloc(json_object_size(peers) + 1, sizeof(*c->peers));
	if (!c->peers)
		return -ENOMEM;
	json_object_foreach(peers, name, v)
	{
		struct cfg_peer *pe = &c->peers[c->npeers];

		if (jget_annotation(name) && !json_is_object(v))
			continue;
		child(p, "ipsec.peers", name);
		c->npeers++;
		if ((e = load_peer(l, c, p, name, v, pe)))
			return e;
		c->npeer_ids += pe->id != NULL;
		for (size_t j = 0; j + 1 < c->npeers; j++)
			if (pe->id && c->peers[j].id &&
			    strcmp(cfg_id_text(pe->id), cfg_id_text(c->peers[j].id)) == 0)
				return fail(l, p,
					    "the IKE identity \"%s\" is already the peer \"%s\"",
					    pe->id, c->peers[j].pol.name);
			else if (!pe->id && !c->peers[j].id &&
				 pfx_equal(&c->peers[j].addr, &pe->addr))
				return fail(l, p, "%s is already the peer \"%s\"",
					    pfx_format_addr(&pe->addr, a, sizeof(a)),
					    c->peers[j].pol.name);
	}
	return 0;
}

static const char *const socket_keys[] = { "path",	   "mode",	    "group",
					   "openvpn_user", "openvpn_group", NULL };

static int load_socket(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *s = json_object_get(root, "socket"), *v;
	int e;

	c->socket.mode = 0660;
	if (s) {
		if (want(l, "socket", s, JSON_OBJECT, "an object"))
			return -EINVAL;
		if ((e = check_keys(l, "socket", s, socket_keys)) ||
		    (e = get_str(l, "socket", s, "path", false, &c->socket.path)) ||
		    (e = get_str(l, "socket", s, "group", false, &c->socket.group)) ||
		    (e = get_str(l, "socket", s, "openvpn_user", false, &c->socket.openvpn_user)) ||
		    (e = get_str(l, "socket", s, "openvpn_group", false, &c->socket.openvpn_group)))
			return e;
		if ((v = json_object_get(s, "mode"))) {
			const char *m = json_is_string(v) ? json_string_value(v) : "";
			char *end;
			unsigned long mode = strtoul(m, &end, 8);

			if (!*m || *end || strlen(m) > 4 || strspn(m, "01234567") != strlen(m) ||
			    mode > 0777)
				return fail(l, "socket.mode",
					    "expected an octal mode string such as \"0660\"");
			c->socket.mode = (mode_t)mode;
		}
	}
	if (!c->socket.path && !(c->socket.path = strdup(CFG_DEFAULT_SOCKET)))
		return -ENOMEM;
	return check_socket_path(l, "socket.path", c->socket.path);
}

static int load_local(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *v = json_object_get(root, "local_networks");

	if (!v)
		return fail(l, "", "missing required key \"local_networks\"");
	if (json_is_string(v)) {
		if (strcmp(json_string_value(v), "auto"))
			return fail(l, "local_networks",
				    "expected \"auto\" or an array of prefixes, got \"%s\"",
				    json_string_value(v));
		c->local_auto = true;
		return 0;
	}
	if (json_is_array(v) && json_array_size(v) == 0)
		return fail(l, "local_networks", "must name at least one network");
	return get_pfx_list(l, "", root, "local_networks", &c->local);
}

static const char *const tunnel_keys[] = { "pool", "pool6", NULL };

static int load_tunnel(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *t = json_object_get(root, "tunnel"), *v;
	char a[PFX_STRLEN], b[PFX_STRLEN];
	const struct pfx *o;
	int e;

	if (!t) {
		if (c->role == CFG_ROLE_SERVER)
			return fail(l, "",
				    "missing required key \"tunnel\" (the server's tunnel pool)");
		return 0;
	}
	if (c->role != CFG_ROLE_SERVER)
		return fail(l, "tunnel", "only valid with \"role\": \"server\"");
	if (want(l, "tunnel", t, JSON_OBJECT, "an object"))
		return -EINVAL;
	if ((e = check_keys(l, "tunnel", t, tunnel_keys)))
		return e;
	if (!(v = json_object_get(t, "pool")))
		return fail(l, "tunnel", "missing required key \"pool\"");
	if (parse_pfx_at(l, "tunnel.pool", v, 0, &c->pool))
		return -EINVAL;
	if (c->pool.family != AF_INET || c->pool.len > 30)
		return fail(l, "tunnel.pool", "must be an IPv4 prefix of length 30 or shorter");
	c->has_pool = true;
	if ((v = json_object_get(t, "pool6"))) {
		if (parse_pfx_at(l, "tunnel.pool6", v, 0, &c->pool6))
			return -EINVAL;
		if (c->pool6.family != AF_INET6 || c->pool6.len > 124)
			return fail(l, "tunnel.pool6",
				    "must be an IPv6 prefix of length 124 or shorter");
		c->has_pool6 = true;
	}
	if ((o = pfx_list_overlap(&c->local, &c->pool)))
		return fail(l, "tunnel.pool", "%s overlaps the local network %s",
			    pfx_format(&c->pool, a, sizeof(a)), pfx_format(o, b, sizeof(b)));
	if (c->has_pool6 && (o = pfx_list_overlap(&c->local, &c->pool6)))
		return fail(l, "tunnel.pool6", "%s overlaps the local network %s",
			    pfx_format(&c->pool6, a, sizeof(a)), pfx_format(o, b, sizeof(b)));
	return 0;
}

/* An interface name as the kernel accepts one (dev_valid_name). */
static bool valid_ifname(const char *s)
{
	return *s && strlen(s) < IF_NAMESIZE && !strpbrk(s, "/: \t\n\v\f\r") && strcmp(s, ".") &&
	       strcmp(s, "..");
}

static const char *const nat_keys[] = { "masquerade", "exempt_tunnel", NULL };
static const char *const masq_keys[] = { "sources", "out_interface", "snat_to", NULL };

static int load_nat(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *n = json_object_get(root, "nat"), *m, *v;
	char p[PATH_LEN], pk[PATH_LEN];
	int e;

	c->nat_exempt_tunnel = true;
	if (!n)
		return 0;
	if (want(l, "nat", n, JSON_OBJECT, "an object"))
		return -EINVAL;
	if ((e = check_keys(l, "nat", n, nat_keys)) ||
	    (e = get_bool(l, "nat", n, "exempt_tunnel", true, &c->nat_exempt_tunnel)))
		return e;
	if (!(m = json_object_get(n, "masquerade")))
		return 0;
	if (want(l, "nat.masquerade", m, JSON_ARRAY, "an array"))
		return -EINVAL;
	if (json_array_size(m) > 64)
		return fail(l, "nat.masquerade", "more than 64 entries");
	c->nat = calloc(json_array_size(m) + 1, sizeof(*c->nat));
	if (!c->nat)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(m); i++) {
		json_t *r = json_array_get(m, i);
		struct cfg_nat *x = &c->nat[c->nnat++];
		char *ifname;

		elem(p, "nat.masquerade", i);
		if (want(l, p, r, JSON_OBJECT, "an object"))
			return -EINVAL;
		if ((e = check_keys(l, p, r, masq_keys)) ||
		    (e = get_pfx_list(l, p, r, "sources", &x->sources)) ||
		    (e = get_str(l, p, r, "out_interface", true, &ifname)))
			return e;
		if (!x->sources.n) {
			free(ifname);
			return fail(l, p, "missing or empty \"sources\"");
		}
		if (!valid_ifname(ifname)) {
			free(ifname);
			return fail(l, child(pk, p, "out_interface"), "not a valid interface name");
		}
		strcpy(x->out_interface, ifname);
		free(ifname);
		if ((v = json_object_get(r, "snat_to"))) {
			child(pk, p, "snat_to");
			if (want(l, pk, v, JSON_STRING, "an address string"))
				return -EINVAL;
			if (pfx_addr_parse(json_string_value(v), &x->snat_to) < 0)
				return fail(l, pk, "\"%s\" is not an address",
					    json_string_value(v));
			for (size_t k = 0; k < x->sources.n; k++)
				if (x->sources.v[k].family != x->snat_to.family)
					return fail(l, pk,
						    "address family differs from sources[%zu]", k);
			x->has_snat_to = true;
		}
	}
	return 0;
}

/* --- port forwards, OpenVPN's port, connection logs --- */

static const char *const openvpn_keys[] = { "proto", "port", NULL };
static const char *const l4_words[] = { "tcp", "udp", NULL };
static const uint8_t l4_nums[] = { IPPROTO_TCP, IPPROTO_UDP };

static const char *l4_name(uint8_t p)
{
	return p == IPPROTO_UDP ? "udp" : "tcp";
}

/* openvpn: where OpenVPN listens (default udp 1194 for the server role). */
static int load_openvpn(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *o = json_object_get(root, "openvpn");
	unsigned port;
	int proto, e;

	c->openvpn_proto = c->role == CFG_ROLE_SERVER ? IPPROTO_UDP : 0;
	c->openvpn_port = c->role == CFG_ROLE_SERVER ? 1194 : 0;
	if (!o)
		return 0;
	if (want(l, "openvpn", o, JSON_OBJECT, "an object"))
		return -EINVAL;
	if ((e = check_keys(l, "openvpn", o, openvpn_keys)) ||
	    (e = get_enum(l, "openvpn", o, "proto", l4_words, 0, &proto)) ||
	    (e = get_uint(l, "openvpn", o, "port", 1, 65535, 1194, &port)))
		return e;
	c->openvpn_proto = l4_nums[proto];
	c->openvpn_port = (uint16_t)port;
	return 0;
}

static bool list_has(const struct pfx_list *l, const struct pfx *x)
{
	return list_find_containing(l, x) != NULL;
}

static bool client_reaches(const struct cfg_client *cl, const struct pfx *x)
{
	return cl && (list_has(&cl->allow, x) || list_has(&cl->iroutes, x) ||
		      (cl->has_address && pfx_equal(&cl->address, x)) ||
		      (cl->has_address6 && pfx_equal(&cl->address6, x)));
}

bool cfg_reaches(const struct cfg *c, const struct pfx *x, char *why, size_t len)
{
	char s[PFX_STRLEN];

	if (c->local_auto || list_has(&c->local, x))
		return true;
	if (c->role == CFG_ROLE_SERVER) {
		if ((c->has_pool && pfx_contains(&c->pool, x)) ||
		    (c->has_pool6 && pfx_contains(&c->pool6, x)) ||
		    client_reaches(c->default_client, x))
			return true;
		for (size_t i = 0; i < c->nclients; i++)
			if (client_reaches(&c->clients[i], x))
				return true;
		snprintf(why, len,
			 "%s is not inside a network vpcroute reaches (local_networks, the tunnel "
			 "pool, or a client's allow/iroutes)",
			 pfx_format_addr(x, s, sizeof(s)));
		return false;
	}
	if (!c->accept_routes.n || list_has(&c->accept_routes, x) ||
	    list_has(&c->tunnel_networks, x))
		return true;
	snprintf(why, len,
		 "%s is not inside a network vpcroute reaches (local_networks, accept_routes or "
		 "tunnel_networks)",
		 pfx_format_addr(x, s, sizeof(s)));
	return false;
}

/*
 * The target of a forward: an address for now. The one place that parses
 * it, so that a host name (resolved by the agent) can be accepted here.
 */
static int parse_forward_target(struct ld *l, const char *path, json_t *v, struct pfx *out)
{
	if (want(l, path, v, JSON_STRING, "an address string"))
		return -EINVAL;
	if (pfx_addr_parse(json_string_value(v), out) < 0)
		return fail(l, path, "\"%s\" is not an IPv4 or IPv6 address", json_string_value(v));
	return 0;
}

static const char *const forward_keys[] = { "proto",	    "port",	  "to",	 "to_port",
					    "in_interface", "masquerade", "log", NULL };

static int load_forward(struct ld *l, struct cfg *c, const char *p, json_t *o,
			struct cfg_forward *f)
{
	char pk[PATH_LEN], why[200];
	unsigned port, to_port;
	char *ifname = NULL;
	json_t *v;
	int proto, e;

	if (want(l, p, o, JSON_OBJECT, "a forward object"))
		return -EINVAL;
	if ((e = check_keys(l, p, o, forward_keys)))
		return e;
	for (const char *const *k = (const char *const[]){ "proto", "port", "to", NULL }; *k; k++)
		if (!json_object_get(o, *k))
			return fail(l, p, "missing required key \"%s\"", *k);
	if ((e = get_enum(l, p, o, "proto", l4_words, 0, &proto)))
		return e;
	f->proto = l4_nums[proto];
	if ((v = json_object_get(o, "port")) && json_is_integer(v) &&
	    (json_integer_value(v) < 1 || json_integer_value(v) > 65535))
		return fail(l, child(pk, p, "port"),
			    "port %" JSON_INTEGER_FORMAT " is out of range (1-65535)",
			    json_integer_value(v));
	if ((e = get_uint(l, p, o, "port", 1, 65535, 0, &port)))
		return e;
	if ((v = json_object_get(o, "to_port")) && json_is_integer(v) &&
	    (json_integer_value(v) < 1 || json_integer_value(v) > 65535))
		return fail(l, child(pk, p, "to_port"),
			    "port %" JSON_INTEGER_FORMAT " is out of range (1-65535)",
			    json_integer_value(v));
	if ((e = get_uint(l, p, o, "to_port", 1, 65535, port, &to_port)))
		return e;
	f->port = (uint16_t)port;
	f->to_port = (uint16_t)to_port;
	if (parse_forward_target(l, child(pk, p, "to"), json_object_get(o, "to"), &f->to))
		return -EINVAL;
	if (!cfg_reaches(c, &f->to, why, sizeof(why)))
		return fail(l, pk, "%s", why);
	if ((e = get_str(l, p, o, "in_interface", false, &ifname)))
		return e;
	if (ifname) {
		if (!valid_ifname(ifname)) {
			free(ifname);
			return fail(l, child(pk, p, "in_interface"), "not a valid interface name");
		}
		strcpy(f->in_interface, ifname);
		free(ifname);
	}
	if ((e = get_bool(l, p, o, "masquerade", false, &f->masquerade)) ||
	    (e = get_bool(l, p, o, "log", true, &f->log)))
		return e;
	if (c->openvpn_proto == f->proto && c->openvpn_port == f->port)
		return fail(l, child(pk, p, "port"),
			    "%s port %u is OpenVPN's own (openvpn.proto/openvpn.port): a forward "
			    "there would take its connections",
			    l4_name(f->proto), f->port);
	return 0;
}

static int load_forwards(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *a = json_object_get(root, "port_forwards");
	char p[PATH_LEN], pk[PATH_LEN];
	int e;

	if (!a)
		return 0;
	if (want(l, "port_forwards", a, JSON_ARRAY, "an array of forwards"))
		return -EINVAL;
	if (json_array_size(a) > 256)
		return fail(l, "port_forwards", "more than 256 forwards");
	c->forwards = calloc(json_array_size(a) + 1, sizeof(*c->forwards));
	if (!c->forwards)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(a); i++) {
		struct cfg_forward *f = &c->forwards[i];

		elem(p, "port_forwards", i);
		if ((e = load_forward(l, c, p, json_array_get(a, i), f)))
			return e;
		c->nforwards++;
		/* one listener per protocol and port (and interface, when both name one) */
		for (size_t j = 0; j < i; j++) {
			const struct cfg_forward *g = &c->forwards[j];

			if (g->proto == f->proto && g->port == f->port &&
			    (!f->in_interface[0] || !g->in_interface[0] ||
			     strcmp(f->in_interface, g->in_interface) == 0))
				return fail(l, child(pk, p, "port"),
					    "%s port %u is already forwarded by "
					    "port_forwards[%zu]",
					    l4_name(f->proto), f->port, j);
		}
	}
	return 0;
}

static bool access_logs(const struct cfg_access *a)
{
	for (size_t i = 0; i < a->nrules; i++)
		if (a->rules[i].log)
			return true;
	return false;
}

/* Does some access rule have "log"? */
static bool rules_log(const struct cfg *c)
{
	bool any = access_logs(&c->to_local) || access_logs(&c->from_local);

	for (size_t i = 0; i < c->nclients; i++)
		any |= access_logs(&c->clients[i].to_local) ||
		       access_logs(&c->clients[i].from_local);
	if (c->default_client)
		any |= access_logs(&c->default_client->to_local) ||
		       access_logs(&c->default_client->from_local);
	return any;
}

static const char *const connlog_keys[] = { "new", "drop", "group", "rate_per_s", "burst", NULL };

static int load_connlog(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *o = json_object_get(root, "connection_log");
	struct cfg_connlog *g = &c->connlog;
	unsigned group;
	int e;

	g->new_conns = g->drops = true;
	g->rate_per_s = 10;
	g->burst = 5;
	c->rules_log = rules_log(c);
	if (!o)
		return 0;
	if (want(l, "connection_log", o, JSON_OBJECT, "an object"))
		return -EINVAL;
	if ((e = check_keys(l, "connection_log", o, connlog_keys)) ||
	    (e = get_bool(l, "connection_log", o, "new", true, &g->new_conns)) ||
	    (e = get_bool(l, "connection_log", o, "drop", true, &g->drops)) ||
	    (e = get_uint(l, "connection_log", o, "group", 0, 65535, 0, &group)) ||
	    (e = get_uint(l, "connection_log", o, "rate_per_s", 1, 100000, 10, &g->rate_per_s)) ||
	    (e = get_uint(l, "connection_log", o, "burst", 1, 100000, 5, &g->burst)))
		return e;
	g->enabled = true;
	g->has_group = json_object_get(o, "group") != NULL;
	g->group = (uint16_t)group;
	return 0;
}

static const char *const offload_keys[] = { "devices", NULL };

static int load_offload(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *o = json_object_get(root, "offload"), *d;
	struct cfg_offload *off = &c->offload;
	char p[PATH_LEN];
	int e;

	if (!o)
		return 0;
	if (want(l, "offload", o, JSON_OBJECT, "an object"))
		return -EINVAL;
	if ((e = check_keys(l, "offload", o, offload_keys)))
		return e;
	off->enabled = true;
	if (!(d = json_object_get(o, "devices")))
		return 0;
	if (want(l, "offload.devices", d, JSON_ARRAY, "an array of interface names"))
		return -EINVAL;
	if (json_array_size(d) &&
	    !(off->devices = calloc(json_array_size(d), sizeof(*off->devices))))
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(d); i++) {
		json_t *v = json_array_get(d, i);
		const char *s;

		elem(p, "offload.devices", i);
		if (want(l, p, v, JSON_STRING, "an interface name string"))
			return -EINVAL;
		s = json_string_value(v);
		if (!valid_ifname(s))
			return fail(l, p, "\"%s\" is not a valid interface name", s);
		for (size_t j = 0; j < off->ndevices; j++)
			if (strcmp(off->devices[j], s) == 0)
				return fail(l, p, "%s is listed twice", s);
		strcpy(off->devices[off->ndevices++], s);
	}
	return 0;
}

static const char *const aws_keys[] = { "enabled",
					"region",
					"endpoint",
					"imds_endpoint",
					"access_key_id",
					"secret_access_key",
					"session_token",
					"route_tables",
					"disable_source_dest_check",
					"takeover",
					"withdraw_grace_s",
					"drift_check_s",
					"max_calls_per_s",
					"max_calls_burst",
					"summaries",
					"route_quota",
					"routes",
					"bgp_socket",
					"cluster",
					"interface",
					"elastic_ip",
					NULL };
static const char *const routes_words[] = { "api", "route-server", "off", NULL };

const char *cfg_routes_name(enum cfg_routes r)
{
	return routes_words[r];
}

bool cfg_valid_region(const char *s)
{
	/* e.g. us-east-1, eu-central-2, us-gov-west-1 */
	size_t n = strlen(s);

	if (n < 4 || n > 32 || s[0] == '-' || s[n - 1] < '0' || s[n - 1] > '9' || !strchr(s, '-'))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

bool cfg_valid_cluster(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

bool cfg_valid_aws_id(const char *s, const char *prefix)
{
	size_t n = strlen(s), p = strlen(prefix);

	/* PREFIX- and 8 (older) or 17 hex digits, as AWS issues them */
	return (n == p + 9 || n == p + 18) && strncmp(s, prefix, p) == 0 && s[p] == '-' &&
	       strspn(s + p + 1, "0123456789abcdef") == n - p - 1;
}

static bool valid_rtb(const char *s)
{
	return cfg_valid_aws_id(s, "rtb");
}

bool cfg_valid_url(const char *s)
{
	return (strncmp(s, "http://", 7) == 0 && s[7]) || (strncmp(s, "https://", 8) == 0 && s[8]);
}

/*
 * aws.summaries: disjoint prefixes, none a default route, none overlapping
 * a local network or a tunnel pool (policy_net_reserved: a summary there
 * would send the VPC's own traffic, or the tunnel's, to this instance).
 */
static int load_summaries(struct ld *l, struct cfg *c, json_t *a)
{
	char p[PATH_LEN], why[CFG_ERRLEN], s[PFX_STRLEN];
	const char *rule;
	int e;

	if ((e = get_pfx_list(l, "aws", a, "summaries", &c->aws.summaries)))
		return e;
	if (c->aws.summaries.n > 50)
		return fail(l, "aws.summaries", "more than 50 summaries");
	for (size_t i = 0; i < c->aws.summaries.n; i++) {
		const struct pfx *x = &c->aws.summaries.v[i];

		elem(p, "aws.summaries", i);
		if (!x->len)
			return fail(l, p, "%s is a default route, never a summary",
				    pfx_format(x, s, sizeof(s)));
		if ((rule = policy_net_reserved(c, x, why, sizeof(why))))
			return fail(l, p, "%s (%s)", why, rule);
	}
	return 0;
}

static int load_aws(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *a = json_object_get(root, "aws"), *v;
	struct cfg_aws *w = &c->aws;
	char p[PATH_LEN];
	int e, routes;

	w->disable_source_dest_check = true;
	w->withdraw_grace_s = 300;
	w->drift_check_s = 60;
	w->max_calls_per_s = 2.0;
	w->max_calls_burst = 10;
	w->route_quota = 50;
	w->route_tables_auto = true;
	if (!a)
		goto check_auto;
	if (want(l, "aws", a, JSON_OBJECT, "an object"))
		return -EINVAL;
	if ((e = check_keys(l, "aws", a, aws_keys)) ||
	    (e = get_bool(l, "aws", a, "enabled", true, &w->enabled)) ||
	    (e = get_str(l, "aws", a, "region", false, &w->region)) ||
	    (e = get_str(l, "aws", a, "endpoint", false, &w->endpoint)) ||
	    (e = get_str(l, "aws", a, "imds_endpoint", false, &w->imds_endpoint)) ||
	    (e = get_str(l, "aws", a, "cluster", false, &w->cluster)) ||
	    (e = get_str(l, "aws", a, "interface", false, &w->interface)) ||
	    (e = get_str(l, "aws", a, "elastic_ip", false, &w->elastic_ip)) ||
	    (e = get_str(l, "aws", a, "access_key_id", false, &w->access_key_id)) ||
	    (e = get_str(l, "aws", a, "secret_access_key", false, &w->secret_access_key)) ||
	    (e = get_str(l, "aws", a, "session_token", false, &w->session_token)) ||
	    (e = get_bool(l, "aws", a, "disable_source_dest_check", true,
			  &w->disable_source_dest_check)) ||
	    (e = get_bool(l, "aws", a, "takeover", false, &w->takeover)) ||
	    (e = get_uint(l, "aws", a, "withdraw_grace_s", 0, 86400, 300, &w->withdraw_grace_s)) ||
	    (e = get_uint(l, "aws", a, "drift_check_s", 10, 86400, 60, &w->drift_check_s)) ||
	    (e = get_uint(l, "aws", a, "max_calls_burst", 1, 200, 10, &w->max_calls_burst)) ||
	    (e = get_uint(l, "aws", a, "route_quota", 1, 1000, 50, &w->route_quota)) ||
	    (e = load_summaries(l, c, a)) ||
	    (e = get_enum(l, "aws", a, "routes", routes_words, CFG_ROUTES_API, &routes)) ||
	    (e = get_str(l, "aws", a, "bgp_socket", false, &w->bgp_socket)))
		return e;
	w->routes = routes;
	if ((e = check_socket_path(l, "aws.bgp_socket", w->bgp_socket)))
		return e;
	if (w->region && !cfg_valid_region(w->region))
		return fail(l, "aws.region", "\"%s\" is not an AWS region name", w->region);
	if (w->endpoint && !cfg_valid_url(w->endpoint))
		return fail(l, "aws.endpoint", "\"%s\" is not an http:// or https:// URL",
			    w->endpoint);
	if (w->cluster && !cfg_valid_cluster(w->cluster))
		return fail(l, "aws.cluster",
			    "\"%s\" is not a cluster name: 1 to 64 letters, digits and _.-",
			    w->cluster);
	if (w->interface && !cfg_valid_aws_id(w->interface, "eni"))
		return fail(l, "aws.interface",
			    "\"%s\" is not a network interface id (eni- and 8 or 17 hex digits)",
			    w->interface);
	if (w->elastic_ip && !cfg_valid_aws_id(w->elastic_ip, "eipalloc"))
		return fail(l, "aws.elastic_ip",
			    "\"%s\" is not an Elastic IP allocation id (eipalloc- and 8 or 17 hex "
			    "digits)",
			    w->elastic_ip);
	if (w->imds_endpoint && !cfg_valid_url(w->imds_endpoint))
		return fail(l, "aws.imds_endpoint", "\"%s\" is not an http:// or https:// URL",
			    w->imds_endpoint);
	if (!w->access_key_id != !w->secret_access_key)
		return fail(l, w->access_key_id ? "aws.access_key_id" : "aws.secret_access_key",
			    "access_key_id and secret_access_key go together");
	if (w->session_token && !w->access_key_id)
		return fail(l, "aws.session_token", "needs access_key_id and secret_access_key");
	if ((v = json_object_get(a, "max_calls_per_s"))) {
		if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
		    json_number_value(v) <= 0 || json_number_value(v) > 50)
			return fail(l, "aws.max_calls_per_s",
				    "expected a number above 0 and at most 50");
		w->max_calls_per_s = json_number_value(v);
	}
	if ((v = json_object_get(a, "route_tables"))) {
		if (json_is_string(v) && strcmp(json_string_value(v), "auto") == 0) {
			w->route_tables_auto = true;
		} else if (json_is_array(v) && json_array_size(v) > 0 &&
			   json_array_size(v) <= 200) {
			w->route_tables_auto = false;
			w->route_tables = calloc(json_array_size(v), sizeof(char *));
			if (!w->route_tables)
				return -ENOMEM;
			for (size_t i = 0; i < json_array_size(v); i++) {
				json_t *t = json_array_get(v, i);

				elem(p, "aws.route_tables", i);
				if (!json_is_string(t) || !valid_rtb(json_string_value(t)))
					return fail(l, p,
						    "expected a route table id (\"rtb-\" and 8 or "
						    "17 hex digits)");
				for (size_t j = 0; j < i; j++)
					if (strcmp(w->route_tables[j], json_string_value(t)) == 0)
						return fail(l, p, "%s is listed twice",
							    json_string_value(t));
				if (!(w->route_tables[i] = strdup(json_string_value(t))))
					return -ENOMEM;
				w->nroute_tables++;
			}
		} else {
			return fail(l, "aws.route_tables",
				    "expected \"auto\" or an array of 1-200 route table ids");
		}
	}
check_auto:
	if (c->local_auto && !w->enabled)
		return fail(l, "local_networks", "\"auto\" needs the \"aws\" section enabled");
	return 0;
}

static const char *const plugin_keys[] = { "fail_mode",	       "admission", "defer_timeout_ms",
					   "reconnect_max_ms", "queue_max", NULL };
static const char *const fail_words[] = { "closed", "open", NULL };
static const char *const admission_words[] = { "immediate", "deferred", NULL };

static int load_plugin(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *pl = json_object_get(root, "plugin");
	int fm, ad, e;

	c->plugin.fail_mode = CFG_FAIL_CLOSED;
	c->plugin.admission = CFG_ADMIT_IMMEDIATE;
	c->plugin.defer_timeout_ms = 5000;
	c->plugin.reconnect_max_ms = 5000;
	c->plugin.queue_max = 1024;
	if (!pl)
		return 0;
	if (want(l, "plugin", pl, JSON_OBJECT, "an object"))
		return -EINVAL;
	if ((e = check_keys(l, "plugin", pl, plugin_keys)) ||
	    (e = get_enum(l, "plugin", pl, "fail_mode", fail_words, 0, &fm)) ||
	    (e = get_enum(l, "plugin", pl, "admission", admission_words, 0, &ad)) ||
	    (e = get_uint(l, "plugin", pl, "defer_timeout_ms", 100, 60000, 5000,
			  &c->plugin.defer_timeout_ms)) ||
	    (e = get_uint(l, "plugin", pl, "reconnect_max_ms", 100, 600000, 5000,
			  &c->plugin.reconnect_max_ms)) ||
	    (e = get_uint(l, "plugin", pl, "queue_max", 16, 1000000, 1024, &c->plugin.queue_max)))
		return e;
	c->plugin.fail_mode = (enum cfg_fail_mode)fm;
	c->plugin.admission = (enum cfg_admission)ad;
	return 0;
}

static int load_client_role(struct ld *l, struct cfg *c, json_t *root)
{
	char p[PATH_LEN], a[PFX_STRLEN], b[PFX_STRLEN];
	const struct pfx *o;
	int e;

	if ((e = get_pfx_list(l, "", root, "accept_routes", &c->accept_routes)) ||
	    (e = get_pfx_list(l, "", root, "tunnel_networks", &c->tunnel_networks)) ||
	    (e = get_access(l, "", root, "from_local", CFG_ACCESS_ALL, &c->from_local)) ||
	    (e = get_access(l, "", root, "to_local", CFG_ACCESS_NONE, &c->to_local)))
		return e;
	for (size_t i = 0; i < c->accept_routes.n; i++)
		if ((o = pfx_list_overlap(&c->local, &c->accept_routes.v[i])))
			return fail(l, elem(p, "accept_routes", i),
				    "%s overlaps the local network %s",
				    pfx_format(&c->accept_routes.v[i], a, sizeof(a)),
				    pfx_format(o, b, sizeof(b)));
	/* the same rule as a pushed route's (policy_route_accepted) */
	for (size_t i = 0; i < c->tunnel_networks.n; i++) {
		const struct pfx *x = &c->tunnel_networks.v[i];
		char why[160];

		if (x->len == 0)
			return fail(l, elem(p, "tunnel_networks", i),
				    "%s is a default route, never announced",
				    pfx_format(x, a, sizeof(a)));
		if (policy_net_reserved(c, x, why, sizeof(why)))
			return fail(l, elem(p, "tunnel_networks", i), "%s", why);
		if (!policy_route_accepted(c, x))
			return fail(l, elem(p, "tunnel_networks", i),
				    "%s is outside the accepted routes (accept_routes)",
				    pfx_format(x, a, sizeof(a)));
	}
	if (c->accept_routes.n &&
	    (e = check_rules_inside(l, "", "from_local", &c->from_local, &c->accept_routes, NULL,
				    "the accepted routes (accept_routes)")))
		return e;
	if (!c->local_auto)
		return check_rules_inside(l, "", "to_local", &c->to_local, &c->local, NULL,
					  "the local networks");
	return 0;
}

int cfg_listen_addr(const char *s, struct sockaddr_storage *sa, unsigned *salen, char *why,
		    size_t len)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
	struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':'), *p;
	unsigned long port = 0;
	size_t n;

	memset(sa, 0, sizeof(*sa));
	if (s[0] == '/') {
		if (strlen(s) >= sizeof(sun->sun_path)) {
			snprintf(why, len, "the path is longer than %zu bytes",
				 sizeof(sun->sun_path) - 1);
			return -EINVAL;
		}
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, s);
		*salen = sizeof(*sun);
		return 0;
	}
	n = colon ? (size_t)(colon - s) : 0;
	for (p = colon ? colon + 1 : ""; *p >= '0' && *p <= '9' && port <= 65535; p++)
		port = port * 10 + (unsigned long)(*p - '0');
	if (!colon || !colon[1] || *p || !port || port > 65535 || !n || n >= sizeof(host)) {
		snprintf(why, len,
			 "expected ADDRESS:PORT (e.g. \"127.0.0.1:9810\") or an absolute path");
		return -EINVAL;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	if (host[0] == '[' && host[n - 1] == ']') {
		host[n - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((uint16_t)port);
			*salen = sizeof(*s6);
			return 0;
		}
	} else if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*salen = sizeof(*s4);
		return 0;
	}
	snprintf(why, len, "%s is not an IPv4 address nor an IPv6 address in brackets", host);
	return -EINVAL;
}

static const char *const metrics_keys[] = { "listen", NULL };

static int load_metrics(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *m = json_object_get(root, "metrics");
	struct sockaddr_storage sa;
	char why[160];
	unsigned salen;
	int e;

	if (!m)
		return 0;
	if (want(l, "metrics", m, JSON_OBJECT, "an object"))
		return -EINVAL;
	if ((e = check_keys(l, "metrics", m, metrics_keys)) ||
	    (e = get_str(l, "metrics", m, "listen", false, &c->metrics.listen)))
		return e;
	if (c->metrics.listen && cfg_listen_addr(c->metrics.listen, &sa, &salen, why, sizeof(why)))
		return fail(l, "metrics.listen", "\"%s\": %s", c->metrics.listen, why);
	return 0;
}

static const char *const dns_keys[] = { "servers", "min_ttl_s", "max_ttl_s", "timeout_ms", NULL };

/* The resolver of the rules' host names. */
static int load_dns(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *d = json_object_get(root, "dns"), *v;
	char p[PATH_LEN], why[160];
	int e;

	c->dns.min_ttl_s = 5;
	c->dns.max_ttl_s = 300;
	c->dns.timeout_ms = 2000;
	if (!d)
		return 0;
	if (want(l, "dns", d, JSON_OBJECT, "an object"))
		return -EINVAL;
	if ((e = check_keys(l, "dns", d, dns_keys)) ||
	    (e = get_uint(l, "dns", d, "min_ttl_s", 1, 86400, 5, &c->dns.min_ttl_s)) ||
	    (e = get_uint(l, "dns", d, "max_ttl_s", 1, 86400, 300, &c->dns.max_ttl_s)) ||
	    (e = get_uint(l, "dns", d, "timeout_ms", 100, 30000, 2000, &c->dns.timeout_ms)))
		return e;
	if (c->dns.min_ttl_s > c->dns.max_ttl_s)
		return fail(l, "dns.max_ttl_s", "%u is below min_ttl_s (%u)", c->dns.max_ttl_s,
			    c->dns.min_ttl_s);
	if (!(v = json_object_get(d, "servers")))
		return 0;
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 8)
		return fail(l, "dns.servers", "expected an array of 1-8 DNS server addresses");
	c->dns.servers = calloc(json_array_size(v), sizeof(*c->dns.servers));
	if (!c->dns.servers)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *s = json_array_get(v, i);

		elem(p, "dns.servers", i);
		if (want(l, p, s, JSON_STRING, "an address string"))
			return -EINVAL;
		if (dnsserver_parse(json_string_value(s), c->dns.servers[i], why, sizeof(why)) < 0)
			return fail(l, p, "%s", why);
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->dns.servers[j], c->dns.servers[i]) == 0)
				return fail(l, p, "%s is listed twice", c->dns.servers[i]);
		c->dns.nservers++;
	}
	return 0;
}

static const char *const top_keys[] = { "version",
					"role",
					"socket",
					"local_networks",
					"tunnel",
					"strict",
					"clients",
					"default_client",
					"accept_routes",
					"to_local",
					"from_local",
					"nat",
					"aws",
					"plugin",
					"kernel_check_s",
					"metrics",
					"tunnel_networks",
					"port_forwards",
					"openvpn",
					"connection_log",
					"dns",
					"ipsec",
					"offload",
					NULL };
static const char *const role_words[] = { "server", "client", NULL };
static const char *const server_only[] = { "clients", "default_client", "strict", NULL };
static const char *const client_only[] = { "accept_routes", "tunnel_networks", "to_local",
					   "from_local", NULL };

static int load_root(struct ld *l, struct cfg *c, json_t *root)
{
	json_t *v;
	int role, e;

	if (want(l, "", root, JSON_OBJECT, "a JSON object at the top level"))
		return -EINVAL;
	if ((e = check_keys(l, "", root, top_keys)))
		return e;
	if (!(v = json_object_get(root, "version")))
		return fail(l, "",
			    "missing required key \"version\" (this vpcroute reads version %d)",
			    CFG_VERSION);
	if (!json_is_integer(v) || json_integer_value(v) != CFG_VERSION)
		return fail(l, "version",
			    "unsupported schema version (this vpcroute reads version %d)",
			    CFG_VERSION);
	if (!json_object_get(root, "role"))
		return fail(l, "", "missing required key \"role\" (\"server\" or \"client\")");
	if ((e = get_enum(l, "", root, "role", role_words, 0, &role)))
		return e;
	c->role = (enum cfg_role)role;
	for (const char *const *k = c->role == CFG_ROLE_SERVER ? client_only : server_only; *k; k++)
		if (json_object_get(root, *k))
			return fail(l, *k, "only valid with \"role\": \"%s\"",
				    c->role == CFG_ROLE_SERVER ? "client" : "server");
	if ((e = load_socket(l, c, root)) || (e = load_local(l, c, root)) ||
	    (e = load_tunnel(l, c, root)) ||
	    (e = get_bool(l, "", root, "strict", false, &c->strict)))
		return e;
	if (c->role == CFG_ROLE_SERVER)
		e = load_clients(l, c, root);
	else
		e = load_client_role(l, c, root);
	if (e || (e = load_ipsec(l, c, root)) || (e = load_nat(l, c, root)) ||
	    (e = load_openvpn(l, c, root)) || (e = load_forwards(l, c, root)) ||
	    (e = load_connlog(l, c, root)) || (e = load_offload(l, c, root)) ||
	    (e = load_aws(l, c, root)) || (e = load_plugin(l, c, root)) ||
	    (e = load_metrics(l, c, root)) ||
	    (e = get_uint(l, "", root, "kernel_check_s", 1, 86400, 30, &c->kernel_check_s)) ||
	    (e = load_dns(l, c, root)))
		return e;
	return 0;
}

/* Line and column (1-based, columns in characters, as jpos) of byte offset off. */
static void offset_pos(const char *buf, size_t off, int *line, int *col)
{
	*line = *col = 1;
	for (size_t i = 0; i < off; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

/* JSON's white space. */
static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * What jansson refused, in words for the usual mistakes around its error
 * position: a byte order mark, an empty file, comments, a trailing comma.
 * Anything else gets jansson's own message.
 */
static void syntax_error(struct ld *l, const json_error_t *je)
{
	const char *b = l->buf;
	size_t n = l->len, at, i;
	int line, col;

	if (n >= 3 && memcmp(b, "\xef\xbb\xbf", 3) == 0) {
		snprintf(l->err, l->errlen,
			 "%s:1:1: the file begins with a UTF-8 byte order mark (BOM), which JSON "
			 "does not allow; save it as UTF-8 without BOM",
			 l->name);
		return;
	}
	for (i = 0; i < n && blank(b[i]); i++)
		;
	if (i == n) {
		snprintf(l->err, l->errlen,
			 "%s:1:1: the file is empty; it needs a JSON object with \"version\", "
			 "\"role\" and \"local_networks\" (see vpcroute.conf(5))",
			 l->name);
		return;
	}
	/* jansson's position is just past the token it refused; ours are one byte. */
	if (je->position > 0 && (size_t)je->position <= n) {
		at = (size_t)je->position - 1;
		offset_pos(b, at, &line, &col);
		if (b[at] == '#' ||
		    (b[at] == '/' && at + 1 < n && (b[at + 1] == '/' || b[at + 1] == '*'))) {
			snprintf(l->err, l->errlen,
				 "%s:%d:%d: JSON has no comments (\"%s\"); write the note as a "
				 "key that begins with '_', e.g. \"_comment\": \"...\"",
				 l->name, line, col,
				 b[at] == '#'	    ? "#"
				 : b[at + 1] == '/' ? "//"
						    : "/* */");
			return;
		}
		if (b[at] == '}' || b[at] == ']') {
			for (i = at; i > 0 && blank(b[i - 1]); i--)
				;
			if (i > 0 && b[i - 1] == ',') {
				offset_pos(b, i - 1, &line, &col);
				snprintf(l->err, l->errlen,
					 "%s:%d:%d: trailing comma before '%c': JSON allows no "
					 "comma "
					 "after the last %s; remove it",
					 l->name, line, col, b[at],
					 b[at] == '}' ? "member" : "element");
				return;
			}
		}
	}
	snprintf(l->err, l->errlen, "%s:%d:%d: %s", l->name, je->line, je->column, je->text);
}

int cfg_load_buf(const char *name, const char *buf, size_t len, struct cfg **out, char *err,
		 size_t errlen)
{
	struct ld l = { .name = name, .buf = buf, .len = len, .err = err, .errlen = errlen };
	json_error_t je;
	json_t *root;
	struct cfg *c;
	int r;

	if (len > CFG_MAX_SIZE) {
		snprintf(err, errlen, "%s: larger than %d bytes", name, CFG_MAX_SIZE);
		return -EFBIG;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		syntax_error(&l, &je);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		json_decref(root);
		return -ENOMEM;
	}
	r = load_root(&l, c, root);
	json_decref(root);
	digest_hex(buf, len, c->digest);
	if (r == 0 && !(c->path = strdup(name)))
		r = -ENOMEM;
	if (r) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "%s: out of memory", name);
		cfg_free(c);
		return r;
	}
	*out = c;
	return 0;
}

/* Reads fd into buf until its end or cap bytes, whichever is first: 0 or -errno. */
static int read_upto(int fd, char *buf, size_t cap, size_t *got)
{
	ssize_t n;

	*got = 0;
	while (*got < cap && (n = read(fd, buf + *got, cap - *got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		*got += (size_t)n;
	}
	return 0;
}

int cfg_read_fd(int fd, const char *name, char **text, size_t *len, char *err, size_t errlen)
{
	size_t got, cap = CFG_MAX_SIZE + 1; /* one more byte tells a larger input */
	char *buf = malloc(cap);
	int r;

	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	if ((r = read_upto(fd, buf, cap, &got)) < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(-r));
	} else if (got == cap) {
		snprintf(err, errlen, "%s: larger than %d bytes", name, CFG_MAX_SIZE);
		r = -EFBIG;
	} else {
		*text = buf;
		*len = got;
		return 0;
	}
	cfg_text_free(buf, got);
	return r;
}

/*
 * Only a regular file is read: opened without blocking (a FIFO would wait
 * for a writer forever), checked with fstat, and never more than
 * CFG_MAX_SIZE bytes, even if it grows while it is read.
 */
int cfg_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	size_t got = 0, cap;
	int fd, r;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file (%s)", path,
			 S_ISDIR(st.st_mode)			      ? "a directory"
			 : S_ISFIFO(st.st_mode)			      ? "a FIFO"
			 : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
			 : S_ISSOCK(st.st_mode)			      ? "a socket"
								      : "not a file");
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > CFG_MAX_SIZE) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, CFG_MAX_SIZE);
		close(fd);
		return -EFBIG;
	}
	cap = (size_t)st.st_size + 1; /* one more byte tells a file that grew */
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	if ((r = read_upto(fd, buf, cap, &got)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		cfg_text_free(buf, got);
		close(fd);
		return r;
	}
	close(fd);
	if (got == cap) {
		snprintf(err, errlen, "%s: changed while it was read", path);
		cfg_text_free(buf, got);
		return -EAGAIN;
	}
	*text = buf;
	*len = got;
	return 0;
}

void cfg_text_free(char *text, size_t len)
{
	if (text)
		explicit_bzero(text, len); /* it may hold a secret key */
	free(text);
}

int cfg_load_fd(int fd, const char *name, struct cfg **out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int r;

	if ((r = cfg_read_fd(fd, name, &text, &len, err, errlen)) < 0)
		return r;
	r = cfg_load_buf(name, text, len, out, err, errlen);
	cfg_text_free(text, len);
	return r;
}

int cfg_load_file(const char *path, struct cfg **out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int r;

	if ((r = cfg_read_file(path, &text, &len, err, errlen)) < 0)
		return r;
	r = cfg_load_buf(path, text, len, out, err, errlen);
	cfg_text_free(text, len);
	return r;
}

static void free_secret(char **s)
{
	if (*s)
		explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

void cfg_drop_secrets(struct cfg *c)
{
	bool enabled = c->aws.enabled;

	free_secret(&c->aws.secret_access_key);
	free_secret(&c->aws.session_token);
	free_secret(&c->aws.access_key_id);
	free(c->aws.region);
	free(c->aws.endpoint);
	free(c->aws.imds_endpoint);
	free(c->aws.cluster);
	free(c->aws.interface);
	free(c->aws.elastic_ip);
	free(c->aws.bgp_socket);
	for (size_t i = 0; i < c->aws.nroute_tables; i++)
		free(c->aws.route_tables[i]);
	free(c->aws.route_tables);
	pfx_list_free(&c->aws.summaries);
	memset(&c->aws, 0, sizeof(c->aws));
	c->aws.enabled = enabled;
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->socket.path);
	free(c->socket.group);
	free(c->socket.openvpn_user);
	free(c->socket.openvpn_group);
	free(c->metrics.listen);
	pfx_list_free(&c->local);
	for (size_t i = 0; i < c->nclients; i++)
		client_free(&c->clients[i]);
	free(c->clients);
	if (c->default_client) {
		client_free(c->default_client);
		free(c->default_client);
	}
	for (size_t i = 0; i < c->npeers; i++) {
		client_free(&c->peers[i].pol);
		free(c->peers[i].id);
	}
	free(c->peers);
	free(c->vici_socket);
	pfx_list_free(&c->accept_routes);
	pfx_list_free(&c->tunnel_networks);
	access_free(&c->to_local);
	access_free(&c->from_local);
	for (size_t i = 0; i < c->nnat; i++)
		pfx_list_free(&c->nat[i].sources);
	free(c->nat);
	free(c->forwards);
	free(c->offload.devices);
	cfg_drop_secrets(c);
	free(c->dns.servers);
	free(c);
}
const struct cfg_client *cfg_client_find(const struct cfg *c, const char *name)
{
	for (size_t i = 0; i < c->nclients; i++)
		if (strcmp(c->clients[i].name, name) == 0)
			return &c->clients[i];
	return c->strict ? NULL : c->default_client;
}

const struct cfg_peer *cfg_peer_find(const struct cfg *c, const struct pfx *addr)
{
	for (size_t i = 0; i < c->npeers; i++)
		if (!c->peers[i].id && pfx_equal(&c->peers[i].addr, addr))
			return &c->peers[i];
	return NULL;
}

const char *cfg_id_text(const char *id)
{
	if (id[0] == '@' && id[1] == '@')
		return id + 2;
	return id[0] == '@' && id[1] != '#' ? id + 1 : id;
}

const struct cfg_peer *cfg_peer_find_id(const struct cfg *c, const char *id)
{
	for (size_t i = 0; id && i < c->npeers; i++)
		if (c->peers[i].id && strcmp(cfg_id_text(c->peers[i].id), cfg_id_text(id)) == 0)
			return &c->peers[i];
	return NULL;
}

const struct cfg_peer *cfg_peer_lookup(const struct cfg *c, const struct pfx *addr, const char *id)
{
	const struct cfg_peer *pe = cfg_peer_find_id(c, id);

	return pe ? pe : cfg_peer_find(c, addr);
}

const char *cfg_role_name(enum cfg_role r)
{
	return role_words[r];
}

/* --- the host names of the rules (agent/dns.c resolves them) --- */

static int add_name(const char ***v, size_t *n, size_t *cap, const char *name)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		const char **w = realloc(*v, nc * sizeof(*w));

		if (!w)
			return -ENOMEM;
		*v = w;
		*cap = nc;
	}
	(*v)[(*n)++] = name;
	return 0;
}

static int access_names(const struct cfg_access *acc, const char ***v, size_t *n, size_t *cap)
{
	for (size_t i = 0; acc->kind == CFG_ACCESS_RULES && i < acc->nrules; i++)
		if (acc->rules[i].to_name && add_name(v, n, cap, acc->rules[i].to_name) < 0)
			return -ENOMEM;
	return 0;
}

static int str_ptr_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

int cfg_host_names(const struct cfg *c, const char ***out, size_t *n)
{
	const char **v = NULL;
	size_t cap = 0, w = 0;
	int r = 0;

	*n = 0;
	*out = NULL;
	for (size_t i = 0; !r && i < c->nclients; i++) {
		r = access_names(&c->clients[i].to_local, &v, n, &cap);
		r = r ? r : access_names(&c->clients[i].from_local, &v, n, &cap);
	}
	if (!r && c->default_client) {
		r = access_names(&c->default_client->to_local, &v, n, &cap);
		r = r ? r : access_names(&c->default_client->from_local, &v, n, &cap);
	}
	r = r ? r : access_names(&c->to_local, &v, n, &cap);
	r = r ? r : access_names(&c->from_local, &v, n, &cap);
	if (r) {
		free(v);
		*n = 0;
		return r;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), str_ptr_cmp);
	for (size_t i = 0; i < *n; i++)
		if (!w || strcmp(v[w - 1], v[i]))
			v[w++] = v[i];
	*n = w;
	*out = v;
	return 0;
}

/* --- normalised dump --- */

static json_t *pfx_list_json(const struct pfx_list *l)
{
	json_t *a = json_array();
	char s[PFX_STRLEN];

	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_string(pfx_format(&l->v[i], s, sizeof(s))));
	return a;
}

static json_t *access_json(const struct cfg_access *acc)
{
	json_t *a;
	char s[PFX_STRLEN];

	if (acc->kind != CFG_ACCESS_RULES)
		return json_boolean(acc->kind == CFG_ACCESS_ALL);
	a = json_array();
	for (size_t i = 0; a && i < acc->nrules; i++) {
		const struct cfg_rule *r = &acc->rules[i];
		json_t *o = json_object(), *ports = json_array();
		int k = 0;

		while (proto_nums[k] != r->proto)
			k++;
		json_object_set_new(
			o, "to",
			json_string(r->to_name ? r->to_name : pfx_format(&r->to, s, sizeof(s))));
		json_object_set_new(o, "proto", json_string(proto_words[k]));
		for (size_t j = 0; j < r->nports; j++) {
			if (r->ports[j].lo == r->ports[j].hi) {
				json_array_append_new(ports, json_integer(r->ports[j].lo));
			} else {
				snprintf(s, sizeof(s), "%u-%u", r->ports[j].lo, r->ports[j].hi);
				json_array_append_new(ports, json_string(s));
			}
		}
		if (r->nports)
			json_object_set_new(o, "ports", ports);
		else
			json_decref(ports);
		if (r->masquerade)
			json_object_set_new(o, "masquerade", json_true());
		if (r->log)
			json_object_set_new(o, "log", json_true());
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *client_json(const struct cfg_client *cl)
{
	json_t *o = json_object();
	char s[PFX_STRLEN];

	json_object_set_new(o, "allow", pfx_list_json(cl->allow.n ? &cl->allow : &cl->iroutes));
	json_object_set_new(o, "iroutes", pfx_list_json(&cl->iroutes));
	if (cl->has_address)
		json_object_set_new(o, "address",
				    json_string(pfx_format_addr(&cl->address, s, sizeof(s))));
	if (cl->has_address6)
		json_object_set_new(o, "address6",
				    json_string(pfx_format_addr(&cl->address6, s, sizeof(s))));
	json_object_set_new(o, "push_routes", pfx_list_json(&cl->push_routes));
	json_object_set_new(o, "to_local", access_json(&cl->to_local));
	json_object_set_new(o, "from_local", access_json(&cl->from_local));
	return o;
}

json_t *cfg_forwards_json(const struct cfg *c)
{
	json_t *a = json_array();
	char s[PFX_STRLEN];

	for (size_t i = 0; a && i < c->nforwards; i++) {
		const struct cfg_forward *f = &c->forwards[i];
		json_t *o = json_pack("{s:s, s:i, s:s, s:i}", "proto", l4_name(f->proto), "port",
				      (int)f->port, "to", pfx_format_addr(&f->to, s, sizeof(s)),
				      "to_port", (int)f->to_port);

		if (f->in_interface[0])
			json_object_set_new(o, "in_interface", json_string(f->in_interface));
		json_object_set_new(o, "masquerade", json_boolean(f->masquerade));
		json_object_set_new(o, "log", json_boolean(f->log));
		json_array_append_new(a, o);
	}
	return a;
}

/* Optional values are left out of the dump when unset. */
static void set_opt_str(json_t *o, const char *key, const char *s)
{
	if (s)
		json_object_set_new(o, key, json_string(s));
}

json_t *cfg_to_json(const struct cfg *c)
{
	json_t *o = json_object(), *sock = json_object(), *aws = json_object(),
	       *nat = json_object();
	json_t *plugin = json_object(), *masq = json_array();
	char s[PFX_STRLEN];

	json_object_set_new(o, "version", json_integer(CFG_VERSION));
	json_object_set_new(o, "role", json_string(cfg_role_name(c->role)));
	json_object_set_new(sock, "path", json_string(c->socket.path));
	snprintf(s, sizeof(s), "%04o", (unsigned)c->socket.mode);
	json_object_set_new(sock, "mode", json_string(s));
	set_opt_str(sock, "group", c->socket.group);
	set_opt_str(sock, "openvpn_user", c->socket.openvpn_user);
	set_opt_str(sock, "openvpn_group", c->socket.openvpn_group);
	json_object_set_new(o, "socket", sock);
	if (c->metrics.listen)
		json_object_set_new(o, "metrics", json_pack("{s:s}", "listen", c->metrics.listen));
	json_object_set_new(o, "local_networks",
			    c->local_auto ? json_string("auto") : pfx_list_json(&c->local));
	if (c->role == CFG_ROLE_SERVER) {
		json_t *t = json_object(), *cl = json_object();

		json_object_set_new(t, "pool", json_string(pfx_format(&c->pool, s, sizeof(s))));
		if (c->has_pool6)
			json_object_set_new(t, "pool6",
					    json_string(pfx_format(&c->pool6, s, sizeof(s))));
		json_object_set_new(o, "tunnel", t);
		json_object_set_new(o, "strict", json_boolean(c->strict));
		for (size_t i = 0; i < c->nclients; i++)
			json_object_set_new(cl, c->clients[i].name, client_json(&c->clients[i]));
		json_object_set_new(o, "clients", cl);
		if (c->default_client)
			json_object_set_new(o, "default_client", client_json(c->default_client));
	} else {
		json_object_set_new(o, "accept_routes", pfx_list_json(&c->accept_routes));
		json_object_set_new(o, "tunnel_networks", pfx_list_json(&c->tunnel_networks));
		json_object_set_new(o, "to_local", access_json(&c->to_local));
		json_object_set_new(o, "from_local", access_json(&c->from_local));
	}
	if (c->npeers) {
		json_t *peers = json_object();

		for (size_t i = 0; i < c->npeers; i++)
			json_object_set_new(
				peers, c->peers[i].pol.name,
				json_pack("{s:o, s:o, s:o}", "allow",
					  pfx_list_json(&c->peers[i].pol.allow), "to_local",
					  access_json(&c->peers[i].pol.to_local), "from_local",
					  access_json(&c->peers[i].pol.from_local)));
		json_object_set_new(o, "ipsec", json_pack("{s:o}", "peers", peers));
	}
	if (c->vici_socket) {
		json_t *ip = json_object_get(o, "ipsec");

		if (!ip)
			json_object_set_new(o, "ipsec", ip = json_object());
		json_object_set_new(ip, "vici_socket", json_string(c->vici_socket));
	}
	for (size_t i = 0; i < c->nnat; i++) {
		json_t *m = json_object();

		json_object_set_new(m, "sources", pfx_list_json(&c->nat[i].sources));
		json_object_set_new(m, "out_interface", json_string(c->nat[i].out_interface));
		if (c->nat[i].has_snat_to)
			json_object_set_new(
				m, "snat_to",
				json_string(pfx_format_addr(&c->nat[i].snat_to, s, sizeof(s))));
		json_array_append_new(masq, m);
	}
	json_object_set_new(nat, "masquerade", masq);
	json_object_set_new(nat, "exempt_tunnel", json_boolean(c->nat_exempt_tunnel));
	json_object_set_new(o, "nat", nat);
	if (c->openvpn_proto)
		json_object_set_new(o, "openvpn",
				    json_pack("{s:s, s:i}", "proto", l4_name(c->openvpn_proto),
					      "port", (int)c->openvpn_port));
	if (c->nforwards)
		json_object_set_new(o, "port_forwards", cfg_forwards_json(c));
	if (c->connlog.enabled) {
		json_t *g = json_pack("{s:b, s:b, s:i, s:i}", "new", c->connlog.new_conns, "drop",
				      c->connlog.drops, "rate_per_s", (int)c->connlog.rate_per_s,
				      "burst", (int)c->connlog.burst);

		if (c->connlog.has_group)
			json_object_set_new(g, "group", json_integer(c->connlog.group));
		json_object_set_new(o, "connection_log", g);
	}
	if (c->offload.enabled) {
		json_t *dv = json_array();

		for (size_t i = 0; i < c->offload.ndevices; i++)
			json_array_append_new(dv, json_string(c->offload.devices[i]));
		json_object_set_new(o, "offload", json_pack("{s:o}", "devices", dv));
	}
	json_object_set_new(aws, "enabled", json_boolean(c->aws.enabled));
	set_opt_str(aws, "region", c->aws.region);
	set_opt_str(aws, "endpoint", c->aws.endpoint);
	set_opt_str(aws, "imds_endpoint", c->aws.imds_endpoint);
	set_opt_str(aws, "cluster", c->aws.cluster);
	set_opt_str(aws, "interface", c->aws.interface);
	set_opt_str(aws, "elastic_ip", c->aws.elastic_ip);
	set_opt_str(aws, "access_key_id", c->aws.access_key_id);
	/* Secrets are never printed. */
	set_opt_str(aws, "secret_access_key", c->aws.secret_access_key ? "(set)" : NULL);
	set_opt_str(aws, "session_token", c->aws.session_token ? "(set)" : NULL);
	if (c->aws.route_tables_auto) {
		json_object_set_new(aws, "route_tables", json_string("auto"));
	} else {
		json_t *rt = json_array();

		for (size_t i = 0; i < c->aws.nroute_tables; i++)
			json_array_append_new(rt, json_string(c->aws.route_tables[i]));
		json_object_set_new(aws, "route_tables", rt);
	}
	json_object_set_new(aws, "disable_source_dest_check",
			    json_boolean(c->aws.disable_source_dest_check));
	json_object_set_new(aws, "takeover", json_boolean(c->aws.takeover));
	json_object_set_new(aws, "withdraw_grace_s", json_integer(c->aws.withdraw_grace_s));
	json_object_set_new(aws, "drift_check_s", json_integer(c->aws.drift_check_s));
	json_object_set_new(aws, "max_calls_per_s", json_real(c->aws.max_calls_per_s));
	json_object_set_new(aws, "max_calls_burst", json_integer(c->aws.max_calls_burst));
	json_object_set_new(aws, "summaries", pfx_list_json(&c->aws.summaries));
	json_object_set_new(aws, "route_quota", json_integer(c->aws.route_quota));
	json_object_set_new(aws, "routes", json_string(cfg_routes_name(c->aws.routes)));
	json_object_set_new(
		aws, "bgp_socket",
		json_string(c->aws.bgp_socket ? c->aws.bgp_socket : CFG_DEFAULT_BGP_SOCKET));
	json_object_set_new(o, "aws", aws);
	json_object_set_new(plugin, "fail_mode", json_string(fail_words[c->plugin.fail_mode]));
	json_object_set_new(plugin, "admission", json_string(admission_words[c->plugin.admission]));
	json_object_set_new(plugin, "defer_timeout_ms", json_integer(c->plugin.defer_timeout_ms));
	json_object_set_new(plugin, "reconnect_max_ms", json_integer(c->plugin.reconnect_max_ms));
	json_object_set_new(plugin, "queue_max", json_integer(c->plugin.queue_max));
	json_object_set_new(o, "plugin", plugin);
	json_object_set_new(o, "kernel_check_s", json_integer(c->kernel_check_s));
	{
		json_t *d = json_object(), *sv = json_array();

		for (size_t i = 0; i < c->dns.nservers; i++)
			json_array_append_new(sv, json_string(c->dns.servers[i]));
		if (c->dns.nservers) /* none: the system's resolver configuration */
			json_object_set_new(d, "servers", sv);
		else
			json_decref(sv);
		json_object_set_new(d, "min_ttl_s", json_integer(c->dns.min_ttl_s));
		json_object_set_new(d, "max_ttl_s", json_integer(c->dns.max_ttl_s));
		json_object_set_new(d, "timeout_ms", json_integer(c->dns.timeout_ms));
		json_object_set_new(o, "dns", d);
	}
	return o;
}

/*
 * The configuration in normalised form, as JSON indented by two spaces and a
 * newline: what `vpcroute-agent -n` and `vpcroutectl check-config` print.
 */
int cfg_print(FILE *f, const struct cfg *c)
{
	json_t *j = cfg_to_json(c);
	int r;

	if (!j)
		return -ENOMEM;
	r = json_dumpf(j, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(j);
	if (r < 0 || fputc('\n', f) == EOF || fflush(f) == EOF)
		return -EIO;
	return 0;
}
