// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ifcache.h"

#define IFC_MAX 64 /* devices remembered; the oldest goes first */

static struct {
	unsigned index;
	char name[IF_NAMESIZE];
} cache[IFC_MAX];
static size_t ncache, next;
static unsigned long hits, misses;

static void remember(unsigned index, const char *name)
{
	size_t i = ncache < IFC_MAX ? ncache++ : next++ % IFC_MAX;

	cache[i].index = index;
	snprintf(cache[i].name, sizeof(cache[i].name), "%s", name);
}

unsigned ifc_index(const char *name)
{
	unsigned index;

	for (size_t i = 0; i < ncache; i++)
		if (strcmp(cache[i].name, name) == 0) {
			hits++;
			return cache[i].index;
		}
	misses++;
	if ((index = if_nametoindex(name)))
		remember(index, name);
	return index;
}

char *ifc_name(unsigned index, char *buf)
{
	for (size_t i = 0; i < ncache; i++)
		if (cache[i].index == index) {
			hits++;
			return memcpy(buf, cache[i].name, IF_NAMESIZE);
		}
	misses++;
	if (!index || !if_indextoname(index, buf))
		return NULL;
	remember(index, buf);
	return buf;
}

void ifc_forget(void)
{
	ncache = next = 0;
}

void ifc_counts(unsigned long *h, unsigned long *m)
{
	*h = hits;
	*m = misses;
}
