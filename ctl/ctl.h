/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the modules of vpcroutectl share: its exit statuses and where the
 * agent is.
 */
#ifndef VR_CTL_H
#define VR_CTL_H

#define CTL_DEFAULT_CONFIG VR_CONFDIR "/vpcroute.conf"

/* vpcroutectl's exit statuses (vpcroutectl(8), EXIT STATUS); 0 is success. */
enum { CTL_EXIT_FAIL = 1, CTL_EXIT_USAGE = 2, CTL_EXIT_UNREACHABLE = 3, CTL_EXIT_PENDING = 4 };

/* The agent's socket: socket_path, else socket.path of the configuration config_path. */
struct ctl_target {
	const char *config_path;
	const char *socket_path;
};

#endif
