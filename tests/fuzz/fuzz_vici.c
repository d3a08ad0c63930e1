// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the VICI decoder (agent/vici_decode.c), fed a byte
 * stream as recv() on charon's VICI socket would return it: segments framed
 * one after the other, each packet parsed, the list-sa events decoded into
 * a table of IKE_SAs (as the client does), every other message checked, and
 * each IKE_SA's identity looked up as ipsec.c does.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "vici.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exactly as long as the input: ASan sees any overread */
	uint8_t *buf = malloc(size ? size : 1);
	struct vici_ike *v = NULL;
	size_t n = 0, off = 0;
	char err[160];
	ssize_t seg;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	while ((seg = vici_frame(buf + off, size - off)) > 0) {
		struct vici_pkt p;

		if (vici_packet(buf + off + 4, (size_t)seg - 4, &p, err, sizeof(err)) == 0) {
			if (p.type == VICI_EVENT && strcmp(p.name, "list-sa") == 0)
				vici_decode_sas(p.msg, p.len, &v, &n, err, sizeof(err));
			else
				vici_msg_check(p.msg, p.len, err, sizeof(err));
		}
		off += (size_t)seg;
	}
	for (size_t i = 0; i < n; i++) {
		const struct vici_ike *ike;
		bool amb;

		if (v[i].has_host)
			vici_identity(v, n, &v[i].remote_host, v[i].remote_port, &ike, &amb);
	}
	vici_ikes_free(v, n);
	free(buf);
	return 0;
}
