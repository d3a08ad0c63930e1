/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent's state model without a kernel: rtnetlink, nftables, sysctls
 * and the cloud replaced by stubs that accept everything. Included by one
 * file of each program that links agent/state.c alone (unit tests, bench).
 */
#ifndef VR_TEST_AGENT_STUBS_H
#define VR_TEST_AGENT_STUBS_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/rtnetlink.h>

#include "agent.h"
#include "cloud.h"
#include "sysctl.h"

/* The routes "added", the latest 64, for tests to look at. */
static struct pfx stub_added[64];
static size_t stub_nadded;
/* The kernel's routes (ours), as the stubs keep them; cleared by tests. */
static struct rtnl_route *stub_kernel;
static size_t stub_nkernel;
/* How many nftables transactions were made; what they return. */
static unsigned stub_nft_commits;
static int stub_nft_err;
/* Called at each nftables transaction, for tests to look at the world then. */
static void (*stub_nft_hook)(void);

static struct rtnl_route *stub_kernel_find(const struct pfx *dst)
{
	for (size_t i = 0; i < stub_nkernel; i++)
		if (pfx_equal(&stub_kernel[i].dst, dst))
			return &stub_kernel[i];
	return NULL;
}

/* A route the kernel refuses (stub_fail_err, e.g. -ENETDOWN), when set. */
static struct pfx stub_fail_dst;
static int stub_fail_err;
/* How many route batches were made, and the ops of the latest. */
static unsigned stub_nbatches;
static size_t stub_batch_ops;

int rtnl_route_add(struct rtnl *r, const struct pfx *dst, int oif)
{
	struct rtnl_route *k = stub_kernel_find(dst);

	if (stub_fail_err && pfx_equal(dst, &stub_fail_dst))
		return stub_fail_err;
	stub_added[stub_nadded++ % 64] = *dst;
	if (!k) {
		k = realloc(stub_kernel, (stub_nkernel + 1) * sizeof(*k));
		if (!k)
			return -ENOMEM;
		stub_kernel = k;
		k += stub_nkernel++;
	}
	*k = (struct rtnl_route){
		.dst = *dst, .oif = oif, .protocol = RTNL_PROTO, .type = RTN_UNICAST
	};
	return 0;
}

int rtnl_route_unreachable(struct rtnl *r, const struct pfx *dst)
{
	int e = rtnl_route_add(r, dst, 0);

	if (e == 0)
		stub_kernel_find(dst)->type = RTN_UNREACHABLE;
	return e;
}

/* How many of our routes were removed. */
static size_t stub_ndeleted;

int rtnl_route_del(struct rtnl *r, const struct pfx *dst)
{
	struct rtnl_route *k = stub_kernel_find(dst);

	if (k) {
		*k = stub_kernel[--stub_nkernel];
		stub_ndeleted++;
	}
	return 0;
}

void rtnl_batch(struct rtnl *r, struct rtnl_op *ops, size_t n)
{
	stub_nbatches++;
	stub_batch_ops = n;
	for (size_t i = 0; i < n; i++)
		ops[i].result = ops[i].kind == RTNL_ADD ? rtnl_route_add(r, &ops[i].dst, ops[i].oif)
				: ops[i].kind == RTNL_UNREACHABLE
					? rtnl_route_unreachable(r, &ops[i].dst)
					: rtnl_route_del(r, &ops[i].dst);
}

int rtnl_dump(struct rtnl *r, struct rtnl_route **out, size_t *n)
{
	*out = stub_nkernel ? malloc(stub_nkernel * sizeof(**out)) : NULL;
	if (stub_nkernel && !*out)
		return -ENOMEM;
	if (stub_nkernel)
		memcpy(*out, stub_kernel, stub_nkernel * sizeof(**out));
	*n = stub_nkernel;
	return 0;
}

static inline void stub_kernel_clear(void)
{
	free(stub_kernel);
	stub_kernel = NULL;
	stub_nkernel = 0;
}

/* The last model applied: its remote networks and access rules. */
static struct pfx stub_remote[64];
static size_t stub_nremote, stub_nacc;
static struct nft_acc stub_acc[64]; /* the first 64 */

int nft_apply(struct nft *n, const struct nft_model *m)
{
	stub_nft_commits++;
	if (stub_nft_hook)
		stub_nft_hook();
	if (stub_nft_err)
		return stub_nft_err;
	stub_nremote = m->remote.n;
	for (size_t i = 0; i < m->remote.n && i < 64; i++)
		stub_remote[i] = m->remote.v[i];
	stub_nacc = m->nacc;
	for (size_t i = 0; i < m->nacc && i < 64; i++)
		stub_acc[i] = m->acc[i];
	return 0;
}

int nft_flush(struct nft *n)
{
	return 0;
}

int nft_update(struct nft *n, const struct nft_model *add, const struct nft_model *del)
{
	stub_nft_commits++;
	if (stub_nft_hook)
		stub_nft_hook();
	return stub_nft_err;
}

bool nft_built(const struct nft *n)
{
	return true;
}

bool nft_busy(const struct nft *n)
{
	return false;
}

int nft_continue(struct nft *n)
{
	return 0;
}

size_t nft_pending(const struct nft *n)
{
	return 0;
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

int nft_offload_devices(struct nft *n, const char (*dev)[IF_NAMESIZE], size_t ndev)
{
	return 0;
}

int nft_offload_add_device(struct nft *n, const char *dev)
{
	return 0;
}

bool nft_offload_wants(const struct nft *n, const char *dev)
{
	return false;
}

void sysctl_tunnel(const char *dev)
{
}

/* The one address the security groups let everything in from (family 0:
 * the groups are not known, -1 for all). */
static struct pfx stub_open_from;

int cloud_port_open_from(const struct cloud *c, const char *proto, unsigned port,
			 const struct pfx *from)
{
	if (!stub_open_from.family)
		return -1;
	return pfx_equal(&stub_open_from, from);
}

/* The networks last handed to the cloud (the VPC routes wanted), the first 64. */
static struct pfx stub_cloud[64];
static size_t stub_ncloud;

void cloud_want_set(struct cloud *c, const struct pfx_list *remote)
{
	stub_ncloud = remote->n;
	for (size_t i = 0; i < remote->n && i < 64; i++)
		stub_cloud[i] = remote->v[i];
}

void cloud_want_change(struct cloud *c, const struct pfx_list *del, const struct pfx_list *add)
{
}

const struct pfx_list *cloud_vpc_cidrs(const struct cloud *c)
{
	return NULL;
}

/* Whether the summaries are active (aws.summaries), as tests set it. */
static bool stub_summary_active;

bool cloud_summary_active(const struct cloud *c, const struct pfx *s)
{
	return stub_summary_active;
}

#endif
