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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cloud.h"
#include "log.h"
#include "policy.h"
#include "vici.h"
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

static void peer_ids_free(struct agent *a)
{
	for (size_t i = 0; i < a->npeer_ids; i++)
		free(a->peer_ids[i].id);
	free(a->peer_ids);
	a->peer_ids = NULL;
	a->npeer_ids = 0;
	nameidx_free(&a->peer_idx);
	memset(&a->peer_idx, 0, sizeof(a->peer_idx));
}

/* The name of t's peer (its client's cn, agent_peer_addr): its address,
 * with its port when several IKE peers sit behind the address. */
static const char *peer_name(const struct xfrm_tunnel *t, char *buf, size_t len)
{
	char s[PFX_STRLEN];

	pfx_format_addr(&t->peer, s, sizeof(s));
	if (!t->port_named)
		snprintf(buf, len, "%s", s);
	else if (t->peer.family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", s, t->port);
	else
		snprintf(buf, len, "%s:%u", s, t->port);
	return buf;
}

/* Marks the tunnels of t[0..n) (sorted by peer) whose address has SAs of
 * several NAT traversal ports: several IKE peers behind one NAT address,
 * each then named with its port. */
static void name_ports(struct xfrm_tunnel *t, size_t n)
{
	for (size_t i = 0, j; i < n; i = j) {
		uint16_t first = 0;
		bool several = false;

		for (j = i; j < n && pfx_equal(&t[j].peer, &t[i].peer); j++) {
			several |= t[j].port && first && t[j].port != first;
			if (!first)
				first = t[j].port;
		}
		for (size_t k = i; k < j; k++)
			t[k].port_named = several && t[k].port;
	}
}

static const char *peer_id_name(const void *ctx, size_t i)
{
	return ((const struct agent *)ctx)->peer_ids[i].name;
}

static int ike_host_cmp(const void *x, const void *y)
{
	const struct vici_ike *a = x, *b = y;

	if (a->has_host != b->has_host)
		return a->has_host ? 1 : -1;
	return a->has_host ? pfx_cmp(&a->remote_host, &b->remote_host) : 0;
}

/* The position of the first element of v[0..n) (of size, sorted by cmp)
 * not below key: n when there is none. O(log n). */
static size_t lower_bound(const void *key, const void *v, size_t n, size_t size,
			  int (*cmp)(const void *, const void *))
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp((const char *)v + mid * size, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The IKE_SAs of v[0..n) (sorted by ike_host_cmp) from addr: *at, how many. */
static size_t ikes_of(const struct vici_ike *v, size_t n, const struct pfx *addr, size_t *at)
{
	struct vici_ike key = { .has_host = true, .remote_host = *addr };
	size_t end;

	*at = lower_bound(&key, v, n, sizeof(*v), ike_host_cmp);
	for (end = *at; end < n && ike_host_cmp(&v[end], &key) == 0; end++)
		;
	return end - *at;
}

/* The IKE identities VICI names for the peers of t[0..n) (sorted by peer),
 * each by its address and, where known, its NAT traversal port: whether
 * they differ from the last ones (the forward filter may then be another
 * entry's). O(n + IKE_SAs log IKE_SAs): the peers by name (peer_idx), the
 * IKE_SAs by address (a sorted copy; vici_identity's answer does not depend
 * on their order). */
static bool peer_ids_refresh(struct agent *a, const struct xfrm_tunnel *t, size_t n)
{
	struct apeer_id *old = a->peer_ids, *v;
	size_t nold = a->npeer_ids, nikes, w = 0;
	const struct vici_ike *ikes = vici_ikes(a->vici, &nikes), *ike;
	struct vici_ike *byhost = NULL;
	bool amb, differ;

	if (!a->peer_idx.key)
		nameidx_init(&a->peer_idx, peer_id_name, a);
	nameidx_clear(&a->peer_idx);
	a->peer_ids = NULL;
	a->npeer_ids = 0;
	if (nikes && n &&
	    (!(a->peer_ids = calloc(n, sizeof(*v))) ||
	     !(byhost = malloc(nikes * sizeof(*byhost))))) {
		log_warnx("ipsec: out of memory; IKE identities are not known");
		n = 0;
	}
	if (byhost) {
		memcpy(byhost, ikes, nikes * sizeof(*byhost));
		qsort(byhost, nikes, sizeof(*byhost), ike_host_cmp);
	}
	/* one per name: the port of its tunnel that has one */
	for (size_t i = 0; i < n && nikes; i++) {
		char name[CN_MAX + 1];
		long k;

		peer_name(&t[i], name, sizeof(name));
		if ((k = nameidx_find(&a->peer_idx, name)) < 0) {
			k = (long)a->npeer_ids;
			memcpy(a->peer_ids[k].name, name, sizeof(a->peer_ids[k].name));
			a->peer_ids[k].addr = t[i].peer;
			if (nameidx_add(&a->peer_idx, (size_t)k) < 0)
				continue; /* out of memory: not known */
			a->npeer_ids++;
		}
		v = &a->peer_ids[k];
		if (!v->port)
			v->port = t[i].port;
	}
	/* those VICI names an identity for, moved down in place */
	nameidx_clear(&a->peer_idx);
	for (size_t i = 0; i < a->npeer_ids; i++) {
		size_t at, nat = ikes_of(byhost, nikes, &a->peer_ids[i].addr, &at);
		const char *id = vici_identity(byhost + at, nat, &a->peer_ids[i].addr,
					       a->peer_ids[i].port, &ike, &amb);

		if (id && !(a->peer_ids[i].id = strdup(id)))
			id = NULL;
		if (!id)
			continue;
		a->peer_ids[w] = a->peer_ids[i];
		if (nameidx_add(&a->peer_idx, w) < 0)
			free(a->peer_ids[w].id);
		else
			w++;
	}
	a->npeer_ids = w;
	free(byhost);
	differ = nold != a->npeer_ids;
	for (size_t i = 0; !differ && i < nold; i++) {
		const char *now = agent_peer_id(a, old[i].name);

		differ = !now || strcmp(now, old[i].id) != 0;
	}
	for (size_t i = 0; i < nold; i++)
		free(old[i].id);
	free(old);
	return differ;
}

static void on_vici(void *ctx)
{
	ipsec_update(ctx); /* the identities may admit or refuse other networks */
}

void ipsec_vici_configure(struct agent *a)
{
	const char *path = a->cfg->vici_socket;

	if (a->vici && path && strcmp(vici_path(a->vici), path) == 0)
		return;
	vici_close(a->vici);
	a->vici = NULL;
	if (path && !(a->vici = vici_open(a->epfd, path, on_vici, a)))
		log_warnx("vici: %s: out of memory; IKE identities are not known", path);
}

void ipsec_close(struct agent *a)
{
	vici_close(a->vici);
	a->vici = NULL;
	peer_ids_free(a);
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

/* The tunnel of t (sorted by peer, net) with an SA from peer to net, or NULL. */
static const struct xfrm_tunnel *live(const struct xfrm_tunnel *t, size_t n, const struct pfx *peer,
				      const struct pfx *net)
{
	struct xfrm_tunnel key = { .peer = *peer, .net = *net };
	const struct xfrm_tunnel *x = n ? bsearch(&key, t, n, sizeof(*t), xfrm_tunnel_cmp) : NULL;

	return x && x->sa ? x : NULL;
}

static int refusal_cmp(const void *x, const void *y)
{
	const struct arefusal *a = x, *b = y;
	int r = pfx_cmp(&a->peer, &b->peer);

	return r ? r : pfx_cmp(&a->net, &b->net);
}

/* The first refusal of peer's tunnel to net in a->refused (sorted by
 * refusal_cmp), or NULL; the others follow it. O(log n). */
static const struct arefusal *refusal_find(const struct agent *a, const struct pfx *peer,
					   const struct pfx *net)
{
	struct arefusal key = { .peer = *peer, .net = *net };
	size_t lo = lower_bound(&key, a->refused, a->nrefused, sizeof(key), refusal_cmp);

	return lo < a->nrefused && refusal_cmp(&a->refused[lo], &key) == 0 ? &a->refused[lo] : NULL;
}

static bool refused_before(const struct agent *a, const struct pfx *peer, const struct pfx *net,
			   const char *why)
{
	const struct arefusal *r = refusal_find(a, peer, net);

	for (; r && r < a->refused + a->nrefused && pfx_equal(&r->peer, peer) &&
	       pfx_equal(&r->net, net);
	     r++)
		if (strcmp(r->why, why) == 0)
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

/* Step 1: each peer keeps only its networks whose tunnel still has an SA,
 * its name still its own. One whose tunnels now go by another name (a
 * second port behind its NAT address, or the last other one gone) leaves
 * under its old name and comes back under the new one in step 2: its
 * routes (to the same networks, the same devices) are kept by the
 * reconcile, not withdrawn and added again. */
static bool shrink(struct agent *a, struct ainst *in, const struct xfrm_tunnel *t, size_t n)
{
	bool changed = false;

	for (size_t i = 0; i < in->n;) {
		struct aclient *c = &in->c[i];
		char name[CN_MAX + 1], renamed[CN_MAX + 1] = "";
		struct pfx peer;
		size_t w = 0;

		if (agent_peer_addr(c->pc.cn, &peer) < 0)
			peer = (struct pfx){ 0 };
		for (size_t k = 0; k < c->pc.nets.n; k++) {
			const struct xfrm_tunnel *x = live(t, n, &peer, &c->pc.nets.v[k]);

			if (x && strcmp(peer_name(x, name, sizeof(name)), c->pc.cn) == 0) {
				c->pc.nets.v[w++] = c->pc.nets.v[k];
				continue;
			}
			changed = true;
			if (x)
				memcpy(renamed, name, sizeof(renamed));
		}
		c->pc.nets.n = w;
		state_index_stale(in); /* its networks changed in place */
		if (!w) {
			if (renamed[0])
				log_info("ipsec: peer %s is now named %s (each IKE peer behind its "
					 "address is named by its NAT port when there are several)",
					 c->pc.cn, renamed);
			else
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

	peer_name(&t[0], trial.cn, sizeof(trial.cn));
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

/* Step 2 for the tunnels t[0..n) of one address: per peer name (several
 * behind a NAT address, each with its port). */
static bool admit_named(struct agent *a, struct ainst *in, const struct xfrm_tunnel *t, size_t n,
			struct arefusal **ref, size_t *nref)
{
	struct xfrm_tunnel *one;
	bool changed = false, named = false;

	for (size_t i = 0; i < n; i++)
		named |= t[i].port_named;
	if (!named)
		return admit_peer(a, in, t, n, ref, nref);
	if (!(one = malloc(n * sizeof(*one)))) {
		log_warnx("ipsec: out of memory");
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char name[CN_MAX + 1], other[CN_MAX + 1];
		size_t k = 0, dup = 0;

		peer_name(&t[i], name, sizeof(name));
		for (size_t m = 0; m < n; m++)
			if (strcmp(peer_name(&t[m], other, sizeof(other)), name) == 0) {
				dup += m < i;
				one[k++] = t[m];
			}
		if (!dup) /* the first of its name */
			changed |= admit_peer(a, in, one, k, ref, nref);
	}
	free(one);
	return changed;
}

/* Whether the tunnel t is up: its peer admitted with its network (found
 * by name: state_client_find's index). */
static const struct aclient *up_peer(struct ainst *in, const struct xfrm_tunnel *t)
{
	const struct aclient *c;
	char s[CN_MAX + 1];

	if (!in || !t->sa)
		return NULL;
	c = state_client_find(in, peer_name(t, s, sizeof(s)));
	return c && pfx_list_contains(&c->pc.nets, &t->net) ? c : NULL;
}

bool ipsec_update(struct agent *a)
{
	struct xfrm_tunnel *t = NULL;
	struct arefusal *ref = NULL;
	struct ainst *in;
	size_t n = 0, nref = 0;
	bool changed, ids_changed;

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
	name_ports(t, n);
	ids_changed = peer_ids_refresh(a, t, n);
	if (!(in = peers_inst(a))) {
		free(t);
		log_warnx("ipsec: out of memory");
		return false;
	}
	changed = shrink(a, in, t, n) | ids_changed;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && pfx_equal(&t[j].peer, &t[i].peer); j++)
			;
		changed |= admit_named(a, in, t + i, j - i, &ref, &nref);
	}
	free(a->tunnels);
	a->tunnels = t;
	a->ntunnels = n;
	refusals_free(a->refused, a->nrefused);
	if (nref > 1)
		qsort(ref, nref, sizeof(*ref), refusal_cmp); /* refusal_find */
	a->refused = ref;
	a->nrefused = nref;
	if (changed) {
		state_apply(a);
		if (a->sock)
			sock_broadcast_claims(a->sock);
	}
	return changed;
}

/* The IKE_SA VICI lists from t's peer (null without VICI, or none listed). */
static json_t *tunnel_ike_json(const struct agent *a, const struct xfrm_tunnel *t)
{
	size_t n;
	const struct vici_ike *v = vici_ikes(a->vici, &n), *ike;
	bool amb;
	const char *id = vici_identity(v, n, &t->peer, t->port, &ike, &amb);

	if (!ike)
		return json_null();
	return json_pack("{s:s, s:s?, s:s, s:b}", "name", ike->name, "remote_id", id, "state",
			 ike->state, "ambiguous", amb);
}

/* Whether the security groups let in from addr what IPsec needs: IKE (UDP
 * 500), NAT traversal (UDP 4500), ESP (protocol 50); null while unknown. */
static json_t *peer_groups(const struct agent *a, const struct pfx *addr)
{
	static const struct {
		const char *key, *proto;
		unsigned port;
	} need[] = { { "udp500", "udp", 500 }, { "udp4500", "udp", 4500 }, { "esp", "esp", 0 } };
	json_t *o = json_object();

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		int r = a->cloud ? cloud_port_open_from(a->cloud, need[i].proto, need[i].port, addr)
				 : -1;

		json_object_set_new(o, need[i].key, r < 0 ? json_null() : json_boolean(r));
	}
	return o;
}

/* Whether addr is among v[0..n). */
static bool addr_in(const struct pfx *v, size_t n, const struct pfx *addr)
{
	for (size_t i = 0; i < n; i++)
		if (pfx_equal(&v[i], addr))
			return true;
	return false;
}

/* The outer addresses the agent sees for the peer of IKE identity id, into
 * v[0..cap): those of the tunnels VICI names the identity for (a->peer_ids),
 * then those of the IKE_SAs VICI lists with it (up, or still connecting);
 * how many. */
static size_t id_addrs(const struct agent *a, const char *id, struct pfx *v, size_t cap)
{
	size_t n = 0, nikes;
	const struct vici_ike *ikes = vici_ikes(a->vici, &nikes);

	for (size_t i = 0; i < a->npeer_ids && n < cap; i++)
		if (strcmp(cfg_id_text(a->peer_ids[i].id), cfg_id_text(id)) == 0 &&
		    !addr_in(v, n, &a->peer_ids[i].addr))
			v[n++] = a->peer_ids[i].addr;
	for (size_t i = 0; i < nikes && n < cap; i++)
		if (ikes[i].has_host && ikes[i].remote_id[0] &&
		    strcmp(cfg_id_text(ikes[i].remote_id), cfg_id_text(id)) == 0 &&
		    !addr_in(v, n, &ikes[i].remote_host))
			v[n++] = ikes[i].remote_host;
	return n;
}

#define ID_ADDRS_MAX 8 /* addresses shown per identity */

/* The ipsec.peers entry pe against the security groups, appended to peers:
 * one object per address (an entry keyed by identity: each outer address
 * its tunnels come from, or one with "peer" null while none is known). */
static void peer_groups_json(const struct agent *a, const struct cfg_peer *pe, json_t *peers)
{
	struct pfx v[ID_ADDRS_MAX];
	size_t n = pe->id ? id_addrs(a, pe->id, v, ID_ADDRS_MAX) : 1;
	char s[PFX_STRLEN];

	if (!pe->id)
		v[0] = pe->addr;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(peers,
				      json_pack("{s:s, s:s?, s:o}", "peer",
						pfx_format_addr(&v[i], s, sizeof(s)), "id", pe->id,
						"security_groups", peer_groups(a, &v[i])));
	if (!n)
		json_array_append_new(peers, json_pack("{s:n, s:s, s:{s:n, s:n, s:n}}", "peer",
						       "id", pe->id, "security_groups", "udp500",
						       "udp4500", "esp"));
}

json_t *ipsec_status_json(const struct agent *a)
{
	json_t *o = json_object(), *tun = json_array(), *peers = json_array();
	struct ainst *in = NULL;
	char s[PFX_STRLEN];

	for (size_t i = 0; i < a->ninst; i++)
		if (a->inst[i]->ipsec)
			in = a->inst[i];
	json_object_set_new(o, "xfrm", json_boolean(a->xfrm != NULL));
	for (size_t i = 0; i < a->ntunnels; i++) {
		const struct xfrm_tunnel *t = &a->tunnels[i];
		const struct aclient *c = up_peer(in, t);
		const struct arefusal *r = refusal_find(a, &t->peer, &t->net);
		const char *why = r ? r->why : NULL;
		const struct cfg_peer *pe;
		char name[CN_MAX + 1];
		json_t *j = json_object();

		json_object_set_new(j, "peer",
				    json_string(pfx_format_addr(&t->peer, s, sizeof(s))));
		json_object_set_new(j, "port", t->port ? json_integer(t->port) : json_null());
		json_object_set_new(j, "name", json_string(peer_name(t, name, sizeof(name))));
		json_object_set_new(j, "network", json_string(pfx_format(&t->net, s, sizeof(s))));
		json_object_set_new(j, "local_network",
				    json_string(pfx_format(&t->local_net, s, sizeof(s))));
		json_object_set_new(j, "sa", json_boolean(t->sa));
		json_object_set_new(j, "state",
				    json_string(why	 ? "refused"
						: !t->sa ? "no SA"
						: c	 ? "up"
							 : "not admitted"));
		json_object_set_new(j, "since",
				    c ? json_integer((json_int_t)c->since) : json_null());
		json_object_set_new(j, "refusal", why ? json_string(why) : json_null());
		pe = cfg_peer_lookup(a->cfg, &t->peer, agent_peer_id(a, name));
		json_object_set_new(j, "policy", pe ? json_string(pe->pol.name) : json_null());
		json_object_set_new(j, "ike_sa", tunnel_ike_json(a, t));
		ipsec_route_json(t, j);
		json_array_append_new(tun, j);
	}
	json_object_set_new(o, "tunnels", tun);
	json_object_set_new(o, "vici", a->vici ? vici_status_json(a->vici) : json_null());
	for (size_t i = 0; i < a->cfg->npeers; i++)
		peer_groups_json(a, &a->cfg->peers[i], peers);
	json_object_set_new(o, "peers", peers);
	return o;
}
