// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target: the request head parser of the metrics listener. */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool known(int s)
{
	return s == 0 || s == 200 || s == 400 || s == 404 || s == 405 || s == 431 || s == 505;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char good[] = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
	const char *buf = (const char *)data;
	int all = metrics_http_parse(buf, size), half = metrics_http_parse(buf, size / 2);

	if (metrics_http_parse(good, sizeof(good) - 1) != 200)
		abort();
	if (!known(all) || !known(half))
		abort();
	/* a verdict on what has arrived stands, whatever follows */
	if (half && all != half)
		abort();
	/* past the limit there is always a verdict */
	if (size >= METRICS_HTTP_HEAD_MAX && !all)
		abort();
	return 0;
}
