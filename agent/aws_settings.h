/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where the agent talks to and as whom: the EC2 endpoint, the region and the
 * credentials, from the configuration, then the SDKs' environment variables,
 * then the instance metadata (IMDSv2), which also tells the instance, its
 * network interface, VPC, CIDR blocks and subnet. Role credentials are
 * fetched again before they expire.
 */
#ifndef VR_AWS_SETTINGS_H
#define VR_AWS_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "ec2xml.h"
#include "http.h"
#include "imds.h"
#include "pfx.h"

#define AWS_URL_MAX 256

struct aws_settings {
	/* resolved at start and at reload (aws_settings_resolve) */
	char imds[AWS_URL_MAX], endpoint[AWS_URL_MAX], region[40];
	long imds_timeout_ms; /* of each metadata request; 0: the agent's default, 2 s */
	bool region_fixed, creds_fixed, endpoint_fixed;
	const char *region_src, *creds_src;

	/* learned from the instance metadata */
	char token[IMDS_TOKEN_MAX + 1];
	long long token_until;
	char instance[EC2_ID_MAX], mac[18], eni[EC2_ID_MAX], vpc[EC2_ID_MAX], subnet[EC2_ID_MAX];
	char role[IMDS_ROLE_MAX + 1];
	struct pfx_list cidrs;
	bool cidrs6_done;
	struct imds_creds creds;
	bool have_creds;
	long long creds_refresh; /* monotonic ms; 0: static credentials */
};

/* The instance metadata, one value per step, in this order. */
enum aws_step {
	AWS_STEP_NONE,
	AWS_STEP_TOKEN,
	AWS_STEP_INSTANCE,
	AWS_STEP_REGION,
	AWS_STEP_MAC,
	AWS_STEP_ENI,
	AWS_STEP_VPC,
	AWS_STEP_CIDRS,
	AWS_STEP_CIDRS6,
	AWS_STEP_SUBNET, /* the last of the discovery: the VPC's CIDR blocks are known */
	AWS_STEP_ROLE,
	AWS_STEP_CREDS,
};

/*
 * Where the instance metadata is: aws.imds_endpoint, else
 * AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254, into out
 * (AWS_URL_MAX bytes). 0; 1 when AWS_EC2_METADATA_DISABLED is "true" (out is
 * filled all the same); -EINVAL with err filled when the URL is unusable.
 */
int aws_imds_endpoint(const struct cfg_aws *w, char *out, char *err, size_t errlen);
/*
 * Resolves the configuration and the environment into s (the learned values
 * are left alone); -EINVAL with err filled when they are unusable.
 */
int aws_settings_resolve(struct aws_settings *s, const struct cfg_aws *w, char *err, size_t errlen);
/* A reload: takes what fresh resolved; the learned values stay. */
void aws_settings_reload(struct aws_settings *s, struct aws_settings *fresh);
void aws_settings_free(struct aws_settings *s);

/* The next step of the discovery, AWS_STEP_NONE when nothing is due. */
enum aws_step aws_imds_next(const struct aws_settings *s, long long now);
const char *aws_step_name(enum aws_step st);
/* Sends the request of st. */
int aws_imds_request(struct http *h, const struct aws_settings *s, enum aws_step st,
		     http_done_fn done, void *arg);
/*
 * The answer to st: 0 when it was taken, 1 when nothing was learned but
 * nothing is wrong either (a token to renew, no IPv6 block), -EINVAL with
 * err filled when the answer is an error or unusable.
 */
int aws_imds_answer(struct aws_settings *s, enum aws_step st, long status, const char *body,
		    size_t len, const char *error, long long now, char *err, size_t errlen);
/* EC2 refused the credentials: role credentials are fetched again. */
void aws_creds_refused(struct aws_settings *s, long long now);
/* Whether EC2 can be called: credentials, an interface, an endpoint. */
bool aws_settings_ready(const struct aws_settings *s);

#endif
