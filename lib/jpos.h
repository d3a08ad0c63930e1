/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where a value sits in a JSON text. jansson keeps no source positions, so
 * once a document has parsed, jpos_find walks the same bytes again to map a
 * key path ("clients.pi-home.iroutes[1]") to its line and column. It is only
 * called to report an error, on text jansson has already accepted.
 */
#ifndef VR_JPOS_H
#define VR_JPOS_H

#include <stddef.h>

/* Returns 0 and sets line/col (1-based, columns in characters) or -ENOENT. */
int jpos_find(const char *text, size_t len, const char *path, int *line, int *col);

#endif
