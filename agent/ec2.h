/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The EC2 Query API client: requests signed by libcurl (CURLOPT_AWS_SIGV4),
 * a client-side token bucket for the mutating calls, jittered exponential
 * back-off, and what an error answer means for the caller. The answers
 * themselves are parsed by ec2xml.c.
 */
#ifndef VR_EC2_H
#define VR_EC2_H

#include <stdbool.h>
#include <stddef.h>

#include "aws_settings.h"
#include "ec2xml.h"
#include "http.h"
#include "pfx.h"

#define EC2_BACKOFF_BASE_MS 500
#define EC2_BACKOFF_CAP_MS  120000

/* application/x-www-form-urlencoded: appends key=value (RFC 3986 unreserved kept). */
void ec2_form_add(char *buf, size_t len, const char *key, const char *val);
/* CreateRoute/ReplaceRoute (eni set) or DeleteRoute (eni NULL) parameters. */
void ec2_form_route(char *buf, size_t len, const char *table, const struct pfx *dst,
		    const char *eni);
/* DescribeRouteTables: the VPC's tables (ids NULL) or the listed ones, from next_token on. */
void ec2_form_tables(char *buf, size_t len, const char *vpc, char *const *ids, size_t nids,
		     const char *next_token);

/* POSTs Action=action&Version=...&form to the endpoint of s, signed with its credentials. */
int ec2_post(struct http *h, const struct aws_settings *s, const char *action, const char *form,
	     http_done_fn done, void *arg);

/* The client-side budget of mutating calls: a token bucket of rate tokens
 * per second, holding at most burst (ec2_bucket_burst), else max(rate, 1). */
struct ec2_bucket {
	double tokens;
	long long at; /* ms of the last refill */
	double burst; /* 0: max(rate, 1) */
};

void ec2_bucket_init(struct ec2_bucket *b, long long now);
/* The bucket holds at most burst tokens (aws.max_calls_burst); fill: it
 * holds that many now (a start: the first burst calls go at once), else
 * (a reload) what it holds is only capped. */
void ec2_bucket_burst(struct ec2_bucket *b, unsigned burst, bool fill);
/* When the next call may go (ms), 0 when now. */
long long ec2_bucket_wait(struct ec2_bucket *b, double rate, long long now);
void ec2_bucket_take(struct ec2_bucket *b);

/* Back-off after a failure: the delay grows twice per failure from 500 ms up
 * to 120 s, with "equal jitter" (between half of it and all of it). */
struct ec2_backoff {
	unsigned fails;
	long long retry_at; /* ms; nothing is sent before */
	unsigned long retries;
};

/* The delay after `fails` failures in a row, rnd any random number. */
long long ec2_backoff_delay(unsigned fails, unsigned long rnd);
void ec2_backoff_fail(struct ec2_backoff *b, long long now);
void ec2_backoff_ok(struct ec2_backoff *b);

/* What an error answer means. */
enum ec2_verdict {
	EC2_RETRY,	   /* throttled, 5xx, no answer: back off and try again */
	EC2_AUTH,	   /* the credentials were refused: back off, fetch new ones */
	EC2_TABLE_CHANGED, /* a route call found the table changed: read it again */
	EC2_REFUSED,	   /* anything else: retrying does not help */
};

/* The error of a failed call: the EC2 error document, or what stood in for one. */
void ec2_error_of(long status, const char *body, size_t len, const char *error,
		  struct ec2_error *e);
enum ec2_verdict ec2_verdict(long status, const char *code, bool route_call);
/* Whether code is one of EC2's throttling errors (RequestLimitExceeded, ...). */
bool ec2_throttled(const char *code);

#endif
