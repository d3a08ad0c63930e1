// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The resolver of the rules' host names (dns.h): c-ares, driven by the
 * agent's epoll loop. c-ares tells which of its sockets to watch through its
 * socket-state callback; each becomes a watcher; one timerfd is armed for
 * the earliest of c-ares' own timeout and the next refresh. Nothing here
 * blocks: no getaddrinfo, no /etc/hosts (lookups "b": DNS only).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ares.h>

#include "dns.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#define DNS_SOCKS_MAX 16

struct dns_sock {
	struct watcher w;
	uint32_t events; /* 0: unused */
	struct dns *d;
};

struct dns {
	int epfd;
	ares_channel ch;
	bool have_ch;
	struct watcher timer;
	struct dns_sock socks[DNS_SOCKS_MAX];
	struct dns_table t;
	unsigned min_ttl_s, max_ttl_s, timeout_ms;
	char servers[512]; /* "" : the system's resolver configuration */
	bool changed, closing;
	unsigned long inflight_dropped; /* dropped entries whose lookup is still on */
};

/* --- c-ares' sockets as watchers --- */

static void process(struct dns *d, int rfd, int wfd);

static void on_sock(struct watcher *w, uint32_t events)
{
	struct dns_sock *s = w->ctx;
	int fd = w->fd;

	process(s->d, events & (EPOLLIN | EPOLLERR | EPOLLHUP) ? fd : ARES_SOCKET_BAD,
		events & EPOLLOUT ? fd : ARES_SOCKET_BAD);
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct dns_sock *s = NULL, *free_slot = NULL;
	uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
	int r = 0;

	for (size_t i = 0; i < DNS_SOCKS_MAX; i++) {
		if (d->socks[i].events && d->socks[i].w.fd == fd)
			s = &d->socks[i];
		else if (!d->socks[i].events && !free_slot)
			free_slot = &d->socks[i];
	}
	if (!ev) {
		if (s) {
			watcher_del(d->epfd, &s->w);
			s->events = 0;
		}
		return;
	}
	if (s) {
		r = watcher_mod(d->epfd, &s->w, ev);
	} else if (free_slot) {
		s = free_slot;
		s->w = (struct watcher){ .fd = fd, .fn = on_sock, .ctx = s };
		s->d = d;
		r = watcher_add(d->epfd, &s->w, ev);
	} else {
		r = -EMFILE;
	}
	if (r < 0) {
		/* its query times out instead (the timer still runs) */
		log_warnx("dns: cannot watch resolver socket %d: %s", fd, strerror(-r));
		if (s)
			s->events = 0;
		return;
	}
	s->events = ev;
}

/* --- the table --- */

static void entry_free(struct dns_entry *e)
{
	pfx_list_free(&e->addrs);
	free(e);
}

static void schedule(struct dns_entry *e, uint64_t now, unsigned s)
{
	e->next_ms = now + (uint64_t)s * 1000;
	e->next_at = time(NULL) + (time_t)s;
}

/* How long to wait after the n-th failure in a row: min_ttl_s doubling, at
 * most DNS_RETRY_MAX_S (or max_ttl_s, when lower). */
static unsigned retry_s(const struct dns *d, unsigned n)
{
	unsigned cap = d->max_ttl_s < DNS_RETRY_MAX_S ? d->max_ttl_s : DNS_RETRY_MAX_S;
	unsigned s = d->min_ttl_s;

	for (unsigned i = 1; i < n && s < cap; i++)
		s *= 2;
	if (s > cap)
		s = cap;
	return s < d->min_ttl_s ? d->min_ttl_s : s;
}

static const char *addrs_text(const struct pfx_list *l, char *buf, size_t len)
{
	return l->n ? pfx_list_format(l, ", ", buf, len) : "none";
}

static int pfx_sort_cmp(const void *x, const void *y)
{
	return pfx_cmp(x, y);
}

/* The addresses (and the smallest TTL) of one answer, sorted, each once,
 * the first DNS_ADDRS_MAX: 0, or -ENOMEM. */
static int answer_addrs(const struct ares_addrinfo *ai, struct pfx_list *out, int *ttl)
{
	size_t cap = 0, w = 0;

	*ttl = -1;
	for (const struct ares_addrinfo_node *n = ai ? ai->nodes : NULL; n; n = n->ai_next) {
		struct pfx p = { 0 };

		if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(struct sockaddr_in)) {
			p.family = AF_INET;
			p.len = 32;
			memcpy(p.addr, &((const struct sockaddr_in *)n->ai_addr)->sin_addr, 4);
		} else if (n->ai_family == AF_INET6 &&
			   n->ai_addrlen >= sizeof(struct sockaddr_in6)) {
			p.family = AF_INET6;
			p.len = 128;
			memcpy(p.addr, &((const struct sockaddr_in6 *)n->ai_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		if (*ttl < 0 || n->ai_ttl < *ttl)
			*ttl = n->ai_ttl;
		if (out->n == cap) {
			struct pfx *v = realloc(out->v, (cap ? cap * 2 : 8) * sizeof(*v));

			if (!v)
				return -ENOMEM;
			out->v = v;
			cap = cap ? cap * 2 : 8;
		}
		out->v[out->n++] = p;
	}
	/* a CNAME on the way expires too */
	for (const struct ares_addrinfo_cname *c = ai ? ai->cnames : NULL; c; c = c->next)
		if (*ttl < 0 || c->ttl < *ttl)
			*ttl = c->ttl;
	/* sorted, each once, then cut: the same records give the same addresses in any order */
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), pfx_sort_cmp);
	for (size_t i = 0; i < out->n; i++)
		if (!w || !pfx_equal(&out->v[w - 1], &out->v[i]))
			out->v[w++] = out->v[i];
	out->n = w < DNS_ADDRS_MAX ? w : DNS_ADDRS_MAX;
	return 0;
}

static void lookup_done(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct dns_entry *e = arg;
	struct dns *d = e->d;
	struct pfx_list got = { 0 };
	char was[512], now_s[512];
	uint64_t now = loop_now_ms();
	int ttl = -1;

	e->in_flight = false;
	if (e->dropped || d->closing) {
		if (e->dropped) {
			d->inflight_dropped--;
			entry_free(e);
		}
		ares_freeaddrinfo(ai);
		return;
	}
	if (status == ARES_ECANCELLED || status == ARES_EDESTRUCTION) {
		/* the channel was replaced (a reload): look up again at once */
		ares_freeaddrinfo(ai);
		e->next_ms = now;
		return;
	}
	if (status == ARES_SUCCESS && answer_addrs(ai, &got, &ttl) < 0)
		status = ARES_ENOMEM;
	ares_freeaddrinfo(ai);
	if (status == ARES_SUCCESS && !got.n)
		status = ARES_ENODATA;
	if (status != ARES_SUCCESS) {
		pfx_list_free(&got);
		e->failures++;
		snprintf(e->error, sizeof(e->error), "%s", ares_strerror(status));
		e->error_at = time(NULL);
		schedule(e, now, retry_s(d, e->failures));
		metrics_inc(VM_DNS_LOOKUPS, "failed");
		if (e->addrs.n)
			snprintf(now_s, sizeof(now_s), "keeping its last addresses: %s",
				 addrs_text(&e->addrs, was, sizeof(was)));
		else
			snprintf(now_s, sizeof(now_s), "nothing is allowed for it yet");
		/* once when it starts failing; then at most every 10 minutes */
		log_warnx_rl(&e->rl,
			     "dns: %s: lookup failed (%s); %s; retrying in %u s (vpcroutectl "
			     "status shows the names)",
			     e->name, e->error, now_s, retry_s(d, e->failures));
		return;
	}
	metrics_inc(VM_DNS_LOOKUPS, "ok");
	if (e->failures)
		log_info("dns: %s resolves again after %u failed lookups", e->name, e->failures);
	e->failures = 0;
	e->error[0] = '\0';
	e->error_at = 0;
	e->resolved_at = time(NULL);
	e->ttl_s = ttl < (int)d->min_ttl_s   ? d->min_ttl_s
		   : ttl > (int)d->max_ttl_s ? d->max_ttl_s
					     : (unsigned)ttl;
	schedule(e, now, e->ttl_s);
	if (pfx_list_equal(&got, &e->addrs)) {
		pfx_list_free(&got);
		log_debug("dns: %s: unchanged, next lookup in %u s", e->name, e->ttl_s);
		return;
	}
	log_info("dns: %s: addresses now %s (were %s; TTL %u s)", e->name,
		 addrs_text(&got, now_s, sizeof(now_s)), addrs_text(&e->addrs, was, sizeof(was)),
		 e->ttl_s);
	pfx_list_free(&e->addrs);
	e->addrs = got;
	d->changed = true;
}

static void lookup(struct dns *d, struct dns_entry *e)
{
	struct ares_addrinfo_hints h = { .ai_family = AF_UNSPEC, .ai_flags = ARES_AI_NOSORT };

	e->in_flight = true;
	/* may call lookup_done at once (e.g. a malformed name), which is fine */
	ares_getaddrinfo(d->ch, e->name, NULL, &h, lookup_done, e);
}

/* Starts what is due; arms the timer for the earliest of what is left and
 * c-ares' own timeout. */
static void rearm(struct dns *d)
{
	uint64_t now = loop_now_ms(), next = 0;
	struct itimerspec its = { 0 };
	struct timeval tv, *tp;

	for (size_t i = 0; d->have_ch && i < d->t.n; i++) {
		struct dns_entry *e = d->t.v[i];

		if (!e->in_flight && e->next_ms <= now)
			lookup(d, e);
		if (!e->in_flight && (!next || e->next_ms < next))
			next = e->next_ms;
	}
	if (d->have_ch && (tp = ares_timeout(d->ch, NULL, &tv))) {
		uint64_t t = now + (uint64_t)tp->tv_sec * 1000 + (uint64_t)tp->tv_usec / 1000;

		if (!next || t < next)
			next = t;
	}
	if (next) {
		uint64_t in = next > now ? next - now : 1;

		its.it_value.tv_sec = (time_t)(in / 1000);
		its.it_value.tv_nsec = (long)(in % 1000) * 1000000L;
	}
	timerfd_settime(d->timer.fd, 0, &its, NULL);
}

static void process(struct dns *d, int rfd, int wfd)
{
	if (d->have_ch)
		ares_process_fd(d->ch, rfd, wfd);
	rearm(d);
}

static void on_timer(struct watcher *w, uint32_t events)
{
	struct dns *d = w->ctx;
	uint64_t x;

	if (read(w->fd, &x, sizeof(x)) < 0 && errno != EAGAIN)
		log_warn("dns: timer");
	/* the timeouts c-ares keeps, then what is due */
	process(d, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

/* --- configuration --- */

static void servers_csv(const struct cfg *c, char *buf, size_t len)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->dns.nservers && pos < len; i++)
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", i ? "," : "",
					c->dns.servers[i]);
}

static void channel_close(struct dns *d)
{
	if (!d->have_ch)
		return;
	ares_destroy(d->ch); /* lookups end with ARES_EDESTRUCTION */
	d->have_ch = false;
	for (size_t i = 0; i < DNS_SOCKS_MAX; i++)
		if (d->socks[i].events) {
			watcher_del(d->epfd, &d->socks[i].w);
			d->socks[i].events = 0;
		}
}

static int channel_open(struct dns *d, char *err, size_t len)
{
	struct ares_options o = { 0 };
	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS |
		   ARES_OPT_SOCK_STATE_CB | ARES_OPT_DOMAINS | ARES_OPT_NDOTS;
	char lookups[] = "b";
	int r;

	/* names as written: no search domains, no /etc/hosts */
	o.flags = ARES_FLAG_NOSEARCH;
	o.timeout = (int)d->timeout_ms;
	o.tries = 2;
	o.ndots = 1;
	o.domains = NULL;
	o.ndomains = 0;
	o.lookups = lookups;
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = d;
	if (d->servers[0]) {
		/* its own servers: the host's resolv.conf is not read at all */
		static char devnull[] = "/dev/null";

		o.resolvconf_path = devnull;
		mask |= ARES_OPT_RESOLVCONF;
	}
	if ((r = ares_init_options(&d->ch, &o, mask)) != ARES_SUCCESS) {
		snprintf(err, len, "dns: resolver: %s", ares_strerror(r));
		return -EINVAL;
	}
	d->have_ch = true;
	if (d->servers[0] && (r = ares_set_servers_ports_csv(d->ch, d->servers)) != ARES_SUCCESS) {
		snprintf(err, len, "dns: servers %s: %s", d->servers, ares_strerror(r));
		channel_close(d);
		return -EINVAL;
	}
	return 0;
}

static void entry_drop(struct dns *d, struct dns_entry *e)
{
	if (e->in_flight) {
		e->dropped = true; /* freed by its callback */
		d->inflight_dropped++;
	} else {
		entry_free(e);
	}
}

int dns_configure(struct dns *d, const struct cfg *c, char *err, size_t len)
{
	struct dns_table t = { 0 };
	const char **names = NULL;
	char servers[sizeof(d->servers)];
	size_t n = 0, j = 0;
	uint64_t now = loop_now_ms();
	bool reopen;
	int r;

	if ((r = cfg_host_names(c, &names, &n)) < 0) {
		snprintf(err, len, "dns: out of memory");
		return r;
	}
	servers_csv(c, servers, sizeof(servers));
	reopen = strcmp(servers, d->servers) || d->timeout_ms != c->dns.timeout_ms;
	/* first every new entry, so that running out of memory changes nothing */
	if (n && !(t.v = calloc(n, sizeof(*t.v))))
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		struct dns_entry *e;

		if (dns_table_addrs(&d->t, names[i]))
			continue;
		if (!(e = t.v[i] = calloc(1, sizeof(*e))))
			goto nomem;
		snprintf(e->name, sizeof(e->name), "%s", names[i]);
		e->rl = (struct log_rl)LOG_RL_INIT(1, 600);
		e->d = d;
		e->next_ms = now;
		e->next_at = time(NULL);
	}
	/* then the merge (both sorted): the entries of names that stay are kept */
	for (size_t i = 0; i < n; i++) {
		while (j < d->t.n && strcmp(d->t.v[j]->name, names[i]) < 0)
			entry_drop(d, d->t.v[j++]);
		if (!t.v[i])
			t.v[i] = d->t.v[j++];
	}
	while (j < d->t.n)
		entry_drop(d, d->t.v[j++]);
	t.n = n;
	free(names);
	free(d->t.v);
	d->t = t;
	d->min_ttl_s = c->dns.min_ttl_s;
	d->max_ttl_s = c->dns.max_ttl_s;
	d->timeout_ms = c->dns.timeout_ms;
	snprintf(d->servers, sizeof(d->servers), "%s", servers);
	if (reopen || !d->t.n)
		channel_close(d);
	if (d->t.n && !d->have_ch && (r = channel_open(d, err, len)) < 0)
		return r;
	rearm(d);
	return 0;
nomem:
	for (size_t i = 0; t.v && i < n; i++)
		if (t.v[i])
			entry_free(t.v[i]);
	free(t.v);
	free(names);
	snprintf(err, len, "dns: out of memory");
	return -ENOMEM;
}

struct dns *dns_open(int epfd, const struct cfg *c, char *err, size_t len)
{
	struct dns *d = calloc(1, sizeof(*d));
	int r;

	if (!d) {
		snprintf(err, len, "dns: out of memory");
		return NULL;
	}
	if ((r = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, len, "dns: c-ares: %s", ares_strerror(r));
		free(d);
		return NULL;
	}
	d->epfd = epfd;
	d->timeout_ms = c->dns.timeout_ms;
	servers_csv(c, d->servers, sizeof(d->servers));
	d->timer =
		(struct watcher){ .fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
				  .fn = on_timer,
				  .ctx = d };
	if (d->timer.fd < 0 || watcher_add(epfd, &d->timer, EPOLLIN) < 0) {
		snprintf(err, len, "dns: timer: %s", strerror(errno));
		if (d->timer.fd >= 0)
			close(d->timer.fd);
		ares_library_cleanup();
		free(d);
		return NULL;
	}
	if (dns_configure(d, c, err, len) < 0) {
		dns_close(d);
		return NULL;
	}
	return d;
}

void dns_close(struct dns *d)
{
	if (!d)
		return;
	d->closing = true;
	channel_close(d); /* the dropped entries still looked up are freed by their callback */
	for (size_t i = 0; i < d->t.n; i++)
		entry_free(d->t.v[i]);
	free(d->t.v);
	watcher_del(d->epfd, &d->timer);
	close(d->timer.fd);
	ares_library_cleanup();
	free(d);
}

const struct dns_table *dns_table(const struct dns *d)
{
	return d ? &d->t : NULL;
}

bool dns_take_changed(struct dns *d)
{
	bool c = d && d->changed;

	if (d)
		d->changed = false;
	return c;
}

json_t *dns_status_json(const struct dns *d)
{
	json_t *o = json_object(), *names = json_array(), *sv = json_array();
	time_t now = time(NULL);
	char s[PFX_STRLEN];

	if (d && d->servers[0]) {
		char buf[sizeof(d->servers)], *save = NULL;

		snprintf(buf, sizeof(buf), "%s", d->servers);
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
			json_array_append_new(sv, json_string(t));
	}
	json_object_set_new(o, "servers", d && d->servers[0] ? sv : (json_decref(sv), json_null()));
	json_object_set_new(o, "min_ttl_s", json_integer(d ? d->min_ttl_s : 0));
	json_object_set_new(o, "max_ttl_s", json_integer(d ? d->max_ttl_s : 0));
	for (size_t i = 0; d && i < d->t.n; i++) {
		const struct dns_entry *e = d->t.v[i];
		json_t *n = json_object(), *a = json_array();

		for (size_t k = 0; k < e->addrs.n; k++)
			json_array_append_new(
				a, json_string(pfx_format_addr(&e->addrs.v[k], s, sizeof(s))));
		json_object_set_new(n, "name", json_string(e->name));
		json_object_set_new(n, "state",
				    json_string(!e->resolved_at
							? (e->error[0] ? "unresolved" : "pending")
						: e->error[0] ? "failing"
							      : "resolved"));
		json_object_set_new(n, "addresses", a);
		json_object_set_new(n, "ttl_s", e->ttl_s ? json_integer(e->ttl_s) : json_null());
		json_object_set_new(n, "resolved_at",
				    e->resolved_at ? json_integer((json_int_t)e->resolved_at)
						   : json_null());
		json_object_set_new(n, "next_lookup_in_s",
				    json_integer(e->in_flight || e->next_at <= now
							 ? 0
							 : (json_int_t)(e->next_at - now)));
		json_object_set_new(n, "error", e->error[0] ? json_string(e->error) : json_null());
		json_object_set_new(n, "error_at",
				    e->error_at ? json_integer((json_int_t)e->error_at)
						: json_null());
		json_object_set_new(n, "failures", json_integer(e->failures));
		json_array_append_new(names, n);
	}
	json_object_set_new(o, "names", names);
	return o;
}
