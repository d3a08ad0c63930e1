// SPDX-License-Identifier: GPL-2.0-or-later
/* The EC2 client's own logic (back-off, pacing, what errors mean, the
 * requests) and the settings: no network, http.c replaced by a fake. */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <time.h>

#include "aws_settings.h"
#include "ec2.h"
#include "fake_http.h"
#include "unit.h"

static void test_backoff_grows_and_is_capped(void **state)
{
	long long prev = 0;

	(void)state;
	for (unsigned f = 0; f < 40; f++) {
		long long d = 500LL << (f < 12 ? f : 12);

		if (d > 120000)
			d = 120000;
		/* equal jitter: between half the delay and all of it */
		assert_true(ec2_backoff_delay(f, 0) == d / 2);
		assert_true(ec2_backoff_delay(f, (unsigned long)(d / 2)) == d);
		assert_true(ec2_backoff_delay(f, ULONG_MAX) >= d / 2);
		assert_true(ec2_backoff_delay(f, ULONG_MAX) <= d);
		assert_true(ec2_backoff_delay(f, 0) >= prev); /* never shrinks */
		prev = ec2_backoff_delay(f, 0);
	}
	assert_true(ec2_backoff_delay(0, 0) == 250);
	assert_true(ec2_backoff_delay(1, 0) == 500);
	assert_true(ec2_backoff_delay(7, 0) == 32000);
	assert_true(ec2_backoff_delay(8, 0) == 60000); /* 128 s, capped at 120 s */
	assert_true(ec2_backoff_delay(UINT_MAX, ULONG_MAX) <= 120000);
}

static void test_backoff_state(void **state)
{
	struct ec2_backoff b = { 0 };

	(void)state;
	ec2_backoff_fail(&b, 1000);
	assert_int_equal(b.fails, 1);
	assert_true(b.retry_at >= 1250 && b.retry_at <= 1500);
	ec2_backoff_fail(&b, 2000);
	assert_int_equal(b.fails, 2);
	assert_true(b.retry_at >= 2500 && b.retry_at <= 3000);
	ec2_backoff_ok(&b);
	assert_int_equal(b.fails, 0);
	assert_int_equal(b.retries, 2); /* counted for the status */
}

/* aws.max_calls_burst: a full bucket at start, then the rate; a reload
 * caps what is held; never more than the burst after a long idle. */
static void test_bucket_burst(void **state)
{
	struct ec2_bucket b;

	(void)state;
	ec2_bucket_init(&b, 0);
	ec2_bucket_burst(&b, 10, true);
	for (int i = 0; i < 10; i++) {
		assert_true(ec2_bucket_wait(&b, 2, 0) == 0);
		ec2_bucket_take(&b);
	}
	assert_true(ec2_bucket_wait(&b, 2, 0) == 500);
	assert_true(ec2_bucket_wait(&b, 2, 500) == 0);
	ec2_bucket_take(&b);
	/* an hour idle: 10 at once again, not 7200 */
	for (int i = 0; i < 10; i++) {
		assert_true(ec2_bucket_wait(&b, 2, 3600000) == 0);
		ec2_bucket_take(&b);
	}
	assert_true(ec2_bucket_wait(&b, 2, 3600000) == 3600500);
	/* a reload to a burst of 3: what is held is capped, not filled */
	ec2_bucket_burst(&b, 3, false);
	assert_true(ec2_bucket_wait(&b, 2, 3600000) == 3600500);
	assert_true(ec2_bucket_wait(&b, 2, 3700000) == 0);
	for (int i = 0; i < 3; i++)
		ec2_bucket_take(&b);
	assert_true(ec2_bucket_wait(&b, 2, 3700000) == 3700500);
	/* a burst below the rate: at most that many at once */
	ec2_bucket_init(&b, 0);
	ec2_bucket_burst(&b, 1, true);
	ec2_bucket_take(&b);
	assert_true(ec2_bucket_wait(&b, 10, 1000) == 0);
	ec2_bucket_take(&b);
	assert_true(ec2_bucket_wait(&b, 10, 1000) == 1100);
}

static void test_bucket_paces(void **state)
{
	struct ec2_bucket b;

	(void)state;
	/* 2 calls per second: one at once, then one every 500 ms */
	ec2_bucket_init(&b, 0);
	assert_true(ec2_bucket_wait(&b, 2, 0) == 0);
	ec2_bucket_take(&b);
	assert_true(ec2_bucket_wait(&b, 2, 0) == 500);
	assert_true(ec2_bucket_wait(&b, 2, 250) == 500);
	assert_true(ec2_bucket_wait(&b, 2, 500) == 0);
	ec2_bucket_take(&b);
	/* idle for long: at most max(rate, 1) calls in a burst */
	assert_true(ec2_bucket_wait(&b, 2, 100000) == 0);
	ec2_bucket_take(&b);
	assert_true(ec2_bucket_wait(&b, 2, 100000) == 0);
	ec2_bucket_take(&b);
	assert_true(ec2_bucket_wait(&b, 2, 100000) == 100500);
	/* below one per second: one call, then one every 1/rate */
	ec2_bucket_init(&b, 0);
	assert_true(ec2_bucket_wait(&b, 0.5, 100000) == 0);
	ec2_bucket_take(&b);
	assert_true(ec2_bucket_wait(&b, 0.5, 100000) == 102000);
}

static void test_verdicts(void **state)
{
	static const struct {
		long status;
		const char *code;
		bool route;
		enum ec2_verdict v;
	} cases[] = {
		{ 0, "no answer", false, EC2_RETRY },
		{ 500, "HTTP 500", true, EC2_RETRY },
		{ 503, "Unavailable", true, EC2_RETRY },
		{ 400, "RequestLimitExceeded", true, EC2_RETRY },
		{ 400, "Throttling", false, EC2_RETRY },
		{ 400, "RequestTimeout", true, EC2_RETRY },
		{ 401, "AuthFailure", true, EC2_AUTH },
		{ 403, "SignatureDoesNotMatch", false, EC2_AUTH },
		{ 400, "ExpiredToken", true, EC2_AUTH },
		{ 403, "InvalidClientTokenId", true, EC2_AUTH },
		{ 400, "InvalidRoute.NotFound", true, EC2_TABLE_CHANGED },
		{ 400, "RouteAlreadyExists", true, EC2_TABLE_CHANGED },
		{ 400, "InvalidRoute.NotFound", false, EC2_REFUSED },
		{ 400, "RouteLimitExceeded", true, EC2_REFUSED },
		{ 400, "InvalidParameterValue", true, EC2_REFUSED },
		{ 403, "UnauthorizedOperation", false, EC2_REFUSED },
		{ 404, "HTTP 404", false, EC2_REFUSED },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		if (ec2_verdict(cases[i].status, cases[i].code, cases[i].route) != cases[i].v)
			fail_msg("%ld %s: verdict %d, not %d", cases[i].status, cases[i].code,
				 ec2_verdict(cases[i].status, cases[i].code, cases[i].route),
				 cases[i].v);
}

static void test_error_of(void **state)
{
	static const char doc[] =
		"<?xml version=\"1.0\"?><Response><Errors><Error><Code>RouteAlreadyExists</Code>"
		"<Message>the route exists</Message></Error></Errors><RequestID>x</RequestID>"
		"</Response>";
	struct ec2_error e;

	(void)state;
	ec2_error_of(400, doc, strlen(doc), NULL, &e);
	assert_string_equal(e.code, "RouteAlreadyExists");
	assert_string_equal(e.message, "the route exists");
	ec2_error_of(502, "<html>bad gateway</html>", 24, NULL, &e);
	assert_string_equal(e.code, "HTTP 502");
	ec2_error_of(0, "", 0, "Connection refused", &e);
	assert_string_equal(e.code, "no answer");
	assert_string_equal(e.message, "Connection refused");
}

static void test_forms(void **state)
{
	char f[512] = "";

	(void)state;
	ec2_form_add(f, sizeof(f), "A", "x y/z~-_.");
	ec2_form_add(f, sizeof(f), "B", "é&=");
	assert_string_equal(f, "A=x%20y%2Fz~-_.&B=%C3%A9%26%3D");
	f[0] = '\0';
	ec2_form_route(f, sizeof(f), "rtb-1", P("192.168.1.0/24"), "eni-1");
	assert_string_equal(f, "RouteTableId=rtb-1&DestinationCidrBlock=192.168.1.0%2F24"
			       "&NetworkInterfaceId=eni-1");
	f[0] = '\0';
	ec2_form_route(f, sizeof(f), "rtb-1", P("fd00:99::/48"), NULL);
	assert_string_equal(f, "RouteTableId=rtb-1&DestinationIpv6CidrBlock=fd00%3A99%3A%3A%2F48");
	f[0] = '\0';
	ec2_form_tables(f, sizeof(f), "vpc-1", NULL, 0, "");
	assert_string_equal(f, "Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1");
	{
		char a[] = "rtb-a", b[] = "rtb-b", *ids[] = { a, b };

		f[0] = '\0';
		ec2_form_tables(f, sizeof(f), "vpc-1", ids, 2, "page 2");
		assert_string_equal(f,
				    "RouteTableId.1=rtb-a&RouteTableId.2=rtb-b&NextToken=page%202");
	}
	/* cut to fit, never past the buffer */
	char small[16] = "";

	ec2_form_add(small, sizeof(small), "Key", "a value longer than the buffer");
	assert_true(strlen(small) < sizeof(small));
}

static void clear_env(void)
{
	static const char *const vars[] = {
		"AWS_ACCESS_KEY_ID",	     "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN",	     "AWS_REGION",
		"AWS_DEFAULT_REGION",	     "AWS_ENDPOINT_URL",
		"AWS_ENDPOINT_URL_EC2",	     "AWS_EC2_METADATA_SERVICE_ENDPOINT",
		"AWS_EC2_METADATA_DISABLED", NULL
	};

	for (size_t i = 0; vars[i]; i++)
		unsetenv(vars[i]);
}

static void test_post_is_signed(void **state)
{
	struct cfg_aws w = { .enabled = true };
	struct aws_settings s = { 0 };
	char err[256];
	struct http *h = http_new(err, sizeof(err));
	const struct fake_req *r = fake_http_last();

	(void)state;
	clear_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	setenv("AWS_SESSION_TOKEN", "session", 1);
	setenv("AWS_REGION", "cn-north-1", 1);
	assert_int_equal(aws_settings_resolve(&s, &w, err, sizeof(err)), 0);
	assert_string_equal(s.endpoint, "https://ec2.cn-north-1.amazonaws.com.cn");
	assert_string_equal(s.creds_src, "environment");
	assert_string_equal(s.region_src, "AWS_REGION");
	assert_int_equal(ec2_post(h, &s, "DeleteRoute", "RouteTableId=rtb-1", NULL, NULL), 0);
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->url, "https://ec2.cn-north-1.amazonaws.com.cn/");
	assert_string_equal(r->body, "Action=DeleteRoute&Version=2016-11-15&RouteTableId=rtb-1");
	assert_string_equal(r->sigv4, "aws:amz:cn-north-1:ec2");
	assert_string_equal(r->user, "AKIDEXAMPLE");
	assert_string_equal(r->headers[1], "X-Amz-Security-Token: session");
	http_free(h);
	aws_settings_free(&s);
	clear_env();
}

static void test_settings_refused(void **state)
{
	static const struct {
		const char *var, *val, *want;
	} bad[] = {
		{ "AWS_ACCESS_KEY_ID", "AKID", "AWS_ACCESS_KEY_ID is set without AWS_SECRET" },
		{ "AWS_REGION", "mars", "AWS_REGION=\"mars\": not an AWS region name" },
		{ "AWS_ENDPOINT_URL", "ftp://x", "AWS_ENDPOINT_URL=\"ftp://x\": not an http" },
		{ "AWS_EC2_METADATA_DISABLED", "true", "AWS_EC2_METADATA_DISABLED is set" },
	};
	struct cfg_aws w = { .enabled = true };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct aws_settings s = { 0 };
		char err[256] = "";

		clear_env();
		setenv(bad[i].var, bad[i].val, 1);
		assert_int_equal(aws_settings_resolve(&s, &w, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].want))
			fail_msg("%s=%s: \"%s\"", bad[i].var, bad[i].val, err);
	}
	clear_env();
}

/* The discovery, answered step by step. */
static void discover(struct aws_settings *s, long long now)
{
	static const char *const answers[] = {
		[AWS_STEP_TOKEN] = "TOKEN",	    [AWS_STEP_INSTANCE] = "i-0123456789abcdef0",
		[AWS_STEP_REGION] = "eu-west-1",    [AWS_STEP_MAC] = "0e:00:00:00:00:01",
		[AWS_STEP_ENI] = "eni-0a0a0a0a",    [AWS_STEP_VPC] = "vpc-01",
		[AWS_STEP_CIDRS] = "10.1.0.0/16\n", [AWS_STEP_CIDRS6] = "fd00:1::/56",
		[AWS_STEP_SUBNET] = "subnet-0a",    [AWS_STEP_ROLE] = "vpcroute\n",
	};
	enum aws_step st;
	char err[256], creds[512];
	int steps = 0;

	time_t exp = time(NULL) + 3600;
	char when[32];

	/* valid for an hour: renewed 5 minutes before */
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&exp));
	snprintf(creds, sizeof(creds),
		 "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAROLE\",\"SecretAccessKey\":\"s\","
		 "\"Token\":\"t\",\"Expiration\":\"%s\"}",
		 when);
	while ((st = aws_imds_next(s, now)) != AWS_STEP_NONE) {
		const char *a = st == AWS_STEP_CREDS ? creds : answers[st];

		assert_true(++steps < 20);
		if (aws_imds_answer(s, st, 200, a, strlen(a), NULL, now, err, sizeof(err)) != 0)
			fail_msg("%s: %s", aws_step_name(st), err);
	}
}

static void test_discovery_and_refresh(void **state)
{
	struct cfg_aws w = { .enabled = true };
	struct aws_settings s = { 0 };
	char err[256];

	(void)state;
	clear_env();
	assert_int_equal(aws_settings_resolve(&s, &w, err, sizeof(err)), 0);
	assert_string_equal(s.creds_src, "instance role");
	assert_false(aws_settings_ready(&s));
	assert_int_equal(aws_imds_next(&s, 0), AWS_STEP_TOKEN);
	discover(&s, 1000);
	assert_true(aws_settings_ready(&s));
	assert_string_equal(s.endpoint, "https://ec2.eu-west-1.amazonaws.com");
	assert_string_equal(s.creds.key_id, "ASIAROLE");
	assert_int_equal(s.cidrs.n, 2);
	/* an hour, less the margin; a second or so may have gone by */
	assert_true(s.creds_refresh > 1000 + 3290 * 1000LL);
	assert_true(s.creds_refresh <= 1000 + 3300 * 1000LL);
	/* renewed before they expire, not before */
	assert_int_equal(aws_imds_next(&s, 2000), AWS_STEP_NONE);
	assert_int_equal(aws_imds_next(&s, s.creds_refresh - 1), AWS_STEP_NONE);
	assert_int_equal(aws_imds_next(&s, s.creds_refresh), AWS_STEP_CREDS);
	/* EC2 refused them: fetched again at once */
	aws_creds_refused(&s, 3000);
	assert_int_equal(aws_imds_next(&s, 3000), AWS_STEP_CREDS);
	/* an expired IMDS token: a new one first */
	assert_int_equal(
		aws_imds_answer(&s, AWS_STEP_CREDS, 401, "", 0, NULL, 3000, err, sizeof(err)), 1);
	assert_int_equal(aws_imds_next(&s, 3000), AWS_STEP_TOKEN);
	/* no role attached */
	assert_int_equal(
		aws_imds_answer(&s, AWS_STEP_ROLE, 404, "", 0, NULL, 3000, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "no IAM role attached"));
	assert_int_equal(
		aws_imds_answer(&s, AWS_STEP_VPC, 0, "", 0, "timed out", 3000, err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err, "IMDS vpc-id: http://169.254.169.254: timed out");
	aws_settings_free(&s);

	/* static credentials are never fetched, refused or not */
	memset(&s, 0, sizeof(s));
	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	assert_int_equal(aws_settings_resolve(&s, &w, err, sizeof(err)), 0);
	discover(&s, 1000);
	assert_string_equal(s.creds.key_id, "AKIDEXAMPLE");
	aws_creds_refused(&s, 3000);
	assert_int_equal(aws_imds_next(&s, 3000), AWS_STEP_NONE);
	aws_settings_free(&s);
	clear_env();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_grows_and_is_capped),
		cmocka_unit_test(test_backoff_state),
		cmocka_unit_test(test_bucket_paces),
		cmocka_unit_test(test_bucket_burst),
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_error_of),
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_post_is_signed),
		cmocka_unit_test(test_settings_refused),
		cmocka_unit_test(test_discovery_and_refresh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
