// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include "unit.h"

#include "ccd.h"

static void parse_ok(const char *text, struct ccd *c)
{
	char err[CCD_ERRLEN];

	if (ccd_parse("ccd/pi-home", text, strlen(text), c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static void test_recipe(void **state)
{
	struct ccd c;
	char s[PFX_STRLEN];

	parse_ok("# the recipe's CCD file\n"
		 "iroute 192.168.1.128 255.255.255.128\n"
		 "  ; another comment\n"
		 "\n"
		 "iroute-ipv6 2001:db8:1::/48\r\n"
		 "ifconfig-push 10.1.2.10 255.255.255.0\n"
		 "ifconfig-ipv6-push fd00:2::10/64\n"
		 "push \"route 10.1.1.0 255.255.255.0\"\n"
		 "push 'dhcp-option DNS 10.1.1.2'\n"
		 "push-remove route\n"
		 "--push-reset\n"
		 "iroute 192.168.7.9\n",
		 &c);
	assert_int_equal(c.iroutes.n, 3);
	assert_string_equal(pfx_format(&c.iroutes.v[0], s, sizeof(s)), "192.168.1.128/25");
	assert_string_equal(pfx_format(&c.iroutes.v[1], s, sizeof(s)), "2001:db8:1::/48");
	assert_string_equal(pfx_format(&c.iroutes.v[2], s, sizeof(s)), "192.168.7.9/32");
	assert_true(c.has_address);
	assert_string_equal(pfx_format_addr(&c.address, s, sizeof(s)), "10.1.2.10");
	assert_true(c.has_address6);
	assert_string_equal(pfx_format(&c.address6, s, sizeof(s)), "fd00:2::10/64");
	assert_false(c.disable);
	assert_int_equal(c.npush, 4);
	assert_string_equal(c.push[0], "push \"route 10.1.1.0 255.255.255.0\"");
	assert_string_equal(c.push[1], "push \"dhcp-option DNS 10.1.1.2\"");
	assert_string_equal(c.push[2], "push-remove \"route\"");
	assert_string_equal(c.push[3], "push-reset");
	ccd_free(&c);
}

static void test_quoting(void **state)
{
	struct ccd c;

	/* escapes survive a round trip and cannot inject a second line */
	parse_ok("push \"setenv-safe X a\\\"b\\\\c\"\n", &c);
	assert_string_equal(c.push[0], "push \"setenv-safe X a\\\"b\\\\c\"");
	ccd_free(&c);
	parse_ok("disable\n", &c);
	assert_true(c.disable);
	ccd_free(&c);
	parse_ok("", &c);
	assert_int_equal(c.iroutes.n, 0);
	ccd_free(&c);
}

static const struct {
	const char *text, *expect;
} bads[] = {
	{ "iroute 192.168.1.129 255.255.255.128\n",
	  "ccd/pi-home:1: iroute: \"192.168.1.129 255.255.255.128\": host bits set (the network is "
	  "192.168.1.128/25)" },
	{ "\n\niroute 192.168.1.0 255.0.255.0\n",
	  "ccd/pi-home:3: iroute: \"255.0.255.0\" is not a contiguous netmask" },
	{ "iroute\n", "iroute takes 1 to 2 arguments, got 0" },
	{ "iroute 10.0.0.0 255.0.0.0 extra\n", "iroute takes 1 to 2 arguments, got 3" },
	{ "iroute 10.0.0.0 255.0.0.0\niroute 10.1.0.0 255.255.0.0\n",
	  "ccd/pi-home:2: iroute 10.1.0.0/16 overlaps an earlier iroute" },
	{ "iroute-ipv6 10.0.0.0/8\n", "is not an IPv6 prefix" },
	{ "ifconfig-push 10.1.2.10\n", "ifconfig-push takes 2 to 3 arguments, got 1" },
	{ "ifconfig-push 10.1.2.10 255.255.255.0\nifconfig-push 10.1.2.11 255.255.255.0\n",
	  "ifconfig-push given twice" },
	{ "ifconfig-push fd00::1 255.255.255.0\n", "is not an IPv4 address" },
	{ "push \"route 10.0.0.0 255.0.0.0\n", "unterminated \" quote" },
	{ "push \"\"\n", "push of an empty option" },
	{ "push a b\n", "push takes 1 argument, got 2" },
	{ "config /etc/passwd\n", "ccd/pi-home:1: unsupported directive \"config\"" },
	{ "setenv X 1\n", "unsupported directive \"setenv\"" },
	{ "iroute 10.0.0.0\\\n", "backslash at the end of the line" },
	{ "push \"a\x01\"\n", "control character 0x01" },
	{ "disable now\n", "disable takes 0 arguments, got 1" },
};

static void test_rejects(void **state)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		char err[CCD_ERRLEN] = "";
		struct ccd c;

		assert_int_equal(ccd_parse("ccd/pi-home", bads[i].text, strlen(bads[i].text), &c,
					   err, sizeof(err)),
				 -EINVAL);
		if (!strstr(err, bads[i].expect))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bads[i].expect);
		assert_null(strchr(err, '\n'));
	}
}

static void test_limits(void **state)
{
	char line[400], err[CCD_ERRLEN], *big;
	struct ccd c;

	memset(line, 'x', sizeof(line));
	memcpy(line, "push ", 5);
	line[sizeof(line) - 1] = '\0';
	assert_int_equal(ccd_parse("f", line, strlen(line), &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line longer than 256"));
	assert_int_equal(ccd_parse("f", "iroute 10.0.0.0\0x", 17, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NUL"));
	big = calloc(1, CCD_MAX_SIZE + 2);
	memset(big, '\n', CCD_MAX_SIZE + 1);
	assert_int_equal(ccd_parse("f", big, CCD_MAX_SIZE + 1, &c, err, sizeof(err)), -EFBIG);
	free(big);
}

/* A line of n characters: "push " and one long option, or one long word. */
static int parse_line_of(size_t n, bool word, struct ccd *c, char *err, size_t errlen)
{
	char *text = malloc(n + 2);
	int r;

	memset(text, 'x', n);
	if (!word)
		memcpy(text, "push ", 5);
	text[n] = '\n';
	text[n + 1] = '\0';
	r = ccd_parse("f", text, n + 1, c, err, errlen);
	free(text);
	return r;
}

/* OpenVPN's line limit, exactly and around it: no byte written out of
 * bounds (the sanitizer build aborts on one), longer lines refused. */
static void test_line_lengths(void **state)
{
	char err[CCD_ERRLEN];
	struct ccd c;

	for (size_t n = 255; n <= 256; n++) {
		assert_int_equal(parse_line_of(n, false, &c, err, sizeof(err)), 0);
		assert_int_equal(c.npush, 1);
		assert_int_equal(strlen(c.push[0]), strlen("push \"\"") + n - 5);
		ccd_free(&c);
		/* one word as long as the line: the token buffer's worst case */
		assert_int_equal(parse_line_of(n, true, &c, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "f:1: unsupported directive \"xxxx"));
	}
	for (size_t i = 0; i < 2; i++) {
		size_t n = i ? 10000 : 257;

		assert_int_equal(parse_line_of(n, false, &c, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, "f:1: line longer than 256 characters");
		assert_int_equal(parse_line_of(n, true, &c, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, "f:1: line longer than 256 characters");
	}
}

static void test_load(void **state)
{
	char dir[] = "/tmp/vr-ccd-XXXXXX", path[64], err[CCD_ERRLEN];
	struct ccd c;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	/* no file: not an error, nothing found */
	assert_int_equal(ccd_load(dir, "pi-home", &c, err, sizeof(err)), 0);
	assert_false(c.found);
	/* DEFAULT is the fallback, as in OpenVPN */
	snprintf(path, sizeof(path), "%s/DEFAULT", dir);
	f = fopen(path, "w");
	fputs("push \"route 10.1.1.0 255.255.255.0\"\n", f);
	fclose(f);
	assert_int_equal(ccd_load(dir, "pi-home", &c, err, sizeof(err)), 0);
	assert_true(c.found);
	assert_string_equal(c.path, path);
	ccd_free(&c);
	snprintf(path, sizeof(path), "%s/pi-home", dir);
	f = fopen(path, "w");
	fputs("iroute 10.9.0.0 255.255.0.0\nbogus\n", f);
	fclose(f);
	assert_int_equal(ccd_load(dir, "pi-home", &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "/pi-home:2: unsupported directive \"bogus\""));
	/* a symlink is not followed */
	unlink(path);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_true(ccd_load(dir, "pi-home", &c, err, sizeof(err)) < 0);
	unlink(path);
	snprintf(path, sizeof(path), "%s/DEFAULT", dir);
	unlink(path);
	rmdir(dir);
}

/* The shipped ccd-templates/ parse, and say what their comments say. */
static void test_templates(void **state)
{
	static const struct {
		const char *name;
		size_t iroutes;
		bool address;
		size_t push;
	} t[] = { { "home-gateway", 1, true, 1 },
		  { "branch-site", 2, true, 1 },
		  { "road-warrior", 0, false, 1 } };
	const char *top = getenv("top_srcdir");
	char dir[512], err[CCD_ERRLEN];

	snprintf(dir, sizeof(dir), "%s/ccd-templates", top ? top : ".");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ccd c;

		if (ccd_load(dir, t[i].name, &c, err, sizeof(err)) < 0)
			fail_msg("%s", err);
		assert_true(c.found);
		assert_int_equal(c.iroutes.n, t[i].iroutes);
		assert_int_equal(c.has_address, t[i].address);
		assert_int_equal(c.npush, t[i].push);
		ccd_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recipe),	     cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_rejects),	     cmocka_unit_test(test_limits),
		cmocka_unit_test(test_line_lengths), cmocka_unit_test(test_load),
		cmocka_unit_test(test_templates),
	};

	return cmocka_run_group_tests_name("ccd", tests, NULL, NULL);
}
