/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vpcroutectl's client of the agent's control socket (doc/protocol.md).
 */
#ifndef VR_CTL_CLIENT_H
#define VR_CTL_CLIENT_H

#include <stddef.h>
#include <jansson.h>

#include "ctl.h"
#include "proto.h"

/*
 * Connects to the agent, says hello as vpcroutectl, sends one request of the
 * given type and waits for its ack. The texts of the reports that answer it
 * are appended to *text (a string of *len bytes, to be freed) when text is not
 * NULL. 0, or an exit status with the reason printed on stderr.
 */
int client_request(const struct ctl_target *t, enum proto_type type, char **text, size_t *len);
/* The same for a request with a body (req->id is set here), waiting up to
 * timeout_s seconds for each answer. */
int client_request_msg(const struct ctl_target *t, struct proto_msg *req, unsigned timeout_s,
		       char **text, size_t *len);

/* The agent's status as a JSON object in *out (NULL on failure): 0 or an exit status. */
int client_status(const struct ctl_target *t, json_t **out);

#endif
