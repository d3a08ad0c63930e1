// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The XFRM decoder and table (agent/xfrm_decode.c): hand-built kernel
 * messages, as a dump answer or a notification would carry them, become
 * tunnels with or without a live SA.
 */
#include "config.h"

#include <arpa/inet.h>
#include <net/if.h> /* ifcache.h's, before the kernel's headers */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>

#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/ipsec.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/xfrm.h>

#include "unit.h"

#include "ifcache.h"
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

enum { PLAIN, IDS, PORTS };

/* The tunnels as "PEER NET sa|nosa" lines joined by "; ", with "IF_ID
 * MARK/MASK" (IDS) or the NAT traversal port (PORTS) after each. */
static const char *list(struct seen *s, int what)
{
	static char out[2048];
	struct xfrm_tunnel *t;
	char p[PFX_STRLEN], n[PFX_STRLEN];
	size_t nt;

	out[0] = 0;
	assert_int_equal(xfrm_tunnels(&s->tab, &t, &nt), 0);
	for (size_t i = 0; i < nt; i++) {
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s %s %s", i ? "; " : "",
			 pfx_format_addr(&t[i].peer, p, sizeof(p)),
			 pfx_format(&t[i].net, n, sizeof(n)), t[i].sa ? "sa" : "nosa");
		if (what == IDS)
			snprintf(out + strlen(out), sizeof(out) - strlen(out), " %u %#x/%#x",
				 t[i].if_id, t[i].mark_v, t[i].mark_m);
		else if (what == PORTS)
			snprintf(out + strlen(out), sizeof(out) - strlen(out), " %u", t[i].port);
	}
	free(t);
	return out;
}

static const char *tunnels(struct seen *s)
{
	return list(s, PLAIN);
}

static const char *routed(struct seen *s)
{
	return list(s, IDS);
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

/* A file of the fuzz corpus into raw (cap bytes at most): its length. */
static size_t corpus(const char *name, uint8_t *raw, size_t cap)
{
	const char *top = getenv("top_srcdir");
	char path[4096];
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/xfrm/%s", top ? top : ".", name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	len = fread(raw, 1, cap, f);
	fclose(f);
	return len;
}

/* What a kernel (6.x) answered to a policy dump and multicast, captured in
 * a network namespace into the fuzz corpus: the real layout, not ours. */
static void test_kernel_bytes(void **state)
{
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
		memset(&b, 0, sizeof(b));
		b.len = corpus(files[i], b.b, sizeof(b.b));
		assert_int_equal(feed(&s, &b), 0);
		assert_string_equal(tunnels(&s), want[i]);
	}
	assert_int_equal(s.done, 1);
	xfrm_tab_free(&s.tab);
}

/* Appends XFRMA_ENCAP (ESP in UDP from sport to dport) to the current
 * message, as the kernel reports an SA with NAT traversal. */
static void encap(struct buf *b, uint16_t sport, uint16_t dport)
{
	struct xfrm_encap_tmpl et = { .encap_type = 2 /* UDP_ENCAP_ESPINUDP */,
				      .encap_sport = htons(sport),
				      .encap_dport = htons(dport) };

	attr(b, XFRMA_ENCAP, &et, sizeof(et));
	end(b);
}

/* Two sites behind one NAT address: their SAs (reqids 1 and 2) carry the
 * NAT's two ports in XFRMA_ENCAP, and each tunnel the port of its own SA;
 * an SA without encapsulation (no NAT) none; an update with a new mapping
 * the new port. */
static void test_encap_ports(void **state)
{
	struct seen s = { 0 };
	struct buf b = { 0 };

	(void)state;
	out_tunnel(&b, 0x101, "192.168.1.0", 24, "203.0.113.7", 1);
	out_tunnel(&b, 0x109, "192.168.2.0", 24, "203.0.113.7", 2);
	out_tunnel(&b, 0x111, "192.168.3.0", 24, "203.0.113.8", 3);
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.7", 0x1000, XFRM_MODE_TUNNEL, 1);
	encap(&b, 4500, 4500);
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.7", 0x1001, XFRM_MODE_TUNNEL, 2);
	encap(&b, 4500, 31337);
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.8", 0x1002, XFRM_MODE_TUNNEL, 3);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(list(&s, PORTS), "203.0.113.7 192.168.1.0/24 sa 4500; "
					     "203.0.113.7 192.168.2.0/24 sa 31337; "
					     "203.0.113.8 192.168.3.0/24 sa 0");
	/* the NAT mapped the first site anew (XFRM_MSG_UPDSA) */
	sa(&b, XFRM_MSG_UPDSA, "203.0.113.7", 0x1000, XFRM_MODE_TUNNEL, 1);
	encap(&b, 4500, 1024);
	/* a cut XFRMA_ENCAP is no port (the SA stays) */
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.8", 0x1002, XFRM_MODE_TUNNEL, 3);
	attr(&b, XFRMA_ENCAP, "\x02\x00", 2);
	end(&b);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(list(&s, PORTS), "203.0.113.7 192.168.1.0/24 sa 1024; "
					     "203.0.113.7 192.168.2.0/24 sa 31337; "
					     "203.0.113.8 192.168.3.0/24 sa 0");
	xfrm_tab_free(&s.tab);
}

/* Appends XFRMA_IF_ID (when if_id) and XFRMA_MARK (when m) to the current
 * message, as strongSwan and libreswan install route-based tunnels. */
static void route_ids(struct buf *b, uint32_t if_id, uint32_t v, uint32_t m)
{
	struct xfrm_mark mk = { .v = v, .m = m };

	if (if_id)
		attr(b, XFRMA_IF_ID, &if_id, sizeof(if_id));
	if (m)
		attr(b, XFRMA_MARK, &mk, sizeof(mk));
	end(b);
}

/* Route-based tunnels: an XFRM interface's wide policy and SAs carry its
 * if_id, a VTI's its mark; an SA serves a policy of its own if_id only. */
static void test_route_based(void **state)
{
	static const char down[] = "203.0.113.7 0.0.0.0/0 nosa 7 0/0; 203.0.113.8 0.0.0.0/0 "
				   "nosa 8 0/0; 203.0.113.9 0.0.0.0/0 nosa 0 0x2a/0xffffffff";
	struct seen s = { 0 };
	struct buf b = { 0 };
	struct xfrm_userpolicy_id id = { .dir = XFRM_POLICY_OUT };

	(void)state;
	policy(&b, XFRM_MSG_NEWPOLICY, 0x101, XFRM_POLICY_OUT, "0.0.0.0", 0, "0.0.0.0", 0,
	       "198.51.100.1", "203.0.113.7", XFRM_MODE_TUNNEL, 1);
	route_ids(&b, 7, 0, 0);
	/* the same wide selector toward another peer, through another interface */
	policy(&b, XFRM_MSG_NEWPOLICY, 0x109, XFRM_POLICY_OUT, "0.0.0.0", 0, "0.0.0.0", 0,
	       "198.51.100.1", "203.0.113.8", XFRM_MODE_TUNNEL, 2);
	route_ids(&b, 8, 0, 0);
	/* a VTI's: marked */
	policy(&b, XFRM_MSG_NEWPOLICY, 0x111, XFRM_POLICY_OUT, "0.0.0.0", 0, "0.0.0.0", 0,
	       "198.51.100.1", "203.0.113.9", XFRM_MODE_TUNNEL, 3);
	route_ids(&b, 0, 42, 0xffffffff);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(routed(&s), down);
	/* an SA of another if_id, another mark: no */
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.7", 0x2000, XFRM_MODE_TUNNEL, 1);
	route_ids(&b, 9, 0, 0);
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.9", 0x2001, XFRM_MODE_TUNNEL, 3);
	route_ids(&b, 0, 43, 0xffffffff);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(routed(&s), down);
	/* of its own (a VTI's SA unmarked serves too), or without an if_id: no */
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.7", 0x2002, XFRM_MODE_TUNNEL, 1);
	route_ids(&b, 7, 0, 0);
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.8", 0x2003, XFRM_MODE_TUNNEL, 2);
	sa(&b, XFRM_MSG_NEWSA, "203.0.113.9", 0x2004, XFRM_MODE_TUNNEL, 3);
	end(&b);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(routed(&s), "203.0.113.7 0.0.0.0/0 sa 7 0/0; "
					"203.0.113.8 0.0.0.0/0 nosa 8 0/0; "
					"203.0.113.9 0.0.0.0/0 sa 0 0x2a/0xffffffff");
	/* deleted by selector: the if_id names which of the wide ones */
	addr(&id.sel.saddr, "0.0.0.0");
	addr(&id.sel.daddr, "0.0.0.0");
	id.sel.family = AF_INET;
	msg(&b, XFRM_MSG_DELPOLICY);
	put(&b, &id, sizeof(id));
	route_ids(&b, 8, 0, 0);
	assert_int_equal(feed(&s, &b), 0);
	assert_string_equal(routed(&s), "203.0.113.7 0.0.0.0/0 sa 7 0/0; "
					"203.0.113.9 0.0.0.0/0 sa 0 0x2a/0xffffffff");
	xfrm_tab_free(&s.tab);
}

/* What the kernel sent for route-based policies (captured as in
 * test_kernel_bytes): ip xfrm policy add ... if_id 7, then ... mark 42; the
 * first deleted by selector and if_id. The datagrams of a file are split at
 * "XFRM" (as the fuzz target reads them). */
static void test_kernel_route_bytes(void **state)
{
	static const char *const files[] = { "kernel-policy-route-new", "kernel-policy-route-del" };
	static const char *const want[] = {
		"203.0.113.7 0.0.0.0/0 nosa 7 0/0; 203.0.113.9 0.0.0.0/0 nosa 0 0x2a/0xffffffff",
		"203.0.113.9 0.0.0.0/0 nosa 0 0x2a/0xffffffff",
	};
	struct seen s = { 0 };
	struct buf b;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		uint8_t raw[8192];
		size_t len = corpus(files[i], raw, sizeof(raw)), start = 0;

		for (size_t k = 0; k <= len; k++)
			if (k == len || (k + 4 <= len && memcmp(raw + k, "XFRM", 4) == 0)) {
				memset(&b, 0, sizeof(b));
				memcpy(b.b, raw + start, k - start);
				b.len = k - start;
				assert_int_equal(feed(&s, &b), 0);
				start = k + 4;
			}
		assert_string_equal(routed(&s), want[i]);
	}
	xfrm_tab_free(&s.tab);
}

/* An RTM_NEWLINK of kind with name at index, and its IFLA_INFO_DATA (one
 * u32 attribute per (type, value) pair, n pairs). */
static void link_msg(struct buf *b, int index, const char *name, const char *kind,
		     const uint16_t *types, const uint32_t *vals, size_t n)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = index };
	uint8_t info[256];
	size_t len = 0;

	msg(b, RTM_NEWLINK);
	put(b, &ifi, sizeof(ifi));
	attr(b, IFLA_IFNAME, name, strlen(name) + 1);
	if (kind) { /* IFLA_LINKINFO { IFLA_INFO_KIND, IFLA_INFO_DATA { ... } } */
		struct nlattr k = { .nla_len = (uint16_t)(NLA_HDRLEN + strlen(kind) + 1),
				    .nla_type = IFLA_INFO_KIND };
		struct nlattr d = { .nla_len =
					    (uint16_t)(NLA_HDRLEN + n * NLA_ALIGN(NLA_HDRLEN + 4)),
				    .nla_type = IFLA_INFO_DATA };

		memset(info, 0, sizeof(info));
		memcpy(info, &k, sizeof(k));
		memcpy(info + NLA_HDRLEN, kind, strlen(kind) + 1);
		len = NLA_ALIGN(k.nla_len);
		memcpy(info + len, &d, sizeof(d));
		len += NLA_HDRLEN;
		for (size_t i = 0; i < n; i++) {
			struct nlattr a = { .nla_len = NLA_HDRLEN + 4, .nla_type = types[i] };

			memcpy(info + len, &a, sizeof(a));
			memcpy(info + len + NLA_HDRLEN, &vals[i], 4);
			len += NLA_ALIGN(NLA_HDRLEN + 4);
		}
		attr(b, IFLA_LINKINFO, info, len);
	}
	end(b);
}

static const char *link_name(const struct xfrm_links *l, uint32_t if_id, uint32_t v, uint32_t m)
{
	const struct xfrm_link *k = xfrm_link_find(l, if_id, v, m);

	return k ? k->name : "-";
}

/* The interface cache's XFRM interfaces and VTIs: set from a dump, then
 * kept from the notifications of a datagram (route notifications among
 * them ignored), with no new dump; stale when one is not understood or
 * notifications were lost, until a dump sets it again. */
static void test_ifcache_links(void **state)
{
	static const uint16_t xt[] = { IFLA_XFRM_LINK, IFLA_XFRM_IF_ID };
	static const uint16_t vt[] = { IFLA_VTI_LINK, IFLA_VTI_IKEY, IFLA_VTI_OKEY };
	const uint32_t xv[] = { 2, 7 }, vv[] = { 0, htonl(41), htonl(42) };
	struct xfrm_links dump = { 0 };
	struct ifinfomsg del = { .ifi_index = 5 };
	struct rtmsg rt = { .rtm_family = AF_INET, .rtm_dst_len = 24 };
	struct buf b = { 0 };
	bool fin = false;
	int err = 0;

	(void)state;
	assert_true(ifc_links_stale()); /* nothing read yet */
	link_msg(&b, 5, "ipsec0", "xfrm", xt, xv, 2);
	assert_int_equal(xfrm_link_decode(&dump, b.b, b.len, &fin, &err), 0);
	memset(&b, 0, sizeof(b));
	assert_int_equal(ifc_links_set(&dump), 0);
	xfrm_links_free(&dump); /* the cache keeps its own copy */
	assert_false(ifc_links_stale());
	assert_string_equal(link_name(ifc_links(), 7, 0, 0), "ipsec0");
	/* a VTI comes (RTM_NEWLINK), after a route notification of the same datagram */
	msg(&b, RTM_NEWROUTE);
	put(&b, &rt, sizeof(rt));
	end(&b);
	link_msg(&b, 6, "vti0", "vti", vt, vv, 3);
	ifc_links_apply(b.b, b.len);
	memset(&b, 0, sizeof(b));
	assert_false(ifc_links_stale());
	assert_int_equal(ifc_links()->n, 2);
	assert_string_equal(link_name(ifc_links(), 0, 42, 0xffffffff), "vti0");
	/* the XFRM interface renamed, then given another if_id */
	link_msg(&b, 5, "ipsec1", "xfrm", xt, xv, 2);
	ifc_links_apply(b.b, b.len);
	memset(&b, 0, sizeof(b));
	assert_string_equal(link_name(ifc_links(), 7, 0, 0), "ipsec1");
	{
		const uint32_t xv8[] = { 2, 8 };

		link_msg(&b, 5, "ipsec1", "xfrm", xt, xv8, 2);
	}
	ifc_links_apply(b.b, b.len);
	memset(&b, 0, sizeof(b));
	assert_string_equal(link_name(ifc_links(), 7, 0, 0), "-");
	assert_string_equal(link_name(ifc_links(), 8, 0, 0), "ipsec1");
	/* it goes (RTM_DELLINK); the VTI stays */
	msg(&b, RTM_DELLINK);
	put(&b, &del, sizeof(del));
	end(&b);
	ifc_links_apply(b.b, b.len);
	memset(&b, 0, sizeof(b));
	assert_int_equal(ifc_links()->n, 1);
	assert_string_equal(link_name(ifc_links(), 8, 0, 0), "-");
	assert_false(ifc_links_stale());
	/* a message not understood (a key cut to 2 bytes): stale */
	link_msg(&b, 6, "vti0", "vti", vt, vv, 3);
	((struct nlattr *)(b.b + b.len - 4 - NLA_HDRLEN))->nla_len = NLA_HDRLEN + 2;
	ifc_links_apply(b.b, b.len);
	memset(&b, 0, sizeof(b));
	assert_true(ifc_links_stale());
	/* a dump sets it again; lost notifications make it stale again */
	assert_int_equal(ifc_links_set(&dump), 0);
	assert_false(ifc_links_stale());
	assert_int_equal(ifc_links()->n, 0);
	ifc_links_lost();
	assert_true(ifc_links_stale());
	ifc_links_free();
}

/* The interfaces of route-based tunnels, from a link dump and notifications. */
static void test_links(void **state)
{
	static const uint16_t xt[] = { IFLA_XFRM_LINK, IFLA_XFRM_IF_ID };
	static const uint16_t vt[] = { IFLA_VTI_LINK, IFLA_VTI_IKEY, IFLA_VTI_OKEY };
	const uint32_t xv[] = { 2, 7 }, vv[] = { 0, htonl(41), htonl(42) };
	struct xfrm_links l = { 0 }, l2 = { 0 };
	struct nlmsghdr done = { .nlmsg_len = sizeof(done), .nlmsg_type = NLMSG_DONE };
	struct ifinfomsg del = { .ifi_index = 5 };
	struct buf b = { 0 };
	bool fin = false;
	int err = 0;

	(void)state;
	link_msg(&b, 6, "vti0", "vti", vt, vv, 3);
	link_msg(&b, 5, "ipsec0", "xfrm", xt, xv, 2);
	link_msg(&b, 1, "lo", NULL, NULL, NULL, 0);
	link_msg(&b, 3, "veth0", "veth", NULL, NULL, 0);
	put(&b, &done, sizeof(done));
	assert_int_equal(xfrm_link_decode(&l, b.b, b.len, &fin, &err), 0);
	memset(&b, 0, sizeof(b));
	assert_true(fin);
	assert_int_equal(err, 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].index, 5); /* sorted by index */
	assert_int_equal(l.v[1].ikey, 41);
	assert_string_equal(link_name(&l, 7, 0, 0), "ipsec0");
	assert_string_equal(link_name(&l, 8, 0, 0), "-");
	/* a VTI: okey matched under the policy's mask */
	assert_string_equal(link_name(&l, 0, 42, 0xffffffff), "vti0");
	assert_string_equal(link_name(&l, 0, 42, 0xff), "vti0");
	assert_string_equal(link_name(&l, 0, 41, 0xffffffff), "-");
	assert_string_equal(link_name(&l, 0, 0, 0), "-"); /* unmarked: policy-based */
	/* renamed, then deleted; a VTI that became something else is forgotten */
	link_msg(&b, 5, "ipsec1", "xfrm", xt, xv, 2);
	assert_int_equal(xfrm_link_decode(&l, b.b, b.len, &fin, &err), 0);
	memset(&b, 0, sizeof(b));
	assert_string_equal(link_name(&l, 7, 0, 0), "ipsec1");
	msg(&b, RTM_DELLINK);
	put(&b, &del, sizeof(del));
	end(&b);
	link_msg(&b, 6, "vti0", "gre", NULL, NULL, 0);
	assert_int_equal(xfrm_link_decode(&l, b.b, b.len, &fin, &err), 0);
	memset(&b, 0, sizeof(b));
	assert_int_equal(l.n, 0);
	assert_true(xfrm_links_equal(&l, &l2));
	/* malformed: a name without its NUL, a key shorter than 4 bytes */
	link_msg(&b, 5, "ipsec0", "xfrm", xt, xv, 2);
	b.b[b.msg + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifinfomsg)) + NLA_HDRLEN + 6] = 'x';
	link_msg(&b, 6, "vti0", "vti", vt, vv, 3);
	((struct nlattr *)(b.b + b.len - 4 - NLA_HDRLEN))->nla_len = NLA_HDRLEN + 2;
	assert_int_equal(xfrm_link_decode(&l, b.b, b.len, &fin, &err), 2);
	memset(&b, 0, sizeof(b));
	assert_int_equal(l.n, 0);
	/* an error answer */
	msg(&b, NLMSG_ERROR);
	put(&b, &(struct nlmsgerr){ .error = -EPERM }, sizeof(struct nlmsgerr));
	end(&b);
	assert_int_equal(xfrm_link_decode(&l, b.b, b.len, &fin, &err), 0);
	assert_int_equal(err, -EPERM);
	xfrm_links_free(&l);
	/* the fuzz corpus' seed (what the target starts from) is a dump */
	memset(&b, 0, sizeof(b));
	b.len = corpus("link-dump", b.b, sizeof(b.b));
	fin = false;
	err = 0;
	assert_int_equal(xfrm_link_decode(&l, b.b, b.len, &fin, &err), 0);
	assert_true(fin);
	assert_int_equal(l.n, 2);
	assert_string_equal(link_name(&l, 7, 0, 0), "ipsec0");
	assert_string_equal(link_name(&l, 0, 42, 0xffffffff), "vti0");
	xfrm_links_free(&l);
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
		cmocka_unit_test(test_route_based),
		cmocka_unit_test(test_encap_ports),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_ifcache_links),
		cmocka_unit_test(test_kernel_route_bytes),
	};

	return cmocka_run_group_tests_name("xfrm", tests, NULL, NULL);
}
