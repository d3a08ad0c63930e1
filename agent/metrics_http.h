/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent's optional metrics listener (metrics.listen): a minimal
 * HTTP/1.0 responder inside the event loop that answers GET /metrics with
 * the text of metrics.h and closes the connection. Strict limits: a request
 * head of at most METRICS_HTTP_HEAD_MAX bytes, at most METRICS_HTTP_CONNS
 * connections (the oldest is closed for a new one), each closed after
 * METRICS_HTTP_IDLE_MS; after the answer, what the client still sends is
 * read and dropped (at most METRICS_HTTP_DRAIN_MAX bytes) until it closes.
 */
#ifndef VR_METRICS_HTTP_H
#define VR_METRICS_HTTP_H

#include <stddef.h>

#define METRICS_HTTP_HEAD_MAX  2048
#define METRICS_HTTP_CONNS     8
#define METRICS_HTTP_IDLE_MS   10000
#define METRICS_HTTP_DRAIN_MAX 65536 /* bytes read and dropped after an answer */

/*
 * The request head in buf (len bytes read so far): 0 when more is needed,
 * else the status to answer: 200 (GET /metrics), 400 (malformed), 404 (another
 * path), 405 (another method), 431 (head too large), 505 (not HTTP/1.x).
 */
int metrics_http_parse(const char *buf, size_t len);

struct agent;
struct metrics_http;
/* Listens on a->cfg->metrics.listen (nothing when unset): 0 or -errno. */
int metrics_http_open(struct agent *a, int epfd, struct metrics_http **out);
void metrics_http_close(struct metrics_http *h);

#endif
