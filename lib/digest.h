/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SHA-256 (FIPS 180-4), self-contained: the digest of the configuration
 * bytes the agent and each plugin loaded, so both provably run the same
 * policy (doc/protocol.md, "policy"). No OpenSSL in the plugin.
 */
#ifndef VR_DIGEST_H
#define VR_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define DIGEST_LEN    32
#define DIGEST_HEXLEN (2 * DIGEST_LEN + 1) /* lower-case hex and a NUL */

struct sha256 {
	uint32_t h[8];
	uint64_t len; /* bytes so far */
	uint8_t buf[64];
	size_t nbuf;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t out[DIGEST_LEN]);
/* The digest of len bytes at data as 64 lower-case hex digits. */
void digest_hex(const void *data, size_t len, char out[DIGEST_HEXLEN]);
/* 64 lower-case hex digits and nothing else. */
int digest_hex_valid(const char *s);

#endif
