/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the cmocka unit tests. */
#ifndef VR_TEST_UNIT_H
#define VR_TEST_UNIT_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pfx.h"

/* A prefix or address that the test knows to be valid. */
static inline struct pfx pfx_of(const char *s)
{
	struct pfx p;
	char e[PFX_ERRLEN];

	if (pfx_parse(s, PFX_HOST, &p, e, sizeof(e)) != 0)
		fail_msg("%s", e);
	return p;
}

/* The same, by address: P("10.0.0.0/8") where a const struct pfx * goes. */
#define P(s) (&(struct pfx[]){ pfx_of(s) }[0])

#endif
