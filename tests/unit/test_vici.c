// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VICI decoder (agent/vici_decode.c) on hand-built messages as
 * strongSwan's README spells them, and the client (agent/vici.c) against a
 * server played here on a UNIX socket in a temporary directory: the
 * registrations and list-sas it sends, the table a list-sa stream makes, a
 * malformed message that closes the connection and changes nothing, and the
 * reconnection once the server is back.
 */
#include "config.h"

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "unit.h"

#include "loop.h"
#include "vici.h"

/* --- a message builder --- */

struct msg {
	uint8_t b[8192];
	size_t len;
};

static void put(struct msg *m, const void *p, size_t n)
{
	assert_true(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void byte(struct msg *m, uint8_t v)
{
	put(m, &v, 1);
}

static void name(struct msg *m, const char *s)
{
	byte(m, (uint8_t)strlen(s));
	put(m, s, strlen(s));
}

static void value(struct msg *m, const char *s)
{
	byte(m, (uint8_t)(strlen(s) >> 8));
	byte(m, (uint8_t)strlen(s));
	put(m, s, strlen(s));
}

static void sec(struct msg *m, const char *n)
{
	byte(m, VICI_SECTION_START);
	name(m, n);
}

static void sec_end(struct msg *m)
{
	byte(m, VICI_SECTION_END);
}

static void kv(struct msg *m, const char *k, const char *v)
{
	byte(m, VICI_KEY_VALUE);
	name(m, k);
	value(m, v);
}

static void list(struct msg *m, const char *n)
{
	byte(m, VICI_LIST_START);
	name(m, n);
}

static void item(struct msg *m, const char *v)
{
	byte(m, VICI_LIST_ITEM);
	value(m, v);
}

static void list_end(struct msg *m)
{
	byte(m, VICI_LIST_END);
}

/* One IKE_SA as list-sa streams it, with one CHILD_SA, its remote-port
 * port (NULL: none listed). */
static void ike_sa_port(struct msg *m, const char *conn, const char *host, const char *port,
			const char *id, const char *ts1, const char *ts2)
{
	sec(m, conn);
	kv(m, "uniqueid", "7");
	kv(m, "version", "2");
	kv(m, "state", "ESTABLISHED");
	kv(m, "local-host", "198.51.100.1");
	kv(m, "local-port", "4500");
	kv(m, "remote-host", host);
	if (port)
		kv(m, "remote-port", port);
	kv(m, "remote-id", id);
	list(m, "tasks-queued");
	list_end(m);
	sec(m, "child-sas");
	sec(m, "net-1");
	kv(m, "state", "INSTALLED");
	list(m, "local-ts");
	item(m, "10.0.0.0/16");
	list_end(m);
	list(m, "remote-ts");
	item(m, ts1);
	if (ts2)
		item(m, ts2);
	list_end(m);
	sec_end(m);
	sec_end(m);
	sec_end(m);
}

static void ike_sa(struct msg *m, const char *conn, const char *host, const char *id,
		   const char *ts1, const char *ts2)
{
	ike_sa_port(m, conn, host, "500", id, ts1, ts2);
}

/* --- the decoder --- */

static void test_readme_example(void **state)
{
	/* the encoding example of strongSwan's vici README */
	static const uint8_t ex[] = { 3,   4,	'k', 'e', 'y', '1', 0,	 6,   'v', 'a', 'l',
				      'u', 'e', '1', 1,	  8,   's', 'e', 'c', 't', 'i', 'o',
				      'n', '1', 1,   11,  's', 'u', 'b', '-', 's', 'e', 'c',
				      't', 'i', 'o', 'n', 3,   4,   'k', 'e', 'y', '2', 0,
				      6,   'v', 'a', 'l', 'u', 'e', '2', 2,   4,   5,	'l',
				      'i', 's', 't', '1', 5,   0,   5,	 'i', 't', 'e', 'm',
				      '1', 5,	0,   5,	  'i', 't', 'e', 'm', '2', 6,	2 };
	char err[160];

	assert_int_equal(vici_msg_check(ex, sizeof(ex), err, sizeof(err)), 0);
	/* every cut of it is malformed but the one after key1 = value1 */
	for (size_t n = 1; n < sizeof(ex); n++)
		assert_int_equal(vici_msg_check(ex, n, err, sizeof(err)), n == 14 ? 0 : -EBADMSG);
}

static void test_list_sa(void **state)
{
	struct msg m = { 0 };
	struct vici_ike *v = NULL;
	size_t n = 0;
	char err[160];

	ike_sa(&m, "site1", "203.0.113.7", "@site1.example", "10.1.0.0/16", "10.2.0.0/16[tcp/80]");
	assert_int_equal(vici_decode_sas(m.b, m.len, &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].name, "site1");
	assert_string_equal(v[0].state, "ESTABLISHED");
	assert_string_equal(v[0].remote_id, "@site1.example");
	assert_true(v[0].has_host);
	assert_true(pfx_equal(&v[0].remote_host, P("203.0.113.7")));
	assert_int_equal(v[0].nchild, 1);
	assert_int_equal(v[0].remote_ts.n, 2);
	assert_true(pfx_equal(&v[0].remote_ts.v[0], P("10.1.0.0/16")));
	assert_true(pfx_equal(&v[0].remote_ts.v[1], P("10.2.0.0/16")));
	/* a second event appends */
	m.len = 0;
	ike_sa(&m, "site2", "2001:db8::2", "CN=site2, O=Example", "fd00:2::/48", "dynamic");
	assert_int_equal(vici_decode_sas(m.b, m.len, &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[1].remote_id, "CN=site2, O=Example");
	assert_int_equal(v[1].remote_ts.n, 1); /* "dynamic" is no prefix */
	assert_int_equal(v[0].remote_port, 500);
	vici_ikes_free(v, n);
}

/* remote-port: a NAT's mapping tells two sites behind one address apart;
 * anything but a port 1-65535 in decimal is no port (0). */
static void test_list_sa_port(void **state)
{
	static const struct {
		const char *text;
		uint16_t port;
	} cases[] = { { "4500", 4500 }, { "1", 1 },	{ "65535", 65535 }, { "65536", 0 },
		      { "0", 0 },	{ "04500", 0 }, { "45x", 0 },	    { "", 0 },
		      { "-1", 0 },	{ "+45", 0 },	{ " 45", 0 },	    { "99999999", 0 },
		      { NULL, 0 } };
	struct vici_ike *v = NULL;
	size_t n = 0;
	char err[160];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct msg m = { 0 };

		ike_sa_port(&m, "site", "203.0.113.7", cases[i].text, "@s", "10.1.0.0/16", NULL);
		assert_int_equal(vici_decode_sas(m.b, m.len, &v, &n, err, sizeof(err)), 0);
		assert_int_equal(n, i + 1);
		if (v[i].remote_port != cases[i].port)
			fail_msg("remote-port \"%s\": %u, not %u",
				 cases[i].text ? cases[i].text : "(none)", v[i].remote_port,
				 cases[i].port);
	}
	vici_ikes_free(v, n);
}

static void test_malformed_changes_nothing(void **state)
{
	struct msg m = { 0 }, bad;
	struct vici_ike *v = NULL;
	size_t n = 0;
	char err[160];

	ike_sa(&m, "site1", "203.0.113.7", "@site1", "10.1.0.0/16", NULL);
	assert_int_equal(vici_decode_sas(m.b, m.len, &v, &n, err, sizeof(err)), 0);
	/* a section left open */
	bad = m;
	bad.len--;
	assert_int_equal(vici_decode_sas(bad.b, bad.len, &v, &n, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "left open"));
	assert_int_equal(n, 1);
	assert_string_equal(v[0].remote_id, "@site1");
	/* a list item outside a list */
	bad.len = 0;
	item(&bad, "x");
	assert_int_equal(vici_msg_check(bad.b, bad.len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "outside a list"));
	/* a key in a list, a list in a list */
	bad.len = 0;
	list(&bad, "l");
	kv(&bad, "k", "v");
	list_end(&bad);
	assert_int_equal(vici_msg_check(bad.b, bad.len, err, sizeof(err)), -EBADMSG);
	bad.len = 0;
	list(&bad, "l");
	list(&bad, "m");
	assert_int_equal(vici_msg_check(bad.b, bad.len, err, sizeof(err)), -EBADMSG);
	/* a section end without a section; an unknown element */
	bad.len = 0;
	sec_end(&bad);
	assert_int_equal(vici_msg_check(bad.b, bad.len, err, sizeof(err)), -EBADMSG);
	bad.len = 0;
	byte(&bad, 9);
	assert_int_equal(vici_msg_check(bad.b, bad.len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "unknown element type 9"));
	/* a value longer than what is left */
	bad.len = 0;
	byte(&bad, VICI_KEY_VALUE);
	name(&bad, "k");
	byte(&bad, 0xff);
	byte(&bad, 0xff);
	byte(&bad, 'x');
	assert_int_equal(vici_msg_check(bad.b, bad.len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "cut short"));
	/* a NUL in a name */
	bad.len = 0;
	byte(&bad, VICI_SECTION_START);
	byte(&bad, 2);
	byte(&bad, 'a');
	byte(&bad, 0);
	sec_end(&bad);
	assert_int_equal(vici_msg_check(bad.b, bad.len, err, sizeof(err)), -EBADMSG);
	/* sections nested past the limit */
	bad.len = 0;
	for (int i = 0; i < 70; i++)
		sec(&bad, "s");
	for (int i = 0; i < 70; i++)
		sec_end(&bad);
	assert_int_equal(vici_msg_check(bad.b, bad.len, err, sizeof(err)), -EBADMSG);
	assert_int_equal(n, 1);
	vici_ikes_free(v, n);
}

static void test_long_identity_is_unknown(void **state)
{
	struct msg m = { 0 };
	struct vici_ike *v = NULL;
	size_t n = 0;
	char err[160], id[300];

	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	ike_sa(&m, "long", "203.0.113.9", id, "10.9.0.0/16", NULL);
	assert_int_equal(vici_decode_sas(m.b, m.len, &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].remote_id, ""); /* never a cut identity that could match */
	vici_ikes_free(v, n);
}

static void test_frame_and_packet(void **state)
{
	uint8_t b[64];
	struct vici_pkt p;
	char err[160];
	ssize_t n = vici_encode(b, sizeof(b), VICI_CMD_REQUEST, "list-sas", NULL, 0);

	assert_int_equal(n, 4 + 1 + 1 + 8);
	assert_int_equal(b[3], 10);
	assert_int_equal(vici_frame(b, (size_t)n), n);
	assert_int_equal(vici_frame(b, (size_t)n - 1), 0); /* more bytes needed */
	assert_int_equal(vici_frame(b, 3), 0);
	assert_int_equal(vici_packet(b + 4, (size_t)n - 4, &p, err, sizeof(err)), 0);
	assert_int_equal(p.type, VICI_CMD_REQUEST);
	assert_string_equal(p.name, "list-sas");
	assert_int_equal(p.len, 0);
	/* a name longer than the packet */
	b[5] = 200;
	assert_int_equal(vici_packet(b + 4, (size_t)n - 4, &p, err, sizeof(err)), -EBADMSG);
	/* lengths no client may trust: 0, past 512 KiB */
	memcpy(b, "\0\0\0\0", 4);
	assert_int_equal(vici_frame(b, 8), -EMSGSIZE);
	memcpy(b, "\x00\x08\x00\x01", 4);
	assert_int_equal(vici_frame(b, 8), -EMSGSIZE);
	memcpy(b, "\x7f\xff\xff\xff", 4);
	assert_int_equal(vici_frame(b, 8), -EMSGSIZE);
	memcpy(b, "\x00\x08\x00\x00", 4); /* exactly 512 KiB: wait for it */
	assert_int_equal(vici_frame(b, 8), 0);
	/* an unknown packet type; an unnamed response */
	b[0] = 8;
	assert_int_equal(vici_packet(b, 1, &p, err, sizeof(err)), -EBADMSG);
	b[0] = VICI_CMD_RESPONSE;
	assert_int_equal(vici_packet(b, 1, &p, err, sizeof(err)), 0);
	assert_string_equal(p.name, "");
	/* nothing fits a buffer too small */
	assert_int_equal(vici_encode(b, 8, VICI_EVENT_REGISTER, "child-updown", NULL, 0),
			 -EMSGSIZE);
}

static void test_identity(void **state)
{
	struct vici_ike v[3] = {
		{ .remote_id = "@a", .has_host = true, .remote_host = pfx_of("192.0.2.1") },
		{ .remote_id = "@a", .has_host = true, .remote_host = pfx_of("192.0.2.1") },
		{ .remote_id = "@b", .has_host = true, .remote_host = pfx_of("192.0.2.2") },
	};
	const struct vici_ike *ike;
	bool amb;

	assert_string_equal(vici_identity(v, 3, P("192.0.2.1"), 0, &ike, &amb), "@a");
	assert_ptr_equal(ike, &v[0]);
	assert_false(amb);
	assert_null(vici_identity(v, 3, P("192.0.2.9"), 0, &ike, &amb));
	assert_null(ike);
	/* two sites behind one address with different identities: none */
	snprintf(v[1].remote_id, sizeof(v[1].remote_id), "@c");
	assert_null(vici_identity(v, 3, P("192.0.2.1"), 0, &ike, &amb));
	assert_true(amb);
	/* the same two with NAT traversal ports: each port its own identity */
	v[0].remote_port = 4500;
	v[1].remote_port = 4501;
	assert_string_equal(vici_identity(v, 3, P("192.0.2.1"), 4500, &ike, &amb), "@a");
	assert_ptr_equal(ike, &v[0]);
	assert_false(amb);
	assert_string_equal(vici_identity(v, 3, P("192.0.2.1"), 4501, &ike, &amb), "@c");
	assert_ptr_equal(ike, &v[1]);
	assert_false(amb);
	/* a port neither has: no IKE_SA of that peer */
	assert_null(vici_identity(v, 3, P("192.0.2.1"), 4502, &ike, &amb));
	assert_null(ike);
	assert_false(amb);
	/* the port unknown on the tunnel's side: still undecidable */
	assert_null(vici_identity(v, 3, P("192.0.2.1"), 0, &ike, &amb));
	assert_true(amb);
	/* an IKE_SA without remote-port may be any port's: undecidable again */
	v[1].remote_port = 0;
	assert_null(vici_identity(v, 3, P("192.0.2.1"), 4500, &ike, &amb));
	assert_true(amb);
}

/* --- the client against a server played here --- */

struct srv {
	char dir[32], path[96];
	int lfd, cfd, epfd;
	unsigned changed;
	struct vici *v;
};

static void on_changed(void *ctx)
{
	((struct srv *)ctx)->changed++;
}

/* Runs the agent's side of the loop for up to ms. */
static void spin(struct srv *s, int ms)
{
	struct epoll_event ev[8];
	int n = epoll_wait(s->epfd, ev, 8, ms);

	for (int i = 0; i < n; i++) {
		struct watcher *w = ev[i].data.ptr;

		w->fn(w, ev[i].events);
	}
}

static void srv_listen(struct srv *s)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
}

/* Accepts the client, spinning its loop until it connects (ms at most). */
static void srv_accept(struct srv *s, int ms)
{
	struct pollfd p = { .fd = s->lfd, .events = POLLIN };

	for (int t = 0; t < ms && poll(&p, 1, 0) == 0; t += 50)
		spin(s, 50);
	assert_int_equal(poll(&p, 1, 0), 1);
	s->cfd = accept(s->lfd, NULL, NULL);
	assert_true(s->cfd >= 0);
}

/* Reads one packet of the client (spinning its loop meanwhile). */
static void srv_read(struct srv *s, uint8_t type, const char *name)
{
	uint8_t b[512];
	size_t len = 0;
	struct vici_pkt p;
	char err[160];
	ssize_t seg = 0, r;

	for (int t = 0; t < 200 && (seg = vici_frame(b, len)) == 0; t++) {
		spin(s, 10);
		r = recv(s->cfd, b + len, 4 + 1 + 1 + strlen(name) - len, MSG_DONTWAIT);
		if (r > 0)
			len += (size_t)r;
	}
	assert_true(seg > 0);
	assert_int_equal(vici_packet(b + 4, (size_t)seg - 4, &p, err, sizeof(err)), 0);
	assert_int_equal(p.type, type);
	assert_string_equal(p.name, name);
}

static void srv_send(struct srv *s, uint8_t type, const char *name, const struct msg *m)
{
	uint8_t b[sizeof(m->b) + 300];
	ssize_t n = vici_encode(b, sizeof(b), type, name, m ? m->b : NULL, m ? m->len : 0);

	assert_true(n > 0);
	assert_int_equal(send(s->cfd, b, (size_t)n, MSG_NOSIGNAL), n);
}

/* The handshake: three registrations confirmed, then list-sas answered
 * with the IKE_SAs of list (NULL: none). */
static void srv_handshake(struct srv *s, const struct msg *list)
{
	srv_read(s, VICI_EVENT_REGISTER, "ike-updown");
	srv_send(s, VICI_EVENT_CONFIRM, NULL, NULL);
	srv_read(s, VICI_EVENT_REGISTER, "child-updown");
	srv_send(s, VICI_EVENT_CONFIRM, NULL, NULL);
	srv_read(s, VICI_EVENT_REGISTER, "list-sa");
	srv_send(s, VICI_EVENT_CONFIRM, NULL, NULL);
	srv_read(s, VICI_CMD_REQUEST, "list-sas");
	if (list)
		srv_send(s, VICI_EVENT, "list-sa", list);
	srv_send(s, VICI_CMD_RESPONSE, NULL, NULL);
}

static void wait_changed(struct srv *s, unsigned n)
{
	for (int t = 0; t < 100 && s->changed < n; t++)
		spin(s, 20);
	assert_int_equal(s->changed, n);
}

static int srv_setup(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	snprintf(s->dir, sizeof(s->dir), "/tmp/vr-vici-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/charon.vici", s->dir);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->lfd = s->cfd = -1;
	*state = s;
	return 0;
}

static int srv_teardown(void **state)
{
	struct srv *s = *state;

	vici_close(s->v);
	if (s->cfd >= 0)
		close(s->cfd);
	if (s->lfd >= 0)
		close(s->lfd);
	close(s->epfd);
	unlink(s->path);
	rmdir(s->dir);
	free(s);
	return 0;
}

static void test_client_lists_and_follows(void **state)
{
	struct srv *s = *state;
	struct msg m = { 0 }, ev = { 0 };
	const struct vici_ike *v;
	size_t n;

	srv_listen(s);
	s->v = vici_open(s->epfd, s->path, on_changed, s);
	assert_non_null(s->v);
	srv_accept(s, 1000);
	ike_sa(&m, "site1", "203.0.113.7", "@site1", "10.1.0.0/16", NULL);
	srv_handshake(s, &m);
	wait_changed(s, 1);
	v = vici_ikes(s->v, &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].remote_id, "@site1");
	/* an event: the client lists again, the new list replaces the old */
	kv(&ev, "up", "yes");
	ike_sa(&ev, "site2", "203.0.113.8", "@site2", "10.2.0.0/16", NULL);
	srv_send(s, VICI_EVENT, "ike-updown", &ev);
	srv_read(s, VICI_CMD_REQUEST, "list-sas");
	srv_send(s, VICI_EVENT, "list-sa", &m);
	m.len = 0;
	ike_sa(&m, "site2", "203.0.113.8", "@site2", "10.2.0.0/16", NULL);
	srv_send(s, VICI_EVENT, "list-sa", &m);
	srv_send(s, VICI_CMD_RESPONSE, NULL, NULL);
	wait_changed(s, 2);
	v = vici_ikes(s->v, &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[1].remote_id, "@site2");
}

static void test_client_bad_input_then_reconnect(void **state)
{
	struct srv *s = *state;
	struct msg m = { 0 };
	const struct vici_ike *v;
	uint8_t huge[4] = { 0x7f, 0, 0, 0 };
	json_t *j;
	size_t n;
	char c;

	srv_listen(s);
	s->v = vici_open(s->epfd, s->path, on_changed, s);
	srv_accept(s, 1000);
	ike_sa(&m, "site1", "203.0.113.7", "@site1", "10.1.0.0/16", NULL);
	srv_handshake(s, &m);
	wait_changed(s, 1);
	/* a list-sa with a section left open, in a list-sas after an event */
	srv_send(s, VICI_EVENT, "child-updown", NULL);
	srv_read(s, VICI_CMD_REQUEST, "list-sas");
	m.len--;
	srv_send(s, VICI_EVENT, "list-sa", &m);
	for (int t = 0; t < 50 && recv(s->cfd, &c, 1, MSG_DONTWAIT) != 0; t++)
		spin(s, 20);
	assert_int_equal(recv(s->cfd, &c, 1, MSG_DONTWAIT), 0); /* closed by the client */
	close(s->cfd);
	v = vici_ikes(s->v, &n);
	assert_int_equal(n, 1); /* the table as last listed */
	assert_string_equal(v[0].remote_id, "@site1");
	assert_int_equal(s->changed, 1);
	j = vici_status_json(s->v);
	assert_false(json_is_true(json_object_get(j, "connected")));
	assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "left open"));
	json_decref(j);
	/* back after its delay (1 s); then a huge length */
	srv_accept(s, 3000);
	m.len++;
	srv_handshake(s, &m);
	wait_changed(s, 2);
	assert_int_equal(send(s->cfd, huge, sizeof(huge), MSG_NOSIGNAL), 4);
	for (int t = 0; t < 50 && recv(s->cfd, &c, 1, MSG_DONTWAIT) != 0; t++)
		spin(s, 20);
	assert_int_equal(recv(s->cfd, &c, 1, MSG_DONTWAIT), 0);
	close(s->cfd);
	s->cfd = -1;
	vici_ikes(s->v, &n);
	assert_int_equal(n, 1);
	j = vici_status_json(s->v);
	assert_int_equal(json_integer_value(json_object_get(j, "connects")), 2);
	assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "512 KiB"));
	json_decref(j);
}

static void test_client_no_server(void **state)
{
	struct srv *s = *state;
	json_t *j;

	s->v = vici_open(s->epfd, s->path, on_changed, s);
	assert_non_null(s->v);
	spin(s, 10);
	j = vici_status_json(s->v);
	assert_false(json_is_true(json_object_get(j, "connected")));
	assert_true(json_is_null(json_object_get(j, "listed_at")));
	assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "cannot connect"));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readme_example),
		cmocka_unit_test(test_list_sa),
		cmocka_unit_test(test_list_sa_port),
		cmocka_unit_test(test_malformed_changes_nothing),
		cmocka_unit_test(test_long_identity_is_unknown),
		cmocka_unit_test(test_frame_and_packet),
		cmocka_unit_test(test_identity),
		cmocka_unit_test_setup_teardown(test_client_lists_and_follows, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_client_bad_input_then_reconnect, srv_setup,
						srv_teardown),
		cmocka_unit_test_setup_teardown(test_client_no_server, srv_setup, srv_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
