// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The XFRM decoder and table (xfrm.h): the kernel's policy and SA messages
 * (dump answers and notifications) as events, the table they build and the
 * tunnels it holds. No sockets and no agent here, so that it can be fuzzed
 * with raw bytes (tests/fuzz/fuzz_xfrm.c).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/ipsec.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/xfrm.h>

#include "xfrm.h"

/* --- decoding --- */

/* addr of family as a prefix of len bits, host bits cleared; false when
 * the family or the length is not one of an address. */
static bool to_pfx(const xfrm_address_t *addr, unsigned family, unsigned len, struct pfx *out)
{
	size_t n = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;

	if (!n || len > n * 8)
		return false;
	memset(out, 0, sizeof(*out));
	out->family = (uint8_t)family;
	out->len = (uint8_t)len;
	memcpy(out->addr, addr, n);
	for (size_t i = 0; i < n; i++) {
		unsigned bits = len > i * 8 ? len - (unsigned)i * 8 : 0;

		if (bits < 8)
			out->addr[i] &= (uint8_t)(0xff00u >> bits);
	}
	return true;
}

static bool to_host(const xfrm_address_t *addr, unsigned family, struct pfx *out)
{
	return to_pfx(addr, family, family == AF_INET6 ? 128 : 32, out);
}

/* The payload of nlh copied into a struct of size n (messages are only
 * 4-byte aligned in a datagram; some structs hold 64-bit counters): false
 * when it is shorter. */
static bool payload(const struct nlmsghdr *nlh, void *out, size_t n)
{
	if (mnl_nlmsg_get_payload_len(nlh) < n)
		return false;
	memcpy(out, mnl_nlmsg_get_payload(nlh), n);
	return true;
}

/* The first attribute of type after hdrlen bytes of payload, or NULL; the
 * attributes are walked only while each fits in the message. */
static const struct nlattr *attr_get(const struct nlmsghdr *nlh, size_t hdrlen, uint16_t type)
{
	const struct nlattr *a;

	if (MNL_ALIGN(hdrlen) > mnl_nlmsg_get_payload_len(nlh))
		return NULL;
	mnl_attr_for_each(a, nlh, hdrlen)
	{
		if (mnl_attr_get_type(a) == type)
			return a;
	}
	return NULL;
}

/* The policy type attribute says main (or is absent): true. */
static bool type_main(const struct nlmsghdr *nlh, size_t hdrlen)
{
	const struct nlattr *a = attr_get(nlh, hdrlen, XFRMA_POLICY_TYPE);
	struct xfrm_userpolicy_type t;

	if (!a || mnl_attr_get_payload_len(a) < sizeof(t))
		return true;
	memcpy(&t, mnl_attr_get_payload(a), sizeof(t));
	return t.type == XFRM_POLICY_TYPE_MAIN;
}

/* XFRMA_IF_ID and XFRMA_MARK, when present and whole. */
static void route_ids(const struct nlmsghdr *nlh, size_t hdrlen, uint32_t *if_id, uint32_t *mark_v,
		      uint32_t *mark_m)
{
	const struct nlattr *a = attr_get(nlh, hdrlen, XFRMA_IF_ID);
	struct xfrm_mark m;

	if (a && mnl_attr_get_payload_len(a) >= sizeof(*if_id))
		memcpy(if_id, mnl_attr_get_payload(a), sizeof(*if_id));
	a = attr_get(nlh, hdrlen, XFRMA_MARK);
	if (a && mnl_attr_get_payload_len(a) >= sizeof(m)) {
		memcpy(&m, mnl_attr_get_payload(a), sizeof(m));
		*mark_v = m.v;
		*mark_m = m.m;
	}
}

static bool sel_pfx(const struct xfrm_selector *sel, struct pfx *src, struct pfx *dst)
{
	return to_pfx(&sel->saddr, sel->family, sel->prefixlen_s, src) &&
	       to_pfx(&sel->daddr, sel->family, sel->prefixlen_d, dst);
}

/* A policy with its templates; false when malformed. */
static bool decode_pol(const struct nlmsghdr *nlh, const struct xfrm_userpolicy_info *pi,
		       size_t hdrlen, struct xfrm_pol *p)
{
	const struct nlattr *a;

	memset(p, 0, sizeof(*p));
	p->index = pi->index;
	p->dir = pi->dir;
	p->allow = pi->action == XFRM_POLICY_ALLOW;
	p->main = type_main(nlh, hdrlen);
	route_ids(nlh, hdrlen, &p->if_id, &p->mark_v, &p->mark_m);
	if (!sel_pfx(&pi->sel, &p->src, &p->dst))
		return false;
	a = attr_get(nlh, hdrlen, XFRMA_TMPL);
	if (!a)
		return true; /* no template: not a tunnel */
	if (mnl_attr_get_payload_len(a) % sizeof(struct xfrm_user_tmpl))
		return false;
	for (size_t i = 0; i < mnl_attr_get_payload_len(a) / sizeof(struct xfrm_user_tmpl); i++) {
		struct xfrm_user_tmpl t;
		unsigned fam;

		/* attribute payloads are 4-byte aligned only: copied */
		memcpy(&t, (const char *)mnl_attr_get_payload(a) + i * sizeof(t), sizeof(t));
		if (t.mode != XFRM_MODE_TUNNEL)
			continue;
		fam = t.family ? t.family : pi->sel.family;
		if (!to_host(&t.id.daddr, fam, &p->peer) || !to_host(&t.saddr, fam, &p->local))
			return false;
		p->tunnel = true;
		p->proto = t.id.proto;
		p->reqid = t.reqid;
		break; /* the outermost tunnel: where the packets go */
	}
	return true;
}

static bool decode_sa(const struct xfrm_usersa_info *si, struct xfrm_sa *s)
{
	memset(s, 0, sizeof(*s));
	s->spi = si->id.spi;
	s->proto = si->id.proto;
	s->mode = si->mode;
	s->reqid = si->reqid;
	return to_host(&si->id.daddr, si->family, &s->daddr) &&
	       to_host(&si->saddr, si->family, &s->saddr);
}

/* One message: true when it was understood or is of no interest. */
static bool decode_one(const struct nlmsghdr *nlh, void (*fn)(const struct xfrm_ev *, void *),
		       void *arg)
{
	struct xfrm_ev ev;
	struct xfrm_userpolicy_info pi;
	struct xfrm_userpolicy_id pid;
	struct xfrm_user_polexpire pe;
	struct xfrm_usersa_info si;
	struct xfrm_usersa_id sid;
	struct xfrm_user_expire se;
	struct xfrm_usersa_flush sf;
	struct nlmsgerr e;
	const struct nlattr *a;

	memset(&ev, 0, sizeof(ev));
	switch (nlh->nlmsg_type) {
	case NLMSG_DONE:
		ev.kind = XFRM_EV_DONE;
		break;
	case NLMSG_ERROR:
		if (!payload(nlh, &e, sizeof(e)))
			return false;
		if (!e.error)
			return true; /* an ACK */
		ev.kind = XFRM_EV_ERROR;
		ev.err = e.error < 0 ? e.error : -e.error;
		break;
	case XFRM_MSG_NEWPOLICY:
	case XFRM_MSG_UPDPOLICY:
		if (!payload(nlh, &pi, sizeof(pi)) || !decode_pol(nlh, &pi, sizeof(pi), &ev.pol))
			return false;
		ev.kind = XFRM_EV_POL_ADD;
		break;
	case XFRM_MSG_DELPOLICY:
		if (!payload(nlh, &pid, sizeof(pid)))
			return false;
		if (!type_main(nlh, sizeof(pid)))
			return true;
		ev.kind = XFRM_EV_POL_DEL;
		ev.pol.dir = pid.dir;
		/* deleted by selector, the kernel names it by selector (index 0);
		 * the whole policy follows in XFRMA_POLICY */
		if ((a = attr_get(nlh, sizeof(pid), XFRMA_POLICY)) &&
		    mnl_attr_get_payload_len(a) >= sizeof(pi)) {
			memcpy(&pi, mnl_attr_get_payload(a), sizeof(pi));
			ev.pol.index = pi.index;
			ev.pol.dir = pi.dir;
		} else if (!(ev.pol.index = pid.index)) {
			if (!sel_pfx(&pid.sel, &ev.pol.src, &ev.pol.dst))
				return false;
			/* route-based policies share selectors: the if_id and
			 * mark tell them apart */
			route_ids(nlh, sizeof(pid), &ev.pol.if_id, &ev.pol.mark_v, &ev.pol.mark_m);
			ev.pol.by_sel = true;
		}
		break;
	case XFRM_MSG_POLEXPIRE:
		if (!payload(nlh, &pe, sizeof(pe)))
			return false;
		if (!pe.hard || !type_main(nlh, sizeof(pe)))
			return true; /* soft: the policy stays */
		ev.kind = XFRM_EV_POL_DEL;
		ev.pol.index = pe.pol.index;
		ev.pol.dir = pe.pol.dir;
		break;
	case XFRM_MSG_FLUSHPOLICY:
		if (!type_main(nlh, 0))
			return true;
		ev.kind = XFRM_EV_POL_FLUSH;
		break;
	case XFRM_MSG_NEWSA:
	case XFRM_MSG_UPDSA:
		if (!payload(nlh, &si, sizeof(si)) || !decode_sa(&si, &ev.sa))
			return false;
		route_ids(nlh, sizeof(si), &ev.sa.if_id, &ev.sa.mark_v, &ev.sa.mark_m);
		if ((a = attr_get(nlh, sizeof(si), XFRMA_ENCAP)) &&
		    mnl_attr_get_payload_len(a) >= sizeof(struct xfrm_encap_tmpl)) {
			struct xfrm_encap_tmpl et;

			memcpy(&et, mnl_attr_get_payload(a), sizeof(et));
			ev.sa.encap_sport = ntohs(et.encap_sport);
			ev.sa.encap_dport = ntohs(et.encap_dport);
		}
		ev.kind = XFRM_EV_SA_ADD;
		break;
	case XFRM_MSG_DELSA:
		if (!payload(nlh, &sid, sizeof(sid)) ||
		    !to_host(&sid.daddr, sid.family, &ev.sa.daddr))
			return false;
		ev.kind = XFRM_EV_SA_DEL;
		ev.sa.spi = sid.spi;
		ev.sa.proto = sid.proto;
		break;
	case XFRM_MSG_EXPIRE:
		if (!payload(nlh, &se, sizeof(se)))
			return false;
		if (!se.hard)
			return true; /* soft: a rekey is due, the SA stays */
		if (!decode_sa(&se.state, &ev.sa))
			return false;
		ev.kind = XFRM_EV_SA_DEL;
		break;
	case XFRM_MSG_FLUSHSA:
		if (!payload(nlh, &sf, sizeof(sf)))
			return false;
		ev.kind = XFRM_EV_SA_FLUSH;
		ev.sa.proto = sf.proto == IPSEC_PROTO_ANY ? 0 : sf.proto;
		break;
	default:
		return true; /* ACQUIRE, AEVENT, MAPPING...: nothing for tunnels */
	}
	fn(&ev, arg);
	return true;
}

unsigned xfrm_decode(const void *buf, size_t len, void (*fn)(const struct xfrm_ev *ev, void *arg),
		     void *arg)
{
	unsigned bad = 0;

	/* as watch_decode: no mnl_nlmsg_ok/next, which trust nlmsg_len too far */
	for (size_t off = 0; len - off >= sizeof(struct nlmsghdr);) {
		const struct nlmsghdr *nlh = (const void *)((const char *)buf + off);

		if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len - off)
			return bad + 1;
		off += NLMSG_ALIGN(nlh->nlmsg_len) < len - off ? NLMSG_ALIGN(nlh->nlmsg_len)
							       : len - off;
		if (!decode_one(nlh, fn, arg))
			bad++;
	}
	return bad;
}

/* --- the table --- */

/* Only what makes tunnels is kept: outbound tunnel-mode policies that
 * allow, of the main type; tunnel-mode SAs. */
static bool pol_kept(const struct xfrm_pol *p)
{
	return p->tunnel && p->allow && p->main && p->dir == XFRM_POLICY_OUT;
}

/* By index and direction, or (by_sel) by selector and direction. */
static void pol_remove(struct xfrm_tab *t, const struct xfrm_pol *p)
{
	for (size_t i = 0; i < t->npol; i++)
		if (t->pol[i].dir == p->dir &&
		    (p->by_sel ? pfx_equal(&t->pol[i].src, &p->src) &&
					 pfx_equal(&t->pol[i].dst, &p->dst) &&
					 t->pol[i].if_id == p->if_id &&
					 t->pol[i].mark_v == p->mark_v &&
					 t->pol[i].mark_m == p->mark_m
			       : t->pol[i].index == p->index)) {
			t->pol[i] = t->pol[--t->npol];
			return;
		}
}

static bool sa_same(const struct xfrm_sa *a, const struct xfrm_sa *b)
{
	return a->spi == b->spi && a->proto == b->proto && pfx_equal(&a->daddr, &b->daddr);
}

static void sa_remove(struct xfrm_tab *t, const struct xfrm_sa *s)
{
	for (size_t i = 0; i < t->nsa; i++)
		if (sa_same(&t->sa[i], s)) {
			t->sa[i] = t->sa[--t->nsa];
			return;
		}
}

static int grow(void **v, size_t n, size_t *cap, size_t size)
{
	void *w;

	if (n < *cap)
		return 0;
	if (!(w = realloc(*v, (*cap ? *cap * 2 : 16) * size)))
		return -ENOMEM;
	*v = w;
	*cap = *cap ? *cap * 2 : 16;
	return 0;
}

int xfrm_tab_apply(struct xfrm_tab *t, const struct xfrm_ev *ev)
{
	switch (ev->kind) {
	case XFRM_EV_POL_ADD:
		pol_remove(t, &ev->pol);
		if (!pol_kept(&ev->pol))
			return 0;
		if (grow((void **)&t->pol, t->npol, &t->cappol, sizeof(*t->pol)) < 0)
			return -ENOMEM;
		t->pol[t->npol++] = ev->pol;
		return 0;
	case XFRM_EV_POL_DEL:
		pol_remove(t, &ev->pol);
		return 0;
	case XFRM_EV_POL_FLUSH:
		t->npol = 0;
		return 0;
	case XFRM_EV_SA_ADD:
		sa_remove(t, &ev->sa);
		if (ev->sa.mode != XFRM_MODE_TUNNEL)
			return 0;
		if (grow((void **)&t->sa, t->nsa, &t->capsa, sizeof(*t->sa)) < 0)
			return -ENOMEM;
		t->sa[t->nsa++] = ev->sa;
		return 0;
	case XFRM_EV_SA_DEL:
		sa_remove(t, &ev->sa);
		return 0;
	case XFRM_EV_SA_FLUSH:
		for (size_t i = 0; i < t->nsa;)
			if (!ev->sa.proto || t->sa[i].proto == ev->sa.proto)
				t->sa[i] = t->sa[--t->nsa];
			else
				i++;
		return 0;
	default:
		return 0;
	}
}

void xfrm_tab_clear(struct xfrm_tab *t)
{
	t->npol = t->nsa = 0;
}

void xfrm_tab_free(struct xfrm_tab *t)
{
	free(t->pol);
	free(t->sa);
	memset(t, 0, sizeof(*t));
}

/* SAs by destination, then protocol, then reqid. */
static int sa_cmp(const void *x, const void *y)
{
	const struct xfrm_sa *a = x, *b = y;
	int r = pfx_cmp(&a->daddr, &b->daddr);

	if (r)
		return r;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	return (a->reqid > b->reqid) - (a->reqid < b->reqid);
}

/* Whether SA s may serve policy p's route-based tunnel: the same if_id
 * (the kernel looks an XFRM interface's SAs up by it), and the same mark
 * when the SA carries one (strongSwan and libreswan mark a VTI's SAs as its
 * policies; an SA without a mark matches any). */
static bool same_route(const struct xfrm_sa *s, const struct xfrm_pol *p)
{
	return s->if_id == p->if_id &&
	       (!s->mark_m || (s->mark_v == p->mark_v && s->mark_m == p->mark_m));
}

/* The SA of sorted v that serves policy p (NULL: none): to its peer, of its
 * protocol, of its reqid when it names one, and of its route (same_route). */
static const struct xfrm_sa *served(const struct xfrm_sa *v, size_t n, const struct xfrm_pol *p)
{
	struct xfrm_sa key = { .daddr = p->peer, .proto = p->proto, .reqid = p->reqid };
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sa_cmp(&v[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && pfx_equal(&v[lo].daddr, &p->peer) && v[lo].proto == p->proto &&
	       (!p->reqid || v[lo].reqid == p->reqid);
	     lo++)
		if (same_route(&v[lo], p))
			return &v[lo];
	return NULL;
}

int xfrm_tunnel_cmp(const void *x, const void *y)
{
	const struct xfrm_tunnel *a = x, *b = y;
	int r = pfx_cmp(&a->peer, &b->peer);

	return r ? r : pfx_cmp(&a->net, &b->net);
}

int xfrm_tunnels(const struct xfrm_tab *t, struct xfrm_tunnel **out, size_t *n)
{
	struct xfrm_sa *sa = malloc((t->nsa + 1) * sizeof(*sa));
	struct xfrm_tunnel *v = malloc((t->npol + 1) * sizeof(*v));
	size_t w = 0;

	*out = NULL;
	*n = 0;
	if (!sa || !v) {
		free(sa);
		free(v);
		return -ENOMEM;
	}
	if (t->nsa) {
		memcpy(sa, t->sa, t->nsa * sizeof(*sa));
		qsort(sa, t->nsa, sizeof(*sa), sa_cmp);
	}
	for (size_t i = 0; i < t->npol; i++) {
		const struct xfrm_pol *p = &t->pol[i];
		const struct xfrm_sa *s = served(sa, t->nsa, p);

		v[i].peer = p->peer;
		v[i].net = p->dst;
		v[i].local_net = p->src;
		v[i].sa = s != NULL;
		v[i].port = s ? s->encap_dport : 0;
		v[i].port_named = false;
		v[i].if_id = p->if_id;
		v[i].mark_v = p->mark_v;
		v[i].mark_m = p->mark_m;
		v[i].dev[0] = '\0';
		v[i].wide = false;
	}
	free(sa);
	if (t->npol)
		qsort(v, t->npol, sizeof(*v), xfrm_tunnel_cmp);
	/* one per (peer, net): served when one of its policies is (then
	 * with that one's route) */
	for (size_t i = 0; i < t->npol; i++) {
		if (w && xfrm_tunnel_cmp(&v[w - 1], &v[i]) == 0) {
			if (!v[w - 1].sa && v[i].sa)
				v[w - 1] = v[i];
			continue;
		}
		v[w++] = v[i];
	}
	*out = v;
	*n = w;
	return 0;
}

/* --- the interfaces of route-based tunnels --- */

static void link_forget(struct xfrm_links *l, unsigned index)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].index == index) {
			memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
			l->n--;
			return;
		}
}

/* Kept sorted by index. 0, or -ENOMEM. */
static int link_put(struct xfrm_links *l, const struct xfrm_link *k)
{
	size_t i = 0;

	link_forget(l, k->index);
	if (grow((void **)&l->v, l->n, &l->cap, sizeof(*l->v)) < 0)
		return -ENOMEM;
	while (i < l->n && l->v[i].index < k->index)
		i++;
	memmove(&l->v[i + 1], &l->v[i], (l->n - i) * sizeof(*l->v));
	l->v[i] = *k;
	l->n++;
	return 0;
}

static bool u32_attr(const struct nlattr *a, uint32_t *v)
{
	if (mnl_attr_get_payload_len(a) < sizeof(*v))
		return false;
	memcpy(v, mnl_attr_get_payload(a), sizeof(*v));
	return true;
}

/* IFLA_INFO_DATA of kind vti/vti6 (keys) or xfrm (if_id) into k; false when
 * malformed. */
static bool link_data(const struct nlattr *data, struct xfrm_link *k)
{
	const struct nlattr *a;
	uint32_t v;

	mnl_attr_for_each_nested(a, data)
	{
		uint16_t type = mnl_attr_get_type(a);

		if (k->vti && (type == IFLA_VTI_IKEY || type == IFLA_VTI_OKEY)) {
			if (!u32_attr(a, &v))
				return false;
			if (type == IFLA_VTI_IKEY)
				k->ikey = ntohl(v); /* the kernel keeps them in network order */
			else
				k->okey = ntohl(v);
		} else if (!k->vti && type == IFLA_XFRM_IF_ID) {
			if (!u32_attr(a, &k->if_id))
				return false;
		}
	}
	return true;
}

/* One RTM_NEWLINK: true, with *is set, when it is an XFRM interface or a
 * VTI (filled into k); false when malformed. */
static bool link_decode(const struct nlmsghdr *nlh, struct xfrm_link *k, bool *is)
{
	const struct nlattr *a, *info = NULL, *name = NULL;
	const struct nlattr *data = NULL, *kind = NULL;
	struct ifinfomsg ifi;

	memset(k, 0, sizeof(*k));
	*is = false;
	if (!payload(nlh, &ifi, sizeof(ifi)) || ifi.ifi_index <= 0)
		return false;
	k->index = (unsigned)ifi.ifi_index;
	if (!(info = attr_get(nlh, sizeof(ifi), IFLA_LINKINFO)))
		return true; /* no kind: not ours to know */
	name = attr_get(nlh, sizeof(ifi), IFLA_IFNAME);
	mnl_attr_for_each_nested(a, info)
	{
		if (mnl_attr_get_type(a) == IFLA_INFO_KIND)
			kind = a;
		else if (mnl_attr_get_type(a) == IFLA_INFO_DATA)
			data = a;
	}
	if (!kind)
		return true;
	if (mnl_attr_get_payload_len(kind) == 4 && !memcmp(mnl_attr_get_payload(kind), "vti", 4))
		k->vti = true;
	else if (mnl_attr_get_payload_len(kind) == 5 &&
		 !memcmp(mnl_attr_get_payload(kind), "vti6", 5))
		k->vti = true;
	else if (mnl_attr_get_payload_len(kind) != 5 ||
		 memcmp(mnl_attr_get_payload(kind), "xfrm", 5))
		return true; /* another kind */
	if (!name || mnl_attr_get_payload_len(name) < 2 ||
	    mnl_attr_get_payload_len(name) > sizeof(k->name) ||
	    ((const char *)mnl_attr_get_payload(name))[mnl_attr_get_payload_len(name) - 1])
		return false; /* a name NUL-terminated, IF_NAMESIZE at most */
	memcpy(k->name, mnl_attr_get_payload(name), mnl_attr_get_payload_len(name));
	if (data && !link_data(data, k))
		return false;
	*is = true;
	return true;
}

unsigned xfrm_link_decode(struct xfrm_links *l, const void *buf, size_t len, bool *done, int *err)
{
	unsigned bad = 0;

	for (size_t off = 0; len - off >= sizeof(struct nlmsghdr);) {
		const struct nlmsghdr *nlh = (const void *)((const char *)buf + off);
		struct xfrm_link k;
		struct ifinfomsg ifi;
		struct nlmsgerr e;
		bool is;

		if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len - off)
			return bad + 1;
		off += NLMSG_ALIGN(nlh->nlmsg_len) < len - off ? NLMSG_ALIGN(nlh->nlmsg_len)
							       : len - off;
		switch (nlh->nlmsg_type) {
		case NLMSG_DONE:
			*done = true;
			break;
		case NLMSG_ERROR:
			if (!payload(nlh, &e, sizeof(e)))
				bad++;
			else if (e.error)
				*err = e.error < 0 ? e.error : -e.error;
			break;
		case RTM_NEWLINK:
			if (!link_decode(nlh, &k, &is))
				bad++;
			else if (!is)
				link_forget(l, k.index); /* its kind may have changed: never */
			else if (link_put(l, &k) < 0)
				*err = -ENOMEM;
			break;
		case RTM_DELLINK:
			if (!payload(nlh, &ifi, sizeof(ifi)))
				bad++;
			else
				link_forget(l, (unsigned)ifi.ifi_index);
			break;
		default:
			break;
		}
	}
	return bad;
}

const struct xfrm_link *xfrm_link_find(const struct xfrm_links *l, uint32_t if_id, uint32_t mark_v,
				       uint32_t mark_m)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct xfrm_link *k = &l->v[i];

		/* the kernel: an XFRM interface's packets take the policies of
		 * its if_id; a VTI marks its packets with okey, and a policy
		 * takes those whose mark & m is v */
		if (if_id ? !k->vti && k->if_id == if_id
			  : mark_m && k->vti && (k->okey & mark_m) == mark_v)
			return k;
	}
	return NULL;
}

void xfrm_link_name(const struct xfrm_links *l, struct xfrm_tunnel *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct xfrm_link *k = xfrm_link_find(l, t[i].if_id, t[i].mark_v, t[i].mark_m);

		if (k)
			memcpy(t[i].dev, k->name, sizeof(t[i].dev));
	}
}

bool xfrm_links_equal(const struct xfrm_links *a, const struct xfrm_links *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].index != b->v[i].index || a->v[i].vti != b->v[i].vti ||
		    a->v[i].if_id != b->v[i].if_id || a->v[i].ikey != b->v[i].ikey ||
		    a->v[i].okey != b->v[i].okey || strcmp(a->v[i].name, b->v[i].name))
			return false;
	return true;
}

int xfrm_links_copy(struct xfrm_links *dst, const struct xfrm_links *src)
{
	struct xfrm_link *v = NULL;

	if (src->n && !(v = malloc(src->n * sizeof(*v))))
		return -ENOMEM;
	if (src->n)
		memcpy(v, src->v, src->n * sizeof(*v));
	free(dst->v);
	dst->v = v;
	dst->n = dst->cap = src->n;
	return 0;
}

void xfrm_links_free(struct xfrm_links *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}
