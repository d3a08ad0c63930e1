/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Keeping the kernel right: the agent listens to the kernel's rtnetlink
 * (routes, links) and nftables notifications on sockets of its own, and a
 * change it did not make to a route of its protocol, to its table or to a
 * tunnel device it routes through starts a reconcile (debounced). A full
 * reconcile every kernel_check_s seconds is the safety net; what could not
 * be programmed is retried with back-off. See vpcroute-agent(8).
 */
#ifndef VR_WATCH_H
#define VR_WATCH_H

#include <stdbool.h>
#include <stddef.h>

struct agent;
struct watch;

struct watch *watch_open(struct agent *a, char *err, size_t errlen);
void watch_close(struct watch *w);
/* One descriptor for the agent's epoll: readable when watch_event has work. */
int watch_fd(const struct watch *w);
/* Reads the notifications and runs the timers that are due. */
void watch_event(struct agent *a);
/* Something could not be programmed: reconcile again later, backing off. */
void watch_retry(struct agent *a);

/* --- the notification decoder (pure: fuzzed on its own) --- */

struct watch_filter {
	int proto;	     /* NETLINK_ROUTE or NETLINK_NETFILTER */
	unsigned own_portid; /* our requests' port: their notifications are ours */
	/* whether a device of this name carries our routes */
	bool (*our_dev)(void *arg, const char *name);
	void *arg;
};

/* What one datagram of notifications touched. */
struct watch_hits {
	bool routes;	    /* a route of ours changed, or some route went away */
	bool nft;	    /* our table, its chains, sets, elements or rules */
	bool links;	    /* a device we route through came, went or changed */
	unsigned link_msgs; /* notifications of any device (names and indexes may have changed) */
	unsigned own;	    /* notifications of our own changes, ignored */
	unsigned bad;	    /* malformed messages, skipped */
};

/* Adds what the messages in buf touch to *h. Never trusts a length. */
void watch_decode(const struct watch_filter *f, const void *buf, size_t len, struct watch_hits *h);

#endif
