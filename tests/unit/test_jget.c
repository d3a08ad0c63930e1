// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "jget.h"

/* A JSON object from text the test knows to be valid. */
static json_t *obj(const char *text)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);

	if (!o)
		fail_msg("%s: %s", text, je.text);
	return o;
}

static void test_type_names(void **state)
{
	json_t *o = obj("{\"o\":{}, \"a\":[], \"s\":\"x\", \"i\":1, \"r\":1.5, \"t\":true, "
			"\"f\":false, \"n\":null}");

	assert_string_equal(jget_type_name(json_object_get(o, "o")), "an object");
	assert_string_equal(jget_type_name(json_object_get(o, "a")), "an array");
	assert_string_equal(jget_type_name(json_object_get(o, "s")), "a string");
	assert_string_equal(jget_type_name(json_object_get(o, "i")), "an integer");
	assert_string_equal(jget_type_name(json_object_get(o, "r")), "a number");
	assert_string_equal(jget_type_name(json_object_get(o, "t")), "a boolean");
	assert_string_equal(jget_type_name(json_object_get(o, "f")), "a boolean");
	assert_string_equal(jget_type_name(json_object_get(o, "n")), "null");
	assert_string_equal(jget_type_name(NULL), "nothing");
	json_decref(o);
}

static void test_type(void **state)
{
	json_t *o = obj("{\"i\":1, \"r\":2.0, \"f\":false}");
	char m[128] = "";

	assert_int_equal(
		jget_type(json_object_get(o, "i"), JSON_INTEGER, "an integer", m, sizeof(m)),
		JGET_OK);
	assert_string_equal(m, ""); /* nothing written on success */
	assert_int_equal(
		jget_type(json_object_get(o, "r"), JSON_INTEGER, "an integer", m, sizeof(m)),
		JGET_TYPE);
	assert_string_equal(m, "expected an integer, got a number");
	/* JSON_TRUE stands for either boolean. */
	assert_int_equal(jget_type(json_object_get(o, "f"), JSON_TRUE, "a flag", m, sizeof(m)),
			 JGET_OK);
	assert_int_equal(jget_type(o, JSON_ARRAY, "a list", m, sizeof(m)), JGET_TYPE);
	assert_string_equal(m, "expected a list, got an object");
	assert_int_equal(jget_type(NULL, JSON_OBJECT, "an object", m, sizeof(m)), JGET_TYPE);
	assert_string_equal(m, "expected an object, got nothing");
	json_decref(o);
}

static void test_keys(void **state)
{
	static const char *const known[] = { "a", "b", NULL };
	json_t *good = obj("{\"a\":1, \"b\":2}"), *bad = obj("{\"a\":1, \"zz\":2, \"yy\":3}");
	const char *k = NULL;
	char m[64];

	assert_int_equal(jget_keys(good, known, &k, m, sizeof(m)), JGET_OK);
	assert_null(k);
	assert_int_equal(jget_keys(bad, known, &k, m, sizeof(m)), JGET_KEY);
	assert_string_equal(k, "zz"); /* the first, in document order */
	assert_string_equal(m, "unknown key");
	json_decref(good);
	json_decref(bad);
}

static void test_bool(void **state)
{
	json_t *o = obj("{\"t\":true, \"f\":false, \"s\":\"true\", \"i\":1}");
	bool b = true;
	char m[128];

	assert_int_equal(jget_bool(o, "t", 0, &b, m, sizeof(m)), JGET_OK);
	assert_true(b);
	assert_int_equal(jget_bool(o, "f", JGET_REQUIRED, &b, m, sizeof(m)), JGET_OK);
	assert_false(b);
	b = true;
	assert_int_equal(jget_bool(o, "absent", 0, &b, m, sizeof(m)), JGET_ABSENT);
	assert_true(b); /* untouched: the caller's default */
	assert_int_equal(jget_bool(o, "absent", JGET_REQUIRED, &b, m, sizeof(m)), JGET_MISSING);
	assert_string_equal(m, "missing required key \"absent\"");
	assert_int_equal(jget_bool(o, "s", 0, &b, m, sizeof(m)), JGET_TYPE);
	assert_string_equal(m, "expected true or false, got a string");
	assert_int_equal(jget_bool(o, "i", 0, &b, m, sizeof(m)), JGET_TYPE);
	assert_string_equal(m, "expected true or false, got an integer");
	assert_true(b);
	json_decref(o);
}

static void test_int(void **state)
{
	json_t *o = obj("{\"lo\":10, \"hi\":20, \"under\":9, \"over\":21, \"neg\":-5, "
			"\"real\":15.0, \"big\":9223372036854775807}");
	json_int_t i = 42;
	char m[128];

	assert_int_equal(jget_int(o, "lo", 0, 10, 20, &i, m, sizeof(m)), JGET_OK);
	assert_int_equal(i, 10);
	assert_int_equal(jget_int(o, "hi", 0, 10, 20, &i, m, sizeof(m)), JGET_OK);
	assert_int_equal(i, 20);
	i = 42;
	assert_int_equal(jget_int(o, "under", 0, 10, 20, &i, m, sizeof(m)), JGET_RANGE);
	assert_string_equal(m, "9 is out of range (10-20)");
	assert_int_equal(jget_int(o, "over", 0, 10, 20, &i, m, sizeof(m)), JGET_RANGE);
	assert_string_equal(m, "21 is out of range (10-20)");
	assert_int_equal(jget_int(o, "neg", 0, 0, 86400, &i, m, sizeof(m)), JGET_RANGE);
	assert_string_equal(m, "-5 is out of range (0-86400)");
	assert_int_equal(jget_int(o, "big", 0, 0, (json_int_t)1 << 53, &i, m, sizeof(m)),
			 JGET_RANGE);
	assert_int_equal(jget_int(o, "real", 0, 10, 20, &i, m, sizeof(m)), JGET_TYPE);
	assert_string_equal(m, "expected an integer, got a number");
	assert_int_equal(i, 42); /* untouched by every failure */
	assert_int_equal(jget_int(o, "absent", 0, 10, 20, &i, m, sizeof(m)), JGET_ABSENT);
	assert_int_equal(jget_int(o, "absent", JGET_REQUIRED, 10, 20, &i, m, sizeof(m)),
			 JGET_MISSING);
	assert_string_equal(m, "missing required key \"absent\"");
	assert_int_equal(i, 42);
	json_decref(o);
}

static void test_str(void **state)
{
	json_t *o = obj("{\"s\":\"abc\", \"e\":\"\", \"i\":7}");
	const char *s = "default";
	char m[128];

	json_object_set_new(o, "nul", json_stringn("a\0b", 3));
	assert_int_equal(
		jget_str(o, "s", JGET_REQUIRED | JGET_NONEMPTY, JGET_ANYLEN, &s, m, sizeof(m)),
		JGET_OK);
	assert_string_equal(s, "abc");
	/* The bound is inclusive. */
	assert_int_equal(jget_str(o, "s", 0, 3, &s, m, sizeof(m)), JGET_OK);
	s = "default";
	assert_int_equal(jget_str(o, "s", 0, 2, &s, m, sizeof(m)), JGET_LONG);
	assert_string_equal(m, "longer than 2 bytes");
	assert_int_equal(jget_str(o, "e", 0, JGET_ANYLEN, &s, m, sizeof(m)), JGET_OK);
	assert_string_equal(s, "");
	s = "default";
	assert_int_equal(jget_str(o, "e", JGET_NONEMPTY, JGET_ANYLEN, &s, m, sizeof(m)),
			 JGET_EMPTY);
	assert_string_equal(m, "must be a non-empty string without NUL bytes");
	assert_int_equal(jget_str(o, "nul", JGET_NONEMPTY, JGET_ANYLEN, &s, m, sizeof(m)),
			 JGET_NUL);
	assert_string_equal(m, "must be a non-empty string without NUL bytes");
	assert_int_equal(jget_str(o, "nul", 0, JGET_ANYLEN, &s, m, sizeof(m)), JGET_NUL);
	assert_string_equal(m, "must be a string without NUL bytes");
	assert_int_equal(jget_str(o, "i", 0, JGET_ANYLEN, &s, m, sizeof(m)), JGET_TYPE);
	assert_string_equal(m, "expected a string, got an integer");
	assert_int_equal(jget_str(o, "absent", 0, JGET_ANYLEN, &s, m, sizeof(m)), JGET_ABSENT);
	assert_int_equal(jget_str(o, "absent", JGET_REQUIRED, JGET_ANYLEN, &s, m, sizeof(m)),
			 JGET_MISSING);
	assert_string_equal(m, "missing required key \"absent\"");
	assert_string_equal(s, "default");
	json_decref(o);
}

static void test_word(void **state)
{
	static const char *const words[] = { "closed", "open", NULL };
	json_t *o = obj("{\"c\":\"closed\", \"o\":\"open\", \"x\":\"maybe\", \"i\":1, "
			"\"p\":\"close\"}");
	int k = -1;
	char m[256];

	json_object_set_new(o, "nul", json_stringn("open\0x", 6));
	assert_int_equal(jget_word(o, "c", 0, words, &k, m, sizeof(m)), JGET_OK);
	assert_int_equal(k, 0);
	assert_int_equal(jget_word(o, "o", JGET_REQUIRED, words, &k, m, sizeof(m)), JGET_OK);
	assert_int_equal(k, 1);
	k = -1;
	assert_int_equal(jget_word(o, "x", 0, words, &k, m, sizeof(m)), JGET_WORD);
	assert_string_equal(m, "\"maybe\" is not one of \"closed\", \"open\"");
	/* A prefix of a word is not the word. */
	assert_int_equal(jget_word(o, "p", 0, words, &k, m, sizeof(m)), JGET_WORD);
	assert_int_equal(jget_word(o, "i", 0, words, &k, m, sizeof(m)), JGET_TYPE);
	assert_string_equal(m, "expected one of \"closed\", \"open\", got an integer");
	/* "open" followed by a NUL byte is not "open". */
	assert_int_equal(jget_word(o, "nul", 0, words, &k, m, sizeof(m)), JGET_NUL);
	assert_int_equal(jget_word(o, "absent", 0, words, &k, m, sizeof(m)), JGET_ABSENT);
	assert_int_equal(jget_word(o, "absent", JGET_REQUIRED, words, &k, m, sizeof(m)),
			 JGET_MISSING);
	assert_int_equal(k, -1);
	json_decref(o);
}

/* A word list longer than the message's list is cut, and the message stays terminated. */
static void test_word_long_list(void **state)
{
	static const char *const words[] = {
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		"cccccccccccccccccccccccccccccc", "dddddddddddddddddddddddddddddd",
		"eeeeeeeeeeeeeeeeeeeeeeeeeeeeee", NULL
	};
	json_t *o = obj("{\"x\":\"zzz\"}");
	int k;
	char m[512], tiny[8];

	assert_int_equal(jget_word(o, "x", 0, words, &k, m, sizeof(m)), JGET_WORD);
	assert_true(strncmp(m, "\"zzz\" is not one of \"aaa", 24) == 0);
	assert_null(strstr(m, "eeee")); /* past the list's 127 characters */
	assert_true(strlen(m) < sizeof(m));
	assert_int_equal(jget_word(o, "x", 0, words, &k, tiny, sizeof(tiny)), JGET_WORD);
	assert_string_equal(tiny, "\"zzz\" i");
	json_decref(o);
}

/* The status alone is enough: every getter takes a NULL message. */
static void test_no_message(void **state)
{
	static const char *const words[] = { "a", NULL };
	json_t *o = obj("{\"n\":null}");
	const char *s, *k;
	json_int_t i;
	bool b;
	int w;

	assert_int_equal(jget_bool(o, "n", 0, &b, NULL, 0), JGET_TYPE);
	assert_int_equal(jget_int(o, "n", 0, 0, 1, &i, NULL, 0), JGET_TYPE);
	assert_int_equal(jget_str(o, "n", 0, JGET_ANYLEN, &s, NULL, 0), JGET_TYPE);
	assert_int_equal(jget_word(o, "n", 0, words, &w, NULL, 0), JGET_TYPE);
	assert_int_equal(jget_str(o, "absent", JGET_REQUIRED, JGET_ANYLEN, &s, NULL, 0),
			 JGET_MISSING);
	assert_int_equal(jget_keys(o, words, &k, NULL, 0), JGET_KEY);
	assert_int_equal(jget_type(o, JSON_ARRAY, "x", NULL, 0), JGET_TYPE);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names), cmocka_unit_test(test_type),
		cmocka_unit_test(test_keys),	   cmocka_unit_test(test_bool),
		cmocka_unit_test(test_int),	   cmocka_unit_test(test_str),
		cmocka_unit_test(test_word),	   cmocka_unit_test(test_word_long_list),
		cmocka_unit_test(test_no_message),
	};

	return cmocka_run_group_tests_name("jget", tests, NULL, NULL);
}
