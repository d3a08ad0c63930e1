/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A prefix index: a path-compressed binary radix tree (PATRICIA) of IPv4
 * and IPv6 prefixes, each with a 64-bit value. Adding, removing and finding
 * a prefix, and listing the prefixes that overlap one (those that contain
 * it, then those inside it), cost O(prefix length), whatever the number of
 * prefixes held: what makes an overlap check against every client of a host
 * independent of how many there are. Nodes live in one array and name each
 * other by index (no pointer per node): about 2 nodes of 40 bytes per prefix.
 */
#ifndef VR_PFXTREE_H
#define VR_PFXTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pfx.h"

struct pfxtree_node;

struct pfxtree {
	struct pfxtree_node *v;
	uint32_t n, cap;  /* nodes in use or freed (v[0, n)), allocated */
	uint32_t free;	  /* freed nodes, linked through child[0]; 0: none */
	uint32_t nfree;	  /* how many */
	uint32_t root[2]; /* per family (v4, v6): a node index + 1, 0: empty */
	size_t count;	  /* prefixes held */
};

void pfxtree_init(struct pfxtree *t);
void pfxtree_free(struct pfxtree *t);
/* Forgets every prefix, keeping the memory. */
void pfxtree_clear(struct pfxtree *t);
/* Adds p (its host bits ignored) with val: 0, 1 when p is there already
 * (its value unchanged), -ENOMEM. */
int pfxtree_add(struct pfxtree *t, const struct pfx *p, uint64_t val);
/* Removes p; false when it is not there. */
bool pfxtree_del(struct pfxtree *t, const struct pfx *p);
/* The value of p (to read or change in place), or NULL when p is not there. */
uint64_t *pfxtree_find(const struct pfxtree *t, const struct pfx *p);
/*
 * Calls fn for each prefix that overlaps x: those that contain x (x itself
 * included), shortest first, then those inside x, in address order; until fn
 * returns true, and then returns true. False when fn never did.
 */
typedef bool (*pfxtree_fn)(const struct pfx *p, uint64_t val, void *arg);
bool pfxtree_overlaps(const struct pfxtree *t, const struct pfx *x, pfxtree_fn fn, void *arg);

#endif
