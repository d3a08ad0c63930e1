// SPDX-License-Identifier: GPL-2.0-or-later
/* The EC2 Query API client (ec2.h). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec2.h"

#define EC2_TIMEOUT_MS 10000
#define EC2_VERSION    "2016-11-15"

/* --- requests --- */

void ec2_form_add(char *buf, size_t len, const char *key, const char *val)
{
	size_t n = strlen(buf);

	n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s=", n ? "&" : "", key);
	for (const unsigned char *p = (const unsigned char *)val; *p && n + 4 < len; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-_.~", *p))
			buf[n++] = (char)*p;
		else
			n += (size_t)snprintf(buf + n, len - n, "%%%02X", *p);
	}
	buf[n < len ? n : len - 1] = '\0';
}

void ec2_form_route(char *buf, size_t len, const char *table, const struct pfx *dst,
		    const char *eni)
{
	char d[PFX_STRLEN];

	ec2_form_add(buf, len, "RouteTableId", table);
	ec2_form_add(buf, len,
		     dst->family == AF_INET ? "DestinationCidrBlock" : "DestinationIpv6CidrBlock",
		     pfx_format(dst, d, sizeof(d)));
	if (eni)
		ec2_form_add(buf, len, "NetworkInterfaceId", eni);
}

void ec2_form_tables(char *buf, size_t len, const char *vpc, char *const *ids, size_t nids,
		     const char *next_token)
{
	char k[40];

	if (!ids) {
		ec2_form_add(buf, len, "Filter.1.Name", "vpc-id");
		ec2_form_add(buf, len, "Filter.1.Value.1", vpc);
	} else {
		for (size_t i = 0; i < nids; i++) {
			snprintf(k, sizeof(k), "RouteTableId.%zu", i + 1);
			ec2_form_add(buf, len, k, ids[i]);
		}
	}
	if (next_token && next_token[0])
		ec2_form_add(buf, len, "NextToken", next_token);
}

int ec2_post(struct http *h, const struct aws_settings *s, const char *action, const char *form,
	     http_done_fn done, void *arg)
{
	char body[16384], url[AWS_URL_MAX + 2], provider[80], tok[IMDS_SESSION_MAX + 32];
	const char *hdr[3] = { "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
			       NULL, NULL };
	struct http_req r = { .method = "POST",
			      .url = url,
			      .headers = hdr,
			      .body = body,
			      .timeout_ms = EC2_TIMEOUT_MS,
			      .sigv4 = provider,
			      .user = s->creds.key_id,
			      .password = s->creds.secret };

	snprintf(body, sizeof(body), "Action=%s&Version=%s%s%s", action, EC2_VERSION,
		 form[0] ? "&" : "", form);
	snprintf(url, sizeof(url), "%s/", s->endpoint);
	snprintf(provider, sizeof(provider), "aws:amz:%s:ec2", s->region);
	if (s->creds.token[0]) {
		snprintf(tok, sizeof(tok), "X-Amz-Security-Token: %s", s->creds.token);
		hdr[1] = tok;
	}
	return http_start(h, &r, done, arg);
}

/* --- pacing --- */

void ec2_bucket_init(struct ec2_bucket *b, long long now)
{
	b->tokens = 1.0;
	b->at = now;
	b->burst = 0;
}

void ec2_bucket_burst(struct ec2_bucket *b, unsigned burst, bool fill)
{
	b->burst = burst;
	if (fill || b->tokens > b->burst)
		b->tokens = b->burst;
}

static void refill(struct ec2_bucket *b, double rate, long long now)
{
	double cap = b->burst > 0 ? b->burst : rate < 1 ? 1 : rate;

	b->tokens += (double)(now - b->at) * rate / 1000.0;
	if (b->tokens > cap)
		b->tokens = cap;
	b->at = now;
}

long long ec2_bucket_wait(struct ec2_bucket *b, double rate, long long now)
{
	refill(b, rate, now);
	if (b->tokens >= 1.0)
		return 0;
	return now + (long long)ceil((1.0 - b->tokens) * 1000.0 / rate);
}

void ec2_bucket_take(struct ec2_bucket *b)
{
	b->tokens -= 1.0;
}

/* --- back-off --- */

long long ec2_backoff_delay(unsigned fails, unsigned long rnd)
{
	long long d = (long long)EC2_BACKOFF_BASE_MS << (fails < 12 ? fails : 12);

	if (d > EC2_BACKOFF_CAP_MS)
		d = EC2_BACKOFF_CAP_MS;
	/* "equal jitter": between half the delay and all of it */
	return d / 2 + (long long)(rnd % (unsigned long)(d / 2 + 1));
}

void ec2_backoff_fail(struct ec2_backoff *b, long long now)
{
	long long d = ec2_backoff_delay(b->fails, (unsigned long)random());

	b->fails++;
	b->retries++;
	b->retry_at = now + d;
}

void ec2_backoff_ok(struct ec2_backoff *b)
{
	b->fails = 0;
}

/* --- errors --- */

static bool among(const char *code, const char *const *codes)
{
	for (size_t i = 0; codes[i]; i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

void ec2_error_of(long status, const char *body, size_t len, const char *error, struct ec2_error *e)
{
	memset(e, 0, sizeof(*e));
	if (status && ec2_parse_error(body, len, e) != 1) {
		snprintf(e->code, sizeof(e->code), "HTTP %ld", status);
		snprintf(e->message, sizeof(e->message), "no EC2 error document in the answer");
	} else if (!status) {
		snprintf(e->code, sizeof(e->code), "no answer");
		snprintf(e->message, sizeof(e->message), "%s", error ? error : "?");
	}
}

bool ec2_throttled(const char *code)
{
	static const char *const throttled[] = { "RequestLimitExceeded", "Throttling",
						 "ThrottlingException", NULL };

	return among(code, throttled);
}

enum ec2_verdict ec2_verdict(long status, const char *code, bool route_call)
{
	static const char *const retry[] = {
		"RequestLimitExceeded", "Throttling",	   "ThrottlingException",
		"InternalError",	"InternalFailure", "ServiceUnavailable",
		"Unavailable",		"RequestTimeout",  NULL
	};
	static const char *const auth[] = { "AuthFailure",
					    "InvalidClientTokenId",
					    "SignatureDoesNotMatch",
					    "ExpiredToken",
					    "RequestExpired",
					    "IncompleteSignature",
					    NULL };
	static const char *const changed[] = { "InvalidRoute.NotFound", "RouteAlreadyExists",
					       NULL };

	if (status == 0 || status >= 500 || among(code, retry))
		return EC2_RETRY;
	if (among(code, auth))
		return EC2_AUTH;
	if (route_call && among(code, changed))
		return EC2_TABLE_CHANGED;
	return EC2_REFUSED;
}
