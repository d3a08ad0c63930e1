// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "unit.h"

#include "pfx.h"

static void test_parse_format(void **state)
{
	const char *ok[] = { "10.1.1.0/24",   "0.0.0.0/0", "192.168.1.128/25", "10.1.2.7/32",
			     "2001:db8::/32", "::/0",	   "fd00:1:2::/48",    "2001:db8::1/128" };
	char buf[PFX_STRLEN];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct pfx p = pfx_of(ok[i]);

		assert_string_equal(pfx_format(&p, buf, sizeof(buf)), ok[i]);
	}
}

static void test_parse_rejects(void **state)
{
	const char *bad[] = { "",
			      "10.1.1.0",
			      "10.1.1.0/",
			      "10.1.1.0/33",
			      "10.1.1.0/-1",
			      "10.1.1.0/+8",
			      "10.1.1.0/08",
			      "10.1.1/24",
			      "010.1.1.0/24",
			      "10.1.1.0/24x",
			      "10.1.1.0 /24",
			      "::/129",
			      "1.2.3.4.5/32",
			      "fe80::1%eth0/64",
			      "10.1.1.0/2 4",
			      "999.1.1.0/24",
			      "10.1.1.0/1000" };
	struct pfx p;
	char e[PFX_ERRLEN];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e[0] = '\0';
		assert_int_equal(pfx_parse(bad[i], 0, &p, e, sizeof(e)), -EINVAL);
		assert_true(strlen(e) > 0);
	}
	assert_int_equal(pfx_parse(NULL, 0, &p, e, sizeof(e)), -EINVAL);
}

static void test_host_bits(void **state)
{
	struct pfx p;
	char e[PFX_ERRLEN], buf[PFX_STRLEN];

	assert_int_equal(pfx_parse("192.168.1.1/24", 0, &p, e, sizeof(e)), -EINVAL);
	/* The error names the value and the network it should be. */
	assert_non_null(strstr(e, "192.168.1.1/24"));
	assert_non_null(strstr(e, "192.168.1.0/24"));
	assert_int_equal(pfx_parse("192.168.1.1/24", PFX_NORMALISE, &p, e, sizeof(e)), 0);
	assert_string_equal(pfx_format(&p, buf, sizeof(buf)), "192.168.1.0/24");
	assert_int_equal(pfx_parse("2001:db8::1/32", 0, &p, e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "2001:db8::/32"));
	/* A bare address only with PFX_HOST. */
	assert_int_equal(pfx_parse("10.1.2.7", 0, &p, e, sizeof(e)), -EINVAL);
	assert_int_equal(pfx_parse("10.1.2.7", PFX_HOST, &p, e, sizeof(e)), 0);
	assert_int_equal(p.len, 32);
}

static void test_netmask(void **state)
{
	struct pfx p;
	char e[PFX_ERRLEN], buf[PFX_STRLEN];

	assert_int_equal(pfx_from_netmask("192.168.1.128", "255.255.255.128", 0, &p, e, sizeof(e)),
			 0);
	assert_string_equal(pfx_format(&p, buf, sizeof(buf)), "192.168.1.128/25");
	assert_int_equal(pfx_format_netmask(&p, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "255.255.255.128");
	assert_int_equal(pfx_from_netmask("0.0.0.0", "0.0.0.0", 0, &p, e, sizeof(e)), 0);
	assert_int_equal(p.len, 0);
	assert_int_equal(pfx_from_netmask("10.0.0.0", "255.0.255.0", 0, &p, e, sizeof(e)), -EINVAL);
	assert_non_null(strstr(e, "contiguous"));
	assert_int_equal(pfx_from_netmask("192.168.1.129", "255.255.255.128", 0, &p, e, sizeof(e)),
			 -EINVAL);
	assert_non_null(strstr(e, "192.168.1.128/25"));
	assert_int_equal(pfx_from_netmask("2001:db8::", "255.255.0.0", 0, &p, e, sizeof(e)),
			 -EINVAL);
	assert_int_equal(pfx_from_netmask("10.0.0.0", "/8", 0, &p, e, sizeof(e)), -EINVAL);
	p = pfx_of("2001:db8::/32");
	assert_int_equal(pfx_format_netmask(&p, buf, sizeof(buf)), -EAFNOSUPPORT);
}

static void test_contains_overlaps(void **state)
{
	struct pfx lan = pfx_of("192.168.1.0/24"), hi = pfx_of("192.168.1.128/25"),
		   lo = pfx_of("192.168.1.0/25"), host = pfx_of("192.168.1.200"),
		   vpc = pfx_of("10.1.0.0/16"), any = pfx_of("0.0.0.0/0"), v6 = pfx_of("::/0"),
		   v6a = pfx_of("2001:db8::/32"), v6b = pfx_of("2001:db8:1::/48");

	assert_true(pfx_contains(&lan, &hi));
	assert_false(pfx_contains(&hi, &lan));
	assert_true(pfx_contains(&hi, &hi));
	assert_true(pfx_contains(&hi, &host));
	assert_false(pfx_contains(&lo, &host));
	assert_true(pfx_overlaps(&lan, &hi));
	assert_true(pfx_overlaps(&hi, &lan));
	assert_false(pfx_overlaps(&hi, &lo));
	assert_false(pfx_overlaps(&lan, &vpc));
	assert_true(pfx_contains(&any, &vpc));
	assert_false(pfx_contains(&any, &v6a)); /* families never mix */
	assert_false(pfx_overlaps(&v6, &lan));
	assert_true(pfx_contains(&v6a, &v6b));
	assert_true(pfx_overlaps(&v6b, &v6));
}

static void test_cmp_first_last(void **state)
{
	struct pfx a = pfx_of("10.1.2.0/24"), b = pfx_of("10.1.2.0/25"), c = pfx_of("10.1.3.0/24"),
		   d = pfx_of("::/0"), f, l;
	char buf[PFX_STRLEN];

	assert_true(pfx_cmp(&a, &b) < 0);
	assert_true(pfx_cmp(&b, &c) < 0);
	assert_true(pfx_cmp(&c, &d) < 0);
	assert_true(pfx_equal(&a, &a));
	pfx_first(&a, &f);
	pfx_last(&a, &l);
	assert_string_equal(pfx_format(&f, buf, sizeof(buf)), "10.1.2.0/32");
	assert_string_equal(pfx_format(&l, buf, sizeof(buf)), "10.1.2.255/32");
	assert_string_equal(pfx_format_addr(&l, buf, sizeof(buf)), "10.1.2.255");
}

static void test_list_helpers(void **state)
{
	struct pfx v[] = { pfx_of("10.1.0.0/16"), pfx_of("192.168.1.128/25"),
			   pfx_of("2001:db8::/32") };
	struct pfx_list l = { .v = v, .n = 3 }, none = { 0 };
	struct pfx x = pfx_of("10.1.2.0/24"), y = pfx_of("10.0.0.0/8");
	char buf[64];

	assert_ptr_equal(pfx_list_overlap(&l, &x), &v[0]);
	assert_ptr_equal(pfx_list_overlap(&l, &y), &v[0]); /* overlaps, does not contain */
	assert_true(pfx_list_contains(&l, &x));
	assert_false(pfx_list_contains(&l, &y));
	assert_null(pfx_list_overlap(&none, &x));
	assert_false(pfx_list_contains(&none, &x));
	assert_string_equal(pfx_list_format(&l, ", ", buf, sizeof(buf)),
			    "10.1.0.0/16, 192.168.1.128/25, 2001:db8::/32");
	assert_string_equal(pfx_list_format(&none, ", ", buf, sizeof(buf)), "");
	/* cut to fit, always terminated */
	assert_string_equal(pfx_list_format(&l, " ", buf, 16), "10.1.0.0/16 192");
	/* equal: the same prefixes in the same order */
	struct pfx w[] = { v[0], v[1], v[2] }, r[] = { v[1], v[0], v[2] };
	struct pfx_list same = { .v = w, .n = 3 }, reordered = { .v = r, .n = 3 },
			shorter = { .v = w, .n = 2 };

	assert_true(pfx_list_equal(&l, &same));
	assert_true(pfx_list_equal(&none, &none));
	assert_false(pfx_list_equal(&l, &reordered));
	assert_false(pfx_list_equal(&l, &shorter));
	assert_false(pfx_list_equal(&none, &l));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),	  cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_host_bits),	  cmocka_unit_test(test_netmask),
		cmocka_unit_test(test_contains_overlaps), cmocka_unit_test(test_cmp_first_last),
		cmocka_unit_test(test_list_helpers),
	};

	return cmocka_run_group_tests_name("pfx", tests, NULL, NULL);
}
