// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the decoder of another table's NAT rule
 * (agent/nft_rule.c, nft_rule_text) over any sequence of expressions. The
 * rule is built with libnftnl's API from the input: its first byte picks the
 * family, then each expression is a byte (its kind), a byte (a register) and
 * the bytes of its values. Not through nftnl_rule_nlmsg_parse: libnftnl
 * exit()s on a malformed attribute ("kernel ABI is broken"), its own choice
 * for what only the kernel sends.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "nft_rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const kinds[] = { "meta", "payload", "bitwise", "cmp",   "immediate", "masq",
				     "nat",  "target",	"counter", "match", "lookup",	 "ct" };

/* n bytes of the input (fewer at its end) */
static const uint8_t *take(const uint8_t **p, const uint8_t *end, size_t n, uint32_t *len)
{
	const uint8_t *at = *p;

	*len = (uint32_t)((size_t)(end - *p) < n ? (size_t)(end - *p) : n);
	*p += *len;
	return at;
}

static uint32_t u8(const uint8_t **p, const uint8_t *end)
{
	return *p < end ? *(*p)++ : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t fams[] = { NFPROTO_IPV4, NFPROTO_IPV6, NFPROTO_INET, 0 };
	const uint8_t *p = data, *end = data + size, *d;
	struct nftnl_rule *r;
	char text[256];
	uint32_t fam, len;

	if (size < 1 || !(r = nftnl_rule_alloc()))
		return 0;
	fam = fams[u8(&p, end) % 4];
	while (p < end) {
		const char *kind = kinds[u8(&p, end) % (sizeof(kinds) / sizeof(*kinds))];
		struct nftnl_expr *e = nftnl_expr_alloc(kind);
		uint32_t reg = u8(&p, end) % 32;

		if (!e)
			break;
		if (!strcmp(kind, "meta")) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, u8(&p, end));
			nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, reg);
		} else if (!strcmp(kind, "payload")) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, u8(&p, end) % 3);
			nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, u8(&p, end));
			nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, u8(&p, end));
			nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, reg);
		} else if (!strcmp(kind, "bitwise")) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
			nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, u8(&p, end) % 32);
			d = take(&p, end, u8(&p, end) % 20, &len);
			nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, d, len);
		} else if (!strcmp(kind, "cmp") || !strcmp(kind, "immediate")) {
			bool c = kind[0] == 'c';

			nftnl_expr_set_u32(e, c ? NFTNL_EXPR_CMP_SREG : NFTNL_EXPR_IMM_DREG, reg);
			if (c)
				nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, u8(&p, end) % 6);
			d = take(&p, end, u8(&p, end) % 20, &len);
			nftnl_expr_set(e, c ? NFTNL_EXPR_CMP_DATA : NFTNL_EXPR_IMM_DATA, d, len);
		} else if (!strcmp(kind, "nat")) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, u8(&p, end) % 2);
			nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, reg);
			if (u8(&p, end) & 1)
				nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MAX,
						   u8(&p, end) % 32);
		} else if (!strcmp(kind, "target") || !strcmp(kind, "match") ||
			   !strcmp(kind, "lookup")) {
			char name[32] = { 0 };

			d = take(&p, end, u8(&p, end) % 31, &len);
			memcpy(name, d, len);
			nftnl_expr_set_str(e,
					   kind[0] == 't'   ? NFTNL_EXPR_TG_NAME
					   : kind[0] == 'm' ? NFTNL_EXPR_MT_NAME
							    : NFTNL_EXPR_LOOKUP_SET,
					   name);
		}
		nftnl_rule_add_expr(r, e);
	}
	nft_rule_text(r, fam, text, sizeof(text));
	if (strlen(text) >= sizeof(text))
		__builtin_trap();
	nft_rule_text(r, fam, text, 9); /* cut short */
	if (strlen(text) >= 9)
		__builtin_trap();
	nftnl_rule_free(r);
	return 0;
}
