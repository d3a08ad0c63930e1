/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging in the OpenBGPD style: log_warn appends strerror(errno),
 * log_warnx does not; fatal/fatalx log and exit. Callers prefix messages
 * with __func__ where the location helps.
 */
#ifndef VR_LOG_H
#define VR_LOG_H

#include <stdarg.h>
#include <syslog.h>

/* A sink receives every message that passes the verbosity filter. */
typedef void (*log_sink_fn)(int prio, const char *msg, void *ctx);

void log_init(const char *ident, int to_stderr, int verbose);
void log_set_verbose(int verbose);
int log_get_verbose(void);
/* Route messages to a sink (the plugin uses OpenVPN's plugin_log). */
void log_set_sink(log_sink_fn fn, void *ctx);

void vlog_prio(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats a parser's error text into err; returns -EINVAL, for "return errf(...)". */
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
