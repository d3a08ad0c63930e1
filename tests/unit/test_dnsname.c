// SPDX-License-Identifier: GPL-2.0-or-later
/* lib/dnsname.c: host names (RFC 1123) and DNS server addresses. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "dnsname.h"

static void test_valid(void **state)
{
	static const char *const ok[][2] = {
		{ "svc.example.com", "svc.example.com" },
		{ "Svc.Example.COM.", "svc.example.com" },
		{ "localhost", "localhost" },
		{ "a", "a" },
		{ "1a.example", "1a.example" },
		{ "acc1-service1.example.com", "acc1-service1.example.com" },
		{ "internal-lb-123456.eu-west-1.elb.amazonaws.com",
		  "internal-lb-123456.eu-west-1.elb.amazonaws.com" },
		{ "x.1a", "x.1a" },
	};
	char out[DNSNAME_MAX + 1], why[256];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!dnsname_valid(ok[i][0], out, why, sizeof(why)))
			fail_msg("%s: %s", ok[i][0], why);
		assert_string_equal(out, ok[i][1]);
		assert_true(dnsname_looks_like(ok[i][0]));
	}
}

static void test_invalid(void **state)
{
	static const char *const bad[][2] = {
		{ "", "an empty host name" },
		{ ".", "an empty host name" },
		{ ".example.com", "an empty label at position 1" },
		{ "a..b", "an empty label at position 3" },
		{ "-a.com", "a label begins with '-'" },
		{ "a-.com", "the label \"a-\" ends with '-'" },
		{ "a_b.com", "the character '_' at position 2" },
		{ "a b.com", "the byte 0x20 at position 2" },
		{ "caf\xc3\xa9.com", "the byte 0xc3 at position 4" },
		{ "a.b.123", "its last label is a number" },
		{ "1.2.3.4", "its last label is a number" },
		{ "example.com..", "an empty label" },
	};
	char out[DNSNAME_MAX + 1], why[512], long_label[80], long_name[300];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_false(dnsname_valid(bad[i][0], out, why, sizeof(why)));
		if (!strstr(why, bad[i][1]))
			fail_msg("\"%s\": got \"%s\", expected \"%s\"", bad[i][0], why, bad[i][1]);
	}
	/* 63 characters a label, 253 the name */
	memset(long_label, 'a', 64);
	strcpy(long_label + 64, ".com");
	assert_false(dnsname_valid(long_label, out, why, sizeof(why)));
	assert_non_null(strstr(why, "a label longer than 63"));
	strcpy(long_label + 63, ".com");
	assert_true(dnsname_valid(long_label, out, why, sizeof(why)));
	for (size_t i = 0; i < 252; i += 2)
		memcpy(long_name + i, "a.", 2);
	long_name[252] = 'b';
	long_name[253] = '\0';
	assert_true(dnsname_valid(long_name, out, why, sizeof(why)));
	assert_int_equal(strlen(out), 253);
	long_name[253] = '.'; /* the root's dot does not count */
	long_name[254] = '\0';
	assert_true(dnsname_valid(long_name, out, why, sizeof(why)));
	long_name[253] = 'c';
	assert_false(dnsname_valid(long_name, out, why, sizeof(why)));
	assert_non_null(strstr(why, "longer than 253"));
}

static void test_looks_like(void **state)
{
	assert_false(dnsname_looks_like("10.1.1.0/24"));
	assert_false(dnsname_looks_like("10.1.1.300"));
	assert_false(dnsname_looks_like("fd00::1"));
	assert_false(dnsname_looks_like("1.2.3.4."));
	assert_false(dnsname_looks_like(""));
	assert_true(dnsname_looks_like("svc.example.com/32"));
	assert_true(dnsname_looks_like("db"));
	assert_true(dnsname_looks_like("a..b"));
}

static void test_servers(void **state)
{
	static const char *const ok[][2] = {
		{ "10.0.0.2", "10.0.0.2:53" },		{ "10.0.0.2:5353", "10.0.0.2:5353" },
		{ "fd00::53", "[fd00::53]:53" },	{ "[fd00::53]:5353", "[fd00::53]:5353" },
		{ "[FD00:0::53]:53", "[fd00::53]:53" },
	};
	static const char *const bad[] = { "",
					   "ns1.example.com",
					   "10.0.0.2:0",
					   "10.0.0.2:65536",
					   "[10.0.0.2]:53",
					   "fd00::53:99999",
					   "[fd00::53]",
					   "10.0.0.2:",
					   ":53",
					   "10.0.0.2:5x" };
	char out[DNSSERVER_STRLEN], why[256];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (dnsserver_parse(ok[i][0], out, why, sizeof(why)) != 0)
			fail_msg("%s: %s", ok[i][0], why);
		assert_string_equal(out, ok[i][1]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dnsserver_parse(bad[i], out, why, sizeof(why)) == 0)
			fail_msg("\"%s\" accepted as %s", bad[i], out);
		assert_non_null(strstr(why, "is not a DNS server"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_looks_like),
		cmocka_unit_test(test_servers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
