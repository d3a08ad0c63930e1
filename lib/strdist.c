// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <limits.h>
#include <string.h>
#include <sys/param.h>

#include "strdist.h"

unsigned strdist(const char *a, const char *b)
{
	size_t la = strnlen(a, STRDIST_MAX), lb = strnlen(b, STRDIST_MAX);
	unsigned d[STRDIST_MAX][STRDIST_MAX];

	if (la >= STRDIST_MAX || lb >= STRDIST_MAX)
		return UINT_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] != b[j - 1];

			d[i][j] =
				MIN(MIN(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
				d[i][j] = MIN(d[i][j], d[i - 2][j - 2] + 1);
		}
	return d[la][lb];
}

const char *strdist_closest(const char *word, const char *const *words)
{
	size_t n = strnlen(word, STRDIST_MAX);
	unsigned limit = n < 4 ? 1 : n < 9 ? 2 : 3, min = UINT_MAX;
	const char *best = NULL;

	for (size_t i = 0; words[i]; i++) {
		unsigned d = strdist(word, words[i]);

		if (d <= limit && d < n && d < min) {
			min = d;
			best = words[i];
		}
	}
	return best;
}
