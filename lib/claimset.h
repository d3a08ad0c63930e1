/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A set of claims (network, common name, instance): a dense array, so that
 * it can be walked as one, with a hash index (lib/hashidx.h), so that
 * adding, finding and removing one claim is O(1). Removing moves the last
 * claim into the hole: the order is not kept.
 *
 * Optionally (claimset_index_nets) also an index by network (lib/pfxtree.h):
 * then the claims that overlap a prefix are found in O(prefix length) plus
 * the number found (the plugin's admission check), instead of a scan.
 */
#ifndef VR_CLAIMSET_H
#define VR_CLAIMSET_H

#include <stdbool.h>
#include <stddef.h>

#include "hashidx.h"
#include "pfxtree.h"
#include "proto.h"

struct claimset {
	struct proto_claim *v;
	size_t n, cap;
	struct hashidx idx;
	/* claimset_index_nets: each network's first claim in v, and per claim
	 * the next one of the same network (a position plus one, 0: none) */
	bool bynet;
	struct pfxtree nets;
	size_t *next;
};

void claimset_init(struct claimset *s);
void claimset_free(struct claimset *s);
/* Forgets every claim, keeping the memory (and the index by network). */
void claimset_clear(struct claimset *s);
/* Keeps an index by network from now on (built from what s holds): 0, -ENOMEM. */
int claimset_index_nets(struct claimset *s);
/* Adds c unless an equal claim is there (1 then); 0 added; -ENOMEM. */
int claimset_add(struct claimset *s, const struct proto_claim *c);
/* Removes the claim equal to c; false when there is none. */
bool claimset_del(struct claimset *s, const struct proto_claim *c);
/* The claim equal to c, or NULL. */
const struct proto_claim *claimset_find(const struct claimset *s, const struct proto_claim *c);
/* Equal: the same network, common name and instance. */
bool claim_equal(const struct proto_claim *a, const struct proto_claim *b);
/*
 * Calls fn for each claim whose network overlaps x, until fn returns true,
 * and then returns true; false when fn never did. Through the index by
 * network when s keeps one, else a scan.
 */
typedef bool (*claimset_fn)(const struct proto_claim *c, void *arg);
bool claimset_overlaps(const struct claimset *s, const struct pfx *x, claimset_fn fn, void *arg);
/* The bytes s has allocated (for the agent's heap accounting). */
size_t claimset_bytes(const struct claimset *s);

#endif
