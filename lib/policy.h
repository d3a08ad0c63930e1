/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The admission policy: who may announce which network. One module for the
 * plugin (fast path, from memory, in microseconds), the agent (the
 * authority: every connect and sync is checked here before anything is
 * programmed) and vpcroutectl (CCD rendering). Every refusal names the rule
 * that refused: "... (rule: NAME)".
 */
#ifndef VR_POLICY_H
#define VR_POLICY_H

#include <stdbool.h>

#include "ccd.h"
#include "cfg.h"
#include "claimset.h"
#include "proto.h"

#define POLICY_REASON_MAX 384

/* One network or tunnel address held on this host, and by whom. */
struct policy_entry {
	struct pfx net;
	const char *cn, *instance; /* not owned: they outlive the index */
	size_t seq;		   /* the holder's place in a sync, 0 outside one */
};

/* What one holder has: n networks or addresses at v. */
typedef bool (*policy_walk_fn)(const struct pfx *v, size_t n, const char *cn, const char *instance,
			       void *arg);

/*
 * What the host holds: networks and tunnel addresses. Unindexed, a query
 * scans (right for one check); after policy_host_index a query is a few
 * binary searches (right for a sync of many clients).
 */
struct policy_host {
	struct policy_entry *nets, *addrs;
	size_t nnets, naddrs, capnets, capaddrs;
	bool indexed;
	uint8_t lens[2][129]; /* [v4, v6][length]: some entry has that length */
	/* Entries a query ignores (a sync's later or refused clients), or NULL. */
	bool (*ignore)(const struct policy_entry *e, const void *ctx);
	const void *ctx;
	/*
	 * Or, for one check, what the caller holds walked in place (no copy):
	 * fn for the networks (addrs false) or the tunnel addresses (addrs
	 * true, host prefixes) of each holder, until fn returns true; then walk
	 * returns true. NULL for none.
	 */
	bool (*walk)(const void *ctx, bool addrs, policy_walk_fn fn, void *arg);
	const void *walk_ctx;
	/*
	 * Or an index the caller keeps (used instead of walk): fills found
	 * with a holder's network that overlaps x (addrs false) or tunnel
	 * address equal to x (addrs true), not cn's of instance, and returns
	 * true; false when there is none.
	 */
	bool (*find)(const void *ctx, bool addrs, const struct pfx *x, const char *cn,
		     const char *instance, struct policy_entry *found);
	const void *find_ctx;
};

void policy_host_init(struct policy_host *h);
void policy_host_free(struct policy_host *h);
/* Adds a network held by cn of instance; -ENOMEM. */
int policy_host_add_net(struct policy_host *h, const struct pfx *net, const char *cn,
			const char *instance, size_t seq);
/* Adds a tunnel address (host prefix) held by cn of instance; -ENOMEM. */
int policy_host_add_addr(struct policy_host *h, const struct pfx *addr, const char *cn,
			 const char *instance, size_t seq);
/* Adds a client's networks and tunnel addresses (cn points into c); -ENOMEM. */
int policy_host_add_client(struct policy_host *h, const struct proto_client *c,
			   const char *instance, size_t seq);
/* Sorts the entries: O(n log n) once, then O(log n) per query. */
void policy_host_index(struct policy_host *h);

/*
 * The one conflict check: may client c of instance hold its networks and
 * tunnel addresses, under configuration cfg, next to what host holds (its
 * own earlier entries, same cn and instance, do not count)? true, or false
 * with why filled ("client CN: ... (rule: NAME)"). host may be NULL.
 */
bool policy_check(const struct cfg *cfg, const char *instance, const struct proto_client *c,
		  const struct policy_host *host, char *why, size_t len);

/*
 * IPsec peers (ipsec.peers) hold their networks as the instance named
 * POLICY_IPSEC_INSTANCE, each peer under the text of its address; no plugin
 * may take that name (policy_check_role).
 */
#define POLICY_IPSEC_INSTANCE "ipsec"

/*
 * The same rule for an IPsec peer at peer (a host prefix), whose networks
 * (from the kernel's tunnel-mode policies) are c's; c->cn is the address's
 * text; id its IKE identity when strongSwan's VICI socket told it (NULL:
 * unknown): the peer must be in ipsec.peers (the entry of its identity,
 * else of its address: cfg_peer_lookup), its networks inside its allow,
 * off the local networks and pools, and nobody else's. true, or false with
 * why filled ("IPsec peer ADDR: ... (rule: NAME)").
 */
bool policy_check_peer(const struct cfg *cfg, const struct pfx *peer, const char *id,
		       const struct proto_client *c, const struct policy_host *host, char *why,
		       size_t len);

/* reason cut to fit len (an ack's error), keeping its "(rule: ...)" end. */
void policy_reason_fit(const char *reason, char *out, size_t len);
/* The NAME of reason's "(rule: NAME)" end into out: out, or NULL when it has none. */
const char *policy_reason_rule(const char *reason, char *out, size_t len);

/*
 * A plugin's hello: its OpenVPN's role (server or client) must be the
 * configuration's, and its instance not named POLICY_IPSEC_INSTANCE. true,
 * or false with why filled.
 */
bool policy_check_role(const struct cfg *cfg, const char *instance, enum proto_role role, char *why,
		       size_t len);

/*
 * The pieces of the rule the configuration loader applies to itself. Each
 * returns NULL when x is fine, else the rule's name with why filled (no
 * client name, no rule: "X overlaps the local network Y").
 */
/* x overlaps a local network or the tunnel pool. */
const char *policy_net_reserved(const struct cfg *cfg, const struct pfx *x, char *why, size_t len);
/* A fixed tunnel address: inside the pool of its family, and neither the
 * pool's network nor broadcast address nor the server's own (the first). */
const char *policy_address_invalid(const struct cfg *cfg, const struct pfx *addr, char *why,
				   size_t len);

/* Client role: whether a route the server pushed is taken (accept_routes). */
bool policy_route_accepted(const struct cfg *cfg, const struct pfx *r);
/*
 * Whether the configuration could ever want a route for p: the pools, a
 * network some client may announce (allow, else iroutes, default entry
 * included); client role: inside accept_routes, or anything not overlapping
 * the local networks when that is empty. Never a default route (/0).
 */
bool policy_may_announce(const struct cfg *cfg, const struct pfx *p);
/*
 * Whether some network policy_may_announce allows can lie inside s (an
 * aws.summaries prefix that holds none is never used): a pool or an allowed
 * network that overlaps s; client role: accept_routes overlapping s, or, when
 * that is empty, s not inside the local networks.
 */
bool policy_may_announce_within(const struct cfg *cfg, const struct pfx *s);

/*
 * Server role: the networks policy_may_announce covers, as a list (the
 * pools, then each client's allow, else its iroutes, the default entry
 * included; each prefix once). For a daemon that filters by prefix. 0 or
 * -ENOMEM; out is the caller's to free with pfx_list_free.
 */
int policy_announceable(const struct cfg *cfg, struct pfx_list *out);

/* --- the plugin's decision: the proposed client from policy and CCD --- */

struct admission {
	const struct cfg *cfg;
	const char *cn;
	const char *instance;  /* this OpenVPN instance */
	const struct ccd *ccd; /* NULL or !found: no CCD file */
	bool has_pool_ip;      /* what OpenVPN took from its pool */
	struct pfx pool_ip;
	/* claimed on this host (agent's view), or NULL; checked through its
	 * index by network when it keeps one (claimset_index_nets) */
	const struct claimset *claims;
	/* this instance's connected clients, as claims of instance (NULL:
	 * none): their networks in own_nets, their tunnel addresses (host
	 * prefixes) in own_addrs; each checked through its index by network
	 * when it keeps one, so that the decision does not walk them all */
	const struct claimset *own_nets, *own_addrs;
};

struct verdict {
	bool admit;
	char reason[POLICY_REASON_MAX]; /* why not, naming client, network and rule */
	struct proto_client client;	/* what the agent is told */
	char *config;			/* lines for OpenVPN's return list */
};

/* 0 with out filled (admit or not), or -ENOMEM. */
int policy_decide(const struct admission *in, struct verdict *out);
void verdict_free(struct verdict *v);

#endif
