// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench/claims_decode: what one change of the claims costs the plugin's
 * link thread: proto_decode of every claims message the change brought,
 * and applying it to the replica, as plugin/link.c does: a snapshot's
 * chunks collected and swapped in (version 1 agents, and the agent before
 * deltas), a delta applied to a hashed replica of N claims (lib/claimset.c).
 *
 *   bench/claims_decode N FILE...   (each FILE: the messages of one change,
 *                                    each as a 4-byte little-endian length
 *                                    and the bytes, as bench/claims.py
 *                                    writes them)
 *
 * Prints JSON: the median over the files of the time per change, in
 * microseconds, and the messages and bytes per change.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "claimset.h"
#include "proto.h"

#define ROUNDS 20

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One change: decode its messages and apply them, as the link thread does. */
static int apply(const char *buf, size_t len, struct claimset *replica, struct proto_claim **snap,
		 size_t *nsnap)
{
	char err[PROTO_ERRLEN];
	size_t off = 0;

	while (off + 4 <= len) {
		uint32_t n = (uint32_t)(unsigned char)buf[off] |
			     (uint32_t)(unsigned char)buf[off + 1] << 8 |
			     (uint32_t)(unsigned char)buf[off + 2] << 16 |
			     (uint32_t)(unsigned char)buf[off + 3] << 24;
		struct proto_msg m;

		if (off + 4 + n > len || proto_decode(buf + off + 4, n, &m, err, sizeof(err)) < 0) {
			fprintf(stderr, "claims_decode: bad message: %s\n", err);
			return -1;
		}
		off += 4 + n;
		if (m.type == PROTO_CLAIMS && m.claims.delta) {
			for (size_t i = 0; i < m.claims.ndel; i++)
				claimset_del(replica, &m.claims.del[i]);
			for (size_t i = 0; i < m.claims.n; i++)
				claimset_add(replica, &m.claims.v[i]);
		} else if (m.type == PROTO_CLAIMS) {
			/* the version-1 plugin: chunks collected, the table replaced */
			struct proto_claim *v =
				realloc(*snap, (*nsnap + m.claims.n + 1) * sizeof(*v));

			if (!v)
				return -1;
			memcpy(v + *nsnap, m.claims.v, m.claims.n * sizeof(*v));
			*snap = v;
			*nsnap += m.claims.n;
		}
		proto_msg_free(&m);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct claimset replica;
	double *t;
	size_t nfiles = argc > 2 ? (size_t)argc - 2 : 0, bytes = 0;
	long n = argc > 1 ? atol(argv[1]) : 0;

	if (nfiles == 0) {
		fprintf(stderr, "usage: claims_decode N FILE...\n");
		return 2;
	}
	t = calloc(nfiles, sizeof(*t));
	claimset_init(&replica);
	for (long i = 0; i < n; i++) {
		struct proto_claim c = { 0 };
		char s[32], e[PFX_ERRLEN];

		snprintf(s, sizeof(s), "10.%ld.%ld.0/24", i / 256, i % 256);
		if (pfx_parse(s, 0, &c.net, e, sizeof(e)) < 0)
			return 1;
		snprintf(c.cn, sizeof(c.cn), "c%ld", i);
		snprintf(c.instance, sizeof(c.instance), "server");
		claimset_add(&replica, &c);
	}
	for (size_t f = 0; f < nfiles; f++) {
		FILE *fp = fopen(argv[f + 2], "rb");
		char *buf;
		long len;
		double best = 0;

		if (!fp || fseek(fp, 0, SEEK_END) < 0 || (len = ftell(fp)) < 0)
			return 1;
		rewind(fp);
		buf = malloc((size_t)len + 1);
		if (!buf || fread(buf, 1, (size_t)len, fp) != (size_t)len)
			return 1;
		fclose(fp);
		bytes += (size_t)len;
		for (int r = 0; r < ROUNDS; r++) {
			struct proto_claim *snap = NULL;
			size_t nsnap = 0;
			double t0 = now_us();

			if (apply(buf, (size_t)len, &replica, &snap, &nsnap) < 0)
				return 1;
			free(snap); /* the previous table, as the swap frees it */
			t0 = now_us() - t0;
			if (r == 0 || t0 < best)
				best = t0;
		}
		t[f] = best;
		free(buf);
	}
	qsort(t, nfiles, sizeof(*t), cmp);
	printf("{\"changes\": %zu, \"decode_apply_us_per_change_p50\": %.1f, "
	       "\"decode_apply_us_per_change_max\": %.1f, \"bytes_per_change_mean\": %zu}\n",
	       nfiles, t[nfiles / 2], t[nfiles - 1], bytes / nfiles);
	claimset_free(&replica);
	free(t);
	return 0;
}
