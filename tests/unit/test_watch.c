// SPDX-License-Identifier: GPL-2.0-or-later
/* The decoder of the kernel's notifications (agent/watch_decode.c). */
#include "config.h"

#include <netinet/in.h>
#include <stdint.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "unit.h"

#include "ifcache.h"

#include "watch.h"

#define OWN 4242

struct buf {
	uint8_t b[1024];
	size_t len, msg; /* the current message starts at msg */
};

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->len + n <= sizeof(b->b));
	memcpy(b->b + b->len, p, n);
	b->len += NLMSG_ALIGN(n);
}

static void msg(struct buf *b, uint16_t type, uint32_t pid)
{
	struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_pid = pid, .nlmsg_seq = 1 };

	b->msg = b->len;
	put(b, &h, sizeof(h));
}

static void attr(struct buf *b, uint16_t type, const void *p, size_t n)
{
	struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + n), .nla_type = type };
	uint8_t tmp[256];

	memcpy(tmp, &a, sizeof(a));
	memcpy(tmp + NLA_HDRLEN, p, n);
	put(b, tmp, NLA_HDRLEN + n);
}

static void end(struct buf *b)
{
	((struct nlmsghdr *)(b->b + b->msg))->nlmsg_len = (uint32_t)(b->len - b->msg);
}

static void route(struct buf *b, uint16_t type, uint32_t pid, uint8_t proto, uint32_t table)
{
	struct rtmsg r = { .rtm_family = AF_INET,
			   .rtm_dst_len = 24,
			   .rtm_table = RT_TABLE_UNSPEC,
			   .rtm_protocol = proto,
			   .rtm_type = RTN_UNICAST };
	uint8_t dst[4] = { 192, 168, 1, 0 };

	msg(b, type, pid);
	put(b, &r, sizeof(r));
	attr(b, RTA_DST, dst, 4);
	attr(b, RTA_TABLE, &table, 4);
	end(b);
}

static void link_msg(struct buf *b, uint16_t type, const char *name)
{
	struct ifinfomsg i = { .ifi_family = AF_UNSPEC, .ifi_index = 7 };

	msg(b, type, 0);
	put(b, &i, sizeof(i));
	attr(b, IFLA_IFNAME, name, strlen(name) + 1);
	end(b);
}

static void nft_msg(struct buf *b, uint16_t type, uint32_t pid, uint8_t family, const char *table)
{
	struct nfgenmsg g = { .nfgen_family = family };

	msg(b, (uint16_t)(NFNL_SUBSYS_NFTABLES << 8 | type), pid);
	put(b, &g, sizeof(g));
	attr(b, 1, table, strlen(table) + 1);
	end(b);
}

static bool is_tun0(void *arg, const char *name)
{
	(void)arg;
	return strcmp(name, "tun0") == 0;
}

static struct watch_hits decode(int proto, const struct buf *b)
{
	struct watch_filter f = { .proto = proto, .own_portid = OWN, .our_dev = is_tun0 };
	struct watch_hits h = { 0 };

	watch_decode(&f, b->b, b->len, &h);
	return h;
}

static void test_routes(void **state)
{
	struct buf b = { 0 };
	struct watch_hits h;

	(void)state;
	/* another protocol's new route, ours in another table: nothing */
	route(&b, RTM_NEWROUTE, 0, RTPROT_STATIC, RT_TABLE_MAIN);
	route(&b, RTM_DELROUTE, 0, 212, 100);
	h = decode(NETLINK_ROUTE, &b);
	assert_false(h.routes);
	assert_int_equal(h.bad, 0);
	/* our own change: counted, ignored */
	route(&b, RTM_DELROUTE, OWN, 212, RT_TABLE_MAIN);
	h = decode(NETLINK_ROUTE, &b);
	assert_false(h.routes);
	assert_int_equal(h.own, 1);
	/* someone else deletes ours */
	route(&b, RTM_DELROUTE, 99, 212, RT_TABLE_MAIN);
	assert_true(decode(NETLINK_ROUTE, &b).routes);
	/* another's route goes (it may have stood for ours) */
	memset(&b, 0, sizeof(b));
	route(&b, RTM_DELROUTE, 0, RTPROT_BOOT, RT_TABLE_MAIN);
	assert_true(decode(NETLINK_ROUTE, &b).routes);
}

static void test_links(void **state)
{
	struct buf b = { 0 };

	(void)state;
	link_msg(&b, RTM_NEWLINK, "eth7");
	assert_false(decode(NETLINK_ROUTE, &b).links);
	/* any device's notification: the interface cache is forgotten */
	assert_int_equal(decode(NETLINK_ROUTE, &b).link_msgs, 1);
	link_msg(&b, RTM_DELLINK, "tun0");
	assert_true(decode(NETLINK_ROUTE, &b).links);
	assert_int_equal(decode(NETLINK_ROUTE, &b).link_msgs, 2);
}

/* Devices are looked up once until forgotten; a missing one is never
 * remembered. lo is in every network namespace. */
static void test_ifcache(void **state)
{
	unsigned long h0, m0, h, m;
	unsigned lo = if_nametoindex("lo");
	char name[IF_NAMESIZE];

	(void)state;
	assert_true(lo > 0);
	ifc_forget();
	ifc_counts(&h0, &m0);
	assert_int_equal(ifc_index("lo"), lo);
	assert_int_equal(ifc_index("lo"), lo);
	assert_string_equal(ifc_name(lo, name), "lo");
	ifc_counts(&h, &m);
	assert_int_equal(m - m0, 1);
	assert_int_equal(h - h0, 2);
	assert_int_equal(ifc_index("vr-no-such-dev"), 0);
	assert_int_equal(ifc_index("vr-no-such-dev"), 0);
	assert_null(ifc_name(0x7ffffff0u, name));
	ifc_counts(&h, &m);
	assert_int_equal(m - m0, 4);
	ifc_forget();
	assert_int_equal(ifc_index("lo"), lo);
	ifc_counts(&h, &m);
	assert_int_equal(m - m0, 5);
}

static void test_nft(void **state)
{
	struct buf b = { 0 };
	struct watch_hits h;

	(void)state;
	nft_msg(&b, NFT_MSG_DELTABLE, 0, NFPROTO_INET, "filter");
	nft_msg(&b, NFT_MSG_DELSETELEM, 0, NFPROTO_IPV4, "vpcroute"); /* ip vpcroute: not ours */
	nft_msg(&b, NFT_MSG_NEWSETELEM, OWN, NFPROTO_INET, "vpcroute");
	h = decode(NETLINK_NETFILTER, &b);
	assert_false(h.nft);
	assert_int_equal(h.own, 1);
	nft_msg(&b, NFT_MSG_DELSETELEM, 99, NFPROTO_INET, "vpcroute");
	assert_true(decode(NETLINK_NETFILTER, &b).nft);
	/* a route message on the netfilter socket is not read as one */
	memset(&b, 0, sizeof(b));
	route(&b, RTM_DELROUTE, 0, 212, RT_TABLE_MAIN);
	h = decode(NETLINK_NETFILTER, &b);
	assert_false(h.nft || h.routes);
}

static void test_malformed(void **state)
{
	struct buf b = { 0 };
	struct watch_hits h;

	(void)state;
	route(&b, RTM_DELROUTE, 0, 212, RT_TABLE_MAIN);
	/* a length beyond the datagram (and above INT_MAX): the rest is skipped */
	((struct nlmsghdr *)b.b)->nlmsg_len = 0xaeaeaeae;
	h = decode(NETLINK_ROUTE, &b);
	assert_false(h.routes);
	assert_int_equal(h.bad, 1);
	/* a route message too short for its header */
	memset(&b, 0, sizeof(b));
	msg(&b, RTM_DELROUTE, 0);
	end(&b);
	h = decode(NETLINK_ROUTE, &b);
	assert_false(h.routes);
	assert_int_equal(h.bad, 1);
	/* a truncated datagram */
	memset(&b, 0, sizeof(b));
	route(&b, RTM_DELROUTE, 0, 212, RT_TABLE_MAIN);
	b.len -= 4;
	h = decode(NETLINK_ROUTE, &b);
	assert_false(h.routes);
	assert_int_equal(h.bad, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),	  cmocka_unit_test(test_links),
		cmocka_unit_test(test_ifcache),	  cmocka_unit_test(test_nft),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
