// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The nftables set element arithmetic of agent/nft.c, without a kernel:
 * a model's elements (intervals with an exclusive end, sorted, without
 * duplicates, per family and set), the difference of two element lists
 * (what nft_apply sends), a client's change against the table's copy (what
 * nft_update sends: elements in both add and del stay), and the sorted copy
 * kept by insert/remove. nft.c is included for its static functions; it is
 * not changed. No test here opens a netlink socket: a path that would send
 * crashes on the empty struct nft, so "nothing to send" is checked too.
 */
#include "config.h"

#include "../../agent/nft.c"

#include "unit.h"

static void quiet(int prio, const char *msg, void *ctx)
{
}

static struct pfx_list list_of(const char *const *v)
{
	struct pfx_list l = { 0 };

	for (; *v; v++)
		assert_int_equal(pfx_list_add(&l, P(*v), 64), 0);
	return l;
}

static struct elem elem_of(const char *net)
{
	struct pfx_list l = list_of((const char *[]){ net, NULL });
	struct elist out = { 0 };
	struct elem e;

	assert_int_equal(prefix_elems(&l, fam_idx(l.v[0].family), &out), 0);
	assert_int_equal(out.n, 1);
	e = out.v[0];
	free(out.v);
	pfx_list_free(&l);
	return e;
}

static void test_prefix_interval(void **state)
{
	struct elem e = elem_of("192.168.1.128/25");
	static const uint8_t first[4] = { 192, 168, 1, 128 }, next[4] = { 192, 168, 2, 0 };

	/* [first, last + 1): nftables' interval end is exclusive */
	assert_memory_equal(e.key, first, 4);
	assert_memory_equal(e.end, next, 4);
	assert_false(e.open_end);
	/* an interval reaching the top of the space has no end element */
	e = elem_of("128.0.0.0/1");
	assert_true(e.open_end);
	e = elem_of("ffff::/16");
	assert_true(e.open_end);
	e = elem_of("fd00::/8");
	assert_false(e.open_end);
	assert_int_equal(e.end[0], 0xfe);
}

static void test_model_sorted_unique_per_family(void **state)
{
	struct nft_model m = { 0 };
	struct elist el[2][S_NSETS] = { 0 };
	struct nft_acc acc[4] = { 0 };

	m.local = list_of((const char *[]){ "10.1.1.0/24", "fd00:1::/64", NULL });
	m.remote = list_of((const char *[]){ "192.168.20.0/24", "192.168.1.128/25",
					     "192.168.20.0/24", "2001:db8::/48", "192.168.30.7/32",
					     "2001:db8:1::7/128", NULL });
	/* an icmp rule, a tcp/22 rule twice, and one of mixed families (ignored) */
	acc[0] = (struct nft_acc){ .src = pfx_of("10.1.1.0/24"),
				   .dst = pfx_of("192.168.1.0/24"),
				   .proto_lo = 1,
				   .proto_hi = 1 };
	acc[1] = (struct nft_acc){ .src = pfx_of("10.1.1.0/24"),
				   .dst = pfx_of("192.168.1.140/32"),
				   .proto_lo = 6,
				   .proto_hi = 6,
				   .ports = true,
				   .port_lo = 22,
				   .port_hi = 22 };
	acc[2] = acc[1];
	acc[3] = (struct nft_acc){ .src = pfx_of("10.1.1.0/24"), .dst = pfx_of("fd00:2::/64") };
	m.acc = acc;
	m.nacc = 4;
	assert_int_equal(model_elems(&m, el), 0);

	assert_int_equal(el[0][S_LOCAL].n, 1);
	assert_int_equal(el[1][S_LOCAL].n, 1);
	/* the duplicate is gone, the rest sorted */
	assert_int_equal(el[0][S_REMOTE].n, 2);
	assert_int_equal(el[0][S_REMOTE].v[0].key[2], 1);
	assert_int_equal(el[0][S_REMOTE].v[1].key[2], 20);
	assert_int_equal(el[1][S_REMOTE].n, 1);
	/* single addresses: the hash set, their key alone */
	assert_int_equal(el[0][S_HOST].n, 1);
	assert_int_equal(el[0][S_HOST].v[0].key[3], 7);
	assert_true(el[0][S_HOST].v[0].open_end);
	assert_int_equal(el[1][S_HOST].n, 1);
	/* with ports in "ports", without in "allow"; mixed families nowhere */
	assert_int_equal(el[0][S_ALLOW].n, 1);
	assert_int_equal(el[0][S_ALLOW].v[0].key[8], 1);
	assert_int_equal(el[0][S_PORTS].n, 1);
	{
		const struct elem *p = &el[0][S_PORTS].v[0];
		uint16_t lo, hi;

		memcpy(&lo, p->key + 12, 2);
		memcpy(&hi, p->end + 12, 2);
		assert_int_equal(ntohs(lo), 22);
		assert_int_equal(ntohs(hi), 22);
		assert_int_equal(p->key[8], 6);
		/* src and dst as ranges: first and last of each */
		assert_int_equal(p->key[7], 140);
		assert_int_equal(p->end[7], 140);
		assert_int_equal(p->end[3], 255);
	}
	assert_int_equal(el[1][S_ALLOW].n + el[1][S_PORTS].n, 0);
	for (int fi = 0; fi < 2; fi++)
		for (int s = 0; s < S_NSETS; s++)
			for (size_t i = 1; i < el[fi][s].n; i++)
				assert_true(elem_cmp(&el[fi][s].v[i - 1], &el[fi][s].v[i]) < 0);
	elists_free(el);
	pfx_list_free(&m.local);
	pfx_list_free(&m.remote);
}

/* A host with an access "all" to or from the local networks: one element
 * in its hash set (its key alone), none in allow. */
static void test_model_all_access_hosts(void **state)
{
	struct nft_model m = { 0 };
	struct elist el[2][S_NSETS] = { 0 };

	m.to_local = list_of((const char *[]){ "10.9.0.7/32", "fd00:9::7/128", "10.9.0.5/32",
					       "10.9.0.7/32", NULL });
	m.from_local = list_of((const char *[]){ "10.9.0.8/32", NULL });
	assert_int_equal(model_elems(&m, el), 0);
	assert_int_equal(el[0][S_TOLOCAL].n, 2); /* the duplicate gone, sorted */
	assert_int_equal(el[0][S_TOLOCAL].v[0].key[3], 5);
	assert_int_equal(el[0][S_TOLOCAL].v[1].key[3], 7);
	assert_true(el[0][S_TOLOCAL].v[0].open_end);
	assert_int_equal(el[1][S_TOLOCAL].n, 1);
	assert_int_equal(el[1][S_TOLOCAL].v[0].key[15], 7);
	assert_int_equal(el[0][S_FROMLOCAL].n, 1);
	assert_int_equal(el[0][S_FROMLOCAL].v[0].key[3], 8);
	assert_int_equal(el[1][S_FROMLOCAL].n, 0);
	assert_int_equal(el[0][S_ALLOW].n + el[1][S_ALLOW].n, 0);
	assert_true(set_hashed(S_TOLOCAL) && set_hashed(S_FROMLOCAL) && set_hashed(S_HOST));
	assert_false(set_hashed(S_REMOTE) || set_hashed(S_ALLOW) || set_hashed(S_LOCAL));
	elists_free(el);
	pfx_list_free(&m.to_local);
	pfx_list_free(&m.from_local);
}

static struct elist elist_of(const char *const *v)
{
	struct elist l = { 0 };

	for (; *v; v++) {
		struct elem e = elem_of(*v);

		assert_int_equal(push(&l, &e), 0);
	}
	qsort(l.v, l.n, sizeof(*l.v), elem_cmp);
	return l;
}

static void test_minus(void **state)
{
	struct elist a = elist_of((const char *[]){ "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24",
						    "10.0.9.0/24", NULL });
	struct elist b = elist_of((const char *[]){ "10.0.0.0/24", "10.0.2.0/24", "10.0.9.0/24",
						    "10.0.2.0/23", NULL });
	struct elist d = { 0 }, e = { 0 }, none = { 0 };
	struct elem x;

	assert_int_equal(minus(&a, &b, &d), 0);
	assert_int_equal(d.n, 2);
	x = elem_of("10.0.1.0/24");
	assert_int_equal(elem_cmp(&d.v[0], &x), 0);
	x = elem_of("10.0.3.0/24");
	assert_int_equal(elem_cmp(&d.v[1], &x), 0);
	/* same start, other end: another element */
	free(d.v);
	d = (struct elist){ 0 };
	assert_int_equal(minus(&b, &a, &d), 0);
	assert_int_equal(d.n, 2);
	/* a - a and a - nothing */
	assert_int_equal(minus(&a, &a, &e), 0);
	assert_int_equal(e.n, 0);
	assert_int_equal(minus(&a, &none, &e), 0);
	assert_int_equal(e.n, a.n);
	free(a.v);
	free(b.v);
	free(d.v);
	free(e.v);
}

static void test_insert_remove_sorted(void **state)
{
	struct elist l = { 0 };
	const char *nets[] = { "10.0.5.0/24", "10.0.1.0/24", "10.0.9.0/24", "10.0.3.0/24",
			       "10.0.7.0/24" };
	struct elem e;

	for (size_t i = 0; i < 5; i++) {
		e = elem_of(nets[i]);
		assert_false(has_elem(&l, &e));
		assert_int_equal(elist_insert(&l, &e), 0);
		assert_true(has_elem(&l, &e));
	}
	for (size_t i = 1; i < l.n; i++)
		assert_true(elem_cmp(&l.v[i - 1], &l.v[i]) < 0);
	e = elem_of("10.0.5.0/24");
	elist_remove(&l, &e);
	assert_int_equal(l.n, 4);
	assert_false(has_elem(&l, &e));
	elist_remove(&l, &e); /* not there: nothing */
	assert_int_equal(l.n, 4);
	e = elem_of("10.0.9.0/24"); /* the last */
	elist_remove(&l, &e);
	e = elem_of("10.0.1.0/24"); /* the first */
	elist_remove(&l, &e);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].key[2], 3);
	assert_int_equal(l.v[1].key[2], 7);
	free(l.v);
}

/* A table "built" from m, as nft_apply leaves its copy; no socket. */
static struct nft *built_from(const struct nft_model *m)
{
	struct nft *n = calloc(1, sizeof(*n));

	assert_non_null(n);
	assert_int_equal(model_elems(m, n->cur), 0);
	n->built = true;
	return n;
}

static void test_update_nothing_to_send(void **state)
{
	struct nft_model m = { 0 }, add = { 0 }, del = { 0 };
	struct nft *n;

	log_set_sink(quiet, NULL);
	m.remote = list_of((const char *[]){ "192.168.1.128/25", "192.168.20.0/24", NULL });
	n = built_from(&m);
	/* the same model again: no element changes (and nothing is sent) */
	n->nat_sig = nat_signature(&m);
	n->chunk = NFT_CHUNK_MIN;
	assert_int_equal(nft_apply(n, &m), 0);
	assert_false(n->busy);
	assert_int_equal(n->cur[0][S_REMOTE].n, 2);
	free(n->nat_sig);
	/* a client change: adding what is there, removing what is not, and a
	 * network in both add and del, there or not (it stays as it is) */
	add.remote = list_of(
		(const char *[]){ "192.168.1.128/25", "172.16.0.0/12", "192.168.20.0/24", NULL });
	del.remote = list_of(
		(const char *[]){ "10.9.0.0/16", "172.16.0.0/12", "192.168.20.0/24", NULL });
	assert_int_equal(nft_update(n, &add, &del), 0);
	assert_int_equal(n->cur[0][S_REMOTE].n, 2);
	/* before the table is built: -EAGAIN, the copy untouched */
	n->built = false;
	assert_int_equal(nft_update(n, &add, &del), -EAGAIN);
	assert_int_equal(n->cur[0][S_REMOTE].n, 2);
	elists_free(n->cur);
	free(n);
	pfx_list_free(&m.remote);
	pfx_list_free(&add.remote);
	pfx_list_free(&del.remote);
}

/* client i's /32 and its allow element to 10.1.1.0/24 */
static void model_hosts(struct nft_model *m, size_t from, size_t to, size_t step)
{
	*m = (struct nft_model){ 0 };
	m->acc = calloc(to, sizeof(*m->acc));
	assert_non_null(m->acc);
	for (size_t i = from; i < to; i += step) {
		struct pfx h = { .family = AF_INET,
				 .len = 32,
				 .addr = { 172, 16, i >> 8, i & 255 } };

		assert_int_equal(pfx_list_add(&m->remote, &h, SIZE_MAX), 0);
		m->acc[m->nacc++] = (struct nft_acc){
			.src = h, .dst = pfx_of("10.1.1.0/24"), .proto_lo = 0, .proto_hi = 255
		};
	}
}

/*
 * A large change goes in chunks: none larger than the chunk, every removal
 * (permissions before membership) before any addition (membership before
 * permissions), and at the end the copy is exactly the model; a client
 * change in the middle (nft_update's bookkeeping) is kept by the rest.
 */
static void test_chunks(void **state)
{
	struct nft_model was, now;
	struct nft *n;
	struct elist want[2][S_NSETS] = { 0 };
	size_t chunks = 0;
	bool adding = false, done = false, del_remote = false, add_allow = false;

	model_hosts(&was, 0, 1000, 2); /* the even hosts */
	model_hosts(&now, 0, 1000, 3); /* every third */
	n = built_from(&was);
	assert_int_equal(model_elems(&now, n->want), 0);
	assert_int_equal(model_elems(&now, want), 0);
	n->busy = true;
	n->chunk = NFT_CHUNK_MIN;
	while (!done) {
		struct elist add[2][S_NSETS] = { 0 }, del[2][S_NSETS] = { 0 };
		size_t changes, nd = 0, na = 0;

		assert_int_equal(step_select(n, del, add, &changes, &done), 0);
		for (int s = 0; s < S_NSETS; s++) {
			nd += del[0][s].n;
			na += add[0][s].n;
		}
		assert_int_equal(nd + na, changes);
		assert_true(changes <= NFT_CHUNK_MIN);
		assert_true(!adding || nd == 0);
		adding |= na > 0;
		/* removals: allow before the hosts; additions: hosts before allow */
		assert_true(!del_remote || !del[0][S_ALLOW].n);
		assert_true(!add_allow || !add[0][S_HOST].n);
		del_remote |= del[0][S_HOST].n > 0;
		add_allow |= add[0][S_ALLOW].n > 0;
		for (int s = 0; s < S_NSETS; s++)
			assert_int_equal(cur_merge(&n->cur[0][s], &del[0][s], &add[0][s]), 0);
		if (chunks == 3) {
			/* a client change meanwhile, already made: host 1 (odd,
			 * not wanted) came, host 3 (wanted, in) went */
			struct nft_model a = { 0 }, d = { 0 };

			model_hosts(&a, 1, 2, 1);
			model_hosts(&d, 3, 4, 1);
			for (size_t i = 0; i < a.remote.n; i++) {
				struct elist x = { 0 };

				assert_int_equal(remote_elems(&a.remote, 0, NULL, &x), 0);
				assert_int_equal(elist_insert(&n->want[0][S_HOST], &x.v[0]), 0);
				assert_int_equal(elist_insert(&want[0][S_HOST], &x.v[0]), 0);
				assert_int_equal(elist_insert(&n->cur[0][S_HOST], &x.v[0]), 0);
				free(x.v);
			}
			for (size_t i = 0; i < d.remote.n; i++) {
				struct elist x = { 0 };

				assert_int_equal(remote_elems(&d.remote, 0, NULL, &x), 0);
				elist_remove(&n->want[0][S_HOST], &x.v[0]);
				elist_remove(&want[0][S_HOST], &x.v[0]);
				elist_remove(&n->cur[0][S_HOST], &x.v[0]);
				free(x.v);
			}
			pfx_list_free(&a.remote);
			pfx_list_free(&d.remote);
			free(a.acc);
			free(d.acc);
		}
		chunks++;
		elists_free(add);
		elists_free(del);
	}
	/* 500 even hosts, 334 every third, 167 in both: (333 + 167) * 2 changes */
	assert_true(chunks >= 1000 / NFT_CHUNK_MIN);
	assert_true(del_remote && add_allow);
	for (int s = 0; s < S_NSETS; s++) {
		assert_int_equal(n->cur[0][s].n, want[0][s].n);
		for (size_t i = 0; i < want[0][s].n; i++)
			assert_int_equal(elem_cmp(&n->cur[0][s].v[i], &want[0][s].v[i]), 0);
	}
	elists_free(want);
	elists_free(n->want);
	elists_free(n->cur);
	free(n);
	pfx_list_free(&was.remote);
	pfx_list_free(&now.remote);
	free(was.acc);
	free(now.acc);
}

/* The flowtable fast path's messages, as put_offload and put_flowtable
 * write them into a batch (not sent): read back with libnftnl. */
struct offload_read {
	int flowtables, chains, rules;
	char devices[64];
	char rule[2][128];
};

/* "meta:l4proto cmp:==6 ct cmp:==1 flow_offload:fastpath": the expressions of a rule. */
static void offload_rule_text(struct nftnl_rule *r, char *buf, size_t len)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;

	buf[0] = '\0';
	while ((e = nftnl_expr_iter_next(it))) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
		size_t at = strlen(buf);
		uint32_t dlen = 0;

		if (strcmp(name, "meta") == 0)
			snprintf(buf + at, len - at, "meta:%s ",
				 nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY) == NFT_META_L4PROTO
					 ? "l4proto"
					 : "?");
		else if (strcmp(name, "cmp") == 0)
			snprintf(buf + at, len - at, "cmp:%s%u ",
				 nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP) == NFT_CMP_EQ ? "=="
											: "?",
				 *(const uint8_t *)nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &dlen));
		else if (strcmp(name, "flow_offload") == 0)
			snprintf(buf + at, len - at, "flow_offload:%s",
				 nftnl_expr_get_str(e, NFTNL_EXPR_FLOW_TABLE_NAME));
		else
			snprintf(buf + at, len - at, "%s ", name);
	}
	nftnl_expr_iter_destroy(it);
}

static void offload_read(struct nft *n, struct offload_read *o)
{
	const char *buf = mnl_nlmsg_batch_head(n->b);
	size_t len = mnl_nlmsg_batch_size(n->b);
	const struct nlmsghdr *nlh;

	memset(o, 0, sizeof(*o));
	for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, (int)len);
	     nlh = mnl_nlmsg_next(nlh, (int *)&len)) {
		int type = NFNL_MSG_TYPE(nlh->nlmsg_type);

		if (type == NFT_MSG_NEWFLOWTABLE || type == NFT_MSG_DELFLOWTABLE) {
			struct nftnl_flowtable *f = nftnl_flowtable_alloc();
			const char *const *dv;

			assert_int_equal(nftnl_flowtable_nlmsg_parse(nlh, f), 0);
			assert_string_equal(nftnl_flowtable_get_str(f, NFTNL_FLOWTABLE_TABLE),
					    NFT_TABLE);
			assert_string_equal(nftnl_flowtable_get_str(f, NFTNL_FLOWTABLE_NAME),
					    "fastpath");
			assert_int_equal(nftnl_flowtable_get_u32(f, NFTNL_FLOWTABLE_HOOKNUM),
					 NF_NETDEV_INGRESS);
			assert_int_equal(nftnl_flowtable_get_s32(f, NFTNL_FLOWTABLE_PRIO), 0);
			snprintf(o->devices + strlen(o->devices),
				 sizeof(o->devices) - strlen(o->devices), "%c",
				 type == NFT_MSG_NEWFLOWTABLE ? '+' : '-');
			if (nftnl_flowtable_is_set(f, NFTNL_FLOWTABLE_DEVICES))
				for (dv = nftnl_flowtable_get_array(f, NFTNL_FLOWTABLE_DEVICES);
				     *dv; dv++)
					snprintf(o->devices + strlen(o->devices),
						 sizeof(o->devices) - strlen(o->devices), "%s,",
						 *dv);
			assert_true(!(nlh->nlmsg_flags & NLM_F_EXCL));
			o->flowtables++;
			nftnl_flowtable_free(f);
		} else if (type == NFT_MSG_NEWCHAIN) {
			struct nftnl_chain *c = nftnl_chain_alloc();

			assert_int_equal(nftnl_chain_nlmsg_parse(nlh, c), 0);
			assert_string_equal(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), "fastpath");
			assert_string_equal(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE), "filter");
			assert_int_equal(nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM),
					 NF_INET_FORWARD);
			/* after every other forward chain */
			assert_int_equal(nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO), INT32_MAX);
			o->chains++;
			nftnl_chain_free(c);
		} else if (type == NFT_MSG_NEWRULE) {
			struct nftnl_rule *r = nftnl_rule_alloc();

			assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
			assert_string_equal(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), "fastpath");
			assert_true(o->rules < 2);
			offload_rule_text(r, o->rule[o->rules], sizeof(o->rule[0]));
			o->rules++;
			nftnl_rule_free(r);
		}
	}
}

static void test_offload_messages(void **state)
{
	struct nft n = { .buf = malloc(BATCH_SIZE) };
	struct offload_read o;
	const char *add[] = { "tun0", "ens5", NULL }, *del[] = { "eth1", NULL };

	(void)state;
	assert_non_null(n.buf);
	batch_start(&n);
	assert_int_equal(put_offload(&n), 0);
	offload_read(&n, &o);
	mnl_nlmsg_batch_stop(n.b);
	/* created without devices (they come in place, nft_offload_devices) */
	assert_int_equal(o.flowtables, 1);
	assert_string_equal(o.devices, "+");
	assert_int_equal(o.chains, 1);
	assert_int_equal(o.rules, 2);
	assert_int_equal(n.sent_rules, 0); /* not counted among the table's */
	/* meta l4proto tcp ct direction reply flow add @fastpath; the same for udp */
	assert_string_equal(o.rule[0], "meta:l4proto cmp:==6 ct cmp:==1 flow_offload:fastpath");
	assert_string_equal(o.rule[1], "meta:l4proto cmp:==17 ct cmp:==1 flow_offload:fastpath");
	/* devices added and hooks removed in place */
	batch_start(&n);
	assert_int_equal(put_flowtable(&n, NFT_MSG_NEWFLOWTABLE, add), 0);
	assert_int_equal(put_flowtable(&n, NFT_MSG_DELFLOWTABLE, del), 0);
	offload_read(&n, &o);
	mnl_nlmsg_batch_stop(n.b);
	assert_string_equal(o.devices, "+tun0,ens5,-eth1,");
	free(n.buf);
}

/* The device lists' difference and the log's text of a change. */
static void test_offload_devices_diff(void **state)
{
	struct devs have = { 0 }, want = { 0 };
	const char *add[4], *del[4];
	char text[64];

	(void)state;
	assert_int_equal(devs_add(&have, "tun0"), 0);
	assert_int_equal(devs_add(&have, "eth1"), 0);
	assert_int_equal(devs_add(&want, "ens5"), 0);
	assert_int_equal(devs_add(&want, "tun0"), 0);
	assert_int_equal(devs_minus(&want, &have, add), 1);
	assert_string_equal(add[0], "ens5");
	assert_null(add[1]);
	assert_int_equal(devs_minus(&have, &want, del), 1);
	assert_string_equal(del[0], "eth1");
	devs_change_text(add, del, text, sizeof(text));
	assert_string_equal(text, "+ens5 -eth1");
	assert_false(devs_equal(&have, &want));
	devs_del(&have, "eth1");
	assert_int_equal(devs_add(&have, "ens5"), 0);
	assert_true(devs_equal(&have, &want)); /* in any order */
	devs_del(&have, "tun0");
	assert_int_equal(have.n, 1);
	assert_string_equal(have.v[0], "ens5");
	assert_int_equal(devs_minus(&have, &want, del), 0);
	/* the kernel's answers that mean "no flowtables here" */
	assert_true(off_unsupported(-ENOENT));
	assert_true(off_unsupported(-EOPNOTSUPP));
	assert_false(off_unsupported(-ENODEV));
	free(have.v);
	free(want.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_interval),
		cmocka_unit_test(test_model_sorted_unique_per_family),
		cmocka_unit_test(test_model_all_access_hosts),
		cmocka_unit_test(test_minus),
		cmocka_unit_test(test_insert_remove_sorted),
		cmocka_unit_test(test_update_nothing_to_send),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_offload_messages),
		cmocka_unit_test(test_offload_devices_diff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
