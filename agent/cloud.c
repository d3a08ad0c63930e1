// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The AWS backend tied to the agent's event loop. One request at a time,
 * chosen by cloud_kick from what is known and what is wanted:
 *
 *   IMDS token -> instance, region, MAC -> ENI, VPC, CIDR blocks, subnet
 *   -> role credentials (unless static ones were given)     aws_settings.c
 *   -> DescribeNetworkInterfaceAttribute, ModifyNetworkInterfaceAttribute
 *   -> DescribeRouteTables -> CreateRoute / ReplaceRoute / DeleteRoute
 *                                                   ec2.c, planned by planner.c
 *
 * The route changes are not queued: each turn asks the planner again, from
 * the tables as last described (updated after each successful call) and the
 * wanted networks, so that a network that comes and goes between two turns
 * costs nothing. The backend never calls into the daemon core: what the core
 * needs to hear (the VPC's CIDR blocks) is returned by cloud_http_event.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "aws_settings.h"
#include "cloud.h"
#include "ec2.h"
#include "ec2xml.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "planner.h"
#include "rtnl.h"

#define STR_MAX 256
#define MS	1000LL

/* The request in flight. */
enum job {
	J_NONE,
	J_IMDS, /* cur_step */
	J_DESCRIBE_SDC,
	J_MODIFY_SDC,
	J_DESCRIBE_RTB,
	J_DESCRIBE_GROUPS,
	J_DESCRIBE_SG,
	J_ROUTE, /* cur_op */
	J_DESCRIBE_PEERS,
	J_TAG,
	J_FLOAT_DESCRIBE, /* the floating interface (aws.interface) */
	J_FLOAT_HOLDER,	  /* the state of the instance that holds it */
	J_FLOAT_DETACH,
	J_FLOAT_ATTACH,
	J_EIP,
};

static const char *const job_actions[] = {
	[J_DESCRIBE_SDC] = "DescribeNetworkInterfaceAttribute",
	[J_MODIFY_SDC] = "ModifyNetworkInterfaceAttribute",
	[J_DESCRIBE_RTB] = "DescribeRouteTables",
	[J_DESCRIBE_GROUPS] = "DescribeNetworkInterfaceAttribute",
	[J_DESCRIBE_SG] = "DescribeSecurityGroups",
	[J_DESCRIBE_PEERS] = "DescribeNetworkInterfaces",
	[J_TAG] = "CreateTags",
	[J_FLOAT_DESCRIBE] = "DescribeNetworkInterfaces",
	[J_FLOAT_HOLDER] = "DescribeInstances",
	[J_FLOAT_DETACH] = "DetachNetworkInterface",
	[J_FLOAT_ATTACH] = "AttachNetworkInterface",
	[J_EIP] = "AssociateAddress",
};

/* The floating interface (aws.interface), step by step. */
enum fstep {
	F_OFF,	    /* none configured, or done: c->s.eni is ours */
	F_DESCRIBE, /* where is it? (at float_poll) */
	F_HOLDER,   /* attached elsewhere: is that instance stopped or gone? */
	F_DETACH,   /* yes: detach it, forced */
	F_ATTACH,   /* free: attach it here */
	F_DEVICE,   /* attached here: wait for its device (rtnetlink) */
	F_EIP,	    /* aws.elastic_ip to associate */
};

static const char *const fstep_names[] = {
	[F_OFF] = "done",
	[F_DESCRIBE] = "describing",
	[F_HOLDER] = "checking its holder",
	[F_DETACH] = "detaching",
	[F_ATTACH] = "attaching",
	[F_DEVICE] = "waiting for the device",
	[F_EIP] = "associating the Elastic IP",
};

#define FLOAT_DEVICE_INDEX "1"	 /* AttachNetworkInterface's DeviceIndex */
#define FLOAT_POLL_MS	   500	 /* between reads while it attaches or detaches */
#define FLOAT_DEVICE_MS	   60000 /* the bound on the wait for the device ... */
#define FLOAT_DEVICE_POLL  200	 /* ... looked up this often */

#define CLUSTER_TAG "vpcroute:cluster"
#define MOVES_MAX   16

/* A route that changed hands: seen in the tables, or made by us. */
struct move {
	char table[EC2_ID_MAX];
	struct pfx dst;
	char from[EC2_ID_MAX], to[EC2_ID_MAX]; /* "" when there was no route */
	bool by_us;
	long long at; /* monotonic ms */
};

struct cloud {
	struct agent *a; /* read for its configuration only */
	struct http *http;
	int tfd;
	bool dry_run;
	struct aws_settings s;

	/* EC2 */
	int sdc;	     /* -1 unknown, 0 off, 1 on */
	bool sdc_stale;	     /* to be described again */
	bool rtb_stale;	     /* to be described again */
	struct ec2_rtb *all; /* every table described, this VPC or the listed ids */
	size_t nall;
	struct ec2_rtb *paging; /* a DescribeRouteTables in pages */
	size_t npaging;
	char next_token[1024];
	bool tables_known;
	long long next_drift;
	/* the ENI's security groups and their inbound rules (advice for doctor) */
	bool sg_stale, sg_rules_stale, sg_known;
	char groups[EC2_MAX_GROUPS][EC2_ID_MAX];
	size_t ngroups;
	struct ec2_perm *perms;
	size_t nperms;
	char sg_error[STR_MAX * 3];
	/* aws.cluster: every interface with the tag, the live peers among them */
	struct ec2_eni *enis;
	size_t nenis;
	char (*peers)[EC2_ID_MAX];
	size_t npeers;
	bool peers_fresh; /* described since the tables were last read */
	bool peers_known; /* described once at least */
	bool tag_refused; /* CreateTags refused: not tried before the next drift check */
	struct move moves[MOVES_MAX]; /* a ring, the newest at moves_at - 1 */
	size_t moves_at, nmoves;
	/* aws.interface: the floating interface */
	enum fstep fstep;
	struct ec2_eni fl;	     /* as last described */
	char primary[EC2_ID_MAX];    /* the instance's own (IMDS), while it floats */
	char fl_device[IF_NAMESIZE]; /* its device, once seen */
	char fl_holder_state[24];    /* of the instance that held it */
	long long float_poll;	     /* not before (ms) */
	long long float_deadline;    /* of the device's wait */
	bool eip_done;

	/* what the planner reads and keeps */
	struct plan_want *want; /* sorted, each with how many contributions */
	size_t nwant;
	struct plan_book book;
	struct plan_failed *failed; /* sorted */
	size_t nfailed;

	struct ec2_bucket bucket;
	struct ec2_backoff backoff;

	enum job cur;
	enum aws_step cur_step;
	struct plan_op cur_op;
	char cur_desc[STR_MAX];

	unsigned news; /* CLOUD_* for the core, since the last cloud_http_event */

	/* retirement (cloud_withdraw) */
	unsigned wd_what; /* PLAN_WITHDRAW_* of the withdraw running, 0: none */
	bool wd_read;	  /* the tables were read since it started */
	bool wd_asked;	  /* one was asked since start (its result is kept) */
	bool retired;	  /* withdrawn: nothing is created until a reload */
	char **wd_removed, **wd_failed;
	size_t nwd_removed, nwd_failed;

	/* reporting */
	char last_error[STR_MAX * 3];
	char **announced; /* dry run: calls already logged */
	size_t nannounced;
	unsigned long calls, mutating_calls;
	char **quota_warned; /* "TABLE FAMILY near|over" logged already */
	size_t nquota_warned;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * MS + ts.tv_nsec / 1000000;
}

static const struct cfg *config(const struct cloud *c)
{
	return c->a->cfg;
}

static const struct cfg_aws *conf(const struct cloud *c)
{
	return &c->a->cfg->aws;
}

/* aws.cluster is set: peers share the routes (guide-ha.md). */
static bool cluster_on(const struct cloud *c)
{
	return conf(c)->cluster != NULL;
}

/* How many of c->peers count: none once aws.cluster is gone (a reload). */
static size_t live_peers(const struct cloud *c)
{
	return cluster_on(c) ? c->npeers : 0;
}

/* Whether the agent programs the VPC route tables itself (aws.routes "api"):
 * the cluster's peers are read only then. */
static bool route_table_api(const struct cloud *c)
{
	return conf(c)->routes == CFG_ROUTES_API;
}

static void set_error(struct cloud *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct cloud *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
	va_end(ap);
	log_warnx("aws: %s", c->last_error);
}

/* --- the wanted networks --- */

static void unwanted(struct cloud *c, const struct pfx *p, long long now)
{
	if (plan_book_gone(&c->book, p, now) < 0)
		log_warnx("aws: out of memory");
}

static void want_add(struct cloud *c, const struct pfx *p)
{
	size_t at = plan_pfx_pos(c->want, c->nwant, sizeof(*c->want), p);
	struct plan_want *v;

	if (at < c->nwant && pfx_equal(&c->want[at].dst, p)) {
		c->want[at].refs++;
		return;
	}
	v = realloc(c->want, (c->nwant + 1) * sizeof(*v));
	if (!v) {
		log_warnx("aws: out of memory");
		return;
	}
	c->want = v;
	memmove(v + at + 1, v + at, (c->nwant - at) * sizeof(*v));
	v[at].dst = *p;
	v[at].refs = 1;
	v[at].claim = false;
	c->nwant++;
}

static void want_del(struct cloud *c, const struct pfx *p, long long now)
{
	struct plan_want *w = (struct plan_want *)plan_want_find(c->want, c->nwant, p);

	if (!w || --w->refs)
		return;
	unwanted(c, p, now);
	memmove(w, w + 1, (size_t)(c->want + --c->nwant - w) * sizeof(*w));
}

void cloud_want_set(struct cloud *c, const struct pfx_list *remote)
{
	struct plan_want *old = c->want, *v = calloc(remote->n + 1, sizeof(*v));
	size_t nold = c->nwant, n = 0;
	long long now = now_ms();

	if (!v) {
		log_warnx("aws: out of memory");
		return;
	}
	/* sorted once, then equal networks counted: no insertion one by one */
	for (size_t i = 0; i < remote->n; i++)
		v[i].dst = remote->v[i];
	if (remote->n)
		qsort(v, remote->n, sizeof(*v), plan_want_cmp);
	for (size_t i = 0; i < remote->n; i++) {
		if (n && pfx_equal(&v[n - 1].dst, &v[i].dst)) {
			v[n - 1].refs++;
			continue;
		}
		v[n] = v[i];
		v[n++].refs = 1;
	}
	c->want = v;
	c->nwant = n;
	for (size_t i = 0; i < nold; i++) {
		struct plan_want *k =
			(struct plan_want *)plan_want_find(c->want, c->nwant, &old[i].dst);

		if (!k)
			unwanted(c, &old[i].dst, now);
		else
			k->claim = old[i].claim; /* a sync is no new connection */
	}
	free(old);
	cloud_kick(c);
}

/* A client connected here: with aws.cluster, its networks are claimed (taken
 * from a peer) once the tables are read again. Not for a network that the
 * same change also removed (a client's update, not a connection). */
static void want_claim(struct cloud *c, const struct pfx *p, const struct pfx_list *del)
{
	struct plan_want *w = (struct plan_want *)plan_want_find(c->want, c->nwant, p);

	if (!cluster_on(c) || !w)
		return;
	for (size_t i = 0; i < del->n; i++)
		if (pfx_equal(&del->v[i], p))
			return;
	w->claim = true;
	c->rtb_stale = true; /* the newest state of the tables decides */
}

void cloud_want_change(struct cloud *c, const struct pfx_list *del, const struct pfx_list *add)
{
	long long now = now_ms();

	for (size_t i = 0; i < add->n; i++) {
		want_add(c, &add->v[i]);
		want_claim(c, &add->v[i], del);
	}
	for (size_t i = 0; i < del->n; i++)
		want_del(c, &del->v[i], now);
	cloud_kick(c);
}

/* --- the planner's input, and what it said --- */

/* What the planner reads, as of now. */
static void plan_input(const struct cloud *c, long long now, struct plan_in *in)
{
	*in = (struct plan_in){ .cfg = config(c),
				.vpc = c->s.vpc,
				.eni = c->s.eni,
				.want = c->want,
				.nwant = c->nwant,
				.tables_known = c->tables_known,
				.tables = c->all,
				.ntables = c->nall,
				.book = &c->book,
				.failed = c->failed,
				.nfailed = c->nfailed,
				.now = now,
				.withdraw = c->wd_what,
				.no_additions = c->retired,
				.vpc_cidrs = cloud_vpc_cidrs(c),
				.peers = (const char(*)[EC2_ID_MAX])c->peers,
				.npeers = live_peers(c) };
}

static int make_plan(const struct cloud *c, long long now, struct plan *p)
{
	struct plan_in in;

	plan_input(c, now, &in);
	return plan_make(&in, p);
}

/* Claims whose networks now go to us in every table are settled: from here
 * on a peer that takes them has the newer connection. */
static void claims_settle(struct cloud *c)
{
	struct plan_in in;

	if (!c->tables_known)
		return;
	plan_input(c, now_ms(), &in);
	for (size_t i = 0; i < c->nwant; i++)
		if (c->want[i].claim && plan_want_settled(&in, &c->want[i].dst))
			c->want[i].claim = false;
}

/* --- the cluster: peers and moves --- */

static void move_note(struct cloud *c, const char *table, const struct pfx *dst, const char *from,
		      const char *to, bool by_us)
{
	struct move *m = &c->moves[c->moves_at];

	memset(m, 0, sizeof(*m));
	snprintf(m->table, sizeof(m->table), "%s", table);
	m->dst = *dst;
	snprintf(m->from, sizeof(m->from), "%s", from);
	snprintf(m->to, sizeof(m->to), "%s", to);
	m->by_us = by_us;
	m->at = now_ms();
	c->moves_at = (c->moves_at + 1) % MOVES_MAX;
	if (c->nmoves < MOVES_MAX)
		c->nmoves++;
}

/* Whether a route goes to a member of the cluster: us or a tagged interface. */
static const char *member_target(const struct cloud *c, const struct ec2_route *r)
{
	if (!r || strcmp(r->kind, "networkInterfaceId"))
		return NULL;
	if (strcmp(r->target, c->s.eni) == 0 || ec2_eni_find(c->enis, c->nenis, r->target))
		return r->target;
	return NULL;
}

static void moves_table(struct cloud *c, const struct ec2_rtb *old, const struct ec2_rtb *now)
{
	for (size_t i = 0; i < now->nroutes; i++) {
		const struct ec2_route *r = &now->routes[i], *o = plan_route_find(old, &r->dst);
		const char *to = member_target(c, r), *from = member_target(c, o);

		if ((to || from) && (!o || strcmp(o->target, r->target)))
			move_note(c, now->id, &r->dst, o ? o->target : "", r->target, false);
	}
	for (size_t i = 0; i < old->nroutes; i++) {
		const struct ec2_route *o = &old->routes[i];

		if (member_target(c, o) && !plan_route_find(now, &o->dst))
			move_note(c, now->id, &o->dst, o->target, "", false);
	}
}

/* The routes of the cluster's members that changed between two readings. */
static void moves_seen(struct cloud *c, const struct ec2_rtb *old, size_t nold,
		       const struct ec2_rtb *now, size_t nnow)
{
	if (!cluster_on(c))
		return;
	for (size_t t = 0; t < nnow; t++) {
		if (!plan_table_used(conf(c), c->s.vpc, &now[t]))
			continue;
		for (size_t k = 0; k < nold; k++)
			if (strcmp(old[k].id, now[t].id) == 0)
				moves_table(c, &old[k], &now[t]);
	}
}

static int peer_id_cmp(const void *x, const void *y)
{
	return strcmp(x, y);
}

/* A DescribeNetworkInterfaces of the cluster's tag: the peers are those
 * attached to an instance, ours aside. */
static int peers_answer(struct cloud *c, const char *body, size_t len, char *err, size_t errlen)
{
	char next[1024], (*p)[EC2_ID_MAX] = NULL;
	struct ec2_eni *v;
	size_t n, np = 0;

	if (ec2_parse_network_interfaces(body, len, &v, &n, next, sizeof(next), err, errlen) < 0)
		return -EINVAL;
	if (next[0])
		log_warnx("aws: cluster %s: more interfaces than one answer holds; the first %zu "
			  "are used",
			  conf(c)->cluster, n);
	if (n && !(p = calloc(n, sizeof(*p)))) {
		free(v);
		snprintf(err, errlen, "out of memory");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ec2_eni *e = &v[i];
		bool live = strcmp(e->attach_status, "attached") == 0;
		bool was = c->peers &&
			   bsearch(e->id, c->peers, c->npeers, sizeof(*c->peers), peer_id_cmp);

		if (strcmp(e->id, c->s.eni) == 0)
			continue;
		if (live)
			snprintf(p[np++], EC2_ID_MAX, "%s", e->id);
		if (live && !was)
			log_info("aws: cluster %s: peer %s (instance %s, %s)", conf(c)->cluster,
				 e->id, e->instance[0] ? e->instance : "?", e->az[0] ? e->az : "?");
	}
	for (size_t i = 0; i < c->npeers; i++)
		if (!np || !bsearch(c->peers[i], p, np, sizeof(*p), peer_id_cmp))
			log_info("aws: cluster %s: %s is no longer a live peer", conf(c)->cluster,
				 c->peers[i]);
	free(c->enis);
	c->enis = v;
	c->nenis = n;
	free(c->peers);
	c->peers = p;
	c->npeers = np;
	c->peers_fresh = c->peers_known = true;
	return 0;
}

/* Whether our own interface lacks the cluster's tag (then CreateTags). */
static bool tag_pending(const struct cloud *c, char *desc, size_t len)
{
	if (!cluster_on(c) || !c->peers_known || c->tag_refused ||
	    ec2_eni_find(c->enis, c->nenis, c->s.eni))
		return false;
	snprintf(desc, len, "CreateTags %s %s=%s", c->s.eni, CLUSTER_TAG, conf(c)->cluster);
	return true;
}

/* The plan is acted on: new conflicts are reported, the bookkeeping kept. */
static void commit_plan(struct cloud *c, struct plan *p)
{
	for (size_t i = 0; i < p->book.nconflicts; i++) {
		const struct plan_conflict *x = &p->book.conflicts[i];
		char d[PFX_STRLEN];

		if (!x->reported)
			log_warnx("aws: conflict: route table %s sends %s to %s %s, not to us; "
				  "left alone (aws.takeover is off): delete that route, or set "
				  "aws.takeover to true",
				  x->table, pfx_format(&x->dst, d, sizeof(d)), x->kind, x->target);
	}
	for (size_t i = 0; i < p->book.nunwanted; i++) {
		const struct plan_conflict *x = &p->book.unwanted[i];
		char d[PFX_STRLEN];

		if (!x->reported)
			log_warnx(
				"aws: ours, not wanted: route table %s sends %s to this instance "
				"(%s), a network no policy allows (a leftover of an earlier run?); "
				"withdrawn after aws.withdraw_grace_s (%us) unless a policy allows "
				"it by then. To remove it now: `vpcroutectl withdraw --unwanted`",
				x->table, pfx_format(&x->dst, d, sizeof(d)), x->target,
				conf(c)->withdraw_grace_s);
	}
	plan_commit(&c->book, p);
}

static void failed_add(struct cloud *c, const char *table, const struct pfx *p, const char *error)
{
	struct plan_failed k = { .dst = *p }, *v;
	size_t at = 0;

	snprintf(k.table, sizeof(k.table), "%s", table);
	snprintf(k.error, sizeof(k.error), "%.*s", (int)sizeof(k.error) - 1, error);
	while (at < c->nfailed && plan_failed_cmp(&c->failed[at], &k) < 0)
		at++;
	if (at < c->nfailed && plan_failed_cmp(&c->failed[at], &k) == 0)
		return;
	v = realloc(c->failed, (c->nfailed + 1) * sizeof(*v));
	if (!v)
		return;
	c->failed = v;
	memmove(v + at + 1, v + at, (c->nfailed - at) * sizeof(*v));
	v[at] = k;
	c->nfailed++;
}

static const struct plan_failed *failed_find(const struct cloud *c, const char *table,
					     const struct pfx *p)
{
	struct plan_failed k = { .dst = *p };

	if (!c->nfailed)
		return NULL;
	snprintf(k.table, sizeof(k.table), "%s", table);
	return bsearch(&k, c->failed, c->nfailed, sizeof(k), plan_failed_cmp);
}

static bool strs_has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void strs_free(char ***v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

static void strs_add(char ***v, size_t *n, const char *s)
{
	char **w = realloc(*v, (*n + 1) * sizeof(*w));

	if (!w)
		return;
	*v = w;
	if ((w[*n] = strdup(s)))
		(*n)++;
}

/* --- the route quota --- */

/* The tables near their quota once p is done (plan_quota_check). */
static int quota_of(const struct cloud *c, const struct plan *p, struct plan_quota **q, size_t *n)
{
	struct plan_in in;

	plan_input(c, now_ms(), &in);
	return plan_quota_check(&in, p, q, n);
}

/* What q means, for the log and the status. */
static void quota_describe(const struct cloud *c, const struct plan_quota *q, char *buf, size_t len)
{
	const char *fam = q->family == AF_INET6 ? "IPv6" : "IPv4";
	char after[64] = "", over[192] = ": near the limit";

	if (q->after != q->routes)
		snprintf(after, sizeof(after), " (%zu once the pending calls are made)", q->after);
	if (q->left_out)
		snprintf(over, sizeof(over),
			 ": %zu more wanted route%s not fit, so the agent does not ask for %s (EC2 "
			 "would refuse: RouteLimitExceeded)",
			 q->left_out, q->left_out == 1 ? " does" : "s do",
			 q->left_out == 1 ? "it" : "them");
	else if (q->over)
		snprintf(over, sizeof(over), ": more than that");
	snprintf(buf, len,
		 "route table %s holds %zu %s routes%s of the %u EC2 allows (aws.route_quota)%s; "
		 "announce client networks as one route with aws.summaries, or ask AWS for more "
		 "(quota \"Routes per route table\") and raise aws.route_quota",
		 c->all[q->table].id, q->routes, fam, after, q->quota, over);
}

/* The tables near their quota after plan p: logged once per table, family
 * and state (near, over) while it lasts. */
static void quota_log(struct cloud *c, const struct plan *p)
{
	struct plan_quota *q;
	char **now = NULL, key[EC2_ID_MAX + 32], msg[STR_MAX * 2];
	size_t n, nnow = 0;

	if (quota_of(c, p, &q, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s %d %s", c->all[q[i].table].id, q[i].family,
			 q[i].over ? "over" : "near");
		if (!strs_has(c->quota_warned, c->nquota_warned, key)) {
			quota_describe(c, &q[i], msg, sizeof(msg));
			log_warnx("aws: %s", msg);
		}
		strs_add(&now, &nnow, key);
	}
	free(q);
	strs_free(&c->quota_warned, &c->nquota_warned);
	c->quota_warned = now;
	c->nquota_warned = nnow;
}

/* Dry run: each call that would be made, logged once. */
static void announce(struct cloud *c, const struct plan_op *ops, size_t n)
{
	char **now = NULL, desc[STR_MAX];
	size_t nnow = 0;

	for (size_t i = 0; i < n; i++) {
		plan_op_describe(&ops[i], c->all, c->s.eni, desc, sizeof(desc));
		if (!strs_has(c->announced, c->nannounced, desc))
			log_info("aws: dry run: would call %s", desc);
		strs_add(&now, &nnow, desc);
	}
	strs_free(&c->announced, &c->nannounced);
	c->announced = now;
	c->nannounced = nnow;
}

/* --- retirement --- */

void cloud_withdraw(struct cloud *c, unsigned what)
{
	if (!c->wd_what) {
		strs_free(&c->wd_removed, &c->nwd_removed);
		strs_free(&c->wd_failed, &c->nwd_failed);
	}
	log_info("aws: withdrawing %s routes to %s", what & PLAN_WITHDRAW_OURS ? "our" : "unwanted",
		 c->s.eni[0] ? c->s.eni : "this instance");
	c->wd_what |= what;
	c->wd_read = false;
	c->wd_asked = true;
	c->rtb_stale = true; /* from the tables as they are now */
	c->nfailed = 0;
	cloud_kick(c);
}

bool cloud_withdraw_done(const struct cloud *c)
{
	return !c->wd_what;
}

/* The plan of a withdraw has nothing left (or, dry run, is what would be done). */
static void withdraw_finish(struct cloud *c, const struct plan *p)
{
	char desc[STR_MAX];

	if (!c->wd_read)
		return; /* the tables of before the request: read them first */
	for (size_t i = 0; c->dry_run && i < p->nops; i++) {
		plan_op_describe(&p->ops[i], c->all, c->s.eni, desc, sizeof(desc));
		strs_add(&c->wd_removed, &c->nwd_removed, desc);
	}
	c->wd_what = 0;
	c->retired = !c->dry_run;
	log_info("aws: withdraw: %s %zu route%s, %zu failed%s",
		 c->dry_run ? "would remove" : "removed", c->nwd_removed,
		 c->nwd_removed == 1 ? "" : "s", c->nwd_failed,
		 c->retired ? "; nothing is created until the next reload" : "");
}

static json_t *strs_json(char **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *cloud_withdraw_result(const struct cloud *c)
{
	return json_pack("{s:o, s:o, s:b}", "removed", strs_json(c->wd_removed, c->nwd_removed),
			 "failed", strs_json(c->wd_failed, c->nwd_failed), "dry_run", c->dry_run);
}

/*
 * What an EC2 refusal of a route call means here, for the log and the
 * status: the rules EC2 enforces that emulators do not (tests/lab's strict
 * layer plays them).
 */
static void refusal_hint(const struct cloud *c, const char *code, const struct pfx *dst, char *buf,
			 size_t len)
{
	char d[PFX_STRLEN];

	buf[0] = '\0';
	if (strcmp(code, "RouteLimitExceeded") == 0) {
		snprintf(buf, len,
			 ": the table holds as many routes as EC2 allows (50 unless the quota "
			 "\"Routes per route table\" was raised); remove routes or ask for more");
		return;
	}
	if (strcmp(code, "InvalidParameterValue") != 0)
		return;
	for (size_t i = 0; i < c->s.cidrs.n; i++)
		if (pfx_contains(&c->s.cidrs.v[i], dst)) {
			snprintf(buf, len,
				 ": the network lies inside the VPC's CIDR block %s, where EC2 "
				 "accepts a route only for a subnet's exact CIDR; move it outside "
				 "the VPC's blocks",
				 pfx_format(&c->s.cidrs.v[i], d, sizeof(d)));
			return;
		}
}

/* --- requests --- */

static void on_imds(void *arg, long status, const char *body, size_t len, const char *error);
static void on_ec2(void *arg, long status, const char *body, size_t len, const char *error);

static void arm(struct cloud *c, long long at)
{
	struct itimerspec its = { 0 };
	long long d = at - now_ms();

	if (at) {
		if (d < 1)
			d = 1;
		its.it_value.tv_sec = d / MS;
		its.it_value.tv_nsec = (d % MS) * 1000000L;
	}
	timerfd_settime(c->tfd, 0, &its, NULL);
}

static int imds_call(struct cloud *c, enum aws_step st)
{
	c->cur = J_IMDS;
	c->cur_step = st;
	snprintf(c->cur_desc, sizeof(c->cur_desc), "%s", aws_step_name(st));
	c->calls++;
	return aws_imds_request(c->http, &c->s, st, on_imds, c);
}

static int ec2_call(struct cloud *c, enum job j, const char *action, const char *form,
		    const char *desc)
{
	c->cur = j;
	snprintf(c->cur_desc, sizeof(c->cur_desc), "%s", desc);
	c->calls++;
	log_debug("aws: %s", desc);
	return ec2_post(c->http, &c->s, action, form, on_ec2, c);
}

/* A mutating call: it spends a token of the budget. */
static int ec2_change(struct cloud *c, enum job j, const char *action, const char *form,
		      const char *desc)
{
	ec2_bucket_take(&c->bucket);
	c->mutating_calls++;
	return ec2_call(c, j, action, form, desc);
}

static int start_op(struct cloud *c, const struct plan_op *o)
{
	char form[1024] = "", desc[STR_MAX], d[PFX_STRLEN];
	const struct ec2_route *r;

	ec2_form_route(form, sizeof(form), c->all[o->table].id, &o->dst,
		       o->kind == PLAN_DELETE ? NULL : c->s.eni);
	plan_op_describe(o, c->all, c->s.eni, desc, sizeof(desc));
	c->cur_op = *o;
	if (o->dead[0])
		log_warnx("aws: route table %s sends %s to %s, which is gone (state blackhole: "
			  "a deleted interface or a terminated instance); taking it over",
			  c->all[o->table].id, pfx_format(&o->dst, d, sizeof(d)), o->dead);
	else if (o->kind == PLAN_REPLACE && (r = plan_route_find(&c->all[o->table], &o->dst)) &&
		 plan_route_among(r, (const char(*)[EC2_ID_MAX])c->peers, live_peers(c)))
		log_info("aws: cluster %s: route table %s sends %s to peer %s; its client "
			 "connected here since: taking it",
			 conf(c)->cluster, c->all[o->table].id, pfx_format(&o->dst, d, sizeof(d)),
			 r->target);
	return ec2_change(c, J_ROUTE, plan_action(o->kind), form, desc);
}

static int describe_tables(struct cloud *c)
{
	char form[12288] = "";

	ec2_form_tables(form, sizeof(form), c->s.vpc,
			conf(c)->route_tables_auto ? NULL : conf(c)->route_tables,
			conf(c)->nroute_tables, c->next_token);
	return ec2_call(c, J_DESCRIBE_RTB, job_actions[J_DESCRIBE_RTB], form,
			"DescribeRouteTables");
}

static int describe_peers(struct cloud *c)
{
	char form[1024] = "", tag[80];

	snprintf(tag, sizeof(tag), "tag:%s", CLUSTER_TAG);
	ec2_form_add(form, sizeof(form), "Filter.1.Name", tag);
	ec2_form_add(form, sizeof(form), "Filter.1.Value.1", conf(c)->cluster);
	ec2_form_add(form, sizeof(form), "Filter.2.Name", "vpc-id");
	ec2_form_add(form, sizeof(form), "Filter.2.Value.1", c->s.vpc);
	return ec2_call(c, J_DESCRIBE_PEERS, job_actions[J_DESCRIBE_PEERS], form,
			"DescribeNetworkInterfaces " CLUSTER_TAG);
}

static int tag_ours(struct cloud *c, const char *desc)
{
	char form[512] = "";

	ec2_form_add(form, sizeof(form), "ResourceId.1", c->s.eni);
	ec2_form_add(form, sizeof(form), "Tag.1.Key", CLUSTER_TAG);
	ec2_form_add(form, sizeof(form), "Tag.1.Value", conf(c)->cluster);
	return ec2_change(c, J_TAG, job_actions[J_TAG], form, desc);
}

static int describe_groups(struct cloud *c)
{
	char form[2048] = "", k[32];

	if (c->sg_stale) {
		ec2_form_add(form, sizeof(form), "NetworkInterfaceId", c->s.eni);
		ec2_form_add(form, sizeof(form), "Attribute", "groupSet");
		return ec2_call(c, J_DESCRIBE_GROUPS, job_actions[J_DESCRIBE_GROUPS], form,
				"DescribeNetworkInterfaceAttribute groupSet");
	}
	for (size_t i = 0; i < c->ngroups; i++) {
		snprintf(k, sizeof(k), "GroupId.%zu", i + 1);
		ec2_form_add(form, sizeof(form), k, c->groups[i]);
	}
	return ec2_call(c, J_DESCRIBE_SG, job_actions[J_DESCRIBE_SG], form,
			"DescribeSecurityGroups");
}

/* Whether the source/dest check is to be turned off; desc names the call. */
static bool sdc_pending(const struct cloud *c, char *desc, size_t len)
{
	if (c->sdc != 1 || !conf(c)->disable_source_dest_check)
		return false;
	snprintf(desc, len, "ModifyNetworkInterfaceAttribute %s SourceDestCheck=false", c->s.eni);
	return true;
}

/* A mutating call outside the plan: in a dry run only announced (once);
 * otherwise made when the budget has a token, else the timer is armed. */
enum pace { PACE_GO, PACE_DRY, PACE_WAIT };

static enum pace pace(struct cloud *c, const char *desc, long long now)
{
	long long w;

	if (c->dry_run) {
		if (!strs_has(c->announced, c->nannounced, desc))
			log_info("aws: dry run: would call %s", desc);
		return PACE_DRY;
	}
	if ((w = ec2_bucket_wait(&c->bucket, conf(c)->max_calls_per_s, now))) {
		metrics_inc(VM_EC2_BUDGET_WAITS);
		arm(c, w);
		return PACE_WAIT;
	}
	return PACE_GO;
}

/* --- the floating interface (aws.interface) and the Elastic IP --- */

/* What the configuration asks for, from the start: at start and at each reload. */
static void float_begin(struct cloud *c)
{
	if (!conf(c)->interface && c->primary[0]) {
		/* no longer floating: the instance's own interface again */
		log_info("aws: aws.interface is gone: using %s again", c->primary);
		snprintf(c->s.eni, sizeof(c->s.eni), "%s", c->primary);
		c->primary[0] = '\0';
		c->fl_device[0] = '\0';
		c->sdc = -1;
	}
	c->fstep = conf(c)->interface ? F_DESCRIBE : conf(c)->elastic_ip ? F_EIP : F_OFF;
	c->float_poll = 0;
	c->eip_done = false;
}

/* The floating interface is attached here and its device is there: ours. */
static void float_done(struct cloud *c)
{
	const char *want = conf(c)->interface;

	if (strcmp(c->s.eni, want)) {
		if (!c->primary[0])
			snprintf(c->primary, sizeof(c->primary), "%s", c->s.eni);
		log_info("aws: using the floating interface %s (device %s) instead of %s", want,
			 c->fl_device, c->primary);
		snprintf(c->s.eni, sizeof(c->s.eni), "%s", want);
		c->sdc = -1;
		c->next_drift = 0; /* everything is read again, for this interface */
	} else {
		log_info("aws: the floating interface %s is this instance's (device %s)", want,
			 c->fl_device);
	}
	c->fstep = conf(c)->elastic_ip ? F_EIP : F_OFF;
}

/* A step's answer said to look again after ms. */
static void float_again(struct cloud *c, long long ms)
{
	c->fstep = F_DESCRIBE;
	c->float_poll = now_ms() + ms;
}

/*
 * The next step: 1 when a request was started, 0 when it waits (the timer
 * armed), 2 when there is nothing to do before the rest, -errno when a
 * request could not start.
 */
static int float_kick(struct cloud *c, long long now)
{
	char form[512] = "", desc[STR_MAX];
	enum pace pc;
	int r;

	switch (c->fstep) {
	case F_OFF:
		return 2;
	case F_DESCRIBE:
		if (now < c->float_poll) {
			arm(c, c->float_poll);
			return 0;
		}
		ec2_form_add(form, sizeof(form), "NetworkInterfaceId.1", conf(c)->interface);
		snprintf(desc, sizeof(desc), "DescribeNetworkInterfaces %s", conf(c)->interface);
		r = ec2_call(c, J_FLOAT_DESCRIBE, job_actions[J_FLOAT_DESCRIBE], form, desc);
		break;
	case F_HOLDER:
		ec2_form_add(form, sizeof(form), "InstanceId.1", c->fl.instance);
		snprintf(desc, sizeof(desc), "DescribeInstances %s", c->fl.instance);
		r = ec2_call(c, J_FLOAT_HOLDER, job_actions[J_FLOAT_HOLDER], form, desc);
		break;
	case F_DETACH:
		snprintf(desc, sizeof(desc), "DetachNetworkInterface %s from %s (%s), forced",
			 c->fl.id, c->fl.instance, c->fl_holder_state);
		if ((pc = pace(c, desc, now)) != PACE_GO)
			goto not_now;
		ec2_form_add(form, sizeof(form), "AttachmentId", c->fl.attachment);
		ec2_form_add(form, sizeof(form), "Force", "true");
		r = ec2_change(c, J_FLOAT_DETACH, job_actions[J_FLOAT_DETACH], form, desc);
		break;
	case F_ATTACH:
		snprintf(desc, sizeof(desc), "AttachNetworkInterface %s to %s", c->fl.id,
			 c->s.instance);
		if ((pc = pace(c, desc, now)) != PACE_GO)
			goto not_now;
		ec2_form_add(form, sizeof(form), "NetworkInterfaceId", c->fl.id);
		ec2_form_add(form, sizeof(form), "InstanceId", c->s.instance);
		ec2_form_add(form, sizeof(form), "DeviceIndex", FLOAT_DEVICE_INDEX);
		r = ec2_change(c, J_FLOAT_ATTACH, job_actions[J_FLOAT_ATTACH], form, desc);
		break;
	case F_DEVICE:
		r = c->a->rt ? rtnl_link_by_mac(c->a->rt, c->fl.mac, c->fl_device,
						sizeof(c->fl_device))
			     : -ENODEV;
		if (r == 0) {
			float_done(c);
			return float_kick(c, now);
		}
		c->fl_device[0] = '\0';
		if (now >= c->float_deadline && r == -ENODEV) {
			set_error(c,
				  "%s is attached to this instance, but no device has its "
				  "address %s after %d s; still looking",
				  c->fl.id, c->fl.mac, FLOAT_DEVICE_MS / 1000);
			c->float_deadline = now + 10 * FLOAT_DEVICE_MS; /* said once a while */
		} else if (r != -ENODEV) {
			set_error(c, "%s: looking for the device with address %s: %s", c->fl.id,
				  c->fl.mac, strerror(-r));
		}
		arm(c, now + FLOAT_DEVICE_POLL);
		return 0;
	case F_EIP:
		snprintf(desc, sizeof(desc), "AssociateAddress %s -> %s", conf(c)->elastic_ip,
			 c->s.eni);
		if ((pc = pace(c, desc, now)) != PACE_GO)
			goto not_now;
		ec2_form_add(form, sizeof(form), "AllocationId", conf(c)->elastic_ip);
		ec2_form_add(form, sizeof(form), "NetworkInterfaceId", c->s.eni);
		ec2_form_add(form, sizeof(form), "AllowReassociation", "true");
		r = ec2_change(c, J_EIP, job_actions[J_EIP], form, desc);
		break;
	default:
		return 2;
	}
	return r < 0 ? r : 1;
not_now:
	if (pc == PACE_WAIT)
		return 0;
	/* a dry run: announced, and the instance's own interface stays ours */
	c->fstep = F_OFF;
	return 2;
}

/* An answer to a step of the floating interface; -EINVAL: unreadable. */
static int float_answer(struct cloud *c, enum job j, const char *body, size_t len, char *err,
			size_t errlen)
{
	char next[256];
	struct ec2_eni *v;
	size_t n;
	int r;

	switch (j) {
	case J_FLOAT_DESCRIBE:
		if (ec2_parse_network_interfaces(body, len, &v, &n, next, sizeof(next), err,
						 errlen) < 0)
			return -EINVAL;
		if (n != 1 || strcmp(v[0].id, conf(c)->interface)) {
			free(v);
			set_error(c,
				  "aws.interface %s: no such network interface; looked for again "
				  "at the next drift check",
				  conf(c)->interface);
			float_again(c, conf(c)->drift_check_s * MS);
			return 0;
		}
		c->fl = v[0];
		free(v);
		if (!strcmp(c->fl.attach_status, "attached") &&
		    !strcmp(c->fl.instance, c->s.instance) && !c->fl.mac[0]) {
			set_error(c,
				  "%s: EC2 gave no macAddress: its device cannot be found; "
				  "looked at again at the next drift check",
				  c->fl.id);
			float_again(c, conf(c)->drift_check_s * MS);
		} else if (!strcmp(c->fl.attach_status, "attached") &&
			   !strcmp(c->fl.instance, c->s.instance)) {
			c->fstep = F_DEVICE;
			c->float_deadline = now_ms() + FLOAT_DEVICE_MS;
		} else if (!strcmp(c->fl.attach_status, "attaching") ||
			   !strcmp(c->fl.attach_status, "detaching")) {
			float_again(c, FLOAT_POLL_MS);
		} else if (!strcmp(c->fl.attach_status, "attached")) {
			c->fstep = F_HOLDER;
		} else {
			c->fstep = F_ATTACH;
		}
		return 0;
	case J_FLOAT_HOLDER:
		r = ec2_parse_instance_state(body, len, c->fl.instance, c->fl_holder_state,
					     sizeof(c->fl_holder_state), err, errlen);
		if (r == -ENOENT)
			snprintf(c->fl_holder_state, sizeof(c->fl_holder_state), "gone");
		else if (r < 0)
			return -EINVAL;
		if (strcmp(c->fl_holder_state, "running") &&
		    strcmp(c->fl_holder_state, "pending")) {
			log_info("aws: %s is attached to %s, which is %s: taking it", c->fl.id,
				 c->fl.instance, c->fl_holder_state);
			c->fstep = F_DETACH;
			return 0;
		}
		set_error(c,
			  "aws.interface %s is attached to instance %s, which is %s: not taken "
			  "from a live instance; stop or terminate it (looked at again at the next "
			  "drift check)",
			  c->fl.id, c->fl.instance, c->fl_holder_state);
		float_again(c, conf(c)->drift_check_s * MS);
		return 0;
	case J_FLOAT_DETACH:
	case J_FLOAT_ATTACH:
		if (ec2_parse_return(body, len, job_actions[j], err, errlen) < 0)
			return -EINVAL;
		log_info("aws: %s: done", c->cur_desc);
		float_again(c, FLOAT_POLL_MS);
		return 0;
	case J_EIP:
		if (ec2_parse_return(body, len, job_actions[j], err, errlen) < 0)
			return -EINVAL;
		log_info("aws: associated the Elastic IP %s with %s", conf(c)->elastic_ip,
			 c->s.eni);
		c->eip_done = true;
		c->fstep = F_OFF;
		return 0;
	default:
		return 0;
	}
}

/* EC2 refused a step: said, and tried again at the next drift check (the
 * Elastic IP is not: it never holds up the routes). */
static void float_refused(struct cloud *c, enum job j, const struct ec2_error *e)
{
	if (j == J_EIP) {
		set_error(c, "%s: %s (%s); the Elastic IP is left as it is", c->cur_desc, e->code,
			  e->message);
		c->fstep = F_OFF;
		return;
	}
	set_error(c,
		  "%s: %s (%s): the floating interface %s is not ours yet, so no route is "
		  "made; tried again at the next drift check",
		  c->cur_desc, e->code, e->message, conf(c)->interface);
	float_again(c, conf(c)->drift_check_s * MS);
}

static bool float_job(enum job j)
{
	return j == J_FLOAT_DESCRIBE || j == J_FLOAT_HOLDER || j == J_FLOAT_DETACH ||
	       j == J_FLOAT_ATTACH || j == J_EIP;
}

void cloud_kick(struct cloud *c)
{
	enum pace pc;
	long long now = now_ms(), wake = 0, w;
	char desc[STR_MAX], form[256] = "";
	struct plan p;
	enum aws_step st;
	int r = 0;

#define WAKE(t) (wake = (!wake || (t) < wake) ? (t) : wake)
	if (c->cur != J_NONE)
		return; /* one at a time: the answer kicks again */
	if (now < c->backoff.retry_at) {
		arm(c, c->backoff.retry_at);
		return;
	}
	if ((st = aws_imds_next(&c->s, now)) != AWS_STEP_NONE) {
		r = imds_call(c, st);
		goto started;
	}
	if (!aws_settings_ready(&c->s))
		return;
	/* the floating interface first: until it is ours, nothing else is */
	if ((r = float_kick(c, now)) != 2) {
		if (r == 0)
			return;
		r = r < 0 ? r : 0;
		goto started;
	}
	r = 0;
	if (now >= c->next_drift) {
		c->sdc_stale = conf(c)->disable_source_dest_check;
		c->rtb_stale = true;
		c->sg_stale = true;
		c->nfailed = 0; /* give what failed for good another chance */
		c->tag_refused = false;
		c->next_drift = now + conf(c)->drift_check_s * MS;
	}
	if (c->sdc_stale) {
		ec2_form_add(form, sizeof(form), "NetworkInterfaceId", c->s.eni);
		ec2_form_add(form, sizeof(form), "Attribute", "sourceDestCheck");
		r = ec2_call(c, J_DESCRIBE_SDC, job_actions[J_DESCRIBE_SDC], form,
			     "DescribeNetworkInterfaceAttribute");
		goto started;
	}
	if (sdc_pending(c, desc, sizeof(desc))) {
		if ((pc = pace(c, desc, now)) == PACE_WAIT)
			return;
		if (pc == PACE_GO) {
			ec2_form_add(form, sizeof(form), "NetworkInterfaceId", c->s.eni);
			ec2_form_add(form, sizeof(form), "SourceDestCheck.Value", "false");
			r = ec2_change(c, J_MODIFY_SDC, job_actions[J_MODIFY_SDC], form, desc);
			goto started;
		}
	}
	if (conf(c)->routes != CFG_ROUTES_API) {
		/* route-server, off: the route tables are not ours to read or change */
		c->rtb_stale = false;
		c->wd_what = 0;
	}
	if (route_table_api(c) && cluster_on(c) && c->rtb_stale && !c->peers_fresh) {
		r = describe_peers(c); /* who the peers are, then their routes */
		goto started;
	}
	if (tag_pending(c, desc, sizeof(desc))) {
		if ((pc = pace(c, desc, now)) == PACE_WAIT)
			return;
		if (pc == PACE_GO) {
			r = tag_ours(c, desc);
			goto started;
		}
	}
	if (c->rtb_stale) {
		r = describe_tables(c);
		goto started;
	}
	if (c->sg_stale || c->sg_rules_stale) {
		r = describe_groups(c);
		goto started;
	}
	if (conf(c)->routes != CFG_ROUTES_API)
		goto idle;
	if (make_plan(c, now, &p) < 0) {
		r = -ENOMEM;
		goto started;
	}
	if (p.next_due)
		WAKE(p.next_due);
	if (c->wd_what && (c->dry_run || !p.nops))
		withdraw_finish(c, &p);
	if (c->dry_run)
		announce(c, p.ops, p.nops);
	else if (p.nops && (w = ec2_bucket_wait(&c->bucket, conf(c)->max_calls_per_s, now))) {
		metrics_inc(VM_EC2_BUDGET_WAITS);
		WAKE(w);
	} else if (p.nops)
		r = start_op(c, &p.ops[0]);
	quota_log(c, &p);
	commit_plan(c, &p);
	if (c->cur != J_NONE || r < 0) {
		plan_free(&p);
		goto started;
	}
	plan_free(&p);
idle:
	WAKE(c->next_drift);
	if (!c->s.creds_fixed && c->s.creds_refresh)
		WAKE(c->s.creds_refresh);
	arm(c, wake);
	return;
started:
	if (r >= 0)
		return;
	c->cur = J_NONE;
	set_error(c, "cannot start a request: %s", strerror(-r));
	ec2_backoff_fail(&c->backoff, now);
	arm(c, c->backoff.retry_at);
#undef WAKE
}

/* --- answers --- */

static void on_imds(void *arg, long status, const char *body, size_t len, const char *error)
{
	struct cloud *c = arg;
	enum aws_step st = c->cur_step;
	char err[STR_MAX];
	int r;

	c->cur = J_NONE;
	r = aws_imds_answer(&c->s, st, status, body, len, error, now_ms(), err, sizeof(err));
	if (r < 0) {
		set_error(c, "%s", err);
		ec2_backoff_fail(&c->backoff, now_ms());
	} else if (r == 0) {
		ec2_backoff_ok(&c->backoff);
		if (st == AWS_STEP_SUBNET)
			c->news |= CLOUD_VPC_CIDRS;
	}
	cloud_kick(c);
}

static void paging_drop(struct cloud *c)
{
	ec2_rtbs_free(c->paging, c->npaging);
	c->paging = NULL;
	c->npaging = 0;
	c->next_token[0] = '\0';
}

/* A page of DescribeRouteTables; the last one replaces the tables known. */
static int tables_page(struct cloud *c, const char *body, size_t len, char *err, size_t errlen)
{
	struct ec2_rtb *t, *v;
	size_t n;

	if (ec2_parse_route_tables(body, len, &t, &n, c->next_token, sizeof(c->next_token), err,
				   errlen) < 0)
		return -EINVAL;
	if (c->npaging + n > EC2_MAX_TABLES) {
		ec2_rtbs_free(t, n);
		snprintf(err, errlen, "more than %d route tables", EC2_MAX_TABLES);
		return -EINVAL;
	}
	if (n) {
		v = realloc(c->paging, (c->npaging + n) * sizeof(*v));
		if (!v) {
			ec2_rtbs_free(t, n);
			snprintf(err, errlen, "out of memory");
			return -EINVAL;
		}
		c->paging = v;
		memcpy(v + c->npaging, t, n * sizeof(*t));
		c->npaging += n;
		free(t);
	}
	if (c->next_token[0])
		return 0; /* the next page comes next */
	plan_tables_sort(c->paging, c->npaging);
	moves_seen(c, c->all, c->nall, c->paging, c->npaging);
	c->peers_fresh = false; /* read again before the tables next time */
	ec2_rtbs_free(c->all, c->nall);
	c->all = c->paging;
	c->nall = c->npaging;
	c->paging = NULL;
	c->npaging = 0;
	c->tables_known = true;
	metrics_stamp(VM_DRIFT_CHECK_AGE, now_ms());
	plan_tables_sort(c->all, c->nall);
	c->rtb_stale = false;
	c->wd_read = c->wd_what != 0;
	claims_settle(c);
	n = 0;
	for (size_t i = 0; i < c->nall; i++)
		n += plan_table_used(conf(c), c->s.vpc, &c->all[i]);
	log_debug("aws: %zu route tables described, %zu in use", c->nall, n);
	if (!n)
		set_error(c, "no route table to program: %s",
			  conf(c)->route_tables_auto
				  ? "the VPC has no main table and no subnet association"
				  : "none of aws.route_tables exists");
	return 0;
}

/* A call of ours moved a route of the cluster (aws.cluster): noted. */
static void route_moved(struct cloud *c, const struct ec2_rtb *t, const struct plan_op *o)
{
	const struct ec2_route *r = plan_route_find(t, &o->dst);

	if (cluster_on(c))
		move_note(c, t->id, &o->dst, r ? r->target : "",
			  o->kind == PLAN_DELETE ? "" : c->s.eni, true);
}

static int ec2_ok(struct cloud *c, enum job j, const char *body, size_t len)
{
	char err[EC2_ERRLEN] = "";
	struct ec2_perm *p;
	size_t np;
	bool on;

	switch (j) {
	case J_DESCRIBE_SDC:
		if (ec2_parse_source_dest_check(body, len, &on, err, sizeof(err)) < 0)
			goto bad;
		if (c->sdc != (int)on)
			log_info("aws: source/dest check of %s is %s", c->s.eni, on ? "on" : "off");
		c->sdc = on;
		c->sdc_stale = false;
		return 0;
	case J_MODIFY_SDC:
		if (ec2_parse_return(body, len, job_actions[j], err, sizeof(err)) < 0)
			goto bad;
		log_info("aws: turned off the source/dest check of %s", c->s.eni);
		c->sdc = 0;
		return 0;
	case J_DESCRIBE_RTB:
		if (tables_page(c, body, len, err, sizeof(err)) < 0)
			goto bad;
		return 0;
	case J_DESCRIBE_GROUPS:
		if (ec2_parse_group_set(body, len, c->groups, EC2_MAX_GROUPS, &c->ngroups, err,
					sizeof(err)) < 0)
			goto bad;
		c->sg_stale = false;
		c->sg_rules_stale = c->ngroups > 0;
		if (!c->ngroups) {
			ec2_perms_free(c->perms, c->nperms);
			c->perms = NULL;
			c->nperms = 0;
			c->sg_known = true;
			c->sg_error[0] = '\0';
		}
		return 0;
	case J_DESCRIBE_SG:
		if (ec2_parse_ingress(body, len, &p, &np, err, sizeof(err)) < 0)
			goto bad;
		ec2_perms_free(c->perms, c->nperms);
		c->perms = p;
		c->nperms = np;
		c->sg_rules_stale = false;
		c->sg_known = true;
		c->sg_error[0] = '\0';
		return 0;
	case J_DESCRIBE_PEERS:
		if (peers_answer(c, body, len, err, sizeof(err)) < 0)
			goto bad;
		return 0;
	case J_FLOAT_DESCRIBE:
	case J_FLOAT_HOLDER:
	case J_FLOAT_DETACH:
	case J_FLOAT_ATTACH:
	case J_EIP:
		if (float_answer(c, j, body, len, err, sizeof(err)) < 0)
			goto bad;
		return 0;
	case J_TAG:
		if (ec2_parse_return(body, len, job_actions[j], err, sizeof(err)) < 0)
			goto bad;
		log_info("aws: cluster %s: tagged %s with %s=%s", conf(c)->cluster, c->s.eni,
			 CLUSTER_TAG, conf(c)->cluster);
		c->peers_fresh = false; /* read again: then it is among them */
		c->rtb_stale = true;
		return 0;
	case J_ROUTE:
		if (ec2_parse_return(body, len, plan_action(c->cur_op.kind), err, sizeof(err)) < 0)
			goto bad;
		log_info("aws: %s: done", c->cur_desc);
		route_moved(c, &c->all[c->cur_op.table], &c->cur_op);
		if (c->wd_what && c->cur_op.kind == PLAN_DELETE)
			strs_add(&c->wd_removed, &c->nwd_removed, c->cur_desc);
		if (c->cur_op.kind == PLAN_DELETE)
			plan_route_unset(&c->all[c->cur_op.table], &c->cur_op.dst);
		else if (plan_route_set(&c->all[c->cur_op.table], &c->cur_op.dst, c->s.eni) < 0)
			c->rtb_stale = true;
		claims_settle(c);
		return 0;
	default:
		return 0;
	}
bad:
	if (j == J_DESCRIBE_GROUPS || j == J_DESCRIBE_SG) {
		/* advice only: recorded, tried again at the next drift check */
		snprintf(c->sg_error, sizeof(c->sg_error), "%s: unreadable answer: %s", c->cur_desc,
			 err);
		c->sg_stale = c->sg_rules_stale = false;
		c->sg_known = false;
		log_warnx("aws: %s", c->sg_error);
		return 0;
	}
	/* an answer we cannot read: what is in the cloud is unknown */
	set_error(c, "%s: unreadable answer: %s", c->cur_desc, err);
	c->rtb_stale = true;
	paging_drop(c);
	return -EINVAL;
}

/* The EC2 action of job j (the metrics' label). */
static const char *job_action(const struct cloud *c, enum job j)
{
	return j == J_ROUTE ? plan_action(c->cur_op.kind) : job_actions[j];
}

static void on_ec2(void *arg, long status, const char *body, size_t len, const char *error)
{
	struct cloud *c = arg;
	enum job j = c->cur;
	long long now = now_ms();
	struct ec2_error e;
	double in;

	c->cur = J_NONE;
	if (status == 200) {
		metrics_inc(VM_EC2_CALLS, job_action(c, j), "Success");
		metrics_stamp(VM_EC2_SUCCESS_AGE, now);
		if (ec2_ok(c, j, body, len) < 0)
			ec2_backoff_fail(&c->backoff, now);
		else
			ec2_backoff_ok(&c->backoff);
		cloud_kick(c);
		return;
	}
	if (j == J_DESCRIBE_RTB)
		paging_drop(c);
	ec2_error_of(status, body, len, error, &e);
	metrics_inc(VM_EC2_CALLS, job_action(c, j), e.code);
	switch (ec2_verdict(status, e.code, j == J_ROUTE)) {
	case EC2_RETRY:
		metrics_inc(VM_EC2_RETRIES);
		if (ec2_throttled(e.code))
			metrics_inc(VM_EC2_THROTTLES);
		ec2_backoff_fail(&c->backoff, now);
		in = (double)(c->backoff.retry_at - now) / 1000.0;
		set_error(c, "%s: %s (%s); retry in %.1f s", c->cur_desc, e.code, e.message, in);
		break;
	case EC2_AUTH:
		metrics_inc(VM_EC2_RETRIES);
		ec2_backoff_fail(&c->backoff, now);
		in = (double)(c->backoff.retry_at - now) / 1000.0;
		set_error(c, "%s: %s (%s): check the %s credentials; retry in %.1f s", c->cur_desc,
			  e.code, e.message, c->s.creds_src, in);
		aws_creds_refused(&c->s, now);
		break;
	case EC2_TABLE_CHANGED:
		log_info("aws: %s: %s: the table changed behind us; reading it again", c->cur_desc,
			 e.code);
		c->rtb_stale = true;
		break;
	case EC2_REFUSED:
		if (j == J_DESCRIBE_GROUPS || j == J_DESCRIBE_SG) {
			/* advice only (vpcroutectl doctor): never holds up the routes */
			snprintf(c->sg_error, sizeof(c->sg_error), "%s: %s (%s)", c->cur_desc,
				 e.code, e.message);
			log_warnx("aws: %s; the security groups are not checked until the next "
				  "drift check",
				  c->sg_error);
			c->sg_stale = c->sg_rules_stale = false;
			c->sg_known = false;
		} else if (float_job(j)) {
			float_refused(c, j, &e);
		} else if (j == J_TAG) {
			set_error(
				c,
				"%s: %s (%s): peers do not see this instance as one of cluster "
				"%s; allow ec2:CreateTags on it or tag it by hand; tried again at "
				"the next drift check",
				c->cur_desc, e.code, e.message, conf(c)->cluster);
			c->tag_refused = true;
		} else if (j == J_DESCRIBE_PEERS) {
			set_error(c,
				  "%s: %s (%s): the peers of cluster %s are unknown, so routes to "
				  "them count as conflicts; allow ec2:DescribeNetworkInterfaces",
				  c->cur_desc, e.code, e.message, conf(c)->cluster);
			c->peers_fresh = true; /* the tables go on with the peers last known */
		} else if (j == J_ROUTE) {
			char hint[STR_MAX], why[STR_MAX * 3];

			refusal_hint(c, e.code, &c->cur_op.dst, hint, sizeof(hint));
			snprintf(why, sizeof(why), "%s (%s)%s", e.code, e.message, hint);
			set_error(c, "%s: %s; not retried before the next check of the tables",
				  c->cur_desc, why);
			failed_add(c, c->all[c->cur_op.table].id, &c->cur_op.dst, why);
			if (c->wd_what && c->cur_op.kind == PLAN_DELETE) {
				snprintf(why, sizeof(why), "%s: %s (%s)", c->cur_desc, e.code,
					 e.message);
				strs_add(&c->wd_failed, &c->nwd_failed, why);
			}
		} else {
			set_error(c, "%s: %s (%s); retry at the next check in %u s", c->cur_desc,
				  e.code, e.message, conf(c)->drift_check_s);
			c->backoff.retry_at = now + conf(c)->drift_check_s * MS;
		}
		break;
	}
	cloud_kick(c);
}

/* --- life cycle --- */

struct cloud *cloud_new(struct agent *a, bool dry_run, char *err, size_t errlen)
{
	struct cloud *c = calloc(1, sizeof(*c));
	struct timespec ts;

	if (!c) {
		snprintf(err, errlen, "aws: out of memory");
		return NULL;
	}
	c->a = a;
	c->dry_run = dry_run;
	c->sdc = -1;
	c->tfd = -1;
	ec2_bucket_init(&c->bucket, now_ms());
	/* the first max_calls_burst calls go at once, then max_calls_per_s */
	ec2_bucket_burst(&c->bucket, conf(c)->max_calls_burst, true);
	if (aws_settings_resolve(&c->s, conf(c), err, errlen) < 0) {
		cloud_free(c);
		return NULL;
	}
	float_begin(c);
	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (c->tfd < 0 || !(c->http = http_new(err, errlen))) {
		if (c->tfd < 0)
			snprintf(err, errlen, "aws: timerfd: %s", strerror(errno));
		cloud_free(c);
		return NULL;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	srandom((unsigned)(ts.tv_nsec ^ getpid()));
	log_info("aws: EC2 API at %s, credentials from the %s, region from %s%s",
		 c->s.endpoint[0] ? c->s.endpoint : "(the region's endpoint)", c->s.creds_src,
		 c->s.region_src, dry_run ? "; dry run: no call that changes anything" : "");
	return c;
}

void cloud_free(struct cloud *c)
{
	if (!c)
		return;
	http_free(c->http);
	if (c->tfd >= 0)
		close(c->tfd);
	ec2_rtbs_free(c->all, c->nall);
	ec2_rtbs_free(c->paging, c->npaging);
	aws_settings_free(&c->s);
	free(c->want);
	plan_book_free(&c->book);
	free(c->failed);
	ec2_perms_free(c->perms, c->nperms);
	free(c->enis);
	free(c->peers);
	strs_free(&c->announced, &c->nannounced);
	strs_free(&c->wd_removed, &c->nwd_removed);
	strs_free(&c->wd_failed, &c->nwd_failed);
	strs_free(&c->quota_warned, &c->nquota_warned);
	free(c);
}

int cloud_reload(struct cloud *c, char *err, size_t errlen)
{
	struct aws_settings t = c->s;

	/* resolve into a copy: a bad environment or file changes nothing */
	if (aws_settings_resolve(&t, conf(c), err, errlen) < 0) {
		explicit_bzero(&t.creds, sizeof(t.creds));
		return -EINVAL;
	}
	aws_settings_reload(&c->s, &t);
	ec2_bucket_burst(&c->bucket, conf(c)->max_calls_burst, false);
	float_begin(c);
	if (c->retired)
		log_info("aws: reloaded: routes are made again after the withdraw");
	c->retired = false;
	c->next_drift = 0; /* everything is read again */
	c->backoff.fails = 0;
	c->backoff.retry_at = 0;
	cloud_kick(c);
	return 0;
}

int cloud_http_fd(const struct cloud *c)
{
	return http_fd(c->http);
}

int cloud_timer_fd(const struct cloud *c)
{
	return c->tfd;
}

/* The summaries in use now (cloud_summary_active), as bits of the
 * configuration's list (at most 64 of them: cfg.c allows 50). */
static uint64_t summaries_active(const struct cloud *c)
{
	const struct pfx_list *sm = &config(c)->aws.summaries;
	uint64_t bits = 0;

	for (size_t i = 0; i < sm->n && i < 64; i++)
		if (cloud_summary_active(c, &sm->v[i]))
			bits |= 1ull << i;
	return bits;
}

unsigned cloud_http_event(struct cloud *c)
{
	uint64_t before = summaries_active(c);
	unsigned news;

	http_run(c->http);
	if (summaries_active(c) != before)
		c->news |= CLOUD_SUMMARIES;
	news = c->news;
	c->news = 0;
	return news;
}

void cloud_timer_event(struct cloud *c)
{
	uint64_t x;

	if (read(c->tfd, &x, sizeof(x)) > 0)
		cloud_kick(c);
}

int cloud_port_open_from(const struct cloud *c, const char *proto, unsigned port,
			 const struct pfx *from)
{
	if (!c->sg_known)
		return -1;
	for (size_t i = 0; i < c->nperms; i++)
		if (ec2_perm_allows(&c->perms[i], proto, port, from))
			return 1;
	return 0;
}

int cloud_port_open(const struct cloud *c, const char *proto, unsigned port)
{
	return cloud_port_open_from(c, proto, port, NULL);
}

const struct pfx_list *cloud_vpc_cidrs(const struct cloud *c)
{
	return c->s.subnet[0] ? &c->s.cidrs : NULL;
}

bool cloud_summary_active(const struct cloud *c, const struct pfx *s)
{
	/* the wanted networks are sorted: the first at or after s is inside
	 * s when any is */
	size_t i = plan_pfx_pos(c->want, c->nwant, sizeof(*c->want), s);

	if (!route_table_api(c) || plan_summary_blocked(cloud_vpc_cidrs(c), s))
		return false;
	if (!c->retired && !c->wd_what && i < c->nwant && pfx_contains(s, &c->want[i].dst))
		return true;
	for (size_t t = 0; t < c->nall; t++) {
		const struct ec2_route *r = plan_route_find(&c->all[t], s);

		if (r && plan_route_ours(r, c->s.eni))
			return true;
	}
	return false;
}

/* --- status: reads, never changes anything, logs nothing --- */

static json_t *str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

static int pfx_cmp_v(const void *a, const void *b)
{
	return pfx_cmp(a, b);
}

/* The destinations of p's calls in table t, sorted: *n of them, NULL when
 * none (or out of memory: then nothing is shown as left out). */
static struct pfx *op_dsts(const struct plan *p, size_t t, size_t *n)
{
	struct pfx *v = p->nops ? malloc(p->nops * sizeof(*v)) : NULL;

	*n = 0;
	for (size_t i = 0; v && i < p->nops; i++)
		if (p->ops[i].table == t)
			v[(*n)++] = p->ops[i].dst;
	if (*n)
		qsort(v, *n, sizeof(*v), pfx_cmp_v);
	return v;
}

/* A missing route that the plan does not create (ops: op_dsts): the quota
 * leaves it out (plan_quota_check). */
static bool left_out(const struct cloud *c, const struct pfx *ops, size_t nops,
		     const struct pfx *dst)
{
	size_t i = plan_pfx_pos(ops, nops, sizeof(*ops), dst);

	return !c->retired && !c->wd_what && !(i < nops && pfx_equal(&ops[i], dst));
}

/* Table t; want: the wanted networks as the VPC sees them
 * (plan_want_summarize); p: the plan of now, with its bookkeeping. */
static json_t *table_status(const struct cloud *c, size_t t, const struct plan_want *want,
			    size_t nwant, const struct plan *p, long long now)
{
	const struct ec2_rtb *tb = &c->all[t];
	json_t *jt = json_object(), *routes = json_array();
	char d[PFX_STRLEN];
	size_t nops;
	struct pfx *ops = op_dsts(p, t, &nops);

	json_object_set_new(jt, "id", json_string(tb->id));
	json_object_set_new(jt, "main", json_boolean(tb->main));
	for (size_t i = 0; i < nwant; i++) {
		const struct ec2_route *r = plan_route_find(tb, &want[i].dst);
		const struct plan_failed *f = failed_find(c, tb->id, &want[i].dst);
		json_t *jr = json_object();
		const char *st =
			r && plan_route_ours(r, c->s.eni) ? "ours"
			: f				  ? "failed"
			: !r && (ops || !p->nops) && left_out(c, ops, nops, &want[i].dst)
				? "over quota"
			: !r		     ? "missing"
			: plan_route_dead(r) ? "to replace"
			: plan_route_among(r, (const char(*)[EC2_ID_MAX])c->peers, live_peers(c))
				? (want[i].claim ? "to claim" : "at peer")
			: conf(c)->takeover ? "to take over"
					    : "conflict";

		json_object_set_new(jr, "destination",
				    json_string(pfx_format(&want[i].dst, d, sizeof(d))));
		json_object_set_new(jr, "state", json_string(st));
		if (r)
			json_object_set_new(jr, "target", json_string(r->target));
		if (r && r->state[0])
			json_object_set_new(jr, "target_state", json_string(r->state));
		if (f && strcmp(st, "failed") == 0)
			json_object_set_new(jr, "error", json_string(f->error));
		json_array_append_new(routes, jr);
	}
	for (size_t i = 0; i < tb->nroutes; i++) {
		const struct ec2_route *r = &tb->routes[i];
		const struct plan_gone *g = plan_book_find(&p->book, &r->dst);
		long long due = g ? g->since + conf(c)->withdraw_grace_s * MS : 0;
		struct plan_in in = { .cfg = config(c),
				      .eni = c->s.eni,
				      .want = want,
				      .nwant = nwant,
				      .book = &p->book,
				      .vpc_cidrs = cloud_vpc_cidrs(c) };
		json_t *jr;

		if (!plan_route_ours(r, c->s.eni) || plan_want_find(want, nwant, &r->dst) ||
		    !r->dst.len)
			continue;
		jr = json_object();
		json_object_set_new(jr, "destination",
				    json_string(pfx_format(&r->dst, d, sizeof(d))));
		json_object_set_new(
			jr, "state",
			json_string(plan_unwanted(&in, r) ? "ours, not wanted" : "withdrawing"));
		json_object_set_new(jr, "target", json_string(r->target));
		if (g) /* the planner's grace; none for a call that failed */
			json_object_set_new(
				jr, "withdraw_in_s",
				json_integer(due > now ? (due - now + MS - 1) / MS : 0));
		json_array_append_new(routes, jr);
	}
	json_object_set_new(jt, "routes", routes);
	free(ops);
	return jt;
}

/* The route quota of table t: its routes per family, and the warning of
 * plan_quota_check (q, n) if there is one. */
static json_t *quota_status(const struct cloud *c, size_t t, const struct plan_quota *q, size_t n)
{
	const struct ec2_rtb *tb = &c->all[t];
	char msg[STR_MAX * 2] = "";
	json_int_t v4 = 0, v6 = 0;
	bool over = false;

	for (size_t i = 0; i < tb->nroutes; i++) {
		if (strcmp(tb->routes[i].origin, "EnableVgwRoutePropagation") == 0)
			continue;
		v4 += tb->routes[i].dst.family == AF_INET;
		v6 += tb->routes[i].dst.family == AF_INET6;
	}
	for (size_t i = 0; i < n; i++) {
		if (q[i].table != t || (msg[0] && !q[i].over))
			continue;
		quota_describe(c, &q[i], msg, sizeof(msg)); /* the worse of the families */
		over = q[i].over;
	}
	return json_pack("{s:i, s:I, s:I, s:o, s:b}", "limit", (int)conf(c)->route_quota, "ipv4",
			 v4, "ipv6", v6, "warning", str_or_null(msg), "over", over);
}

/* aws.summaries: each with how many wanted networks it stands for. */
static json_t *summaries_status(const struct cloud *c)
{
	const struct pfx_list *sm = &config(c)->aws.summaries;
	json_t *a = json_array();
	char d[PFX_STRLEN];

	for (size_t i = 0; i < sm->n; i++) {
		const struct pfx *blk = plan_summary_blocked(cloud_vpc_cidrs(c), &sm->v[i]);
		json_int_t n = 0;
		json_t *o;

		for (size_t k = 0; k < c->nwant; k++)
			n += pfx_contains(&sm->v[i], &c->want[k].dst);
		/* after vpcroutectl withdraw, nothing is announced until a reload,
		 * whatever the networks inside */
		o = json_pack("{s:s, s:I, s:s}", "prefix", pfx_format(&sm->v[i], d, sizeof(d)),
			      "networks", n, "state",
			      blk				? "not used"
			      : n && (c->retired || c->wd_what) ? "withdrawn"
			      : n				? "announced"
								: "idle");
		if (o && blk)
			json_object_set_new(o, "vpc_cidr_block",
					    json_string(pfx_format(blk, d, sizeof(d))));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *groups_status(const struct cloud *c)
{
	json_t *sg = json_object(), *ids = json_array(), *in = json_array();

	for (size_t i = 0; c->sg_known && i < c->ngroups; i++)
		json_array_append_new(ids, json_string(c->groups[i]));
	for (size_t i = 0; c->sg_known && i < c->nperms; i++) {
		const struct ec2_perm *p = &c->perms[i];
		json_t *src = json_array();
		char s[PFX_STRLEN];

		for (size_t k = 0; k < p->src.n; k++)
			json_array_append_new(src,
					      json_string(pfx_format(&p->src.v[k], s, sizeof(s))));
		json_array_append_new(in,
				      json_pack("{s:s, s:s, s:i, s:i, s:o, s:b}", "group", p->group,
						"proto", p->proto, "from", p->from, "to", p->to,
						"sources", src, "other_sources", p->other_src));
	}
	json_object_set_new(sg, "ids", ids);
	json_object_set_new(sg, "ingress", in);
	json_object_set_new(sg, "error", str_or_null(c->sg_error));
	return sg;
}

/* aws.cluster: the tagged interfaces, and the routes that moved lately. */
static json_t *cluster_status(const struct cloud *c, long long now)
{
	json_t *o = json_object(), *peers = json_array(), *moves = json_array();
	char d[PFX_STRLEN];

	for (size_t i = 0; i < c->nenis; i++) {
		const struct ec2_eni *e = &c->enis[i];
		bool ours = strcmp(e->id, c->s.eni) == 0;

		json_array_append_new(
			peers,
			json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:b}", "network_interface",
				  e->id, "instance", str_or_null(e->instance), "availability_zone",
				  str_or_null(e->az), "subnet", str_or_null(e->subnet), "status",
				  str_or_null(e->status), "attachment",
				  str_or_null(e->attach_status), "ours", ours, "live_peer",
				  c->npeers && bsearch(e->id, c->peers, c->npeers,
						       sizeof(*c->peers), peer_id_cmp) != NULL));
	}
	for (size_t k = 0; k < c->nmoves; k++) {
		const struct move *m = &c->moves[(c->moves_at + MOVES_MAX - 1 - k) % MOVES_MAX];

		json_array_append_new(moves,
				      json_pack("{s:s, s:s, s:o, s:o, s:s, s:f}", "table", m->table,
						"destination", pfx_format(&m->dst, d, sizeof(d)),
						"from", str_or_null(m->from), "to",
						str_or_null(m->to), "by", m->by_us ? "us" : "seen",
						"seconds_ago", (double)(now - m->at) / 1000.0));
	}
	json_object_set_new(o, "name", json_string(conf(c)->cluster));
	json_object_set_new(
		o, "tagged",
		json_boolean(c->peers_known && ec2_eni_find(c->enis, c->nenis, c->s.eni)));
	json_object_set_new(o, "peers_known", json_boolean(c->peers_known));
	json_object_set_new(o, "interfaces", peers);
	json_object_set_new(o, "moves", moves);
	return o;
}

/* aws.interface: where the floating interface is, null without one. */
static json_t *float_status(const struct cloud *c)
{
	if (!conf(c)->interface)
		return json_null();
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id", conf(c)->interface, "step",
			 fstep_names[c->fstep], "device", str_or_null(c->fl_device), "attached_to",
			 str_or_null(c->fl.instance), "primary", str_or_null(c->primary),
			 "elastic_ip", str_or_null(conf(c)->elastic_ip), "elastic_ip_associated",
			 json_boolean(c->eip_done));
}

static json_t *cluster_status_or_null(const struct cloud *c, long long now)
{
	return cluster_on(c) ? cluster_status(c, now) : json_null();
}

json_t *cloud_status(const struct cloud *c)
{
	json_t *o = json_object(), *tables = json_array(), *pending = json_array(),
	       *cidrs = json_array(), *creds = json_object();
	long long now = now_ms();
	char d[PFX_STRLEN], desc[STR_MAX];
	struct plan_want *sw = NULL;
	struct plan_quota *q = NULL;
	size_t nsw = 0, nq = 0;
	struct plan p;

	if (make_plan(c, now, &p) < 0)
		memset(&p, 0, sizeof(p));
	if (plan_want_summarize(config(c), cloud_vpc_cidrs(c), c->want, c->nwant, &sw, &nsw) < 0)
		nsw = 0;
	if (quota_of(c, &p, &q, &nq) < 0)
		nq = 0;
	json_object_set_new(o, "dry_run", json_boolean(c->dry_run));
	json_object_set_new(o, "routes", json_string(cfg_routes_name(conf(c)->routes)));
	json_object_set_new(o, "region", str_or_null(c->s.region));
	json_object_set_new(o, "region_source", json_string(c->s.region_src));
	json_object_set_new(o, "endpoint", str_or_null(c->s.endpoint));
	json_object_set_new(o, "instance", str_or_null(c->s.instance));
	json_object_set_new(o, "network_interface", str_or_null(c->s.eni));
	json_object_set_new(o, "vpc", str_or_null(c->s.vpc));
	json_object_set_new(o, "subnet", str_or_null(c->s.subnet));
	for (size_t i = 0; i < c->s.cidrs.n; i++)
		json_array_append_new(cidrs,
				      json_string(pfx_format(&c->s.cidrs.v[i], d, sizeof(d))));
	json_object_set_new(o, "vpc_cidr_blocks", cidrs);
	json_object_set_new(creds, "source", json_string(c->s.creds_src));
	json_object_set_new(creds, "access_key_id",
			    str_or_null(c->s.have_creds ? c->s.creds.key_id : NULL));
	if (c->s.role[0])
		json_object_set_new(creds, "role", json_string(c->s.role));
	json_object_set_new(o, "credentials", creds);
	json_object_set_new(o, "source_dest_check",
			    json_string(c->sdc < 0 ? "unknown"
					: c->sdc   ? "on"
						   : "off"));
	for (size_t t = 0; c->tables_known && t < c->nall; t++) {
		json_t *jt;

		if (!plan_table_used(conf(c), c->s.vpc, &c->all[t]))
			continue;
		jt = table_status(c, t, sw, nsw, &p, now);
		json_object_set_new(jt, "route_quota", quota_status(c, t, q, nq));
		json_array_append_new(tables, jt);
	}
	free(sw);
	free(q);
	json_object_set_new(o, "route_tables", tables);
	json_object_set_new(o, "summaries", summaries_status(c));
	json_object_set_new(o, "cluster", cluster_status_or_null(c, now));
	json_object_set_new(o, "floating_interface", float_status(c));
	json_object_set_new(o, "security_groups",
			    c->sg_known || c->sg_error[0] ? groups_status(c) : json_null());
	if (sdc_pending(c, desc, sizeof(desc)))
		json_array_append_new(pending, json_string(desc));
	for (size_t i = 0; i < p.nops; i++) {
		plan_op_describe(&p.ops[i], c->all, c->s.eni, desc, sizeof(desc));
		json_array_append_new(pending, json_string(desc));
	}
	plan_free(&p);
	json_object_set_new(o, "pending_calls", pending);
	json_object_set_new(o, "withdrawn", json_boolean(c->retired));
	json_object_set_new(o, "withdraw",
			    c->wd_what	  ? json_string("running")
			    : c->wd_asked ? cloud_withdraw_result(c)
					  : json_null());
	json_object_set_new(o, "in_flight", str_or_null(c->cur != J_NONE ? c->cur_desc : NULL));
	json_object_set_new(o, "last_error", str_or_null(c->last_error));
	json_object_set_new(o, "calls", json_integer((json_int_t)c->calls));
	json_object_set_new(o, "mutating_calls", json_integer((json_int_t)c->mutating_calls));
	json_object_set_new(o, "retries", json_integer((json_int_t)c->backoff.retries));
	json_object_set_new(
		o, "retry_in_ms",
		json_integer(c->backoff.retry_at > now ? c->backoff.retry_at - now : 0));
	return o;
}
