// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One request at a time, chosen by cloud_kick from what is known and what
 * is wanted:
 *
 *   IMDS token -> instance, region, MAC -> ENI, VPC, CIDR blocks, subnet
 *   -> role credentials (unless static ones were given)
 *   -> DescribeNetworkInterfaceAttribute, ModifyNetworkInterfaceAttribute
 *   -> DescribeRouteTables -> CreateRoute / ReplaceRoute / DeleteRoute
 *
 * The route changes are not queued: each turn recomputes the plan from the
 * tables as last described (updated after each successful call) and the
 * wanted networks, so that a network that comes and goes between two turns
 * costs nothing.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "cloud.h"
#include "ec2xml.h"
#include "http.h"
#include "imds.h"
#include "log.h"

#define IMDS_DEFAULT	"http://169.254.169.254"
#define IMDS_TTL_S	21600
#define IMDS_TIMEOUT_MS 2000
#define EC2_TIMEOUT_MS	10000
#define EC2_VERSION	"2016-11-15"
#define BACKOFF_BASE_MS 500
#define BACKOFF_CAP_MS	120000
#define CREDS_MARGIN_S	300
#define STR_MAX		256
#define MS		1000LL

enum job {
	J_NONE,
	J_TOKEN,
	J_INSTANCE,
	J_REGION,
	J_MAC,
	J_ENI,
	J_VPC,
	J_CIDRS,
	J_CIDRS6,
	J_SUBNET,
	J_ROLE,
	J_CREDS,
	J_DESCRIBE_SDC,
	J_MODIFY_SDC,
	J_DESCRIBE_RTB,
	J_DESCRIBE_GROUPS,
	J_DESCRIBE_SG,
	J_CREATE,
	J_REPLACE,
	J_DELETE,
};

static const char *const job_names[] = {
	[J_TOKEN] = "IMDS token",
	[J_INSTANCE] = "IMDS instance-id",
	[J_REGION] = "IMDS placement/region",
	[J_MAC] = "IMDS mac",
	[J_ENI] = "IMDS interface-id",
	[J_VPC] = "IMDS vpc-id",
	[J_CIDRS] = "IMDS vpc-ipv4-cidr-blocks",
	[J_CIDRS6] = "IMDS vpc-ipv6-cidr-blocks",
	[J_SUBNET] = "IMDS subnet-id",
	[J_ROLE] = "IMDS iam/security-credentials/",
	[J_CREDS] = "IMDS role credentials",
	[J_DESCRIBE_SDC] = "DescribeNetworkInterfaceAttribute",
	[J_MODIFY_SDC] = "ModifyNetworkInterfaceAttribute",
	[J_DESCRIBE_RTB] = "DescribeRouteTables",
	[J_DESCRIBE_GROUPS] = "DescribeNetworkInterfaceAttribute",
	[J_DESCRIBE_SG] = "DescribeSecurityGroups",
	[J_CREATE] = "CreateRoute",
	[J_REPLACE] = "ReplaceRoute",
	[J_DELETE] = "DeleteRoute",
};

/* A route change: the plan is a list of these. */
struct op {
	enum job job;
	size_t table;
	struct pfx dst;
};

/* A network that is ours in some table but no longer wanted, since when. */
struct gone {
	struct pfx dst;
	long long since;
	bool seen; /* still ours somewhere at the last plan */
};

/* A change that failed for a reason that retrying will not fix. */
struct failed {
	char table[EC2_ID_MAX];
	struct pfx dst;
	char code[64];
};

/* The wanted networks, sorted, each with how many contributions. */
struct want {
	struct pfx dst;
	unsigned refs;
};

struct cloud {
	struct agent *a;
	struct http *http;
	int tfd;
	bool dry_run;

	/* resolved at start and at reload */
	bool imds_off;
	char imds[STR_MAX], endpoint[STR_MAX], region[40];
	bool region_fixed, creds_fixed, endpoint_fixed;
	const char *region_src, *creds_src;

	/* IMDS */
	char token[IMDS_TOKEN_MAX + 1];
	long long token_until;
	char instance[EC2_ID_MAX], mac[18], eni[EC2_ID_MAX], vpc[EC2_ID_MAX], subnet[EC2_ID_MAX];
	char role[IMDS_ROLE_MAX + 1];
	struct pfx_list cidrs;
	bool cidrs6_done;
	struct imds_creds creds;
	bool have_creds;
	long long creds_refresh; /* monotonic ms; 0: static credentials */

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

	struct want *want;
	size_t nwant;
	struct gone *gone;
	size_t ngone;
	struct failed *failed;
	size_t nfailed;

	/* pacing */
	double tokens;
	long long tokens_at;
	unsigned fails;
	long long retry_at;

	/* the request in flight */
	enum job cur;
	struct op cur_op;
	char cur_desc[STR_MAX];

	/* reporting */
	char last_error[STR_MAX];
	char **announced; /* dry run: calls already logged */
	size_t nannounced;
	char **conflicts; /* conflicts already logged */
	size_t nconflicts;
	unsigned long calls, mutating_calls, retries;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * MS + ts.tv_nsec / 1000000;
}

static const struct cfg_aws *conf(const struct cloud *c)
{
	return &c->a->cfg->aws;
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

/* --- resolution: the configuration, then the environment, then IMDS or default --- */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int pick_url(char *out, const char *what, const char *const names[], const char *cfg,
		    const char *cfgkey, char *err, size_t errlen)
{
	if (cfg) {
		if (strlen(cfg) >= STR_MAX) {
			snprintf(err, errlen, "aws.%s: %s URL too long", cfgkey, what);
			return -EINVAL;
		}
		snprintf(out, STR_MAX, "%s", cfg);
		return 1;
	}
	for (size_t i = 0; names[i]; i++) {
		const char *v = env(names[i]);

		if (!v)
			continue;
		if (!cfg_valid_url(v) || strlen(v) >= STR_MAX || strpbrk(v, " \t\r\n")) {
			snprintf(err, errlen, "%s=\"%.80s\": not an http:// or https:// URL",
				 names[i], v);
			return -EINVAL;
		}
		snprintf(out, STR_MAX, "%s", v);
		return 1;
	}
	return 0;
}

static int resolve(struct cloud *c, char *err, size_t errlen)
{
	static const char *const ep_vars[] = { "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL", NULL };
	static const char *const imds_vars[] = { "AWS_EC2_METADATA_SERVICE_ENDPOINT", NULL };
	const struct cfg_aws *w = conf(c);
	const char *v, *key = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
	int r;

	v = env("AWS_EC2_METADATA_DISABLED");
	c->imds_off = v && strcasecmp(v, "true") == 0;
	if ((r = pick_url(c->imds, "metadata", imds_vars, w->imds_endpoint, "imds_endpoint", err,
			  errlen)) < 0)
		return r;
	if (r == 0)
		snprintf(c->imds, sizeof(c->imds), "%s", IMDS_DEFAULT);
	if ((r = pick_url(c->endpoint, "EC2", ep_vars, w->endpoint, "endpoint", err, errlen)) < 0)
		return r;
	c->endpoint_fixed = r;

	c->region_fixed = true;
	if ((v = w->region))
		c->region_src = "aws.region";
	else if ((v = env("AWS_REGION")))
		c->region_src = "AWS_REGION";
	else if ((v = env("AWS_DEFAULT_REGION")))
		c->region_src = "AWS_DEFAULT_REGION";
	else
		c->region_fixed = false;
	if (c->region_fixed) {
		if (!cfg_valid_region(v)) {
			snprintf(err, errlen, "%s=\"%.40s\": not an AWS region name", c->region_src,
				 v);
			return -EINVAL;
		}
		snprintf(c->region, sizeof(c->region), "%s", v);
	} else {
		c->region_src = "instance metadata";
	}

	c->creds_fixed = true;
	if (w->access_key_id) {
		key = w->access_key_id;
		secret = w->secret_access_key;
		v = w->session_token;
		c->creds_src = "configuration";
	} else if (key || secret) {
		if (!key || !secret) {
			snprintf(err, errlen, "%s is set without %s",
				 key ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
				 key ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
			return -EINVAL;
		}
		c->creds_src = "environment";
		v = env("AWS_SESSION_TOKEN");
	} else {
		c->creds_fixed = false;
		c->creds_src = "instance role";
	}
	if (c->creds_fixed) {
		if (strlen(key) > IMDS_KEYID_MAX || strlen(secret) > IMDS_SECRET_MAX ||
		    (v && strlen(v) > IMDS_SESSION_MAX) || aws_invisible(key) ||
		    aws_invisible(secret) || (v && aws_invisible(v))) {
			snprintf(err, errlen, "the %s credentials are too long or not printable",
				 c->creds_src);
			return -EINVAL;
		}
		memset(&c->creds, 0, sizeof(c->creds));
		strcpy(c->creds.key_id, key);
		strcpy(c->creds.secret, secret);
		if (v)
			strcpy(c->creds.token, v);
		c->have_creds = true;
		c->creds_refresh = 0;
	} else if (c->creds_refresh == 0) {
		c->have_creds = false; /* was static before the reload */
	}
	if (c->imds_off) {
		snprintf(err, errlen,
			 "AWS_EC2_METADATA_DISABLED is set: the agent needs the instance metadata "
			 "to learn its network interface");
		return -EINVAL;
	}
	return 0;
}

static void set_endpoint(struct cloud *c)
{
	if (c->endpoint_fixed || !c->region[0])
		return;
	snprintf(c->endpoint, sizeof(c->endpoint), "https://ec2.%s.amazonaws.com%s", c->region,
		 strncmp(c->region, "cn-", 3) == 0 ? ".cn" : "");
}

/* --- the wanted networks --- */

static void gone_add(struct cloud *c, const struct pfx *p);
static bool wanted(struct cloud *c, const struct pfx *p);

static struct want *want_find(struct cloud *c, const struct pfx *p, size_t *at)
{
	size_t lo = 0, hi = c->nwant;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = pfx_cmp(&c->want[mid].dst, p);

		if (r == 0) {
			*at = mid;
			return &c->want[mid];
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return NULL;
}

static void want_add(struct cloud *c, const struct pfx *p)
{
	size_t at;
	struct want *w = want_find(c, p, &at), *v;

	if (w) {
		w->refs++;
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
	c->nwant++;
}

static void want_del(struct cloud *c, const struct pfx *p)
{
	size_t at;
	struct want *w = want_find(c, p, &at);

	if (!w || --w->refs)
		return;
	gone_add(c, p);
	memmove(w, w + 1, (c->nwant - at - 1) * sizeof(*w));
	c->nwant--;
}

static int want_cmp(const void *x, const void *y)
{
	return pfx_cmp(&((const struct want *)x)->dst, &((const struct want *)y)->dst);
}

void cloud_want_set(struct cloud *c, const struct pfx_list *remote)
{
	struct want *old = c->want, *v = calloc(remote->n + 1, sizeof(*v));
	size_t nold = c->nwant, n = 0;

	if (!v) {
		log_warnx("aws: out of memory");
		return;
	}
	/* sorted once, then equal networks counted: no insertion one by one */
	for (size_t i = 0; i < remote->n; i++)
		v[i].dst = remote->v[i];
	if (remote->n)
		qsort(v, remote->n, sizeof(*v), want_cmp);
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
	for (size_t i = 0; i < nold; i++)
		if (!wanted(c, &old[i].dst))
			gone_add(c, &old[i].dst);
	free(old);
	cloud_kick(c);
}

void cloud_want_change(struct cloud *c, const struct pfx_list *del, const struct pfx_list *add)
{
	for (size_t i = 0; i < add->n; i++)
		want_add(c, &add->v[i]);
	for (size_t i = 0; i < del->n; i++)
		want_del(c, &del->v[i]);
	cloud_kick(c);
}

static bool wanted(struct cloud *c, const struct pfx *p)
{
	size_t at;

	return want_find(c, p, &at) != NULL;
}

/* --- the tables --- */

/* The tables the routes go into: the listed ids, or (auto) the VPC's main
 * table and every table explicitly associated with one of its subnets. */
static bool table_used(const struct cloud *c, const struct ec2_rtb *t)
{
	if (!conf(c)->route_tables_auto) {
		for (size_t i = 0; i < conf(c)->nroute_tables; i++)
			if (strcmp(conf(c)->route_tables[i], t->id) == 0)
				return true;
		return false;
	}
	return strcmp(t->vpc, c->vpc) == 0 && (t->main || t->nsubnets > 0);
}

static int route_dst_cmp(const void *x, const void *y)
{
	return pfx_cmp(&((const struct ec2_route *)x)->dst, &((const struct ec2_route *)y)->dst);
}

/* Each table's routes are kept sorted by destination: lookups are binary searches. */
static size_t route_pos(const struct ec2_rtb *t, const struct pfx *dst)
{
	size_t lo = 0, hi = t->nroutes;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (pfx_cmp(&t->routes[mid].dst, dst) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct ec2_route *route_in(struct ec2_rtb *t, const struct pfx *dst)
{
	size_t i = route_pos(t, dst);

	return i < t->nroutes && pfx_equal(&t->routes[i].dst, dst) ? &t->routes[i] : NULL;
}

static bool route_ours(const struct cloud *c, const struct ec2_route *r)
{
	return strcmp(r->kind, "networkInterfaceId") == 0 && strcmp(r->target, c->eni) == 0;
}

static bool inside_client(const struct cfg_client *cl, const struct pfx *p)
{
	return cl && (pfx_list_contains(&cl->allow, p) || pfx_list_contains(&cl->iroutes, p));
}

/*
 * Whether a route to our ENI for p can be one the agent made: p must be a
 * network its configuration could want (a pool, a network some client may
 * announce; client role: inside accept_routes, or anything but the local
 * networks when that is empty), never a default route. Others to our ENI,
 * such as an administrator's 0.0.0.0/0 through this NAT instance, are not
 * the agent's to withdraw.
 */
static bool may_own(const struct cloud *c, const struct pfx *p)
{
	const struct cfg *k = c->a->cfg;

	if (p->len == 0)
		return false;
	if (k->role == CFG_ROLE_CLIENT) {
		if (k->accept_routes.n)
			return pfx_list_contains(&k->accept_routes, p);
		return !pfx_list_overlap(&k->local, p);
	}
	if ((k->has_pool && pfx_contains(&k->pool, p)) ||
	    (k->has_pool6 && pfx_contains(&k->pool6, p)) || inside_client(k->default_client, p))
		return true;
	for (size_t i = 0; i < k->nclients; i++)
		if (inside_client(&k->clients[i], p))
			return true;
	return false;
}

static struct gone *gone_find(struct cloud *c, const struct pfx *p)
{
	for (size_t i = 0; i < c->ngone; i++)
		if (pfx_equal(&c->gone[i].dst, p))
			return &c->gone[i];
	return NULL;
}

/* A network wanted until now: ours to withdraw once its grace is over. */
static void gone_add(struct cloud *c, const struct pfx *p)
{
	struct gone *w;

	if (gone_find(c, p))
		return;
	w = realloc(c->gone, (c->ngone + 1) * sizeof(*w));
	if (!w)
		return;
	c->gone = w;
	w[c->ngone].dst = *p;
	w[c->ngone].since = now_ms();
	w[c->ngone++].seen = true;
}

static bool failed_has(struct cloud *c, const char *table, const struct pfx *p)
{
	for (size_t i = 0; i < c->nfailed; i++)
		if (pfx_equal(&c->failed[i].dst, p) && strcmp(c->failed[i].table, table) == 0)
			return true;
	return false;
}

static void failed_add(struct cloud *c, const char *table, const struct pfx *p, const char *code)
{
	struct failed *v = realloc(c->failed, (c->nfailed + 1) * sizeof(*v));

	if (!v)
		return;
	c->failed = v;
	memset(&v[c->nfailed], 0, sizeof(*v));
	snprintf(v[c->nfailed].table, sizeof(v->table), "%s", table);
	snprintf(v[c->nfailed].code, sizeof(v->code), "%s", code);
	v[c->nfailed++].dst = *p;
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

static void op_describe(const struct cloud *c, const struct op *o, char *buf, size_t len)
{
	char d[PFX_STRLEN];
	const struct ec2_rtb *t = &c->all[o->table];

	pfx_format(&o->dst, d, sizeof(d));
	if (o->job == J_DELETE)
		snprintf(buf, len, "DeleteRoute %s %s", t->id, d);
	else
		snprintf(buf, len, "%s %s %s -> %s", job_names[o->job], t->id, d, c->eni);
}

/*
 * Everything that would bring the tables to what is wanted, in the order
 * it would be done: additions first, then withdrawals whose grace is over.
 * Also notes networks that became unwanted and reports conflicts (once).
 */
static size_t plan(struct cloud *c, struct op **out, long long now, long long *next_expiry)
{
	struct op *v = NULL;
	size_t n = 0;
	char **seen = NULL;
	size_t nseen = 0;

	*next_expiry = 0;
	for (size_t t = 0; c->tables_known && t < c->nall; t++) {
		struct ec2_rtb *tb = &c->all[t];

		if (!table_used(c, tb))
			continue;
		for (size_t i = 0; i < c->nwant; i++) {
			const struct pfx *dst = &c->want[i].dst;
			struct ec2_route *r = route_in(tb, dst);
			struct op o = { .table = t, .dst = *dst };
			char d[PFX_STRLEN], msg[STR_MAX];

			if (failed_has(c, tb->id, dst))
				continue;
			if (!r) {
				o.job = J_CREATE;
			} else if (route_ours(c, r)) {
				continue;
			} else if (conf(c)->takeover) {
				o.job = J_REPLACE;
			} else {
				snprintf(msg, sizeof(msg), "%s %s -> %s %s", tb->id,
					 pfx_format(dst, d, sizeof(d)),
					 r->kind[0] ? r->kind : "(no target)", r->target);
				strs_add(&seen, &nseen, msg);
				if (!strs_has(c->conflicts, c->nconflicts, msg))
					log_warnx(
						"aws: conflict: route table %s sends %s to %s %s, "
						"not to us; left alone (aws.takeover is off)",
						tb->id, d, r->kind, r->target);
				continue;
			}
			struct op *w = realloc(v, (n + 1) * sizeof(*w));

			if (!w)
				break;
			v = w;
			v[n++] = o;
		}
	}
	strs_free(&c->conflicts, &c->nconflicts);
	c->conflicts = seen;
	c->nconflicts = nseen;

	/* ours but unwanted: withdrawn once unwanted for the grace period */
	for (size_t i = 0; i < c->ngone; i++)
		c->gone[i].seen = false;
	for (size_t t = 0; c->tables_known && t < c->nall; t++) {
		struct ec2_rtb *tb = &c->all[t];

		if (!table_used(c, tb))
			continue;
		for (size_t i = 0; i < tb->nroutes; i++) {
			struct ec2_route *r = &tb->routes[i];
			struct gone *g;
			long long due;

			if (!route_ours(c, r) || wanted(c, &r->dst) ||
			    failed_has(c, tb->id, &r->dst))
				continue;
			if (!(g = gone_find(c, &r->dst)) && !may_own(c, &r->dst))
				continue; /* to our ENI, but not of our making */
			if (!g) {
				struct gone *w = realloc(c->gone, (c->ngone + 1) * sizeof(*w));

				if (!w)
					continue;
				c->gone = w;
				g = &w[c->ngone++];
				g->dst = r->dst;
				g->since = now;
			}
			g->seen = true;
			due = g->since + conf(c)->withdraw_grace_s * MS;
			if (now < due) {
				if (!*next_expiry || due < *next_expiry)
					*next_expiry = due;
				continue;
			}
			struct op *w = realloc(v, (n + 1) * sizeof(*w));

			if (!w)
				break;
			v = w;
			v[n].job = J_DELETE;
			v[n].table = t;
			v[n++].dst = r->dst;
		}
	}
	/* wanted again, or withdrawn everywhere: forgotten */
	for (size_t i = 0; c->tables_known && i < c->ngone;)
		if (!c->gone[i].seen)
			c->gone[i] = c->gone[--c->ngone];
		else
			i++;
	*out = v;
	return n;
}

/* --- pacing --- */

static void refill(struct cloud *c, long long now)
{
	double rate = conf(c)->max_calls_per_s, cap = rate < 1 ? 1 : rate;

	c->tokens += (double)(now - c->tokens_at) * rate / 1000.0;
	if (c->tokens > cap)
		c->tokens = cap;
	c->tokens_at = now;
}

/* When the next mutating call may go, 0 if now. */
static long long budget_wait(struct cloud *c, long long now)
{
	refill(c, now);
	if (c->tokens >= 1.0)
		return 0;
	return now + (long long)ceil((1.0 - c->tokens) * 1000.0 / conf(c)->max_calls_per_s);
}

static void backoff(struct cloud *c, long long now)
{
	long long d = BACKOFF_BASE_MS << (c->fails < 12 ? c->fails : 12);

	if (d > BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	/* "equal jitter": between half the delay and all of it */
	d = d / 2 + (long long)(random() % (d / 2 + 1));
	c->fails++;
	c->retries++;
	c->retry_at = now + d;
}

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

/* --- requests --- */

static void on_imds(void *arg, long status, const char *body, size_t len, const char *error);
static void on_ec2(void *arg, long status, const char *body, size_t len, const char *error);

static int imds_request(struct cloud *c, enum job j, const char *path)
{
	char url[STR_MAX * 2], ttl[64], tok[IMDS_TOKEN_MAX + 32];
	const char *hdr[2] = { NULL, NULL };
	struct http_req r = { .method = "GET",
			      .url = url,
			      .headers = hdr,
			      .timeout_ms = IMDS_TIMEOUT_MS,
			      .no_proxy = 1 };

	snprintf(url, sizeof(url), "%s%s", c->imds, path);
	if (j == J_TOKEN) {
		r.method = "PUT";
		snprintf(ttl, sizeof(ttl), "X-aws-ec2-metadata-token-ttl-seconds: %d", IMDS_TTL_S);
		hdr[0] = ttl;
	} else {
		snprintf(tok, sizeof(tok), "X-aws-ec2-metadata-token: %s", c->token);
		hdr[0] = tok;
	}
	c->cur = j;
	snprintf(c->cur_desc, sizeof(c->cur_desc), "%s", job_names[j]);
	c->calls++;
	return http_start(c->http, &r, on_imds, c);
}

/* application/x-www-form-urlencoded, RFC 3986 unreserved kept. */
static void form_add(char *buf, size_t len, const char *key, const char *val)
{
	size_t n = strlen(buf);

	n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s=", n ? "&" : "", key);
	for (const unsigned char *p = (const unsigned char *)val; *p && n + 4 < len; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-_.~", *p))
			buf[n++] = (char)*p;
		else
			n += (size_t)snprintf(buf + n, len - n, "%%%02X", *p);
	}
	buf[n < len ? n : len - 1] = '\0';
}

static int ec2_request(struct cloud *c, enum job j, const char *form, const char *desc)
{
	char body[16384], url[STR_MAX + 2], provider[80], tok[IMDS_SESSION_MAX + 32];
	const char *hdr[3] = { "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
			       NULL, NULL };
	struct http_req r = { .method = "POST",
			      .url = url,
			      .headers = hdr,
			      .body = body,
			      .timeout_ms = EC2_TIMEOUT_MS,
			      .sigv4 = provider,
			      .user = c->creds.key_id,
			      .password = c->creds.secret };

	snprintf(body, sizeof(body), "Action=%s&Version=%s%s%s", job_names[j], EC2_VERSION,
		 form[0] ? "&" : "", form);
	snprintf(url, sizeof(url), "%s/", c->endpoint);
	snprintf(provider, sizeof(provider), "aws:amz:%s:ec2", c->region);
	if (c->creds.token[0]) {
		snprintf(tok, sizeof(tok), "X-Amz-Security-Token: %s", c->creds.token);
		hdr[1] = tok;
	}
	c->cur = j;
	snprintf(c->cur_desc, sizeof(c->cur_desc), "%s", desc);
	c->calls++;
	log_debug("aws: %s", desc);
	return http_start(c->http, &r, on_ec2, c);
}

static void dst_param(char *form, size_t len, const struct pfx *p)
{
	char d[PFX_STRLEN];

	form_add(form, len,
		 p->family == AF_INET ? "DestinationCidrBlock" : "DestinationIpv6CidrBlock",
		 pfx_format(p, d, sizeof(d)));
}

static int start_op(struct cloud *c, const struct op *o)
{
	char form[1024] = "", desc[STR_MAX];

	form_add(form, sizeof(form), "RouteTableId", c->all[o->table].id);
	dst_param(form, sizeof(form), &o->dst);
	if (o->job != J_DELETE)
		form_add(form, sizeof(form), "NetworkInterfaceId", c->eni);
	op_describe(c, o, desc, sizeof(desc));
	c->cur_op = *o;
	c->tokens -= 1.0;
	c->mutating_calls++;
	return ec2_request(c, o->job, form, desc);
}

static int describe_tables(struct cloud *c)
{
	char form[12288] = "", k[40];

	if (conf(c)->route_tables_auto) {
		form_add(form, sizeof(form), "Filter.1.Name", "vpc-id");
		form_add(form, sizeof(form), "Filter.1.Value.1", c->vpc);
	} else {
		for (size_t i = 0; i < conf(c)->nroute_tables; i++) {
			snprintf(k, sizeof(k), "RouteTableId.%zu", i + 1);
			form_add(form, sizeof(form), k, conf(c)->route_tables[i]);
		}
	}
	if (c->next_token[0])
		form_add(form, sizeof(form), "NextToken", c->next_token);
	return ec2_request(c, J_DESCRIBE_RTB, form, "DescribeRouteTables");
}

/* The next IMDS request, or J_NONE when discovery and credentials are done. */
static enum job imds_next(struct cloud *c, long long now)
{
	bool need_creds = !c->creds_fixed && (!c->have_creds || now >= c->creds_refresh);

	if (!c->token[0] || now >= c->token_until)
		return (c->eni[0] && c->cidrs.n && c->cidrs6_done && c->region[0] && !need_creds)
			       ? J_NONE
			       : J_TOKEN;
	if (!c->instance[0])
		return J_INSTANCE;
	if (!c->region[0])
		return J_REGION;
	if (!c->mac[0])
		return J_MAC;
	if (!c->eni[0])
		return J_ENI;
	if (!c->vpc[0])
		return J_VPC;
	if (!c->cidrs.n)
		return J_CIDRS;
	if (!c->cidrs6_done)
		return J_CIDRS6;
	if (!c->subnet[0])
		return J_SUBNET;
	if (need_creds)
		return c->role[0] ? J_CREDS : J_ROLE;
	return J_NONE;
}

static int start_imds(struct cloud *c, enum job j)
{
	char path[STR_MAX];
	const char *mac = "/latest/meta-data/network/interfaces/macs/";

	switch (j) {
	case J_TOKEN:
		return imds_request(c, j, "/latest/api/token");
	case J_INSTANCE:
		return imds_request(c, j, "/latest/meta-data/instance-id");
	case J_REGION:
		return imds_request(c, j, "/latest/meta-data/placement/region");
	case J_MAC:
		return imds_request(c, j, "/latest/meta-data/mac");
	case J_ENI:
		snprintf(path, sizeof(path), "%s%s/interface-id", mac, c->mac);
		break;
	case J_VPC:
		snprintf(path, sizeof(path), "%s%s/vpc-id", mac, c->mac);
		break;
	case J_CIDRS:
		snprintf(path, sizeof(path), "%s%s/vpc-ipv4-cidr-blocks", mac, c->mac);
		break;
	case J_CIDRS6:
		snprintf(path, sizeof(path), "%s%s/vpc-ipv6-cidr-blocks", mac, c->mac);
		break;
	case J_SUBNET:
		snprintf(path, sizeof(path), "%s%s/subnet-id", mac, c->mac);
		break;
	case J_ROLE:
		return imds_request(c, j, "/latest/meta-data/iam/security-credentials/");
	case J_CREDS:
		snprintf(path, sizeof(path), "/latest/meta-data/iam/security-credentials/%s",
			 c->role);
		break;
	default:
		return -EINVAL;
	}
	return imds_request(c, j, path);
}

static void announce(struct cloud *c, const struct op *ops, size_t n)
{
	char **now = NULL, desc[STR_MAX];
	size_t nnow = 0;

	for (size_t i = 0; i < n; i++) {
		op_describe(c, &ops[i], desc, sizeof(desc));
		if (!strs_has(c->announced, c->nannounced, desc))
			log_info("aws: dry run: would call %s", desc);
		strs_add(&now, &nnow, desc);
	}
	strs_free(&c->announced, &c->nannounced);
	c->announced = now;
	c->nannounced = nnow;
}

/* Whether the source/dest check is to be turned off; desc names the call. */
static bool sdc_pending(const struct cloud *c, char *desc, size_t len)
{
	if (c->sdc != 1 || !conf(c)->disable_source_dest_check)
		return false;
	snprintf(desc, len, "ModifyNetworkInterfaceAttribute %s SourceDestCheck=false", c->eni);
	return true;
}

void cloud_kick(struct cloud *c)
{
	long long now = now_ms(), wake = 0, expiry, w;
	char desc[STR_MAX];
	struct op *ops = NULL;
	size_t nops;
	enum job j;
	int r = 0;

#define WAKE(t) (wake = (!wake || (t) < wake) ? (t) : wake)
	if (c->cur != J_NONE)
		return; /* one at a time: the answer kicks again */
	if (now < c->retry_at) {
		arm(c, c->retry_at);
		return;
	}
	if ((j = imds_next(c, now)) != J_NONE) {
		if ((r = start_imds(c, j)) < 0)
			goto fail;
		return;
	}
	if (!c->have_creds || !c->eni[0] || !c->endpoint[0])
		return;
	if (now >= c->next_drift) {
		c->sdc_stale = conf(c)->disable_source_dest_check;
		c->rtb_stale = true;
		c->sg_stale = true;
		c->nfailed = 0; /* give what failed for good another chance */
		c->next_drift = now + conf(c)->drift_check_s * MS;
	}
	if (c->sdc_stale) {
		char form[256] = "";

		form_add(form, sizeof(form), "NetworkInterfaceId", c->eni);
		form_add(form, sizeof(form), "Attribute", "sourceDestCheck");
		r = ec2_request(c, J_DESCRIBE_SDC, form, "DescribeNetworkInterfaceAttribute");
		goto started;
	}
	if (sdc_pending(c, desc, sizeof(desc))) {
		char form[256] = "";

		if (c->dry_run) {
			if (!strs_has(c->announced, c->nannounced, desc))
				log_info("aws: dry run: would call %s", desc);
		} else if ((w = budget_wait(c, now))) {
			arm(c, w);
			return;
		} else {
			form_add(form, sizeof(form), "NetworkInterfaceId", c->eni);
			form_add(form, sizeof(form), "SourceDestCheck.Value", "false");
			c->tokens -= 1.0;
			c->mutating_calls++;
			r = ec2_request(c, J_MODIFY_SDC, form, desc);
			goto started;
		}
	}
	if (c->rtb_stale) {
		r = describe_tables(c);
		goto started;
	}
	if (c->sg_stale || c->sg_rules_stale) {
		char form[2048] = "", k[32];

		if (c->sg_stale) {
			form_add(form, sizeof(form), "NetworkInterfaceId", c->eni);
			form_add(form, sizeof(form), "Attribute", "groupSet");
			r = ec2_request(c, J_DESCRIBE_GROUPS, form,
					"DescribeNetworkInterfaceAttribute groupSet");
		} else {
			for (size_t i = 0; i < c->ngroups; i++) {
				snprintf(k, sizeof(k), "GroupId.%zu", i + 1);
				form_add(form, sizeof(form), k, c->groups[i]);
			}
			r = ec2_request(c, J_DESCRIBE_SG, form, "DescribeSecurityGroups");
		}
		goto started;
	}
	nops = plan(c, &ops, now, &expiry);
	if (expiry)
		WAKE(expiry);
	if (c->dry_run) {
		announce(c, ops, nops);
		nops = 0;
	}
	if (nops) {
		if ((w = budget_wait(c, now))) {
			WAKE(w);
		} else {
			r = start_op(c, &ops[0]);
			free(ops);
			goto started;
		}
	}
	free(ops);
	WAKE(c->next_drift);
	if (!c->creds_fixed && c->creds_refresh)
		WAKE(c->creds_refresh);
	arm(c, wake);
	return;
started:
	if (r >= 0)
		return;
fail:
	c->cur = J_NONE;
	set_error(c, "cannot start a request: %s", strerror(-r));
	backoff(c, now);
	arm(c, c->retry_at);
#undef WAKE
}

/* --- answers --- */

static void imds_done(struct cloud *c, enum job j, const char *body, size_t len, long long now)
{
	char err[IMDS_ERRLEN] = "", d[PFX_STRLEN];
	struct imds_creds cr;
	int r = 0;

	switch (j) {
	case J_TOKEN:
		r = imds_parse_token(body, len, c->token, sizeof(c->token), err, sizeof(err));
		c->token_until = now + (IMDS_TTL_S - 60) * MS;
		break;
	case J_INSTANCE:
		r = imds_parse_id(body, len, "i-", c->instance, sizeof(c->instance), err,
				  sizeof(err));
		break;
	case J_REGION:
		r = imds_parse_region(body, len, c->region, sizeof(c->region), err, sizeof(err));
		if (r == 0)
			set_endpoint(c);
		break;
	case J_MAC:
		r = imds_parse_mac(body, len, c->mac, sizeof(c->mac), err, sizeof(err));
		break;
	case J_ENI:
		r = imds_parse_id(body, len, "eni-", c->eni, sizeof(c->eni), err, sizeof(err));
		break;
	case J_VPC:
		r = imds_parse_id(body, len, "vpc-", c->vpc, sizeof(c->vpc), err, sizeof(err));
		break;
	case J_CIDRS:
	case J_CIDRS6: {
		struct pfx_list l = { 0 };

		if (j == J_CIDRS6 && (len == 0 || (len == 1 && body[0] == '\n'))) {
			c->cidrs6_done = true; /* no IPv6 block */
			break;
		}

		if ((r = imds_parse_cidrs(body, len, &l, err, sizeof(err))) < 0)
			break;
		for (size_t i = 0; i < l.n; i++)
			if ((l.v[i].family == AF_INET) != (j == J_CIDRS)) {
				r = -EINVAL;
				snprintf(err, sizeof(err), "%s is of the wrong family",
					 pfx_format(&l.v[i], d, sizeof(d)));
			}
		for (size_t i = 0; r == 0 && i < l.n; i++)
			pfx_list_add(&c->cidrs, &l.v[i], 128);
		pfx_list_free(&l);
		if (j == J_CIDRS6 && r == 0)
			c->cidrs6_done = true;
		break;
	}
	case J_SUBNET:
		r = imds_parse_id(body, len, "subnet-", c->subnet, sizeof(c->subnet), err,
				  sizeof(err));
		if (r == 0) {
			char cidrs[512];

			pfx_list_format(&c->cidrs, ", ", cidrs, sizeof(cidrs));
			log_info("aws: instance %s in %s (region from %s), interface %s, %s %s, "
				 "subnet %s",
				 c->instance, c->region, c->region_src, c->eni, c->vpc, cidrs,
				 c->subnet);
			state_local_auto(c->a, true);
		}
		break;
	case J_ROLE:
		r = imds_parse_role(body, len, c->role, sizeof(c->role), err, sizeof(err));
		break;
	case J_CREDS: {
		time_t wall = time(NULL);
		long long left, margin;

		if ((r = imds_parse_creds(body, len, &cr, err, sizeof(err))) < 0)
			break;
		left = (long long)(cr.expiration - wall);
		if (left < 1) {
			r = -EINVAL;
			snprintf(err, sizeof(err), "the credentials of role %s expired already",
				 c->role);
			break;
		}
		/* renewed well before expiry: 5 minutes, or half their life if shorter */
		margin = left / 2 < CREDS_MARGIN_S ? left / 2 : CREDS_MARGIN_S;
		c->creds = cr;
		c->have_creds = true;
		c->creds_refresh = now + (left - margin) * MS;
		log_info("aws: credentials of role %s (%s), valid for %llds", c->role, cr.key_id,
			 left);
		explicit_bzero(&cr, sizeof(cr));
		break;
	}
	default:
		break;
	}
	if (r < 0) {
		set_error(c, "%s: %s", job_names[j], err);
		backoff(c, now);
	} else {
		c->fails = 0;
	}
}

static void on_imds(void *arg, long status, const char *body, size_t len, const char *error)
{
	struct cloud *c = arg;
	enum job j = c->cur;
	long long now = now_ms();

	c->cur = J_NONE;
	if (status == 200) {
		imds_done(c, j, body, len, now);
	} else if (status == 401 && j != J_TOKEN) {
		log_info("aws: IMDS token refused (expired?): getting a new one");
		c->token[0] = '\0';
	} else if (status == 404 && j == J_CIDRS6) {
		c->cidrs6_done = true; /* no IPv6 in this VPC */
	} else if (status == 404 && j == J_ROLE) {
		set_error(c, "no credentials: no AWS_ACCESS_KEY_ID, nothing in the configuration, "
			     "and no IAM role attached to the instance");
		backoff(c, now);
	} else {
		if (status)
			set_error(c, "%s: HTTP status %ld from %s", job_names[j], status, c->imds);
		else
			set_error(c, "%s: %s: %s", job_names[j], c->imds, error);
		backoff(c, now);
	}
	cloud_kick(c);
}

static bool retryable(long status, const char *code)
{
	static const char *const codes[] = {
		"RequestLimitExceeded", "Throttling",	   "ThrottlingException",
		"InternalError",	"InternalFailure", "ServiceUnavailable",
		"Unavailable",		"RequestTimeout",  NULL
	};

	if (status == 0 || status >= 500)
		return true;
	for (size_t i = 0; codes[i]; i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

static bool auth_error(const char *code)
{
	static const char *const codes[] = { "AuthFailure",
					     "InvalidClientTokenId",
					     "SignatureDoesNotMatch",
					     "ExpiredToken",
					     "RequestExpired",
					     "IncompleteSignature",
					     NULL };

	for (size_t i = 0; codes[i]; i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

static void route_set(struct cloud *c, struct ec2_rtb *t, const struct pfx *dst)
{
	struct ec2_route *r = route_in(t, dst), *v;

	if (!r) {
		size_t at = route_pos(t, dst);

		v = realloc(t->routes, (t->nroutes + 1) * sizeof(*v));
		if (!v) {
			c->rtb_stale = true;
			return;
		}
		t->routes = v;
		memmove(v + at + 1, v + at, (t->nroutes++ - at) * sizeof(*v));
		r = &v[at];
	}
	memset(r, 0, sizeof(*r));
	r->dst = *dst;
	snprintf(r->kind, sizeof(r->kind), "networkInterfaceId");
	snprintf(r->target, sizeof(r->target), "%s", c->eni);
	snprintf(r->state, sizeof(r->state), "active");
	snprintf(r->origin, sizeof(r->origin), "CreateRoute");
}

static void route_unset(struct ec2_rtb *t, const struct pfx *dst)
{
	struct ec2_route *r = route_in(t, dst);

	if (r)
		memmove(r, r + 1, (size_t)(t->routes + --t->nroutes - r) * sizeof(*r));
}

static int ec2_ok(struct cloud *c, enum job j, const char *body, size_t len)
{
	char err[EC2_ERRLEN] = "";
	struct ec2_rtb *t;
	size_t n;
	bool on;

	switch (j) {
	case J_DESCRIBE_SDC:
		if (ec2_parse_source_dest_check(body, len, &on, err, sizeof(err)) < 0)
			goto bad;
		if (c->sdc != (int)on)
			log_info("aws: source/dest check of %s is %s", c->eni, on ? "on" : "off");
		c->sdc = on;
		c->sdc_stale = false;
		return 0;
	case J_MODIFY_SDC:
		if (ec2_parse_return(body, len, job_names[j], err, sizeof(err)) < 0)
			goto bad;
		log_info("aws: turned off the source/dest check of %s", c->eni);
		c->sdc = 0;
		return 0;
	case J_DESCRIBE_RTB:
		if (ec2_parse_route_tables(body, len, &t, &n, c->next_token, sizeof(c->next_token),
					   err, sizeof(err)) < 0)
			goto bad;
		if (c->npaging + n > EC2_MAX_TABLES) {
			ec2_rtbs_free(t, n);
			snprintf(err, sizeof(err), "more than %d route tables", EC2_MAX_TABLES);
			goto bad;
		}
		if (n) {
			struct ec2_rtb *v = realloc(c->paging, (c->npaging + n) * sizeof(*v));

			if (!v) {
				ec2_rtbs_free(t, n);
				snprintf(err, sizeof(err), "out of memory");
				goto bad;
			}
			c->paging = v;
			memcpy(v + c->npaging, t, n * sizeof(*t));
			c->npaging += n;
			free(t);
		}
		if (c->next_token[0])
			return 0; /* the next page comes next */
		ec2_rtbs_free(c->all, c->nall);
		c->all = c->paging;
		c->nall = c->npaging;
		c->paging = NULL;
		c->npaging = 0;
		c->tables_known = true;
		for (size_t i = 0; i < c->nall; i++)
			if (c->all[i].nroutes)
				qsort(c->all[i].routes, c->all[i].nroutes,
				      sizeof(*c->all[i].routes), route_dst_cmp);
		c->rtb_stale = false;
		n = 0;
		for (size_t i = 0; i < c->nall; i++)
			n += table_used(c, &c->all[i]);
		log_debug("aws: %zu route tables described, %zu in use", c->nall, n);
		if (!n)
			set_error(c, "no route table to program: %s",
				  conf(c)->route_tables_auto
					  ? "the VPC has no main table and no subnet association"
					  : "none of aws.route_tables exists");
		return 0;
	case J_DESCRIBE_GROUPS:
		if (ec2_parse_group_set(body, len, c->groups, EC2_MAX_GROUPS, &c->ngroups, err,
					sizeof(err)) < 0)
			goto bad;
		c->sg_stale = false;
		c->sg_rules_stale = c->ngroups > 0;
		if (!c->ngroups) {
			free(c->perms);
			c->perms = NULL;
			c->nperms = 0;
			c->sg_known = true;
			c->sg_error[0] = '\0';
		}
		return 0;
	case J_DESCRIBE_SG: {
		struct ec2_perm *p;
		size_t np;

		if (ec2_parse_ingress(body, len, &p, &np, err, sizeof(err)) < 0)
			goto bad;
		free(c->perms);
		c->perms = p;
		c->nperms = np;
		c->sg_rules_stale = false;
		c->sg_known = true;
		c->sg_error[0] = '\0';
		return 0;
	}
	case J_CREATE:
	case J_REPLACE:
	case J_DELETE:
		if (ec2_parse_return(body, len, job_names[j], err, sizeof(err)) < 0)
			goto bad;
		log_info("aws: %s: done", c->cur_desc);
		if (j == J_DELETE) {
			route_unset(&c->all[c->cur_op.table], &c->cur_op.dst);
		} else {
			route_set(c, &c->all[c->cur_op.table], &c->cur_op.dst);
		}
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
	ec2_rtbs_free(c->paging, c->npaging);
	c->paging = NULL;
	c->npaging = 0;
	c->next_token[0] = '\0';
	return -EINVAL;
}

static bool is_route_job(enum job j)
{
	return j == J_CREATE || j == J_REPLACE || j == J_DELETE;
}

static void on_ec2(void *arg, long status, const char *body, size_t len, const char *error)
{
	struct cloud *c = arg;
	enum job j = c->cur;
	long long now = now_ms();
	struct ec2_error e = { 0 };

	c->cur = J_NONE;
	if (status == 200) {
		if (ec2_ok(c, j, body, len) < 0)
			backoff(c, now);
		else
			c->fails = 0;
		cloud_kick(c);
		return;
	}
	if (j == J_DESCRIBE_RTB) {
		ec2_rtbs_free(c->paging, c->npaging);
		c->paging = NULL;
		c->npaging = 0;
		c->next_token[0] = '\0';
	}
	if (status && ec2_parse_error(body, len, &e) != 1) {
		snprintf(e.code, sizeof(e.code), "HTTP %ld", status);
		snprintf(e.message, sizeof(e.message), "no EC2 error document in the answer");
	} else if (!status) {
		snprintf(e.code, sizeof(e.code), "no answer");
		snprintf(e.message, sizeof(e.message), "%s", error ? error : "?");
	}
	if (retryable(status, e.code)) {
		backoff(c, now);
		set_error(c, "%s: %s (%s); retry in %.1f s", c->cur_desc, e.code, e.message,
			  (double)(c->retry_at - now) / 1000.0);
	} else if (auth_error(e.code)) {
		backoff(c, now);
		set_error(c, "%s: %s (%s): check the %s credentials; retry in %.1f s", c->cur_desc,
			  e.code, e.message, c->creds_src, (double)(c->retry_at - now) / 1000.0);
		if (!c->creds_fixed)
			c->creds_refresh = now; /* fetch the role's credentials again */
	} else if (is_route_job(j) && (strcmp(e.code, "InvalidRoute.NotFound") == 0 ||
				       strcmp(e.code, "RouteAlreadyExists") == 0)) {
		log_info("aws: %s: %s: the table changed behind us; reading it again", c->cur_desc,
			 e.code);
		c->rtb_stale = true;
	} else if (j == J_DESCRIBE_GROUPS || j == J_DESCRIBE_SG) {
		/* advice only (vpcroutectl doctor): never holds up the routes */
		snprintf(c->sg_error, sizeof(c->sg_error), "%s: %s (%s)", c->cur_desc, e.code,
			 e.message);
		log_warnx("aws: %s; the security groups are not checked until the next drift check",
			  c->sg_error);
		c->sg_stale = c->sg_rules_stale = false;
		c->sg_known = false;
	} else if (is_route_job(j)) {
		set_error(c, "%s: %s (%s); not retried before the next check of the tables",
			  c->cur_desc, e.code, e.message);
		failed_add(c, c->all[c->cur_op.table].id, &c->cur_op.dst, e.code);
	} else {
		set_error(c, "%s: %s (%s); retry at the next check in %u s", c->cur_desc, e.code,
			  e.message, conf(c)->drift_check_s);
		c->retry_at = now + conf(c)->drift_check_s * MS;
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
	c->tokens = 1.0;
	c->tokens_at = now_ms();
	if (resolve(c, err, errlen) < 0) {
		cloud_free(c);
		return NULL;
	}
	if (c->region[0])
		set_endpoint(c);
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
		 c->endpoint[0] ? c->endpoint : "(the region's endpoint)", c->creds_src,
		 c->region_src, dry_run ? "; dry run: no call that changes anything" : "");
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
	pfx_list_free(&c->cidrs);
	free(c->want);
	free(c->gone);
	free(c->failed);
	free(c->perms);
	strs_free(&c->announced, &c->nannounced);
	strs_free(&c->conflicts, &c->nconflicts);
	explicit_bzero(&c->creds, sizeof(c->creds));
	free(c);
}

int cloud_reload(struct cloud *c, char *err, size_t errlen)
{
	struct cloud t = *c;

	/* resolve into a copy: a bad environment or file changes nothing */
	if (resolve(&t, err, errlen) < 0)
		return -EINVAL;
	memcpy(c->imds, t.imds, sizeof(c->imds));
	memcpy(c->endpoint, t.endpoint, sizeof(c->endpoint));
	c->endpoint_fixed = t.endpoint_fixed;
	c->region_src = t.region_src;
	/* a region no longer set is read from the instance metadata again */
	if (t.region_fixed)
		memcpy(c->region, t.region, sizeof(c->region));
	else if (c->region_fixed)
		c->region[0] = '\0';
	c->region_fixed = t.region_fixed;
	set_endpoint(c);
	c->creds_fixed = t.creds_fixed;
	c->creds_src = t.creds_src;
	c->have_creds = t.have_creds;
	c->creds = t.creds;
	c->creds_refresh = t.creds_refresh;
	explicit_bzero(&t.creds, sizeof(t.creds));
	c->next_drift = 0; /* everything is read again */
	c->fails = 0;
	c->retry_at = 0;
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

void cloud_http_event(struct cloud *c)
{
	http_run(c->http);
}

void cloud_timer_event(struct cloud *c)
{
	uint64_t x;

	if (read(c->tfd, &x, sizeof(x)) > 0)
		cloud_kick(c);
}

int cloud_port_open(const struct cloud *c, const char *proto, unsigned port)
{
	if (!c->sg_known)
		return -1;
	for (size_t i = 0; i < c->nperms; i++)
		if (ec2_perm_allows(&c->perms[i], proto, port))
			return 1;
	return 0;
}

const struct pfx_list *cloud_vpc_cidrs(const struct cloud *c)
{
	return c->subnet[0] ? &c->cidrs : NULL;
}

/* --- status --- */

static json_t *str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

json_t *cloud_status(struct cloud *c)
{
	json_t *o = json_object(), *tables = json_array(), *pending = json_array(),
	       *cidrs = json_array(), *creds = json_object();
	long long now = now_ms(), expiry;
	char d[PFX_STRLEN], desc[STR_MAX];
	struct op *ops = NULL;
	size_t nops = plan(c, &ops, now, &expiry);

	json_object_set_new(o, "dry_run", json_boolean(c->dry_run));
	json_object_set_new(o, "region", str_or_null(c->region));
	json_object_set_new(o, "region_source", json_string(c->region_src));
	json_object_set_new(o, "endpoint", str_or_null(c->endpoint));
	json_object_set_new(o, "instance", str_or_null(c->instance));
	json_object_set_new(o, "network_interface", str_or_null(c->eni));
	json_object_set_new(o, "vpc", str_or_null(c->vpc));
	json_object_set_new(o, "subnet", str_or_null(c->subnet));
	for (size_t i = 0; i < c->cidrs.n; i++)
		json_array_append_new(cidrs, json_string(pfx_format(&c->cidrs.v[i], d, sizeof(d))));
	json_object_set_new(o, "vpc_cidr_blocks", cidrs);
	json_object_set_new(creds, "source", json_string(c->creds_src));
	json_object_set_new(creds, "access_key_id",
			    str_or_null(c->have_creds ? c->creds.key_id : NULL));
	if (c->role[0])
		json_object_set_new(creds, "role", json_string(c->role));
	json_object_set_new(o, "credentials", creds);
	json_object_set_new(o, "source_dest_check",
			    json_string(c->sdc < 0 ? "unknown"
					: c->sdc   ? "on"
						   : "off"));
	for (size_t t = 0; c->tables_known && t < c->nall; t++) {
		struct ec2_rtb *tb = &c->all[t];
		json_t *jt, *routes;

		if (!table_used(c, tb))
			continue;
		jt = json_object();
		routes = json_array();
		json_object_set_new(jt, "id", json_string(tb->id));
		json_object_set_new(jt, "main", json_boolean(tb->main));
		for (size_t i = 0; i < c->nwant; i++) {
			struct ec2_route *r = route_in(tb, &c->want[i].dst);
			json_t *jr = json_object();
			const char *st = !r		     ? "missing"
					 : route_ours(c, r)  ? "ours"
					 : conf(c)->takeover ? "to take over"
							     : "conflict";

			json_object_set_new(jr, "destination",
					    json_string(pfx_format(&c->want[i].dst, d, sizeof(d))));
			json_object_set_new(jr, "state", json_string(st));
			if (r)
				json_object_set_new(jr, "target", json_string(r->target));
			json_array_append_new(routes, jr);
		}
		for (size_t i = 0; i < tb->nroutes; i++) {
			struct ec2_route *r = &tb->routes[i];
			json_t *jr;

			if (!route_ours(c, r) || wanted(c, &r->dst) ||
			    (!gone_find(c, &r->dst) && !may_own(c, &r->dst)))
				continue;
			jr = json_object();
			json_object_set_new(jr, "destination",
					    json_string(pfx_format(&r->dst, d, sizeof(d))));
			json_object_set_new(jr, "state", json_string("withdrawing"));
			json_object_set_new(jr, "target", json_string(r->target));
			json_array_append_new(routes, jr);
		}
		json_object_set_new(jt, "routes", routes);
		json_array_append_new(tables, jt);
	}
	json_object_set_new(o, "route_tables", tables);
	if (c->sg_known || c->sg_error[0]) {
		json_t *sg = json_object(), *ids = json_array(), *in = json_array();

		for (size_t i = 0; c->sg_known && i < c->ngroups; i++)
			json_array_append_new(ids, json_string(c->groups[i]));
		for (size_t i = 0; c->sg_known && i < c->nperms; i++)
			json_array_append_new(
				in, json_pack("{s:s, s:i, s:i}", "proto", c->perms[i].proto, "from",
					      c->perms[i].from, "to", c->perms[i].to));
		json_object_set_new(sg, "ids", ids);
		json_object_set_new(sg, "ingress", in);
		json_object_set_new(sg, "error", str_or_null(c->sg_error));
		json_object_set_new(o, "security_groups", sg);
	} else {
		json_object_set_new(o, "security_groups", json_null());
	}
	if (sdc_pending(c, desc, sizeof(desc)))
		json_array_append_new(pending, json_string(desc));
	for (size_t i = 0; i < nops; i++) {
		op_describe(c, &ops[i], desc, sizeof(desc));
		json_array_append_new(pending, json_string(desc));
	}
	free(ops);
	json_object_set_new(o, "pending_calls", pending);
	json_object_set_new(o, "in_flight", str_or_null(c->cur != J_NONE ? c->cur_desc : NULL));
	json_object_set_new(o, "last_error", str_or_null(c->last_error));
	json_object_set_new(o, "calls", json_integer((json_int_t)c->calls));
	json_object_set_new(o, "mutating_calls", json_integer((json_int_t)c->mutating_calls));
	json_object_set_new(o, "retries", json_integer((json_int_t)c->retries));
	json_object_set_new(o, "retry_in_ms",
			    json_integer(c->retry_at > now ? c->retry_at - now : 0));
	return o;
}
