/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plugin's connection to vpcroute-agent. One background thread owns the
 * socket: it connects and reconnects with backoff, sends queued messages,
 * and keeps the replica of the host's claimed networks. OpenVPN's thread
 * only takes a mutex for microseconds: it never waits for the agent.
 *
 * The link also holds this OpenVPN instance's client table, and sends it
 * whole (hello, then sync) every time the connection is (re)established,
 * and again (sync alone) when the bounded queue overflowed, so the agent
 * never misses a change. The
 * agent's answer to a client's connect is kept with that client, so any
 * number of answers can arrive between two polls of OpenVPN.
 *
 * fork() (OpenVPN's --daemon) waits until the thread is outside its lock;
 * the child's next link_start() starts a thread of its own, on a
 * connection of its own.
 */
#ifndef VR_LINK_H
#define VR_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "claimset.h"
#include "proto.h"

struct link;

struct link *link_new(const char *path, const char *instance, enum proto_role role,
		      unsigned queue_max, unsigned reconnect_max_ms);
void link_free(struct link *l);
/* Starts the thread if it is not running in this process (first call, fork). */
int link_start(struct link *l);

bool link_connected(struct link *l);

/*
 * A client was admitted (pending=false) or waits for the agent (pending=
 * true, deferred admission). Returns the request id to wait for.
 */
uint64_t link_client_connect(struct link *l, const struct proto_client *c, bool pending);
/* A pending client was admitted after all. */
void link_client_admitted(struct link *l, const char *cn);
/* Forgets an admitted client and tells the agent; false if it was not known. */
bool link_client_disconnect(struct link *l, const char *cn);
/* Client mode: the tunnel's latest state, re-sent after every reconnect. */
void link_tunnel(struct link *l, const struct proto_msg *tunnel);

/*
 * The agent's answer to the connect with this id (link_client_connect):
 * 1: acknowledged, -1: refused (reason in err), 0: not yet, or no such
 * client any more.
 */
int link_ack(struct link *l, uint64_t id, char *err, size_t errlen);

/*
 * This instance's clients as the admission check sees them: their
 * networks and their tunnel addresses (host prefixes), each a claim of
 * this instance indexed by network (claimset_index_nets), kept with the
 * table; how many clients.
 */
struct link_own {
	const struct claimset *nets, *addrs;
	size_t n;
};
/*
 * Runs fn with the claims replica and this instance's clients, both
 * indexed by network (claimset_overlaps costs O(prefix length)), while
 * holding the link's lock: O(1), nothing copied; fn must return quickly.
 * 0, or -ENOMEM (fn not run) when the clients' index, lost to a failed
 * allocation, cannot be rebuilt.
 */
typedef void (*link_view_fn)(const struct claimset *claims, const struct link_own *own, void *ctx);
int link_view(struct link *l, link_view_fn fn, void *ctx);

/*
 * The configuration the plugin decides with. The agent announces each
 * configuration it runs (a "policy" message: generation and SHA-256 of the
 * file's bytes, after hello and after every successful reload); when it
 * differs from this one, the link thread (never OpenVPN's) re-reads the
 * same file, checks that its digest is the agent's, swaps it in under the
 * lock (a pointer store) and tells the agent which digest it now runs. A
 * file that fails to load or whose digest is not the agent's leaves the
 * previous configuration in place, logged, and is retried a few times. The
 * clients connected under the previous configuration that the new one
 * forbids are logged by name.
 *
 * A caller holds the configuration it got until it releases it: a connect
 * decided under the old one finishes with the old one.
 */
struct link_cfg {
	struct cfg *cfg;
	uint64_t gen;  /* the agent's generation it matched; 0: not confirmed yet */
	unsigned refs; /* under the link's lock */
};

/* The plugin's copy of the file: validated, with no aws section (no secret). */
int link_cfg_load(const char *path, struct cfg **out, char *err, size_t errlen);
/*
 * The link takes cfg (from link_cfg_load) and follows the agent's reloads
 * of its file; -ENOMEM (cfg not taken).
 */
int link_set_cfg(struct link *l, struct cfg *cfg);
/* The configuration in effect, held until link_cfg_release; NULL before link_set_cfg. */
const struct link_cfg *link_cfg_hold(struct link *l);
void link_cfg_release(struct link *l, const struct link_cfg *h);

/* Log lines from the thread, handed to fn on the caller's thread (without the lock). */
typedef void (*link_log_fn)(int prio, const char *msg, void *ctx);
void link_flush_log(struct link *l, link_log_fn fn, void *ctx);

#endif
