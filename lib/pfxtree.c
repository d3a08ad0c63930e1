// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The prefix index (pfxtree.h). Each node holds a prefix: one that was
 * added (used), or a branch point two added ones share (not used; it has
 * two children then). A child's prefix is longer than its parent's, begins
 * with it, and hangs on the side of the bit that follows it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pfxtree.h"

struct pfxtree_node {
	struct pfx key; /* host bits cleared */
	bool used;
	uint32_t child[2]; /* node index + 1, 0: none */
	uint32_t parent;   /* node index + 1, 0: a root */
	uint64_t val;
};

#define NODE(t, i) (&(t)->v[(i)-1])

void pfxtree_init(struct pfxtree *t)
{
	memset(t, 0, sizeof(*t));
}

void pfxtree_free(struct pfxtree *t)
{
	free(t->v);
	pfxtree_init(t);
}

void pfxtree_clear(struct pfxtree *t)
{
	t->n = t->free = t->nfree = 0;
	t->root[0] = t->root[1] = 0;
	t->count = 0;
}

static unsigned fam(const struct pfx *p)
{
	return p->family == AF_INET6;
}

/* Bit i of p's address (0: the most significant). */
static unsigned bit(const struct pfx *p, unsigned i)
{
	return (p->addr[i >> 3] >> (7 - (i & 7))) & 1;
}

/* How many leading bits a and b share, at most max. */
static unsigned common(const struct pfx *a, const struct pfx *b, unsigned max)
{
	unsigned i = 0;

	while (i + 8 <= max && a->addr[i >> 3] == b->addr[i >> 3])
		i += 8;
	while (i < max && bit(a, i) == bit(b, i))
		i++;
	return i;
}

/* p with only its first len bits (and that length). */
static struct pfx masked(const struct pfx *p, unsigned len)
{
	struct pfx m = { .family = p->family, .len = (uint8_t)len };

	memcpy(m.addr, p->addr, len / 8);
	if (len % 8)
		m.addr[len / 8] = p->addr[len / 8] & (uint8_t)(0xff00u >> (len % 8));
	return m;
}

/* Room for two more nodes, so that no node moves during one add. */
static int reserve(struct pfxtree *t)
{
	struct pfxtree_node *v;
	uint32_t cap;

	if (t->nfree + (t->cap - t->n) >= 2)
		return 0;
	if (t->cap > UINT32_MAX / 2 - 2)
		return -ENOMEM;
	cap = t->cap ? t->cap * 2 : 32;
	v = realloc(t->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->v = v;
	t->cap = cap;
	return 0;
}

static uint32_t node_new(struct pfxtree *t, const struct pfx *key, bool used, uint64_t val,
			 uint32_t parent)
{
	uint32_t i;
	struct pfxtree_node *x;

	if (t->free) {
		i = t->free;
		t->free = NODE(t, i)->child[0];
		t->nfree--;
	} else {
		i = ++t->n;
	}
	x = NODE(t, i);
	memset(x, 0, sizeof(*x));
	x->key = *key;
	x->used = used;
	x->val = val;
	x->parent = parent;
	return i;
}

static void node_release(struct pfxtree *t, uint32_t i)
{
	NODE(t, i)->child[0] = t->free;
	NODE(t, i)->used = false;
	t->free = i;
	t->nfree++;
}

int pfxtree_add(struct pfxtree *t, const struct pfx *p, uint64_t val)
{
	struct pfx k = masked(p, p->len);
	uint32_t *slot, parent = 0;

	if (reserve(t) < 0)
		return -ENOMEM;
	slot = &t->root[fam(p)];
	while (*slot) {
		uint32_t cur = *slot;
		struct pfxtree_node *x = NODE(t, cur);
		unsigned max = x->key.len < k.len ? x->key.len : k.len,
			 d = common(&x->key, &k, max);
		uint32_t nw, glue;

		if (d == x->key.len && x->key.len == k.len) { /* p itself */
			if (x->used)
				return 1;
			x->used = true;
			x->val = val;
			t->count++;
			return 0;
		}
		if (d == x->key.len) { /* x contains p: further down */
			parent = cur;
			slot = &x->child[bit(&k, x->key.len)];
			continue;
		}
		if (d == k.len) { /* p contains x: p takes x's place, x below it */
			nw = node_new(t, &k, true, val, parent);
			x = NODE(t, cur);
			NODE(t, nw)->child[bit(&x->key, k.len)] = cur;
			x->parent = nw;
			*slot = nw;
			t->count++;
			return 0;
		}
		/* they part at bit d: a branch point for both */
		{
			struct pfx g = masked(&k, d);

			glue = node_new(t, &g, false, 0, parent);
		}
		nw = node_new(t, &k, true, val, glue);
		x = NODE(t, cur);
		NODE(t, glue)->child[bit(&k, d)] = nw;
		NODE(t, glue)->child[bit(&x->key, d)] = cur;
		x->parent = glue;
		*slot = glue;
		t->count++;
		return 0;
	}
	*slot = node_new(t, &k, true, val, parent);
	t->count++;
	return 0;
}

/* The node that holds exactly p (used or not), or 0. */
static uint32_t lookup(const struct pfxtree *t, const struct pfx *p)
{
	struct pfx k = masked(p, p->len);
	uint32_t cur = t->root[fam(p)];

	while (cur) {
		const struct pfxtree_node *x = NODE(t, cur);

		if (x->key.len > k.len || common(&x->key, &k, x->key.len) < x->key.len)
			return 0;
		if (x->key.len == k.len)
			return cur;
		cur = x->child[bit(&k, x->key.len)];
	}
	return 0;
}

uint64_t *pfxtree_find(const struct pfxtree *t, const struct pfx *p)
{
	uint32_t i = lookup(t, p);

	return i && NODE(t, i)->used ? &NODE(t, i)->val : NULL;
}

/* Where node i hangs: its parent's child slot, or its family's root. */
static uint32_t *slot_of(struct pfxtree *t, uint32_t i)
{
	struct pfxtree_node *x = NODE(t, i);

	if (!x->parent)
		return &t->root[fam(&x->key)];
	return &NODE(t, x->parent)->child[bit(&x->key, NODE(t, x->parent)->key.len)];
}

/* Node i, unused, goes when it has fewer than two children; then its
 * parent may be a branch point left with one. */
static void prune(struct pfxtree *t, uint32_t i)
{
	while (i && !NODE(t, i)->used) {
		struct pfxtree_node *x = NODE(t, i);
		uint32_t only = x->child[0] ? x->child[0] : x->child[1], parent = x->parent;

		if (x->child[0] && x->child[1])
			return;
		*slot_of(t, i) = only;
		if (only)
			NODE(t, only)->parent = parent;
		node_release(t, i);
		i = parent;
	}
}

bool pfxtree_del(struct pfxtree *t, const struct pfx *p)
{
	uint32_t i = lookup(t, p);

	if (!i || !NODE(t, i)->used)
		return false;
	NODE(t, i)->used = false;
	t->count--;
	prune(t, i);
	return true;
}

/* fn for every used node of the subtree at i, in address order. */
static bool subtree(const struct pfxtree *t, uint32_t i, pfxtree_fn fn, void *arg)
{
	uint32_t stack[2 * 130];
	size_t sp = 0;

	stack[sp++] = i;
	while (sp) {
		const struct pfxtree_node *x = NODE(t, stack[--sp]);

		if (x->used && fn(&x->key, x->val, arg))
			return true;
		/* depth at most 129: at most one pending sibling per level */
		if (x->child[1])
			stack[sp++] = x->child[1];
		if (x->child[0])
			stack[sp++] = x->child[0];
	}
	return false;
}

bool pfxtree_overlaps(const struct pfxtree *t, const struct pfx *x, pfxtree_fn fn, void *arg)
{
	struct pfx k = masked(x, x->len);
	uint32_t cur = t->root[fam(x)];

	while (cur) {
		const struct pfxtree_node *n = NODE(t, cur);

		if (n->key.len >= k.len) /* inside x, or nothing here is */
			return common(&n->key, &k, k.len) == k.len && subtree(t, cur, fn, arg);
		if (common(&n->key, &k, n->key.len) < n->key.len)
			return false; /* parted from x: nothing below overlaps it */
		if (n->used && fn(&n->key, n->val, arg))
			return true; /* it contains x */
		cur = n->child[bit(&k, n->key.len)];
	}
	return false;
}
