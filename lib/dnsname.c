// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "dnsname.h"
#include "pfx.h"

static bool ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

bool dnsname_valid(const char *s, char *out, char *why, size_t len)
{
	size_t n = strnlen(s, DNSNAME_MAX + 2), lab = 0, start = 0;
	bool digits = true;

	if (n && s[n - 1] == '.' && n <= DNSNAME_MAX + 1)
		n--; /* the root's dot */
	if (n == 0) {
		snprintf(why, len, "an empty host name");
		return false;
	}
	if (n > DNSNAME_MAX) {
		snprintf(why, len, "a host name longer than %d characters", DNSNAME_MAX);
		return false;
	}
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = i < n ? (unsigned char)s[i] : '.';

		if (c == '.') {
			if (lab == 0) {
				snprintf(why, len,
					 "host name \"%s\": an empty label at position %zu", s,
					 i + 1);
				return false;
			}
			if (s[i - 1] == '-') {
				snprintf(why, len,
					 "host name \"%s\": the label \"%.*s\" ends with '-' (RFC "
					 "1123)",
					 s, (int)lab, s + start);
				return false;
			}
			lab = 0;
			start = i + 1;
			if (i < n)
				digits = true;
			continue;
		}
		if (!ldh(c)) {
			if (c >= 0x21 && c < 0x7f)
				snprintf(why, len,
					 "host name \"%s\": the character '%c' at position %zu "
					 "(letters, "
					 "digits, '-' and '.' only)",
					 s, c, i + 1);
			else
				snprintf(why, len,
					 "host name \"%.*s\"...: the byte 0x%02x at position %zu "
					 "(letters, digits, '-' and '.' only)",
					 (int)i, s, c, i + 1);
			return false;
		}
		if (lab == 0 && c == '-') {
			snprintf(why, len,
				 "host name \"%s\": a label begins with '-' at position %zu", s,
				 i + 1);
			return false;
		}
		if (++lab > DNSLABEL_MAX) {
			snprintf(why, len, "host name \"%s\": a label longer than %d characters", s,
				 DNSLABEL_MAX);
			return false;
		}
		digits &= c >= '0' && c <= '9';
	}
	if (digits) {
		snprintf(
			why, len,
			"\"%s\" is neither an address nor a host name (its last label is a number)",
			s);
		return false;
	}
	if (out) {
		for (size_t i = 0; i < n; i++)
			out[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
		out[n] = '\0';
	}
	return true;
}

bool dnsname_looks_like(const char *s)
{
	const char *slash = strchr(s, '/'), *end = slash ? slash : s + strlen(s), *last;
	bool digits = true;

	if (strchr(s, ':') || end == s)
		return false;
	if (end > s && end[-1] == '.')
		end--;
	for (last = end; last > s && last[-1] != '.'; last--)
		;
	if (last == end)
		return false;
	for (const char *p = last; p < end; p++)
		digits &= *p >= '0' && *p <= '9';
	return !digits;
}

int dnsserver_parse(const char *s, char *out, char *why, size_t len)
{
	char host[INET6_ADDRSTRLEN + 2], a[PFX_STRLEN];
	const char *colon, *p;
	unsigned long port = 53;
	struct pfx x;
	size_t n;

	if (pfx_addr_parse(s, &x) == 0) {
		n = strlen(s);
	} else {
		colon = strrchr(s, ':');
		n = colon ? (size_t)(colon - s) : 0;
		port = 0;
		for (p = colon ? colon + 1 : ""; *p >= '0' && *p <= '9' && port <= 65535; p++)
			port = port * 10 + (unsigned long)(*p - '0');
		if (!colon || !colon[1] || *p || !port || port > 65535 || n < 3 ||
		    n >= sizeof(host))
			goto bad;
		memcpy(host, s, n);
		host[n] = '\0';
		if (host[0] == '[' && host[n - 1] == ']') {
			host[n - 1] = '\0';
			if (pfx_addr_parse(host + 1, &x) < 0 || x.family != AF_INET6)
				goto bad;
		} else if (pfx_addr_parse(host, &x) < 0 || x.family != AF_INET) {
			goto bad;
		}
	}
	pfx_format_addr(&x, a, sizeof(a));
	snprintf(out, DNSSERVER_STRLEN, x.family == AF_INET6 ? "[%s]:%lu" : "%s:%lu", a, port);
	return 0;
bad:
	snprintf(
		why, len,
		"\"%s\" is not a DNS server: expected an address, \"IPV4:PORT\" or \"[IPV6]:PORT\"",
		s);
	return -EINVAL;
}
