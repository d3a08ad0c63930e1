// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replays every file of tests/fuzz/corpus/REPLAY_TARGET/ through that fuzz
 * target's entry point (tests/fuzz/fuzz_REPLAY_TARGET.c is linked in): the
 * seeds, and every input scripts/check kept after a fuzzer found a crash or a
 * sanitizer report, are regression cases of the unit tests, under ASan+UBSan
 * in the sanitizer build. A target's own checks (abort, __builtin_trap) fail
 * the test as they fail the fuzzer.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The file in a buffer of exactly its size, so ASan sees any read past it. */
static int replay(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		uint8_t chunk[4096];
		size_t r = fread(chunk, 1, sizeof(chunk), f);
		uint8_t *nb;

		if (r == 0)
			break;
		if (n + r > cap) {
			cap = n + r;
			if (!(nb = realloc(buf, cap))) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		memcpy(buf + n, chunk, r);
		n += r;
	}
	if (ferror(f)) {
		fprintf(stderr, "%s: read error\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(n ? buf : (const uint8_t *)"", n);
	free(buf);
	return 0;
}

static int visible(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int main(void)
{
	const char *top = getenv("top_srcdir");
	char dir[4096], path[8192];
	struct dirent **names;
	int n, failed = 0;

	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", top ? top : ".", REPLAY_TARGET);
	n = scandir(dir, &names, visible, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		printf("replay fuzz_%s %s\n", REPLAY_TARGET, names[i]->d_name);
		fflush(stdout);
		if (replay(path) < 0)
			failed = 1;
		free(names[i]);
	}
	free(names);
	if (n == 0) {
		fprintf(stderr, "%s: no corpus to replay\n", dir);
		return 1;
	}
	printf("fuzz_%s: %d inputs replayed\n", REPLAY_TARGET, n);
	return failed;
}
