/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent's event loop: every file descriptor in the epoll set is a
 * watcher, the function that handles its events and its context;
 * epoll_event.data.ptr points at the watcher, so the loop calls w->fn and
 * knows nothing of what the descriptor is.
 */
#ifndef VR_LOOP_H
#define VR_LOOP_H

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <time.h>

struct watcher;
typedef void (*watcher_fn)(struct watcher *w, uint32_t events);

struct watcher {
	int fd;
	watcher_fn fn;
	void *ctx;
};

static inline int watcher_ctl(int epfd, int op, struct watcher *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(epfd, op, w->fd, &ev) < 0 ? -errno : 0;
}

static inline int watcher_add(int epfd, struct watcher *w, uint32_t events)
{
	return watcher_ctl(epfd, EPOLL_CTL_ADD, w, events);
}

static inline int watcher_mod(int epfd, struct watcher *w, uint32_t events)
{
	return watcher_ctl(epfd, EPOLL_CTL_MOD, w, events);
}

static inline int watcher_del(int epfd, struct watcher *w)
{
	return watcher_ctl(epfd, EPOLL_CTL_DEL, w, 0);
}

/* CLOCK_MONOTONIC in milliseconds, never 0 */
static inline uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1;
}

#endif
