// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VICI client (vici.h): one non-blocking UNIX stream socket to charon in
 * the agent's event loop. At connect it registers for ike-updown,
 * child-updown and list-sa (one request at a time: VICI answers without a
 * sequence number), then lists the IKE_SAs; each up/down event lists them
 * again. A complete list replaces the table the agent reads; a connection
 * that ends (charon restarted) or speaks nonsense (a malformed message, a
 * length past 512 KiB) is closed with a log, the table kept as last listed,
 * and tried again after a delay that doubles from 1 s to 30 s.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "vici.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define OUT_MAX	       1024 /* our requests are a few dozen bytes each */

/* The requests of a connection, in order; IDLE: none in flight. */
enum step { REG_IKE, REG_CHILD, REG_LIST, LIST_SAS, IDLE };

static const char *const step_event[] = { "ike-updown", "child-updown", "list-sa" };

struct vici {
	int epfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd, tfd;
	struct watcher wfd, wtimer;
	bool up; /* connected (fd >= 0) */
	enum step step;
	bool again; /* an event arrived while a list ran: list once more */
	uint8_t *in;
	size_t inlen, incap;
	uint8_t out[OUT_MAX];
	size_t outlen;
	bool want_out;		     /* EPOLLOUT asked for */
	struct vici_ike *cur, *pend; /* as last listed; being listed */
	size_t ncur, npend;
	bool listed; /* cur is a complete list (since the first connect) */
	time_t listed_at;
	unsigned backoff_ms;
	unsigned connects;
	char error[256]; /* why the last connection ended, or failed */
	void (*changed)(void *ctx);
	void *ctx;
};

static void arm(struct vici *v, unsigned ms)
{
	struct itimerspec its = { .it_value = { .tv_sec = ms / 1000,
						.tv_nsec = (long)(ms % 1000) * 1000000 } };

	timerfd_settime(v->tfd, 0, &its, NULL);
}

/* Ends the connection (if any) and tries again after the delay. */
static void drop(struct vici *v, const char *why)
{
	if (v->fd >= 0) {
		watcher_del(v->epfd, &v->wfd);
		close(v->fd);
		v->fd = -1;
	}
	if (v->up || !v->error[0] || strcmp(v->error, why))
		log_warnx("vici: %s: %s; trying again in %u s, the IKE identities stay as last "
			  "listed",
			  v->path, why, v->backoff_ms / 1000);
	snprintf(v->error, sizeof(v->error), "%s", why);
	v->up = false;
	v->inlen = v->outlen = 0;
	v->want_out = false;
	vici_ikes_free(v->pend, v->npend);
	v->pend = NULL;
	v->npend = 0;
	arm(v, v->backoff_ms);
	v->backoff_ms = v->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : v->backoff_ms * 2;
}

static void flush_out(struct vici *v)
{
	ssize_t w;
	char why[128];

	while (v->outlen) {
		w = send(v->fd, v->out, v->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			snprintf(why, sizeof(why), "charon closed the connection (sending: %s)",
				 strerror(errno));
			drop(v, why);
			return;
		}
		if (w < 0) {
			snprintf(why, sizeof(why), "sending: %s", strerror(errno));
			drop(v, why);
			return;
		}
		memmove(v->out, v->out + w, v->outlen - (size_t)w);
		v->outlen -= (size_t)w;
	}
	if (!v->outlen != !v->want_out)
		return;
	v->want_out = v->outlen != 0;
	watcher_mod(v->epfd, &v->wfd, EPOLLIN | (v->want_out ? EPOLLOUT : 0));
}

/* Sends the request of v->step. */
static void request(struct vici *v)
{
	ssize_t n;

	if (v->step == IDLE)
		return;
	n = v->step == LIST_SAS ? vici_encode(v->out + v->outlen, sizeof(v->out) - v->outlen,
					      VICI_CMD_REQUEST, "list-sas", NULL, 0)
				: vici_encode(v->out + v->outlen, sizeof(v->out) - v->outlen,
					      VICI_EVENT_REGISTER, step_event[v->step], NULL, 0);
	if (n < 0) {
		drop(v, "our own request does not fit the buffer");
		return;
	}
	v->outlen += (size_t)n;
	flush_out(v);
}

static void list_done(struct vici *v)
{
	vici_ikes_free(v->cur, v->ncur);
	v->cur = v->pend;
	v->ncur = v->npend;
	v->pend = NULL;
	v->npend = 0;
	v->listed = true;
	v->listed_at = time(NULL);
	v->backoff_ms = BACKOFF_MIN_MS; /* charon answers: the next loss starts over */
	log_debug("vici: %zu IKE_SA%s listed", v->ncur, v->ncur == 1 ? "" : "s");
	if (v->changed)
		v->changed(v->ctx);
}

/* One packet; false when the connection was dropped. */
static bool on_packet(struct vici *v, const struct vici_pkt *p)
{
	char err[160], why[256];
	int r;

	switch (p->type) {
	case VICI_EVENT:
		if (strcmp(p->name, "list-sa") == 0) {
			if (v->step != LIST_SAS) {
				drop(v, "a list-sa event outside a list-sas command");
				return false;
			}
			r = vici_decode_sas(p->msg, p->len, &v->pend, &v->npend, err, sizeof(err));
			if (r == -ENOMEM) {
				drop(v, "out of memory");
				return false;
			}
		} else if (strcmp(p->name, "ike-updown") == 0 ||
			   strcmp(p->name, "child-updown") == 0) {
			r = vici_msg_check(p->msg, p->len, err, sizeof(err));
			if (r == 0) {
				log_debug("vici: %s", p->name);
				if (v->step == IDLE) {
					v->step = LIST_SAS;
					request(v);
				} else {
					v->again = true;
				}
			}
		} else {
			r = 0; /* an event we did not ask for: ignored */
		}
		if (r < 0) {
			snprintf(why, sizeof(why), "a malformed %.40s event: %s", p->name, err);
			drop(v, why);
			return false;
		}
		return v->fd >= 0;
	case VICI_EVENT_CONFIRM:
	case VICI_EVENT_UNKNOWN:
		if (v->step > REG_LIST) {
			drop(v, "an event confirmation we did not ask for");
			return false;
		}
		if (p->type == VICI_EVENT_UNKNOWN) {
			snprintf(why, sizeof(why), "charon does not know the event \"%s\"",
				 step_event[v->step]);
			drop(v, why);
			return false;
		}
		v->step++;
		request(v);
		return v->fd >= 0;
	case VICI_CMD_RESPONSE:
	case VICI_CMD_UNKNOWN:
		if (v->step != LIST_SAS) {
			drop(v, "a command response we did not ask for");
			return false;
		}
		if (p->type == VICI_CMD_UNKNOWN) {
			drop(v, "charon does not know the command list-sas");
			return false;
		}
		if (vici_msg_check(p->msg, p->len, err, sizeof(err)) < 0) {
			snprintf(why, sizeof(why), "a malformed list-sas response: %s", err);
			drop(v, why);
			return false;
		}
		list_done(v);
		v->step = v->again ? LIST_SAS : IDLE;
		v->again = false;
		request(v);
		return v->fd >= 0;
	default:
		snprintf(why, sizeof(why), "packet type %u is for the server, not a client",
			 p->type);
		drop(v, why);
		return false;
	}
}

static void on_input(struct vici *v)
{
	char err[160], why[256];
	ssize_t r, seg;
	size_t off;

	for (;;) {
		if (v->incap - v->inlen < 4096) {
			size_t cap = v->incap ? v->incap * 2 : 16384;
			uint8_t *b;

			if (cap > 2 * (VICI_SEGMENT_MAX + 4))
				cap = 2 * (VICI_SEGMENT_MAX + 4);
			if (cap > v->incap) {
				if (!(b = realloc(v->in, cap))) {
					drop(v, "out of memory");
					return;
				}
				v->in = b;
				v->incap = cap;
			}
		}
		r = recv(v->fd, v->in + v->inlen, v->incap - v->inlen, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			snprintf(why, sizeof(why), "charon closed the connection%s%s",
				 r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
			drop(v, why);
			return;
		}
		v->inlen += (size_t)r;
		for (off = 0; (seg = vici_frame(v->in + off, v->inlen - off)) > 0;
		     off += (size_t)seg) {
			struct vici_pkt p;

			if (vici_packet(v->in + off + 4, (size_t)seg - 4, &p, err, sizeof(err)) <
			    0) {
				snprintf(why, sizeof(why), "a malformed packet: %s", err);
				drop(v, why);
				return;
			}
			if (!on_packet(v, &p))
				return;
		}
		if (seg < 0) {
			drop(v, "a segment length of 0 or above 512 KiB");
			return;
		}
		memmove(v->in, v->in + off, v->inlen - off);
		v->inlen -= off;
	}
}

static void on_fd(struct watcher *w, uint32_t events)
{
	struct vici *v = w->ctx;

	if (events & EPOLLOUT)
		flush_out(v);
	if (v->fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		on_input(v);
}

static void try_connect(struct vici *v)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char why[256];

	strcpy(sun.sun_path, v->path);
	v->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->fd < 0 || connect(v->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(why, sizeof(why), "cannot connect: %s", strerror(errno));
		if (v->fd >= 0)
			close(v->fd);
		v->fd = -1;
		drop(v, why);
		return;
	}
	v->wfd = (struct watcher){ .fd = v->fd, .fn = on_fd, .ctx = v };
	if (watcher_add(v->epfd, &v->wfd, EPOLLIN) < 0) {
		close(v->fd);
		v->fd = -1;
		drop(v, "cannot watch the socket");
		return;
	}
	v->up = true;
	v->connects++;
	v->error[0] = '\0';
	v->again = false;
	log_info("vici: connected to %s", v->path);
	v->step = REG_IKE;
	request(v);
}

static void on_timer(struct watcher *w, uint32_t events)
{
	struct vici *v = w->ctx;
	uint64_t x;

	while (read(v->tfd, &x, sizeof(x)) == (ssize_t)sizeof(x))
		;
	if (v->fd < 0)
		try_connect(v);
}

struct vici *vici_open(int epfd, const char *path, void (*changed)(void *ctx), void *ctx)
{
	struct vici *v = calloc(1, sizeof(*v));

	if (!v || strlen(path) >= sizeof(v->path))
		goto fail;
	v->epfd = epfd;
	snprintf(v->path, sizeof(v->path), "%s", path);
	v->fd = -1;
	v->backoff_ms = BACKOFF_MIN_MS;
	v->changed = changed;
	v->ctx = ctx;
	v->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (v->tfd < 0)
		goto fail;
	v->wtimer = (struct watcher){ .fd = v->tfd, .fn = on_timer, .ctx = v };
	if (watcher_add(epfd, &v->wtimer, EPOLLIN) < 0) {
		close(v->tfd);
		goto fail;
	}
	try_connect(v);
	return v;
fail:
	free(v);
	return NULL;
}

void vici_close(struct vici *v)
{
	if (!v)
		return;
	if (v->fd >= 0) {
		watcher_del(v->epfd, &v->wfd);
		close(v->fd);
	}
	watcher_del(v->epfd, &v->wtimer);
	close(v->tfd);
	vici_ikes_free(v->cur, v->ncur);
	vici_ikes_free(v->pend, v->npend);
	free(v->in);
	free(v);
}

const char *vici_path(const struct vici *v)
{
	return v->path;
}

const struct vici_ike *vici_ikes(const struct vici *v, size_t *n)
{
	*n = v ? v->ncur : 0;
	return v ? v->cur : NULL;
}

json_t *vici_status_json(const struct vici *v)
{
	return json_pack("{s:s, s:b, s:o, s:I, s:I, s:o}", "socket", v->path, "connected", v->up,
			 "listed_at",
			 v->listed ? json_integer((json_int_t)v->listed_at) : json_null(),
			 "ike_sas", (json_int_t)v->ncur, "connects", (json_int_t)v->connects,
			 "error", v->error[0] ? json_string(v->error) : json_null());
}
