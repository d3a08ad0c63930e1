/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A set of claims (network, common name, instance): a dense array, so that
 * it can be walked as one (lib/policy.c's walk, the plugin's link_view),
 * with a hash index, so that adding, finding and removing one claim is
 * O(1). Removing moves the last claim into the hole: the order is not kept.
 */
#ifndef VR_CLAIMSET_H
#define VR_CLAIMSET_H

#include <stdbool.h>
#include <stddef.h>

#include "proto.h"

struct claimset {
	struct proto_claim *v;
	size_t n, cap;
	size_t *slot; /* open addressing: index in v plus one, 0 empty */
	size_t nslot; /* a power of two, at least twice n */
};

void claimset_init(struct claimset *s);
void claimset_free(struct claimset *s);
void claimset_clear(struct claimset *s);
/* Adds c unless an equal claim is there (1 then); 0 added; -ENOMEM. */
int claimset_add(struct claimset *s, const struct proto_claim *c);
/* Removes the claim equal to c; false when there is none. */
bool claimset_del(struct claimset *s, const struct proto_claim *c);
/* The claim equal to c, or NULL. */
const struct proto_claim *claimset_find(const struct claimset *s, const struct proto_claim *c);
/* Equal: the same network, common name and instance. */
bool claim_equal(const struct proto_claim *a, const struct proto_claim *b);

#endif
