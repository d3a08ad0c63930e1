// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lib/claimset.c against a plain model: random adds and removes of claims
 * that collide in the hash index (few distinct keys, many operations); after
 * each, the set holds exactly the model's claims, each found, none twice.
 * The same with the index by network kept, and that index against a linear
 * scan: random nested prefixes held by several names, added and removed,
 * each query finding exactly the claims that overlap it.
 */
#include "config.h"

#include <stdint.h>
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

static void against_model(bool bynet)
{
	struct claimset s;
	bool in[KEYS] = { 0 };
	unsigned seed = 7;

	claimset_init(&s);
	if (bynet)
		assert_int_equal(claimset_index_nets(&s), 0);
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

static void test_against_model(void **state)
{
	against_model(false);
}

static void test_against_model_bynet(void **state)
{
	against_model(true);
}

/* --- the index by network against a scan --- */

#define NETKEYS 400

/* A random prefix in a small space, so that many nest and repeat. */
static struct pfx random_net(unsigned *seed)
{
	struct pfx p = { 0 };
	unsigned r = (unsigned)rand_r(seed);

	if (r % 4 == 0) {
		p.family = AF_INET6;
		p.addr[0] = 0x20;
		p.addr[1] = 0x01;
		p.addr[2] = 0x0d;
		p.addr[3] = 0xb8;
		p.addr[4] = (uint8_t)(r >> 3 & 3);
		p.addr[5] = (uint8_t)(rand_r(seed) & 0xf0);
		p.len = (uint8_t)(32 + (unsigned)rand_r(seed) % 17);
	} else {
		p.family = AF_INET;
		p.addr[0] = 10;
		p.addr[1] = (uint8_t)(r >> 3 & 3);
		p.addr[2] = (uint8_t)((unsigned)rand_r(seed) & 0xfc);
		p.len = (uint8_t)(12 + (unsigned)rand_r(seed) % 13);
	}
	/* host bits cleared: the claims the agent sends are networks */
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = p.len > i * 8 ? p.len - i * 8 : 0;

		if (bits < 8)
			p.addr[i] &= (uint8_t)(0xff00u >> bits);
	}
	return p;
}

struct seen {
	const struct proto_claim *keys;
	unsigned count[NETKEYS];
	unsigned calls, stop_at;
};

static bool seen_one(const struct proto_claim *c, void *arg)
{
	struct seen *w = arg;
	unsigned k;

	for (k = 0; k < NETKEYS && !claim_equal(&w->keys[k], c); k++)
		;
	assert_true(k < NETKEYS);
	w->count[k]++;
	return ++w->calls == w->stop_at;
}

/* What claimset_overlaps(s, x) visits is exactly what a scan of the model finds. */
static void check_overlaps(const struct claimset *s, const struct proto_claim *keys, const bool *in,
			   const struct pfx *x)
{
	struct seen w = { .keys = keys };
	unsigned want = 0;

	assert_false(claimset_overlaps(s, x, seen_one, &w));
	for (unsigned k = 0; k < NETKEYS; k++) {
		bool hit = in[k] && pfx_overlaps(&keys[k].net, x);

		if (w.count[k] != (hit ? 1u : 0u)) {
			char a[PFX_STRLEN], b[PFX_STRLEN];

			fail_msg("query %s: claim %s=%s@%s seen %u times, the scan says %d",
				 pfx_format(x, a, sizeof(a)),
				 pfx_format(&keys[k].net, b, sizeof(b)), keys[k].cn,
				 keys[k].instance, w.count[k], hit);
		}
		want += hit;
	}
	/* fn's true stops the walk, and is returned */
	if (want) {
		struct seen stop = { .keys = keys, .stop_at = 1 };

		assert_true(claimset_overlaps(s, x, seen_one, &stop));
		assert_int_equal(stop.calls, 1);
	}
}

static void test_overlaps_against_scan(void **state)
{
	static struct proto_claim keys[NETKEYS];
	struct claimset s, other;
	bool in[NETKEYS] = { 0 };
	unsigned seed = 13;

	for (unsigned k = 0; k < NETKEYS; k++) {
		memset(&keys[k], 0, sizeof(keys[k]));
		/* a quarter share an earlier key's network under another name */
		keys[k].net = k >= 8 && k % 4 == 0 ? keys[k - 1 - (unsigned)rand_r(&seed) % 7].net
						   : random_net(&seed);
		snprintf(keys[k].cn, sizeof(keys[k].cn), "c%u", k % 5);
		snprintf(keys[k].instance, sizeof(keys[k].instance), "%s", k % 3 ? "udp" : "tcp");
	}
	for (unsigned k = 0; k < NETKEYS; k++)
		for (unsigned j = 0; j < k; j++)
			if (claim_equal(&keys[j], &keys[k]))
				snprintf(keys[k].cn, sizeof(keys[k].cn), "d%u", k);
	claimset_init(&s);
	claimset_init(&other);
	assert_int_equal(claimset_index_nets(&s), 0);
	assert_int_equal(claimset_index_nets(&other), 0);
	for (int i = 0; i < 30000; i++) {
		unsigned k = (unsigned)rand_r(&seed) % NETKEYS;

		if (rand_r(&seed) % 5 < 3) {
			assert_int_equal(claimset_add(&s, &keys[k]), in[k] ? 1 : 0);
			in[k] = true;
		} else {
			assert_int_equal(claimset_del(&s, &keys[k]), in[k]);
			in[k] = false;
		}
		if (i % 50 == 0) {
			for (int q = 0; q < 20; q++) {
				struct pfx x = random_net(&seed);

				check_overlaps(&s, keys, in, &x);
			}
			/* every held network finds itself */
			check_overlaps(&s, keys, in, &keys[k].net);
		}
		if (i % 7001 == 7000) {
			/* swapped by value, as the plugin swaps in a snapshot */
			struct claimset t = s;

			s = other;
			other = t;
			claimset_clear(&other);
			for (unsigned j = 0; j < NETKEYS; j++)
				if (in[j])
					assert_int_equal(claimset_add(&s, &keys[j]), 0);
		}
	}
	/* the index built late, from what the set holds, is the same */
	{
		struct claimset late;
		struct pfx x = random_net(&seed);

		claimset_init(&late);
		for (unsigned j = 0; j < NETKEYS; j++)
			if (in[j])
				assert_int_equal(claimset_add(&late, &keys[j]), 0);
		check_overlaps(&late, keys, in, &x); /* a scan */
		assert_int_equal(claimset_index_nets(&late), 0);
		for (int q = 0; q < 200; q++) {
			x = random_net(&seed);
			check_overlaps(&late, keys, in, &x);
		}
		claimset_free(&late);
	}
	claimset_free(&s);
	claimset_free(&other);
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
		cmocka_unit_test(test_against_model_bynet),
		cmocka_unit_test(test_overlaps_against_scan),
		cmocka_unit_test(test_identity),
	};

	return cmocka_run_group_tests_name("claimset", tests, NULL, NULL);
}
