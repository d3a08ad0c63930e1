// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The gauges of metrics.h, set from what the status reports when the
 * metrics are read: the same view of the world as vpcroutectl status
 * (status.c, doc/status.schema.json), so the two never disagree.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "metrics.h"

static bool in_list(json_t *arr, const char *key, const char *dst)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		json_t *s = key ? json_object_get(v, key) : v;

		if (json_is_string(s) && strcmp(json_string_value(s), dst) == 0)
			return true;
	}
	return false;
}

static void instances(json_t *st)
{
	json_t *in;
	size_t i;

	metrics_clear(VM_CLIENTS);
	metrics_clear(VM_CLIENT_NETWORKS);
	metrics_clear(VM_PLUGIN_UP);
	json_array_foreach(json_object_get(st, "instances"), i, in)
	{
		const char *name = json_string_value(json_object_get(in, "name"));

		metrics_set(VM_CLIENTS,
			    (double)json_integer_value(json_object_get(in, "clients_counted")),
			    name);
		metrics_set(VM_CLIENT_NETWORKS,
			    (double)json_integer_value(json_object_get(in, "networks_counted")),
			    name);
		metrics_set(VM_PLUGIN_UP, json_is_true(json_object_get(in, "plugin_connected")),
			    name);
	}
}

/* wanted: ours that stay, those to add, those left to another protocol */
static void routes(json_t *st)
{
	json_t *ours = json_object_get(st, "routes"), *plan = json_object_get(st, "plan"),
	       *add = json_object_get(plan, "routes_to_add"),
	       *del = json_object_get(plan, "routes_to_remove"),
	       *foreign = json_object_get(st, "routes_left_to_others"), *r;
	size_t i, keep = 0;

	json_array_foreach(ours, i, r)
	{
		const char *d = json_string_value(json_object_get(r, "destination"));

		keep += d && !in_list(del, NULL, d);
	}
	metrics_clear(VM_ROUTES);
	metrics_set(VM_ROUTES, (double)(keep + json_array_size(add) + json_array_size(foreign)),
		    "wanted");
	metrics_set(VM_ROUTES, (double)json_array_size(ours), "installed");
	metrics_set(VM_ROUTES, (double)json_array_size(foreign), "left_to_others");
}

static void sets(json_t *st)
{
	json_t *v, *el = json_object_get(json_object_get(st, "nftables"), "set_elements");
	const char *k;

	metrics_clear(VM_SET_ELEMENTS);
	json_object_foreach(el, k, v)
		metrics_set(VM_SET_ELEMENTS, (double)json_integer_value(v), k);
}

static void forwards(json_t *st)
{
	json_t *f;
	size_t i;

	metrics_clear(VM_FORWARD_PACKETS);
	metrics_clear(VM_FORWARD_REACHABLE);
	json_array_foreach(json_object_get(st, "port_forwards"), i, f)
	{
		char label[32];

		snprintf(label, sizeof(label), "%s/%lld",
			 json_string_value(json_object_get(f, "proto")),
			 (long long)json_integer_value(json_object_get(f, "port")));
		if (json_is_integer(json_object_get(f, "packets")))
			metrics_set(VM_FORWARD_PACKETS,
				    (double)json_integer_value(json_object_get(f, "packets")),
				    label);
		metrics_set(VM_FORWARD_REACHABLE, json_is_true(json_object_get(f, "reachable")),
			    label);
	}
}

static void aws(json_t *st)
{
	static const char *const always[] = { "ours", "missing", "conflict", "blackhole" };
	json_t *aws = json_object_get(st, "aws"), *t, *r;
	const char *sdc = json_string_value(json_object_get(aws, "source_dest_check"));
	size_t i, k;

	metrics_clear(VM_VPC_ROUTES);
	metrics_clear(VM_SOURCE_DEST_CHECK);
	if (!json_is_object(aws))
		return;
	for (i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		metrics_set(VM_VPC_ROUTES, 0, always[i]);
	json_array_foreach(json_object_get(aws, "route_tables"), i, t)
	{
		json_array_foreach(json_object_get(t, "routes"), k, r)
		{
			char state[METRICS_LABEL_MAX];
			const char *s = json_string_value(json_object_get(r, "state"));

			/* "to take over" -> to_take_over, "ours, not wanted" -> ours_not_wanted */
			size_t n = 0;

			for (const char *p = s ? s : "unknown"; *p && n + 1 < sizeof(state); p++)
				if (*p != ' ' && *p != ',')
					state[n++] = *p;
				else if (n && state[n - 1] != '_')
					state[n++] = '_';
			state[n] = '\0';
			metrics_add(VM_VPC_ROUTES, 1, state);
		}
	}
	if (sdc && strcmp(sdc, "unknown") != 0)
		metrics_set(VM_SOURCE_DEST_CHECK, strcmp(sdc, "on") == 0);
}

static void dns(json_t *st)
{
	static const char *const states[] = { "resolved", "failing", "unresolved", "pending" };
	json_t *n;
	size_t i;

	metrics_clear(VM_DNS_NAMES);
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		metrics_set(VM_DNS_NAMES, 0, states[i]);
	json_array_foreach(json_object_get(json_object_get(st, "dns"), "names"), i, n)
	{
		const char *s = json_string_value(json_object_get(n, "state"));

		if (s)
			metrics_add(VM_DNS_NAMES, 1, s);
	}
}

int metrics_collect(struct agent *a)
{
	json_t *st = status_json_counts(a); /* no object per client */

	if (!st)
		return -1;
	instances(st);
	routes(st);
	sets(st);
	forwards(st);
	aws(st);
	dns(st);
	status_json_free(a, st);
	return 0;
}
