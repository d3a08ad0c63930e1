// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/rtnetlink.h>

#include "agent.h"
#include "cloud.h"
#include "heap.h"
#include "ifcache.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "xfrm.h"

static void batch_untouch(struct batch *b);

/* Instances are allocated one by one: connections keep pointers to them. */
struct ainst *state_inst(struct agent *a, const char *name, enum proto_role role)
{
	struct ainst **v, *in;

	for (size_t i = 0; i < a->ninst; i++)
		if (strcmp(a->inst[i]->name, name) == 0) {
			a->inst[i]->role = role;
			return a->inst[i];
		}
	v = realloc(a->inst, (a->ninst + 1) * sizeof(*v));
	if (!v)
		return NULL;
	a->inst = v;
	in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	snprintf(in->name, sizeof(in->name), "%s", name);
	in->role = role;
	a->inst[a->ninst++] = in;
	return in;
}

static void client_clear(struct aclient *c)
{
	pfx_list_free(&c->pc.nets);
}

/* --- the clients' index (struct ainst: byname, nets, addrs) --- */

static const char *client_key(const void *ctx, size_t i)
{
	const struct ainst *in = ctx;

	return in->c[i].pc.cn;
}

/* A tunnel address as the index holds it: a host prefix. */
static struct pfx host_of_addr(const struct pfx *a)
{
	struct pfx h = *a;

	h.len = (uint8_t)(pfx_addrlen(a) * 8);
	return h;
}

/* Indexes client i; false when it cannot be (out of memory, a prefix
 * indexed already). */
static bool idx_add(struct ainst *in, size_t i)
{
	const struct aclient *c = &in->c[i];
	bool ok = nameidx_add(&in->byname, i) == 0;

	for (size_t k = 0; ok && k < c->pc.nets.n; k++)
		ok = pfxtree_add(&in->nets, &c->pc.nets.v[k], i) == 0;
	if (ok && c->pc.has_tunnel4)
		ok = pfxtree_add(&in->addrs, &(struct pfx[]){ host_of_addr(&c->pc.tunnel4) }[0],
				 i) == 0;
	if (ok && c->pc.has_tunnel6)
		ok = pfxtree_add(&in->addrs, &(struct pfx[]){ host_of_addr(&c->pc.tunnel6) }[0],
				 i) == 0;
	return ok;
}

/* Calls fn for each prefix of client i in the index (nets, addrs). */
static void idx_each(struct ainst *in, size_t i,
		     void (*fn)(struct pfxtree *t, const struct pfx *p, size_t i, size_t arg),
		     size_t arg)
{
	const struct aclient *c = &in->c[i];

	for (size_t k = 0; k < c->pc.nets.n; k++)
		fn(&in->nets, &c->pc.nets.v[k], i, arg);
	if (c->pc.has_tunnel4)
		fn(&in->addrs, &(struct pfx[]){ host_of_addr(&c->pc.tunnel4) }[0], i, arg);
	if (c->pc.has_tunnel6)
		fn(&in->addrs, &(struct pfx[]){ host_of_addr(&c->pc.tunnel6) }[0], i, arg);
}

static void idx_del_one(struct pfxtree *t, const struct pfx *p, size_t i, size_t arg)
{
	const uint64_t *v = pfxtree_find(t, p);

	(void)arg;
	if (v && *v == i)
		pfxtree_del(t, p);
}

static void idx_move_one(struct pfxtree *t, const struct pfx *p, size_t i, size_t to)
{
	uint64_t *v = pfxtree_find(t, p);

	if (v && *v == i)
		*v = to;
}

/* Client i leaves the index (it is still at i). */
static void idx_del(struct ainst *in, size_t i)
{
	nameidx_del(&in->byname, in->c[i].pc.cn);
	idx_each(in, i, idx_del_one, 0);
}

static void idx_rebuild(struct ainst *in)
{
	if (!in->byname.key)
		nameidx_init(&in->byname, client_key, in);
	nameidx_clear(&in->byname);
	pfxtree_clear(&in->nets);
	pfxtree_clear(&in->addrs);
	in->idx = INST_IDX_OK;
	for (size_t i = 0; i < in->n; i++)
		if (!idx_add(in, i)) {
			in->idx = INST_IDX_SCAN;
			return;
		}
}

/* Whether the index of in can be used (rebuilt first when stale). */
static bool idx_ready(struct ainst *in)
{
	if (in->idx == INST_IDX_STALE)
		idx_rebuild(in);
	return in->idx == INST_IDX_OK;
}

void state_index_stale(struct ainst *in)
{
	in->idx = INST_IDX_STALE;
}

static void idx_free(struct ainst *in)
{
	nameidx_free(&in->byname);
	pfxtree_free(&in->nets);
	pfxtree_free(&in->addrs);
	in->idx = INST_IDX_STALE;
}

int state_client_copy(struct aclient *dst, const struct proto_client *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->pc = *src;
	dst->pc.nets = (struct pfx_list){ 0 }; /* a copy of its own */
	for (size_t i = 0; i < src->nets.n; i++)
		if (pfx_list_add(&dst->pc.nets, &src->nets.v[i], PROTO_MAX_NETS) == -ENOMEM)
			return -ENOMEM;
	return 0;
}

static int host_add(struct policy_host *h, const struct aclient *c, const char *instance,
		    size_t seq)
{
	int r = 0;

	for (size_t k = 0; r == 0 && k < c->pc.nets.n; k++)
		r = policy_host_add_net(h, &c->pc.nets.v[k], c->pc.cn, instance, seq);
	if (r == 0 && c->pc.has_tunnel4)
		r = policy_host_add_addr(h, &c->pc.tunnel4, c->pc.cn, instance, seq);
	if (r == 0 && c->pc.has_tunnel6)
		r = policy_host_add_addr(h, &c->pc.tunnel6, c->pc.cn, instance, seq);
	return r;
}

/* What every instance but skip holds, to be indexed. */
static int host_of(struct agent *a, const struct ainst *skip, struct policy_host *h)
{
	int r = 0;

	for (size_t i = 0; i < a->ninst; i++)
		for (size_t j = 0; r == 0 && a->inst[i] != skip && j < a->inst[i]->n; j++)
			r = host_add(h, &a->inst[i]->c[j], a->inst[i]->name, 0);
	return r;
}

static bool role_refused(const struct ainst *in, char *why, size_t len)
{
	if (in->role == PROTO_ROLE_SERVER)
		return false;
	snprintf(why, len,
		 "instance %s is an OpenVPN client: it has no clients to announce (rule: role)",
		 in->name);
	return true;
}

/* One admission query against one instance's clients. */
struct idx_probe {
	const struct ainst *in;
	const char *cn, *instance; /* the client asking: its own do not count */
	struct policy_entry *found;
};

/* Client val of q->in holds p: found, unless it is the one asking. */
static bool idx_hit(const struct pfx *p, uint64_t val, void *arg)
{
	struct idx_probe *q = arg;
	const struct aclient *c = &q->in->c[val];

	if (strcmp(c->pc.cn, q->cn) == 0 && strcmp(q->in->name, q->instance) == 0)
		return false;
	*q->found = (struct policy_entry){ .net = *p, .cn = c->pc.cn, .instance = q->in->name };
	return true;
}

/* The same, without the index: every client of q->in. */
static bool scan_clients(struct idx_probe *q, bool addrs, const struct pfx *x)
{
	for (size_t j = 0; j < q->in->n; j++) {
		const struct aclient *c = &q->in->c[j];
		struct pfx t[2];
		size_t nt = 0;

		for (size_t k = 0; !addrs && k < c->pc.nets.n; k++)
			if (pfx_overlaps(&c->pc.nets.v[k], x) && idx_hit(&c->pc.nets.v[k], j, q))
				return true;
		if (addrs && c->pc.has_tunnel4)
			t[nt++] = host_of_addr(&c->pc.tunnel4);
		if (addrs && c->pc.has_tunnel6)
			t[nt++] = host_of_addr(&c->pc.tunnel6);
		for (size_t k = 0; k < nt; k++)
			if (pfx_equal(&t[k], x) && idx_hit(&t[k], j, q))
				return true;
	}
	return false;
}

/* policy_host's find: every instance's clients, through their index. */
static bool find_clients(const void *ctx, bool addrs, const struct pfx *x, const char *cn,
			 const char *instance, struct policy_entry *found)
{
	const struct agent *a = ctx;
	struct pfx k = addrs ? host_of_addr(x) : *x;

	for (size_t i = 0; i < a->ninst; i++) {
		struct ainst *in = a->inst[i];
		struct idx_probe q = { in, cn, instance, found };
		const uint64_t *v;

		if (!idx_ready(in)) {
			if (scan_clients(&q, addrs, &k))
				return true;
		} else if (addrs) {
			if ((v = pfxtree_find(&in->addrs, &k)) && idx_hit(&k, *v, &q))
				return true;
		} else if (pfxtree_overlaps(&in->nets, &k, idx_hit, &q)) {
			return true;
		}
	}
	return false;
}

int state_admit(struct agent *a, const struct ainst *in, const struct proto_client *c, char *why,
		size_t len)
{
	char full[POLICY_REASON_MAX];
	struct policy_host h;

	if (role_refused(in, why, len))
		return -EPERM;
	policy_host_init(&h);
	h.find = find_clients;
	h.find_ctx = a;
	if (policy_check(a->cfg, in->name, c, &h, full, sizeof(full)))
		return 0;
	policy_reason_fit(full, why, len);
	return -EPERM;
}

int state_peer_admit(struct agent *a, const struct pfx *peer, const struct proto_client *c,
		     char *why, size_t len)
{
	char full[POLICY_REASON_MAX];
	struct policy_host h;

	policy_host_init(&h);
	h.find = find_clients;
	h.find_ctx = a;
	if (policy_check_peer(a->cfg, peer, agent_peer_id(a, c->cn), c, &h, full, sizeof(full)))
		return 0;
	policy_reason_fit(full, why, len);
	return -EPERM;
}

/* A sync's clients in order: the later one of two with one name stands. */
struct pend_ref {
	const char *cn;
	size_t i;
};

static int pend_cmp(const void *x, const void *y)
{
	const struct pend_ref *p = x, *q = y;
	int r = strcmp(p->cn, q->cn);

	return r ? r : (p->i > q->i) - (p->i < q->i);
}

/* During a sync: what client seq-1 is checked against. */
struct sync_view {
	size_t cur;	 /* the client being checked (seq) */
	const bool *out; /* by seq: dropped or refused */
};

static bool sync_ignore(const struct policy_entry *e, const void *ctx)
{
	const struct sync_view *v = ctx;

	return e->seq && (e->seq >= v->cur || v->out[e->seq]);
}

ssize_t state_sync_install(struct agent *a, struct ainst *in,
			   void (*refused)(const struct ainst *in, const char *cn, const char *why))
{
	struct policy_host h;
	struct pend_ref *ref = NULL;
	bool *out = NULL;
	struct sync_view view = { 0 };
	size_t n = in->npend, nrefused = 0;
	char why[POLICY_REASON_MAX];
	ssize_t r = -ENOMEM;

	for (size_t i = 0; i < in->n; i++)
		client_clear(&in->c[i]);
	free(in->c);
	in->c = NULL;
	in->n = 0;
	policy_host_init(&h);
	if (role_refused(in, why, sizeof(why))) {
		for (size_t i = 0; i < n; i++)
			refused(in, in->pend[i].pc.cn, why);
		r = (ssize_t)n;
		goto out;
	}
	ref = malloc((n + 1) * sizeof(*ref));
	out = calloc(n + 1, sizeof(*out));
	in->c = malloc((n + 1) * sizeof(*in->c));
	if (!ref || !out || !in->c || host_of(a, in, &h) < 0)
		goto out;
	/* one entry per name: the last one */
	for (size_t i = 0; i < n; i++)
		ref[i] = (struct pend_ref){ in->pend[i].pc.cn, i };
	if (n)
		qsort(ref, n, sizeof(*ref), pend_cmp);
	for (size_t i = 0; i + 1 < n; i++)
		if (strcmp(ref[i].cn, ref[i + 1].cn) == 0)
			out[ref[i].i + 1] = true;
	/* one index over the other instances' clients and this whole sync:
	 * client i is checked against those and the ones before it it admitted */
	for (size_t i = 0; i < n; i++)
		if (!out[i + 1] && host_add(&h, &in->pend[i], in->name, i + 1) < 0)
			goto out;
	policy_host_index(&h);
	h.ignore = sync_ignore;
	h.ctx = &view;
	view.out = out;
	for (size_t i = 0; i < n; i++) {
		struct aclient *p = &in->pend[i];

		if (out[i + 1])
			continue;
		view.cur = i + 1;
		if (!policy_check(a->cfg, in->name, &p->pc, &h, why, sizeof(why))) {
			out[i + 1] = true;
			refused(in, p->pc.cn, why);
			nrefused++;
			continue;
		}
		in->c[in->n] = *p; /* the networks move over */
		p->pc.nets = (struct pfx_list){ 0 };
		in->c[in->n++].since = time(NULL);
	}
	r = (ssize_t)nrefused;
out:
	policy_host_free(&h);
	free(ref);
	free(out);
	if (r < 0)
		in->n = 0;
	idx_rebuild(in); /* now, with the sync, not at the next connect */
	state_sync_abort(in);
	return r;
}

/* The position of client cn of in, or -1. */
static long client_pos(struct ainst *in, const char *cn)
{
	if (idx_ready(in))
		return nameidx_find(&in->byname, cn);
	for (size_t i = 0; i < in->n; i++)
		if (strcmp(in->c[i].pc.cn, cn) == 0)
			return (long)i;
	return -1;
}

int state_client_set(struct ainst *in, const struct proto_client *c)
{
	struct aclient *v;
	long at = client_pos(in, c->cn);
	int r;

	if (at >= 0) {
		size_t i = (size_t)at;
		time_t since = in->c[i].since;

		if (in->idx == INST_IDX_OK)
			idx_del(in, i);
		client_clear(&in->c[i]);
		r = state_client_copy(&in->c[i], c);
		in->c[i].since = since;
		if (in->idx == INST_IDX_OK && !idx_add(in, i))
			state_index_stale(in);
		return r;
	}
	v = realloc(in->c, (in->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	in->c = v;
	if (state_client_copy(&v[in->n], c) < 0) {
		client_clear(&v[in->n]);
		return -ENOMEM;
	}
	v[in->n++].since = time(NULL);
	if (in->idx == INST_IDX_OK && !idx_add(in, in->n - 1))
		state_index_stale(in);
	return 0;
}

struct aclient *state_client_find(struct ainst *in, const char *cn)
{
	long at = client_pos(in, cn);

	return at < 0 ? NULL : &in->c[at];
}

int state_client_dup(struct aclient *dst, const struct aclient *src)
{
	*dst = *src;
	dst->pc.nets.v = NULL;
	dst->pc.nets.n = 0;
	for (size_t i = 0; i < src->pc.nets.n; i++)
		if (pfx_list_add(&dst->pc.nets, &src->pc.nets.v[i], PROTO_MAX_NETS) == -ENOMEM)
			return -ENOMEM;
	return 0;
}

bool state_client_del(struct ainst *in, const char *cn)
{
	long at = client_pos(in, cn);
	size_t i, last;

	if (at < 0)
		return false;
	i = (size_t)at;
	last = in->n - 1;
	if (in->idx == INST_IDX_OK) {
		idx_del(in, i);
		if (i != last) { /* the last client moves into the hole */
			nameidx_move(&in->byname, last, i);
			idx_each(in, last, idx_move_one, i);
		}
	}
	client_clear(&in->c[i]);
	in->c[i] = in->c[last];
	in->n--;
	return true;
}

void state_sync_abort(struct ainst *in)
{
	for (size_t j = 0; j < in->npend; j++)
		client_clear(&in->pend[j]);
	heap_freed(in->npend * sizeof(*in->pend));
	free(in->pend);
	in->pend = NULL;
	in->npend = 0;
	in->syncing = false;
}

void state_free(struct agent *a)
{
	for (size_t i = 0; i < a->ninst; i++) {
		struct ainst *in = a->inst[i];

		for (size_t j = 0; j < in->n; j++)
			client_clear(&in->c[j]);
		for (size_t j = 0; j < in->npend; j++)
			client_clear(&in->pend[j]);
		free(in->c);
		free(in->pend);
		pfx_list_free(&in->routes);
		idx_free(in);
		free(in);
	}
	free(a->inst);
	free(a->routes);
	free(a->adopted);
	free(a->foreign);
	free(a->failed);
	free(a->todo_del);
	free(a->todo);
	batch_untouch(&a->batch);
	free(a->batch.t);
	free(a->batch.w);
	a->batch = (struct batch){ .max_us = a->batch.max_us };
	state_dirty_clear(a);
	free(a->dirty);
	a->dirty = NULL;
	a->capdirty = 0;
	a->todo_del = NULL;
	a->todo = NULL;
	a->ntodo_del = a->ntodo = 0;
	a->inst = NULL;
	a->ninst = 0;
}

/* --- the desired kernel state --- */

struct desired {
	struct aroute *routes;
	size_t nroutes, caproutes;
	struct pfx_list remote;
	size_t capremote;
	struct pfx_list to_local, from_local; /* hosts with an access "all" (nft_model) */
	size_t capto, capfrom;
	struct nft_acc *acc;
	size_t nacc, capacc;
	const struct dns_table *names; /* the rules' host names, as last resolved */
	int err;
};

/* Room for one more element in *v (n used, *cap allocated), doubling. */
static bool grow(void **v, size_t n, size_t *cap, size_t size, int *err)
{
	void *w;

	if (n < *cap)
		return true;
	w = realloc(*v, (*cap ? *cap * 2 : 64) * size);
	if (!w) {
		*err = -ENOMEM;
		return false;
	}
	*v = w;
	*cap = *cap ? *cap * 2 : 64;
	return true;
}

/* Appended as they come; sorted and made unique in one pass afterwards. */
static void want_route(struct desired *d, const struct pfx *dst, int oif, const char *dev)
{
	if (!grow((void **)&d->routes, d->nroutes, &d->caproutes, sizeof(*d->routes), &d->err))
		return;
	memset(&d->routes[d->nroutes], 0, sizeof(*d->routes));
	d->routes[d->nroutes].dst = *dst;
	snprintf(d->routes[d->nroutes].dev, sizeof(d->routes->dev), "%s", dev);
	d->routes[d->nroutes++].oif = oif;
}

static void want_unreachable(struct desired *d, const struct pfx *dst)
{
	want_route(d, dst, 0, "");
	if (!d->err)
		d->routes[d->nroutes - 1].unreach = true;
}

static void want_remote(struct desired *d, const struct pfx *p)
{
	if (!grow((void **)&d->remote.v, d->remote.n, &d->capremote, sizeof(*p), &d->err))
		return;
	d->remote.v[d->remote.n++] = *p;
}

static int route_cmp(const void *x, const void *y)
{
	const struct aroute *a = x, *b = y;
	int r = pfx_cmp(&a->dst, &b->dst);

	/* a client's route before a summary's unreachable one: it wins */
	if (!r && a->unreach != b->unreach)
		return a->unreach ? 1 : -1;
	return r ? r : (a->oif > b->oif) - (a->oif < b->oif);
}

static int route_dst_cmp(const void *x, const void *y)
{
	return pfx_cmp(&((const struct aroute *)x)->dst, &((const struct aroute *)y)->dst);
}

/* Sorted by destination; the first route to each destination wins. */
static void routes_unique(struct aroute *v, size_t *n)
{
	size_t w = 0;

	if (*n)
		qsort(v, *n, sizeof(*v), route_cmp);
	for (size_t i = 0; i < *n; i++)
		if (!w || !pfx_equal(&v[w - 1].dst, &v[i].dst))
			v[w++] = v[i];
	*n = w;
}

static void want_acc(struct desired *d, const struct pfx *src, const struct pfx *dst, uint8_t plo,
		     uint8_t phi, const struct cfg_ports *ports, const struct cfg_rule *rule)
{
	struct nft_acc *v;

	if (src->family != dst->family ||
	    !grow((void **)&d->acc, d->nacc, &d->capacc, sizeof(*d->acc), &d->err))
		return;
	v = &d->acc[d->nacc++];
	memset(v, 0, sizeof(*v));
	v->src = *src;
	v->dst = *dst;
	v->proto_lo = plo;
	v->proto_hi = phi;
	v->masq = rule && rule->masquerade;
	v->log = rule && rule->log;
	if (ports) {
		v->ports = true;
		v->port_lo = ports->lo;
		v->port_hi = ports->hi;
	}
}

/*
 * A rule's destination by host name: each of its last known addresses, as a
 * literal one would be, but only those inside dsts (the networks this
 * direction reaches; a DNS answer is untrusted) and, for icmp or icmpv6, of
 * that family. A name that never resolved adds nothing.
 */
static void want_named(struct desired *d, const struct pfx *src, const struct pfx_list *dsts,
		       const struct cfg_rule *rule, uint8_t lo, uint8_t hi)
{
	const struct pfx_list *addrs = dns_table_addrs(d->names, rule->to_name);

	for (size_t i = 0; addrs && i < addrs->n; i++) {
		const struct pfx *x = &addrs->v[i];

		if ((rule->proto == IPPROTO_ICMP && x->family != AF_INET) ||
		    (rule->proto == IPPROTO_ICMPV6 && x->family != AF_INET6) ||
		    !pfx_list_contains(dsts, x))
			continue;
		if (!rule->nports)
			want_acc(d, src, x, lo, hi, NULL, rule);
		for (size_t p = 0; p < rule->nports; p++)
			want_acc(d, src, x, lo, hi, &rule->ports[p], rule);
	}
}

static bool is_host(const struct pfx *p)
{
	return p->len == pfx_addrlen(p) * 8;
}

static void want_host(struct pfx_list *l, size_t *cap, const struct pfx *p, int *err)
{
	if (!grow((void **)&l->v, l->n, cap, sizeof(*p), err))
		return;
	l->v[l->n++] = *p;
}

/*
 * Who may open connections from each of srcs to what: everything in dsts
 * (ALL), the rules' destinations (RULES), or nothing (NONE). One side is
 * the local networks: to_local (dsts) or not (srcs). A single address with
 * ALL goes to the hash set of its direction (one element, whatever the
 * local networks), not one allow element per local network.
 */
static void want_access(struct desired *d, const struct pfx_list *srcs, const struct pfx_list *dsts,
			const struct cfg_access *acc, bool to_local)
{
	if (acc->kind == CFG_ACCESS_ALL && !to_local) {
		for (size_t t = 0; t < dsts->n; t++)
			if (is_host(&dsts->v[t]))
				want_host(&d->from_local, &d->capfrom, &dsts->v[t], &d->err);
			else
				for (size_t s = 0; s < srcs->n; s++)
					want_acc(d, &srcs->v[s], &dsts->v[t], 0, 255, NULL, NULL);
		return;
	}
	for (size_t s = 0; s < srcs->n; s++) {
		if (acc->kind == CFG_ACCESS_ALL && is_host(&srcs->v[s]))
			want_host(&d->to_local, &d->capto, &srcs->v[s], &d->err);
		else if (acc->kind == CFG_ACCESS_ALL)
			for (size_t t = 0; t < dsts->n; t++)
				want_acc(d, &srcs->v[s], &dsts->v[t], 0, 255, NULL, NULL);
		for (size_t r = 0; acc->kind == CFG_ACCESS_RULES && r < acc->nrules; r++) {
			const struct cfg_rule *rule = &acc->rules[r];
			uint8_t lo = rule->proto, hi = rule->proto ? rule->proto : 255;

			if (rule->to_name) {
				want_named(d, &srcs->v[s], dsts, rule, lo, hi);
				continue;
			}
			if (!rule->nports)
				want_acc(d, &srcs->v[s], &rule->to, lo, hi, NULL, rule);
			for (size_t p = 0; p < rule->nports; p++)
				want_acc(d, &srcs->v[s], &rule->to, lo, hi, &rule->ports[p], rule);
		}
	}
}

/* The interface of peer's route-based tunnel to net with a live SA (an XFRM
 * interface, a VTI: ipsec_route.c), or NULL. a->tunnels is sorted by peer,
 * then network. */
static const char *tunnel_dev(const struct agent *a, const struct pfx *peer, const struct pfx *net)
{
	size_t lo = 0, hi = a->ntunnels;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = pfx_cmp(&a->tunnels[mid].peer, peer);

		if (!r)
			r = pfx_cmp(&a->tunnels[mid].net, net);
		if (!r)
			return a->tunnels[mid].sa && a->tunnels[mid].dev[0] ? a->tunnels[mid].dev
									    : NULL;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* What one IPsec peer adds: its networks as remote networks (VPC routes,
 * NAT exemption) and its forward filter; a kernel route via the interface
 * of a route-based tunnel, none for a policy-based one (the XFRM policy
 * takes the packets). */
static void peer_contrib(const struct agent *a, const struct aclient *cl, struct desired *d)
{
	const struct cfg *c = a->cfg;
	const struct cfg_peer *pe;
	struct pfx addr;

	if (agent_peer_addr(cl->pc.cn, &addr) < 0 ||
	    !(pe = cfg_peer_lookup(c, &addr, agent_peer_id(a, cl->pc.cn))))
		return; /* ipsec.c admits only configured peers; a reload re-admits */
	for (size_t k = 0; k < cl->pc.nets.n; k++) {
		const char *dev = tunnel_dev(a, &addr, &cl->pc.nets.v[k]);

		if (dev)
			want_route(d, &cl->pc.nets.v[k], (int)ifc_index(dev), dev);
		want_remote(d, &cl->pc.nets.v[k]);
	}
	want_access(d, &cl->pc.nets, &c->local, &pe->pol.to_local, true);
	want_access(d, &c->local, &cl->pc.nets, &pe->pol.from_local, false);
}

/* What one client of a server-role instance adds: routes (once its tunnel
 * device is named; oif 0 when that device is missing), remote, access. */
static void client_contrib(const struct cfg *c, const struct aclient *cl, int oif, const char *dev,
			   struct desired *d)
{
	static const struct cfg_client none;
	const struct cfg_client *pol = cfg_client_find(c, cl->pc.cn);
	struct pfx_list own = { 0 };

	if (!pol)
		pol = &none;
	for (size_t k = 0; k < cl->pc.nets.n; k++) {
		if (dev[0])
			want_route(d, &cl->pc.nets.v[k], oif, dev);
		want_remote(d, &cl->pc.nets.v[k]);
		pfx_list_add(&own, &cl->pc.nets.v[k], SIZE_MAX);
	}
	if (cl->pc.has_tunnel4)
		pfx_list_add(&own, &cl->pc.tunnel4, SIZE_MAX);
	if (cl->pc.has_tunnel6)
		pfx_list_add(&own, &cl->pc.tunnel6, SIZE_MAX);
	want_access(d, &own, &c->local, &pol->to_local, true);
	want_access(d, &c->local, &own, &pol->from_local, false);
	pfx_list_free(&own);
}

static void desire(struct agent *a, struct desired *d)
{
	const struct cfg *c = a->cfg;

	d->names = a->names;
	if (c->has_pool)
		want_remote(d, &c->pool);
	if (c->has_pool6)
		want_remote(d, &c->pool6);
	for (size_t i = 0; i < a->ninst; i++) {
		struct ainst *in = a->inst[i];
		int oif = in->dev[0] ? (int)ifc_index(in->dev) : 0;

		if (in->ipsec) {
			for (size_t j = 0; j < in->n; j++)
				peer_contrib(a, &in->c[j], d);
		} else if (in->role == PROTO_ROLE_SERVER && c->role == CFG_ROLE_SERVER) {
			for (size_t j = 0; j < in->n; j++)
				client_contrib(c, &in->c[j], oif, in->dev, d);
		} else if (in->role == PROTO_ROLE_CLIENT && c->role == CFG_ROLE_CLIENT &&
			   in->tun_up) {
			/* the pushed routes, then the networks the server reaches
			 * without pushing them (tunnel_networks): one rule for both */
			struct pfx_list acc = { 0 }, cand = { 0 };
			size_t npushed = in->routes.n;

			for (size_t k = 0; k < in->routes.n && !d->err; k++)
				d->err = pfx_list_add(&cand, &in->routes.v[k], SIZE_MAX);
			for (size_t k = 0; k < c->tunnel_networks.n && !d->err; k++)
				d->err = pfx_list_add(&cand, &c->tunnel_networks.v[k], SIZE_MAX);
			for (size_t k = 0; k < cand.n; k++) {
				bool inside = false;

				if (!policy_route_accepted(c, &cand.v[k]))
					continue;
				/* nested routes: the outer one covers the sets */
				for (size_t o = 0; o < cand.n && !inside; o++)
					inside = o != k && policy_route_accepted(c, &cand.v[o]) &&
						 pfx_contains(&cand.v[o], &cand.v[k]) &&
						 (!pfx_equal(&cand.v[o], &cand.v[k]) || o < k);
				if (inside)
					continue;
				/* a pushed route after OpenVPN's own route-up: one it
				 * installed is then found and left alone, not raced;
				 * OpenVPN never installs a tunnel network */
				if (in->dev[0] && (in->route_up || k >= npushed))
					want_route(d, &cand.v[k], oif, in->dev);
				want_remote(d, &cand.v[k]);
				pfx_list_add(&acc, &cand.v[k], SIZE_MAX);
			}
			want_access(d, &acc, &c->local, &c->to_local, true);
			want_access(d, &c->local, &acc, &c->from_local, false);
			pfx_list_free(&acc);
			pfx_list_free(&cand);
		}
	}
	/*
	 * Until the plugins have resynced, an adopted route stays in the kernel so
	 * that traffic survives a restart; it is only a candidate: no set element,
	 * no VPC route, until a client claims its network under the policy.
	 */
	for (size_t i = 0; a->in_grace && i < a->nadopted; i++) {
		if (a->adopted[i].unreach)
			want_unreachable(d, &a->adopted[i].dst);
		else
			want_route(d, &a->adopted[i].dst, a->adopted[i].oif, a->adopted[i].dev);
	}
	routes_unique(d->routes, &d->nroutes);
}

/*
 * The active summaries' unreachable routes (cloud_summary_active; the
 * cloud's wanted networks as of d): the VPC sends the instance traffic for
 * every address of a summary, and what no client route (more specific, or
 * equal: it wins) covers is answered with ICMP unreachable instead of
 * following the default route back to the VPC. Unreachable, not blackhole:
 * the sender learns at once (the kernel rate-limits the answers).
 */
static void want_summaries(struct agent *a, struct desired *d)
{
	const struct pfx_list *sm = &a->cfg->aws.summaries;
	size_t n = d->nroutes;

	for (size_t i = 0; a->cloud && i < sm->n; i++)
		if (cloud_summary_active(a->cloud, &sm->v[i]))
			want_unreachable(d, &sm->v[i]);
	if (d->nroutes != n)
		routes_unique(d->routes, &d->nroutes);
}

static bool is_foreign(const struct agent *a, const struct aroute *r)
{
	for (size_t i = 0; i < a->nforeign; i++)
		if (pfx_equal(&a->foreign[i].dst, &r->dst))
			return true;
	return false;
}

static void note_foreign(struct agent *a, const struct aroute *r)
{
	struct aroute *v = realloc(a->foreign, (a->nforeign + 1) * sizeof(*v));

	if (!v)
		return;
	a->foreign = v;
	v[a->nforeign++] = *r;
}

/* --- routes that could not be installed (sorted by destination) --- */

static int fail_cmp(const void *x, const void *y)
{
	return pfx_cmp(&((const struct afail *)x)->dst, &((const struct afail *)y)->dst);
}

static struct afail *fail_find(const struct agent *a, const struct pfx *dst)
{
	struct afail key = { .dst = *dst };

	return a->nfailed ? bsearch(&key, a->failed, a->nfailed, sizeof(key), fail_cmp) : NULL;
}

static void fail_clear(struct agent *a, const struct pfx *dst)
{
	struct afail *f = fail_find(a, dst);

	if (f) {
		memmove(f, f + 1, (size_t)(a->failed + a->nfailed - (f + 1)) * sizeof(*f));
		a->nfailed--;
	}
}

static void fail_set(struct agent *a, const struct aroute *r, int err)
{
	struct afail *f = fail_find(a, &r->dst);
	size_t i = 0;

	if (!f) {
		f = realloc(a->failed, (a->nfailed + 1) * sizeof(*f));
		if (!f)
			return;
		a->failed = f;
		while (i < a->nfailed && pfx_cmp(&f[i].dst, &r->dst) < 0)
			i++;
		memmove(f + i + 1, f + i, (a->nfailed++ - i) * sizeof(*f));
		f += i;
	}
	f->dst = r->dst;
	f->err = err;
	snprintf(f->dev, sizeof(f->dev), "%s", r->dev);
}

int state_route_failed(const struct agent *a, const struct pfx *dst, const char **dev)
{
	const struct afail *f = fail_find(a, dst);

	if (dev)
		*dev = f ? f->dev : NULL;
	return f ? f->err : 0;
}

/* A route whose device is missing (no oif): not requested, failed with
 * -ENODEV (state_route_failed), logged once per failure, not once per retry. */
static int route_no_device(struct agent *a, const struct aroute *r)
{
	char s[PFX_STRLEN];

	if (state_route_failed(a, &r->dst, NULL) != -ENODEV)
		log_warnx("route %s: device %s is missing; retried when it appears: check that "
			  "the tunnel's interface (OpenVPN's, or an IPsec XFRM interface or VTI) "
			  "is up (ip link show)",
			  pfx_format(&r->dst, s, sizeof(s)), r->dev);
	fail_set(a, r, -ENODEV);
	return -ENODEV;
}

static int kroute_cmp(const void *x, const void *y)
{
	const struct rtnl_route *a = x, *b = y;
	int r = pfx_cmp(&a->dst, &b->dst);

	/* ours first among routes to one destination */
	return r ? r : (b->protocol == RTNL_PROTO) - (a->protocol == RTNL_PROTO);
}

/* The kernel's main-table routes, sorted by destination (ours first). */
static int kernel_routes(struct agent *a, struct rtnl_route **k, size_t *nk)
{
	int r = rtnl_dump(a->rt, k, nk);

	if (r == 0 && *nk)
		qsort(*k, *nk, sizeof(**k), kroute_cmp);
	return r;
}

/* The first route to dst in k (sorted): ours when there is one. */
static const struct rtnl_route *kernel_find(const struct rtnl_route *k, size_t nk,
					    const struct pfx *dst)
{
	size_t lo = 0, hi = nk;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (pfx_cmp(&k[mid].dst, dst) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nk && pfx_equal(&k[lo].dst, dst) ? &k[lo] : NULL;
}

/* Another protocol's route to dst (any type), in k, or NULL. */
static const struct rtnl_route *kernel_foreign(const struct rtnl_route *k, size_t nk,
					       const struct pfx *dst)
{
	for (const struct rtnl_route *x = kernel_find(k, nk, dst);
	     x && x < k + nk && pfx_equal(&x->dst, dst); x++)
		if (x->protocol != RTNL_PROTO)
			return x;
	return NULL;
}

/* Whether k, a route of ours in the kernel, is w as wanted (w may be NULL). */
static bool kernel_same(const struct rtnl_route *k, const struct aroute *w)
{
	if (!w)
		return false;
	if (w->unreach)
		return k->type == RTN_UNREACHABLE;
	return k->type == RTN_UNICAST && k->oif == w->oif && w->oif;
}

/* Our routes are kept sorted by destination: insert or remove one. */
static void routes_insert(struct agent *a, const struct aroute *r)
{
	struct aroute *v = a->routes;
	size_t i = 0;

	/* room doubled when full, whoever allocated it: not a realloc (and a
	 * trim of the heap) per route */
	if (!v || malloc_usable_size(v) < (a->nroutes + 1) * sizeof(*v)) {
		v = realloc(v, (a->nroutes + 1) * 2 * sizeof(*v));
		if (!v)
			return;
		a->routes = v;
	}
	for (size_t hi = a->nroutes; i < hi;) { /* the first not below r: a binary search */
		size_t mid = i + (hi - i) / 2;

		if (pfx_cmp(&v[mid].dst, &r->dst) < 0)
			i = mid + 1;
		else
			hi = mid;
	}
	memmove(v + i + 1, v + i, (a->nroutes - i) * sizeof(*v));
	v[i] = *r;
	a->nroutes++;
}

static void routes_remove(struct agent *a, const struct pfx *dst)
{
	struct aroute key = { .dst = *dst }, *x;

	x = a->nroutes ? bsearch(&key, a->routes, a->nroutes, sizeof(key), route_dst_cmp) : NULL;
	if (!x)
		return;
	memmove(x, x + 1, (size_t)(a->routes + a->nroutes - (x + 1)) * sizeof(*x));
	a->nroutes--;
}

/* --- route changes left for the following loop passes --- */

static int pfx_only_cmp(const void *x, const void *y)
{
	return pfx_cmp(x, y);
}

bool state_busy(const struct agent *a)
{
	return a->ntodo_del || a->ntodo || (a->nft && nft_busy(a->nft));
}

/* Forgets the queued deletion and addition of dst (a client changed it at once). */
static void todo_drop(struct agent *a, const struct pfx *dst)
{
	struct aroute key = { .dst = *dst }, *x;
	struct pfx *p;

	p = a->ntodo_del ? bsearch(dst, a->todo_del, a->ntodo_del, sizeof(*p), pfx_only_cmp) : NULL;
	if (p) {
		memmove(p, p + 1, (size_t)(a->todo_del + a->ntodo_del - (p + 1)) * sizeof(*p));
		a->ntodo_del--;
	}
	x = a->ntodo ? bsearch(&key, a->todo, a->ntodo, sizeof(key), route_dst_cmp) : NULL;
	if (x) {
		memmove(x, x + 1, (size_t)(a->todo + a->ntodo - (x + 1)) * sizeof(*x));
		a->ntodo--;
	}
}

/* a->routes and add (both sorted by destination) as one sorted list; add
 * wins for a destination in both. -ENOMEM leaves a->routes as it was. */
static int routes_merge(struct agent *a, const struct aroute *add, size_t nadd)
{
	struct aroute *v;
	size_t i = 0, j = 0, n = 0;

	if (!nadd)
		return 0;
	if (!(v = malloc((a->nroutes + nadd) * sizeof(*v))))
		return -ENOMEM;
	while (i < a->nroutes || j < nadd) {
		int c = i == a->nroutes ? 1
			: j == nadd	? -1
					: pfx_cmp(&a->routes[i].dst, &add[j].dst);

		if (c < 0) {
			v[n++] = a->routes[i++];
		} else {
			if (c == 0)
				i++;
			v[n++] = add[j++];
		}
	}
	free(a->routes);
	a->routes = v;
	a->nroutes = n;
	return 0;
}

/* Array v of n elements of size, allocated for more: shrunk to n (NULL
 * when empty), its slack handed back; v itself when realloc fails. */
static void *fit(void *v, size_t n, size_t size)
{
	void *w;

	if (!n) {
		free(v);
		return NULL;
	}
	w = realloc(v, n * size);
	return w ? w : v;
}

/* --- route changes made together: one netlink batch (rtnl_batch) --- */

struct rbatch {
	struct rtnl_op *op;
	struct aroute *w; /* per op: the route (an add's device name, for its failure) */
	size_t n, cap;
	int first; /* the first error of an add, 0 */
};

/* Room for more ops: 0 or -ENOMEM. */
static int rbatch_room(struct rbatch *b, size_t more)
{
	size_t cap = b->n + more;
	struct rtnl_op *op;
	struct aroute *w;

	if (cap <= b->cap)
		return 0;
	if (!(op = realloc(b->op, cap * sizeof(*op))))
		return -ENOMEM;
	b->op = op;
	if (!(w = realloc(b->w, cap * sizeof(*w))))
		return -ENOMEM;
	b->w = w;
	b->cap = cap;
	return 0;
}

static void rbatch_free(struct rbatch *b)
{
	free(b->op);
	free(b->w);
	memset(b, 0, sizeof(*b));
}

/* Queues the removal of our route to dst (room made by rbatch_room). */
static void rbatch_del(struct rbatch *b, const struct pfx *dst)
{
	b->op[b->n] = (struct rtnl_op){ .kind = RTNL_DEL, .dst = *dst };
	b->w[b->n] = (struct aroute){ .dst = *dst };
	b->n++;
}

/* Queues the installation of w (room made by rbatch_room); one whose device
 * is missing fails at once, without a request (route_no_device). */
static void rbatch_add(struct agent *a, struct rbatch *b, const struct aroute *w)
{
	int e;

	if (w->unreach || w->oif) {
		b->op[b->n] = (struct rtnl_op){ .kind = w->unreach ? RTNL_UNREACHABLE : RTNL_ADD,
						.dst = w->dst,
						.oif = w->oif };
		b->w[b->n++] = *w;
		return;
	}
	e = route_no_device(a, w);
	metrics_inc(VM_ROUTE_FAILURES);
	if (!b->first)
		b->first = e;
}

/*
 * Makes the queued changes in one batch, each answered on its own: a route
 * removed leaves a->routes; one installed enters it (replacing ours to the
 * same destination), one of another protocol is noted, one that failed is
 * kept failed (state_route_failed: its client's answer says so) and
 * counted; one op failing changes nothing for the others. The first error
 * of an add, or 0.
 */
static int rbatch_run(struct agent *a, struct rbatch *b)
{
	struct aroute *added = b->n ? malloc(b->n * sizeof(*added)) : NULL;
	size_t nadded = 0;

	if (b->n)
		rtnl_batch(a->rt, b->op, b->n);
	for (size_t i = 0; i < b->n; i++) {
		const struct rtnl_op *op = &b->op[i];
		const struct aroute *w = &b->w[i];

		if (op->kind == RTNL_DEL) {
			if (op->result == 0)
				routes_remove(a, &op->dst);
			continue;
		}
		if (op->result < 0) {
			fail_set(a, w, op->result);
			metrics_inc(VM_ROUTE_FAILURES);
			if (!b->first)
				b->first = op->result;
			continue;
		}
		fail_clear(a, &w->dst);
		if (op->result == 1) {
			note_foreign(a, w);
		} else if (added) {
			added[nadded++] = *w;
		} else { /* out of memory for the merge: one at a time */
			routes_remove(a, &w->dst);
			routes_insert(a, w);
		}
	}
	if (nadded > 8) {
		qsort(added, nadded, sizeof(*added), route_dst_cmp);
		routes_unique(added, &nadded);
		if (routes_merge(a, added, nadded) < 0)
			log_warnx("%s: out of memory", __func__);
	} else {
		for (size_t i = 0; i < nadded; i++) {
			routes_remove(a, &added[i].dst);
			routes_insert(a, &added[i]);
		}
	}
	free(added);
	b->n = 0;
	return b->first;
}

/*
 * Makes at most budget of the queued kernel route changes, deletions
 * first. Our routes, the failed and the foreign ones follow. Returns the
 * first error of a route that could not be installed, or 0.
 */
static int routes_step(struct agent *a, size_t budget)
{
	size_t ndel = a->ntodo_del < budget ? a->ntodo_del : budget, nadd, i;
	struct rbatch b = { 0 };
	int first;

	nadd = a->ntodo < budget - ndel ? a->ntodo : budget - ndel;
	if (!ndel && !nadd)
		return 0;
	if (rbatch_room(&b, ndel + nadd) < 0) {
		rbatch_free(&b);
		log_warnx("%s: out of memory", __func__);
		return -ENOMEM;
	}
	for (i = 0; i < ndel; i++)
		rbatch_del(&b, &a->todo_del[i]);
	for (i = 0; i < nadd; i++)
		rbatch_add(a, &b, &a->todo[i]);
	/* taken off the queues before the batch: its bookkeeping looks at them */
	if (ndel)
		memmove(a->todo_del, a->todo_del + ndel,
			(a->ntodo_del - ndel) * sizeof(*a->todo_del));
	a->ntodo_del -= ndel;
	if (!a->ntodo_del) { /* the last deletion done: its array goes */
		free(a->todo_del);
		a->todo_del = NULL;
	}
	if (nadd)
		memmove(a->todo, a->todo + nadd, (a->ntodo - nadd) * sizeof(*a->todo));
	a->ntodo -= nadd;
	if (!a->ntodo) {
		free(a->todo);
		a->todo = NULL;
	}
	first = rbatch_run(a, &b);
	rbatch_free(&b);
	if (a->nfailed && !state_busy(a))
		a->retry_wanted = true; /* the loop hands it to the watch */
	return first;
}

void state_continue(struct agent *a)
{
	int r;

	routes_step(a, STATE_ROUTES_PER_PASS);
	if (a->nft && nft_busy(a->nft) && (r = nft_continue(a->nft)) < 0) {
		a->nft_err = r;
		metrics_inc(VM_SET_FAILURES);
		a->retry_wanted = true; /* the loop hands it to the watch: a rebuild */
	}
}

/* The queued routes of client c, to be installed now (its acknowledgement
 * says they are in), into b. */
static void todo_client(struct agent *a, const struct aclient *c, struct rbatch *b)
{
	for (size_t k = 0; c && k < c->pc.nets.n; k++) {
		struct aroute key = { .dst = c->pc.nets.v[k] }, w, *x;

		x = a->ntodo ? bsearch(&key, a->todo, a->ntodo, sizeof(key), route_dst_cmp) : NULL;
		if (!x || rbatch_room(b, 1) < 0)
			continue; /* out of memory: left for a later pass */
		w = *x;
		todo_drop(a, &w.dst);
		rbatch_add(a, b, &w);
	}
}

/*
 * Makes our kernel routes equal to d's (sorted by destination), compared
 * with the kernel's routes as read now, not with what we installed before:
 * a route deleted behind our back is added again. A route of another
 * protocol to the same destination wins (logged once). The changes are
 * queued (replacing what an earlier pass left) and the first
 * STATE_ROUTES_PER_PASS made now; state_continue makes the rest. Returns
 * the first error of a route that could not be installed now, or 0.
 */
static int routes_apply(struct agent *a, const struct desired *d)
{
	struct aroute *keep = malloc((d->nroutes + 1) * sizeof(*keep)), *foreign, *todo;
	struct afail *failed = malloc((d->nroutes + 1) * sizeof(*failed));
	struct pfx *dels;
	struct rtnl_route *k = NULL;
	size_t nkeep = 0, nk = 0, nforeign = 0, nfailed = 0, ntodo = 0, ndels = 0;
	int r;

	foreign = malloc((d->nroutes + 1) * sizeof(*foreign));
	todo = malloc((d->nroutes + 1) * sizeof(*todo));
	if (!keep || !foreign || !failed || !todo) {
		free(keep);
		free(foreign);
		free(failed);
		free(todo);
		log_warnx("%s: out of memory", __func__);
		return -ENOMEM;
	}
	if ((r = kernel_routes(a, &k, &nk)) < 0 || !(dels = malloc((nk + 1) * sizeof(*dels)))) {
		if (r < 0)
			log_warnx("reading the kernel's routes: %s; check that the agent runs as "
				  "root "
				  "or with CAP_NET_ADMIN",
				  strerror(-r));
		else
			log_warnx("%s: out of memory", __func__);
		free(k);
		free(keep);
		free(foreign);
		free(failed);
		free(todo);
		a->retry_wanted = true; /* the loop hands it to the watch */
		return r < 0 ? r : -ENOMEM;
	}
	/* ours that are no longer wanted go first; those the kernel dropped
	 * with their device are only logged */
	for (size_t i = 0; i < a->nroutes; i++) {
		const struct rtnl_route *k0 = kernel_find(k, nk, &a->routes[i].dst);
		char s[PFX_STRLEN];

		if ((!k0 || k0->protocol != RTNL_PROTO) &&
		    !(d->nroutes && bsearch(&a->routes[i], d->routes, d->nroutes,
					    sizeof(*d->routes), route_dst_cmp)))
			log_info("route %s already gone (with its device)",
				 pfx_format(&a->routes[i].dst, s, sizeof(s)));
	}
	for (size_t i = 0; i < nk; i++) {
		struct aroute x = { .dst = k[i].dst, .oif = k[i].oif };

		if (k[i].protocol != RTNL_PROTO ||
		    (d->nroutes &&
		     bsearch(&x, d->routes, d->nroutes, sizeof(*d->routes), route_dst_cmp)))
			continue;
		if (!ndels || !pfx_equal(&dels[ndels - 1], &x.dst)) /* k is sorted */
			dels[ndels++] = x.dst;
	}
	for (size_t i = 0; i < d->nroutes; i++) {
		const struct aroute *w = &d->routes[i];
		const struct rtnl_route *have = kernel_find(k, nk, &w->dst), *other;
		const struct afail *f;
		char s[PFX_STRLEN];

		if (have && have->protocol != RTNL_PROTO)
			have = NULL;
		if (have && kernel_same(have, w)) {
			keep[nkeep++] = *w;
			continue;
		}
		if ((other = kernel_foreign(k, nk, &w->dst))) {
			if (!is_foreign(a, w))
				log_info("route %s: a route of protocol %u is already there; left "
					 "alone",
					 pfx_format(&w->dst, s, sizeof(s)), other->protocol);
			foreign[nforeign++] = *w;
			continue;
		}
		if (have) { /* still ours, on its old device, until it is moved */
			keep[nkeep] = *w;
			keep[nkeep++].oif = have->oif;
		} else if (a->nroutes &&
			   bsearch(w, a->routes, a->nroutes, sizeof(*w), route_dst_cmp)) {
			/* ours, gone behind our back: put back */
			metrics_inc(VM_KERNEL_REPAIRS, "route");
		}
		/* a failure stays shown until its next try */
		if ((f = fail_find(a, &w->dst)))
			failed[nfailed++] = *f;
		todo[ntodo++] = *w;
	}
	/* in d's order: sorted; failures of routes no longer wanted are gone;
	 * each list as long as it is (they were allocated for every route) */
	free(a->failed);
	a->failed = fit(failed, nfailed, sizeof(*failed));
	a->nfailed = nfailed;
	free(k);
	heap_freed(nk * sizeof(*k) + 4 * d->nroutes * sizeof(*keep));
	free(a->foreign);
	a->foreign = fit(foreign, nforeign, sizeof(*foreign));
	a->nforeign = nforeign;
	free(a->routes);
	a->routes = fit(keep, nkeep, sizeof(*keep)); /* sorted: d's order */
	a->nroutes = nkeep;
	free(a->todo_del);
	a->todo_del = fit(dels, ndels, sizeof(*dels));
	a->ntodo_del = ndels;
	free(a->todo);
	a->todo = fit(todo, ntodo, sizeof(*todo));
	a->ntodo = ntodo;
	return routes_step(a, STATE_ROUTES_PER_PASS);
}

bool state_forward_blocked(const struct agent *a, const struct cfg_forward *f)
{
	for (size_t i = 0; i < a->ninst; i++) {
		const struct ainst *in = a->inst[i];
		uint8_t p = in->listen_proto == PROTO_UDP   ? IPPROTO_UDP
			    : in->listen_proto == PROTO_TCP ? IPPROTO_TCP
							    : 0;

		if (p && p == f->proto && in->listen_port == f->port)
			return true;
	}
	return false;
}

/* The forwards to program: those that do not take a port OpenVPN listens on. */
static struct cfg_forward *forwards_active(struct agent *a, size_t *n)
{
	struct cfg_forward *v = calloc(a->cfg->nforwards + 1, sizeof(*v));

	*n = 0;
	for (size_t i = 0; v && i < a->cfg->nforwards; i++)
		if (!state_forward_blocked(a, &a->cfg->forwards[i]))
			v[(*n)++] = a->cfg->forwards[i];
	return v;
}

static void desired_free(struct desired *d)
{
	heap_freed(d->caproutes * sizeof(*d->routes) + d->capacc * sizeof(*d->acc) +
		   (d->capremote + d->capto + d->capfrom) * sizeof(*d->remote.v));
	free(d->routes);
	free(d->acc);
	pfx_list_free(&d->remote);
	pfx_list_free(&d->to_local);
	pfx_list_free(&d->from_local);
}

/*
 * The flowtable's devices (cfg offload): the configured ones and the
 * devices of the wanted routes (the tunnel devices), those that exist.
 * nft.c adds and removes what differs from what the flowtable hooks.
 */
static void offload_devices(struct agent *a, const struct aroute *rt, size_t nrt)
{
	const struct cfg_offload *o = &a->cfg->offload;
	char(*v)[IF_NAMESIZE] = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if (!o->enabled || !a->nft_ready || !nft_built(a->nft))
		return;
	for (size_t i = 0; i < o->ndevices + nrt && !err; i++) {
		const char *dev = i < o->ndevices ? o->devices[i] : rt[i - o->ndevices].dev;
		bool seen = !dev[0] || (n && strcmp(v[n - 1], dev) == 0);

		for (size_t k = 0; k < n && !seen; k++)
			seen = strcmp(v[k], dev) == 0;
		if (seen || !ifc_index(dev) || !grow((void **)&v, n, &cap, sizeof(*v), &err))
			continue;
		snprintf(v[n++], IF_NAMESIZE, "%s", dev);
	}
	if (err || nft_offload_devices(a->nft, (const char(*)[IF_NAMESIZE])v, n) == -ENOMEM)
		log_warnx("%s: out of memory", __func__);
	free(v);
}

/* A batch's new routes: a tunnel device the flowtable does not hook yet. */
static void offload_new_devices(struct agent *a, const struct aroute *rt, size_t nrt)
{
	if (!a->cfg->offload.enabled || !a->nft_ready || !nft_built(a->nft))
		return;
	for (size_t i = 0; i < nrt; i++)
		if (rt[i].dev[0] && !nft_offload_wants(a->nft, rt[i].dev) && ifc_index(rt[i].dev) &&
		    nft_offload_add_device(a->nft, rt[i].dev) == -ENOMEM)
			log_warnx("%s: out of memory", __func__);
}

int state_apply(struct agent *a)
{
	struct desired d = { 0 };
	struct nft_model m = { 0 };
	struct cfg_forward *fwd = NULL;
	int r = 0, re;

	desire(a, &d);
	if (d.err) {
		log_warnx("%s: out of memory", __func__);
		r = d.err;
		goto out;
	}
	if (a->cloud)
		cloud_want_set(a->cloud, &d.remote);
	want_summaries(a, &d); /* as the cloud sees d's networks */
	if (d.err) {
		log_warnx("%s: out of memory", __func__);
		r = d.err;
		goto out;
	}
	re = routes_apply(a, &d);
	if (!a->nft_ready) {
		r = re;
		goto out;
	}
	/* the table as the kernel holds it: missing or changed, it is rebuilt */
	if (nft_built(a->nft) && (r = nft_check(a->nft, NULL)) < 0)
		log_warnx("nftables: reading table %s: %s; check that nf_tables is available (nft "
			  "list tables)",
			  NFT_TABLE_FULLNAME, strerror(-r));
	else if (!nft_built(a->nft) && nft_differs(a->nft))
		metrics_inc(VM_KERNEL_REPAIRS, "nft_table");
	m.local = a->cfg->local;
	m.remote = d.remote;
	m.to_local = d.to_local;
	m.from_local = d.from_local;
	m.acc = d.acc;
	m.nacc = d.nacc;
	m.nat = a->cfg->nat;
	m.nnat = a->cfg->nnat;
	m.exempt = a->cfg->nat_exempt_tunnel;
	m.connlog = &a->cfg->connlog;
	m.rule_log = a->cfg->rules_log;
	m.offload = a->cfg->offload.enabled;
	if (!(fwd = forwards_active(a, &m.nfwd))) {
		r = -ENOMEM;
		goto out;
	}
	m.fwd = fwd;
	r = nft_apply(a->nft, &m);
	a->nft_err = r < 0 ? r : 0;
	if (r < 0) {
		metrics_inc(VM_SET_FAILURES);
		a->retry_wanted = true; /* the loop hands it to the watch */
	} else {
		offload_devices(a, d.routes, d.nroutes);
		r = re;
	}
out:
	free(fwd);
	desired_free(&d);
	return r;
}

int state_client_failed(const struct agent *a, const struct aclient *c)
{
	for (size_t i = 0; c && i < c->pc.nets.n; i++) {
		int e = state_route_failed(a, &c->pc.nets.v[i], NULL);

		if (e)
			return e;
	}
	return 0;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Client cn of in (c as it is now, NULL: none) changes: the claims
 * broadcast compares it, unless it is in the list already (it has not
 * been published since) or the list is full (then everything). */
static void dirty_add(struct agent *a, struct ainst *in, const char *cn, const struct aclient *c)
{
	struct claims_dirty *d;
	int err = 0;

	if (a->claims_full)
		return;
	for (size_t i = 0; i < a->ndirty; i++)
		if (a->dirty[i].in == in && strcmp(a->dirty[i].cn, cn) == 0)
			return;
	if (a->ndirty >= CLAIMS_DIRTY_MAX ||
	    !grow((void **)&a->dirty, a->ndirty, &a->capdirty, sizeof(*a->dirty), &err)) {
		state_dirty_clear(a);
		a->claims_full = true;
		return;
	}
	d = &a->dirty[a->ndirty++];
	memset(d, 0, sizeof(*d));
	d->in = in;
	snprintf(d->cn, sizeof(d->cn), "%s", cn);
	for (size_t i = 0; c && i < c->pc.nets.n; i++)
		if (pfx_list_add(&d->was, &c->pc.nets.v[i], PROTO_MAX_NETS) == -ENOMEM) {
			state_dirty_clear(a);
			a->claims_full = true;
			return;
		}
}

int state_batch_touch(struct agent *a, struct ainst *in, const char *cn)
{
	struct batch *b = &a->batch;
	struct batch_touch *t;
	const struct aclient *c;
	int err = 0;

	for (size_t i = 0; i < b->nt; i++)
		if (b->t[i].in == in && strcmp(b->t[i].cn, cn) == 0)
			return 0;
	if (!grow((void **)&b->t, b->nt, &b->capt, sizeof(*b->t), &err))
		return err;
	if (!b->nt && !b->nw)
		b->started_us = now_us();
	t = &b->t[b->nt];
	memset(t, 0, sizeof(*t));
	t->in = in;
	snprintf(t->cn, sizeof(t->cn), "%s", cn);
	if ((c = state_client_find(in, cn))) {
		if (state_client_dup(&t->was, c) < 0) {
			client_clear(&t->was);
			return -ENOMEM;
		}
		t->had = true;
	}
	b->nt++;
	dirty_add(a, in, cn, c);
	return 0;
}

void state_dirty_clear(struct agent *a)
{
	for (size_t i = 0; i < a->ndirty; i++)
		pfx_list_free(&a->dirty[i].was);
	a->ndirty = 0;
	a->claims_full = false;
}

bool state_batch_due(const struct agent *a)
{
	const struct batch *b = &a->batch;

	return (b->nt || b->nw) &&
	       (b->nt >= BATCH_MAX || b->nw >= BATCH_MAX ||
		now_us() - b->started_us >= (b->max_us ? b->max_us : BATCH_MAX_US));
}

static void batch_untouch(struct batch *b)
{
	for (size_t i = 0; i < b->nt; i++)
		client_clear(&b->t[i].was);
	b->nt = 0;
}

/* The touched clients' routes (sorted, unique) and elements, before and now. */
static bool batch_contrib(struct agent *a, struct desired *was, struct desired *now)
{
	const struct batch *b = &a->batch;
	const struct ainst *in = NULL;
	int oif = 0;

	for (size_t i = 0; i < b->nt; i++) {
		const struct batch_touch *t = &b->t[i];
		const struct aclient *c = state_client_find(t->in, t->cn);

		if (t->in != in) { /* one lookup per instance */
			in = t->in;
			oif = in->dev[0] ? (int)ifc_index(in->dev) : 0;
		}
		if (t->had)
			client_contrib(a->cfg, &t->was, oif, in->dev, was);
		if (c)
			client_contrib(a->cfg, c, oif, in->dev, now);
	}
	if (was->err || now->err)
		return false;
	routes_unique(was->routes, &was->nroutes);
	routes_unique(now->routes, &now->nroutes);
	return true;
}

/* Anything but a steady server is recomputed whole; so is a client that
 * leaves elements its from_local rules share with other clients (local
 * network -> rule destination). */
static bool batch_steady(const struct agent *a)
{
	const struct batch *b = &a->batch;

	if (a->in_grace || !a->nft_ready || !nft_built(a->nft) || a->cfg->role != CFG_ROLE_SERVER)
		return false;
	for (size_t i = 0; i < b->nt; i++) {
		const struct cfg_client *pol =
			b->t[i].had ? cfg_client_find(a->cfg, b->t[i].cn) : NULL;

		if (b->t[i].in->role != PROTO_ROLE_SERVER ||
		    (pol && pol->from_local.kind == CFG_ACCESS_RULES))
			return false;
	}
	return true;
}

/* The route to dst in the sorted v (n), or NULL. */
static const struct aroute *routes_find(const struct aroute *v, size_t n, const struct pfx *dst)
{
	struct aroute key = { .dst = *dst };

	return n ? bsearch(&key, v, n, sizeof(key), route_dst_cmp) : NULL;
}

/*
 * The summaries' unreachable routes (want_summaries), queued in the pass's
 * route batch after the touched clients' changes (was -> now, queued
 * before): one that became active is installed, one that no longer is
 * removed; a client route to the same destination wins. Each is answered
 * on its own with the others (rbatch_run): a refused one fails alone.
 * O(summaries log N); room made by rbatch_room.
 */
static void summaries_queue(struct agent *a, struct rbatch *b, const struct desired *was,
			    const struct desired *now)
{
	const struct pfx_list *sm = &a->cfg->aws.summaries;

	for (size_t i = 0; i < sm->n; i++) {
		struct aroute w = { .dst = sm->v[i], .unreach = true };
		const struct aroute *ours = routes_find(a->routes, a->nroutes, &w.dst);
		const struct aroute *client = routes_find(now->routes, now->nroutes, &w.dst);
		/* removed by this batch (state_batch_commit's first loop) */
		bool leaving = ours && !client && routes_find(was->routes, was->nroutes, &w.dst);

		if (leaving)
			ours = NULL;
		/* a client's route to the summary itself (one queued: a client
		 * whose device is missing gets none, and the summary's goes) */
		if ((client && !client->unreach && client->oif) || (ours && !ours->unreach))
			continue;
		if (!cloud_summary_active(a->cloud, &w.dst)) {
			if (ours)
				rbatch_del(b, &w.dst);
			fail_clear(a, &w.dst);
			continue;
		}
		if (ours || is_foreign(a, &w))
			continue;
		todo_drop(a, &w.dst);
		rbatch_add(a, b, &w);
	}
}

/* The whole picture, then the touched clients' queued routes at once
 * (their acknowledgements say they are in). */
static int batch_whole(struct agent *a)
{
	const struct batch *b = &a->batch;

	struct rbatch rb = { 0 };

	state_apply(a);
	for (size_t i = 0; i < b->nt; i++)
		todo_client(a, state_client_find(b->t[i].in, b->t[i].cn), &rb);
	if (rbatch_run(a, &rb) < 0)
		a->retry_wanted = true;
	rbatch_free(&rb);
	return a->nft_err;
}

int state_batch_commit(struct agent *a)
{
	struct desired was = { 0 }, now = { 0 };
	struct nft_model add = { 0 }, del = { 0 };
	struct rbatch rb = { 0 };
	int r, re = 0;

	if (!a->batch.nt)
		return 0;
	was.names = now.names = a->names;
	if (!batch_steady(a) || !batch_contrib(a, &was, &now)) {
		desired_free(&was);
		desired_free(&now);
		r = batch_whole(a);
		batch_untouch(&a->batch);
		return r;
	}
	/* the routes that go, then those that come: one batch, each answered */
	if (rbatch_room(&rb, was.nroutes + now.nroutes + a->cfg->aws.summaries.n) < 0) {
		desired_free(&was);
		desired_free(&now);
		r = batch_whole(a);
		batch_untouch(&a->batch);
		return r;
	}
	for (size_t i = 0; i < was.nroutes; i++) {
		const struct aroute *k = &was.routes[i];
		const struct aroute *still =
			now.nroutes ? bsearch(k, now.routes, now.nroutes, sizeof(*k), route_dst_cmp)
				    : NULL;
		const struct aroute *ours =
			a->nroutes ? bsearch(k, a->routes, a->nroutes, sizeof(*k), route_dst_cmp)
				   : NULL;

		if (still)
			continue;
		todo_drop(a, &k->dst);
		if (ours)
			rbatch_del(&rb, &k->dst);
		fail_clear(a, &k->dst);
		for (size_t f = 0; f < a->nforeign; f++)
			if (pfx_equal(&a->foreign[f].dst, &k->dst)) {
				a->foreign[f] = a->foreign[--a->nforeign];
				break;
			}
	}
	for (size_t i = 0; i < now.nroutes; i++) {
		const struct aroute *k = &now.routes[i];
		const struct aroute *ours =
			a->nroutes ? bsearch(k, a->routes, a->nroutes, sizeof(*k), route_dst_cmp)
				   : NULL;

		todo_drop(a, &k->dst); /* made now, not in a later pass */
		if ((ours && ours->oif == k->oif && k->oif) || is_foreign(a, k))
			continue;
		rbatch_add(a, &rb, k);
	}
	if (a->cloud) {
		/* the summaries active as of now's networks: in the same batch */
		cloud_want_change(a->cloud, &was.remote, &now.remote);
		summaries_queue(a, &rb, &was, &now);
	}
	re = rbatch_run(a, &rb);
	rbatch_free(&rb);
	del.remote = was.remote;
	del.to_local = was.to_local;
	del.from_local = was.from_local;
	del.acc = was.acc;
	del.nacc = was.nacc;
	add.remote = now.remote;
	add.to_local = now.to_local;
	add.from_local = now.from_local;
	add.acc = now.acc;
	add.nacc = now.nacc;
	r = nft_update(a->nft, &add, &del);
	if (r == 0)
		offload_new_devices(a, now.routes, now.nroutes);
	desired_free(&was);
	desired_free(&now);
	if (r < 0) {
		/* e.g. the ruleset was flushed behind our back: rebuild it whole */
		metrics_inc(VM_SET_FAILURES);
		log_warnx("set element update failed (%s); rebuilding the table", strerror(-r));
		r = batch_whole(a);
		batch_untouch(&a->batch);
		return r;
	}
	batch_untouch(&a->batch);
	if (re)
		a->retry_wanted = true; /* the loop hands it to the watch */
	return 0;
}

size_t state_claims(struct agent *a, struct proto_claim **out)
{
	struct proto_claim *v = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	for (size_t i = 0; i < a->ninst; i++)
		for (size_t j = 0; j < a->inst[i]->n; j++) {
			const struct aclient *c = &a->inst[i]->c[j];

			for (size_t k = 0; k < c->pc.nets.n; k++) {
				if (!grow((void **)&v, n, &cap, sizeof(*v), &err)) {
					free(v);
					*out = NULL;
					return 0;
				}
				memset(&v[n], 0, sizeof(v[n]));
				v[n].net = c->pc.nets.v[k];
				snprintf(v[n].cn, sizeof(v[n].cn), "%s", c->pc.cn);
				snprintf(v[n].instance, sizeof(v[n].instance), "%s",
					 a->inst[i]->name);
				n++;
			}
		}
	*out = v;
	return n;
}

/*
 * Our "unreachable dst" found at start: a summary's (aws.summaries), kept
 * as adopted while dst is still a configured summary, so that the VPC's
 * traffic does not loop until the reconcile after the grace period
 * decides; otherwise removed.
 */
static void adopt_unreachable(struct agent *a, const struct pfx *dst)
{
	const struct pfx_list *sm = &a->cfg->aws.summaries;
	char s[PFX_STRLEN];
	struct aroute *v = &a->adopted[a->nadopted];

	for (size_t i = 0; a->cfg->aws.enabled && i < sm->n; i++)
		if (pfx_equal(&sm->v[i], dst)) {
			memset(v, 0, sizeof(*v));
			v->dst = *dst;
			v->unreach = true;
			a->nadopted++;
			return;
		}
	log_warnx("route unreachable %s (protocol vpcroute, ours) %s: not one of aws.summaries",
		  pfx_format(dst, s, sizeof(s)),
		  rtnl_route_del(a->rt, dst) < 0 ? "not adopted; removing it failed"
						 : "removed, not adopted");
}

int state_adopt(struct agent *a)
{
	struct rtnl_route *all;
	struct aroute *v;
	size_t n;
	int r = rtnl_dump(a->rt, &all, &n);

	if (r < 0)
		return r;
	/* one allocation for all: not one copy per route */
	if (!(v = realloc(a->adopted, (a->nadopted + n + 1) * sizeof(*v)))) {
		free(all);
		return -ENOMEM;
	}
	a->adopted = v;
	for (size_t i = 0; i < n; i++) {
		char s[PFX_STRLEN], dev[IF_NAMESIZE] = "?";

		if (all[i].protocol != RTNL_PROTO)
			continue;
		if (all[i].type == RTN_UNREACHABLE) {
			adopt_unreachable(a, &all[i].dst);
			continue;
		}
		if (!policy_may_announce(a->cfg, &all[i].dst)) {
			/* ours by its protocol, so ours to remove; never a candidate */
			if (all[i].oif && !ifc_name((unsigned)all[i].oif, dev))
				snprintf(dev, sizeof(dev), "?");
			r = rtnl_route_del(a->rt, &all[i].dst);
			log_warnx("route %s dev %s (protocol vpcroute, ours) %s: no network the "
				  "configuration allows contains it; allow the network in the "
				  "configuration if it is to stay",
				  pfx_format(&all[i].dst, s, sizeof(s)), dev,
				  r < 0 ? "not adopted; removing it failed"
					: "removed, not adopted");
			continue;
		}
		v = a->adopted; /* room for all of them, made above */
		memset(&v[a->nadopted], 0, sizeof(*v));
		v[a->nadopted].dst = all[i].dst;
		if (!ifc_name((unsigned)all[i].oif, v[a->nadopted].dev))
			v[a->nadopted].dev[0] = '\0';
		v[a->nadopted++].oif = all[i].oif;
	}
	free(all);
	if (a->nadopted) {
		a->routes = malloc(a->nadopted * sizeof(*a->routes));
		if (a->routes) {
			memcpy(a->routes, a->adopted, a->nadopted * sizeof(*a->routes));
			a->nroutes = a->nadopted;
		}
	}
	log_info("adopted %zu route%s of ours from the kernel", a->nadopted,
		 a->nadopted == 1 ? "" : "s");
	return 0;
}

void state_end_grace(struct agent *a)
{
	if (!a->in_grace)
		return;
	a->in_grace = false;
	a->nft_ready = true;
	log_info("grace period over: reconciling with what the plugins reported");
	state_apply(a);
}

static json_t *dev_json(const struct aroute *r)
{
	return r->dev[0] ? json_string(r->dev) : json_null();
}

/*
 * What reconciling now would change in the kernel: wanted routes that are
 * not there (unless another protocol's stands for them), routes of ours
 * that are not wanted (or on another device), and the nftables table when
 * it is missing or differs from what was applied.
 */
struct state_view {
	struct desired d;
	struct rtnl_route *k;
	size_t nk;
};

struct state_view *state_view_read(struct agent *a)
{
	struct state_view *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	desire(a, &v->d);
	want_summaries(a, &v->d);
	if (v->d.err || kernel_routes(a, &v->k, &v->nk) < 0) {
		state_view_free(v);
		return NULL;
	}
	return v;
}

void state_view_free(struct state_view *v)
{
	if (!v)
		return;
	free(v->k);
	desired_free(&v->d);
	free(v);
}

json_t *state_plan(struct agent *a, const struct state_view *v, const json_t *read)
{
	json_t *add, *del, *route, *o = json_object();
	char s[PFX_STRLEN];

	if (!v) {
		json_object_set_new(o, "error", json_string("cannot read the kernel's routes"));
		return o;
	}
	const struct desired d = v->d;
	const struct rtnl_route *k = v->k;
	size_t nk = v->nk;

	add = json_array();
	del = json_array();
	for (size_t i = 0; i < d.nroutes; i++) {
		const struct aroute *r = &d.routes[i];
		const struct rtnl_route *have = kernel_find(k, nk, &r->dst);

		if ((have && have->protocol == RTNL_PROTO && kernel_same(have, r)) ||
		    kernel_foreign(k, nk, &r->dst))
			continue;
		route = json_pack("{s:s, s:o}", "destination", pfx_format(&r->dst, s, sizeof(s)),
				  "device", dev_json(r));
		if (route && r->unreach)
			json_object_set_new(route, "type", json_string("unreachable"));
		json_array_append_new(add, route);
	}
	for (size_t j = 0; j < nk; j++) {
		struct aroute x = { .dst = k[j].dst, .oif = k[j].oif };
		const struct aroute *w =
			d.nroutes ? bsearch(&x, d.routes, d.nroutes, sizeof(x), route_dst_cmp)
				  : NULL;

		if (k[j].protocol == RTNL_PROTO && !kernel_same(&k[j], w))
			json_array_append_new(del, json_string(pfx_format(&x.dst, s, sizeof(s))));
	}
	json_object_set_new(o, "routes_to_add", add);
	json_object_set_new(o, "routes_to_remove", del);
	if (!a->nft_ready)
		json_object_set_new(o, "nftables",
				    json_string("build the table after the start-up grace period"));
	else if (!nft_built(a->nft) && nft_differs(a->nft))
		json_object_set_new(o, "nftables",
				    json_sprintf("rebuild the table: %s", nft_differs(a->nft)));
	else if (!nft_built(a->nft))
		json_object_set_new(o, "nftables", json_string("build the table"));
	else if (nft_busy(a->nft))
		json_object_set_new(o, "nftables",
				    json_sprintf("%zu set element changes left, made in the "
						 "following loop passes",
						 nft_pending(a->nft)));
	else if (!read)
		json_object_set_new(o, "nftables", json_string("cannot read the table"));
	else if (json_is_string(json_object_get(read, "differs")))
		json_object_set_new(
			o, "nftables",
			json_sprintf("rebuild the table: %s",
				     json_string_value(json_object_get(read, "differs"))));
	else
		json_object_set_new(o, "nftables", json_null());
	return o;
}

json_t *state_routes_json(struct agent *a, const struct state_view *v, json_t **missing)
{
	json_t *out, *o;
	char s[PFX_STRLEN], dev[IF_NAMESIZE] = "";
	int devof = 0; /* dev names devof: one lookup (socket, ioctl) per device, not per route */

	*missing = json_array();
	if (!v)
		return NULL;
	const struct desired d = v->d;
	const struct rtnl_route *k = v->k;
	size_t nk = v->nk;

	out = json_array();
	/* ours in the kernel: wanted there (installed), or not */
	for (size_t j = 0; j < nk; j++) {
		struct aroute x = { .dst = k[j].dst };
		const struct aroute *w =
			d.nroutes ? bsearch(&x, d.routes, d.nroutes, sizeof(x), route_dst_cmp)
				  : NULL;

		if (k[j].protocol != RTNL_PROTO)
			continue;
		if (k[j].oif != devof) {
			devof = k[j].oif;
			if (!ifc_name((unsigned)devof, dev))
				dev[0] = 0;
		}
		o = json_pack("{s:s, s:o, s:s}", "destination", pfx_format(&x.dst, s, sizeof(s)),
			      "device",
			      dev[0] && k[j].type == RTN_UNICAST ? json_string(dev) : json_null(),
			      "state", kernel_same(&k[j], w) ? "installed" : "not wanted");
		if (o && k[j].type == RTN_UNREACHABLE)
			json_object_set_new(o, "type", json_string("unreachable"));
		json_array_append_new(out, o);
	}
	/* wanted, neither there nor left to another protocol's route */
	for (size_t i = 0; i < d.nroutes; i++) {
		const struct aroute *r = &d.routes[i];
		const struct rtnl_route *have = kernel_find(k, nk, &r->dst);
		int e = state_route_failed(a, &r->dst, NULL);
		char why[160] = "";

		if ((have && have->protocol == RTNL_PROTO && kernel_same(have, r)) ||
		    kernel_foreign(k, nk, &r->dst))
			continue;
		if (e == -ENODEV)
			snprintf(why, sizeof(why), "device %s is missing", r->dev);
		else if (e)
			snprintf(why, sizeof(why), "%s", strerror(-e));
		o = json_pack("{s:s, s:o, s:s, s:o}", "destination",
			      pfx_format(&r->dst, s, sizeof(s)), "device", dev_json(r), "state",
			      e ? "failed" : "missing", "error",
			      why[0] ? json_string(why) : json_null());
		if (o && r->unreach)
			json_object_set_new(o, "type", json_string("unreachable"));
		json_array_append_new(*missing, o);
	}
	return out;
}

bool state_local_auto(struct agent *a, bool apply)
{
	const struct pfx_list *v = a->cloud ? cloud_vpc_cidrs(a->cloud) : NULL;
	struct pfx_list l = { 0 };
	char s[512];
	bool same;

	if (!a->cfg->local_auto || !v)
		return false;
	same = v->n == a->cfg->local.n;
	for (size_t i = 0; same && i < v->n; i++)
		same = pfx_equal(&v->v[i], &a->cfg->local.v[i]);
	if (same)
		return false;
	for (size_t i = 0; i < v->n; i++) {
		if (pfx_list_add(&l, &v->v[i], SIZE_MAX) < 0) {
			log_warnx("%s: out of memory", __func__);
			pfx_list_free(&l);
			return false;
		}
	}
	pfx_list_free(&a->cfg->local);
	a->cfg->local = l;
	log_info("local networks (auto): the VPC's %s", pfx_list_format(&l, ", ", s, sizeof(s)));
	if (apply)
		state_apply(a);
	return true;
}

int state_flush(struct agent *a)
{
	for (size_t i = 0; i < a->ntodo_del; i++)
		rtnl_route_del(a->rt, &a->todo_del[i]);
	a->ntodo_del = a->ntodo = 0; /* what is left was never installed */
	for (size_t i = 0; i < a->nroutes; i++)
		rtnl_route_del(a->rt, &a->routes[i].dst);
	a->nroutes = 0;
	return nft_flush(a->nft);
}
