/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IPsec tunnels learned from the kernel's XFRM tables (NETLINK_XFRM): a dump
 * of the policies and SAs at start, then the policy, SA and expire
 * multicast groups. Whichever IKE daemon installed them (libreswan,
 * strongSwan, Openswan), a tunnel-mode outbound policy whose template leads
 * to peer P, for the destination network N, together with a live tunnel-mode
 * SA to P, is the fact "P announces N". The agent never changes the XFRM
 * tables: it only reads them. See vpcroute-agent(8), IPSEC.
 */
#ifndef VR_XFRM_H
#define VR_XFRM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pfx.h"

/* --- the decoder (pure: no sockets, no agent; fuzzed on its own) --- */

/* A policy as far as tunnels go. */
struct xfrm_pol {
	uint32_t index;
	uint8_t dir;		/* XFRM_POLICY_IN, _OUT, _FWD */
	bool allow;		/* action ALLOW (not BLOCK) */
	bool main;		/* type main (not sub) */
	struct pfx src, dst;	/* the selector's prefixes */
	bool tunnel;		/* a template in tunnel mode: the rest is its */
	struct pfx local, peer; /* its tunnel ends (host prefixes) */
	uint8_t proto;		/* IPPROTO_ESP, _AH, _COMP */
	uint32_t reqid;
	/* route-based tunnels: an XFRM interface's if_id (XFRMA_IF_ID), or a
	 * VTI's mark (XFRMA_MARK); 0 when none */
	uint32_t if_id;
	uint32_t mark_v, mark_m;
	bool by_sel; /* a deletion that names the policy by selector, not index */
};

/* An SA, as far as tunnels go. */
struct xfrm_sa {
	struct pfx daddr, saddr; /* host prefixes */
	uint32_t spi;		 /* network order, as the kernel keys it */
	uint8_t proto;
	uint8_t mode; /* XFRM_MODE_* */
	uint32_t reqid;
	uint32_t if_id;		 /* XFRMA_IF_ID, 0: none */
	uint32_t mark_v, mark_m; /* XFRMA_MARK, 0/0: none */
	/* NAT traversal (XFRMA_ENCAP, ESP in UDP): the UDP ports, host order;
	 * 0/0: none. An outbound SA's dport is the peer's port as seen from
	 * here, which tells apart two peers behind one NAT address. */
	uint16_t encap_sport, encap_dport;
};

enum xfrm_ev_kind {
	XFRM_EV_POL_ADD,   /* new or updated: pol */
	XFRM_EV_POL_DEL,   /* deleted or hard-expired: pol.index (or by_sel: pol.src,
			    * pol.dst), pol.dir */
	XFRM_EV_POL_FLUSH, /* every main policy gone */
	XFRM_EV_SA_ADD,	   /* new or updated: sa */
	XFRM_EV_SA_DEL,	   /* deleted or hard-expired: sa.daddr, spi, proto */
	XFRM_EV_SA_FLUSH,  /* every SA of sa.proto gone (0: of any) */
	XFRM_EV_DONE,	   /* the end of a dump */
	XFRM_EV_ERROR,	   /* the kernel's error reply: err */
};

struct xfrm_ev {
	enum xfrm_ev_kind kind;
	int err; /* XFRM_EV_ERROR: -errno */
	struct xfrm_pol pol;
	struct xfrm_sa sa;
};

/*
 * Calls fn for each message of buf (one datagram) it understands; returns
 * the number of malformed messages skipped (a length, a family or a prefix
 * length out of range). Never trusts a length.
 */
unsigned xfrm_decode(const void *buf, size_t len, void (*fn)(const struct xfrm_ev *ev, void *arg),
		     void *arg);

/* --- the table: what the kernel holds, and the facts it makes (pure) --- */

struct xfrm_tab {
	struct xfrm_pol *pol;
	size_t npol, cappol;
	struct xfrm_sa *sa;
	size_t nsa, capsa;
};

/* A tunnel: an outbound tunnel-mode policy for net through peer. */
struct xfrm_tunnel {
	struct pfx peer, net, local_net;
	bool sa; /* a live SA to peer serves it: the fact "peer announces net" */
	/* route-based: the policy's if_id or mark (0: policy-based), and the
	 * interface they lead to (ipsec.c fills it from xfrm_link_dev) */
	uint32_t if_id, mark_v, mark_m;
	char dev[16]; /* IF_NAMESIZE; "" when policy-based or the device is missing */
	/* the peer's UDP port of the SA that serves it (NAT traversal: its
	 * encap_dport); 0: no SA, no NAT traversal */
	uint16_t port;
	bool port_named; /* ipsec.c: the peer is named with its port (several
			  * IKE peers behind the address) */
	bool wide;	 /* net is a network of the peer's allow list inside a wider
			  * selector (ipsec_route.c) */
};

void xfrm_tab_free(struct xfrm_tab *t);
/* Applies one event: 0, or -ENOMEM (the table may then miss that entry). */
int xfrm_tab_apply(struct xfrm_tab *t, const struct xfrm_ev *ev);
/* Forgets everything (a new dump follows). */
void xfrm_tab_clear(struct xfrm_tab *t);
/*
 * The tunnels, sorted by peer then network, one per (peer, net): whether
 * each has a live SA (and its NAT traversal port). *out is the caller's to
 * free. O((p + s) log s).
 * 0, or -ENOMEM.
 */
int xfrm_tunnels(const struct xfrm_tab *t, struct xfrm_tunnel **out, size_t *n);
/* Their order: by peer, then network (for qsort and bsearch). */
int xfrm_tunnel_cmp(const void *x, const void *y);

/* --- the interfaces of route-based tunnels (pure, in xfrm_decode.c) --- */

/* An XFRM interface (ip link add ... type xfrm if_id N) or a VTI (type vti
 * or vti6, ikey/okey K), as RTM_NEWLINK describes it. */
struct xfrm_link {
	unsigned index;
	char name[16]; /* IF_NAMESIZE */
	bool vti;      /* a VTI (keys), else an XFRM interface (if_id) */
	uint32_t if_id;
	uint32_t ikey, okey; /* host order (the kernel's marks) */
};

struct xfrm_links {
	struct xfrm_link *v; /* sorted by index */
	size_t n, cap;
};

/*
 * Applies the link messages of buf (one datagram of a dump or of
 * RTM_NEWLINK/DELLINK notifications) to l: an XFRM interface or a VTI is
 * added or replaced, any other link (or one deleted) forgotten. *done is set
 * at the end of a dump, *err at the kernel's error. Returns the number of
 * malformed messages skipped; -ENOMEM as -1 in *err.
 */
unsigned xfrm_link_decode(struct xfrm_links *l, const void *buf, size_t len, bool *done, int *err);
/* The device a route-based tunnel's packets go through: the XFRM interface
 * of if_id, else the VTI whose okey the mark matches; NULL when none. */
const struct xfrm_link *xfrm_link_find(const struct xfrm_links *l, uint32_t if_id, uint32_t mark_v,
				       uint32_t mark_m);
/* Names each route-based tunnel of t[0..n) its interface (dev) from l. */
void xfrm_link_name(const struct xfrm_links *l, struct xfrm_tunnel *t, size_t n);
bool xfrm_links_equal(const struct xfrm_links *a, const struct xfrm_links *b);
/* dst (freed first, unless out of memory) a copy of src: 0, or -ENOMEM. */
int xfrm_links_copy(struct xfrm_links *dst, const struct xfrm_links *src);
void xfrm_links_free(struct xfrm_links *l);

/* --- the socket (xfrm.c) --- */

struct agent;
struct xfrm;

/* Opens the socket, joins the groups and reads the dump; NULL with err
 * filled when the kernel has no XFRM (then the agent runs without IPsec). */
struct xfrm *xfrm_open(char *err, size_t errlen);
void xfrm_close(struct xfrm *x);
int xfrm_fd(const struct xfrm *x);
/* Reads what is queued; true when the tunnels changed (a lost
 * notification starts a new dump). */
bool xfrm_read(struct xfrm *x);
/* The tunnels as the table holds them now (see xfrm_tunnels), each
 * route-based one with its interface's name (dev). */
int xfrm_current(const struct xfrm *x, struct xfrm_tunnel **out, size_t *n);
/* Reads the XFRM interfaces and VTIs again (an RTM_GETLINK dump, at open),
 * into the interface cache too (ifc_links_set): true when they changed. */
bool xfrm_links_read(struct xfrm *x);
/* Takes the XFRM interfaces and VTIs from the interface cache (kept from
 * the link notifications; a dump only when it is stale): true when they
 * changed. */
bool xfrm_links_sync(struct xfrm *x);
/* The interfaces as last read. */
const struct xfrm_links *xfrm_links(const struct xfrm *x);

#endif
