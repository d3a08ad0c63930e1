// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vpcroutectl: the command-line front end of vpcroute.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ccd.h"
#include "cfg.h"
#include "policy.h"
#include "proto.h"

#define DEFAULT_CONFIG VR_CONFDIR "/vpcroute.conf"
#define TIMEOUT_S      10

enum { EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static const char *config_path = DEFAULT_CONFIG, *socket_path;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vpcroutectl [-f FILE] [-s SOCKET] COMMAND [ARGS]\n"
		"\n"
		"  -f FILE    configuration (default %s); the agent's socket is read from it\n"
		"  -s SOCKET  the agent's socket, instead of the configuration's socket.path\n"
		"\n"
		"commands:\n"
		"  check-config [-q] [FILE]  validate FILE (default: -f's) and print it\n"
		"                            normalised, with every default filled in\n"
		"  status [--json]           what the agent holds: instances, clients, kernel\n"
		"                            routes, nftables, the AWS side\n"
		"  reload                    make the agent read its configuration again\n"
		"  ccd NAME                  print the CCD file of client NAME that the\n"
		"                            configuration's policy gives\n"
		"  plan                      what the agent would change now: kernel routes\n"
		"                            and EC2 calls\n"
		"  doctor                    check this host and the agent, and explain\n"
		"                            what is wrong in plain words\n"
		"  version                   print the version\n"
		"\n"
		"exit status: 0 success, 1 invalid configuration, refused by the agent or\n"
		"(doctor) a problem found, 2 usage error, 3 the agent cannot be reached\n",
		DEFAULT_CONFIG);
}

/* --- talking to the agent --- */

struct agent_conn {
	int fd;
	uint64_t next_id;
};

static int agent_connect(struct agent_conn *ac)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	char err[CFG_ERRLEN];
	const char *path = socket_path;
	struct cfg *c = NULL;

	if (!path) {
		if (cfg_load_file(config_path, &c, err, sizeof(err)) < 0) {
			fprintf(stderr, "vpcroutectl: %s\n", err);
			return EXIT_FAIL;
		}
		path = c->socket.path;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "vpcroutectl: socket path too long: %s\n", path);
		cfg_free(c);
		return EXIT_USAGE;
	}
	strcpy(sun.sun_path, path);
	ac->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (ac->fd < 0 || setsockopt(ac->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(ac->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "vpcroutectl: cannot reach vpcroute-agent at %s: %s\n", path,
			strerror(errno));
		cfg_free(c);
		return EXIT_UNREACHABLE;
	}
	cfg_free(c);
	ac->next_id = 1;
	return 0;
}

static int agent_send(struct agent_conn *ac, struct proto_msg *m)
{
	char buf[PROTO_MAX_MSG];
	int n;

	m->id = ac->next_id++;
	n = proto_encode(m, buf, sizeof(buf));
	if (n < 0 || send(ac->fd, buf, (size_t)n, MSG_NOSIGNAL) != n) {
		fprintf(stderr, "vpcroutectl: sending %s: %s\n", proto_type_name(m->type),
			strerror(n < 0 ? -n : errno));
		return EXIT_UNREACHABLE;
	}
	return 0;
}

/*
 * Reads the answers to request id: report texts are appended to *text (when
 * text is not NULL) until the ack, whose error (if any) is printed.
 */
static int agent_wait(struct agent_conn *ac, uint64_t id, char **text, size_t *len)
{
	char buf[PROTO_MAX_MSG + 1], err[PROTO_ERRLEN];

	for (;;) {
		ssize_t n = recv(ac->fd, buf, sizeof(buf), MSG_TRUNC);
		struct proto_msg m;

		if (n <= 0 || n > PROTO_MAX_MSG) {
			fprintf(stderr, "vpcroutectl: no answer from vpcroute-agent: %s\n",
				n == 0	? "connection closed"
				: n < 0 ? strerror(errno)
					: "message too large");
			return EXIT_UNREACHABLE;
		}
		if (proto_decode(buf, (size_t)n, &m, err, sizeof(err)) < 0) {
			fprintf(stderr, "vpcroutectl: bad answer from vpcroute-agent: %s\n", err);
			return EXIT_UNREACHABLE;
		}
		if (m.type == PROTO_REPORT && m.report.ref == id && text) {
			size_t k = strlen(m.report.text);
			char *t = realloc(*text, *len + k + 1);

			if (!t) {
				proto_msg_free(&m);
				fprintf(stderr, "vpcroutectl: out of memory\n");
				return EXIT_FAIL;
			}
			memcpy(t + *len, m.report.text, k + 1);
			*text = t;
			*len += k;
		} else if (m.type == PROTO_ACK && m.ack.ref == id) {
			if (!m.ack.ok) {
				fprintf(stderr, "vpcroute-agent: %s\n", m.ack.error);
				return EXIT_FAIL;
			}
			return 0;
		}
		proto_msg_free(&m); /* claims and the like: not for us */
	}
}

static int agent_request(struct agent_conn *ac, enum proto_type type, char **text, size_t *len)
{
	struct proto_msg hello = { .type = PROTO_HELLO }, req = { .type = type };
	int r;

	hello.hello.role = PROTO_ROLE_CTL;
	hello.hello.pid = (uint32_t)getpid();
	snprintf(hello.hello.instance, sizeof(hello.hello.instance), "vpcroutectl");
	if ((r = agent_connect(ac)) || (r = agent_send(ac, &hello)) ||
	    (r = agent_wait(ac, hello.id, NULL, NULL)) || (r = agent_send(ac, &req)))
		return r;
	return agent_wait(ac, req.id, text, len);
}

/* --- status --- */

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static void print_list(json_t *a, const char *none)
{
	size_t i;
	json_t *v;

	if (!json_array_size(a))
		fputs(none, stdout);
	json_array_foreach(a, i, v)
	{
		printf("%s%s", i ? ", " : "", json_is_string(v) ? json_string_value(v) : "?");
	}
}

static void print_when(json_int_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm))
		fputs(buf, stdout);
	else
		fputs("?", stdout);
}

static void print_aws(json_t *w)
{
	json_t *t, *r, *c = json_object_get(w, "credentials");
	size_t i, k;

	printf("aws: instance %s, interface %s, %s (", jstr(w, "instance"),
	       jstr(w, "network_interface"), jstr(w, "vpc"));
	print_list(json_object_get(w, "vpc_cidr_blocks"), "-");
	printf("), region %s (%s)%s\n", jstr(w, "region"), jstr(w, "region_source"),
	       json_is_true(json_object_get(w, "dry_run")) ? ", dry run" : "");
	printf("  EC2 endpoint %s, credentials from the %s%s%s\n", jstr(w, "endpoint"),
	       jstr(c, "source"), json_object_get(c, "role") ? ", role " : "",
	       json_object_get(c, "role") ? jstr(c, "role") : "");
	printf("  source/dest check: %s\n", jstr(w, "source_dest_check"));
	json_array_foreach(json_object_get(w, "route_tables"), i, t)
	{
		printf("  route table %s%s:\n", jstr(t, "id"),
		       json_is_true(json_object_get(t, "main")) ? " (main)" : "");
		if (!json_array_size(json_object_get(t, "routes")))
			printf("    (no remote network)\n");
		json_array_foreach(json_object_get(t, "routes"), k, r)
		{
			printf("    %-20s %-13s %s\n", jstr(r, "destination"), jstr(r, "state"),
			       jstr(r, "target"));
		}
	}
	printf("  pending calls: ");
	print_list(json_object_get(w, "pending_calls"), "none");
	printf("\n  in flight: %s; calls %lld (mutating %lld, retries %lld)\n",
	       jstr(w, "in_flight"), (long long)json_integer_value(json_object_get(w, "calls")),
	       (long long)json_integer_value(json_object_get(w, "mutating_calls")),
	       (long long)json_integer_value(json_object_get(w, "retries")));
	printf("  last error: %s\n", jstr(w, "last_error"));
}

static void print_status(json_t *s)
{
	json_t *in, *c, *r, *sets = json_object_get(json_object_get(s, "nftables"), "set_elements");
	const char *key;
	json_t *v;
	size_t i, k;
	long long up = (long long)(time(NULL) - json_integer_value(json_object_get(s, "started")));

	printf("vpcroute-agent %s (pid %lld), %s role, up %lldh%02lldm, configuration %s%s\n",
	       jstr(s, "version"), (long long)json_integer_value(json_object_get(s, "pid")),
	       jstr(s, "role"), up / 3600, up / 60 % 60, jstr(s, "config"),
	       json_is_true(json_object_get(s, "in_grace")) ? " (start-up grace period)" : "");
	printf("local networks: ");
	print_list(json_object_get(s, "local_networks"), "none");
	putchar('\n');
	json_array_foreach(json_object_get(s, "instances"), i, in)
	{
		json_t *cl = json_object_get(in, "clients");

		printf("instance %s (%s role): plugin %s, tunnel %s", jstr(in, "name"),
		       jstr(in, "role"),
		       json_is_true(json_object_get(in, "plugin_connected")) ? "connected"
									     : "not connected",
		       jstr(in, "device"));
		if (json_object_get(in, "pushed_routes")) {
			printf(" %s, pushed routes ",
			       json_is_true(json_object_get(in, "tunnel_up")) ? "up" : "down");
			print_list(json_object_get(in, "pushed_routes"), "none");
		}
		printf(", %zu client%s\n", json_array_size(cl),
		       json_array_size(cl) == 1 ? "" : "s");
		if (json_array_size(cl))
			printf("  %-24s %-15s %-19s %s\n", "CLIENT", "TUNNEL", "SINCE", "NETWORKS");
		json_array_foreach(cl, k, c)
		{
			printf("  %-24s %-15s ", jstr(c, "cn"), jstr(c, "tunnel4"));
			print_when(json_integer_value(json_object_get(c, "since")));
			putchar(' ');
			print_list(json_object_get(c, "networks"), "-");
			putchar('\n');
		}
	}
	printf("kernel routes (proto vpcroute): ");
	if (!json_array_size(json_object_get(s, "routes")))
		printf("none");
	json_array_foreach(json_object_get(s, "routes"), i, r)
	{
		printf("%s%s dev %s", i ? ", " : "", jstr(r, "destination"), jstr(r, "device"));
	}
	printf("\nleft to routes of other protocols: ");
	print_list(json_object_get(s, "routes_left_to_others"), "none");
	printf("\nnftables %s: %s;", jstr(json_object_get(s, "nftables"), "table"),
	       json_is_true(json_object_get(json_object_get(s, "nftables"), "built"))
		       ? "built"
		       : "not built");
	json_object_foreach(sets, key, v)
	{
		printf(" %s %lld", key, (long long)json_integer_value(v));
	}
	putchar('\n');
	if (json_is_object(json_object_get(s, "aws")))
		print_aws(json_object_get(s, "aws"));
	else
		printf("aws: off\n");
}

/* The status, from the agent: r is 0 or an exit status. */
static int fetch_status(json_t **out)
{
	struct agent_conn ac = { .fd = -1 };
	char *text = NULL;
	size_t len = 0;
	json_error_t je;
	int r = agent_request(&ac, PROTO_STATUS, &text, &len);

	if (ac.fd >= 0)
		close(ac.fd);
	*out = NULL;
	if (!r) {
		*out = text ? json_loadb(text, len, 0, &je) : NULL;
		if (!json_is_object(*out)) {
			fprintf(stderr, "vpcroutectl: the agent's status is not a JSON object\n");
			json_decref(*out);
			*out = NULL;
			r = EXIT_UNREACHABLE;
		}
	}
	free(text);
	return r;
}

static void print_plan(json_t *s)
{
	json_t *p = json_object_get(s, "plan"), *w = json_object_get(s, "aws"), *v;
	size_t i, n = 0;

	if (json_is_string(json_object_get(p, "error")))
		printf("kernel: %s\n", jstr(p, "error"));
	json_array_foreach(json_object_get(p, "routes_to_add"), i, v)
	{
		printf("kernel: add route %s dev %s\n", jstr(v, "destination"), jstr(v, "device"));
		n++;
	}
	json_array_foreach(json_object_get(p, "routes_to_remove"), i, v)
	{
		printf("kernel: remove route %s\n", json_string_value(v));
		n++;
	}
	json_array_foreach(json_object_get(w, "pending_calls"), i, v)
	{
		printf("aws: %s\n", json_string_value(v));
		n++;
	}
	if (!n)
		printf("nothing to change\n");
}

static int cmd_plan(int argc, char **argv)
{
	json_t *s;
	int r;

	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((r = fetch_status(&s)))
		return r;
	print_plan(s);
	json_decref(s);
	return 0;
}

static int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = { { "json", no_argument, NULL, 'j' },
						  { "help", no_argument, NULL, 'h' },
						  { NULL, 0, NULL, 0 } };
	int as_json = 0, ch, r;
	json_t *s;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			as_json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((r = fetch_status(&s)))
		return r;
	if (as_json) {
		json_dumpf(s, stdout,
			   JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
		fputc('\n', stdout);
	} else {
		print_status(s);
	}
	json_decref(s);
	return 0;
}

/*
 * The CCD file the plugin would hand OpenVPN for a client that has no CCD
 * file of its own and connects with nothing else claimed: for those who
 * keep static client-config-dir files instead of loading vpcroute.so.
 */
static int cmd_ccd(int argc, char **argv)
{
	char err[CFG_ERRLEN], cerr[CCD_ERRLEN];
	struct admission in = { 0 };
	struct verdict v;
	struct ccd check;
	struct cfg *c;
	int r = 0;

	if (argc != 2 || argv[1][0] == '-') {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (cfg_load_file(config_path, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "vpcroutectl: %s\n", err);
		return EXIT_FAIL;
	}
	if (c->role != CFG_ROLE_SERVER) {
		fprintf(stderr, "vpcroutectl: %s: CCD files are for the server role\n",
			config_path);
		cfg_free(c);
		return EXIT_FAIL;
	}
	in.cfg = c;
	in.cn = argv[1];
	if (policy_decide(&in, &v) < 0) {
		fprintf(stderr, "vpcroutectl: out of memory\n");
		cfg_free(c);
		return EXIT_FAIL;
	}
	if (!v.admit) {
		fprintf(stderr, "vpcroutectl: %s\n", v.reason);
		r = EXIT_FAIL;
	} else if (ccd_parse(argv[1], v.config, strlen(v.config), &check, cerr, sizeof(cerr)) < 0) {
		/* what the plugin's own CCD parser refuses is never printed */
		fprintf(stderr, "vpcroutectl: rendered an invalid CCD file: %s\n", cerr);
		r = EXIT_FAIL;
	} else {
		ccd_free(&check);
		printf("# client-config-dir file for %s, from the policy in %s\n"
		       "# (vpcroutectl %s). With vpcroute.so loaded, the plugin gives\n"
		       "# OpenVPN these lines itself.\n%s",
		       argv[1], config_path, PACKAGE_VERSION, v.config);
	}
	verdict_free(&v);
	cfg_free(c);
	return r;
}

/* --- doctor --- */

struct diag {
	unsigned problems;
};

static void say(struct diag *d, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct diag *d, const char *level, const char *fmt, ...)
{
	va_list ap;

	if (strcmp(level, "PROBLEM") == 0)
		d->problems++;
	printf("%-8s ", level);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* The interface of the IPv4 default route, from /proc/net/route. */
static bool default_dev(char *dev, size_t len)
{
	FILE *f = fopen("/proc/net/route", "r");
	char line[256], ifn[IF_NAMESIZE + 1];
	unsigned long dst, mask;
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%16s %lx %*x %*x %*d %*d %*d %lx", ifn, &dst, &mask) == 3 &&
		    dst == 0 && mask == 0) {
			snprintf(dev, len, "%s", ifn);
			found = true;
		}
	fclose(f);
	return found;
}

static void doctor_mtu(struct diag *d, const char *tun)
{
	char path[128], up[IF_NAMESIZE + 1];
	long tmtu, umtu;

	snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", tun);
	tmtu = read_long(path);
	if (tmtu < 0 || !default_dev(up, sizeof(up)))
		return;
	snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", up);
	umtu = read_long(path);
	/* OpenVPN over UDP adds about 69 bytes: IPv4 20, UDP 8, its own 41 (AEAD) */
	if (umtu > 0 && tmtu + 69 > umtu)
		say(d, "note",
		    "MTU: %s carries %ld-byte packets but leaves through %s (MTU %ld): full-size "
		    "packets are fragmented after encryption. TCP is fine with OpenVPN's mssfix; "
		    "if other traffic stalls, lower tun-mtu to %ld.",
		    tun, tmtu, up, umtu, umtu - 69);
	else if (umtu > 0)
		say(d, "ok", "MTU: %s (%ld) fits through %s (%ld) after encryption", tun, tmtu, up,
		    umtu);
}

static void doctor_aws(struct diag *d, json_t *w)
{
	const char *sdc = jstr(w, "source_dest_check"), *err = jstr(w, "last_error");
	json_t *t, *r;
	size_t i, k;

	if (!json_is_string(json_object_get(w, "network_interface"))) {
		say(d, "PROBLEM",
		    "aws: the agent does not know its network interface yet: the instance metadata "
		    "service did not answer (last error: %s)",
		    err);
		return;
	}
	if (strcmp(sdc, "on") == 0)
		say(d, "PROBLEM",
		    "aws: the source/dest check of %s is on: EC2 drops everything the instance "
		    "forwards. The agent turns it off unless aws.disable_source_dest_check is "
		    "false "
		    "or it runs with --dry-run (last error: %s).",
		    jstr(w, "network_interface"), err);
	else if (strcmp(sdc, "off") == 0)
		say(d, "ok", "aws: the source/dest check of %s is off",
		    jstr(w, "network_interface"));
	else
		say(d, "note", "aws: the source/dest check of %s is not known yet",
		    jstr(w, "network_interface"));
	if (!json_array_size(json_object_get(w, "route_tables")))
		say(d, "PROBLEM",
		    "aws: no VPC route table to program: with route_tables \"auto\" the VPC's main "
		    "table and the tables associated with its subnets are used; with a list, check "
		    "the ids (last error: %s)",
		    err);
	json_array_foreach(json_object_get(w, "route_tables"), i, t)
	{
		unsigned ok = 0;

		json_array_foreach(json_object_get(t, "routes"), k, r)
		{
			const char *st = jstr(r, "state"), *dst = jstr(r, "destination");

			if (strcmp(st, "ours") == 0)
				ok++;
			else if (strcmp(st, "missing") == 0)
				say(d, "PROBLEM",
				    "aws: route table %s has no route for %s: hosts behind it "
				    "cannot "
				    "reach that network. The agent adds it (pending: it may be "
				    "backing "
				    "off; last error: %s).",
				    jstr(t, "id"), dst, err);
			else if (strcmp(st, "conflict") == 0)
				say(d, "PROBLEM",
				    "aws: route table %s sends %s to %s, not to this instance: the "
				    "agent leaves a route it does not own alone. Remove it, or set "
				    "aws.takeover to true.",
				    jstr(t, "id"), dst, jstr(r, "target"));
			else if (strcmp(st, "to take over") == 0)
				say(d, "note", "aws: route table %s: %s will be taken over from %s",
				    jstr(t, "id"), dst, jstr(r, "target"));
		}
		if (ok)
			say(d, "ok", "aws: route table %s sends %u network%s to this instance",
			    jstr(t, "id"), ok, ok == 1 ? "" : "s");
	}
	if (json_is_string(json_object_get(w, "last_error")))
		say(d, "note", "aws: the last EC2 or metadata error: %s", err);
}

/* Whether the interface's security groups let OpenVPN's port in (from anywhere). */
static void doctor_groups(struct diag *d, json_t *s)
{
	json_t *sg = json_object_get(json_object_get(s, "aws"), "security_groups"), *in;
	size_t i;

	if (!json_is_object(sg)) {
		say(d, "note",
		    "aws: the security groups are not read yet (at start and every "
		    "drift check)");
		return;
	}
	if (json_is_string(json_object_get(sg, "error"))) {
		say(d, "note",
		    "aws: the security groups could not be read (%s): check by hand that "
		    "OpenVPN's port is open (the IAM policy needs ec2:DescribeSecurityGroups)",
		    jstr(sg, "error"));
		return;
	}
	json_array_foreach(json_object_get(s, "instances"), i, in)
	{
		json_t *l = json_object_get(in, "listen"), *allow;

		if (!json_is_object(l) || strcmp(jstr(in, "role"), "server"))
			continue;
		allow = json_object_get(l, "security_groups_allow");
		if (json_is_true(allow))
			say(d, "ok",
			    "aws: the security groups let %s/%lld in (OpenVPN instance %s)",
			    jstr(l, "proto"),
			    (long long)json_integer_value(json_object_get(l, "port")),
			    jstr(in, "name"));
		else if (json_is_false(allow))
			say(d, "PROBLEM",
			    "aws: no inbound rule of the instance's security groups lets %s/%lld "
			    "in, "
			    "where OpenVPN instance %s listens: no client can connect. Add a rule "
			    "for that protocol and port from the clients' addresses.",
			    jstr(l, "proto"),
			    (long long)json_integer_value(json_object_get(l, "port")),
			    jstr(in, "name"));
	}
}

static int cmd_doctor(int argc, char **argv)
{
	struct diag d = { 0 };
	char err[CFG_ERRLEN];
	size_t i;
	struct cfg *c = NULL;
	json_t *s = NULL, *in, *f;
	long fwd;

	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!socket_path && cfg_load_file(config_path, &c, err, sizeof(err)) < 0)
		say(&d, "PROBLEM", "configuration: %s", err);
	else if (c)
		say(&d, "ok", "configuration %s is valid", config_path);
	fwd = read_long("/proc/sys/net/ipv4/ip_forward");
	if (fwd == 1)
		say(&d, "ok", "IPv4 forwarding is on");
	else
		say(&d, "PROBLEM",
		    "IPv4 forwarding is off (net.ipv4.ip_forward=%ld): this host does not route "
		    "between the tunnel and its networks. The agent turns it on at start and at "
		    "reload; something turned it off since.",
		    fwd);
	fetch_status(&s);
	if (!json_is_object(s)) {
		say(&d, "PROBLEM",
		    "vpcroute-agent does not answer (see above): nothing is programmed or kept "
		    "right; start it (systemctl start vpcroute-agent) before OpenVPN");
		goto out;
	}
	say(&d, "ok", "vpcroute-agent %s answers (pid %lld, %s role)", jstr(s, "version"),
	    (long long)json_integer_value(json_object_get(s, "pid")), jstr(s, "role"));
	if (!json_array_size(json_object_get(s, "instances")))
		say(&d, "PROBLEM",
		    "no OpenVPN instance has connected: is \"plugin %s/vpcroute.so CONFIG\" in "
		    "its configuration, and can its user reach the socket?",
		    VR_PLUGINDIR);
	json_array_foreach(json_object_get(s, "instances"), i, in)
	{
		if (!json_is_true(json_object_get(in, "plugin_connected")))
			say(&d, "PROBLEM",
			    "OpenVPN instance %s: its plugin is not connected (OpenVPN stopped, or "
			    "cannot reach the socket): its clients stay as they were",
			    jstr(in, "name"));
		else
			say(&d, "ok",
			    "OpenVPN instance %s: plugin connected, tunnel %s, %zu clients",
			    jstr(in, "name"), jstr(in, "device"),
			    json_array_size(json_object_get(in, "clients")));
		if (json_is_string(json_object_get(in, "device")))
			doctor_mtu(&d, jstr(in, "device"));
	}
	if (!json_is_true(json_object_get(json_object_get(s, "nftables"), "built")))
		say(&d, "PROBLEM",
		    "nftables: the table inet vpcroute is not built (yet: the agent builds it "
		    "after its start-up grace period): no NAT exemption, no filter");
	else
		say(&d, "ok", "nftables: table inet vpcroute built");
	json_array_foreach(json_object_get(s, "foreign_nat"), i, f)
	{
		if (json_is_true(json_object_get(f, "before_exemptions")))
			say(&d, "PROBLEM",
			    "a foreign NAT rule runs before vpcroute's exemptions and can rewrite "
			    "tunnel traffic: %s in table %s %s, chain %s (priority %lld). Give "
			    "that "
			    "chain a priority of 50 or more (srcnat is 100), or exempt the tunnel "
			    "networks in it.",
			    jstr(f, "action"), jstr(f, "family"), jstr(f, "table"),
			    jstr(f, "chain"),
			    (long long)json_integer_value(json_object_get(f, "priority")));
		else
			say(&d, "ok",
			    "foreign NAT rule %s in %s %s, chain %s runs after the exemptions",
			    jstr(f, "action"), jstr(f, "family"), jstr(f, "table"),
			    jstr(f, "chain"));
	}
	json_array_foreach(json_object_get(s, "routes_left_to_others"), i, f)
	{
		say(&d, "note",
		    "%s: a route of another protocol (OpenVPN's own, or an administrator's) is "
		    "there, and the agent leaves it alone",
		    json_string_value(f) ? json_string_value(f) : "?");
	}
	if (json_is_object(json_object_get(s, "aws"))) {
		doctor_aws(&d, json_object_get(s, "aws"));
		doctor_groups(&d, s);
	}
	say(&d, "note",
	    "not checked: network ACLs, the sources the security groups allow, and the home "
	    "router's static route to the gateway");
out:
	printf("%u problem%s found\n", d.problems, d.problems == 1 ? "" : "s");
	json_decref(s);
	cfg_free(c);
	return d.problems ? EXIT_FAIL : 0;
}

static int cmd_reload(int argc, char **argv)
{
	struct agent_conn ac = { .fd = -1 };
	int r;

	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	r = agent_request(&ac, PROTO_RELOAD, NULL, NULL);
	if (ac.fd >= 0)
		close(ac.fd);
	if (!r)
		printf("vpcroute-agent: configuration reloaded\n");
	return r;
}

static int cmd_check_config(int argc, char **argv)
{
	char err[CFG_ERRLEN];
	const char *path = config_path;
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
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { "version", no_argument, NULL, 'V' },
						  { NULL, 0, NULL, 0 } };
	int ch;

	while ((ch = getopt_long(argc, argv, "+f:s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			config_path = optarg;
			break;
		case 's':
			socket_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vpcroutectl %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[0], "check-config") == 0)
		return cmd_check_config(argc, argv);
	if (strcmp(argv[0], "status") == 0)
		return cmd_status(argc, argv);
	if (strcmp(argv[0], "reload") == 0)
		return cmd_reload(argc, argv);
	if (strcmp(argv[0], "ccd") == 0)
		return cmd_ccd(argc, argv);
	if (strcmp(argv[0], "doctor") == 0)
		return cmd_doctor(argc, argv);
	if (strcmp(argv[0], "plan") == 0)
		return cmd_plan(argc, argv);
	if (strcmp(argv[0], "version") == 0) {
		printf("vpcroutectl %s\n", PACKAGE_VERSION);
		return 0;
	}
	fprintf(stderr, "vpcroutectl: unknown command \"%s\"\n", argv[0]);
	usage(stderr);
	return EXIT_USAGE;
}
