// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The registry of metrics.h and its rendering in the Prometheus text
 * exposition format 0.0.4: per family "# HELP" and "# TYPE" lines, then its
 * samples sorted by label values; label values escaped (\\, \", \n), HELP
 * text escaped (\\, \n). Families come in the registry's order.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "policy.h"

enum kind { COUNTER, GAUGE, AGE };

struct def {
	const char *name;
	enum kind kind;
	const char *help;
	const char *labels[METRICS_LABELS_MAX + 1]; /* NULL-terminated */
};

static const struct def defs[VM_COUNT] = {
	[VM_CLIENTS] = { "vpcroute_clients",
			 GAUGE,
			 "Connected OpenVPN clients, per OpenVPN instance.",
			 { "instance" } },
	[VM_CLIENT_NETWORKS] = { "vpcroute_client_networks",
				 GAUGE,
				 "Networks announced by the connected clients, per instance.",
				 { "instance" } },
	[VM_PLUGIN_UP] = { "vpcroute_plugin_up",
			   GAUGE,
			   "1 when the instance's plugin is connected to the agent, else 0.",
			   { "instance" } },
	[VM_ADMISSIONS] = { "vpcroute_admissions_total",
			    COUNTER,
			    "Admission decisions of the agent's policy on client connects and "
			    "resyncs, by outcome and refusing rule.",
			    { "outcome", "rule" } },
	[VM_ROUTES] = { "vpcroute_routes",
			GAUGE,
			"Kernel routes to remote networks: wanted, installed (ours), and "
			"left_to_others (wanted, but another protocol's route is there).",
			{ "state" } },
	[VM_ROUTE_FAILURES] = { "vpcroute_route_failures_total",
				COUNTER,
				"Route additions the kernel refused.",
				{ NULL } },
	[VM_SET_ELEMENTS] = { "vpcroute_set_elements",
			      GAUGE,
			      "Elements in the sets of the nftables table, per set.",
			      { "set" } },
	[VM_SET_FAILURES] = { "vpcroute_set_failures_total",
			      COUNTER,
			      "nftables commits (table or set elements) that failed.",
			      { NULL } },
	[VM_KERNEL_REPAIRS] = { "vpcroute_kernel_repairs_total",
				COUNTER,
				"Objects of ours put back after someone else removed or changed "
				"them, per kind of object.",
				{ "object" } },
	[VM_FORWARD_PACKETS] = { "vpcroute_port_forward_packets",
				 GAUGE,
				 "Packets the DNAT rule of a port forward matched (the first of "
				 "each connection), per forward (\"tcp/8080\"), as the kernel's "
				 "counter holds it: it restarts at 0 when the table is rebuilt.",
				 { "forward" } },
	[VM_FORWARD_REACHABLE] = { "vpcroute_port_forward_reachable",
				   GAUGE,
				   "1 when the forward's target is inside a network reached now "
				   "(local, a connected client's, a pushed route), else 0.",
				   { "forward" } },
	[VM_LINK_NOTIFICATIONS] = { "vpcroute_link_notifications_total",
				    COUNTER,
				    "Link notifications (RTM_NEWLINK, RTM_DELLINK) read from the "
				    "kernel; the XFRM interfaces and VTIs are kept from them.",
				    { NULL } },
	[VM_LINK_DUMPS] = { "vpcroute_link_dumps_total",
			    COUNTER,
			    "Dumps of every link (RTM_GETLINK) to find the XFRM interfaces and "
			    "VTIs: one at start, another only after link notifications were lost "
			    "or not understood.",
			    { NULL } },
	[VM_EC2_CALLS] = { "vpcroute_ec2_calls_total",
			   COUNTER,
			   "EC2 API calls answered, by action and result code (Success, the EC2 "
			   "error code, \"HTTP <status>\" or \"no answer\").",
			   { "action", "code" } },
	[VM_EC2_RETRIES] = { "vpcroute_ec2_retries_total",
			     COUNTER,
			     "EC2 calls that failed in a way worth retrying (throttled, 5xx, no "
			     "answer, credentials refused) and were scheduled again.",
			     { NULL } },
	[VM_EC2_THROTTLES] = { "vpcroute_ec2_throttles_total",
			       COUNTER,
			       "EC2 calls refused with a throttling error (RequestLimitExceeded, "
			       "Throttling).",
			       { NULL } },
	[VM_EC2_BUDGET_WAITS] = { "vpcroute_ec2_budget_waits_total",
				  COUNTER,
				  "Times a due mutating EC2 call was held back by the client-side "
				  "budget (aws.max_calls_per_s).",
				  { NULL } },
	[VM_VPC_ROUTES] = { "vpcroute_vpc_routes",
			    GAUGE,
			    "Wanted VPC routes in the route tables in use, by state (ours, "
			    "missing, conflict, to_take_over, blackhole, withdrawing, "
			    "ours_not_wanted).",
			    { "state" } },
	[VM_SOURCE_DEST_CHECK] = { "vpcroute_source_dest_check",
				   GAUGE,
				   "1 when the source/dest check of the network interface is on, 0 "
				   "when off; absent while unknown.",
				   { NULL } },
	[VM_DRIFT_CHECK_AGE] = { "vpcroute_drift_check_age_seconds",
				 AGE,
				 "Seconds since the VPC route tables were last read in full; "
				 "absent "
				 "before the first time.",
				 { NULL } },
	[VM_EC2_SUCCESS_AGE] = { "vpcroute_ec2_success_age_seconds",
				 AGE,
				 "Seconds since the last successful EC2 call; absent before the "
				 "first.",
				 { NULL } },
	[VM_DNS_LOOKUPS] = { "vpcroute_dns_lookups_total",
			     COUNTER,
			     "Lookups of the rules' host names (A and AAAA), by result (ok, "
			     "failed).",
			     { "result" } },
	[VM_DNS_NAMES] = { "vpcroute_dns_names",
			   GAUGE,
			   "The rules' host names by state: resolved, failing (the last "
			   "lookup failed; its last addresses are kept), unresolved (never "
			   "resolved: nothing allowed for it), pending (first lookup on its "
			   "way).",
			   { "state" } },
};

struct series {
	char lv[METRICS_LABELS_MAX][METRICS_LABEL_MAX];
	double v;
};

static struct family {
	struct series *s;
	size_t n, cap;
} fams[VM_COUNT];

static size_t nlabels(enum metric m)
{
	size_t n = 0;

	while (n < METRICS_LABELS_MAX && defs[m].labels[n])
		n++;
	return n;
}

/* s holds n bytes, maybe the start of a character cut short: drop that. */
static void utf8_cut(char *s, size_t n)
{
	size_t k = n, need;
	unsigned char lead;

	while (k && ((unsigned char)s[k - 1] & 0xc0) == 0x80)
		k--;
	if (!k)
		return;
	lead = (unsigned char)s[k - 1];
	need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	if (k - 1 + need > n)
		memset(s + k - 1, 0, n - k + 1);
}

/* The series of m with the label values in ap, made (at 0) when create. */
static struct series *find(enum metric m, va_list ap, bool create)
{
	struct family *f = &fams[m];
	struct series key = { 0 };
	size_t nl = nlabels(m);

	for (size_t i = 0; i < nl; i++) {
		const char *v = va_arg(ap, const char *);

		size_t n = (size_t)snprintf(key.lv[i], sizeof(key.lv[i]), "%s", v ? v : "");

		/* cut at a character boundary: label values are UTF-8 */
		if (n >= sizeof(key.lv[i]))
			utf8_cut(key.lv[i], sizeof(key.lv[i]) - 1);
	}
	for (size_t i = 0; i < f->n; i++)
		if (memcmp(f->s[i].lv, key.lv, sizeof(key.lv)) == 0)
			return &f->s[i];
	if (!create)
		return NULL;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 4;
		struct series *s = realloc(f->s, cap * sizeof(*s));

		if (!s)
			return NULL;
		f->s = s;
		f->cap = cap;
	}
	f->s[f->n] = key;
	return &f->s[f->n++];
}

void metrics_add(enum metric m, double v, ...)
{
	struct series *s;
	va_list ap;

	va_start(ap, v);
	if ((s = find(m, ap, true)))
		s->v += v;
	va_end(ap);
}

void metrics_inc(enum metric m, ...)
{
	struct series *s;
	va_list ap;

	va_start(ap, m);
	if ((s = find(m, ap, true)))
		s->v += 1;
	va_end(ap);
}

void metrics_set(enum metric m, double v, ...)
{
	struct series *s;
	va_list ap;

	va_start(ap, v);
	if ((s = find(m, ap, true)))
		s->v = v;
	va_end(ap);
}

void metrics_stamp(enum metric m, long long now_ms, ...)
{
	struct series *s;
	va_list ap;

	va_start(ap, now_ms);
	if ((s = find(m, ap, true)))
		s->v = (double)now_ms;
	va_end(ap);
}

double metrics_get(enum metric m, ...)
{
	struct series *s;
	va_list ap;

	va_start(ap, m);
	s = find(m, ap, false);
	va_end(ap);
	return s ? s->v : 0;
}

void metrics_clear(enum metric m)
{
	fams[m].n = 0;
}

void metrics_admission(const char *why)
{
	char rule[METRICS_LABEL_MAX];

	if (!why) {
		metrics_inc(VM_ADMISSIONS, "admitted", "none");
		return;
	}
	if (!policy_reason_rule(why, rule, sizeof(rule)))
		snprintf(rule, sizeof(rule), "unknown");
	metrics_inc(VM_ADMISSIONS, "refused", rule);
}

void metrics_reset(void)
{
	for (int m = 0; m < VM_COUNT; m++) {
		free(fams[m].s);
		fams[m] = (struct family){ 0 };
	}
}

/* --- rendering --- */

static size_t cur_nl; /* labels of the family being sorted */

static int series_cmp(const void *x, const void *y)
{
	const struct series *a = x, *b = y;

	for (size_t i = 0; i < cur_nl; i++) {
		int c = strcmp(a->lv[i], b->lv[i]);

		if (c)
			return c;
	}
	return 0;
}

/* help: \ and newline escaped; label values: " too. */
static void put_escaped(FILE *f, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '"' && quote)
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

static void put_value(FILE *f, double v)
{
	if (v == (double)(long long)v && v > -1e15 && v < 1e15)
		fprintf(f, "%lld\n", (long long)v);
	else
		fprintf(f, "%.6f\n", v);
}

char *metrics_render(long long now_ms, size_t *len)
{
	static const char *const types[] = {
		[COUNTER] = "counter", [GAUGE] = "gauge", [AGE] = "gauge"
	};
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (!f)
		return NULL;
	for (int m = 0; m < VM_COUNT; m++) {
		const struct def *d = &defs[m];
		struct family *fam = &fams[m];

		fprintf(f, "# HELP %s ", d->name);
		put_escaped(f, d->help, false);
		fprintf(f, "\n# TYPE %s %s\n", d->name, types[d->kind]);
		/* a counter without labels exists from the start, at 0 */
		if (d->kind == COUNTER && !d->labels[0] && !fam->n) {
			fprintf(f, "%s 0\n", d->name);
			continue;
		}
		cur_nl = nlabels((enum metric)m);
		if (fam->n > 1)
			qsort(fam->s, fam->n, sizeof(*fam->s), series_cmp);
		for (size_t i = 0; i < fam->n; i++) {
			const struct series *s = &fam->s[i];

			fputs(d->name, f);
			for (size_t k = 0; k < cur_nl; k++) {
				fprintf(f, "%s%s=\"", k ? "," : "{", d->labels[k]);
				put_escaped(f, s->lv[k], true);
				fputc('"', f);
			}
			fputs(cur_nl ? "} " : " ", f);
			if (d->kind == AGE) {
				long long age =
					now_ms > (long long)s->v ? now_ms - (long long)s->v : 0;

				put_value(f, (double)age / 1000.0);
			} else {
				put_value(f, s->v);
			}
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	if (len)
		*len = n;
	return buf;
}
