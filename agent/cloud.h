/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The AWS side of the agent: IMDSv2 discovery and credentials, the
 * instance's source/dest check, and VPC routes "remote network -> our
 * network interface" in the route tables of the configuration. Requests
 * run one at a time through http.c inside the agent's event loop; mutating
 * calls are paced by a token bucket and retried with jittered exponential
 * back-off. See vpcroute-agent(8), "AWS".
 *
 * The daemon core calls in (the wanted networks, events, status); the
 * backend never calls back: what the core has to learn from it comes back
 * from cloud_http_event. Its parts: aws_settings.c (endpoint, region,
 * credentials, instance metadata), ec2.c (requests, pacing, back-off,
 * errors), planner.c (which route calls, a pure function).
 */
#ifndef VR_CLOUD_H
#define VR_CLOUD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "pfx.h"

struct agent;
struct cloud;

/*
 * Resolves region, endpoints and credentials from the environment and the
 * configuration; NULL with err filled when they are unusable. Nothing is
 * sent before the first cloud_kick.
 */
struct cloud *cloud_new(struct agent *a, bool dry_run, char *err, size_t errlen);
void cloud_free(struct cloud *c);
/* The configuration was reloaded: resolve again, re-read the tables. */
int cloud_reload(struct cloud *c, char *err, size_t errlen);
/* Descriptors for the main loop: HTTP sockets, and the cloud's own timer. */
int cloud_http_fd(const struct cloud *c);
int cloud_timer_fd(const struct cloud *c);
/*
 * Runs the answers that came. Returns what the core should know of, as
 * CLOUD_* bits, once each: CLOUD_VPC_CIDRS when the VPC's CIDR blocks became
 * known (cloud_vpc_cidrs; for local_networks "auto"), CLOUD_SUMMARIES when
 * a summary became active or inactive (cloud_summary_active).
 */
#define CLOUD_VPC_CIDRS 0x1u
#define CLOUD_SUMMARIES 0x2u
unsigned cloud_http_event(struct cloud *c);
void cloud_timer_event(struct cloud *c);
/* Starts whatever is due next; called after every change. */
void cloud_kick(struct cloud *c);

/* The remote networks that the VPC should route to us: all of them ... */
void cloud_want_set(struct cloud *c, const struct pfx_list *remote);
/* ... or what one change removed and added. */
void cloud_want_change(struct cloud *c, const struct pfx_list *del, const struct pfx_list *add);

/* The VPC's CIDR blocks once known (local_networks "auto"), else NULL. */
const struct pfx_list *cloud_vpc_cidrs(const struct cloud *c);
/*
 * Whether summary s (one of aws.summaries) is in use: the agent programs
 * the route tables (aws.routes "api"), no VPC CIDR block
 * overlaps it and a wanted network lies inside it (it is announced), or a
 * route table still routes it to our network interface (withdrawing). While
 * it is, the kernel holds "unreachable s" of ours (state.c), so that what
 * the VPC sends to an address no client has is refused instead of going
 * back to the VPC. O(log wanted + tables).
 */
bool cloud_summary_active(const struct cloud *c, const struct pfx *s);
/* Whether the ENI's security groups let proto ("udp", "tcp") port in, from
 * some source: 1 or 0, -1 while unknown. */
int cloud_port_open(const struct cloud *c, const char *proto, unsigned port);
/* The same, from the address from (NULL: from some source); "esp" for
 * IP protocol 50 (port ignored). */
int cloud_port_open_from(const struct cloud *c, const char *proto, unsigned port,
			 const struct pfx *from);

/*
 * Retirement (vpcroutectl withdraw, vpcroute-agent --flush): reads the tables
 * again, then deletes through the paced client every route to our network
 * interface that `what` names (PLAN_WITHDRAW_OURS: every one the agent could
 * have made; PLAN_WITHDRAW_UNWANTED: those status shows as "ours, not
 * wanted"); never a default route. Afterwards nothing is created until the
 * next reload (the agent keeps running). A second request while one runs
 * widens it.
 */
void cloud_withdraw(struct cloud *c, unsigned what);
/* Whether no withdraw is running (the last one finished). */
bool cloud_withdraw_done(const struct cloud *c);
/* What the last withdraw removed and what failed:
 * {"removed": ["DeleteRoute rtb-1 10.0.0.0/24", ...], "failed": [...], "dry_run": bool} */
json_t *cloud_withdraw_result(const struct cloud *c);

/* What the agent knows and intends, for the status output: changes nothing. */
json_t *cloud_status(const struct cloud *c);

#endif
