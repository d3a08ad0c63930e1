// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The AWS backend as the agent drives it, with http.c replaced by a fake
 * that the test answers: discovery, the route calls, what the error answers
 * lead to, and a status request that changes nothing. Linked without
 * state.c: the backend cannot call into the daemon core.
 */
#include "config.h"

#include <poll.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

#include "agent.h"
#include "cloud.h"
#include "fake_http.h"
#include "log.h"
#include "planner.h"
#include "unit.h"

#define ENI "eni-0a0a0a0a"

static const char *const conf_text =
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.0.0/16\"],"
	"\"tunnel\":{\"pool\":\"10.8.0.0/24\"},"
	"\"clients\":{\"home\":{\"allow\":[\"192.168.1.0/24\"]},"
	"\"shop\":{\"allow\":[\"192.168.2.0/24\"]}},"
	"\"aws\":{\"enabled\":true,\"route_tables\":\"auto\",\"disable_source_dest_check\":false,"
	"\"max_calls_per_s\":50}}";

/* The main table: 192.168.2.0/24 goes to another interface, 10.8.0.0/24
 * (the pool) to us from before; 192.168.1.0/24 is there when `ours`. */
static char *tables_xml(bool ours)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf),
		 "<DescribeRouteTablesResponse><routeTableSet><item>"
		 "<routeTableId>rtb-1</routeTableId><vpcId>vpc-01</vpcId>"
		 "<associationSet><item><main>true</main></item></associationSet><routeSet>"
		 "<item><destinationCidrBlock>10.1.0.0/16</destinationCidrBlock>"
		 "<gatewayId>local</gatewayId><state>active</state></item>"
		 "<item><destinationCidrBlock>192.168.2.0/24</destinationCidrBlock>"
		 "<networkInterfaceId>eni-0b0b0b0b</networkInterfaceId><state>active</state></item>"
		 "<item><destinationCidrBlock>10.8.0.0/24</destinationCidrBlock>"
		 "<networkInterfaceId>" ENI "</networkInterfaceId><state>active</state></item>"
		 "%s</routeSet></item></routeTableSet></DescribeRouteTablesResponse>",
		 ours ? "<item><destinationCidrBlock>192.168.1.0/24</destinationCidrBlock>"
			"<networkInterfaceId>" ENI
			"</networkInterfaceId><state>active</state></item>"
		      : "");
	return buf;
}

static const char *error_xml(const char *code)
{
	static char buf[512];

	snprintf(buf, sizeof(buf),
		 "<Response><Errors><Error><Code>%s</Code><Message>test</Message></Error></Errors>"
		 "<RequestID>x</RequestID></Response>",
		 code);
	return buf;
}

/* --- what the backend logs --- */

static char logged[64][512];
static unsigned nlogged;

static void sink(int prio, const char *msg, void *ctx)
{
	(void)prio;
	(void)ctx;
	if (nlogged < 64)
		snprintf(logged[nlogged++], sizeof(logged[0]), "%s", msg);
}

static unsigned count_logged(const char *needle)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nlogged; i++)
		n += strstr(logged[i], needle) != NULL;
	return n;
}

/* --- driving it --- */

struct fix {
	struct agent a;
	struct cloud *c;
};

static void clear_env(void)
{
	static const char *const vars[] = { "AWS_ACCESS_KEY_ID",
					    "AWS_SECRET_ACCESS_KEY",
					    "AWS_SESSION_TOKEN",
					    "AWS_REGION",
					    "AWS_DEFAULT_REGION",
					    "AWS_ENDPOINT_URL_EC2",
					    NULL };

	for (size_t i = 0; vars[i]; i++)
		unsetenv(vars[i]);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	char err[CFG_ERRLEN];

	clear_env();
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://imds.test", 1);
	setenv("AWS_ENDPOINT_URL", "http://ec2.test", 1);
	log_set_sink(sink, NULL);
	log_set_verbose(0);
	nlogged = 0;
	if (cfg_load_buf("t.conf", conf_text, strlen(conf_text), &f->a.cfg, err, sizeof(err)))
		fail_msg("%s", err);
	f->c = cloud_new(&f->a, false, err, sizeof(err));
	if (!f->c)
		fail_msg("%s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	cloud_free(f->c);
	cfg_free(f->a.cfg);
	free(f);
	return 0;
}

/* The request in flight is a call of action, or an IMDS path ending in it. */
static void expect_call(const char *what)
{
	const struct fake_req *r = fake_http_last();
	char action[128];

	snprintf(action, sizeof(action), "Action=%s&", what);
	assert_true(r->open);
	if (strncmp(r->body, action, strlen(action)) != 0 &&
	    (strlen(r->url) < strlen(what) || strcmp(r->url + strlen(r->url) - strlen(what), what)))
		fail_msg("expected %s, in flight: %s %s", what, r->url, r->body);
}

static unsigned answer(struct fix *f, long status, const char *body)
{
	fake_http_answer(status, body, NULL);
	return cloud_http_event(f->c);
}

/* The backend's own timer (pacing, back-off): waited for, then run. */
static void wait_timer(struct fix *f)
{
	struct pollfd p = { .fd = cloud_timer_fd(f->c), .events = POLLIN };

	assert_int_equal(poll(&p, 1, 10000), 1);
	cloud_timer_event(f->c);
}

/* From nothing to the first EC2 call (then), with role credentials. */
static void discover_to(struct fix *f, const char *then)
{
	static const struct {
		const char *path, *body;
	} imds[] = {
		{ "/latest/api/token", "TOKEN" },
		{ "/instance-id", "i-0123456789abcdef0" },
		{ "/placement/region", "eu-west-1" },
		{ "/latest/meta-data/mac", "0e:00:00:00:00:01" },
		{ "/interface-id", ENI },
		{ "/vpc-id", "vpc-01" },
		{ "/vpc-ipv4-cidr-blocks", "10.1.0.0/16" },
		{ "/vpc-ipv6-cidr-blocks", NULL }, /* 404: none */
		{ "/subnet-id", "subnet-0a" },
		{ "/security-credentials/", "vpcroute" },
	};
	unsigned news = 0;
	char creds[512];

	snprintf(creds, sizeof(creds),
		 "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAROLE\",\"SecretAccessKey\":\"s\","
		 "\"Token\":\"t\",\"Expiration\":\"2100-01-01T00:00:00Z\"}");
	for (size_t i = 0; i < sizeof(imds) / sizeof(*imds); i++) {
		unsigned n;

		expect_call(imds[i].path);
		assert_true(!cloud_vpc_cidrs(f->c) == !news); /* known once reported */
		n = answer(f, imds[i].body ? 200 : 404, imds[i].body ? imds[i].body : "");
		/* reported once, when the subnet (the last of it) is known */
		assert_int_equal(n, strcmp(imds[i].path, "/subnet-id") ? 0 : CLOUD_VPC_CIDRS);
		news |= n;
	}
	assert_int_equal(news, CLOUD_VPC_CIDRS);
	assert_non_null(cloud_vpc_cidrs(f->c));
	assert_int_equal(cloud_vpc_cidrs(f->c)->n, 1);
	expect_call("/security-credentials/vpcroute");
	assert_int_equal(answer(f, 200, creds), 0);
	expect_call(then);
	assert_string_equal(fake_http_last()->url, "http://ec2.test/");
	assert_string_equal(fake_http_last()->sigv4, "aws:amz:eu-west-1:ec2");
}

static void discover(struct fix *f)
{
	discover_to(f, "DescribeRouteTables");
}

static void want(struct fix *f)
{
	struct pfx_list l = { 0 };

	pfx_list_add(&l, P("192.168.1.0/24"), 8);
	pfx_list_add(&l, P("192.168.2.0/24"), 8);
	cloud_want_set(f->c, &l); /* kicks: the discovery starts */
	pfx_list_free(&l);
}

static char *status_text(struct fix *f)
{
	json_t *j = cloud_status(f->c);
	char *s;

	json_object_del(j, "retry_in_ms"); /* the clock moves */
	s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(j);
	return s;
}

static void test_status_changes_nothing(void **state)
{
	struct fix *f = *state;
	unsigned before;
	char *s1, *s2;

	want(f);
	discover(f);
	assert_int_equal(answer(f, 200, tables_xml(false)), 0);
	/* the tables are known, the plan not made yet: the security groups
	 * come first. A status request now plans, but keeps nothing and logs
	 * nothing: no conflict reported from here. */
	expect_call("DescribeNetworkInterfaceAttribute");
	before = nlogged;
	s1 = status_text(f);
	s2 = status_text(f);
	assert_string_equal(s1, s2);
	assert_non_null(
		strstr(s1, "\"pending_calls\":[\"CreateRoute rtb-1 192.168.1.0/24 -> " ENI "\"]"));
	assert_non_null(strstr(s1, "{\"destination\":\"192.168.2.0/24\",\"state\":\"conflict\""));
	assert_non_null(strstr(s1, "{\"destination\":\"10.8.0.0/24\",\"state\":\"withdrawing\""));
	free(s1);
	free(s2);
	assert_int_equal(nlogged, before);
	/* the backend's own turn reports the conflict, once */
	assert_int_equal(answer(f, 403, error_xml("UnauthorizedOperation")), 0);
	assert_int_equal(count_logged("conflict: route table rtb-1 sends 192.168.2.0/24 to "
				      "networkInterfaceId eni-0b0b0b0b"),
			 1);
	expect_call("CreateRoute");
	before = nlogged;
	free(status_text(f));
	assert_int_equal(nlogged, before);
	assert_int_equal(answer(f, 200,
				"<CreateRouteResponse><return>true</return>"
				"</CreateRouteResponse>"),
			 0);
	assert_int_equal(count_logged("CreateRoute rtb-1 192.168.1.0/24 -> " ENI ": done"), 1);
	assert_false(fake_http_last()->open); /* nothing else to do */
	s1 = status_text(f);
	assert_non_null(strstr(s1, "\"pending_calls\":[]"));
	assert_non_null(strstr(s1, "{\"destination\":\"192.168.1.0/24\",\"state\":\"ours\""));
	free(s1);
	assert_int_equal(count_logged("conflict:"), 1);
}

static void test_error_answers(void **state)
{
	struct fix *f = *state;
	json_t *j;

	want(f);
	discover(f);
	assert_int_equal(answer(f, 200, tables_xml(false)), 0);
	assert_int_equal(answer(f, 403, error_xml("UnauthorizedOperation")), 0);
	expect_call("CreateRoute");
	assert_non_null(strstr(fake_http_last()->body,
			       "RouteTableId=rtb-1&DestinationCidrBlock=192.168.1.0%2F24"
			       "&NetworkInterfaceId=" ENI));

	/* the table changed behind us: read again, then tried again */
	answer(f, 400, error_xml("RouteAlreadyExists"));
	expect_call("DescribeRouteTables");
	answer(f, 200, tables_xml(false));
	if (!fake_http_last()->open)
		wait_timer(f); /* the budget: 50 calls a second */
	expect_call("CreateRoute");
	answer(f, 400, error_xml("InvalidRoute.NotFound"));
	expect_call("DescribeRouteTables");
	answer(f, 200, tables_xml(false));
	if (!fake_http_last()->open)
		wait_timer(f);
	expect_call("CreateRoute");

	/* credentials refused: backed off, then the role's fetched again */
	answer(f, 401, error_xml("AuthFailure"));
	assert_false(fake_http_last()->open);
	j = cloud_status(f->c);
	assert_non_null(strstr(json_string_value(json_object_get(j, "last_error")),
			       "AuthFailure (test): check the instance role credentials"));
	assert_int_equal(json_integer_value(json_object_get(j, "retries")), 1);
	json_decref(j);
	wait_timer(f);
	expect_call("/security-credentials/vpcroute");
	answer(f, 200,
	       "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAROLE2\",\"SecretAccessKey\":\"s\","
	       "\"Token\":\"t\",\"Expiration\":\"2100-01-01T00:00:00Z\"}");
	if (!fake_http_last()->open)
		wait_timer(f);
	expect_call("CreateRoute");
	assert_string_equal(fake_http_last()->user, "ASIAROLE2");

	/* refused for good: not tried again before the next check of the tables */
	answer(f, 400, error_xml("InvalidParameterValue"));
	assert_false(fake_http_last()->open);
	j = cloud_status(f->c);
	assert_int_equal(json_array_size(json_object_get(j, "pending_calls")), 0);
	assert_non_null(strstr(json_string_value(json_object_get(j, "last_error")),
			       "not retried before the next check of the tables"));
	json_decref(j);
}

/* Retirement: our routes go, through the paced client; what EC2 refuses is
 * reported; afterwards nothing is created until a reload. */
static void test_withdraw(void **state)
{
	struct fix *f = *state;
	struct pfx_list none = { 0 }, more = { 0 };
	json_t *j;
	char *s;

	want(f);
	discover(f);
	assert_int_equal(answer(f, 200, tables_xml(true)), 0);
	assert_int_equal(answer(f, 403, error_xml("UnauthorizedOperation")), 0);
	assert_false(fake_http_last()->open); /* ours already, the rest a conflict */
	assert_true(cloud_withdraw_done(f->c));
	cloud_withdraw(f->c, PLAN_WITHDRAW_OURS);
	assert_false(cloud_withdraw_done(f->c));
	/* from the tables as they are now */
	expect_call("DescribeRouteTables");
	assert_int_equal(answer(f, 200, tables_xml(true)), 0);
	if (!fake_http_last()->open)
		wait_timer(f);
	expect_call("DeleteRoute");
	assert_non_null(strstr(fake_http_last()->body,
			       "RouteTableId=rtb-1&DestinationCidrBlock=10.8.0.0%2F24"));
	answer(f, 200, "<DeleteRouteResponse><return>true</return></DeleteRouteResponse>");
	assert_false(cloud_withdraw_done(f->c));
	if (!fake_http_last()->open)
		wait_timer(f);
	expect_call("DeleteRoute");
	answer(f, 403, error_xml("UnauthorizedOperation"));
	/* done: never the other interface's route, nothing created */
	assert_false(fake_http_last()->open);
	assert_true(cloud_withdraw_done(f->c));
	j = cloud_withdraw_result(f->c);
	s = json_dumps(j, JSON_COMPACT);
	assert_string_equal(s,
			    "{\"removed\":[\"DeleteRoute rtb-1 10.8.0.0/24\"],\"failed\":["
			    "\"DeleteRoute rtb-1 192.168.1.0/24: UnauthorizedOperation (test)\"],"
			    "\"dry_run\":false}");
	free(s);
	json_decref(j);
	assert_int_equal(count_logged("aws: withdraw: removed 1 route, 1 failed; nothing is "
				      "created until the next reload"),
			 1);
	j = cloud_status(f->c);
	assert_true(json_is_true(json_object_get(j, "withdrawn")));
	assert_true(json_is_object(json_object_get(j, "withdraw")));
	json_decref(j);
	/* a new network: no call */
	pfx_list_add(&more, P("192.168.5.0/24"), 8);
	cloud_want_change(f->c, &none, &more);
	pfx_list_free(&more);
	assert_false(fake_http_last()->open);
	j = cloud_status(f->c);
	assert_int_equal(json_array_size(json_object_get(j, "pending_calls")), 0);
	json_decref(j);
}

/*
 * aws.routes "route-server": the source/dest check is turned off, the
 * security groups read, and no route table is read or changed, at start or
 * for a withdraw (a BGP daemon announces the networks).
 */
static void test_route_server(void **state)
{
	static const char *const text =
		"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.0.0/16\"],"
		"\"tunnel\":{\"pool\":\"10.8.0.0/24\"},"
		"\"clients\":{\"home\":{\"allow\":[\"192.168.1.0/24\"]}},"
		"\"aws\":{\"routes\":\"route-server\",\"drift_check_s\":10,"
		"\"max_calls_per_s\":50}}";
	struct fix *f = *state;
	char err[CFG_ERRLEN], calls[1024] = "";
	unsigned modified = 0;
	json_t *j;

	cloud_free(f->c);
	cfg_free(f->a.cfg);
	if (cfg_load_buf("t.conf", text, strlen(text), &f->a.cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(f->a.cfg->aws.routes, CFG_ROUTES_ROUTE_SERVER);
	assert_non_null(f->c = cloud_new(&f->a, false, err, sizeof(err)));
	want(f);
	discover_to(f, "DescribeNetworkInterfaceAttribute");
	for (int i = 0; i < 8 && fake_http_last()->open; i++) {
		const char *b = fake_http_last()->body;

		snprintf(calls + strlen(calls), sizeof(calls) - strlen(calls), "%.*s;",
			 (int)strcspn(b + 7, "&"), b + 7);
		if (strstr(b, "Action=ModifyNetworkInterfaceAttribute&")) {
			modified++;
			answer(f, 200,
			       "<ModifyNetworkInterfaceAttributeResponse><return>true"
			       "</return></ModifyNetworkInterfaceAttributeResponse>");
		} else if (strstr(b, "Attribute=sourceDestCheck")) {
			answer(f, 200,
			       "<DescribeNetworkInterfaceAttributeResponse><networkInterfaceId>" ENI
			       "</networkInterfaceId><sourceDestCheck><value>true</value>"
			       "</sourceDestCheck></DescribeNetworkInterfaceAttributeResponse>");
		} else {
			answer(f, 403, error_xml("UnauthorizedOperation"));
		}
		if (!fake_http_last()->open && strstr(b, "ModifyNetworkInterfaceAttribute"))
			wait_timer(f);
	}
	assert_false(fake_http_last()->open);
	assert_int_equal(modified, 1);
	if (strstr(calls, "Route"))
		fail_msg("a route-table call in route-server mode: %s", calls);
	/* a withdraw has nothing to do, and ends at once */
	cloud_withdraw(f->c, PLAN_WITHDRAW_OURS);
	assert_true(cloud_withdraw_done(f->c));
	if (fake_http_last()->open && strstr(fake_http_last()->body, "Route"))
		fail_msg("withdraw: %s", fake_http_last()->body);
	j = cloud_status(f->c);
	assert_string_equal(json_string_value(json_object_get(j, "routes")), "route-server");
	assert_int_equal(json_array_size(json_object_get(j, "route_tables")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "pending_calls")), 0);
	assert_false(json_is_true(json_object_get(j, "withdrawn")));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_withdraw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_server, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
