// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"

#include "proto.h"

/* Encode, decode, re-encode: the bytes must be identical. */
static void roundtrip(const struct proto_msg *m, struct proto_msg *out)
{
	char a[PROTO_MAX_MSG], b[PROTO_MAX_MSG], e[PROTO_ERRLEN];
	int n, n2;

	n = proto_encode(m, a, sizeof(a));
	assert_true(n > 0);
	assert_int_equal(proto_decode(a, (size_t)n, out, e, sizeof(e)), 0);
	n2 = proto_encode(out, b, sizeof(b));
	assert_int_equal(n, n2);
	assert_memory_equal(a, b, (size_t)n);
}

static void test_connect_roundtrip(void **state)
{
	struct pfx nets[] = { pfx_of("192.168.1.128/25"), pfx_of("2001:db8:1::/48") };
	struct proto_msg m = { .type = PROTO_CONNECT, .id = 42 }, d;
	char s[PFX_STRLEN];

	strcpy(m.connect.cn, "pi-home");
	m.connect.has_tunnel4 = true;
	m.connect.tunnel4 = pfx_of("10.1.2.10");
	m.connect.nets.v = nets;
	m.connect.nets.n = 2;
	roundtrip(&m, &d);
	assert_int_equal(d.type, PROTO_CONNECT);
	assert_int_equal(d.id, 42);
	assert_string_equal(d.connect.cn, "pi-home");
	assert_true(d.connect.has_tunnel4);
	assert_false(d.connect.has_tunnel6);
	assert_int_equal(d.connect.nets.n, 2);
	assert_string_equal(pfx_format(&d.connect.nets.v[1], s, sizeof(s)), "2001:db8:1::/48");
	proto_msg_free(&d);
}

static void test_all_types_roundtrip(void **state)
{
	struct proto_client cl[2] = { 0 };
	struct proto_claim claims[1] = { 0 };
	struct pfx routes[] = { pfx_of("10.1.1.0/24") };
	struct proto_msg m, d;

	memset(&m, 0, sizeof(m));
	m.type = PROTO_HELLO;
	m.id = 1;
	m.hello.role = PROTO_ROLE_SERVER;
	m.hello.pid = 1234;
	strcpy(m.hello.instance, "server");
	roundtrip(&m, &d);
	assert_int_equal(d.hello.pid, 1234);
	proto_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = PROTO_DISCONNECT;
	strcpy(m.disconnect.cn, "pi-home");
	roundtrip(&m, &d);
	assert_int_equal(d.id, 0);
	proto_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = PROTO_LEARN;
	m.learn.op = PROTO_LEARN_DELETE;
	m.learn.addr = pfx_of("10.1.2.10");
	roundtrip(&m, &d);
	assert_int_equal(d.learn.op, PROTO_LEARN_DELETE);
	proto_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = PROTO_SYNC;
	strcpy(cl[0].cn, "a");
	strcpy(cl[1].cn, "b");
	m.sync.clients = cl;
	m.sync.n = 2;
	m.sync.more = true;
	roundtrip(&m, &d);
	assert_int_equal(d.sync.n, 2);
	assert_true(d.sync.more);
	proto_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = PROTO_TUNNEL;
	m.tunnel.event = PROTO_TUNNEL_ROUTE_UP;
	strcpy(m.tunnel.dev, "tun0");
	m.tunnel.has_local = true;
	m.tunnel.local = pfx_of("10.1.2.6");
	m.tunnel.routes.v = routes;
	m.tunnel.routes.n = 1;
	m.tunnel.listen_proto = PROTO_UDP;
	m.tunnel.listen_port = 1194;
	roundtrip(&m, &d);
	assert_int_equal(d.tunnel.event, PROTO_TUNNEL_ROUTE_UP);
	assert_int_equal(d.tunnel.routes.n, 1);
	assert_int_equal(d.tunnel.listen_proto, PROTO_UDP);
	assert_int_equal(d.tunnel.listen_port, 1194);
	proto_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = PROTO_CLAIMS;
	m.claims.gen = 9;
	claims[0].net = pfx_of("192.168.1.128/25");
	strcpy(claims[0].cn, "pi-home");
	strcpy(claims[0].instance, "server");
	m.claims.v = claims;
	m.claims.n = 1;
	roundtrip(&m, &d);
	assert_int_equal(d.claims.gen, 9);
	proto_msg_free(&d);

	memset(&m, 0, sizeof(m));
	m.type = PROTO_ACK;
	m.ack.ref = 42;
	strcpy(m.ack.error, "192.168.1.128/25 already claimed by pi-office");
	roundtrip(&m, &d);
	assert_false(d.ack.ok);
	assert_string_equal(d.ack.error, m.ack.error);
	proto_msg_free(&d);
}

static void expect_bad(const char *text, const char *needle)
{
	struct proto_msg d;
	char e[PROTO_ERRLEN] = "";

	assert_int_equal(proto_decode(text, strlen(text), &d, e, sizeof(e)), -EINVAL);
	if (!strstr(e, needle))
		fail_msg("decoding %s: error \"%s\" lacks \"%s\"", text, e, needle);
}

static void test_rejects(void **state)
{
	expect_bad("", "not JSON");
	expect_bad("[1]", "not a JSON object");
	expect_bad("{\"type\":\"hello\"}", "version");
	expect_bad("{\"v\":3,\"type\":\"hello\"}", "version");
	expect_bad("{\"v\":0,\"type\":\"hello\"}", "version");
	expect_bad("{\"v\":1,\"type\":\"nope\"}", "unknown message type");
	expect_bad("{\"v\":1,\"type\":\"disconnect\",\"cn\":\"../../etc/x\"}", "starts with '.'");
	expect_bad("{\"v\":1,\"type\":\"disconnect\",\"cn\":\"a/../../x\"}", "'/'");
	expect_bad("{\"v\":1,\"type\":\"disconnect\",\"cn\":\"a\",\"cn\":\"b\"}", "not JSON");
	expect_bad("{\"v\":1,\"type\":\"disconnect\",\"cn\":\"a\",\"x\":1}", "unknown key");
	expect_bad("{\"v\":1,\"type\":\"disconnect\",\"cn\":\"a\\u0000b\"}", "NUL");
	expect_bad("{\"v\":1,\"type\":\"disconnect\",\"cn\":\"a\",\"id\":-1}", "\"id\"");
	expect_bad("{\"v\":1,\"type\":\"disconnect\",\"cn\":\"a\",\"id\":9007199254740993}",
		   "\"id\"");
	expect_bad("{\"v\":1,\"type\":\"connect\",\"client\":{\"cn\":\"a\",\"networks\":[\"10.0.0."
		   "1/8\"]}}",
		   "networks[0]");
	expect_bad("{\"v\":1,\"type\":\"connect\",\"client\":{\"cn\":\"a\",\"networks\":[],"
		   "\"tunnel4\":\"::1\"}}",
		   "tunnel4");
	expect_bad("{\"v\":1,\"type\":\"connect\"}", "missing \"client\"");
	expect_bad("{\"v\":1,\"type\":\"ack\",\"ref\":1,\"ok\":false}", "needs \"error\"");
	expect_bad("{\"v\":1,\"type\":\"ack\",\"ref\":1,\"ok\":true,\"error\":\"x\"}", "\"error\"");
	expect_bad(
		"{\"v\":1,\"type\":\"learn\",\"op\":\"delete\",\"addr\":\"10.1.2.3\",\"cn\":\"a\"}",
		"delete");
	expect_bad("{\"v\":1,\"type\":\"learn\",\"op\":\"add\",\"addr\":\"10.1.2.3\"}", "\"cn\"");
	expect_bad("{\"v\":1,\"type\":\"tunnel\",\"event\":\"up\",\"dev\":\"../x\",\"routes\":[]}",
		   "interface");
	expect_bad("{\"v\":1,\"type\":\"tunnel\",\"event\":\"sideways\",\"dev\":\"tun0\","
		   "\"routes\":[]}",
		   "\"event\"");
	expect_bad("{\"v\":1,\"type\":\"hello\",\"role\":\"server\",\"pid\":1,\"instance\":"
		   "\"0123456789012345678901234567890123456789012345678901234567890123456789\"}",
		   "longer");
}

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* policy: the configuration's generation and digest, both ways. */
static void test_policy(void **state)
{
	struct proto_msg m = { .type = PROTO_POLICY }, d;
	char buf[PROTO_MAX_MSG];
	int n;

	m.policy.gen = 9007199254740992ull; /* 2^53, the largest */
	strcpy(m.policy.digest, SHA_ABC);
	n = proto_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "{\"gen\":9007199254740992,\"digest\":\"" SHA_ABC
				 "\",\"v\":2,\"type\":\"policy\"}");
	/* to a peer of version 1, in version 1 */
	m.version = 1;
	n = proto_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\"v\":1,"));
	m.version = 3;
	assert_int_equal(proto_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.version = 0;
	roundtrip(&m, &d);
	assert_int_equal(d.type, PROTO_POLICY);
	assert_int_equal(d.id, 0);
	assert_true(d.policy.gen == 9007199254740992ull);
	assert_string_equal(d.policy.digest, SHA_ABC);
	assert_string_equal(proto_type_name(PROTO_POLICY), "policy");
	proto_msg_free(&d);
	/* the encoder keeps to the same rules as the decoder */
	m.policy.gen = 9007199254740993ull;
	assert_int_equal(proto_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.policy.gen = 1;
	m.policy.digest[0] = 'B';
	assert_int_equal(proto_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.policy.digest[0] = '\0';
	assert_int_equal(proto_encode(&m, buf, sizeof(buf)), -EINVAL);

	expect_bad("{\"v\":1,\"type\":\"policy\",\"gen\":1}", "missing \"digest\"");
	expect_bad("{\"v\":1,\"type\":\"policy\",\"digest\":\"" SHA_ABC "\"}", "\"gen\"");
	expect_bad("{\"v\":1,\"type\":\"policy\",\"gen\":-1,\"digest\":\"" SHA_ABC "\"}",
		   "\"gen\"");
	expect_bad("{\"v\":1,\"type\":\"policy\",\"gen\":9007199254740993,\"digest\":\"" SHA_ABC
		   "\"}",
		   "\"gen\"");
	expect_bad("{\"v\":1,\"type\":\"policy\",\"gen\":1,\"digest\":\"BA7816BF8F01CFEA41414"
		   "0DE5DAE2223B00361A396177A9CB410FF61F20015AD\"}",
		   "64 lower-case hex digits");
	expect_bad("{\"v\":1,\"type\":\"policy\",\"gen\":1,\"digest\":\"ba7816bf\"}",
		   "64 lower-case hex digits");
	expect_bad("{\"v\":1,\"type\":\"policy\",\"gen\":1,\"digest\":\"" SHA_ABC "00\"}",
		   "longer than 64 bytes");
	expect_bad("{\"v\":1,\"type\":\"policy\",\"gen\":1,\"digest\":\"" SHA_ABC
		   "\",\"secret\":1}",
		   "unknown key");
}

/* vpcroutectl's requests and the agent's report pieces. */
static void test_ctl_messages(void **state)
{
	struct proto_msg m = { .type = PROTO_STATUS, .id = 7 }, out;
	char buf[PROTO_MAX_MSG], *big;

	roundtrip(&m, &out);
	assert_int_equal(out.type, PROTO_STATUS);
	assert_int_equal(out.id, 7);
	m.type = PROTO_RELOAD;
	roundtrip(&m, &out);
	assert_int_equal(out.type, PROTO_RELOAD);
	m.type = PROTO_METRICS;
	roundtrip(&m, &out);
	assert_int_equal(out.type, PROTO_METRICS);
	assert_int_equal(out.id, 7);
	expect_bad("{\"v\":1,\"type\":\"metrics\"}", "needs an \"id\"");
	m.type = PROTO_REPORT;
	m.id = 0;
	m.report.ref = 7;
	m.report.text = "{\"role\":\"server\",\"cn\":\"caf\u00e9\"}";
	roundtrip(&m, &out);
	assert_int_equal(out.report.ref, 7);
	assert_string_equal(out.report.text, m.report.text);
	proto_msg_free(&out);
	assert_null(out.report.text);
	/* the cap: PROTO_REPORT_MAX bytes of text encode, one more does not */
	big = malloc(PROTO_REPORT_MAX + 2);
	memset(big, 'x', PROTO_REPORT_MAX + 1);
	big[PROTO_REPORT_MAX] = '\0';
	m.report.text = big;
	roundtrip(&m, &out);
	proto_msg_free(&out);
	big[PROTO_REPORT_MAX] = 'x';
	big[PROTO_REPORT_MAX + 1] = '\0';
	assert_int_equal(proto_encode(&m, buf, sizeof(buf)), -EINVAL);
	free(big);
	expect_bad("{\"v\":1,\"type\":\"status\"}", "needs an \"id\"");
	expect_bad("{\"v\":1,\"type\":\"tunnel\",\"event\":\"up\",\"dev\":\"tun0\",\"routes\":[],"
		   "\"listen_proto\":\"udp\"}",
		   "go together");
	expect_bad("{\"v\":1,\"type\":\"tunnel\",\"event\":\"up\",\"dev\":\"tun0\",\"routes\":[],"
		   "\"listen_proto\":\"sctp\",\"listen_port\":1194}",
		   "listen_proto");
	expect_bad("{\"v\":1,\"type\":\"tunnel\",\"event\":\"up\",\"dev\":\"tun0\",\"routes\":[],"
		   "\"listen_proto\":\"udp\",\"listen_port\":0}",
		   "1-65535");
	expect_bad("{\"v\":1,\"type\":\"reload\",\"id\":1,\"force\":true}", "unknown key");
	expect_bad("{\"v\":1,\"type\":\"report\",\"ref\":1,\"text\":\"a\\u0000b\"}", "NUL");
	expect_bad("{\"v\":1,\"type\":\"report\",\"ref\":1}", "\"text\"");
}

/* vpcroutectl withdraw: a scope, and an id for its answer. */
static void test_withdraw(void **state)
{
	struct proto_msg m = { .type = PROTO_WITHDRAW, .id = 9 }, out;
	char buf[PROTO_MAX_MSG];

	for (int s = PROTO_WITHDRAW_OURS; s <= PROTO_WITHDRAW_ALL; s++) {
		m.withdraw.scope = (enum proto_withdraw_scope)s;
		roundtrip(&m, &out);
		assert_int_equal(out.type, PROTO_WITHDRAW);
		assert_int_equal(out.id, 9);
		assert_int_equal(out.withdraw.scope, s);
	}
	assert_string_equal(proto_type_name(PROTO_WITHDRAW), "withdraw");
	m.withdraw.scope = 0;
	assert_int_equal(proto_encode(&m, buf, sizeof(buf)), -EINVAL);
	expect_bad("{\"v\":1,\"type\":\"withdraw\",\"scope\":\"ours\"}", "needs an \"id\"");
	expect_bad("{\"v\":1,\"type\":\"withdraw\",\"id\":1}", "scope");
	expect_bad("{\"v\":1,\"type\":\"withdraw\",\"id\":1,\"scope\":\"everything\"}", "scope");
	expect_bad("{\"v\":1,\"type\":\"withdraw\",\"id\":1,\"scope\":\"-\"}", "scope");
	expect_bad("{\"v\":1,\"type\":\"withdraw\",\"id\":1,\"scope\":\"all\",\"now\":1}",
		   "unknown key");
}

static void test_caps(void **state)
{
	/* More networks than one client may announce. */
	size_t cap = 64 + (PROTO_MAX_NETS + 1) * 20;
	char *t = malloc(cap), e[PROTO_ERRLEN];
	struct proto_msg d;
	size_t n;

	n = (size_t)snprintf(
		t, cap, "{\"v\":1,\"type\":\"connect\",\"client\":{\"cn\":\"a\",\"networks\":[");
	for (int i = 0; i <= PROTO_MAX_NETS; i++)
		n += (size_t)snprintf(t + n, cap - n, "%s\"10.%d.%d.0/24\"", i ? "," : "", i / 256,
				      i % 256);
	n += (size_t)snprintf(t + n, cap - n, "]}}");
	assert_int_equal(proto_decode(t, n, &d, e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "more than"));
	free(t);

	/* Oversize messages are refused before parsing. */
	t = calloc(1, PROTO_MAX_MSG + 2);
	memset(t, ' ', PROTO_MAX_MSG + 1);
	assert_int_equal(proto_decode(t, PROTO_MAX_MSG + 1, &d, e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "exceeds"));
	free(t);

	/* The encoder refuses what the decoder would refuse, and small buffers. */
	struct proto_msg m = { .type = PROTO_DISCONNECT };
	char small[8];

	strcpy(m.disconnect.cn, "pi-home");
	assert_int_equal(proto_encode(&m, small, sizeof(small)), -EMSGSIZE);
	m.type = PROTO_TYPE_MAX;
	assert_int_equal(proto_encode(&m, small, sizeof(small)), -EINVAL);
}

static struct proto_claim claim(const char *net, const char *cn, const char *instance)
{
	struct proto_claim c = { .net = pfx_of(net) };

	snprintf(c.cn, sizeof(c.cn), "%s", cn);
	snprintf(c.instance, sizeof(c.instance), "%s", instance);
	return c;
}

/* A delta: the claims added and removed from generation base to gen. */
static void test_claims_delta(void **state)
{
	struct proto_claim add[2] = { claim("192.168.1.0/24", "a", "server"),
				      claim("2001:db8::/48", "b", "tcp") },
			   del[1] = { claim("192.168.9.0/24", "z", "server") };
	struct proto_msg m = { .type = PROTO_CLAIMS }, d;
	char buf[PROTO_MAX_MSG], e[PROTO_ERRLEN];
	int n;

	m.claims.gen = 8;
	m.claims.delta = true;
	m.claims.base = 7;
	m.claims.v = add;
	m.claims.n = 2;
	m.claims.del = del;
	m.claims.ndel = 1;
	m.claims.more = true;
	n = proto_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf,
			    "{\"gen\":8,\"base\":7,\"add\":[{\"net\":\"192.168.1.0/24\",\"cn\":"
			    "\"a\",\"instance\":\"server\"},{\"net\":\"2001:db8::/48\",\"cn\":"
			    "\"b\",\"instance\":\"tcp\"}],\"del\":[{\"net\":\"192.168.9.0/24\","
			    "\"cn\":\"z\",\"instance\":\"server\"}],\"more\":true,\"v\":2,"
			    "\"type\":\"claims\"}");
	roundtrip(&m, &d);
	assert_true(d.claims.delta);
	assert_int_equal(d.version, 2);
	assert_int_equal(d.claims.gen, 8);
	assert_int_equal(d.claims.base, 7);
	assert_int_equal(d.claims.n, 2);
	assert_int_equal(d.claims.ndel, 1);
	assert_true(d.claims.more);
	assert_string_equal(d.claims.v[1].cn, "b");
	assert_string_equal(d.claims.v[1].instance, "tcp");
	assert_string_equal(d.claims.del[0].cn, "z");
	assert_true(pfx_equal(&d.claims.del[0].net, &del[0].net));
	proto_msg_free(&d);
	assert_null(d.claims.del);
	/* an empty delta (nothing but a new generation) is one too */
	m.claims.n = m.claims.ndel = 0;
	m.claims.more = false;
	roundtrip(&m, &d);
	assert_true(d.claims.delta);
	assert_int_equal(d.claims.n + d.claims.ndel, 0);
	proto_msg_free(&d);

	/* the encoder keeps to the decoder's rules */
	m.claims.base = 8;
	assert_int_equal(proto_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.claims.base = 7;
	m.version = 1; /* a plugin of version 1 knows snapshots only */
	assert_int_equal(proto_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.version = 0;
	m.claims.delta = false;
	m.claims.ndel = 1;
	assert_int_equal(proto_encode(&m, buf, sizeof(buf)), -EINVAL);

	/* a snapshot keeps version 1's form, in either version */
	m.claims.ndel = 0;
	m.claims.n = 1;
	m.version = 1;
	n = proto_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(proto_decode(buf, (size_t)n, &d, e, sizeof(e)), 0);
	assert_int_equal(d.version, 1);
	assert_false(d.claims.delta);
	assert_int_equal(d.claims.n, 1);
	proto_msg_free(&d);

	expect_bad("{\"v\":1,\"type\":\"claims\",\"gen\":2,\"base\":1,\"add\":[],\"del\":[],"
		   "\"more\":false}",
		   "needs protocol version 2");
	expect_bad("{\"v\":2,\"type\":\"claims\",\"gen\":2,\"base\":2,\"add\":[],\"del\":[],"
		   "\"more\":false}",
		   "below \"gen\"");
	expect_bad("{\"v\":2,\"type\":\"claims\",\"gen\":2,\"base\":1,\"add\":[],"
		   "\"more\":false}",
		   "\"del\" must be an array");
	expect_bad("{\"v\":2,\"type\":\"claims\",\"gen\":2,\"base\":1,\"add\":[],\"del\":[],"
		   "\"claims\":[],\"more\":false}",
		   "unknown key");
	expect_bad("{\"v\":2,\"type\":\"claims\",\"gen\":2,\"base\":-1,\"add\":[],\"del\":[],"
		   "\"more\":false}",
		   "\"base\"");
	expect_bad("{\"v\":2,\"type\":\"claims\",\"gen\":2,\"base\":1,\"add\":[],\"del\":[{"
		   "\"net\":\"10.0.0.1/8\",\"cn\":\"a\",\"instance\":\"s\"}],\"more\":false}",
		   "del[0]");
	expect_bad("{\"v\":2,\"type\":\"claims\",\"gen\":2,\"add\":[],\"del\":[],"
		   "\"more\":false}",
		   "unknown key");
}

/* A plugin that lost track of the claims asks for the whole table. */
static void test_snapshot_request(void **state)
{
	struct proto_msg m = { .type = PROTO_SNAPSHOT }, d;
	char buf[64];

	roundtrip(&m, &d);
	assert_int_equal(d.type, PROTO_SNAPSHOT);
	assert_string_equal(proto_type_name(PROTO_SNAPSHOT), "snapshot");
	m.version = 1;
	assert_int_equal(proto_encode(&m, buf, sizeof(buf)), -EINVAL);
	expect_bad("{\"v\":1,\"type\":\"snapshot\"}", "needs protocol version 2");
	expect_bad("{\"v\":2,\"type\":\"snapshot\",\"gen\":1}", "unknown key");
}

/*
 * proto_claim_size is exact, escapes included, and PROTO_CLAIMS_FRAME holds
 * the rest of the largest message: the agent sizes chunks without trying.
 */
static void test_claim_size(void **state)
{
	struct proto_claim c[] = {
		claim("0.0.0.0/0", "a", ""),
		claim("192.168.100.128/25", "pi-home.example@x", "server"),
		claim("2001:db8:ffff:ffff:ffff:ffff:ffff:0/112", "b",
		      "q\"uo\\te\n\t\x01\x1f/caf\u00e9"),
	};
	struct proto_msg m = { .type = PROTO_CLAIMS };
	static struct proto_claim many[PROTO_MAX_CLAIMS];
	char buf[PROTO_MAX_MSG];
	size_t room = PROTO_MAX_MSG - PROTO_CLAIMS_FRAME, k = 0;
	int empty, n;

	m.claims.gen = 5;
	empty = proto_encode(&m, buf, sizeof(buf));
	assert_true(empty > 0);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		m.claims.v = &c[i];
		m.claims.n = 1;
		n = proto_encode(&m, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal((size_t)(n - empty), proto_claim_size(&c[i]));
	}
	/* the largest frame: every number at its maximum, an id, empty lists */
	m = (struct proto_msg){ .type = PROTO_CLAIMS, .id = 9007199254740991ull };
	m.claims.gen = 9007199254740992ull;
	m.claims.base = 9007199254740991ull;
	m.claims.delta = true;
	n = proto_encode(&m, buf, sizeof(buf));
	assert_true(n > 0 && n <= PROTO_CLAIMS_FRAME);
	/* filled by the sizes, a message fits */
	for (; k < PROTO_MAX_CLAIMS; k++) {
		many[k] =
			claim("2001:db8:ffff:ffff:ffff:ffff:ffff:0/112", "a-rather-long-name", "i");
		if (proto_claim_size(&many[k]) + 1 > room)
			break;
		room -= proto_claim_size(&many[k]) + 1;
	}
	m.claims.v = many;
	m.claims.n = k;
	n = proto_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_true(PROTO_MAX_MSG - n < 100); /* and nearly fills it */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_roundtrip),
		cmocka_unit_test(test_all_types_roundtrip),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_ctl_messages),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_withdraw),
		cmocka_unit_test(test_claims_delta),
		cmocka_unit_test(test_snapshot_request),
		cmocka_unit_test(test_claim_size),
	};

	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
