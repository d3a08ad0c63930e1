// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cn.h"

bool cn_valid(const char *s, char *err, size_t errlen)
{
	size_t n;

	if (!s || !*s) {
		snprintf(err, errlen, "empty common name");
		return false;
	}
	n = strnlen(s, CN_MAX + 1);
	if (n > CN_MAX) {
		snprintf(err, errlen, "common name longer than %d characters", CN_MAX);
		return false;
	}
	if (s[0] == '.') {
		snprintf(err, errlen, "common name \"%s\" starts with '.'", s);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || c == '.' || c == '@')
			continue;
		if (c >= 0x20 && c < 0x7f)
			snprintf(err, errlen,
				 "common name \"%.*s\"... has the character '%c' at position %zu",
				 (int)i, s, c, i + 1);
		else
			snprintf(err, errlen,
				 "common name \"%.*s\"... has the byte 0x%02x at position %zu",
				 (int)i, s, c, i + 1);
		return false;
	}
	return true;
}
