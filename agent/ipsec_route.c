// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Route-based IPsec tunnels (agent.h, ipsec_route_*): an XFRM interface
 * (ip link add ipsec0 type xfrm if_id N) or a VTI (type vti, key K) carries
 * the tunnel's packets, and the IKE daemon's policies (with XFRMA_IF_ID, or
 * the mark K) are often wide, 0.0.0.0/0 to 0.0.0.0/0: routes through the
 * interface choose what goes into the tunnel, and the IKE daemon often
 * installs none.
 *
 * The remote networks of such a tunnel: its selector when it names them
 * (a narrow policy, as for policy-based tunnels); when the selector is
 * wider than networks the peer's ipsec.peers entry allows, those networks
 * (the allow list is what the peer may announce, and with a wide policy
 * the operator's word is all there is). Each becomes a kernel route via the
 * interface (protocol vpcroute), the VPC routes, sets and filter as for
 * policy-based tunnels, while an SA of the policy's if_id or mark to the
 * peer lives; gone with it, at once, as an OpenVPN client's routes are.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "xfrm.h"

static bool route_based(const struct xfrm_tunnel *t)
{
	return t->if_id || t->mark_m;
}

/* Whether net lies strictly inside the selector sel. */
static bool strictly_inside(const struct pfx *sel, const struct pfx *net)
{
	return net->family == sel->family && pfx_contains(sel, net) && !pfx_equal(sel, net);
}

/* How many networks of allow lie strictly inside the selector sel. */
static size_t inside(const struct pfx_list *allow, const struct pfx *sel)
{
	size_t k = 0;

	for (size_t i = 0; i < allow->n; i++)
		k += strictly_inside(sel, &allow->v[i]);
	return k;
}

int ipsec_route_expand(const struct cfg *c, struct xfrm_tunnel **tp, size_t *np)
{
	struct xfrm_tunnel *t = *tp, *v;
	size_t n = *np, want = 0, w = 0, u = 0;
	bool wide = false;

	for (size_t i = 0; i < n; i++) {
		const struct cfg_peer *pe =
			route_based(&t[i]) ? cfg_peer_find(c, &t[i].peer) : NULL;
		size_t k = pe ? inside(&pe->pol.allow, &t[i].net) : 0;

		want += k ? k : 1;
		wide |= k > 0;
	}
	if (!wide)
		return 0;
	if (!(v = malloc(want * sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct cfg_peer *pe =
			route_based(&t[i]) ? cfg_peer_find(c, &t[i].peer) : NULL;

		if (!pe || !inside(&pe->pol.allow, &t[i].net)) {
			v[w++] = t[i];
			continue;
		}
		for (size_t a = 0; a < pe->pol.allow.n; a++) {
			const struct pfx *net = &pe->pol.allow.v[a];

			if (!strictly_inside(&t[i].net, net))
				continue;
			v[w] = t[i];
			v[w].net = *net;
			v[w++].wide = true;
		}
	}
	qsort(v, w, sizeof(*v), xfrm_tunnel_cmp);
	/* one per (peer, net), as xfrm_tunnels: the one with an SA, else the narrow one */
	for (size_t i = 0; i < w; i++) {
		if (u && xfrm_tunnel_cmp(&v[u - 1], &v[i]) == 0) {
			if ((!v[u - 1].sa && v[i].sa) || (v[u - 1].sa == v[i].sa && v[u - 1].wide))
				v[u - 1] = v[i];
			continue;
		}
		v[u++] = v[i];
	}
	free(t);
	*tp = v;
	*np = u;
	return 0;
}

void ipsec_route_links(struct agent *a)
{
	if (!a->xfrm || !xfrm_links_sync(a->xfrm))
		return;
	log_info("ipsec: the XFRM interfaces or VTIs changed; route-based tunnels read again");
	if (!ipsec_update(a))
		state_apply(a); /* the same peers, through other devices */
}

void ipsec_route_json(const struct xfrm_tunnel *t, json_t *j)
{
	char mark[32];

	snprintf(mark, sizeof(mark), "%#x/%#x", t->mark_v, t->mark_m);
	json_object_set_new(j, "interface", t->dev[0] ? json_string(t->dev) : json_null());
	json_object_set_new(j, "if_id", t->if_id ? json_integer(t->if_id) : json_null());
	json_object_set_new(j, "mark", t->mark_m ? json_string(mark) : json_null());
	json_object_set_new(j, "from_allow", json_boolean(t->wide));
}
