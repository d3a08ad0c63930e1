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
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

#define OUTQ_MAX	256
#define CONNS_MAX	256
#define ERRORS_MAX	16
#define CLAIMS_DELAY_MS 50

struct conn {
	struct conn *next;
	int fd;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	struct ainst *inst; /* after hello */
	char name[PROTO_INSTANCE_MAX + 1];
	unsigned errors;
	bool ctl;      /* vpcroutectl: status and reload only */
	bool readonly; /* of the socket's group only: status only */
	bool dead;     /* closed; freed by ctl_reap after the event batch */
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

	strcpy(sun.sun_path, c->socket.path);
	/* a stale socket is removed; a live one, or anything else, is not */
	if (lstat(c->socket.path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("%s exists and is not a socket; not removing it", c->socket.path);
			return -EEXIST;
		}
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(fd);
			log_warnx("another vpcroute-agent is listening on %s", c->socket.path);
			return -EADDRINUSE;
		}
		if (fd >= 0)
			close(fd);
		unlink(c->socket.path);
	} else {
		/* its directory, e.g. /run/vpcroute, unless systemd made it */
		char dir[sizeof(sun.sun_path)], *slash;

		strcpy(dir, c->socket.path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0755) == 0)
				log_info("created %s", dir);
		}
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
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
	snprintf(a->sock_path, sizeof(a->sock_path), "%s", c->socket.path);
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

/* Members of socket.group (by their primary group) may read the status. */
static bool in_socket_group(const struct cfg *c, gid_t gid)
{
	struct group *g = c->socket.group ? getgrnam(c->socket.group) : NULL;

	return g && g->gr_gid == gid;
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
		bool writer = may_write(a->cfg, cred.uid, cred.gid);

		if (!writer && !in_socket_group(a->cfg, cred.gid)) {
			log_warnx(
				"refused a connection from pid %d uid %u gid %u: not root, nor the "
				"OpenVPN user or group, nor the socket's group",
				cred.pid, cred.uid, cred.gid);
			close(fd);
			continue;
		}
		size_t live = 0;

		for (struct conn *x = a->conns; x; x = x->next)
			live += !x->dead;
		if (live >= CONNS_MAX) {
			log_warnx("refused a connection from pid %d: %d connections already",
				  cred.pid, CONNS_MAX);
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
		c->readonly = !writer;
		snprintf(c->name, sizeof(c->name), "pid %d", cred.pid);
		c->next = a->conns;
		a->conns = c;
		ev.data.ptr = c;
		epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev);
		log_debug("connection from pid %d uid %u", cred.pid, cred.uid);
	}
}

/*
 * Closes now, frees later: other events of the same epoll batch may still
 * name this connection (ctl_event skips dead ones, ctl_reap frees them).
 */
static void conn_close(struct agent *a, struct conn *c, const char *why)
{
	if (c->dead)
		return;
	log_info("%s: connection closed (%s)", c->name, why);
	epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	if (c->inst && c->inst->owner == c) {
		/* its instance keeps its clients; a sync cut short is dropped */
		c->inst->owner = NULL;
		state_sync_abort(c->inst);
	}
	for (size_t i = 0; i < c->nout; i++)
		free(c->outq[i].buf);
	c->nout = 0;
}

void ctl_reap(struct agent *a)
{
	struct conn **p = &a->conns;

	while (*p) {
		struct conn *c = *p;

		if (c->dead) {
			*p = c->next;
			free(c);
		} else {
			p = &c->next;
		}
	}
}

void ctl_close_all(struct agent *a)
{
	for (struct conn *c = a->conns; c; c = c->next)
		conn_close(a, c, "agent stopping");
	ctl_reap(a);
}

static void want_out(struct agent *a, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | (c->nout ? EPOLLOUT : 0), .data.ptr = c };

	epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends an encoded message now, or queues it; false when the peer is too far behind. */
static bool send_buf(struct agent *a, struct conn *c, const char *buf, size_t n)
{
	if (!c->nout && send(c->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n)
		return true;
	if (c->nout == OUTQ_MAX)
		return false;
	c->outq[c->nout].buf = malloc(n);
	if (!c->outq[c->nout].buf)
		return false;
	memcpy(c->outq[c->nout].buf, buf, n);
	c->outq[c->nout++].len = n;
	want_out(a, c);
	return true;
}

static bool send_msg(struct agent *a, struct conn *c, const struct proto_msg *m)
{
	char buf[PROTO_MAX_MSG];
	int n = proto_encode(m, buf, sizeof(buf));

	if (n < 0) {
		log_warnx("%s: cannot encode %s: %s", c->name, proto_type_name(m->type),
			  strerror(-n));
		return true;
	}
	return send_buf(a, c, buf, (size_t)n);
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

struct encoded {
	char *buf;
	size_t len;
};

/*
 * The claims as messages that each fit PROTO_MAX_MSG: chunks start at the
 * protocol's cap and are halved until they encode.
 */
static size_t encode_claims(struct agent *a, const struct proto_claim *v, size_t n,
			    struct encoded **out)
{
	struct proto_msg m = { .type = PROTO_CLAIMS };
	struct encoded *e = NULL;
	size_t ne = 0, i = 0;
	char buf[PROTO_MAX_MSG];

	m.claims.gen = a->claims_gen;
	do {
		size_t k = n - i < PROTO_MAX_CLIENTS * 4 ? n - i : PROTO_MAX_CLIENTS * 4;
		struct encoded *w;
		int len;

		for (;;) {
			m.claims.v = n ? (struct proto_claim *)(v + i) : NULL;
			m.claims.n = k;
			m.claims.more = i + k < n;
			len = proto_encode(&m, buf, sizeof(buf));
			if (len != -EMSGSIZE || k == 1)
				break;
			k /= 2;
		}
		w = len > 0 ? realloc(e, (ne + 1) * sizeof(*e)) : NULL;
		if (!w || !(w[ne].buf = malloc((size_t)len))) {
			log_warnx("%s: cannot encode the claims", __func__);
			if (w)
				e = w;
			break;
		}
		e = w;
		memcpy(e[ne].buf, buf, (size_t)len);
		e[ne++].len = (size_t)len;
		i += k;
	} while (i < n);
	*out = e;
	return ne;
}

/*
 * The status as report messages answering request ref: the JSON text cut at
 * UTF-8 character boundaries into pieces that encode within PROTO_MAX_MSG.
 */
static const char *send_status(struct agent *a, struct conn *c, uint64_t ref)
{
	json_t *j = status_json(a);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
	struct proto_msg m = { .type = PROTO_REPORT };
	const char *error = NULL;
	size_t len, off = 0;
	char buf[PROTO_MAX_MSG];

	json_decref(j);
	if (!text)
		return "out of memory";
	len = strlen(text);
	m.report.ref = ref;
	while (off < len && !error) {
		size_t k = len - off < PROTO_REPORT_MAX ? len - off : PROTO_REPORT_MAX;
		int n;

		for (;;) {
			char keep;

			while (k < len - off && ((unsigned char)text[off + k] & 0xc0) == 0x80)
				k--;
			keep = text[off + k];
			text[off + k] = '\0';
			m.report.text = text + off;
			n = proto_encode(&m, buf, sizeof(buf));
			text[off + k] = keep;
			if (n != -EMSGSIZE || k < 64)
				break;
			k /= 2;
		}
		if (n < 0)
			error = "the status cannot be encoded";
		else if (!send_buf(a, c, buf, (size_t)n))
			error = "the status is larger than what the socket queue holds";
		off += k;
	}
	free(text);
	return error;
}

/* A request of vpcroutectl (after its hello with role ctl). */
static const char *ctl_request(struct agent *a, struct conn *c, const struct proto_msg *m,
			       char *why, size_t whylen)
{
	switch (m->type) {
	case PROTO_STATUS:
		return send_status(a, c, m->id);
	case PROTO_RELOAD:
		if (c->uid != 0)
			return "reload: only root may reload the agent";
		log_info("%s: reload requested", c->name);
		return agent_reload(a, why, whylen) < 0 ? why : NULL;
	default:
		return "vpcroutectl sends status or reload only";
	}
}

/* Every plugin gets the host's claims: at most once per CLAIMS_DELAY_MS. */
void ctl_broadcast_claims(struct agent *a)
{
	struct itimerspec its = { .it_value.tv_nsec = CLAIMS_DELAY_MS * 1000000L };

	if (a->claims_pending)
		return;
	a->claims_pending = true;
	timerfd_settime(a->claims_timerfd, 0, &its, NULL);
}

void ctl_send_claims(struct agent *a)
{
	struct proto_claim *v;
	struct encoded *e;
	size_t n = state_claims(a, &v), ne;
	struct conn *c, *next;

	a->claims_pending = false;
	a->claims_gen++;
	ne = encode_claims(a, v, n, &e);
	for (c = a->conns; c; c = next) {
		next = c->next;
		for (size_t i = 0; !c->dead && c->inst && i < ne; i++)
			if (!send_buf(a, c, e[i].buf, e[i].len)) {
				conn_close(a, c, "not reading its socket");
				break;
			}
	}
	for (size_t i = 0; i < ne; i++)
		free(e[i].buf);
	free(e);
	free(v);
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
		} else if (m.type == PROTO_HELLO && m.hello.role == PROTO_ROLE_CTL) {
			error = c->ctl || c->inst ? "hello given twice" : NULL;
			if (!error) {
				c->ctl = true;
				snprintf(c->name, sizeof(c->name), "vpcroutectl pid %d", c->pid);
			}
		} else if (c->ctl) {
			error = ctl_request(a, c, &m, why, sizeof(why));
			proto_msg_free(&m);
		} else if (c->readonly) {
			error = "this peer may only read the status (hello with role ctl)";
			proto_msg_free(&m);
		} else {
			error = dispatch(a, c, &c->inst, c->name, sizeof(c->name), &m, &changed,
					 why, sizeof(why));
			proto_msg_free(&m);
		}
		if (error && m.id == 0)
			log_warnx("%s: bad message: %s", c->name, error);
		c->errors = error ? c->errors + 1 : 0;
		/* dispatch programmed the change before the acknowledgement goes out:
		 * deferred admission relies on it */
		if (changed)
			ctl_broadcast_claims(a);
		if (!ack(a, c, m.id, error) || c->errors >= ERRORS_MAX) {
			conn_close(a, c,
				   c->errors >= ERRORS_MAX ? "too many bad messages"
							   : "not reading its socket");
			return;
		}
	}
}

void ctl_event(struct agent *a, struct conn *c, uint32_t events)
{
	if (c->dead)
		return;
	if (events & EPOLLOUT)
		flush_out(a, c);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		receive(a, c);
}
