// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lib/claimset.c against a plain model: random adds and removes of claims
 * that collide in the hash index (few distinct keys, many operations); after
 * each, the set holds exactly the model's claims, each found, none twice.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "claimset.h"

#define KEYS 300

static struct proto_claim key(unsigned k)
{
	struct proto_claim c = { 0 };
	char s[32], e[PFX_ERRLEN];

	/* the same network under several names and instances, and IPv6 */
	if (k % 3 == 2)
		snprintf(s, sizeof(s), "2001:db8:%x::/48", k / 3);
	else
		snprintf(s, sizeof(s), "10.%u.%u.0/24", k / 30, k % 10);
	assert_int_equal(pfx_parse(s, 0, &c.net, e, sizeof(e)), 0);
	snprintf(c.cn, sizeof(c.cn), "c%u", k % 7);
	snprintf(c.instance, sizeof(c.instance), "%s", k % 2 ? "udp" : "tcp");
	return c;
}

static void check(const struct claimset *s, const bool *in)
{
	size_t n = 0;

	for (unsigned k = 0; k < KEYS; k++) {
		struct proto_claim c = key(k);
		const struct proto_claim *f = claimset_find(s, &c);

		assert_int_equal(f != NULL, in[k]);
		if (f)
			assert_true(claim_equal(f, &c));
		n += in[k];
	}
	assert_int_equal(s->n, n);
}

static void test_against_model(void **state)
{
	struct claimset s;
	bool in[KEYS] = { 0 };
	unsigned seed = 7;

	claimset_init(&s);
	for (int i = 0; i < 20000; i++) {
		unsigned k = (unsigned)rand_r(&seed) % KEYS;
		struct proto_claim c = key(k);

		if (rand_r(&seed) % 3) {
			assert_int_equal(claimset_add(&s, &c), in[k] ? 1 : 0);
			in[k] = true;
		} else {
			assert_int_equal(claimset_del(&s, &c), in[k]);
			in[k] = false;
		}
		if (i % 97 == 0)
			check(&s, in);
	}
	check(&s, in);
	/* emptied one by one, and cleared */
	for (unsigned k = 0; k < KEYS; k++) {
		struct proto_claim c = key(k);

		assert_int_equal(claimset_del(&s, &c), in[k]);
		in[k] = false;
	}
	check(&s, in);
	for (unsigned k = 0; k < 50; k++) {
		struct proto_claim c = key(k);

		assert_int_equal(claimset_add(&s, &c), 0);
	}
	claimset_clear(&s);
	check(&s, in);
	claimset_free(&s);
}

/* Keys differ in any one of network, name and instance. */
static void test_identity(void **state)
{
	struct claimset s;
	struct proto_claim a = key(0), b = a, c = a, d = a;

	claimset_init(&s);
	b.cn[1] = 'x';
	c.instance[0] = 'x';
	d.net.len = 23;
	assert_int_equal(claimset_add(&s, &a), 0);
	assert_int_equal(claimset_add(&s, &b), 0);
	assert_int_equal(claimset_add(&s, &c), 0);
	assert_int_equal(claimset_add(&s, &d), 0);
	assert_int_equal(claimset_add(&s, &a), 1);
	assert_int_equal(s.n, 4);
	assert_true(claimset_del(&s, &c));
	assert_false(claimset_del(&s, &c));
	assert_non_null(claimset_find(&s, &d));
	claimset_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_model),
		cmocka_unit_test(test_identity),
	};

	return cmocka_run_group_tests_name("claimset", tests, NULL, NULL);
}
