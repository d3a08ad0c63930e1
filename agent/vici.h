/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * strongSwan's VICI control socket (ipsec.vici_socket): what the kernel's
 * XFRM tables do not hold, the IKE identity of the peer behind a tunnel.
 * The agent speaks the protocol itself (strongSwan's
 * src/libcharon/plugins/vici/README.md): a segment is a 32-bit big-endian
 * length and that many bytes (at most 512 KiB); its first byte is the
 * packet type, named types then carry an 8-bit name length and the name,
 * and the rest is a message: elements SECTION_START (name), SECTION_END,
 * KEY_VALUE (name, 16-bit length, value), LIST_START (name), LIST_ITEM
 * (16-bit length, value), LIST_END. The client registers for ike-updown,
 * child-updown and list-sa, and lists the IKE_SAs (list-sas) at connect and
 * after each event; the XFRM view stays the truth of what is live, VICI
 * only names who is behind an address. See vpcroute-agent(8), IPSEC.
 */
#ifndef VR_VICI_H
#define VR_VICI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "cfg.h"
#include "pfx.h"

/* --- the decoder (vici_decode.c: pure, no sockets; fuzzed on its own) --- */

#define VICI_SEGMENT_MAX (512 * 1024) /* strongSwan's own limit */
#define VICI_NAME_MAX	 255	      /* 8-bit name lengths */
#define VICI_STATE_MAX	 32

enum vici_type {
	VICI_CMD_REQUEST = 0,
	VICI_CMD_RESPONSE = 1,
	VICI_CMD_UNKNOWN = 2,
	VICI_EVENT_REGISTER = 3,
	VICI_EVENT_UNREGISTER = 4,
	VICI_EVENT_CONFIRM = 5,
	VICI_EVENT_UNKNOWN = 6,
	VICI_EVENT = 7,
};

enum vici_elem {
	VICI_SECTION_START = 1,
	VICI_SECTION_END = 2,
	VICI_KEY_VALUE = 3,
	VICI_LIST_START = 4,
	VICI_LIST_ITEM = 5,
	VICI_LIST_END = 6,
};

/* One packet of a segment: its type, its name (named types), its message. */
struct vici_pkt {
	uint8_t type;
	char name[VICI_NAME_MAX + 1];
	const uint8_t *msg;
	size_t len;
};

/* An IKE_SA as list-sa tells it: what the agent keeps. */
struct vici_ike {
	char name[VICI_NAME_MAX + 1]; /* the connection's name (swanctl.conf) */
	char state[VICI_STATE_MAX];   /* ESTABLISHED, CONNECTING, ... */
	char remote_id[CFG_PEER_ID_MAX + 1];
	bool has_host;
	struct pfx remote_host;	   /* the peer's IKE address: the XFRM tunnel's end */
	uint16_t remote_port;	   /* its IKE port (remote-port; 4500 or a NAT's
				    * mapping with NAT traversal); 0: not listed */
	struct pfx_list remote_ts; /* its CHILD_SAs' remote traffic selectors */
	unsigned nchild;
};

/*
 * The segment at the start of buf[0..len): its whole length (4 + data), 0
 * when more bytes are needed, or -EMSGSIZE (a length of 0 or above
 * VICI_SEGMENT_MAX: the stream cannot be trusted any more).
 */
ssize_t vici_frame(const uint8_t *buf, size_t len);
/* The packet in a segment's data: 0, or -EBADMSG with err filled. */
int vici_packet(const uint8_t *data, size_t len, struct vici_pkt *pkt, char *err, size_t errlen);
/* Whether a message is well formed (balanced sections, lists not nested, items
 * only in lists, nothing cut): 0, or -EBADMSG with err filled. */
int vici_msg_check(const uint8_t *msg, size_t len, char *err, size_t errlen);
/*
 * The IKE_SAs of a list-sa event (each section of the root is one): appended
 * to *v (*n of them, the array realloc'd). An IKE_SA with a remote-id longer
 * than CFG_PEER_ID_MAX, or without remote-host, is appended with has_host
 * false or remote_id empty. 0, -EBADMSG (err filled, *v unchanged) or -ENOMEM.
 */
int vici_decode_sas(const uint8_t *msg, size_t len, struct vici_ike **v, size_t *n, char *err,
		    size_t errlen);
void vici_ikes_free(struct vici_ike *v, size_t n);
/*
 * A packet into out[0..cap): type, name (NULL for unnamed types), message
 * msg[0..mlen) (may be empty); the segment's length, or -EMSGSIZE.
 */
ssize_t vici_encode(uint8_t *out, size_t cap, uint8_t type, const char *name, const uint8_t *msg,
		    size_t mlen);
/*
 * The IKE identity of the peer at addr, UDP port port (0: unknown), among
 * v[0..n): the remote-id of its IKE_SAs when they all name one (NULL: none,
 * or several different ones, *ambiguous then true); *ike the first of them
 * (NULL: none). An IKE_SA is the peer's when its remote-host is addr and,
 * where both ports are known, its remote-port is port: two sites behind
 * one NAT address are told apart by the NAT's ports.
 */
const char *vici_identity(const struct vici_ike *v, size_t n, const struct pfx *addr, uint16_t port,
			  const struct vici_ike **ike, bool *ambiguous);

/* --- the client (vici.c) --- */

struct vici;

/*
 * Connects to path (a UNIX socket) through the event loop epfd, now and
 * again with a growing delay (1 s to 30 s) whenever charon is gone; changed
 * (ctx) runs when a new list of IKE_SAs is complete. NULL: out of memory.
 */
struct vici *vici_open(int epfd, const char *path, void (*changed)(void *ctx), void *ctx);
void vici_close(struct vici *v);
const char *vici_path(const struct vici *v);
/* The IKE_SAs as last listed (kept while charon is away). */
const struct vici_ike *vici_ikes(const struct vici *v, size_t *n);
/* {socket, connected, listed, ike_sas, error}: for the status. */
json_t *vici_status_json(const struct vici *v);

#endif
