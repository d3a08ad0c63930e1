/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vpcroute-agent: one single-threaded epoll loop that holds the desired
 * state (who announces what, through which tunnel) and reconciles the
 * kernel towards it.
 */
#ifndef VR_AGENT_H
#define VR_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <net/if.h>

#include "cfg.h"
#include "nft.h"
#include "proto.h"
#include "rtnl.h"

struct aclient {
	char cn[CN_MAX + 1];
	struct pfx_list nets;
	bool has_t4, has_t6;
	struct pfx t4, t6;
	time_t since; /* connect, or the plugin's last resync */
};

/* One OpenVPN instance, as its plugin describes it. */
struct ainst {
	char name[PROTO_INSTANCE_MAX + 1];
	enum proto_role role;
	char dev[IF_NAMESIZE]; /* its tunnel device, once up */
	struct aclient *c;
	size_t n;
	struct aclient *pend; /* a sync in progress */
	size_t npend;
	bool syncing;
	/* client role: the tunnel and what the server pushed */
	bool tun_up;
	bool route_up;			   /* OpenVPN has had its go at the pushed routes */
	enum proto_transport listen_proto; /* where OpenVPN listens, 0: unknown */
	uint16_t listen_port;
	struct pfx_list routes;
	const void *owner; /* the connection of its plugin, NULL when none */
};

/* A route we installed (or adopted at start). */
struct aroute {
	struct pfx dst;
	int oif;	       /* 0: its device is missing */
	char dev[IF_NAMESIZE]; /* the device's name, when wanted */
};

/* A wanted route the kernel refused (or whose device is missing). */
struct afail {
	struct pfx dst;
	int err;
	char dev[IF_NAMESIZE];
};

struct watch;

struct conn;

struct agent {
	struct cfg *cfg;
	const char *cfg_path;
	bool flush_on_exit;
	unsigned grace_s;
	bool in_grace; /* adopted routes stay until the plugins had time to resync */
	int epfd, sigfd, lfd, timerfd;
	char sock_path[108]; /* the socket we listen on (a reload does not move it) */
	struct conn *conns;
	struct ainst **inst;
	size_t ninst;
	struct rtnl *rt;
	struct nft *nft;
	struct aroute *routes; /* in the kernel now, ours */
	size_t nroutes;
	struct aroute *adopted; /* found at start */
	size_t nadopted;
	struct aroute *foreign; /* wanted, but another protocol's route is there */
	size_t nforeign;
	struct afail *failed; /* wanted routes the last pass could not install */
	size_t nfailed;
	int nft_err;	     /* the last nftables apply's error, 0 */
	struct watch *watch; /* kernel notifications and periodic checks (watch.c) */
	uint64_t claims_gen;
	bool claims_pending; /* a claims broadcast is scheduled */
	int claims_timerfd;
	bool nft_ready;
	struct cloud *cloud; /* NULL without the aws section */
	time_t started;
	bool dry_run; /* no EC2 call that changes anything */
};

/* state.c */
struct ainst *state_inst(struct agent *a, const char *name, enum proto_role role);
/* Claims check: 0, or -EEXIST with why filled. */
int state_check_client(struct agent *a, const struct ainst *self, const struct proto_client *c,
		       char *why, size_t len);
int state_client_copy(struct aclient *dst, const struct proto_client *src);
int state_client_set(struct ainst *in, const struct proto_client *c);
bool state_client_del(struct ainst *in, const char *cn);
struct aclient *state_client_find(struct ainst *in, const char *cn);
int state_client_dup(struct aclient *dst, const struct aclient *src);
void state_free(struct agent *a);
/* Drops a sync that was cut short. */
void state_sync_abort(struct ainst *in);
/* Recomputes what the kernel should hold and makes it so. */
int state_apply(struct agent *a);
/*
 * One client of in came (old NULL), went (new NULL) or changed: only its
 * routes and set elements are touched, when the agent is steady; otherwise
 * the same as state_apply.
 */
int state_client_change(struct agent *a, const struct ainst *in, const struct aclient *old,
			const struct aclient *new);
/* Why the route to dst could not be installed: -errno, or 0. */
int state_route_failed(const struct agent *a, const struct pfx *dst, const char **dev);
/* For the status, as the kernel holds them now: our routes there, each
 * "installed" (as wanted) or "not wanted"; and in *missing the wanted ones
 * that are not there, "missing" or "failed" (with "error"). NULL when the
 * kernel's routes cannot be read. */
json_t *state_routes_json(struct agent *a, json_t **missing);
/* Everything claimed on this host, for the plugins. */
size_t state_claims(struct agent *a, struct proto_claim **out);
void state_end_grace(struct agent *a);
/* What a reconcile would change in the kernel's routes now (for the status). */
json_t *state_plan(struct agent *a);
/* local_networks "auto": takes the VPC's CIDR blocks once known; true when
 * they changed (and, with apply, reconciles). */
bool state_local_auto(struct agent *a, bool apply);
int state_adopt(struct agent *a);
int state_flush(struct agent *a);

/* dispatch.c: handles one message of the peer whose instance is *inst
 * (NULL before hello) and display name is name, programming what it changes
 * before it returns; returns the error for the ack, or NULL; *changed when
 * the claims changed. */
const char *dispatch(struct agent *a, const void *peer, struct ainst **inst, char *name,
		     size_t namelen, struct proto_msg *m, bool *changed, char *why, size_t whylen);

/* status.c: what vpcroutectl status shows (doc/status.schema.json) */
json_t *status_json(struct agent *a);

/* main.c: SIGHUP and vpcroutectl reload; err filled on failure */
int agent_reload(struct agent *a, char *err, size_t errlen);

/* ctl.c */
int ctl_listen(struct agent *a);
void ctl_accept(struct agent *a);
void ctl_event(struct agent *a, struct conn *c, uint32_t events);
/* Schedules a claims broadcast (coalesced); ctl_send_claims sends it. */
void ctl_broadcast_claims(struct agent *a);
void ctl_send_claims(struct agent *a);
void ctl_close_all(struct agent *a);
/* Frees the connections closed during the last event batch. */
void ctl_reap(struct agent *a);

/* sysctl.c */
int sysctl_ensure(const char *key, const char *value);
void sysctl_host(const struct cfg *c);
void sysctl_tunnel(const char *dev);

#endif
