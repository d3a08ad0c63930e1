/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vpcroute-agent: one single-threaded epoll loop that holds the desired
 * state (who announces what, through which tunnel) and reconciles the
 * kernel towards it.
 */
#ifndef VR_AGENT_H
#define VR_AGENT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <net/if.h>

#include "cfg.h"
#include "dns.h"
#include "nameidx.h"
#include "nft.h"
#include "pfxtree.h"
#include "proto.h"
#include "rtnl.h"

/* A client as the agent holds it: what its plugin said, and since when. */
struct aclient {
	struct proto_client pc;
	time_t since; /* connect, or the plugin's last resync */
};

/* One OpenVPN instance, as its plugin describes it. */
struct ainst {
	char name[PROTO_INSTANCE_MAX + 1];
	enum proto_role role;
	char dev[IF_NAMESIZE]; /* its tunnel device, once up */
	struct aclient *c;
	size_t n;
	/* c indexed (state.c): by common name, and the networks and tunnel
	 * addresses by prefix (values: positions in c); after a change of
	 * many clients at once (a sync) rebuilt at the next use; when it
	 * cannot be whole (out of memory, one prefix held twice), c is scanned */
	struct nameidx byname;
	struct pfxtree nets, addrs;
	enum { INST_IDX_STALE, INST_IDX_OK, INST_IDX_SCAN } idx;
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
	/* who holds the name (dispatch.c, hello): its plugin's process as
	 * SO_PEERCRED gave it; a different process may take the name only
	 * INST_GRACE_S after the owner left, root at once */
	pid_t owner_pid; /* 0: never claimed */
	uid_t owner_uid;
	uint32_t owner_hello_pid; /* what its hello said */
	uint64_t owner_left_ms;	  /* loop_now_ms() when its plugin went; 0: connected */
	/* the configuration its plugin said it runs (a policy message); "": none */
	uint64_t plugin_gen;
	char plugin_digest[DIGEST_HEXLEN];
	/* the kernel's IPsec tunnels (ipsec.c), named POLICY_IPSEC_INSTANCE:
	 * its clients are the peers (cn: the address), no plugin */
	bool ipsec;
};

/* A route we installed (or adopted at start). */
struct aroute {
	struct pfx dst;
	int oif;	       /* 0: its device is missing */
	char dev[IF_NAMESIZE]; /* the device's name, when wanted */
	bool unreach;	       /* "unreachable dst": an active summary's (aws.summaries) */
};

/* A wanted route the kernel refused (or whose device is missing). */
struct afail {
	struct pfx dst;
	int err;
	char dev[IF_NAMESIZE];
};

struct watch;
struct xfrm;
struct xfrm_tunnel;

/* A tunnel's network the policy refused (ipsec.c), for the log and status. */
struct arefusal {
	struct pfx peer, net;
	char *why;
};

struct vici;

/* An IPsec peer's IKE identity as strongSwan's VICI socket names it (ipsec.c
 * keeps them, for the tunnels' peers, at each ipsec_update). */
struct apeer_id {
	char name[CN_MAX + 1]; /* the peer's client name (agent_peer_addr) */
	struct pfx addr;
	uint16_t port; /* its NAT traversal port, 0: none */
	char *id;
};

/*
 * The client changes of one loop pass, programmed together: one nftables
 * transaction and one pass over the routes (state_batch_commit). The
 * clients touched, each as it was before the batch's first change to it,
 * and the messages whose acknowledgements wait for the commit (dispatch.c).
 */
#define BATCH_MAX    64	  /* messages in one batch */
#define BATCH_MAX_US 1000 /* reading time of one batch */

struct batch_touch {
	struct ainst *in;
	char cn[CN_MAX + 1];
	bool had; /* was: the client before the batch */
	struct aclient was;
};

struct batch_wait {
	struct ainst *in;
	char cn[CN_MAX + 1];
	bool connect;
	const void *tag; /* its peer; NULL once the peer went */
	uint64_t ref;
	char error[PROTO_ERROR_MAX]; /* its answer, "" for success */
};

struct batch {
	struct batch_touch *t;
	size_t nt, capt;
	struct batch_wait *w;
	size_t nw, capw;
	uint64_t started_us; /* the first change's arrival */
	uint64_t max_us;     /* its reading time, 0: BATCH_MAX_US (tests set it) */
};

/* A client whose claims may have changed since they were last published,
 * with its networks as they were then (state_batch_touch records it; the
 * claims broadcast, sock.c, takes the list). */
#define CLAIMS_DIRTY_MAX 256 /* beyond: the broadcast compares everything */

struct claims_dirty {
	struct ainst *in;
	char cn[CN_MAX + 1];
	struct pfx_list was;
};

struct agent {
	struct cfg *cfg;
	const char *cfg_path;
	bool flush_on_exit;
	unsigned grace_s;
	bool in_grace; /* adopted routes stay until the plugins had time to resync */
	int epfd, sigfd, timerfd;
	struct sock *sock;		   /* the control socket (sock.c) */
	struct metrics_http *metrics_http; /* metrics.listen (metrics_http.c), NULL: none */
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
	int nft_err; /* the last nftables apply's error, 0 */
	/* kernel route changes a reconcile left for the following loop passes
	 * (state_continue, at most STATE_ROUTES_PER_PASS each): deletions
	 * first, then additions, both sorted by destination */
	struct pfx *todo_del;
	size_t ntodo_del;
	struct aroute *todo;
	size_t ntodo;
	struct watch *watch; /* kernel notifications and periodic checks (watch.c) */
	bool retry_wanted; /* something could not be programmed: the loop asks the watch to retry */
	uint64_t claims_gen;
	uint64_t cfg_gen; /* 1 at start, one more at each successful reload */
	bool nft_ready;
	struct cloud *cloud;	       /* NULL without the aws section */
	struct dns *dns;	       /* the resolver of the rules' host names (dns.c) */
	const struct dns_table *names; /* its table (NULL: none); state.c reads it */
	/* IPsec (ipsec.c): the kernel's XFRM tables, NULL when unreadable */
	struct xfrm *xfrm;
	struct xfrm_tunnel *tunnels; /* as last read: sorted by peer, network */
	size_t ntunnels;
	struct arefusal *refused; /* tunnels with an SA whose network is refused */
	size_t nrefused;
	struct vici *vici;	   /* strongSwan's VICI socket (vici.h); NULL: not set */
	struct apeer_id *peer_ids; /* the tunnels' peers VICI names an identity for */
	size_t npeer_ids;
	struct nameidx peer_idx; /* peer_ids by name (agent_peer_id) */
	time_t started;
	bool dry_run;	    /* no EC2 call that changes anything */
	struct batch batch; /* client changes not yet programmed */
	/* since the claims were last published: the clients changed one by
	 * one, or (claims_full) something else changed */
	struct claims_dirty *dirty;
	size_t ndirty, capdirty;
	bool claims_full;
};

/* state.c */
struct ainst *state_inst(struct agent *a, const char *name, enum proto_role role);
/* The admission policy (lib/policy.h) for client c of in, against every
 * instance's clients: 0, or -EPERM with why naming the rule. */
int state_admit(struct agent *a, const struct ainst *in, const struct proto_client *c, char *why,
		size_t len);
/* A whole sync arrived: in's clients become the pending ones the policy
 * admits (refused is told of each other one). The number refused, or
 * -ENOMEM (then in has no clients). O(n log n). */
ssize_t state_sync_install(struct agent *a, struct ainst *in,
			   void (*refused)(const struct ainst *in, const char *cn,
					   const char *why));
int state_client_copy(struct aclient *dst, const struct proto_client *src);
int state_client_set(struct ainst *in, const struct proto_client *c);
bool state_client_del(struct ainst *in, const char *cn);
struct aclient *state_client_find(struct ainst *in, const char *cn);
/* in's clients are about to change in place (not through state_client_set
 * or state_client_del): the index is rebuilt at its next use. */
void state_index_stale(struct ainst *in);
int state_client_dup(struct aclient *dst, const struct aclient *src);
void state_free(struct agent *a);
/* Drops a sync that was cut short. */
void state_sync_abort(struct ainst *in);
/* Kernel route changes (requests with an ACK) per loop pass. */
#define STATE_ROUTES_PER_PASS 256
/* Recomputes what the kernel should hold and makes it so: the routes
 * STATE_ROUTES_PER_PASS at a time, the nftables set elements in
 * transactions of about 20 ms (nft_apply; a table built or rebuilt goes in
 * whole, at once); the rest is left to state_continue. */
int state_apply(struct agent *a);
/* True while route or set element changes are left for the following loop passes. */
bool state_busy(const struct agent *a);
/* Makes the next STATE_ROUTES_PER_PASS routes and one element transaction
 * of them (main.c's loop, without waiting, while state_busy). */
void state_continue(struct agent *a);
/*
 * Client cn of in is about to change (connect, disconnect): remembered as
 * it is now, unless the batch holds it already. 0 or -ENOMEM.
 */
int state_batch_touch(struct agent *a, struct ainst *in, const char *cn);
/* Forgets the list of clients changed since the claims were published. */
void state_dirty_clear(struct agent *a);
/* Whether the batch is to be committed now (BATCH_MAX, BATCH_MAX_US). */
bool state_batch_due(const struct agent *a);
/*
 * Programs every client the batch touched, from what it was to what it is
 * now: their routes and set elements only, in one nftables transaction,
 * when the agent is steady; otherwise the same as state_apply. Empties the
 * touched list. Returns the nftables error, or 0: a client's own routes
 * are told by state_client_failed.
 */
int state_batch_commit(struct agent *a);
/* Why one of c's routes could not be installed (the first), or 0. */
int state_client_failed(const struct agent *a, const struct aclient *c);
int state_client_change(struct agent *a, const struct ainst *in, const struct aclient *old,
			const struct aclient *new);
/* A port forward on a port an OpenVPN instance listens on: not programmed. */
bool state_forward_blocked(const struct agent *a, const struct cfg_forward *f);
/* Why the route to dst could not be installed: -errno, or 0. */
int state_route_failed(const struct agent *a, const struct pfx *dst, const char **dev);
/* What is wanted and the kernel's routes, read once for one status (a
 * route dump); NULL when the kernel's routes cannot be read. */
struct state_view;
struct state_view *state_view_read(struct agent *a);
void state_view_free(struct state_view *v);
/* For the status, as the kernel holds them now (v): our routes there, each
 * "installed" (as wanted) or "not wanted"; and in *missing the wanted ones
 * that are not there, "missing" or "failed" (with "error"). NULL when the
 * kernel's routes cannot be read. */
json_t *state_routes_json(struct agent *a, const struct state_view *v, json_t **missing);
/* The admission policy for IPsec peer (lib/policy.h's policy_check_peer)
 * against every holder's networks: 0, or -EPERM with why naming the rule. */
int state_peer_admit(struct agent *a, const struct pfx *peer, const struct proto_client *c,
		     char *why, size_t len);
/* Everything claimed on this host, for the plugins. */
size_t state_claims(struct agent *a, struct proto_claim **out);
void state_end_grace(struct agent *a);
/* What a reconcile would change in the kernel's routes now (for the status);
 * read: the table as nft_check read it for the same status (NULL: it could
 * not be read), so that one status reads the table once. */
json_t *state_plan(struct agent *a, const struct state_view *v, const json_t *read);
/* local_networks "auto": takes the VPC's CIDR blocks once known; true when
 * they changed (and, with apply, reconciles). */
bool state_local_auto(struct agent *a, bool apply);
int state_adopt(struct agent *a);
int state_flush(struct agent *a);

/*
 * A peer of the control socket, as sock.c identifies it at accept and
 * dispatch.c knows it: its credentials (SO_PEERCRED, at connect), its class,
 * and after hello its instance. See vpcroute-agent(8), PEERS.
 */
enum peer_class {
	PEER_ROOT,     /* uid 0: everything */
	PEER_WRITER,   /* socket.openvpn_user or socket.openvpn_group: a plugin */
	PEER_READONLY, /* socket.group: the status only */
};

struct peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	enum peer_class cls;
	struct ainst *inst;		   /* after hello; NULL before */
	char name[PROTO_INSTANCE_MAX + 1]; /* for the log: "pid N", then the instance */
	/* filled by dispatch */
	bool changed;		   /* the claims changed */
	char why[PROTO_ERROR_MAX]; /* holds the error text it returns */
};

/* dispatch.c: handles one message of a writer peer (a plugin), programming
 * what it changes before it returns; returns the error for the ack, or NULL,
 * or dispatch_batched: a connect or disconnect waits in the batch, its
 * acknowledgement comes from dispatch_commit. */
extern const char dispatch_batched[];
const char *dispatch(struct agent *a, struct peer *p, struct proto_msg *m);
/* Programs the batch (state_batch_commit) and answers each message it
 * carried, in order: done(ctx, tag, ref, error or NULL). With deferred
 * admission a connect whose programming failed is refused and forgotten. */
typedef void (*dispatch_done_fn)(void *ctx, const void *tag, uint64_t ref, const char *error);
void dispatch_commit(struct agent *a, dispatch_done_fn done, void *ctx);
/* The peer tag went away: its messages in the batch get no answer. */
void dispatch_forget(struct agent *a, const void *tag);

/* main.c: whether the configuration in effect allows connected client c of
 * in (lib/policy.c's policy_check); why filled when not. */
bool agent_client_allowed(const struct agent *a, const struct ainst *in, const struct aclient *c,
			  char *why, size_t len);

/*
 * ipsec.c: the tunnels the kernel's XFRM tables hold (xfrm.h) become peers of
 * the instance POLICY_IPSEC_INSTANCE, each network of a tunnel with a live
 * SA admitted by the policy (ipsec.peers) or refused and reported; the
 * kernel, the nftables table and the VPC routes follow (state_apply).
 */
int ipsec_open(struct agent *a);
/* The tunnels again (a notification, a reload): true when peers changed. */
bool ipsec_update(struct agent *a);
void ipsec_close(struct agent *a);
/* For the status: the tunnels, their SA, admission and refusal. */
json_t *ipsec_status_json(const struct agent *a);
/* ipsec.vici_socket (again, after a reload): the VICI client opened, moved
 * or closed. */
void ipsec_vici_configure(struct agent *a);
/*
 * ipsec_route.c: route-based tunnels (XFRM interfaces, VTIs). The tunnels
 * t[0..n) (sorted, as xfrm_current gives them) with each route-based one
 * whose selector is wider than networks of its peer's allow list replaced
 * by one per such network (sorted again): 0, or -ENOMEM (t unchanged).
 */
int ipsec_route_expand(const struct cfg *c, struct xfrm_tunnel **t, size_t *n);
/* For the status: t's interface, if_id, mark and whether its network came
 * from the allow list, into the tunnel's object j. */
void ipsec_route_json(const struct xfrm_tunnel *t, json_t *j);
/* A link came, went or changed (watch.c): the XFRM interfaces and VTIs
 * taken from the interface cache (kept from the notifications; dumped again
 * only when it is stale), and the tunnels and routes when they changed. */
void ipsec_route_links(struct agent *a);

/* The IKE identity of the IPsec peer named name (its client's cn; NULL:
 * unknown), for the policy (lib/policy.h's policy_check_peer,
 * cfg_peer_lookup). */
static inline const char *agent_peer_id(const struct agent *a, const char *name)
{
	long i = a->npeer_ids ? nameidx_find(&a->peer_idx, name) : -1;

	return i < 0 ? NULL : a->peer_ids[i].id;
}

/*
 * The address of the IPsec peer named name: its address, or, when several
 * IKE peers sit behind one address (NAT; ipsec.c), "address:port" or
 * "[address]:port" with the NAT traversal port. 0, or -EINVAL.
 */
static inline int agent_peer_addr(const char *name, struct pfx *addr)
{
	char s[CN_MAX + 1];
	const char *c = strchr(name, ':');
	size_t n;

	if (name[0] == '[')
		n = strcspn(++name, "]");
	else if (c && !strchr(c + 1, ':'))
		n = (size_t)(c - name);
	else
		return pfx_addr_parse(name, addr);
	if (n >= sizeof(s))
		return -EINVAL;
	memcpy(s, name, n);
	s[n] = '\0';
	return pfx_addr_parse(s, addr);
}

/* status.c: what vpcroutectl status shows (doc/status.schema.json), as its
 * compact JSON text (malloc'd; NULL: out of memory), written as it is made:
 * a client's object is freed before the next one is made. */
char *status_json_text(struct agent *a);
/* The same as a tree, but each instance's clients are counted
 * ("clients_counted", "networks_counted") instead of listed ("clients"):
 * what the metrics read, without an object per client. */
json_t *status_json_counts(struct agent *a);
/* Frees a status_json_counts tree; the heap is trimmed after (lib/heap.h):
 * at 50,000 clients the tree is some 30 MB (the routes). */
void status_json_free(const struct agent *a, json_t *j);
/* status.c: the log's summary of changes (clients, routes, set elements) at
 * most once a second, or now; the epoll timeout until it is due (-1: none). */
void status_log_summary(struct agent *a, bool now);
int status_summary_wait(struct agent *a);
/* dispatch.c: clients connected and disconnected since the last call */
void dispatch_take_counts(unsigned long *connected, unsigned long *disconnected);

/* main.c: SIGHUP and vpcroutectl reload; err filled on failure */
int agent_reload(struct agent *a, char *err, size_t errlen);

/*
 * sock.c: the control socket. It calls dispatch (and status_json_text,
 * state_claims) and nothing else of the core: a reload a peer asks for is
 * reported to the loop (sock_reload_requested), which reloads and answers
 * through sock_reload_reply.
 */
struct sock;
/* Listens on cfg->socket.path; idle_s: how long a peer that is not a
 * plugin may stay silent. */
int sock_open(struct agent *a, int epfd, unsigned idle_s, struct sock **out);
/* The socket's users and groups (resolved here, not per accept), its group and mode: at
 * start and after a reload. */
void sock_configure(struct sock *s, const struct cfg *c);
/* Tells every plugin the configuration the agent runs (a policy message). */
void sock_broadcast_policy(struct sock *s);
/* Schedules a claims broadcast to every plugin (coalesced), which compares
 * every claim (the changes of a batch are compared client by client). */
void sock_broadcast_claims(struct sock *s);
/* True when a peer asked for a reload since the last sock_reload_reply. */
bool sock_reload_requested(const struct sock *s);
/* Acknowledges the pending reload requests: error NULL for success. */
void sock_reload_reply(struct sock *s, const char *error);
/* vpcroutectl withdraw: the scopes asked for since the last call
 * (PROTO_WITHDRAW_* bits, 0: none), each taken once; whether a peer still
 * waits for the result; the answer to all who wait (a JSON text, or error). */
unsigned sock_withdraw_requested(struct sock *s);
bool sock_withdraw_waiting(const struct sock *s);
void sock_withdraw_reply(struct sock *s, const char *text, const char *error);
/* Programs the client changes the batch holds and acknowledges them
 * (dispatch_commit): at the end of each loop pass, and before anything that
 * must see them. */
void sock_commit(struct sock *s);
/* Frees the connections closed during the last event batch. */
void sock_reap(struct sock *s);
/* Closes every connection and the socket, and removes its path. */
void sock_close(struct sock *s);

#endif
