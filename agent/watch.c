// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "agent.h"
#include "ifcache.h"
#include "log.h"
#include "metrics.h"
#include "watch.h"

#define DEBOUNCE_MS    50
#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS   30000
#define RCVBUF	       (4 << 20)

struct watch {
	int epfd, timerfd;
	struct mnl_socket *rt, *nf;
	uint64_t due_change, due_check, due_retry; /* monotonic ms, 0: none */
	unsigned backoff_ms;
	bool resync; /* a notification was lost: everything is reconciled */
	_Alignas(struct nlmsghdr) char buf[1 << 16]; /* one datagram */
};

/* --- timers --- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void arm(struct watch *w)
{
	uint64_t next = w->due_check;
	struct itimerspec its = { 0 };

	if (w->due_change && w->due_change < next)
		next = w->due_change;
	if (w->due_retry && w->due_retry < next)
		next = w->due_retry;
	its.it_value.tv_sec = (time_t)(next / 1000);
	its.it_value.tv_nsec = (long)(next % 1000) * 1000000;
	if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
		its.it_value.tv_nsec = 1;
	timerfd_settime(w->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void schedule_check(struct watch *w, const struct agent *a)
{
	w->due_check = now_ms() + (uint64_t)a->cfg->kernel_check_s * 1000;
}

void watch_retry(struct agent *a)
{
	struct watch *w = a->watch;

	if (!w || w->due_retry)
		return;
	w->due_retry = now_ms() + w->backoff_ms;
	log_debug("kernel: retrying what failed in %u ms", w->backoff_ms);
	w->backoff_ms = w->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : w->backoff_ms * 2;
	arm(w);
}

/* --- sockets --- */

static struct mnl_socket *subscribe(int proto, unsigned groups, const unsigned *extra, size_t n,
				    char *err, size_t errlen)
{
	struct mnl_socket *nl = mnl_socket_open2(proto, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int big = RCVBUF;

	if (!nl || mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, (void *)&extra[i],
					  sizeof(extra[i])) < 0)
			goto fail;
	/* root may pass rmem_max: a burst (a flushed ruleset) must not be lost */
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	return nl;
fail:
	snprintf(err, errlen, "%s notifications: %s",
		 proto == NETLINK_ROUTE ? "rtnetlink" : "nftables", strerror(errno));
	if (nl)
		mnl_socket_close(nl);
	return NULL;
}

struct watch *watch_open(struct agent *a, char *err, size_t errlen)
{
	static const unsigned rt_groups[] = { RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE,
					      RTNLGRP_IPV6_ROUTE };
	static const unsigned nf_groups[] = { NFNLGRP_NFTABLES };
	struct watch *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!w) {
		snprintf(err, errlen, "watch: out of memory");
		return NULL;
	}
	w->epfd = w->timerfd = -1;
	w->backoff_ms = RETRY_FIRST_MS;
	if (!(w->rt = subscribe(NETLINK_ROUTE, 0, rt_groups, 3, err, errlen)) ||
	    !(w->nf = subscribe(NETLINK_NETFILTER, 0, nf_groups, 1, err, errlen)))
		goto fail;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->epfd < 0 || w->timerfd < 0)
		goto sysfail;
	ev.data.fd = mnl_socket_get_fd(w->rt);
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
		goto sysfail;
	ev.data.fd = mnl_socket_get_fd(w->nf);
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
		goto sysfail;
	ev.data.fd = w->timerfd;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
		goto sysfail;
	schedule_check(w, a);
	arm(w);
	return w;
sysfail:
	snprintf(err, errlen, "watch: %s", strerror(errno));
fail:
	watch_close(w);
	return NULL;
}

void watch_close(struct watch *w)
{
	if (!w)
		return;
	if (w->rt)
		mnl_socket_close(w->rt);
	if (w->nf)
		mnl_socket_close(w->nf);
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->timerfd >= 0)
		close(w->timerfd);
	free(w);
}

int watch_fd(const struct watch *w)
{
	return w->epfd;
}

static bool our_dev(void *arg, const char *name)
{
	const struct agent *a = arg;

	for (size_t i = 0; i < a->ninst; i++)
		if (a->inst[i]->dev[0] && strcmp(a->inst[i]->dev, name) == 0)
			return true;
	/* the flowtable's devices (offload): one that comes back is hooked again */
	for (size_t i = 0; a->cfg->offload.enabled && i < a->cfg->offload.ndevices; i++)
		if (strcmp(a->cfg->offload.devices[i], name) == 0)
			return true;
	return a->cfg->offload.enabled && a->nft && nft_offload_wants(a->nft, name);
}

/* Reads everything queued on one socket. */
static void drain(struct agent *a, struct watch *w, struct mnl_socket *nl, int proto, unsigned own,
		  struct watch_hits *h)
{
	struct watch_filter f = { .proto = proto, .own_portid = own, .our_dev = our_dev, .arg = a };

	for (;;) {
		ssize_t got = recv(mnl_socket_get_fd(nl), w->buf, sizeof(w->buf), MSG_DONTWAIT);
		unsigned before = h->link_msgs;

		if (got < 0 && errno == ENOBUFS) {
			/* the kernel dropped some: what they said is unknown */
			log_warnx("kernel: %s notifications lost; reconciling everything",
				  proto == NETLINK_ROUTE ? "rtnetlink" : "nftables");
			w->resync = true;
			if (proto == NETLINK_ROUTE) {
				ifc_links_lost(); /* the XFRM interfaces: dumped again */
				h->link_msgs++;
			}
			continue;
		}
		if (got <= 0)
			return;
		watch_decode(&f, w->buf, (size_t)got, h);
		if (proto == NETLINK_ROUTE) {
			ifc_links_apply(w->buf, (size_t)got); /* their if_id and keys */
			metrics_add(VM_LINK_NOTIFICATIONS, h->link_msgs - before);
		}
	}
}

static void reconcile(struct agent *a, struct watch *w, const char *why)
{
	log_debug("kernel: reconciling (%s)", why);
	state_apply(a);
	if (!a->nfailed && !a->nft_err) {
		w->backoff_ms = RETRY_FIRST_MS;
		w->due_retry = 0;
	}
}

void watch_event(struct agent *a)
{
	struct watch *w = a->watch;
	struct watch_hits h = { 0 };
	uint64_t now, x;

	drain(a, w, w->rt, NETLINK_ROUTE, rtnl_portid(a->rt), &h);
	drain(a, w, w->nf, NETLINK_NETFILTER, nft_portid(a->nft), &h);
	if (h.link_msgs) {
		ifc_forget();	      /* a device's name or index may have changed */
		ipsec_route_links(a); /* an XFRM interface's or a VTI's too */
	}
	if (h.routes || h.nft || h.links || w->resync) {
		if (!w->due_change) {
			log_info("kernel: %s%s%s%s%s%s%s changed by someone else; reconciling",
				 h.routes ? "routes" : "",
				 h.routes && (h.nft || h.links) ? ", " : "",
				 h.nft ? "table " NFT_TABLE_FULLNAME : "",
				 h.nft && h.links ? ", " : "", h.links ? "a tunnel device" : "",
				 (h.routes || h.nft || h.links) && w->resync ? ", " : "",
				 w->resync ? "something (notifications lost)" : "");
			w->due_change = now_ms() + DEBOUNCE_MS;
		}
		w->resync = false;
	}
	while (read(w->timerfd, &x, sizeof(x)) > 0)
		;
	now = now_ms();
	if (w->due_change && w->due_change <= now) {
		w->due_change = 0;
		w->due_retry = 0;
		reconcile(a, w, "a change made by someone else");
	} else if (w->due_retry && w->due_retry <= now) {
		w->due_retry = 0;
		reconcile(a, w, "retrying what failed");
	}
	if (w->due_check <= now) {
		schedule_check(w, a);
		reconcile(a, w, "periodic check");
	}
	arm(w);
}
