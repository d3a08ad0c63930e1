/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging in the OpenBGPD style: log_warn appends strerror(errno),
 * log_warnx does not. Nothing here exits: the library is linked into the
 * OpenVPN plugin, which must never end its host process. Callers prefix
 * messages with __func__ where the location helps.
 */
#ifndef VR_LOG_H
#define VR_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* A sink receives every message that passes the verbosity filter. */
typedef void (*log_sink_fn)(int prio, const char *msg, void *ctx);

void log_init(const char *ident, int to_stderr, int verbose);
void log_set_verbose(int verbose);
/* Route messages to a sink (the plugin uses OpenVPN's plugin_log). */
void log_set_sink(log_sink_fn fn, void *ctx);

void vlog_prio(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats a parser's error text into err; returns -EINVAL, for "return errf(...)". */
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * A rate limit for one kind of log line (refused connections, refused
 * messages): at most burst lines per interval_s seconds. The first line let
 * through after some were dropped says how many.
 */
struct log_rl {
	unsigned burst, interval_s;
	uint64_t window; /* when the current window began */
	unsigned used;	 /* lines logged in it */
	unsigned long suppressed;
	bool started;
};
#define LOG_RL_INIT(b, s)                       \
	{                                       \
		.burst = (b), .interval_s = (s) \
	}
/* May a line be logged at now (seconds, any monotonic clock)? If so,
 * *suppressed is the number of lines dropped since the last one logged. */
bool log_rl_allow(struct log_rl *rl, uint64_t now, unsigned long *suppressed);
/* log_warnx through rl, on CLOCK_MONOTONIC, with " (N similar lines
 * suppressed)" appended when lines were dropped before it. */
void log_warnx_rl(struct log_rl *rl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
