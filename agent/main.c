// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vpcroute-agent: programs kernel routes, the nftables table inet vpcroute
 * and the sysctls for the OpenVPN instances whose plugins connect to it.
 * See vpcroute-agent(8).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent.h"
#include "cloud.h"
#include "heap.h"
#include "log.h"
#include "metrics_http.h"
#include "sysctl.h"
#include "watch.h"
#include "xfrm.h"
#include "loop.h"
#include "policy.h"
#include "planner.h"

#define DEFAULT_CONFIG	VR_CONFDIR "/vpcroute.conf"
#define IDLE_DEFAULT_S	30
#define FLUSH_AWS_MAX_S 60 /* --flush: how long the exit waits for EC2 */
#define STR_(x)		#x
#define STR(x)		STR_(x)

/* The loop's own watchers; the control socket has its own (sock.c). */
static struct loop {
	struct agent *a;
	bool stop;
	struct watcher sig, grace, http, cloud, watch, xfrm;
} loop;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vpcroute-agent [-dnvV] [-f FILE] [-g SECONDS] [--flush] [--dry-run]\n"
		"                      [--idle-timeout SECONDS]\n"
		"\n"
		"  -d          stay in the foreground and log to stderr\n"
		"  -f FILE     configuration (default %s)\n"
		"  -g SECONDS  grace period after start during which routes found in the\n"
		"              kernel stay until the plugins have resent their clients\n"
		"              (default 10)\n"
		"  -n          check the configuration, print it normalised, and exit\n"
		"  -v          verbose (debug) logging\n"
		"  -V, --version\n"
		"              print the version and exit\n"
		"  --flush     on exit, remove the routes and the nftables table it owns,\n"
		"              and (aws) its VPC routes\n"
		"  --dry-run   make no EC2 API call that changes anything; log each call\n"
		"              it would make instead\n"
		"  --idle-timeout SECONDS\n"
		"              close a peer that is not a plugin after this long without\n"
		"              a message (default %d; 0: never)\n"
		"  -h, --help  this text\n",
		DEFAULT_CONFIG, IDLE_DEFAULT_S);
}

/* systemd's readiness protocol, without linking libsystemd. */
static void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sun.sun_path))
		return;
	strcpy(sun.sun_path, path);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun, len) < 0)
		log_debug("sd_notify: %s", strerror(errno));
	close(fd);
}

static void on_http(struct watcher *w, uint32_t events)
{
	struct agent *a = w->ctx;

	unsigned news = a->cloud ? cloud_http_event(a->cloud) : 0;
	bool applied = false;

	/* the backend reports; the core takes it from there */
	if (news & CLOUD_VPC_CIDRS)
		applied = state_local_auto(a, true);
	if ((news & CLOUD_SUMMARIES) && !applied)
		state_apply(a); /* the summaries' unreachable routes */
}

static void on_cloud_timer(struct watcher *w, uint32_t events)
{
	struct agent *a = w->ctx;

	if (a->cloud)
		cloud_timer_event(a->cloud);
}

static int cloud_watch(struct agent *a)
{
	int r;

	loop.http = (struct watcher){ .fd = cloud_http_fd(a->cloud), .fn = on_http, .ctx = a };
	loop.cloud =
		(struct watcher){ .fd = cloud_timer_fd(a->cloud), .fn = on_cloud_timer, .ctx = a };
	if ((r = watcher_add(a->epfd, &loop.http, EPOLLIN)) < 0)
		return r;
	return watcher_add(a->epfd, &loop.cloud, EPOLLIN);
}

/* The aws section after a reload: started, stopped or re-resolved. */
static void cloud_reconfigure(struct agent *a)
{
	char err[512];

	if (!a->cfg->aws.enabled && a->cloud) {
		log_info("aws: integration turned off; VPC routes stay as they are");
		cloud_free(a->cloud);
		a->cloud = NULL;
	} else if (a->cfg->aws.enabled && !a->cloud) {
		if (!(a->cloud = cloud_new(a, a->dry_run, err, sizeof(err))) ||
		    cloud_watch(a) < 0) {
			log_warnx("aws: not started: %s", a->cloud ? strerror(errno) : err);
			cloud_free(a->cloud);
			a->cloud = NULL;
		}
	} else if (a->cloud && cloud_reload(a->cloud, err, sizeof(err)) < 0) {
		log_warnx("aws: keeping the previous settings: %s", err);
	}
}

bool agent_client_allowed(const struct agent *a, const struct ainst *in, const struct aclient *c,
			  char *why, size_t len)
{
	struct pfx peer;

	if (!in->ipsec)
		return policy_check(a->cfg, in->name, &c->pc, NULL, why, len);
	if (agent_peer_addr(c->pc.cn, &peer) < 0)
		peer = (struct pfx){ 0 };
	return policy_check_peer(a->cfg, &peer, agent_peer_id(a, c->pc.cn), &c->pc, NULL, why, len);
}

/* The clients connected under the previous configuration that this one
 * forbids, by name; they stay connected (status shows them). */
static void reload_recheck(struct agent *a)
{
	char why[POLICY_REASON_MAX];

	for (size_t i = 0; i < a->ninst; i++)
		for (size_t k = 0; !a->inst[i]->ipsec && k < a->inst[i]->n; k++)
			if (!agent_client_allowed(a, a->inst[i], &a->inst[i]->c[k], why,
						  sizeof(why)))
				log_warnx("reload: %s: client %s, connected under the previous "
					  "configuration, is not allowed by the new one: %s; it "
					  "stays connected until it disconnects (kill it through "
					  "OpenVPN's management interface to end it now)",
					  a->inst[i]->name, a->inst[i]->c[k].pc.cn, why);
}

int agent_reload(struct agent *a, char *err, size_t errlen)
{
	struct cfg *c;

	sd_notify_msg("RELOADING=1");
	if (cfg_load_file(a->cfg_path, &c, err, errlen) < 0) {
		log_warnx("reload failed, keeping the running configuration: %s", err);
		sd_notify_msg("READY=1");
		return -EINVAL;
	}
	if (strcmp(c->socket.path, a->cfg->socket.path))
		log_warnx("reload: socket.path changed to %s; it takes effect after a restart "
			  "(systemctl restart vpcroute-agent)",
			  c->socket.path);
	if (!c->metrics.listen != !a->cfg->metrics.listen ||
	    (c->metrics.listen && strcmp(c->metrics.listen, a->cfg->metrics.listen)))
		log_warnx("reload: metrics.listen changed; it takes effect after a restart "
			  "(systemctl restart vpcroute-agent)");
	cfg_free(a->cfg);
	a->cfg = c;
	a->cfg_gen++;
	sysctl_host(c);
	cloud_reconfigure(a);
	if (dns_configure(a->dns, c, err, errlen) < 0)
		log_warnx("reload: %s; the names keep their last addresses", err);
	state_local_auto(a, false);
	ipsec_vici_configure(a);
	ipsec_update(a); /* ipsec.peers may admit or refuse other networks */
	state_apply(a);
	if (a->sock)
		sock_configure(a->sock, c);
	sock_broadcast_claims(a->sock);
	/* the plugins read the same file again, and say which digest they run */
	sock_broadcast_policy(a->sock);
	reload_recheck(a);
	nft_report_foreign_nat(a->nft);
	log_info("configuration %s reloaded (generation %llu, sha256 %s)", a->cfg_path,
		 (unsigned long long)a->cfg_gen, c->digest);
	sd_notify_msg("READY=1");
	return 0;
}

static void on_signal(struct watcher *w, uint32_t events)
{
	struct agent *a = w->ctx;
	struct signalfd_siginfo si;

	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			char err[CFG_ERRLEN];

			agent_reload(a, err, sizeof(err));
			continue;
		}
		log_info("signal %u: stopping%s", si.ssi_signo,
			 a->flush_on_exit ? " and removing what we programmed"
					  : "; routes and rules stay");
		loop.stop = true;
		return;
	}
}

static void on_grace(struct watcher *w, uint32_t events)
{
	uint64_t x;

	if (read(w->fd, &x, sizeof(x)) > 0)
		state_end_grace(w->ctx);
}

static void on_watch(struct watcher *w, uint32_t events)
{
	watch_event(w->ctx);
}

static void on_xfrm(struct watcher *w, uint32_t events)
{
	struct agent *a = w->ctx;

	if (xfrm_read(a->xfrm))
		ipsec_update(a);
}

static int setup(struct agent *a, unsigned idle_s)
{
	char err[512];
	sigset_t mask;
	struct itimerspec its = { .it_value.tv_sec = a->grace_s };
	int r;

	a->rt = rtnl_open(err, sizeof(err));
	a->nft = a->rt ? nft_open(err, sizeof(err)) : NULL;
	if (!a->rt || !a->nft) {
		log_warnx("%s", err);
		return -1;
	}
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	a->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	a->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (a->epfd < 0 || a->sigfd < 0 || a->timerfd < 0) {
		log_warn("event loop setup");
		return -1;
	}
	loop.a = a;
	loop.sig = (struct watcher){ .fd = a->sigfd, .fn = on_signal, .ctx = a };
	loop.grace = (struct watcher){ .fd = a->timerfd, .fn = on_grace, .ctx = a };
	if (watcher_add(a->epfd, &loop.sig, EPOLLIN) < 0 ||
	    watcher_add(a->epfd, &loop.grace, EPOLLIN) < 0) {
		log_warn("event loop setup");
		return -1;
	}
	if (a->cfg->aws.enabled) {
		if (!(a->cloud = cloud_new(a, a->dry_run, err, sizeof(err)))) {
			log_warnx("%s", err);
			return -1;
		}
		if ((r = cloud_watch(a)) < 0) {
			log_warnx("aws: epoll: %s", strerror(-r));
			return -1;
		}
	}
	/* subscribed before the first reconcile: no change falls in between */
	if (!(a->watch = watch_open(a, err, sizeof(err)))) {
		log_warnx("%s", err);
		return -1;
	}
	loop.watch = (struct watcher){ .fd = watch_fd(a->watch), .fn = on_watch, .ctx = a };
	if (watcher_add(a->epfd, &loop.watch, EPOLLIN) < 0) {
		log_warn("event loop setup");
		return -1;
	}
	/* the rules' host names: looked up from the loop; until they resolve,
	 * they allow nothing and block nothing else */
	if (!(a->dns = dns_open(a->epfd, a->cfg, err, sizeof(err)))) {
		log_warnx("%s", err);
		return -1;
	}
	a->names = dns_table(a->dns);
	/* the kernel's IPsec tunnels, dumped once subscribed; without XFRM
	 * (no CONFIG_XFRM_USER) the agent goes on for OpenVPN */
	if (ipsec_open(a) == 0) {
		loop.xfrm = (struct watcher){ .fd = xfrm_fd(a->xfrm), .fn = on_xfrm, .ctx = a };
		if (watcher_add(a->epfd, &loop.xfrm, EPOLLIN) < 0) {
			log_warn("event loop setup");
			return -1;
		}
	}
	ipsec_vici_configure(a); /* strongSwan's VICI socket, if ipsec.vici_socket */
	if ((r = state_adopt(a)) < 0)
		log_warnx("reading our routes: %s", strerror(-r));
	sysctl_host(a->cfg);
	a->in_grace = a->grace_s > 0;
	if (a->in_grace)
		timerfd_settime(a->timerfd, 0, &its, NULL);
	else
		a->nft_ready = true;
	if (!ipsec_update(a))
		state_apply(a);
	if ((r = nft_report_foreign_nat(a->nft)) < 0)
		log_warnx("looking for foreign NAT rules: %s", strerror(-r));
	if ((r = sock_open(a, a->epfd, idle_s, &a->sock)) < 0) {
		log_warnx("control socket %s: %s", a->cfg->socket.path, strerror(-r));
		return -1;
	}
	if (metrics_http_open(a, a->epfd, &a->metrics_http) < 0)
		return -1;
	return 0;
}

/*
 * Each pass: the ready watchers' callbacks, then what they asked of the core
 * (a reload a peer requested), then the connections closed meanwhile are freed.
 */
/* vpcroutectl withdraw: started with the cloud, answered once it is done. */
static void serve_withdraw(struct agent *a)
{
	unsigned wd = sock_withdraw_requested(a->sock);
	json_t *j;
	char *text;

	if (wd && !a->cloud)
		sock_withdraw_reply(
			a->sock, NULL,
			"withdraw: the aws section is off (or did not start): there is no "
			"VPC route to withdraw");
	else if (wd)
		cloud_withdraw(a->cloud,
			       (wd & PROTO_WITHDRAW_OURS ? PLAN_WITHDRAW_OURS : 0) |
				       (wd & PROTO_WITHDRAW_UNWANTED ? PLAN_WITHDRAW_UNWANTED : 0));
	if (!a->cloud || !cloud_withdraw_done(a->cloud) || !sock_withdraw_waiting(a->sock))
		return;
	j = cloud_withdraw_result(a->cloud);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	sock_withdraw_reply(a->sock, text, text ? NULL : "out of memory");
	free(text);
}

static int run(struct agent *a)
{
	struct epoll_event evs[32];

	while (!loop.stop) {
		int n;

		/* what the core could not program is retried by the watch, with back-off */
		if (a->retry_wanted) {
			a->retry_wanted = false;
			watch_retry(a);
		}
		/* a large reconcile goes on between the events, a bounded part per pass;
		 * otherwise wait, until the next change summary is due */
		if (state_busy(a))
			state_continue(a);
		n = epoll_wait(a->epfd, evs, 32, state_busy(a) ? 0 : status_summary_wait(a));

		if (n < 0 && errno != EINTR) {
			log_warn("epoll_wait");
			return 1;
		}
		for (int i = 0; i < n && !loop.stop; i++) {
			struct watcher *w = evs[i].data.ptr;

			w->fn(w, evs[i].events);
		}
		/* the client changes of this pass: one commit, then their acks */
		sock_commit(a->sock);
		if (sock_reload_requested(a->sock)) {
			char err[CFG_ERRLEN];

			sock_reload_reply(a->sock,
					  agent_reload(a, err, sizeof(err)) < 0 ? err : NULL);
		}
		/* addresses of the rules' names moved: one reconcile, one nftables
		 * transaction that replaces the old elements by the new */
		if (dns_take_changed(a->dns))
			state_apply(a);
		serve_withdraw(a);
		sock_reap(a->sock);
		status_log_summary(a, false);
		/* after a large transient (a status, a sync), once nothing is
		 * left to do: the freed heap back to the kernel */
		if (!state_busy(a))
			heap_trim();
	}
	sock_commit(a->sock);
	status_log_summary(a, true);
	return 0;
}

/*
 * --flush with AWS on: the VPC routes go before the agent does, through the
 * same paced client, for at most FLUSH_AWS_MAX_S (a second signal cuts it short).
 */
static void withdraw_on_exit(struct agent *a)
{
	struct epoll_event evs[32];
	struct timespec t0, t;

	log_info("aws: --flush: withdrawing our VPC routes before exit");
	cloud_withdraw(a->cloud, PLAN_WITHDRAW_OURS);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	loop.stop = false;
	while (!loop.stop && !cloud_withdraw_done(a->cloud)) {
		long left;
		int n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = FLUSH_AWS_MAX_S * 1000L -
		       ((t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L);
		if (left <= 0)
			break;
		if ((n = epoll_wait(a->epfd, evs, 32, (int)left)) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n && !loop.stop; i++) {
			struct watcher *w = evs[i].data.ptr;

			w->fn(w, evs[i].events);
		}
		sock_commit(a->sock);
		sock_reap(a->sock);
	}
	if (!cloud_withdraw_done(a->cloud))
		log_warnx("aws: --flush: gave up waiting for EC2 (%s); VPC routes to this "
			  "instance may remain (vpcroutectl status shows them after a restart)",
			  loop.stop ? "a second signal" : "after " STR(FLUSH_AWS_MAX_S) " s");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = { { "flush", no_argument, NULL, 'F' },
						  { "help", no_argument, NULL, 'h' },
						  { "version", no_argument, NULL, 'V' },
						  { "dry-run", no_argument, NULL, 'D' },
						  { "idle-timeout", required_argument, NULL, 'I' },
						  { NULL, 0, NULL, 0 } };
	struct agent a = { .cfg_path = DEFAULT_CONFIG, .grace_s = 10, .cfg_gen = 1 };
	unsigned idle_s = IDLE_DEFAULT_S;
	char err[CFG_ERRLEN], *end;
	int foreground = 0, check = 0, verbose = 0, ch, rc;

	while ((ch = getopt_long(argc, argv, "df:g:nvVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			foreground = 1;
			break;
		case 'f':
			a.cfg_path = optarg;
			break;
		case 'g':
			a.grace_s = (unsigned)strtoul(optarg, &end, 10);
			if (*end || a.grace_s > 3600) {
				fprintf(stderr, "vpcroute-agent: -g %s: expected 0-3600 seconds\n",
					optarg);
				return 2;
			}
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'F':
			a.flush_on_exit = true;
			break;
		case 'D':
			a.dry_run = true;
			break;
		case 'I':
			idle_s = (unsigned)strtoul(optarg, &end, 10);
			if (!*optarg || *end || idle_s > 86400) {
				fprintf(stderr,
					"vpcroute-agent: --idle-timeout %s: expected 0-86400 "
					"seconds\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vpcroute-agent %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (cfg_load_file(a.cfg_path, &a.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check) {
		cfg_print(stdout, a.cfg);
		fprintf(stderr, "%s: configuration valid\n", a.cfg_path);
		cfg_free(a.cfg);
		return 0;
	}
	log_init("vpcroute-agent", foreground, verbose);
	a.started = time(NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("libcurl initialisation failed");
		cfg_free(a.cfg);
		return 1;
	}
	log_info("vpcroute-agent %s starting, %s role, configuration %s", PACKAGE_VERSION,
		 cfg_role_name(a.cfg->role), a.cfg_path);
	if (setup(&a, idle_s) < 0) {
		rc = 1;
		goto out;
	}
	/* detach only once everything is set up, so that failures reach the caller */
	if (!foreground && daemon(0, 0) < 0) {
		log_warn("daemon");
		rc = 1;
		goto out;
	}
	sd_notify_msg("READY=1");
	if (a.cloud)
		cloud_kick(a.cloud);
	rc = run(&a);
	sd_notify_msg("STOPPING=1");
	if (rc == 0 && a.flush_on_exit && a.cloud)
		withdraw_on_exit(&a);
out:
	sock_close(a.sock);
	metrics_http_close(a.metrics_http);
	if (a.flush_on_exit && a.rt && a.nft)
		state_flush(&a);
	state_free(&a);
	ipsec_close(&a);
	watch_close(a.watch);
	a.names = NULL;
	dns_close(a.dns);
	cloud_free(a.cloud);
	nft_close(a.nft);
	rtnl_close(a.rt);
	cfg_free(a.cfg);
	curl_global_cleanup();
	log_info("stopped");
	return rc;
}
