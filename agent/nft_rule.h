// SPDX-License-Identifier: GPL-2.0-or-later
#ifndef VR_NFT_RULE_H
#define VR_NFT_RULE_H

#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>

struct nftnl_rule;

/*
 * The rule as nft shows it, as far as its expressions decode: interface and
 * IPv4/IPv6 address matches (with prefix), masquerade, snat/dnat to ADDR,
 * iptables-nft's match and target; any other expression as "[name]".
 * family is the table's (NFPROTO_*). Always NUL-terminated, cut at size.
 */
void nft_rule_text(struct nftnl_rule *r, uint32_t family, char *buf, size_t size);
/* The same for a NEWRULE message (a dump's answer): 0, or -EINVAL when it
 * does not parse, -ENOMEM. */
int nft_rule_describe(const struct nlmsghdr *nlh, char *buf, size_t size);

#endif
