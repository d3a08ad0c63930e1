// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * How long the agent's message handler takes for a plugin's resync of N
 * clients (agent/dispatch.c and agent/state.c as built, the admission
 * check included; the kernel, nftables and EC2 replaced by stubs, so the
 * figure is the agent's own work). Prints one JSON object per N.
 *
 *   bench/agent_sync [N...]        (default: 10000 100000)
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "cloud.h"
#include "log.h"

#include "agent_stubs.h"

static void quiet(int prio, const char *msg, void *ctx)
{
}

static const char conf[] =
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"192.168.255.0/24\"],"
	"\"tunnel\":{\"pool\":\"100.64.0.0/10\"},"
	"\"default_client\":{\"allow\":[\"10.0.0.0/8\"]}}";

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Client i: cN, 10.x.y.z/26, tunnel address 100.64.0.0 + i + 2. */
static void client(struct proto_client *c, size_t i)
{
	struct pfx n = { .family = AF_INET, .len = 26 }, t = { .family = AF_INET, .len = 32 };
	uint32_t a = 0x64400000u + (uint32_t)i + 2;

	memset(c, 0, sizeof(*c));
	snprintf(c->cn, sizeof(c->cn), "c%zu", i);
	n.addr[0] = 10;
	n.addr[1] = (uint8_t)(i >> 10);
	n.addr[2] = (uint8_t)(i >> 2);
	n.addr[3] = (uint8_t)((i & 3) * 64);
	t.addr[0] = (uint8_t)(a >> 24);
	t.addr[1] = (uint8_t)(a >> 16);
	t.addr[2] = (uint8_t)(a >> 8);
	t.addr[3] = (uint8_t)a;
	pfx_list_add(&c->nets, &n, PROTO_MAX_NETS);
	c->has_tunnel4 = true;
	c->tunnel4 = t;
}

static int run(size_t n)
{
	struct agent a = { .nft_ready = true };
	struct peer p = { .pid = 1, .cls = PEER_ROOT, .name = "server" };
	char err[CFG_ERRLEN];
	struct proto_msg m = { .type = PROTO_HELLO };
	double t0, t1;
	size_t programmed;

	if (cfg_load_buf("bench", conf, sizeof(conf) - 1, &a.cfg, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	m.hello.role = PROTO_ROLE_SERVER;
	snprintf(m.hello.instance, sizeof(m.hello.instance), "server");
	if (dispatch(&a, &p, &m))
		return 1;
	t0 = now();
	for (size_t i = 0; i < n; i += PROTO_MAX_CLIENTS) {
		size_t k = n - i < PROTO_MAX_CLIENTS ? n - i : PROTO_MAX_CLIENTS;
		struct proto_msg s = { .type = PROTO_SYNC };
		const char *e;

		s.sync.clients = calloc(k, sizeof(*s.sync.clients));
		s.sync.n = k;
		s.sync.more = i + k < n;
		for (size_t j = 0; j < k; j++)
			client(&s.sync.clients[j], i + j);
		e = dispatch(&a, &p, &s);
		proto_msg_free(&s);
		if (e) {
			fprintf(stderr, "sync refused: %s\n", e);
			return 1;
		}
	}
	t1 = now();
	programmed = p.inst->n;
	printf("{\"clients\": %zu, \"programmed\": %zu, \"sync_s\": %.3f}\n", n, programmed,
	       t1 - t0);
	state_free(&a);
	cfg_free(a.cfg);
	return programmed == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	int r = 0;

	log_set_sink(quiet, NULL);
	if (argc < 2)
		return run(10000) || run(100000);
	for (int i = 1; i < argc; i++)
		r |= run(strtoul(argv[i], NULL, 10));
	return r;
}
