// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * BIRD's control socket: the query (a UNIX stream socket, no birdc) and the
 * parser of `show protocols all`. See bird.h for the reply's shape.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bird.h"

/* One line of a reply: its code (that of the line it continues), text, kind. */
struct line {
	unsigned code;
	const char *text;
	size_t len;
	bool last; /* "CODE text": the reply ends here */
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * The line at buf[*at] (up to its newline, which must be there), decoded;
 * *at moves past it. Returns 1, 0 (an asynchronous line: skip it), -1 (not a
 * reply line) or -2 (no newline: cut short).
 */
static int next_line(const char *buf, size_t len, size_t *at, unsigned prev, struct line *l)
{
	const char *s = buf + *at, *nl = memchr(s, '\n', len - *at);
	size_t n;

	if (!nl)
		return -2;
	n = (size_t)(nl - s);
	*at += n + 1;
	if (n >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
	    (s[4] == '-' || s[4] == ' ')) {
		l->code = (unsigned)((s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
				     (s[3] - '0'));
		l->text = s + 5;
		l->len = n - 5;
		l->last = s[4] == ' ';
		return 1;
	}
	if (n == 4 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]))
		return -1;
	if (n >= 1 && s[0] == ' ') {
		l->code = prev;
		l->text = s + 1;
		l->len = n - 1;
		l->last = false;
		return prev ? 1 : -1;
	}
	if (n >= 1 && s[0] == '+')
		return 0;
	return -1;
}

size_t bird_reply_end(const char *buf, size_t len)
{
	size_t at = 0;
	unsigned prev = 0;
	struct line l;
	int r;

	while (at < len) {
		if ((r = next_line(buf, len, &at, prev, &l)) < 0)
			return r == -2 ? 0 : at; /* garbage ends it: the parser says why */
		if (r == 0)
			continue;
		prev = l.code;
		if (l.last)
			return at;
	}
	return 0;
}

/* text without its leading and trailing blanks */
static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
		(*n)--;
}

static void copy(char *dst, size_t size, const char *s, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* The next blank-separated word of s[*at..n). */
static bool word(const char *s, size_t n, size_t *at, const char **w, size_t *wn)
{
	while (*at < n && (s[*at] == ' ' || s[*at] == '\t'))
		(*at)++;
	*w = s + *at;
	while (*at < n && s[*at] != ' ' && s[*at] != '\t')
		(*at)++;
	*wn = (size_t)(s + *at - *w);
	return *wn > 0;
}

/* A decimal number of at most 19 digits. */
static bool number(const char *s, size_t n, unsigned long long *v)
{
	if (!n || n > 19)
		return false;
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		*v = *v * 10 + (unsigned long long)(s[i] - '0');
	}
	return true;
}

/* "key:" at the start of t; *v and *vn: the value after it, trimmed. */
static bool field(const char *t, size_t n, const char *key, const char **v, size_t *vn)
{
	size_t k = strlen(key);

	if (n < k || memcmp(t, key, k) != 0)
		return false;
	*v = t + k;
	*vn = n - k;
	trim(v, vn);
	return true;
}

/* "Routes: 1 imported, 2 exported, 1 preferred" (2.0; 1.x adds "filtered"). */
static int routes(struct bird_session *b, const char *v, size_t n)
{
	size_t at = 0, wn, nn;
	const char *w, *num;
	unsigned long long x;

	while (word(v, n, &at, &num, &nn)) {
		if (!number(num, nn, &x) || !word(v, n, &at, &w, &wn))
			return -1;
		if (w[wn - 1] == ',')
			wn--;
		if (wn == 8 && memcmp(w, "imported", 8) == 0)
			b->imported += x;
		else if (wn == 8 && memcmp(w, "exported", 8) == 0)
			b->exported += x;
	}
	return 0;
}

/* One line of a BGP protocol's details (code 1006). */
static int detail(struct bird_session *b, const char *t, size_t n)
{
	unsigned long long x;
	const char *v;
	size_t vn;

	trim(&t, &n);
	if (field(t, n, "BGP state:", &v, &vn))
		copy(b->bgp_state, sizeof(b->bgp_state), v, vn);
	else if (field(t, n, "Neighbor address:", &v, &vn))
		copy(b->neighbor, sizeof(b->neighbor), v, vn);
	else if (field(t, n, "Last error:", &v, &vn))
		copy(b->last_error, sizeof(b->last_error), v, vn);
	else if (field(t, n, "Neighbor AS:", &v, &vn)) {
		if (!number(v, vn, &x))
			return -1;
		b->neighbor_as = x;
	} else if (field(t, n, "Local AS:", &v, &vn)) {
		if (!number(v, vn, &x))
			return -1;
		b->local_as = x;
	} else if (field(t, n, "Routes:", &v, &vn))
		return routes(b, v, vn);
	return 0;
}

/* "NAME PROTO TABLE STATE SINCE INFO" (code 1002); NULL: not a BGP protocol. */
static int summary(struct bird_sessions *out, const char *t, size_t n, struct bird_session **cur)
{
	const char *w[4];
	size_t wn[4], at = 0;
	struct bird_session *v;

	*cur = NULL;
	for (int i = 0; i < 4; i++)
		if (!word(t, n, &at, &w[i], &wn[i]))
			return -1;
	if (wn[1] != 3 || memcmp(w[1], "BGP", 3) != 0)
		return 0;
	if (out->n >= BIRD_MAX_SESSION)
		return -2;
	if (!(v = realloc(out->v, (out->n + 1) * sizeof(*v))))
		return -ENOMEM;
	out->v = v;
	*cur = &v[out->n++];
	memset(*cur, 0, sizeof(**cur));
	copy((*cur)->name, sizeof((*cur)->name), w[0], wn[0]);
	copy((*cur)->state, sizeof((*cur)->state), w[3], wn[3]);
	return 0;
}

int bird_parse_protocols(const char *buf, size_t len, struct bird_sessions *out, char *err,
			 size_t errlen)
{
	struct bird_session *cur = NULL;
	size_t at = 0, lineno = 0;
	unsigned prev = 0;
	bool done = false;
	struct line l;
	int r;

	out->v = NULL;
	out->n = 0;
	while (at < len && !done) {
		lineno++;
		if ((r = next_line(buf, len, &at, prev, &l)) == 0)
			continue;
		if (r == -2) {
			snprintf(err, errlen, "line %zu: the reply is cut short (no end line)",
				 lineno);
			goto fail;
		}
		if (r < 0) {
			snprintf(err, errlen, "line %zu: not a line of BIRD's reply", lineno);
			goto fail;
		}
		prev = l.code;
		if (l.code >= 8000) {
			snprintf(err, errlen, "line %zu: BIRD says: %.*s", lineno,
				 (int)(l.len > 160 ? 160 : l.len), l.text);
			goto fail;
		}
		if (l.code == 1) /* the greeting: "0001 BIRD 2.0.12 ready." */
			continue;
		if (l.code == 1002) {
			if ((r = summary(out, l.text, l.len, &cur)) == -ENOMEM) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			if (r < 0) {
				snprintf(err, errlen,
					 r == -2 ? "line %zu: more than %d BGP protocols"
						 : "line %zu: a protocol line without its columns",
					 lineno, BIRD_MAX_SESSION);
				goto fail;
			}
		} else if (l.code == 1006 && cur && detail(cur, l.text, l.len) < 0) {
			snprintf(err, errlen, "line %zu: a number expected in \"%.*s\"", lineno,
				 (int)(l.len > 80 ? 80 : l.len), l.text);
			goto fail;
		}
		done = l.last;
	}
	if (!done) {
		snprintf(err, errlen, "after line %zu: the reply is cut short (no end line)",
			 lineno);
		goto fail;
	}
	return 0;
fail:
	bird_sessions_free(out);
	return -EINVAL;
}

void bird_sessions_free(struct bird_sessions *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* --- the socket --- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Reads until buf[from..] holds a complete reply; returns its end, or -errno. */
static long read_reply(int fd, char **buf, size_t *len, size_t *cap, size_t from,
		       long long deadline)
{
	size_t end;

	while (!(end = bird_reply_end(*buf + from, *len - from))) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		if ((r = poll(&p, 1, (int)left)) < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		if (*cap - *len < 4096) {
			char *b;

			if (*cap >= BIRD_MAX_REPLY)
				return -EMSGSIZE;
			if (!(b = realloc(*buf, *cap * 2 + 1)))
				return -ENOMEM;
			*buf = b;
			*cap = *cap * 2;
		}
		n = read(fd, *buf + *len, *cap - *len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		*len += (size_t)n;
		(*buf)[*len] = '\0';
	}
	return (long)(from + end);
}

int bird_query(const char *path, const char *cmd, int timeout_ms, char **reply, size_t *len,
	       char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	long long deadline = now_ms() + timeout_ms;
	size_t n = 0, cap = 16384, clen = strlen(cmd);
	char *buf = NULL;
	long greet, end;
	int fd = -1, r;

	*reply = NULL;
	*len = 0;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (!(buf = malloc(cap + 1))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	buf[0] = '\0';
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(-r));
		goto fail;
	}
	if ((greet = read_reply(fd, &buf, &n, &cap, 0, deadline)) < 0) {
		r = (int)greet;
		snprintf(err, errlen, "%s: no greeting: %s", path, strerror(-r));
		goto fail;
	}
	for (size_t off = 0; off < clen + 1;) {
		ssize_t w = off < clen ? write(fd, cmd + off, clen - off) : write(fd, "\n", 1);
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (w < 0 && errno == EAGAIN && now_ms() < deadline) {
			poll(&p, 1, (int)(deadline - now_ms()));
			continue;
		}
		if (w <= 0) {
			r = w < 0 ? -errno : -EIO;
			snprintf(err, errlen, "%s: cannot send the command: %s", path,
				 strerror(-r));
			goto fail;
		}
		off += (size_t)w;
	}
	if ((end = read_reply(fd, &buf, &n, &cap, (size_t)greet, deadline)) < 0) {
		r = (int)end;
		snprintf(err, errlen, "%s: no reply to \"%s\": %s", path, cmd, strerror(-r));
		goto fail;
	}
	close(fd);
	memmove(buf, buf + greet, (size_t)(end - greet));
	buf[end - greet] = '\0';
	*reply = buf;
	*len = (size_t)(end - greet);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}
