// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "claimset.h"

bool claim_equal(const struct proto_claim *a, const struct proto_claim *b)
{
	return pfx_equal(&a->net, &b->net) && strcmp(a->cn, b->cn) == 0 &&
	       strcmp(a->instance, b->instance) == 0;
}

/* FNV-1a over the prefix's significant bytes and both names. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static size_t hash(const struct proto_claim *c)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint8_t head[2] = { c->net.family, c->net.len };

	h = fnv(h, head, sizeof(head));
	h = fnv(h, c->net.addr, pfx_addrlen(&c->net));
	h = fnv(h, c->cn, strlen(c->cn) + 1);
	h = fnv(h, c->instance, strlen(c->instance));
	return (size_t)(h ^ (h >> 29));
}

void claimset_init(struct claimset *s)
{
	memset(s, 0, sizeof(*s));
}

void claimset_free(struct claimset *s)
{
	free(s->v);
	free(s->slot);
	claimset_init(s);
}

void claimset_clear(struct claimset *s)
{
	s->n = 0;
	if (s->slot)
		memset(s->slot, 0, s->nslot * sizeof(*s->slot));
}

/* The slot that holds c, or the empty slot where it would go. */
static size_t probe(const struct claimset *s, const struct proto_claim *c)
{
	size_t mask = s->nslot - 1, i = hash(c) & mask;

	while (s->slot[i] && !claim_equal(&s->v[s->slot[i] - 1], c))
		i = (i + 1) & mask;
	return i;
}

static int rehash(struct claimset *s, size_t nslot)
{
	size_t *slot = calloc(nslot, sizeof(*slot)), *old = s->slot;

	if (!slot)
		return -ENOMEM;
	s->slot = slot;
	s->nslot = nslot;
	for (size_t k = 0; k < s->n; k++)
		s->slot[probe(s, &s->v[k])] = k + 1;
	free(old);
	return 0;
}

const struct proto_claim *claimset_find(const struct claimset *s, const struct proto_claim *c)
{
	size_t i;

	if (!s->n)
		return NULL;
	i = probe(s, c);
	return s->slot[i] ? &s->v[s->slot[i] - 1] : NULL;
}

int claimset_add(struct claimset *s, const struct proto_claim *c)
{
	size_t i;

	if (s->n && s->slot[probe(s, c)])
		return 1;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct proto_claim *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	if ((s->n + 1) * 2 > s->nslot && rehash(s, s->nslot ? s->nslot * 2 : 32) < 0)
		return -ENOMEM;
	i = probe(s, c);
	s->v[s->n] = *c;
	s->slot[i] = ++s->n;
	return 0;
}

bool claimset_del(struct claimset *s, const struct proto_claim *c)
{
	size_t mask, i, j, k, last;

	if (!s->n)
		return false;
	mask = s->nslot - 1;
	i = probe(s, c);
	if (!s->slot[i])
		return false;
	k = s->slot[i] - 1;
	/* the last claim moves into the hole, and its slot follows */
	last = s->n - 1;
	if (k != last) {
		size_t m = probe(s, &s->v[last]);

		s->v[k] = s->v[last];
		s->slot[m] = k + 1;
	}
	s->n--;
	/* backward-shift deletion: the probe chains stay unbroken */
	s->slot[i] = 0;
	for (j = (i + 1) & mask; s->slot[j]; j = (j + 1) & mask) {
		size_t home = hash(&s->v[s->slot[j] - 1]) & mask;

		/* the entry at j may move to i when i lies on its way from home */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			s->slot[i] = s->slot[j];
			s->slot[j] = 0;
			i = j;
		}
	}
	return true;
}
