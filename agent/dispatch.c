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

#define SYNC_MAX 100000

/* A whole sync has arrived: the instance's table is exactly what it said. */
static void sync_commit(struct agent *a, struct ainst *in)
{
	char why[PROTO_ERROR_MAX];

	for (size_t i = 0; i < in->n; i++)
		pfx_list_free(&in->c[i].nets);
	free(in->c);
	in->c = NULL;
	in->n = 0;
	for (size_t i = 0; i < in->npend; i++) {
		struct aclient *p = &in->pend[i];
		struct proto_client pc = { .nets = p->nets,
					   .has_tunnel4 = p->has_t4,
					   .tunnel4 = p->t4,
					   .has_tunnel6 = p->has_t6,
					   .tunnel6 = p->t6 };

		snprintf(pc.cn, sizeof(pc.cn), "%s", p->cn);
		if (state_check_client(a, in, &pc, why, sizeof(why)) < 0)
			log_warnx("%s: client %s from the resync not programmed: %s", in->name,
				  p->cn, why);
		else
			state_client_set(in, &pc);
		pfx_list_free(&p->nets);
	}
	free(in->pend);
	in->pend = NULL;
	in->npend = 0;
	in->syncing = false;
	a->nft_ready = true;
	log_info("%s: table synchronised, %zu clients", in->name, in->n);
}

static int sync_add(struct ainst *in, const struct proto_msg *m)
{
	struct aclient *v = realloc(in->pend, (in->npend + m->sync.n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	in->pend = v;
	for (size_t i = 0; i < m->sync.n; i++)
		if (state_client_copy(&in->pend[in->npend++], &m->sync.clients[i]) < 0)
			return -ENOMEM;
	return 0;
}

/* "nothing", or the networks separated by spaces, for the log. */
static const char *describe_nets(const struct pfx_list *l, char *buf, size_t len)
{
	if (l->n)
		return pfx_list_format(l, " ", buf, len);
	snprintf(buf, len, "nothing");
	return buf;
}

const char *dispatch(struct agent *a, const void *peer, struct ainst **instp, char *name,
		     size_t namelen, struct proto_msg *m, bool *changed, char *why, size_t whylen)
{
	struct ainst *inst = *instp;
	struct aclient *old, was;
	bool had;
	int r;
	char nets[512];

	if (m->type != PROTO_HELLO && !inst)
		return "hello first";
	switch (m->type) {
	case PROTO_HELLO:
		if (m->hello.role == PROTO_ROLE_CTL)
			return "hello with role ctl comes first"; /* ctl.c takes those */
		if (*instp)
			return "hello given twice";
		inst = state_inst(a, m->hello.instance, m->hello.role);
		if (!inst)
			return "out of memory";
		/* one live plugin per instance: a second would share its claims */
		if (inst->owner && inst->owner != peer) {
			snprintf(why, whylen, "instance %s already has a connected plugin",
				 m->hello.instance);
			log_warnx("refused a second plugin for instance %s", m->hello.instance);
			return why;
		}
		inst->owner = peer;
		state_sync_abort(inst);
		*instp = inst;
		snprintf(name, namelen, "%s", m->hello.instance);
		log_info("%s: plugin connected (pid %u, %s role)", name, m->hello.pid,
			 m->hello.role == PROTO_ROLE_SERVER ? "server" : "client");
		return NULL;
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
		if (state_check_client(a, inst, &m->connect, why, whylen) < 0) {
			log_warnx("%s: client %s refused: %s", name, m->connect.cn, why);
			return why;
		}
		old = state_client_find(inst, m->connect.cn);
		had = old && state_client_dup(&was, old) == 0;
		if (state_client_set(inst, &m->connect) < 0) {
			if (had)
				pfx_list_free(&was.nets);
			return "out of memory";
		}
		describe_nets(&m->connect.nets, nets, sizeof(nets));
		log_info("%s: client %s connected, announces %s", name, m->connect.cn, nets);
		r = state_client_change(a, inst, had ? &was : NULL,
					state_client_find(inst, m->connect.cn));
		if (had)
			pfx_list_free(&was.nets);
		*changed = true;
		if (r < 0 && a->cfg->plugin.admission != CFG_ADMIT_DEFERRED) {
			/* admitted already: it stays, shown failed, retried (watch.c) */
			log_warnx("%s: client %s admitted but not programmed: %s; retrying", name,
				  m->connect.cn, strerror(-r));
			return NULL;
		}
		if (r < 0) {
			/* not in the kernel: not acknowledged, and not claimed */
			state_client_del(inst, m->connect.cn);
			state_apply(a);
			snprintf(why, whylen, "programming client %s failed: %s", m->connect.cn,
				 strerror(-r));
			log_warnx("%s: %s", name, why);
			return why;
		}
		return NULL;
	case PROTO_DISCONNECT:
		old = state_client_find(inst, m->disconnect.cn);
		if (!old || state_client_dup(&was, old) < 0)
			return NULL;
		state_client_del(inst, m->disconnect.cn);
		log_info("%s: client %s disconnected", name, m->disconnect.cn);
		state_client_change(a, inst, &was, NULL);
		pfx_list_free(&was.nets);
		*changed = true;
		return NULL;
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
		}
		if (m->tunnel.event == PROTO_TUNNEL_ROUTE_UP ||
		    m->tunnel.event == PROTO_TUNNEL_UP) {
			pfx_list_free(&in->routes);
			for (size_t i = 0; i < m->tunnel.routes.n; i++)
				pfx_list_add(&in->routes, &m->tunnel.routes.v[i], PROTO_MAX_NETS);
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
	default:
		return "unexpected message type";
	}
}
