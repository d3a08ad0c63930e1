// SPDX-License-Identifier: GPL-2.0-or-later
/* lib/strdist.c: the edit distance and the closest word, for "did you mean". */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "strdist.h"

static void test_distance(void **state)
{
	static const struct {
		const char *a, *b;
		unsigned d;
	} v[] = {
		{ "", "", 0 },
		{ "", "abc", 3 },
		{ "strict", "strict", 0 },
		{ "stict", "strict", 1 },   /* deletion */
		{ "strictt", "strict", 1 }, /* insertion */
		{ "strect", "strict", 1 },  /* substitution */
		{ "gruop", "group", 1 },    /* neighbours swapped: one edit */
		{ "ca", "abc", 3 },	    /* optimal string alignment, not Damerau */
		{ "kitten", "sitting", 3 },
		{ "Admission", "admission", 1 },
	};
	char longw[STRDIST_MAX + 1];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(strdist(v[i].a, v[i].b), v[i].d);
		assert_int_equal(strdist(v[i].b, v[i].a), v[i].d);
	}
	memset(longw, 'a', STRDIST_MAX);
	longw[STRDIST_MAX] = '\0';
	assert_int_equal(strdist(longw, "a"), UINT_MAX);
	longw[STRDIST_MAX - 1] = '\0'; /* the longest word it measures */
	assert_int_equal(strdist(longw, ""), STRDIST_MAX - 1);
}

static void test_closest(void **state)
{
	static const char *const keys[] = {
		"path", "mode", "group", "openvpn_user", "openvpn_group", "drift_check_s", NULL
	};

	assert_string_equal(strdist_closest("gruop", keys), "group");
	assert_string_equal(strdist_closest("mod", keys), "mode");
	assert_string_equal(strdist_closest("openvpn_usr", keys), "openvpn_user");
	assert_string_equal(strdist_closest("openvpn_grp", keys), "openvpn_group"); /* 2 of 11 */
	assert_string_equal(strdist_closest("drift_check", keys), "drift_check_s");
	assert_string_equal(strdist_closest("pth", keys), "path");
	assert_null(strdist_closest("x", keys)); /* one letter: only itself would do */
	assert_null(strdist_closest("bogus", keys));
	assert_null(strdist_closest("sockets", keys));
	assert_null(strdist_closest("mo", keys)); /* 2 edits for 2 letters: too far */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distance),
		cmocka_unit_test(test_closest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
