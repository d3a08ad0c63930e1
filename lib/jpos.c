// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "jpos.h"

#define JPOS_PATH_MAX  512
#define JPOS_DEPTH_MAX 64

struct walker {
	const char *s;
	size_t len, i;
	int line, col;
	const char *target;
	int found_line, found_col;
	bool found;
	char path[JPOS_PATH_MAX];
};

static void advance(struct walker *w)
{
	unsigned char c = (unsigned char)w->s[w->i++];

	if (c == '\n') {
		w->line++;
		w->col = 1;
	} else if ((c & 0xc0) != 0x80) {
		w->col++;
	}
}

static void skip_ws(struct walker *w)
{
	while (w->i < w->len && strchr(" \t\r\n", w->s[w->i]))
		advance(w);
}

static void mark(struct walker *w, int line, int col)
{
	if (!w->found && strcmp(w->path, w->target) == 0) {
		w->found = true;
		w->found_line = line;
		w->found_col = col;
	}
}

/* Reads a string; copies its decoded text (simple escapes) into out. */
static int read_string(struct walker *w, char *out, size_t outlen)
{
	size_t o = 0;

	if (w->i >= w->len || w->s[w->i] != '"')
		return -EINVAL;
	advance(w);
	while (w->i < w->len && w->s[w->i] != '"') {
		char c = w->s[w->i];

		if (c == '\\' && w->i + 1 < w->len) {
			advance(w);
			c = w->s[w->i];
			switch (c) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			default:
				break; /* '"', '\\', '/'; \u kept as 'u' */
			}
		}
		if (out && o + 1 < outlen)
			out[o++] = c;
		advance(w);
	}
	if (w->i >= w->len)
		return -EINVAL;
	advance(w);
	if (out)
		out[o] = '\0';
	return 0;
}

static int walk_value(struct walker *w, int depth);

static int walk_members(struct walker *w, int depth, bool array)
{
	size_t base = strlen(w->path);
	unsigned idx = 0;
	char close = array ? ']' : '}';

	advance(w);
	skip_ws(w);
	if (w->i < w->len && w->s[w->i] == close) {
		advance(w);
		return 0;
	}
	for (;;) {
		int line, col, r;

		skip_ws(w);
		line = w->line;
		col = w->col;
		if (array) {
			snprintf(w->path + base, sizeof(w->path) - base, "[%u]", idx++);
		} else {
			char key[256];

			if (read_string(w, key, sizeof(key)) < 0)
				return -EINVAL;
			snprintf(w->path + base, sizeof(w->path) - base, "%s%s", base ? "." : "",
				 key);
			skip_ws(w);
			if (w->i >= w->len || w->s[w->i] != ':')
				return -EINVAL;
			advance(w);
		}
		mark(w, line, col);
		skip_ws(w);
		r = walk_value(w, depth + 1);
		w->path[base] = '\0';
		if (r < 0)
			return r;
		skip_ws(w);
		if (w->i >= w->len)
			return -EINVAL;
		if (w->s[w->i] == close) {
			advance(w);
			return 0;
		}
		if (w->s[w->i] != ',')
			return -EINVAL;
		advance(w);
	}
}

static int walk_value(struct walker *w, int depth)
{
	if (depth > JPOS_DEPTH_MAX || w->i >= w->len)
		return -EINVAL;
	switch (w->s[w->i]) {
	case '{':
		return walk_members(w, depth, false);
	case '[':
		return walk_members(w, depth, true);
	case '"':
		return read_string(w, NULL, 0);
	default:
		/* number, true, false, null */
		while (w->i < w->len && !strchr(",]} \t\r\n", w->s[w->i]))
			advance(w);
		return 0;
	}
}

int jpos_find(const char *text, size_t len, const char *path, int *line, int *col)
{
	struct walker w = { .s = text, .len = len, .line = 1, .col = 1, .target = path };

	skip_ws(&w);
	mark(&w, w.line, w.col);
	walk_value(&w, 0);
	if (!w.found)
		return -ENOENT;
	*line = w.found_line;
	*col = w.found_col;
	return 0;
}
