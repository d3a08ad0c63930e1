// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * IPsec peers (agent.h, ipsec_*): the kernel's tunnels as the XFRM tables
 * hold them become the clients of the instance POLICY_IPSEC_INSTANCE, each
 * peer named by its address, its networks those of its tunnels with a live
 * SA that the policy admits. The same rule (lib/policy.c) as for OpenVPN
 * clients, the same reconcile (state_apply: the nftables table, the VPC
 * routes with their grace period), the same claims told to the plugins.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "policy.h"
#include "xfrm.h"

int ipsec_open(struct agent *a)
{
	char err[256];

	if (!(a->xfrm = xfrm_open(err, sizeof(err)))) {
		log_warnx("%s; IPsec tunnels are not followed", err);
		return -1;
	}
	return 0;
}

static void refusals_free(struct arefusal *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].why);
	free(v);
}

void ipsec_close(struct agent *a)
{
	xfrm_close(a->xfrm);
	a->xfrm = NULL;
	free(a->tunnels);
	a->tunnels = NULL;
	a->ntunnels = 0;
	refusals_free(a->refused, a->nrefused);
	a->refused = NULL;
	a->nrefused = 0;
}

static struct ainst *peers_inst(struct agent *a)
{
	struct ainst *in;

	for (size_t i = 0; i < a->ninst; i++)
		if (a->inst[i]->ipsec)
			return a->inst[i];
	if (!(in = state_inst(a, POLICY_IPSEC_INSTANCE, PROTO_ROLE_SERVER)))
		return NULL;
	in->ipsec = true;
	return in;
}

/* Whether t (sorted by peer, net) has a tunnel with an SA from peer to net. */
static bool live(const struct xfrm_tunnel *t, size_t n, const struct pfx *peer,
		 const struct pfx *net)
{
	struct xfrm_tunnel key = { .peer = *peer, .net = *net };
	const struct xfrm_tunnel *x = n ? bsearch(&key, t, n, sizeof(*t), xfrm_tunnel_cmp) : NULL;

	return x && x->sa;
}

static bool refused_before(const struct agent *a, const struct pfx *peer, const struct pfx *net,
			   const char *why)
{
	for (size_t i = 0; i < a->nrefused; i++)
		if (pfx_equal(&a->refused[i].peer, peer) && pfx_equal(&a->refused[i].net, net) &&
		    strcmp(a->refused[i].why, why) == 0)
			return true;
	return false;
}

static bool same_nets(const struct pfx_list *x, const struct pfx_list *y)
{
	if (x->n != y->n)
		return false;
	for (size_t i = 0; i < x->n; i++)
		if (!pfx_list_contains(y, &x->v[i]))
			return false;
	return true;
}

/* Step 1: each peer keeps only its networks whose tunnel still has an SA. */
static bool shrink(struct agent *a, struct ainst *in, const struct xfrm_tunnel *t, size_t n)
{
	bool changed = false;

	for (size_t i = 0; i < in->n;) {
		struct aclient *c = &in->c[i];
		struct pfx peer;
		size_t w = 0;

		if (pfx_addr_parse(c->pc.cn, &peer) < 0)
			peer = (struct pfx){ 0 };
		for (size_t k = 0; k < c->pc.nets.n; k++)
			if (live(t, n, &peer, &c->pc.nets.v[k]))
				c->pc.nets.v[w++] = c->pc.nets.v[k];
			else
				changed = true;
		c->pc.nets.n = w;
		if (!w) {
			log_info("ipsec: peer %s: no tunnel with an SA left", c->pc.cn);
			state_client_del(in, c->pc.cn);
			continue;
		}
		i++;
	}
	return changed;
}

/* Step 2: one peer's tunnels t[0..n) (all to one peer): the networks it
 * holds first, then the others, each admitted against everything held. */
static bool admit_peer(struct agent *a, struct ainst *in, const struct xfrm_tunnel *t, size_t n,
		       struct arefusal **ref, size_t *nref)
{
	struct proto_client trial = { 0 };
	struct aclient *had;
	char why[POLICY_REASON_MAX], s[PFX_STRLEN], p[PFX_STRLEN];
	bool changed = false;

	pfx_format_addr(&t[0].peer, trial.cn, sizeof(trial.cn));
	had = state_client_find(in, trial.cn);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			bool held = had && pfx_list_contains(&had->pc.nets, &t[i].net);
			struct arefusal *v;
			int e;

			if (!t[i].sa || held != (pass == 0))
				continue;
			e = pfx_list_add(&trial.nets, &t[i].net, PROTO_MAX_NETS);
			if (e == -ENOMEM)
				break;
			if (e == -E2BIG)
				snprintf(why, sizeof(why),
					 "IPsec peer %s: more than %d networks (rule: networks per "
					 "peer)",
					 trial.cn, PROTO_MAX_NETS);
			else if (state_peer_admit(a, &t[i].peer, &trial, why, sizeof(why)) == 0)
				continue;
			if (e == 0)
				trial.nets.n--; /* the one just added */
			if (!refused_before(a, &t[i].peer, &t[i].net, why))
				log_warnx(
					"ipsec: tunnel to %s for %s ignored: %s; the IKE daemon's "
					"policy stays, but nothing is routed to it (change "
					"ipsec.peers, or the IKE daemon's configuration)",
					pfx_format_addr(&t[i].peer, p, sizeof(p)),
					pfx_format(&t[i].net, s, sizeof(s)), why);
			v = realloc(*ref, (*nref + 1) * sizeof(*v));
			if (!v)
				continue;
			*ref = v;
			v[*nref].peer = t[i].peer;
			v[*nref].net = t[i].net;
			if ((v[*nref].why = strdup(why)))
				(*nref)++;
		}
	if (!trial.nets.n) {
		changed = had != NULL;
		if (had)
			state_client_del(in, trial.cn);
	} else if (!had || !same_nets(&had->pc.nets, &trial.nets)) {
		changed = true;
		if (!had)
			log_info("ipsec: peer %s up: it announces %s", trial.cn,
				 pfx_list_format(&trial.nets, ", ", why, sizeof(why)));
		else
			log_info("ipsec: peer %s now announces %s", trial.cn,
				 pfx_list_format(&trial.nets, ", ", why, sizeof(why)));
		if (state_client_set(in, &trial) < 0)
			log_warnx("ipsec: peer %s: out of memory", trial.cn);
	}
	pfx_list_free(&trial.nets);
	return changed;
}

bool ipsec_update(struct agent *a)
{
	struct xfrm_tunnel *t = NULL;
	struct arefusal *ref = NULL;
	struct ainst *in;
	size_t n = 0, nref = 0;
	bool changed;

	if (a->xfrm &&
	    (xfrm_current(a->xfrm, &t, &n) < 0 || ipsec_route_expand(a->cfg, &t, &n) < 0)) {
		free(t);
		log_warnx("ipsec: out of memory");
		return false;
	}
	if (!n && !a->ntunnels && !a->nrefused) {
		free(t);
		t = NULL;
		for (size_t i = 0; i < a->ninst; i++)
			if (a->inst[i]->ipsec && a->inst[i]->n)
				goto go; /* a reload may still have something to drop */
		return false;
	}
go:
	if (!(in = peers_inst(a))) {
		free(t);
		log_warnx("ipsec: out of memory");
		return false;
	}
	changed = shrink(a, in, t, n);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && pfx_equal(&t[j].peer, &t[i].peer); j++)
			;
		changed |= admit_peer(a, in, t + i, j - i, &ref, &nref);
	}
	free(a->tunnels);
	a->tunnels = t;
	a->ntunnels = n;
	refusals_free(a->refused, a->nrefused);
	a->refused = ref;
	a->nrefused = nref;
	if (changed) {
		state_apply(a);
		if (a->sock)
			sock_broadcast_claims(a->sock);
	}
	return changed;
}

json_t *ipsec_status_json(const struct agent *a)
{
	json_t *o = json_object(), *tun = json_array();
	const struct ainst *in = NULL;
	char s[PFX_STRLEN];

	for (size_t i = 0; i < a->ninst; i++)
		if (a->inst[i]->ipsec)
			in = a->inst[i];
	json_object_set_new(o, "xfrm", json_boolean(a->xfrm != NULL));
	for (size_t i = 0; i < a->ntunnels; i++) {
		const struct xfrm_tunnel *t = &a->tunnels[i];
		const struct aclient *c = NULL;
		const char *why = NULL;
		json_t *j = json_object();

		pfx_format_addr(&t->peer, s, sizeof(s));
		for (size_t k = 0; in && k < in->n; k++)
			if (strcmp(in->c[k].pc.cn, s) == 0)
				c = &in->c[k];
		json_object_set_new(j, "peer", json_string(s));
		json_object_set_new(j, "network", json_string(pfx_format(&t->net, s, sizeof(s))));
		json_object_set_new(j, "local_network",
				    json_string(pfx_format(&t->local_net, s, sizeof(s))));
		json_object_set_new(j, "sa", json_boolean(t->sa));
		for (size_t k = 0; k < a->nrefused; k++)
			if (pfx_equal(&a->refused[k].peer, &t->peer) &&
			    pfx_equal(&a->refused[k].net, &t->net))
				why = a->refused[k].why;
		json_object_set_new(j, "state",
				    json_string(why	 ? "refused"
						: !t->sa ? "no SA"
						: c && pfx_list_contains(&c->pc.nets, &t->net)
							? "up"
							: "not admitted"));
		json_object_set_new(j, "since",
				    c && pfx_list_contains(&c->pc.nets, &t->net)
					    ? json_integer((json_int_t)c->since)
					    : json_null());
		json_object_set_new(j, "refusal", why ? json_string(why) : json_null());
		ipsec_route_json(t, j);
		json_array_append_new(tun, j);
	}
	json_object_set_new(o, "tunnels", tun);
	return o;
}
