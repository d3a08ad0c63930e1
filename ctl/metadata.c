// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VPC's CIDR blocks from the instance metadata (metadata.h): the agent's
 * discovery steps (token, MAC, blocks), one at a time, each driven to its end
 * by polling the HTTP client's descriptor.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "aws_settings.h"
#include "http.h"
#include "metadata.h"

struct answer {
	bool done;
	long status;
	char *body;
	size_t len;
	char error[IMDS_ERRLEN];
};

static void on_done(void *arg, long status, const char *body, size_t len, const char *error)
{
	struct answer *a = arg;

	a->done = true;
	a->status = status;
	a->body = malloc(len + 1);
	if (a->body) {
		memcpy(a->body, body, len);
		a->body[len] = '\0';
		a->len = len;
	}
	snprintf(a->error, sizeof(a->error), "%s", error ? error : "");
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* One step: 0 when its answer was taken, -1 with why filled. */
static int step(struct http *h, struct aws_settings *s, enum aws_step st, char *why, size_t len)
{
	struct answer a = { 0 };
	/* curl ends the request at its timeout; this is only a guard */
	long long deadline = now_ms() + 2 * s->imds_timeout_ms + 1000;
	int r;

	if (aws_imds_request(h, s, st, on_done, &a) < 0) {
		snprintf(why, len, "%s: out of memory", aws_step_name(st));
		return -1;
	}
	while (!a.done) {
		struct pollfd p = { .fd = http_fd(h), .events = POLLIN };
		long long left = deadline - now_ms();

		if (left <= 0) {
			snprintf(why, len, "%s: %s: no answer", aws_step_name(st), s->imds);
			return -1; /* http_free ends the request */
		}
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			snprintf(why, len, "poll: %s", strerror(errno));
			return -1;
		}
		http_run(h);
	}
	if (!a.body) {
		snprintf(why, len, "%s: out of memory", aws_step_name(st));
		return -1;
	}
	r = aws_imds_answer(s, st, a.status, a.body, a.len, a.error[0] ? a.error : NULL, now_ms(),
			    why, len);
	free(a.body);
	if (r == 1 && st == AWS_STEP_CIDRS6)
		return 0; /* no IPv6 block */
	if (r == 1)	  /* the token refused right after it was given */
		snprintf(why, len, "%s: the session token was refused", aws_step_name(st));
	return r == 0 ? 0 : -1;
}

int metadata_vpc_blocks(const struct cfg_aws *w, long timeout_ms, struct pfx_list *out, char *why,
			size_t whylen)
{
	static const enum aws_step steps[] = { AWS_STEP_TOKEN, AWS_STEP_MAC, AWS_STEP_CIDRS,
					       AWS_STEP_CIDRS6 };
	struct aws_settings s = { .imds_timeout_ms = timeout_ms };
	struct http *h;
	int r;

	if ((r = aws_imds_endpoint(w, s.imds, why, whylen)) != 0)
		return r < 0 ? -1 : 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(why, whylen, "libcurl did not initialise");
		return -1;
	}
	if (!(h = http_new(why, whylen))) {
		curl_global_cleanup();
		return -1;
	}
	r = 0;
	for (size_t i = 0; r == 0 && i < sizeof(steps) / sizeof(steps[0]); i++)
		r = step(h, &s, steps[i], why, whylen);
	http_free(h);
	curl_global_cleanup();
	if (r == 0) {
		*out = s.cidrs;
		s.cidrs = (struct pfx_list){ 0 };
	}
	aws_settings_free(&s);
	return r;
}
