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

#include "claimset.h"
#include "digest.h"
#include "link.h"
#include "nameidx.h"
#include "policy.h"

#define LOG_RING   64
#define BACKOFF_MS 100
#define SYNC_CHUNK 64
#define SNDBUF	   (1 << 20) /* bytes in flight to the agent (within net.core.wmem_max) */
/* a file whose digest is not the agent's is read again this often, at
 * POLICY_RETRY_MS, doubling */
#define POLICY_TRIES	8
#define POLICY_RETRY_MS 100

/*
 * Test hooks: tests/unit/test_link.c includes this file and defines
 * LINK_HOOK to stop the thread at these points; in the product they are
 * nothing.
 *   LINK_HOOK_LOCKED:  top of the thread's loop, with the lock held.
 *   LINK_HOOK_IDLE:    before the thread sleeps in poll(), lock not held.
 *   LINK_HOOK_ENCODED: a resync is encoded and not yet queued, lock not held.
 */
enum link_hook { LINK_HOOK_LOCKED, LINK_HOOK_IDLE, LINK_HOOK_ENCODED };
#ifndef LINK_HOOK
#define LINK_HOOK(l, point) ((void)0)
#endif

struct qmsg {
	char *buf;
	size_t len;
	bool claims_req; /* a request for the claims (snapshot) */
};

/* A ring of encoded messages; it grows as needed. */
struct queue {
	struct qmsg *v;
	size_t head, len, cap;
};

/* One client of this instance, with the agent's answer to its connect. */
struct entry {
	struct proto_client c;
	bool pending;
	uint64_t id;   /* of the latest connect */
	int ack;       /* 1: acknowledged, -1: refused, 0: no answer yet */
	char *refusal; /* the agent's reason when ack is -1 */
};

struct logline {
	int prio;
	char msg[256];
};

struct link {
	pthread_mutex_t mu;
	struct link *next; /* in the list the fork handlers walk */
	pthread_t thread;
	pid_t pid; /* process the thread runs in; 0: none */
	bool stop;
	int wake; /* eventfd */
	int fd;	  /* the agent socket (thread only) */
	bool connected;
	bool announce; /* log the first resync of a connection */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char instance[PROTO_INSTANCE_MAX + 1];
	enum proto_role role;
	unsigned queue_max, reconnect_max_ms;

	/* outgoing */
	struct queue q;
	bool resync; /* the queue is void: send hello and the whole table */
	uint64_t next_id;
	uint64_t hello_id; /* of this connection's latest hello */

	/* this instance's clients, and the tunnel (client mode) */
	struct entry *tab;
	size_t ntab, captab;
	/*
	 * The table indexed: by name (find), by connect id, and its networks and tunnel
	 * addresses as claims of this instance, each indexed by network
	 * (link_view: the admission check finds the clients a network or an
	 * address overlaps without a walk). Kept with every change to the
	 * table; idx_lost: an update ran out of memory, rebuilt when next used
	 * (tab_index).
	 */
	struct nameidx byname;
	struct hashidx byid; /* by the id of its latest connect (find_id) */
	struct claimset own_nets, own_addrs;
	bool idx_lost;
	struct proto_msg tunnel;
	bool has_tunnel;

	/*
	 * The agent's view of the host: the claims of generation claims_gen
	 * (0: none), kept current by deltas; a snapshot is collected in
	 * partial. After a gap (a delta from another generation) the thread
	 * asks for a snapshot (claims_ask: the request is owed) and ignores
	 * deltas until it arrives (claims_wait).
	 */
	struct claimset claims, partial;
	uint64_t claims_gen;
	bool claims_ask, claims_wait;

	struct logline logs[LOG_RING];
	size_t nlogs, lost_logs;

	/* the configuration in effect (link_set_cfg), and what the agent runs */
	struct link_cfg *cfg;
	char *cfg_path;
	struct {
		bool due; /* read the file again at 'at' */
		uint64_t gen;
		char digest[DIGEST_HEXLEN];
		unsigned tries;
		int64_t at;
	} want;
};

static int64_t now_ms(void);

/*
 * fork(): OpenVPN forks (--daemon) after it has opened the plugin. The
 * child has no link thread, and a lock that thread held would stay held
 * for ever. So fork waits until every link's lock is free and takes it
 * (prepare), and both sides release it (parent, child); the child's next
 * call into the plugin starts a new thread (link_start). Lock order:
 * links_mu, then each link's mu.
 */
static pthread_mutex_t links_mu = PTHREAD_MUTEX_INITIALIZER;
static struct link *links;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_err;

static void fork_prepare(void)
{
	pthread_mutex_lock(&links_mu);
	for (struct link *l = links; l; l = l->next)
		pthread_mutex_lock(&l->mu);
}

static void fork_release(void)
{
	for (struct link *l = links; l; l = l->next)
		pthread_mutex_unlock(&l->mu);
	pthread_mutex_unlock(&links_mu);
}

static void atfork_register(void)
{
	atfork_err = pthread_atfork(fork_prepare, fork_release, fork_release);
}

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

static void entry_free(struct entry *e)
{
	pfx_list_free(&e->c.nets);
	free(e->refusal);
	e->refusal = NULL;
}

/* --- the table's indexes (with the lock held) --- */

static const char *entry_name(const void *ctx, size_t i)
{
	return ((const struct link *)ctx)->tab[i].c.cn;
}

static size_t id_hash(uint64_t id)
{
	id *= 0x9e3779b97f4a7c15ULL; /* Fibonacci hashing: the ids are consecutive */
	return (size_t)(id ^ (id >> 32));
}

static size_t entry_id_hash(const void *ctx, size_t i)
{
	return id_hash(((const struct link *)ctx)->tab[i].id);
}

static bool entry_id_equal(const void *ctx, size_t i, const void *key)
{
	return ((const struct link *)ctx)->tab[i].id == *(const uint64_t *)key;
}

static const struct hashidx_ops byid_ops = { entry_id_hash, entry_id_equal };

/* The entry at position i takes the connect id id (re-indexed). */
static void entry_set_id(struct link *l, size_t i, uint64_t id)
{
	hashidx_del(&l->byid, l, &l->tab[i].id, id_hash(l->tab[i].id));
	l->tab[i].id = id;
	if (hashidx_add(&l->byid, l, i) < 0)
		l->idx_lost = true;
}

/* One claim of c's (of net) added to or removed from s. */
static void own_claim(struct link *l, struct claimset *s, const struct proto_client *c,
		      const struct pfx *net, bool add)
{
	struct proto_claim k = { .net = *net };

	snprintf(k.cn, sizeof(k.cn), "%s", c->cn);
	snprintf(k.instance, sizeof(k.instance), "%s", l->instance);
	if (!add)
		claimset_del(s, &k);
	else if (claimset_add(s, &k) < 0)
		l->idx_lost = true;
}

/* c's networks and tunnel addresses into the indexes (add) or out of them. */
static void own_index(struct link *l, const struct proto_client *c, bool add)
{
	for (size_t i = 0; i < c->nets.n; i++)
		own_claim(l, &l->own_nets, c, &c->nets.v[i], add);
	if (c->has_tunnel4)
		own_claim(l, &l->own_addrs, c, &c->tunnel4, add);
	if (c->has_tunnel6)
		own_claim(l, &l->own_addrs, c, &c->tunnel6, add);
}

/* The entry at position i (filled, its id set) is added to the indexes. */
static void tab_indexed(struct link *l, size_t i)
{
	if (nameidx_add(&l->byname, i) < 0 || hashidx_add(&l->byid, l, i) < 0)
		l->idx_lost = true;
	own_index(l, &l->tab[i].c, true);
}

/* The entry e leaves the table (freed), the last one moving into its place. */
static void tab_remove(struct link *l, struct entry *e)
{
	size_t i = (size_t)(e - l->tab), last = l->ntab - 1;

	own_index(l, &e->c, false);
	nameidx_del(&l->byname, e->c.cn);
	hashidx_del(&l->byid, l, &e->id, id_hash(e->id));
	entry_free(e);
	if (i != last) {
		nameidx_move(&l->byname, last, i);
		hashidx_move(&l->byid, l, last, i);
		*e = l->tab[last];
	}
	l->ntab--;
}

/* The indexes, rebuilt when an update had run out of memory: 0, -ENOMEM. */
static int tab_index(struct link *l)
{
	if (!l->idx_lost)
		return 0;
	l->idx_lost = false;
	nameidx_clear(&l->byname);
	hashidx_clear(&l->byid);
	claimset_clear(&l->own_nets);
	claimset_clear(&l->own_addrs);
	for (size_t i = 0; i < l->ntab; i++)
		tab_indexed(l, i);
	return l->idx_lost ? -ENOMEM : 0;
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

static void queue_clear(struct queue *q)
{
	for (size_t i = 0; i < q->len; i++)
		free(q->v[(q->head + i) % q->cap].buf);
	q->head = q->len = 0;
}

static void queue_free(struct queue *q)
{
	queue_clear(q);
	free(q->v);
	q->v = NULL;
	q->cap = 0;
}

/* Whether q holds a request for the claims. */
static bool queue_asks_claims(const struct queue *q)
{
	for (size_t i = 0; i < q->len; i++)
		if (q->v[(q->head + i) % q->cap].claims_req)
			return true;
	return false;
}

/* Appends an encoded message; takes m.buf. */
static int queue_push(struct queue *q, struct qmsg m)
{
	if (q->len == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		struct qmsg *v = malloc(cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < q->len; i++)
			v[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = v;
		q->cap = cap;
		q->head = 0;
	}
	q->v[(q->head + q->len) % q->cap] = m;
	q->len++;
	return 0;
}

/* Encodes m and appends it to q. */
static int queue_encode(struct queue *q, const struct proto_msg *m)
{
	char buf[PROTO_MAX_MSG], *copy;
	int n, r;

	n = proto_encode(m, buf, sizeof(buf));
	if (n < 0)
		return n;
	copy = malloc((size_t)n);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, (size_t)n);
	if ((r = queue_push(q, (struct qmsg){ .buf = copy,
					      .len = (size_t)n,
					      .claims_req = m->type == PROTO_SNAPSHOT })) < 0)
		free(copy);
	return r;
}

/* Moves what src holds to the end of dst; src is left empty. */
static int queue_append(struct queue *dst, struct queue *src)
{
	while (src->len) {
		struct qmsg *m = &src->v[src->head];
		int r = queue_push(dst, *m);

		if (r < 0)
			return r;
		src->head = (src->head + 1) % src->cap;
		src->len--;
	}
	return 0;
}

/*
 * Queues m for the agent; with the lock held. Nothing is queued while the
 * link is down or a resync is due (the resync carries the state), and an
 * overflow turns into a resync.
 */
static void enqueue(struct link *l, const struct proto_msg *m)
{
	int r;

	if (!l->connected || l->resync)
		return;
	if (l->q.len >= l->queue_max) {
		/* a request for the claims that goes too is asked again; none
		 * is owed while the claims the agent sends after hello are due */
		l->claims_ask = l->claims_ask || queue_asks_claims(&l->q);
		queue_clear(&l->q);
		l->resync = true;
		qlog(l, LOG_WARNING,
		     "agent is not reading: %u queued messages dropped, will resend the client "
		     "table",
		     l->queue_max);
		wake(l);
		return;
	}
	r = queue_encode(&l->q, m);
	if (r == -ENOMEM) {
		l->claims_ask = l->claims_ask || queue_asks_claims(&l->q);
		queue_clear(&l->q);
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
	struct link *l;

	pthread_once(&atfork_once, atfork_register);
	if (atfork_err) {
		errno = atfork_err;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
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
	claimset_init(&l->claims);
	claimset_init(&l->partial);
	claimset_init(&l->own_nets);
	claimset_init(&l->own_addrs);
	nameidx_init(&l->byname, entry_name, l);
	hashidx_init(&l->byid, &byid_ops);
	/* the admission check finds the claims that overlap a network in
	 * O(prefix length), not by a scan of every claim on the host */
	if (claimset_index_nets(&l->claims) < 0 || claimset_index_nets(&l->partial) < 0 ||
	    claimset_index_nets(&l->own_nets) < 0 || claimset_index_nets(&l->own_addrs) < 0) {
		claimset_free(&l->claims);
		claimset_free(&l->partial);
		claimset_free(&l->own_nets);
		claimset_free(&l->own_addrs);
		free(l);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_lock(&links_mu);
	l->next = links;
	links = l;
	pthread_mutex_unlock(&links_mu);
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
	/* room for a burst of requests in the kernel while the agent is busy */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ SNDBUF }, sizeof(int));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/*
 * A copy of what a resync sends, taken under the lock so that the encoding
 * can run without it: OpenVPN's thread never waits while a large table is
 * encoded.
 */
struct snapshot {
	struct proto_client *admitted; /* their nets point into pool */
	size_t nadmitted;
	struct proto_msg *pending; /* connects of clients still waiting */
	size_t npending;
	struct pfx *pool;
	struct proto_msg tunnel;
	bool has_tunnel;
	bool hello;  /* a new connection's first resync; not after an overflow */
	uint64_t id; /* first of the ids reserved for hello and sync */
	bool has_policy;
	struct proto_msg policy; /* the configuration this plugin runs */
};

static void snapshot_free(struct snapshot *s)
{
	free(s->admitted);
	free(s->pending);
	free(s->pool);
	if (s->has_tunnel)
		free(s->tunnel.tunnel.routes.v);
}

/* With the lock held. */
static int snapshot_take(struct link *l, struct snapshot *s)
{
	size_t nnets = 0, np = 0;
	struct pfx *next;

	memset(s, 0, sizeof(*s));
	for (size_t k = 0; k < l->ntab; k++) {
		nnets += l->tab[k].c.nets.n;
		if (l->tab[k].pending)
			np++;
	}
	s->admitted = malloc((l->ntab - np + 1) * sizeof(*s->admitted));
	s->pending = malloc((np + 1) * sizeof(*s->pending));
	s->pool = malloc((nnets + 1) * sizeof(*s->pool));
	if (!s->admitted || !s->pending || !s->pool)
		goto oom;
	if (l->has_tunnel) {
		size_t nr = l->tunnel.tunnel.routes.n;

		s->tunnel = l->tunnel;
		s->tunnel.tunnel.routes.v = malloc((nr + 1) * sizeof(struct pfx));
		if (!s->tunnel.tunnel.routes.v)
			goto oom;
		if (nr)
			memcpy(s->tunnel.tunnel.routes.v, l->tunnel.tunnel.routes.v,
			       nr * sizeof(struct pfx));
		s->has_tunnel = true;
	}
	next = s->pool;
	for (size_t k = 0; k < l->ntab; k++) {
		const struct entry *e = &l->tab[k];
		struct proto_client *c;

		if (e->pending) {
			struct proto_msg *m = &s->pending[s->npending++];

			memset(m, 0, sizeof(*m));
			m->type = PROTO_CONNECT;
			m->id = e->id;
			c = &m->connect;
		} else {
			c = &s->admitted[s->nadmitted++];
		}
		*c = e->c;
		c->nets.v = next;
		if (e->c.nets.n)
			memcpy(next, e->c.nets.v, e->c.nets.n * sizeof(*next));
		next += e->c.nets.n;
	}
	/* hello, and one id per sync chunk: at most one chunk per client */
	s->id = l->next_id;
	l->next_id += 2 + s->nadmitted;
	s->hello = l->announce;
	if (s->hello)
		l->hello_id = s->id;
	if (l->cfg) {
		s->has_policy = true;
		s->policy.type = PROTO_POLICY;
		s->policy.policy.gen = l->cfg->gen;
		memcpy(s->policy.policy.digest, l->cfg->cfg->digest, DIGEST_HEXLEN);
	}
	return 0;
oom:
	snapshot_free(s);
	memset(s, 0, sizeof(*s));
	return -ENOMEM;
}

/*
 * Hello (once per connection: the agent refuses a second), the whole table
 * in sync chunks, pending connects, the tunnel; no lock needed. A chunk
 * that does not fit one message is halved.
 */
static int snapshot_encode(const struct snapshot *s, enum proto_role role, const char *instance,
			   struct queue *q)
{
	struct proto_msg m = { .type = PROTO_HELLO, .id = s->id };
	uint64_t id = s->id + 1;
	size_t i = 0;
	int r;

	m.hello.role = role;
	m.hello.pid = (uint32_t)getpid();
	snprintf(m.hello.instance, sizeof(m.hello.instance), "%s", instance);
	if (s->hello && (r = queue_encode(q, &m)))
		return r;
	if (s->has_policy && (r = queue_encode(q, &s->policy)))
		return r;
	do {
		size_t n = s->nadmitted - i < SYNC_CHUNK ? s->nadmitted - i : SYNC_CHUNK;

		memset(&m, 0, sizeof(m));
		m.type = PROTO_SYNC;
		m.id = id++;
		for (;;) {
			m.sync.clients = s->nadmitted ? s->admitted + i : NULL;
			m.sync.n = n;
			m.sync.more = i + n < s->nadmitted;
			r = queue_encode(q, &m);
			if (r != -EMSGSIZE || n <= 1)
				break;
			n /= 2;
		}
		if (r)
			return r;
		i += n;
	} while (i < s->nadmitted);
	for (size_t k = 0; k < s->npending; k++)
		if ((r = queue_encode(q, &s->pending[k])))
			return r;
	if (s->has_tunnel && (r = queue_encode(q, &s->tunnel)))
		return r;
	return 0;
}

/*
 * Replaces whatever was queued before with the whole table; the thread
 * calls it without the lock. Messages queued while the table is
 * encoded are changes made after the snapshot: they go out after it.
 */
static void resync(struct link *l)
{
	struct snapshot s;
	struct queue built = { 0 };
	int r;

	pthread_mutex_lock(&l->mu);
	queue_clear(&l->q);
	l->resync = false;
	r = snapshot_take(l, &s);
	pthread_mutex_unlock(&l->mu);
	if (r == 0)
		r = snapshot_encode(&s, l->role, l->instance, &built);
	LINK_HOOK(l, LINK_HOOK_ENCODED);
	pthread_mutex_lock(&l->mu);
	if (r == 0 && !l->resync)
		r = queue_append(&built, &l->q);
	if (r < 0) {
		queue_clear(&l->q);
		l->resync = true;
		qlog(l, LOG_ERR, "cannot build the client table for the agent: %s", strerror(-r));
	} else if (!l->resync) {
		struct queue old = l->q;

		l->q = built;
		built = old;
		if (l->announce)
			qlog(l, LOG_INFO, "connected to the agent at %s; sent %zu client%s",
			     l->path, s.nadmitted + s.npending,
			     s.nadmitted + s.npending == 1 ? "" : "s");
		l->announce = false;
	}
	/* else: the queue overflowed meanwhile, and the loop builds it again */
	pthread_mutex_unlock(&l->mu);
	queue_free(&built);
	snapshot_free(&s);
}

/* Called with l->mu held. The client whose latest connect has id: O(1)
 * through the index by id (a walk while it cannot be rebuilt). */
static struct entry *find_id(struct link *l, uint64_t id)
{
	long i;

	if (tab_index(l) < 0) {
		/* newest last: the answers awaited are mostly for recent connects */
		for (size_t k = l->ntab; k-- > 0;)
			if (l->tab[k].id == id)
				return &l->tab[k];
		return NULL;
	}
	i = hashidx_find(&l->byid, l, &id, id_hash(id));
	return i < 0 ? NULL : &l->tab[i];
}

/*
 * The agent's answer is kept with the client it is about, so however many
 * answers come between two polls of OpenVPN, none is lost. A refused hello
 * (the agent still serves this instance's previous connection: a restart,
 * a fork) closes the connection: the agent would refuse all that follows.
 */
static int record_ack(struct link *l, const struct proto_msg *m)
{
	struct entry *e;

	if (!m->ack.ref && !m->ack.ok && strstr(m->ack.error, "unsupported protocol version")) {
		qlog(l, LOG_ERR,
		     "the agent at %s does not speak protocol version %d (%s): run the "
		     "vpcroute-agent of this plugin's release; reconnecting",
		     l->path, PROTO_VERSION, m->ack.error);
		return -EPROTO;
	}
	if (m->ack.ref && m->ack.ref == l->hello_id && !m->ack.ok) {
		qlog(l, LOG_WARNING, "agent refused this plugin: %s; reconnecting", m->ack.error);
		return -ECONNREFUSED;
	}
	e = m->ack.ref ? find_id(l, m->ack.ref) : NULL;
	if (!e)
		return 0; /* hello, sync, tunnel, or a client gone since */
	free(e->refusal);
	e->refusal = NULL;
	e->ack = m->ack.ok ? 1 : -1;
	if (m->ack.ok)
		return 0;
	if (e->pending) {
		/* OpenVPN refuses it at its next poll (link_ack) */
		e->refusal = strdup(m->ack.error);
		return 0;
	}
	/* a refused admitted client is dropped from the table */
	qlog(l, LOG_ERR, "agent refused client %s: %s; its networks are not programmed", e->c.cn,
	     m->ack.error);
	tab_remove(l, e);
	return 0;
}

/* With the lock held: the replica is lost; the thread asks for the whole table. */
static void claims_gap(struct link *l, const char *why)
{
	if (!l->claims_wait)
		qlog(l, LOG_WARNING, "claims: %s; asking the agent for the whole table", why);
	claimset_clear(&l->partial);
	l->claims_ask = l->claims_wait = true;
	wake(l);
}

/*
 * A claims message, with the lock held: a snapshot's chunks are collected
 * and replace the replica at the last one; a delta is applied at once, in
 * O(claims it carries), when it starts from the generation held.
 */
static int take_claims(struct link *l, struct proto_msg *m)
{
	const struct proto_claim *v = m->claims.v;
	int r = 0;

	if (!m->claims.delta) {
		for (size_t i = 0; i < m->claims.n && r >= 0; i++)
			r = claimset_add(&l->partial, &v[i]);
		if (r < 0) {
			claims_gap(l, "out of memory");
			return 0;
		}
		if (!m->claims.more) {
			struct claimset t = l->claims;

			l->claims = l->partial;
			l->partial = t;
			claimset_clear(&l->partial);
			l->claims_gen = m->claims.gen;
			l->claims_wait = l->claims_ask = false;
		}
		return 0;
	}
	if (l->claims_wait)
		return 0; /* a snapshot is on its way */
	if (!l->claims_gen || m->claims.base != l->claims_gen) {
		char why[96];

		snprintf(why, sizeof(why), "a change from generation %llu, this plugin holds %llu",
			 (unsigned long long)m->claims.base, (unsigned long long)l->claims_gen);
		claims_gap(l, why);
		return 0;
	}
	for (size_t i = 0; i < m->claims.ndel; i++)
		claimset_del(&l->claims, &m->claims.del[i]);
	for (size_t i = 0; i < m->claims.n && r >= 0; i++)
		r = claimset_add(&l->claims, &v[i]);
	if (r < 0)
		claims_gap(l, "out of memory");
	else if (!m->claims.more)
		l->claims_gen = m->claims.gen;
	return 0;
}

/* With the lock held: tells the agent which configuration this plugin runs. */
static void report_policy(struct link *l)
{
	struct proto_msg m = { .type = PROTO_POLICY };

	m.policy.gen = l->cfg->gen;
	memcpy(m.policy.digest, l->cfg->cfg->digest, DIGEST_HEXLEN);
	enqueue(l, &m);
}

/*
 * The agent runs the configuration m names; with the lock held. The same
 * as ours: confirmed. Another: the thread reads the file again (policy_try),
 * at once.
 */
static void take_policy(struct link *l, const struct proto_msg *m)
{
	if (!l->cfg)
		return; /* no file to follow */
	if (strcmp(l->cfg->cfg->digest, m->policy.digest) == 0) {
		l->want.due = false;
		if (l->cfg->gen != m->policy.gen) {
			l->cfg->gen = m->policy.gen;
			report_policy(l);
		}
		return;
	}
	qlog(l, LOG_INFO,
	     "the agent runs configuration generation %llu (sha256 %.16s...); reading %s again",
	     (unsigned long long)m->policy.gen, m->policy.digest, l->cfg_path);
	l->want.due = true;
	l->want.gen = m->policy.gen;
	memcpy(l->want.digest, m->policy.digest, DIGEST_HEXLEN);
	l->want.tries = 0;
	l->want.at = now_ms();
}

/* With the lock held; the holder that drops the last reference frees. */
static struct cfg *cfg_unref(struct link_cfg *h)
{
	struct cfg *c = NULL;

	if (h && --h->refs == 0) {
		c = h->cfg;
		free(h);
	}
	return c;
}

/* The clients connected now, copied under the lock; NULL and 0 when none or out of memory. */
static struct proto_client *clients_copy(struct link *l, size_t *n)
{
	struct proto_client *v;

	*n = 0;
	pthread_mutex_lock(&l->mu);
	v = calloc(l->ntab + 1, sizeof(*v));
	for (size_t i = 0; v && i < l->ntab; i++)
		if (client_copy(&v[(*n)++], &l->tab[i].c) < 0)
			(*n)--;
	pthread_mutex_unlock(&l->mu);
	return v;
}

/* The connected clients the new configuration c forbids, logged by name. */
static void recheck(struct link *l, const struct cfg *c)
{
	struct proto_client *v;
	char why[POLICY_REASON_MAX];
	size_t n, bad = 0;

	v = clients_copy(l, &n);
	for (size_t i = 0; i < n; i++) {
		if (policy_check(c, l->instance, &v[i], NULL, why, sizeof(why)))
			continue;
		bad++;
		pthread_mutex_lock(&l->mu);
		qlog(l, LOG_ERR,
		     "client %s, connected under the previous configuration, is not allowed by "
		     "the new one: %s; it stays connected until it disconnects",
		     v[i].cn, why);
		pthread_mutex_unlock(&l->mu);
	}
	for (size_t i = 0; i < n; i++)
		pfx_list_free(&v[i].nets);
	free(v);
	if (bad) {
		pthread_mutex_lock(&l->mu);
		qlog(l, LOG_ERR, "%zu connected clients are not allowed by the new configuration",
		     bad);
		pthread_mutex_unlock(&l->mu);
	}
}

/* The agent asked for another try; lock not held. Reads, checks, swaps. */
static void policy_try(struct link *l)
{
	char err[CFG_ERRLEN], want[DIGEST_HEXLEN];
	struct link_cfg *h = NULL;
	struct cfg *c = NULL, *old = NULL;
	uint64_t gen;
	int r;

	pthread_mutex_lock(&l->mu);
	if (!l->want.due || now_ms() < l->want.at) {
		pthread_mutex_unlock(&l->mu);
		return;
	}
	gen = l->want.gen;
	memcpy(want, l->want.digest, sizeof(want));
	pthread_mutex_unlock(&l->mu);

	r = link_cfg_load(l->cfg_path, &c, err, sizeof(err));
	if (r == 0 && strcmp(c->digest, want) == 0 && !(h = calloc(1, sizeof(*h))))
		r = -ENOMEM;

	pthread_mutex_lock(&l->mu);
	if (!l->want.due || l->want.gen != gen || strcmp(l->want.digest, want)) {
		/* a newer announcement came meanwhile: it gets its own try */
		pthread_mutex_unlock(&l->mu);
		free(h);
		cfg_free(c);
		return;
	}
	if (r < 0 || !h) {
		if (r == 0)
			snprintf(err, sizeof(err),
				 "%s: sha256 %.16s..., the agent's %.16s...: the "
				 "file changed since the agent read it",
				 l->cfg_path, c->digest, want);
		l->want.tries++;
		if (l->want.tries >= POLICY_TRIES) {
			l->want.due = false;
			qlog(l, LOG_ERR,
			     "configuration generation %llu of the agent NOT taken: %s; this "
			     "plugin "
			     "keeps its configuration (sha256 %.16s...) until the agent announces "
			     "another (vpcroutectl reload)",
			     (unsigned long long)gen, err, l->cfg->cfg->digest);
			report_policy(l);
		} else {
			unsigned wait = POLICY_RETRY_MS << (l->want.tries - 1);

			l->want.at = now_ms() + wait;
			qlog(l, LOG_ERR,
			     "configuration generation %llu of the agent not taken yet: %s; "
			     "keeping "
			     "the previous configuration, trying again in %u ms",
			     (unsigned long long)gen, err, wait);
		}
		pthread_mutex_unlock(&l->mu);
		cfg_free(c);
		return;
	}
	h->cfg = c;
	h->gen = gen;
	h->refs = 1;
	old = cfg_unref(l->cfg);
	l->cfg = h;
	l->want.due = false;
	qlog(l, LOG_INFO, "configuration generation %llu of %s (sha256 %.16s...) in effect",
	     (unsigned long long)gen, l->cfg_path, c->digest);
	report_policy(l);
	pthread_mutex_unlock(&l->mu);
	cfg_free(old);
	/* only this thread swaps: c stays alive while it is checked */
	recheck(l, c);
}

/* How long the thread may sleep before policy_try is due; -1: no limit. */
static int policy_wait(struct link *l)
{
	int64_t ms = -1;

	pthread_mutex_lock(&l->mu);
	if (l->want.due) {
		ms = l->want.at - now_ms();
		if (ms < 0)
			ms = 0;
	}
	pthread_mutex_unlock(&l->mu);
	return (int)ms;
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
			r = record_ack(l, &m);
		else if (m.type == PROTO_CLAIMS)
			r = take_claims(l, &m);
		else if (m.type == PROTO_POLICY)
			take_policy(l, &m);
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
	struct queue *q = &l->q;

	while (q->len) {
		struct qmsg *m = &q->v[q->head];

		if (send(l->fd, m->buf, m->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		free(m->buf);
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	return 0;
}

/* A new connection: the agent gets hello and the whole table first. */
static void attach(struct link *l, int fd)
{
	l->fd = fd;
	pthread_mutex_lock(&l->mu);
	l->connected = true;
	l->announce = true;
	queue_clear(&l->q);
	l->resync = true;
	/* the agent sends the whole claims table after hello */
	l->claims_ask = false;
	l->claims_wait = true;
	pthread_mutex_unlock(&l->mu);
}

static void disconnect(struct link *l, int why, unsigned pause_ms)
{
	close(l->fd);
	l->fd = -1;
	pthread_mutex_lock(&l->mu);
	l->connected = false;
	l->resync = false;
	queue_clear(&l->q);
	claimset_clear(&l->partial); /* a claims table cut short */
	l->claims_gen = 0;
	l->claims_ask = false;
	if (pause_ms)
		qlog(l, LOG_WARNING, "lost the agent at %s: %s; reconnecting in %u ms", l->path,
		     strerror(-why), pause_ms);
	else
		qlog(l, LOG_WARNING, "lost the agent at %s: %s; reconnecting at once", l->path,
		     strerror(-why));
	pthread_mutex_unlock(&l->mu);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps up to ms, or until woken (a stop). */
static void pause_ms(struct link *l, unsigned ms)
{
	struct pollfd p = { .fd = l->wake, .events = POLLIN };
	uint64_t junk;

	if (poll(&p, 1, (int)ms) > 0 && p.revents & POLLIN &&
	    read(l->wake, &junk, sizeof(junk)) < 0) {
	}
}

static unsigned grow(struct link *l, unsigned backoff)
{
	return backoff * 2 > l->reconnect_max_ms ? l->reconnect_max_ms : backoff * 2;
}

/*
 * A lost connection: one that lived a while is retried at once; one that
 * died young (an agent answering garbage, or restarting in a loop) waits,
 * longer each time, so the thread never spins on the lock OpenVPN's thread
 * needs.
 */
static void lost(struct link *l, int why, unsigned *backoff, int64_t since)
{
	unsigned wait = 0;

	if (now_ms() - since > 2000) {
		*backoff = BACKOFF_MS;
	} else {
		wait = *backoff;
		*backoff = grow(l, *backoff);
	}
	disconnect(l, why, wait);
	if (wait)
		pause_ms(l, wait);
}

static void *link_main(void *arg)
{
	struct link *l = arg;
	unsigned backoff = BACKOFF_MS;
	int last_err = 0;
	int64_t since = now_ms(); /* when the current connection was made */

	for (;;) {
		struct pollfd p[2] = { { .fd = l->wake, .events = POLLIN },
				       { .fd = l->fd, .events = POLLIN } };
		uint64_t junk;
		int r;

		pthread_mutex_lock(&l->mu);
		LINK_HOOK(l, LINK_HOOK_LOCKED);
		if (l->stop) {
			/* what is queued (a last DOWN, a disconnect) still goes out,
			 * as far as the socket takes it without waiting */
			bool rs = l->fd >= 0 && l->connected && l->resync;

			pthread_mutex_unlock(&l->mu);
			if (rs)
				resync(l);
			pthread_mutex_lock(&l->mu);
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
					     "cannot reach the agent at %s: %s (retrying): is "
					     "vpcroute-agent running? see troubleshooting.md, "
					     "\"The agent is unreachable\"",
					     l->path, strerror(-fd));
					pthread_mutex_unlock(&l->mu);
					last_err = fd;
				}
				pause_ms(l, backoff);
				backoff = grow(l, backoff);
				continue;
			}
			attach(l, fd);
			last_err = 0;
			since = now_ms();
			p[1].fd = fd;
		}
		pthread_mutex_lock(&l->mu);
		if (l->resync) {
			pthread_mutex_unlock(&l->mu);
			resync(l);
			pthread_mutex_lock(&l->mu);
		}
		if (l->claims_ask && !l->resync) {
			/* after a gap: the whole claims table, please */
			struct proto_msg ask = { .type = PROTO_SNAPSHOT };

			l->claims_ask = false;
			enqueue(l, &ask);
		}
		r = send_queue(l);
		if (l->q.len)
			p[1].events |= POLLOUT;
		pthread_mutex_unlock(&l->mu);
		if (r < 0) {
			lost(l, r, &backoff, since);
			continue;
		}
		policy_try(l);
		LINK_HOOK(l, LINK_HOOK_IDLE);
		poll(p, 2, policy_wait(l));
		if (p[0].revents & POLLIN && read(l->wake, &junk, sizeof(junk)) < 0) {
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = receive(l);
			if (r == 0 && p[1].revents & (POLLHUP | POLLERR) &&
			    !(p[1].revents & POLLIN))
				r = -ECONNRESET;
			if (r < 0)
				lost(l, r, &backoff, since);
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
	/*
	 * After a fork the thread is gone (its lock was released by the fork
	 * handlers): start afresh in this process, on a connection of its own.
	 */
	if (l->pid) {
		if (l->fd >= 0)
			close(l->fd);
		if (l->wake >= 0)
			close(l->wake);
		l->fd = -1;
		l->wake = -1;
		pthread_mutex_lock(&l->mu);
		l->connected = false;
		l->resync = false;
		queue_clear(&l->q);
		claimset_clear(&l->partial);
		l->claims_gen = 0;
		l->claims_ask = false;
		pthread_mutex_unlock(&l->mu);
		l->pid = 0;
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
	pthread_mutex_lock(&links_mu);
	for (struct link **p = &links; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	pthread_mutex_unlock(&links_mu);
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
	queue_free(&l->q);
	for (size_t i = 0; i < l->ntab; i++)
		entry_free(&l->tab[i]);
	free(l->tab);
	nameidx_free(&l->byname);
	hashidx_free(&l->byid);
	claimset_free(&l->own_nets);
	claimset_free(&l->own_addrs);
	if (l->has_tunnel)
		proto_msg_free(&l->tunnel);
	claimset_free(&l->claims);
	claimset_free(&l->partial);
	cfg_free(cfg_unref(l->cfg));
	free(l->cfg_path);
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

/* The client named cn: O(1) through the index by name (a walk while it
 * cannot be rebuilt). */
static struct entry *find(struct link *l, const char *cn)
{
	long i;

	if (tab_index(l) < 0) {
		for (size_t k = 0; k < l->ntab; k++)
			if (strcmp(l->tab[k].c.cn, cn) == 0)
				return &l->tab[k];
		return NULL;
	}
	i = nameidx_find(&l->byname, cn);
	return i < 0 ? NULL : &l->tab[i];
}

uint64_t link_client_connect(struct link *l, const struct proto_client *c, bool pending)
{
	struct proto_msg m = { .type = PROTO_CONNECT };
	struct entry *e;
	bool fresh = false;
	uint64_t id, old_id = 0;

	pthread_mutex_lock(&l->mu);
	id = l->next_id++;
	e = find(l, c->cn);
	if (e) {
		own_index(l, &e->c, false); /* its networks may change */
		entry_free(e);
		old_id = e->id;
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
		fresh = true;
	}
	memset(e, 0, sizeof(*e));
	e->id = old_id; /* as indexed */
	if (client_copy(&e->c, c) < 0) {
		/* nothing of it indexed but its name and id (when it was there) */
		e->c.nets.n = 0;
		e->c.has_tunnel4 = e->c.has_tunnel6 = false;
		tab_remove(l, e);
		goto oom;
	}
	e->pending = pending;
	if (fresh) {
		e->id = id;
		tab_indexed(l, (size_t)(e - l->tab));
	} else {
		entry_set_id(l, (size_t)(e - l->tab), id);
		own_index(l, &e->c, true);
	}
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
		tab_remove(l, e);
		snprintf(m.disconnect.cn, sizeof(m.disconnect.cn), "%s", cn);
		enqueue(l, &m);
	}
	pthread_mutex_unlock(&l->mu);
	return e != NULL;
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
	const struct entry *e;
	int r = 0;

	pthread_mutex_lock(&l->mu);
	if (id && (e = find_id(l, id))) {
		r = e->ack;
		if (r < 0)
			snprintf(err, errlen, "%s", e->refusal ? e->refusal : "out of memory");
	}
	pthread_mutex_unlock(&l->mu);
	return r;
}

int link_view(struct link *l, link_view_fn fn, void *ctx)
{
	struct link_own own;
	int r;

	pthread_mutex_lock(&l->mu);
	own = (struct link_own){ .nets = &l->own_nets, .addrs = &l->own_addrs, .n = l->ntab };
	if ((r = tab_index(l)) == 0)
		fn(&l->claims, &own, ctx);
	pthread_mutex_unlock(&l->mu);
	return r;
}

void link_flush_log(struct link *l, link_log_fn fn, void *ctx)
{
	struct logline lines[LOG_RING];
	size_t n, lost_logs;

	/* copied out: fn (plugin_log) runs without the lock */
	pthread_mutex_lock(&l->mu);
	n = l->nlogs;
	lost_logs = l->lost_logs;
	memcpy(lines, l->logs, n * sizeof(lines[0]));
	l->nlogs = l->lost_logs = 0;
	pthread_mutex_unlock(&l->mu);
	for (size_t i = 0; i < n; i++)
		fn(lines[i].prio, lines[i].msg, ctx);
	if (lost_logs) {
		char msg[64];

		snprintf(msg, sizeof(msg), "%zu log lines of the agent link lost", lost_logs);
		fn(LOG_WARNING, msg, ctx);
	}
}

int link_cfg_load(const char *path, struct cfg **out, char *err, size_t errlen)
{
	int r = cfg_load_file(path, out, err, errlen);

	if (r == 0)
		cfg_drop_secrets(*out);
	return r;
}

int link_set_cfg(struct link *l, struct cfg *cfg)
{
	struct link_cfg *h = calloc(1, sizeof(*h));
	char *path = strdup(cfg->path);
	struct cfg *old;

	if (!h || !path) {
		free(h);
		free(path);
		return -ENOMEM;
	}
	h->cfg = cfg;
	h->refs = 1;
	pthread_mutex_lock(&l->mu);
	old = cfg_unref(l->cfg);
	l->cfg = h;
	free(l->cfg_path);
	l->cfg_path = path;
	pthread_mutex_unlock(&l->mu);
	cfg_free(old);
	return 0;
}

const struct link_cfg *link_cfg_hold(struct link *l)
{
	struct link_cfg *h;

	pthread_mutex_lock(&l->mu);
	h = l->cfg;
	if (h)
		h->refs++;
	pthread_mutex_unlock(&l->mu);
	return h;
}

void link_cfg_release(struct link *l, const struct link_cfg *h)
{
	struct cfg *c;

	pthread_mutex_lock(&l->mu);
	c = cfg_unref((struct link_cfg *)h);
	pthread_mutex_unlock(&l->mu);
	cfg_free(c);
}
