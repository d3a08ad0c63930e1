// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the XFRM decoder and table (agent/xfrm_decode.c), fed
 * raw datagrams as recv() on the NETLINK_XFRM socket would return them;
 * every event goes into a table, whose tunnels are then computed. The input
 * is split at each "XFRM" marker into several datagrams, so that the table
 * sees a sequence of them (a dump, then notifications). Each datagram is
 * also read as link messages (the interfaces of route-based tunnels).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "xfrm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_ev(const struct xfrm_ev *ev, void *arg)
{
	xfrm_tab_apply(arg, ev);
}

static void one(struct xfrm_tab *t, struct xfrm_links *l, const uint8_t *data, size_t size)
{
	bool done = false;
	int err = 0;
	/* aligned, and exactly as long as the datagram: ASan sees any overread */
	void *buf = malloc(size ? size : 1);

	if (!buf)
		return;
	memcpy(buf, data, size);
	xfrm_decode(buf, size, on_ev, t);
	xfrm_link_decode(l, buf, size, &done, &err);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xfrm_tab t = { 0 };
	struct xfrm_links l = { 0 };
	struct xfrm_tunnel *v;
	size_t start = 0, n;

	for (size_t i = 0; i + 4 <= size; i++)
		if (memcmp(data + i, "XFRM", 4) == 0) {
			one(&t, &l, data + start, i - start);
			start = i + 4;
			i += 3;
		}
	one(&t, &l, data + start, size - start);
	/* the links: sorted by index, one each, names terminated */
	for (size_t i = 0; i < l.n; i++)
		if ((i && l.v[i - 1].index >= l.v[i].index) ||
		    !memchr(l.v[i].name, 0, sizeof(l.v[i].name)))
			abort();
	/* what the agent relies on: whole prefixes of a known family, sorted,
	 * one tunnel per (peer, network) */
	if (xfrm_tunnels(&t, &v, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			const struct pfx *p = &v[i].net;

			if ((p->family != AF_INET && p->family != AF_INET6) ||
			    p->len > pfx_addrlen(p) * 8 ||
			    v[i].peer.len != pfx_addrlen(&v[i].peer) * 8)
				abort();
			xfrm_link_find(&l, v[i].if_id, v[i].mark_v, v[i].mark_m);
			if (i && (pfx_cmp(&v[i - 1].peer, &v[i].peer) > 0 ||
				  (pfx_equal(&v[i - 1].peer, &v[i].peer) &&
				   pfx_cmp(&v[i - 1].net, &v[i].net) >= 0)))
				abort();
		}
		free(v);
	}
	xfrm_tab_free(&t);
	xfrm_links_free(&l);
	return 0;
}
