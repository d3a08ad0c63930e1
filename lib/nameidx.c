// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <stdint.h>
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

static size_t hash_at(const void *ctx, size_t i)
{
	const struct nameidx *x = ctx;

	return hash(x->key(x->ctx, i));
}

static bool equal_at(const void *ctx, size_t i, const void *name)
{
	const struct nameidx *x = ctx;

	return strcmp(x->key(x->ctx, i), name) == 0;
}

static const struct hashidx_ops ops = { hash_at, equal_at };

void nameidx_init(struct nameidx *x, nameidx_key_fn key, const void *ctx)
{
	hashidx_init(&x->h, &ops);
	x->key = key;
	x->ctx = ctx;
}

void nameidx_free(struct nameidx *x)
{
	hashidx_free(&x->h);
}

void nameidx_clear(struct nameidx *x)
{
	hashidx_clear(&x->h);
}

long nameidx_find(const struct nameidx *x, const char *name)
{
	return hashidx_find(&x->h, x, name, hash(name));
}

int nameidx_add(struct nameidx *x, size_t i)
{
	return hashidx_add(&x->h, x, i);
}

bool nameidx_del(struct nameidx *x, const char *name)
{
	return hashidx_del(&x->h, x, name, hash(name)) >= 0;
}

void nameidx_move(struct nameidx *x, size_t from, size_t to)
{
	hashidx_move(&x->h, x, from, to);
}
