// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The XFRM socket (xfrm.h): subscribed to the policy, SA and expire groups
 * first, then the policies and SAs dumped, so that no change falls in
 * between; messages not from the kernel are dropped. A lost notification
 * (ENOBUFS) starts the dump again. Read only: the agent sends nothing but
 * dump requests. The kernel sends each SA with its keys: only addresses,
 * SPI, protocol, mode and reqid are kept, and the buffer is cleared after
 * each datagram.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/xfrm.h>

#include "ifcache.h"
#include "log.h"
#include "metrics.h"
#include "xfrm.h"

#define RCVBUF (4 << 20)

struct xfrm {
	struct mnl_socket *mc;	 /* the groups */
	struct mnl_socket *dump; /* the dumps, blocking */
	struct xfrm_tab tab;
	struct xfrm_links links; /* XFRM interfaces and VTIs (route-based tunnels) */
	unsigned seq;
	_Alignas(struct nlmsghdr) char buf[1 << 16];
};

struct dump_ctx {
	struct xfrm_tab *tab;
	bool done;
	int err;
};

static void on_dump(const struct xfrm_ev *ev, void *arg)
{
	struct dump_ctx *d = arg;

	if (ev->kind == XFRM_EV_DONE)
		d->done = true;
	else if (ev->kind == XFRM_EV_ERROR)
		d->err = ev->err;
	else if (xfrm_tab_apply(d->tab, ev) < 0)
		d->err = -ENOMEM;
}

/* One dump (policies or SAs) into t. 0 or -errno. */
static int dump_one(struct xfrm *x, uint16_t type, struct xfrm_tab *t)
{
	_Alignas(struct nlmsghdr) char req[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	struct dump_ctx d = { .tab = t };
	struct sockaddr_nl from;
	socklen_t fromlen;
	unsigned bad = 0;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++x->seq;
	if (mnl_socket_sendto(x->dump, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while (!d.done && !d.err) {
		ssize_t got;

		fromlen = sizeof(from);
		got = recvfrom(mnl_socket_get_fd(x->dump), x->buf, sizeof(x->buf), 0,
			       (struct sockaddr *)&from, &fromlen);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EIO;
		if (from.nl_pid != 0)
			continue; /* not the kernel */
		bad += xfrm_decode(x->buf, (size_t)got, on_dump, &d);
		explicit_bzero(x->buf, (size_t)got); /* an SA's keys come with it */
	}
	if (bad)
		log_warnx("xfrm: %u malformed messages in the kernel's answer skipped", bad);
	return d.err;
}

/* The whole table again: policies, then SAs. */
static int dump_all(struct xfrm *x)
{
	int r;

	xfrm_tab_clear(&x->tab);
	if ((r = dump_one(x, XFRM_MSG_GETPOLICY, &x->tab)) < 0)
		return r;
	return dump_one(x, XFRM_MSG_GETSA, &x->tab);
}

struct xfrm *xfrm_open(char *err, size_t errlen)
{
	static const unsigned groups[] = { XFRMNLGRP_POLICY, XFRMNLGRP_SA, XFRMNLGRP_EXPIRE };
	struct xfrm *x = calloc(1, sizeof(*x));
	int big = RCVBUF, r;

	if (!x) {
		snprintf(err, errlen, "xfrm: out of memory");
		return NULL;
	}
	x->mc = mnl_socket_open2(NETLINK_XFRM, SOCK_CLOEXEC | SOCK_NONBLOCK);
	x->dump = mnl_socket_open2(NETLINK_XFRM, SOCK_CLOEXEC);
	if (!x->mc || !x->dump || mnl_socket_bind(x->mc, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_bind(x->dump, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (mnl_socket_setsockopt(x->mc, NETLINK_ADD_MEMBERSHIP, (void *)&groups[i],
					  sizeof(groups[i])) < 0)
			goto fail;
	/* root may pass rmem_max: a burst (a flush of many SAs) must not be lost */
	if (setsockopt(mnl_socket_get_fd(x->mc), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(mnl_socket_get_fd(x->mc), SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if ((r = dump_all(x)) < 0) {
		snprintf(err, errlen, "xfrm: reading the kernel's IPsec tables: %s", strerror(-r));
		xfrm_close(x);
		return NULL;
	}
	xfrm_links_read(x);
	return x;
fail:
	snprintf(err, errlen, "xfrm: the kernel's IPsec tables (NETLINK_XFRM): %s",
		 strerror(errno));
	xfrm_close(x);
	return NULL;
}

void xfrm_close(struct xfrm *x)
{
	if (!x)
		return;
	if (x->mc)
		mnl_socket_close(x->mc);
	if (x->dump)
		mnl_socket_close(x->dump);
	xfrm_tab_free(&x->tab);
	xfrm_links_free(&x->links);
	free(x);
}

int xfrm_fd(const struct xfrm *x)
{
	return mnl_socket_get_fd(x->mc);
}

struct note_ctx {
	struct xfrm_tab *tab;
	bool changed, oom;
};

static void on_note(const struct xfrm_ev *ev, void *arg)
{
	struct note_ctx *n = arg;

	if (ev->kind == XFRM_EV_DONE || ev->kind == XFRM_EV_ERROR)
		return;
	if (xfrm_tab_apply(n->tab, ev) < 0)
		n->oom = true;
	n->changed = true;
}

bool xfrm_read(struct xfrm *x)
{
	struct note_ctx n = { .tab = &x->tab };
	bool lost = false;
	unsigned bad = 0;

	for (;;) {
		struct sockaddr_nl from;
		socklen_t fromlen = sizeof(from);
		ssize_t got = recvfrom(mnl_socket_get_fd(x->mc), x->buf, sizeof(x->buf),
				       MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);

		if (got < 0 && errno == ENOBUFS) {
			lost = true;
			continue;
		}
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		if (from.nl_pid != 0) { /* root may send to the groups: only the kernel counts */
			log_debug("xfrm: a message from netlink port %u, not the kernel, ignored",
				  from.nl_pid);
			continue;
		}
		bad += xfrm_decode(x->buf, (size_t)got, on_note, &n);
		explicit_bzero(x->buf, (size_t)got); /* an SA's keys come with it */
	}
	if (bad)
		log_warnx("xfrm: %u malformed notifications skipped", bad);
	if (lost || n.oom) {
		int r;

		log_warnx("xfrm: %s; reading the IPsec tables again",
			  lost ? "notifications lost" : "out of memory");
		if ((r = dump_all(x)) < 0)
			log_warnx("xfrm: reading the kernel's IPsec tables: %s; the tunnels are "
				  "read again at the next notification",
				  strerror(-r));
		return true;
	}
	return n.changed;
}

int xfrm_current(const struct xfrm *x, struct xfrm_tunnel **out, size_t *n)
{
	int r = xfrm_tunnels(&x->tab, out, n);

	if (r == 0)
		xfrm_link_name(&x->links, *out, *n);
	return r;
}

/* Every link, keeping the XFRM interfaces and VTIs: an RTM_GETLINK dump on
 * a socket of its own (rare: at start, and when the interface cache's
 * table went stale). 0 or -errno. */
static int links_dump(struct xfrm *x, struct xfrm_links *l)
{
	_Alignas(struct nlmsghdr) char req[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	struct rtgenmsg *g;
	bool done = false;
	int err = 0;
	unsigned bad = 0;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	metrics_inc(VM_LINK_DUMPS);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++x->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->rtgen_family = AF_UNSPEC;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	while (!done && !err) {
		struct sockaddr_nl from;
		socklen_t fromlen = sizeof(from);
		ssize_t got = recvfrom(mnl_socket_get_fd(nl), x->buf, sizeof(x->buf), 0,
				       (struct sockaddr *)&from, &fromlen);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			err = got < 0 ? -errno : -EIO;
			break;
		}
		if (from.nl_pid != 0)
			continue;
		bad += xfrm_link_decode(l, x->buf, (size_t)got, &done, &err);
	}
	if (bad)
		log_warnx("xfrm: %u malformed link messages in the kernel's answer skipped", bad);
out:
	if (nl)
		mnl_socket_close(nl);
	return err;
}

static void log_links(const struct xfrm_links *l)
{
	for (size_t i = 0; i < l->n; i++)
		log_debug("xfrm: %s (index %u): %s %u", l->v[i].name, l->v[i].index,
			  l->v[i].vti ? "VTI okey" : "XFRM interface if_id",
			  l->v[i].vti ? l->v[i].okey : l->v[i].if_id);
}

bool xfrm_links_read(struct xfrm *x)
{
	struct xfrm_links l = { 0 };
	bool changed;
	int r = links_dump(x, &l);

	if (r < 0) {
		log_warnx("xfrm: reading the XFRM interfaces and VTIs: %s; route-based tunnels "
			  "are read again at the next link change",
			  strerror(-r));
		xfrm_links_free(&l);
		return false;
	}
	changed = !xfrm_links_equal(&l, &x->links);
	if (changed)
		log_links(&l);
	xfrm_links_free(&x->links);
	x->links = l;
	if (ifc_links_set(&l) < 0)
		log_warnx("xfrm: out of memory; the XFRM interfaces and VTIs are read again at "
			  "the next link change");
	return changed;
}

bool xfrm_links_sync(struct xfrm *x)
{
	const struct xfrm_links *c = ifc_links();

	if (ifc_links_stale())
		return xfrm_links_read(x);
	if (xfrm_links_equal(c, &x->links))
		return false;
	if (xfrm_links_copy(&x->links, c) < 0) {
		ifc_links_lost(); /* the next change dumps */
		return false;
	}
	log_links(&x->links);
	return true;
}

const struct xfrm_links *xfrm_links(const struct xfrm *x)
{
	return &x->links;
}
