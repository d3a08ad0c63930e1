// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: what OpenVPN hands the plugin. The input is split at
 * newlines into sections; the first byte of a section picks what it feeds
 * (A: the plugin line's argv, E: a tunnel event's envp, L: learn-address
 * argv, C: a client-connect's envp, D: the CCD text the next C reads, its
 * NUL bytes as line ends), and NUL bytes separate its strings.
 *
 * A client-connect goes the plugin's way (plugin/vpcroute.c): common_name
 * and ifconfig_pool_remote_ip from the environment, the CCD parsed, then
 * policy_decide under a fixed configuration. Property: whatever the parsers
 * accept and the policy admits obeys the policy: every network inside the
 * client's allow (else its iroutes), none on a local network or the pool,
 * the tunnel address inside the pool and neither its network, broadcast
 * nor the server's own address, a configured fixed address kept. A
 * violation aborts.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "ccd.h"
#include "cfg.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXV 64

static size_t split(char *s, size_t n, const char **v)
{
	size_t k = 0, start = 0;

	for (size_t i = 0; i <= n && k < MAXV - 1; i++)
		if (i == n || s[i] == '\0') {
			s[i] = '\0';
			v[k++] = s + start;
			start = i + 1;
		}
	v[k] = NULL;
	return k;
}

static const char conf[] =
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
	"\"tunnel\":{\"pool\":\"10.1.2.0/24\",\"pool6\":\"fd00:2::/64\"},\"strict\":true,"
	"\"clients\":{\"pi-home\":{\"allow\":[\"192.168.1.0/24\"],\"iroutes\":"
	"[\"192.168.1.128/25\"],\"address\":\"10.1.2.10\"},\"pi-office\":{\"iroutes\":"
	"[\"192.168.20.0/24\"]},\"laptop\":{}}}";

/* The tunnel address a of an admitted client, judged from the outside. */
static void check_tunnel4(const struct cfg *c, const struct cfg_client *pol, const struct pfx *a)
{
	struct pfx host = *a;
	uint32_t h, hostmask;

	host.len = 32;
	if (a->family != AF_INET || !c->has_pool || !pfx_contains(&c->pool, &host))
		abort();
	h = (uint32_t)a->addr[0] << 24 | (uint32_t)a->addr[1] << 16 | (uint32_t)a->addr[2] << 8 |
	    a->addr[3];
	hostmask = c->pool.len >= 32 ? 0 : 0xffffffffu >> c->pool.len;
	/* the pool's network, the server's own (the first), the broadcast */
	if ((h & hostmask) == 0 || (h & hostmask) == 1 || (h & hostmask) == hostmask)
		abort();
	if (pol && pol->has_address && !pfx_equal(&pol->address, a))
		abort();
}

static void check_admitted(const struct cfg *c, const struct proto_client *pc)
{
	const struct cfg_client *pol = cfg_client_find(c, pc->cn);
	const struct pfx_list *may;

	if (!pol) /* strict: an unknown name is never admitted */
		abort();
	may = pol->allow.n ? &pol->allow : &pol->iroutes;
	for (size_t i = 0; i < pc->nets.n; i++)
		if (!pfx_list_contains(may, &pc->nets.v[i]) ||
		    pfx_list_overlap(&c->local, &pc->nets.v[i]) ||
		    pfx_overlaps(&c->pool, &pc->nets.v[i]) ||
		    pfx_overlaps(&c->pool6, &pc->nets.v[i]))
			abort();
	if (pc->has_tunnel4)
		check_tunnel4(c, pol, &pc->tunnel4);
}

/* A client-connect as the plugin handles it, with ccd_text as its CCD file. */
static void client_connect(const struct cfg *c, const char *const *envp, const char *ccd_text,
			   size_t ccd_len)
{
	const char *cn = env_get(envp, "common_name"), *s;
	char err[CCD_ERRLEN];
	struct admission in = { .cfg = c, .instance = "server" };
	struct ccd ccd = { 0 };
	struct verdict v;

	if (!cn || !cn_valid(cn, err, sizeof(err)))
		return;
	if (ccd_text && ccd_parse("fuzz", ccd_text, ccd_len, &ccd, err, sizeof(err)) < 0)
		return;
	ccd.found = ccd_text != NULL;
	in.cn = cn;
	in.ccd = &ccd;
	if ((s = env_get(envp, "ifconfig_pool_remote_ip")) && pfx_addr_parse(s, &in.pool_ip) == 0)
		in.has_pool_ip = true;
	if (policy_decide(&in, &v) == 0) {
		if (v.admit)
			check_admitted(c, &v.client);
		verdict_free(&v);
	}
	ccd_free(&ccd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cfg *c;
	const char *ccd_text = NULL;
	size_t ccd_len = 0;
	char *buf = malloc(size + 1), err[ARGS_ERRLEN], cn[CN_MAX + 1];
	const char *v[MAXV];
	size_t pos = 0;

	if (!c && cfg_load_buf("fuzz", conf, strlen(conf), &c, err, sizeof(err)))
		abort();
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	while (pos < size) {
		char *sec = buf + pos, *nl = memchr(sec, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - sec) : size - pos;
		struct plugin_opts o;
		struct proto_msg m;
		enum proto_learn_op op;
		struct pfx addr;
		char inst[PROTO_INSTANCE_MAX + 1];

		pos += len + 1;
		if (len == 0)
			continue;
		if (sec[0] == 'D') {
			for (size_t i = 1; i < len; i++)
				if (sec[i] == '\0')
					sec[i] = '\n';
			ccd_text = sec + 1;
			ccd_len = len - 1;
			continue;
		}
		split(sec + 1, len - 1, v);
		switch (sec[0]) {
		case 'A':
			plugin_args_parse(v, &o, err, sizeof(err));
			break;
		case 'E':
			if (env_tunnel(v, PROTO_TUNNEL_ROUTE_UP, &m, err, sizeof(err)) == 0)
				proto_msg_free(&m);
			plugin_default_instance(v, inst, sizeof(inst));
			break;
		case 'L':
			if (args_learn(v, &op, &addr, cn, err, sizeof(err)) == 0 &&
			    op != PROTO_LEARN_DELETE && !cn_valid(cn, err, sizeof(err)))
				__builtin_trap();
			break;
		case 'C':
			client_connect(c, v, ccd_text, ccd_len);
			ccd_text = NULL;
			break;
		}
	}
	free(buf);
	return 0;
}
