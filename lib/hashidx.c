// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashidx.h"

void hashidx_init(struct hashidx *x, const struct hashidx_ops *ops)
{
	memset(x, 0, sizeof(*x));
	x->ops = ops;
}

void hashidx_free(struct hashidx *x)
{
	free(x->slot);
	hashidx_init(x, x->ops);
}

void hashidx_clear(struct hashidx *x)
{
	x->n = 0;
	if (x->slot)
		memset(x->slot, 0, x->nslot * sizeof(*x->slot));
}

/* The slot that holds key, or the empty slot where it would go. */
static size_t probe(const struct hashidx *x, const void *ctx, const void *key, size_t h)
{
	size_t mask = x->nslot - 1, i = h & mask;

	while (x->slot[i] && !x->ops->equal(ctx, x->slot[i] - 1, key))
		i = (i + 1) & mask;
	return i;
}

/* The empty slot where the element at position i goes. */
static size_t probe_free(const struct hashidx *x, const void *ctx, size_t i)
{
	size_t mask = x->nslot - 1, k = x->ops->hash(ctx, i) & mask;

	while (x->slot[k])
		k = (k + 1) & mask;
	return k;
}

long hashidx_find(const struct hashidx *x, const void *ctx, const void *key, size_t h)
{
	size_t i;

	if (!x->n)
		return -1;
	i = probe(x, ctx, key, h);
	return x->slot[i] ? (long)(x->slot[i] - 1) : -1;
}

static int rehash(struct hashidx *x, const void *ctx, size_t nslot)
{
	size_t *slot = calloc(nslot, sizeof(*slot)), *old = x->slot, nold = x->nslot;

	if (!slot)
		return -ENOMEM;
	x->slot = slot;
	x->nslot = nslot;
	for (size_t k = 0; k < nold; k++)
		if (old[k])
			x->slot[probe_free(x, ctx, old[k] - 1)] = old[k];
	free(old);
	return 0;
}

int hashidx_add(struct hashidx *x, const void *ctx, size_t i)
{
	if ((x->n + 1) * 2 > x->nslot && rehash(x, ctx, x->nslot ? x->nslot * 2 : 32) < 0)
		return -ENOMEM;
	x->slot[probe_free(x, ctx, i)] = i + 1;
	x->n++;
	return 0;
}

long hashidx_del(struct hashidx *x, const void *ctx, const void *key, size_t h)
{
	size_t mask, i, j, pos;

	if (!x->n)
		return -1;
	mask = x->nslot - 1;
	i = probe(x, ctx, key, h);
	if (!x->slot[i])
		return -1;
	pos = x->slot[i] - 1;
	x->n--;
	/* backward-shift deletion: the probe chains stay unbroken */
	x->slot[i] = 0;
	for (j = (i + 1) & mask; x->slot[j]; j = (j + 1) & mask) {
		size_t home = x->ops->hash(ctx, x->slot[j] - 1) & mask;

		/* the entry at j may move to i when i lies on its way from home */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			x->slot[i] = x->slot[j];
			x->slot[j] = 0;
			i = j;
		}
	}
	return (long)pos;
}

void hashidx_move(struct hashidx *x, const void *ctx, size_t from, size_t to)
{
	size_t mask, i;

	if (!x->n)
		return;
	mask = x->nslot - 1;
	/* the slot that names from: from's own probe sequence leads there */
	for (i = x->ops->hash(ctx, from) & mask; x->slot[i]; i = (i + 1) & mask)
		if (x->slot[i] == from + 1) {
			x->slot[i] = to + 1;
			return;
		}
}
