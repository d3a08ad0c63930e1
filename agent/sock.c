// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control socket: SOCK_SEQPACKET, one protocol message per packet
 * (doc/protocol.md). Peers are identified by SO_PEERCRED at accept and
 * sorted into classes (vpcroute-agent(8), PEERS): root, the OpenVPN user or
 * group (writers: plugins), the socket's group (read-only). Each class has
 * its own budget of connections, so readers can never use up what plugins
 * need; no uid but root holds more than PER_UID_MAX; a peer that is not a
 * plugin is closed after idle_s seconds of silence; accept backs off when
 * the process runs out of descriptors; every peer is read at most
 * MSGS_PER_PASS messages per wake-up.
 *
 * Claims go out as deltas (doc/protocol.md, "claims"): each broadcast
 * compares the host's claims with the table last published, logs what
 * changed under a new generation, and sends each plugin what changed since
 * the generation it holds, merged; a snapshot when it holds none (after
 * hello), asked for one (a gap), speaks version 1, or is further behind
 * than the log reaches. Flow control: a peer whose socket is full gets
 * nothing more of the claims while more than CLAIMS_QUEUE_LOW waits in its
 * queue, and then one merged delta (or a snapshot) for everything it
 * missed; the queue is
 * bounded by bytes (OUTQ_BYTES_MAX: beyond it the peer's requests wait in
 * its socket); a peer is closed only when it has read nothing for STALL_MS.
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
#include "claimset.h"
#include "heap.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#define WRITERS_MAX	  192 /* connections of root, the OpenVPN user and group */
#define READERS_MAX	  64  /* connections of the socket's group */
#define PER_UID_MAX	  32  /* connections of any one uid but root */
#define ERRORS_MAX	  16
#define CLAIMS_DELAY_MS	  50
#define MSGS_PER_PASS	  16	    /* messages read from one peer per wake-up */
#define STATUS_PASS_BYTES (4 << 20) /* of a status sent per wake-up, as far as the peer reads */
#define ACCEPTS_PER_PASS  32
#define ACCEPT_BACKOFF_MS 250 /* pause of accept when out of descriptors */

/* flow control (vpcroute-agent(8), "Flow control") and the claims' log */
#define OUTQ_BYTES_MAX	 (1 << 20)  /* queued for one peer: beyond, its requests wait */
#define STALL_MS	 30000	    /* a peer that reads nothing for so long is closed */
#define PEER_SNDBUF	 (2 << 20)  /* bytes in flight to one peer, in the kernel */
#define CLAIMS_LOG_MIN	 1024	    /* changes kept for deltas, at least (else the table size) */
#define CLAIMS_QUEUE_LOW (64 << 10) /* claims wait while more is queued for the peer */

struct conn {
	struct watcher w; /* first: the loop hands its address back */
	struct peer p;
	struct conn *next;
	unsigned errors;
	bool ctl;  /* vpcroutectl: status and reload only */
	bool dead; /* closed; freed by sock_reap after the event batch */
	bool reload_wait;
	uint64_t reload_ref;
	bool withdraw_wait; /* a withdraw runs for it: answered by sock_withdraw_reply */
	uint64_t withdraw_ref;
	struct {
		char *text; /* the status being sent, NULL when none */
		size_t len, off;
		uint64_t ref;
	} status;
	uint64_t active_ms; /* last message or write */
	struct {
		char *buf;
		size_t len;
	} * outq;
	size_t nout, capout;
	size_t outq_bytes;
	uint64_t out_ms;     /* the queue last moved (or began); stalled after STALL_MS */
	unsigned version;    /* of the peer's messages (its hello); 0: none yet */
	uint64_t claims_gen; /* the claims it holds once it read its queue; 0: none */
};

/* One change of the claims, made by generation gen: the claim in short
 * (a struct proto_claim holds both names in full, 148 bytes; the log holds
 * as many changes as there are claims). */
struct claims_change {
	uint64_t gen;
	struct pfx net;
	bool add;
	const char *instance; /* in sock's instance names */
	char *cn;	      /* malloc'd */
};

struct sock {
	struct agent *a;
	int epfd;
	struct watcher listen_w, claims_w, timer_w;
	char path[108]; /* where we listen (a reload does not move it) */
	struct conn *conns;
	uint64_t idle_ms;
	uint64_t timer_at;	   /* when timer_w fires; 0: disarmed */
	uint64_t accept_resume;	   /* accept paused until then; 0: not paused */
	bool claims_pending;	   /* a claims broadcast is scheduled */
	bool reload_pending;	   /* a peer asked for a reload */
	unsigned withdraw_pending; /* scopes of withdraws asked for, not yet taken */
	/* resolved at start and at reload, never per accept */
	bool has_ovpn_uid, has_ovpn_gid, has_group;
	uid_t ovpn_uid;
	gid_t ovpn_gid, group_gid;
	struct log_rl rl_refused, rl_bad;
	/* the claims as last published (generation a->claims_gen), and the
	 * changes that led there from generation log_from */
	struct claimset pub;
	struct claims_change *log;
	size_t loghead, nlog, caplog;
	uint64_t log_from;
	char **inames; /* the instance names of the log's changes, each once */
	size_t ninames;
};

static void on_listen(struct watcher *w, uint32_t events);
static void log_drop(struct sock *s, size_t n);
static void on_claims(struct watcher *w, uint32_t events);
static void on_timer(struct watcher *w, uint32_t events);
static void on_conn(struct watcher *w, uint32_t events);

static const char *class_name(enum peer_class c)
{
	return c == PEER_ROOT ? "root" : c == PEER_WRITER ? "OpenVPN user/group" : "status group";
}

void sock_configure(struct sock *s, const struct cfg *c)
{
	struct passwd *pw;
	struct group *g;

	s->has_ovpn_uid = s->has_ovpn_gid = s->has_group = false;
	if (c->socket.openvpn_user) {
		if ((pw = getpwnam(c->socket.openvpn_user))) {
			s->has_ovpn_uid = true;
			s->ovpn_uid = pw->pw_uid;
		} else {
			log_warnx("socket.openvpn_user %s: no such user; name OpenVPN's user "
				  "option's user",
				  c->socket.openvpn_user);
		}
	}
	if (c->socket.openvpn_group) {
		if ((g = getgrnam(c->socket.openvpn_group))) {
			s->has_ovpn_gid = true;
			s->ovpn_gid = g->gr_gid;
		} else {
			log_warnx("socket.openvpn_group %s: no such group; name OpenVPN's group "
				  "option's group",
				  c->socket.openvpn_group);
		}
	}
	if (c->socket.group) {
		if ((g = getgrnam(c->socket.group))) {
			s->has_group = true;
			s->group_gid = g->gr_gid;
			if (chown(s->path, 0, g->gr_gid) < 0)
				log_warn("socket group %s", c->socket.group);
		} else {
			log_warnx("socket group %s: no such group; create it (groupadd --system "
				  "%s) or fix socket.group",
				  c->socket.group, c->socket.group);
		}
	}
	if (chmod(s->path, c->socket.mode) < 0)
		log_warn("chmod %s", s->path);
}

int sock_open(struct agent *a, int epfd, unsigned idle_s, struct sock **out)
{
	const struct cfg *c = a->cfg;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sock *s;
	struct stat st;
	mode_t old;
	int fd, e;

	strcpy(sun.sun_path, c->socket.path);
	/* a stale socket is removed; a live one, or anything else, is not */
	if (lstat(c->socket.path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("%s exists and is not a socket; not removing it: move it away or "
				  "set another socket.path",
				  c->socket.path);
			return -EEXIST;
		}
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(fd);
			log_warnx("another vpcroute-agent is listening on %s: stop it, or give "
				  "this one another socket.path",
				  c->socket.path);
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
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->a = a;
	s->epfd = epfd;
	claimset_init(&s->pub);
	if (!a->claims_gen)
		a->claims_gen = 1; /* an empty table; 0 is "none" for a peer */
	s->log_from = a->claims_gen;
	s->idle_ms = (uint64_t)idle_s * 1000;
	s->rl_refused = (struct log_rl)LOG_RL_INIT(5, 1);
	s->rl_bad = (struct log_rl)LOG_RL_INIT(5, 1);
	s->listen_w = (struct watcher){ .fd = -1, .fn = on_listen, .ctx = s };
	s->claims_w = (struct watcher){ .fn = on_claims, .ctx = s };
	s->timer_w = (struct watcher){ .fn = on_timer, .ctx = s };
	s->claims_w.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	s->timer_w.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->claims_w.fd < 0 || s->timer_w.fd < 0 ||
	    (e = watcher_add(epfd, &s->claims_w, EPOLLIN)) < 0 ||
	    (e = watcher_add(epfd, &s->timer_w, EPOLLIN)) < 0) {
		e = -errno;
		goto fail;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = -errno;
		goto fail;
	}
	s->listen_w.fd = fd;
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		e = -errno;
		umask(old);
		log_warn("bind %s", c->socket.path);
		goto fail;
	}
	umask(old);
	snprintf(s->path, sizeof(s->path), "%s", c->socket.path);
	sock_configure(s, c);
	if (listen(fd, 64) < 0 || (e = watcher_add(epfd, &s->listen_w, EPOLLIN)) < 0) {
		e = -errno;
		log_warn("socket %s", c->socket.path);
		unlink(s->path);
		goto fail;
	}
	log_info("listening on %s (mode %04o%s%s)", c->socket.path, (unsigned)c->socket.mode,
		 c->socket.group ? ", group " : "", c->socket.group ? c->socket.group : "");
	*out = s;
	return 0;
fail:
	if (s->listen_w.fd >= 0)
		close(s->listen_w.fd);
	if (s->claims_w.fd >= 0)
		close(s->claims_w.fd);
	if (s->timer_w.fd >= 0)
		close(s->timer_w.fd);
	free(s);
	return e;
}

/* Root, the OpenVPN user or group (writers), the socket's group by its
 * primary group (readers); -1: none of them. */
static int classify(const struct sock *s, uid_t uid, gid_t gid)
{
	if (uid == 0)
		return PEER_ROOT;
	if ((s->has_ovpn_uid && uid == s->ovpn_uid) || (s->has_ovpn_gid && gid == s->ovpn_gid))
		return PEER_WRITER;
	if (s->has_group && gid == s->group_gid)
		return PEER_READONLY;
	return -1;
}

/* A peer that is not (yet) a plugin is closed when silent too long. */
static bool idle_limited(const struct conn *c)
{
	return !c->p.inst && !c->withdraw_wait; /* a withdraw takes as long as EC2 does */
}

static void timer_arm(struct sock *s, uint64_t at)
{
	uint64_t now = loop_now_ms();
	struct itimerspec its = { 0 };

	if (s->timer_at && s->timer_at <= at)
		return;
	at = at > now ? at - now : 1;
	its.it_value.tv_sec = (time_t)(at / 1000);
	its.it_value.tv_nsec = (long)(at % 1000) * 1000000L;
	s->timer_at = now + at;
	timerfd_settime(s->timer_w.fd, 0, &its, NULL);
}

/* Out of descriptors: stop watching the listener for a while, instead of
 * being woken for the same pending connection again and again. */
static void accept_pause(struct sock *s, int err)
{
	watcher_del(s->epfd, &s->listen_w);
	s->accept_resume = loop_now_ms() + ACCEPT_BACKOFF_MS;
	timer_arm(s, s->accept_resume);
	log_warnx_rl(&s->rl_refused, "accept on %s: %s; not accepting for %d ms", s->path,
		     strerror(err), ACCEPT_BACKOFF_MS);
}

static void admit(struct sock *s, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	size_t writers = 0, readers = 0, same_uid = 0;
	struct conn *c;
	int cls;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return;
	}
	cls = classify(s, cred.uid, cred.gid);
	if (cls < 0) {
		log_warnx_rl(&s->rl_refused,
			     "refused a connection from pid %d uid %u gid %u: not root, nor the "
			     "OpenVPN user or group, nor the socket's group: add that user to "
			     "socket.group to let it read the status",
			     cred.pid, cred.uid, cred.gid);
		close(fd);
		return;
	}
	for (struct conn *x = s->conns; x; x = x->next) {
		if (x->dead)
			continue;
		if (x->p.cls == PEER_READONLY)
			readers++;
		else
			writers++;
		same_uid += x->p.uid == cred.uid;
	}
	if (cls == PEER_READONLY ? readers >= READERS_MAX : writers >= WRITERS_MAX) {
		log_warnx_rl(&s->rl_refused,
			     "refused a connection from pid %d uid %u: the %d connections for "
			     "%s peers are in use: close idle vpcroutectl clients "
			     "(vpcroute-agent(8), Limits)",
			     cred.pid, cred.uid, cls == PEER_READONLY ? READERS_MAX : WRITERS_MAX,
			     cls == PEER_READONLY ? "read-only" : "writer");
		close(fd);
		return;
	}
	if (cred.uid != 0 && same_uid >= PER_UID_MAX) {
		log_warnx_rl(
			&s->rl_refused,
			"refused a connection from pid %d uid %u: that uid has %d connections "
			"already: close that user's idle connections (vpcroute-agent(8), Limits)",
			cred.pid, cred.uid, PER_UID_MAX);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	/* room for a burst of claims in the kernel: root may pass net.core.wmem_max */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &(int){ PEER_SNDBUF }, sizeof(int)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ PEER_SNDBUF }, sizeof(int));
	c->w = (struct watcher){ .fd = fd, .fn = on_conn, .ctx = s };
	c->p.pid = cred.pid;
	c->p.uid = cred.uid;
	c->p.gid = cred.gid;
	c->p.cls = (enum peer_class)cls;
	c->active_ms = loop_now_ms();
	snprintf(c->p.name, sizeof(c->p.name), "pid %d", cred.pid);
	if (watcher_add(s->epfd, &c->w, EPOLLIN) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->next = s->conns;
	s->conns = c;
	if (s->idle_ms)
		timer_arm(s, c->active_ms + s->idle_ms);
	log_debug("connection from pid %d uid %u (%s)", cred.pid, cred.uid, class_name(c->p.cls));
}

static void on_listen(struct watcher *w, uint32_t events)
{
	struct sock *s = w->ctx;

	for (int i = 0; i < ACCEPTS_PER_PASS; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			admit(s, fd);
		} else if (errno == EINTR || errno == ECONNABORTED) {
			continue;
		} else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			   errno == ENOMEM) {
			accept_pause(s, errno);
			return;
		} else {
			if (errno != EAGAIN)
				log_warnx_rl(&s->rl_refused, "accept on %s: %s", s->path,
					     strerror(errno));
			return;
		}
	}
}

/*
 * Closes now, frees later: other events of the same epoll batch may still
 * name this connection (on_conn skips dead ones, sock_reap frees them).
 */
static void conn_close(struct sock *s, struct conn *c, const char *why)
{
	if (c->dead)
		return;
	log_info("%s: connection closed (%s)", c->p.name, why);
	watcher_del(s->epfd, &c->w);
	close(c->w.fd);
	c->w.fd = -1;
	c->dead = true;
	dispatch_forget(s->a, &c->p); /* its changes in the batch stay, unanswered */
	if (c->p.inst && c->p.inst->owner == &c->p) {
		/* its instance keeps its clients and its owner, for a while
		 * (dispatch.c); a sync cut short is dropped */
		c->p.inst->owner = NULL;
		c->p.inst->owner_left_ms = loop_now_ms();
		state_sync_abort(c->p.inst);
	}
	for (size_t i = 0; i < c->nout; i++)
		free(c->outq[i].buf);
	free(c->outq);
	c->outq = NULL;
	c->nout = c->capout = c->outq_bytes = 0;
	if (c->status.text)
		heap_freed(c->status.len);
	free(c->status.text);
	c->status.text = NULL;
}

/* A message waits in the peer's socket. */
static bool has_input(const struct conn *c)
{
	char b;

	return recv(c->w.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* Idle peers closed, accept resumed; then armed for the next deadline. */
static void on_timer(struct watcher *w, uint32_t events)
{
	struct sock *s = w->ctx;
	uint64_t x, now = loop_now_ms(), next = 0;

	if (read(w->fd, &x, sizeof(x)) < 0 && errno == EAGAIN)
		return;
	s->timer_at = 0;
	if (s->accept_resume && now >= s->accept_resume) {
		s->accept_resume = 0;
		if (watcher_add(s->epfd, &s->listen_w, EPOLLIN) < 0)
			log_warn("epoll: %s", s->path);
	}
	if (s->accept_resume)
		next = s->accept_resume;
	for (struct conn *c = s->conns; c; c = c->next) {
		if (c->dead || !c->nout)
			continue;
		if (now - c->out_ms >= STALL_MS) {
			conn_close(s, c, "read nothing for 30 s");
			continue;
		}
		if (!next || c->out_ms + STALL_MS < next)
			next = c->out_ms + STALL_MS;
	}
	for (struct conn *c = s->conns; s->idle_ms && c; c = c->next) {
		if (c->dead || !idle_limited(c))
			continue;
		if (now - c->active_ms >= s->idle_ms && !c->status.text && has_input(c))
			c->active_ms = now; /* the loop was busy, the peer was not */
		if (now - c->active_ms >= s->idle_ms) {
			conn_close(s, c, "idle");
			continue;
		}
		if (!next || c->active_ms + s->idle_ms < next)
			next = c->active_ms + s->idle_ms;
	}
	if (next)
		timer_arm(s, next);
}

void sock_reap(struct sock *s)
{
	struct conn **p = &s->conns;

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

/* The claims published and their log. */
static void claims_free(struct sock *s)
{
	claimset_free(&s->pub);
	log_drop(s, s->nlog - s->loghead);
	free(s->log);
	for (size_t i = 0; i < s->ninames; i++)
		free(s->inames[i]);
	free(s->inames);
}

void sock_close(struct sock *s)
{
	if (!s)
		return;
	for (struct conn *c = s->conns; c; c = c->next)
		conn_close(s, c, "agent stopping");
	sock_reap(s);
	close(s->listen_w.fd);
	close(s->claims_w.fd);
	close(s->timer_w.fd);
	unlink(s->path);
	claims_free(s);
	free(s);
}

/* The peer's requests wait in its socket while its answers fill the queue. */
static bool outq_full(const struct conn *c)
{
	return c->outq_bytes > OUTQ_BYTES_MAX;
}

static void want_out(struct sock *s, struct conn *c)
{
	/* while a status goes out, the peer's next request waits in its socket */
	watcher_mod(s->epfd, &c->w,
		    (c->status.text || outq_full(c) ? 0 : EPOLLIN) |
			    (c->nout || c->status.text ? EPOLLOUT : 0));
}

/* Sends an encoded message now, or queues it; false when out of memory. */
static bool send_buf(struct sock *s, struct conn *c, const char *buf, size_t n)
{
	if (!c->nout && send(c->w.fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n)
		return true;
	if (c->nout == c->capout) {
		size_t cap = c->capout ? c->capout * 2 : 16;
		void *q = realloc(c->outq, cap * sizeof(*c->outq));

		if (!q)
			return false;
		c->outq = q;
		c->capout = cap;
	}
	c->outq[c->nout].buf = malloc(n);
	if (!c->outq[c->nout].buf)
		return false;
	memcpy(c->outq[c->nout].buf, buf, n);
	c->outq[c->nout++].len = n;
	c->outq_bytes += n;
	if (c->nout == 1) {
		c->out_ms = loop_now_ms();
		timer_arm(s, c->out_ms + STALL_MS);
	}
	want_out(s, c);
	return true;
}

static bool send_msg(struct sock *s, struct conn *c, const struct proto_msg *msg)
{
	char buf[PROTO_MAX_MSG];
	struct proto_msg v = *msg, *m = &v;
	int n;

	/* a peer of an older version is answered in its version */
	v.version = c->version;
	n = proto_encode(m, buf, sizeof(buf));

	if (n < 0) {
		log_warnx("%s: cannot encode %s: %s", c->p.name, proto_type_name(m->type),
			  strerror(-n));
		return true;
	}
	return send_buf(s, c, buf, (size_t)n);
}

static void claims_pump(struct sock *s, struct conn *c);

static void flush_out(struct sock *s, struct conn *c)
{
	size_t i = 0;

	for (; i < c->nout; i++) {
		if (send(c->w.fd, c->outq[i].buf, c->outq[i].len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			break;
		c->outq_bytes -= c->outq[i].len;
		free(c->outq[i].buf);
	}
	if (i) { /* outq may be NULL with nothing queued */
		memmove(c->outq, c->outq + i, (c->nout - i) * sizeof(c->outq[0]));
		c->nout -= i;
		c->out_ms = loop_now_ms();
	}
	want_out(s, c);
	/* drained: what the claims did meanwhile, merged */
	claims_pump(s, c);
}

static bool ack(struct sock *s, struct conn *c, uint64_t ref, const char *error)
{
	struct proto_msg m = { .type = PROTO_ACK };

	if (!ref && !error)
		return true;
	m.ack.ref = ref;
	m.ack.ok = error == NULL;
	if (error)
		snprintf(m.ack.error, sizeof(m.ack.error), "%s", error);
	return send_msg(s, c, &m);
}

/*
 * The status as report messages answering request c->status.ref: the JSON
 * text cut at UTF-8 character boundaries into pieces that encode within
 * PROTO_MAX_MSG, at most STATUS_PASS_BYTES of them per wake-up and only as
 * fast as the peer reads them (a status of any size neither holds the loop
 * nor fills the queue), then the ack. The peer's next request waits until then.
 */
static void status_pump(struct sock *s, struct conn *c)
{
	struct proto_msg m = { .type = PROTO_REPORT };
	char *text = c->status.text, buf[PROTO_MAX_MSG];
	size_t len = c->status.len, off = c->status.off;
	const char *error = NULL;

	m.report.ref = c->status.ref;
	m.version = c->version; /* a vpcroutectl of version 1 reads version 1 */
	for (size_t sent_bytes = 0; sent_bytes < STATUS_PASS_BYTES && off < len && !c->nout;) {
		size_t k = len - off < PROTO_REPORT_MAX ? len - off : PROTO_REPORT_MAX;
		ssize_t sent;
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
		if (n < 0) {
			error = "the status cannot be encoded";
			break;
		}
		sent = send(c->w.fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent < 0 && (errno == EAGAIN || errno == EINTR))
			break; /* EPOLLOUT brings us back */
		if (sent != n) {
			conn_close(s, c, sent < 0 ? strerror(errno) : "short send");
			return;
		}
		c->active_ms = loop_now_ms();
		off += k;
		sent_bytes += k;
	}
	c->status.off = off;
	if (off < len && !error) {
		want_out(s, c);
		return;
	}
	free(c->status.text);
	c->status.text = NULL;
	heap_freed(len);
	want_out(s, c);
	if (!ack(s, c, c->status.ref, error))
		conn_close(s, c, "out of memory for its queue");
}

/* Starts streaming text (malloc'd, taken over) as the answer to request ref;
 * NULL, or the error for the ack at once. */
static const char *stream_start(struct conn *c, char *text, uint64_t ref)
{
	if (!text)
		return "out of memory";
	c->status.text = text;
	c->status.len = strlen(text);
	c->status.off = 0;
	c->status.ref = ref;
	return NULL;
}

/* Starts sending the status. */
static const char *send_status(struct sock *s, struct conn *c, uint64_t ref)
{
	return stream_start(c, status_json_text(s->a), ref);
}

/* Starts sending the metrics (vpcroutectl metrics), streamed like the status. */
static const char *send_metrics(struct sock *s, struct conn *c, uint64_t ref)
{
	if (metrics_collect(s->a) < 0)
		return "out of memory";
	return stream_start(c, metrics_render((long long)loop_now_ms(), NULL), ref);
}

/* A request of vpcroutectl (after its hello with role ctl); deferred: a
 * status or metrics (answered by status_pump) or a reload (by sock_reload_reply). */
static const char deferred[] = "";

static const char *ctl_request(struct sock *s, struct conn *c, const struct proto_msg *m)
{
	switch (m->type) {
	case PROTO_STATUS: {
		const char *error = send_status(s, c, m->id);

		return error ? error : deferred;
	}
	case PROTO_METRICS: {
		const char *error = send_metrics(s, c, m->id);

		return error ? error : deferred;
	}
	case PROTO_RELOAD:
		if (c->p.uid != 0)
			return "reload: only root may reload the agent";
		log_info("%s: reload requested", c->p.name);
		c->reload_wait = true;
		c->reload_ref = m->id;
		s->reload_pending = true;
		return deferred;
	case PROTO_WITHDRAW:
		if (c->p.uid != 0)
			return "withdraw: only root may withdraw the VPC routes";
		log_info("%s: withdraw of the VPC routes requested (%s)", c->p.name,
			 m->withdraw.scope == PROTO_WITHDRAW_ALL	? "all"
			 : m->withdraw.scope == PROTO_WITHDRAW_UNWANTED ? "unwanted"
									: "ours");
		c->withdraw_wait = true;
		c->withdraw_ref = m->id;
		s->withdraw_pending |= m->withdraw.scope;
		return deferred;
	default:
		return "vpcroutectl sends status, metrics, reload or withdraw only";
	}
}

unsigned sock_withdraw_requested(struct sock *s)
{
	unsigned what = s->withdraw_pending;

	s->withdraw_pending = 0;
	return what;
}

bool sock_withdraw_waiting(const struct sock *s)
{
	for (const struct conn *c = s->conns; c; c = c->next)
		if (!c->dead && c->withdraw_wait)
			return true;
	return false;
}

void sock_withdraw_reply(struct sock *s, const char *text, const char *error)
{
	for (struct conn *c = s->conns; c; c = c->next) {
		if (c->dead || !c->withdraw_wait)
			continue;
		c->withdraw_wait = false;
		c->active_ms = loop_now_ms();
		if (!error && !(c->status.text = strdup(text)))
			error = "out of memory";
		if (error) {
			if (!ack(s, c, c->withdraw_ref, error))
				conn_close(s, c, "not reading its socket");
			continue;
		}
		/* the result goes as the status does: reports, then the ack */
		c->status.len = strlen(c->status.text);
		c->status.off = 0;
		c->status.ref = c->withdraw_ref;
		status_pump(s, c);
	}
}

bool sock_reload_requested(const struct sock *s)
{
	return s->reload_pending;
}

void sock_reload_reply(struct sock *s, const char *error)
{
	s->reload_pending = false;
	for (struct conn *c = s->conns; c; c = c->next) {
		if (c->dead || !c->reload_wait)
			continue;
		c->reload_wait = false;
		if (!ack(s, c, c->reload_ref, error))
			conn_close(s, c, "out of memory for its queue");
	}
}

/* The configuration the agent runs, for one plugin: false when out of memory. */
static bool send_policy(struct sock *s, struct conn *c)
{
	struct proto_msg m = { .type = PROTO_POLICY };

	m.policy.gen = s->a->cfg_gen;
	memcpy(m.policy.digest, s->a->cfg->digest, sizeof(m.policy.digest));
	return send_msg(s, c, &m);
}

void sock_broadcast_policy(struct sock *s)
{
	for (struct conn *c = s ? s->conns : NULL; c; c = c->next)
		if (!c->dead && c->p.inst && !send_policy(s, c))
			conn_close(s, c, "out of memory for its queue");
}

/* Every plugin gets the host's claims: at most once per CLAIMS_DELAY_MS. */
static void claims_schedule(struct sock *s)
{
	struct itimerspec its = { .it_value.tv_nsec = CLAIMS_DELAY_MS * 1000000L };

	if (s->claims_pending)
		return;
	s->claims_pending = true;
	timerfd_settime(s->claims_w.fd, 0, &its, NULL);
}

void sock_broadcast_claims(struct sock *s)
{
	s->a->claims_full = true;
	claims_schedule(s);
}

/*
 * Sends claims as messages that each fit PROTO_MAX_MSG, sized by
 * proto_claim_size: a snapshot (delta false: add holds the table) or a
 * delta from base. False when out of memory.
 */
static bool claims_send(struct sock *s, struct conn *c, bool delta, uint64_t base,
			const struct proto_claim *add, size_t nadd, const struct proto_claim *del,
			size_t ndel)
{
	struct proto_msg m = { .type = PROTO_CLAIMS };
	size_t ia = 0, id = 0;

	m.claims.gen = s->a->claims_gen;
	m.claims.delta = delta;
	m.claims.base = base;
	do {
		size_t room = PROTO_MAX_MSG - PROTO_CLAIMS_FRAME, na = 0, nd = 0, k;

		while (ia + na < nadd && na < PROTO_MAX_CLAIMS &&
		       (k = proto_claim_size(&add[ia + na]) + 1) <= room) {
			room -= k;
			na++;
		}
		while (na == nadd - ia && id + nd < ndel && na + nd < PROTO_MAX_CLAIMS &&
		       (k = proto_claim_size(&del[id + nd]) + 1) <= room) {
			room -= k;
			nd++;
		}
		m.claims.v = na ? (struct proto_claim *)add + ia : NULL;
		m.claims.n = na;
		m.claims.del = nd ? (struct proto_claim *)del + id : NULL;
		m.claims.ndel = nd;
		ia += na;
		id += nd;
		m.claims.more = ia < nadd || id < ndel;
		if (!send_msg(s, c, &m))
			return false;
	} while (m.claims.more);
	return true;
}

/* The claim a change of the log is about. */
static struct proto_claim change_claim(const struct claims_change *ch)
{
	struct proto_claim c;

	memset(&c, 0, sizeof(c));
	c.net = ch->net;
	snprintf(c.cn, sizeof(c.cn), "%s", ch->cn);
	snprintf(c.instance, sizeof(c.instance), "%s", ch->instance);
	return c;
}

/*
 * What changed from generation base to now, merged: a claim added and
 * removed again is in neither set, one removed and added again too.
 */
static int claims_merge(struct sock *s, uint64_t base, struct claimset *add, struct claimset *del)
{
	size_t lo = s->loghead, hi = s->nlog;

	/* the log is in generation order: the first change after base, by
	 * binary search (a log of 50,000 changes is not walked per peer) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->log[mid].gen <= base)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < s->nlog; i++) {
		const struct claims_change *ch = &s->log[i];
		struct claimset *same = ch->add ? add : del, *other = ch->add ? del : add;
		struct proto_claim c;

		c = change_claim(ch);
		if (!claimset_del(other, &c) && claimset_add(same, &c) < 0)
			return -ENOMEM;
	}
	return 0;
}

/*
 * The claims that changed since the generation c holds, once its queue is
 * short (until then, changes only accumulate in the log): one merged delta,
 * or a snapshot. A peer that reads slowly but steadily still gets them.
 */
static void claims_pump(struct sock *s, struct conn *c)
{
	struct claimset add, del;
	bool ok;

	if (c->dead || !c->p.inst || c->ctl || c->outq_bytes > CLAIMS_QUEUE_LOW ||
	    c->claims_gen == s->a->claims_gen)
		return;
	claimset_init(&add);
	claimset_init(&del);
	if (c->version >= 2 && c->claims_gen && c->claims_gen >= s->log_from &&
	    claims_merge(s, c->claims_gen, &add, &del) == 0 && add.n + del.n < s->pub.n + 1)
		ok = claims_send(s, c, true, c->claims_gen, add.v, add.n, del.v, del.n);
	else
		ok = claims_send(s, c, false, 0, s->pub.v, s->pub.n, NULL, 0);
	claimset_free(&add);
	claimset_free(&del);
	if (!ok) {
		conn_close(s, c, "out of memory for its claims");
		return;
	}
	c->claims_gen = s->a->claims_gen;
}

/* name, as the log keeps it: once (instances are few), NULL when out of memory. */
static const char *iname(struct sock *s, const char *name)
{
	char **v;

	for (size_t i = 0; i < s->ninames; i++)
		if (strcmp(s->inames[i], name) == 0)
			return s->inames[i];
	if (!(v = realloc(s->inames, (s->ninames + 1) * sizeof(*v))))
		return NULL;
	s->inames = v;
	return (v[s->ninames] = strdup(name)) ? v[s->ninames++] : NULL;
}

/* Forgets the log's first n changes (from loghead on). */
static void log_drop(struct sock *s, size_t n)
{
	for (size_t i = s->loghead; i < s->loghead + n; i++)
		free(s->log[i].cn);
	s->loghead += n;
}

static int log_change(struct sock *s, bool add, const struct proto_claim *c)
{
	const char *instance = iname(s, c->instance);
	char *cn = instance ? strdup(c->cn) : NULL;

	if (!cn)
		return -ENOMEM;
	if (s->nlog == s->caplog) {
		size_t cap = s->caplog ? s->caplog * 2 : 64;
		struct claims_change *v = realloc(s->log, cap * sizeof(*v));

		if (!v) {
			free(cn);
			return -ENOMEM;
		}
		s->log = v;
		s->caplog = cap;
	}
	s->log[s->nlog++] = (struct claims_change){
		.gen = s->a->claims_gen, .net = c->net, .add = add, .instance = instance, .cn = cn
	};
	return 0;
}

/* Forgets the oldest generations while the log holds more changes than a snapshot would. */
static void log_trim(struct sock *s)
{
	size_t keep = s->pub.n > CLAIMS_LOG_MIN ? s->pub.n : CLAIMS_LOG_MIN;

	while (s->nlog - s->loghead > keep) {
		uint64_t g = s->log[s->loghead].gen;

		while (s->loghead < s->nlog && s->log[s->loghead].gen == g)
			log_drop(s, 1);
		s->log_from = g;
	}
	if (s->loghead > s->nlog / 2) {
		memmove(s->log, s->log + s->loghead, (s->nlog - s->loghead) * sizeof(*s->log));
		s->nlog -= s->loghead;
		s->loghead = 0;
	}
}

/* A claim of client cn of instance in. */
static struct proto_claim claim_of(const struct ainst *in, const char *cn, const struct pfx *net)
{
	struct proto_claim c;

	memset(&c, 0, sizeof(c));
	c.net = *net;
	memcpy(c.cn, cn, sizeof(c.cn));
	memcpy(c.instance, in->name, sizeof(c.instance));
	return c;
}

/*
 * The clients changed one by one since the last publication (a->dirty):
 * their claims then and now, against the table last published; what
 * changed is applied to it and logged. O(changes), not O(claims). 0, or
 * -ENOMEM (then the log may miss some: the caller falls back to snapshots).
 */
static int claims_dirty(struct sock *s)
{
	struct agent *a = s->a;
	int r = 0;

	for (size_t i = 0; i < a->ndirty && !r; i++) {
		const struct claims_dirty *d = &a->dirty[i];
		const struct aclient *cur = state_client_find(d->in, d->cn);

		for (size_t k = 0; k < d->was.n && !r; k++) {
			struct proto_claim c = claim_of(d->in, d->cn, &d->was.v[k]);
			bool still = false;

			for (size_t j = 0; cur && j < cur->pc.nets.n && !still; j++)
				still = pfx_equal(&cur->pc.nets.v[j], &c.net);
			if (!still && claimset_del(&s->pub, &c))
				r = log_change(s, false, &c);
		}
		for (size_t k = 0; cur && k < cur->pc.nets.n && !r; k++) {
			struct proto_claim c = claim_of(d->in, d->cn, &cur->pc.nets.v[k]);

			if (!claimset_find(&s->pub, &c))
				r = claimset_add(&s->pub, &c) < 0 ? -ENOMEM
								  : log_change(s, true, &c);
		}
	}
	return r;
}

/* The host's claims against the table last published, compared whole:
 * 0, -EAGAIN (out of memory, nothing changed) or -ENOMEM (the log may miss
 * some). */
static int claims_all(struct sock *s)
{
	struct claimset next;
	struct proto_claim *v;
	size_t n = state_claims(s->a, &v);
	bool oom = false;

	claimset_init(&next);
	for (size_t i = 0; i < n && !oom; i++)
		oom = claimset_add(&next, &v[i]) < 0;
	free(v);
	heap_freed(n * sizeof(*v));
	if (oom) {
		claimset_free(&next);
		return -EAGAIN;
	}
	for (size_t i = 0; i < s->pub.n && !oom; i++)
		if (!claimset_find(&next, &s->pub.v[i]))
			oom = log_change(s, false, &s->pub.v[i]) < 0;
	for (size_t i = 0; i < next.n && !oom; i++)
		if (!claimset_find(&s->pub, &next.v[i]))
			oom = log_change(s, true, &next.v[i]) < 0;
	heap_freed(claimset_bytes(&s->pub));
	claimset_free(&s->pub);
	s->pub = next;
	return oom ? -ENOMEM : 0;
}

/*
 * The host's claims against the table last published: what changed is
 * logged under a new generation (none when nothing did), and each plugin
 * is sent its share. Client by client when only connects and disconnects
 * changed them since (a->dirty), else compared whole.
 */
static void claims_publish(struct sock *s)
{
	struct agent *a = s->a;
	size_t from = s->nlog;
	int r;

	a->claims_gen++;
	r = a->claims_full ? claims_all(s) : claims_dirty(s);
	if (r == -EAGAIN) {
		a->claims_gen--;
		log_warnx("%s: out of memory; trying again", __func__);
		claims_schedule(s);
		return;
	}
	state_dirty_clear(a);
	if (r < 0) {
		/* nothing of this generation can be told as a delta: snapshots */
		log_warnx("%s: out of memory; the plugins get the whole claims table", __func__);
		log_drop(s, s->nlog - s->loghead);
		s->nlog = s->loghead = 0;
		s->log_from = a->claims_gen;
	} else if (s->nlog == from) {
		a->claims_gen--; /* nothing changed */
		return;
	}
	log_trim(s);
	for (struct conn *c = s->conns; c; c = c->next)
		claims_pump(s, c);
}

/* The answer to a message the batch carried, once it is programmed. */
static void batch_done(void *ctx, const void *tag, uint64_t ref, const char *error)
{
	struct sock *s = ctx;
	struct conn *c = (struct conn *)((const char *)tag - offsetof(struct conn, p));

	if (c->dead)
		return;
	if (!ack(s, c, ref, error)) {
		conn_close(s, c, "out of memory for its queue");
		return;
	}
	claims_pump(s, c);
}

void sock_commit(struct sock *s)
{
	if (s)
		dispatch_commit(s->a, batch_done, s);
}

static void on_claims(struct watcher *w, uint32_t events)
{
	struct sock *s = w->ctx;
	uint64_t x;

	if (read(w->fd, &x, sizeof(x)) <= 0)
		return;
	s->claims_pending = false;
	sock_commit(s); /* the claims say what the kernel holds */
	claims_publish(s);
}

/* At most MSGS_PER_PASS messages: the loop serves the other peers, then
 * comes back (epoll is level-triggered). */
static void receive(struct sock *s, struct conn *c)
{
	char buf[PROTO_MAX_MSG + 1], err[PROTO_ERRLEN];
	struct proto_msg m;

	for (int i = 0; i < MSGS_PER_PASS; i++) {
		ssize_t n = recv(c->w.fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		const char *error;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			conn_close(s, c, n == 0 ? "peer closed" : strerror(errno));
			return;
		}
		c->active_ms = loop_now_ms();
		c->p.changed = false;
		m.version = 0;
		if (n > PROTO_MAX_MSG) {
			snprintf(err, sizeof(err), "message of %zd bytes exceeds %d", n,
				 PROTO_MAX_MSG);
			error = err;
			m.id = 0;
		} else if (proto_decode(buf, (size_t)n, &m, err, sizeof(err)) < 0) {
			error = err;
			m.id = 0;
		} else if (m.type == PROTO_HELLO && m.hello.role == PROTO_ROLE_CTL) {
			error = c->ctl || c->p.inst ? "hello given twice" : NULL;
			if (!error) {
				c->ctl = true;
				snprintf(c->p.name, sizeof(c->p.name), "vpcroutectl pid %d",
					 c->p.pid);
			}
		} else if (m.type == PROTO_SNAPSHOT && !c->ctl) {
			/* a plugin that lost track of the claims: the whole table, next */
			error = c->p.inst ? NULL : "snapshot: only after hello";
			c->claims_gen = 0;
		} else if (c->ctl) {
			sock_commit(s); /* a status sees what the changes before it made */
			error = ctl_request(s, c, &m);
			proto_msg_free(&m);
			if (error == deferred) {
				/* no more of this peer until the status or reload is answered */
				if (c->status.text)
					status_pump(s, c);
				return;
			}
		} else if (c->p.cls == PEER_READONLY) {
			error = "this peer may only read the status (hello with role ctl)";
			proto_msg_free(&m);
		} else {
			/* connects and disconnects are programmed together, at the
			 * end of the pass (or when the batch is full); anything else
			 * comes after what the batch holds */
			if (m.type != PROTO_CONNECT && m.type != PROTO_DISCONNECT &&
			    m.type != PROTO_LEARN)
				sock_commit(s);
			error = dispatch(s->a, &c->p, &m);
			proto_msg_free(&m);
		}
		if (m.version)
			c->version = m.version; /* answered in its version */
		if (c->p.changed && error != dispatch_batched)
			sock_broadcast_claims(s);
		else if (c->p.changed)
			claims_schedule(s); /* the batch lists the clients it changed */
		if (error == dispatch_batched) {
			/* acknowledged after the commit that programs it (batch_done):
			 * deferred admission relies on it */
			c->errors = 0;
			if (state_batch_due(s->a))
				sock_commit(s);
			if (c->dead || outq_full(c))
				return;
			continue;
		}
		if (error && m.id == 0)
			log_warnx_rl(&s->rl_bad, "%s: bad message: %s", c->p.name, error);
		c->errors = error ? c->errors + 1 : 0;
		if (!ack(s, c, m.id, error) || c->errors >= ERRORS_MAX ||
		    /* a plugin learns the configuration the agent runs after its hello */
		    (!error && m.type == PROTO_HELLO && c->p.inst && !send_policy(s, c))) {
			conn_close(s, c,
				   c->errors >= ERRORS_MAX ? "too many bad messages"
							   : "out of memory for its queue");
			return;
		}
		/* a plugin gets the claims after its hello, or after it asked again */
		claims_pump(s, c);
		if (outq_full(c))
			break; /* its answers wait for it: so do its requests (want_out) */
	}
}

static void on_conn(struct watcher *w, uint32_t events)
{
	struct conn *c = (struct conn *)w;
	struct sock *s = w->ctx;

	if (c->dead)
		return;
	if (events & EPOLLOUT) {
		flush_out(s, c);
		c->active_ms = loop_now_ms();
		if (c->status.text && !c->dead)
			status_pump(s, c);
	}
	if (c->dead)
		return;
	if (c->status.text && (events & (EPOLLHUP | EPOLLERR)))
		conn_close(s, c, "peer closed");
	else if (!c->reload_wait && !c->withdraw_wait && !c->status.text &&
		 (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		receive(s, c);
}
