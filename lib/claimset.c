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

static size_t hash_at(const void *ctx, size_t i)
{
	const struct claimset *s = ctx;

	return hash(&s->v[i]);
}

static bool equal_at(const void *ctx, size_t i, const void *key)
{
	const struct claimset *s = ctx;

	return claim_equal(&s->v[i], key);
}

static const struct hashidx_ops ops = { hash_at, equal_at };

void claimset_init(struct claimset *s)
{
	memset(s, 0, sizeof(*s));
	hashidx_init(&s->idx, &ops);
	pfxtree_init(&s->nets);
}

void claimset_free(struct claimset *s)
{
	free(s->v);
	free(s->next);
	hashidx_free(&s->idx);
	pfxtree_free(&s->nets);
	claimset_init(s);
}

void claimset_clear(struct claimset *s)
{
	s->n = 0;
	hashidx_clear(&s->idx);
	pfxtree_clear(&s->nets);
}

/* --- the index by network --- */

/* Links the claim at position k (its network's chain not yet holding it). */
static int net_link(struct claimset *s, size_t k)
{
	uint64_t *head = pfxtree_find(&s->nets, &s->v[k].net);

	if (head) {
		s->next[k] = (size_t)*head + 1;
		*head = k;
		return 0;
	}
	s->next[k] = 0;
	return pfxtree_add(&s->nets, &s->v[k].net, k) < 0 ? -ENOMEM : 0;
}

/* Position k leaves its network's chain (unlink), or (!unlink) the link
 * that names k (the tree's value or a claim's next) names to instead. */
static void net_relink(struct claimset *s, size_t k, size_t to, bool unlink)
{
	uint64_t *head = pfxtree_find(&s->nets, &s->v[k].net);
	size_t p;

	if (!head)
		return;
	if (*head == k) {
		if (!unlink)
			*head = to;
		else if (s->next[k])
			*head = s->next[k] - 1;
		else
			pfxtree_del(&s->nets, &s->v[k].net);
		return;
	}
	for (p = (size_t)*head; s->next[p] && s->next[p] != k + 1; p = s->next[p] - 1)
		;
	if (s->next[p] == k + 1)
		s->next[p] = unlink ? s->next[k] : to + 1;
}

int claimset_index_nets(struct claimset *s)
{
	size_t *next;

	if (s->bynet)
		return 0;
	next = malloc((s->cap ? s->cap : 1) * sizeof(*next));
	if (!next)
		return -ENOMEM;
	s->next = next;
	s->bynet = true;
	for (size_t k = 0; k < s->n; k++)
		if (net_link(s, k) < 0) {
			pfxtree_clear(&s->nets);
			free(s->next);
			s->next = NULL;
			s->bynet = false;
			return -ENOMEM;
		}
	return 0;
}

struct overlap_walk {
	const struct claimset *s;
	claimset_fn fn;
	void *arg;
};

static bool overlap_chain(const struct pfx *p, uint64_t val, void *arg)
{
	struct overlap_walk *w = arg;

	(void)p;
	for (size_t k = (size_t)val + 1; k; k = w->s->next[k - 1])
		if (w->fn(&w->s->v[k - 1], w->arg))
			return true;
	return false;
}

bool claimset_overlaps(const struct claimset *s, const struct pfx *x, claimset_fn fn, void *arg)
{
	struct overlap_walk w = { s, fn, arg };

	if (s->bynet)
		return pfxtree_overlaps(&s->nets, x, overlap_chain, &w);
	for (size_t k = 0; k < s->n; k++)
		if (pfx_overlaps(&s->v[k].net, x) && fn(&s->v[k], arg))
			return true;
	return false;
}

/* --- the set --- */

const struct proto_claim *claimset_find(const struct claimset *s, const struct proto_claim *c)
{
	long k = hashidx_find(&s->idx, s, c, hash(c));

	return k < 0 ? NULL : &s->v[k];
}

int claimset_add(struct claimset *s, const struct proto_claim *c)
{
	if (claimset_find(s, c))
		return 1;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct proto_claim *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		if (s->bynet) {
			size_t *next = realloc(s->next, cap * sizeof(*next));

			if (!next)
				return -ENOMEM;
			s->next = next;
		}
		s->cap = cap;
	}
	s->v[s->n] = *c;
	if (hashidx_add(&s->idx, s, s->n) < 0)
		return -ENOMEM;
	if (s->bynet && net_link(s, s->n) < 0) {
		hashidx_del(&s->idx, s, c, hash(c));
		return -ENOMEM;
	}
	s->n++;
	return 0;
}

bool claimset_del(struct claimset *s, const struct proto_claim *c)
{
	long k = hashidx_del(&s->idx, s, c, hash(c));
	size_t last;

	if (k < 0)
		return false;
	if (s->bynet)
		net_relink(s, (size_t)k, 0, true);
	/* the last claim moves into the hole, and its links follow */
	last = s->n - 1;
	if ((size_t)k != last) {
		hashidx_move(&s->idx, s, last, (size_t)k);
		if (s->bynet) {
			net_relink(s, last, (size_t)k, false);
			s->next[k] = s->next[last];
		}
		s->v[k] = s->v[last];
	}
	s->n--;
	return true;
}

size_t claimset_bytes(const struct claimset *s)
{
	/* the index by network's tree not counted: the agent keeps none */
	return s->cap * (sizeof(*s->v) + (s->bynet ? sizeof(*s->next) : 0)) +
	       s->idx.nslot * sizeof(*s->idx.slot);
}
