// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <stdint.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif

#include "heap.h"

static size_t freed;

void heap_freed(size_t n)
{
	freed = n > SIZE_MAX - freed ? SIZE_MAX : freed + n;
}

bool heap_trim(void)
{
	if (freed < HEAP_TRIM_MIN)
		return false;
	freed = 0;
#ifdef HAVE_MALLOC_TRIM
	malloc_trim(0);
	return true;
#else
	return false;
#endif
}
