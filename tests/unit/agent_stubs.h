/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent's state model without a kernel: rtnetlink, nftables, sysctls
 * and the cloud replaced by stubs that accept everything. Included by one
 * file of each program that links agent/state.c alone (unit tests, bench).
 */
#ifndef VR_TEST_AGENT_STUBS_H
#define VR_TEST_AGENT_STUBS_H

#include "agent.h"
#include "cloud.h"
#include "sysctl.h"

/* The routes "added", the latest 64, for tests to look at. */
static struct pfx stub_added[64];
static size_t stub_nadded;

int rtnl_route_add(struct rtnl *r, const struct pfx *dst, int oif)
{
	stub_added[stub_nadded++ % 64] = *dst;
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

/* The last model applied: its remote networks and access rules. */
static struct pfx stub_remote[64];
static size_t stub_nremote, stub_nacc;
static struct nft_acc stub_acc[64]; /* the first 64 */

int nft_apply(struct nft *n, const struct nft_model *m)
{
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

void sysctl_tunnel(const char *dev)
{
}

void cloud_want_set(struct cloud *c, const struct pfx_list *remote)
{
}

void cloud_want_change(struct cloud *c, const struct pfx_list *del, const struct pfx_list *add)
{
}

const struct pfx_list *cloud_vpc_cidrs(const struct cloud *c)
{
	return NULL;
}

#endif
