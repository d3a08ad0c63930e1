/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VR_CN_H
#define VR_CN_H

#include <stdbool.h>
#include <stddef.h>

/* X.509 caps a common name at 64 characters. */
#define CN_MAX 64

/*
 * A certificate common name as vpcroute accepts it: 1-64 characters from
 * OpenVPN's own set (letters, digits, '_', '-', '.', '@'), not "." or ".."
 * and not starting with '.', so it is always safe as a file name.
 */
bool cn_valid(const char *s, char *err, size_t errlen);

#endif
