// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target: the configuration loader, error paths included. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CFG_ERRLEN];
	struct cfg *c = NULL;

	if (cfg_load_buf("fuzz.conf", (const char *)data, size, &c, err, sizeof(err)) == 0) {
		json_t *j = cfg_to_json(c);

		json_decref(j);
		cfg_free(c);
	} else if (!memchr(err, '\0', sizeof(err))) {
		__builtin_trap(); /* error text must be terminated */
	}
	return 0;
}
