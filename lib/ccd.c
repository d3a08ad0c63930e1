// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccd.h"

#define MAX_TOKENS 8
#define MAX_PUSH   256

struct ccd_ctx {
	const char *name;
	unsigned line;
	char *err;
	size_t errlen;
};

static int bad(struct ccd_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct ccd_ctx *c, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	snprintf(c->err, c->errlen, "%s:%u: ", c->name, c->line);
	n = strlen(c->err);
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * Split one line as OpenVPN does: whitespace separates tokens, "..." quotes
 * with backslash escapes, '...' quotes literally, a backslash outside
 * quotes escapes the next character, and # or ; outside a token starts a
 * comment.
 */
static int tokenize(struct ccd_ctx *c, const char *s, char tok[][CCD_LINE_MAX + 1], int *ntok)
{
	int n = 0;

	for (;;) {
		size_t o = 0;
		char q = 0;

		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (!*s || *s == '#' || *s == ';')
			break;
		if (n == MAX_TOKENS)
			return bad(c, "more than %d words on a line", MAX_TOKENS);
		while (*s && (q || (*s != ' ' && *s != '\t' && *s != '\r'))) {
			char ch = *s++;

			if (!q && (ch == '"' || ch == '\'')) {
				q = ch;
				continue;
			}
			if (q && ch == q) {
				q = 0;
				continue;
			}
			if (ch == '\\' && q != '\'') {
				if (!*s)
					return bad(c, "backslash at the end of the line");
				ch = *s++;
			}
			if ((unsigned char)ch < 0x20 || ch == 0x7f)
				return bad(c, "control character 0x%02x", (unsigned char)ch);
			tok[n][o++] = ch;
		}
		if (q)
			return bad(c, "unterminated %c quote", q);
		tok[n++][o] = '\0';
	}
	*ntok = n;
	return 0;
}

static int add_iroute(struct ccd_ctx *c, struct ccd *out, const struct pfx *p)
{
	char a[PFX_STRLEN];
	int r;

	for (size_t i = 0; i < out->iroutes.n; i++)
		if (pfx_overlaps(&out->iroutes.v[i], p))
			return bad(c, "iroute %s overlaps an earlier iroute",
				   pfx_format(p, a, sizeof(a)));
	r = pfx_list_add(&out->iroutes, p, 256);
	if (r == -E2BIG)
		return bad(c, "more than 256 iroutes");
	return r;
}

static int add_push(struct ccd_ctx *c, struct ccd *out, const char *line)
{
	char **v;

	if (out->npush >= MAX_PUSH)
		return bad(c, "more than %d push lines", MAX_PUSH);
	v = realloc(out->push, (out->npush + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	out->push = v;
	if (!(v[out->npush] = strdup(line)))
		return -ENOMEM;
	out->npush++;
	return 0;
}

/* Quote s for an OpenVPN config line ("..." with \\ and \" escaped). */
static int ccd_quote(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	if (len < 3)
		return -ENOSPC;
	buf[o++] = '"';
	for (; *s; s++) {
		if (o + 3 >= len)
			return -ENOSPC;
		if (*s == '"' || *s == '\\')
			buf[o++] = '\\';
		buf[o++] = *s;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return 0;
}

static int want_args(struct ccd_ctx *c, const char *d, int nargs, int min, int max)
{
	if (nargs < min || nargs > max) {
		if (min == max)
			return bad(c, "%s takes %d argument%s, got %d", d, min, min == 1 ? "" : "s",
				   nargs);
		return bad(c, "%s takes %d to %d arguments, got %d", d, min, max, nargs);
	}
	return 0;
}

static int directive(struct ccd_ctx *c, struct ccd *out, char tok[][CCD_LINE_MAX + 1], int n)
{
	const char *d = tok[0];
	char e[PFX_ERRLEN], q[2 * CCD_LINE_MAX + 4], line[2 * CCD_LINE_MAX + 32];
	struct pfx p;
	int r;

	if (strcmp(d, "iroute") == 0) {
		if ((r = want_args(c, d, n - 1, 1, 2)))
			return r;
		if (pfx_from_netmask(tok[1], n > 2 ? tok[2] : "255.255.255.255", 0, &p, e,
				     sizeof(e)) < 0)
			return bad(c, "iroute: %s", e);
		return add_iroute(c, out, &p);
	}
	if (strcmp(d, "iroute-ipv6") == 0) {
		if ((r = want_args(c, d, n - 1, 1, 1)))
			return r;
		if (pfx_parse(tok[1], PFX_HOST, &p, e, sizeof(e)) < 0 || p.family != AF_INET6)
			return bad(c, "iroute-ipv6: \"%s\" is not an IPv6 prefix", tok[1]);
		return add_iroute(c, out, &p);
	}
	if (strcmp(d, "ifconfig-push") == 0) {
		if ((r = want_args(c, d, n - 1, 2, 3)))
			return r;
		if (out->has_address)
			return bad(c, "ifconfig-push given twice");
		if (pfx_addr_parse(tok[1], &out->address) < 0 || out->address.family != AF_INET)
			return bad(c, "ifconfig-push: \"%s\" is not an IPv4 address", tok[1]);
		if (pfx_addr_parse(tok[2], &out->netmask) < 0 || out->netmask.family != AF_INET)
			return bad(c, "ifconfig-push: \"%s\" is not an IPv4 netmask", tok[2]);
		out->has_address = true;
		return 0;
	}
	if (strcmp(d, "ifconfig-ipv6-push") == 0) {
		if ((r = want_args(c, d, n - 1, 1, 2)))
			return r;
		if (out->has_address6)
			return bad(c, "ifconfig-ipv6-push given twice");
		if (pfx_parse(tok[1], PFX_NORMALISE, &p, e, sizeof(e)) < 0 ||
		    p.family != AF_INET6 || !strchr(tok[1], '/'))
			return bad(c, "ifconfig-ipv6-push: \"%s\" is not an IPv6 address/length",
				   tok[1]);
		/* keep the host part: parse the address alone, then set the length */
		*strchr(tok[1], '/') = '\0';
		if (pfx_addr_parse(tok[1], &out->address6) < 0)
			return bad(c, "ifconfig-ipv6-push: \"%s\" is not an IPv6 address", tok[1]);
		out->address6.len = p.len;
		out->has_address6 = true;
		return 0;
	}
	if (strcmp(d, "push") == 0) {
		if ((r = want_args(c, d, n - 1, 1, 1)))
			return r;
		if (!tok[1][0])
			return bad(c, "push of an empty option");
		if (ccd_quote(tok[1], q, sizeof(q)) < 0)
			return bad(c, "push option too long");
		snprintf(line, sizeof(line), "push %s", q);
		return add_push(c, out, line);
	}
	if (strcmp(d, "push-reset") == 0) {
		if ((r = want_args(c, d, n - 1, 0, 0)))
			return r;
		return add_push(c, out, "push-reset");
	}
	if (strcmp(d, "push-remove") == 0) {
		if ((r = want_args(c, d, n - 1, 1, 1)))
			return r;
		if (ccd_quote(tok[1], q, sizeof(q)) < 0)
			return bad(c, "push-remove option too long");
		snprintf(line, sizeof(line), "push-remove %s", q);
		return add_push(c, out, line);
	}
	if (strcmp(d, "disable") == 0) {
		if ((r = want_args(c, d, n - 1, 0, 0)))
			return r;
		out->disable = true;
		return 0;
	}
	return bad(c,
		   "unsupported directive \"%.64s\" (vpcroute accepts iroute, iroute-ipv6, "
		   "ifconfig-push, ifconfig-ipv6-push, push, push-reset, push-remove, disable)",
		   d);
}

int ccd_parse(const char *name, const char *buf, size_t len, struct ccd *out, char *err,
	      size_t errlen)
{
	struct ccd_ctx c = { .name = name, .err = err, .errlen = errlen };
	char tok[MAX_TOKENS][CCD_LINE_MAX + 1]; /* a token can be the whole line */
	char line[CCD_LINE_MAX + 1];
	size_t i = 0;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (len > CCD_MAX_SIZE) {
		snprintf(err, errlen, "%s: larger than %d bytes", name, CCD_MAX_SIZE);
		return -EFBIG;
	}
	while (i < len) {
		size_t start = i, n;
		int ntok = 0;

		c.line++;
		while (i < len && buf[i] != '\n')
			i++;
		n = i - start;
		i++; /* the newline */
		if (n > CCD_LINE_MAX) {
			r = bad(&c, "line longer than %d characters", CCD_LINE_MAX);
			break;
		}
		memcpy(line, buf + start, n);
		line[n] = '\0';
		if (strlen(line) != n) {
			r = bad(&c, "NUL byte in the line");
			break;
		}
		if ((r = tokenize(&c, line, tok, &ntok)))
			break;
		if (ntok == 0)
			continue;
		/* OpenVPN also accepts "--option" in files */
		if (strncmp(tok[0], "--", 2) == 0)
			memmove(tok[0], tok[0] + 2, strlen(tok[0]) - 1);
		if ((r = directive(&c, out, tok, ntok)))
			break;
	}
	if (r == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", name);
	if (r)
		ccd_free(out);
	return r;
}

int ccd_load(const char *dir, const char *cn, struct ccd *out, char *err, size_t errlen)
{
	const char *names[] = { cn, CCD_DEFAULT };
	char buf[CCD_MAX_SIZE + 1], path[512];
	struct stat st;
	ssize_t n;
	int fd = -1, r;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < 2 && fd < 0; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path)) {
			snprintf(err, errlen, "%s: path too long", dir);
			return -ENAMETOOLONG;
		}
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0 && errno != ENOENT) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return r;
		}
	}
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (n > CCD_MAX_SIZE) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, CCD_MAX_SIZE);
		return -EFBIG;
	}
	r = ccd_parse(path, buf, (size_t)n, out, err, errlen);
	if (r == 0) {
		out->found = true;
		snprintf(out->path, sizeof(out->path), "%s", path);
	}
	return r;
}

void ccd_free(struct ccd *c)
{
	pfx_list_free(&c->iroutes);
	for (size_t i = 0; i < c->npush; i++)
		free(c->push[i]);
	free(c->push);
	memset(c, 0, sizeof(*c));
}
