// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lib/pfxtree.c: adding, removing, finding, and the overlap walk (those that
 * contain the query, shortest first, then those inside it), with the edge
 * prefixes /0, /32, /128, both families; and random operations against a
 * plain list, after each of which the tree answers as a scan of the list.
 */
#include "config.h"

#include <stdlib.h>

#include "unit.h"

#include "pfxtree.h"

struct seen {
	struct pfx v[64];
	uint64_t val[64];
	size_t n, stop_at; /* fn returns true at the stop_at-th call (0: never) */
};

static bool collect(const struct pfx *p, uint64_t val, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 64);
	s->v[s->n] = *p;
	s->val[s->n++] = val;
	return s->stop_at && s->n == s->stop_at;
}

static struct seen overlaps(const struct pfxtree *t, const char *x)
{
	struct seen s = { 0 };

	pfxtree_overlaps(t, P(x), collect, &s);
	return s;
}

static void test_add_find_del(void **state)
{
	struct pfxtree t;
	const char *const nets[] = {
		"10.0.0.0/8", "10.1.0.0/16",   "10.1.2.0/24",	  "10.1.2.7/32", "10.128.0.0/9",
		"0.0.0.0/0",  "2001:db8::/32", "2001:db8::1/128", "::/0",	 NULL
	};

	pfxtree_init(&t);
	for (size_t i = 0; nets[i]; i++)
		assert_int_equal(pfxtree_add(&t, P(nets[i]), i + 100), 0);
	assert_int_equal(t.count, 9);
	assert_int_equal(pfxtree_add(&t, P("10.1.0.0/16"), 5), 1); /* there: unchanged */
	for (size_t i = 0; nets[i]; i++) {
		uint64_t *v = pfxtree_find(&t, P(nets[i]));

		assert_non_null(v);
		assert_int_equal(*v, i + 100);
	}
	/* a branch point (10.1.2.0/23 lies between none) and near misses are not found */
	assert_null(pfxtree_find(&t, P("10.1.2.0/23")));
	assert_null(pfxtree_find(&t, P("10.1.2.8/32")));
	assert_null(pfxtree_find(&t, P("2001:db8::2/128")));
	assert_null(pfxtree_find(&t, P("2001:db8::/33")));
	/* the value changes in place */
	*pfxtree_find(&t, P("10.1.2.7/32")) = 7;
	assert_int_equal(*pfxtree_find(&t, P("10.1.2.7/32")), 7);
	/* host bits are ignored */
	assert_non_null(pfxtree_find(
		&t, &(struct pfx){ .family = AF_INET, .len = 16, .addr = { 10, 1, 99, 99 } }));
	assert_true(pfxtree_del(&t, P("10.1.0.0/16")));
	assert_false(pfxtree_del(&t, P("10.1.0.0/16")));
	assert_null(pfxtree_find(&t, P("10.1.0.0/16")));
	assert_non_null(pfxtree_find(&t, P("10.1.2.0/24"))); /* what was below stays */
	assert_true(pfxtree_del(&t, P("0.0.0.0/0")));
	assert_non_null(pfxtree_find(&t, P("10.0.0.0/8")));
	assert_non_null(pfxtree_find(&t, P("::/0"))); /* the other family untouched */
	for (size_t i = 0; nets[i]; i++)
		pfxtree_del(&t, P(nets[i]));
	assert_int_equal(t.count, 0);
	assert_int_equal(t.root[0], 0);
	assert_int_equal(t.root[1], 0);
	/* every node went back to the free list */
	assert_int_equal(t.nfree, t.n);
	pfxtree_free(&t);
}

static void test_overlap_order(void **state)
{
	struct pfxtree t;
	struct seen s;

	pfxtree_init(&t);
	assert_int_equal(pfxtree_add(&t, P("10.1.2.128/25"), 1), 0);
	assert_int_equal(pfxtree_add(&t, P("10.0.0.0/8"), 2), 0);
	assert_int_equal(pfxtree_add(&t, P("10.1.2.3/32"), 3), 0);
	assert_int_equal(pfxtree_add(&t, P("10.1.0.0/16"), 4), 0);
	assert_int_equal(pfxtree_add(&t, P("10.2.0.0/16"), 5), 0);
	assert_int_equal(pfxtree_add(&t, P("192.168.0.0/16"), 6), 0);
	/* containers shortest first, then what lies inside, in address order */
	s = overlaps(&t, "10.1.2.0/24");
	assert_int_equal(s.n, 4);
	assert_int_equal(s.val[0], 2);
	assert_int_equal(s.val[1], 4);
	assert_int_equal(s.val[2], 3);
	assert_int_equal(s.val[3], 1);
	/* the query itself counts */
	s = overlaps(&t, "10.1.2.3/32");
	assert_int_equal(s.n, 3);
	assert_int_equal(s.val[2], 3);
	/* /0 overlaps everything of its family, nothing of the other */
	s = overlaps(&t, "0.0.0.0/0");
	assert_int_equal(s.n, 6);
	s = overlaps(&t, "::/0");
	assert_int_equal(s.n, 0);
	/* nothing near */
	assert_int_equal(overlaps(&t, "172.16.0.0/12").n, 0);
	assert_int_equal(overlaps(&t, "10.1.3.0/24").n, 2);
	/* the walk stops when fn says so */
	s = (struct seen){ .stop_at = 2 };
	assert_true(pfxtree_overlaps(&t, P("10.1.2.0/24"), collect, &s));
	assert_int_equal(s.n, 2);
	s = (struct seen){ 0 };
	assert_false(pfxtree_overlaps(&t, P("10.1.2.0/24"), collect, &s));
	pfxtree_free(&t);
}

static void test_v6_edges(void **state)
{
	struct pfxtree t;
	struct seen s;

	pfxtree_init(&t);
	assert_int_equal(pfxtree_add(&t, P("::/0"), 1), 0);
	assert_int_equal(pfxtree_add(&t, P("2001:db8::1/128"), 2), 0);
	assert_int_equal(pfxtree_add(&t, P("2001:db8::/127"), 3), 0);
	assert_int_equal(pfxtree_add(&t, P("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"), 4), 0);
	assert_int_equal(pfxtree_add(&t, P("10.0.0.1/32"), 5), 0);
	s = overlaps(&t, "2001:db8::1/128");
	assert_int_equal(s.n, 3);
	assert_int_equal(s.val[0], 1);
	assert_int_equal(s.val[1], 3);
	assert_int_equal(s.val[2], 2);
	s = overlaps(&t, "ffff::/16");
	assert_int_equal(s.n, 2);
	assert_int_equal(s.val[1], 4);
	assert_int_equal(overlaps(&t, "0.0.0.0/0").n, 1);
	assert_true(pfxtree_del(&t, P("::/0")));
	assert_int_equal(overlaps(&t, "::/0").n, 3);
	assert_int_equal(overlaps(&t, "2001:db8::/32").n, 2);
	pfxtree_free(&t);
}

/* Random prefixes in a small space, so that they nest and collide. */
#define KEYS 400

static struct pfx rnd_pfx(unsigned *seed)
{
	struct pfx p = { 0 };
	unsigned r = (unsigned)rand_r(seed);

	if (r & 1) {
		p.family = AF_INET6;
		p.addr[0] = 0x20;
		p.addr[1] = (uint8_t)(rand_r(seed) & 0x3);
		p.addr[15] = (uint8_t)(rand_r(seed) & 0x7);
		p.len = (uint8_t)((unsigned)rand_r(seed) % 129);
	} else {
		p.family = AF_INET;
		p.addr[0] = 10;
		p.addr[1] = (uint8_t)(rand_r(seed) & 0x3);
		p.addr[3] = (uint8_t)(rand_r(seed) & 0x7);
		p.len = (uint8_t)((unsigned)rand_r(seed) % 33);
	}
	/* host bits cleared, as the tree keeps them */
	for (unsigned i = p.len; i < pfx_addrlen(&p) * 8; i++)
		p.addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	return p;
}

struct hits {
	bool hit[KEYS];
	const struct pfx *keys;
	size_t n, nkeys;
};

static bool mark(const struct pfx *p, uint64_t val, void *arg)
{
	struct hits *h = arg;

	assert_true(val < h->nkeys);
	assert_true(pfx_equal(&h->keys[val], p));
	assert_false(h->hit[val]);
	h->hit[val] = true;
	h->n++;
	return false;
}

static void test_random_against_scan(void **state)
{
	struct pfx keys[KEYS];
	bool in[KEYS] = { 0 };
	unsigned seed = 13;
	size_t nkeys = 0;
	struct pfxtree t;

	/* distinct keys */
	while (nkeys < KEYS) {
		struct pfx p = rnd_pfx(&seed);
		bool dup = false;

		for (size_t i = 0; i < nkeys && !dup; i++)
			dup = pfx_equal(&keys[i], &p);
		if (!dup)
			keys[nkeys++] = p;
	}
	pfxtree_init(&t);
	for (int step = 0; step < 6000; step++) {
		size_t k = (size_t)rand_r(&seed) % KEYS;
		struct pfx q = rnd_pfx(&seed);
		struct hits h = { .keys = keys, .nkeys = KEYS };
		size_t want = 0, count = 0;

		if (in[k]) {
			assert_true(pfxtree_del(&t, &keys[k]));
			in[k] = false;
		} else {
			assert_int_equal(pfxtree_add(&t, &keys[k], k), 0);
			in[k] = true;
		}
		for (size_t i = 0; i < KEYS; i++) {
			uint64_t *v = pfxtree_find(&t, &keys[i]);

			count += in[i];
			assert_int_equal(v != NULL, in[i]);
			if (v)
				assert_int_equal(*v, i);
		}
		assert_int_equal(t.count, count);
		assert_false(pfxtree_overlaps(&t, &q, mark, &h));
		for (size_t i = 0; i < KEYS; i++) {
			bool o = in[i] && pfx_overlaps(&keys[i], &q);

			assert_int_equal(h.hit[i], o);
			want += o;
		}
		assert_int_equal(h.n, want);
	}
	/* nodes are reused: never more than two per prefix ever held at once */
	assert_true(t.n <= 2 * KEYS);
	pfxtree_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_del),
		cmocka_unit_test(test_overlap_order),
		cmocka_unit_test(test_v6_edges),
		cmocka_unit_test(test_random_against_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
