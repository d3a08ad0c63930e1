/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vpcroutectl bgp-config: the configuration of a BGP daemon (BIRD 2 or FRR)
 * that announces this instance's networks to the endpoints of a VPC Route
 * Server, with BFD: the kernel routes of protocol 212 (vpcroute) and the
 * tunnel pools, nothing else; it imports nothing and writes no kernel route.
 */
#ifndef VR_CTL_BGPCONF_H
#define VR_CTL_BGPCONF_H

#include <stdio.h>

#include "cfg.h"
#include "pfx.h"

#define BGPCONF_MAX_PEERS 8

enum bgpconf_daemon { BGPCONF_BIRD, BGPCONF_FRR };

struct bgpconf {
	enum bgpconf_daemon daemon;
	unsigned long long asn, peer_asn; /* 1..4294967295 */
	struct pfx peers[BGPCONF_MAX_PEERS];
	size_t npeers;
	unsigned bfd_ms;      /* BFD transmit and receive interval; 3 missed: down */
	unsigned hold_s;      /* BGP hold time (keepalive: a third of it) */
	struct pfx router_id; /* family 0: the daemon chooses */
};

/*
 * Parses one option's value into p; returns NULL, or the error (a static
 * string) that names the value's rule.
 */
const char *bgpconf_set(struct bgpconf *p, const char *opt, const char *value);

/* The configuration of p->daemon for cfg (its pools, and for FRR its networks). */
int bgpconf_print(FILE *f, const struct bgpconf *p, const struct cfg *cfg, const char *cfg_path);

#endif
