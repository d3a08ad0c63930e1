/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Answers of the EC2 Query API (version 2016-11-15), parsed with libxml2:
 * no network, no DTD, no entity substitution. Unknown elements are skipped;
 * what vpcroute relies on is checked (ids, prefixes) and refused when bad.
 */
#ifndef VR_EC2XML_H
#define VR_EC2XML_H

#include <stdbool.h>
#include <stddef.h>

#include "pfx.h"

#define EC2_ID_MAX     64
#define EC2_ERRLEN     320
#define EC2_MAX_TABLES 1000
#define EC2_MAX_ROUTES 1000 /* AWS allows at most 1000 per table */

/* Where a route goes: its kind ("gatewayId", "networkInterfaceId", ...) and id. */
struct ec2_route {
	struct pfx dst;
	char kind[32];
	char target[EC2_ID_MAX];
	char state[16];	 /* active, blackhole */
	char origin[32]; /* CreateRouteTable, CreateRoute, ... */
};

struct ec2_rtb {
	char id[EC2_ID_MAX];
	char vpc[EC2_ID_MAX];
	bool main;
	struct ec2_route *routes;
	size_t nroutes;
	char (*subnets)[EC2_ID_MAX];
	size_t nsubnets;
};

struct ec2_error {
	char code[64];
	char message[256];
};

/* 1 and e filled when buf is an EC2 error document, 0 when it is not one. */
int ec2_parse_error(const char *buf, size_t len, struct ec2_error *e);
/* DescribeRouteTablesResponse; next gets nextToken ("" when none). */
int ec2_parse_route_tables(const char *buf, size_t len, struct ec2_rtb **out, size_t *n, char *next,
			   size_t nextlen, char *err, size_t errlen);
void ec2_rtbs_free(struct ec2_rtb *v, size_t n);
/* DescribeNetworkInterfaceAttributeResponse for sourceDestCheck. */
int ec2_parse_source_dest_check(const char *buf, size_t len, bool *on, char *err, size_t errlen);
/* DescribeNetworkInterfaceAttribute for groupSet: the security group ids. */
#define EC2_MAX_GROUPS 16
int ec2_parse_group_set(const char *buf, size_t len, char (*ids)[EC2_ID_MAX], size_t max, size_t *n,
			char *err, size_t errlen);

/* One inbound rule of a security group. */
struct ec2_perm {
	char group[EC2_ID_MAX]; /* the group's id */
	char proto[8];		/* "tcp", "udp", "icmp", "-1" (all), or a number */
	int from, to;		/* the port range; -1 when the rule has none (all ports) */
	struct pfx_list src;	/* its address sources (ipRanges, ipv6Ranges) */
	bool other_src;		/* also groups or prefix lists (not resolved here) */
};

#define EC2_MAX_PERMS	1000
#define EC2_MAX_SOURCES 1000 /* address sources of one rule */
/* DescribeSecurityGroupsResponse: the inbound rules of all its groups. */
int ec2_parse_ingress(const char *buf, size_t len, struct ec2_perm **out, size_t *n, char *err,
		      size_t errlen);
void ec2_perms_free(struct ec2_perm *v, size_t n);
/*
 * Whether a rule lets in proto ("udp", "tcp", or "esp": IP protocol 50,
 * port ignored) to port, from the address from (NULL: from some source;
 * a group or prefix-list source never matches an address).
 */
bool ec2_perm_allows(const struct ec2_perm *p, const char *proto, unsigned port,
		     const struct pfx *from);

/* A network interface as DescribeNetworkInterfaces shows it. */
struct ec2_eni {
	char id[EC2_ID_MAX];
	char subnet[EC2_ID_MAX];
	char az[EC2_ID_MAX];
	char status[24];	     /* available, in-use, attaching, detaching, ... */
	char instance[EC2_ID_MAX];   /* attached to, "" when not */
	char attach_status[24];	     /* attaching, attached, detaching, detached, "" */
	char attachment[EC2_ID_MAX]; /* eni-attach-..., "" when not attached */
	char mac[18];		     /* 02:00:00:aa:bb:cc, lower case; "" when not given */
};

#define EC2_MAX_ENIS 256
/* DescribeNetworkInterfacesResponse: the interfaces, sorted by id. An
 * interface without an id or with a bad one refuses the whole answer;
 * next gets nextToken ("" when none). */
int ec2_parse_network_interfaces(const char *buf, size_t len, struct ec2_eni **out, size_t *n,
				 char *next, size_t nextlen, char *err, size_t errlen);
/* DescribeInstancesResponse: the state name (pending, running, stopping,
 * stopped, shutting-down, terminated) of instance id; -ENOENT when the answer
 * does not hold it. */
int ec2_parse_instance_state(const char *buf, size_t len, const char *id, char *state,
			     size_t statelen, char *err, size_t errlen);
/* The interface id in v (n of them, sorted), NULL when absent. */
const struct ec2_eni *ec2_eni_find(const struct ec2_eni *v, size_t n, const char *id);

/*
 * The answer of a mutating call: an ACTIONResponse document whose <return>,
 * when there is one, is true; -EINVAL otherwise.
 */
int ec2_parse_return(const char *buf, size_t len, const char *action, char *err, size_t errlen);

#endif
