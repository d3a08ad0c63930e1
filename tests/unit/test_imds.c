// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <stdlib.h>
#include <time.h>

#include "unit.h"

#include "imds.h"

/* A string literal and its length, NUL bytes inside included. */
#define S(lit) lit, sizeof(lit) - 1
#define N(a)   (sizeof(a) / sizeof((a)[0]))

/* What the outputs are filled with before a call that must fail. */
#define SENTINEL 0x5a

typedef int (*text_fn)(const char *buf, size_t len, char *out, size_t outlen, char *err,
		       size_t errlen);

static int parse_i(const char *buf, size_t len, char *out, size_t outlen, char *err, size_t errlen)
{
	return imds_parse_id(buf, len, "i-", out, outlen, err, errlen);
}

static int parse_eni(const char *buf, size_t len, char *out, size_t outlen, char *err,
		     size_t errlen)
{
	return imds_parse_id(buf, len, "eni-", out, outlen, err, errlen);
}

static int parse_vpc(const char *buf, size_t len, char *out, size_t outlen, char *err,
		     size_t errlen)
{
	return imds_parse_id(buf, len, "vpc-", out, outlen, err, errlen);
}

static int parse_subnet(const char *buf, size_t len, char *out, size_t outlen, char *err,
			size_t errlen)
{
	return imds_parse_id(buf, len, "subnet-", out, outlen, err, errlen);
}

static void need(const char *err, const char *needle)
{
	if (!strstr(err, needle))
		fail_msg("\"%s\" lacks \"%s\"", err, needle);
}

static void untouched(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != SENTINEL)
			fail_msg("byte %zu of the output was changed to 0x%02x", i, b[i]);
}

static void text_ok(text_fn f, const char *buf, size_t len, const char *want)
{
	char out[IMDS_TOKEN_MAX + 1], err[IMDS_ERRLEN] = "";

	memset(out, SENTINEL, sizeof(out));
	if (f(buf, len, out, sizeof(out), err, sizeof(err)) != 0)
		fail_msg("\"%.*s\" refused: %s", (int)len, buf, err);
	assert_string_equal(out, want);
}

/* outlen 0: the whole output buffer */
static void text_bad(text_fn f, const char *buf, size_t len, size_t outlen, const char *needle)
{
	char out[IMDS_TOKEN_MAX + 8], err[IMDS_ERRLEN] = "";

	memset(out, SENTINEL, sizeof(out));
	assert_int_equal(f(buf, len, out, outlen ? outlen : sizeof(out), err, sizeof(err)),
			 -EINVAL);
	untouched(out, sizeof(out));
	need(err, needle);
}

/* n copies of c */
static char *rep(int c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_token(void **state)
{
	const char *tok = "AQAEAEoJ7x2VhEXAMPLEtokenFz8-Y_a0vxw==";
	char *want = rep('A', IMDS_TOKEN_MAX), *big = rep('A', IMDS_TOKEN_MAX + 1);

	text_ok(imds_parse_token, tok, strlen(tok), tok);
	text_ok(imds_parse_token, S("AQAEAEoJ7x2VhEXAMPLEtokenFz8-Y_a0vxw==\n"), tok);
	text_ok(imds_parse_token, S("!~"), "!~");
	/* exactly IMDS_TOKEN_MAX bytes, with and without the newline; one more is refused */
	text_ok(imds_parse_token, big, IMDS_TOKEN_MAX, want);
	text_bad(imds_parse_token, big, IMDS_TOKEN_MAX + 1, IMDS_TOKEN_MAX + 1,
		 "token: answer longer than 1024 bytes");
	big[IMDS_TOKEN_MAX] = '\n';
	text_ok(imds_parse_token, big, IMDS_TOKEN_MAX + 1, want);
	free(big);
	free(want);

	text_bad(imds_parse_token, S(""), 0, "token: empty answer");
	text_bad(imds_parse_token, S("\n"), 0, "token: empty answer");
	text_bad(imds_parse_token, S("abc\n\n"), 0, "token: byte 0x0a at offset 3");
	text_bad(imds_parse_token, S("abc\r\n"), 0, "token: byte 0x0d at offset 3");
	text_bad(imds_parse_token, S("ab\0c"), 0, "token: byte 0x00 at offset 2");
	text_bad(imds_parse_token, S("abc\0"), 0, "token: byte 0x00 at offset 3");
	text_bad(imds_parse_token, S("a b"), 0, "token: byte 0x20 at offset 1");
	text_bad(imds_parse_token, S("\tab"), 0, "token: byte 0x09 at offset 0");
	text_bad(imds_parse_token, S("ab\x7f"), 0, "token: byte 0x7f at offset 2");
	text_bad(imds_parse_token, S("\xc3\xa9t\xc3\xa9"), 0, "token: byte 0xc3 at offset 0");
	text_bad(imds_parse_token, S("\xff"), 0, "token: byte 0xff at offset 0");
	/* the caller's buffer is the limit */
	text_bad(imds_parse_token, S("abcd"), 4, "token: answer longer than 3 bytes");
}

/* 40 hex digits: the most an id has */
#define HEX40 "0123456789abcdef0123456789abcdef01234567"

static void test_ids(void **state)
{
	text_ok(parse_i, S("i-0abc123def4567890"), "i-0abc123def4567890");
	text_ok(parse_i, S("i-0abc123def4567890\n"), "i-0abc123def4567890");
	text_ok(parse_i, S("i-12345678"), "i-12345678");
	text_ok(parse_i, S("i-" HEX40), "i-" HEX40);
	text_ok(parse_eni, S("eni-0123456789abcdef0\n"), "eni-0123456789abcdef0");
	text_ok(parse_vpc, S("vpc-0a1b2c3d"), "vpc-0a1b2c3d");
	text_ok(parse_subnet, S("subnet-0123456789abcdef0\n"), "subnet-0123456789abcdef0");

	text_bad(parse_i, S(""), 0, "i-: empty answer");
	text_bad(parse_vpc, S("\n"), 0, "vpc-: empty answer");
	text_bad(parse_i, S("i-"), 0, "\"i-\" is not an id of the form i-<hex digits>");
	text_bad(parse_i, S("i-\n"), 0, "is not an id of the form i-<hex digits>");
	text_bad(parse_i, S("i-0ABC123"), 0, "\"i-0ABC123\" is not an id of the form i-");
	text_bad(parse_i, S("I-0abc123"), 0, "is not an id of the form i-");
	text_bad(parse_i, S("i-0abg123"), 0, "is not an id of the form i-");
	text_bad(parse_i, S("i-0abc-123"), 0, "is not an id of the form i-");
	text_bad(parse_i, S("i-" HEX40 "8"), 0, "is not an id of the form i-");
	text_bad(parse_i, S("eni-0123456789abcdef0"), 0, "is not an id of the form i-");
	text_bad(parse_eni, S("i-0abc123"), 0, "is not an id of the form eni-");
	text_bad(parse_subnet, S("vpc-0a1b2c3d"), 0, "is not an id of the form subnet-");
	text_bad(parse_vpc, S("vpc0a1b2c3d"), 0, "is not an id of the form vpc-");
	text_bad(parse_vpc, S("xvpc-0a1b2c3d"), 0, "is not an id of the form vpc-");
	text_bad(parse_i, S("i- 0abc"), 0, "i-: byte 0x20 at offset 2");
	text_bad(parse_i, S("i-0abc\r\n"), 0, "i-: byte 0x0d at offset 6");
	text_bad(parse_i, S("i-0abc\n\n"), 0, "i-: byte 0x0a at offset 6");
	text_bad(parse_i, S("i-0a\0bc"), 0, "i-: byte 0x00 at offset 4");
	text_bad(parse_eni, S("eni-0123\xe2\x80\x8b"), 0, "eni-: byte 0xe2 at offset 8");
	text_bad(parse_i, S("i-" HEX40 HEX40), 0, "i-: answer longer than 64 bytes");
	text_bad(parse_i, S("i-0123456789"), 8, "\"i-0123456789\" is too long");
}

static void test_region(void **state)
{
	text_ok(imds_parse_region, S("eu-central-1"), "eu-central-1");
	text_ok(imds_parse_region, S("us-east-1\n"), "us-east-1");
	text_ok(imds_parse_region, S("us-gov-west-1"), "us-gov-west-1");

	text_bad(imds_parse_region, S(""), 0, "region: empty answer");
	text_bad(imds_parse_region, S("EU-CENTRAL-1"), 0,
		 "\"EU-CENTRAL-1\" is not an AWS region name");
	text_bad(imds_parse_region, S("us-east-1a"), 0, "is not an AWS region name");
	text_bad(imds_parse_region, S("us_east_1"), 0, "is not an AWS region name");
	text_bad(imds_parse_region, S("-east-1"), 0, "is not an AWS region name");
	text_bad(imds_parse_region, S("eu-central-1 "), 0, "region: byte 0x20 at offset 12");
	text_bad(imds_parse_region, S("eu-central-1\r\n"), 0, "region: byte 0x0d at offset 12");
	text_bad(imds_parse_region, S("eu\0central-1"), 0, "region: byte 0x00 at offset 2");
	text_bad(imds_parse_region, S("eu-central-1-eu-central-1-eu-central-1-1"), 0,
		 "region: answer longer than 39 bytes");
	text_bad(imds_parse_region, S("eu-central-1"), 5, "is not an AWS region name");
}

static void test_mac(void **state)
{
	char out[18], err[IMDS_ERRLEN];

	text_ok(imds_parse_mac, S("0a:1b:2c:3d:4e:5f"), "0a:1b:2c:3d:4e:5f");
	text_ok(imds_parse_mac, S("02:00:00:ff:ee:99\n"), "02:00:00:ff:ee:99");
	/* 18 bytes are enough */
	assert_int_equal(
		imds_parse_mac(S("0a:1b:2c:3d:4e:5f\n"), out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "0a:1b:2c:3d:4e:5f");

	text_bad(imds_parse_mac, S(""), 0, "mac: empty answer");
	text_bad(imds_parse_mac, S("0A:1B:2C:3D:4E:5F"), 0,
		 "\"0A:1B:2C:3D:4E:5F\" is not a MAC address");
	text_bad(imds_parse_mac, S("0a-1b-2c-3d-4e-5f"), 0, "is not a MAC address");
	text_bad(imds_parse_mac, S("0a:1b:2c:3d:4e"), 0, "is not a MAC address");
	text_bad(imds_parse_mac, S("0a:1b:2c:3d:4e:5"), 0, "is not a MAC address");
	text_bad(imds_parse_mac, S("0a:1b:2c:3d:4e:5f:"), 0, "is not a MAC address");
	text_bad(imds_parse_mac, S("0a:1b:2c:3d:4e:5g"), 0, "is not a MAC address");
	text_bad(imds_parse_mac, S("a:1b:2c:3d:4e:5f0"), 0, "is not a MAC address");
	text_bad(imds_parse_mac, S("0a1b2c3d4e5f00000"), 0, "is not a MAC address");
	text_bad(imds_parse_mac, S("0a:1b:2c:3d:4e:5f:60:71"), 0, "is not a MAC address");
	text_bad(imds_parse_mac, S("0a:1b:2c:3d:4e:5f:60:71:8"), 0,
		 "mac: answer longer than 23 bytes");
	text_bad(imds_parse_mac, S("0a:1b:2c:3d:4e:5f\r\n"), 0, "mac: byte 0x0d at offset 17");
	text_bad(imds_parse_mac, S("0a:1b:2c:3d:4e:5f\0"), 0, "mac: byte 0x00 at offset 17");
	text_bad(imds_parse_mac, S("0a:1b:2c:3d:4e:5f"), 17, "no room for a MAC address");
}

static void cidrs_ok(const char *buf, size_t len, const char *const *want, size_t n)
{
	struct pfx_list l = { 0 };
	char err[IMDS_ERRLEN] = "", s[PFX_STRLEN];

	if (imds_parse_cidrs(buf, len, &l, err, sizeof(err)) != 0)
		fail_msg("\"%.*s\" refused: %s", (int)len, buf, err);
	assert_int_equal(l.n, n);
	assert_non_null(l.v);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(pfx_format(&l.v[i], s, sizeof(s)), want[i]);
	pfx_list_free(&l);
}

static void cidrs_bad(const char *buf, size_t len, const char *needle)
{
	struct pfx sentinel;
	struct pfx_list l = { &sentinel, 99 };
	char err[IMDS_ERRLEN] = "";

	assert_int_equal(imds_parse_cidrs(buf, len, &l, err, sizeof(err)), -EINVAL);
	assert_ptr_equal(l.v, &sentinel);
	assert_int_equal(l.n, 99);
	need(err, needle);
}

/* "10.0.0.0/24\n10.0.1.0/24\n..." with n blocks; a trailing newline */
static char *blocks(size_t n, size_t *len)
{
	char *s = malloc(n * 16 + 1);
	size_t o = 0;

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		o += (size_t)sprintf(s + o, "10.%zu.%zu.0/24\n", i / 256, i % 256);
	*len = o;
	return s;
}

static void test_cidrs(void **state)
{
	const char *one[] = { "10.0.0.0/16" };
	const char *two[] = { "10.0.0.0/16", "100.64.0.0/16" };
	const char *v6[] = { "2001:db8:1234:1a00::/56" };
	const char *mixed[] = { "172.31.0.0/16", "2001:db8::/56", "0.0.0.0/0" };
	size_t len;
	char *s;

	cidrs_ok(S("10.0.0.0/16"), one, N(one));
	cidrs_ok(S("10.0.0.0/16\n"), one, N(one));
	cidrs_ok(S("10.0.0.0/16\n100.64.0.0/16"), two, N(two));
	cidrs_ok(S("10.0.0.0/16\n100.64.0.0/16\n"), two, N(two));
	cidrs_ok(S("2001:db8:1234:1a00::/56\n"), v6, N(v6));
	cidrs_ok(S("172.31.0.0/16\n2001:db8::/56\n0.0.0.0/0\n"), mixed, N(mixed));
	/* a block given twice is kept once */
	cidrs_ok(S("10.0.0.0/16\n10.0.0.0/16\n"), one, N(one));

	s = blocks(64, &len);
	{
		struct pfx_list l = { 0 };
		char err[IMDS_ERRLEN] = "", f[PFX_STRLEN];

		assert_int_equal(imds_parse_cidrs(s, len, &l, err, sizeof(err)), 0);
		assert_int_equal(l.n, 64);
		assert_string_equal(pfx_format(&l.v[63], f, sizeof(f)), "10.0.63.0/24");
		pfx_list_free(&l);
	}
	free(s);
	s = blocks(65, &len);
	cidrs_bad(s, len, "CIDR blocks: more than 64");
	free(s);
	s = blocks(300, &len);
	cidrs_bad(s, len, "CIDR blocks: more than 64");
	free(s);

	cidrs_bad(S(""), "CIDR blocks: empty answer");
	cidrs_bad(S("\n"), "CIDR blocks: line 1 is empty");
	cidrs_bad(S("10.0.0.0/16\n\n10.1.0.0/16\n"), "CIDR blocks: line 2 is empty");
	cidrs_bad(S("10.0.0.0/16\n\n"), "CIDR blocks: line 2 is empty");
	cidrs_bad(S("\n10.0.0.0/16"), "CIDR blocks: line 1 is empty");
	/* lines are counted as lines, not as blocks kept */
	cidrs_bad(S("10.0.0.0/16\n10.0.0.0/16\n\n"), "CIDR blocks: line 3 is empty");
	cidrs_bad(S("10.0.0.0/16\n10.1.0.0/16\n10.2.0.0/16\0"),
		  "CIDR blocks: line 3 is not a prefix");
	cidrs_bad(S("10.0.0.1/16"), "host bits set");
	cidrs_bad(S("10.0.0.0/16\n10.1.0.1/16\n"), "host bits set (the network is 10.1.0.0/16)");
	cidrs_bad(S("2001:db8::1/56\n"), "host bits set");
	cidrs_bad(S("10.0.0.0"), "not a prefix (expected address/length)");
	cidrs_bad(S("10.0.0.0/33"), "bad prefix length");
	cidrs_bad(S("vpc-1/16"), "is not an IPv4 or IPv6 address");
	cidrs_bad(S("10.0.0.0/16\r\n"), "bad prefix length");
	cidrs_bad(S("10.0.0.0/16 \n"), "bad prefix length");
	cidrs_bad(S(" 10.0.0.0/16\n"), "is not an IPv4 or IPv6 address");
	cidrs_bad(S("10.0.0.0/16\0\n"), "CIDR blocks: line 1 is not a prefix");
	cidrs_bad(S("10.0.0.0/16\n10.1.0.0/16\0"), "CIDR blocks: line 2 is not a prefix");
	cidrs_bad(S("2001:0db8:0000:0000:0000:0000:0000:0000:0000:0000/56"),
		  "CIDR blocks: line 1 is not a prefix");
}

static void test_role(void **state)
{
	char *s;

	text_ok(imds_parse_role, S("vpcroute-agent"), "vpcroute-agent");
	text_ok(imds_parse_role, S("vpcroute-agent\n"), "vpcroute-agent");
	text_ok(imds_parse_role, S("Role_+=,.@-1"), "Role_+=,.@-1");
	/* a listing of two: the first is taken, the rest not looked at */
	text_ok(imds_parse_role, S("first\nsecond\n"), "first");
	text_ok(imds_parse_role, S("first\nnot a role\r\n"), "first");
	s = rep('r', 64);
	text_ok(imds_parse_role, s, 64, s);
	free(s);

	text_bad(imds_parse_role, S(""), 0, "role: empty answer");
	text_bad(imds_parse_role, S("\n"), 0, "role: empty answer");
	text_bad(imds_parse_role, S("\nrole"), 0, "role: empty answer");
	text_bad(imds_parse_role, S("my role"), 0, "role: byte 0x20 at offset 2");
	text_bad(imds_parse_role, S("role\r\nother"), 0, "role: byte 0x0d at offset 4");
	text_bad(imds_parse_role, S("ro\0le"), 0, "role: byte 0x00 at offset 2");
	text_bad(imds_parse_role, S("r\xc3\xb6le"), 0, "role: byte 0xc3 at offset 1");
	text_bad(imds_parse_role, S("path/role"), 0, "\"path/role\" is not an IAM role name");
	text_bad(imds_parse_role, S("role;id"), 0, "is not an IAM role name");
	text_bad(imds_parse_role, S("role\"x"), 0, "is not an IAM role name");
	s = rep('r', 65);
	text_bad(imds_parse_role, s, 65, 0, "is not an IAM role name");
	free(s);
	s = rep('r', IMDS_ROLE_MAX + 1);
	text_bad(imds_parse_role, s, IMDS_ROLE_MAX + 1, 0, "role: answer longer than 128 bytes");
	free(s);
	text_bad(imds_parse_role, S("abcdef\n"), 5, "role name too long");
}

/* As IMDS serves it: pretty-printed, no trailing newline. */
#define CREDS_OK                                                                                   \
	"{\n"                                                                                      \
	"  \"Code\" : \"Success\",\n"                                                              \
	"  \"LastUpdated\" : \"2026-11-22T09:47:11Z\",\n"                                          \
	"  \"Type\" : \"AWS-HMAC\",\n"                                                             \
	"  \"AccessKeyId\" : \"ASIAIOSFODNN7EXAMPLE\",\n"                                          \
	"  \"SecretAccessKey\" : \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\",\n"                  \
	"  \"Token\" : \"IQoJb3JpZ2luX2VjEXAMPLE+/token//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==\",\n" \
	"  \"Expiration\" : \"2026-11-22T16:00:00Z\"\n"                                            \
	"}"

/* 2026-11-22T16:00:00Z, date -u -d 2026-11-22T16:00:00Z +%s */
#define EXP_OK 1795363200

static void creds_ok(const char *buf, size_t len, time_t exp)
{
	struct imds_creds c;
	char err[IMDS_ERRLEN] = "";

	memset(&c, SENTINEL, sizeof(c));
	if (imds_parse_creds(buf, len, &c, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_string_equal(c.key_id, "ASIAIOSFODNN7EXAMPLE");
	assert_string_equal(c.secret, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
	assert_string_equal(c.token,
			    "IQoJb3JpZ2luX2VjEXAMPLE+/token//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==");
	assert_int_equal(c.expiration, exp);
}

static void creds_bad(const char *buf, size_t len, const char *needle)
{
	struct imds_creds c;
	char err[IMDS_ERRLEN] = "";

	memset(&c, SENTINEL, sizeof(c));
	assert_int_equal(imds_parse_creds(buf, len, &c, err, sizeof(err)), -EINVAL);
	untouched(&c, sizeof(c));
	need(err, needle);
}

/*
 * A credentials answer from raw JSON values; NULL leaves the key out.
 * A static buffer: one answer at a time.
 */
static const char *creds(const char *code, const char *id, const char *secret, const char *token,
			 const char *exp)
{
	static char buf[3 * IMDS_SESSION_MAX];
	size_t o = 0;

	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "{\"Type\":\"AWS-HMAC\"");
	if (code)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",\"Code\":%s", code);
	if (id)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",\"AccessKeyId\":%s", id);
	if (secret)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",\"SecretAccessKey\":%s", secret);
	if (token)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",\"Token\":%s", token);
	if (exp)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",\"Expiration\":%s", exp);
	snprintf(buf + o, sizeof(buf) - o, "}");
	assert_true(strlen(buf) < sizeof(buf) - 1);
	return buf;
}

#define C_CODE	 "\"Success\""
#define C_ID	 "\"ASIAIOSFODNN7EXAMPLE\""
#define C_SECRET "\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\""
#define C_TOKEN	 "\"IQoJb3JpZ2luX2VjEXAMPLE+/token//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==\""
#define C_EXP	 "\"2026-11-22T16:00:00Z\""

static void creds_bad_fields(const char *code, const char *id, const char *secret,
			     const char *token, const char *exp, const char *needle)
{
	const char *s = creds(code, id, secret, token, exp);

	creds_bad(s, strlen(s), needle);
}

static void test_creds(void **state)
{
	const char *s;
	struct imds_creds c;
	char err[IMDS_ERRLEN], *tok, *q;

	creds_ok(S(CREDS_OK), EXP_OK);
	creds_ok(S(CREDS_OK "\n"), EXP_OK);
	s = creds(C_CODE, C_ID, C_SECRET, C_TOKEN, C_EXP);
	creds_ok(s, strlen(s), EXP_OK);
	/* fractions of a second are dropped */
	s = creds(C_CODE, C_ID, C_SECRET, C_TOKEN, "\"2026-11-22T16:00:00.123Z\"");
	creds_ok(s, strlen(s), EXP_OK);
	s = creds(C_CODE, C_ID, C_SECRET, C_TOKEN, "\"2026-11-22T16:00:59.999999Z\"");
	creds_ok(s, strlen(s), EXP_OK + 59);
	/* the answer need not be nul-terminated: len is the limit */
	creds_ok(S(CREDS_OK "garbage") - 7, EXP_OK);

	/* session tokens up to IMDS_SESSION_MAX bytes */
	tok = malloc(IMDS_SESSION_MAX + 4);
	q = rep('T', IMDS_SESSION_MAX);
	snprintf(tok, IMDS_SESSION_MAX + 4, "\"%s\"", q);
	s = creds(C_CODE, C_ID, C_SECRET, tok, C_EXP);
	assert_int_equal(imds_parse_creds(s, strlen(s), &c, err, sizeof(err)), 0);
	assert_string_equal(c.token, q);
	free(q);
	free(tok);
	tok = malloc(IMDS_SESSION_MAX + 5);
	q = rep('T', IMDS_SESSION_MAX + 1);
	snprintf(tok, IMDS_SESSION_MAX + 5, "\"%s\"", q);
	creds_bad_fields(C_CODE, C_ID, C_SECRET, tok, C_EXP,
			 "credentials: Token is too long or has a NUL byte");
	free(q);
	free(tok);
	q = malloc(IMDS_KEYID_MAX + 4);
	tok = rep('A', IMDS_KEYID_MAX + 1);
	snprintf(q, IMDS_KEYID_MAX + 4, "\"%s\"", tok);
	creds_bad_fields(C_CODE, q, C_SECRET, C_TOKEN, C_EXP,
			 "credentials: AccessKeyId is too long or has a NUL byte");
	free(tok);
	free(q);

	/* what IMDS says when things go wrong */
	creds_bad_fields("\"Failure\"", C_ID, C_SECRET, C_TOKEN, C_EXP,
			 "credentials: Code is Failure");
	creds_bad_fields("\"success\"", C_ID, C_SECRET, C_TOKEN, C_EXP, "Code is success");
	creds_bad_fields(NULL, C_ID, C_SECRET, C_TOKEN, C_EXP, "credentials: Code is missing");
	creds_bad_fields("1", C_ID, C_SECRET, C_TOKEN, C_EXP, "credentials: Code is missing");
	creds_bad_fields("true", C_ID, C_SECRET, C_TOKEN, C_EXP, "credentials: Code is missing");

	/* missing keys, values that are no strings */
	creds_bad_fields(C_CODE, NULL, C_SECRET, C_TOKEN, C_EXP,
			 "credentials: AccessKeyId missing or not a string");
	creds_bad_fields(C_CODE, C_ID, NULL, C_TOKEN, C_EXP,
			 "credentials: SecretAccessKey missing or not a string");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, NULL, C_EXP,
			 "credentials: Token missing or not a string");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, C_TOKEN, NULL,
			 "credentials: Expiration is missing");
	creds_bad_fields(C_CODE, "42", C_SECRET, C_TOKEN, C_EXP,
			 "credentials: AccessKeyId missing or not a string");
	creds_bad_fields(C_CODE, C_ID, "[\"x\"]", C_TOKEN, C_EXP,
			 "credentials: SecretAccessKey missing or not a string");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, "null", C_EXP,
			 "credentials: Token missing or not a string");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, "{\"v\":\"x\"}", C_EXP,
			 "credentials: Token missing or not a string");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, C_TOKEN, "1795363200",
			 "credentials: Expiration is missing");

	/* bad bytes in the values */
	creds_bad_fields(C_CODE, "\"\"", C_SECRET, C_TOKEN, C_EXP,
			 "credentials: AccessKeyId is empty");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, "\"\"", C_EXP, "credentials: Token is empty");
	creds_bad_fields(C_CODE, "\"ASIA EXAMPLE\"", C_SECRET, C_TOKEN, C_EXP,
			 "credentials: AccessKeyId has byte 0x20");
	creds_bad_fields(C_CODE, C_ID, "\"s\\u00e9cret\"", C_TOKEN, C_EXP,
			 "credentials: SecretAccessKey has byte 0xc3");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, "\"tok\\n\"", C_EXP,
			 "credentials: Token has byte 0x0a");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, "\"tok\\u007f\"", C_EXP,
			 "credentials: Token has byte 0x7f");
	/* \u0000 is refused by jansson already */
	creds_bad_fields(C_CODE, C_ID, C_SECRET, "\"to\\u0000k\"", C_EXP, "credentials: not JSON");

	/* Expiration */
	creds_bad_fields(C_CODE, C_ID, C_SECRET, C_TOKEN, "\"tomorrow\"",
			 "credentials: Expiration is not a UTC time like 2026-01-31T12:00:00Z");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, C_TOKEN, "\"2026-11-22T16:00:00\"",
			 "Expiration is not a UTC time");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, C_TOKEN, "\"2026-11-22T16:00:00+00:00\"",
			 "Expiration is not a UTC time");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, C_TOKEN, "\"2026-11-22 16:00:00Z\"",
			 "Expiration is not a UTC time");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, C_TOKEN, "\"2026-11-22T16:00:00.12.3Z\"",
			 "Expiration is not a UTC time");
	creds_bad_fields(C_CODE, C_ID, C_SECRET, C_TOKEN, "\"\"", "Expiration is not a UTC time");

	/* duplicate keys: which one would count? */
	creds_bad(S("{\"Code\":\"Success\",\"AccessKeyId\":" C_ID ",\"SecretAccessKey\":" C_SECRET
		    ",\"Token\":" C_TOKEN ",\"Token\":\"other\",\"Expiration\":" C_EXP "}"),
		  "credentials: not JSON (line 1, column");
	creds_bad(S("{\"Code\":\"Failure\",\"Code\":\"Success\",\"AccessKeyId\":" C_ID
		    ",\"SecretAccessKey\":" C_SECRET ",\"Token\":" C_TOKEN ",\"Expiration\":" C_EXP
		    "}"),
		  "credentials: not JSON (line 1, column");
	/* a broken answer never quotes a secret into the log */
	{
		const char *leak = "{\"Code\":\"Success\",\"SecretAccessKey\":\"wJalrXUt\x01x\"}";
		const char *code = "{\"Code\":\"Fail\\u001b[31m\"}";

		assert_int_equal(imds_parse_creds(leak, strlen(leak), &c, err, sizeof(err)),
				 -EINVAL);
		assert_null(strstr(err, "wJalr"));
		assert_int_equal(imds_parse_creds(code, strlen(code), &c, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "Code is Fail?[31m"));
	}

	/* not the JSON object of the credentials at all */
	creds_bad(S(""), "credentials: not JSON");
	creds_bad(S("\n"), "credentials: not JSON");
	creds_bad(S("[]"), "credentials: not a JSON object");
	creds_bad(S("[{\"Code\":\"Success\"}]"), "credentials: not a JSON object");
	creds_bad(S("\"Success\""), "credentials: not JSON");
	creds_bad(S("<html><body>404 - Not Found</body></html>"), "credentials: not JSON");
	creds_bad(S(CREDS_OK "x"), "credentials: not JSON");
	creds_bad(S(CREDS_OK "{}"), "credentials: not JSON");
	creds_bad(S(CREDS_OK) - 1, "credentials: not JSON");
	creds_bad(S(CREDS_OK "\0"), "credentials: not JSON");
	creds_bad(S("{}"), "credentials: Code is missing");
}

static void time_ok(const char *s, time_t want)
{
	time_t t = -7;

	if (aws_parse_time(s, &t) != 0)
		fail_msg("\"%s\" refused", s);
	if (t != want)
		fail_msg("\"%s\": %lld, expected %lld", s, (long long)t, (long long)want);
}

static void test_time(void **state)
{
	/* the values from date -u -d ... +%s */
	const struct {
		const char *s;
		long long t;
	} ok[] = {
		{ "2026-11-22T00:00:00Z", 1795305600 },
		{ "2026-11-22T16:00:00Z", 1795363200 },
		{ "2026-11-22T10:00:00Z", 1795341600 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1970-01-01T00:00:01Z", 1 },
		{ "2000-02-29T12:34:56Z", 951827696 },
		{ "2024-02-29T23:59:59Z", 1709251199 },
		{ "2026-01-31T12:00:00Z", 1769860800 },
		{ "2026-12-31T23:59:59Z", 1798761599 },
		{ "2026-11-22T16:00:00.5Z", 1795363200 },
		{ "2026-11-22T16:00:00.123456789Z", 1795363200 },
		{ "2026-11-22T16:00:00.000Z", 1795363200 },
	};
	const char *bad[] = {
		"",
		"Z",
		"tomorrow",
		"2026-11-22",
		"2026-11-22T16:00Z",
		"2026-11-22T16:00:00",
		"2026-11-22T16:00:00z",
		"2026-11-22T16:00:00ZZ",
		"2026-11-22T16:00:00Zx",
		"2026-11-22T16:00:00Z\n",
		"2026-11-22T16:00:00+00:00",
		"2026-11-22T16:00:00.123+00:00",
		"2026-11-22T16:00:00.12.3Z",
		"2026-11-22T16:00:00.xZ",
		"2026-11-22T16:00:00,5Z",
		"2026-11-22 16:00:00Z",
		"2026/11/22T16:00:00Z",
		"2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z",
		"2026-11-00T00:00:00Z",
		"2026-11-32T00:00:00Z",
		"2026-11-22T24:00:00Z",
		"2026-11-22T16:60:00Z",
		"1969-12-31T23:59:59Z",
		"1900-01-01T00:00:00Z",
		"3001-01-01T00:00:00Z",
		"9999-12-31T23:59:59Z",
	};
	time_t t;

	for (size_t i = 0; i < N(ok); i++)
		time_ok(ok[i].s, (time_t)ok[i].t);
	if (sizeof(time_t) > 4) {
		time_ok("2038-01-19T03:14:08Z", (time_t)2147483648LL);
		time_ok("2100-03-01T00:00:00Z", (time_t)4107542400LL);
		time_ok("3000-12-31T23:59:59Z", (time_t)32535215999LL);
	}
	for (size_t i = 0; i < N(bad); i++) {
		t = -7;
		if (aws_parse_time(bad[i], &t) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_int_equal(t, -7);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token),  cmocka_unit_test(test_ids),
		cmocka_unit_test(test_region), cmocka_unit_test(test_mac),
		cmocka_unit_test(test_cidrs),  cmocka_unit_test(test_role),
		cmocka_unit_test(test_creds),  cmocka_unit_test(test_time),
	};

	return cmocka_run_group_tests_name("imds", tests, NULL, NULL);
}
