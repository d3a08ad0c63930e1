/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What OpenVPN hands the plugin: the "plugin" line's arguments and the
 * environment of each call, turned into checked values.
 */
#ifndef VR_ARGS_H
#define VR_ARGS_H

#include <stddef.h>

#include "proto.h"

#define ARGS_ERRLEN 256

struct plugin_opts {
	const char *config;		       /* vpcroute.conf */
	char ccd_dir[256];		       /* ccd=DIR, or empty */
	char instance[PROTO_INSTANCE_MAX + 1]; /* instance=NAME */
};

/* argv[0] is the plugin's path; then CONFIG [ccd=DIR] [instance=NAME]. */
int plugin_args_parse(const char *const *argv, struct plugin_opts *o, char *err, size_t errlen);
/* The default instance name: the basename of OpenVPN's config file, or "openvpn". */
void plugin_default_instance(const char *const *envp, char *buf, size_t len);

const char *env_get(const char *const *envp, const char *name);

/* UP/ROUTE_UP/ROUTE_PREDOWN/DOWN environment -> a tunnel message (routes owned by m). */
int env_tunnel(const char *const *envp, enum proto_tunnel_event ev, struct proto_msg *m, char *err,
	       size_t errlen);
/* LEARN_ADDRESS arguments: OP ADDR [CN]. */
int args_learn(const char *const *argv, enum proto_learn_op *op, struct pfx *addr, char *cn,
	       char *err, size_t errlen);

#endif
