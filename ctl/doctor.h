/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vpcroutectl doctor: checks this host and the agent, and explains.
 */
#ifndef VR_CTL_DOCTOR_H
#define VR_CTL_DOCTOR_H

#include <stdbool.h>

#include "cfg.h"
#include "ctl.h"

#include <stdbool.h>

/*
 * Prints one line per finding and the count of problems, or with json one
 * object (doc/doctor.schema.json): 0, or CTL_EXIT_FAIL on a problem.
 */
int doctor(const struct ctl_target *t, bool json);

/*
 * EC2's addressing rules that a configuration can break, one call of fn per
 * finding (problem: EC2 refuses what the agent will ask; else advice):
 * a tunnel pool, a client's iroutes or one of the wanted networks inside
 * one of the VPC's CIDR blocks (blocks: from the status; NULL when unknown),
 * and a configured host address (nat snat_to, an access rule's destination)
 * that is one of the five addresses EC2 reserves in a subnet, for each local
 * network and VPC block taken as a subnet.
 */
/* key: the configuration key the finding is about ("tunnel.pool",
 * "clients.pi-home.iroutes[0]"), NULL when it is not one */
typedef void doctor_finding_fn(void *ctx, bool problem, const char *key, const char *text);
void doctor_addressing(const struct cfg *c, const struct pfx_list *blocks,
		       const struct pfx_list *wanted, doctor_finding_fn *fn, void *ctx);

#endif
