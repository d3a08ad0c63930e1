// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VICI decoder (vici.h): segments, packets and messages as strongSwan's
 * vici plugin frames them, and the IKE_SAs of its list-sa events. Pure: no
 * sockets; every length is checked against what is left before use.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vici.h"

#define DEPTH_MAX 64 /* sections nested deeper than this are refused */

static int bad(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (len)
		vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

ssize_t vici_frame(const uint8_t *buf, size_t len)
{
	uint32_t n;

	if (len < 4)
		return 0;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	if (n == 0 || n > VICI_SEGMENT_MAX)
		return -EMSGSIZE;
	return len - 4 < n ? 0 : (ssize_t)n + 4;
}

static bool named(uint8_t type)
{
	return type == VICI_CMD_REQUEST || type == VICI_EVENT_REGISTER ||
	       type == VICI_EVENT_UNREGISTER || type == VICI_EVENT;
}

int vici_packet(const uint8_t *data, size_t len, struct vici_pkt *pkt, char *err, size_t errlen)
{
	size_t off = 1;

	if (!len)
		return bad(err, errlen, "an empty packet");
	if (data[0] > VICI_EVENT)
		return bad(err, errlen, "unknown packet type %u", data[0]);
	pkt->type = data[0];
	pkt->name[0] = '\0';
	if (named(pkt->type)) {
		if (len < 2 || len - 2 < data[1])
			return bad(err, errlen, "packet type %u: its name is cut short", data[0]);
		memcpy(pkt->name, data + 2, data[1]);
		pkt->name[data[1]] = '\0';
		if (strlen(pkt->name) != data[1])
			return bad(err, errlen, "packet type %u: a NUL byte in its name", data[0]);
		off = 2 + (size_t)data[1];
	}
	pkt->msg = data + off;
	pkt->len = len - off;
	return 0;
}

/* One element of a message, as the walker hands it over. */
struct elem {
	uint8_t type;
	char name[VICI_NAME_MAX + 1];
	const uint8_t *val;
	size_t vlen;
	unsigned depth; /* sections open around it (a SECTION_START: before it) */
};

/* Reads the element at *off into e, checking the grammar against the
 * sections open (*depth) and the list open (*in_list). */
static int next_elem(const uint8_t *m, size_t len, size_t *off, unsigned *depth, bool *in_list,
		     struct elem *e, char *err, size_t errlen)
{
	size_t o = *off;

	e->type = m[o++];
	e->name[0] = '\0';
	e->val = NULL;
	e->vlen = 0;
	e->depth = *depth;
	if (e->type < VICI_SECTION_START || e->type > VICI_LIST_END)
		return bad(err, errlen, "unknown element type %u at byte %zu", e->type, o - 1);
	if (e->type == VICI_SECTION_START || e->type == VICI_KEY_VALUE ||
	    e->type == VICI_LIST_START) {
		if (o >= len || len - o - 1 < m[o])
			return bad(err, errlen, "a name cut short at byte %zu", o);
		memcpy(e->name, m + o + 1, m[o]);
		e->name[m[o]] = '\0';
		if (strlen(e->name) != m[o])
			return bad(err, errlen, "a NUL byte in the name at byte %zu", o);
		o += 1 + (size_t)m[o];
	}
	if (e->type == VICI_KEY_VALUE || e->type == VICI_LIST_ITEM) {
		if (len - o < 2)
			return bad(err, errlen, "a value's length cut short at byte %zu", o);
		e->vlen = (size_t)m[o] << 8 | m[o + 1];
		o += 2;
		if (len - o < e->vlen)
			return bad(err, errlen, "a value of %zu bytes cut short at byte %zu",
				   e->vlen, o);
		e->val = m + o;
		o += e->vlen;
	}
	if (*in_list != (e->type == VICI_LIST_ITEM || e->type == VICI_LIST_END))
		return bad(err, errlen,
			   *in_list ? "element type %u inside a list (byte %zu)"
				    : "element type %u outside a list (byte %zu)",
			   e->type, *off);
	switch (e->type) {
	case VICI_SECTION_START:
		if (*depth >= DEPTH_MAX)
			return bad(err, errlen, "sections nested deeper than %d", DEPTH_MAX);
		(*depth)++;
		break;
	case VICI_SECTION_END:
		if (!*depth)
			return bad(err, errlen, "a section end without a section (byte %zu)", *off);
		(*depth)--;
		break;
	case VICI_LIST_START:
		*in_list = true;
		break;
	case VICI_LIST_END:
		*in_list = false;
		break;
	}
	*off = o;
	return 0;
}

/* Calls fn for each element; checks the whole message first, so that fn
 * never sees a message that turns out malformed. */
static int walk(const uint8_t *m, size_t len, int (*fn)(const struct elem *e, void *arg), void *arg,
		char *err, size_t errlen)
{
	for (int pass = 0; pass < (fn ? 2 : 1); pass++) {
		unsigned depth = 0;
		bool in_list = false;
		struct elem e;
		int r;

		for (size_t off = 0; off < len;) {
			if ((r = next_elem(m, len, &off, &depth, &in_list, &e, err, errlen)) < 0)
				return r;
			if (pass == 1 && (r = fn(&e, arg)) < 0)
				return r;
		}
		if (depth || in_list)
			return bad(err, errlen, "%s left open at the end",
				   in_list ? "a list" : "a section");
	}
	return 0;
}

int vici_msg_check(const uint8_t *msg, size_t len, char *err, size_t errlen)
{
	return walk(msg, len, NULL, NULL, err, errlen);
}

/* --- list-sa: the IKE_SAs --- */

struct sas {
	struct vici_ike *v;
	size_t n, cap;
	struct vici_ike *cur; /* the IKE_SA open (depth 1), or NULL */
	bool in_children;     /* inside its child-sas (depth 2) */
	bool in_child;	      /* inside one CHILD_SA (depth 3) */
	bool in_ts;	      /* inside that CHILD_SA's remote-ts list */
};

/* value as text into buf (cut to fit) */
static void text(const struct elem *e, char *buf, size_t len)
{
	size_t n = e->vlen < len - 1 ? e->vlen : len - 1;

	memcpy(buf, e->val, n);
	buf[n] = '\0';
}

/* A traffic selector "10.1.0.0/16", "10.1.0.0/16[tcp/80]", "10.1.2.3": its
 * prefix; a range ("10.0.0.1-10.0.0.9") or "dynamic" is not one. */
static bool ts_prefix(const struct elem *e, struct pfx *out)
{
	char s[128], *b;

	if (e->vlen >= sizeof(s) || memchr(e->val, '\0', e->vlen))
		return false;
	text(e, s, sizeof(s));
	if ((b = strchr(s, '[')))
		*b = '\0';
	return pfx_parse(s, PFX_HOST | PFX_NORMALISE, out, NULL, 0) == 0;
}

static int on_sa_elem(const struct elem *e, void *arg)
{
	struct sas *s = arg;

	if (e->type == VICI_SECTION_START && e->depth == 0) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 4;
			struct vici_ike *v = realloc(s->v, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			s->v = v;
			s->cap = cap;
		}
		s->cur = &s->v[s->n++];
		*s->cur = (struct vici_ike){ 0 };
		snprintf(s->cur->name, sizeof(s->cur->name), "%s", e->name);
		return 0;
	}
	if (!s->cur)
		return 0; /* the root's keys ("up") */
	if (e->type == VICI_SECTION_START && e->depth == 1)
		s->in_children = strcmp(e->name, "child-sas") == 0;
	else if (e->type == VICI_SECTION_START && e->depth == 2 && s->in_children)
		s->in_child = true, s->cur->nchild++;
	else if (e->type == VICI_SECTION_END && e->depth == 3)
		s->in_child = false;
	else if (e->type == VICI_SECTION_END && e->depth == 2)
		s->in_children = false;
	else if (e->type == VICI_SECTION_END && e->depth == 1)
		s->cur = NULL;
	else if (e->type == VICI_KEY_VALUE && e->depth == 1) {
		if (strcmp(e->name, "state") == 0)
			text(e, s->cur->state, sizeof(s->cur->state));
		else if (strcmp(e->name, "remote-id") == 0 && e->vlen <= CFG_PEER_ID_MAX &&
			 !memchr(e->val, '\0', e->vlen))
			text(e, s->cur->remote_id, sizeof(s->cur->remote_id));
		else if (strcmp(e->name, "remote-port") == 0) {
			char q[8], *end;
			unsigned long v;

			s->cur->remote_port = 0;
			if (e->vlen && e->vlen < sizeof(q) && !memchr(e->val, '\0', e->vlen) &&
			    e->val[0] >= '1' && e->val[0] <= '9') {
				text(e, q, sizeof(q));
				v = strtoul(q, &end, 10);
				if (!*end && v <= 65535)
					s->cur->remote_port = (uint16_t)v;
			}
		} else if (strcmp(e->name, "remote-host") == 0) {
			char h[PFX_STRLEN];

			s->cur->has_host = e->vlen < sizeof(h) && !memchr(e->val, '\0', e->vlen);
			if (s->cur->has_host) {
				text(e, h, sizeof(h));
				s->cur->has_host = pfx_addr_parse(h, &s->cur->remote_host) == 0;
			}
		}
	} else if (e->type == VICI_LIST_START)
		s->in_ts = s->in_child && e->depth == 3 && strcmp(e->name, "remote-ts") == 0;
	else if (e->type == VICI_LIST_END)
		s->in_ts = false;
	else if (e->type == VICI_LIST_ITEM && s->in_ts) {
		struct pfx p;

		if (ts_prefix(e, &p) && pfx_list_add(&s->cur->remote_ts, &p, 1024) == -ENOMEM)
			return -ENOMEM;
	}
	return 0;
}

void vici_ikes_free(struct vici_ike *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pfx_list_free(&v[i].remote_ts);
	free(v);
}

int vici_decode_sas(const uint8_t *msg, size_t len, struct vici_ike **v, size_t *n, char *err,
		    size_t errlen)
{
	struct sas s = { .v = *v, .n = *n, .cap = *n };
	size_t had = *n;
	int r = walk(msg, len, on_sa_elem, &s, err, errlen);

	if (r < 0) {
		/* *v may have moved: keep what was there, drop the new ones */
		for (size_t i = had; i < s.n; i++)
			pfx_list_free(&s.v[i].remote_ts);
		*v = s.v;
		*n = had;
		return r;
	}
	*v = s.v;
	*n = s.n;
	return 0;
}

ssize_t vici_encode(uint8_t *out, size_t cap, uint8_t type, const char *name, const uint8_t *msg,
		    size_t mlen)
{
	size_t nl = name ? strlen(name) : 0, n = 1 + (name ? 1 + nl : 0) + mlen;

	if (nl > VICI_NAME_MAX || n > VICI_SEGMENT_MAX || cap < 4 || cap - 4 < n)
		return -EMSGSIZE;
	out[0] = (uint8_t)(n >> 24);
	out[1] = (uint8_t)(n >> 16);
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	out[4] = type;
	if (name) {
		out[5] = (uint8_t)nl;
		memcpy(out + 6, name, nl);
	}
	if (mlen)
		memcpy(out + 4 + 1 + (name ? 1 + nl : 0), msg, mlen);
	return (ssize_t)(n + 4);
}

const char *vici_identity(const struct vici_ike *v, size_t n, const struct pfx *addr, uint16_t port,
			  const struct vici_ike **ike, bool *ambiguous)
{
	const char *id = NULL;

	*ike = NULL;
	*ambiguous = false;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].has_host || !pfx_equal(&v[i].remote_host, addr))
			continue;
		if (port && v[i].remote_port && v[i].remote_port != port)
			continue; /* another peer behind the same NAT address */
		if (!*ike)
			*ike = &v[i];
		if (!v[i].remote_id[0])
			continue;
		if (id && strcmp(id, v[i].remote_id)) {
			*ambiguous = true;
			return NULL;
		}
		id = v[i].remote_id;
	}
	return id;
}
