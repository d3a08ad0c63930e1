// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target: the EC2 Query API answer parsers. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ec2xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char next[128], err[EC2_ERRLEN];
	struct ec2_rtb *t;
	struct ec2_error e;
	char ids[EC2_MAX_GROUPS][EC2_ID_MAX];
	struct ec2_perm *perms;
	size_t n;
	bool on;

	if (ec2_parse_route_tables(buf, size, &t, &n, next, sizeof(next), err, sizeof(err)) == 0)
		ec2_rtbs_free(t, n);
	if (ec2_parse_error(buf, size, &e) == 1 &&
	    (!memchr(e.code, 0, sizeof(e.code)) || strchr(e.message, '\n')))
		__builtin_trap();
	ec2_parse_source_dest_check(buf, size, &on, err, sizeof(err));
	if (ec2_parse_group_set(buf, size, ids, EC2_MAX_GROUPS, &n, err, sizeof(err)) == 0)
		for (size_t i = 0; i < n; i++)
			if (!memchr(ids[i], 0, EC2_ID_MAX) || !ids[i][0])
				__builtin_trap();
	if (ec2_parse_ingress(buf, size, &perms, &n, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < n; i++)
			if (perms[i].from < -1 || perms[i].to > 65535 || !perms[i].proto[0])
				__builtin_trap();
			else
				ec2_perm_allows(&perms[i], "udp", 1194);
		free(perms);
	}
	ec2_parse_return(buf, size, "CreateRoute", err, sizeof(err));
	return 0;
}
