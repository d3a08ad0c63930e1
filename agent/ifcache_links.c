// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The interface cache's XFRM interfaces and VTIs (ifcache.h, ifc_links_*):
 * their if_id and keys, kept from the RTM_NEWLINK/DELLINK notifications the
 * agent reads anyway (watch.c), so that a link change needs no RTM_GETLINK
 * dump. The messages are read by xfrm_link_decode (xfrm_decode.c, fuzzed);
 * a dump (xfrm.c) sets the table at start and whenever it went stale
 * (notifications lost, a malformed message, no memory).
 */
#include "config.h"

#include <errno.h>

#include "ifcache.h"
#include "xfrm.h"

static struct xfrm_links links;
static bool stale = true; /* nothing read yet */

void ifc_links_apply(const void *buf, size_t len)
{
	bool done = false;
	int err = 0;

	if (xfrm_link_decode(&links, buf, len, &done, &err) || err)
		stale = true; /* something not understood: the table may be wrong */
}

void ifc_links_lost(void)
{
	stale = true;
}

bool ifc_links_stale(void)
{
	return stale;
}

const struct xfrm_links *ifc_links(void)
{
	return &links;
}

int ifc_links_set(const struct xfrm_links *l)
{
	if (xfrm_links_copy(&links, l) < 0) {
		stale = true;
		return -ENOMEM;
	}
	stale = false;
	return 0;
}

void ifc_links_free(void)
{
	xfrm_links_free(&links);
	stale = true;
}
