// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "ifcache.h"
#include "log.h"
#include "nl.h"
#include "rtnl.h"

struct rtnl {
	struct mnl_socket *nl;
	unsigned portid;
	unsigned seq;
	char buf[65536];
	char out[RTNL_BATCH_MAX * 64]; /* a batch's requests (56 bytes each at most) */
	struct rtnl_counts counts;     /* since rtnl_take_counts */
};

struct rtnl *rtnl_open(char *err, size_t errlen)
{
	struct rtnl *r = calloc(1, sizeof(*r));
	int one = 1, rcvbuf = 1 << 20;

	if (!r)
		return NULL;
	r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!r->nl || mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "rtnetlink socket: %s", strerror(errno));
		rtnl_close(r);
		return NULL;
	}
	/* extended ACKs carry the kernel's reason in words */
	mnl_socket_setsockopt(r->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(r->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	/* room for the answers of a whole batch (capped by net.core.rmem_max) */
	setsockopt(mnl_socket_get_fd(r->nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	r->portid = mnl_socket_get_portid(r->nl);
	r->seq = (unsigned)time(NULL);
	return r;
}

void rtnl_close(struct rtnl *r)
{
	if (!r)
		return;
	if (r->nl)
		mnl_socket_close(r->nl);
	free(r);
}

/* Sends one request and waits for its ACK; returns 0 or -errno (with msg). */
static int transact(struct rtnl *r, struct nlmsghdr *nlh, const char **msg)
{
	unsigned seq = nlh->nlmsg_seq;
	ssize_t got;
	int n;

	*msg = NULL;
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		got = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));
		if (got < 0)
			return -errno;
		n = (int)got;
		for (struct nlmsghdr *h = (struct nlmsghdr *)r->buf; mnl_nlmsg_ok(h, n);
		     h = mnl_nlmsg_next(h, &n)) {
			if (h->nlmsg_seq != seq)
				continue; /* a stale answer */
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);

				if (e->error)
					*msg = nl_ext_ack_msg(h);
				return e->error;
			}
		}
	}
}

/* A request about our route to dst: type RTN_UNICAST (via oif, scope link),
 * RTN_UNREACHABLE (no device), or RTN_UNSPEC for a deletion, which then
 * matches our route of any type and scope. */
static struct nlmsghdr *route_msg_at(struct rtnl *r, void *at, int type, unsigned flags,
				     const struct pfx *dst, int oif, unsigned char rtype)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	struct rtmsg *rtm;

	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
	nlh->nlmsg_seq = ++r->seq;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = dst->family;
	rtm->rtm_dst_len = dst->len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTNL_PROTO;
	rtm->rtm_scope = rtype == RTN_UNICAST  ? RT_SCOPE_LINK
			 : rtype == RTN_UNSPEC ? RT_SCOPE_NOWHERE
					       : RT_SCOPE_UNIVERSE;
	rtm->rtm_type = rtype;
	mnl_attr_put(nlh, RTA_DST, pfx_addrlen(dst), dst->addr);
	if (oif)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)oif);
	return nlh;
}

static struct nlmsghdr *route_msg(struct rtnl *r, int type, unsigned flags, const struct pfx *dst,
				  int oif, unsigned char rtype)
{
	return route_msg_at(r, r->buf, type, flags, dst, oif, rtype);
}

/* The main-table route to exactly dst, if there is one. */
static int find_route(struct rtnl *r, const struct pfx *dst, struct rtnl_route *out)
{
	struct rtnl_route *all;
	size_t n;
	int found = 0;

	if (rtnl_dump(r, &all, &n) < 0)
		return -errno;
	for (size_t i = 0; i < n; i++)
		if (pfx_equal(&all[i].dst, dst)) {
			*out = all[i];
			found = 1;
			break;
		}
	free(all);
	return found;
}

/* Our route to dst, added (e is the answer to a NEWROUTE with NLM_F_EXCL):
 * logged and counted; 0, -EEXIST (see route_exists) or e. */
static int route_added(struct rtnl *r, const struct pfx *dst, const char *what, int e)
{
	char s[PFX_STRLEN];

	if (e == 0) {
		log_debug("route %s %s added", pfx_format(dst, s, sizeof(s)), what);
		r->counts.added++;
	}
	return e;
}

/* A route to dst was there (EEXIST): left alone (1) when it is another
 * protocol's, 0 when it is ours as it should be, else ours replaced. */
static int route_exists(struct rtnl *r, const struct pfx *dst, int oif, unsigned char rtype,
			const char *what, const char **msg)
{
	char s[PFX_STRLEN];
	struct rtnl_route cur = { 0 };
	int e;

	*msg = NULL;
	e = find_route(r, dst, &cur);
	if (e < 0)
		return e;
	if (e == 0 || (cur.protocol != RTNL_PROTO && cur.type != RTN_UNICAST)) {
		log_info(
			"route %s: a route of another type (blackhole, unreachable, ...) is there; "
			"left alone",
			pfx_format(dst, s, sizeof(s)));
		return 1;
	}
	if (cur.protocol != RTNL_PROTO) {
		log_info("route %s: a route of protocol %u is already there; left alone",
			 pfx_format(dst, s, sizeof(s)), cur.protocol);
		return 1;
	}
	if (cur.type == rtype && (rtype != RTN_UNICAST || cur.oif == oif))
		return 0; /* ours, as it should be */
	/* ours, of another type or on another device: replaced */
	e = transact(r, route_msg(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, dst, oif, rtype),
		     msg);
	if (e == 0) {
		log_debug("route %s moved to %s", pfx_format(dst, s, sizeof(s)), what);
		r->counts.moved++;
	}
	return e;
}

/* Installs our route to dst of type rtype (RTN_UNICAST via oif, or
 * RTN_UNREACHABLE); what ("dev NAME", "unreachable") for the log. */
static int route_add(struct rtnl *r, const struct pfx *dst, int oif, unsigned char rtype,
		     const char *what, const char **msg)
{
	int e = transact(r, route_msg(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, dst, oif, rtype),
			 msg);

	e = route_added(r, dst, what, e);
	return e == -EEXIST ? route_exists(r, dst, oif, rtype, what, msg) : e;
}

/* What an add logs: "dev NAME" or "unreachable" into what, and the failure. */
static const char *add_what(const struct rtnl_op *op, char *what, size_t len)
{
	char dev[IF_NAMESIZE] = "?";

	if (op->kind == RTNL_UNREACHABLE)
		return "unreachable";
	if (!ifc_name((unsigned)op->oif, dev))
		snprintf(dev, sizeof(dev), "?");
	snprintf(what, len, "dev %s", dev);
	return what;
}

static void add_failed(const struct rtnl_op *op, const char *what, int e, const char *msg)
{
	char s[PFX_STRLEN];

	pfx_format(&op->dst, s, sizeof(s));
	if (op->kind == RTNL_UNREACHABLE)
		log_warnx("route unreachable %s (aws.summaries): %s%s%s; retried with back-off, "
			  "shown failed in vpcroutectl status",
			  s, strerror(-e), msg ? ": " : "", msg ? msg : "");
	else
		log_warnx("route %s %s: %s%s%s; retried with back-off, shown failed in "
			  "vpcroutectl status: check the device (ip link show %s) and see "
			  "troubleshooting.md, \"Routes do not appear at all\"",
			  s, what, strerror(-e), msg ? ": " : "", msg ? msg : "", what + 4);
}

/* The answer e to the removal of our route to dst: logged and counted. */
static int route_removed(struct rtnl *r, const struct pfx *dst, int e, const char *msg)
{
	char s[PFX_STRLEN];

	if (e == 0) {
		log_debug("route %s removed", pfx_format(dst, s, sizeof(s)));
		r->counts.removed++;
		return 0;
	}
	if (e == -ESRCH) {
		log_debug("route %s already gone (with its device)", pfx_format(dst, s, sizeof(s)));
		r->counts.gone++;
		return 0;
	}
	log_warnx("removing route %s: %s%s%s; if it stays, remove it by hand: ip route del %s "
		  "proto %d",
		  pfx_format(dst, s, sizeof(s)), strerror(-e), msg ? ": " : "", msg ? msg : "", s,
		  RTNL_PROTO);
	return e;
}

/* One op alone. */
static void op_alone(struct rtnl *r, struct rtnl_op *op)
{
	if (op->kind == RTNL_ADD)
		op->result = rtnl_route_add(r, &op->dst, op->oif);
	else if (op->kind == RTNL_UNREACHABLE)
		op->result = rtnl_route_unreachable(r, &op->dst);
	else
		op->result = rtnl_route_del(r, &op->dst);
}

int rtnl_route_add(struct rtnl *r, const struct pfx *dst, int oif)
{
	struct rtnl_op op = { .kind = RTNL_ADD, .dst = *dst, .oif = oif };
	char what[IF_NAMESIZE + 4];
	const char *msg;
	int e;

	add_what(&op, what, sizeof(what));
	e = route_add(r, dst, oif, RTN_UNICAST, what, &msg);
	if (e < 0)
		add_failed(&op, what, e, msg);
	return e;
}

int rtnl_route_unreachable(struct rtnl *r, const struct pfx *dst)
{
	struct rtnl_op op = { .kind = RTNL_UNREACHABLE, .dst = *dst };
	const char *msg;
	int e = route_add(r, dst, 0, RTN_UNREACHABLE, "unreachable", &msg);

	if (e < 0)
		add_failed(&op, "unreachable", e, msg);
	return e;
}

/* Up to RTNL_BATCH_MAX ops: sent at once, the answers matched by sequence
 * number; EEXIST looked at, and lost answers made again, one at a time. */
static void batch_chunk(struct rtnl *r, struct rtnl_op *ops, size_t n)
{
	struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(r->out, sizeof(r->out));
	bool answered[RTNL_BATCH_MAX] = { false };
	char what[IF_NAMESIZE + 4];
	unsigned first = r->seq + 1;
	size_t left = n;

	if (!b) {
		for (size_t i = 0; i < n; i++)
			op_alone(r, &ops[i]);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct rtnl_op *op = &ops[i];

		if (op->kind == RTNL_DEL)
			route_msg_at(r, mnl_nlmsg_batch_current(b), RTM_DELROUTE, 0, &op->dst, 0,
				     RTN_UNSPEC);
		else
			route_msg_at(r, mnl_nlmsg_batch_current(b), RTM_NEWROUTE,
				     NLM_F_CREATE | NLM_F_EXCL, &op->dst, op->oif,
				     op->kind == RTNL_ADD ? RTN_UNICAST : RTN_UNREACHABLE);
		mnl_nlmsg_batch_next(b);
	}
	if (mnl_socket_sendto(r->nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b)) < 0)
		left = 0; /* every op again, alone */
	while (left) {
		ssize_t got = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));
		int len;

		if (got < 0)
			break; /* e.g. ENOBUFS: the answers not read are made again */
		len = (int)got;
		for (struct nlmsghdr *h = (struct nlmsghdr *)r->buf; mnl_nlmsg_ok(h, len);
		     h = mnl_nlmsg_next(h, &len)) {
			size_t k = (size_t)(h->nlmsg_seq - first);
			const struct nlmsgerr *e;
			const char *msg;

			if (k >= n || answered[k] || h->nlmsg_type != NLMSG_ERROR)
				continue; /* a stale answer */
			e = mnl_nlmsg_get_payload(h);
			msg = e->error ? nl_ext_ack_msg(h) : NULL;
			answered[k] = true;
			left--;
			if (ops[k].kind == RTNL_DEL) {
				ops[k].result = route_removed(r, &ops[k].dst, e->error, msg);
				continue;
			}
			add_what(&ops[k], what, sizeof(what));
			ops[k].result = route_added(r, &ops[k].dst, what, e->error);
			if (ops[k].result < 0 && ops[k].result != -EEXIST)
				add_failed(&ops[k], what, ops[k].result, msg);
		}
	}
	mnl_nlmsg_batch_stop(b);
	if (left)
		log_debug("routes: %zu of %zu answers lost; made again one at a time", left, n);
	for (size_t k = 0; k < n; k++) {
		struct rtnl_op *op = &ops[k];
		const char *msg;

		if (!answered[k]) {
			op_alone(r, op);
		} else if (op->kind != RTNL_DEL && op->result == -EEXIST) {
			add_what(op, what, sizeof(what));
			op->result = route_exists(
				r, &op->dst, op->oif,
				op->kind == RTNL_ADD ? RTN_UNICAST : RTN_UNREACHABLE, what, &msg);
			if (op->result < 0)
				add_failed(op, what, op->result, msg);
		}
	}
}

void rtnl_batch(struct rtnl *r, struct rtnl_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i += RTNL_BATCH_MAX)
		batch_chunk(r, ops + i, n - i < RTNL_BATCH_MAX ? n - i : RTNL_BATCH_MAX);
}

void rtnl_take_counts(struct rtnl *r, struct rtnl_counts *c)
{
	*c = r->counts;
	memset(&r->counts, 0, sizeof(r->counts));
}

unsigned rtnl_portid(const struct rtnl *r)
{
	return r->portid;
}

int rtnl_route_del(struct rtnl *r, const struct pfx *dst)
{
	const char *msg;
	/* the kernel matches rtm_protocol on delete: only ours can go (any type) */
	int e = transact(r, route_msg(r, RTM_DELROUTE, 0, dst, 0, RTN_UNSPEC), &msg);

	return route_removed(r, dst, e, msg);
}

struct dump_ctx {
	struct rtnl_route *v;
	size_t n, cap;
	int err;
};

static int route_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, RTA_MAX) > 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };
	struct rtnl_route *x;
	uint32_t table = rtm->rtm_table;

	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb);
	if (tb[RTA_TABLE])
		table = mnl_attr_get_u32(tb[RTA_TABLE]);
	if (table != RT_TABLE_MAIN)
		return MNL_CB_OK;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct rtnl_route *v = realloc(d->v, cap * sizeof(*v));

		if (!v) {
			d->err = -ENOMEM;
			return MNL_CB_ERROR;
		}
		d->v = v;
		d->cap = cap;
	}
	x = &d->v[d->n++];
	memset(x, 0, sizeof(*x));
	x->dst.family = rtm->rtm_family;
	x->dst.len = rtm->rtm_dst_len;
	if (tb[RTA_DST] && mnl_attr_get_payload_len(tb[RTA_DST]) == pfx_addrlen(&x->dst))
		memcpy(x->dst.addr, mnl_attr_get_payload(tb[RTA_DST]), pfx_addrlen(&x->dst));
	if (tb[RTA_OIF])
		x->oif = (int)mnl_attr_get_u32(tb[RTA_OIF]);
	x->protocol = rtm->rtm_protocol;
	x->type = rtm->rtm_type;
	return MNL_CB_OK;
}

int rtnl_dump(struct rtnl *r, struct rtnl_route **out, size_t *n)
{
	struct dump_ctx d = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(r->buf);
	struct rtmsg *rtm;
	unsigned seq = ++r->seq;
	ssize_t len;
	int ret;

	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_UNSPEC;
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		len = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));
		if (len < 0) {
			free(d.v);
			return -errno;
		}
		ret = mnl_cb_run(r->buf, (size_t)len, seq, r->portid, dump_cb, &d);
	} while (ret > 0);
	if (ret < 0 || d.err) {
		int e = d.err ? d.err : -errno;

		free(d.v);
		return e;
	}
	*out = d.v;
	*n = d.n;
	return 0;
}

/* --- devices --- */

struct link_ctx {
	unsigned char mac[6];
	char *name;
	size_t len;
	bool found;
};

static int link_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct link_ctx *l = arg;
	const struct nlattr *a, *addr = NULL, *name = NULL;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg))
	{
		if (mnl_attr_get_type(a) == IFLA_ADDRESS)
			addr = a;
		else if (mnl_attr_get_type(a) == IFLA_IFNAME &&
			 mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			name = a;
	}
	if (!l->found && addr && name && mnl_attr_get_payload_len(addr) == sizeof(l->mac) &&
	    memcmp(mnl_attr_get_payload(addr), l->mac, sizeof(l->mac)) == 0) {
		snprintf(l->name, l->len, "%s", mnl_attr_get_str(name));
		l->found = true;
	}
	return MNL_CB_OK;
}

int rtnl_link_by_mac(struct rtnl *r, const char *mac, char *name, size_t len)
{
	struct link_ctx l = { .name = name, .len = len };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(r->buf);
	struct ifinfomsg *ifi;
	unsigned seq = ++r->seq;
	ssize_t n;
	int ret;

	if (sscanf(mac, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &l.mac[0], &l.mac[1], &l.mac[2],
		   &l.mac[3], &l.mac[4], &l.mac[5]) != 6)
		return -EINVAL;
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(r->nl, r->buf, sizeof(r->buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(r->buf, (size_t)n, seq, r->portid, link_cb, &l);
	} while (ret > 0);
	if (ret < 0)
		return -errno;
	return l.found ? 0 : -ENODEV;
}
