// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: host names and DNS server addresses as vpcroute.conf
 * gives them (lib/dnsname.c). The input is split at its first NUL byte:
 * the text before it is checked as a host name, the rest as a DNS server.
 * Invariants, whatever the bytes: a name accepted comes out in lower case,
 * at most 253 characters of letters, digits, '-' and '.', labels of 1-63
 * that neither begin nor end with '-', and is accepted again unchanged; a
 * server accepted comes out in a form that parses to itself. A violation
 * aborts.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnsname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s)
{
	char out[DNSNAME_MAX + 1], again[DNSNAME_MAX + 1], why[512];
	size_t n, lab = 0;

	memset(out, 0x55, sizeof(out));
	if (!dnsname_valid(s, out, why, sizeof(why))) {
		if (!why[0] || !memchr(why, '\0', sizeof(why)))
			abort();
		return;
	}
	n = strnlen(out, sizeof(out));
	if (n == 0 || n > DNSNAME_MAX || out[0] == '.' || out[n - 1] == '.')
		abort();
	for (size_t i = 0; i <= n; i++) {
		char c = out[i];

		if (c == '.' || c == '\0') {
			if (lab == 0 || lab > DNSLABEL_MAX || out[i - 1] == '-')
				abort();
			lab = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			abort();
		if (lab == 0 && c == '-')
			abort();
		lab++;
	}
	if (!dnsname_looks_like(s) || !dnsname_valid(out, again, why, sizeof(why)) ||
	    strcmp(out, again))
		abort();
}

static void check_server(const char *s)
{
	char out[DNSSERVER_STRLEN], again[DNSSERVER_STRLEN], why[512];

	if (dnsserver_parse(s, out, why, sizeof(why)) < 0)
		return;
	if (!memchr(out, '\0', sizeof(out)) || dnsserver_parse(out, again, why, sizeof(why)) < 0 ||
	    strcmp(out, again))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	size_t n;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	n = strlen(buf);
	check_name(buf);
	if (n < size)
		check_server(buf + n + 1);
	free(buf);
	return 0;
}
