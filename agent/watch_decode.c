// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The decoder of the kernel's notifications (watch.h): which of them touch
 * what the agent owns. No sockets and no state here, so that it can be
 * fuzzed with raw bytes (tests/fuzz/fuzz_watch.c).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "nft.h"
#include "rtnl.h"
#include "watch.h"

/* the table attribute of every nf_tables object message (NFTA_TABLE_NAME,
 * NFTA_CHAIN_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, NFTA_RULE_TABLE...) */
#define NFTA_ANY_TABLE 1

static const struct nlattr *attr_get(const struct nlmsghdr *nlh, size_t hdrlen, uint16_t type)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, hdrlen)
	{
		if (mnl_attr_get_type(a) == type)
			return a;
	}
	return NULL;
}

static const char *attr_str(const struct nlattr *a)
{
	return a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 ? mnl_attr_get_str(a) : NULL;
}

static void decode_route(const struct nlmsghdr *nlh, struct watch_hits *h)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *t;
	uint32_t table;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm)) {
		h->bad++;
		return;
	}
	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return;
	table = rtm->rtm_table;
	t = attr_get(nlh, sizeof(*rtm), RTA_TABLE);
	if (t && mnl_attr_validate(t, MNL_TYPE_U32) == 0)
		table = mnl_attr_get_u32(t);
	if (table != RT_TABLE_MAIN)
		return;
	/* ours changed, or another's went: it may have stood for ours */
	if (rtm->rtm_protocol == RTNL_PROTO || nlh->nlmsg_type == RTM_DELROUTE)
		h->routes = true;
}

static void decode_link(const struct watch_filter *f, const struct nlmsghdr *nlh,
			struct watch_hits *h)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const char *name;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi)) {
		h->bad++;
		return;
	}
	h->link_msgs++;
	name = attr_str(attr_get(nlh, sizeof(*ifi), IFLA_IFNAME));
	if (name && f->our_dev && f->our_dev(f->arg, name))
		h->links = true;
}

static void decode_nft(const struct nlmsghdr *nlh, struct watch_hits *h)
{
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const char *table;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
		return;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*g)) {
		h->bad++;
		return;
	}
	if (NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWGEN || g->nfgen_family != NFPROTO_INET)
		return;
	table = attr_str(attr_get(nlh, sizeof(*g), NFTA_ANY_TABLE));
	if (table && strcmp(table, NFT_TABLE) == 0)
		h->nft = true;
}

void watch_decode(const struct watch_filter *f, const void *buf, size_t len, struct watch_hits *h)
{
	/* not mnl_nlmsg_ok/next: they take an nlmsg_len above INT_MAX for a
	 * negative one, and read up to the aligned end of the last message */
	for (size_t off = 0; len - off >= sizeof(struct nlmsghdr);) {
		const struct nlmsghdr *nlh = (const void *)((const char *)buf + off);

		if (nlh->nlmsg_len < sizeof(*nlh) || NLMSG_ALIGN(nlh->nlmsg_len) > len - off ||
		    NLMSG_ALIGN(nlh->nlmsg_len) < nlh->nlmsg_len) {
			h->bad++;
			return;
		}
		off += NLMSG_ALIGN(nlh->nlmsg_len);
		if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
			continue; /* NOOP, ERROR, DONE, OVERRUN: nothing to read */
		if (f->own_portid && nlh->nlmsg_pid == f->own_portid) {
			h->own++;
			continue;
		}
		if (f->proto == NETLINK_NETFILTER) {
			decode_nft(nlh, h);
			continue;
		}
		switch (nlh->nlmsg_type) {
		case RTM_NEWROUTE:
		case RTM_DELROUTE:
			decode_route(nlh, h);
			break;
		case RTM_NEWLINK:
		case RTM_DELLINK:
			decode_link(f, nlh, h);
			break;
		default:
			break;
		}
	}
}
