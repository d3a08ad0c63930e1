// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The request head parser of the metrics listener (metrics_http.h): strict,
 * pure, and fuzzed (tests/fuzz/fuzz_metrics_http.c).
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "metrics_http.h"

static bool token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Printable ASCII, tab, and CR only before LF. */
static bool head_bytes_ok(const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)b[i];

		if (c == '\r'	? i + 1 < n && b[i + 1] != '\n'
		    : c == '\n' ? !i || b[i - 1] != '\r'
				: c != '\t' && (c < 0x20 || c > 0x7e))
			return false;
	}
	return true;
}

int metrics_http_parse(const char *buf, size_t len)
{
	size_t n = len < METRICS_HTTP_HEAD_MAX ? len : METRICS_HTTP_HEAD_MAX;
	const char *end = memmem(buf, n, "\r\n\r\n", 4), *p, *sp1, *sp2, *eol, *ver;
	bool get, metrics;
	size_t vlen;

	if (!end) {
		if (!head_bytes_ok(buf, n))
			return 400;
		return len >= METRICS_HTTP_HEAD_MAX ? 431 : 0;
	}
	n = (size_t)(end - buf) + 2; /* the head, each line with its CRLF */
	if (!head_bytes_ok(buf, n))
		return 400;
	eol = memmem(buf, n, "\r\n", 2);
	sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp1 == buf || sp2 == sp1 + 1 ||
	    memchr(sp2 + 1, ' ', (size_t)(eol - sp2 - 1)))
		return 400;
	for (p = buf; p < sp1; p++)
		if (!token_char(*p))
			return 400;
	/* the headers: NAME ":" value */
	for (p = eol + 2; p < buf + n;) {
		const char *le = memmem(p, (size_t)(buf + n - p), "\r\n", 2), *q = p;

		while (q < le && token_char(*q))
			q++;
		if (q == p || q == le || *q != ':')
			return 400;
		p = le + 2;
	}
	ver = sp2 + 1;
	vlen = (size_t)(eol - ver);
	if (vlen < 5 || memcmp(ver, "HTTP/", 5) != 0)
		return 400;
	if (vlen != 8 || memcmp(ver, "HTTP/1.", 7) != 0 || (ver[7] != '0' && ver[7] != '1'))
		return 505;
	get = sp1 - buf == 3 && memcmp(buf, "GET", 3) == 0;
	if (!get)
		return 405;
	metrics = (size_t)(sp2 - sp1 - 1) >= 8 && memcmp(sp1 + 1, "/metrics", 8) == 0 &&
		  (sp2 - sp1 - 1 == 8 || sp1[9] == '?');
	return metrics ? 200 : 404;
}
