// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the admission decision (lib/policy.c). The input picks
 * a configuration and a common name, what the host already holds, the
 * client a peer proposes (as the agent receives it) and a CCD file (as the
 * plugin reads it). The invariant, whatever the bytes: no admitted client
 * gets a network outside its policy (allow, else iroutes), a local
 * network, the pool, or another holder's network, nor a tunnel address
 * outside the pool or taken; and the indexed check (a sync) answers as the
 * scan and the walk in place (a connect) do. A violation aborts.
 *
 * Layout: [conf/cn byte] [n held] n x [who byte, net] [n nets] n x [net]
 * [flags: tunnel4, tunnel6] [addr4] [addr6] then the CCD text; a net is
 * [family/len byte][4 or 16 address bytes].
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const confs[] = {
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\",\"fd00:1::/64\"],"
	"\"tunnel\":{\"pool\":\"10.1.2.0/24\",\"pool6\":\"fd00:2::/64\"},\"strict\":true,"
	"\"clients\":{\"pi-home\":{\"allow\":[\"192.168.1.0/24\",\"2001:db8:1::/48\"],"
	"\"iroutes\":[\"192.168.1.128/25\"],\"address\":\"10.1.2.10\"},"
	"\"pi-office\":{\"iroutes\":[\"192.168.20.0/24\"],\"address6\":\"fd00:2::20\"},"
	"\"wide\":{\"allow\":[\"172.16.0.0/12\",\"fd00:8::/32\"]}}}",
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
	"\"tunnel\":{\"pool\":\"10.1.2.0/28\"},"
	"\"clients\":{\"pi-home\":{\"allow\":[\"192.168.0.0/17\"]}},"
	"\"default_client\":{\"allow\":[\"172.16.0.0/12\",\"192.168.128.0/17\"]}}",
	("{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
	 "\"tunnel\":{\"pool\":\"10.1.2.0/24\"}}"),
};
static const char *const cns[] = { "pi-home", "pi-office", "wide", "stranger" };
static const char *const insts[] = { "server", "server-tcp" };

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t byte(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

/* A normalised prefix from the input, biased towards the configured ones. */
static struct pfx net(struct in *in, bool host)
{
	static const uint8_t bases[][4] = { { 192, 168, 1, 0 },
					    { 10, 1, 2, 0 },
					    { 172, 16, 0, 0 },
					    { 10, 1, 1, 0 },
					    { 192, 168, 20, 0 } };
	uint8_t k = byte(in);
	struct pfx p = { 0 };

	if (k & 0x80) {
		p.family = AF_INET6;
		p.addr[0] = 0xfd;
		p.addr[1] = k & 1 ? 0x00 : 0x20;
		for (int i = 2; i < 16; i++)
			p.addr[i] = byte(in);
		p.len = host ? 128 : (uint8_t)(byte(in) % 129);
	} else {
		p.family = AF_INET;
		memcpy(p.addr, bases[k % 5], 4);
		p.addr[2] ^= byte(in) & (k & 0x40 ? 0xff : 0x03);
		p.addr[3] = byte(in);
		p.len = host ? 32 : (uint8_t)(byte(in) % 33);
	}
	if (!host) { /* clear the host bits */
		for (unsigned i = 0; i < pfx_addrlen(&p); i++) {
			unsigned bits = p.len > i * 8 ? p.len - i * 8 : 0;

			if (bits < 8)
				p.addr[i] &= (uint8_t)(0xff00u >> bits);
		}
	}
	return p;
}

static const struct pfx_list *allowed(const struct cfg_client *pol)
{
	static const struct pfx_list none;

	return !pol ? &none : pol->allow.n ? &pol->allow : &pol->iroutes;
}

static bool addr_ok(const struct cfg *c, const struct pfx *a)
{
	const struct pfx *pool = a->family == AF_INET ? &c->pool : &c->pool6;
	bool has = a->family == AF_INET ? c->has_pool : c->has_pool6;
	struct pfx h = *a;

	h.len = (uint8_t)(pfx_addrlen(a) * 8);
	return has && pfx_contains(pool, &h);
}

/* The invariant, checked from the outside with the configuration alone. */
static void admitted(const struct cfg *c, const char *inst, const struct proto_client *pc,
		     const struct policy_entry *held, size_t nheld)
{
	const struct cfg_client *pol = cfg_client_find(c, pc->cn);

	if (!pol && c->strict)
		abort();
	for (size_t i = 0; i < pc->nets.n; i++) {
		const struct pfx *x = &pc->nets.v[i];

		if (!pfx_list_contains(allowed(pol), x) || pfx_list_overlap(&c->local, x) ||
		    (c->has_pool && pfx_overlaps(&c->pool, x)) ||
		    (c->has_pool6 && pfx_overlaps(&c->pool6, x)))
			abort();
		for (size_t k = 0; k < nheld; k++)
			if (pfx_overlaps(&held[k].net, x) &&
			    (strcmp(held[k].cn, pc->cn) || strcmp(held[k].instance, inst)))
				abort();
	}
	if ((pc->has_tunnel4 && !addr_ok(c, &pc->tunnel4)) ||
	    (pc->has_tunnel6 && !addr_ok(c, &pc->tunnel6)))
		abort();
	if (pol && pol->has_address && pc->has_tunnel4 && !pfx_equal(&pol->address, &pc->tunnel4))
		abort();
}

struct held {
	const struct policy_entry *v;
	size_t n;
};

/* The third way to hold the host: walked in place. */
static bool walk_held(const void *ctx, bool addrs, policy_walk_fn fn, void *arg)
{
	const struct held *h = ctx;

	for (size_t i = 0; !addrs && i < h->n; i++)
		if (fn(&h->v[i].net, 1, h->v[i].cn, h->v[i].instance, arg))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	uint8_t sel = byte(&in);
	struct cfg *c;
	char err[CFG_ERRLEN], why[POLICY_REASON_MAX], why2[POLICY_REASON_MAX];
	const char *conf = confs[sel % 3], *cn = cns[(sel >> 2) % 4], *inst = insts[(sel >> 4) & 1];
	struct policy_entry held[16];
	struct proto_client pc = { 0 };
	struct policy_host scan, idx;
	size_t nheld = byte(&in) % 16, nnets = byte(&in) % 8;
	uint8_t flags;
	struct ccd ccd;

	if (cfg_load_buf("fuzz", conf, strlen(conf), &c, err, sizeof(err)))
		abort();
	policy_host_init(&scan);
	policy_host_init(&idx);
	for (size_t i = 0; i < nheld; i++) {
		uint8_t who = byte(&in);

		held[i].net = net(&in, false);
		held[i].cn = cns[who % 4];
		held[i].instance = insts[(who >> 2) & 1];
		held[i].seq = 0;
		if (policy_host_add_net(&scan, &held[i].net, held[i].cn, held[i].instance, 0) ||
		    policy_host_add_net(&idx, &held[i].net, held[i].cn, held[i].instance, 0))
			abort();
	}
	policy_host_index(&idx);

	/* the agent's side: a proposed client as a peer sends it */
	snprintf(pc.cn, sizeof(pc.cn), "%s", cn);
	for (size_t i = 0; i < nnets; i++) {
		struct pfx p = net(&in, false);

		pfx_list_add(&pc.nets, &p, PROTO_MAX_NETS);
	}
	flags = byte(&in);
	if (flags & 1) {
		pc.has_tunnel4 = true;
		pc.tunnel4 = net(&in, true);
		if (pc.tunnel4.family != AF_INET)
			pc.has_tunnel4 = false;
	}
	if (flags & 2) {
		pc.has_tunnel6 = true;
		pc.tunnel6 = net(&in, true);
		if (pc.tunnel6.family != AF_INET6)
			pc.has_tunnel6 = false;
	}
	struct held hv = { held, nheld };
	struct policy_host walked;

	policy_host_init(&walked);
	walked.walk = walk_held;
	walked.walk_ctx = &hv;
	bool a = policy_check(c, inst, &pc, &scan, why, sizeof(why));
	bool b = policy_check(c, inst, &pc, &idx, why2, sizeof(why2));

	if (a != b || a != policy_check(c, inst, &pc, &walked, why2, sizeof(why2)))
		abort();
	if (!a && !strstr(why, "(rule: "))
		abort();
	if (a)
		admitted(c, inst, &pc, held, nheld);
	pfx_list_free(&pc.nets);

	/* the plugin's side: policy and the rest of the input as CCD file */
	if (ccd_parse("fuzz", (const char *)in.p, in.n, &ccd, err, sizeof(err)) == 0) {
		struct proto_claim claims[16];
		struct claimset set;
		struct admission ad = { .cfg = c, .cn = cn, .instance = inst, .ccd = &ccd };
		struct verdict v;

		ccd.found = true;
		for (size_t i = 0; i < nheld; i++) {
			memset(&claims[i], 0, sizeof(claims[i]));
			claims[i].net = held[i].net;
			snprintf(claims[i].cn, sizeof(claims[i].cn), "%s", held[i].cn);
			snprintf(claims[i].instance, sizeof(claims[i].instance), "%s",
				 held[i].instance);
		}
		/* through the index by network half the time, a scan the other */
		claimset_init(&set);
		if (nheld % 2 && claimset_index_nets(&set) < 0)
			abort();
		for (size_t i = 0; i < nheld; i++)
			if (claimset_add(&set, &claims[i]) < 0)
				abort();
		ad.claims = &set;
		if (policy_decide(&ad, &v) == 0) {
			if (v.admit)
				admitted(c, inst, &v.client, held, nheld);
			else if (!strstr(v.reason, "(rule: "))
				abort();
			verdict_free(&v);
		}
		claimset_free(&set);
		ccd_free(&ccd);
	}
	policy_host_free(&scan);
	policy_host_free(&idx);
	cfg_free(c);
	return 0;
}
