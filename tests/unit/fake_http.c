// SPDX-License-Identifier: GPL-2.0-or-later
/* A test double of agent/http.c (fake_http.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_http.h"

struct http {
	int unused;
};

static struct fake_req req;
static http_done_fn req_done;
static void *req_arg;
static long ans_status;
static char *ans_body, *ans_error;
static bool answered;
static unsigned started;

struct http *http_new(char *err, size_t errlen)
{
	struct http *h = calloc(1, sizeof(*h));

	if (!h)
		snprintf(err, errlen, "out of memory");
	return h;
}

void http_free(struct http *h)
{
	free(h);
	free(ans_body);
	free(ans_error);
	ans_body = ans_error = NULL;
	answered = false;
	memset(&req, 0, sizeof(req));
}

int http_fd(const struct http *h)
{
	(void)h;
	return -1;
}

int http_start(struct http *h, const struct http_req *r, http_done_fn done, void *arg)
{
	(void)h;
	if (req.open)
		return -EBUSY; /* the agent sends one at a time */
	memset(&req, 0, sizeof(req));
	snprintf(req.method, sizeof(req.method), "%s", r->method);
	snprintf(req.url, sizeof(req.url), "%s", r->url);
	snprintf(req.body, sizeof(req.body), "%s", r->body ? r->body : "");
	for (size_t i = 0; r->headers && r->headers[i] && i < 4; i++)
		snprintf(req.headers[i], sizeof(req.headers[i]), "%s", r->headers[i]);
	snprintf(req.sigv4, sizeof(req.sigv4), "%s", r->sigv4 ? r->sigv4 : "");
	snprintf(req.user, sizeof(req.user), "%s", r->user ? r->user : "");
	req.open = true;
	req_done = done;
	req_arg = arg;
	started++;
	return 0;
}

void http_run(struct http *h)
{
	char *body, *error;

	(void)h;
	if (!answered || !req.open)
		return;
	answered = false;
	req.open = false;
	body = ans_body;
	error = ans_error;
	ans_body = ans_error = NULL;
	req_done(req_arg, ans_status, body ? body : "", body ? strlen(body) : 0, error);
	free(body);
	free(error);
}

const struct fake_req *fake_http_last(void)
{
	return &req;
}

void fake_http_answer(long status, const char *body, const char *error)
{
	free(ans_body);
	free(ans_error);
	ans_status = status;
	ans_body = body ? strdup(body) : NULL;
	ans_error = error ? strdup(error) : NULL;
	answered = true;
}

unsigned fake_http_started(void)
{
	return started;
}
