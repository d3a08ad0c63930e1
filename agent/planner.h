/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The route planner: which CreateRoute, ReplaceRoute and DeleteRoute calls
 * bring the VPC route tables to what is wanted, computed from the tables as
 * last described.
 *
 * plan_make is a pure function of its input (the wanted networks, the tables,
 * our network interface, the configuration, the bookkeeping of earlier calls
 * and the time it is given): it changes nothing and logs nothing, so that
 * `vpcroutectl status` may call it as often as it likes. What has to last
 * from one call to the next (since when a network is unwanted, which
 * conflicts were reported) comes back in the result; the caller keeps it
 * (plan_commit) when it acts on the plan.
 */
#ifndef VR_PLANNER_H
#define VR_PLANNER_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "ec2xml.h"
#include "pfx.h"

/* A wanted network and how many contributions want it. */
struct plan_want {
	struct pfx dst;
	unsigned refs;
};

/* A network that is ours in some table but unwanted since `since` (ms). */
struct plan_gone {
	struct pfx dst;
	long long since;
	bool unwanted; /* found to us for a network no policy allows (plan_unwanted) */
};

/* A route change that failed for a reason that retrying will not fix. */
struct plan_failed {
	char table[EC2_ID_MAX];
	struct pfx dst;
	char error[448]; /* what EC2 said, for the status (the planner ignores it) */
};

/* A table that sends a wanted network elsewhere (aws.takeover off). */
struct plan_conflict {
	char table[EC2_ID_MAX];
	struct pfx dst;
	char kind[32]; /* as in struct ec2_route */
	char target[EC2_ID_MAX];
	bool reported; /* in the list of the previous call: not to report again */
};

/* The bookkeeping kept from one plan to the next: every list sorted. */
struct plan_book {
	struct plan_gone *gone;
	size_t ngone;
	struct plan_conflict *conflicts;
	size_t nconflicts;
	/* routes to our interface for networks no policy allows (plan_unwanted),
	 * as conflicts are kept: .reported when the previous call had them */
	struct plan_conflict *unwanted;
	size_t nunwanted;
};

/* What plan_in.withdraw removes at once, whatever is wanted (vpcroutectl withdraw). */
#define PLAN_WITHDRAW_OURS     0x1u /* every route to us that the agent could have made */
#define PLAN_WITHDRAW_UNWANTED 0x2u /* every route to us that plan_unwanted reports */

struct plan_in {
	/* aws.route_tables, aws.takeover, aws.withdraw_grace_s, and which
	 * networks the agent may have announced (plan_may_own) */
	const struct cfg *cfg;
	const char *vpc, *eni;
	const struct plan_want *want; /* sorted by pfx_cmp, distinct */
	size_t nwant;
	bool tables_known;	      /* false: nothing is planned, nothing forgotten */
	const struct ec2_rtb *tables; /* each one's routes sorted (plan_tables_sort) */
	size_t ntables;
	const struct plan_book *book;
	const struct plan_failed *failed; /* sorted by plan_failed_cmp */
	size_t nfailed;
	long long now; /* monotonic, ms */
	/* PLAN_WITHDRAW_*: no addition, and what the bits name deleted at once */
	unsigned withdraw;
	bool no_additions; /* withdrawn: nothing is created until a reload */
	/* the VPC's CIDR blocks once known, else NULL: a summary that overlaps
	 * one is not used (plan_summary_blocked) */
	const struct pfx_list *vpc_cidrs;
};

enum plan_kind { PLAN_CREATE, PLAN_REPLACE, PLAN_DELETE };

struct plan_op {
	enum plan_kind kind;
	size_t table; /* index into plan_in.tables */
	struct pfx dst;
	/* PLAN_REPLACE of a route whose target is gone (state blackhole), and
	 * where it went; empty for any other call */
	char dead[EC2_ID_MAX];
};

struct plan {
	struct plan_op *ops; /* in the order to do them: additions, then withdrawals */
	size_t nops;
	long long next_due;    /* when the next grace period ends, 0: none running */
	struct plan_book book; /* for the next call; conflicts not .reported are new */
};

/* 0, or -ENOMEM (out is then empty). */
int plan_make(const struct plan_in *in, struct plan *out);
/* Keeps the bookkeeping of p for the next call (p's is moved into book). */
void plan_commit(struct plan_book *book, struct plan *p);
void plan_free(struct plan *p);
void plan_book_free(struct plan_book *b);

/* A network became unwanted at now: its grace period starts (book stays
 * sorted), unless it runs already; one that was "ours, not wanted" (so the
 * agent wanted it in between) starts a new one. */
int plan_book_gone(struct plan_book *b, const struct pfx *dst, long long now);
const struct plan_gone *plan_book_find(const struct plan_book *b, const struct pfx *dst);

/* "CreateRoute", "ReplaceRoute", "DeleteRoute" */
const char *plan_action(enum plan_kind k);
/* "CreateRoute rtb-1 10.0.0.0/24 -> eni-1", "DeleteRoute rtb-1 10.0.0.0/24",
 * "ReplaceRoute rtb-1 10.0.0.0/24 -> eni-1 (was eni-9, a blackhole)" */
void plan_op_describe(const struct plan_op *o, const struct ec2_rtb *tables, const char *eni,
		      char *buf, size_t len);

/* The tables the routes go into: the listed ids, or (auto) the VPC's main
 * table and every table explicitly associated with one of its subnets. */
bool plan_table_used(const struct cfg_aws *w, const char *vpc, const struct ec2_rtb *t);
/* Whether the route goes to our network interface. */
bool plan_route_ours(const struct ec2_route *r, const char *eni);
/*
 * Whether a route to our network interface for p can be one the agent made:
 * a network its configuration could want, never a default route. Others to
 * our interface, such as an administrator's 0.0.0.0/0 through this NAT
 * instance, are not the agent's to withdraw.
 */
bool plan_may_own(const struct cfg *k, const struct pfx *p);
/*
 * Whether EC2 says the route's target is gone (state "blackhole": a deleted
 * network interface, a terminated instance). Such a route to a wanted network
 * is replaced by one to us whatever aws.takeover says: it carries nothing.
 */
bool plan_route_dead(const struct ec2_route *r);
/*
 * Whether a route of a used table is "ours, not wanted": to our interface, for
 * a network that no policy allows (not plan_may_own), that is not wanted and
 * was not wanted since the agent started (no grace of a network it wanted),
 * never a default route: the leftover an earlier agent made for an adopted
 * route. It is reported once and withdrawn like any other once it has been
 * seen unwanted for the grace period (timed from the first plan that saw it);
 * PLAN_WITHDRAW_UNWANTED removes it at once.
 */
bool plan_unwanted(const struct plan_in *in, const struct ec2_route *r);

/*
 * Summaries (aws.summaries, vpcroute.conf(5)): a wanted network inside a
 * summary (or equal to it) is announced to the VPC as the summary, one route
 * per table for all of them; the kernel keeps its own route per network. A
 * summary route is wanted while at least one wanted network lies inside
 * it, and withdrawn like any network (after aws.withdraw_grace_s) once none
 * does. A wanted network outside every summary gets its own route.
 */
/* The block of vpc_cidrs (may be NULL) that summary s overlaps, or NULL:
 * such a summary is not used (its networks get their own routes). */
const struct pfx *plan_summary_blocked(const struct pfx_list *vpc_cidrs, const struct pfx *s);
/* The usable summary of k that holds p, or NULL. */
const struct pfx *plan_summary_of(const struct cfg *k, const struct pfx_list *vpc_cidrs,
				  const struct pfx *p);
/*
 * The wanted networks as the VPC sees them: each one inside a usable
 * summary replaced by the summary (refs: the networks it stands for),
 * sorted and distinct. *out is malloc'd (NULL when n is 0); 0 or -ENOMEM.
 */
int plan_want_summarize(const struct cfg *k, const struct pfx_list *vpc_cidrs,
			const struct plan_want *want, size_t n, struct plan_want **out,
			size_t *nout);

/*
 * The route quota (aws.route_quota, per table and IP version as EC2
 * counts it): the routes of one family in a used table, as described,
 * every route but those propagated from a virtual private gateway (EC2
 * counts those apart; routes to prefix lists are not described here).
 * plan_make asks for no CreateRoute that the quota leaves no room for (EC2
 * would refuse it: RouteLimitExceeded); such a wanted network is "left
 * out" until routes go or the quota is raised.
 */
#define PLAN_QUOTA_NEAR_PCT 80 /* "near": at least this share of the quota */
struct plan_quota {
	size_t table;	 /* index into plan_in.tables */
	int family;	 /* AF_INET, AF_INET6 */
	size_t routes;	 /* as described */
	size_t after;	 /* once the plan's calls are made */
	size_t left_out; /* wanted networks missing that the quota leaves out */
	unsigned quota;	 /* aws.route_quota */
	bool over;	 /* left out, or more routes than the quota */
};
/*
 * The used tables and families that hold, or will hold once p is done, at
 * least PLAN_QUOTA_NEAR_PCT % of the quota, in table order: *out malloc'd
 * (NULL when none), 0 or -ENOMEM. Pure, like plan_make.
 */
int plan_quota_check(const struct plan_in *in, const struct plan *p, struct plan_quota **out,
		     size_t *nout);
/* Whether p has a call for dst in table (index into plan_in.tables). */
bool plan_has_op(const struct plan *p, size_t table, const struct pfx *dst);

/* Sorts each table's routes by destination, for the lookups below. */
void plan_tables_sort(struct ec2_rtb *t, size_t n);
struct ec2_route *plan_route_find(const struct ec2_rtb *t, const struct pfx *dst);
/* The table after a successful call: dst goes to eni (CreateRoute,
 * ReplaceRoute), or is gone (DeleteRoute). -ENOMEM: the table is unknown. */
int plan_route_set(struct ec2_rtb *t, const struct pfx *dst, const char *eni);
void plan_route_unset(struct ec2_rtb *t, const struct pfx *dst);

/*
 * In v, n entries of size bytes, each beginning with a struct pfx and sorted
 * by pfx_cmp: the index of the first entry not below key (n when none).
 */
size_t plan_pfx_pos(const void *v, size_t n, size_t size, const struct pfx *key);
const struct plan_want *plan_want_find(const struct plan_want *v, size_t n, const struct pfx *p);
int plan_want_cmp(const void *x, const void *y);
int plan_failed_cmp(const void *x, const void *y);

#endif
