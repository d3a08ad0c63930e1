// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The XFRM decoder and table (agent/xfrm_decode.c): hand-built kernel
 * messages, as a dump answer or a notification would carry them, become
 * tunnels with or without a live SA.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>

#include <linux/ipsec.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>

#include "unit.h"

#include "xfrm.h"

struct buf {
	_Alignas(8) uint8_t b[16384];
	size_t len, msg; /* the current message starts at msg */
};

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->len + NLMSG_ALIGN(n) <= sizeof(b->b));
	memcpy(b->b + b->len, p, n);
	b->len += NLMSG_ALIGN(n);
}

static void msg(struct buf *b, uint16_t type)
{
	struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_seq = 1 };

	b->msg = b->len;
	put(b, &h, sizeof(h));
}

static void attr(struct buf *b, uint16_t type, const void *p, size_t n)
{
	struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + n), .nla_type = type };
	uint8_t tmp[1024];

	assert_true(NLA_HDRLEN + n <= sizeof(tmp));
	memcpy(tmp, &a, sizeof(a));
	memcpy(tmp + NLA_HDRLEN, p, n);
	put(b, tmp, NLA_HDRLEN + n);
}

/* Overwrites n bytes at offset off of the current message's payload (the
 * message may sit at an offset a struct pointer could not be aligned to). */
static void patch(struct buf *b, size_t off, const void *v, size_t n)
{
	memcpy(b->b + b->msg + NLMSG_HDRLEN + off, v, n);
}

static void end(struct buf *b)
{
	((struct nlmsghdr *)(b->b + b->msg))->nlmsg_len = (uint32_t)(b->len - b->msg);
}

static void addr(xfrm_address_t *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a) != 1)
		assert_int_equal(inet_pton(AF_INET6, s, a), 1);
}

static uint16_t fam(const char *s)
{
	return strchr(s, ':') ? AF_INET6 : AF_INET;
}

/* A policy from src to dst (prefixes "A/L"), through peer in mode. */
static void policy(struct buf *b, uint16_t type, uint32_t index, uint8_t dir, const char *src,
		   unsigned slen, const char *dst, unsigned dlen, const char *local,
		   const char *peer, uint8_t mode, uint32_t reqid)
{
	struct xfrm_userpolicy_info pi = { 0 };
	struct xfrm_user_tmpl t = { 0 };

	pi.sel.family = fam(src);
	addr(&pi.sel.saddr, src);
	addr(&pi.sel.daddr, dst);
	pi.sel.prefixlen_s = (uint8_t)slen;
	pi.sel.prefixlen_d = (uint8_t)dlen;
	pi.index = index;
	pi.dir = dir;
	pi.action = XFRM_POLICY_ALLOW;
	msg(b, type);
	put(b, &pi, sizeof(pi));
	if (peer) {
		t.family = fam(peer);
		addr(&t.id.daddr, peer);
		addr(&t.saddr, local);
		t.id.proto = IPPROTO_ESP;
		t.mode = mode;
		t.reqid = reqid;
		attr(b, XFRMA_TMPL, &t, sizeof(t));
	}
	end(b);
}

static void out_tunnel(struct buf *b, uint32_t index, const char *dst, unsigned dlen,
		       const char *peer, uint32_t reqid)
{
	policy(b, XFRM_MSG_NEWPOLICY, index, XFRM_POLICY_OUT, "10.0.0.0", 16, dst, dlen,
	       "198.51.100.1", peer, XFRM_MODE_TUNNEL, reqid);
}

static void sa_info(struct xfrm_usersa_info *si, const char *daddr, uint32_t spi, uint8_t mode,
		    uint32_t reqid)
{
	memset(si, 0, sizeof(*si));
	si->family = fam(daddr);
	addr(&si->id.daddr, daddr);
	addr(&si->saddr, si->family == AF_INET ? "198.51.100.1" : "2001:db8::1");
	si->id.spi = htonl(spi);
	si->id.proto = IPPROTO_ESP;
	si->mode = mode;
	si->reqid = reqid;
}

static void sa(struct buf *b, uint16_t type, const char *daddr, uint32_t spi, uint8_t mode,
	       uint32_t reqid)
{
	struct xfrm_usersa_info si;

	sa_info(&si, daddr, spi, mode, reqid);
	msg(b, type);
	put(b, &si, sizeof(si));
	end(b);
}

static void sa_del(struct buf *b, const char *daddr, uint32_t spi)
{
	struct xfrm_usersa_id id = { .family = fam(daddr), .proto = IPPROTO_ESP };
	struct xfrm_usersa_info si;

	addr(&id.daddr, daddr);
	id.spi = htonl(spi);
	msg(b, XFRM_MSG_DELSA);
	put(b, &id, sizeof(id));
	sa_info(&si, daddr, spi, XFRM_MODE_TUNNEL, 1); /* as the kernel adds it */
	attr(b, XFRMA_SA, &si, sizeof(si));
	end(b);
}

static void sa_expire(struct buf *b, const char *daddr, uint32_t spi, uint8_t hard)
{
	struct xfrm_user_expire e = { .hard = hard };

	sa_info(&e.state, daddr, spi, XFRM_MODE_TUNNEL, 1);
	msg(b, XFRM_MSG_EXPIRE);
	put(b, &e, sizeof(e));
	end(b);
}

struct seen {
	struct xfrm_tab tab;
	unsigned done, errors;
	int err;
};

static void on_ev(const struct xfrm_ev *ev, void *arg)
{
	struct seen *s = arg;

	if (ev->kind == XFRM_EV_DONE)
		s->done++;
	else if (ev->kind == XFRM_EV_ERROR)
		s->errors++, s->err = ev->err;
	else
		assert_int_equal(xfrm_tab_apply(&s->tab, ev), 0);
}

/* Decodes b into s (b emptied); returns the malformed messages. */
static unsigned feed(struct seen *s, struct buf *b)
{
	unsigned bad = xfrm_decode(b->b, b->len, on_ev, s);

	memset(b, 0, sizeof(*b));
	return bad;
}

/* The tunnels as "PEER NET sa|nosa" lines joined by "; ". */
static const char *tunnels(struct seen *s)
{
	static char out[2048];
	struct xfrm_tunnel *t;
	char p[PFX_STRLEN], n[PFX_STRLEN];
	size_t nt;

	out[0] = 0;
	assert_int_equal(xfrm_tunnels(&s->tab, &t, &nt), 0);
	for (size_t i = 0; i < nt; i++)
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s %s %s", i ? "; " : "",
			 pfx_format_addr(&t[i].peer, p, sizeof(p)),
			 pfx_format(&t[i].net, n, sizeof(n)), t[i].sa ? "sa" : "nosa");
	free(t);
	return out;
}

static void test_dump(void **state)
{
	struct seen s = { 0 };
	struct buf b = { 0 };
	struct nlmsghdr done = { .nlmsg_len = sizeof(done), .nlmsg_type = NLMSG_DONE };

	(void)state;
	/* what libreswan installs for one connection: out, in, fwd */
	out_tunnel(&b, 0x101, "192.168.99.0", 24, "203.0.113.7", 1);
	policy(&b, XFRM_MSG_NEWPOLICY, 0x108, XFRM_POLICY_IN, "192.168.99.0", 24, "10.0.0.0", 16,
	       "203.0.113.7", "198.51.100.1", XFRM_MODE_TUNNEL, 1);
	policy(&b, XFRM_MSG_NEWPOLICY, 0x10a, XFRM_POLICY_FWD, "192.168.99.0", 24, "10.0.0.0", 16,
	       "203.0.113.7", "198.51.100.1", XFRM_MODE_TUNNEL, 1);
	/* transport mode, and no template: not tunnels */
	policy(&b, XFRM_MSG_NEWPOLICY, 0x111, XFRM_POLICY_OUT, "10.0.0.5", 32, "203.0.113.9", 32,
	       "10.0.0.5", "203.0.113.9", XFRM_MODE_TRANSPORT, 2);
	policy(&b, XFRM_MSG_NEWPOLICY, 0x119, XFRM_POLICY_OUT, "10.0.0.0", 16, "172.16.0.0", 12,
	       NULL, NULL, 0, 0);
	put(&b, &done, sizeof(done));
	assert_int_equal(feed(&s, &b), 0);
	assert_int_equal(s.done, 1);
	assert_string_equal(tunnels(&s), "203.0.113.7 192.168.99.0/24 nosa");
	/* the SAs: the inbound one (to us) does not make a tunnel, the outbound does */
	sa(&b, XFRM_MSG_NEWSA, "198.51.100.1", 0x1000, XFRM_MODE_TUNNEL, 1);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.7 192.168.99.0/24 nosa");
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.7", 0x2000, XFRM_MODE_TUNNEL, 1);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.7 192.168.99.0/24 sa");
	xfrm_tab_free(&s.tab);
}

static void test_sa_lifecycle(void **state)
{
	struct seen s = { 0 };
	struct buf b = { 0 };
	struct xfrm_usersa_flush fl = { .proto = IPSEC_PROTO_ANY };

	(void)state;
	out_tunnel(&b, 0x101, "192.168.99.0", 24, "203.0.113.7", 1);
	/* an SA of another reqid (another connection to the same peer) does not serve it */
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.7", 0x2000, XFRM_MODE_TUNNEL, 7);
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.7", 0x2001, XFRM_MODE_TRANSPORT, 1);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.7 192.168.99.0/24 nosa");
	/* a rekey: the new SA before the old one goes; the tunnel stays up */
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.7", 0x3000, XFRM_MODE_TUNNEL, 1);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.7 192.168.99.0/24 sa");
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.7", 0x3001, XFRM_MODE_TUNNEL, 1);
	sa_expire(&b, "203.0.113.7", 0x3000, 0); /* soft: stays */
	sa_del(&b, "203.0.113.7", 0x3000);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.7 192.168.99.0/24 sa");
	/* hard expiry of the last one: down */
	sa_expire(&b, "203.0.113.7", 0x3001, 1);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.7 192.168.99.0/24 nosa");
	/* updated (UPDSA) into place, then flushed */
	sa(&b, XFRM_MSG_UPDSA, "203.0.113.7", 0x4000, XFRM_MODE_TUNNEL, 1);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.7 192.168.99.0/24 sa");
	msg(&b, XFRM_MSG_FLUSHSA);
	put(&b, &fl, sizeof(fl));
	end(&b);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.7 192.168.99.0/24 nosa");
	assert_int_equal(s.tab.nsa, 0);
	xfrm_tab_free(&s.tab);
}

static void test_policy_lifecycle(void **state)
{
	struct seen s = { 0 };
	struct buf b = { 0 };
	struct xfrm_userpolicy_id id = { .index = 0x101, .dir = XFRM_POLICY_OUT };
	struct xfrm_user_polexpire pe = { .hard = 1 };
	struct xfrm_userpolicy_type sub = { .type = XFRM_POLICY_TYPE_SUB };

	(void)state;
	out_tunnel(&b, 0x101, "192.168.99.0", 24, "203.0.113.7", 0);
	out_tunnel(&b, 0x109, "192.168.98.0", 24, "203.0.113.7", 0);
	/* host bits in the selector are cleared; two policies, one tunnel */
	out_tunnel(&b, 0x111, "172.16.1.7", 24, "203.0.113.8", 0);
	out_tunnel(&b, 0x119, "172.16.1.0", 24, "203.0.113.8", 0);
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.7", 0x2000, XFRM_MODE_TUNNEL, 5);
	assert_int_equal(feed(&s, &b), 0);
	/* reqid 0 in the template: any SA to the peer serves it */
	assert_string_equal(tunnels(&s), "203.0.113.7 192.168.98.0/24 sa; 203.0.113.7 "
					 "192.168.99.0/24 sa; 203.0.113.8 172.16.1.0/24 nosa");
	/* deleted by index and direction */
	msg(&b, XFRM_MSG_DELPOLICY);
	put(&b, &id, sizeof(id));
	end(&b);
	/* hard expiry deletes too */
	pe.pol.index = 0x109;
	pe.pol.dir = XFRM_POLICY_OUT;
	msg(&b, XFRM_MSG_POLEXPIRE);
	put(&b, &pe, sizeof(pe));
	end(&b);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.8 172.16.1.0/24 nosa");
	/* named by selector (index 0), as a deletion by selector is: another
	 * direction's is not this one */
	out_tunnel(&b, 0x131, "192.168.50.0", 24, "203.0.113.9", 0);
	assert_int_equal(feed(&s, &b), 0);
	memset(&id, 0, sizeof(id));
	id.sel.family = AF_INET;
	addr(&id.sel.saddr, "10.0.0.0");
	addr(&id.sel.daddr, "192.168.50.0");
	id.sel.prefixlen_s = 16;
	id.sel.prefixlen_d = 24;
	id.dir = XFRM_POLICY_IN;
	msg(&b, XFRM_MSG_DELPOLICY);
	put(&b, &id, sizeof(id));
	end(&b);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.8 172.16.1.0/24 nosa; 203.0.113.9 "
					 "192.168.50.0/24 nosa");
	id.dir = XFRM_POLICY_OUT;
	msg(&b, XFRM_MSG_DELPOLICY);
	put(&b, &id, sizeof(id));
	end(&b);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.8 172.16.1.0/24 nosa");
	/* an update that makes it a transport policy removes the tunnel */
	policy(&b, XFRM_MSG_UPDPOLICY, 0x111, XFRM_POLICY_OUT, "10.0.0.0", 16, "172.16.1.0", 24,
	       "198.51.100.1", "203.0.113.8", XFRM_MODE_TRANSPORT, 0);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.8 172.16.1.0/24 nosa"); /* 0x119 */
	/* a flush of sub policies leaves the main ones; a flush of main clears them */
	msg(&b, XFRM_MSG_FLUSHPOLICY);
	attr(&b, XFRMA_POLICY_TYPE, &sub, sizeof(sub));
	end(&b);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "203.0.113.8 172.16.1.0/24 nosa");
	msg(&b, XFRM_MSG_FLUSHPOLICY);
	end(&b);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "");
	xfrm_tab_free(&s.tab);
}

static void test_ipv6_and_block(void **state)
{
	struct seen s = { 0 };
	struct buf b = { 0 };

	(void)state;
	policy(&b, XFRM_MSG_NEWPOLICY, 0x121, XFRM_POLICY_OUT, "2001:db8:a::", 48,
	       "2001:db8:b::", 48, "2001:db8::1", "2001:db8::2", XFRM_MODE_TUNNEL, 3);
	sa(&b, XFRM_MSG_NEWSA, "2001:db8::2", 0x10, XFRM_MODE_TUNNEL, 3);
	/* a block policy is no tunnel */
	out_tunnel(&b, 0x129, "192.168.99.0", 24, "203.0.113.7", 0);
	patch(&b, offsetof(struct xfrm_userpolicy_info, action), &(uint8_t){ XFRM_POLICY_BLOCK },
	      1);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(tunnels(&s), "2001:db8::2 2001:db8:b::/48 sa");
	xfrm_tab_free(&s.tab);
}

static void test_malformed(void **state)
{
	struct seen s = { 0 };
	struct buf b = { 0 };
	struct nlmsgerr e = { .error = -EPERM };

	(void)state;
	/* a prefix length past the family's */
	out_tunnel(&b, 0x101, "192.168.99.0", 33, "203.0.113.7", 0);
	assert_int_equal(feed(&s, &b), 1);
	/* an unknown family */
	out_tunnel(&b, 0x101, "192.168.99.0", 24, "203.0.113.7", 0);
	patch(&b, offsetof(struct xfrm_userpolicy_info, sel.family), &(uint16_t){ 99 }, 2);
	assert_int_equal(feed(&s, &b), 1);
	/* a payload shorter than its struct */
	msg(&b, XFRM_MSG_NEWSA);
	put(&b, "abcd", 4);
	end(&b);
	assert_int_equal(feed(&s, &b), 1);
	/* a template attribute that is not a whole number of templates */
	out_tunnel(&b, 0x101, "192.168.99.0", 24, "203.0.113.7", 0);
	((struct nlattr *)(b.b + b.msg + NLMSG_HDRLEN +
			   NLMSG_ALIGN(sizeof(struct xfrm_userpolicy_info))))
		->nla_len -= 4;
	assert_int_equal(feed(&s, &b), 1);
	/* a length past the datagram: the rest is not read */
	out_tunnel(&b, 0x101, "192.168.99.0", 24, "203.0.113.7", 0);
	((struct nlmsghdr *)(b.b + b.msg))->nlmsg_len += 64;
	assert_int_equal(feed(&s, &b), 1);
	/* a header shorter than a header */
	msg(&b, XFRM_MSG_NEWPOLICY);
	((struct nlmsghdr *)(b.b + b.msg))->nlmsg_len = 8;
	assert_int_equal(feed(&s, &b), 1);
	assert_string_equal(tunnels(&s), "");
	/* an error reply */
	msg(&b, NLMSG_ERROR);
	put(&b, &e, sizeof(e));
	end(&b);
	assert_int_equal(feed(&s, &b), 0);
	assert_int_equal(s.errors, 1);
	assert_int_equal(s.err, -EPERM);
	xfrm_tab_free(&s.tab);
}

/* A dump answer of many messages in one datagram, some at offsets that are
 * not 8-byte aligned (the sanitizer build catches a misaligned read). */
static void test_many(void **state)
{
	struct seen s = { 0 };
	struct buf b = { 0 };
	char net[32];
	size_t nsa = 0;

	(void)state;
	for (unsigned i = 0; i < 20; i++) {
		snprintf(net, sizeof(net), "172.16.%u.0", i);
		out_tunnel(&b, 0x101 + 8 * i, net, 24, i % 2 ? "203.0.113.7" : "203.0.113.8",
			   i + 1);
		if (i % 3 == 0) { /* a message of no interest, 20 bytes: the next is shifted */
			msg(&b, XFRM_MSG_NEWAE);
			put(&b, "\1\2\3\4", 4);
			end(&b);
		}
		sa(&b, XFRM_MSG_NEWSA, i % 2 ? "203.0.113.7" : "203.0.113.8", 0x100 + i,
		   XFRM_MODE_TUNNEL, i % 4 == 0 ? 99 : i + 1);
	}
	assert_int_equal(feed(&s, &b), 0);
	assert_int_equal(s.tab.npol, 20);
	assert_int_equal(s.tab.nsa, 20);
	/* the tunnels whose reqid has its SA: all but every fourth */
	{
		struct xfrm_tunnel *t;
		size_t nt;

		assert_int_equal(xfrm_tunnels(&s.tab, &t, &nt), 0);
		assert_int_equal(nt, 20);
		for (size_t i = 0; i < nt; i++)
			nsa += t[i].sa;
		free(t);
	}
	assert_int_equal(nsa, 15);
	xfrm_tab_free(&s.tab);
}

/* What a kernel (6.x) answered to a policy dump and multicast, captured in
 * a network namespace into the fuzz corpus: the real layout, not ours. */
static void test_kernel_bytes(void **state)
{
	const char *top = getenv("top_srcdir");
	static const char *const files[] = { "kernel-policy-dump", "kernel-policy-new",
					     "kernel-policy-del", "kernel-policy-flush" };
	static const char *const want[] = {
		"203.0.113.7 192.168.99.0/24 nosa; 2001:db8::2 2001:db8:b::/48 nosa",
		("203.0.113.7 192.168.99.0/24 nosa; 203.0.113.8 172.16.0.0/12 nosa; 2001:db8::2 "
		 "2001:db8:b::/48 nosa"),
		"203.0.113.7 192.168.99.0/24 nosa; 2001:db8::2 2001:db8:b::/48 nosa",
		"",
	};
	struct seen s = { 0 };
	struct buf b;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/xfrm/%s", top ? top : ".",
			 files[i]);
		f = fopen(path, "rb");
		if (!f)
			fail_msg("%s: %s", path, strerror(errno));
		memset(&b, 0, sizeof(b));
		b.len = fread(b.b, 1, sizeof(b.b), f);
		fclose(f);
		assert_int_equal(feed(&s, &b), 0);
		assert_string_equal(tunnels(&s), want[i]);
	}
	assert_int_equal(s.done, 1);
	xfrm_tab_free(&s.tab);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_sa_lifecycle),
		cmocka_unit_test(test_policy_lifecycle),
		cmocka_unit_test(test_ipv6_and_block),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_kernel_bytes),
	};

	return cmocka_run_group_tests_name("xfrm", tests, NULL, NULL);
}
