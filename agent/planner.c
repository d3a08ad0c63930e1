// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The route planner (planner.h). Everything here reads what it is given
 * and returns a result: no clock, no log, no global.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "planner.h"
#include "policy.h"

#define MS 1000LL

/* --- the tables --- */

bool plan_table_used(const struct cfg_aws *w, const char *vpc, const struct ec2_rtb *t)
{
	if (!w->route_tables_auto) {
		for (size_t i = 0; i < w->nroute_tables; i++)
			if (strcmp(w->route_tables[i], t->id) == 0)
				return true;
		return false;
	}
	return strcmp(t->vpc, vpc) == 0 && (t->main || t->nsubnets > 0);
}

bool plan_route_ours(const struct ec2_route *r, const char *eni)
{
	return strcmp(r->kind, "networkInterfaceId") == 0 && strcmp(r->target, eni) == 0;
}

static int route_dst_cmp(const void *x, const void *y)
{
	return pfx_cmp(&((const struct ec2_route *)x)->dst, &((const struct ec2_route *)y)->dst);
}

void plan_tables_sort(struct ec2_rtb *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].nroutes)
			qsort(t[i].routes, t[i].nroutes, sizeof(*t[i].routes), route_dst_cmp);
}

size_t plan_pfx_pos(const void *v, size_t n, size_t size, const struct pfx *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (pfx_cmp((const struct pfx *)((const char *)v + mid * size), key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Each table's routes are kept sorted by destination: lookups are binary searches. */
static size_t route_pos(const struct ec2_rtb *t, const struct pfx *dst)
{
	return plan_pfx_pos(t->routes, t->nroutes, sizeof(*t->routes), dst);
}

struct ec2_route *plan_route_find(const struct ec2_rtb *t, const struct pfx *dst)
{
	size_t i = route_pos(t, dst);

	return i < t->nroutes && pfx_equal(&t->routes[i].dst, dst) ? &t->routes[i] : NULL;
}

int plan_route_set(struct ec2_rtb *t, const struct pfx *dst, const char *eni)
{
	struct ec2_route *r = plan_route_find(t, dst), *v;

	if (!r) {
		size_t at = route_pos(t, dst);

		v = realloc(t->routes, (t->nroutes + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->routes = v;
		memmove(v + at + 1, v + at, (t->nroutes++ - at) * sizeof(*v));
		r = &v[at];
	}
	memset(r, 0, sizeof(*r));
	r->dst = *dst;
	snprintf(r->kind, sizeof(r->kind), "networkInterfaceId");
	snprintf(r->target, sizeof(r->target), "%s", eni);
	snprintf(r->state, sizeof(r->state), "active");
	snprintf(r->origin, sizeof(r->origin), "CreateRoute");
	return 0;
}

void plan_route_unset(struct ec2_rtb *t, const struct pfx *dst)
{
	struct ec2_route *r = plan_route_find(t, dst);

	if (r)
		memmove(r, r + 1, (size_t)(t->routes + --t->nroutes - r) * sizeof(*r));
}

/* --- what may be ours --- */

/* Whether p is one of the configured summaries (used or not). */
static bool summary_listed(const struct cfg *k, const struct pfx *p)
{
	for (size_t i = 0; i < k->aws.summaries.n; i++)
		if (pfx_equal(&k->aws.summaries.v[i], p))
			return true;
	return false;
}

/* Whether a route to our ENI for p can be one the agent made: a network its
 * configuration could ever want (lib/policy.c) or a summary, never a
 * default route. */
bool plan_may_own(const struct cfg *k, const struct pfx *p)
{
	return policy_may_announce(k, p) || summary_listed(k, p);
}

bool plan_route_dead(const struct ec2_route *r)
{
	return strcmp(r->state, "blackhole") == 0;
}

/* --- lookups in the sorted lists --- */

int plan_want_cmp(const void *x, const void *y)
{
	return pfx_cmp(&((const struct plan_want *)x)->dst, &((const struct plan_want *)y)->dst);
}

const struct plan_want *plan_want_find(const struct plan_want *v, size_t n, const struct pfx *p)
{
	size_t i = plan_pfx_pos(v, n, sizeof(*v), p);

	return i < n && pfx_equal(&v[i].dst, p) ? &v[i] : NULL;
}

static int gone_cmp(const void *x, const void *y)
{
	return pfx_cmp(&((const struct plan_gone *)x)->dst, &((const struct plan_gone *)y)->dst);
}

const struct plan_gone *plan_book_find(const struct plan_book *b, const struct pfx *dst)
{
	size_t i = plan_pfx_pos(b->gone, b->ngone, sizeof(*b->gone), dst);

	return i < b->ngone && pfx_equal(&b->gone[i].dst, dst) ? &b->gone[i] : NULL;
}

int plan_failed_cmp(const void *x, const void *y)
{
	const struct plan_failed *a = x, *b = y;
	int r = strcmp(a->table, b->table);

	return r ? r : pfx_cmp(&a->dst, &b->dst);
}

static bool failed_has(const struct plan_in *in, const char *table, const struct pfx *dst)
{
	struct plan_failed k = { .dst = *dst };

	if (!in->nfailed)
		return false;
	snprintf(k.table, sizeof(k.table), "%s", table);
	return bsearch(&k, in->failed, in->nfailed, sizeof(k), plan_failed_cmp) != NULL;
}

static int conflict_cmp(const void *x, const void *y)
{
	const struct plan_conflict *a = x, *b = y;
	int r = strcmp(a->table, b->table);

	if (!r)
		r = pfx_cmp(&a->dst, &b->dst);
	if (!r)
		r = strcmp(a->kind, b->kind);
	return r ? r : strcmp(a->target, b->target);
}

/* No policy allows it, and the agent did not want it since it started. */
static bool stray(const struct cfg *k, const struct plan_gone *g, const struct pfx *dst)
{
	return dst->len > 0 && (!g || g->unwanted) && !plan_may_own(k, dst);
}

bool plan_unwanted(const struct plan_in *in, const struct ec2_route *r)
{
	return plan_route_ours(r, in->eni) && !plan_want_find(in->want, in->nwant, &r->dst) &&
	       stray(in->cfg, plan_book_find(in->book, &r->dst), &r->dst);
}

/* --- the plan --- */

#define PUSH(v, n, x)                                                      \
	({                                                                 \
		__typeof__(v) w_ = realloc((v), ((n) + 1) * sizeof(*(v))); \
		if (w_) {                                                  \
			(v) = w_;                                          \
			(v)[(n)++] = (x);                                  \
		}                                                          \
		w_ ? 0 : -ENOMEM;                                          \
	})

/* Sorts v, and marks what the previous call's list had as reported. */
static void mark_reported(struct plan_conflict *v, size_t n, const struct plan_conflict *old,
			  size_t nold)
{
	if (n)
		qsort(v, n, sizeof(*v), conflict_cmp);
	for (size_t i = 0; i < n; i++)
		v[i].reported = nold && bsearch(&v[i], old, nold, sizeof(*v), conflict_cmp);
}

/* --- the route quota: what it leaves room for --- */

static bool quota_counts(const struct ec2_route *r, int family)
{
	return r->dst.family == family && strcmp(r->origin, "EnableVgwRoutePropagation") != 0;
}

static size_t quota_used(const struct ec2_rtb *tb, int family)
{
	size_t n = 0;

	for (size_t i = 0; i < tb->nroutes; i++)
		n += quota_counts(&tb->routes[i], family);
	return n;
}

/* room[0] IPv4, room[1] IPv6: how many more routes the table takes. */
static void quota_room(const struct cfg *k, const struct ec2_rtb *tb, size_t room[2])
{
	size_t q = k->aws.route_quota, v4 = quota_used(tb, AF_INET), v6 = quota_used(tb, AF_INET6);

	room[0] = v4 < q ? q - v4 : 0;
	room[1] = v6 < q ? q - v6 : 0;
}

/* A route for dst takes a place, if there is one. */
static bool quota_take(size_t room[2], const struct pfx *dst)
{
	size_t *r = &room[dst->family == AF_INET6];

	if (!*r)
		return false;
	--*r;
	return true;
}

bool plan_has_op(const struct plan *p, size_t table, const struct pfx *dst)
{
	for (size_t i = 0; p && i < p->nops; i++)
		if (p->ops[i].table == table && pfx_equal(&p->ops[i].dst, dst))
			return true;
	return false;
}

/* Additions: each wanted network missing from a table, or (takeover) sent
 * elsewhere; what is sent elsewhere without takeover is a conflict. */
static int plan_additions(const struct plan_in *in, struct plan *p)
{
	const struct cfg_aws *w = &in->cfg->aws;

	if (in->withdraw || in->no_additions)
		return 0;
	for (size_t t = 0; t < in->ntables; t++) {
		const struct ec2_rtb *tb = &in->tables[t];
		size_t room[2];

		if (!plan_table_used(w, in->vpc, tb))
			continue;
		quota_room(in->cfg, tb, room);
		for (size_t i = 0; i < in->nwant; i++) {
			const struct pfx *dst = &in->want[i].dst;
			const struct ec2_route *r = plan_route_find(tb, dst);
			struct plan_op o = { .table = t, .dst = *dst };
			struct plan_conflict x = { .dst = *dst };

			if (failed_has(in, tb->id, dst) || (r && plan_route_ours(r, in->eni)))
				continue;
			if (!r && !quota_take(room, dst))
				continue; /* EC2 would refuse it (plan_quota_check) */
			if (!r || w->takeover || plan_route_dead(r)) {
				o.kind = r ? PLAN_REPLACE : PLAN_CREATE;
				if (r && plan_route_dead(r))
					snprintf(o.dead, sizeof(o.dead), "%s",
						 r->target[0] ? r->target : "?");
				if (PUSH(p->ops, p->nops, o) < 0)
					return -ENOMEM;
				continue;
			}
			snprintf(x.table, sizeof(x.table), "%s", tb->id);
			snprintf(x.kind, sizeof(x.kind), "%s", r->kind);
			snprintf(x.target, sizeof(x.target), "%s", r->target);
			if (PUSH(p->book.conflicts, p->book.nconflicts, x) < 0)
				return -ENOMEM;
		}
	}
	mark_reported(p->book.conflicts, p->book.nconflicts, in->book->conflicts,
		      in->book->nconflicts);
	return 0;
}

/* Withdrawals: ours but unwanted, once unwanted for the grace period. A
 * network that is not in the bookkeeping yet (found at start, or a leftover
 * no policy allows) starts its grace now. */
static int plan_withdrawals(const struct plan_in *in, struct plan *p)
{
	const struct plan_book *b = in->book;
	long long grace = (long long)in->cfg->aws.withdraw_grace_s * MS;
	bool *seen = b->ngone ? calloc(b->ngone, sizeof(*seen)) : NULL;
	struct plan_gone *fresh = NULL;
	size_t nfresh = 0;
	int r = -ENOMEM;

	if (b->ngone && !seen)
		return -ENOMEM;
	for (size_t t = 0; t < in->ntables; t++) {
		const struct ec2_rtb *tb = &in->tables[t];

		if (!plan_table_used(&in->cfg->aws, in->vpc, tb))
			continue;
		for (size_t i = 0; i < tb->nroutes; i++) {
			const struct ec2_route *rt = &tb->routes[i];
			const struct plan_gone *g;
			struct plan_gone x = { .dst = rt->dst, .since = in->now };
			struct plan_op o = { .kind = PLAN_DELETE, .table = t, .dst = rt->dst };
			long long due;

			if (!plan_route_ours(rt, in->eni) ||
			    plan_want_find(in->want, in->nwant, &rt->dst) ||
			    failed_has(in, tb->id, &rt->dst))
				continue;
			g = plan_book_find(b, &rt->dst);
			if (!g && !rt->dst.len)
				continue; /* a default route: never ours */
			if (stray(in->cfg, g, &rt->dst)) {
				/* to our interface for a network no policy allows: reported
				 * once, withdrawn like the others after its grace */
				struct plan_conflict u = { .dst = rt->dst };

				snprintf(u.table, sizeof(u.table), "%s", tb->id);
				snprintf(u.kind, sizeof(u.kind), "%s", rt->kind);
				snprintf(u.target, sizeof(u.target), "%s", rt->target);
				if (PUSH(p->book.unwanted, p->book.nunwanted, u) < 0)
					goto out;
				x.unwanted = true;
			}
			if (g) {
				seen[g - b->gone] = true;
				x.since = g->since;
			} else if (PUSH(fresh, nfresh, x) < 0) {
				goto out;
			}
			due = x.since + grace;
			if (in->now < due) {
				if (!p->next_due || due < p->next_due)
					p->next_due = due;
				continue;
			}
			if (PUSH(p->ops, p->nops, o) < 0)
				goto out;
		}
	}
	/* kept: what is still ours somewhere; wanted again, or withdrawn
	 * everywhere, it is forgotten */
	for (size_t i = 0; i < b->ngone; i++)
		if (seen[i] && PUSH(p->book.gone, p->book.ngone, b->gone[i]) < 0)
			goto out;
	for (size_t i = 0; i < nfresh; i++)
		if (PUSH(p->book.gone, p->book.ngone, fresh[i]) < 0)
			goto out;
	mark_reported(p->book.unwanted, p->book.nunwanted, b->unwanted, b->nunwanted);
	r = 0;
out:
	free(fresh);
	free(seen);
	return r;
}

static void book_sort(struct plan *p)
{
	size_t n = 0;

	/* the fresh entries came in table order, a network ours in several
	 * tables once per table: sort, then drop the repeats */
	if (p->book.ngone)
		qsort(p->book.gone, p->book.ngone, sizeof(*p->book.gone), gone_cmp);
	for (size_t i = 0; i < p->book.ngone; i++)
		if (!n || !pfx_equal(&p->book.gone[n - 1].dst, &p->book.gone[i].dst))
			p->book.gone[n++] = p->book.gone[i];
	p->book.ngone = n;
}

/* A copy of a kept list, each entry marked as reported. */
static int copy_reported(const struct plan_conflict *v, size_t n, struct plan_conflict **out,
			 size_t *nout)
{
	if (!n)
		return 0;
	if (!(*out = malloc(n * sizeof(*v))))
		return -ENOMEM;
	memcpy(*out, v, n * sizeof(*v));
	*nout = n;
	for (size_t i = 0; i < n; i++)
		(*out)[i].reported = true;
	return 0;
}

static int copy_book(const struct plan_book *b, struct plan *p)
{
	if (b->ngone) {
		p->book.gone = malloc(b->ngone * sizeof(*b->gone));
		if (!p->book.gone)
			return -ENOMEM;
		memcpy(p->book.gone, b->gone, b->ngone * sizeof(*b->gone));
		p->book.ngone = b->ngone;
	}
	if (copy_reported(b->conflicts, b->nconflicts, &p->book.conflicts, &p->book.nconflicts) < 0)
		return -ENOMEM;
	return copy_reported(b->unwanted, b->nunwanted, &p->book.unwanted, &p->book.nunwanted);
}

/* vpcroutectl withdraw: what the bits name, deleted now; nothing added, the
 * bookkeeping kept as it was. */
static int plan_withdraw_now(const struct plan_in *in, struct plan *p)
{
	int r = copy_book(in->book, p);

	for (size_t t = 0; r == 0 && t < in->ntables; t++) {
		const struct ec2_rtb *tb = &in->tables[t];

		if (!plan_table_used(&in->cfg->aws, in->vpc, tb))
			continue;
		for (size_t i = 0; i < tb->nroutes; i++) {
			const struct ec2_route *rt = &tb->routes[i];
			struct plan_op o = { .kind = PLAN_DELETE, .table = t, .dst = rt->dst };
			const struct plan_gone *g = plan_book_find(in->book, &rt->dst);
			bool mine = plan_may_own(in->cfg, &rt->dst) || (g && !g->unwanted);

			if (!plan_route_ours(rt, in->eni) || !rt->dst.len ||
			    failed_has(in, tb->id, &rt->dst))
				continue;
			if (!((in->withdraw & PLAN_WITHDRAW_OURS) && mine) &&
			    !((in->withdraw & PLAN_WITHDRAW_UNWANTED) && plan_unwanted(in, rt)))
				continue;
			if (PUSH(p->ops, p->nops, o) < 0)
				return -ENOMEM;
		}
	}
	return r;
}

/* --- summaries --- */

const struct pfx *plan_summary_blocked(const struct pfx_list *vpc_cidrs, const struct pfx *s)
{
	return vpc_cidrs ? pfx_list_overlap(vpc_cidrs, s) : NULL;
}

const struct pfx *plan_summary_of(const struct cfg *k, const struct pfx_list *vpc_cidrs,
				  const struct pfx *p)
{
	/* the loader keeps the summaries disjoint: one holds p at most */
	for (size_t i = 0; i < k->aws.summaries.n; i++) {
		const struct pfx *s = &k->aws.summaries.v[i];

		if (pfx_contains(s, p))
			return plan_summary_blocked(vpc_cidrs, s) ? NULL : s;
	}
	return NULL;
}

int plan_want_summarize(const struct cfg *k, const struct pfx_list *vpc_cidrs,
			const struct plan_want *want, size_t n, struct plan_want **out,
			size_t *nout)
{
	struct plan_want *v = n ? malloc(n * sizeof(*v)) : NULL;
	size_t m = 0;

	*out = NULL;
	*nout = 0;
	if (n && !v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct pfx *s = plan_summary_of(k, vpc_cidrs, &want[i].dst);

		v[i] = want[i];
		if (s)
			v[i].dst = *s;
	}
	if (n)
		qsort(v, n, sizeof(*v), plan_want_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && pfx_equal(&v[m - 1].dst, &v[i].dst)) {
			v[m - 1].refs += v[i].refs;
			continue;
		}
		v[m++] = v[i];
	}
	*out = v;
	*nout = m;
	return 0;
}

/* in with its wanted networks summarized into *eff (*sum to free). */
static int summarized(const struct plan_in *in, struct plan_in *eff, struct plan_want **sum)
{
	*eff = *in;
	*sum = NULL;
	if (!in->cfg->aws.summaries.n)
		return 0;
	if (plan_want_summarize(in->cfg, in->vpc_cidrs, in->want, in->nwant, sum, &eff->nwant) < 0)
		return -ENOMEM;
	eff->want = *sum;
	return 0;
}

/* --- the route quota: what is near it --- */

/* The wanted networks of family missing from table t that p does not
 * create (creates: p's CreateRoute calls there): what the quota left out.
 * Each CreateRoute of plan_additions is for such a network. */
static size_t left_out(const struct plan_in *in, size_t t, int family, size_t creates)
{
	const struct ec2_rtb *tb = &in->tables[t];
	size_t n = 0;

	if (in->withdraw || in->no_additions)
		return 0;
	for (size_t i = 0; i < in->nwant; i++) {
		const struct pfx *dst = &in->want[i].dst;

		n += dst->family == family && !plan_route_find(tb, dst) &&
		     !failed_has(in, tb->id, dst);
	}
	return n > creates ? n - creates : 0;
}

int plan_quota_check(const struct plan_in *orig, const struct plan *p, struct plan_quota **out,
		     size_t *nout)
{
	static const int families[] = { AF_INET, AF_INET6 };
	unsigned quota = orig->cfg->aws.route_quota;
	struct plan_want *sum;
	struct plan_in eff;
	const struct plan_in *in = &eff;

	*out = NULL;
	*nout = 0;
	if (summarized(orig, &eff, &sum) < 0)
		return -ENOMEM;
	for (size_t t = 0; in->tables_known && t < in->ntables; t++) {
		const struct ec2_rtb *tb = &in->tables[t];

		if (!plan_table_used(&in->cfg->aws, in->vpc, tb))
			continue;
		for (size_t f = 0; f < sizeof(families) / sizeof(*families); f++) {
			struct plan_quota q = { .table = t, .family = families[f], .quota = quota };
			size_t add = 0, del = 0;

			q.routes = quota_used(tb, q.family);
			for (size_t i = 0; p && i < p->nops; i++) {
				const struct plan_op *o = &p->ops[i];

				if (o->table != t || o->dst.family != q.family)
					continue;
				add += o->kind == PLAN_CREATE;
				del += o->kind == PLAN_DELETE;
			}
			q.after = q.routes + add > del ? q.routes + add - del : 0;
			q.left_out = left_out(in, t, q.family, add);
			q.over = q.after > quota || q.left_out;
			if ((q.routes > q.after ? q.routes : q.after) * 100 <
			    (size_t)quota * PLAN_QUOTA_NEAR_PCT)
				continue;
			if (PUSH(*out, *nout, q) < 0) {
				free(*out);
				free(sum);
				*out = NULL;
				*nout = 0;
				return -ENOMEM;
			}
		}
	}
	free(sum);
	return 0;
}

int plan_make(const struct plan_in *orig, struct plan *out)
{
	struct plan_want *sum;
	struct plan_in eff;
	const struct plan_in *in = &eff;
	int r;

	memset(out, 0, sizeof(*out));
	if (summarized(orig, &eff, &sum) < 0)
		return -ENOMEM;
	if (!in->tables_known)
		r = copy_book(in->book, out);
	else if (in->withdraw)
		r = plan_withdraw_now(in, out);
	else if ((r = plan_additions(in, out)) == 0 && (r = plan_withdrawals(in, out)) == 0)
		book_sort(out);
	if (r < 0)
		plan_free(out);
	free(sum);
	return r;
}

void plan_free(struct plan *p)
{
	free(p->ops);
	plan_book_free(&p->book);
	memset(p, 0, sizeof(*p));
}

void plan_book_free(struct plan_book *b)
{
	free(b->gone);
	free(b->conflicts);
	free(b->unwanted);
	memset(b, 0, sizeof(*b));
}

void plan_commit(struct plan_book *book, struct plan *p)
{
	plan_book_free(book);
	*book = p->book;
	memset(&p->book, 0, sizeof(p->book));
}

int plan_book_gone(struct plan_book *b, const struct pfx *dst, long long now)
{
	size_t at = plan_pfx_pos(b->gone, b->ngone, sizeof(*b->gone), dst);
	struct plan_gone *v;

	if (at < b->ngone && pfx_equal(&b->gone[at].dst, dst)) {
		if (b->gone[at].unwanted) /* claimed since: a grace of its own from now */
			b->gone[at] = (struct plan_gone){ .dst = *dst, .since = now };
		return 0; /* its grace runs already */
	}
	v = realloc(b->gone, (b->ngone + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	b->gone = v;
	memmove(v + at + 1, v + at, (b->ngone - at) * sizeof(*v));
	v[at] = (struct plan_gone){ .dst = *dst, .since = now };
	b->ngone++;
	return 0;
}

const char *plan_action(enum plan_kind k)
{
	switch (k) {
	case PLAN_CREATE:
		return "CreateRoute";
	case PLAN_REPLACE:
		return "ReplaceRoute";
	case PLAN_DELETE:
		return "DeleteRoute";
	}
	return "?";
}

void plan_op_describe(const struct plan_op *o, const struct ec2_rtb *tables, const char *eni,
		      char *buf, size_t len)
{
	char d[PFX_STRLEN];

	pfx_format(&o->dst, d, sizeof(d));
	if (o->kind == PLAN_DELETE)
		snprintf(buf, len, "DeleteRoute %s %s", tables[o->table].id, d);
	else if (o->dead[0])
		snprintf(buf, len, "%s %s %s -> %s (was %s, a blackhole)", plan_action(o->kind),
			 tables[o->table].id, d, eni, o->dead);
	else
		snprintf(buf, len, "%s %s %s -> %s", plan_action(o->kind), tables[o->table].id, d,
			 eni);
}
