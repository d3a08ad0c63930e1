// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the agent's message handler (agent/dispatch.c with the
 * real state model), the kernel replaced by stubs that accept everything.
 * The input is a sequence of messages separated by NUL bytes; the first
 * byte of each picks one of four peers (three writers, one root); its bit 2
 * commits the batch of connects and disconnects before the message, as the
 * loop does at the end of a pass (and at the end of the input). After every
 * message the claims must be disjoint: the agent is the host-wide authority
 * on who announces what, whatever the peers send. Every message the batch
 * carried is answered once, by its own peer.
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

/* the kernel, stubbed; a->cloud stays NULL: the AWS side is never reached */
#include "../unit/agent_stubs.h"

static const char conf[] =
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.1.1.0/24\"],"
	"\"tunnel\":{\"pool\":\"10.1.2.0/24\"},\"default_client\":{\"to_local\":true}}";

static void quiet(int prio, const char *msg, void *ctx)
{
}

static size_t waiting;

static void answered(void *ctx, const void *tag, uint64_t ref, const char *error)
{
	const struct peer *peer = ctx;

	if (!waiting || (const struct peer *)tag < peer || (const struct peer *)tag >= peer + 4)
		__builtin_trap();
	waiting--;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent a = { .nft_ready = true };
	struct peer peer[4];
	char err[CFG_ERRLEN];
	size_t pos = 0;

	for (int i = 0; i < 4; i++) {
		peer[i] = (struct peer){ .uid = 65534,
					 .gid = 65534,
					 .pid = 100 + i,
					 .cls = i == 3 ? PEER_ROOT : PEER_WRITER };
		snprintf(peer[i].name, sizeof(peer[i].name), "%d", i);
	}
	log_set_sink(quiet, NULL);
	if (cfg_load_buf("fuzz", conf, sizeof(conf) - 1, &a.cfg, err, sizeof(err)))
		__builtin_trap();
	while (pos < size) {
		const uint8_t *end = memchr(data + pos, 0, size - pos);
		size_t len = end ? (size_t)(end - (data + pos)) : size - pos;
		struct proto_msg m;

		if (len > 1) {
			int p = data[pos] & 3;

			if (data[pos] & 4)
				dispatch_commit(&a, answered, peer);
			if (proto_decode((const char *)data + pos + 1, len - 1, &m, err,
					 sizeof(err)) == 0) {
				waiting += dispatch(&a, &peer[p], &m) == dispatch_batched;
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
	dispatch_commit(&a, answered, peer);
	if (waiting)
		__builtin_trap();
	state_free(&a);
	cfg_free(a.cfg);
	return 0;
}
