/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Typed members of a JSON object (jansson), checked in one place for both
 * readers of JSON in lib/: the configuration (cfg.c) and the protocol
 * (proto.c). A getter returns a status that says exactly what is wrong and
 * writes a short message without a location ("expected a string, got an
 * integer"); the caller says where, in its own words (cfg: key path, file,
 * line and column; proto: message type and key). msg may be NULL.
 *
 * *out is written only on JGET_OK, so a caller presets its default and
 * treats JGET_ABSENT as "use it".
 */
#ifndef VR_JGET_H
#define VR_JGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum jget_status {
	JGET_OK = 0,
	JGET_ABSENT,  /* the key is absent and optional: not an error */
	JGET_MISSING, /* the key is absent and JGET_REQUIRED */
	JGET_TYPE,    /* the value has another JSON type */
	JGET_EMPTY,   /* "" and JGET_NONEMPTY */
	JGET_NUL,     /* a string with a NUL byte */
	JGET_LONG,    /* a string longer than its bound */
	JGET_RANGE,   /* an integer outside [min, max] */
	JGET_WORD,    /* a string that is none of the words */
	JGET_KEY,     /* an object key that is none of the known ones */
};

/* flags */
#define JGET_REQUIRED 0x1 /* absent is JGET_MISSING, not JGET_ABSENT */
#define JGET_NONEMPTY 0x2 /* strings: "" is JGET_EMPTY */

/* jget_str's maxlen when any length will do. */
#define JGET_ANYLEN SIZE_MAX

/* "an object", "a string", "an integer", "a number", "a boolean", "null". */
const char *jget_type_name(const json_t *v);

/* v has type t (JSON_TRUE or JSON_FALSE: either boolean), else JGET_TYPE and
 * "expected <what>, got <type>". */
int jget_type(const json_t *v, json_type t, const char *what, char *msg, size_t msglen);

/* Every key of o is in the NULL-terminated known list, else JGET_KEY, *bad the first
 * key that is not and "unknown key". */
int jget_keys(json_t *o, const char *const *known, const char **bad, char *msg, size_t msglen);

/* jget_keys_flags' flags */
#define JGET_ANNOTATED 0x4 /* annotations (jget_annotation) are allowed and ignored */
#define JGET_SUGGEST   0x8 /* "unknown key (did you mean \"KEY\"?)" with the closest key */

/* jget_keys with flags; jget_keys(...) is jget_keys_flags(..., 0, ...). */
int jget_keys_flags(json_t *o, const char *const *known, int flags, const char **bad, char *msg,
		    size_t msglen);

/* An annotation for people and editors, not data: "$schema" or a key that begins with '_'. */
bool jget_annotation(const char *key);

int jget_bool(const json_t *o, const char *key, int flags, bool *out, char *msg, size_t msglen);

/* An integer (not a real) from min to max. */
int jget_int(const json_t *o, const char *key, int flags, json_int_t min, json_int_t max,
	     json_int_t *out, char *msg, size_t msglen);

/* A string without NUL bytes of at most maxlen bytes; *out points into o. */
int jget_str(const json_t *o, const char *key, int flags, size_t maxlen, const char **out,
	     char *msg, size_t msglen);

/* A string (without NUL bytes) equal to one of the NULL-terminated words; *out its index. */
int jget_word(const json_t *o, const char *key, int flags, const char *const *words, int *out,
	      char *msg, size_t msglen);

#endif
