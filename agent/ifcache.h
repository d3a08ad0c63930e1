/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Interface names and indexes, remembered: if_nametoindex and
 * if_indextoname open a socket per call, and the agent asks for the same
 * few tunnel devices for every route. Forgotten whole at every link
 * notification (watch.c), so a device that went or was renamed is looked
 * up again. A missing device is never remembered.
 */
#ifndef VR_IFCACHE_H
#define VR_IFCACHE_H

#include <net/if.h>

/* The index of device name, or 0 when there is none. */
unsigned ifc_index(const char *name);
/* The name of device index in buf (IF_NAMESIZE bytes), or NULL when none. */
char *ifc_name(unsigned index, char *buf);
/* Forgets everything (a link came, went or changed). */
void ifc_forget(void);
/* Lookups answered from memory and from the kernel, since the start. */
void ifc_counts(unsigned long *hits, unsigned long *misses);

#endif
