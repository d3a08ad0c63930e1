// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "cn.h"

static void test_valid(void **state)
{
	const char *ok[] = { "pi-home",
			     "branch_1",
			     "alice@example.com",
			     "a",
			     "A.b-c_d@e",
			     "0123456789012345678901234567890123456789012345678901234567890123" };
	char e[128];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(cn_valid(ok[i], e, sizeof(e)));
}

static void test_invalid(void **state)
{
	const char *bad[] = { "",
			      ".",
			      "..",
			      "../etc/passwd",
			      "a/b",
			      "a b",
			      "a\nb",
			      ".hidden",
			      "x;rm",
			      "ü",
			      "a\\b",
			      "$(id)",
			      "01234567890123456789012345678901234567890123456789012345678901234" };
	char e[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e[0] = '\0';
		assert_false(cn_valid(bad[i], e, sizeof(e)));
		assert_true(strlen(e) > 0);
		/* Nothing after the offending byte is echoed into a log line. */
		assert_null(strchr(e, '\n'));
	}
	assert_false(cn_valid(NULL, e, sizeof(e)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests_name("cn", tests, NULL, NULL);
}
