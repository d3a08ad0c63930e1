// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vpcroute.so: the OpenVPN plugin (v3 API).
 *
 *   plugin /usr/lib/openvpn/vpcroute.so /etc/vpcroute/vpcroute.conf [ccd=DIR] [instance=NAME]
 *
 * Server role: CLIENT_CONNECT_V2 decides from memory who may announce what
 * and returns the client's iroute/ifconfig-push/push lines; the agent is told
 * without waiting. Client role: UP/ROUTE_UP/ROUTE_PREDOWN/DOWN hand the
 * tunnel and the pushed routes to the agent. See vpcroute.so(8).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <openvpn/openvpn-plugin.h>

#include "args.h"
#include "ccd.h"
#include "cfg.h"
#include "link.h"
#include "log.h"
#include "policy.h"

#define PLUGIN_NAME "vpcroute"
/* Built with -fvisibility=hidden: only OpenVPN's entry points are exported. */
#define VR_EXPORT __attribute__((visibility("default")))

/*
 * The configuration itself is the link's (link_cfg_hold): it follows the
 * agent's reloads. What OpenVPN was told at open stays as it was.
 */
struct plugin {
	plugin_log_t log;
	struct plugin_opts opts;
	struct link *link;
	enum cfg_admission admission; /* the callbacks registered at open */
	char socket_path[108];
};

/* Per-client state, for deferred admission. */
struct client {
	uint64_t id;
	int64_t deadline_ms;
	char cn[CN_MAX + 1];
	char *config;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static openvpn_plugin_log_flags_t plog_flags(int prio)
{
	switch (prio) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return PLOG_ERR;
	case LOG_WARNING:
		return PLOG_WARN;
	case LOG_DEBUG:
		return PLOG_DEBUG;
	default:
		return PLOG_NOTE;
	}
}

/* Every log line, the library's included, goes through plugin_log. */
static void log_sink(int prio, const char *msg, void *ctx)
{
	struct plugin *p = ctx;

	p->log(plog_flags(prio), PLUGIN_NAME, "%s", msg);
}

static void plog(struct plugin *p, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void plog(struct plugin *p, int prio, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_sink(prio, msg, p);
}

static int set_return(struct openvpn_plugin_string_list **list, const char *config)
{
	struct openvpn_plugin_string_list *l;

	if (!list)
		return 0;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->name = strdup("config");
	l->value = strdup(config);
	if (!l->name || !l->value) {
		free(l->name);
		free(l->value);
		free(l);
		return -ENOMEM;
	}
	*list = l;
	return 0;
}

struct decide_ctx {
	struct admission in;
	struct verdict *out;
	int r;
};

static void decide_in_view(const struct claimset *claims, const struct link_own *own, void *ctx)
{
	struct decide_ctx *d = ctx;

	d->in.claims = claims;
	d->in.own_nets = own->nets;
	d->in.own_addrs = own->addrs;
	d->r = policy_decide(&d->in, d->out);
}

static void describe(const struct verdict *v, char *buf, size_t len)
{
	char a[PFX_STRLEN];
	size_t o;

	snprintf(buf, len, "announces");
	for (size_t i = 0; i < v->client.nets.n; i++) {
		o = strlen(buf);
		snprintf(buf + o, len - o, " %s", pfx_format(&v->client.nets.v[i], a, sizeof(a)));
	}
	if (!v->client.nets.n) {
		o = strlen(buf);
		snprintf(buf + o, len - o, " nothing");
	}
	if (v->client.has_tunnel4) {
		o = strlen(buf);
		snprintf(buf + o, len - o, ", tunnel address %s",
			 pfx_format_addr(&v->client.tunnel4, a, sizeof(a)));
	}
}

static int client_connect(struct plugin *p, const struct cfg *c,
			  const struct openvpn_plugin_args_func_in *args,
			  struct openvpn_plugin_args_func_return *ret)
{
	const char *const *envp = (const char *const *)args->envp;
	const char *cn = env_get(envp, "common_name"), *s;
	struct client *pc = args->per_client_context;
	struct ccd ccd = { 0 };
	struct verdict v;
	struct decide_ctx d = { .out = &v };
	char err[CCD_ERRLEN], what[512];
	bool up = link_connected(p->link);
	int result = OPENVPN_PLUGIN_FUNC_ERROR;

	if (!cn) {
		plog(p, LOG_ERR, "refused a client without a common name");
		return OPENVPN_PLUGIN_FUNC_ERROR;
	}
	if (!cn_valid(cn, err, sizeof(err))) {
		plog(p, LOG_ERR, "refused: %s (rule: common name)", err);
		return OPENVPN_PLUGIN_FUNC_ERROR;
	}
	if (!up && c->plugin.fail_mode == CFG_FAIL_CLOSED) {
		plog(p, LOG_ERR,
		     "client %s refused: the agent at %s is unreachable (rule: plugin.fail_mode "
		     "closed)",
		     cn, p->socket_path);
		return OPENVPN_PLUGIN_FUNC_ERROR;
	}
	if (p->opts.ccd_dir[0] && ccd_load(p->opts.ccd_dir, cn, &ccd, err, sizeof(err)) < 0) {
		plog(p, LOG_ERR, "client %s refused: %s (rule: CCD file)", cn, err);
		return OPENVPN_PLUGIN_FUNC_ERROR;
	}
	d.in.cfg = c;
	d.in.cn = cn;
	d.in.instance = p->opts.instance;
	d.in.ccd = &ccd;
	if ((s = env_get(envp, "ifconfig_pool_remote_ip")) && pfx_addr_parse(s, &d.in.pool_ip) == 0)
		d.in.has_pool_ip = true;
	if (link_view(p->link, decide_in_view, &d) < 0)
		d.r = -ENOMEM;
	ccd_free(&ccd);
	if (d.r < 0) {
		plog(p, LOG_ERR, "client %s refused: %s", cn, strerror(-d.r));
		return OPENVPN_PLUGIN_FUNC_ERROR;
	}
	if (!v.admit) {
		plog(p, LOG_ERR, "%s", v.reason);
		goto out;
	}
	describe(&v, what, sizeof(what));
	if (up && p->admission == CFG_ADMIT_DEFERRED && pc) {
		pc->id = link_client_connect(p->link, &v.client, true);
		pc->deadline_ms = now_ms() + c->plugin.defer_timeout_ms;
		snprintf(pc->cn, sizeof(pc->cn), "%s", cn);
		pc->config = v.config;
		v.config = NULL;
		plog(p, LOG_INFO, "client %s %s; waiting for the agent (admission deferred)", cn,
		     what);
		result = OPENVPN_PLUGIN_FUNC_DEFERRED;
		goto out;
	}
	if (set_return(ret->return_list, v.config) < 0) {
		plog(p, LOG_ERR, "client %s refused: out of memory", cn);
		goto out;
	}
	link_client_connect(p->link, &v.client, false);
	if (up)
		plog(p, LOG_INFO, "client %s admitted: %s", cn, what);
	else
		plog(p, LOG_WARNING,
		     "client %s admitted while the agent is unreachable (plugin.fail_mode open): "
		     "%s; the agent gets it when it is back",
		     cn, what);
	result = OPENVPN_PLUGIN_FUNC_SUCCESS;
out:
	verdict_free(&v);
	return result;
}

static int client_connect_defer(struct plugin *p, const struct cfg *c,
				const struct openvpn_plugin_args_func_in *args,
				struct openvpn_plugin_args_func_return *ret)
{
	struct client *pc = args->per_client_context;
	char err[PROTO_ERROR_MAX + 1];
	int a;

	if (!pc || !pc->id)
		return OPENVPN_PLUGIN_FUNC_ERROR;
	a = link_ack(p->link, pc->id, err, sizeof(err));
	if (a == 0 && now_ms() < pc->deadline_ms)
		return OPENVPN_PLUGIN_FUNC_DEFERRED;
	if (a < 0) {
		plog(p, LOG_ERR, "client %s refused by the agent: %s", pc->cn, err);
		link_client_disconnect(p->link, pc->cn);
		return OPENVPN_PLUGIN_FUNC_ERROR;
	}
	if (a == 0 && c->plugin.fail_mode == CFG_FAIL_CLOSED) {
		plog(p, LOG_ERR,
		     "client %s refused: no answer from the agent within %u ms (rule: "
		     "plugin.fail_mode closed)",
		     pc->cn, c->plugin.defer_timeout_ms);
		link_client_disconnect(p->link, pc->cn);
		return OPENVPN_PLUGIN_FUNC_ERROR;
	}
	if (set_return(ret->return_list, pc->config) < 0) {
		link_client_disconnect(p->link, pc->cn);
		return OPENVPN_PLUGIN_FUNC_ERROR;
	}
	link_client_admitted(p->link, pc->cn);
	if (a > 0)
		plog(p, LOG_INFO, "client %s admitted: the agent has programmed it", pc->cn);
	else
		plog(p, LOG_WARNING,
		     "client %s admitted without an answer from the agent within %u ms "
		     "(plugin.fail_mode open): check the agent's log (journalctl -u "
		     "vpcroute-agent)",
		     pc->cn, c->plugin.defer_timeout_ms);
	return OPENVPN_PLUGIN_FUNC_SUCCESS;
}

static void client_disconnect(struct plugin *p, const char *const *envp)
{
	const char *cn = env_get(envp, "common_name");
	char err[128];

	if (!cn || !cn_valid(cn, err, sizeof(err)))
		return;
	if (link_client_disconnect(p->link, cn))
		plog(p, LOG_INFO, "client %s disconnected", cn);
}

static const enum proto_tunnel_event tunnel_events[] = {
	[OPENVPN_PLUGIN_UP] = PROTO_TUNNEL_UP,
	[OPENVPN_PLUGIN_ROUTE_UP] = PROTO_TUNNEL_ROUTE_UP,
	[OPENVPN_PLUGIN_ROUTE_PREDOWN] = PROTO_TUNNEL_ROUTE_PREDOWN,
	[OPENVPN_PLUGIN_DOWN] = PROTO_TUNNEL_DOWN,
};

static void tunnel_event(struct plugin *p, const char *const *envp, enum proto_tunnel_event ev)
{
	static const char *const names[] = { "up", "route-up", "route-predown", "down" };
	struct proto_msg m;
	char err[ARGS_ERRLEN];

	if (env_tunnel(envp, ev, &m, err, sizeof(err)) < 0) {
		plog(p, LOG_ERR, "tunnel %s not forwarded to the agent: %s", names[ev], err);
		return;
	}
	link_tunnel(p->link, &m);
	plog(p, LOG_INFO, "tunnel %s on %s: %zu route%s forwarded to the agent", names[ev],
	     m.tunnel.dev, m.tunnel.routes.n, m.tunnel.routes.n == 1 ? "" : "s");
	proto_msg_free(&m);
}

static void flush_link_log(int prio, const char *msg, void *ctx)
{
	log_sink(prio, msg, ctx);
}

VR_EXPORT int openvpn_plugin_min_version_required_v1(void)
{
	return 3;
}

VR_EXPORT int openvpn_plugin_open_v3(const int version,
				     struct openvpn_plugin_args_open_in const *args,
				     struct openvpn_plugin_args_open_return *ret)
{
	struct plugin *p;
	struct cfg *cfg = NULL;
	char err[CFG_ERRLEN];
	int r;

	if (version < OPENVPN_PLUGINv3_STRUCTVER || !args->callbacks ||
	    !args->callbacks->plugin_log) {
		fprintf(stderr, PLUGIN_NAME ": OpenVPN plugin API %d is older than %d\n", version,
			OPENVPN_PLUGINv3_STRUCTVER);
		return OPENVPN_PLUGIN_FUNC_ERROR;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return OPENVPN_PLUGIN_FUNC_ERROR;
	p->log = args->callbacks->plugin_log;
	log_set_sink(log_sink, p);
	if (plugin_args_parse((const char *const *)args->argv, &p->opts, err, sizeof(err)) < 0) {
		plog(p, LOG_ERR, "%s", err);
		goto fail;
	}
	/* without the aws section: no secret key in OpenVPN's memory */
	if (link_cfg_load(p->opts.config, &cfg, err, sizeof(err)) < 0) {
		plog(p, LOG_ERR, "%s", err);
		goto fail;
	}
	if (!p->opts.instance[0])
		plugin_default_instance((const char *const *)args->envp, p->opts.instance,
					sizeof(p->opts.instance));
	p->link = link_new(cfg->socket.path, p->opts.instance,
			   cfg->role == CFG_ROLE_SERVER ? PROTO_ROLE_SERVER : PROTO_ROLE_CLIENT,
			   cfg->plugin.queue_max, cfg->plugin.reconnect_max_ms);
	if (!p->link) {
		plog(p, LOG_ERR, "cannot set up the agent link: %s", strerror(errno));
		goto fail;
	}
	p->admission = cfg->plugin.admission;
	snprintf(p->socket_path, sizeof(p->socket_path), "%s", cfg->socket.path);
	if (cfg->role == CFG_ROLE_SERVER) {
		/*
		 * UP/DOWN tell the agent which device the clients' routes use.
		 * No LEARN_ADDRESS: the connect carries what the agent needs.
		 */
		ret->type_mask = OPENVPN_PLUGIN_MASK(OPENVPN_PLUGIN_CLIENT_CONNECT_V2) |
				 OPENVPN_PLUGIN_MASK(OPENVPN_PLUGIN_CLIENT_DISCONNECT) |
				 OPENVPN_PLUGIN_MASK(OPENVPN_PLUGIN_UP) |
				 OPENVPN_PLUGIN_MASK(OPENVPN_PLUGIN_DOWN);
		if (cfg->plugin.admission == CFG_ADMIT_DEFERRED)
			ret->type_mask |=
				OPENVPN_PLUGIN_MASK(OPENVPN_PLUGIN_CLIENT_CONNECT_DEFER_V2);
	} else {
		ret->type_mask = OPENVPN_PLUGIN_MASK(OPENVPN_PLUGIN_UP) |
				 OPENVPN_PLUGIN_MASK(OPENVPN_PLUGIN_ROUTE_UP) |
				 OPENVPN_PLUGIN_MASK(OPENVPN_PLUGIN_ROUTE_PREDOWN) |
				 OPENVPN_PLUGIN_MASK(OPENVPN_PLUGIN_DOWN);
	}
	plog(p, LOG_INFO,
	     "%s role, instance %s, agent %s, admission %s, fail mode %s%s%s; "
	     "configuration sha256 %.16s...",
	     cfg_role_name(cfg->role), p->opts.instance, cfg->socket.path,
	     cfg->plugin.admission == CFG_ADMIT_DEFERRED ? "deferred" : "immediate",
	     cfg->plugin.fail_mode == CFG_FAIL_OPEN ? "open" : "closed",
	     p->opts.ccd_dir[0] ? ", CCD " : "", p->opts.ccd_dir, cfg->digest);
	if (link_set_cfg(p->link, cfg) < 0) {
		plog(p, LOG_ERR, "out of memory");
		goto fail;
	}
	cfg = NULL; /* the link's */
	ret->handle = (openvpn_plugin_handle_t)p;
	if ((r = link_start(p->link)) < 0)
		plog(p, LOG_ERR, "cannot start the agent link thread: %s", strerror(-r));
	link_flush_log(p->link, flush_link_log, p);
	return OPENVPN_PLUGIN_FUNC_SUCCESS;
fail:
	log_set_sink(NULL, NULL);
	if (p->link)
		link_free(p->link);
	cfg_free(cfg);
	free(p);
	return OPENVPN_PLUGIN_FUNC_ERROR;
}

VR_EXPORT int openvpn_plugin_func_v3(const int version,
				     struct openvpn_plugin_args_func_in const *args,
				     struct openvpn_plugin_args_func_return *ret)
{
	struct plugin *p = (struct plugin *)args->handle;
	const char *const *envp = (const char *const *)args->envp;
	const struct link_cfg *h;
	int r;

	if (version < OPENVPN_PLUGINv3_STRUCTVER)
		return OPENVPN_PLUGIN_FUNC_ERROR;
	if ((r = link_start(p->link)) < 0)
		plog(p, LOG_ERR, "cannot start the agent link thread: %s", strerror(-r));
	link_flush_log(p->link, flush_link_log, p);
	switch (args->type) {
	case OPENVPN_PLUGIN_CLIENT_CONNECT_V2:
	case OPENVPN_PLUGIN_CLIENT_CONNECT_DEFER_V2:
		/* the configuration in effect now, kept while this callback uses it */
		h = link_cfg_hold(p->link);
		r = args->type == OPENVPN_PLUGIN_CLIENT_CONNECT_V2
			    ? client_connect(p, h->cfg, args, ret)
			    : client_connect_defer(p, h->cfg, args, ret);
		link_cfg_release(p->link, h);
		link_flush_log(p->link, flush_link_log, p);
		return r;
	case OPENVPN_PLUGIN_CLIENT_DISCONNECT:
		client_disconnect(p, envp);
		return OPENVPN_PLUGIN_FUNC_SUCCESS;
	case OPENVPN_PLUGIN_UP:
	case OPENVPN_PLUGIN_ROUTE_UP:
	case OPENVPN_PLUGIN_ROUTE_PREDOWN:
	case OPENVPN_PLUGIN_DOWN:
		tunnel_event(p, envp, tunnel_events[args->type]);
		return OPENVPN_PLUGIN_FUNC_SUCCESS;
	default:
		return OPENVPN_PLUGIN_FUNC_SUCCESS;
	}
}

VR_EXPORT void *openvpn_plugin_client_constructor_v1(openvpn_plugin_handle_t handle)
{
	return calloc(1, sizeof(struct client));
}

VR_EXPORT void openvpn_plugin_client_destructor_v1(openvpn_plugin_handle_t handle,
						   void *per_client_context)
{
	struct client *pc = per_client_context;

	if (pc)
		free(pc->config);
	free(pc);
}

VR_EXPORT void openvpn_plugin_close_v1(openvpn_plugin_handle_t handle)
{
	struct plugin *p = (struct plugin *)handle;

	link_flush_log(p->link, flush_link_log, p);
	link_free(p->link);
	log_set_sink(NULL, NULL);
	free(p);
}
