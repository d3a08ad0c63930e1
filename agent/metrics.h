/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent's metrics: one fixed registry of named counters and gauges with
 * labels, rendered in the Prometheus text exposition format (version 0.0.4).
 * Counters are incremented where the events happen (one call each); gauges
 * that describe the state are set when the metrics are read
 * (metrics_collect.c). Every metric is listed in vpcroute-agent(8), METRICS.
 * Single-threaded, like the agent.
 */
#ifndef VR_METRICS_H
#define VR_METRICS_H

#include <stddef.h>

#define METRICS_LABELS_MAX 3
#define METRICS_LABEL_MAX  128 /* bytes of one label value kept */

enum metric {
	/* the OpenVPN side */
	VM_CLIENTS,	    /* gauge {instance} */
	VM_CLIENT_NETWORKS, /* gauge {instance} */
	VM_PLUGIN_UP,	    /* gauge {instance} */
	VM_ADMISSIONS,	    /* counter {outcome,rule} */
	/* the kernel */
	VM_ROUTES,	       /* gauge {state}: wanted, installed, left_to_others */
	VM_ROUTE_FAILURES,     /* counter: route changes the kernel refused */
	VM_SET_ELEMENTS,       /* gauge {set} */
	VM_SET_FAILURES,       /* counter: set element updates that failed */
	VM_KERNEL_REPAIRS,     /* counter {object} */
	VM_FORWARD_PACKETS,    /* gauge {forward}: the DNAT rule's counter */
	VM_FORWARD_REACHABLE,  /* gauge {forward} */
	VM_LINK_NOTIFICATIONS, /* counter: RTM_NEWLINK/DELLINK notifications read */
	VM_LINK_DUMPS,	       /* counter: RTM_GETLINK dumps (the XFRM interfaces, VTIs) */
	/* AWS */
	VM_EC2_CALLS,	      /* counter {action,code} */
	VM_EC2_RETRIES,	      /* counter */
	VM_EC2_THROTTLES,     /* counter */
	VM_EC2_BUDGET_WAITS,  /* counter */
	VM_VPC_ROUTES,	      /* gauge {state} */
	VM_SOURCE_DEST_CHECK, /* gauge */
	VM_DRIFT_CHECK_AGE,   /* age gauge: seconds since */
	VM_EC2_SUCCESS_AGE,   /* age gauge */
	/* the resolver of the rules' host names (dns.c) */
	VM_DNS_LOOKUPS, /* counter {result}: ok, failed */
	VM_DNS_NAMES,	/* gauge {state}: resolved, failing, unresolved, pending */
	VM_COUNT
};

/* Counter: + 1, and + v; the label values follow, as many as the metric has. */
void metrics_inc(enum metric m, ...);
void metrics_add(enum metric m, double v, ...);
/* Gauge: = v. */
void metrics_set(enum metric m, double v, ...);
/* Age gauge (…_seconds since): the event happened now (monotonic ms). */
void metrics_stamp(enum metric m, long long now_ms, ...);
/* Drops every series of m (gauges collected anew). */
void metrics_clear(enum metric m);
/* The value of one series, 0 when it does not exist (for the tests). */
double metrics_get(enum metric m, ...);

/* The exposition text (NUL-terminated, malloc'd; *len its length), now_ms
 * for the age gauges; NULL when out of memory. */
char *metrics_render(long long now_ms, size_t *len);
/* One admission decision of the agent's policy: why NULL for admitted, else
 * the refusal, whose rule (lib/policy.h, policy_reason_rule) labels it. */
void metrics_admission(const char *why);

/* metrics_collect.c: sets the gauges from the agent's status (status_json_counts):
 * 0, or -1 when out of memory. */
struct agent;
int metrics_collect(struct agent *a);

/* Frees every series. */
void metrics_reset(void);

#endif
