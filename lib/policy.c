// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The admission policy (policy.h): one conflict check for the plugin, the
 * agent and vpcroutectl, and the plugin's builder of a proposed client from
 * policy and CCD file.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static bool say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Fills why; always false, so "return say(...)" refuses. */
static bool say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return false;
}

/* --- what the host holds --- */

void policy_host_init(struct policy_host *h)
{
	memset(h, 0, sizeof(*h));
}

void policy_host_free(struct policy_host *h)
{
	free(h->nets);
	free(h->addrs);
	policy_host_init(h);
}

static int push(struct policy_entry **v, size_t *n, size_t *cap, const struct pfx *net,
		const char *cn, const char *instance, size_t seq)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct policy_entry *w = realloc(*v, c * sizeof(*w));

		if (!w)
			return -ENOMEM;
		*v = w;
		*cap = c;
	}
	(*v)[*n].net = *net;
	(*v)[*n].cn = cn;
	(*v)[*n].instance = instance;
	(*v)[(*n)++].seq = seq;
	return 0;
}

static unsigned fam(const struct pfx *p)
{
	return p->family == AF_INET6;
}

int policy_host_add_net(struct policy_host *h, const struct pfx *net, const char *cn,
			const char *instance, size_t seq)
{
	h->indexed = false;
	h->lens[fam(net)][net->len] = 1;
	return push(&h->nets, &h->nnets, &h->capnets, net, cn, instance, seq);
}

int policy_host_add_addr(struct policy_host *h, const struct pfx *addr, const char *cn,
			 const char *instance, size_t seq)
{
	struct pfx a = *addr;

	a.len = (uint8_t)(pfx_addrlen(addr) * 8);
	h->indexed = false;
	return push(&h->addrs, &h->naddrs, &h->capaddrs, &a, cn, instance, seq);
}

int policy_host_add_client(struct policy_host *h, const struct proto_client *c,
			   const char *instance, size_t seq)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < c->nets.n; i++)
		r = policy_host_add_net(h, &c->nets.v[i], c->cn, instance, seq);
	if (r == 0 && c->has_tunnel4)
		r = policy_host_add_addr(h, &c->tunnel4, c->cn, instance, seq);
	if (r == 0 && c->has_tunnel6)
		r = policy_host_add_addr(h, &c->tunnel6, c->cn, instance, seq);
	return r;
}

static int entry_cmp(const void *x, const void *y)
{
	const struct policy_entry *a = x, *b = y;
	int r = pfx_cmp(&a->net, &b->net);

	return r ? r : (a->seq > b->seq) - (a->seq < b->seq);
}

void policy_host_index(struct policy_host *h)
{
	if (h->nnets)
		qsort(h->nets, h->nnets, sizeof(*h->nets), entry_cmp);
	if (h->naddrs)
		qsort(h->addrs, h->naddrs, sizeof(*h->addrs), entry_cmp);
	h->indexed = true;
}

/* The first entry of v (sorted) not below key. */
static size_t lower_bound(const struct policy_entry *v, size_t n, const struct pfx *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pfx_cmp(&v[mid].net, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Entries that do not count against cn of instance. */
static bool skip(const struct policy_host *h, const struct policy_entry *e, const char *cn,
		 const char *instance)
{
	return (strcmp(e->cn, cn) == 0 && strcmp(e->instance, instance) == 0) ||
	       (h->ignore && h->ignore(e, h->ctx));
}

/* p with only its first len bits. */
static struct pfx truncated(const struct pfx *p, unsigned len)
{
	struct pfx t = *p;

	for (unsigned i = 0; i < pfx_addrlen(p); i++) {
		unsigned bits = len > i * 8 ? len - i * 8 : 0;

		if (bits < 8)
			t.addr[i] &= (uint8_t)(0xff00u >> bits);
	}
	t.len = (uint8_t)len;
	return t;
}

/* The first counting entry equal to key, from v sorted. */
static const struct policy_entry *find_equal(const struct policy_host *h,
					     const struct policy_entry *v, size_t n,
					     const struct pfx *key, const char *cn,
					     const char *instance)
{
	for (size_t i = lower_bound(v, n, key); i < n && pfx_equal(&v[i].net, key); i++)
		if (!skip(h, &v[i], cn, instance))
			return &v[i];
	return NULL;
}

/* One query walked through what the caller holds. */
struct probe {
	const struct policy_host *h;
	const struct pfx *x;
	bool addr;
	const char *cn, *instance;
	struct policy_entry *found;
};

static bool probe_one(const struct pfx *v, size_t n, const char *cn, const char *instance,
		      void *arg)
{
	struct probe *p = arg;

	for (size_t i = 0; i < n; i++) {
		struct policy_entry e = { .cn = cn, .instance = instance };

		if (!(p->addr ? pfx_equal(&v[i], p->x) : pfx_overlaps(&v[i], p->x)))
			continue;
		e.net = v[i];
		if (!skip(p->h, &e, p->cn, p->instance)) {
			*p->found = e;
			return true;
		}
	}
	return false;
}

/* A counting network of the host that overlaps x (copied to found), or NULL. */
static const struct policy_entry *net_overlap(const struct policy_host *h, const struct pfx *x,
					      const char *cn, const char *instance,
					      struct policy_entry *found)
{
	struct probe p = { h, x, false, cn, instance, found };
	const struct policy_entry *e;
	struct pfx key;

	if (!h)
		return NULL;
	if (!h->indexed) {
		for (size_t i = 0; i < h->nnets; i++)
			if (pfx_overlaps(&h->nets[i].net, x) && !skip(h, &h->nets[i], cn, instance))
				return &h->nets[i];
		if (h->find)
			return h->find(h->find_ctx, false, x, cn, instance, found) ? found : NULL;
		return h->walk && h->walk(h->walk_ctx, false, probe_one, &p) ? found : NULL;
	}
	/* x itself, or a network containing it: one lookup per length in use */
	for (unsigned l = 0; l <= x->len; l++) {
		if (!h->lens[fam(x)][l])
			continue;
		key = truncated(x, l);
		if ((e = find_equal(h, h->nets, h->nnets, &key, cn, instance)))
			return e;
	}
	/* networks inside x sort right after it, together */
	key = *x;
	key.len = (uint8_t)(x->len + 1);
	for (size_t i = lower_bound(h->nets, h->nnets, &key);
	     i < h->nnets && pfx_contains(x, &h->nets[i].net); i++)
		if (!skip(h, &h->nets[i], cn, instance))
			return &h->nets[i];
	return NULL;
}

/* A counting tunnel address of the host equal to a (copied to found), or NULL. */
static const struct policy_entry *addr_taken(const struct policy_host *h, const struct pfx *a,
					     const char *cn, const char *instance,
					     struct policy_entry *found)
{
	struct probe p = { h, a, true, cn, instance, found };

	if (!h)
		return NULL;
	if (h->indexed)
		return find_equal(h, h->addrs, h->naddrs, a, cn, instance);
	for (size_t i = 0; i < h->naddrs; i++)
		if (pfx_equal(&h->addrs[i].net, a) && !skip(h, &h->addrs[i], cn, instance))
			return &h->addrs[i];
	if (h->find)
		return h->find(h->find_ctx, true, a, cn, instance, found) ? found : NULL;
	return h->walk && h->walk(h->walk_ctx, true, probe_one, &p) ? found : NULL;
}

/* --- the rule --- */

const char *policy_net_reserved(const struct cfg *cfg, const struct pfx *x, char *why, size_t len)
{
	char a[PFX_STRLEN], b[PFX_STRLEN];
	const struct pfx *o;

	if ((o = pfx_list_overlap(&cfg->local, x))) {
		snprintf(why, len, "%s overlaps the local network %s", pfx_format(x, a, sizeof(a)),
			 pfx_format(o, b, sizeof(b)));
		return "local_networks";
	}
	if (cfg->has_pool && pfx_overlaps(&cfg->pool, x)) {
		snprintf(why, len, "%s overlaps the tunnel pool %s", pfx_format(x, a, sizeof(a)),
			 pfx_format(&cfg->pool, b, sizeof(b)));
		return "tunnel.pool";
	}
	if (cfg->has_pool6 && pfx_overlaps(&cfg->pool6, x)) {
		snprintf(why, len, "%s overlaps the tunnel pool %s", pfx_format(x, a, sizeof(a)),
			 pfx_format(&cfg->pool6, b, sizeof(b)));
		return "tunnel.pool6";
	}
	return NULL;
}

const char *policy_address_invalid(const struct cfg *cfg, const struct pfx *addr, char *why,
				   size_t len)
{
	bool v6 = addr->family == AF_INET6, has = v6 ? cfg->has_pool6 : cfg->has_pool;
	const struct pfx *pool = v6 ? &cfg->pool6 : &cfg->pool;
	const char *rule = v6 ? "tunnel.pool6" : "tunnel.pool";
	char a[PFX_STRLEN], b[PFX_STRLEN];
	struct pfx host, first, last, server;

	host = *addr;
	host.len = (uint8_t)(pfx_addrlen(addr) * 8);
	pfx_format_addr(&host, a, sizeof(a));
	if (!has || !pfx_contains(pool, &host)) {
		snprintf(why, len, "%s is outside the %stunnel pool %s", a, v6 ? "IPv6 " : "",
			 has ? pfx_format(pool, b, sizeof(b)) : "(none)");
		return rule;
	}
	pfx_format(pool, b, sizeof(b));
	pfx_first(pool, &first);
	pfx_last(pool, &last);
	/* OpenVPN's "server"/"server-ipv6" take the pool's first host address */
	server = first;
	server.addr[pfx_addrlen(&server) - 1] |= 1; /* pools are /30, /124 or wider */
	if (pfx_equal(&host, &first))
		snprintf(why, len, "%s is the network address of the tunnel pool %s", a, b);
	else if (!v6 && pfx_equal(&host, &last))
		snprintf(why, len, "%s is the broadcast address of the tunnel pool %s", a, b);
	else if (pfx_equal(&host, &server))
		snprintf(why, len, "%s is the server's own address in the tunnel pool %s", a, b);
	else
		return NULL;
	return rule;
}

bool policy_route_accepted(const struct cfg *cfg, const struct pfx *r)
{
	return !pfx_list_overlap(&cfg->local, r) &&
	       (cfg->accept_routes.n == 0 || pfx_list_contains(&cfg->accept_routes, r));
}

void policy_reason_fit(const char *reason, char *out, size_t len)
{
	const char *rule = strstr(reason, " (rule: ");
	size_t n = strlen(reason), tail;

	if (!len)
		return;
	if (n < len || !rule || (tail = strlen(rule)) + 4 >= len) {
		snprintf(out, len, "%s", reason);
		return;
	}
	snprintf(out, len, "%.*s...%s", (int)(len - 1 - tail - 3), reason, rule);
}

const char *policy_reason_rule(const char *reason, char *out, size_t len)
{
	const char *rule = strstr(reason, " (rule: ");
	size_t n;

	if (!rule || !len)
		return NULL;
	rule += strlen(" (rule: ");
	n = strlen(rule);
	if (!n || rule[n - 1] != ')')
		return NULL;
	snprintf(out, len, "%.*s", (int)(n - 1), rule);
	return out;
}

bool policy_check_role(const struct cfg *cfg, const char *instance, enum proto_role role, char *why,
		       size_t len)
{
	if (role != PROTO_ROLE_CTL && strcmp(instance, POLICY_IPSEC_INSTANCE) == 0)
		return say(why, len,
			   "instance %s: the name is the agent's, for the kernel's IPsec tunnels; "
			   "name the OpenVPN instance otherwise (rule: instance)",
			   instance);
	if (role == PROTO_ROLE_CTL || (role == PROTO_ROLE_SERVER) == (cfg->role == CFG_ROLE_SERVER))
		return true;
	return say(why, len,
		   "instance %s: a plugin in an OpenVPN %s, but this host has the %s role (rule: "
		   "role)",
		   instance, role == PROTO_ROLE_SERVER ? "server" : "client",
		   cfg_role_name(cfg->role));
}

/* What a client under pol may announce: allow, else its iroutes. */
static const struct pfx_list *allowed(const struct cfg_client *pol)
{
	static const struct pfx_list none;

	if (!pol)
		return &none;
	return pol->allow.n ? &pol->allow : &pol->iroutes;
}

bool policy_may_announce(const struct cfg *cfg, const struct pfx *p)
{
	if (p->len == 0)
		return false;
	if (cfg->role == CFG_ROLE_CLIENT) {
		/* covers tunnel_networks too: the loader keeps them inside
		 * accept_routes and off the local networks */
		if (cfg->accept_routes.n)
			return pfx_list_contains(&cfg->accept_routes, p);
		return !pfx_list_overlap(&cfg->local, p);
	}
	if ((cfg->has_pool && pfx_contains(&cfg->pool, p)) ||
	    (cfg->has_pool6 && pfx_contains(&cfg->pool6, p)))
		return true;
	if (cfg->default_client && pfx_list_contains(allowed(cfg->default_client), p))
		return true;
	for (size_t i = 0; i < cfg->nclients; i++)
		if (pfx_list_contains(allowed(&cfg->clients[i]), p))
			return true;
	return false;
}

bool policy_may_announce_within(const struct cfg *cfg, const struct pfx *s)
{
	if (cfg->role == CFG_ROLE_CLIENT)
		return cfg->accept_routes.n ? pfx_list_overlap(&cfg->accept_routes, s) != NULL
					    : !pfx_list_contains(&cfg->local, s);
	if ((cfg->has_pool && pfx_overlaps(&cfg->pool, s)) ||
	    (cfg->has_pool6 && pfx_overlaps(&cfg->pool6, s)))
		return true;
	if (cfg->default_client && pfx_list_overlap(allowed(cfg->default_client), s))
		return true;
	for (size_t i = 0; i < cfg->nclients; i++)
		if (pfx_list_overlap(allowed(&cfg->clients[i]), s))
			return true;
	return false;
}

int policy_announceable(const struct cfg *cfg, struct pfx_list *out)
{
	const struct pfx_list *l;
	int e = 0;

	memset(out, 0, sizeof(*out));
	if (cfg->has_pool)
		e = pfx_list_add(out, &cfg->pool, SIZE_MAX);
	if (!e && cfg->has_pool6)
		e = pfx_list_add(out, &cfg->pool6, SIZE_MAX);
	for (size_t i = 0; !e && i <= cfg->nclients; i++) {
		l = allowed(i < cfg->nclients ? &cfg->clients[i] : cfg->default_client);
		for (size_t k = 0; !e && k < l->n; k++)
			e = pfx_list_add(out, &l->v[k], SIZE_MAX); /* each once */
	}
	if (e)
		pfx_list_free(out);
	return e;
}

/* "clients.NAME", "default_client" or "clients.*" (no entry at all). */
static const char *pol_name(const struct cfg *cfg, const struct cfg_client *pol, char *buf,
			    size_t len)
{
	if (!pol)
		snprintf(buf, len, "clients.*");
	else if (pol == cfg->default_client)
		snprintf(buf, len, "default_client");
	else
		snprintf(buf, len, "clients.%s", pol->name);
	return buf;
}

static bool check_address(const struct cfg *cfg, const char *instance, const struct proto_client *c,
			  const struct cfg_client *pol, const struct pfx *addr, bool fixed,
			  const struct pfx *want, const struct policy_host *host, char *why,
			  size_t len)
{
	char a[PFX_STRLEN], b[PFX_STRLEN], e[POLICY_REASON_MAX / 2], p[CN_MAX + 32];
	const struct policy_entry *o;
	struct policy_entry found;
	const char *rule;

	pfx_format_addr(addr, a, sizeof(a));
	if (fixed && !pfx_equal(addr, want))
		return say(why, len,
			   "client %s: tunnel address %s is not its address %s (rule: %s.%s)",
			   c->cn, a, pfx_format_addr(want, b, sizeof(b)),
			   pol_name(cfg, pol, p, sizeof(p)),
			   addr->family == AF_INET ? "address" : "address6");
	if ((rule = policy_address_invalid(cfg, addr, e, sizeof(e))))
		return say(why, len, "client %s: tunnel address %s (rule: %s)", c->cn, e, rule);
	if ((o = addr_taken(host, addr, c->cn, instance, &found)))
		return say(why, len,
			   "client %s: tunnel address %s is taken by client %s of %s (rule: one "
			   "client per address)",
			   c->cn, a, o->cn, o->instance);
	return true;
}

static bool check_cn(const char *cn, char *why, size_t len)
{
	char e[POLICY_REASON_MAX / 2];

	if (!cn_valid(cn, e, sizeof(e)))
		return say(why, len, "refused: %s (rule: common name)", e);
	return true;
}

/* The holder o, for a refusal: "client CN of INSTANCE" or "peer ADDR". */
static const char *holder(const struct policy_entry *o, char *buf, size_t len)
{
	if (strcmp(o->instance, POLICY_IPSEC_INSTANCE) == 0)
		snprintf(buf, len, "IPsec peer %s", o->cn);
	else
		snprintf(buf, len, "client %s of %s", o->cn, o->instance);
	return buf;
}

/*
 * The networks part of the rule, the same for OpenVPN clients and IPsec
 * peers: each of c's networks inside allow (the rule polname.allow), not
 * overlapping another of its own, the local networks or the pools, nor a
 * network another holder has. who: "client" or "IPsec peer".
 */
static bool check_nets(const struct cfg *cfg, const char *instance, const char *who,
		       const struct proto_client *c, const struct pfx_list *allow,
		       const char *polname, const struct policy_host *host, char *why, size_t len)
{
	const struct policy_entry *o;
	struct policy_entry found;
	char a[PFX_STRLEN], b[PFX_STRLEN], e[POLICY_REASON_MAX / 2], h[CN_MAX + 96];
	const char *rule;

	for (size_t i = 0; i < c->nets.n; i++) {
		const struct pfx *x = &c->nets.v[i];

		pfx_format(x, a, sizeof(a));
		if (!pfx_list_contains(allow, x)) {
			if (allow->n)
				pfx_list_format(allow, ", ", e, sizeof(e));
			else
				snprintf(e, sizeof(e), "none");
			return say(why, len,
				   "%s %s: %s is not inside its allowed networks (%s) (rule: "
				   "%s.allow)",
				   who, c->cn, a, e, polname);
		}
		for (size_t j = 0; j < i; j++)
			if (pfx_overlaps(x, &c->nets.v[j]))
				return say(why, len,
					   "%s %s: %s overlaps %s, which it also announces "
					   "(rule: one route per network)",
					   who, c->cn, a, pfx_format(&c->nets.v[j], b, sizeof(b)));
		if ((rule = policy_net_reserved(cfg, x, e, sizeof(e))))
			return say(why, len, "%s %s: %s (rule: %s)", who, c->cn, e, rule);
		if ((o = net_overlap(host, x, c->cn, instance, &found)))
			return say(
				why, len,
				"%s %s: %s overlaps %s, already announced by %s (rule: one owner "
				"per network)",
				who, c->cn, a, pfx_format(&o->net, b, sizeof(b)),
				holder(o, h, sizeof(h)));
	}
	return true;
}

bool policy_check(const struct cfg *cfg, const char *instance, const struct proto_client *c,
		  const struct policy_host *host, char *why, size_t len)
{
	const struct cfg_client *pol;
	char p[CN_MAX + 32];
	struct pfx host6;

	if (!check_cn(c->cn, why, len))
		return false;
	if (cfg->role != CFG_ROLE_SERVER)
		return say(why, len,
			   "client %s: this host has the client role and admits no OpenVPN clients "
			   "(rule: role)",
			   c->cn);
	pol = cfg_client_find(cfg, c->cn);
	if (!pol && cfg->strict)
		return say(why, len, "client %s: unknown common name (rule: strict)", c->cn);
	if (!check_nets(cfg, instance, "client", c, allowed(pol), pol_name(cfg, pol, p, sizeof(p)),
			host, why, len))
		return false;
	if (c->has_tunnel4 &&
	    !check_address(cfg, instance, c, pol, &c->tunnel4, pol && pol->has_address,
			   pol ? &pol->address : NULL, host, why, len))
		return false;
	if (c->has_tunnel6) {
		host6 = c->tunnel6;
		host6.len = 128;
		if (!check_address(cfg, instance, c, pol, &host6, pol && pol->has_address6,
				   pol ? &pol->address6 : NULL, host, why, len))
			return false;
	}
	return true;
}

bool policy_check_peer(const struct cfg *cfg, const struct pfx *peer, const char *id,
		       const struct proto_client *c, const struct policy_host *host, char *why,
		       size_t len)
{
	const struct cfg_peer *pe = cfg_peer_lookup(cfg, peer, id);
	char p[CFG_PEER_ID_MAX + 32];

	if (c->has_tunnel4 || c->has_tunnel6)
		return say(why, len,
			   "IPsec peer %s: an IPsec peer has no tunnel address (rule: "
			   "ipsec.peers)",
			   c->cn);
	if (!pe && id)
		return say(why, len,
			   "IPsec peer %s: neither its address nor its IKE identity \"%s\" is in "
			   "ipsec.peers (rule: ipsec.peers)",
			   c->cn, id);
	if (!pe && cfg->npeer_ids)
		return say(why, len,
			   "IPsec peer %s: its address is not in ipsec.peers, and its IKE identity "
			   "is not known (%s), so no entry keyed by identity matches (rule: "
			   "ipsec.peers)",
			   c->cn,
			   cfg->vici_socket ? "strongSwan's VICI socket names no IKE_SA from it"
					    : "ipsec.vici_socket is not set");
	if (!pe)
		return say(why, len, "IPsec peer %s: not in ipsec.peers (rule: ipsec.peers)",
			   c->cn);
	snprintf(p, sizeof(p), "ipsec.peers.%s", pe->pol.name);
	return check_nets(cfg, POLICY_IPSEC_INSTANCE, "IPsec peer", c, &pe->pol.allow, p, host, why,
			  len);
}

/* --- the plugin's decision --- */

/* A growing text of config lines. */
struct lines {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void add_line(struct lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_line(struct lines *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->oom)
		return;
	for (;;) {
		if (l->buf) {
			va_start(ap, fmt);
			n = vsnprintf(l->buf + l->len, l->cap - l->len, fmt, ap);
			va_end(ap);
			if (n >= 0 && (size_t)n + 1 < l->cap - l->len) {
				l->len += (size_t)n;
				l->buf[l->len++] = '\n';
				l->buf[l->len] = '\0';
				return;
			}
		}
		size_t cap = l->cap ? l->cap * 2 : 512;
		char *b = realloc(l->buf, cap);

		if (!b) {
			l->oom = true;
			return;
		}
		l->buf = b;
		l->cap = cap;
	}
}

enum line_kind { LINE_IROUTE, LINE_PUSH_ROUTE };

/* "iroute A MASK" / "iroute-ipv6 P", or the push "route ..." forms. */
static void net_line(struct lines *l, enum line_kind k, const struct pfx *p)
{
	char a[PFX_STRLEN], m[INET_ADDRSTRLEN];

	if (p->family == AF_INET) {
		pfx_format_netmask(p, m, sizeof(m));
		pfx_format_addr(p, a, sizeof(a));
		if (k == LINE_IROUTE)
			add_line(l, "iroute %s %s", a, m);
		else
			add_line(l, "push \"route %s %s\"", a, m);
	} else {
		pfx_format(p, a, sizeof(a));
		if (k == LINE_IROUTE)
			add_line(l, "iroute-ipv6 %s", a);
		else
			add_line(l, "push \"route-ipv6 %s\"", a);
	}
}

static int refuse(struct verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(struct verdict *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
	v->admit = false;
	return 0;
}

/* One admission query against a set of claims. */
struct claim_probe {
	const char *cn, *instance; /* the client asking: its own do not count */
	struct policy_entry *found;
	const struct pfx *addr; /* an address: only a claim of it counts */
};

static bool claim_hit(const struct proto_claim *c, void *arg)
{
	struct claim_probe *q = arg;

	if ((strcmp(c->cn, q->cn) == 0 && strcmp(c->instance, q->instance) == 0) ||
	    (q->addr && !pfx_equal(&c->net, q->addr)))
		return false;
	*q->found = (struct policy_entry){ .net = c->net, .cn = c->cn, .instance = c->instance };
	return true;
}

/* policy_host's find for the plugin: the agent's claims (networks only),
 * then its own clients' networks or addresses, each through its index. */
static bool find_admission(const void *ctx, bool addrs, const struct pfx *x, const char *cn,
			   const char *instance, struct policy_entry *found)
{
	const struct admission *in = ctx;
	struct claim_probe q = { cn, instance, found, addrs ? x : NULL };
	const struct claimset *own = addrs ? in->own_addrs : in->own_nets;

	if (!addrs && in->claims && claimset_overlaps(in->claims, x, claim_hit, &q))
		return true;
	return own && claimset_overlaps(own, x, claim_hit, &q);
}

int policy_decide(const struct admission *in, struct verdict *v)
{
	const struct cfg *c = in->cfg;
	const struct cfg_client *pol;
	const struct ccd *ccd = in->ccd && in->ccd->found ? in->ccd : NULL;
	struct proto_client *pc = &v->client;
	struct policy_host host;
	struct lines out = { 0 };
	char a[PFX_STRLEN], mask[INET_ADDRSTRLEN];
	bool ok;
	int r;

	memset(v, 0, sizeof(*v));
	if (!check_cn(in->cn, v->reason, sizeof(v->reason)))
		return 0;
	snprintf(pc->cn, sizeof(pc->cn), "%s", in->cn);
	if (ccd && ccd->disable)
		return refuse(v, "client %s: disabled by %s (rule: disable)", in->cn, ccd->path);

	/* The proposed client: the policy's iroutes and the CCD's, its addresses. */
	pol = cfg_client_find(c, in->cn);
	for (size_t i = 0; pol && i < pol->iroutes.n; i++)
		if ((r = pfx_list_add(&pc->nets, &pol->iroutes.v[i], PROTO_MAX_NETS)))
			goto fail;
	for (size_t i = 0; ccd && i < ccd->iroutes.n; i++)
		if ((r = pfx_list_add(&pc->nets, &ccd->iroutes.v[i], PROTO_MAX_NETS)))
			goto fail;
	if (ccd && ccd->has_address) {
		pc->has_tunnel4 = true;
		pc->tunnel4 = ccd->address;
	} else if (pol && pol->has_address) {
		pc->has_tunnel4 = true;
		pc->tunnel4 = pol->address;
	}
	if (ccd && ccd->has_address6) {
		pc->has_tunnel6 = true;
		pc->tunnel6 = ccd->address6;
		pc->tunnel6.len = 128;
	} else if (pol && pol->has_address6) {
		pc->has_tunnel6 = true;
		pc->tunnel6 = pol->address6;
	}
	/* a fixed address goes into the config; else the pool's choice is told */
	bool fixed4 = pc->has_tunnel4, fixed6 = pc->has_tunnel6;

	if (!fixed4 && in->has_pool_ip) {
		pc->has_tunnel4 = true;
		pc->tunnel4 = in->pool_ip;
	}

	/* The one check. */
	policy_host_init(&host);
	host.find = find_admission;
	host.find_ctx = in;
	ok = policy_check(c, in->instance ? in->instance : "", pc, &host, v->reason,
			  sizeof(v->reason));
	if (!ok)
		return 0;

	/* The lines OpenVPN applies for this client. */
	for (size_t i = 0; i < pc->nets.n; i++)
		net_line(&out, LINE_IROUTE, &pc->nets.v[i]);
	if (fixed4) {
		pfx_format_netmask(&c->pool, mask, sizeof(mask));
		add_line(&out, "ifconfig-push %s %s", pfx_format_addr(&pc->tunnel4, a, sizeof(a)),
			 mask);
	}
	if (fixed6)
		add_line(&out, "ifconfig-ipv6-push %s/%u",
			 pfx_format_addr(&pc->tunnel6, a, sizeof(a)), c->pool6.len);
	for (size_t i = 0; pol && i < pol->push_routes.n; i++)
		net_line(&out, LINE_PUSH_ROUTE, &pol->push_routes.v[i]);
	for (size_t i = 0; ccd && i < ccd->npush; i++)
		add_line(&out, "%s", ccd->push[i]);
	if (out.oom) {
		r = -ENOMEM;
		goto fail;
	}
	v->config = out.buf ? out.buf : strdup("");
	if (!v->config)
		return -ENOMEM;
	v->admit = true;
	return 0;
fail:
	free(out.buf);
	if (r == -E2BIG) {
		refuse(v, "client %s: more than %d networks (rule: protocol limit)", in->cn,
		       PROTO_MAX_NETS);
		return 0;
	}
	verdict_free(v);
	return r;
}

void verdict_free(struct verdict *v)
{
	pfx_list_free(&v->client.nets);
	free(v->config);
	v->config = NULL;
}
