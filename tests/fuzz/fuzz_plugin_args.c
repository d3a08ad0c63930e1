// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: what OpenVPN hands the plugin. The input is split at
 * newlines into sections; the first byte of a section picks what it feeds
 * (A: the plugin line's argv, E: a tunnel event's envp, L: learn-address
 * argv), and NUL bytes separate its strings.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXV 64

static size_t split(char *s, size_t n, const char **v)
{
	size_t k = 0, start = 0;

	for (size_t i = 0; i <= n && k < MAXV - 1; i++)
		if (i == n || s[i] == '\0') {
			s[i] = '\0';
			v[k++] = s + start;
			start = i + 1;
		}
	v[k] = NULL;
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), err[ARGS_ERRLEN], cn[CN_MAX + 1];
	const char *v[MAXV];
	size_t pos = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	while (pos < size) {
		char *sec = buf + pos, *nl = memchr(sec, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - sec) : size - pos;
		struct plugin_opts o;
		struct proto_msg m;
		enum proto_learn_op op;
		struct pfx addr;
		char inst[PROTO_INSTANCE_MAX + 1];

		pos += len + 1;
		if (len == 0)
			continue;
		split(sec + 1, len - 1, v);
		switch (sec[0]) {
		case 'A':
			plugin_args_parse(v, &o, err, sizeof(err));
			break;
		case 'E':
			if (env_tunnel(v, PROTO_TUNNEL_ROUTE_UP, &m, err, sizeof(err)) == 0)
				proto_msg_free(&m);
			plugin_default_instance(v, inst, sizeof(inst));
			break;
		case 'L':
			if (args_learn(v, &op, &addr, cn, err, sizeof(err)) == 0 &&
			    op != PROTO_LEARN_DELETE && !cn_valid(cn, err, sizeof(err)))
				__builtin_trap();
			break;
		}
	}
	free(buf);
	return 0;
}
