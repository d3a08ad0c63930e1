// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the agent does with each message of a plugin (doc/protocol.md). No
 * sockets here, so the message handler can be fuzzed on its own.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "metrics.h"
#include "sysctl.h"
#include "loop.h"
#include "policy.h"

/* for the log's summary (status_log_summary) */
static unsigned long n_connected, n_disconnected;

void dispatch_take_counts(unsigned long *connected, unsigned long *disconnected)
{
	*connected = n_connected;
	*disconnected = n_disconnected;
	n_connected = n_disconnected = 0;
}

#define SYNC_MAX 100000
/* how long an instance name stays its last owner's after its plugin went */
#define INST_GRACE_S 120

/* Refusals are logged at most 20 a second, with a count of those dropped: a
 * peer must not be able to flood the log. */
static struct log_rl rl = LOG_RL_INIT(20, 1);

static void sync_refused(const struct ainst *in, const char *cn, const char *why)
{
	log_warnx_rl(&rl, "%s: client %s from the resync refused, not programmed: %s", in->name, cn,
		     why);
	metrics_admission(why);
}

/* A whole sync has arrived: the instance's table is what it said, as far
 * as the policy admits it. */
static void sync_commit(struct agent *a, struct ainst *in)
{
	size_t n = in->npend;
	ssize_t r = state_sync_install(a, in, sync_refused);

	a->nft_ready = true;
	if (r < 0)
		log_warnx("%s: resync of %zu client%s failed: out of memory", in->name, n,
			  n == 1 ? "" : "s");
	else
		log_info("%s: table synchronised, %zu client%s%s", in->name, in->n,
			 in->n == 1 ? "" : "s", r ? " (some refused by the policy)" : "");
	metrics_add(VM_ADMISSIONS, r < 0 ? 0 : (double)in->n, "admitted", "none");
}

/* What the pending array holds for n clients: it grows by doubling. */
static size_t pend_cap(size_t n)
{
	size_t c = 64;

	while (c < n)
		c *= 2;
	return c;
}

static int sync_add(struct ainst *in, const struct proto_msg *m)
{
	size_t need = in->npend + m->sync.n + 1;
	struct aclient *v;

	if (!in->pend || need > pend_cap(in->npend + 1)) {
		v = realloc(in->pend, pend_cap(need) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		in->pend = v;
	}
	for (size_t i = 0; i < m->sync.n; i++)
		if (state_client_copy(&in->pend[in->npend++], &m->sync.clients[i]) < 0)
			return -ENOMEM;
	return 0;
}

const char dispatch_batched[] = "(batched)";

/* The acknowledgement of message ref of peer p waits for the batch. */
static const char *batch_wait(struct agent *a, const struct peer *p, uint64_t ref, struct ainst *in,
			      const char *cn, bool connect)
{
	struct batch *b = &a->batch;
	struct batch_wait *w;

	if (b->nw == b->capw) {
		size_t cap = b->capw ? b->capw * 2 : BATCH_MAX;

		if (!(w = realloc(b->w, cap * sizeof(*w))))
			return "out of memory"; /* the change is programmed with the batch */
		b->w = w;
		b->capw = cap;
	}
	w = &b->w[b->nw++];
	memset(w, 0, sizeof(*w));
	w->in = in;
	snprintf(w->cn, sizeof(w->cn), "%s", cn);
	w->connect = connect;
	w->tag = p;
	w->ref = ref;
	return dispatch_batched;
}

void dispatch_forget(struct agent *a, const void *tag)
{
	for (size_t i = 0; i < a->batch.nw; i++)
		if (a->batch.w[i].tag == tag)
			a->batch.w[i].tag = NULL;
}

void dispatch_commit(struct agent *a, dispatch_done_fn done, void *ctx)
{
	struct batch *b = &a->batch;
	bool refused = false;
	int r;

	if (!b->nt && !b->nw)
		return;
	r = state_batch_commit(a);
	/* each connect's answer, from what the kernel got (a client
	 * connected twice in the batch gets the same answer twice) */
	for (size_t i = 0; i < b->nw; i++) {
		struct batch_wait *w = &b->w[i];
		const struct aclient *c = w->connect ? state_client_find(w->in, w->cn) : NULL;
		int e = !c ? 0 : r < 0 ? r : state_client_failed(a, c);

		if (!e)
			continue;
		if (a->cfg->plugin.admission != CFG_ADMIT_DEFERRED) {
			/* admitted already: it stays, shown failed, retried (watch.c) */
			log_warnx("%s: client %s admitted but not programmed: %s; retrying",
				  w->in->name, w->cn, strerror(-e));
			continue;
		}
		snprintf(w->error, sizeof(w->error), "programming client %s failed: %s", w->cn,
			 strerror(-e));
		log_warnx("%s: %s", w->in->name, w->error);
	}
	/* deferred admission: not in the kernel, so not acknowledged, and not
	 * claimed; whatever of them went in is taken out before the answers */
	for (size_t i = 0; i < b->nw; i++)
		if (b->w[i].error[0])
			refused |= state_client_del(b->w[i].in, b->w[i].cn);
	if (refused)
		state_apply(a);
	for (size_t i = 0; i < b->nw; i++)
		if (b->w[i].tag)
			done(ctx, b->w[i].tag, b->w[i].ref,
			     b->w[i].error[0] ? b->w[i].error : NULL);
	b->nw = 0;
}

/* "nothing", or the networks separated by spaces, for the log. */
static const char *describe_nets(const struct pfx_list *l, char *buf, size_t len)
{
	if (l->n)
		return pfx_list_format(l, " ", buf, len);
	snprintf(buf, len, "nothing");
	return buf;
}

const char *dispatch(struct agent *a, struct peer *p, struct proto_msg *m)
{
	struct ainst *inst = p->inst;
	char *name = p->name, *why = p->why;
	size_t namelen = sizeof(p->name), whylen = sizeof(p->why);
	bool *changed = &p->changed;
	char nets[512];

	if (m->type != PROTO_HELLO && !inst)
		return "hello first";
	/* policy: a plugin's OpenVPN has this host's role */
	if (m->type == PROTO_HELLO &&
	    !policy_check_role(a->cfg, m->hello.instance, m->hello.role, why, whylen)) {
		log_warnx_rl(&rl, "refused a plugin: %s", why);
		return why;
	}
	switch (m->type) {
	case PROTO_HELLO: {
		uint64_t now = loop_now_ms();

		if (m->hello.role == PROTO_ROLE_CTL)
			return "hello with role ctl comes first"; /* sock.c takes those */
		if (p->inst)
			return "hello given twice";
		inst = NULL;
		for (size_t i = 0; i < a->ninst; i++)
			if (strcmp(a->inst[i]->name, m->hello.instance) == 0)
				inst = a->inst[i];
		/* one live plugin per instance: a second would share its claims */
		if (inst && inst->owner && inst->owner != p) {
			snprintf(why, whylen, "instance %s already has a connected plugin",
				 m->hello.instance);
			log_warnx_rl(&rl, "refused a second plugin for instance %s (pid %d uid %u)",
				     m->hello.instance, p->pid, p->uid);
			return why;
		}
		/* the name is its last owner's for INST_GRACE_S: the same process
		 * (a reconnect) or root may take it, another process may not */
		if (inst && inst->owner_pid && inst->owner_pid != p->pid && p->cls != PEER_ROOT &&
		    now - inst->owner_left_ms < INST_GRACE_S * 1000ull) {
			snprintf(why, whylen,
				 "instance %s belongs to pid %d (uid %u), which left %llu s ago; "
				 "another process may take it %d s after it left",
				 m->hello.instance, inst->owner_pid, inst->owner_uid,
				 (unsigned long long)((now - inst->owner_left_ms) / 1000),
				 INST_GRACE_S);
			log_warnx_rl(&rl, "refused pid %d uid %u as plugin of %s: %s", p->pid,
				     p->uid, m->hello.instance, why);
			return why;
		}
		inst = state_inst(a, m->hello.instance, m->hello.role);
		if (!inst)
			return "out of memory";
		if (inst->owner_pid && inst->owner_pid != p->pid)
			log_info("%s: taken over by pid %d uid %u (was pid %d uid %u)",
				 m->hello.instance, p->pid, p->uid, inst->owner_pid,
				 inst->owner_uid);
		inst->owner = p;
		inst->owner_pid = p->pid;
		inst->owner_uid = p->uid;
		inst->owner_hello_pid = m->hello.pid;
		inst->owner_left_ms = 0;
		state_sync_abort(inst);
		p->inst = inst;
		snprintf(name, namelen, "%s", m->hello.instance);
		log_info("%s: plugin connected (pid %d uid %u, hello pid %u, %s role)", name,
			 p->pid, p->uid, m->hello.pid,
			 m->hello.role == PROTO_ROLE_SERVER ? "server" : "client");
		return NULL;
	}
	case PROTO_SYNC:
		if (!inst->syncing) {
			state_sync_abort(inst);
			inst->syncing = true;
		}
		if (inst->npend + m->sync.n > SYNC_MAX) {
			state_sync_abort(inst);
			snprintf(why, whylen, "a sync of more than %d clients", SYNC_MAX);
			return why;
		}
		if (sync_add(inst, m) < 0)
			return "out of memory";
		if (!m->sync.more) {
			sync_commit(a, inst);
			state_apply(a);
			*changed = true;
		}
		return NULL;
	case PROTO_CONNECT:
		/* the agent is the authority: the same policy as the plugin */
		if (state_admit(a, inst, &m->connect, why, whylen) < 0) {
			metrics_admission(why);
			log_warnx_rl(&rl, "%s: client %s refused: %s", name, m->connect.cn, why);
			return why;
		}
		metrics_admission(NULL);
		if (state_batch_touch(a, inst, m->connect.cn) < 0 ||
		    state_client_set(inst, &m->connect) < 0)
			return "out of memory";
		describe_nets(&m->connect.nets, nets, sizeof(nets));
		log_debug("%s: client %s connected, announces %s", name, m->connect.cn, nets);
		n_connected++;
		*changed = true;
		return batch_wait(a, p, m->id, inst, m->connect.cn, true);
	case PROTO_DISCONNECT:
		if (!state_client_find(inst, m->disconnect.cn))
			return NULL;
		if (state_batch_touch(a, inst, m->disconnect.cn) < 0)
			return "out of memory";
		state_client_del(inst, m->disconnect.cn);
		log_debug("%s: client %s disconnected", name, m->disconnect.cn);
		n_disconnected++;
		*changed = true;
		return batch_wait(a, p, m->id, inst, m->disconnect.cn, false);
	case PROTO_LEARN:
		return NULL; /* the connect carries what is needed */
	case PROTO_TUNNEL: {
		struct ainst *in = inst;
		bool up = m->tunnel.event == PROTO_TUNNEL_UP ||
			  m->tunnel.event == PROTO_TUNNEL_ROUTE_UP;

		snprintf(in->dev, sizeof(in->dev), "%s", m->tunnel.dev);
		in->tun_up = up;
		in->route_up = m->tunnel.event == PROTO_TUNNEL_ROUTE_UP;
		if (m->tunnel.listen_proto) {
			in->listen_proto = m->tunnel.listen_proto;
			in->listen_port = m->tunnel.listen_port;
			for (size_t i = 0; i < a->cfg->nforwards; i++)
				if (state_forward_blocked(a, &a->cfg->forwards[i]))
					log_warnx("%s: OpenVPN listens on %s port %u: "
						  "port_forwards[%zu] is left out of the table; "
						  "give it another port (vpcroute.conf(5), PORT "
						  "FORWARDS)",
						  name,
						  m->tunnel.listen_proto == PROTO_UDP ? "udp"
										      : "tcp",
						  m->tunnel.listen_port, i);
		}
		if (m->tunnel.event == PROTO_TUNNEL_ROUTE_UP ||
		    m->tunnel.event == PROTO_TUNNEL_UP) {
			pfx_list_free(&in->routes);
			for (size_t i = 0; i < m->tunnel.routes.n; i++) {
				const struct pfx *rt = &m->tunnel.routes.v[i];

				/* kept, and taken or not at each reconcile: the local
				 * networks can change ("auto") */
				pfx_list_add(&in->routes, rt, PROTO_MAX_NETS);
				if (in->role == PROTO_ROLE_CLIENT &&
				    !policy_route_accepted(a->cfg, rt))
					log_info("%s: pushed route %s not taken (rule: "
						 "accept_routes)",
						 name, pfx_format(rt, nets, sizeof(nets)));
			}
		}
		if (up)
			sysctl_tunnel(in->dev);
		describe_nets(&in->routes, nets, sizeof(nets));
		log_info("%s: tunnel %s %s, routes %s", name, in->dev, up ? "up" : "going down",
			 nets);
		state_apply(a);
		*changed = true;
		return NULL;
	}
	case PROTO_POLICY:
		/* the configuration its plugin runs: vpcroutectl status compares */
		inst->plugin_gen = m->policy.gen;
		snprintf(inst->plugin_digest, sizeof(inst->plugin_digest), "%s", m->policy.digest);
		if (strcmp(m->policy.digest, a->cfg->digest))
			log_warnx("%s: the plugin runs configuration sha256 %.16s..., the agent "
				  "%.16s... (generation %llu): they may admit differently; reload "
				  "the agent (vpcroutectl reload) or restart OpenVPN so both run "
				  "the same file",
				  name, m->policy.digest, a->cfg->digest,
				  (unsigned long long)a->cfg_gen);
		else if (m->policy.gen) /* 0: before our policy reached it */
			log_info("%s: the plugin runs the agent's configuration (generation %llu)",
				 name, (unsigned long long)a->cfg_gen);
		else
			log_debug(
				"%s: the plugin runs the agent's configuration (not yet confirmed)",
				name);
		return NULL;
	default:
		return "unexpected message type";
	}
}
