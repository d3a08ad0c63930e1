// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * BIRD's control socket (ctl/bird.c): the parser of `show protocols all`
 * on replies as BIRD 2.0.12 writes them, and the query against a server
 * that speaks the protocol on a UNIX socket in a temporary directory.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#include "bird.h"

static const char reply[] =
	"0001 BIRD 2.0.12 ready.\n"
	"2002-Name       Proto      Table      State  Since         Info\n"
	"1002-device1    Device     ---        up     18:19:56.496  \n"
	"1006-\n"
	"1002-k4         Kernel     master4    up     18:19:56.496  \n"
	"1006-  Channel ipv4\n"
	"     State:          UP\n"
	"     Routes:         3 imported, 0 exported, 3 preferred\n"
	" \n"
	"1002-rs1        BGP        ---        up     18:20:00.290  Established   \n"
	"1006-  BGP state:          Established\n"
	"     Neighbor address: 10.99.0.2\n"
	"     Neighbor AS:      65000\n"
	"     Local AS:         4200000001\n"
	"     Hold timer:       2.198/3\n"
	"   Channel ipv4\n"
	"     Routes:         0 imported, 3 exported, 0 preferred\n"
	"   Channel ipv6\n"
	"     Routes:         1 imported, 2 exported, 0 preferred\n"
	"+async: ignored\n"
	"1002-rs2        BGP        ---        start  18:21:53.233  Active        Received: "
	"Administrative shutdown\n"
	"1006-  BGP state:          Active\n"
	"     Neighbor address: 10.99.1.2\n"
	"     Neighbor AS:      65000\n"
	"     Local AS:         65001\n"
	"     Last error:       Received: Administrative shutdown\n"
	"   Channel ipv4\n"
	"     State:          DOWN\n"
	" \n"
	"0000 \n";

static void test_parse(void **state)
{
	struct bird_sessions s;
	char err[BIRD_ERRLEN];

	(void)state;
	assert_int_equal(bird_parse_protocols(reply, strlen(reply), &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 2); /* the BGP protocols only */
	assert_string_equal(s.v[0].name, "rs1");
	assert_string_equal(s.v[0].state, "up");
	assert_string_equal(s.v[0].bgp_state, "Established");
	assert_string_equal(s.v[0].neighbor, "10.99.0.2");
	assert_int_equal(s.v[0].neighbor_as, 65000);
	assert_int_equal(s.v[0].local_as, 4200000001ULL);
	assert_int_equal(s.v[0].exported, 5);
	assert_int_equal(s.v[0].imported, 1);
	assert_string_equal(s.v[0].last_error, "");
	assert_string_equal(s.v[1].name, "rs2");
	assert_string_equal(s.v[1].state, "start");
	assert_string_equal(s.v[1].bgp_state, "Active");
	assert_string_equal(s.v[1].last_error, "Received: Administrative shutdown");
	assert_int_equal(s.v[1].exported, 0);
	bird_sessions_free(&s);
	assert_int_equal(bird_reply_end(reply, strlen(reply)), strlen("0001 BIRD 2.0.12 ready.\n"));
	assert_int_equal(bird_reply_end(reply + 24, strlen(reply) - 24), strlen(reply) - 24);
	assert_int_equal(bird_reply_end(reply + 24, strlen(reply) - 26), 0);
}

static void refused(const char *text, const char *want)
{
	struct bird_sessions s = { 0 };
	char err[BIRD_ERRLEN] = "";

	assert_int_equal(bird_parse_protocols(text, strlen(text), &s, err, sizeof(err)), -EINVAL);
	assert_null(s.v);
	assert_int_equal(s.n, 0);
	if (!strstr(err, want))
		fail_msg("\"%s\" does not say \"%s\"", err, want);
}

static void test_refused(void **state)
{
	(void)state;
	refused("9001 syntax error, unexpected CF_SYM_UNDEFINED\n",
		"line 1: BIRD says: syntax error");
	refused("8003 No protocols match\n", "No protocols match");
	refused("1002-rs1 BGP --- up 18:20:00\n", "after line 1: the reply is cut short");
	refused("1002-rs1 BGP --- up 18:20:00\n0000 ", "line 2: the reply is cut short");
	refused("1002-rs1 BGP\n0000 \n", "line 1: a protocol line without its columns");
	refused("1002-rs1 BGP --- up 1\n1006-  Neighbor AS: 65x\n0000 \n",
		"line 2: a number expected");
	refused("1002-rs1 BGP --- up 1\n1006-  Routes: 99999999999999999999 exported\n0000 \n",
		"line 2: a number expected");
	refused("HTTP/1.1 200 OK\n", "line 1: not a line of BIRD's reply");
	refused(" continued from nothing\n0000 \n", "line 1: not a line of BIRD's reply");
	refused("", "cut short");
}

/* A server that greets, reads one command and answers with reply. */
static pid_t serve(const char *path, const char *expect)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c;
	pid_t pid;

	assert_true(l >= 0);
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(l, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(l, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char cmd[256];
		size_t n = 0;
		ssize_t r;

		if ((c = accept(l, NULL, NULL)) < 0)
			_exit(1);
		/* the greeting and the reply written in pieces */
		if (write(c, "0001 BIRD 2.0.12 re", 19) != 19 || usleep(20000) ||
		    write(c, "ady.\n", 5) != 5)
			_exit(1);
		while (n < sizeof(cmd) - 1 && (r = read(c, cmd + n, sizeof(cmd) - 1 - n)) > 0 &&
		       !memchr(cmd, '\n', n + (size_t)r))
			n += (size_t)r;
		if (strncmp(cmd, expect, strlen(expect)) != 0)
			_exit(2);
		for (size_t at = 24; at < strlen(reply); at += 100)
			if (write(c, reply + at,
				  strlen(reply) - at < 100 ? strlen(reply) - at : 100) < 0)
				_exit(1);
		usleep(200000);
		_exit(0);
	}
	close(l);
	return pid;
}

static void test_query(void **state)
{
	char dir[] = "/tmp/vr-bird-XXXXXX", path[128], err[BIRD_ERRLEN], *out;
	struct bird_sessions s;
	size_t len;
	pid_t pid;
	int st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/bird.ctl", dir);
	pid = serve(path, "show protocols all\n");
	assert_int_equal(bird_query(path, "show protocols all", 5000, &out, &len, err, sizeof(err)),
			 0);
	assert_int_equal(len, strlen(reply) - 24);
	assert_memory_equal(out, reply + 24, len);
	assert_int_equal(bird_parse_protocols(out, len, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n, 2);
	bird_sessions_free(&s);
	free(out);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	unlink(path);
	/* nobody listening */
	assert_int_equal(bird_query(path, "show protocols all", 500, &out, &len, err, sizeof(err)),
			 -ENOENT);
	assert_null(out);
	assert_non_null(strstr(err, "cannot connect to"));
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
