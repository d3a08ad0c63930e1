// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pfx.h"

size_t pfx_addrlen(const struct pfx *p)
{
	return p->family == AF_INET ? 4 : 16;
}

static unsigned pfx_maxlen(int family)
{
	return family == AF_INET ? 32 : 128;
}

/* Byte mask for bit position `bits` within byte i. */
static uint8_t mask_byte(unsigned bits, unsigned i)
{
	if (bits >= (i + 1) * 8)
		return 0xff;
	if (bits <= i * 8)
		return 0;
	return (uint8_t)(0xff << (8 - (bits - i * 8)));
}

static bool host_bits_set(const struct pfx *p)
{
	for (unsigned i = 0; i < pfx_addrlen(p); i++)
		if (p->addr[i] & ~mask_byte(p->len, i))
			return true;
	return false;
}

static void clear_host_bits(struct pfx *p)
{
	for (unsigned i = 0; i < pfx_addrlen(p); i++)
		p->addr[i] &= mask_byte(p->len, i);
}

static int parse_addr(const char *s, struct pfx *out)
{
	memset(out, 0, sizeof(*out));
	if (strchr(s, ':')) {
		if (inet_pton(AF_INET6, s, out->addr) != 1)
			return -EINVAL;
		out->family = AF_INET6;
	} else {
		/* glibc's inet_pton refuses leading zeros and short forms. */
		if (inet_pton(AF_INET, s, out->addr) != 1)
			return -EINVAL;
		out->family = AF_INET;
	}
	out->len = (uint8_t)pfx_maxlen(out->family);
	return 0;
}

int pfx_addr_parse(const char *s, struct pfx *out)
{
	if (!s || strlen(s) >= INET6_ADDRSTRLEN)
		return -EINVAL;
	return parse_addr(s, out);
}

/* Digits only, no sign, no leading zero, at most max. */
static int parse_len(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (!*s || (s[0] == '0' && s[1]) || strlen(s) > 3)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int finish(struct pfx *p, int flags, const char *orig, char *err, size_t errlen)
{
	char buf[PFX_STRLEN];

	if (!host_bits_set(p))
		return 0;
	if (flags & PFX_NORMALISE) {
		clear_host_bits(p);
		return 0;
	}
	clear_host_bits(p);
	snprintf(err, errlen, "\"%s\": host bits set (the network is %s)", orig,
		 pfx_format(p, buf, sizeof(buf)));
	return -EINVAL;
}

int pfx_parse(const char *s, int flags, struct pfx *out, char *err, size_t errlen)
{
	char buf[PFX_STRLEN + 1];
	const char *slash;
	unsigned len;
	int r;

	if (!s || !*s) {
		snprintf(err, errlen, "empty prefix");
		return -EINVAL;
	}
	if (strlen(s) >= sizeof(buf)) {
		snprintf(err, errlen, "\"%.40s...\": too long for a prefix", s);
		return -EINVAL;
	}
	slash = strchr(s, '/');
	if (!slash && !(flags & PFX_HOST)) {
		snprintf(err, errlen, "\"%s\": not a prefix (expected address/length)", s);
		return -EINVAL;
	}
	memcpy(buf, s, slash ? (size_t)(slash - s) : strlen(s));
	buf[slash ? (size_t)(slash - s) : strlen(s)] = '\0';
	if (parse_addr(buf, out) < 0) {
		snprintf(err, errlen, "\"%s\": \"%s\" is not an IPv4 or IPv6 address", s, buf);
		return -EINVAL;
	}
	if (slash) {
		r = parse_len(slash + 1, pfx_maxlen(out->family), &len);
		if (r < 0) {
			snprintf(err, errlen, "\"%s\": bad prefix length \"%s\" (0-%u)", s,
				 slash + 1, pfx_maxlen(out->family));
			return -EINVAL;
		}
		out->len = (uint8_t)len;
	}
	return finish(out, flags, s, err, errlen);
}

int pfx_from_netmask(const char *addr, const char *mask, int flags, struct pfx *out, char *err,
		     size_t errlen)
{
	struct pfx m;
	uint32_t v;
	unsigned len;
	char orig[2 * INET_ADDRSTRLEN + 2];

	if (!addr || !mask || pfx_addr_parse(addr, out) < 0 || out->family != AF_INET) {
		snprintf(err, errlen, "\"%s\" is not an IPv4 address", addr ? addr : "");
		return -EINVAL;
	}
	if (pfx_addr_parse(mask, &m) < 0 || m.family != AF_INET) {
		snprintf(err, errlen, "\"%s\" is not an IPv4 netmask", mask);
		return -EINVAL;
	}
	v = (uint32_t)m.addr[0] << 24 | (uint32_t)m.addr[1] << 16 | (uint32_t)m.addr[2] << 8 |
	    m.addr[3];
	len = (unsigned)__builtin_popcount(v);
	if (len && v != (uint32_t)(0xffffffffu << (32 - len))) {
		snprintf(err, errlen, "\"%s\" is not a contiguous netmask", mask);
		return -EINVAL;
	}
	out->len = (uint8_t)len;
	snprintf(orig, sizeof(orig), "%s %s", addr, mask);
	return finish(out, flags, orig, err, errlen);
}

const char *pfx_format_addr(const struct pfx *p, char *buf, size_t len)
{
	if (!inet_ntop(p->family, p->addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

const char *pfx_format(const struct pfx *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	snprintf(buf, len, "%s/%u", pfx_format_addr(p, a, sizeof(a)), p->len);
	return buf;
}

int pfx_format_netmask(const struct pfx *p, char *buf, size_t len)
{
	uint8_t m[4];

	if (p->family != AF_INET)
		return -EAFNOSUPPORT;
	for (unsigned i = 0; i < 4; i++)
		m[i] = mask_byte(p->len, i);
	if (!inet_ntop(AF_INET, m, buf, (socklen_t)len))
		return -ENOSPC;
	return 0;
}

/* Do a and b agree on their first `bits` bits? */
static bool same_bits(const struct pfx *a, const struct pfx *b, unsigned bits)
{
	for (unsigned i = 0; i < pfx_addrlen(a); i++) {
		uint8_t m = mask_byte(bits, i);

		if ((a->addr[i] & m) != (b->addr[i] & m))
			return false;
	}
	return true;
}

bool pfx_contains(const struct pfx *outer, const struct pfx *inner)
{
	return outer->family == inner->family && outer->len <= inner->len &&
	       same_bits(outer, inner, outer->len);
}

bool pfx_overlaps(const struct pfx *a, const struct pfx *b)
{
	return a->family == b->family && same_bits(a, b, a->len < b->len ? a->len : b->len);
}

bool pfx_equal(const struct pfx *a, const struct pfx *b)
{
	return pfx_cmp(a, b) == 0;
}

bool pfx_list_equal(const struct pfx_list *a, const struct pfx_list *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!pfx_equal(&a->v[i], &b->v[i]))
			return false;
	return true;
}

int pfx_cmp(const struct pfx *a, const struct pfx *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	r = memcmp(a->addr, b->addr, pfx_addrlen(a));
	if (r)
		return r < 0 ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return 0;
}

void pfx_first(const struct pfx *p, struct pfx *out)
{
	*out = *p;
	clear_host_bits(out);
	out->len = (uint8_t)pfx_maxlen(p->family);
}

void pfx_last(const struct pfx *p, struct pfx *out)
{
	*out = *p;
	for (unsigned i = 0; i < pfx_addrlen(p); i++)
		out->addr[i] |= (uint8_t)~mask_byte(p->len, i);
	out->len = (uint8_t)pfx_maxlen(p->family);
}

int pfx_list_add(struct pfx_list *l, const struct pfx *p, size_t max)
{
	struct pfx *v;

	for (size_t i = 0; i < l->n; i++)
		if (pfx_equal(&l->v[i], p))
			return 0;
	if (l->n >= max)
		return -E2BIG;
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n++] = *p;
	return 0;
}

void pfx_list_free(struct pfx_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

const struct pfx *pfx_list_overlap(const struct pfx_list *l, const struct pfx *p)
{
	for (size_t i = 0; i < l->n; i++)
		if (pfx_overlaps(&l->v[i], p))
			return &l->v[i];
	return NULL;
}

bool pfx_list_contains(const struct pfx_list *l, const struct pfx *p)
{
	for (size_t i = 0; i < l->n; i++)
		if (pfx_contains(&l->v[i], p))
			return true;
	return false;
}

const char *pfx_list_format(const struct pfx_list *l, const char *sep, char *buf, size_t len)
{
	char a[PFX_STRLEN];
	size_t o = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < l->n && o + 1 < len; i++) {
		snprintf(buf + o, len - o, "%s%s", i ? sep : "",
			 pfx_format(&l->v[i], a, sizeof(a)));
		o = strlen(buf);
	}
	return buf;
}
