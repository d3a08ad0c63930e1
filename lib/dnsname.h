/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host names in vpcroute.conf (a rule's "to") and the resolver's servers
 * (dns.servers): their shape only; the agent resolves them (agent/dns.c).
 */
#ifndef VR_DNSNAME_H
#define VR_DNSNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 1035: 253 characters in text form (without the root's dot), labels of 1-63. */
#define DNSNAME_MAX  253
#define DNSLABEL_MAX 63
/* "[IPV6]:PORT" */
#define DNSSERVER_STRLEN 56

/*
 * A host name as RFC 1123 writes it: labels of letters, digits and '-'
 * (not first nor last), 1-63 characters each, 253 in all; one final '.'
 * allowed. A name whose last label is all digits is not a name (it is an
 * IPv4 address or a typo of one). When valid, out (DNSNAME_MAX + 1 bytes, or
 * NULL) gets its lower-case form without the final dot. false with why filled.
 */
bool dnsname_valid(const char *s, char *out, char *why, size_t len);

/*
 * Whether s is meant as a host name rather than an address or prefix: it
 * has no ':' and its last label (before any '/') is not all digits.
 */
bool dnsname_looks_like(const char *s);

/*
 * A DNS server: "ADDRESS" (port 53), "IPV4:PORT" or "[IPV6]:PORT", into the
 * normalised form c-ares takes ("1.2.3.4:53", "[fd00::1]:53"), out of
 * DNSSERVER_STRLEN bytes. 0, or -EINVAL with why filled.
 */
int dnsserver_parse(const char *s, char *out, char *why, size_t len);

#endif
