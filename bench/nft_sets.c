// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What one set element costs the kernel, by set type, with N elements
 * present: the agent's transactions (agent/nft.c, included for its batch
 * helpers) adding one element and removing it again, each timed, into
 *
 *   hash      a set of exact addresses (no flags: a hash set),
 *   interval  a set of prefixes (flags interval: an rbtree),
 *   concat    src . dst . protocol ranges (flags interval, concatenated:
 *             pipapo), as the agent's allow4 set,
 *
 * each holding N hosts (10.x.y.z; concat: host . 192.168.255.0/24 . 0-255).
 * Runs in a network namespace of its own (it builds table inet vpcroute
 * there). Prints JSON: per type, p50 and p99 of a one-element commit in µs.
 *
 *   bench/nft_sets [N] [REPEATS]          (default 10000 200; root)
 */
#include "../agent/nft.c"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct pfx host(size_t i)
{
	struct pfx p = { .family = AF_INET, .len = 32 };

	p.addr[0] = 10;
	p.addr[1] = (uint8_t)(i >> 16);
	p.addr[2] = (uint8_t)(i >> 8);
	p.addr[3] = (uint8_t)i;
	return p;
}

enum { T_HASH, T_INTERVAL, T_CONCAT, T_N };
static const char *const tname[T_N] = { "hash", "interval", "concat" };

/* Hosts from..to as elements of a set of type t. */
static void elems(int t, size_t from, size_t to, struct elist *out)
{
	struct nft_model m = { 0 };
	struct pfx local = { .family = AF_INET, .len = 24, .addr = { 192, 168, 255, 0 } };

	m.acc = calloc(to - from + 1, sizeof(*m.acc));
	for (size_t i = from; i < to; i++) {
		struct pfx h = host(i);

		if (t == T_CONCAT) {
			m.acc[m.nacc].src = h;
			m.acc[m.nacc].dst = local;
			m.acc[m.nacc++].proto_hi = 255;
		} else {
			pfx_list_add(&m.remote, &h, SIZE_MAX);
		}
	}
	if (t == T_CONCAT)
		acc_elems(&m, 0, S_ALLOW, out);
	else
		prefix_elems(&m.remote, 0, out);
	for (size_t i = 0; t == T_HASH && i < out->n; i++)
		out->v[i].open_end = true; /* the key alone */
	pfx_list_free(&m.remote);
	free(m.acc);
}

static int commit(struct nft *n, uint16_t type, int t, const struct elem *v, size_t count)
{
	int r;

	batch_start(n);
	r = put_elems(n, type, tname[t], t == T_CONCAT ? key_len(0, S_ALLOW) : 4, t == T_CONCAT, v,
		      count);
	if (r) {
		mnl_nlmsg_batch_stop(n->b);
		return r;
	}
	return batch_commit(n, tname[t]);
}

static int dcmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	size_t reps = argc > 2 ? strtoul(argv[2], NULL, 10) : 200;
	char err[256];
	struct nft *nf = nft_open(err, sizeof(err));
	double *t = calloc(reps, sizeof(*t));
	int r = 0;

	if (!nf || !t || !reps) {
		fprintf(stderr, "%s\n", nf ? "out of memory" : err);
		return 1;
	}
	batch_start(nf);
	r = put_table(nf, NFT_MSG_NEWTABLE);
	r = r ? r : put_table(nf, NFT_MSG_DELTABLE);
	r = r ? r : put_table(nf, NFT_MSG_NEWTABLE);
	r = r ? r : put_set_flags(nf, tname[T_HASH], 0, S_REMOTE, 0);
	r = r ? r : put_set_flags(nf, tname[T_INTERVAL], 0, S_REMOTE, NFT_SET_INTERVAL);
	r = r ? r : put_set_flags(nf, tname[T_CONCAT], 0, S_ALLOW, NFT_SET_INTERVAL);
	if (r || (r = batch_commit(nf, "bench table"))) {
		fprintf(stderr, "table: %s\n", strerror(-r));
		return 1;
	}
	printf("{");
	for (int k = 0; k < T_N; k++) {
		struct elist all = { 0 }, one = { 0 };

		elems(k, 0, n, &all);
		elems(k, n, n + 1, &one);
		for (size_t i = 0; i < all.n && !r; i += 4096)
			r = commit(nf, NFT_MSG_NEWSETELEM, k, all.v + i,
				   all.n - i < 4096 ? all.n - i : 4096);
		for (size_t i = 0; i < reps && !r; i++) {
			double t0 = now_s();

			r = commit(nf, NFT_MSG_NEWSETELEM, k, one.v, 1);
			t[i] = (now_s() - t0) * 1e6;
			r = r ? r : commit(nf, NFT_MSG_DELSETELEM, k, one.v, 1);
		}
		if (r) {
			fprintf(stderr, "set %s: %s\n", tname[k], strerror(-r));
			return 1;
		}
		qsort(t, reps, sizeof(*t), dcmp);
		printf("%s\"%s\": {\"present\": %zu, \"p50_us\": %.1f, \"p99_us\": %.1f}",
		       k ? ", " : "", tname[k], n, t[reps / 2], t[reps * 99 / 100]);
		free(all.v);
		free(one.v);
	}
	printf("}\n");
	batch_start(nf);
	put_table(nf, NFT_MSG_DELTABLE);
	batch_commit(nf, "bench table");
	nft_close(nf);
	free(t);
	return 0;
}
