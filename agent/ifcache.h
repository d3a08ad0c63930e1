/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Interface names and indexes, remembered: if_nametoindex and
 * if_indextoname open a socket per call, and the agent asks for the same
 * few tunnel devices for every route. Forgotten whole at every link
 * notification (watch.c), so a device that went or was renamed is looked
 * up again. A missing device is never remembered. The XFRM interfaces and
 * VTIs are kept from the notifications themselves (ifc_links_*).
 */
#ifndef VR_IFCACHE_H
#define VR_IFCACHE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

/* The index of device name, or 0 when there is none. */
unsigned ifc_index(const char *name);
/* The name of device index in buf (IF_NAMESIZE bytes), or NULL when none. */
char *ifc_name(unsigned index, char *buf);
/* Forgets everything (a link came, went or changed). */
void ifc_forget(void);
/* Lookups answered from memory and from the kernel, since the start. */
void ifc_counts(unsigned long *hits, unsigned long *misses);

/*
 * The XFRM interfaces and VTIs with their if_id and keys (ifcache_links.c),
 * kept from the link notifications (RTM_NEWLINK, RTM_DELLINK) so that a
 * change needs no new RTM_GETLINK dump: set whole from a dump (xfrm.c, at
 * start), then changed by each datagram of notifications (watch.c). Stale
 * until the first dump, and again when notifications were lost or one was
 * not understood (a dump then sets it right).
 */
struct xfrm_links;
/* Applies the link messages of buf (one datagram; other messages ignored). */
void ifc_links_apply(const void *buf, size_t len);
/* Notifications were lost: the table is stale. */
void ifc_links_lost(void);
bool ifc_links_stale(void);
const struct xfrm_links *ifc_links(void);
/* Sets the table to a copy of l (a dump's): 0, or -ENOMEM (then stale). */
int ifc_links_set(const struct xfrm_links *l);
void ifc_links_free(void);

#endif
