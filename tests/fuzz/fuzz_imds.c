// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target: the IMDSv2 answer parsers. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "imds.h"
#include "pfx.h"

/* What the outputs are filled with: a failed parse must leave them so. */
#define SENTINEL 0x5a
/* 3001-01-01T00:00:00Z: aws_parse_time refuses later years */
#define TIME_MAX 32535216000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool visible(const char *s, size_t min, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

static bool untouched(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != SENTINEL)
			return false;
	return true;
}

/* A refusal says why, in a nul-terminated text, and writes nothing else. */
static void refused(int r, const char *err, const void *out, size_t outlen)
{
	if (r != -EINVAL || !memchr(err, '\0', IMDS_ERRLEN) || !err[0] || !untouched(out, outlen))
		__builtin_trap();
}

/* The single-line answers: what was parsed is the input, minus one '\n'. */
static void same_line(const char *out, const char *buf, size_t size)
{
	size_t n = strlen(out);

	if (!(n == size || (n + 1 == size && buf[n] == '\n')) || memcmp(out, buf, n))
		__builtin_trap();
}

static void check_time(time_t t)
{
	char s[64];
	struct tm tm;
	time_t again;

	/* 3000-12-31T23:59:61Z at most: glibc's strptime takes leap seconds */
	if ((long long)t < 0 || (long long)t > TIME_MAX + 1)
		__builtin_trap();
	if ((long long)t >= TIME_MAX)
		return;
	/* what it stands for is read back as the same second */
	if (!gmtime_r(&t, &tm) || !strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) ||
	    aws_parse_time(s, &again) || again != t)
		__builtin_trap();
}

static void fuzz_ids(const char *buf, size_t size)
{
	static const char *const prefixes[] = { "i-", "eni-", "vpc-", "subnet-" };
	char id[IMDS_ID_MAX + 1], err[IMDS_ERRLEN];

	for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
		size_t p = strlen(prefixes[k]), n;
		int r;

		memset(id, SENTINEL, sizeof(id));
		err[0] = '\0';
		r = imds_parse_id(buf, size, prefixes[k], id, sizeof(id), err, sizeof(err));
		if (r) {
			refused(r, err, id, sizeof(id));
			continue;
		}
		n = strlen(id);
		if (!visible(id, p + 1, p + 40) || strncmp(id, prefixes[k], p) ||
		    strspn(id + p, "0123456789abcdef") != n - p)
			__builtin_trap();
		same_line(id, buf, size);
	}
}

static void fuzz_cidrs(const char *buf, size_t size)
{
	struct pfx sentinel;
	struct pfx_list l = { &sentinel, 12345 };
	char err[IMDS_ERRLEN], s[PFX_STRLEN], e[PFX_ERRLEN];
	int r;

	err[0] = '\0';
	r = imds_parse_cidrs(buf, size, &l, err, sizeof(err));
	if (r) {
		if (r != -EINVAL || !err[0] || l.v != &sentinel || l.n != 12345)
			__builtin_trap();
		return;
	}
	if (l.n == 0 || l.n > 64 || !l.v)
		__builtin_trap();
	for (size_t i = 0; i < l.n; i++) {
		struct pfx p;

		/* a network, host bits clear: its text form parses strictly to itself */
		if (!pfx_format(&l.v[i], s, sizeof(s)) || pfx_parse(s, 0, &p, e, sizeof(e)) ||
		    !pfx_equal(&p, &l.v[i]))
			__builtin_trap();
		for (size_t j = 0; j < i; j++)
			if (pfx_equal(&l.v[i], &l.v[j]))
				__builtin_trap();
	}
	pfx_list_free(&l);
}

static void fuzz_creds(const char *buf, size_t size)
{
	struct imds_creds *c = malloc(sizeof(*c));
	char err[IMDS_ERRLEN];
	int r;

	if (!c)
		return;
	memset(c, SENTINEL, sizeof(*c));
	err[0] = '\0';
	r = imds_parse_creds(buf, size, c, err, sizeof(err));
	if (r) {
		refused(r, err, c, sizeof(*c));
	} else {
		if (!visible(c->key_id, 1, IMDS_KEYID_MAX) ||
		    !visible(c->secret, 1, IMDS_SECRET_MAX) ||
		    !visible(c->token, 1, IMDS_SESSION_MAX))
			__builtin_trap();
		check_time(c->expiration);
	}
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char tok[IMDS_TOKEN_MAX + 1], region[40], mac[18], role[IMDS_ROLE_MAX + 1];
	char err[IMDS_ERRLEN], *s;
	time_t t;
	int r;

	memset(tok, SENTINEL, sizeof(tok));
	err[0] = '\0';
	r = imds_parse_token(buf, size, tok, sizeof(tok), err, sizeof(err));
	if (r)
		refused(r, err, tok, sizeof(tok));
	else if (!visible(tok, 1, IMDS_TOKEN_MAX))
		__builtin_trap();
	else
		same_line(tok, buf, size);

	fuzz_ids(buf, size);

	memset(region, SENTINEL, sizeof(region));
	err[0] = '\0';
	r = imds_parse_region(buf, size, region, sizeof(region), err, sizeof(err));
	if (r)
		refused(r, err, region, sizeof(region));
	else if (!visible(region, 4, 32) || !cfg_valid_region(region))
		__builtin_trap();
	else
		same_line(region, buf, size);

	memset(mac, SENTINEL, sizeof(mac));
	err[0] = '\0';
	r = imds_parse_mac(buf, size, mac, sizeof(mac), err, sizeof(err));
	if (r) {
		refused(r, err, mac, sizeof(mac));
	} else {
		if (!visible(mac, 17, 17))
			__builtin_trap();
		for (int i = 0; i < 17; i++)
			if (i % 3 == 2 ? mac[i] != ':' : !strchr("0123456789abcdef", mac[i]))
				__builtin_trap();
		same_line(mac, buf, size);
	}

	fuzz_cidrs(buf, size);

	memset(role, SENTINEL, sizeof(role));
	err[0] = '\0';
	r = imds_parse_role(buf, size, role, sizeof(role), err, sizeof(err));
	if (r) {
		refused(r, err, role, sizeof(role));
	} else {
		size_t n = strlen(role);

		/* the first line of the listing */
		if (!visible(role, 1, 64) || memcmp(role, buf, n) || (n < size && buf[n] != '\n') ||
		    strspn(role, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				 "_+=,.@-") != n)
			__builtin_trap();
	}

	fuzz_creds(buf, size);

	/* aws_parse_time wants a string: up to the first NUL of the input */
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	t = (time_t)-7;
	r = aws_parse_time(s, &t);
	if (r == 0)
		check_time(t);
	else if (r != -EINVAL || t != (time_t)-7)
		__builtin_trap();
	free(s);
	return 0;
}
