// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static const struct cfg_client no_policy;

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

/* Checks one announced network against everything else on this host. */
static int check_net(const struct admission *in, const struct pfx *x, struct verdict *v)
{
	const struct cfg *c = in->cfg;
	char a[PFX_STRLEN], b[PFX_STRLEN];
	const struct pfx *o;

	if ((o = pfx_list_overlap(&c->local, x)))
		return refuse(v,
			      "client %s: %s overlaps the local network %s (rule: local_networks)",
			      in->cn, pfx_format(x, a, sizeof(a)), pfx_format(o, b, sizeof(b)));
	if ((c->has_pool && pfx_overlaps(&c->pool, x)) ||
	    (c->has_pool6 && pfx_overlaps(&c->pool6, x)))
		return refuse(v, "client %s: %s overlaps the tunnel pool (rule: tunnel.pool)",
			      in->cn, pfx_format(x, a, sizeof(a)));
	for (size_t i = 0; i < in->npeers; i++) {
		const struct proto_client *p = &in->peers[i];

		if (strcmp(p->cn, in->cn) == 0)
			continue;
		if ((o = pfx_list_overlap(&p->nets, x)))
			return refuse(v,
				      "client %s: %s overlaps %s, already announced by connected "
				      "client %s (rule: one owner per network)",
				      in->cn, pfx_format(x, a, sizeof(a)),
				      pfx_format(o, b, sizeof(b)), p->cn);
	}
	for (size_t i = 0; i < in->nclaims; i++) {
		const struct proto_claim *cl = &in->claims[i];

		if (strcmp(cl->cn, in->cn) == 0 && strcmp(cl->instance, in->instance) == 0)
			continue; /* its own earlier claim */
		if (pfx_overlaps(&cl->net, x))
			return refuse(v,
				      "client %s: %s overlaps %s, already announced by client %s "
				      "of %s (rule: one owner per network)",
				      in->cn, pfx_format(x, a, sizeof(a)),
				      pfx_format(&cl->net, b, sizeof(b)), cl->cn, cl->instance);
	}
	return 1;
}

static int check_address(const struct admission *in, const struct pfx *addr, const struct pfx *pool,
			 bool has_pool, const char *what, struct verdict *v)
{
	char a[PFX_STRLEN], b[PFX_STRLEN];

	if (!has_pool || !pfx_contains(pool, addr))
		return refuse(
			v,
			"client %s: fixed %s address %s is outside the pool %s (rule: tunnel.pool)",
			in->cn, what, pfx_format_addr(addr, a, sizeof(a)),
			has_pool ? pfx_format(pool, b, sizeof(b)) : "(none)");
	for (size_t i = 0; i < in->npeers; i++) {
		const struct proto_client *p = &in->peers[i];

		if (strcmp(p->cn, in->cn) == 0)
			continue;
		if ((p->has_tunnel4 && pfx_equal(&p->tunnel4, addr)) ||
		    (p->has_tunnel6 && pfx_equal(&p->tunnel6, addr)))
			return refuse(v,
				      "client %s: fixed %s address %s is taken by connected client "
				      "%s (rule: one client per address)",
				      in->cn, what, pfx_format_addr(addr, a, sizeof(a)), p->cn);
	}
	return 1;
}

int policy_decide(const struct admission *in, struct verdict *v)
{
	const struct cfg *c = in->cfg;
	const struct cfg_client *pol;
	const struct ccd *ccd = in->ccd && in->ccd->found ? in->ccd : NULL;
	const struct pfx_list *allow;
	struct lines out = { 0 };
	char e[POLICY_REASON_MAX], a[PFX_STRLEN], b[PFX_STRLEN], list[256];
	struct pfx addr, addr6;
	bool has_addr = false, has_addr6 = false;
	int r;

	memset(v, 0, sizeof(*v));
	if (!cn_valid(in->cn, e, sizeof(e)))
		return refuse(v, "refused: %s (rule: common name)", e);
	snprintf(v->client.cn, sizeof(v->client.cn), "%s", in->cn);
	pol = cfg_client_find(c, in->cn);
	if (!pol && c->strict)
		return refuse(v, "client %s: unknown common name (rule: strict)", in->cn);
	if (!pol)
		pol = &no_policy;
	if (ccd && ccd->disable)
		return refuse(v, "client %s: disabled by %s (rule: disable)", in->cn, ccd->path);

	/* What it announces: the policy's iroutes, and the CCD's if allowed. */
	allow = pol->allow.n ? &pol->allow : &pol->iroutes;
	for (size_t i = 0; i < pol->iroutes.n; i++)
		if ((r = pfx_list_add(&v->client.nets, &pol->iroutes.v[i], PROTO_MAX_NETS)))
			goto fail;
	for (size_t i = 0; ccd && i < ccd->iroutes.n; i++) {
		const struct pfx *x = &ccd->iroutes.v[i];

		if (!pfx_list_contains(allow, x)) {
			if (allow->n)
				pfx_list_format(allow, ", ", list, sizeof(list));
			else
				snprintf(list, sizeof(list), "none");
			refuse(v,
			       "client %s: iroute %s from %s is not inside its allowed networks "
			       "(%s) (rule: clients.%s.allow)",
			       in->cn, pfx_format(x, a, sizeof(a)), ccd->path, list,
			       pol == &no_policy ? "*" : pol->name);
			goto done;
		}
		if ((r = pfx_list_add(&v->client.nets, x, PROTO_MAX_NETS)))
			goto fail;
	}
	for (size_t i = 0; i < v->client.nets.n; i++) {
		for (size_t j = 0; j < i; j++)
			if (pfx_overlaps(&v->client.nets.v[i], &v->client.nets.v[j])) {
				refuse(v,
				       "client %s: %s overlaps %s, which it also announces (rule: "
				       "one route per network)",
				       in->cn, pfx_format(&v->client.nets.v[i], a, sizeof(a)),
				       pfx_format(&v->client.nets.v[j], b, sizeof(b)));
				goto done;
			}
		if (check_net(in, &v->client.nets.v[i], v) == 0)
			goto done;
	}

	/* Its tunnel addresses. */
	if (pol->has_address) {
		addr = pol->address;
		has_addr = true;
		if (ccd && ccd->has_address && !pfx_equal(&ccd->address, &addr)) {
			refuse(v,
			       "client %s: ifconfig-push %s in %s conflicts with the policy "
			       "address %s (rule: clients.%s.address)",
			       in->cn, pfx_format_addr(&ccd->address, a, sizeof(a)), ccd->path,
			       pfx_format_addr(&addr, b, sizeof(b)), pol->name);
			goto done;
		}
	} else if (ccd && ccd->has_address) {
		addr = ccd->address;
		has_addr = true;
	}
	if (has_addr && check_address(in, &addr, &c->pool, c->has_pool, "IPv4", v) == 0)
		goto done;
	if (pol->has_address6) {
		addr6 = pol->address6;
		has_addr6 = true;
	} else if (ccd && ccd->has_address6) {
		addr6 = ccd->address6;
		addr6.len = 128;
		has_addr6 = true;
	}
	if (has_addr6 && check_address(in, &addr6, &c->pool6, c->has_pool6, "IPv6", v) == 0)
		goto done;
	if (has_addr) {
		v->client.has_tunnel4 = true;
		v->client.tunnel4 = addr;
	} else if (in->has_pool_ip) {
		v->client.has_tunnel4 = true;
		v->client.tunnel4 = in->pool_ip;
	}
	if (has_addr6) {
		v->client.has_tunnel6 = true;
		v->client.tunnel6 = addr6;
	}

	/* The lines OpenVPN applies for this client. */
	for (size_t i = 0; i < v->client.nets.n; i++)
		net_line(&out, LINE_IROUTE, &v->client.nets.v[i]);
	if (has_addr) {
		pfx_format_netmask(&c->pool, list, sizeof(list));
		add_line(&out, "ifconfig-push %s %s", pfx_format_addr(&addr, a, sizeof(a)), list);
	}
	if (has_addr6)
		add_line(&out, "ifconfig-ipv6-push %s/%u", pfx_format_addr(&addr6, a, sizeof(a)),
			 c->pool6.len);
	for (size_t i = 0; i < pol->push_routes.n; i++)
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
done:
	free(out.buf);
	return 0;
}

void verdict_free(struct verdict *v)
{
	pfx_list_free(&v->client.nets);
	free(v->config);
	v->config = NULL;
}
