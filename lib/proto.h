/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plugin <-> agent protocol (doc/protocol.md): one JSON object per
 * SOCK_SEQPACKET message, at most PROTO_MAX_MSG bytes, version PROTO_VERSION.
 */
#ifndef VR_PROTO_H
#define VR_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

#include "cn.h"
#include "digest.h"
#include "pfx.h"

#define PROTO_VERSION	  2 /* what this side writes */
#define PROTO_VERSION_MIN 1 /* the oldest it reads: a plugin of version 1 gets snapshots */
#define PROTO_MAX_MSG	  65536
#define PROTO_MAX_NETS	  256  /* networks of one client, routes of one tunnel */
#define PROTO_MAX_CLIENTS 512  /* clients in one sync message */
#define PROTO_MAX_CLAIMS  2048 /* claims in one claims message (added and removed) */
/* Bytes of a claims message besides its claims and their commas, at most. */
#define PROTO_CLAIMS_FRAME 160
#define PROTO_INSTANCE_MAX 64
#define PROTO_ERROR_MAX	   256
#define PROTO_ERRLEN	   256
#define PROTO_REPORT_MAX   49152 /* bytes of status text in one report */

enum proto_type {
	PROTO_HELLO,
	PROTO_CONNECT,
	PROTO_DISCONNECT,
	PROTO_LEARN,
	PROTO_SYNC,
	PROTO_TUNNEL,
	PROTO_CLAIMS,
	PROTO_ACK,
	PROTO_STATUS,	/* vpcroutectl: what the agent knows, as reports then an ack */
	PROTO_RELOAD,	/* vpcroutectl: read the configuration again */
	PROTO_REPORT,	/* agent: one piece of a status answer */
	PROTO_POLICY,	/* agent <-> plugin: the configuration each runs */
	PROTO_WITHDRAW, /* vpcroutectl: remove our VPC routes now (retirement) */
	/* vpcroutectl: the metrics (Prometheus text), as reports then an ack */
	PROTO_METRICS,
	PROTO_SNAPSHOT, /* plugin (version 2): send me the whole claims table */
	PROTO_TYPE_MAX
};

/* What a withdraw removes: bits, as the planner's PLAN_WITHDRAW_*. */
enum proto_withdraw_scope {
	PROTO_WITHDRAW_OURS = 1,     /* "ours": every route the agent could have made */
	PROTO_WITHDRAW_UNWANTED = 2, /* "unwanted": those status shows "ours, not wanted" */
	PROTO_WITHDRAW_ALL = 3,	     /* "all": both */
};

enum proto_role { PROTO_ROLE_SERVER, PROTO_ROLE_CLIENT, PROTO_ROLE_CTL };
enum proto_learn_op { PROTO_LEARN_ADD, PROTO_LEARN_UPDATE, PROTO_LEARN_DELETE };
enum proto_tunnel_event {
	PROTO_TUNNEL_UP,
	PROTO_TUNNEL_ROUTE_UP,
	PROTO_TUNNEL_ROUTE_PREDOWN,
	PROTO_TUNNEL_DOWN
};

/* A connected OpenVPN client and the networks it announces. */
struct proto_client {
	char cn[CN_MAX + 1];
	bool has_tunnel4, has_tunnel6;
	struct pfx tunnel4, tunnel6; /* host prefixes */
	struct pfx_list nets;
};

/* One network claimed on this host, and by whom. */
struct proto_claim {
	struct pfx net;
	char cn[CN_MAX + 1];
	char instance[PROTO_INSTANCE_MAX + 1];
};

struct proto_msg {
	enum proto_type type;
	/* decoded: the message's "v"; to encode: the version to write, 0 for PROTO_VERSION */
	unsigned version;
	uint64_t id; /* request id; 0 for none */
	union {
		struct {
			enum proto_role role;
			uint32_t pid;
			char instance[PROTO_INSTANCE_MAX + 1];
		} hello;
		struct proto_client connect;
		struct {
			char cn[CN_MAX + 1];
		} disconnect;
		struct {
			enum proto_learn_op op;
			struct pfx addr;
			char cn[CN_MAX + 1]; /* empty for delete */
		} learn;
		struct {
			struct proto_client *clients;
			size_t n;
			bool more; /* further sync messages follow */
		} sync;
		struct {
			enum proto_tunnel_event event;
			char dev[IF_NAMESIZE];
			bool has_local, has_remote;
			struct pfx local, remote;
			struct pfx_list routes;
			/* where this OpenVPN listens (its "proto" and "port"), 0: unknown */
			enum proto_transport { PROTO_UDP = 1, PROTO_TCP } listen_proto;
			uint16_t listen_port;
		} tunnel;
		/*
		 * A snapshot (delta false): v holds (a chunk of) the whole table
		 * of generation gen. A delta (version 2): what changed from
		 * generation base to gen, v the claims added and del those
		 * removed; no claim is in both.
		 */
		struct {
			uint64_t gen;
			struct proto_claim *v;
			size_t n;
			bool more;
			bool delta;
			uint64_t base;
			struct proto_claim *del;
			size_t ndel;
		} claims;
		struct {
			uint64_t ref;
			bool ok;
			char error[PROTO_ERROR_MAX + 1];
		} ack;
		struct {
			uint64_t ref;
			char *text; /* NUL-terminated, at most PROTO_REPORT_MAX bytes */
		} report;
		struct {
			uint64_t gen;		    /* the agent's configuration generation */
			char digest[DIGEST_HEXLEN]; /* SHA-256 of the file's bytes, hex */
		} policy;
		struct {
			enum proto_withdraw_scope scope;
		} withdraw;
	};
};

/*
 * Encode into buf; returns the length, or -EMSGSIZE when it does not fit
 * (buf of PROTO_MAX_MSG bytes always fits what the caps allow for a single
 * client), -EINVAL for a message that breaks the caps.
 */
int proto_encode(const struct proto_msg *m, char *buf, size_t len);
/* Decode and validate one message; on error fills err and returns -EINVAL. */
int proto_decode(const char *buf, size_t len, struct proto_msg *m, char *err, size_t errlen);
/* Frees the arrays a decoded (or caller-built) message owns. */
void proto_msg_free(struct proto_msg *m);

const char *proto_type_name(enum proto_type t);

/* The exact bytes of claim c in an encoded claims message (without a comma). */
size_t proto_claim_size(const struct proto_claim *c);

#endif
