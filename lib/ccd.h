/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * OpenVPN client-config-dir files: a real parser for the directives that
 * decide what a client announces and gets (iroute, iroute-ipv6,
 * ifconfig-push, ifconfig-ipv6-push, push, push-reset, push-remove, disable).
 * Any other directive is an error, so no line reaches OpenVPN unchecked.
 */
#ifndef VR_CCD_H
#define VR_CCD_H

#include <stdbool.h>
#include <stddef.h>

#include "pfx.h"

#define CCD_MAX_SIZE 65536
#define CCD_LINE_MAX 256 /* OpenVPN's OPTION_LINE_SIZE */
#define CCD_ERRLEN   320
#define CCD_DEFAULT  "DEFAULT" /* OpenVPN's fallback file */

struct ccd {
	bool found;		 /* a file was read */
	char path[512];		 /* which one */
	struct pfx_list iroutes; /* iroute and iroute-ipv6 */
	bool has_address;	 /* ifconfig-push LOCAL MASK */
	struct pfx address;	 /* host prefix */
	struct pfx netmask;	 /* as given, /32 host form */
	bool has_address6;	 /* ifconfig-ipv6-push ADDR/LEN */
	struct pfx address6;	 /* address with the given length */
	bool disable;
	char **push; /* push/push-reset/push-remove lines, re-rendered */
	size_t npush;
};

/* Parse a CCD text; name labels errors ("NAME:LINE: ..."). */
int ccd_parse(const char *name, const char *buf, size_t len, struct ccd *out, char *err,
	      size_t errlen);
/*
 * Read DIR/CN, else DIR/DEFAULT, as OpenVPN does. No file is not an error
 * (out->found is false). cn must already be a valid common name.
 */
int ccd_load(const char *dir, const char *cn, struct ccd *out, char *err, size_t errlen);
void ccd_free(struct ccd *c);

#endif
