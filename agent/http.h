/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HTTP requests through libcurl's multi interface, driven by the agent's
 * event loop: curl's sockets and its timeout live in one epoll descriptor
 * that the main loop watches. No thread, no blocking call.
 */
#ifndef VR_HTTP_H
#define VR_HTTP_H

#include <stddef.h>

#define HTTP_BODY_MAX (16u << 20) /* answers larger than this fail */

struct http;

struct http_req {
	const char *method; /* "GET", "PUT" or "POST" */
	const char *url;
	const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
	const char *body;	    /* POST/PUT body, or NULL */
	long timeout_ms;
	const char *sigv4;	     /* CURLOPT_AWS_SIGV4 provider, e.g. "aws:amz:us-east-1:ec2" */
	const char *user, *password; /* the key id and secret for sigv4 */
	int no_proxy;		     /* ignore the proxy environment */
};

/*
 * Called once per request: status is the HTTP status (0 when no answer came;
 * error then says why), body the answer (NUL-terminated).
 */
typedef void (*http_done_fn)(void *arg, long status, const char *body, size_t len,
			     const char *error);

struct http *http_new(char *err, size_t errlen);
void http_free(struct http *h);
/* The descriptor to watch for input in the main loop. */
int http_fd(const struct http *h);
/* Runs curl on what the descriptor reported, then calls done for finished requests. */
void http_run(struct http *h);
int http_start(struct http *h, const struct http_req *r, http_done_fn done, void *arg);

#endif
