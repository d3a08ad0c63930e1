// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vpcroutectl: the command-line front end of vpcroute.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

#define DEFAULT_CONFIG VR_CONFDIR "/vpcroute.conf"

enum { EXIT_USAGE = 2 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vpcroutectl [-h] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  check-config [-q] [FILE]  validate FILE (default %s) and print it\n"
		"                            normalised, with every default filled in\n"
		"  version                   print the version\n"
		"\n"
		"exit status: 0 success, 1 invalid configuration, 2 usage error\n",
		DEFAULT_CONFIG);
}

static int cmd_check_config(int argc, char **argv)
{
	char err[CFG_ERRLEN];
	const char *path = DEFAULT_CONFIG;
	struct cfg *c;
	json_t *j;
	int quiet = 0, ch;

	optind = 1;
	while ((ch = getopt(argc, argv, "qh")) != -1) {
		switch (ch) {
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (argc - optind == 1)
		path = argv[optind];
	if (cfg_load_file(path, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (!quiet) {
		j = cfg_to_json(c);
		json_dumpf(j, stdout,
			   JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
		fputc('\n', stdout);
		json_decref(j);
	}
	fprintf(stderr, "%s: configuration valid\n", path);
	cfg_free(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "check-config") == 0)
		return cmd_check_config(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("vpcroutectl %s\n", PACKAGE_VERSION);
		return 0;
	}
	fprintf(stderr, "vpcroutectl: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
