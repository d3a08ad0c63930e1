// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A NAT rule of another table as nft(8) shows it, decoded from libnftnl's
 * expressions (agent/nft.c's foreign NAT scan). Kept apart for its fuzz
 * target (tests/fuzz/fuzz_nft_rule.c).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "nft_rule.h"

/* What a register of a rule holds while the rule is decoded. */
struct rreg {
	enum { RR_NONE, RR_META, RR_PAYLOAD, RR_IMM } kind;
	uint32_t key, off, len;
	int plen; /* prefix length left by a bitwise mask, -1 for none */
	uint8_t data[16];
	uint32_t dlen;
};

static void rtext_add(char *buf, size_t size, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void rtext_add(char *buf, size_t size, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*pos >= size)
		return;
	va_start(ap, fmt);
	w = vsnprintf(buf + *pos, size - *pos, fmt, ap);
	va_end(ap);
	if (w > 0)
		*pos = *pos + (size_t)w < size ? *pos + (size_t)w : size;
}

static struct rreg *rreg_at(struct rreg *regs, uint32_t r)
{
	return r < 32 ? &regs[r] : NULL;
}

/* The address a payload load of the network header reads, as nft names it. */
static const char *payload_field(uint32_t family, const struct rreg *g, int *plen)
{
	if (family != NFPROTO_IPV6 && g->len <= 4 && (g->off == 12 || g->off == 16)) {
		*plen = g->plen >= 0 ? g->plen : (int)g->len * 8;
		return g->off == 12 ? "ip saddr" : "ip daddr";
	}
	if (family != NFPROTO_IPV4 && g->len <= 16 && (g->off == 8 || g->off == 24)) {
		*plen = g->plen >= 0 ? g->plen : (int)g->len * 8;
		return g->off == 8 ? "ip6 saddr" : "ip6 daddr";
	}
	return NULL;
}

static void rtext_cmp(char *buf, size_t size, size_t *pos, uint32_t family, const struct rreg *g,
		      uint32_t op, const uint8_t *d, uint32_t dlen)
{
	const char *neg = op == NFT_CMP_NEQ ? "!= " : "";
	char a[INET6_ADDRSTRLEN];
	uint8_t full[16] = { 0 };
	const char *f;
	int plen;

	if (g->kind == RR_META && (g->key == NFT_META_OIFNAME || g->key == NFT_META_IIFNAME)) {
		int n = (int)strnlen((const char *)d, dlen);

		/* iptables-nft compares "eth+" as the bytes before the '+' */
		rtext_add(buf, size, pos, "%s %s\"%.*s%s\" ",
			  g->key == NFT_META_OIFNAME ? "oifname" : "iifname", neg, n,
			  (const char *)d, (uint32_t)n == dlen && dlen < IFNAMSIZ ? "*" : "");
	} else if (g->kind == RR_META && (g->key == NFT_META_OIF || g->key == NFT_META_IIF) &&
		   dlen == 4) {
		uint32_t idx;
		char ifn[IF_NAMESIZE];

		memcpy(&idx, d, 4);
		rtext_add(buf, size, pos, "%s %s%s ", g->key == NFT_META_OIF ? "oif" : "iif", neg,
			  if_indextoname(idx, ifn) ? ifn : "?");
	} else if (g->kind == RR_PAYLOAD && (f = payload_field(family, g, &plen)) && dlen <= 16) {
		bool v6 = f[2] == '6';

		memcpy(full, d, dlen);
		inet_ntop(v6 ? AF_INET6 : AF_INET, full, a, sizeof(a));
		if (plen == (v6 ? 128 : 32))
			rtext_add(buf, size, pos, "%s %s%s ", f, neg, a);
		else
			rtext_add(buf, size, pos, "%s %s%s/%d ", f, neg, a, plen);
	} else if (g->kind == RR_META && g->key == NFT_META_NFPROTO) {
		/* implied by "ip saddr" in an inet table: nft does not show it */
	} else {
		rtext_add(buf, size, pos, "[cmp] ");
	}
}

static int mask_prefix(const uint8_t *m, uint32_t len)
{
	int n = 0;

	for (uint32_t i = 0; i < len; i++)
		n += __builtin_popcount(m[i]);
	return n;
}

static void rtext_nat(char *buf, size_t size, size_t *pos, struct nftnl_expr *e, struct rreg *regs)
{
	uint32_t type = nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_TYPE);
	struct rreg *lo = NULL, *hi = NULL;
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

	rtext_add(buf, size, pos, "%s", type == NFT_NAT_SNAT ? "snat" : "dnat");
	if (nftnl_expr_is_set(e, NFTNL_EXPR_NAT_REG_ADDR_MIN))
		lo = rreg_at(regs, nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN));
	if (nftnl_expr_is_set(e, NFTNL_EXPR_NAT_REG_ADDR_MAX))
		hi = rreg_at(regs, nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MAX));
	if (!lo || lo->kind != RR_IMM || (lo->dlen != 4 && lo->dlen != 16))
		return;
	int af = lo->dlen == 4 ? AF_INET : AF_INET6;

	inet_ntop(af, lo->data, a, sizeof(a));
	if (hi && hi != lo && hi->kind == RR_IMM && hi->dlen == lo->dlen &&
	    memcmp(hi->data, lo->data, lo->dlen)) {
		inet_ntop(af, hi->data, b, sizeof(b));
		rtext_add(buf, size, pos, " to %s-%s", a, b);
	} else {
		rtext_add(buf, size, pos, " to %s", a);
	}
}

/*
 * The rule as nft would show it, as far as its expressions decode: interface
 * and address matches and the NAT action; what does not decode shows as
 * "[name]".
 */
void nft_rule_text(struct nftnl_rule *r, uint32_t family, char *buf, size_t size)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct rreg regs[32];
	struct nftnl_expr *e;
	size_t pos = 0;

	memset(regs, 0, sizeof(regs));
	buf[0] = '\0';
	while (it && (e = nftnl_expr_iter_next(it))) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
		const void *d;
		uint32_t dlen = 0;
		struct rreg *g;

		if (strcmp(name, "meta") == 0 && nftnl_expr_is_set(e, NFTNL_EXPR_META_DREG)) {
			if ((g = rreg_at(regs, nftnl_expr_get_u32(e, NFTNL_EXPR_META_DREG))))
				*g = (struct rreg){ .kind = RR_META,
						    .key = nftnl_expr_get_u32(e,
									      NFTNL_EXPR_META_KEY),
						    .plen = -1 };
		} else if (strcmp(name, "payload") == 0 &&
			   nftnl_expr_is_set(e, NFTNL_EXPR_PAYLOAD_DREG)) {
			if ((g = rreg_at(regs, nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_DREG))))
				*g = (struct rreg){
					.kind = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE) ==
								NFT_PAYLOAD_NETWORK_HEADER
							? RR_PAYLOAD
							: RR_NONE,
					.off = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET),
					.len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN),
					.plen = -1
				};
		} else if (strcmp(name, "bitwise") == 0) {
			struct rreg *s =
				rreg_at(regs, nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_SREG));

			g = rreg_at(regs, nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_DREG));
			d = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &dlen);
			if (s && g) {
				*g = *s;
				if (d)
					g->plen = mask_prefix(d, dlen);
			}
		} else if (strcmp(name, "cmp") == 0) {
			g = rreg_at(regs, nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_SREG));
			d = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &dlen);
			if (g && d)
				rtext_cmp(buf, size, &pos, family, g,
					  nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP), d, dlen);
		} else if (strcmp(name, "immediate") == 0 &&
			   nftnl_expr_is_set(e, NFTNL_EXPR_IMM_DATA)) {
			g = rreg_at(regs, nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG));
			d = nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &dlen);
			if (g && d && dlen <= sizeof(g->data)) {
				*g = (struct rreg){ .kind = RR_IMM, .dlen = dlen, .plen = -1 };
				memcpy(g->data, d, dlen);
			}
		} else if (strcmp(name, "masq") == 0) {
			rtext_add(buf, size, &pos, "masquerade");
		} else if (strcmp(name, "nat") == 0) {
			rtext_nat(buf, size, &pos, e, regs);
		} else if (strcmp(name, "target") == 0) {
			rtext_add(buf, size, &pos, "xt target \"%s\"",
				  nftnl_expr_get_str(e, NFTNL_EXPR_TG_NAME));
		} else if (strcmp(name, "counter") == 0) {
			rtext_add(buf, size, &pos, "counter ");
		} else if (strcmp(name, "match") == 0) {
			rtext_add(buf, size, &pos, "xt match \"%s\" ",
				  nftnl_expr_get_str(e, NFTNL_EXPR_MT_NAME));
		} else if (strcmp(name, "lookup") == 0) {
			rtext_add(buf, size, &pos, "@%s ",
				  nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET));
		} else {
			/* what it loads is unknown: no later cmp is named after it */
			rtext_add(buf, size, &pos, "[%s] ", name);
			memset(regs, 0, sizeof(regs));
		}
	}
	nftnl_expr_iter_destroy(it);
	while (pos > 0 && pos <= size && buf[pos - 1] == ' ')
		buf[--pos] = '\0';
}

int nft_rule_describe(const struct nlmsghdr *nlh, char *buf, size_t size)
{
	struct nftnl_rule *r;
	int e = -EINVAL;

	/* libnftnl reads the nfgenmsg header without checking the length */
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nfgenmsg)))
		return -EINVAL;
	if (!(r = nftnl_rule_alloc()))
		return -ENOMEM;
	if (nftnl_rule_nlmsg_parse(nlh, r) == 0) {
		nft_rule_text(r,
			      nftnl_rule_is_set(r, NFTNL_RULE_FAMILY)
				      ? nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY)
				      : NFPROTO_UNSPEC,
			      buf, size);
		e = 0;
	}
	nftnl_rule_free(r);
	return e;
}
