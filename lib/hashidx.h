/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An index of the elements of the caller's array by a key of theirs: open
 * addressing (linear probing, backward-shift deletion) over their
 * positions, so that finding, adding and removing one is O(1) whatever the
 * array's size. The array stays the caller's: the index asks ops->hash for
 * the hash of the element at a position and ops->equal whether it matches a
 * key, and is told when an element moves. The array is named by ctx on
 * every call (never kept), so that the caller may move the structure that
 * holds both. One scheme for lib/claimset.c (claims by value) and
 * lib/nameidx.c (elements by name).
 */
#ifndef VR_HASHIDX_H
#define VR_HASHIDX_H

#include <stdbool.h>
#include <stddef.h>

struct hashidx_ops {
	/* The hash of the element at position i; for a key, the same hash as
	 * an element equal to it. */
	size_t (*hash)(const void *ctx, size_t i);
	/* Whether the element at position i matches key. */
	bool (*equal)(const void *ctx, size_t i, const void *key);
};

struct hashidx {
	size_t *slot; /* a position plus one, 0: empty */
	size_t nslot; /* a power of two, at least twice n */
	size_t n;
	const struct hashidx_ops *ops;
};

void hashidx_init(struct hashidx *x, const struct hashidx_ops *ops);
void hashidx_free(struct hashidx *x);
/* Forgets every position, keeping the memory. */
void hashidx_clear(struct hashidx *x);
/* The position of the element that matches key (whose hash is h), or -1. */
long hashidx_find(const struct hashidx *x, const void *ctx, const void *key, size_t h);
/* Indexes the element at position i (nothing equal to it indexed yet): 0, -ENOMEM. */
int hashidx_add(struct hashidx *x, const void *ctx, size_t i);
/* Forgets the element that matches key (whose hash is h), still at its
 * position: that position, or -1 when there is none. */
long hashidx_del(struct hashidx *x, const void *ctx, const void *key, size_t h);
/* The element at position from is about to move to position to (still at
 * from when called). */
void hashidx_move(struct hashidx *x, const void *ctx, size_t from, size_t to);

#endif
