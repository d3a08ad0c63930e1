// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "link.h"

#define LOG_RING   64
#define ACK_RING   256
#define BACKOFF_MS 100

struct qmsg {
	char *buf;
	size_t len;
};

struct entry {
	struct proto_client c;
	bool pending;
	uint64_t id;
};

struct ack {
	uint64_t id;
	bool ok;
	char error[PROTO_ERROR_MAX + 1];
};

struct link {
	pthread_mutex_t mu;
	pthread_t thread;
	pid_t pid; /* process the thread runs in; 0: none */
	bool stop;
	int wake; /* eventfd */
	int fd;	  /* the agent socket (thread only) */
	bool connected;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char instance[PROTO_INSTANCE_MAX + 1];
	enum proto_role role;
	unsigned queue_max, reconnect_max_ms;

	/* outgoing */
	struct qmsg *q;
	size_t qhead, qlen, qcap;
	bool resync;
	uint64_t next_id;

	/* this instance's clients, and the tunnel (client mode) */
	struct entry *tab;
	size_t ntab, captab;
	struct proto_msg tunnel;
	bool has_tunnel;

	/* the agent's view of the host */
	struct proto_claim *claims, *partial;
	size_t nclaims, npartial;

	struct ack acks[ACK_RING];
	size_t nacks;

	struct {
		int prio;
		char msg[256];
	} logs[LOG_RING];
	size_t nlogs, lost_logs;
};

static void qlog(struct link *l, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Called with l->mu held. */
static void qlog(struct link *l, int prio, const char *fmt, ...)
{
	va_list ap;

	if (l->nlogs == LOG_RING) {
		l->lost_logs++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(l->logs[l->nlogs].msg, sizeof(l->logs[0].msg), fmt, ap);
	va_end(ap);
	l->logs[l->nlogs++].prio = prio;
}

static void wake(struct link *l)
{
	uint64_t one = 1;

	if (l->wake >= 0 && write(l->wake, &one, sizeof(one)) < 0) {
		/* the counter is full: the thread is awake anyway */
	}
}

static void client_copy_free(struct proto_client *c)
{
	pfx_list_free(&c->nets);
}

static int client_copy(struct proto_client *dst, const struct proto_client *src)
{
	*dst = *src;
	dst->nets.v = NULL;
	if (src->nets.n) {
		dst->nets.v = malloc(src->nets.n * sizeof(*src->nets.v));
		if (!dst->nets.v)
			return -ENOMEM;
		memcpy(dst->nets.v, src->nets.v, src->nets.n * sizeof(*src->nets.v));
	}
	return 0;
}

static void queue_clear(struct link *l)
{
	for (size_t i = 0; i < l->qlen; i++)
		free(l->q[(l->qhead + i) % l->qcap].buf);
	l->qhead = l->qlen = 0;
}

/* Encodes and appends m to the queue; with the lock held. */
static int enqueue_raw(struct link *l, const struct proto_msg *m)
{
	char buf[PROTO_MAX_MSG];
	struct qmsg *slot;
	int n;

	n = proto_encode(m, buf, sizeof(buf));
	if (n < 0)
		return n;
	if (l->qlen == l->qcap) {
		size_t cap = l->qcap ? l->qcap * 2 : 64;
		struct qmsg *q = malloc(cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < l->qlen; i++)
			q[i] = l->q[(l->qhead + i) % l->qcap];
		free(l->q);
		l->q = q;
		l->qcap = cap;
		l->qhead = 0;
	}
	slot = &l->q[(l->qhead + l->qlen) % l->qcap];
	slot->buf = malloc((size_t)n);
	if (!slot->buf)
		return -ENOMEM;
	memcpy(slot->buf, buf, (size_t)n);
	slot->len = (size_t)n;
	l->qlen++;
	return 0;
}

/*
 * Queues m for the agent; with the lock held. Nothing is queued while the
 * link is down (the resync after reconnecting carries the state), and an
 * overflow turns into a resync.
 */
static void enqueue(struct link *l, const struct proto_msg *m)
{
	int r;

	if (!l->connected || l->resync)
		return;
	if (l->qlen >= l->queue_max) {
		queue_clear(l);
		l->resync = true;
		qlog(l, LOG_WARNING,
		     "agent is not reading: %u queued messages dropped, will resend the client "
		     "table",
		     l->queue_max);
		wake(l);
		return;
	}
	r = enqueue_raw(l, m);
	if (r == -ENOMEM) {
		queue_clear(l);
		l->resync = true;
		qlog(l, LOG_ERR,
		     "out of memory queueing for the agent; will resend the client table");
	} else if (r < 0) {
		qlog(l, LOG_ERR, "cannot encode a %s message: %s", proto_type_name(m->type),
		     strerror(-r));
	}
	wake(l);
}

struct link *link_new(const char *path, const char *instance, enum proto_role role,
		      unsigned queue_max, unsigned reconnect_max_ms)
{
	struct link *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	if (strlen(path) >= sizeof(l->path) || strlen(instance) >= sizeof(l->instance)) {
		free(l);
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(l->path, path);
	strcpy(l->instance, instance);
	l->role = role;
	l->queue_max = queue_max;
	l->reconnect_max_ms = reconnect_max_ms;
	l->fd = -1;
	l->wake = -1;
	l->next_id = 1;
	pthread_mutex_init(&l->mu, NULL);
	return l;
}

static int try_connect(struct link *l)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(sun.sun_path, l->path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/*
 * Hello, the whole table in sync chunks, pending connects, the tunnel; with
 * the lock held. A chunk that does not fit one message is halved.
 */
static void build_resync(struct link *l)
{
	struct proto_msg m = { .type = PROTO_HELLO, .id = l->next_id++ };
	struct proto_client *all = NULL;
	size_t nall = 0, i = 0;
	int r = 0;

	queue_clear(l);
	l->resync = false;
	m.hello.role = l->role;
	m.hello.pid = (uint32_t)getpid();
	strcpy(m.hello.instance, l->instance);
	if ((r = enqueue_raw(l, &m)))
		goto fail;
	if (l->ntab && !(all = malloc(l->ntab * sizeof(*all)))) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t k = 0; k < l->ntab; k++)
		if (!l->tab[k].pending)
			all[nall++] = l->tab[k].c;
	do {
		size_t n = nall - i < 64 ? nall - i : 64;

		memset(&m, 0, sizeof(m));
		m.type = PROTO_SYNC;
		m.id = l->next_id++;
		for (;;) {
			m.sync.clients = all ? all + i : NULL;
			m.sync.n = n;
			m.sync.more = i + n < nall;
			r = enqueue_raw(l, &m);
			if (r != -EMSGSIZE || n == 1)
				break;
			n /= 2;
		}
		if (r)
			goto fail;
		i += n;
	} while (i < nall);
	for (size_t k = 0; k < l->ntab; k++) {
		if (!l->tab[k].pending)
			continue;
		memset(&m, 0, sizeof(m));
		m.type = PROTO_CONNECT;
		m.id = l->tab[k].id;
		m.connect = l->tab[k].c;
		if ((r = enqueue_raw(l, &m)))
			goto fail;
	}
	if (l->has_tunnel && (r = enqueue_raw(l, &l->tunnel)))
		goto fail;
	free(all);
	return;
fail:
	free(all);
	queue_clear(l);
	l->resync = true;
	qlog(l, LOG_ERR, "cannot build the client table for the agent: %s", strerror(-r));
}

static void record_ack(struct link *l, const struct proto_msg *m)
{
	struct ack *a = &l->acks[l->nacks++ % ACK_RING];

	a->id = m->ack.ref;
	a->ok = m->ack.ok;
	snprintf(a->error, sizeof(a->error), "%s", m->ack.error);
	if (!m->ack.ok) {
		/* a refused admitted client is dropped from the table */
		for (size_t i = 0; i < l->ntab; i++)
			if (l->tab[i].id == m->ack.ref && !l->tab[i].pending) {
				qlog(l, LOG_ERR,
				     "agent refused client %s: %s; its networks are not programmed",
				     l->tab[i].c.cn, m->ack.error);
				client_copy_free(&l->tab[i].c);
				l->tab[i] = l->tab[--l->ntab];
				break;
			}
	}
}

static int take_claims(struct link *l, struct proto_msg *m)
{
	struct proto_claim *v = realloc(l->partial, (l->npartial + m->claims.n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	memcpy(v + l->npartial, m->claims.v, m->claims.n * sizeof(*v));
	l->partial = v;
	l->npartial += m->claims.n;
	if (!m->claims.more) {
		free(l->claims);
		l->claims = l->partial;
		l->nclaims = l->npartial;
		l->partial = NULL;
		l->npartial = 0;
	}
	return 0;
}

/* Reads what the agent sent; <0 closes the connection. Lock not held. */
static int receive(struct link *l)
{
	char buf[PROTO_MAX_MSG + 1], err[PROTO_ERRLEN];
	struct proto_msg m;

	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(l->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return -ECONNRESET;
		if (n > PROTO_MAX_MSG || proto_decode(buf, (size_t)n, &m, err, sizeof(err)) < 0) {
			pthread_mutex_lock(&l->mu);
			qlog(l, LOG_ERR, "bad message from the agent (%s); reconnecting",
			     n > PROTO_MAX_MSG ? "oversize" : err);
			pthread_mutex_unlock(&l->mu);
			return -EPROTO;
		}
		pthread_mutex_lock(&l->mu);
		int r = 0;

		if (m.type == PROTO_ACK)
			record_ack(l, &m);
		else if (m.type == PROTO_CLAIMS)
			r = take_claims(l, &m);
		else {
			qlog(l, LOG_ERR, "unexpected %s message from the agent; reconnecting",
			     proto_type_name(m.type));
			r = -EPROTO;
		}
		pthread_mutex_unlock(&l->mu);
		proto_msg_free(&m);
		if (r)
			return r;
	}
	return 0;
}

/* Sends from the queue until it is empty or the socket is full. Lock held. */
static int send_queue(struct link *l)
{
	while (l->qlen) {
		struct qmsg *m = &l->q[l->qhead];

		if (send(l->fd, m->buf, m->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		free(m->buf);
		l->qhead = (l->qhead + 1) % l->qcap;
		l->qlen--;
	}
	return 0;
}

/* A new connection: the agent gets hello and the whole table first. */
static void attach(struct link *l, int fd)
{
	l->fd = fd;
	pthread_mutex_lock(&l->mu);
	l->connected = true;
	build_resync(l);
	qlog(l, LOG_INFO, "connected to the agent at %s; sent %zu clients", l->path, l->ntab);
	pthread_mutex_unlock(&l->mu);
}

static void disconnect(struct link *l, int why)
{
	close(l->fd);
	l->fd = -1;
	pthread_mutex_lock(&l->mu);
	l->connected = false;
	queue_clear(l);
	free(l->partial); /* a claims table cut short */
	l->partial = NULL;
	l->npartial = 0;
	qlog(l, LOG_WARNING, "lost the agent at %s: %s", l->path, strerror(-why));
	pthread_mutex_unlock(&l->mu);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * After a lost connection: a connection that lived a while is retried at
 * once; one that died young (an agent answering garbage, or restarting in
 * a loop) waits, longer each time, so the thread never spins on the lock
 * OpenVPN's thread needs. Returns the next pause.
 */
static unsigned backoff_pause(struct link *l, unsigned backoff, int64_t since)
{
	struct pollfd p = { .fd = l->wake, .events = POLLIN };
	uint64_t junk;

	if (now_ms() - since > 2000)
		return BACKOFF_MS;
	poll(&p, 1, (int)backoff);
	if (p.revents & POLLIN && read(l->wake, &junk, sizeof(junk)) < 0) {
	}
	return backoff * 2 > l->reconnect_max_ms ? l->reconnect_max_ms : backoff * 2;
}

static void *link_main(void *arg)
{
	struct link *l = arg;
	unsigned backoff = BACKOFF_MS;
	int last_err = 0;
	int64_t since = 0; /* when the current connection was made */

	for (;;) {
		struct pollfd p[2] = { { .fd = l->wake, .events = POLLIN },
				       { .fd = l->fd, .events = POLLIN } };
		int timeout = -1, r;
		uint64_t junk;

		pthread_mutex_lock(&l->mu);
		if (l->stop) {
			/* what is queued (a last DOWN, a disconnect) still goes out,
			 * as far as the socket takes it without waiting */
			if (l->fd >= 0 && l->connected && !l->resync)
				send_queue(l);
			pthread_mutex_unlock(&l->mu);
			break;
		}
		pthread_mutex_unlock(&l->mu);
		if (l->fd < 0) {
			int fd = try_connect(l);

			if (fd < 0) {
				if (fd != last_err) {
					pthread_mutex_lock(&l->mu);
					qlog(l, LOG_WARNING,
					     "cannot reach the agent at %s: %s (retrying)", l->path,
					     strerror(-fd));
					pthread_mutex_unlock(&l->mu);
					last_err = fd;
				}
				timeout = (int)backoff;
				backoff = backoff * 2 > l->reconnect_max_ms ? l->reconnect_max_ms
									    : backoff * 2;
				p[1].fd = -1;
				poll(p, 1, timeout);
				if (p[0].revents & POLLIN &&
				    read(l->wake, &junk, sizeof(junk)) < 0) {
				}
				continue;
			}
			attach(l, fd);
			last_err = 0;
			since = now_ms();
			p[1].fd = fd;
		}
		pthread_mutex_lock(&l->mu);
		if (l->resync)
			build_resync(l);
		r = send_queue(l);
		if (l->qlen)
			p[1].events |= POLLOUT;
		pthread_mutex_unlock(&l->mu);
		if (r < 0) {
			disconnect(l, r);
			backoff = backoff_pause(l, backoff, since);
			continue;
		}
		poll(p, 2, timeout);
		if (p[0].revents & POLLIN && read(l->wake, &junk, sizeof(junk)) < 0) {
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = receive(l);
			if (r == 0 && p[1].revents & (POLLHUP | POLLERR) &&
			    !(p[1].revents & POLLIN))
				r = -ECONNRESET;
			if (r < 0) {
				disconnect(l, r);
				backoff = backoff_pause(l, backoff, since);
			}
		}
	}
	return NULL;
}

int link_start(struct link *l)
{
	sigset_t all, old;
	int r;

	if (l->pid == getpid())
		return 0;
	/* After a fork the thread is gone: start afresh in this process. */
	if (l->pid) {
		pthread_mutex_init(&l->mu, NULL);
		if (l->fd >= 0)
			close(l->fd);
		if (l->wake >= 0)
			close(l->wake);
		l->fd = -1;
		l->connected = false;
	}
	l->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->wake < 0)
		return -errno;
	/*
	 * Connecting a UNIX socket completes or fails at once: try here, so that
	 * the first client after start already sees the agent.
	 */
	r = try_connect(l);
	if (r >= 0)
		attach(l, r);
	/* the thread takes no signals: OpenVPN's handlers stay OpenVPN's */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&l->thread, NULL, link_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		close(l->wake);
		l->wake = -1;
		return -r;
	}
	l->pid = getpid();
	return 0;
}

void link_free(struct link *l)
{
	if (!l)
		return;
	if (l->pid == getpid()) {
		pthread_mutex_lock(&l->mu);
		l->stop = true;
		wake(l);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
	}
	if (l->fd >= 0)
		close(l->fd);
	if (l->wake >= 0)
		close(l->wake);
	queue_clear(l);
	free(l->q);
	for (size_t i = 0; i < l->ntab; i++)
		client_copy_free(&l->tab[i].c);
	free(l->tab);
	if (l->has_tunnel)
		proto_msg_free(&l->tunnel);
	free(l->claims);
	free(l->partial);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

bool link_connected(struct link *l)
{
	bool c;

	pthread_mutex_lock(&l->mu);
	c = l->connected;
	pthread_mutex_unlock(&l->mu);
	return c;
}

static struct entry *find(struct link *l, const char *cn)
{
	for (size_t i = 0; i < l->ntab; i++)
		if (strcmp(l->tab[i].c.cn, cn) == 0)
			return &l->tab[i];
	return NULL;
}

uint64_t link_client_connect(struct link *l, const struct proto_client *c, bool pending)
{
	struct proto_msg m = { .type = PROTO_CONNECT };
	struct entry *e;
	uint64_t id;

	pthread_mutex_lock(&l->mu);
	id = l->next_id++;
	e = find(l, c->cn);
	if (e) {
		client_copy_free(&e->c);
	} else {
		if (l->ntab == l->captab) {
			size_t cap = l->captab ? l->captab * 2 : 16;
			struct entry *t = realloc(l->tab, cap * sizeof(*t));

			if (!t)
				goto oom;
			l->tab = t;
			l->captab = cap;
		}
		e = &l->tab[l->ntab++];
	}
	if (client_copy(&e->c, c) < 0) {
		*e = l->tab[--l->ntab];
		goto oom;
	}
	e->pending = pending;
	e->id = id;
	m.id = id;
	m.connect = *c;
	enqueue(l, &m);
	pthread_mutex_unlock(&l->mu);
	return id;
oom:
	qlog(l, LOG_ERR, "out of memory recording client %s", c->cn);
	pthread_mutex_unlock(&l->mu);
	return id;
}

void link_client_admitted(struct link *l, const char *cn)
{
	struct entry *e;

	pthread_mutex_lock(&l->mu);
	if ((e = find(l, cn)))
		e->pending = false;
	pthread_mutex_unlock(&l->mu);
}

bool link_client_disconnect(struct link *l, const char *cn)
{
	struct proto_msg m = { .type = PROTO_DISCONNECT };
	struct entry *e;

	pthread_mutex_lock(&l->mu);
	e = find(l, cn);
	if (e) {
		client_copy_free(&e->c);
		*e = l->tab[--l->ntab];
		snprintf(m.disconnect.cn, sizeof(m.disconnect.cn), "%s", cn);
		enqueue(l, &m);
	}
	pthread_mutex_unlock(&l->mu);
	return e != NULL;
}

void link_learn(struct link *l, enum proto_learn_op op, const struct pfx *addr, const char *cn)
{
	struct proto_msg m = { .type = PROTO_LEARN };

	m.learn.op = op;
	m.learn.addr = *addr;
	if (cn)
		snprintf(m.learn.cn, sizeof(m.learn.cn), "%s", cn);
	pthread_mutex_lock(&l->mu);
	enqueue(l, &m);
	pthread_mutex_unlock(&l->mu);
}

void link_tunnel(struct link *l, const struct proto_msg *t)
{
	struct pfx *routes = NULL;

	if (t->tunnel.routes.n) {
		routes = malloc(t->tunnel.routes.n * sizeof(*routes));
		if (!routes)
			return;
		memcpy(routes, t->tunnel.routes.v, t->tunnel.routes.n * sizeof(*routes));
	}
	pthread_mutex_lock(&l->mu);
	if (l->has_tunnel)
		proto_msg_free(&l->tunnel);
	l->tunnel = *t;
	l->tunnel.tunnel.routes.v = routes;
	/* after DOWN there is no tunnel to re-announce */
	l->has_tunnel = t->tunnel.event != PROTO_TUNNEL_DOWN;
	enqueue(l, &l->tunnel);
	if (!l->has_tunnel) {
		proto_msg_free(&l->tunnel);
		memset(&l->tunnel, 0, sizeof(l->tunnel));
	}
	pthread_mutex_unlock(&l->mu);
}

int link_ack(struct link *l, uint64_t id, char *err, size_t errlen)
{
	int r = 0;

	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < ACK_RING && i < l->nacks; i++) {
		const struct ack *a = &l->acks[(l->nacks - 1 - i) % ACK_RING];

		if (a->id != id)
			continue;
		r = a->ok ? 1 : -1;
		if (!a->ok)
			snprintf(err, errlen, "%s", a->error);
		break;
	}
	pthread_mutex_unlock(&l->mu);
	return r;
}

void link_view(struct link *l, link_view_fn fn, void *ctx)
{
	struct proto_client *peers;
	size_t n = 0;

	pthread_mutex_lock(&l->mu);
	peers = malloc((l->ntab + 1) * sizeof(*peers));
	if (peers)
		for (; n < l->ntab; n++)
			peers[n] = l->tab[n].c;
	fn(l->claims, l->nclaims, peers, n, ctx);
	pthread_mutex_unlock(&l->mu);
	free(peers);
}

void link_flush_log(struct link *l, link_log_fn fn, void *ctx)
{
	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->nlogs; i++)
		fn(l->logs[i].prio, l->logs[i].msg, ctx);
	if (l->lost_logs) {
		char msg[64];

		snprintf(msg, sizeof(msg), "%zu log lines of the agent link lost", l->lost_logs);
		fn(LOG_WARNING, msg, ctx);
	}
	l->nlogs = l->lost_logs = 0;
	pthread_mutex_unlock(&l->mu);
}
