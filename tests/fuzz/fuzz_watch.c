// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the decoder of the kernel's rtnetlink and nftables
 * notifications (agent/watch_decode.c), fed raw datagrams. The first byte
 * picks the netlink family and whether a device name is ours; the rest is
 * what recv() would have returned.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>

#include "watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool any_dev(void *arg, const char *name)
{
	/* the name must be a string within the datagram */
	return strlen(name) == *(size_t *)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct watch_hits h = { 0 };
	size_t want = 4;
	struct watch_filter f = { .own_portid = 77, .our_dev = any_dev, .arg = &want };
	void *buf;

	if (size < 1)
		return 0;
	f.proto = data[0] & 1 ? NETLINK_NETFILTER : NETLINK_ROUTE;
	/* aligned, and exactly as long as the datagram: ASan sees any overread */
	buf = malloc(size - 1 ? size - 1 : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	watch_decode(&f, buf, size - 1, &h);
	free(buf);
	return 0;
}
