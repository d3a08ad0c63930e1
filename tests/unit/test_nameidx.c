// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lib/nameidx.c over an array kept as the agent keeps its clients (append,
 * remove by moving the last element into the hole), against a scan of the
 * array: random adds and removes of names that collide in a small index.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "unit.h"

#include "nameidx.h"

#define NAMES 500

struct arr {
	char v[NAMES][16];
	size_t n;
};

static const char *key(const void *ctx, size_t i)
{
	const struct arr *a = ctx;

	assert_true(i < a->n);
	return a->v[i];
}

static long scan(const struct arr *a, const char *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], name) == 0)
			return (long)i;
	return -1;
}

static void test_basic(void **state)
{
	struct arr a = { .n = 0 };
	struct nameidx x;

	nameidx_init(&x, key, &a);
	assert_int_equal(nameidx_find(&x, "c0"), -1);
	assert_false(nameidx_del(&x, "c0"));
	snprintf(a.v[a.n++], 16, "c0");
	assert_int_equal(nameidx_add(&x, 0), 0);
	snprintf(a.v[a.n++], 16, "c1");
	assert_int_equal(nameidx_add(&x, 1), 0);
	assert_int_equal(nameidx_find(&x, "c1"), 1);
	assert_int_equal(nameidx_find(&x, ""), -1);
	/* c0 goes: c1 moves into its place */
	assert_true(nameidx_del(&x, "c0"));
	nameidx_move(&x, 1, 0);
	memcpy(a.v[0], a.v[1], 16);
	a.n--;
	assert_int_equal(nameidx_find(&x, "c1"), 0);
	assert_int_equal(nameidx_find(&x, "c0"), -1);
	nameidx_clear(&x);
	assert_int_equal(nameidx_find(&x, "c1"), -1);
	nameidx_free(&x);
}

static void test_random_against_scan(void **state)
{
	static struct arr a;
	unsigned seed = 7;
	struct nameidx x;

	a.n = 0;
	nameidx_init(&x, key, &a);
	for (int step = 0; step < 20000; step++) {
		char name[16];
		long at;

		snprintf(name, sizeof(name), "n%u", (unsigned)rand_r(&seed) % NAMES);
		at = scan(&a, name);
		assert_int_equal(nameidx_find(&x, name), at);
		if (at < 0) {
			snprintf(a.v[a.n++], 16, "%s", name);
			assert_int_equal(nameidx_add(&x, a.n - 1), 0);
		} else {
			assert_true(nameidx_del(&x, name));
			if ((size_t)at != a.n - 1) {
				nameidx_move(&x, a.n - 1, (size_t)at);
				memcpy(a.v[at], a.v[a.n - 1], 16);
			}
			a.n--;
		}
		assert_int_equal(x.h.n, a.n);
		if (step % 97 == 0)
			for (size_t i = 0; i < a.n; i++)
				assert_int_equal(nameidx_find(&x, a.v[i]), (long)i);
	}
	nameidx_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_random_against_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
