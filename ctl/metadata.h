/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check-config's look at this host's VPC: its CIDR blocks from the instance
 * metadata (IMDSv2), asked through the agent's own client (agent/http.c,
 * agent/aws_settings.c, agent/imds.c) at the endpoint the agent would use.
 */
#ifndef VR_CTL_METADATA_H
#define VR_CTL_METADATA_H

#include <stddef.h>

#include "cfg.h"
#include "pfx.h"

/*
 * The VPC's IPv4 and IPv6 CIDR blocks into out (empty at the start), each
 * request given at most timeout_ms. 0: out filled; 1: not asked
 * (AWS_EC2_METADATA_DISABLED); -1: no usable answer (not on EC2, a bad
 * endpoint, a timeout), why says what happened.
 */
int metadata_vpc_blocks(const struct cfg_aws *w, long timeout_ms, struct pfx_list *out, char *why,
			size_t whylen);

#endif
