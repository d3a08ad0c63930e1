// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the parser of BIRD's reply to `show protocols all`
 * (ctl/bird.c), which vpcroutectl doctor reads from BIRD's control socket.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bird.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct bird_sessions s = { 0 };
	char err[BIRD_ERRLEN] = "";
	size_t end = bird_reply_end(buf, size);
	int r = bird_parse_protocols(buf, size, &s, err, sizeof(err));

	if (end > size)
		abort();
	if (r < 0 && (s.v || s.n || !err[0] || strlen(err) >= sizeof(err)))
		abort();
	if (r == 0 && s.n > BIRD_MAX_SESSION)
		abort();
	for (size_t i = 0; r == 0 && i < s.n; i++)
		/* every field a string within its array */
		if (strnlen(s.v[i].name, sizeof(s.v[i].name)) == sizeof(s.v[i].name) ||
		    strnlen(s.v[i].state, sizeof(s.v[i].state)) == sizeof(s.v[i].state) ||
		    strnlen(s.v[i].bgp_state, sizeof(s.v[i].bgp_state)) ==
			    sizeof(s.v[i].bgp_state) ||
		    strnlen(s.v[i].neighbor, sizeof(s.v[i].neighbor)) == sizeof(s.v[i].neighbor) ||
		    strnlen(s.v[i].last_error, sizeof(s.v[i].last_error)) ==
			    sizeof(s.v[i].last_error))
			abort();
	/* a reply parsed whole was complete */
	if (r == 0 && !end)
		abort();
	bird_sessions_free(&s);
	return 0;
}
