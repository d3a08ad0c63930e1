/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What rtnetlink and nfnetlink share: reading the kernel's error replies. */
#ifndef VR_NL_H
#define VR_NL_H

#include <linux/netlink.h>

/* The extended-ACK message text of an NLMSG_ERROR reply, or NULL. */
const char *nl_ext_ack_msg(const struct nlmsghdr *nlh);

#endif
