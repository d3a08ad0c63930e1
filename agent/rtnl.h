/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Kernel routes over rtnetlink (libmnl). vpcroute owns exactly the routes of
 * the main table whose protocol is RTNL_PROTO; it never changes another.
 */
#ifndef VR_RTNL_H
#define VR_RTNL_H

#include <stdbool.h>

#include "pfx.h"

/* Named "vpcroute" in /etc/iproute2/rt_protos.d/vpcroute.conf. */
#define RTNL_PROTO 212

struct rtnl;

struct rtnl_route {
	struct pfx dst;
	int oif;
	unsigned char protocol;
	unsigned char type; /* RTN_UNICAST, RTN_BLACKHOLE, ... */
};

struct rtnl *rtnl_open(char *err, size_t errlen);
void rtnl_close(struct rtnl *r);

/*
 * Installs dst via device oif with our protocol. An equal route of another
 * protocol (OpenVPN's own, DCO's) is left alone: returns 1 and logs it.
 * An equal route of ours is replaced when its device or type differs. 0 on
 * success.
 */
int rtnl_route_add(struct rtnl *r, const struct pfx *dst, int oif);
/*
 * Installs "unreachable dst" with our protocol (aws.summaries: the summary's
 * addresses no client route covers are answered with ICMP unreachable
 * instead of going back to the VPC). The same rules as rtnl_route_add: an
 * equal route of another protocol is left alone (1); one of ours of
 * another type is replaced.
 */
int rtnl_route_unreachable(struct rtnl *r, const struct pfx *dst);
/* Removes our route to dst (of any type); a route of another protocol is never removed. */
int rtnl_route_del(struct rtnl *r, const struct pfx *dst);
/*
 * Many of the above in one netlink batch: the requests go out together (one
 * sendmsg per RTNL_BATCH_MAX), each acknowledged on its own, and each op's
 * result is what its call alone would return (logged the same way): an add
 * that finds a route there is then looked at alone, as rtnl_route_add
 * does; one whose answer was lost is made again alone. One op failing
 * changes nothing for the others.
 */
#define RTNL_BATCH_MAX 256
enum rtnl_op_kind { RTNL_ADD, RTNL_UNREACHABLE, RTNL_DEL };
struct rtnl_op {
	enum rtnl_op_kind kind;
	struct pfx dst;
	int oif;    /* RTNL_ADD: the device */
	int result; /* out: 0, 1 (another protocol's route is there) or -errno */
};
void rtnl_batch(struct rtnl *r, struct rtnl_op *ops, size_t n);
/* Routes changed since the last call (for the log's summary); resets them. */
struct rtnl_counts {
	unsigned long added, moved, removed, gone;
};
void rtnl_take_counts(struct rtnl *r, struct rtnl_counts *c);
/* Every main-table route of any type (both families); caller frees *out. */
int rtnl_dump(struct rtnl *r, struct rtnl_route **out, size_t *n);
/* The device whose hardware address is mac ("02:00:00:aa:bb:cc"): its name
 * into name; -ENODEV when there is none (yet), -EINVAL for a bad mac. */
int rtnl_link_by_mac(struct rtnl *r, const char *mac, char *name, size_t len);
/* The netlink port of our requests: the kernel's notifications of our own
 * changes carry it, so the watcher can tell them from others'. */
unsigned rtnl_portid(const struct rtnl *r);

#endif
