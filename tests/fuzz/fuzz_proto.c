// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target: the protocol decoder; what decodes must re-encode. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[PROTO_MAX_MSG], err[PROTO_ERRLEN];
	struct proto_msg m, m2;
	int n;

	if (proto_decode((const char *)data, size, &m, err, sizeof(err)) != 0)
		return 0;
	n = proto_encode(&m, out, sizeof(out));
	/* Anything accepted encodes, and decodes again. */
	if (n < 0 && n != -EMSGSIZE)
		__builtin_trap();
	if (n > 0) {
		if (proto_decode(out, (size_t)n, &m2, err, sizeof(err)) != 0)
			__builtin_trap();
		proto_msg_free(&m2);
	}
	proto_msg_free(&m);
	return 0;
}
