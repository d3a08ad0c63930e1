// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vpcroutectl's client of the agent's control socket: connect, hello, one
 * request, and its answer (doc/protocol.md).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cfg.h"
#include "client.h"

#define TIMEOUT_S 10

struct agent_conn {
	int fd;
	uint64_t next_id;
};

static int agent_connect(struct agent_conn *ac, const struct ctl_target *t)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	char err[CFG_ERRLEN];
	const char *path = t->socket_path;
	struct cfg *c = NULL;

	if (!path) {
		if (cfg_load_file(t->config_path, &c, err, sizeof(err)) < 0) {
			fprintf(stderr, "vpcroutectl: %s\n", err);
			return CTL_EXIT_FAIL;
		}
		path = c->socket.path;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "vpcroutectl: socket path too long: %s\n", path);
		cfg_free(c);
		return CTL_EXIT_USAGE;
	}
	strcpy(sun.sun_path, path);
	ac->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (ac->fd < 0 || setsockopt(ac->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(ac->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "vpcroutectl: cannot reach vpcroute-agent at %s: %s\n", path,
			strerror(errno));
		cfg_free(c);
		return CTL_EXIT_UNREACHABLE;
	}
	cfg_free(c);
	ac->next_id = 1;
	return 0;
}

static int agent_send(struct agent_conn *ac, struct proto_msg *m)
{
	char buf[PROTO_MAX_MSG];
	int n;

	m->id = ac->next_id++;
	n = proto_encode(m, buf, sizeof(buf));
	if (n < 0 || send(ac->fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
		fprintf(stderr, "vpcroutectl: sending %s: %s\n", proto_type_name(m->type),
			strerror(n < 0 ? -n : errno));
		return CTL_EXIT_UNREACHABLE;
	}
	return 0;
}

/*
 * Reads the answers to request id: report texts are appended to *text (when
 * text is not NULL) until the ack, whose error (if any) is printed.
 */
static int agent_wait(struct agent_conn *ac, uint64_t id, char **text, size_t *len)
{
	char buf[PROTO_MAX_MSG + 1], err[PROTO_ERRLEN];

	for (;;) {
		ssize_t n = recv(ac->fd, buf, sizeof(buf), MSG_TRUNC);
		struct proto_msg m;

		if (n <= 0 || n > PROTO_MAX_MSG) {
			fprintf(stderr, "vpcroutectl: no answer from vpcroute-agent: %s\n",
				n == 0	? "connection closed"
				: n < 0 ? strerror(errno)
					: "message too large");
			return CTL_EXIT_UNREACHABLE;
		}
		if (proto_decode(buf, (size_t)n, &m, err, sizeof(err)) < 0) {
			fprintf(stderr, "vpcroutectl: bad answer from vpcroute-agent: %s\n", err);
			return CTL_EXIT_UNREACHABLE;
		}
		if (m.type == PROTO_REPORT && m.report.ref == id && text) {
			size_t k = strlen(m.report.text);
			char *t = realloc(*text, *len + k + 1);

			if (!t) {
				proto_msg_free(&m);
				fprintf(stderr, "vpcroutectl: out of memory\n");
				return CTL_EXIT_FAIL;
			}
			memcpy(t + *len, m.report.text, k + 1);
			*text = t;
			*len += k;
		} else if (m.type == PROTO_ACK && m.ack.ref == id) {
			if (!m.ack.ok) {
				fprintf(stderr, "vpcroute-agent: %s\n", m.ack.error);
				return CTL_EXIT_FAIL;
			}
			return 0;
		}
		proto_msg_free(&m); /* claims and the like: not for us */
	}
}

int client_request(const struct ctl_target *t, enum proto_type type, char **text, size_t *len)
{
	struct proto_msg req = { .type = type };

	return client_request_msg(t, &req, TIMEOUT_S, text, len);
}

int client_request_msg(const struct ctl_target *t, struct proto_msg *req, unsigned timeout_s,
		       char **text, size_t *len)
{
	struct proto_msg hello = { .type = PROTO_HELLO };
	struct agent_conn ac = { .fd = -1 };
	struct timeval tv = { .tv_sec = timeout_s };
	int r;

	hello.hello.role = PROTO_ROLE_CTL;
	hello.hello.pid = (uint32_t)getpid();
	snprintf(hello.hello.instance, sizeof(hello.hello.instance), "vpcroutectl");
	if (!(r = agent_connect(&ac, t)) && !(r = agent_send(&ac, &hello)) &&
	    !(r = agent_wait(&ac, hello.id, NULL, NULL))) {
		if (timeout_s != TIMEOUT_S)
			setsockopt(ac.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (!(r = agent_send(&ac, req)))
			r = agent_wait(&ac, req->id, text, len);
	}
	if (ac.fd >= 0)
		close(ac.fd);
	return r;
}

int client_status(const struct ctl_target *t, json_t **out)
{
	char *text = NULL;
	size_t len = 0;
	json_error_t je;
	int r = client_request(t, PROTO_STATUS, &text, &len);

	*out = NULL;
	if (!r) {
		*out = text ? json_loadb(text, len, 0, &je) : NULL;
		if (!json_is_object(*out)) {
			fprintf(stderr, "vpcroutectl: the agent's status is not a JSON object\n");
			json_decref(*out);
			*out = NULL;
			r = CTL_EXIT_UNREACHABLE;
		}
	}
	free(text);
	return r;
}
