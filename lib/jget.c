// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jget.h"
#include "strdist.h"

static int say(char *msg, size_t msglen, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int say(char *msg, size_t msglen, int status, const char *fmt, ...)
{
	va_list ap;

	if (msg && msglen) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return status;
}

const char *jget_type_name(const json_t *v)
{
	if (!v)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

int jget_type(const json_t *v, json_type t, const char *what, char *msg, size_t msglen)
{
	if (v &&
	    (json_typeof(v) == t || ((t == JSON_TRUE || t == JSON_FALSE) && json_is_boolean(v))))
		return JGET_OK;
	return say(msg, msglen, JGET_TYPE, "expected %s, got %s", what, jget_type_name(v));
}

bool jget_annotation(const char *key)
{
	return key[0] == '_' || strcmp(key, "$schema") == 0;
}

int jget_keys_flags(json_t *o, const char *const *known, int flags, const char **bad, char *msg,
		    size_t msglen)
{
	const char *key, *near;
	json_t *v;

	json_object_foreach(o, key, v)
	{
		size_t i;

		for (i = 0; known[i] && strcmp(key, known[i]); i++)
			;
		if (known[i] || ((flags & JGET_ANNOTATED) && jget_annotation(key)))
			continue;
		*bad = key;
		if ((flags & JGET_SUGGEST) && (near = strdist_closest(key, known)))
			return say(msg, msglen, JGET_KEY, "unknown key (did you mean \"%s\"?)",
				   near);
		return say(msg, msglen, JGET_KEY, "unknown key");
	}
	return JGET_OK;
}

int jget_keys(json_t *o, const char *const *known, const char **bad, char *msg, size_t msglen)
{
	return jget_keys_flags(o, known, 0, bad, msg, msglen);
}

/* The member, JGET_ABSENT or JGET_MISSING. */
static int member(const json_t *o, const char *key, int flags, json_t **v, char *msg, size_t msglen)
{
	*v = json_object_get(o, key);
	if (*v)
		return JGET_OK;
	if (!(flags & JGET_REQUIRED))
		return JGET_ABSENT;
	return say(msg, msglen, JGET_MISSING, "missing required key \"%s\"", key);
}

int jget_bool(const json_t *o, const char *key, int flags, bool *out, char *msg, size_t msglen)
{
	json_t *v;
	int r;

	if ((r = member(o, key, flags, &v, msg, msglen)) ||
	    (r = jget_type(v, JSON_TRUE, "true or false", msg, msglen)))
		return r;
	*out = json_is_true(v);
	return JGET_OK;
}

int jget_int(const json_t *o, const char *key, int flags, json_int_t min, json_int_t max,
	     json_int_t *out, char *msg, size_t msglen)
{
	json_t *v;
	json_int_t i;
	int r;

	if ((r = member(o, key, flags, &v, msg, msglen)) ||
	    (r = jget_type(v, JSON_INTEGER, "an integer", msg, msglen)))
		return r;
	i = json_integer_value(v);
	if (i < min || i > max)
		return say(msg, msglen, JGET_RANGE,
			   "%" JSON_INTEGER_FORMAT " is out of range (%" JSON_INTEGER_FORMAT
			   "-%" JSON_INTEGER_FORMAT ")",
			   i, min, max);
	*out = i;
	return JGET_OK;
}

/* v is a string without NUL bytes, non-empty if asked. */
static int plain_string(const json_t *v, int flags, char *msg, size_t msglen)
{
	size_t n = json_string_length(v);
	int r = 0;

	if (n == 0 && (flags & JGET_NONEMPTY))
		r = JGET_EMPTY;
	else if (strlen(json_string_value(v)) != n)
		r = JGET_NUL;
	if (!r)
		return JGET_OK;
	return say(msg, msglen, r, "must be a %sstring without NUL bytes",
		   flags & JGET_NONEMPTY ? "non-empty " : "");
}

int jget_str(const json_t *o, const char *key, int flags, size_t maxlen, const char **out,
	     char *msg, size_t msglen)
{
	json_t *v;
	int r;

	if ((r = member(o, key, flags, &v, msg, msglen)) ||
	    (r = jget_type(v, JSON_STRING, "a string", msg, msglen)) ||
	    (r = plain_string(v, flags, msg, msglen)))
		return r;
	if (json_string_length(v) > maxlen)
		return say(msg, msglen, JGET_LONG, "longer than %zu bytes", maxlen);
	*out = json_string_value(v);
	return JGET_OK;
}

int jget_word(const json_t *o, const char *key, int flags, const char *const *words, int *out,
	      char *msg, size_t msglen)
{
	char list[128] = "";
	json_t *v;
	int r;

	if ((r = member(o, key, flags, &v, msg, msglen)))
		return r;
	if (json_is_string(v)) {
		if ((r = plain_string(v, 0, msg, msglen)))
			return r;
		for (int i = 0; words[i]; i++)
			if (strcmp(json_string_value(v), words[i]) == 0) {
				*out = i;
				return JGET_OK;
			}
	}
	for (int i = 0; words[i]; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"",
			 i ? ", " : "", words[i]);
	if (json_is_string(v))
		return say(msg, msglen, JGET_WORD, "\"%s\" is not one of %s", json_string_value(v),
			   list);
	return say(msg, msglen, JGET_TYPE, "expected one of %s, got %s", list, jget_type_name(v));
}
