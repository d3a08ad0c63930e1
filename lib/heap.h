/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Giving freed heap memory back to the kernel. glibc's malloc keeps what a
 * program frees inside its heap for reuse, and only the top of the heap is
 * ever returned by itself: after a large transient (a status of 50,000
 * clients, a sync, a table compared whole) the process would stay as large
 * as at its peak. Whoever frees much tells heap_freed; the event loop calls
 * heap_trim when it is idle, which hands the free pages back
 * (malloc_trim) once at least HEAP_TRIM_MIN bytes were freed since the
 * last time. Without malloc_trim (not glibc) both do nothing.
 */
#ifndef VR_HEAP_H
#define VR_HEAP_H

#include <stdbool.h>
#include <stddef.h>

#define HEAP_TRIM_MIN (1u << 20)

/* n bytes (an estimate is enough) of transient memory were just freed. */
void heap_freed(size_t n);
/* Returns the heap's free pages to the kernel when enough was freed since
 * the last trim: true when it did. */
bool heap_trim(void);

#endif
