// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The sysctls of the manual recipe, written through /proc/sys of the
 * agent's network namespace; every change is logged with the old value.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sysctl.h"

int sysctl_ensure(const char *key, const char *value)
{
	char path[256], cur[64] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/%s", key);
	for (char *p = path + 10; *p; p++)
		if (*p == '.')
			*p = '/';
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		log_warn("sysctl %s (set it with sysctl -w, or run the agent as root)", key);
		return -errno;
	}
	n = read(fd, cur, sizeof(cur) - 1);
	if (n > 0) {
		cur[n] = '\0';
		cur[strcspn(cur, "\n")] = '\0';
	}
	if (strcmp(cur, value) == 0) {
		close(fd);
		return 0;
	}
	if (pwrite(fd, value, strlen(value), 0) < 0) {
		int e = -errno;

		log_warn("sysctl %s=%s (set it with sysctl -w, or run the agent as root)", key,
			 value);
		close(fd);
		return e;
	}
	close(fd);
	log_info("sysctl %s: %s -> %s", key, cur, value);
	return 1;
}

static bool any_v6(const struct pfx_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].family == AF_INET6)
			return true;
	return false;
}

void sysctl_host(const struct cfg *c)
{
	sysctl_ensure("net.ipv4.ip_forward", "1");
	if (any_v6(&c->local) || c->has_pool6)
		sysctl_ensure("net.ipv6.conf.all.forwarding", "1");
	sysctl_ensure("net.ipv4.conf.all.send_redirects", "0");
}

void sysctl_tunnel(const char *dev)
{
	char key[96];

	if (!dev[0] || strchr(dev, '.') || strchr(dev, '/'))
		return;
	snprintf(key, sizeof(key), "net.ipv4.conf.%s.send_redirects", dev);
	sysctl_ensure(key, "0");
	/* replies to remote networks may leave by another path: loose mode */
	snprintf(key, sizeof(key), "net.ipv4.conf.%s.rp_filter", dev);
	sysctl_ensure(key, "2");
}
