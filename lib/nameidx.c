// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nameidx.h"

/* FNV-1a */
static size_t hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 29));
}

void nameidx_init(struct nameidx *x, nameidx_key_fn key, const void *ctx)
{
	memset(x, 0, sizeof(*x));
	x->key = key;
	x->ctx = ctx;
}

void nameidx_free(struct nameidx *x)
{
	free(x->slot);
	nameidx_init(x, x->key, x->ctx);
}

void nameidx_clear(struct nameidx *x)
{
	x->n = 0;
	if (x->slot)
		memset(x->slot, 0, x->nslot * sizeof(*x->slot));
}

/* The slot that holds name, or the empty slot where it would go. */
static size_t probe(const struct nameidx *x, const char *name)
{
	size_t mask = x->nslot - 1, i = hash(name) & mask;

	while (x->slot[i] && strcmp(x->key(x->ctx, x->slot[i] - 1), name) != 0)
		i = (i + 1) & mask;
	return i;
}

long nameidx_find(const struct nameidx *x, const char *name)
{
	size_t i;

	if (!x->n)
		return -1;
	i = probe(x, name);
	return x->slot[i] ? (long)(x->slot[i] - 1) : -1;
}

static int rehash(struct nameidx *x, size_t nslot)
{
	size_t *slot = calloc(nslot, sizeof(*slot)), *old = x->slot, nold = x->nslot;

	if (!slot)
		return -ENOMEM;
	x->slot = slot;
	x->nslot = nslot;
	for (size_t k = 0; k < nold; k++)
		if (old[k])
			x->slot[probe(x, x->key(x->ctx, old[k] - 1))] = old[k];
	free(old);
	return 0;
}

int nameidx_add(struct nameidx *x, size_t i)
{
	if ((x->n + 1) * 2 > x->nslot && rehash(x, x->nslot ? x->nslot * 2 : 32) < 0)
		return -ENOMEM;
	x->slot[probe(x, x->key(x->ctx, i))] = i + 1;
	x->n++;
	return 0;
}

bool nameidx_del(struct nameidx *x, const char *name)
{
	size_t mask, i, j;

	if (!x->n)
		return false;
	mask = x->nslot - 1;
	i = probe(x, name);
	if (!x->slot[i])
		return false;
	x->n--;
	/* backward-shift deletion: the probe chains stay unbroken */
	x->slot[i] = 0;
	for (j = (i + 1) & mask; x->slot[j]; j = (j + 1) & mask) {
		size_t home = hash(x->key(x->ctx, x->slot[j] - 1)) & mask;

		/* the entry at j may move to i when i lies on its way from home */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			x->slot[i] = x->slot[j];
			x->slot[j] = 0;
			i = j;
		}
	}
	return true;
}

void nameidx_move(struct nameidx *x, size_t from, size_t to)
{
	size_t i;

	if (!x->n)
		return;
	i = probe(x, x->key(x->ctx, from));
	if (x->slot[i] == from + 1)
		x->slot[i] = to + 1;
}
