// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the protocol decoder. Property: what decodes encodes,
 * and decoding that encoding gives the same message, field by field (decode
 * -> encode -> decode is the identity); encoding it again gives the same
 * bytes, in the message's own version. For claims, proto_claim_size is
 * exact: the message is as long as its frame plus its claims and commas.
 * abort() on any violation.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool opt_equal(bool ha, const struct pfx *a, bool hb, const struct pfx *b)
{
	return ha == hb && (!ha || pfx_equal(a, b));
}

static bool client_equal(const struct proto_client *a, const struct proto_client *b)
{
	return !strcmp(a->cn, b->cn) &&
	       opt_equal(a->has_tunnel4, &a->tunnel4, b->has_tunnel4, &b->tunnel4) &&
	       opt_equal(a->has_tunnel6, &a->tunnel6, b->has_tunnel6, &b->tunnel6) &&
	       pfx_list_equal(&a->nets, &b->nets);
}

static bool claims_equal(const struct proto_claim *a, const struct proto_claim *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!pfx_equal(&a[i].net, &b[i].net) || strcmp(a[i].cn, b[i].cn) ||
		    strcmp(a[i].instance, b[i].instance))
			return false;
	return true;
}

static bool msg_equal(const struct proto_msg *a, const struct proto_msg *b)
{
	if (a->type != b->type || a->id != b->id || a->version != b->version)
		return false;
	switch (a->type) {
	case PROTO_HELLO:
		return a->hello.role == b->hello.role && a->hello.pid == b->hello.pid &&
		       !strcmp(a->hello.instance, b->hello.instance);
	case PROTO_CONNECT:
		return client_equal(&a->connect, &b->connect);
	case PROTO_DISCONNECT:
		return !strcmp(a->disconnect.cn, b->disconnect.cn);
	case PROTO_LEARN:
		return a->learn.op == b->learn.op && pfx_equal(&a->learn.addr, &b->learn.addr) &&
		       !strcmp(a->learn.cn, b->learn.cn);
	case PROTO_SYNC:
		if (a->sync.n != b->sync.n || a->sync.more != b->sync.more)
			return false;
		for (size_t i = 0; i < a->sync.n; i++)
			if (!client_equal(&a->sync.clients[i], &b->sync.clients[i]))
				return false;
		return true;
	case PROTO_TUNNEL:
		return a->tunnel.event == b->tunnel.event &&
		       !strcmp(a->tunnel.dev, b->tunnel.dev) &&
		       opt_equal(a->tunnel.has_local, &a->tunnel.local, b->tunnel.has_local,
				 &b->tunnel.local) &&
		       opt_equal(a->tunnel.has_remote, &a->tunnel.remote, b->tunnel.has_remote,
				 &b->tunnel.remote) &&
		       pfx_list_equal(&a->tunnel.routes, &b->tunnel.routes) &&
		       a->tunnel.listen_proto == b->tunnel.listen_proto &&
		       a->tunnel.listen_port == b->tunnel.listen_port;
	case PROTO_CLAIMS:
		return a->claims.gen == b->claims.gen && a->claims.n == b->claims.n &&
		       a->claims.more == b->claims.more && a->claims.delta == b->claims.delta &&
		       a->claims.base == b->claims.base && a->claims.ndel == b->claims.ndel &&
		       claims_equal(a->claims.v, b->claims.v, a->claims.n) &&
		       claims_equal(a->claims.del, b->claims.del, a->claims.ndel);
	case PROTO_SNAPSHOT:
		return true;
	case PROTO_ACK:
		return a->ack.ref == b->ack.ref && a->ack.ok == b->ack.ok &&
		       !strcmp(a->ack.error, b->ack.error);
	case PROTO_REPORT:
		return a->report.ref == b->report.ref && !a->report.text == !b->report.text &&
		       (!a->report.text || !strcmp(a->report.text, b->report.text));
	case PROTO_STATUS:
	case PROTO_RELOAD:
	case PROTO_METRICS:
		return true;
	case PROTO_POLICY:
		return a->policy.gen == b->policy.gen &&
		       !strcmp(a->policy.digest, b->policy.digest);
	case PROTO_WITHDRAW:
		return a->withdraw.scope == b->withdraw.scope;
	default:
		return false;
	}
}

/* The encoded length of claims message m, computed: what the agent sizes chunks by. */
static size_t claims_size(const struct proto_msg *m)
{
	static char frame[PROTO_MAX_MSG];
	struct proto_msg e = *m;
	size_t n;
	int k;

	e.claims.n = e.claims.ndel = 0;
	k = proto_encode(&e, frame, sizeof(frame));
	if (k <= 0 || k > PROTO_CLAIMS_FRAME)
		abort(); /* the frame alone always encodes, within its bound */
	n = (size_t)k;
	for (size_t i = 0; i < m->claims.n; i++)
		n += proto_claim_size(&m->claims.v[i]) + (i > 0);
	for (size_t i = 0; i < m->claims.ndel; i++)
		n += proto_claim_size(&m->claims.del[i]) + (i > 0);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[PROTO_MAX_MSG], out2[PROTO_MAX_MSG], err[PROTO_ERRLEN];
	struct proto_msg m, m2;
	int n, n2;

	if (proto_decode((const char *)data, size, &m, err, sizeof(err)) != 0) {
		if (!memchr(err, '\0', sizeof(err)))
			abort(); /* error text must be terminated */
		return 0;
	}
	n = proto_encode(&m, out, sizeof(out));
	/* Anything accepted encodes (a sync or claims may outgrow one message). */
	if (n < 0 && n != -EMSGSIZE)
		abort();
	if (n > 0) {
		if (proto_decode(out, (size_t)n, &m2, err, sizeof(err)) != 0)
			abort(); /* what we encode, we decode */
		if (!msg_equal(&m, &m2))
			abort(); /* nothing lost or changed on the way */
		n2 = proto_encode(&m2, out2, sizeof(out2));
		if (n2 != n || memcmp(out, out2, (size_t)n))
			abort(); /* one message, one encoding */
		if (m.type == PROTO_CLAIMS && claims_size(&m) != (size_t)n)
			abort(); /* sizes computed right */
		proto_msg_free(&m2);
	}
	proto_msg_free(&m);
	return 0;
}
