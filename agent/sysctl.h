/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sysctls of the manual recipe (forwarding, redirects, rp_filter), written
 * through /proc/sys of the agent's network namespace.
 */
#ifndef VR_SYSCTL_H
#define VR_SYSCTL_H

#include "cfg.h"

/* Writes value unless the key already has it; logs a change with the old value. */
int sysctl_ensure(const char *key, const char *value);
/* Host-wide: IPv4 forwarding (IPv6 too when a local network or pool is IPv6),
 * no redirects. */
void sysctl_host(const struct cfg *c);
/* A tunnel device: no redirects, loose rp_filter. */
void sysctl_tunnel(const char *dev);

#endif
