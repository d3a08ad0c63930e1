/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An index by name of the elements of the caller's array: lib/hashidx.h
 * keyed by name, so that finding, adding and removing one is O(1) whatever
 * the array's size. The array stays the caller's: the index asks key(ctx, i)
 * for the name of the element at position i, and is told when an element
 * moves.
 */
#ifndef VR_NAMEIDX_H
#define VR_NAMEIDX_H

#include <stdbool.h>
#include <stddef.h>

#include "hashidx.h"

typedef const char *(*nameidx_key_fn)(const void *ctx, size_t i);

struct nameidx {
	struct hashidx h;
	nameidx_key_fn key;
	const void *ctx;
};

void nameidx_init(struct nameidx *x, nameidx_key_fn key, const void *ctx);
void nameidx_free(struct nameidx *x);
/* Forgets every position, keeping the memory. */
void nameidx_clear(struct nameidx *x);
/* The position of the element named name, or -1. */
long nameidx_find(const struct nameidx *x, const char *name);
/* Indexes the element at position i (its name not indexed yet): 0, -ENOMEM. */
int nameidx_add(struct nameidx *x, size_t i);
/* Forgets the element named name (still at its position); false when absent. */
bool nameidx_del(struct nameidx *x, const char *name);
/* The element at position from is about to move to position to (still at
 * from when called). */
void nameidx_move(struct nameidx *x, size_t from, size_t to);

#endif
