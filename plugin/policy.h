/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The admission decision: who may announce what. A pure function of the
 * policy, the client's CCD file and what is already claimed on this host,
 * so that CLIENT_CONNECT_V2 answers from memory in microseconds.
 */
#ifndef VR_POLICY_H
#define VR_POLICY_H

#include <stdbool.h>

#include "ccd.h"
#include "cfg.h"
#include "proto.h"

#define POLICY_REASON_MAX 384

struct admission {
	const struct cfg *cfg;
	const char *cn;
	const char *instance;  /* this OpenVPN instance */
	const struct ccd *ccd; /* NULL or !found: no CCD file */
	bool has_pool_ip;      /* what OpenVPN took from its pool */
	struct pfx pool_ip;
	const struct proto_claim *claims; /* claimed on this host (agent's view) */
	size_t nclaims;
	const struct proto_client *peers; /* this instance's connected clients */
	size_t npeers;
};

struct verdict {
	bool admit;
	char reason[POLICY_REASON_MAX]; /* why not, naming client, network and rule */
	struct proto_client client;	/* what the agent is told */
	char *config;			/* lines for OpenVPN's return list */
};

/* 0 with out filled (admit or not), or -ENOMEM. */
int policy_decide(const struct admission *in, struct verdict *out);
void verdict_free(struct verdict *v);

#endif
