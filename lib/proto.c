// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jget.h"
#include "proto.h"

/* JSON integers are exact up to 2^53: ids and generations stay below. */
#define ID_MAX ((json_int_t)1 << 53)

static const char *const type_names[PROTO_TYPE_MAX] = {
	[PROTO_HELLO] = "hello",
	[PROTO_CONNECT] = "connect",
	[PROTO_DISCONNECT] = "disconnect",
	[PROTO_LEARN] = "learn",
	[PROTO_SYNC] = "sync",
	[PROTO_TUNNEL] = "tunnel",
	[PROTO_CLAIMS] = "claims",
	[PROTO_ACK] = "ack",
	[PROTO_STATUS] = "status",
	[PROTO_RELOAD] = "reload",
	[PROTO_REPORT] = "report",
	[PROTO_POLICY] = "policy",
	[PROTO_WITHDRAW] = "withdraw",
	[PROTO_METRICS] = "metrics",
	[PROTO_SNAPSHOT] = "snapshot",
};
/* indexed by enum proto_withdraw_scope */
static const char *const scope_names[] = { "-", "ours", "unwanted", "all", NULL };
static const char *const role_names[] = { "server", "client", "ctl", NULL };
static const char *const learn_names[] = { "add", "update", "delete", NULL };
static const char *const event_names[] = { "up", "route-up", "route-predown", "down", NULL };
static const char *const transport_names[] = { "-", "udp", "tcp", NULL };

const char *proto_type_name(enum proto_type t)
{
	return t < PROTO_TYPE_MAX ? type_names[t] : "?";
}

/* --- encoding --- */

static json_t *nets_json(const struct pfx_list *l)
{
	json_t *a = json_array();
	char s[PFX_STRLEN];

	for (size_t i = 0; a && i < l->n; i++)
		if (json_array_append_new(a, json_string(pfx_format(&l->v[i], s, sizeof(s)))))
			return json_decref(a), NULL;
	return a;
}

static json_t *addr_json(const struct pfx *p)
{
	char s[PFX_STRLEN];

	return json_string(pfx_format_addr(p, s, sizeof(s)));
}

static json_t *client_json(const struct proto_client *c)
{
	json_t *o;

	if (c->nets.n > PROTO_MAX_NETS)
		return NULL;
	o = json_pack("{s:s, s:o*}", "cn", c->cn, "networks", nets_json(&c->nets));
	if (o && c->has_tunnel4)
		json_object_set_new(o, "tunnel4", addr_json(&c->tunnel4));
	if (o && c->has_tunnel6)
		json_object_set_new(o, "tunnel6", addr_json(&c->tunnel6));
	return o;
}

static json_t *claims_json(const struct proto_claim *v, size_t n)
{
	json_t *a = json_array();
	char s[PFX_STRLEN];

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "net",
						       pfx_format(&v[i].net, s, sizeof(s)), "cn",
						       v[i].cn, "instance", v[i].instance)))
			return json_decref(a), NULL;
	return a;
}

/* Bytes of s as a JSON string without its quotes, as jansson writes it. */
static size_t escaped_len(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += *p == '"' || *p == '\\' || *p == '\b' || *p == '\f' || *p == '\n' ||
				     *p == '\r' || *p == '\t'
			     ? 2
		     : *p < 0x20 ? 6
				 : 1;
	return n;
}

size_t proto_claim_size(const struct proto_claim *c)
{
	char s[PFX_STRLEN];

	/* {"net":"N","cn":"C","instance":"I"} */
	return 32 + strlen(pfx_format(&c->net, s, sizeof(s))) + escaped_len(c->cn) +
	       escaped_len(c->instance);
}

static json_t *body_json(const struct proto_msg *m, unsigned version)
{
	json_t *o = json_object(), *a;

	if (!o)
		return NULL;
	switch (m->type) {
	case PROTO_HELLO:
		json_object_set_new(o, "role", json_string(role_names[m->hello.role]));
		json_object_set_new(o, "pid", json_integer(m->hello.pid));
		json_object_set_new(o, "instance", json_string(m->hello.instance));
		break;
	case PROTO_CONNECT:
		if (!(a = client_json(&m->connect)))
			goto err;
		json_object_set_new(o, "client", a);
		break;
	case PROTO_DISCONNECT:
		json_object_set_new(o, "cn", json_string(m->disconnect.cn));
		break;
	case PROTO_LEARN:
		json_object_set_new(o, "op", json_string(learn_names[m->learn.op]));
		json_object_set_new(o, "addr",
				    json_string(pfx_format(&m->learn.addr, (char[PFX_STRLEN]){ 0 },
							   PFX_STRLEN)));
		if (m->learn.op != PROTO_LEARN_DELETE)
			json_object_set_new(o, "cn", json_string(m->learn.cn));
		break;
	case PROTO_SYNC:
		if (m->sync.n > PROTO_MAX_CLIENTS || !(a = json_array()))
			goto err;
		json_object_set_new(o, "clients", a);
		for (size_t i = 0; i < m->sync.n; i++) {
			json_t *c = client_json(&m->sync.clients[i]);

			if (!c || json_array_append_new(a, c))
				goto err;
		}
		json_object_set_new(o, "more", json_boolean(m->sync.more));
		break;
	case PROTO_TUNNEL:
		if (m->tunnel.routes.n > PROTO_MAX_NETS)
			goto err;
		json_object_set_new(o, "event", json_string(event_names[m->tunnel.event]));
		json_object_set_new(o, "dev", json_string(m->tunnel.dev));
		if (m->tunnel.has_local)
			json_object_set_new(o, "local", addr_json(&m->tunnel.local));
		if (m->tunnel.has_remote)
			json_object_set_new(o, "remote", addr_json(&m->tunnel.remote));
		json_object_set_new(o, "routes", nets_json(&m->tunnel.routes));
		if (m->tunnel.listen_proto) {
			if (m->tunnel.listen_proto > PROTO_TCP || !m->tunnel.listen_port)
				goto err;
			json_object_set_new(o, "listen_proto",
					    json_string(transport_names[m->tunnel.listen_proto]));
			json_object_set_new(o, "listen_port", json_integer(m->tunnel.listen_port));
		}
		break;
	case PROTO_CLAIMS:
		if (m->claims.n + m->claims.ndel > PROTO_MAX_CLAIMS ||
		    m->claims.gen > (uint64_t)ID_MAX ||
		    (m->claims.delta && (m->claims.base >= m->claims.gen || version < 2)) ||
		    (!m->claims.delta && m->claims.ndel))
			goto err;
		json_object_set_new(o, "gen", json_integer((json_int_t)m->claims.gen));
		if (m->claims.delta) {
			json_object_set_new(o, "base", json_integer((json_int_t)m->claims.base));
			if (!(a = claims_json(m->claims.v, m->claims.n)))
				goto err;
			json_object_set_new(o, "add", a);
			if (!(a = claims_json(m->claims.del, m->claims.ndel)))
				goto err;
			json_object_set_new(o, "del", a);
		} else {
			if (!(a = claims_json(m->claims.v, m->claims.n)))
				goto err;
			json_object_set_new(o, "claims", a);
		}
		json_object_set_new(o, "more", json_boolean(m->claims.more));
		break;
	case PROTO_SNAPSHOT:
		if (version < 2)
			goto err;
		break;
	case PROTO_ACK:
		json_object_set_new(o, "ref", json_integer((json_int_t)m->ack.ref));
		json_object_set_new(o, "ok", json_boolean(m->ack.ok));
		if (!m->ack.ok)
			json_object_set_new(o, "error", json_string(m->ack.error));
		break;
	case PROTO_STATUS:
	case PROTO_RELOAD:
	case PROTO_METRICS:
		break;
	case PROTO_REPORT:
		if (!m->report.text || strlen(m->report.text) > PROTO_REPORT_MAX)
			goto err;
		json_object_set_new(o, "ref", json_integer((json_int_t)m->report.ref));
		json_object_set_new(o, "text", json_string(m->report.text));
		break;
	case PROTO_POLICY:
		if (m->policy.gen > (uint64_t)ID_MAX || !digest_hex_valid(m->policy.digest))
			goto err;
		json_object_set_new(o, "gen", json_integer((json_int_t)m->policy.gen));
		json_object_set_new(o, "digest", json_string(m->policy.digest));
		break;
	case PROTO_WITHDRAW:
		if (m->withdraw.scope < PROTO_WITHDRAW_OURS ||
		    m->withdraw.scope > PROTO_WITHDRAW_ALL)
			goto err;
		json_object_set_new(o, "scope", json_string(scope_names[m->withdraw.scope]));
		break;
	default:
		goto err;
	}
	return o;
err:
	json_decref(o);
	return NULL;
}

int proto_encode(const struct proto_msg *m, char *buf, size_t len)
{
	json_t *o;
	size_t n;

	unsigned version = m->version ? m->version : PROTO_VERSION;

	if (m->type >= PROTO_TYPE_MAX || (json_int_t)m->id >= ID_MAX ||
	    version < PROTO_VERSION_MIN || version > PROTO_VERSION)
		return -EINVAL;
	o = body_json(m, version);
	if (!o)
		return -EINVAL;
	json_object_set_new(o, "v", json_integer(version));
	json_object_set_new(o, "type", json_string(type_names[m->type]));
	if (m->id)
		json_object_set_new(o, "id", json_integer((json_int_t)m->id));
	n = json_dumpb(o, buf, len, JSON_COMPACT);
	json_decref(o);
	if (n == 0)
		return -EINVAL;
	if (n > len || n > PROTO_MAX_MSG)
		return -EMSGSIZE;
	return (int)n;
}

/* --- decoding --- */

struct dc {
	char *err;
	size_t errlen;
};

static int bad(struct dc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct dc *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, d->errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int only_keys(struct dc *d, const char *where, json_t *o, const char *const *keys)
{
	const char *k = NULL;

	if (jget_keys(o, keys, &k, NULL, 0))
		return bad(d, "%s: unknown key \"%.32s\"", where, k);
	return 0;
}

/* The protocol's words for a jget_str or jget_word status of a string member. */
static int str_status(struct dc *d, const char *where, const char *key, int status, size_t max)
{
	switch (status) {
	case JGET_OK:
	case JGET_ABSENT:
		return 0;
	case JGET_MISSING:
		return bad(d, "%s: missing \"%s\"", where, key);
	case JGET_NUL:
		return bad(d, "%s: \"%s\" contains a NUL byte", where, key);
	case JGET_LONG:
		return bad(d, "%s: \"%s\" longer than %zu bytes", where, key, max);
	case JGET_WORD:
		return bad(d, "%s: \"%s\" has an unknown value", where, key);
	case JGET_TYPE:
	default: /* JGET_EMPTY is not asked for */
		return bad(d, "%s: \"%s\" is not a string", where, key);
	}
}

/* A string member of at most max bytes that must be present (or may be absent if !req). */
static int str_member(struct dc *d, const char *where, json_t *o, const char *key, bool req,
		      size_t max, const char **out)
{
	*out = NULL;
	return str_status(d, where, key,
			  jget_str(o, key, req ? JGET_REQUIRED : 0, max, out, NULL, 0), max);
}

/* A string member that must be present and fit dst[cap]. */
static int copy_member(struct dc *d, const char *where, json_t *o, const char *key, char *dst,
		       size_t cap)
{
	const char *s;

	if (str_member(d, where, o, key, true, cap - 1, &s))
		return -EINVAL;
	strcpy(dst, s);
	return 0;
}

static int cn_member(struct dc *d, const char *where, json_t *o, char *dst)
{
	const char *s;
	char e[PROTO_ERRLEN];

	if (str_member(d, where, o, "cn", true, JGET_ANYLEN, &s))
		return -EINVAL;
	if (!cn_valid(s, e, sizeof(e)))
		return bad(d, "%s: %s", where, e);
	strcpy(dst, s);
	return 0;
}

static int word_member(struct dc *d, const char *where, json_t *o, const char *key,
		       const char *const *words, int *out)
{
	return str_status(d, where, key, jget_word(o, key, JGET_REQUIRED, words, out, NULL, 0),
			  JGET_ANYLEN);
}

static int bool_member(struct dc *d, const char *where, json_t *o, const char *key, bool *out)
{
	if (jget_bool(o, key, JGET_REQUIRED, out, NULL, 0))
		return bad(d, "%s: \"%s\" must be true or false", where, key);
	return 0;
}

static int uint_member(struct dc *d, const char *where, json_t *o, const char *key, json_int_t max,
		       uint64_t *out)
{
	json_int_t i = 0;
	int r = jget_int(o, key, JGET_REQUIRED, 0, max, &i, NULL, 0);

	*out = (uint64_t)i;
	if (r)
		return bad(d, "%s: \"%s\" must be an integer from 0 to %" JSON_INTEGER_FORMAT,
			   where, key, max);
	return 0;
}

static int addr_member(struct dc *d, const char *where, json_t *o, const char *key, int family,
		       bool *has, struct pfx *out)
{
	const char *s;

	if (str_member(d, where, o, key, false, JGET_ANYLEN, &s))
		return -EINVAL;
	*has = s != NULL;
	if (!s)
		return 0;
	if (pfx_addr_parse(s, out) < 0 || (family && out->family != family))
		return bad(d, "%s: \"%s\" is not an %s address", where, key,
			   family == AF_INET	? "IPv4"
			   : family == AF_INET6 ? "IPv6"
						: "IP");
	return 0;
}

static int nets_member(struct dc *d, const char *where, json_t *o, const char *key,
		       struct pfx_list *out)
{
	json_t *a = json_object_get(o, key);
	char e[PFX_ERRLEN];

	if (!a || !json_is_array(a))
		return bad(d, "%s: \"%s\" must be an array of prefixes", where, key);
	if (json_array_size(a) > PROTO_MAX_NETS)
		return bad(d, "%s: \"%s\" has more than %d prefixes", where, key, PROTO_MAX_NETS);
	out->v = calloc(json_array_size(a) + 1, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *v = json_array_get(a, i);

		if (!json_is_string(v) ||
		    pfx_parse(json_string_value(v), 0, &out->v[i], e, sizeof(e)) < 0)
			return bad(d, "%s: %s[%zu] is not a prefix", where, key, i);
		out->n++;
	}
	return 0;
}

static const char *const client_keys[] = { "cn", "tunnel4", "tunnel6", "networks", NULL };

static int client_decode(struct dc *d, const char *where, json_t *o, struct proto_client *c)
{
	if (!json_is_object(o))
		return bad(d, "%s: not an object", where);
	if (only_keys(d, where, o, client_keys) || cn_member(d, where, o, c->cn) ||
	    addr_member(d, where, o, "tunnel4", AF_INET, &c->has_tunnel4, &c->tunnel4) ||
	    addr_member(d, where, o, "tunnel6", AF_INET6, &c->has_tunnel6, &c->tunnel6))
		return -EINVAL;
	return nets_member(d, where, o, "networks", &c->nets);
}

static void client_free(struct proto_client *c)
{
	pfx_list_free(&c->nets);
}

static const char *const hello_keys[] = { "v", "type", "id", "role", "pid", "instance", NULL };
static const char *const connect_keys[] = { "v", "type", "id", "client", NULL };
static const char *const disconnect_keys[] = { "v", "type", "id", "cn", NULL };
static const char *const learn_keys[] = { "v", "type", "id", "op", "addr", "cn", NULL };
static const char *const sync_keys[] = { "v", "type", "id", "clients", "more", NULL };
static const char *const tunnel_keys[] = { "v",		  "type",   "id",
					   "event",	  "dev",    "local",
					   "remote",	  "routes", "listen_proto",
					   "listen_port", NULL };
static const char *const claims_keys[] = { "v", "type", "id", "gen", "claims", "more", NULL };
static const char *const delta_keys[] = { "v",	 "type", "id",	 "gen", "base",
					  "add", "del",	 "more", NULL };
static const char *const claim_keys[] = { "net", "cn", "instance", NULL };
static const char *const ack_keys[] = { "v", "type", "id", "ref", "ok", "error", NULL };
static const char *const request_keys[] = { "v", "type", "id", NULL };
static const char *const report_keys[] = { "v", "type", "id", "ref", "text", NULL };
static const char *const policy_keys[] = { "v", "type", "id", "gen", "digest", NULL };
static const char *const withdraw_keys[] = { "v", "type", "id", "scope", NULL };

/* An array of claim objects under key; with `before` claims elsewhere in the message. */
static int claims_member(struct dc *d, json_t *o, const char *key, size_t before,
			 struct proto_claim **out, size_t *n)
{
	json_t *a = json_object_get(o, key);
	char e[PFX_ERRLEN];
	const char *s;

	if (!a || !json_is_array(a))
		return bad(d, "claims: \"%s\" must be an array", key);
	if (before + json_array_size(a) > PROTO_MAX_CLAIMS)
		return bad(d, "claims: more than %d claims", PROTO_MAX_CLAIMS);
	*out = calloc(json_array_size(a) + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *c = json_array_get(a, i);
		struct proto_claim *cl = &(*out)[i];
		char where[48];

		snprintf(where, sizeof(where), "%s[%zu]", key, i);
		if (!json_is_object(c))
			return bad(d, "%s: not an object", where);
		if (only_keys(d, where, c, claim_keys) || cn_member(d, where, c, cl->cn) ||
		    str_member(d, where, c, "net", true, JGET_ANYLEN, &s))
			return -EINVAL;
		if (pfx_parse(s, 0, &cl->net, e, sizeof(e)) < 0)
			return bad(d, "%s: \"net\": %s", where, e);
		if (copy_member(d, where, c, "instance", cl->instance, sizeof(cl->instance)))
			return -EINVAL;
		(*n)++;
	}
	return 0;
}

static int decode_body(struct dc *d, json_t *o, struct proto_msg *m)
{
	const char *w = type_names[m->type], *s;
	char e[PFX_ERRLEN];
	uint64_t u;
	int k;
	bool has;
	json_t *a;

	switch (m->type) {
	case PROTO_HELLO:
		if (only_keys(d, w, o, hello_keys) ||
		    word_member(d, w, o, "role", role_names, &k) ||
		    uint_member(d, w, o, "pid", INT32_MAX, &u) ||
		    copy_member(d, w, o, "instance", m->hello.instance, sizeof(m->hello.instance)))
			return -EINVAL;
		m->hello.role = (enum proto_role)k;
		m->hello.pid = (uint32_t)u;
		return 0;
	case PROTO_CONNECT:
		if (only_keys(d, w, o, connect_keys))
			return -EINVAL;
		if (!json_object_get(o, "client"))
			return bad(d, "connect: missing \"client\"");
		return client_decode(d, "connect.client", json_object_get(o, "client"),
				     &m->connect);
	case PROTO_DISCONNECT:
		if (only_keys(d, w, o, disconnect_keys))
			return -EINVAL;
		return cn_member(d, w, o, m->disconnect.cn);
	case PROTO_LEARN:
		if (only_keys(d, w, o, learn_keys) || word_member(d, w, o, "op", learn_names, &k) ||
		    str_member(d, w, o, "addr", true, JGET_ANYLEN, &s))
			return -EINVAL;
		m->learn.op = (enum proto_learn_op)k;
		/* OpenVPN hands over addresses, and prefixes for iroutes. */
		if (pfx_parse(s, PFX_HOST, &m->learn.addr, e, sizeof(e)) < 0)
			return bad(d, "learn: \"addr\" is not an address or prefix");
		if (m->learn.op == PROTO_LEARN_DELETE) {
			if (json_object_get(o, "cn"))
				return bad(d, "learn: \"cn\" given with op \"delete\"");
			return 0;
		}
		return cn_member(d, w, o, m->learn.cn);
	case PROTO_SYNC:
		if (only_keys(d, w, o, sync_keys) || bool_member(d, w, o, "more", &m->sync.more))
			return -EINVAL;
		a = json_object_get(o, "clients");
		if (!a || !json_is_array(a))
			return bad(d, "sync: \"clients\" must be an array");
		if (json_array_size(a) > PROTO_MAX_CLIENTS)
			return bad(d, "sync: more than %d clients", PROTO_MAX_CLIENTS);
		m->sync.clients = calloc(json_array_size(a) + 1, sizeof(*m->sync.clients));
		if (!m->sync.clients)
			return -ENOMEM;
		for (size_t i = 0; i < json_array_size(a); i++) {
			char where[48];

			snprintf(where, sizeof(where), "sync.clients[%zu]", i);
			m->sync.n++;
			if (client_decode(d, where, json_array_get(a, i), &m->sync.clients[i]))
				return -EINVAL;
		}
		return 0;
	case PROTO_TUNNEL:
		if (only_keys(d, w, o, tunnel_keys) ||
		    word_member(d, w, o, "event", event_names, &k) ||
		    copy_member(d, w, o, "dev", m->tunnel.dev, sizeof(m->tunnel.dev)) ||
		    addr_member(d, w, o, "local", 0, &m->tunnel.has_local, &m->tunnel.local) ||
		    addr_member(d, w, o, "remote", 0, &m->tunnel.has_remote, &m->tunnel.remote))
			return -EINVAL;
		if (strpbrk(m->tunnel.dev, "/ \t\n:") || !m->tunnel.dev[0])
			return bad(d, "tunnel: \"dev\" is not an interface name");
		m->tunnel.event = (enum proto_tunnel_event)k;
		if (!json_object_get(o, "listen_proto") != !json_object_get(o, "listen_port"))
			return bad(d, "tunnel: \"listen_proto\" and \"listen_port\" go together");
		if (json_object_get(o, "listen_proto")) {
			if (word_member(d, w, o, "listen_proto", transport_names, &k) ||
			    uint_member(d, w, o, "listen_port", 65535, &u))
				return -EINVAL;
			if (k == 0 || u == 0)
				return bad(d, "tunnel: \"listen_proto\" must be udp or tcp, "
					      "\"listen_port\" 1-65535");
			m->tunnel.listen_proto = (enum proto_transport)k;
			m->tunnel.listen_port = (uint16_t)u;
		}
		return nets_member(d, w, o, "routes", &m->tunnel.routes);
	case PROTO_CLAIMS:
		m->claims.delta = json_object_get(o, "base") != NULL;
		if (m->claims.delta && m->version < 2)
			return bad(d, "claims: \"base\" needs protocol version 2");
		if (only_keys(d, w, o, m->claims.delta ? delta_keys : claims_keys) ||
		    uint_member(d, w, o, "gen", ID_MAX, &u) ||
		    bool_member(d, w, o, "more", &m->claims.more))
			return -EINVAL;
		m->claims.gen = u;
		if (!m->claims.delta)
			return claims_member(d, o, "claims", 0, &m->claims.v, &m->claims.n);
		if (uint_member(d, w, o, "base", ID_MAX, &m->claims.base))
			return -EINVAL;
		if (m->claims.base >= m->claims.gen)
			return bad(d, "claims: \"base\" must be below \"gen\"");
		if ((k = claims_member(d, o, "add", 0, &m->claims.v, &m->claims.n)))
			return k;
		return claims_member(d, o, "del", m->claims.n, &m->claims.del, &m->claims.ndel);
	case PROTO_SNAPSHOT:
		if (only_keys(d, w, o, request_keys))
			return -EINVAL;
		if (m->version < 2)
			return bad(d, "snapshot: needs protocol version 2");
		return 0;
	case PROTO_ACK:
		if (only_keys(d, w, o, ack_keys) || uint_member(d, w, o, "ref", ID_MAX, &u) ||
		    bool_member(d, w, o, "ok", &m->ack.ok))
			return -EINVAL;
		m->ack.ref = u;
		if (str_member(d, w, o, "error", false, JGET_ANYLEN, &s))
			return -EINVAL;
		has = s != NULL;
		if (m->ack.ok && has)
			return bad(d, "ack: \"error\" given with \"ok\": true");
		if (!m->ack.ok && !has)
			return bad(d, "ack: \"ok\": false needs \"error\"");
		/* The bound after the rule above, whose message says more. */
		if (has && copy_member(d, w, o, "error", m->ack.error, sizeof(m->ack.error)))
			return -EINVAL;
		return 0;
	case PROTO_STATUS:
	case PROTO_RELOAD:
	case PROTO_METRICS:
		if (only_keys(d, w, o, request_keys))
			return -EINVAL;
		if (!m->id)
			return bad(d, "%s: needs an \"id\" for its answer", w);
		return 0;
	case PROTO_REPORT:
		if (only_keys(d, w, o, report_keys) || uint_member(d, w, o, "ref", ID_MAX, &u) ||
		    str_member(d, w, o, "text", true, JGET_ANYLEN, &s))
			return -EINVAL;
		m->report.ref = u;
		if (strlen(s) > PROTO_REPORT_MAX) /* str_member refused NUL bytes */
			return bad(d, "report: \"text\" longer than %d bytes or with a NUL byte",
				   PROTO_REPORT_MAX);
		if (!(m->report.text = strdup(s)))
			return -ENOMEM;
		return 0;
	case PROTO_POLICY:
		if (only_keys(d, w, o, policy_keys) || uint_member(d, w, o, "gen", ID_MAX, &u) ||
		    copy_member(d, w, o, "digest", m->policy.digest, sizeof(m->policy.digest)))
			return -EINVAL;
		m->policy.gen = u;
		if (!digest_hex_valid(m->policy.digest))
			return bad(d, "policy: \"digest\" is not 64 lower-case hex digits");
		return 0;
	case PROTO_WITHDRAW:
		if (only_keys(d, w, o, withdraw_keys))
			return -EINVAL;
		if (!m->id)
			return bad(d, "%s: needs an \"id\" for its answer", w);
		if (word_member(d, w, o, "scope", scope_names, &k))
			return -EINVAL;
		if (k < PROTO_WITHDRAW_OURS)
			return bad(d, "withdraw: \"scope\" must be ours, unwanted or all");
		m->withdraw.scope = (enum proto_withdraw_scope)k;
		return 0;
	default:
		return bad(d, "unknown type");
	}
}

int proto_decode(const char *buf, size_t len, struct proto_msg *m, char *err, size_t errlen)
{
	struct dc d = { .err = err, .errlen = errlen };
	json_error_t je;
	json_t *o, *v;
	const char *t;
	uint64_t u;
	int r = -EINVAL;

	memset(m, 0, sizeof(*m));
	if (len > PROTO_MAX_MSG)
		return bad(&d, "message of %zu bytes exceeds %d", len, PROTO_MAX_MSG);
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return bad(&d, "not JSON: %s at byte %d", je.text, je.position);
	if (!json_is_object(o)) {
		bad(&d, "not a JSON object");
		goto out;
	}
	v = json_object_get(o, "v");
	if (!v || !json_is_integer(v) || json_integer_value(v) < PROTO_VERSION_MIN ||
	    json_integer_value(v) > PROTO_VERSION) {
		bad(&d, "unsupported protocol version (this side speaks %d to %d)",
		    PROTO_VERSION_MIN, PROTO_VERSION);
		goto out;
	}
	m->version = (unsigned)json_integer_value(v);
	if (str_member(&d, "message", o, "type", true, JGET_ANYLEN, &t))
		goto out;
	for (m->type = 0; m->type < PROTO_TYPE_MAX; m->type++)
		if (strcmp(type_names[m->type], t) == 0)
			break;
	if (m->type == PROTO_TYPE_MAX) {
		bad(&d, "unknown message type \"%.32s\"", t);
		goto out;
	}
	if (json_object_get(o, "id")) {
		if (uint_member(&d, type_names[m->type], o, "id", ID_MAX - 1, &u))
			goto out;
		m->id = u;
	}
	r = decode_body(&d, o, m);
	if (r == -ENOMEM)
		bad(&d, "out of memory");
out:
	json_decref(o);
	if (r)
		proto_msg_free(m);
	return r;
}

void proto_msg_free(struct proto_msg *m)
{
	switch (m->type) {
	case PROTO_CONNECT:
		client_free(&m->connect);
		break;
	case PROTO_SYNC:
		for (size_t i = 0; i < m->sync.n; i++)
			client_free(&m->sync.clients[i]);
		free(m->sync.clients);
		m->sync.clients = NULL;
		m->sync.n = 0;
		break;
	case PROTO_TUNNEL:
		pfx_list_free(&m->tunnel.routes);
		break;
	case PROTO_CLAIMS:
		free(m->claims.v);
		free(m->claims.del);
		m->claims.v = m->claims.del = NULL;
		m->claims.n = m->claims.ndel = 0;
		break;
	case PROTO_REPORT:
		free(m->report.text);
		m->report.text = NULL;
		break;
	default:
		break;
	}
}
