// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * metrics.listen: GET /metrics over HTTP/1.0 (or 1.1, answered as 1.0 with
 * Connection: close), on a TCP address or a UNIX stream socket, served from
 * the agent's event loop without blocking it: requests are read and answers
 * written as the sockets allow, each connection closed after its answer.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "metrics_http.h"

/* --- the listener --- */

struct hconn {
	struct watcher w; /* first: the loop hands its address back */
	struct metrics_http *h;
	char in[METRICS_HTTP_HEAD_MAX];
	size_t nin;
	char *out; /* the answer being written, NULL while reading */
	size_t nout, off;
	size_t drained; /* after the answer: what the peer still sent, discarded */
	bool draining;
	uint64_t since;
	struct hconn *next;
};

struct metrics_http {
	struct agent *a;
	int epfd;
	struct watcher lw, tw;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* a UNIX socket's, to remove */
	struct hconn *conns;
	size_t nconns;
	struct log_rl rl;
};

static void hconn_close(struct metrics_http *h, struct hconn *c)
{
	struct hconn **pp = &h->conns;

	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	h->nconns--;
	watcher_del(h->epfd, &c->w);
	close(c->w.fd);
	free(c->out);
	free(c);
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Bad Request";
	}
}

/* The whole answer into c->out. */
static int answer(struct metrics_http *h, struct hconn *c, int status)
{
	char *body = NULL, small[64];
	size_t blen = 0;
	int n;

	if (status == 200 && (metrics_collect(h->a) < 0 ||
			      !(body = metrics_render((long long)loop_now_ms(), &blen))))
		status = 500;
	if (status != 200) {
		blen = (size_t)snprintf(small, sizeof(small), "%d %s\n", status,
					status == 500 ? "Internal Server Error" : reason(status));
	}
	n = asprintf(&c->out,
		     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
		     "Connection: close\r\n\r\n%s",
		     status, status == 500 ? "Internal Server Error" : reason(status),
		     status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
		     blen, status == 405 ? "Allow: GET\r\n" : "", body ? body : small);
	free(body);
	if (n < 0) {
		c->out = NULL;
		return -ENOMEM;
	}
	c->nout = (size_t)n;
	c->off = 0;
	return watcher_mod(h->epfd, &c->w, EPOLLOUT);
}

static void on_hconn(struct watcher *w, uint32_t events)
{
	struct hconn *c = (struct hconn *)w;
	struct metrics_http *h = c->h;
	ssize_t k;
	int status;

	if (c->draining) {
		/* closing with unread input would reset the connection before the
		 * peer read the answer: read until its end, a limit or the timeout */
		char junk[4096];

		k = recv(w->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (k <= 0 || (c->drained += (size_t)k) > METRICS_HTTP_DRAIN_MAX)
			hconn_close(h, c);
		return;
	}
	if (!c->out) {
		k = recv(w->fd, c->in + c->nin, sizeof(c->in) - c->nin, MSG_DONTWAIT);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (k <= 0) {
			hconn_close(h, c);
			return;
		}
		c->nin += (size_t)k;
		if (!(status = metrics_http_parse(c->in, c->nin)))
			return;
		if (status != 200)
			log_warnx_rl(&h->rl, "metrics: answered %d to a request", status);
		if (answer(h, c, status) < 0)
			hconn_close(h, c);
		return;
	}
	k = send(w->fd, c->out + c->off, c->nout - c->off, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (k < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (k > 0)
		c->off += (size_t)k;
	if (k <= 0) {
		hconn_close(h, c);
	} else if (c->off == c->nout) {
		c->draining = true;
		if (shutdown(w->fd, SHUT_WR) < 0 || watcher_mod(h->epfd, &c->w, EPOLLIN) < 0)
			hconn_close(h, c);
	}
}

static void timer_arm(struct metrics_http *h)
{
	struct itimerspec its = { .it_value.tv_sec = h->nconns ? 1 : 0 };

	timerfd_settime(h->tw.fd, 0, &its, NULL);
}

static void on_timer(struct watcher *w, uint32_t events)
{
	struct metrics_http *h = w->ctx;
	uint64_t x, now = loop_now_ms();

	if (read(w->fd, &x, sizeof(x)) < 0 && errno == EAGAIN)
		return;
	for (struct hconn *c = h->conns, *next; c; c = next) {
		next = c->next;
		if (now - c->since >= METRICS_HTTP_IDLE_MS)
			hconn_close(h, c);
	}
	timer_arm(h);
}

static void on_accept(struct watcher *w, uint32_t events)
{
	struct metrics_http *h = w->ctx;
	struct hconn *c;
	int fd;

	for (int i = 0; i < METRICS_HTTP_CONNS; i++) {
		if ((fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warnx_rl(&h->rl, "metrics: accept: %s", strerror(errno));
			return;
		}
		if (h->nconns >= METRICS_HTTP_CONNS) {
			struct hconn *old = h->conns; /* the last one is the oldest */

			while (old->next)
				old = old->next;
			hconn_close(h, old);
		}
		if (!(c = calloc(1, sizeof(*c)))) {
			close(fd);
			return;
		}
		c->w = (struct watcher){ .fd = fd, .fn = on_hconn, .ctx = h };
		c->h = h;
		c->since = loop_now_ms();
		if (watcher_add(h->epfd, &c->w, EPOLLIN) < 0) {
			close(fd);
			free(c);
			return;
		}
		c->next = h->conns;
		h->conns = c;
		if (h->nconns++ == 0)
			timer_arm(h);
	}
}

int metrics_http_open(struct agent *a, int epfd, struct metrics_http **out)
{
	const char *listen_on = a->cfg->metrics.listen;
	struct sockaddr_storage sa;
	struct metrics_http *h;
	char why[160];
	unsigned salen;
	int one = 1, e;

	*out = NULL;
	if (!listen_on)
		return 0;
	if (cfg_listen_addr(listen_on, &sa, &salen, why, sizeof(why)) < 0) {
		log_warnx("metrics.listen %s: %s", listen_on, why);
		return -EINVAL;
	}
	if (!(h = calloc(1, sizeof(*h))))
		return -ENOMEM;
	h->a = a;
	h->epfd = epfd;
	h->rl = (struct log_rl)LOG_RL_INIT(5, 1);
	h->lw = (struct watcher){ .fn = on_accept, .ctx = h };
	h->tw = (struct watcher){ .fn = on_timer, .ctx = h };
	h->lw.fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	h->tw.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (h->lw.fd < 0 || h->tw.fd < 0)
		goto fail;
	if (sa.ss_family == AF_UNIX) {
		struct stat st;

		/* a stale socket is replaced; anything else is left alone */
		if (lstat(listen_on, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			errno = EEXIST;
			goto fail;
		}
		unlink(listen_on);
		snprintf(h->path, sizeof(h->path), "%s", listen_on);
	} else {
		setsockopt(h->lw.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	if (bind(h->lw.fd, (struct sockaddr *)&sa, salen) < 0)
		goto fail;
	/* like a loopback address: every local user may read the metrics */
	if (sa.ss_family == AF_UNIX && chmod(listen_on, 0666) < 0)
		goto fail;
	if (listen(h->lw.fd, 16) < 0 || (errno = -watcher_add(epfd, &h->lw, EPOLLIN)) ||
	    (errno = -watcher_add(epfd, &h->tw, EPOLLIN)))
		goto fail;
	log_info("metrics: serving GET /metrics on %s", listen_on);
	*out = h;
	return 0;
fail:
	e = -errno;
	log_warnx("metrics.listen %s: %s; choose a free ADDRESS:PORT (or a free path) in "
		  "metrics.listen",
		  listen_on, strerror(errno));
	if (h->lw.fd >= 0)
		close(h->lw.fd);
	if (h->tw.fd >= 0)
		close(h->tw.fd);
	if (h->path[0])
		unlink(h->path);
	free(h);
	return e;
}

void metrics_http_close(struct metrics_http *h)
{
	if (!h)
		return;
	while (h->conns)
		hconn_close(h, h->conns);
	watcher_del(h->epfd, &h->lw);
	close(h->lw.fd);
	close(h->tw.fd);
	if (h->path[0])
		unlink(h->path);
	free(h);
}
