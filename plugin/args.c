// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

static bool safe_name(const char *s)
{
	return *s &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.@") ==
		       strlen(s);
}

int plugin_args_parse(const char *const *argv, struct plugin_opts *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	if (!argv || !argv[0] || !argv[1]) {
		snprintf(err, errlen,
			 "usage: plugin vpcroute.so CONFIG [ccd=DIR] [instance=NAME] (no CONFIG "
			 "given)");
		return -EINVAL;
	}
	o->config = argv[1];
	if (o->config[0] != '/') {
		snprintf(err, errlen, "CONFIG \"%.200s\" must be an absolute path", o->config);
		return -EINVAL;
	}
	for (size_t i = 2; argv[i]; i++) {
		const char *a = argv[i];

		if (strncmp(a, "ccd=", 4) == 0) {
			if (a[4] != '/' || strlen(a + 4) >= sizeof(o->ccd_dir)) {
				snprintf(err, errlen,
					 "argument %zu \"%.200s\": ccd= needs an absolute path "
					 "shorter than %zu bytes",
					 i, a, sizeof(o->ccd_dir));
				return -EINVAL;
			}
			strcpy(o->ccd_dir, a + 4);
		} else if (strncmp(a, "instance=", 9) == 0) {
			if (!safe_name(a + 9) || strlen(a + 9) >= sizeof(o->instance)) {
				snprintf(err, errlen,
					 "argument %zu \"%.200s\": instance= takes 1-%zu letters, "
					 "digits, _ - . @",
					 i, a, sizeof(o->instance) - 1);
				return -EINVAL;
			}
			strcpy(o->instance, a + 9);
		} else {
			snprintf(err, errlen,
				 "argument %zu \"%.200s\": unknown (expected ccd=DIR or "
				 "instance=NAME)",
				 i, a);
			return -EINVAL;
		}
	}
	return 0;
}

const char *env_get(const char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
			return envp[i] + n + 1;
	return NULL;
}

void plugin_default_instance(const char *const *envp, char *buf, size_t len)
{
	const char *cfg = env_get(envp, "config"), *base;
	size_t n;

	snprintf(buf, len, "openvpn");
	if (!cfg)
		return;
	base = strrchr(cfg, '/') ? strrchr(cfg, '/') + 1 : cfg;
	n = strcspn(base, ".");
	if (n == 0 || n >= len)
		return;
	char tmp[PROTO_INSTANCE_MAX + 1];

	if (n >= sizeof(tmp))
		return;
	memcpy(tmp, base, n);
	tmp[n] = '\0';
	if (safe_name(tmp))
		snprintf(buf, len, "%s", tmp);
}

int env_tunnel(const char *const *envp, enum proto_tunnel_event ev, struct proto_msg *m, char *err,
	       size_t errlen)
{
	const char *dev = env_get(envp, "dev"), *s;
	char name[48], e[PFX_ERRLEN];
	struct pfx p;
	int r;

	memset(m, 0, sizeof(*m));
	m->type = PROTO_TUNNEL;
	m->tunnel.event = ev;
	if (!dev || !*dev || strlen(dev) >= sizeof(m->tunnel.dev) || strpbrk(dev, "/ \t\n:")) {
		snprintf(err, errlen, "no usable \"dev\" in the environment");
		return -EINVAL;
	}
	strcpy(m->tunnel.dev, dev);
	if ((s = env_get(envp, "ifconfig_local")) && pfx_addr_parse(s, &m->tunnel.local) == 0)
		m->tunnel.has_local = true;
	/* where OpenVPN listens: proto_1 ("udp", "tcp-server", "udp6", ...), local_port_1 */
	if ((s = env_get(envp, "proto_1")) && (!strncmp(s, "udp", 3) || !strncmp(s, "tcp", 3))) {
		const char *port = env_get(envp, "local_port_1");
		char *end;
		unsigned long v = port ? strtoul(port, &end, 10) : 0;

		if (port && *port && !*end && v > 0 && v <= 65535) {
			m->tunnel.listen_proto = s[0] == 'u' ? PROTO_UDP : PROTO_TCP;
			m->tunnel.listen_port = (uint16_t)v;
		}
	}
	if (((s = env_get(envp, "ifconfig_remote")) || (s = env_get(envp, "route_vpn_gateway"))) &&
	    pfx_addr_parse(s, &m->tunnel.remote) == 0)
		m->tunnel.has_remote = true;
	for (unsigned i = 1; i <= PROTO_MAX_NETS; i++) {
		const char *net, *mask;

		snprintf(name, sizeof(name), "route_network_%u", i);
		if (!(net = env_get(envp, name)))
			break;
		snprintf(name, sizeof(name), "route_netmask_%u", i);
		mask = env_get(envp, name);
		if (!mask || pfx_from_netmask(net, mask, PFX_NORMALISE, &p, e, sizeof(e)) < 0) {
			snprintf(err, errlen, "route_network_%u/route_netmask_%u: %s", i, i,
				 mask ? e : "netmask missing");
			goto fail;
		}
		if ((r = pfx_list_add(&m->tunnel.routes, &p, PROTO_MAX_NETS)))
			goto oom;
	}
	for (unsigned i = 1; i <= PROTO_MAX_NETS; i++) {
		snprintf(name, sizeof(name), "route_ipv6_network_%u", i);
		if (!(s = env_get(envp, name)))
			break;
		if (pfx_parse(s, PFX_NORMALISE | PFX_HOST, &p, e, sizeof(e)) < 0 ||
		    p.family != AF_INET6) {
			snprintf(err, errlen, "%s: \"%.64s\" is not an IPv6 prefix", name, s);
			goto fail;
		}
		if ((r = pfx_list_add(&m->tunnel.routes, &p, PROTO_MAX_NETS)))
			goto oom;
	}
	return 0;
oom:
	snprintf(err, errlen, r == -E2BIG ? "more than %d routes" : "out of memory",
		 PROTO_MAX_NETS);
	proto_msg_free(m);
	return r;
fail:
	proto_msg_free(m);
	return -EINVAL;
}

int args_learn(const char *const *argv, enum proto_learn_op *op, struct pfx *addr, char *cn,
	       char *err, size_t errlen)
{
	static const char *const ops[] = { "add", "update", "delete" };
	char e[PFX_ERRLEN];
	int k;

	if (!argv || !argv[0] || !argv[1] || !argv[2]) {
		snprintf(err, errlen, "learn-address: expected OP ADDR [CN]");
		return -EINVAL;
	}
	for (k = 0; k < 3 && strcmp(argv[1], ops[k]); k++)
		;
	if (k == 3) {
		snprintf(err, errlen, "learn-address: unknown operation \"%.32s\"", argv[1]);
		return -EINVAL;
	}
	*op = (enum proto_learn_op)k;
	if (pfx_parse(argv[2], PFX_HOST, addr, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "learn-address: %s", e);
		return -EINVAL;
	}
	cn[0] = '\0';
	if (*op != PROTO_LEARN_DELETE) {
		if (!argv[3] || !cn_valid(argv[3], e, sizeof(e))) {
			snprintf(err, errlen, "learn-address: %s", argv[3] ? e : "no common name");
			return -EINVAL;
		}
		strcpy(cn, argv[3]);
	}
	return 0;
}
