// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static int log_stderr = 1;
static int log_journal; /* stderr is the journal: lines carry "<N>" priorities */
static int log_verbose;
static log_sink_fn log_sink;
static void *log_sink_ctx;

void log_init(const char *ident, int to_stderr, int verbose)
{
	log_stderr = to_stderr;
	log_verbose = verbose;
	/* systemd sets JOURNAL_STREAM when stderr goes to the journal (sd-daemon(3)) */
	log_journal = to_stderr && getenv("JOURNAL_STREAM") != NULL;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_verbose(int verbose)
{
	log_verbose = verbose;
}

void log_set_sink(log_sink_fn fn, void *ctx)
{
	log_sink = fn;
	log_sink_ctx = ctx;
}

static void log_emit(int prio, const char *msg)
{
	if (log_sink)
		log_sink(prio, msg, log_sink_ctx);
	else if (log_stderr && log_journal)
		fprintf(stderr, "<%d>%s\n", prio, msg);
	else if (log_stderr)
		fprintf(stderr, "%s\n", msg);
	else
		syslog(prio, "%s", msg);
}

void vlog_prio(int prio, const char *fmt, va_list ap)
{
	char msg[1024];

	if (prio == LOG_DEBUG && !log_verbose)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_emit(prio, msg);
}

static void vlog_errno(int prio, int saved, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Format, then append ": strerror(saved)". */
static void vlog_errno(int prio, int saved, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	log_emit(prio, msg);
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_WARNING, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_prio(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_prio(LOG_INFO, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_prio(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

bool log_rl_allow(struct log_rl *rl, uint64_t now, unsigned long *suppressed)
{
	*suppressed = 0;
	if (!rl->started || now < rl->window || now - rl->window >= rl->interval_s) {
		rl->started = true;
		rl->window = now;
		rl->used = 0;
	}
	if (rl->used >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->used++;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

void log_warnx_rl(struct log_rl *rl, const char *fmt, ...)
{
	struct timespec ts;
	unsigned long dropped;
	char msg[1024];
	size_t n;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!log_rl_allow(rl, (uint64_t)ts.tv_sec, &dropped))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = strlen(msg);
	if (dropped)
		snprintf(msg + n, sizeof(msg) - n, " (%lu similar line%s suppressed)", dropped,
			 dropped == 1 ? "" : "s");
	log_emit(LOG_WARNING, msg);
}
