/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vpcroutectl's output: the agent's status and plan, as tables or JSON.
 */
#ifndef VR_CTL_OUTPUT_H
#define VR_CTL_OUTPUT_H

#include <jansson.h>

/* The string member key of o, or "-" when there is none. */
const char *output_str(json_t *o, const char *key);
/* A route of the status or plan as ip route shows it, into buf: "PREFIX dev
 * DEV", or "unreachable PREFIX" (an announced summary's). */
#define OUTPUT_ROUTE_LEN 128
const char *output_route(json_t *r, char *buf, size_t len);

/* The status (doc/status.schema.json) as a table, on stdout. */
void output_status(json_t *s);
/* What the agent would change now, one line each, from the status. */
void output_plan(json_t *s);
/* A JSON value, indented by two spaces, and a newline. */
void output_json(json_t *j);

#endif
