/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A test double of agent/http.c: http_start records the request instead of
 * sending it, and the test answers it (fake_http_answer); the answer is
 * delivered by the next http_run, as the event loop would.
 */
#ifndef VR_FAKE_HTTP_H
#define VR_FAKE_HTTP_H

#include <stdbool.h>

#include "http.h"

struct fake_req {
	char method[8];
	char url[1024];
	char body[16384];
	char headers[4][512];
	char sigv4[128], user[256];
	bool open; /* started, not answered yet */
};

/* The request most recently started. */
const struct fake_req *fake_http_last(void);
/* Answers it at the next http_run; status 0 means no answer (error says why). */
void fake_http_answer(long status, const char *body, const char *error);
/* Requests started since the beginning. */
unsigned fake_http_started(void);

#endif
