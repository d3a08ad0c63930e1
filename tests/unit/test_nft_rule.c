// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The decoder of another table's NAT rule (agent/nft_rule.c): rules built
 * with libnftnl as nft and iptables-nft build them, sent through a NEWRULE
 * message.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "unit.h"

#include "nft_rule.h"

static struct nftnl_expr *expr(const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	assert_non_null(e);
	return e;
}

static void meta(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = expr("meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
}

static void cmp(struct nftnl_rule *r, uint32_t op, const void *d, uint32_t len)
{
	struct nftnl_expr *e = expr("cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, d, len);
	nftnl_rule_add_expr(r, e);
}

static void payload(struct nftnl_rule *r, uint32_t off, uint32_t len)
{
	struct nftnl_expr *e = expr("payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
}

static void mask(struct nftnl_rule *r, const void *m, const void *x, uint32_t len)
{
	struct nftnl_expr *e = expr("bitwise");

	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, m, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, x, len);
	nftnl_rule_add_expr(r, e);
}

static void ifname(struct nftnl_rule *r, uint32_t key, const char *name, uint32_t len)
{
	char pad[16] = { 0 };

	memcpy(pad, name, strlen(name));
	meta(r, key);
	cmp(r, NFT_CMP_EQ, pad, len);
}

static void addr4(struct nftnl_rule *r, uint32_t op, uint32_t off, const char *a, int plen)
{
	uint32_t v, m = plen ? htonl(~0u << (32 - plen)) : 0, x = 0;

	assert_int_equal(inet_pton(AF_INET, a, &v), 1);
	payload(r, off, 4);
	if (plen < 32)
		mask(r, &m, &x, 4);
	cmp(r, op, &v, 4);
}

static void simple(struct nftnl_rule *r, const char *name)
{
	nftnl_rule_add_expr(r, expr(name));
}

/* The rule through a NEWRULE message, as the dump returns it. */
static void check(struct nftnl_rule *r, uint32_t family, const char *want)
{
	char buf[4096], text[256];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, (uint16_t)family, 0, 1);

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, "mine");
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "post");
	nftnl_rule_nlmsg_build_payload(nlh, r);
	assert_int_equal(nft_rule_describe(nlh, text, sizeof(text)), 0);
	assert_string_equal(text, want);
	nftnl_rule_free(r);
}

static void test_masquerade_per_interface(void **state)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	(void)state;
	ifname(r, NFT_META_OIFNAME, "eth0", 16);
	simple(r, "masq");
	check(r, NFPROTO_IPV4, "oifname \"eth0\" masquerade");
	r = nftnl_rule_alloc();
	ifname(r, NFT_META_OIFNAME, "eth1", 16);
	addr4(r, NFT_CMP_EQ, 12, "10.7.0.0", 16);
	simple(r, "masq");
	check(r, NFPROTO_IPV4, "oifname \"eth1\" ip saddr 10.7.0.0/16 masquerade");
	/* nft reads only the bytes of a byte-aligned prefix */
	r = nftnl_rule_alloc();
	payload(r, 16, 3);
	cmp(r, NFT_CMP_NEQ, "\x0a\x01\x02", 3);
	ifname(r, NFT_META_IIFNAME, "tun0", 16);
	simple(r, "masq");
	check(r, NFPROTO_INET, "ip daddr != 10.1.2.0/24 iifname \"tun0\" masquerade");
}

static void test_snat(void **state)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr *e;
	uint32_t a;

	(void)state;
	addr4(r, NFT_CMP_EQ, 12, "192.168.1.5", 32);
	e = expr("immediate");
	inet_pton(AF_INET, "10.1.1.9", &a);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &a, 4);
	nftnl_rule_add_expr(r, e);
	e = expr("nat");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_SNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
	check(r, NFPROTO_IPV4, "ip saddr 192.168.1.5 snat to 10.1.1.9");
}

static void test_iptables_nft(void **state)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr *e;

	(void)state;
	/* iptables -o eth+ -j MASQUERADE: the bytes before the '+', no NUL */
	ifname(r, NFT_META_OIFNAME, "eth", 3);
	simple(r, "counter");
	e = expr("target");
	nftnl_expr_set_str(e, NFTNL_EXPR_TG_NAME, "MASQUERADE");
	nftnl_expr_set_u32(e, NFTNL_EXPR_TG_REV, 0);
	/* libnftnl keeps (and frees) the info it is given */
	nftnl_expr_set(e, NFTNL_EXPR_TG_INFO, calloc(1, 4), 4);
	nftnl_rule_add_expr(r, e);
	check(r, NFPROTO_IPV4, "oifname \"eth*\" counter xt target \"MASQUERADE\"");
}

static void test_undecoded(void **state)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr *e;
	uint32_t est = 2;
	char text[12];
	char buf[4096];
	struct nlmsghdr *nlh;

	(void)state;
	/* ct state established: the cmp after an unknown load is not named */
	ifname(r, NFT_META_OIFNAME, "eth0", 16);
	e = expr("ct");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
	cmp(r, NFT_CMP_EQ, &est, 4);
	simple(r, "masq");
	check(r, NFPROTO_IPV4, "oifname \"eth0\" [ct] [cmp] masquerade");
	/* cut to the buffer, always terminated */
	r = nftnl_rule_alloc();
	ifname(r, NFT_META_OIFNAME, "a-long-name", 16);
	simple(r, "masq");
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, "t");
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "c");
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_IPV4, 0, 1);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	assert_int_equal(nft_rule_describe(nlh, text, sizeof(text)), 0);
	assert_string_equal(text, "oifname \"a-");
	nftnl_rule_free(r);
	/* not a rule */
	nlh->nlmsg_len = sizeof(*nlh) + 1;
	assert_int_equal(nft_rule_describe(nlh, text, sizeof(text)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_masquerade_per_interface),
		cmocka_unit_test(test_snat),
		cmocka_unit_test(test_iptables_nft),
		cmocka_unit_test(test_undecoded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
