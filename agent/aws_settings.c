// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Settings and credentials (aws_settings.h): the configuration first, then
 * the SDKs' environment variables, then the instance metadata or a default.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws_settings.h"
#include "log.h"

#define IMDS_DEFAULT	"http://169.254.169.254"
#define IMDS_TTL_S	21600
#define IMDS_TIMEOUT_MS 2000
#define CREDS_MARGIN_S	300
#define MS		1000LL

static const char *const step_names[] = {
	[AWS_STEP_NONE] = "none",
	[AWS_STEP_TOKEN] = "IMDS token",
	[AWS_STEP_INSTANCE] = "IMDS instance-id",
	[AWS_STEP_REGION] = "IMDS placement/region",
	[AWS_STEP_MAC] = "IMDS mac",
	[AWS_STEP_ENI] = "IMDS interface-id",
	[AWS_STEP_VPC] = "IMDS vpc-id",
	[AWS_STEP_CIDRS] = "IMDS vpc-ipv4-cidr-blocks",
	[AWS_STEP_CIDRS6] = "IMDS vpc-ipv6-cidr-blocks",
	[AWS_STEP_SUBNET] = "IMDS subnet-id",
	[AWS_STEP_ROLE] = "IMDS iam/security-credentials/",
	[AWS_STEP_CREDS] = "IMDS role credentials",
};

const char *aws_step_name(enum aws_step st)
{
	return st <= AWS_STEP_CREDS ? step_names[st] : "?";
}

/* --- the configuration, then the environment --- */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int pick_url(char *out, const char *what, const char *const names[], const char *cfg,
		    const char *cfgkey, char *err, size_t errlen)
{
	if (cfg) {
		if (strlen(cfg) >= AWS_URL_MAX) {
			snprintf(err, errlen, "aws.%s: %s URL too long", cfgkey, what);
			return -EINVAL;
		}
		snprintf(out, AWS_URL_MAX, "%s", cfg);
		return 1;
	}
	for (size_t i = 0; names[i]; i++) {
		const char *v = env(names[i]);

		if (!v)
			continue;
		if (!cfg_valid_url(v) || strlen(v) >= AWS_URL_MAX || strpbrk(v, " \t\r\n")) {
			snprintf(err, errlen, "%s=\"%.80s\": not an http:// or https:// URL",
				 names[i], v);
			return -EINVAL;
		}
		snprintf(out, AWS_URL_MAX, "%s", v);
		return 1;
	}
	return 0;
}

/* The region's endpoint, unless one was given. */
static void set_endpoint(struct aws_settings *s)
{
	if (s->endpoint_fixed || !s->region[0])
		return;
	snprintf(s->endpoint, sizeof(s->endpoint), "https://ec2.%s.amazonaws.com%s", s->region,
		 strncmp(s->region, "cn-", 3) == 0 ? ".cn" : "");
}

int aws_imds_endpoint(const struct cfg_aws *w, char *out, char *err, size_t errlen)
{
	static const char *const imds_vars[] = { "AWS_EC2_METADATA_SERVICE_ENDPOINT", NULL };
	const char *v = env("AWS_EC2_METADATA_DISABLED");
	int r;

	if ((r = pick_url(out, "metadata", imds_vars, w->imds_endpoint, "imds_endpoint", err,
			  errlen)) < 0)
		return r;
	if (r == 0)
		snprintf(out, AWS_URL_MAX, "%s", IMDS_DEFAULT);
	return v && strcasecmp(v, "true") == 0;
}

int aws_settings_resolve(struct aws_settings *s, const struct cfg_aws *w, char *err, size_t errlen)
{
	static const char *const ep_vars[] = { "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL", NULL };
	const char *v, *key = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
	bool imds_off;
	int r;

	if ((r = aws_imds_endpoint(w, s->imds, err, errlen)) < 0)
		return r;
	imds_off = r == 1;
	if ((r = pick_url(s->endpoint, "EC2", ep_vars, w->endpoint, "endpoint", err, errlen)) < 0)
		return r;
	s->endpoint_fixed = r;

	s->region_fixed = true;
	if ((v = w->region))
		s->region_src = "aws.region";
	else if ((v = env("AWS_REGION")))
		s->region_src = "AWS_REGION";
	else if ((v = env("AWS_DEFAULT_REGION")))
		s->region_src = "AWS_DEFAULT_REGION";
	else
		s->region_fixed = false;
	if (s->region_fixed) {
		if (!cfg_valid_region(v)) {
			snprintf(err, errlen, "%s=\"%.40s\": not an AWS region name", s->region_src,
				 v);
			return -EINVAL;
		}
		snprintf(s->region, sizeof(s->region), "%s", v);
	} else {
		s->region_src = "instance metadata";
	}

	s->creds_fixed = true;
	if (w->access_key_id) {
		key = w->access_key_id;
		secret = w->secret_access_key;
		v = w->session_token;
		s->creds_src = "configuration";
	} else if (key || secret) {
		if (!key || !secret) {
			snprintf(err, errlen, "%s is set without %s",
				 key ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
				 key ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
			return -EINVAL;
		}
		s->creds_src = "environment";
		v = env("AWS_SESSION_TOKEN");
	} else {
		s->creds_fixed = false;
		s->creds_src = "instance role";
	}
	if (s->creds_fixed) {
		if (strlen(key) > IMDS_KEYID_MAX || strlen(secret) > IMDS_SECRET_MAX ||
		    (v && strlen(v) > IMDS_SESSION_MAX) || aws_invisible(key) ||
		    aws_invisible(secret) || (v && aws_invisible(v))) {
			snprintf(err, errlen, "the %s credentials are too long or not printable",
				 s->creds_src);
			return -EINVAL;
		}
		memset(&s->creds, 0, sizeof(s->creds));
		strcpy(s->creds.key_id, key);
		strcpy(s->creds.secret, secret);
		if (v)
			strcpy(s->creds.token, v);
		s->have_creds = true;
		s->creds_refresh = 0;
	} else if (s->creds_refresh == 0) {
		s->have_creds = false; /* was static before the reload */
	}
	if (imds_off) {
		snprintf(err, errlen,
			 "AWS_EC2_METADATA_DISABLED is set: the agent needs the instance metadata "
			 "to learn its network interface");
		return -EINVAL;
	}
	set_endpoint(s);
	return 0;
}

void aws_settings_reload(struct aws_settings *s, struct aws_settings *fresh)
{
	memcpy(s->imds, fresh->imds, sizeof(s->imds));
	memcpy(s->endpoint, fresh->endpoint, sizeof(s->endpoint));
	s->endpoint_fixed = fresh->endpoint_fixed;
	s->region_src = fresh->region_src;
	/* a region no longer set is read from the instance metadata again */
	if (fresh->region_fixed)
		memcpy(s->region, fresh->region, sizeof(s->region));
	else if (s->region_fixed)
		s->region[0] = '\0';
	s->region_fixed = fresh->region_fixed;
	set_endpoint(s);
	s->creds_fixed = fresh->creds_fixed;
	s->creds_src = fresh->creds_src;
	s->have_creds = fresh->have_creds;
	s->creds = fresh->creds;
	s->creds_refresh = fresh->creds_refresh;
	explicit_bzero(&fresh->creds, sizeof(fresh->creds));
}

void aws_settings_free(struct aws_settings *s)
{
	pfx_list_free(&s->cidrs);
	explicit_bzero(&s->creds, sizeof(s->creds));
}

bool aws_settings_ready(const struct aws_settings *s)
{
	return s->have_creds && s->eni[0] && s->endpoint[0];
}

void aws_creds_refused(struct aws_settings *s, long long now)
{
	if (!s->creds_fixed)
		s->creds_refresh = now; /* fetch the role's credentials again */
}

/* --- the instance metadata --- */

enum aws_step aws_imds_next(const struct aws_settings *s, long long now)
{
	bool need_creds = !s->creds_fixed && (!s->have_creds || now >= s->creds_refresh);

	if (!s->token[0] || now >= s->token_until)
		return (s->eni[0] && s->cidrs.n && s->cidrs6_done && s->region[0] && !need_creds)
			       ? AWS_STEP_NONE
			       : AWS_STEP_TOKEN;
	if (!s->instance[0])
		return AWS_STEP_INSTANCE;
	if (!s->region[0])
		return AWS_STEP_REGION;
	if (!s->mac[0])
		return AWS_STEP_MAC;
	if (!s->eni[0])
		return AWS_STEP_ENI;
	if (!s->vpc[0])
		return AWS_STEP_VPC;
	if (!s->cidrs.n)
		return AWS_STEP_CIDRS;
	if (!s->cidrs6_done)
		return AWS_STEP_CIDRS6;
	if (!s->subnet[0])
		return AWS_STEP_SUBNET;
	if (need_creds)
		return s->role[0] ? AWS_STEP_CREDS : AWS_STEP_ROLE;
	return AWS_STEP_NONE;
}

static int imds_path(const struct aws_settings *s, enum aws_step st, char *path, size_t len)
{
	const char *mac = "/latest/meta-data/network/interfaces/macs/";
	const char *leaf = NULL;

	switch (st) {
	case AWS_STEP_TOKEN:
		snprintf(path, len, "/latest/api/token");
		return 0;
	case AWS_STEP_INSTANCE:
		snprintf(path, len, "/latest/meta-data/instance-id");
		return 0;
	case AWS_STEP_REGION:
		snprintf(path, len, "/latest/meta-data/placement/region");
		return 0;
	case AWS_STEP_MAC:
		snprintf(path, len, "/latest/meta-data/mac");
		return 0;
	case AWS_STEP_ENI:
		leaf = "interface-id";
		break;
	case AWS_STEP_VPC:
		leaf = "vpc-id";
		break;
	case AWS_STEP_CIDRS:
		leaf = "vpc-ipv4-cidr-blocks";
		break;
	case AWS_STEP_CIDRS6:
		leaf = "vpc-ipv6-cidr-blocks";
		break;
	case AWS_STEP_SUBNET:
		leaf = "subnet-id";
		break;
	case AWS_STEP_ROLE:
		snprintf(path, len, "/latest/meta-data/iam/security-credentials/");
		return 0;
	case AWS_STEP_CREDS:
		snprintf(path, len, "/latest/meta-data/iam/security-credentials/%s", s->role);
		return 0;
	default:
		return -EINVAL;
	}
	snprintf(path, len, "%s%s/%s", mac, s->mac, leaf);
	return 0;
}

int aws_imds_request(struct http *h, const struct aws_settings *s, enum aws_step st,
		     http_done_fn done, void *arg)
{
	char path[AWS_URL_MAX], url[AWS_URL_MAX * 2], ttl[64], tok[IMDS_TOKEN_MAX + 32];
	const char *hdr[2] = { NULL, NULL };
	struct http_req r = { .method = "GET",
			      .url = url,
			      .headers = hdr,
			      .timeout_ms =
				      s->imds_timeout_ms ? s->imds_timeout_ms : IMDS_TIMEOUT_MS,
			      .no_proxy = 1 };

	if (imds_path(s, st, path, sizeof(path)) < 0)
		return -EINVAL;
	snprintf(url, sizeof(url), "%s%s", s->imds, path);
	if (st == AWS_STEP_TOKEN) {
		r.method = "PUT";
		snprintf(ttl, sizeof(ttl), "X-aws-ec2-metadata-token-ttl-seconds: %d", IMDS_TTL_S);
		hdr[0] = ttl;
	} else {
		snprintf(tok, sizeof(tok), "X-aws-ec2-metadata-token: %s", s->token);
		hdr[0] = tok;
	}
	return http_start(h, &r, done, arg);
}

static int take_cidrs(struct aws_settings *s, enum aws_step st, const char *body, size_t len,
		      char *err, size_t errlen)
{
	struct pfx_list l = { 0 };
	char d[PFX_STRLEN];
	int r;

	if (st == AWS_STEP_CIDRS6 && (len == 0 || (len == 1 && body[0] == '\n'))) {
		s->cidrs6_done = true; /* no IPv6 block */
		return 0;
	}
	if ((r = imds_parse_cidrs(body, len, &l, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < l.n; i++)
		if ((l.v[i].family == AF_INET) != (st == AWS_STEP_CIDRS)) {
			r = -EINVAL;
			snprintf(err, errlen, "%s is of the wrong family",
				 pfx_format(&l.v[i], d, sizeof(d)));
		}
	for (size_t i = 0; r == 0 && i < l.n; i++)
		pfx_list_add(&s->cidrs, &l.v[i], 128);
	pfx_list_free(&l);
	if (st == AWS_STEP_CIDRS6 && r == 0)
		s->cidrs6_done = true;
	return r;
}

static int take_creds(struct aws_settings *s, const char *body, size_t len, long long now,
		      char *err, size_t errlen)
{
	struct imds_creds cr;
	long long left, margin;
	int r;

	if ((r = imds_parse_creds(body, len, &cr, err, errlen)) < 0)
		return r;
	left = (long long)(cr.expiration - time(NULL));
	if (left < 1) {
		explicit_bzero(&cr, sizeof(cr));
		snprintf(err, errlen, "the credentials of role %s expired already", s->role);
		return -EINVAL;
	}
	/* renewed well before expiry: 5 minutes, or half their life if shorter */
	margin = left / 2 < CREDS_MARGIN_S ? left / 2 : CREDS_MARGIN_S;
	s->creds = cr;
	s->have_creds = true;
	s->creds_refresh = now + (left - margin) * MS;
	log_info("aws: credentials of role %s (%s), valid for %llds", s->role, cr.key_id, left);
	explicit_bzero(&cr, sizeof(cr));
	return 0;
}

/* A 200 answer. */
static int take(struct aws_settings *s, enum aws_step st, const char *body, size_t len,
		long long now, char *err, size_t errlen)
{
	char cidrs[512];
	int r = 0;

	switch (st) {
	case AWS_STEP_TOKEN:
		r = imds_parse_token(body, len, s->token, sizeof(s->token), err, errlen);
		s->token_until = now + (IMDS_TTL_S - 60) * MS;
		return r;
	case AWS_STEP_INSTANCE:
		return imds_parse_id(body, len, "i-", s->instance, sizeof(s->instance), err,
				     errlen);
	case AWS_STEP_REGION:
		if ((r = imds_parse_region(body, len, s->region, sizeof(s->region), err, errlen)) ==
		    0)
			set_endpoint(s);
		return r;
	case AWS_STEP_MAC:
		return imds_parse_mac(body, len, s->mac, sizeof(s->mac), err, errlen);
	case AWS_STEP_ENI:
		return imds_parse_id(body, len, "eni-", s->eni, sizeof(s->eni), err, errlen);
	case AWS_STEP_VPC:
		return imds_parse_id(body, len, "vpc-", s->vpc, sizeof(s->vpc), err, errlen);
	case AWS_STEP_CIDRS:
	case AWS_STEP_CIDRS6:
		return take_cidrs(s, st, body, len, err, errlen);
	case AWS_STEP_SUBNET:
		r = imds_parse_id(body, len, "subnet-", s->subnet, sizeof(s->subnet), err, errlen);
		if (r == 0) {
			pfx_list_format(&s->cidrs, ", ", cidrs, sizeof(cidrs));
			log_info("aws: instance %s in %s (region from %s), interface %s, %s %s, "
				 "subnet %s",
				 s->instance, s->region, s->region_src, s->eni, s->vpc, cidrs,
				 s->subnet);
		}
		return r;
	case AWS_STEP_ROLE:
		return imds_parse_role(body, len, s->role, sizeof(s->role), err, errlen);
	case AWS_STEP_CREDS:
		return take_creds(s, body, len, now, err, errlen);
	default:
		return 0;
	}
}

int aws_imds_answer(struct aws_settings *s, enum aws_step st, long status, const char *body,
		    size_t len, const char *error, long long now, char *err, size_t errlen)
{
	char why[IMDS_ERRLEN] = "";

	if (status == 200) {
		if (take(s, st, body, len, now, why, sizeof(why)) == 0)
			return 0;
		snprintf(err, errlen, "%s: %s", aws_step_name(st), why);
		return -EINVAL;
	}
	if (status == 401 && st != AWS_STEP_TOKEN) {
		log_info("aws: IMDS token refused (expired?): getting a new one");
		s->token[0] = '\0';
		return 1;
	}
	if (status == 404 && st == AWS_STEP_CIDRS6) {
		s->cidrs6_done = true; /* no IPv6 in this VPC */
		return 1;
	}
	if (status == 404 && st == AWS_STEP_ROLE)
		snprintf(err, errlen,
			 "no credentials: no AWS_ACCESS_KEY_ID, nothing in the configuration, "
			 "and no IAM role attached to the instance");
	else if (status)
		snprintf(err, errlen, "%s: HTTP status %ld from %s", aws_step_name(st), status,
			 s->imds);
	else
		snprintf(err, errlen, "%s: %s: %s", aws_step_name(st), s->imds,
			 error ? error : "?");
	return -EINVAL;
}
