// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target: the CCD file parser. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ccd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CCD_ERRLEN];
	struct ccd c;

	if (ccd_parse("fuzz", (const char *)data, size, &c, err, sizeof(err)) == 0) {
		/* every re-rendered push line is one line */
		for (size_t i = 0; i < c.npush; i++)
			if (strchr(c.push[i], '\n'))
				__builtin_trap();
		ccd_free(&c);
	}
	return 0;
}
