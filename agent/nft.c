// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/flowtable.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>

#include "log.h"
#include "nft.h"
#include "nft_rule.h"
#include "nl.h"

_Static_assert(NFT_PRIO_SRCNAT == NF_IP_PRI_NAT_SRC, "srcnat is priority 100");

#define BATCH_SIZE (16u << 20)
/* what stays resident of the batch buffer after a commit: a table built
 * whole (50,000 clients) fills megabytes of it, a client change a page */
#define BATCH_KEEP (64u << 10)
/* the port forwards' chain; not "dnat", a keyword of nft's grammar, so
 * that "nft list ruleset" reads back with "nft -f" */
#define CHAIN_PORTFWD "prerouting"
/* element changes: one transaction should take about this long; the
 * number of elements per transaction adapts between these bounds */
#define NFT_PASS_US   20000
#define NFT_CHUNK_MIN 64
#define NFT_CHUNK_MAX 65536
#define ELEMS_PER_MSG 256
#define KEY_MAX	      40

/* nftables' datatype ids, so that "nft list" shows the keys readably */
#define TYPE_IPADDR	   7
#define TYPE_IP6ADDR	   8
#define TYPE_INET_PROTOCOL 12
#define TYPE_INET_SERVICE  13
#define TYPE_BITS	   6

/* remote: the remote networks that are prefixes (an interval set); host:
 * those that are single addresses, in a hash set (a change costs the
 * kernel O(1), not O(set size): bench/nft_sets); to_local, from_local:
 * single addresses that may open connections to every local network, or
 * that every local network may open connections to, with any protocol (an
 * access "all" of a host: hash sets too, instead of one allow element per
 * local network); allow, ports, masqto, logallow, logports: concatenated
 * intervals. Every set before S_ALLOW holds plain addresses; the
 * concatenated ones come last. */
enum {
	S_LOCAL,
	S_REMOTE,
	S_HOST,
	S_TOLOCAL,
	S_FROMLOCAL,
	S_ALLOW,
	S_PORTS,
	S_MASQ,
	S_LOGALLOW,
	S_LOGPORTS,
	S_NSETS
};
static const char *const set_base[S_NSETS] = { "local",	     "remote",	"remote_host", "to_local",
					       "from_local", "allow",	"ports",       "masqto",
					       "logallow",   "logports" };
static const int set_fields[S_NSETS] = { 1, 1, 1, 1, 1, 3, 4, 2, 3, 4 };
/* the sets of exact keys (hash sets) */
static bool set_hashed(int set)
{
	return set == S_HOST || set == S_TOLOCAL || set == S_FROMLOCAL;
}
#define NCHAINS 4

/* One logical element: an interval, or a range of concatenated fields. */
struct elem {
	uint8_t key[KEY_MAX], end[KEY_MAX];
	bool open_end; /* single-field interval reaching the top of the space */
};

struct elist {
	struct elem *v;
	size_t n, cap;
};

struct nft {
	struct mnl_socket *nl;
	uint32_t seq, portid, batch_seq;
	char *buf;
	struct mnl_nlmsg_batch *b;
	unsigned nmsg;
	uint32_t set_id;
	bool built;
	/* what the last build sent, to compare with what the kernel holds */
	unsigned nrules, nsets, sent_rules, sent_sets;
	char differs[128]; /* why the table is to be rebuilt, "" */
	struct elist cur[2][S_NSETS];
	/* the NAT part last built, to know when to rebuild */
	char *nat_sig;
	/* foreign NAT rules found by the last scan */
	struct nft_foreign *foreign;
	size_t nforeign;
	/* set elements added and removed since nft_take_counts */
	size_t n_added, n_removed;
	/* element changes left for the following loop passes (nft_continue):
	 * the sets as they are to be; cur is what the kernel holds */
	bool busy;
	struct elist want[2][S_NSETS];
	struct elem resume[2][2][S_NSETS]; /* per phase: the sets are equal below it */
	bool resumed[2][2][S_NSETS];
	size_t chunk; /* elements per transaction, adapted to NFT_PASS_US */
	size_t nfwd;  /* DNAT rules last built, one per forward of the model */
	/* the flowtable fast path (nft.h): wanted by the model last built,
	 * its state, the kernel's answer when unsupported, the devices it
	 * hooks (as last set or read) and those it is to hook */
	bool off_want;
	enum nft_offload_state off_state;
	char off_why[160];
	struct devs {
		char (*v)[IF_NAMESIZE];
		size_t n;
	} off_have, off_wanted;
};

static int fam_idx(int family)
{
	return family == AF_INET6;
}

static size_t alen(int fi)
{
	return fi ? 16 : 4;
}

/* addresses, then a protocol and a port in 4-byte registers each */
static size_t key_len(int fi, int set)
{
	int f = set_fields[set];

	return (f == 1 ? 1 : 2) * alen(fi) + (f > 2 ? 4 * (size_t)(f - 2) : 0);
}

struct nft *nft_open(char *err, size_t errlen)
{
	struct nft *n = calloc(1, sizeof(*n));
	int big = (int)BATCH_SIZE, one = 1;
	struct timeval tv = { .tv_sec = 2 };

	if (!n)
		return NULL;
	/* mapped, so that its pages can be handed back after a large batch */
	n->buf = mmap(NULL, BATCH_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (n->buf == MAP_FAILED)
		n->buf = NULL;
	n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!n->buf || !n->nl || mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "nfnetlink socket: %s", strerror(errno));
		nft_close(n);
		return NULL;
	}
	setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	mnl_socket_setsockopt(n->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(n->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	n->portid = mnl_socket_get_portid(n->nl);
	n->seq = (uint32_t)time(NULL);
	n->chunk = 1024;
	return n;
}

void nft_close(struct nft *n)
{
	if (!n)
		return;
	for (int f = 0; f < 2; f++)
		for (int s = 0; s < S_NSETS; s++) {
			free(n->cur[f][s].v);
			free(n->want[f][s].v);
		}
	if (n->nl)
		mnl_socket_close(n->nl);
	free(n->nat_sig);
	free(n->foreign);
	free(n->off_have.v);
	free(n->off_wanted.v);
	if (n->buf)
		munmap(n->buf, BATCH_SIZE);
	free(n);
}

/* --- batches --- */

static void batch_start(struct nft *n)
{
	n->b = mnl_nlmsg_batch_start(n->buf, BATCH_SIZE - 65536);
	n->nmsg = 0;
	n->batch_seq = n->seq;
	nftnl_batch_begin(mnl_nlmsg_batch_current(n->b), n->seq++);
	mnl_nlmsg_batch_next(n->b);
}

static struct nlmsghdr *msg(struct nft *n, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(n->b), type,
						     NFPROTO_INET, flags | NLM_F_ACK, n->seq++);

	n->nmsg++;
	return nlh;
}

static int next(struct nft *n)
{
	return mnl_nlmsg_batch_next(n->b) ? 0 : -E2BIG;
}

struct ack_ctx {
	uint32_t seq_lo, seq_hi; /* this batch's messages */
	int err;
	const char *what;
	char text[256];
	unsigned left;
};

static int ack_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ack_ctx *a = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	/* an answer to an earlier, aborted batch is not ours to count */
	if (nlh->nlmsg_seq < a->seq_lo || nlh->nlmsg_seq > a->seq_hi)
		return MNL_CB_OK;
	a->left--;
	if (e->error && !a->err) {
		const char *m = nl_ext_ack_msg(nlh);

		a->err = e->error;
		snprintf(a->text, sizeof(a->text), "%s", m ? m : "");
	}
	return MNL_CB_OK;
}

/* Ends the batch (sent, or given up): the kernel has its copy, and the
 * pages it filled past BATCH_KEEP go back to the kernel. */
static void batch_release(struct nft *n)
{
	size_t used = mnl_nlmsg_batch_size(n->b);

	mnl_nlmsg_batch_stop(n->b);
	if (used > BATCH_KEEP)
		madvise(n->buf + BATCH_KEEP, used - BATCH_KEEP, MADV_DONTNEED);
}

/* Sends the batch and reads one answer per message: 0 or the first error
 * (-errno; the kernel's extended ack text in a->text). */
static int batch_send(struct nft *n, struct ack_ctx *a)
{
	static mnl_cb_t ctl[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = ack_cb };
	char rbuf[65536];
	ssize_t got;

	a->left = n->nmsg;
	a->seq_lo = n->batch_seq;
	a->seq_hi = n->seq;
	nftnl_batch_end(mnl_nlmsg_batch_current(n->b), n->seq++);
	mnl_nlmsg_batch_next(n->b);
	if (mnl_socket_sendto(n->nl, mnl_nlmsg_batch_head(n->b), mnl_nlmsg_batch_size(n->b)) < 0) {
		int e = errno;

		log_warn("nftables %s: send", a->what);
		batch_release(n);
		return -e;
	}
	batch_release(n);
	while (a->left) {
		got = mnl_socket_recvfrom(n->nl, rbuf, sizeof(rbuf));
		if (got < 0) {
			if (a->err)
				break;
			log_warn("nftables %s: no answer", a->what);
			return -errno;
		}
		mnl_cb_run2(rbuf, (size_t)got, 0, n->portid, NULL, a, ctl, NLMSG_MIN_TYPE);
	}
	return a->err;
}

static int batch_commit(struct nft *n, const char *what)
{
	struct ack_ctx a = { .what = what };
	int r = batch_send(n, &a);

	if (r && a.err)
		log_warnx("nftables %s failed, nothing applied: %s%s%s; check that nf_tables is "
			  "available (nft list tables) and see troubleshooting.md, \"Traffic is "
			  "dropped although the policy allows it\"",
			  what, strerror(-a.err), a.text[0] ? ": " : "", a.text);
	return r;
}

/* --- the table, chains and sets --- */

static int put_table(struct nft *n, uint16_t type)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nlh = msg(n, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return next(n);
}

static int put_chain(struct nft *n, const char *name, const char *type, uint32_t hook, int prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nlh = msg(n, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return next(n);
}

static struct nftnl_set *set_obj(const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	return s;
}

static void set_name(char *buf, size_t len, int fi, int set)
{
	snprintf(buf, len, "%s%d", set_base[set], fi ? 6 : 4);
}

/* A set of kind `set` (its fields: set_fields; a 1-field one when set < 0),
 * with flags (NFT_SET_INTERVAL: prefixes and ranges; 0: exact keys, a hash
 * set). */
static int put_set_flags(struct nft *n, const char *name, int fi, int set, uint32_t flags)
{
	struct nftnl_set *s = set_obj(name);
	uint32_t t = fi ? TYPE_IP6ADDR : TYPE_IPADDR;
	int fields = set < 0 ? 1 : set_fields[set];
	struct nlmsghdr *nlh;

	nftnl_set_set_u32(s, NFTNL_SET_FLAGS,
			  flags | (fields > 1 && (flags & NFT_SET_INTERVAL) ? NFT_SET_CONCAT : 0));
	nftnl_set_set_u32(s, NFTNL_SET_ID, ++n->set_id);
	if (fields == 1) {
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, t);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, (uint32_t)alen(fi));
	} else {
		uint8_t f[4] = { (uint8_t)alen(fi), (uint8_t)alen(fi), 1, 2 };

		t = (t << TYPE_BITS) | t;
		if (fields >= 3)
			t = (t << TYPE_BITS) | TYPE_INET_PROTOCOL;
		if (fields == 4)
			t = (t << TYPE_BITS) | TYPE_INET_SERVICE;
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, t);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, (uint32_t)key_len(fi, set));
		nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, f, (uint32_t)fields);
	}
	nlh = msg(n, NFT_MSG_NEWSET, NLM_F_CREATE);
	n->sent_sets++;
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return next(n);
}

static int put_set(struct nft *n, const char *name, int fi, int set)
{
	return put_set_flags(n, name, fi, set, NFT_SET_INTERVAL);
}

/* Adds or removes elements, ELEMS_PER_MSG per message (an element with
 * open_end and without concat is its key alone). */
static int put_elems(struct nft *n, uint16_t type, const char *name, size_t klen, bool concat,
		     const struct elem *v, size_t count)
{
	for (size_t i = 0; i < count;) {
		struct nftnl_set *s = set_obj(name);
		struct nlmsghdr *nlh;
		int r;

		for (size_t k = 0; k < ELEMS_PER_MSG && i < count; k++, i++) {
			struct nftnl_set_elem *e = nftnl_set_elem_alloc();

			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, v[i].key, (uint32_t)klen);
			if (concat) {
				nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, v[i].end,
						   (uint32_t)klen);
				nftnl_set_elem_add(s, e);
				continue;
			}
			nftnl_set_elem_add(s, e);
			if (v[i].open_end)
				continue;
			e = nftnl_set_elem_alloc();
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, v[i].end, (uint32_t)klen);
			nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
			nftnl_set_elem_add(s, e);
		}
		nlh = msg(n, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		if ((r = next(n)))
			return r;
	}
	return 0;
}

/* --- rules --- */

static void e_meta(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

static void e_cmp(struct nftnl_rule *r, uint32_t sreg, uint32_t op, const void *d, size_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, d, (uint32_t)len);
	nftnl_rule_add_expr(r, e);
}

static void e_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len,
		      uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	nftnl_rule_add_expr(r, e);
}

static void e_lookup(struct nftnl_rule *r, const char *set, uint32_t sreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	nftnl_rule_add_expr(r, e);
}

static void e_verdict(struct nftnl_rule *r, int v)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)v);
	nftnl_rule_add_expr(r, e);
}

/* reg = data */
static void e_imm(struct nftnl_rule *r, uint32_t reg, const void *data, size_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, reg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, (uint32_t)len);
	nftnl_rule_add_expr(r, e);
}

static void e_nfproto(struct nftnl_rule *r, int fi)
{
	uint8_t p = fi ? NFPROTO_IPV6 : NFPROTO_IPV4;

	e_meta(r, NFT_META_NFPROTO, NFT_REG32_00);
	e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, &p, 1);
}

/* ip saddr (dir 0) or daddr (dir 1) into reg */
static void e_addr(struct nftnl_rule *r, int fi, int dir, uint32_t reg)
{
	uint32_t off = fi ? (dir ? 24 : 8) : (dir ? 16 : 12);

	e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, (uint32_t)alen(fi), reg);
}

static struct nftnl_rule *rule_new(const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	return r;
}

static int put_rule(struct nft *n, struct nftnl_rule *r)
{
	struct nlmsghdr *nlh = msg(n, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);

	n->sent_rules++;
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return next(n);
}

/* fam: saddr @SRC daddr @DST */
static void e_pair(struct nftnl_rule *r, int fi, int src, int dst)
{
	char a[16], b[16];

	set_name(a, sizeof(a), fi, src);
	set_name(b, sizeof(b), fi, dst);
	e_nfproto(r, fi);
	e_addr(r, fi, 0, NFT_REG32_00);
	e_lookup(r, a, NFT_REG32_00);
	e_addr(r, fi, 1, NFT_REG32_00);
	e_lookup(r, b, NFT_REG32_00);
}

/* fam: SRC_SET DST_SET -> identity SNAT (binds the flow untranslated) */
static int rule_exempt(struct nft *n, int fi, int src, int dst)
{
	struct nftnl_rule *r = rule_new("exempt");
	struct nftnl_expr *e;

	e_pair(r, fi, src, dst);
	e_addr(r, fi, 0, NFT_REG32_00);
	e = nftnl_expr_alloc("nat");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_SNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, fi ? NFPROTO_IPV6 : NFPROTO_IPV4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG32_00);
	nftnl_rule_add_expr(r, e);
	return put_rule(n, r);
}

/* fam: saddr @masqI oifname IF masquerade | snat to ADDR */
static int rule_nat(struct nft *n, int fi, size_t i, const struct cfg_nat *c)
{
	struct nftnl_rule *r = rule_new("nat");
	struct nftnl_expr *e;
	char name[32], ifn[IFNAMSIZ] = { 0 };

	snprintf(name, sizeof(name), "masq%zu_%d", i, fi ? 6 : 4);
	memcpy(ifn, c->out_interface, strnlen(c->out_interface, sizeof(ifn) - 1));
	e_nfproto(r, fi);
	e_addr(r, fi, 0, NFT_REG32_00);
	e_lookup(r, name, NFT_REG32_00);
	e_meta(r, NFT_META_OIFNAME, NFT_REG32_00);
	e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, ifn, sizeof(ifn));
	if (c->has_snat_to) {
		e_imm(r, NFT_REG32_00, c->snat_to.addr, alen(fi));
		e = nftnl_expr_alloc("nat");
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_SNAT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, fi ? NFPROTO_IPV6 : NFPROTO_IPV4);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG32_00);
	} else {
		e = nftnl_expr_alloc("masq");
	}
	nftnl_rule_add_expr(r, e);
	return put_rule(n, r);
}

/* ct KEY (original direction for the tuple keys) into reg */
static void e_ct(struct nftnl_rule *r, uint32_t key, bool dir, uint32_t reg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	if (dir)
		nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, IP_CT_DIR_ORIGINAL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, reg);
	nftnl_rule_add_expr(r, e);
}

/* reg & mask != 0 */
static void e_bits_set(struct nftnl_rule *r, uint32_t reg, uint32_t mask)
{
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
	uint32_t zero = 0;

	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, 4);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, 4);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, 4);
	nftnl_rule_add_expr(r, e);
	e_cmp(r, reg, NFT_CMP_NEQ, &zero, 4);
}

static int rule_ct_established(struct nft *n)
{
	struct nftnl_rule *r = rule_new("forward");

	e_ct(r, NFT_CT_STATE, false, NFT_REG32_00);
	e_bits_set(r, NFT_REG32_00,
		   NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED));
	e_verdict(r, NF_ACCEPT);
	return put_rule(n, r);
}

static void e_log(struct nftnl_rule *r, const struct cfg_connlog *lg, const char *prefix);

/* fam: saddr . daddr [. l4proto [. th dport]] @SET: the fields set_fields[set] names */
static void e_concat_lookup(struct nftnl_rule *r, int fi, int set)
{
	uint32_t words = (uint32_t)alen(fi) / 4;
	char name[16];

	set_name(name, sizeof(name), fi, set);
	e_nfproto(r, fi);
	e_addr(r, fi, 0, NFT_REG32_00);
	e_addr(r, fi, 1, NFT_REG32_00 + words);
	if (set_fields[set] >= 3)
		e_meta(r, NFT_META_L4PROTO, NFT_REG32_00 + 2 * words);
	if (set_fields[set] == 4)
		e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_00 + 2 * words + 1);
	e_lookup(r, name, NFT_REG32_00);
}

/* fam: saddr . daddr . l4proto [. th dport] @allow|@ports accept (with lg: log;
 * @logallow|@logports, the rules with "log", are only logged) */
static int rule_access(struct nft *n, int fi, int set, const struct cfg_connlog *lg)
{
	struct nftnl_rule *r = rule_new("forward");

	e_concat_lookup(r, fi, set);
	if (lg)
		e_log(r, lg, NFT_LOG_NEW);
	else
		e_verdict(r, NF_ACCEPT);
	return put_rule(n, r);
}

/* fam: saddr @SRC daddr @DST, then a log (with lg, under prefix) or the verdict */
static int rule_pair(struct nft *n, int fi, int src, int dst, const struct cfg_connlog *lg,
		     const char *prefix, int verdict)
{
	struct nftnl_rule *r = rule_new("forward");

	e_pair(r, fi, src, dst);
	if (lg)
		e_log(r, lg, prefix);
	else
		e_verdict(r, verdict);
	return put_rule(n, r);
}

/* fam: saddr @SRC daddr @DST drop: new connections nobody allowed (with lg: log) */
static int rule_drop(struct nft *n, int fi, int src, int dst, const struct cfg_connlog *lg)
{
	return rule_pair(n, fi, src, dst, lg, NFT_LOG_DROP, NF_DROP);
}

/* fam: saddr . daddr @masqtoF masquerade: to_local rules with "masquerade" */
static int rule_masq_to(struct nft *n, int fi)
{
	struct nftnl_rule *r = rule_new("exempt");

	e_concat_lookup(r, fi, S_MASQ);
	nftnl_rule_add_expr(r, nftnl_expr_alloc("masq"));
	return put_rule(n, r);
}

/* limit rate RATE/second burst BURST packets, then log (NFLOG group or the kernel log) */
static void e_log(struct nftnl_rule *r, const struct cfg_connlog *lg, const char *prefix)
{
	struct nftnl_expr *e = nftnl_expr_alloc("limit");

	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, lg->rate_per_s);
	nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, lg->burst);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, 0);
	nftnl_rule_add_expr(r, e);
	e = nftnl_expr_alloc("log");
	nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix);
	if (lg->has_group)
		nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, lg->group);
	else
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOG_LEVEL, 6 /* info */);
	nftnl_rule_add_expr(r, e);
}

enum fwd_rule { FWD_DNAT, FWD_ACCEPT, FWD_LOG, FWD_MASQ };

/*
 * One port forward's rule:
 *   DNAT   (chain prerouting) fam [iifname IF] l4proto P th dport PORT
 *                          fib daddr type local counter dnat to TO:TO_PORT
 *   ACCEPT (chain forward) fam l4proto P daddr TO th dport TO_PORT
 *                          ct status dnat ct original proto-dst PORT accept
 *   LOG    the same match, limit, log prefix NFT_LOG_NEW
 *   MASQ   (chain exempt)  the same match, masquerade
 */
static int rule_forward(struct nft *n, const char *chain, const struct cfg_forward *f,
			enum fwd_rule kind, const struct cfg_connlog *lg)
{
	struct nftnl_rule *r = rule_new(chain);
	int fi = fam_idx(f->to.family);
	uint16_t port = htons(f->port), to_port = htons(f->to_port);
	struct nftnl_expr *e;

	e_nfproto(r, fi);
	if (kind == FWD_DNAT) {
		uint32_t local = RTN_LOCAL;
		char ifn[IFNAMSIZ] = { 0 };

		if (f->in_interface[0]) {
			memcpy(ifn, f->in_interface, strnlen(f->in_interface, sizeof(ifn) - 1));
			e_meta(r, NFT_META_IIFNAME, NFT_REG32_00);
			e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, ifn, sizeof(ifn));
		}
		e_meta(r, NFT_META_L4PROTO, NFT_REG32_00);
		e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, &f->proto, 1);
		e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_00);
		e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, &port, 2);
		e = nftnl_expr_alloc("fib");
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG32_00);
		nftnl_rule_add_expr(r, e);
		e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, &local, 4);
		nftnl_rule_add_expr(r, nftnl_expr_alloc("counter"));
		e_imm(r, NFT_REG32_00, f->to.addr, alen(fi));
		e_imm(r, NFT_REG32_04, &to_port, 2);
		e = nftnl_expr_alloc("nat");
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, fi ? NFPROTO_IPV6 : NFPROTO_IPV4);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG32_00);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG32_04);
		nftnl_rule_add_expr(r, e);
		return put_rule(n, r);
	}
	/* the protocol and the header's port before the conntrack port:
	 * "nft list" then prints "tcp dport" first, which gives the original
	 * port its type, so that the listing reads back with "nft -f" */
	e_meta(r, NFT_META_L4PROTO, NFT_REG32_00);
	e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, &f->proto, 1);
	e_addr(r, fi, 1, NFT_REG32_00);
	e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, f->to.addr, alen(fi));
	e_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_00);
	e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, &to_port, 2);
	e_ct(r, NFT_CT_STATUS, false, NFT_REG32_00);
	e_bits_set(r, NFT_REG32_00, IPS_DST_NAT);
	e_ct(r, NFT_CT_PROTO_DST, true, NFT_REG32_00);
	e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, &port, 2);
	if (kind == FWD_MASQ)
		nftnl_rule_add_expr(r, nftnl_expr_alloc("masq"));
	else if (kind == FWD_LOG)
		e_log(r, lg, NFT_LOG_NEW);
	else
		e_verdict(r, NF_ACCEPT);
	return put_rule(n, r);
}

/* --- elements of the model --- */

static void first_last(const struct pfx *p, uint8_t *first, uint8_t *last)
{
	struct pfx f, l;

	pfx_first(p, &f);
	pfx_last(p, &l);
	memcpy(first, f.addr, pfx_addrlen(p));
	memcpy(last, l.addr, pfx_addrlen(p));
}

/* last + 1; false when last is the top of the address space */
static bool incr(uint8_t *a, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (++a[i])
			return true;
	return false;
}

static int elem_cmp(const void *x, const void *y)
{
	const struct elem *a = x, *b = y;
	int r = memcmp(a->key, b->key, KEY_MAX);

	return r ? r : memcmp(a->end, b->end, KEY_MAX);
}

static int push(struct elist *l, const struct elem *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct elem *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *e;
	return 0;
}

/* The networks of family fi as intervals in prefixes; with hosts, the
 * single addresses go there instead (their key alone: a hash set). */
static int remote_elems(const struct pfx_list *pl, int fi, struct elist *prefixes,
			struct elist *hosts)
{
	for (size_t i = 0; i < pl->n; i++) {
		const struct pfx *p = &pl->v[i];
		struct elem e = { 0 };
		bool host = hosts && p->len == pfx_addrlen(p) * 8;

		if (fam_idx(p->family) != fi)
			continue;
		first_last(p, e.key, e.end);
		e.open_end = host || !incr(e.end, alen(fi));
		if (push(host ? hosts : prefixes, &e))
			return -ENOMEM;
	}
	return 0;
}

static int prefix_elems(const struct pfx_list *pl, int fi, struct elist *out)
{
	return remote_elems(pl, fi, out, NULL);
}

/* Single addresses of family fi, their key alone (a hash set). */
static int host_elems(const struct pfx_list *pl, int fi, struct elist *out)
{
	for (size_t i = 0; i < pl->n; i++) {
		struct elem e = { .open_end = true };

		if (fam_idx(pl->v[i].family) != fi)
			continue;
		memcpy(e.key, pl->v[i].addr, alen(fi));
		if (push(out, &e))
			return -ENOMEM;
	}
	return 0;
}

static int acc_elems(const struct nft_model *m, int fi, int set, struct elist *out)
{
	size_t a = alen(fi);

	for (size_t i = 0; i < m->nacc; i++) {
		const struct nft_acc *x = &m->acc[i];
		struct elem e = { 0 };

		if (fam_idx(x->src.family) != fi || x->dst.family != x->src.family ||
		    (set == S_MASQ ? !x->masq
				   : x->ports != (set_fields[set] == 4) ||
					     ((set == S_LOGALLOW || set == S_LOGPORTS) && !x->log)))
			continue;
		first_last(&x->src, e.key, e.end);
		first_last(&x->dst, e.key + a, e.end + a);
		if (set == S_MASQ) {
			if (push(out, &e))
				return -ENOMEM;
			continue;
		}
		e.key[2 * a] = x->proto_lo;
		e.end[2 * a] = x->proto_hi;
		if (x->ports) {
			uint16_t lo = htons(x->port_lo), hi = htons(x->port_hi);

			memcpy(e.key + 2 * a + 4, &lo, 2);
			memcpy(e.end + 2 * a + 4, &hi, 2);
		}
		if (push(out, &e))
			return -ENOMEM;
	}
	return 0;
}

static int model_elems(const struct nft_model *m, struct elist out[2][S_NSETS])
{
	int r = 0;

	for (int fi = 0; fi < 2 && !r; fi++) {
		r = prefix_elems(&m->local, fi, &out[fi][S_LOCAL]);
		r = r ? r : remote_elems(&m->remote, fi, &out[fi][S_REMOTE], &out[fi][S_HOST]);
		r = r ? r : host_elems(&m->to_local, fi, &out[fi][S_TOLOCAL]);
		r = r ? r : host_elems(&m->from_local, fi, &out[fi][S_FROMLOCAL]);
		r = r ? r : acc_elems(m, fi, S_ALLOW, &out[fi][S_ALLOW]);
		r = r ? r : acc_elems(m, fi, S_PORTS, &out[fi][S_PORTS]);
		r = r ? r : acc_elems(m, fi, S_MASQ, &out[fi][S_MASQ]);
		r = r ? r : acc_elems(m, fi, S_LOGALLOW, &out[fi][S_LOGALLOW]);
		r = r ? r : acc_elems(m, fi, S_LOGPORTS, &out[fi][S_LOGPORTS]);
		for (int s = 0; s < S_NSETS; s++) {
			struct elist *l = &out[fi][s];
			size_t w = 0;

			if (l->n)
				qsort(l->v, l->n, sizeof(*l->v), elem_cmp);
			for (size_t i = 0; i < l->n; i++) /* drop duplicates */
				if (!w || elem_cmp(&l->v[w - 1], &l->v[i]))
					l->v[w++] = l->v[i];
			l->n = w;
		}
	}
	return r;
}

static void elists_free(struct elist l[2][S_NSETS])
{
	for (int f = 0; f < 2; f++)
		for (int s = 0; s < S_NSETS; s++) {
			free(l[f][s].v);
			l[f][s].v = NULL;
			l[f][s].n = l[f][s].cap = 0;
		}
}

/* --- the flowtable fast path (nft.h) --- */

static bool devs_has(const struct devs *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i], name) == 0)
			return true;
	return false;
}

static int devs_set(struct devs *d, const char (*v)[IF_NAMESIZE], size_t n)
{
	char(*w)[IF_NAMESIZE] = n ? malloc(n * sizeof(*w)) : NULL;

	if (n && !w)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		snprintf(w[i], IF_NAMESIZE, "%s", v[i]);
	free(d->v);
	d->v = w;
	d->n = n;
	return 0;
}

static int devs_add(struct devs *d, const char *name)
{
	char(*w)[IF_NAMESIZE] = realloc(d->v, (d->n + 1) * sizeof(*w));

	if (!w)
		return -ENOMEM;
	d->v = w;
	snprintf(d->v[d->n++], IF_NAMESIZE, "%s", name);
	return 0;
}

static void devs_del(struct devs *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i], name) == 0) {
			memmove(d->v[i], d->v[i + 1], (d->n - i - 1) * sizeof(*d->v));
			d->n--;
			return;
		}
}

/* The names of a not in b, NULL-terminated, into out (room for a->n + 1). */
static size_t devs_minus(const struct devs *a, const struct devs *b, const char **out)
{
	size_t k = 0;

	for (size_t i = 0; i < a->n; i++)
		if (!devs_has(b, a->v[i]))
			out[k++] = a->v[i];
	out[k] = NULL;
	return k;
}

/* "+tun0 +eth0 -eth1": the change the log names. */
static void devs_change_text(const char *const *add, const char *const *del, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (int pass = 0; pass < 2; pass++)
		for (const char *const *d = pass ? del : add; *d && at < len; d++)
			at += (size_t)snprintf(buf + at, len - at, "%s%c%s", at ? " " : "",
					       pass ? '-' : '+', *d);
}

/* "strerror: the kernel's extended ack text", cut to len. */
static void ack_text(char *buf, size_t len, int err, const struct ack_ctx *a)
{
	if (snprintf(buf, len, "%s%s%s", strerror(-err), a->text[0] ? ": " : "", a->text) >=
	    (int)len)
		buf[len - 1] = '\0';
}

/* The flowtable: created without devices (NFT_MSG_NEWFLOWTABLE with
 * NLM_F_EXCL unset: on an existing one, devs are added), or devs' hooks
 * removed (NFT_MSG_DELFLOWTABLE with a hook: kernel 5.8). */
static int put_flowtable(struct nft *n, uint16_t type, const char **devs)
{
	struct nftnl_flowtable *f = nftnl_flowtable_alloc();
	struct nlmsghdr *nlh;

	if (!f)
		return -ENOMEM;
	nftnl_flowtable_set_str(f, NFTNL_FLOWTABLE_TABLE, NFT_TABLE);
	nftnl_flowtable_set_str(f, NFTNL_FLOWTABLE_NAME, NFT_OFFLOAD);
	nftnl_flowtable_set_u32(f, NFTNL_FLOWTABLE_FAMILY, NFPROTO_INET);
	nftnl_flowtable_set_u32(f, NFTNL_FLOWTABLE_HOOKNUM, NF_NETDEV_INGRESS);
	nftnl_flowtable_set_s32(f, NFTNL_FLOWTABLE_PRIO, NF_IP_PRI_FILTER);
	if (devs && devs[0])
		nftnl_flowtable_set_array(f, NFTNL_FLOWTABLE_DEVICES, devs);
	nlh = msg(n, type, type == NFT_MSG_NEWFLOWTABLE ? NLM_F_CREATE : 0);
	nftnl_flowtable_nlmsg_build_payload(nlh, f);
	nftnl_flowtable_free(f);
	return next(n);
}

/* meta l4proto PROTO ct direction reply flow add @fastpath: on an answer
 * (the kernel would offload on the second packet of a flow, before any
 * answer: a chain that drops the answers would then be bypassed by them);
 * so both directions have passed every forward chain first. */
static int rule_offload(struct nft *n, uint8_t proto)
{
	struct nftnl_rule *r = rule_new(NFT_OFFLOAD);
	struct nftnl_expr *e = nftnl_expr_alloc("flow_offload");
	uint8_t reply = IP_CT_DIR_REPLY;

	e_meta(r, NFT_META_L4PROTO, NFT_REG32_00);
	e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, &proto, 1);
	e_ct(r, NFT_CT_DIRECTION, false, NFT_REG32_00);
	e_cmp(r, NFT_REG32_00, NFT_CMP_EQ, &reply, 1);
	nftnl_expr_set_str(e, NFTNL_EXPR_FLOW_TABLE_NAME, NFT_OFFLOAD);
	nftnl_rule_add_expr(r, e);
	return put_rule(n, r);
}

#define OFFLOAD_RULES 2

/* The flowtable (no devices yet), its chain and rules, into the batch. */
static int put_offload(struct nft *n)
{
	unsigned keep = n->sent_rules; /* not the table's rules */
	int r = put_flowtable(n, NFT_MSG_NEWFLOWTABLE, NULL);

	r = r ? r : put_chain(n, NFT_OFFLOAD, "filter", NF_INET_FORWARD, NFT_PRIO_OFFLOAD);
	r = r ? r : rule_offload(n, IPPROTO_TCP);
	r = r ? r : rule_offload(n, IPPROTO_UDP);
	n->sent_rules = keep;
	return r;
}

/* The kernel has no flowtables (CONFIG_NF_FLOW_TABLE off): its answer to
 * the flowtable's type or to the flow_offload expression. */
static bool off_unsupported(int err)
{
	return err == -ENOENT || err == -EOPNOTSUPP || err == -EAFNOSUPPORT;
}

/* Adds and removes the devices that differ between off_have and
 * off_wanted: all at once, else each alone (one device the kernel refuses
 * does not keep the others out). */
static int off_sync(struct nft *n)
{
	const char **add = calloc(n->off_wanted.n + 1, sizeof(*add));
	const char **del = calloc(n->off_have.n + 1, sizeof(*del));
	const char *none[1] = { NULL };
	struct devs had = { 0 }; /* del's names: off_have changes below */
	char text[256], why[160] = "";
	size_t nadd, ndel;
	int r = 0, first = 0;

	if (!add || !del ||
	    devs_set(&had, (const char(*)[IF_NAMESIZE])n->off_have.v, n->off_have.n) < 0) {
		r = -ENOMEM;
		goto out;
	}
	nadd = devs_minus(&n->off_wanted, &had, add);
	ndel = devs_minus(&had, &n->off_wanted, del);
	if (!nadd && !ndel)
		goto out;
	devs_change_text(add, del, text, sizeof(text));
	for (size_t i = 0; i <= nadd + ndel; i++) {
		/* i == 0: everything; then change i - 1 alone, after a failure */
		const char *one[2] = { NULL, NULL };
		struct ack_ctx a = { .what = "flowtable " NFT_OFFLOAD };
		bool whole = i == 0;

		r = 0; /* a removal alone puts no add before it */
		if (!whole)
			one[0] = i - 1 < nadd ? add[i - 1] : del[i - 1 - nadd];
		batch_start(n);
		if (whole ? nadd : i - 1 < nadd)
			r = put_flowtable(n, NFT_MSG_NEWFLOWTABLE, whole ? add : one);
		if (!r && (whole ? ndel : i - 1 >= nadd))
			r = put_flowtable(n, NFT_MSG_DELFLOWTABLE, whole ? del : one);
		if (r) {
			batch_release(n);
			goto out;
		}
		r = batch_send(n, &a);
		if (r == 0 && whole) {
			r = devs_set(&n->off_have, (const char(*)[IF_NAMESIZE])n->off_wanted.v,
				     n->off_wanted.n);
			if (r == 0)
				log_info("offload: flowtable devices %s", text);
			goto out;
		}
		if (whole) {
			first = r;
			ack_text(why, sizeof(why), r, &a);
			continue;
		}
		if (r == 0) {
			char t1[IF_NAMESIZE + 2];

			if (i - 1 < nadd)
				r = devs_add(&n->off_have, one[0]);
			else
				devs_del(&n->off_have, one[0]);
			if (r)
				goto out;

			devs_change_text(i - 1 < nadd ? one : none, i - 1 < nadd ? none : one, t1,
					 sizeof(t1));
			log_info("offload: flowtable devices %s", t1);
		} else {
			log_warnx("offload: flowtable device %s%s: %s%s%s; retried at the next "
				  "check",
				  i - 1 < nadd ? "adding " : "removing ", one[0], strerror(-r),
				  a.text[0] ? ": " : "", a.text);
		}
	}
	log_debug("offload: changing the flowtable's devices (%s) at once failed: %s", text, why);
	r = first;
out:
	free(had.v);
	free(add);
	free(del);
	return r;
}

/* After the table: the flowtable and its chain, in a transaction of their
 * own, so that a kernel that refuses them keeps the table. */
static void off_build(struct nft *n)
{
	struct ack_ctx a = { .what = "flowtable " NFT_OFFLOAD };
	enum nft_offload_state was = n->off_state;
	char prev[sizeof(n->off_why)];
	int r;

	n->off_have.n = 0;
	batch_start(n);
	if ((r = put_offload(n))) {
		batch_release(n);
		n->off_state = NFT_OFFLOAD_OFF;
		return;
	}
	r = batch_send(n, &a);
	if (r == 0) {
		n->off_state = NFT_OFFLOAD_ON;
		n->off_why[0] = '\0';
		log_info("offload: flowtable %s and chain %s in table " NFT_TABLE_FULLNAME,
			 NFT_OFFLOAD, NFT_OFFLOAD);
		off_sync(n);
		return;
	}
	memcpy(prev, n->off_why, sizeof(prev));
	ack_text(n->off_why, sizeof(n->off_why), r, &a);
	if (off_unsupported(r)) {
		n->off_state = NFT_OFFLOAD_UNSUPPORTED;
		if (was != NFT_OFFLOAD_UNSUPPORTED)
			log_warnx("offload: the kernel refuses a flowtable (%s); forwarding "
				  "continues without a fast path (a kernel with flowtables, "
				  "CONFIG_NF_FLOW_TABLE, has one: Debian 12's does)",
				  n->off_why);
		return;
	}
	n->off_state = NFT_OFFLOAD_OFF;
	/* retried at each apply: warned once per answer, not at every retry */
	if (was == NFT_OFFLOAD_OFF && strcmp(prev, n->off_why) == 0)
		log_debug("offload: creating flowtable %s failed again (%s)", NFT_OFFLOAD,
			  n->off_why);
	else
		log_warnx("offload: creating flowtable %s failed (%s); forwarding continues "
			  "without a fast path; retried at the next check",
			  NFT_OFFLOAD, n->off_why);
}

int nft_offload_devices(struct nft *n, const char (*dev)[IF_NAMESIZE], size_t ndev)
{
	int r = devs_set(&n->off_wanted, dev, ndev);

	if (r || !n->built || !n->off_want || n->off_state == NFT_OFFLOAD_UNSUPPORTED)
		return r;
	if (n->off_state == NFT_OFFLOAD_OFF) {
		off_build(n); /* it failed before: again (syncs the devices) */
		return 0;
	}
	return off_sync(n);
}

int nft_offload_add_device(struct nft *n, const char *dev)
{
	struct devs w = { 0 };
	int r;

	if (devs_has(&n->off_wanted, dev))
		return 0;
	if ((r = devs_set(&w, (const char(*)[IF_NAMESIZE])n->off_wanted.v, n->off_wanted.n)) ||
	    (r = devs_add(&w, dev)) == 0)
		r = r ? r : nft_offload_devices(n, (const char(*)[IF_NAMESIZE])w.v, w.n);
	free(w.v);
	return r;
}

bool nft_offload_wants(const struct nft *n, const char *dev)
{
	return devs_has(&n->off_wanted, dev);
}

enum nft_offload_state nft_offload_state(const struct nft *n)
{
	return n->off_want ? n->off_state : NFT_OFFLOAD_OFF;
}

json_t *nft_offload_json(const struct nft *n)
{
	static const char *const names[] = { "off", "on", "unsupported" };
	enum nft_offload_state st = nft_offload_state(n);
	json_t *o = json_object(), *d = json_array();

	for (size_t i = 0; st == NFT_OFFLOAD_ON && i < n->off_have.n; i++)
		json_array_append_new(d, json_string(n->off_have.v[i]));
	json_object_set_new(o, "state", json_string(names[st]));
	json_object_set_new(o, "devices", d);
	if (st == NFT_OFFLOAD_UNSUPPORTED)
		json_object_set_new(o, "kernel", json_string(n->off_why));
	return o;
}

/* A text form of the NAT part: when it changes, the table is rebuilt. */
static char *nat_signature(const struct nft_model *m)
{
	char *s = NULL, p[PFX_STRLEN];
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	fprintf(f, "exempt=%d;", m->exempt);
	for (size_t i = 0; i < m->nnat; i++) {
		fprintf(f, "%s/%d:", m->nat[i].out_interface, m->nat[i].has_snat_to);
		if (m->nat[i].has_snat_to)
			fprintf(f, "%s:", pfx_format(&m->nat[i].snat_to, p, sizeof(p)));
		for (size_t k = 0; k < m->nat[i].sources.n; k++)
			fprintf(f, "%s,", pfx_format(&m->nat[i].sources.v[k], p, sizeof(p)));
		fputc(';', f);
	}
	for (size_t i = 0; i < m->nfwd; i++) {
		const struct cfg_forward *w = &m->fwd[i];

		fprintf(f, "fwd=%u/%u>%s:%u/%s/%d%d;", w->proto, w->port,
			pfx_format_addr(&w->to, p, sizeof(p)), w->to_port, w->in_interface,
			w->masquerade, w->log);
	}
	fprintf(f, "rulelog=%d;offload=%d;", m->rule_log, m->offload);
	if (m->connlog && (m->connlog->enabled || m->rule_log))
		fprintf(f, "log=%d%d/%d:%u/%u/%u;", m->connlog->new_conns, m->connlog->drops,
			m->connlog->has_group, m->connlog->group, m->connlog->rate_per_s,
			m->connlog->burst);
	fclose(f);
	return s;
}

static int build_all(struct nft *n, const struct nft_model *m, struct elist el[2][S_NSETS])
{
	const struct cfg_connlog *lg = m->connlog && m->connlog->enabled ? m->connlog : NULL;
	/* some accepted connections are logged */
	bool acc_log = (lg && lg->new_conns) || (m->rule_log && m->connlog);
	int r = 0;

	batch_start(n);
	n->sent_rules = n->sent_sets = 0;
	/* add-then-delete removes a stale table of ours; others are not touched */
	r = r ? r : put_table(n, NFT_MSG_NEWTABLE);
	r = r ? r : put_table(n, NFT_MSG_DELTABLE);
	r = r ? r : put_table(n, NFT_MSG_NEWTABLE);
	r = r ? r : put_chain(n, "exempt", "nat", NF_INET_POST_ROUTING, NFT_PRIO_EXEMPT);
	r = r ? r : put_chain(n, "nat", "nat", NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC);
	r = r ? r : put_chain(n, "forward", "filter", NF_INET_FORWARD, NF_IP_PRI_FILTER);
	r = r ? r : put_chain(n, CHAIN_PORTFWD, "nat", NF_INET_PRE_ROUTING, NFT_PRIO_DSTNAT);
	for (int fi = 0; fi < 2 && !r; fi++) {
		char name[32];

		for (int s = 0; s < S_NSETS && !r; s++) {
			set_name(name, sizeof(name), fi, s);
			r = put_set_flags(n, name, fi, s, set_hashed(s) ? 0 : NFT_SET_INTERVAL);
			r = r ? r
			      : put_elems(n, NFT_MSG_NEWSETELEM, name, key_len(fi, s), s >= S_ALLOW,
					  el[fi][s].v, el[fi][s].n);
		}
		for (size_t i = 0; i < m->nnat && !r; i++) {
			struct elist src = { 0 };

			snprintf(name, sizeof(name), "masq%zu_%d", i, fi ? 6 : 4);
			r = put_set(n, name, fi, -1);
			r = r ? r : prefix_elems(&m->nat[i].sources, fi, &src);
			r = r ? r
			      : put_elems(n, NFT_MSG_NEWSETELEM, name, alen(fi), false, src.v,
					  src.n);
			free(src.v);
		}
	}
	/* masquerades that take precedence over the exemptions, then the exemptions */
	for (size_t i = 0; i < m->nfwd && !r; i++)
		if (m->fwd[i].masquerade)
			r = rule_forward(n, "exempt", &m->fwd[i], FWD_MASQ, NULL);
	for (int fi = 0; fi < 2 && !r; fi++)
		r = rule_masq_to(n, fi);
	for (int fi = 0; fi < 2 && !r; fi++) {
		if (m->exempt) {
			r = r ? r : rule_exempt(n, fi, S_LOCAL, S_REMOTE);
			r = r ? r : rule_exempt(n, fi, S_REMOTE, S_LOCAL);
			r = r ? r : rule_exempt(n, fi, S_LOCAL, S_HOST);
			r = r ? r : rule_exempt(n, fi, S_HOST, S_LOCAL);
		}
		for (size_t i = 0; i < m->nnat && !r; i++) {
			const struct pfx_list *s = &m->nat[i].sources;
			bool any = false;

			for (size_t k = 0; k < s->n; k++)
				any |= fam_idx(s->v[k].family) == fi;
			if (any &&
			    (!m->nat[i].has_snat_to || fam_idx(m->nat[i].snat_to.family) == fi))
				r = rule_nat(n, fi, i, &m->nat[i]);
		}
	}
	r = r ? r : rule_ct_established(n);
	/* Without a log of accepted connections the accepts commute (each ends
	 * the chain, none has another effect): the hash-set ones first, so that
	 * a new connection of a single address with an access "all" (the
	 * common case) costs two lookups, not the concatenated sets' as well
	 * (bench/forward.py). With such a log, the order that logs each
	 * connection under the rule that accepts it. */
	for (int fi = 0; fi < 2 && !r && !acc_log; fi++) {
		r = rule_pair(n, fi, S_TOLOCAL, S_LOCAL, NULL, NULL, NF_ACCEPT);
		r = r ? r : rule_pair(n, fi, S_LOCAL, S_FROMLOCAL, NULL, NULL, NF_ACCEPT);
	}
	for (size_t i = 0; i < m->nfwd && !r; i++) {
		if (lg && lg->new_conns && m->fwd[i].log)
			r = rule_forward(n, "forward", &m->fwd[i], FWD_LOG, lg);
		r = r ? r : rule_forward(n, "forward", &m->fwd[i], FWD_ACCEPT, NULL);
	}
	for (int fi = 0; fi < 2 && !r; fi++) {
		/* every accepted connection logged, or those of rules with "log" */
		if (lg && lg->new_conns)
			r = rule_access(n, fi, S_PORTS, lg);
		else if (m->rule_log && m->connlog)
			r = rule_access(n, fi, S_LOGPORTS, m->connlog);
		r = r ? r : rule_access(n, fi, S_PORTS, NULL);
		if (lg && lg->new_conns)
			r = r ? r : rule_access(n, fi, S_ALLOW, lg);
		else if (m->rule_log && m->connlog)
			r = r ? r : rule_access(n, fi, S_LOGALLOW, m->connlog);
		r = r ? r : rule_access(n, fi, S_ALLOW, NULL);
		/* an access "all" of single addresses: the same accept (here only
		 * with a log of accepted connections; else they came first) */
		if (lg && lg->new_conns)
			r = r ? r : rule_pair(n, fi, S_TOLOCAL, S_LOCAL, lg, NFT_LOG_NEW, -1);
		if (acc_log)
			r = r ? r : rule_pair(n, fi, S_TOLOCAL, S_LOCAL, NULL, NULL, NF_ACCEPT);
		if (lg && lg->new_conns)
			r = r ? r : rule_pair(n, fi, S_LOCAL, S_FROMLOCAL, lg, NFT_LOG_NEW, -1);
		if (acc_log)
			r = r ? r : rule_pair(n, fi, S_LOCAL, S_FROMLOCAL, NULL, NULL, NF_ACCEPT);
		if (lg && lg->drops)
			r = r ? r : rule_drop(n, fi, S_REMOTE, S_LOCAL, lg);
		r = r ? r : rule_drop(n, fi, S_REMOTE, S_LOCAL, NULL);
		if (lg && lg->drops)
			r = r ? r : rule_drop(n, fi, S_LOCAL, S_REMOTE, lg);
		r = r ? r : rule_drop(n, fi, S_LOCAL, S_REMOTE, NULL);
		if (lg && lg->drops)
			r = r ? r : rule_drop(n, fi, S_HOST, S_LOCAL, lg);
		r = r ? r : rule_drop(n, fi, S_HOST, S_LOCAL, NULL);
		if (lg && lg->drops)
			r = r ? r : rule_drop(n, fi, S_LOCAL, S_HOST, lg);
		r = r ? r : rule_drop(n, fi, S_LOCAL, S_HOST, NULL);
	}
	for (size_t i = 0; i < m->nfwd && !r; i++)
		r = rule_forward(n, CHAIN_PORTFWD, &m->fwd[i], FWD_DNAT, NULL);
	if (r) {
		batch_release(n);
		log_warnx("nftables: the table does not fit one batch: aggregate local_networks "
			  "and nat rules into fewer, larger networks");
		return r;
	}
	r = batch_commit(n, "table " NFT_TABLE);
	if (r == 0) {
		n->nrules = n->sent_rules;
		n->nsets = n->sent_sets;
		n->nfwd = m->nfwd;
		n->differs[0] = '\0';
		n->built = true; /* off_sync's condition; nft_apply sets it too */
		n->off_want = m->offload;
		n->off_have.n = 0;
		if (m->offload)
			off_build(n);
		else
			n->off_state = NFT_OFFLOAD_OFF;
	}
	return r;
}

/* Elements in a but not in b (both sorted). */
static int minus(const struct elist *a, const struct elist *b, struct elist *out)
{
	size_t j = 0;

	for (size_t i = 0; i < a->n; i++) {
		while (j < b->n && elem_cmp(&b->v[j], &a->v[i]) < 0)
			j++;
		if (j < b->n && elem_cmp(&b->v[j], &a->v[i]) == 0)
			continue;
		if (push(out, &a->v[i]))
			return -ENOMEM;
	}
	return 0;
}

/* One batch: the elements of del removed, then those of add added, per set. */
static int send_delta(struct nft *n, struct elist del[2][S_NSETS], struct elist add[2][S_NSETS])
{
	int r = 0;

	batch_start(n);
	for (int fi = 0; fi < 2 && !r; fi++)
		for (int s = 0; s < S_NSETS && !r; s++) {
			char name[16];

			set_name(name, sizeof(name), fi, s);
			r = put_elems(n, NFT_MSG_DELSETELEM, name, key_len(fi, s), s >= S_ALLOW,
				      del[fi][s].v, del[fi][s].n);
			r = r ? r
			      : put_elems(n, NFT_MSG_NEWSETELEM, name, key_len(fi, s), s >= S_ALLOW,
					  add[fi][s].v, add[fi][s].n);
		}
	if (r) {
		batch_release(n);
		return r;
	}
	return batch_commit(n, "set elements");
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The order of the passes: permissions (and their logging) are withdrawn
 * before membership, membership is granted before permissions; so a
 * network between two passes is never allowed more than before and after.
 * A masquerade toward a peering goes with membership: in before the
 * remote networks, out after them. Each set once. */
static const int del_order[S_NSETS] = { S_LOGPORTS, S_LOGALLOW, S_PORTS,  S_ALLOW, S_FROMLOCAL,
					S_TOLOCAL,  S_HOST,	S_REMOTE, S_MASQ,  S_LOCAL };
static const int add_order[S_NSETS] = { S_LOCAL,     S_MASQ,  S_REMOTE, S_HOST,	    S_TOLOCAL,
					S_FROMLOCAL, S_ALLOW, S_PORTS,	S_LOGALLOW, S_LOGPORTS };
_Static_assert(S_NSETS == 10, "del_order and add_order name every set");

/* The first element of l not below e. */
static size_t lower(const struct elist *l, const struct elem *e)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (elem_cmp(&l->v[mid], e) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Up to *budget elements of a not in b (both sorted), from where the last
 * pass of this phase stopped (elements below it are in both); pushed to
 * out. Returns whether the set is done for this phase.
 */
static int next_minus(struct nft *n, int phase, int fi, int set, const struct elist *a,
		      const struct elist *b, size_t *budget, struct elist *out, bool *done)
{
	size_t i = n->resumed[phase][fi][set] ? lower(a, &n->resume[phase][fi][set]) : 0;
	size_t j = n->resumed[phase][fi][set] ? lower(b, &n->resume[phase][fi][set]) : 0;

	*done = false;
	for (; i < a->n; i++) {
		while (j < b->n && elem_cmp(&b->v[j], &a->v[i]) < 0)
			j++;
		if (j < b->n && elem_cmp(&b->v[j], &a->v[i]) == 0)
			continue;
		if (!*budget) {
			n->resume[phase][fi][set] = a->v[i];
			n->resumed[phase][fi][set] = true;
			return 0;
		}
		if (push(out, &a->v[i]))
			return -ENOMEM;
		--*budget;
	}
	*done = true;
	return 0;
}

/* cur without del, with add (all sorted), in one pass. */
static int cur_merge(struct elist *cur, const struct elist *del, const struct elist *add)
{
	struct elist out = { 0 };
	size_t i = 0, d = 0, k = 0;

	if (!del->n && !add->n)
		return 0;
	out.cap = cur->n + add->n + 1;
	if (!(out.v = malloc(out.cap * sizeof(*out.v))))
		return -ENOMEM;
	while (i < cur->n || k < add->n) {
		if (i < cur->n && (k == add->n || elem_cmp(&cur->v[i], &add->v[k]) <= 0)) {
			while (d < del->n && elem_cmp(&del->v[d], &cur->v[i]) < 0)
				d++;
			if (!(d < del->n && elem_cmp(&del->v[d], &cur->v[i]) == 0))
				out.v[out.n++] = cur->v[i];
			if (k < add->n && elem_cmp(&cur->v[i], &add->v[k]) == 0)
				k++; /* there already */
			i++;
		} else {
			out.v[out.n++] = add->v[k++];
		}
	}
	free(cur->v);
	*cur = out;
	return 0;
}

static void step_end(struct nft *n)
{
	n->busy = false;
	elists_free(n->want);
	memset(n->resumed, 0, sizeof(n->resumed));
}

/*
 * One transaction of at most n->chunk element changes towards want:
 * removals first, then additions, in the orders above. The chunk adapts so
 * that a transaction takes about NFT_PASS_US. Returns 0 or -errno (then
 * the table is rebuilt whole at the next apply).
 */
/* The next transaction's changes, n->chunk at most: removals first, then
 * additions, in the orders above; done when nothing is left after them. */
static int step_select(struct nft *n, struct elist del[2][S_NSETS], struct elist add[2][S_NSETS],
		       size_t *changes, bool *done)
{
	size_t budget = n->chunk;
	bool d;
	int r = 0;

	*done = true;
	for (int k = 0; k < S_NSETS && !r && *done; k++)
		for (int fi = 0; fi < 2 && !r && *done; fi++) {
			int set = del_order[k];

			r = next_minus(n, 0, fi, set, &n->cur[fi][set], &n->want[fi][set], &budget,
				       &del[fi][set], &d);
			*done = d;
		}
	for (int k = 0; k < S_NSETS && !r && *done; k++)
		for (int fi = 0; fi < 2 && !r && *done; fi++) {
			int set = add_order[k];

			r = next_minus(n, 1, fi, set, &n->want[fi][set], &n->cur[fi][set], &budget,
				       &add[fi][set], &d);
			*done = d;
		}
	*changes = n->chunk - budget;
	return r;
}

static int step(struct nft *n)
{
	struct elist add[2][S_NSETS] = { 0 }, del[2][S_NSETS] = { 0 };
	size_t changes;
	bool done;
	uint64_t t0;
	int r = step_select(n, del, add, &changes, &done);

	if (r || !changes)
		goto out;
	t0 = now_us();
	r = send_delta(n, del, add);
	if (r == 0) {
		uint64_t took = now_us() - t0 + 1;

		double f = (double)NFT_PASS_US / (double)took;

		/* full chunks adapt it towards NFT_PASS_US a transaction, by
		 * at most a factor of 2 a pass */
		if (!done)
			n->chunk = (size_t)((double)n->chunk * (f < 0.5 ? 0.5 : f > 2 ? 2 : f));
		if (n->chunk < NFT_CHUNK_MIN)
			n->chunk = NFT_CHUNK_MIN;
		if (n->chunk > NFT_CHUNK_MAX)
			n->chunk = NFT_CHUNK_MAX;
	}
	for (int fi = 0; fi < 2 && !r; fi++)
		for (int s = 0; s < S_NSETS && !r; s++) {
			r = cur_merge(&n->cur[fi][s], &del[fi][s], &add[fi][s]);
			n->n_added += add[fi][s].n;
			n->n_removed += del[fi][s].n;
		}
	if (r == 0)
		log_debug("nftables: %zu set elements changed%s", changes,
			  done ? "" : "; more in the next loop pass");
out:
	if (r || done)
		step_end(n);
	if (r)
		n->built = false; /* the table may have changed under us: rebuild next */
	elists_free(add);
	elists_free(del);
	return r;
}

int nft_apply(struct nft *n, const struct nft_model *m)
{
	struct elist el[2][S_NSETS] = { 0 };
	char *sig = nat_signature(m);
	int r;

	if (!sig || (r = model_elems(m, el)) < 0) {
		free(sig);
		elists_free(el);
		return -ENOMEM;
	}
	if (n->built && strcmp(sig, n->nat_sig) == 0) {
		/* the elements that differ, n->chunk per loop pass */
		free(sig);
		step_end(n);
		memcpy(n->want, el, sizeof(el));
		n->busy = true;
		return step(n);
	}
	/* the whole table, atomically: never a moment with part of the policy */
	step_end(n);
	r = build_all(n, m, el);
	if (r) {
		free(sig);
		elists_free(el);
		return r;
	}
	log_info("nftables: table inet %s built (%zu local, %zu remote networks, %zu NAT rules)",
		 NFT_TABLE, el[0][S_LOCAL].n + el[1][S_LOCAL].n,
		 el[0][S_REMOTE].n + el[1][S_REMOTE].n + el[0][S_HOST].n + el[1][S_HOST].n,
		 m->nnat);
	n->built = true;
	free(n->nat_sig);
	n->nat_sig = sig;
	elists_free(n->cur);
	memcpy(n->cur, el, sizeof(el));
	return 0;
}

bool nft_busy(const struct nft *n)
{
	return n->busy;
}

int nft_continue(struct nft *n)
{
	return n->busy ? step(n) : 0;
}

size_t nft_pending(const struct nft *n)
{
	size_t left = 0;

	for (int fi = 0; n->busy && fi < 2; fi++)
		for (int s = 0; s < S_NSETS; s++) {
			struct elist x = { 0 }, y = { 0 };

			if (minus(&n->want[fi][s], &n->cur[fi][s], &x) == 0 &&
			    minus(&n->cur[fi][s], &n->want[fi][s], &y) == 0)
				left += x.n + y.n;
			free(x.v);
			free(y.v);
		}
	return left;
}

bool nft_built(const struct nft *n)
{
	return n->built;
}

static bool has_elem(const struct elist *l, const struct elem *e)
{
	return l->n && bsearch(e, l->v, l->n, sizeof(*e), elem_cmp);
}

/* Inserts into or removes from a sorted list, keeping it sorted. */
static int elist_insert(struct elist *l, const struct elem *e)
{
	size_t lo = lower(l, e);
	int r = push(l, e); /* room at the end */

	if (r)
		return r;
	memmove(l->v + lo + 1, l->v + lo, (l->n - 1 - lo) * sizeof(*e));
	l->v[lo] = *e;
	return 0;
}

static void elist_remove(struct elist *l, const struct elem *e)
{
	struct elem *x = l->n ? bsearch(e, l->v, l->n, sizeof(*e), elem_cmp) : NULL;

	if (!x)
		return;
	memmove(x, x + 1, (size_t)(l->v + l->n - (x + 1)) * sizeof(*x));
	l->n--;
}

int nft_update(struct nft *n, const struct nft_model *add, const struct nft_model *del)
{
	struct elist ae[2][S_NSETS] = { 0 }, de[2][S_NSETS] = { 0 };
	struct elist ins[2][S_NSETS] = { 0 }, rem[2][S_NSETS] = { 0 };
	size_t changes = 0;
	int r;

	if (!n->built)
		return -EAGAIN;
	r = model_elems(add, ae);
	r = r ? r : model_elems(del, de);
	for (int fi = 0; fi < 2 && !r; fi++)
		for (int s = 0; s < S_NSETS && !r; s++) {
			for (size_t i = 0; i < ae[fi][s].n && !r; i++)
				if (!has_elem(&de[fi][s], &ae[fi][s].v[i]) &&
				    !has_elem(&n->cur[fi][s], &ae[fi][s].v[i]))
					r = push(&ins[fi][s], &ae[fi][s].v[i]);
			for (size_t i = 0; i < de[fi][s].n && !r; i++)
				if (!has_elem(&ae[fi][s], &de[fi][s].v[i]) &&
				    has_elem(&n->cur[fi][s], &de[fi][s].v[i]))
					r = push(&rem[fi][s], &de[fi][s].v[i]);
			changes += ins[fi][s].n + rem[fi][s].n;
		}
	if (r || !changes)
		goto out;
	r = send_delta(n, rem, ins);
	for (int fi = 0; fi < 2 && !r; fi++)
		for (int s = 0; s < S_NSETS && !r; s++) {
			for (size_t i = 0; i < rem[fi][s].n; i++)
				elist_remove(&n->cur[fi][s], &rem[fi][s].v[i]);
			for (size_t i = 0; i < ins[fi][s].n && !r; i++)
				r = elist_insert(&n->cur[fi][s], &ins[fi][s].v[i]);
		}
	for (int fi = 0; fi < 2 && !r; fi++)
		for (int s = 0; s < S_NSETS; s++) {
			n->n_added += ins[fi][s].n;
			n->n_removed += rem[fi][s].n;
		}
	if (r == 0)
		log_debug("nftables: %zu set elements changed", changes);
	else
		n->built = false; /* the copy is unsure now: the next apply rebuilds */
out:
	/* a load in progress goes on towards what this change made */
	for (int fi = 0; fi < 2 && !r && n->busy; fi++)
		for (int s = 0; s < S_NSETS && !r; s++) {
			for (size_t i = 0; i < de[fi][s].n; i++)
				if (!has_elem(&ae[fi][s], &de[fi][s].v[i]))
					elist_remove(&n->want[fi][s], &de[fi][s].v[i]);
			for (size_t i = 0; i < ae[fi][s].n && !r; i++)
				if (!has_elem(&n->want[fi][s], &ae[fi][s].v[i]))
					r = elist_insert(&n->want[fi][s], &ae[fi][s].v[i]);
		}
	if (r)
		step_end(n);
	elists_free(ae);
	elists_free(de);
	elists_free(ins);
	elists_free(rem);
	return r;
}

int nft_flush(struct nft *n)
{
	int r;

	batch_start(n);
	r = put_table(n, NFT_MSG_NEWTABLE);
	r = r ? r : put_table(n, NFT_MSG_DELTABLE);
	if (r) {
		batch_release(n);
		return r;
	}
	r = batch_commit(n, "flush");
	if (r == 0) {
		step_end(n);
		n->built = false;
		elists_free(n->cur);
		n->off_state = NFT_OFFLOAD_OFF;
		n->off_have.n = 0;
		log_info("nftables: table inet %s removed", NFT_TABLE);
	}
	return r;
}

json_t *nft_elements_json(const struct nft *n)
{
	json_t *o = json_object();

	for (int s = 0; s < S_NSETS; s++)
		for (int fi = 0; fi < 2; fi++) {
			char name[16];

			set_name(name, sizeof(name), fi, s);
			json_object_set_new(o, name, json_integer((json_int_t)n->cur[fi][s].n));
		}
	return o;
}

void nft_take_counts(struct nft *n, size_t *added, size_t *removed)
{
	*added = n->n_added;
	*removed = n->n_removed;
	n->n_added = n->n_removed = 0;
}

/* --- foreign NAT rules --- */

struct fchain {
	char table[64], chain[64];
	uint32_t family;
	int32_t prio;
};

struct fscan {
	struct fchain *v;
	size_t n;
	unsigned reported;
	bool quiet;
	struct nft_foreign *found;
	size_t nfound;
};

static const char *family_name(uint32_t f)
{
	switch (f) {
	case NFPROTO_IPV4:
		return "ip";
	case NFPROTO_IPV6:
		return "ip6";
	case NFPROTO_INET:
		return "inet";
	default:
		return "?";
	}
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct fscan *f = data;
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct fchain *v;

	if (!c || nftnl_chain_nlmsg_parse(nlh, c) < 0)
		goto out;
	if (!nftnl_chain_is_set(c, NFTNL_CHAIN_TYPE) ||
	    strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE), "nat") ||
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM) != NF_INET_POST_ROUTING ||
	    (nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY) == NFPROTO_INET &&
	     strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), NFT_TABLE) == 0))
		goto out;
	v = realloc(f->v, (f->n + 1) * sizeof(*v));
	if (!v)
		goto out;
	f->v = v;
	v = &f->v[f->n++];
	snprintf(v->table, sizeof(v->table), "%s", nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE));
	snprintf(v->chain, sizeof(v->chain), "%s", nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
	v->family = nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY);
	v->prio = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
out:
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

/* A NAT action: nft's masq/snat, or iptables-nft's MASQUERADE/SNAT target. */
static const char *nat_action(struct nftnl_rule *r)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	const char *what = NULL;
	struct nftnl_expr *e;

	while (it && !what && (e = nftnl_expr_iter_next(it))) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

		if (strcmp(name, "masq") == 0)
			what = "masquerade";
		else if (strcmp(name, "nat") == 0)
			what = "snat";
		else if (strcmp(name, "target") == 0) {
			const char *tg = nftnl_expr_get_str(e, NFTNL_EXPR_TG_NAME);

			if (tg && strcmp(tg, "MASQUERADE") == 0)
				what = "MASQUERADE (iptables)";
			else if (tg && strcmp(tg, "SNAT") == 0)
				what = "SNAT (iptables)";
		}
	}
	nftnl_expr_iter_destroy(it);
	return what;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct fscan *f = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	const char *what;

	if (!r || nftnl_rule_nlmsg_parse(nlh, r) < 0)
		goto out;
	for (size_t i = 0; i < f->n; i++) {
		const struct fchain *c = &f->v[i];

		if (c->family != nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY) ||
		    strcmp(c->table, nftnl_rule_get_str(r, NFTNL_RULE_TABLE)) ||
		    strcmp(c->chain, nftnl_rule_get_str(r, NFTNL_RULE_CHAIN)) ||
		    !(what = nat_action(r)))
			continue;
		f->reported++;
		struct nft_foreign *w = realloc(f->found, (f->nfound + 1) * sizeof(*w));
		char text[sizeof(w->rule)];
		uint64_t handle = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);

		nft_rule_text(r, c->family, text, sizeof(text));
		if (w) {
			f->found = w;
			memset(&w[f->nfound], 0, sizeof(*w));
			snprintf(w[f->nfound].action, sizeof(w->action), "%s", what);
			snprintf(w[f->nfound].family, sizeof(w->family), "%s",
				 family_name(c->family));
			snprintf(w[f->nfound].table, sizeof(w->table), "%s", c->table);
			snprintf(w[f->nfound].chain, sizeof(w->chain), "%s", c->chain);
			snprintf(w[f->nfound].rule, sizeof(w->rule), "%s", text);
			w[f->nfound].handle = handle;
			w[f->nfound].prio = c->prio;
			w[f->nfound++].before = c->prio < NFT_PRIO_EXEMPT;
		}
		if (f->quiet)
			break;
		if (c->prio < NFT_PRIO_EXEMPT)
			log_warnx(
				"foreign NAT rule in table %s %s, chain %s (priority %d), handle "
				"%llu: '%s' runs before vpcroute's exemptions (priority %d) and "
				"can "
				"rewrite tunnel traffic: give that chain a priority of %d or more, "
				"or exempt the tunnel networks in the rule (see "
				"vpcroute-agent(8), LOGGING)",
				family_name(c->family), c->table, c->chain, c->prio,
				(unsigned long long)handle, text, NFT_PRIO_EXEMPT, NFT_PRIO_EXEMPT);
		else
			log_info(
				"foreign NAT rule in table %s %s, chain %s (priority %d), handle "
				"%llu: '%s' runs after vpcroute's exemptions: tunnel traffic keeps "
				"its addresses",
				family_name(c->family), c->table, c->chain, c->prio,
				(unsigned long long)handle, text);
		break;
	}
out:
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

/* Sends a dump request built in buf and runs cb on each answer. */
static int dump_req(struct nft *n, char *buf, size_t len, mnl_cb_t cb, void *data)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t got;
	int r;

	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		got = mnl_socket_recvfrom(n->nl, buf, len);
		if (got < 0)
			return -errno;
		r = mnl_cb_run(buf, (size_t)got, seq, n->portid, cb, data);
	} while (r > 0);
	return r < 0 ? -errno : 0;
}

static int dump(struct nft *n, uint16_t type, mnl_cb_t cb, struct fscan *f)
{
	char buf[65536];

	nftnl_nlmsg_build_hdr(buf, type, NFPROTO_UNSPEC, NLM_F_DUMP, n->seq++);
	return dump_req(n, buf, sizeof(buf), cb, f);
}

static int scan_foreign(struct nft *n, bool quiet)
{
	struct fscan f = { .quiet = quiet };
	int r = dump(n, NFT_MSG_GETCHAIN, chain_cb, &f);

	if (r == 0 && f.n)
		r = dump(n, NFT_MSG_GETRULE, rule_cb, &f);
	free(f.v);
	if (r < 0) {
		free(f.found);
		return r;
	}
	free(n->foreign);
	n->foreign = f.found;
	n->nforeign = f.nfound;
	return (int)f.reported;
}

int nft_report_foreign_nat(struct nft *n)
{
	return scan_foreign(n, false);
}

int nft_scan_foreign_nat(struct nft *n, const struct nft_foreign **out, size_t *count)
{
	int r = scan_foreign(n, true);

	*out = n->foreign;
	*count = r < 0 ? 0 : n->nforeign;
	return r;
}

/* --- our table as the kernel holds it --- */

struct kread {
	bool table;
	unsigned chains, rules, sets;
	size_t elems[2][S_NSETS];
	bool strange; /* an element we did not put there */
	unsigned flowtables;
	struct devs ftdev; /* the devices our flowtable hooks */
	const struct nft *n;
	int fi, set; /* the set being read */
};

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kread *k = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (t && nftnl_table_nlmsg_parse(nlh, t) == 0 &&
	    nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == NFPROTO_INET &&
	    strcmp(nftnl_table_get_str(t, NFTNL_TABLE_NAME), NFT_TABLE) == 0)
		k->table = true;
	nftnl_table_free(t);
	return MNL_CB_OK;
}

static int our_chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kread *k = data;
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (c && nftnl_chain_nlmsg_parse(nlh, c) == 0 &&
	    strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), NFT_TABLE) == 0)
		k->chains++;
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

static int our_set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kread *k = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (s && nftnl_set_nlmsg_parse(nlh, s) == 0 &&
	    strcmp(nftnl_set_get_str(s, NFTNL_SET_TABLE), NFT_TABLE) == 0)
		k->sets++;
	nftnl_set_free(s);
	return MNL_CB_OK;
}

static int our_rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kread *k = data;
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (r && nftnl_rule_nlmsg_parse(nlh, r) == 0 &&
	    strcmp(nftnl_rule_get_str(r, NFTNL_RULE_TABLE), NFT_TABLE) == 0)
		k->rules++;
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

static int our_flowtable_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kread *k = data;
	struct nftnl_flowtable *f = nftnl_flowtable_alloc();
	const char *const *dv;

	if (!f || nftnl_flowtable_nlmsg_parse(nlh, f) < 0 ||
	    strcmp(nftnl_flowtable_get_str(f, NFTNL_FLOWTABLE_TABLE), NFT_TABLE))
		goto out;
	k->flowtables++;
	if (strcmp(nftnl_flowtable_get_str(f, NFTNL_FLOWTABLE_NAME), NFT_OFFLOAD) == 0 &&
	    nftnl_flowtable_is_set(f, NFTNL_FLOWTABLE_DEVICES) &&
	    (dv = nftnl_flowtable_get_array(f, NFTNL_FLOWTABLE_DEVICES)))
		for (; *dv; dv++)
			if (devs_add(&k->ftdev, *dv) < 0)
				break;
out:
	nftnl_flowtable_free(f);
	return MNL_CB_OK;
}

/* The same names, in any order. */
static bool devs_equal(const struct devs *a, const struct devs *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!devs_has(b, a->v[i]))
			return false;
	return true;
}

static int key_cmp(const void *x, const void *y)
{
	return memcmp(((const struct elem *)x)->key, ((const struct elem *)y)->key, KEY_MAX);
}

/* Counts the elements that start an interval; flags one we did not add. */
static int elem_read_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kread *k = data;
	const struct elist *cur = &k->n->cur[k->fi][k->set];
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it = NULL;
	struct nftnl_set_elem *e;

	if (!s || nftnl_set_elems_nlmsg_parse(nlh, s) < 0 || !(it = nftnl_set_elems_iter_create(s)))
		goto out;
	while ((e = nftnl_set_elems_iter_next(it))) {
		struct elem x = { 0 };
		uint32_t len = 0;
		const void *key;

		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
		    (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END))
			continue;
		key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
		if (key)
			memcpy(x.key, key, len < KEY_MAX ? len : KEY_MAX);
		k->elems[k->fi][k->set]++;
		if (!cur->n || !bsearch(&x, cur->v, cur->n, sizeof(x), key_cmp))
			k->strange = true;
	}
out:
	nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(s);
	return MNL_CB_OK;
}

/* Dumps of our table's objects of one kind (the kernel filters by table). */
static int read_kind(struct nft *n, uint16_t type, mnl_cb_t cb, struct kread *k)
{
	char buf[65536];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_DUMP, n->seq++);

	mnl_attr_put_strz(nlh, 1 /* NFTA_{CHAIN,SET,RULE}_TABLE */, NFT_TABLE);
	return dump_req(n, buf, sizeof(buf), cb, k);
}

static int read_elems(struct nft *n, struct kread *k, int fi, int set)
{
	char buf[65536], name[16];
	struct nftnl_set *s;
	struct nlmsghdr *nlh;

	set_name(name, sizeof(name), fi, set);
	s = set_obj(name);
	if (!s)
		return -ENOMEM;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP, n->seq++);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	k->fi = fi;
	k->set = set;
	return dump_req(n, buf, sizeof(buf), elem_read_cb, k);
}

int nft_check(struct nft *n, json_t **read)
{
	struct kread k = { .n = n };
	char why[128] = "";
	unsigned off;
	int r;

	if (read)
		*read = NULL;
	{
		char buf[65536];

		nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_DUMP, n->seq++);
		r = dump_req(n, buf, sizeof(buf), table_cb, &k);
	}
	if (r == 0 && k.table) {
		r = read_kind(n, NFT_MSG_GETCHAIN, our_chain_cb, &k);
		r = r ? r : read_kind(n, NFT_MSG_GETSET, our_set_cb, &k);
		r = r ? r : read_kind(n, NFT_MSG_GETRULE, our_rule_cb, &k);
		r = r ? r : read_kind(n, NFT_MSG_GETFLOWTABLE, our_flowtable_cb, &k);
		for (int fi = 0; fi < 2 && !r; fi++)
			for (int s = 0; s < S_NSETS && !r; s++) {
				r = read_elems(n, &k, fi, s);
				if (r == -ENOENT)
					r = 0; /* the set is gone: counted as missing */
			}
	}
	if (r < 0) {
		free(k.ftdev.v);
		return r;
	}
	off = n->off_want && n->off_state == NFT_OFFLOAD_ON;
	if (!k.table)
		snprintf(why, sizeof(why), "the table is missing");
	else if (k.chains != NCHAINS + off || k.sets != n->nsets ||
		 k.rules != n->nrules + off * OFFLOAD_RULES)
		snprintf(why, sizeof(why), "%u chains, %u sets, %u rules instead of %d, %u, %u",
			 k.chains, k.sets, k.rules, NCHAINS + off, n->nsets,
			 n->nrules + off * OFFLOAD_RULES);
	else if (k.flowtables != off)
		snprintf(why, sizeof(why), "%u flowtables instead of %u", k.flowtables, off);
	else if (k.strange)
		snprintf(why, sizeof(why), "a set holds an element vpcroute did not add");
	for (int fi = 0; fi < 2 && !why[0]; fi++)
		for (int s = 0; s < S_NSETS && !why[0]; s++)
			if (k.elems[fi][s] != n->cur[fi][s].n) {
				char name[16];

				set_name(name, sizeof(name), fi, s);
				snprintf(why, sizeof(why),
					 "set %s holds %zu elements instead of %zu", name,
					 k.elems[fi][s], n->cur[fi][s].n);
			}
	/* the devices the flowtable hooks: the kernel's word (a device that
	 * went took its hook with it); nft_offload_devices mends the rest */
	if (!why[0] && off && n->built && !devs_equal(&k.ftdev, &n->off_have)) {
		log_debug("offload: flowtable %s hooks %zu devices, not the %zu last set",
			  NFT_OFFLOAD, k.ftdev.n, n->off_have.n);
		free(n->off_have.v);
		n->off_have = k.ftdev;
		k.ftdev = (struct devs){ 0 };
	}
	free(k.ftdev.v);
	if (read) {
		json_t *o = json_object(), *c = json_object();

		for (int s = 0; s < S_NSETS; s++)
			for (int fi = 0; fi < 2; fi++) {
				char name[16];

				set_name(name, sizeof(name), fi, s);
				json_object_set_new(c, name,
						    json_integer((json_int_t)k.elems[fi][s]));
			}
		json_object_set_new(o, "present", json_boolean(k.table));
		json_object_set_new(o, "set_elements", c);
		json_object_set_new(o, "differs",
				    why[0] && n->built ? json_string(why) : json_null());
		*read = o;
	}
	if (!why[0] || !n->built)
		return !why[0];
	log_warnx("nftables: table " NFT_TABLE_FULLNAME
		  " changed from outside (%s): rebuilding it; keep your own rules in a table of "
		  "your own (vpcroute-agent(8), WHAT IT OWNS)",
		  why);
	snprintf(n->differs, sizeof(n->differs), "%s", why);
	n->built = false;
	return 0;
}

struct fwdcount {
	uint64_t *packets, *bytes;
	size_t max, n;
};

/* The counter of each rule of chain dnat, in order. */
static int fwd_counter_cb(const struct nlmsghdr *nlh, void *data)
{
	struct fwdcount *c = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr_iter *it = NULL;
	struct nftnl_expr *e;

	if (!r || nftnl_rule_nlmsg_parse(nlh, r) < 0 ||
	    strcmp(nftnl_rule_get_str(r, NFTNL_RULE_TABLE), NFT_TABLE) ||
	    strcmp(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), CHAIN_PORTFWD) || c->n >= c->max ||
	    !(it = nftnl_expr_iter_create(r)))
		goto out;
	while ((e = nftnl_expr_iter_next(it)))
		if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter") == 0) {
			c->packets[c->n] = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
			c->bytes[c->n++] = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
			break;
		}
out:
	nftnl_expr_iter_destroy(it);
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

int nft_forward_counters(struct nft *n, uint64_t *packets, uint64_t *bytes, size_t max)
{
	struct fwdcount c = { .packets = packets,
			      .bytes = bytes,
			      .max = max < n->nfwd ? max : n->nfwd };
	char buf[65536];
	struct nlmsghdr *nlh;
	int r;

	if (!n->built || !c.max)
		return 0;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET, NLM_F_DUMP, n->seq++);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, NFT_TABLE);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, CHAIN_PORTFWD);
	r = dump_req(n, buf, sizeof(buf), fwd_counter_cb, &c);
	return r < 0 ? r : (int)c.n;
}

unsigned nft_portid(const struct nft *n)
{
	return n->portid;
}

const char *nft_differs(const struct nft *n)
{
	return n->differs[0] ? n->differs : NULL;
}
