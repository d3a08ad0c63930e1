// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench/route_batch: what a pass's route changes cost the agent, one
 * netlink transaction per route (rtnl_route_add / rtnl_route_del, as before
 * the batch) against one batch (rtnl_batch), with the agent's own
 * agent/rtnl.c. In a network namespace of its own (unshare: nothing of the
 * host is touched; root), routes to N /24s through lo; each way R rounds of
 * BATCH adds then BATCH deletes; prints JSON and the microseconds per route
 * of the median round.
 *
 *   bench/route_batch [N (default 10000)] [BATCH (default 64)] [ROUNDS (default 20)]
 */
#include "config.h"

#include <errno.h>
#include <syslog.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rtnl.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Counts the log's lines by kind: a route logged at info or above (a
 * failure, a route found there) or an answer lost spoils the figure. */
static unsigned long lost, other;

static void count(int prio, const char *msg, void *ctx)
{
	if (strstr(msg, "answers lost"))
		lost++;
	else if (prio <= LOG_INFO)
		other++;
}

static struct pfx net(size_t i)
{
	struct pfx p = { .family = AF_INET, .len = 24 };

	p.addr[0] = (uint8_t)(10 + i / 65536);
	p.addr[1] = (uint8_t)(i / 256 % 256);
	p.addr[2] = (uint8_t)(i % 256);
	return p;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	r = ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (r == 0)
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	close(fd);
	return r;
}

/* Adds then deletes routes [from, from + n): one by one or batched; the ns
 * each way; false when a route failed. */
static bool round_of(struct rtnl *r, size_t from, size_t n, bool batch, int oif, int64_t *ns[2])
{
	struct rtnl_op *ops = calloc(n, sizeof(*ops));
	bool ok = ops != NULL;
	int64_t t;

	for (int del = 0; ok && del < 2; del++) {
		for (size_t i = 0; i < n; i++)
			ops[i] = (struct rtnl_op){ .kind = del ? RTNL_DEL : RTNL_ADD,
						   .dst = net(from + i),
						   .oif = oif };
		t = now_ns();
		if (batch)
			rtnl_batch(r, ops, n);
		else
			for (size_t i = 0; i < n; i++)
				ops[i].result = del ? rtnl_route_del(r, &ops[i].dst)
						    : rtnl_route_add(r, &ops[i].dst, oif);
		*ns[del]++ = now_ns() - t;
		for (size_t i = 0; i < n; i++)
			ok &= ops[i].result == 0;
	}
	free(ops);
	return ok;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	size_t batch = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
	unsigned rounds = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 20;
	int64_t *t[2][2], *at[2][2];
	double med[2][2];
	char err[256];
	struct rtnl *r;
	int oif;

	if (n == 0 || n > 4 * 65536 || batch == 0 || batch > n || rounds == 0) {
		fprintf(stderr, "usage: %s [N (present)] [BATCH (per pass)] [ROUNDS]\n", argv[0]);
		return 2;
	}
	if (unshare(CLONE_NEWNET) < 0 || lo_up() < 0) {
		fprintf(stderr, "a network namespace of its own: %s (root only)\n",
			strerror(errno));
		return 1;
	}
	log_set_sink(count, NULL);
	log_set_verbose(1);
	if (!(r = rtnl_open(err, sizeof(err))))
		return fprintf(stderr, "%s\n", err), 1;
	oif = (int)if_nametoindex("lo");
	/* N present, one batch (setting up, not measured) */
	{
		struct rtnl_op *ops = calloc(n, sizeof(*ops));

		for (size_t i = 0; i < n; i++)
			ops[i] = (struct rtnl_op){ .kind = RTNL_ADD, .dst = net(i), .oif = oif };
		rtnl_batch(r, ops, n);
		free(ops);
	}
	for (int w = 0; w < 2; w++)
		for (int d = 0; d < 2; d++)
			at[w][d] = t[w][d] = calloc(rounds, sizeof(int64_t));
	/* the changes: on top of the N, alternately one way and the other */
	for (unsigned k = 0; k < rounds; k++)
		for (int b = 0; b < 2; b++) {
			int way = (k + (unsigned)b) % 2;

			if (!round_of(r, n, batch, way, oif, at[way])) {
				fprintf(stderr, "a route failed\n");
				return 1;
			}
		}
	rtnl_close(r);
	/* the median round (the machine's other load makes outliers), per route */
	for (int w = 0; w < 2; w++)
		for (int d = 0; d < 2; d++) {
			qsort(t[w][d], rounds, sizeof(int64_t), cmp64);
			med[w][d] = (double)t[w][d][rounds / 2] / (double)batch / 1000.0;
		}
	printf("{\n  \"benchmark\": \"route_batch\",\n  \"present\": %zu,\n  \"per_pass\": %zu,\n"
	       "  \"rounds\": %u,\n  \"us_per_route_median_round\": {\n"
	       "    \"one_by_one\": {\"add\": %.2f, \"del\": %.2f},\n"
	       "    \"batch\": {\"add\": %.2f, \"del\": %.2f}\n  },\n"
	       "  \"batches_with_answers_lost\": %lu,\n  \"other_log_lines\": %lu\n}\n",
	       n, batch, rounds, med[0][0], med[0][1], med[1][0], med[1][1], lost, other);
	printf("\n%-10s %12s %12s %8s\n", "us/route", "one by one", "batch", "ratio");
	printf("%-10s %12.2f %12.2f %7.1fx\n", "add", med[0][0], med[1][0], med[0][0] / med[1][0]);
	printf("%-10s %12.2f %12.2f %7.1fx\n", "delete", med[0][1], med[1][1],
	       med[0][1] / med[1][1]);
	for (int w = 0; w < 2; w++)
		for (int d = 0; d < 2; d++)
			free(t[w][d]);
	return 0;
}
