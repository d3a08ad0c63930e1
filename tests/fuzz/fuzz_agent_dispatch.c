// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the agent's message handler (agent/dispatch.c with the
 * real state model), the kernel replaced by stubs that accept everything.
 * The input is a sequence of messages separated by NUL bytes; the first
 * byte of each picks one of four peers. After every message the claims
 * must be disjoint: the agent is the host-wide authority on who announces
 * what, whatever the peers send.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cloud.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* --- the kernel, stubbed --- */
int rtnl_route_add(struct rtnl *r, const struct pfx *dst, int oif)
{
	return 0;
}

int rtnl_route_del(struct rtnl *r, const struct pfx *dst)
{
	return 0;
}

int rtnl_dump(struct rtnl *r, struct rtnl_route **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return 0;
}

int nft_apply(struct nft *n, const struct nft_model *m)
{
	return 0;
}

int nft_flush(struct nft *n)
{
	return 0;
}

int nft_update(struct nft *n, const struct nft_model *add, const struct nft_model *del)
{
	return 0;
}

bool nft_built(const struct nft *n)
{
	return true;
}

int nft_check(struct nft *n, json_t **read)
{
	if (read)
		*read = NULL;
	return 1;
}

const char *nft_differs(const struct nft *n)
{
	return NULL;
}

void watch_retry(struct agent *a)
{
}

void sysctl_tunnel(const char *dev)
{
}

/* a->cloud stays NULL: the AWS side is never reached */
void cloud_want_set(struct cloud *c, const struct pfx_list *remote)
{
	(void)c;
	(void)remote;
}

void cloud_want_change(struct cloud *c, const struct pfx_list *del, const struct pfx_list *add)
{
	(void)c;
	(void)del;
	(void)add;
}

const struct pfx_list *cloud_vpc_cidrs(const struct cloud *c)
{
	(void)c;
	return NULL;
}

static const char conf[] =
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
	"\"tunnel\":{\"pool\":\"10.1.2.0/24\"},\"default_client\":{\"to_local\":true}}";

static void quiet(int prio, const char *msg, void *ctx)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent a = { .nft_ready = true };
	struct ainst *inst[4] = { 0 };
	char name[4][PROTO_INSTANCE_MAX + 1] = { "0", "1", "2", "3" }, err[CFG_ERRLEN];
	size_t pos = 0;

	log_set_sink(quiet, NULL);
	if (cfg_load_buf("fuzz", conf, sizeof(conf) - 1, &a.cfg, err, sizeof(err)))
		__builtin_trap();
	while (pos < size) {
		const uint8_t *end = memchr(data + pos, 0, size - pos);
		size_t len = end ? (size_t)(end - (data + pos)) : size - pos;
		struct proto_msg m;
		char why[PROTO_ERROR_MAX];
		bool changed = false;

		if (len > 1) {
			int peer = data[pos] & 3;

			if (proto_decode((const char *)data + pos + 1, len - 1, &m, err,
					 sizeof(err)) == 0) {
				dispatch(&a, &inst[peer], &inst[peer], name[peer],
					 sizeof(name[peer]), &m, &changed, why, sizeof(why));
				proto_msg_free(&m);
			}
		}
		pos += len + 1;
		/* the invariant: no two claims overlap */
		struct proto_claim *c;
		size_t n = state_claims(&a, &c);

		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				if (pfx_overlaps(&c[i].net, &c[j].net))
					__builtin_trap();
		free(c);
	}
	state_free(&a);
	cfg_free(a.cfg);
	return 0;
}
