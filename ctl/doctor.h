/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vpcroutectl doctor: checks this host and the agent, and explains.
 */
#ifndef VR_CTL_DOCTOR_H
#define VR_CTL_DOCTOR_H

#include "ctl.h"

#include <stdbool.h>

/*
 * Prints one line per finding and the count of problems, or with json one
 * object (doc/doctor.schema.json): 0, or CTL_EXIT_FAIL on a problem.
 */
int doctor(const struct ctl_target *t, bool json);

#endif
