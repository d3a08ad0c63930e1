// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The agent's state for vpcroutectl status, as one JSON object. The shape is
 * documented (and checked by the tests) in doc/status.schema.json.
 */
#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <string.h>

#include "agent.h"
#include "cloud.h"
#include "heap.h"
#include "ifcache.h"
#include "log.h"
#include "policy.h"

static json_t *prefixes(const struct pfx_list *l)
{
	json_t *a = json_array();
	char s[PFX_STRLEN];

	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(pfx_format(&l->v[i], s, sizeof(s))));
	return a;
}

/*
 * Whether the kernel holds what c announces, from the routes as read now
 * (byroute: destination -> route object): "programmed" (its routes are
 * installed or left to another protocol's), "failed" (with the first
 * error), "missing" (not there; being repaired) or "no route" (its
 * instance's tunnel device is not known yet).
 */
static void client_state(json_t *o, const struct aclient *c, json_t *byroute)
{
	const char *st = "programmed";
	json_t *err = json_null();
	char s[PFX_STRLEN];

	for (size_t i = 0; i < c->pc.nets.n; i++) {
		json_t *r = json_object_get(byroute, pfx_format(&c->pc.nets.v[i], s, sizeof(s)));
		const char *rs = json_string_value(json_object_get(r, "state"));

		if (!r) {
			st = "no route";
		} else if (rs && strcmp(rs, "failed") == 0) {
			st = "failed";
			json_decref(err);
			err = json_sprintf("%s: %s", s,
					   json_string_value(json_object_get(r, "error")));
			break;
		} else if (rs && strcmp(rs, "missing") == 0) {
			st = "missing";
		}
	}
	json_object_set_new(o, "state", json_string(st));
	json_object_set_new(o, "error", err);
}

static json_t *client_json(const struct aclient *c, json_t *byroute)
{
	json_t *o = json_object();
	char s[PFX_STRLEN];

	json_object_set_new(o, "cn", json_string(c->pc.cn));
	json_object_set_new(o, "networks", prefixes(&c->pc.nets));
	json_object_set_new(o, "tunnel4",
			    c->pc.has_tunnel4
				    ? json_string(pfx_format_addr(&c->pc.tunnel4, s, sizeof(s)))
				    : json_null());
	json_object_set_new(o, "tunnel6",
			    c->pc.has_tunnel6
				    ? json_string(pfx_format_addr(&c->pc.tunnel6, s, sizeof(s)))
				    : json_null());
	json_object_set_new(o, "since", json_integer((json_int_t)c->since));
	client_state(o, c, byroute);
	return o;
}

static const char *role_name(enum proto_role r)
{
	return r == PROTO_ROLE_SERVER ? "server" : r == PROTO_ROLE_CLIENT ? "client" : "ctl";
}

/* The configuration the instance's plugin said it runs, against the agent's. */
static json_t *policy_json(const struct agent *a, const struct ainst *in)
{
	if (!in->plugin_digest[0])
		return json_null();
	return json_pack("{s:s, s:I, s:b}", "sha256", in->plugin_digest, "generation",
			 (json_int_t)in->plugin_gen, "matches",
			 strcmp(in->plugin_digest, a->cfg->digest) == 0);
}

/* Is the forward's target inside a network reached now: local, a connected
 * client's (networks, tunnel address), a pushed route? */
static bool forward_reachable(const struct agent *a, const struct cfg_forward *f)
{
	for (size_t i = 0; i < a->cfg->local.n; i++)
		if (pfx_contains(&a->cfg->local.v[i], &f->to))
			return true;
	for (size_t i = 0; i < a->ninst; i++) {
		const struct ainst *in = a->inst[i];

		for (size_t k = 0; k < in->routes.n; k++)
			if (pfx_contains(&in->routes.v[k], &f->to))
				return true;
		for (size_t k = 0; k < in->n; k++) {
			const struct proto_client *c = &in->c[k].pc;

			if ((c->has_tunnel4 && pfx_equal(&c->tunnel4, &f->to)) ||
			    (c->has_tunnel6 && pfx_equal(&c->tunnel6, &f->to)))
				return true;
			for (size_t j = 0; j < c->nets.n; j++)
				if (pfx_contains(&c->nets.v[j], &f->to))
					return true;
		}
	}
	return false;
}

/*
 * port_forwards as configured, each with its state: "programmed" (with the
 * DNAT rule's counters) or "not programmed" (OpenVPN listens on its port),
 * and whether its target is reachable now.
 */
static json_t *forwards_json(struct agent *a)
{
	json_t *arr = cfg_forwards_json(a->cfg), *o;
	uint64_t *pk = calloc(a->cfg->nforwards + 1, sizeof(*pk)),
		 *by = calloc(a->cfg->nforwards + 1, sizeof(*by));
	int nread = pk && by ? nft_forward_counters(a->nft, pk, by, a->cfg->nforwards) : -ENOMEM;
	size_t i, active = 0;

	json_array_foreach(arr, i, o)
	{
		const struct cfg_forward *f = &a->cfg->forwards[i];
		bool blocked = state_forward_blocked(a, f);

		json_object_set_new(o, "state",
				    json_string(blocked ? "not programmed: OpenVPN listens on "
							  "this port"
						: nft_built(a->nft) ? "programmed"
								    : "not programmed yet"));
		json_object_set_new(o, "reachable", json_boolean(forward_reachable(a, f)));
		if (!blocked && (int)active < nread) {
			json_object_set_new(o, "packets", json_integer((json_int_t)pk[active]));
			json_object_set_new(o, "bytes", json_integer((json_int_t)by[active]));
		} else {
			json_object_set_new(o, "packets", json_null());
			json_object_set_new(o, "bytes", json_null());
		}
		active += !blocked;
	}
	free(pk);
	free(by);
	return arr;
}

/* What is logged, as programmed: null when nothing. */
/* The flowtable fast path: nft.c's state and the configured devices absent. */
static json_t *offload_json(const struct agent *a)
{
	json_t *o = nft_offload_json(a->nft), *miss = json_array();

	for (size_t i = 0; a->cfg->offload.enabled && i < a->cfg->offload.ndevices; i++)
		if (!ifc_index(a->cfg->offload.devices[i]))
			json_array_append_new(miss, json_string(a->cfg->offload.devices[i]));
	json_object_set_new(o, "missing", miss);
	return o;
}

static json_t *connlog_json(const struct cfg *c)
{
	const struct cfg_connlog *g = &c->connlog;
	json_t *o;

	if (!g->enabled && !c->rules_log)
		return json_null();
	o = json_pack("{s:b, s:b, s:b, s:i, s:i}", "new", g->enabled && g->new_conns, "drop",
		      g->enabled && g->drops, "rules", c->rules_log, "rate_per_s",
		      (int)g->rate_per_s, "burst", (int)g->burst);
	json_object_set_new(o, "group", g->has_group ? json_integer(g->group) : json_null());
	return o;
}

/*
 * Where the status goes as it is made: a tree (status_json_counts, for the
 * metrics), or its text (status_json_text, for vpcroutectl), each value
 * written and freed as soon as it is complete. A client's object is the largest
 * part of a status (at 50,000 clients their objects were ~50 MB as a
 * tree): as a text it is written and gone before the next one is made.
 * The text is what json_dumps(tree, STATUS_DUMP) gives; the keys given to
 * sink_open and sink_put are plain literals, written without escaping.
 */
#define STATUS_DUMP (JSON_COMPACT | JSON_REAL_PRECISION(6))
#define SINK_DEPTH  4

struct textbuf {
	char *p;
	size_t len, cap;
};

struct sink {
	struct textbuf *t;	       /* a text; NULL: a tree */
	json_t *stack[SINK_DEPTH + 1]; /* the tree: root, then the open containers */
	bool array[SINK_DEPTH + 1];
	bool first[SINK_DEPTH + 1]; /* the text: nothing written in it yet */
	int depth;
	bool oom;
	bool counts; /* each instance's clients counted, not listed (the metrics) */
};

static int text_put(const char *buf, size_t size, void *data)
{
	struct textbuf *t = data;

	if (t->len + size + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 65536;
		char *p;

		while (t->len + size + 1 > cap)
			cap *= 2;
		if (!(p = realloc(t->p, cap)))
			return -1;
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, buf, size);
	t->len += size;
	t->p[t->len] = '\0';
	return 0;
}

/* Text: the separator and the key of the next value in the open container. */
static void sink_key(struct sink *k, const char *key)
{
	if (k->depth && !k->first[k->depth] && text_put(",", 1, k->t) < 0)
		k->oom = true;
	k->first[k->depth] = false;
	if (key && (text_put("\"", 1, k->t) < 0 || text_put(key, strlen(key), k->t) < 0 ||
		    text_put("\":", 2, k->t) < 0))
		k->oom = true;
}

/* Adds v (taken over) under key to the open container (key NULL: an array's). */
static void sink_put(struct sink *k, const char *key, json_t *v)
{
	json_t *top = k->stack[k->depth];

	if (!k->t) {
		if (k->array[k->depth])
			json_array_append_new(top, v);
		else
			json_object_set_new(top, key, v);
		return;
	}
	sink_key(k, key);
	if (!k->oom && json_dump_callback(v, text_put, k->t, STATUS_DUMP | JSON_ENCODE_ANY) < 0)
		k->oom = true;
	json_decref(v);
}

/* Opens an object or an array under key (NULL: an array's element, or the root). */
static void sink_open(struct sink *k, const char *key, bool array)
{
	json_t *c = NULL;

	if (k->t) {
		sink_key(k, k->depth ? key : NULL);
		if (text_put(array ? "[" : "{", 1, k->t) < 0)
			k->oom = true;
	} else {
		c = array ? json_array() : json_object();
		if (k->depth)
			sink_put(k, key, json_incref(c));
	}
	k->stack[++k->depth] = c;
	k->array[k->depth] = array;
	k->first[k->depth] = true;
}

static void sink_close(struct sink *k)
{
	if (k->t && text_put(k->array[k->depth] ? "]" : "}", 1, k->t) < 0)
		k->oom = true;
	if (k->depth == 1)
		k->stack[0] = k->stack[1]; /* the root */
	else
		json_decref(k->stack[k->depth]);
	k->depth--;
}

static void status_emit(struct agent *a, struct sink *k)
{
	struct state_view *view = state_view_read(a); /* one route dump for the whole status */
	json_t *missing, *routes = state_routes_json(a, view, &missing), *foreign = json_array(),
			 *nft = json_object(), *byroute = json_object(), *r, *read;
	char s[PFX_STRLEN];
	size_t ri;
	const struct nft_foreign *fn;
	size_t nfn;

	sink_open(k, NULL, false);
	sink_put(k, "version", json_string(PACKAGE_VERSION));
	sink_put(k, "pid", json_integer(getpid()));
	sink_put(k, "role", json_string(cfg_role_name(a->cfg->role)));
	sink_put(k, "config", json_string(a->cfg_path));
	sink_put(k, "config_generation", json_integer((json_int_t)a->cfg_gen));
	sink_put(k, "config_sha256", json_string(a->cfg->digest));
	sink_put(k, "started", json_integer((json_int_t)a->started));
	sink_put(k, "in_grace", json_boolean(a->in_grace));
	sink_put(k, "local_networks", prefixes(&a->cfg->local));
	json_array_foreach(k->counts ? NULL : routes, ri, r)
	{
		json_object_set(byroute, json_string_value(json_object_get(r, "destination")), r);
	}
	json_array_foreach(k->counts ? NULL : missing, ri, r)
	{
		json_object_set(byroute, json_string_value(json_object_get(r, "destination")), r);
	}
	for (size_t i = 0; !k->counts && i < a->nforeign; i++)
		json_object_set_new(byroute, pfx_format(&a->foreign[i].dst, s, sizeof(s)),
				    json_pack("{s:s}", "state", "left to another protocol"));
	sink_open(k, "instances", true);
	for (size_t i = 0; i < a->ninst; i++) {
		const struct ainst *in = a->inst[i];

		if (in->ipsec)
			continue; /* "ipsec" below */
		sink_open(k, NULL, false);
		sink_put(k, "name", json_string(in->name));
		sink_put(k, "role", json_string(role_name(in->role)));
		sink_put(k, "plugin_connected", json_boolean(in->owner != NULL));
		sink_put(k, "device", in->dev[0] ? json_string(in->dev) : json_null());
		if (in->listen_proto) {
			const char *tp = in->listen_proto == PROTO_UDP ? "udp" : "tcp";
			int open = a->cloud ? cloud_port_open(a->cloud, tp, in->listen_port) : -1;

			sink_put(k, "listen",
				 json_pack("{s:s, s:i, s:o}", "proto", tp, "port",
					   (int)in->listen_port, "security_groups_allow",
					   open < 0 ? json_null() : json_boolean(open)));
		} else {
			sink_put(k, "listen", json_null());
		}
		sink_put(k, "plugin_policy", policy_json(a, in));
		if (k->counts) {
			size_t nets = 0;

			for (size_t ci = 0; ci < in->n; ci++)
				nets += in->c[ci].pc.nets.n;
			sink_put(k, "clients_counted", json_integer((json_int_t)in->n));
			sink_put(k, "networks_counted", json_integer((json_int_t)nets));
		} else {
			sink_open(k, "clients", true);
		}
		for (size_t ci = 0; !k->counts && ci < in->n; ci++) {
			json_t *cj = client_json(&in->c[ci], byroute);
			char why[POLICY_REASON_MAX];
			bool ok = agent_client_allowed(a, in, &in->c[ci], why, sizeof(why));

			/* connected under an earlier configuration that allowed it */
			json_object_set_new(cj, "allowed", json_boolean(ok));
			json_object_set_new(cj, "refusal", ok ? json_null() : json_string(why));
			sink_put(k, NULL, cj); /* written and freed at once (a text) */
		}
		if (!k->counts)
			sink_close(k);
		if (in->role == PROTO_ROLE_CLIENT) {
			sink_put(k, "tunnel_up", json_boolean(in->tun_up));
			sink_put(k, "pushed_routes", prefixes(&in->routes));
		}
		sink_close(k);
	}
	sink_close(k);
	sink_put(k, "ipsec", ipsec_status_json(a));
	json_decref(byroute);
	sink_put(k, "routes", routes ? routes : json_array());
	sink_put(k, "routes_missing", missing);
	sink_put(k, "routes_error",
		 routes ? json_null() : json_string("cannot read the kernel's routes"));
	for (size_t i = 0; i < a->nforeign; i++)
		json_array_append_new(foreign,
				      json_string(pfx_format(&a->foreign[i].dst, s, sizeof(s))));
	sink_put(k, "routes_left_to_others", foreign);
	json_object_set_new(nft, "table", json_string(NFT_TABLE_FULLNAME));
	/* as the kernel holds it now, compared with what was applied */
	if (nft_check(a->nft, &read) < 0 || !read) {
		json_object_set_new(nft, "built", json_false());
		json_object_set_new(nft, "state", json_string("unreadable"));
		json_object_set_new(nft, "differs", json_null());
		json_object_set_new(nft, "set_elements", json_null());
	} else {
		bool present = json_is_true(json_object_get(read, "present"));
		json_t *why = json_object_get(read, "differs");

		json_object_set_new(
			nft, "built",
			json_boolean(present && !json_is_string(why) && nft_built(a->nft)));
		json_object_set_new(nft, "state",
				    json_string(!a->nft_ready ? "not built yet"
						: !present    ? "missing"
						: json_is_string(why) || nft_differs(a->nft)
							? "differs"
						: a->nft_err	     ? "failed"
						: !nft_built(a->nft) ? "being rebuilt"
								     : "ok"));
		if (json_is_string(why))
			json_object_set(nft, "differs", why);
		else
			json_object_set_new(nft, "differs",
					    nft_differs(a->nft) ? json_string(nft_differs(a->nft))
								: json_null());
		json_object_set(nft, "set_elements", json_object_get(read, "set_elements"));
	}
	json_object_set_new(nft, "error",
			    a->nft_err ? json_string(strerror(-a->nft_err)) : json_null());
	json_object_set_new(nft, "exempt_priority", json_integer(NFT_PRIO_EXEMPT));
	json_object_set_new(nft, "set_elements_wanted", nft_elements_json(a->nft));
	sink_put(k, "nftables", nft);
	sink_put(k, "port_forwards", forwards_json(a));
	sink_put(k, "connection_log", connlog_json(a->cfg));
	sink_put(k, "offload", offload_json(a));
	if (nft_scan_foreign_nat(a->nft, &fn, &nfn) >= 0) {
		json_t *fa = json_array();

		for (size_t i = 0; i < nfn; i++)
			json_array_append_new(
				fa,
				json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:s, s:b}", "action",
					  fn[i].action, "family", fn[i].family, "table",
					  fn[i].table, "chain", fn[i].chain, "priority",
					  (int)fn[i].prio, "handle", (json_int_t)fn[i].handle,
					  "rule", fn[i].rule, "before_exemptions", fn[i].before));
		sink_put(k, "foreign_nat", fa);
	} else {
		sink_put(k, "foreign_nat", json_null());
	}
	sink_put(k, "plan", state_plan(a, view, read)); /* the table read once */
	json_decref(read);
	state_view_free(view);
	sink_put(k, "aws", a->cloud ? cloud_status(a->cloud) : json_null());
	sink_put(k, "dns", dns_status_json(a->dns));
	sink_close(k);
}

json_t *status_json_counts(struct agent *a)
{
	struct sink k = { .counts = true };

	status_emit(a, &k);
	return k.stack[0];
}

char *status_json_text(struct agent *a)
{
	struct textbuf t = { 0 };
	struct sink k = { .t = &t };
	char *p;

	status_emit(a, &k);
	/* the routes' objects, the kernel's dump and the text's growth, freed */
	heap_freed(t.cap * 2);
	if (k.oom) {
		free(t.p);
		return NULL;
	}
	p = realloc(t.p, t.len + 1); /* cut to its length */
	return p ? p : t.p;
}

/* What status_json_counts's tree takes per client, about (heaptrack at
 * 50,000 clients: the routes' objects, ~560 bytes). */
#define STATUS_BYTES_PER_CLIENT 512

void status_json_free(const struct agent *a, json_t *j)
{
	size_t n = 0;

	for (size_t i = 0; i < a->ninst; i++)
		n += a->inst[i]->n;
	json_decref(j);
	heap_freed(n * STATUS_BYTES_PER_CLIENT);
}

/*
 * The log's periodic summary: what changed since the last one (clients,
 * kernel routes, set elements), one info line at most every
 * SUMMARY_INTERVAL_MS instead of a line per route (those are debug).
 */
#define SUMMARY_INTERVAL_MS 1000

static struct {
	unsigned long connected, disconnected;
	struct rtnl_counts k;
	size_t added, removed;
	struct timespec last;
} sum;

static bool summary_collect(struct agent *a)
{
	struct rtnl_counts k = { 0 };
	unsigned long c = 0, d = 0;
	size_t ea = 0, er = 0;

	dispatch_take_counts(&c, &d);
	if (a->rt)
		rtnl_take_counts(a->rt, &k);
	if (a->nft)
		nft_take_counts(a->nft, &ea, &er);
	sum.connected += c;
	sum.disconnected += d;
	sum.k.added += k.added;
	sum.k.moved += k.moved;
	sum.k.removed += k.removed;
	sum.k.gone += k.gone;
	sum.added += ea;
	sum.removed += er;
	return sum.connected || sum.disconnected || sum.k.added || sum.k.moved || sum.k.removed ||
	       sum.k.gone || sum.added || sum.removed;
}

static long summary_ms_since(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - sum.last.tv_sec) * 1000L + (t.tv_nsec - sum.last.tv_nsec) / 1000000L;
}

static void summary_part(char *buf, size_t size, size_t *pos, const char *what, unsigned long n)
{
	int w;

	if (!n || *pos >= size)
		return;
	w = snprintf(buf + *pos, size - *pos, "%s%lu %s", *pos ? ", " : "", n, what);
	if (w > 0)
		*pos += (size_t)w;
}

void status_log_summary(struct agent *a, bool now)
{
	char line[512];
	size_t pos = 0;

	if (!summary_collect(a) || (!now && summary_ms_since() < SUMMARY_INTERVAL_MS))
		return;
	summary_part(line, sizeof(line), &pos, "clients connected", sum.connected);
	summary_part(line, sizeof(line), &pos, "clients disconnected", sum.disconnected);
	summary_part(line, sizeof(line), &pos, "kernel routes added", sum.k.added);
	summary_part(line, sizeof(line), &pos, "kernel routes moved", sum.k.moved);
	summary_part(line, sizeof(line), &pos, "kernel routes removed", sum.k.removed);
	summary_part(line, sizeof(line), &pos, "kernel routes gone with their device", sum.k.gone);
	summary_part(line, sizeof(line), &pos, "nftables elements added", sum.added);
	summary_part(line, sizeof(line), &pos, "nftables elements removed", sum.removed);
	log_info("changes: %s (each one at debug, -v)", line);
	memset(&sum, 0, sizeof(sum));
	clock_gettime(CLOCK_MONOTONIC, &sum.last);
}

int status_summary_wait(struct agent *a)
{
	long left;

	if (!summary_collect(a))
		return -1;
	left = SUMMARY_INTERVAL_MS - summary_ms_since();
	return left < 0 ? 0 : (int)left;
}
