// SPDX-License-Identifier: GPL-2.0-or-later
/* lib/digest.c: SHA-256 against the FIPS 180-4 / NIST example vectors. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "digest.h"

static void test_vectors(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		/* 448 bits: the padding takes a block of its own */
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		/* 896 bits */
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
		  "klm"
		  "nopqrlmnopqrsmnopqrstnopqrstu",
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	};
	char out[DIGEST_HEXLEN];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		digest_hex(v[i].in, strlen(v[i].in), out);
		assert_string_equal(out, v[i].out);
	}
}

/* One million 'a', fed in pieces of every awkward size: the same digest. */
static void test_million_a_in_pieces(void **state)
{
	static const char want[] =
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	static const size_t steps[] = { 1, 7, 55, 56, 63, 64, 65, 1000, 4096 };
	char *a = malloc(1000000), out[DIGEST_HEXLEN];
	uint8_t d[DIGEST_LEN];

	assert_non_null(a);
	memset(a, 'a', 1000000);
	digest_hex(a, 1000000, out);
	assert_string_equal(out, want);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		struct sha256 s;
		size_t off = 0;

		sha256_init(&s);
		while (off < 1000000) {
			size_t n = 1000000 - off < steps[k] ? 1000000 - off : steps[k];

			sha256_update(&s, a + off, n);
			off += n;
		}
		sha256_final(&s, d);
		for (int i = 0; i < DIGEST_LEN; i++)
			snprintf(out + 2 * i, 3, "%02x", d[i]);
		assert_string_equal(out, want);
	}
	free(a);
}

static void test_hex_valid(void **state)
{
	char out[DIGEST_HEXLEN];

	digest_hex("x", 1, out);
	assert_true(digest_hex_valid(out));
	assert_false(digest_hex_valid(""));
	out[63] = '\0';
	assert_false(digest_hex_valid(out)); /* 63 digits */
	digest_hex("x", 1, out);
	out[0] = 'A';
	assert_false(digest_hex_valid(out)); /* upper case */
	digest_hex("x", 1, out);
	out[5] = 'g';
	assert_false(digest_hex_valid(out));
	assert_false(digest_hex_valid(
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8550"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_million_a_in_pieces),
		cmocka_unit_test(test_hex_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
