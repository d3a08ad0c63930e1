// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control socket: SOCK_SEQPACKET, one protocol message per packet
 * (doc/protocol.md). Peers are identified by SO_PEERCRED.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

#define OUTQ_MAX   256
#define ERRORS_MAX 16

struct conn {
	struct conn *next;
	int fd;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	struct ainst *inst; /* after hello */
	char name[PROTO_INSTANCE_MAX + 1];
	unsigned errors;
	struct {
		char *buf;
		size_t len;
	} outq[OUTQ_MAX];
	size_t nout;
};

int ctl_listen(struct agent *a)
{
	const struct cfg *c = a->cfg;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	struct stat st;
	mode_t old;
	int fd;

	/* a stale socket of ours is removed; anything else at the path is not */
	if (lstat(c->socket.path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("%s exists and is not a socket; not removing it", c->socket.path);
			return -EEXIST;
		}
		unlink(c->socket.path);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(sun.sun_path, c->socket.path);
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = -errno;

		umask(old);
		log_warn("bind %s", c->socket.path);
		close(fd);
		return e;
	}
	umask(old);
	if (c->socket.group) {
		struct group *g = getgrnam(c->socket.group);

		if (!g || chown(c->socket.path, 0, g->gr_gid) < 0)
			log_warnx("socket group %s: %s", c->socket.group,
				  g ? strerror(errno) : "no such group");
	}
	if (chmod(c->socket.path, c->socket.mode) < 0 || listen(fd, 64) < 0) {
		int e = -errno;

		log_warn("socket %s", c->socket.path);
		close(fd);
		return e;
	}
	ev.data.ptr = NULL; /* the listener */
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev);
	a->lfd = fd;
	log_info("listening on %s (mode %04o%s%s)", c->socket.path, (unsigned)c->socket.mode,
		 c->socket.group ? ", group " : "", c->socket.group ? c->socket.group : "");
	return 0;
}

/* Root, the OpenVPN user or group may change state. */
static bool may_write(const struct cfg *c, uid_t uid, gid_t gid)
{
	if (uid == 0)
		return true;
	if (c->socket.openvpn_user) {
		struct passwd *p = getpwnam(c->socket.openvpn_user);

		if (p && p->pw_uid == uid)
			return true;
	}
	if (c->socket.openvpn_group) {
		struct group *g = getgrnam(c->socket.openvpn_group);

		if (g && g->gr_gid == gid)
			return true;
	}
	return false;
}

void ctl_accept(struct agent *a)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct epoll_event ev = { .events = EPOLLIN };
	struct conn *c;
	int fd;

	while ((fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			close(fd);
			continue;
		}
		if (!may_write(a->cfg, cred.uid, cred.gid)) {
			log_warnx(
				"refused a connection from pid %d uid %u gid %u: not root, nor the "
				"OpenVPN user or group of the configuration",
				cred.pid, cred.uid, cred.gid);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->pid = cred.pid;
		c->uid = cred.uid;
		c->gid = cred.gid;
		snprintf(c->name, sizeof(c->name), "pid %d", cred.pid);
		c->next = a->conns;
		a->conns = c;
		ev.data.ptr = c;
		epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev);
		log_debug("connection from pid %d uid %u", cred.pid, cred.uid);
	}
}

static void conn_close(struct agent *a, struct conn *c, const char *why)
{
	struct conn **p;

	log_info("%s: connection closed (%s)", c->name, why);
	epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	for (p = &a->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	for (size_t i = 0; i < c->nout; i++)
		free(c->outq[i].buf);
	free(c);
}

static bool conn_alive(struct agent *a, struct conn *c, int fd)
{
	for (struct conn *x = a->conns; x; x = x->next)
		if (x == c && x->fd == fd)
			return true;
	return false;
}

void ctl_close_all(struct agent *a)
{
	while (a->conns)
		conn_close(a, a->conns, "agent stopping");
}

static void want_out(struct agent *a, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | (c->nout ? EPOLLOUT : 0), .data.ptr = c };

	epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends m now, or queues it; false when the peer is too far behind. */
static bool send_msg(struct agent *a, struct conn *c, const struct proto_msg *m)
{
	char buf[PROTO_MAX_MSG];
	int n = proto_encode(m, buf, sizeof(buf));

	if (n < 0) {
		log_warnx("%s: cannot encode %s: %s", c->name, proto_type_name(m->type),
			  strerror(-n));
		return true;
	}
	if (!c->nout && send(c->fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == n)
		return true;
	if (c->nout == OUTQ_MAX)
		return false;
	c->outq[c->nout].buf = malloc((size_t)n);
	if (!c->outq[c->nout].buf)
		return false;
	memcpy(c->outq[c->nout].buf, buf, (size_t)n);
	c->outq[c->nout++].len = (size_t)n;
	want_out(a, c);
	return true;
}

static void flush_out(struct agent *a, struct conn *c)
{
	size_t i = 0;

	for (; i < c->nout; i++) {
		if (send(c->fd, c->outq[i].buf, c->outq[i].len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			break;
		free(c->outq[i].buf);
	}
	memmove(c->outq, c->outq + i, (c->nout - i) * sizeof(c->outq[0]));
	c->nout -= i;
	want_out(a, c);
}

static bool ack(struct agent *a, struct conn *c, uint64_t ref, const char *error)
{
	struct proto_msg m = { .type = PROTO_ACK };

	if (!ref && !error)
		return true;
	m.ack.ref = ref;
	m.ack.ok = error == NULL;
	if (error)
		snprintf(m.ack.error, sizeof(m.ack.error), "%s", error);
	return send_msg(a, c, &m);
}

static bool send_claims(struct agent *a, struct conn *c, const struct proto_claim *v, size_t n)
{
	struct proto_msg m = { .type = PROTO_CLAIMS };
	size_t i = 0, chunk = PROTO_MAX_CLIENTS * 4;

	m.claims.gen = a->claims_gen;
	do {
		size_t k = n - i < chunk ? n - i : chunk;

		m.claims.v = n ? (struct proto_claim *)(v + i) : NULL;
		m.claims.n = k;
		m.claims.more = i + k < n;
		if (!send_msg(a, c, &m))
			return false;
		i += k;
	} while (i < n);
	return true;
}

void ctl_broadcast_claims(struct agent *a)
{
	struct proto_claim *v;
	size_t n = state_claims(a, &v);
	struct conn *c, *next;

	a->claims_gen++;
	for (c = a->conns; c; c = next) {
		next = c->next;
		if (c->inst && !send_claims(a, c, v, n))
			conn_close(a, c, "not reading its socket");
	}
	free(v);
}

/* A whole sync has arrived: the instance's table is exactly what it said. */
static void sync_commit(struct agent *a, struct ainst *in)
{
	char why[PROTO_ERROR_MAX];

	for (size_t i = 0; i < in->n; i++)
		pfx_list_free(&in->c[i].nets);
	free(in->c);
	in->c = NULL;
	in->n = 0;
	for (size_t i = 0; i < in->npend; i++) {
		struct aclient *p = &in->pend[i];
		struct proto_client pc = { .nets = p->nets,
					   .has_tunnel4 = p->has_t4,
					   .tunnel4 = p->t4,
					   .has_tunnel6 = p->has_t6,
					   .tunnel6 = p->t6 };

		snprintf(pc.cn, sizeof(pc.cn), "%s", p->cn);
		if (state_check_client(a, in, &pc, why, sizeof(why)) < 0)
			log_warnx("%s: client %s from the resync not programmed: %s", in->name,
				  p->cn, why);
		else
			state_client_set(in, &pc);
		pfx_list_free(&p->nets);
	}
	free(in->pend);
	in->pend = NULL;
	in->npend = 0;
	in->syncing = false;
	a->nft_ready = true;
	log_info("%s: table synchronised, %zu clients", in->name, in->n);
}

static int sync_add(struct ainst *in, const struct proto_msg *m)
{
	struct aclient *v = realloc(in->pend, (in->npend + m->sync.n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	in->pend = v;
	for (size_t i = 0; i < m->sync.n; i++) {
		const struct proto_client *c = &m->sync.clients[i];
		struct aclient *d = &in->pend[in->npend++];

		memset(d, 0, sizeof(*d));
		snprintf(d->cn, sizeof(d->cn), "%s", c->cn);
		d->has_t4 = c->has_tunnel4;
		d->t4 = c->tunnel4;
		d->has_t6 = c->has_tunnel6;
		d->t6 = c->tunnel6;
		for (size_t k = 0; k < c->nets.n; k++)
			pfx_list_add(&d->nets, &c->nets.v[k], PROTO_MAX_NETS);
	}
	return 0;
}

static void describe_nets(const struct pfx_list *l, char *buf, size_t len)
{
	char s[PFX_STRLEN];
	size_t o = 0;

	snprintf(buf, len, "%s", l->n ? "" : "nothing");
	for (size_t i = 0; i < l->n && o < len; i++) {
		snprintf(buf + o, len - o, "%s%s", i ? " " : "",
			 pfx_format(&l->v[i], s, sizeof(s)));
		o = strlen(buf);
	}
}

/* Handles one message; returns the error for the ack, or NULL. */
static const char *handle(struct agent *a, struct conn *c, struct proto_msg *m, bool *changed,
			  char *why, size_t whylen)
{
	char nets[512];

	if (m->type != PROTO_HELLO && !c->inst)
		return "hello first";
	switch (m->type) {
	case PROTO_HELLO:
		if (m->hello.role == PROTO_ROLE_CTL)
			return "vpcroutectl requests are not served by this agent version";
		c->inst = state_inst(a, m->hello.instance, m->hello.role);
		if (!c->inst)
			return "out of memory";
		snprintf(c->name, sizeof(c->name), "%s", m->hello.instance);
		log_info("%s: plugin connected (pid %u, %s role)", c->name, m->hello.pid,
			 m->hello.role == PROTO_ROLE_SERVER ? "server" : "client");
		return NULL;
	case PROTO_SYNC:
		if (!c->inst->syncing) {
			c->inst->syncing = true;
			c->inst->npend = 0;
		}
		if (sync_add(c->inst, m) < 0)
			return "out of memory";
		if (!m->sync.more) {
			sync_commit(a, c->inst);
			*changed = true;
		}
		return NULL;
	case PROTO_CONNECT:
		if (state_check_client(a, c->inst, &m->connect, why, whylen) < 0) {
			log_warnx("%s: client %s refused: %s", c->name, m->connect.cn, why);
			return why;
		}
		if (state_client_set(c->inst, &m->connect) < 0)
			return "out of memory";
		describe_nets(&m->connect.nets, nets, sizeof(nets));
		log_info("%s: client %s connected, announces %s", c->name, m->connect.cn, nets);
		*changed = true;
		return NULL;
	case PROTO_DISCONNECT:
		if (state_client_del(c->inst, m->disconnect.cn)) {
			log_info("%s: client %s disconnected", c->name, m->disconnect.cn);
			*changed = true;
		}
		return NULL;
	case PROTO_LEARN:
		return NULL; /* the connect carries what is needed */
	case PROTO_TUNNEL: {
		struct ainst *in = c->inst;
		bool up = m->tunnel.event == PROTO_TUNNEL_UP ||
			  m->tunnel.event == PROTO_TUNNEL_ROUTE_UP;

		snprintf(in->dev, sizeof(in->dev), "%s", m->tunnel.dev);
		in->tun_up = up;
		if (m->tunnel.event == PROTO_TUNNEL_ROUTE_UP ||
		    m->tunnel.event == PROTO_TUNNEL_UP) {
			pfx_list_free(&in->routes);
			for (size_t i = 0; i < m->tunnel.routes.n; i++)
				pfx_list_add(&in->routes, &m->tunnel.routes.v[i], PROTO_MAX_NETS);
		}
		if (up)
			sysctl_tunnel(in->dev);
		describe_nets(&in->routes, nets, sizeof(nets));
		log_info("%s: tunnel %s %s, routes %s", c->name, in->dev, up ? "up" : "going down",
			 nets);
		*changed = true;
		return NULL;
	}
	default:
		return "unexpected message type";
	}
}

static void receive(struct agent *a, struct conn *c)
{
	char buf[PROTO_MAX_MSG + 1], err[PROTO_ERRLEN], why[PROTO_ERROR_MAX];
	struct proto_msg m;

	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		const char *error;
		bool changed = false;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			conn_close(a, c, n == 0 ? "peer closed" : strerror(errno));
			return;
		}
		if (n > PROTO_MAX_MSG) {
			snprintf(err, sizeof(err), "message of %zd bytes exceeds %d", n,
				 PROTO_MAX_MSG);
			error = err;
			m.id = 0;
		} else if (proto_decode(buf, (size_t)n, &m, err, sizeof(err)) < 0) {
			error = err;
			m.id = 0;
		} else {
			error = handle(a, c, &m, &changed, why, sizeof(why));
			proto_msg_free(&m);
		}
		if (error && m.id == 0)
			log_warnx("%s: bad message: %s", c->name, error);
		c->errors = error ? c->errors + 1 : 0;
		/* programmed before the acknowledgement: deferred admission relies on it */
		if (changed)
			state_apply(a);
		if (!ack(a, c, m.id, error) || c->errors >= ERRORS_MAX) {
			conn_close(a, c,
				   c->errors >= ERRORS_MAX ? "too many bad messages"
							   : "not reading its socket");
			if (changed)
				ctl_broadcast_claims(a);
			return;
		}
		/* the connection may be closed by a failed broadcast */
		if (changed) {
			int fd = c->fd;

			ctl_broadcast_claims(a);
			if (!conn_alive(a, c, fd))
				return;
		}
	}
}

void ctl_event(struct agent *a, struct conn *c, uint32_t events)
{
	if (events & EPOLLOUT)
		flush_out(a, c);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		receive(a, c);
}
