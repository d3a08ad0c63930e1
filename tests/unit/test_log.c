// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <unistd.h>

#include <stdlib.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"

static char last[1024];
static int last_prio, count;

static void sink(int prio, const char *msg, void *ctx)
{
	snprintf(last, sizeof(last), "%s", msg);
	last_prio = prio;
	count++;
	(*(int *)ctx)++;
}

static void test_sink_levels(void **state)
{
	int calls = 0;

	log_set_sink(sink, &calls);
	log_set_verbose(0);
	log_info("%s: hello %d", __func__, 7);
	assert_string_equal(last, "test_sink_levels: hello 7");
	assert_int_equal(last_prio, LOG_INFO);
	log_debug("hidden");
	assert_int_equal(calls, 1);
	log_set_verbose(1);
	log_debug("shown");
	assert_int_equal(calls, 2);
	assert_int_equal(last_prio, LOG_DEBUG);
	log_warnx("plain");
	assert_string_equal(last, "plain");
	assert_int_equal(last_prio, LOG_WARNING);
	errno = ENOENT;
	log_warn("open %s", "/nonexistent");
	assert_string_equal(last, "open /nonexistent: No such file or directory");
	assert_int_equal(errno, ENOENT); /* preserved for the caller */
	log_set_sink(NULL, NULL);
}

/* Under systemd (JOURNAL_STREAM set) stderr lines carry their priority. */
static void test_journal_priorities(void **state)
{
	char path[] = "/tmp/vr-test-log-XXXXXX", buf[256] = "";
	int fd = mkstemp(path), saved = dup(2);
	FILE *f;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	log_set_sink(NULL, NULL);
	setenv("JOURNAL_STREAM", "8:1234", 1);
	log_init("test", 1, 0);
	log_warnx("a warning");
	log_info("an info");
	unsetenv("JOURNAL_STREAM");
	log_init("test", 1, 0);
	log_info("plain");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fdopen(fd, "r");
	rewind(f);
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f) > 0, 1);
	fclose(f);
	unlink(path);
	assert_string_equal(buf, "<4>a warning\n<6>an info\nplain\n");
}

/* At most burst lines per window; the next line let through counts the rest. */
static void test_rate_limit(void **state)
{
	struct log_rl rl = LOG_RL_INIT(3, 10);
	unsigned long sup = 99;
	int calls = 0;

	assert_true(log_rl_allow(&rl, 100, &sup));
	assert_int_equal(sup, 0);
	assert_true(log_rl_allow(&rl, 101, &sup));
	assert_true(log_rl_allow(&rl, 109, &sup));
	for (int i = 0; i < 1000; i++)
		assert_false(log_rl_allow(&rl, 109, &sup));
	assert_int_equal(sup, 0);
	/* a new window: the first line says what was dropped, once */
	assert_true(log_rl_allow(&rl, 110, &sup));
	assert_int_equal(sup, 1000);
	assert_true(log_rl_allow(&rl, 110, &sup));
	assert_int_equal(sup, 0);
	/* a clock that went backwards starts a new window, it does not stall */
	assert_true(log_rl_allow(&rl, 5, &sup));

	/* the logging wrapper: 5,000 calls, a bounded number of lines */
	struct log_rl w = LOG_RL_INIT(5, 3600);

	log_set_sink(sink, &calls);
	for (int i = 0; i < 5000; i++)
		log_warnx_rl(&w, "refused %d", i);
	assert_int_equal(calls, 5);
	assert_string_equal(last, "refused 4");
	/* the next window's first line (forced here) carries the count */
	w.window -= 3600;
	log_warnx_rl(&w, "refused %d", 5000);
	assert_int_equal(calls, 6);
	assert_string_equal(last, "refused 5000 (4995 similar lines suppressed)");
	assert_int_equal(last_prio, LOG_WARNING);
	log_set_sink(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sink_levels),
		cmocka_unit_test(test_journal_priorities),
		cmocka_unit_test(test_rate_limit),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
