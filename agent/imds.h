/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Answers of the EC2 instance metadata service (IMDSv2): a session token,
 * plain-text values (ids, a region, a MAC, CIDR blocks, a role name) and the
 * role's credentials as JSON. Every answer is checked; nothing is trusted
 * because it came from a link-local address.
 */
#ifndef VR_IMDS_H
#define VR_IMDS_H

#include <stddef.h>
#include <time.h>

#include "pfx.h"

#define IMDS_ERRLEN	 200
#define IMDS_TOKEN_MAX	 1024
#define IMDS_ID_MAX	 64
#define IMDS_ROLE_MAX	 128
#define IMDS_KEYID_MAX	 128
#define IMDS_SECRET_MAX	 128
#define IMDS_SESSION_MAX 4096

struct imds_creds {
	char key_id[IMDS_KEYID_MAX + 1];
	char secret[IMDS_SECRET_MAX + 1];
	char token[IMDS_SESSION_MAX + 1];
	time_t expiration;
};

/* The session token of PUT /latest/api/token: visible ASCII only. */
int imds_parse_token(const char *buf, size_t len, char *out, size_t outlen, char *err,
		     size_t errlen);
/* An id such as "i-0abc..." for prefix "i-": the prefix and 1-40 of [0-9a-f]. */
int imds_parse_id(const char *buf, size_t len, const char *prefix, char *out, size_t outlen,
		  char *err, size_t errlen);
/* placement/region: a region name (cfg_valid_region). */
int imds_parse_region(const char *buf, size_t len, char *out, size_t outlen, char *err,
		      size_t errlen);
/* mac: six lower-case hex pairs separated by ':' (out needs 18 bytes). */
int imds_parse_mac(const char *buf, size_t len, char *out, size_t outlen, char *err, size_t errlen);
/* vpc-ipv4-cidr-blocks and the like: one prefix per line, at least one. */
int imds_parse_cidrs(const char *buf, size_t len, struct pfx_list *out, char *err, size_t errlen);
/* iam/security-credentials/: the role name (the first line). */
int imds_parse_role(const char *buf, size_t len, char *out, size_t outlen, char *err,
		    size_t errlen);
/* iam/security-credentials/ROLE: Code "Success", the keys and Expiration. */
int imds_parse_creds(const char *buf, size_t len, struct imds_creds *c, char *err, size_t errlen);
/* The first byte of s outside visible ASCII (0x21-0x7e), or NULL: what
 * credentials and tokens may hold, since they go into HTTP headers. */
const char *aws_invisible(const char *s);
/* "2026-11-22T10:00:00Z" (UTC, optional fraction) to seconds since the epoch. */
int aws_parse_time(const char *s, time_t *out);

#endif
