// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cfg.h"
#include "imds.h"
#include "log.h"

/*
 * The value as one line: a single trailing newline is allowed, anything
 * else outside visible ASCII is refused. Returns its length, or -EINVAL.
 */
static int one_line(const char *buf, size_t len, char *out, size_t outlen, const char *what,
		    char *err, size_t errlen)
{
	if (len && buf[len - 1] == '\n')
		len--;
	if (len == 0)
		return errf(err, errlen, "%s: empty answer", what);
	if (len >= outlen)
		return errf(err, errlen, "%s: answer longer than %zu bytes", what, outlen - 1);
	for (size_t i = 0; i < len; i++)
		if (buf[i] < 0x21 || buf[i] > 0x7e)
			return errf(err, errlen, "%s: byte 0x%02x at offset %zu", what,
				    (unsigned char)buf[i], i);
	memcpy(out, buf, len);
	out[len] = '\0';
	return (int)len;
}

int imds_parse_token(const char *buf, size_t len, char *out, size_t outlen, char *err,
		     size_t errlen)
{
	int n = one_line(buf, len, out, outlen, "token", err, errlen);

	return n < 0 ? n : 0;
}

int imds_parse_id(const char *buf, size_t len, const char *prefix, char *out, size_t outlen,
		  char *err, size_t errlen)
{
	char v[IMDS_ID_MAX + 1];
	size_t p = strlen(prefix), n;
	int r = one_line(buf, len, v, sizeof(v), prefix, err, errlen);

	if (r < 0)
		return r;
	n = (size_t)r;
	if (n <= p || n - p > 40 || strncmp(v, prefix, p) ||
	    strspn(v + p, "0123456789abcdef") != n - p)
		return errf(err, errlen, "\"%s\" is not an id of the form %s<hex digits>", v,
			    prefix);
	if (n >= outlen)
		return errf(err, errlen, "\"%s\" is too long", v);
	memcpy(out, v, n + 1);
	return 0;
}

int imds_parse_region(const char *buf, size_t len, char *out, size_t outlen, char *err,
		      size_t errlen)
{
	char v[40];
	int r = one_line(buf, len, v, sizeof(v), "region", err, errlen);

	if (r < 0)
		return r;
	if (!cfg_valid_region(v) || (size_t)r >= outlen)
		return errf(err, errlen, "\"%s\" is not an AWS region name", v);
	memcpy(out, v, (size_t)r + 1);
	return 0;
}

int imds_parse_mac(const char *buf, size_t len, char *out, size_t outlen, char *err, size_t errlen)
{
	char v[24];
	int r = one_line(buf, len, v, sizeof(v), "mac", err, errlen);

	if (r < 0)
		return r;
	for (int i = 0; i < 17; i++)
		if (r != 17 || (i % 3 == 2 ? v[i] != ':' : !strchr("0123456789abcdef", v[i])))
			return errf(err, errlen, "\"%s\" is not a MAC address", v);
	if (outlen < 18)
		return errf(err, errlen, "no room for a MAC address");
	memcpy(out, v, 18);
	return 0;
}

int imds_parse_cidrs(const char *buf, size_t len, struct pfx_list *out, char *err, size_t errlen)
{
	struct pfx_list l = { 0 };
	size_t i = 0, lineno = 0;

	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (buf + i)) : len - i;
		char line[PFX_STRLEN + 1], e[PFX_ERRLEN];
		struct pfx p;
		int r;

		lineno++;
		if (n == 0 || n > PFX_STRLEN || memchr(buf + i, '\0', n)) {
			pfx_list_free(&l);
			return errf(err, errlen, "CIDR blocks: line %zu is %s", lineno,
				    n ? "not a prefix" : "empty");
		}
		memcpy(line, buf + i, n);
		line[n] = '\0';
		if (pfx_parse(line, 0, &p, e, sizeof(e)) < 0) {
			pfx_list_free(&l);
			return errf(err, errlen, "CIDR blocks: %s", e);
		}
		if ((r = pfx_list_add(&l, &p, 64)) < 0) {
			pfx_list_free(&l);
			return r == -E2BIG ? errf(err, errlen, "CIDR blocks: more than 64") : r;
		}
		i += n + 1;
	}
	if (!l.n)
		return errf(err, errlen, "CIDR blocks: empty answer");
	*out = l;
	return 0;
}

int imds_parse_role(const char *buf, size_t len, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *nl = memchr(buf, '\n', len);
	char v[IMDS_ROLE_MAX + 1];
	int r;

	/* several roles cannot be attached to one instance profile: take the first */
	r = one_line(buf, nl ? (size_t)(nl - buf) : len, v, sizeof(v), "role", err, errlen);
	if (r < 0)
		return r;
	/* IAM role names: [\w+=,.@-]{1,64} */
	if (r > 64 || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				"_+=,.@-") != (size_t)r)
		return errf(err, errlen, "\"%s\" is not an IAM role name", v);
	if ((size_t)r >= outlen)
		return errf(err, errlen, "role name too long");
	memcpy(out, v, (size_t)r + 1);
	return 0;
}

const char *aws_invisible(const char *s)
{
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return s;
	return NULL;
}

int aws_parse_time(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	time_t t;

	if (!p)
		return -EINVAL;
	if (*p == '.') /* fraction of a second: dropped */
		for (p++; isdigit((unsigned char)*p); p++)
			;
	if (strcmp(p, "Z") || tm.tm_year < 70 || tm.tm_year > 1100)
		return -EINVAL;
	t = timegm(&tm);
	/* a 32-bit time_t (armhf on Debian 12) ends in January 2038: later is never to us */
	if (t == (time_t)-1 && sizeof(time_t) < 8 && tm.tm_year >= 138)
		t = (time_t)INT32_MAX;
	if (t == (time_t)-1)
		return -EINVAL;
	*out = t;
	return 0;
}

static int creds_str(json_t *o, const char *key, char *out, size_t outlen, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v), *bad;
	size_t n;

	if (!s)
		return errf(err, errlen, "credentials: %s missing or not a string", key);
	n = strlen(s);
	if (n == 0 || n >= outlen || n != json_string_length(v))
		return errf(err, errlen, "credentials: %s is %s", key,
			    n == 0 ? "empty" : "too long or has a NUL byte");
	if ((bad = aws_invisible(s)))
		return errf(err, errlen, "credentials: %s has byte 0x%02x", key,
			    (unsigned char)*bad);
	memcpy(out, s, n + 1);
	return 0;
}

int imds_parse_creds(const char *buf, size_t len, struct imds_creds *c, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	struct imds_creds n = { 0 };
	const char *code, *exp;
	int r = -EINVAL;

	/* jansson's text may quote the input near the error: a secret; position only */
	if (!o)
		return errf(err, errlen, "credentials: not JSON (line %d, column %d)", je.line,
			    je.column);
	if (!json_is_object(o)) {
		errf(err, errlen, "credentials: not a JSON object");
		goto out;
	}
	code = json_string_value(json_object_get(o, "Code"));
	if (!code || strcmp(code, "Success")) {
		char shown[64];

		/* only printable ASCII reaches the log */
		snprintf(shown, sizeof(shown), "%s", code ? code : "missing");
		for (char *p = shown; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				*p = '?';
		errf(err, errlen, "credentials: Code is %s", shown);
		goto out;
	}
	if ((r = creds_str(o, "AccessKeyId", n.key_id, sizeof(n.key_id), err, errlen)) ||
	    (r = creds_str(o, "SecretAccessKey", n.secret, sizeof(n.secret), err, errlen)) ||
	    (r = creds_str(o, "Token", n.token, sizeof(n.token), err, errlen)))
		goto out;
	exp = json_string_value(json_object_get(o, "Expiration"));
	if (!exp || aws_parse_time(exp, &n.expiration) < 0) {
		r = errf(err, errlen, "credentials: Expiration is %s",
			 exp ? "not a UTC time like 2026-01-31T12:00:00Z" : "missing");
		goto out;
	}
	*c = n;
	r = 0;
out:
	json_decref(o);
	explicit_bzero(&n, sizeof(n));
	return r;
}
