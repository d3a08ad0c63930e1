// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vpcroutectl: the command-line front end of vpcroute. One table of commands
 * (as in wireguard-tools' wg.c): the usage, each command's help, the option
 * parsing and the suggestions for a mistyped command all come from it.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <net/if.h>
#include <pwd.h>
#include <sys/param.h>
#include <unistd.h>

#include "bgpconf.h"
#include "ccd.h"
#include "cfg.h"
#include "client.h"
#include "ctl.h"
#include "doctor.h"
#include "jpos.h"
#include "metadata.h"
#include "output.h"
#include "policy.h"
#include "strdist.h"

#define HELP_WIDTH 76
/* a withdraw waits for EC2: its pacing and back-off (up to 120 s per retry) */
#define WITHDRAW_TIMEOUT_S 300
/* check-config: each request to the instance metadata (off EC2 it never answers) */
#define METADATA_TIMEOUT_MS 1000

/* The options of the commands; each command names those it takes. */
enum {
	OPT_QUIET = 1 << 0,
	OPT_JSON = 1 << 1,
	OPT_OFFLINE = 1 << 2,
	OPT_UNWANTED = 1 << 3,
	OPT_ALL = 1 << 4,
	OPT_CLIENTS = 1 << 5,
	/* bgp-config's, each with a value */
	OPT_DAEMON = 1 << 6,
	OPT_ASN = 1 << 7,
	OPT_PEER_ASN = 1 << 8,
	OPT_PEER = 1 << 9,
	OPT_BFD_MS = 1 << 10,
	OPT_HOLD = 1 << 11,
	OPT_ROUTER_ID = 1 << 12,
	OPT_BGP = OPT_DAEMON | OPT_ASN | OPT_PEER_ASN | OPT_PEER | OPT_BFD_MS | OPT_HOLD |
		  OPT_ROUTER_ID
};

/* getopt values of long options: above any character, so never taken for one. */
enum {
	LONG_HELP = 256,
	LONG_VERSION,
	LONG_JSON,
	LONG_OFFLINE,
	LONG_UNWANTED,
	LONG_ALL,
	LONG_CLIENTS,
	LONG_DAEMON,
	LONG_ASN,
	LONG_PEER_ASN,
	LONG_PEER,
	LONG_BFD_MS,
	LONG_HOLD,
	LONG_ROUTER_ID
};

static const struct {
	unsigned flag;
	int short_name;	       /* 0: none */
	const char *long_name; /* NULL: none */
	int long_val;
	const char *help;
	const char *arg; /* its value's name (--name=ARG); NULL: a flag */
} option_defs[] = {
	{ OPT_QUIET, 'q', NULL, 0, "print only the verdict, not the configuration", NULL },
	{ OPT_JSON, 0, "json", LONG_JSON, "print one JSON object", NULL },
	{ OPT_OFFLINE, 0, "offline", LONG_OFFLINE,
	  "skip the checks against this host (interfaces, users, groups, VPC, DNS servers)", NULL },
	{ OPT_UNWANTED, 0, "unwanted", LONG_UNWANTED,
	  "only the routes status shows as \"ours, not wanted\"", NULL },
	{ OPT_ALL, 0, "all", LONG_ALL, "both: ours and \"ours, not wanted\"", NULL },
	{ OPT_CLIENTS, 0, "clients", LONG_CLIENTS,
	  "print only the names of the configured clients, one a line", NULL },
	{ OPT_ASN, 0, "asn", LONG_ASN,
	  "this instance's AS number (the route server peer's PeerAsn)", "N" },
	{ OPT_PEER_ASN, 0, "peer-asn", LONG_PEER_ASN,
	  "the route server's AS number (its AmazonSideAsn)", "N" },
	{ OPT_PEER, 0, "peer", LONG_PEER,
	  "a route server endpoint's address (up to 8: one --peer each)", "ADDR" },
	{ OPT_DAEMON, 0, "daemon", LONG_DAEMON, "bird (BIRD 2, the default) or frr", "NAME" },
	{ OPT_BFD_MS, 0, "bfd-ms", LONG_BFD_MS, "BFD interval, 10-10000 (default 300)", "MS" },
	{ OPT_HOLD, 0, "hold", LONG_HOLD, "BGP hold time, 3-65535 (default 30)", "S" },
	{ OPT_ROUTER_ID, 0, "router-id", LONG_ROUTER_ID,
	  "the BGP router id (default: the daemon's choice)", "ADDR" },
};

/* One run of a command: where the agent is, the options given, the operands. */
struct call {
	const struct ctl_target *target;
	unsigned opts;
	int argc;
	char **argv;
	/* the options with a value, in the order given */
	struct {
		const char *name, *value;
	} vals[32];
	size_t nvals;
};

/* Which of the global options a command reads. */
enum { USES_FILE = 1 << 0, USES_SOCKET = 1 << 1 };

struct command {
	const char *name;
	int (*run)(const struct call *c);
	const char *help;     /* one line, in the list of commands */
	unsigned opts;	      /* OPT_* it takes */
	const char *operands; /* after the options in its synopsis, or NULL */
	int min_args, max_args;
	unsigned uses;	   /* USES_* */
	const char *about; /* more, for `help NAME` and `NAME --help` */
	const char *brief; /* its options in the list of commands, instead of each one */
};

static const char file_help[] = "configuration (default " CTL_DEFAULT_CONFIG ")",
		  file_socket_help[] = "; the agent's socket is read from it",
		  socket_help[] = "the agent's socket, instead of the configuration's socket.path";

static int print_version(void)
{
	printf("vpcroutectl %s\n", PACKAGE_VERSION);
	return 0;
}

/* --- the commands --- */

/* The names of this host's interfaces, "lo, ens5", into buf. */
static void interface_names(char *buf, size_t len)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	size_t n = 0;

	buf[0] = '\0';
	for (i = ifs; i && i->if_index && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", i->if_name);
	if (ifs)
		if_freenameindex(ifs);
}

/* Whether /etc/resolv.conf has a "nameserver" line (where the agent's resolver
 * looks when dns.servers is not set). */
static bool resolv_conf_has_server(void)
{
	FILE *f = fopen("/etc/resolv.conf", "re");
	char line[512];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strncmp(line, "nameserver", 10) == 0 &&
			(line[10] == ' ' || line[10] == '\t');
	if (f)
		fclose(f);
	return found;
}

/*
 * What the configuration names that this host does not have: warnings, for
 * the file may be meant for another host (check-config --offline skips them).
 * Returns how many were printed.
 */
static unsigned host_warnings(const char *path, const struct cfg *cfg)
{
	static const char skip[] = "; or check with --offline for another host";
	const struct {
		const char *key, *name, *what;
		bool user;
	} ids[] = {
		{ "socket.group", cfg->socket.group, "the group that may read status", false },
		{ "socket.openvpn_user", cfg->socket.openvpn_user, "OpenVPN's \"user\"", true },
		{ "socket.openvpn_group", cfg->socket.openvpn_group, "OpenVPN's \"group\"", false },
	};
	char names[256];
	unsigned n = 0;

	for (size_t i = 0; i < cfg->nnat; i++) {
		if (if_nametoindex(cfg->nat[i].out_interface))
			continue;
		interface_names(names, sizeof(names));
		fprintf(stderr,
			"%s: warning: nat.masquerade[%zu].out_interface: no interface \"%s\" on "
			"this "
			"host (it has %s); name the interface to the outside%s\n",
			path, i, cfg->nat[i].out_interface, *names ? names : "none", skip);
		n++;
	}
	if (!cfg->dns.nservers && !resolv_conf_has_server()) {
		const char **hosts = NULL;
		size_t nh = 0;

		if (cfg_host_names(cfg, &hosts, &nh) == 0 && nh) {
			fprintf(stderr,
				"%s: warning: the rules name hosts (%s%s) but dns.servers is not "
				"set "
				"and /etc/resolv.conf names no nameserver: the agent's lookups go "
				"to "
				"127.0.0.1; set dns.servers (in a VPC: its base address + 2)%s\n",
				path, hosts[0], nh > 1 ? ", ..." : "", skip);
			n++;
		}
		free(hosts);
	}
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		if (!ids[i].name ||
		    (ids[i].user ? getpwnam(ids[i].name) != NULL : getgrnam(ids[i].name) != NULL))
			continue;
		fprintf(stderr,
			"%s: warning: %s: no %s \"%s\" on this host; it must be %s: create it "
			"(%s %s) or fix the name%s\n",
			path, ids[i].key, ids[i].user ? "user" : "group", ids[i].name, ids[i].what,
			ids[i].user ? "useradd --system" : "groupadd --system", ids[i].name, skip);
		n++;
	}
	return n;
}

/* The configuration's text, for the lines of its keys. */
struct config_text {
	const char *path;
	const char *text;
	size_t len;
	bool vpc; /* the VPC's blocks came from this host's metadata */
};

/* check-config's advice on EC2's addressing rules: a warning on stderr,
 * FILE:LINE:COL when it is about one key. */
static void config_warning(void *ctx, bool problem, const char *key, const char *text)
{
	const struct config_text *t = ctx;
	int line, col;

	(void)problem;
	if (!key)
		fprintf(stderr, "%s: warning: %s\n", t->path, text);
	else if (jpos_find(t->text, t->len, key, &line, &col) == 0)
		fprintf(stderr, "%s:%d:%d: warning: %s: %s%s\n", t->path, line, col, key, text,
			t->vpc ? " (This host's VPC, from the instance metadata; --offline skips "
				 "this check, for a file meant for another host.)"
			       : "");
	else
		fprintf(stderr, "%s: warning: %s: %s\n", t->path, key, text);
}

/* EC2's addressing rules, against this host's VPC unless offline. */
static void addressing_warnings(struct config_text *t, const struct cfg *cfg, bool offline)
{
	struct pfx_list blocks = { 0 };
	char why[256];
	int r = offline ? 1
			: metadata_vpc_blocks(&cfg->aws, METADATA_TIMEOUT_MS, &blocks, why,
					      sizeof(why));

	if (r < 0)
		fprintf(stderr,
			"%s: note: the instance metadata did not answer (%s): the tunnel pools "
			"and iroutes are not checked against the VPC's CIDR blocks\n",
			t->path, why);
	t->vpc = r == 0;
	doctor_addressing(cfg, r == 0 ? &blocks : NULL, NULL, config_warning, t);
	pfx_list_free(&blocks);
}

/* aws.summaries that no client's network can lie in: never used. */
static void summaries_warnings(const char *path, const struct cfg *cfg)
{
	char s[PFX_STRLEN];

	for (size_t i = 0; i < cfg->aws.summaries.n; i++)
		if (!policy_may_announce_within(cfg, &cfg->aws.summaries.v[i]))
			fprintf(stderr,
				"%s: warning: aws.summaries[%zu]: no network a client may announce "
				"lies inside %s: it is never used\n",
				path, i, pfx_format(&cfg->aws.summaries.v[i], s, sizeof(s)));
}

/* ipsec.peers keyed by IKE identity without strongSwan's VICI socket: never
 * matched. */
static void peer_id_warnings(const char *path, const struct cfg *cfg)
{
	for (size_t i = 0; !cfg->vici_socket && i < cfg->npeers; i++)
		if (cfg->peers[i].id)
			fprintf(stderr,
				"%s: warning: ipsec.peers.%s is keyed by IKE identity, but "
				"ipsec.vici_socket is not set: the kernel's tunnels name only "
				"addresses, so this entry never matches (set ipsec.vici_socket to "
				"strongSwan's VICI socket, e.g. /var/run/charon.vici, or key the "
				"peer by its address)\n",
				path, cfg->peers[i].pol.name);
}

static int cmd_check_config(const struct call *c)
{
	const char *path = c->argc ? c->argv[0] : c->target->config_path;
	bool in = strcmp(path, "-") == 0;
	char err[CFG_ERRLEN], *text;
	struct config_text t;
	struct cfg *cfg = NULL;
	size_t len;
	int r;

	if (in)
		path = "<stdin>";
	r = in ? cfg_read_fd(STDIN_FILENO, path, &text, &len, err, sizeof(err))
	       : cfg_read_file(path, &text, &len, err, sizeof(err));
	if (r == 0 && (r = cfg_load_buf(path, text, len, &cfg, err, sizeof(err))) < 0)
		cfg_text_free(text, len);
	if (r < 0) {
		fprintf(stderr, "%s\n", err);
		return CTL_EXIT_FAIL;
	}
	if (c->opts & OPT_CLIENTS) {
		for (size_t i = 0; i < cfg->nclients; i++)
			printf("%s\n", cfg->clients[i].name);
	} else if (!(c->opts & OPT_QUIET) && (r = cfg_print(stdout, cfg)) < 0) {
		fprintf(stderr, "vpcroutectl: printing the configuration: %s\n", strerror(-r));
		cfg_text_free(text, len);
		cfg_free(cfg);
		return CTL_EXIT_FAIL;
	}
	fflush(stdout);
	if (!(c->opts & OPT_OFFLINE))
		host_warnings(path, cfg);
	t = (struct config_text){ .path = path, .text = text, .len = len };
	if (cfg->aws.enabled)
		addressing_warnings(&t, cfg, c->opts & OPT_OFFLINE);
	summaries_warnings(path, cfg);
	peer_id_warnings(path, cfg);
	fprintf(stderr, "%s: configuration valid\n", path);
	cfg_text_free(text, len);
	cfg_free(cfg);
	return 0;
}

static int cmd_status(const struct call *c)
{
	json_t *s;
	int r;

	if ((r = client_status(c->target, &s)))
		return r;
	if (c->opts & OPT_JSON)
		output_json(s);
	else
		output_status(s);
	json_decref(s);
	return 0;
}

/* An array member of o, a new reference: an empty array when there is none. */
static json_t *array_of(json_t *o, const char *key)
{
	json_t *a = json_object_get(o, key);

	return json_is_array(a) ? json_incref(a) : json_array();
}

/* The port forwards the table does not hold, and why (not changes: notes). */
static json_t *forwards_left_out(json_t *s)
{
	json_t *a = json_array(), *f;
	size_t i;

	json_array_foreach(json_object_get(s, "port_forwards"), i, f)
	{
		if (strcmp(output_str(f, "state"), "programmed"))
			json_array_append_new(a, json_pack("{s:I, s:s}", "index", (json_int_t)i,
							   "state", output_str(f, "state")));
	}
	return a;
}

/*
 * The plan (doc/plan.schema.json) from the status: the kernel's routes to add
 * and to remove, the EC2 calls pending, and how many changes that makes; the
 * rules' host names as last resolved (no change of their own: a lookup that
 * moves a name changes the sets when it comes).
 */
static json_t *plan_of(json_t *s)
{
	json_t *p = json_object_get(s, "plan"), *w = json_object_get(s, "aws"), *o, *left = NULL;
	json_t *add = array_of(p, "routes_to_add"), *del = array_of(p, "routes_to_remove"),
	       *calls = array_of(w, "pending_calls");

	o = json_pack(
		"{s:I, s:o, s:o, s:o}", "changes",
		(json_int_t)(json_array_size(add) + json_array_size(del) + json_array_size(calls)),
		"routes_to_add", add, "routes_to_remove", del, "aws_calls", calls);
	if (o && json_is_string(json_object_get(p, "error")))
		json_object_set(o, "error", json_object_get(p, "error"));
	if (o && (left = forwards_left_out(s)) && json_array_size(left))
		json_object_set(o, "port_forwards_left_out", left);
	json_decref(left);
	/* the rules' host names (when there are some): what the sets follow, and when
	 * they are looked up next */
	if (o && json_array_size(json_object_get(json_object_get(s, "dns"), "names")))
		json_object_set(o, "dns_names",
				json_object_get(json_object_get(s, "dns"), "names"));
	return o;
}

static int cmd_plan(const struct call *c)
{
	json_t *s, *p;
	int r;

	if ((r = client_status(c->target, &s)))
		return r;
	if (!(p = plan_of(s))) {
		fprintf(stderr, "vpcroutectl: out of memory\n");
		json_decref(s);
		return CTL_EXIT_FAIL;
	}
	if (c->opts & OPT_JSON)
		output_json(p);
	else
		output_plan(s);
	/* what the agent cannot tell is a failure; what it would change, its own status */
	if (json_object_get(p, "error"))
		r = CTL_EXIT_FAIL;
	else if (json_integer_value(json_object_get(p, "changes")))
		r = CTL_EXIT_PENDING;
	json_decref(p);
	json_decref(s);
	return r;
}

static int cmd_reload(const struct call *c)
{
	int r = client_request(c->target, PROTO_RELOAD, NULL, NULL);

	if (!r)
		printf("vpcroute-agent: configuration reloaded\n");
	return r;
}

/* The agent's answer to a withdraw: what it removed, what failed. */
static int print_withdrawn(const char *text, size_t len, bool json)
{
	json_t *o = text ? json_loadb(text, len, 0, NULL) : NULL, *v;
	size_t i, nfailed;
	bool dry;

	if (!json_is_object(o)) {
		fprintf(stderr, "vpcroutectl: the agent's answer is not a JSON object\n");
		json_decref(o);
		return CTL_EXIT_UNREACHABLE;
	}
	nfailed = json_array_size(json_object_get(o, "failed"));
	dry = json_is_true(json_object_get(o, "dry_run"));
	if (json) {
		output_json(o);
	} else {
		json_array_foreach(json_object_get(o, "removed"), i, v)
			printf("%s: %s\n", dry ? "would call" : "removed", json_string_value(v));
		json_array_foreach(json_object_get(o, "failed"), i, v)
			printf("failed: %s\n", json_string_value(v));
		if (!json_array_size(json_object_get(o, "removed")) && !nfailed)
			printf("no VPC route to withdraw\n");
		if (!dry)
			printf("vpcroute-agent creates no VPC route until `vpcroutectl reload`\n");
	}
	json_decref(o);
	return nfailed ? CTL_EXIT_FAIL : 0;
}

static int cmd_withdraw(const struct call *c)
{
	struct proto_msg m = { .type = PROTO_WITHDRAW };
	char *text = NULL;
	size_t len = 0;
	int r;

	m.withdraw.scope = (c->opts & OPT_ALL)	      ? PROTO_WITHDRAW_ALL
			   : (c->opts & OPT_UNWANTED) ? PROTO_WITHDRAW_UNWANTED
						      : PROTO_WITHDRAW_OURS;
	if ((c->opts & OPT_ALL) && (c->opts & OPT_UNWANTED))
		m.withdraw.scope = PROTO_WITHDRAW_ALL;
	r = client_request_msg(c->target, &m, WITHDRAW_TIMEOUT_S, &text, &len);
	if (!r)
		r = print_withdrawn(text, len, c->opts & OPT_JSON);
	free(text);
	return r;
}

/* The agent's metrics in the Prometheus text format, as the agent wrote them. */
static int cmd_metrics(const struct call *c)
{
	char *text = NULL;
	size_t len = 0;
	int r = client_request(c->target, PROTO_METRICS, &text, &len);

	if (!r && text && fwrite(text, 1, len, stdout) != len)
		r = CTL_EXIT_FAIL;
	free(text);
	return r;
}

/*
 * The CCD file the plugin would hand OpenVPN for a client that has no CCD
 * file of its own and connects with nothing else claimed: for those who
 * keep static client-config-dir files instead of loading vpcroute.so.
 */
static int cmd_ccd(const struct call *c)
{
	const char *config_path = c->target->config_path, *name = c->argv[0];
	char err[CFG_ERRLEN], cerr[CCD_ERRLEN];
	struct admission in = { 0 };
	struct verdict v;
	struct ccd check;
	struct cfg *cfg;
	int r = 0;

	if (cfg_load_file(config_path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "vpcroutectl: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	if (cfg->role != CFG_ROLE_SERVER) {
		fprintf(stderr, "vpcroutectl: %s: CCD files are for the server role\n",
			config_path);
		cfg_free(cfg);
		return CTL_EXIT_FAIL;
	}
	in.cfg = cfg;
	in.cn = name;
	if (policy_decide(&in, &v) < 0) {
		fprintf(stderr, "vpcroutectl: out of memory\n");
		cfg_free(cfg);
		return CTL_EXIT_FAIL;
	}
	if (!v.admit) {
		fprintf(stderr, "vpcroutectl: %s\n", v.reason);
		r = CTL_EXIT_FAIL;
	} else if (ccd_parse(name, v.config, strlen(v.config), &check, cerr, sizeof(cerr)) < 0) {
		/* what the plugin's own CCD parser refuses is never printed */
		fprintf(stderr, "vpcroutectl: rendered an invalid CCD file: %s\n", cerr);
		r = CTL_EXIT_FAIL;
	} else {
		ccd_free(&check);
		printf("# client-config-dir file for %s, from the policy in %s\n"
		       "# (vpcroutectl %s). With vpcroute.so loaded, the plugin gives\n"
		       "# OpenVPN these lines itself.\n%s",
		       name, config_path, PACKAGE_VERSION, v.config);
	}
	verdict_free(&v);
	cfg_free(cfg);
	return r;
}

static int cmd_doctor(const struct call *c)
{
	return doctor(c->target, c->opts & OPT_JSON);
}

static int cmd_bgp_config(const struct call *c)
{
	struct bgpconf p = { .daemon = BGPCONF_BIRD, .bfd_ms = 300, .hold_s = 30 };
	const char *why;
	char err[CFG_ERRLEN];
	struct cfg *cfg;
	int r;

	for (size_t i = 0; i < c->nvals; i++)
		if ((why = bgpconf_set(&p, c->vals[i].name, c->vals[i].value))) {
			fprintf(stderr, "vpcroutectl bgp-config: --%s=%s: %s\n", c->vals[i].name,
				c->vals[i].value, why);
			return CTL_EXIT_USAGE;
		}
	if (!p.asn || !p.peer_asn || !p.npeers) {
		fprintf(stderr,
			"vpcroutectl bgp-config: --%s missing; see \"vpcroutectl bgp-config "
			"--help\"\n",
			!p.asn	      ? "asn"
			: !p.peer_asn ? "peer-asn"
				      : "peer");
		return CTL_EXIT_USAGE;
	}
	if (cfg_load_file(c->target->config_path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return CTL_EXIT_FAIL;
	}
	if (cfg->aws.routes != CFG_ROUTES_ROUTE_SERVER)
		fprintf(stderr,
			"vpcroutectl bgp-config: warning: %s has aws.routes \"%s\": set it to "
			"\"route-server\", or the agent and the route server both route the "
			"networks\n",
			c->target->config_path, cfg_routes_name(cfg->aws.routes));
	r = bgpconf_print(stdout, &p, cfg, c->target->config_path);
	cfg_free(cfg);
	if (r < 0) {
		fprintf(stderr, "vpcroutectl bgp-config: %s\n", strerror(-r));
		return CTL_EXIT_FAIL;
	}
	return 0;
}

static int cmd_version(const struct call *c)
{
	(void)c;
	return print_version();
}

static const struct command commands[] = {
	{ .name = "check-config",
	  .run = cmd_check_config,
	  .help = "validate FILE and print it normalised",
	  .opts = OPT_QUIET | OPT_OFFLINE | OPT_CLIENTS,
	  .operands = "[FILE]",
	  .max_args = 1,
	  .uses = USES_FILE,
	  .about = "Load and validate FILE (default: the configuration of -f) with the loader that "
		   "the plugin and the agent share. A valid file is printed on stdout in "
		   "normalised form, as JSON with every default filled in and the secrets hidden, "
		   "followed by \"FILE: configuration valid\" on stderr; with --clients, only "
		   "the names of its clients are printed (the shells' completion of ccd reads "
		   "them). FILE \"-\" is standard input, named <stdin> in messages. For an "
		   "invalid file, one line names the file, line, column, key and value on stderr, "
		   "and the exit status is 1. A valid file is also checked against this host: a "
		   "nat.masquerade out_interface, a socket.group, socket.openvpn_user or "
		   "socket.openvpn_group that does not exist here, or rules that name hosts with "
		   "no DNS server in dns.servers nor /etc/resolv.conf, is a warning on stderr (the "
		   "exit "
		   "status stays 0); with the aws section, so is a tunnel pool or a client's "
		   "iroutes inside one of the CIDR blocks of this host's VPC, asked of the "
		   "instance metadata at the agent's endpoint (aws.imds_endpoint, "
		   "AWS_EC2_METADATA_SERVICE_ENDPOINT), one second per request at most; when it "
		   "does not answer, one note says so. --offline skips these checks, for a file "
		   "meant for another host." },
	{ .name = "status",
	  .run = cmd_status,
	  .help = "what the agent holds: clients, routes, AWS",
	  .opts = OPT_JSON,
	  .uses = USES_FILE | USES_SOCKET,
	  .about = "Ask the agent what it holds and print it as a table: its instances and their "
		   "clients, the kernel routes, the nftables table and the AWS side. Root, the "
		   "OpenVPN user or group, and members of socket.group may read it." },
	{ .name = "reload",
	  .run = cmd_reload,
	  .help = "make the agent read its configuration again",
	  .uses = USES_FILE | USES_SOCKET,
	  .about = "Make the agent read its configuration file again, as SIGHUP does, and wait for "
		   "the result. The agent refuses an invalid file and keeps the configuration it "
		   "had; the error is printed on stderr and the exit status is 1. Only root may "
		   "reload." },
	{ .name = "withdraw",
	  .run = cmd_withdraw,
	  .help = "remove this instance's VPC routes now (decommissioning)",
	  .opts = OPT_UNWANTED | OPT_ALL | OPT_JSON,
	  .uses = USES_FILE | USES_SOCKET,
	  .about = "Make the agent delete, through its paced EC2 client, every VPC route to this "
		   "instance's network interface that it could have made (never a default "
		   "route), and print each call and each failure; the exit status is 1 when one "
		   "failed. With --unwanted, only the routes that status shows as \"ours, not "
		   "wanted\" (to this instance, for a network no policy allows: a leftover of an "
		   "earlier run, which the agent withdraws by itself after aws.withdraw_grace_s; "
		   "this removes them now); with --all, both. The agent keeps running, and "
		   "creates no VPC route until the next reload. Use it when the instance is "
		   "retired or replaced by another, before stopping it; not for a reboot or a "
		   "restart, after which the agent takes its routes back. Only root may "
		   "withdraw." },
	{ .name = "metrics",
	  .run = cmd_metrics,
	  .help = "the agent's metrics, for Prometheus",
	  .uses = USES_FILE | USES_SOCKET,
	  .about = "Print the agent's counters and gauges in the Prometheus text exposition format "
		   "(version 0.0.4), e.g. for node_exporter's textfile collector: vpcroutectl "
		   "metrics > DIR/vpcroute.prom.$$ && mv DIR/vpcroute.prom.$$ DIR/vpcroute.prom. "
		   "vpcroute-agent(8), METRICS, lists them. Root, the OpenVPN user or group, and "
		   "members of socket.group may read them." },
	{ .name = "ccd",
	  .run = cmd_ccd,
	  .help = "print the CCD file the policy gives client NAME",
	  .operands = "NAME",
	  .min_args = 1,
	  .max_args = 1,
	  .uses = USES_FILE,
	  .about = "Print the client-config-dir file that the policy of the configuration (-f, "
		   "server role) gives the client whose common name is NAME, for those who keep "
		   "static CCD files instead of loading vpcroute.so. A name the policy refuses is "
		   "reported with its reason, and the exit status is 1." },
	{ .name = "plan",
	  .run = cmd_plan,
	  .help = "what the agent would change now",
	  .opts = OPT_JSON,
	  .uses = USES_FILE | USES_SOCKET,
	  .about = "Print what the agent would change now, one line each: kernel routes to add or "
		   "to remove and EC2 calls pending; or \"nothing to change\". The exit status is "
		   "0 when there is nothing to change, 4 when there are changes pending and 1 "
		   "when the agent cannot read the kernel's routes." },
	{ .name = "doctor",
	  .run = cmd_doctor,
	  .help = "explain what is wrong with this host or the agent",
	  .opts = OPT_JSON,
	  .uses = USES_FILE | USES_SOCKET,
	  .about = "Check this host and the agent, and print one line per finding (ok, note or "
		   "PROBLEM), each explained in plain words with the way out, then the number of "
		   "problems found. The exit status is 1 when there is a problem (an agent that "
		   "does not answer is one). Run it on the agent's host, in its network "
		   "namespace." },
	{ .name = "bgp-config",
	  .run = cmd_bgp_config,
	  .help = "print a BGP daemon's configuration for VPC Route Server",
	  .opts = OPT_BGP,
	  .brief = " --asn=N --peer-asn=N --peer=ADDR...",
	  .uses = USES_FILE,
	  .about = "Print the configuration of a BGP daemon, BIRD 2 (the default) or FRR, that "
		   "announces this instance's networks to the endpoints of a VPC Route Server, "
		   "with BFD, for aws.routes \"route-server\" (doc/guide-route-server.md). BIRD "
		   "announces exactly the kernel routes of protocol 212 (those the agent "
		   "installs) and the tunnel pools of the configuration (-f) while OpenVPN's "
		   "tunnel is up; FRR, which cannot tell a kernel route's protocol, announces "
		   "the kernel and connected routes inside the networks the configuration "
		   "allows. Neither imports a route or writes one to the kernel. --asn, "
		   "--peer-asn and at least one --peer are required. Save it as "
		   "/etc/bird/bird.conf (BIRD) or add it to /etc/frr/frr.conf (FRR, with bgpd "
		   "and bfdd on)." },
	{ .name = "version",
	  .run = cmd_version,
	  .help = "print the version",
	  .about = "Print the program name and version." },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))
#define NOPTIONS  (sizeof(option_defs) / sizeof(option_defs[0]))

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* --- usage and help, from the table --- */

/* "[-q] [FILE]": a command's options and operands (brief: as the list of commands shows them). */
static void format_args(const struct command *cmd, bool brief, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (brief && cmd->brief)
		n = (size_t)snprintf(buf, len, "%s", cmd->brief);
	for (size_t i = 0; i < NOPTIONS && !(brief && cmd->brief); i++) {
		if (!(cmd->opts & option_defs[i].flag))
			continue;
		if (option_defs[i].arg)
			n += (size_t)snprintf(buf + n, len - n, " [--%s=%s]",
					      option_defs[i].long_name, option_defs[i].arg);
		else if (option_defs[i].short_name)
			n += (size_t)snprintf(buf + n, len - n, " [-%c]",
					      option_defs[i].short_name);
		else
			n += (size_t)snprintf(buf + n, len - n, " [--%s]",
					      option_defs[i].long_name);
		if (n >= len)
			return;
	}
	if (cmd->operands)
		snprintf(buf + n, len - n, " %s", cmd->operands);
}

/* An option and its help, the help at column width + 2. */
static void print_option(FILE *f, int width, const char *name, const char *help, const char *more)
{
	fprintf(f, "  %-*s%s%s\n", width, name, help, more);
}

static void usage(FILE *f)
{
	char args[256], syn[288];
	int width = 0;

	fprintf(f, "usage: vpcroutectl [-f FILE] [-s SOCKET] COMMAND [ARGS]\n\n");
	print_option(f, 11, "-f FILE", file_help, file_socket_help);
	print_option(f, 11, "-s SOCKET", socket_help, "");
	print_option(f, 11, "-V", "print the version (as --version does)", "");
	fprintf(f, "\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		format_args(&commands[i], true, args, sizeof(args));
		width = MAX(width, (int)(strlen(commands[i].name) + strlen(args)));
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		format_args(&commands[i], true, args, sizeof(args));
		snprintf(syn, sizeof(syn), "%s%s", commands[i].name, args);
		fprintf(f, "  %-*s  %s\n", width, syn, commands[i].help);
	}
	fprintf(f, "\nvpcroutectl help COMMAND, or vpcroutectl COMMAND --help, describes "
		   "one command.\n\n"
		   "exit status: 0 success, 1 invalid configuration, refused by the agent or\n"
		   "(doctor) a problem found, 2 usage error, 3 the agent cannot be reached,\n"
		   "4 (plan) changes pending\n");
}

/* text, folded at spaces into lines of at most HELP_WIDTH columns */
static void print_folded(FILE *f, const char *text)
{
	const char *p = text;

	while (*p) {
		const char *cut = p + HELP_WIDTH;

		if (strlen(p) <= HELP_WIDTH) {
			fprintf(f, "%s\n", p);
			return;
		}
		while (cut > p && *cut != ' ')
			cut--;
		if (cut == p) /* a word longer than a line */
			cut = strchrnul(p + HELP_WIDTH, ' ');
		fprintf(f, "%.*s\n", (int)(cut - p), p);
		p = *cut ? cut + 1 : cut;
	}
}

static void command_usage(FILE *f, const struct command *cmd)
{
	char args[256];
	int w = 12;

	format_args(cmd, false, args, sizeof(args));
	for (size_t i = 0; i < NOPTIONS; i++)
		if ((cmd->opts & option_defs[i].flag) && option_defs[i].arg)
			w = MAX(w, (int)(strlen(option_defs[i].long_name) +
					 strlen(option_defs[i].arg) + 5));
	fprintf(f, "usage: vpcroutectl%s%s %s%s\n\n", cmd->uses & USES_FILE ? " [-f FILE]" : "",
		cmd->uses & USES_SOCKET ? " [-s SOCKET]" : "", cmd->name, args);
	print_folded(f, cmd->about);
	fputc('\n', f);
	if (cmd->uses & USES_FILE)
		print_option(f, w, "-f FILE", file_help,
			     cmd->uses & USES_SOCKET ? file_socket_help : "");
	if (cmd->uses & USES_SOCKET)
		print_option(f, w, "-s SOCKET", socket_help, "");
	for (size_t i = 0; i < NOPTIONS; i++) {
		char name[32], more[64];

		if (!(cmd->opts & option_defs[i].flag))
			continue;
		if (option_defs[i].arg)
			snprintf(name, sizeof(name), "--%s=%s", option_defs[i].long_name,
				 option_defs[i].arg);
		else if (option_defs[i].short_name)
			snprintf(name, sizeof(name), "-%c", option_defs[i].short_name);
		else
			snprintf(name, sizeof(name), "--%s", option_defs[i].long_name);
		if (option_defs[i].flag == OPT_JSON) /* its shape, per command */
			snprintf(more, sizeof(more), " (doc/%s.schema.json)", cmd->name);
		else
			more[0] = '\0';
		print_option(f, w, name, option_defs[i].help, more);
	}
	print_option(f, w, "-h, --help", "print this help", "");
}

/* --- usage errors: one line, naming what is wrong, with the way to the help --- */

static int usage_error(const struct command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const struct command *cmd, const char *fmt, ...)
{
	const char *sep = cmd ? " " : "", *name = cmd ? cmd->name : "";
	va_list ap;

	fprintf(stderr, "vpcroutectl%s%s: ", sep, name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; see \"vpcroutectl%s%s --help\"\n", sep, name);
	return CTL_EXIT_USAGE;
}

static const char *long_name(const struct option *longopts, int val)
{
	for (; longopts->name; longopts++)
		if (longopts->val == val)
			return longopts->name;
	return "?";
}

/* What getopt_long (opterr 0, optstring with a leading ':') refused, as ch and optopt say. */
static int bad_option(const struct command *cmd, int ch, char **argv, const struct option *longopts)
{
	const char *arg = argv[optind - 1];

	if (ch == ':' && optopt >= LONG_HELP)
		return usage_error(cmd, "option \"--%s\" needs an argument",
				   long_name(longopts, optopt));
	if (ch == ':')
		return usage_error(cmd, "option \"-%c\" needs an argument", optopt);
	if (optopt >= LONG_HELP)
		return usage_error(cmd, "option \"--%s\" takes no argument",
				   long_name(longopts, optopt));
	if (optopt)
		return usage_error(cmd, "unknown option \"-%c\"", optopt);
	return usage_error(cmd, "unknown option \"%.*s\"", (int)strcspn(arg, "="), arg);
}

/*
 * How far word is from name: 0 when word begins name (two letters at
 * least), else the edit distance; close enough to suggest when at most 1
 * (2 for words of four letters or more).
 */
static unsigned closeness(const char *word, const char *name)
{
	size_t n = strlen(word);

	if (n >= 2 && strncmp(word, name, n) == 0)
		return 0;
	return strdist(word, name);
}

static int unknown_command(const char *word)
{
	const char *names[NCOMMANDS + 1], *best[NCOMMANDS + 1];
	unsigned limit = strlen(word) >= 4 ? 2 : 1, min = UINT_MAX;
	size_t nbest = 0;
	char hint[160] = "";

	for (size_t i = 0; i < NCOMMANDS; i++)
		names[i] = commands[i].name;
	names[NCOMMANDS] = "help";
	for (size_t i = 0; i <= NCOMMANDS; i++) {
		unsigned d = closeness(word, names[i]);

		if (d > limit || d > min)
			continue;
		if (d < min)
			nbest = 0;
		min = d;
		best[nbest++] = names[i];
	}
	if (nbest) {
		size_t n = (size_t)snprintf(hint, sizeof(hint), " (did you mean");

		for (size_t i = 0; i < nbest && n < sizeof(hint); i++)
			n += (size_t)snprintf(hint + n, sizeof(hint) - n, "%s\"%s\"",
					      i == 0 ? " " : " or ", best[i]);
		if (n < sizeof(hint))
			snprintf(hint + n, sizeof(hint) - n, "?)");
	}
	return usage_error(NULL, "unknown command \"%s\"%s", word, hint);
}

/* `help [COMMAND]`; help -h and help --help are the usage as well */
static int help(int argc, char **argv)
{
	const struct command *cmd;

	if (argc == 1 ||
	    (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
		usage(stdout);
		return 0;
	}
	if (argc > 2)
		return usage_error(NULL, "help takes one command, not also \"%s\"", argv[2]);
	if (!(cmd = find_command(argv[1])))
		return unknown_command(argv[1]);
	command_usage(stdout, cmd);
	return 0;
}

/* Parses cmd's options and operands (argv[0] is its name), then runs it. */
static int run(const struct command *cmd, const struct ctl_target *t, int argc, char **argv)
{
	struct option longopts[NOPTIONS + 2] = { { 0 } };
	char shortopts[2 * NOPTIONS + 3] = ":h";
	struct call c = { .target = t };
	size_t nlong = 0, nshort = strlen(shortopts);
	int ch;

	for (size_t i = 0; i < NOPTIONS; i++) {
		if (!(cmd->opts & option_defs[i].flag))
			continue;
		if (option_defs[i].short_name)
			shortopts[nshort++] = (char)option_defs[i].short_name;
		if (option_defs[i].long_name)
			longopts[nlong++] = (struct option){ option_defs[i].long_name,
							     option_defs[i].arg ? required_argument
										: no_argument,
							     NULL, option_defs[i].long_val };
	}
	longopts[nlong] = (struct option){ "help", no_argument, NULL, LONG_HELP };
	optind = 0; /* getopt starts afresh, at argv[1] */
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (ch == 'h' || ch == LONG_HELP) {
			command_usage(stdout, cmd);
			return 0;
		}
		if (ch == '?' || ch == ':')
			return bad_option(cmd, ch, argv, longopts);
		for (size_t i = 0; i < NOPTIONS; i++) {
			if (ch != option_defs[i].short_name && ch != option_defs[i].long_val)
				continue;
			c.opts |= option_defs[i].flag;
			if (!option_defs[i].arg)
				continue;
			if (c.nvals >= sizeof(c.vals) / sizeof(c.vals[0]))
				return usage_error(cmd, "more than %zu options with a value",
						   sizeof(c.vals) / sizeof(c.vals[0]));
			c.vals[c.nvals].name = option_defs[i].long_name;
			c.vals[c.nvals++].value = optarg;
		}
	}
	c.argc = argc - optind;
	c.argv = argv + optind;
	if (c.argc > cmd->max_args)
		return usage_error(cmd, "unexpected argument \"%s\"", c.argv[cmd->max_args]);
	if (c.argc < cmd->min_args)
		return usage_error(cmd, "%s missing", cmd->operands);
	return cmd->run(&c);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, LONG_HELP },
						  { "version", no_argument, NULL, LONG_VERSION },
						  { NULL, 0, NULL, 0 } };
	struct ctl_target t = { .config_path = CTL_DEFAULT_CONFIG };
	const struct command *cmd;
	int ch;

	opterr = 0; /* usage_error says it, in one line */
	while ((ch = getopt_long(argc, argv, "+:f:s:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			t.config_path = optarg;
			break;
		case 's':
			t.socket_path = optarg;
			break;
		case 'h':
		case LONG_HELP:
			usage(stdout);
			return 0;
		case 'V':
		case LONG_VERSION:
			return print_version();
		default:
			return bad_option(NULL, ch, argv, longopts);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0)
		return help(argc, argv);
	if (!(cmd = find_command(argv[0])))
		return unknown_command(argv[0]);
	return run(cmd, &t, argc, argv);
}
