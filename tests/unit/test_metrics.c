// SPDX-License-Identifier: GPL-2.0-or-later
/* agent/metrics.c: the registry and the Prometheus text format it renders. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"
#include "metrics_http.h"

static char *render(long long now)
{
	size_t len = 0;
	char *t = metrics_render(now, &len);

	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	return t;
}

static void has(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("no \"%s\" in:\n%s", line, text);
}

static void lacks(const char *text, const char *s)
{
	if (strstr(text, s))
		fail_msg("\"%s\" in:\n%s", s, text);
}

static int reset(void **state)
{
	metrics_reset();
	return 0;
}

/* Every family has its HELP and TYPE, in the registry's order; a counter
 * without labels is there at 0, labelled and age series only once set. */
static void test_empty(void **state)
{
	char *t = render(0);

	assert_true(strncmp(t, "# HELP vpcroute_clients Connected", 33) == 0);
	has(t, "\n# TYPE vpcroute_clients gauge\n");
	has(t, "\n# TYPE vpcroute_ec2_calls_total counter\n");
	has(t, "\n# TYPE vpcroute_drift_check_age_seconds gauge\n");
	has(t, "\nvpcroute_ec2_retries_total 0\n");
	has(t, "\nvpcroute_ec2_throttles_total 0\n");
	has(t, "\nvpcroute_ec2_budget_waits_total 0\n");
	lacks(t, "vpcroute_clients{");
	lacks(t, "\nvpcroute_drift_check_age_seconds ");
	lacks(t, "\nvpcroute_source_dest_check ");
	assert_true(strstr(t, "# TYPE vpcroute_clients ") <
		    strstr(t, "# TYPE vpcroute_admissions_total"));
	assert_true(strstr(t, "# TYPE vpcroute_ec2_calls_total") <
		    strstr(t, "# TYPE vpcroute_ec2_success_age_seconds"));
	/* HELP keeps double quotes: only \ and newlines are escaped there */
	has(t, "\"HTTP <status>\"");
	/* the text ends with a newline, every line is a comment or a sample */
	assert_int_equal(t[strlen(t) - 1], '\n');
	for (char *l = t; *l; l = strchr(l, '\n') + 1)
		assert_true(strncmp(l, "# HELP vpcroute_", 16) == 0 ||
			    strncmp(l, "# TYPE vpcroute_", 16) == 0 ||
			    strncmp(l, "vpcroute_", 9) == 0);
	free(t);
}

static void test_escaping(void **state)
{
	char *t;

	metrics_set(VM_CLIENTS, 2, "a\"b\\c\nd");
	metrics_set(VM_CLIENTS, 1, "caf\xc3\xa9");
	t = render(0);
	has(t, "\nvpcroute_clients{instance=\"a\\\"b\\\\c\\nd\"} 2\n");
	has(t, "\nvpcroute_clients{instance=\"caf\xc3\xa9\"} 1\n");
	free(t);
}

/* Samples sorted by their label values, first label first. */
static void test_ordering(void **state)
{
	char *t, *a, *b, *c, *d;

	metrics_inc(VM_EC2_CALLS, "DescribeRouteTables", "Success");
	metrics_inc(VM_EC2_CALLS, "CreateRoute", "Success");
	metrics_inc(VM_EC2_CALLS, "CreateRoute", "RequestLimitExceeded");
	metrics_inc(VM_EC2_CALLS, "DeleteRoute", "Success");
	t = render(0);
	a = strstr(t, "vpcroute_ec2_calls_total{action=\"CreateRoute\",code="
		      "\"RequestLimitExceeded\"} 1\n");
	b = strstr(t, "vpcroute_ec2_calls_total{action=\"CreateRoute\",code=\"Success\"} 1\n");
	c = strstr(t, "vpcroute_ec2_calls_total{action=\"DeleteRoute\",code=\"Success\"} 1\n");
	d = strstr(t,
		   "vpcroute_ec2_calls_total{action=\"DescribeRouteTables\",code=\"Success\"} 1\n");
	assert_non_null(a);
	assert_true(a < b && b < c && c < d);
	free(t);
}

/* Counters add up; gauges are set; clear drops the series. */
static void test_values(void **state)
{
	char *t;

	metrics_inc(VM_EC2_RETRIES);
	metrics_inc(VM_EC2_RETRIES);
	metrics_add(VM_EC2_RETRIES, 3);
	assert_true(metrics_get(VM_EC2_RETRIES) == 5);
	metrics_set(VM_ROUTES, 7, "wanted");
	metrics_set(VM_ROUTES, 4, "wanted");
	metrics_set(VM_SOURCE_DEST_CHECK, 0);
	t = render(0);
	has(t, "\nvpcroute_ec2_retries_total 5\n");
	has(t, "\nvpcroute_routes{state=\"wanted\"} 4\n");
	has(t, "\nvpcroute_source_dest_check 0\n");
	free(t);
	metrics_clear(VM_ROUTES);
	t = render(0);
	lacks(t, "vpcroute_routes{");
	free(t);
	assert_true(metrics_get(VM_ROUTES, "wanted") == 0);
}

/* Age gauges: seconds since the stamp, never negative. */
static void test_age(void **state)
{
	char *t;

	metrics_stamp(VM_EC2_SUCCESS_AGE, 1000);
	t = render(3500);
	has(t, "\nvpcroute_ec2_success_age_seconds 2.500000\n");
	free(t);
	t = render(500);
	has(t, "\nvpcroute_ec2_success_age_seconds 0\n");
	free(t);
}

/* The rule of a refusal labels it; admitted ones have rule "none". */
static void test_admission(void **state)
{
	char *t;

	metrics_admission(NULL);
	metrics_admission(NULL);
	metrics_admission("client bob: 10.1.0.0/24 is held by client alice of server "
			  "(rule: one owner per network)");
	metrics_admission("client eve: unknown common name (rule: strict)");
	metrics_admission("something without a rule");
	t = render(0);
	has(t, "\nvpcroute_admissions_total{outcome=\"admitted\",rule=\"none\"} 2\n");
	has(t, "\nvpcroute_admissions_total{outcome=\"refused\",rule=\"one owner per network\"} "
	       "1\n");
	has(t, "\nvpcroute_admissions_total{outcome=\"refused\",rule=\"strict\"} 1\n");
	has(t, "\nvpcroute_admissions_total{outcome=\"refused\",rule=\"unknown\"} 1\n");
	free(t);
}

/* A long label value is cut at a character boundary, never inside one. */
static void test_long_label(void **state)
{
	char v[300], want[METRICS_LABEL_MAX + 64];
	char *t;

	memset(v, 'x', 126);
	strcpy(v + 126, "\xc3\xa9tail"); /* é straddles byte 127 */
	metrics_set(VM_CLIENTS, 1, v);
	t = render(0);
	snprintf(want, sizeof(want), "{instance=\"%.126s\"} 1\n", v);
	has(t, want);
	free(t);
}

static int parse(const char *s)
{
	return metrics_http_parse(s, strlen(s));
}

/* The listener's request parser: strict, a verdict as soon as one is due. */
static void test_http_parse(void **state)
{
	char big[METRICS_HTTP_HEAD_MAX + 1];

	assert_int_equal(parse("GET /metrics HTTP/1.0\r\n\r\n"), 200);
	assert_int_equal(parse("GET /metrics?name[]=x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"),
			 200);
	assert_int_equal(parse("GET /metrics HTTP/1.0\r\nHost: a\r\n"), 0);
	assert_int_equal(parse(""), 0);
	assert_int_equal(parse("GET /metricsx HTTP/1.0\r\n\r\n"), 404);
	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n"), 404);
	assert_int_equal(parse("HEAD /metrics HTTP/1.0\r\n\r\n"), 405);
	assert_int_equal(parse("POST /metrics HTTP/1.0\r\n\r\n"), 405);
	assert_int_equal(parse("GET /metrics HTTP/2.0\r\n\r\n"), 505);
	assert_int_equal(parse("GET /metrics FTP/1.0\r\n\r\n"), 400);
	assert_int_equal(parse("GET /metrics\r\n\r\n"), 400);
	assert_int_equal(parse("GET  /metrics HTTP/1.0\r\n\r\n"), 400);
	assert_int_equal(parse("GET /metrics HTTP/1.0\r\nno colon\r\n\r\n"), 400);
	assert_int_equal(parse("GET /metrics HTTP/1.0\r\n: empty name\r\n\r\n"), 400);
	/* bare LF, control bytes: refused before the head is complete */
	assert_int_equal(parse("GET /metrics HTTP/1.0\n"), 400);
	assert_int_equal(parse("GET /met\x01"), 400);
	assert_int_equal(metrics_http_parse("GET /\0", 6), 400);
	/* the size limit */
	memset(big, 'a', sizeof(big));
	assert_int_equal(metrics_http_parse(big, METRICS_HTTP_HEAD_MAX - 1), 0);
	assert_int_equal(metrics_http_parse(big, METRICS_HTTP_HEAD_MAX), 431);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty, reset),
		cmocka_unit_test_setup(test_escaping, reset),
		cmocka_unit_test_setup(test_ordering, reset),
		cmocka_unit_test_setup(test_values, reset),
		cmocka_unit_test_setup(test_age, reset),
		cmocka_unit_test_setup(test_admission, reset),
		cmocka_unit_test_setup(test_long_label, reset),
		cmocka_unit_test(test_http_parse),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, reset);
}
