// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target: the EC2 Query API answer parsers. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ec2xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char next[128], err[EC2_ERRLEN];
	struct ec2_rtb *t;
	struct ec2_error e;
	size_t n;
	bool on;

	if (ec2_parse_route_tables(buf, size, &t, &n, next, sizeof(next), err, sizeof(err)) == 0)
		ec2_rtbs_free(t, n);
	if (ec2_parse_error(buf, size, &e) == 1 &&
	    (!memchr(e.code, 0, sizeof(e.code)) || strchr(e.message, '\n')))
		__builtin_trap();
	ec2_parse_source_dest_check(buf, size, &on, err, sizeof(err));
	ec2_parse_return(buf, size, "CreateRoute", err, sizeof(err));
	return 0;
}
