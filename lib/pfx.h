/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IPv4/IPv6 prefixes: the one CIDR type of vpcroute.
 */
#ifndef VR_PFX_H
#define VR_PFX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct pfx {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t len;	/* prefix length */
	uint8_t addr[16];
};

/* A counted array of prefixes. */
struct pfx_list {
	struct pfx *v;
	size_t n;
};

/* Longest text form: an IPv6 address, '/', three digits. */
#define PFX_STRLEN (INET6_ADDRSTRLEN + 4)
/* Error text buffers handed to parsers. */
#define PFX_ERRLEN 160

/* Flags for pfx_parse and pfx_from_netmask. */
#define PFX_NORMALISE 0x1 /* clear host bits instead of refusing them */
#define PFX_HOST      0x2 /* a bare address means /32 or /128 */

int pfx_parse(const char *s, int flags, struct pfx *out, char *err, size_t errlen);
/* OpenVPN's "iroute 192.168.1.128 255.255.255.128" form (IPv4 only). */
int pfx_from_netmask(const char *addr, const char *mask, int flags, struct pfx *out, char *err,
		     size_t errlen);
/* A host address (no length) as a /32 or /128. */
int pfx_addr_parse(const char *s, struct pfx *out);

const char *pfx_format(const struct pfx *p, char *buf, size_t len);
/* Address without the length, e.g. "10.1.2.7". */
const char *pfx_format_addr(const struct pfx *p, char *buf, size_t len);
/* IPv4 netmask of the prefix, e.g. "255.255.255.128"; -EAFNOSUPPORT for IPv6. */
int pfx_format_netmask(const struct pfx *p, char *buf, size_t len);

bool pfx_contains(const struct pfx *outer, const struct pfx *inner);
bool pfx_overlaps(const struct pfx *a, const struct pfx *b);
bool pfx_equal(const struct pfx *a, const struct pfx *b);
/* The same prefixes in the same order. */
bool pfx_list_equal(const struct pfx_list *a, const struct pfx_list *b);
/* Appends p to l unless an equal prefix is there; -E2BIG past max entries. */
int pfx_list_add(struct pfx_list *l, const struct pfx *p, size_t max);
void pfx_list_free(struct pfx_list *l);
/* The first entry of l that overlaps p, or NULL. */
const struct pfx *pfx_list_overlap(const struct pfx_list *l, const struct pfx *p);
/* Whether some entry of l contains p. */
bool pfx_list_contains(const struct pfx_list *l, const struct pfx *p);
/* The entries joined by sep ("" when empty), cut to fit buf; returns buf. */
const char *pfx_list_format(const struct pfx_list *l, const char *sep, char *buf, size_t len);

/* Total order: family, then address, then length. */
int pfx_cmp(const struct pfx *a, const struct pfx *b);
/* Address bytes: 4 or 16. */
size_t pfx_addrlen(const struct pfx *p);
/* Network and broadcast (all host bits set) addresses of a prefix as /32,/128. */
void pfx_first(const struct pfx *p, struct pfx *out);
void pfx_last(const struct pfx *p, struct pfx *out);

#endif
