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
#include "log.h"
#include "watch.h"

#define DEFAULT_CONFIG VR_CONFDIR "/vpcroute.conf"
#define TIMER_TAG      ((void *)1)
#define SIGNAL_TAG     ((void *)2)
#define CLAIMS_TAG     ((void *)3)
#define HTTP_TAG       ((void *)4)
#define CLOUD_TAG      ((void *)5)
#define WATCH_TAG      ((void *)6)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vpcroute-agent [-dnv] [-f FILE] [-g SECONDS] [--flush] [--dry-run]\n"
		"\n"
		"  -d          stay in the foreground and log to stderr\n"
		"  -f FILE     configuration (default %s)\n"
		"  -g SECONDS  grace period after start during which routes found in the\n"
		"              kernel stay until the plugins have resent their clients\n"
		"              (default 10)\n"
		"  -n          check the configuration, print it normalised, and exit\n"
		"  -v          verbose (debug) logging\n"
		"  --flush     on exit, remove the routes and the nftables table it owns\n"
		"  --dry-run   make no EC2 API call that changes anything; log each call\n"
		"              it would make instead\n"
		"  -h, --help  this text\n",
		DEFAULT_CONFIG);
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

static int cloud_watch(struct agent *a)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = HTTP_TAG };

	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, cloud_http_fd(a->cloud), &ev) < 0)
		return -errno;
	ev.data.ptr = CLOUD_TAG;
	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, cloud_timer_fd(a->cloud), &ev) < 0)
		return -errno;
	return 0;
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
		log_warnx("reload: socket.path changed to %s; it takes effect after a restart",
			  c->socket.path);
	cfg_free(a->cfg);
	a->cfg = c;
	sysctl_host(c);
	cloud_reconfigure(a);
	state_local_auto(a, false);
	state_apply(a);
	ctl_broadcast_claims(a);
	nft_report_foreign_nat(a->nft);
	log_info("configuration %s reloaded", a->cfg_path);
	sd_notify_msg("READY=1");
	return 0;
}

static int setup(struct agent *a)
{
	char err[512];
	sigset_t mask;
	struct epoll_event ev = { .events = EPOLLIN };
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
	a->claims_timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (a->epfd < 0 || a->sigfd < 0 || a->timerfd < 0 || a->claims_timerfd < 0) {
		log_warn("event loop setup");
		return -1;
	}
	ev.data.ptr = SIGNAL_TAG;
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->sigfd, &ev);
	ev.data.ptr = TIMER_TAG;
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->timerfd, &ev);
	ev.data.ptr = CLAIMS_TAG;
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->claims_timerfd, &ev);
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
	ev.data.ptr = WATCH_TAG;
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, watch_fd(a->watch), &ev);
	if ((r = state_adopt(a)) < 0)
		log_warnx("reading our routes: %s", strerror(-r));
	sysctl_host(a->cfg);
	a->in_grace = a->grace_s > 0;
	if (a->in_grace)
		timerfd_settime(a->timerfd, 0, &its, NULL);
	else
		a->nft_ready = true;
	state_apply(a);
	if ((r = nft_report_foreign_nat(a->nft)) < 0)
		log_warnx("looking for foreign NAT rules: %s", strerror(-r));
	if ((r = ctl_listen(a)) < 0) {
		log_warnx("control socket %s: %s", a->cfg->socket.path, strerror(-r));
		return -1;
	}
	return 0;
}

static int run(struct agent *a)
{
	struct epoll_event evs[32];

	for (;;) {
		int n = epoll_wait(a->epfd, evs, 32, -1);

		if (n < 0 && errno != EINTR) {
			log_warn("epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == SIGNAL_TAG) {
				struct signalfd_siginfo si;

				while (read(a->sigfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						char err[CFG_ERRLEN];

						agent_reload(a, err, sizeof(err));
						continue;
					}
					log_info("signal %u: stopping%s", si.ssi_signo,
						 a->flush_on_exit
							 ? " and removing what we programmed"
							 : "; routes and rules stay");
					return 0;
				}
			} else if (p == CLAIMS_TAG) {
				uint64_t x;

				if (read(a->claims_timerfd, &x, sizeof(x)) > 0)
					ctl_send_claims(a);
			} else if (p == HTTP_TAG) {
				/* the backend reports; the core takes it from there */
				if (cloud_http_event(a->cloud) & CLOUD_VPC_CIDRS)
					state_local_auto(a, true);
			} else if (p == WATCH_TAG) {
				watch_event(a);
			} else if (p == CLOUD_TAG) {
				cloud_timer_event(a->cloud);
			} else if (p == TIMER_TAG) {
				uint64_t x;

				if (read(a->timerfd, &x, sizeof(x)) > 0)
					state_end_grace(a);
			} else if (p == NULL) {
				ctl_accept(a);
			} else {
				ctl_event(a, p, evs[i].events);
			}
		}
		ctl_reap(a);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = { { "flush", no_argument, NULL, 'F' },
						  { "help", no_argument, NULL, 'h' },
						  { "dry-run", no_argument, NULL, 'D' },
						  { NULL, 0, NULL, 0 } };
	struct agent a = { .cfg_path = DEFAULT_CONFIG, .grace_s = 10, .lfd = -1 };
	char err[CFG_ERRLEN], *end;
	int foreground = 0, check = 0, verbose = 0, ch, rc;

	while ((ch = getopt_long(argc, argv, "df:g:nvh", longopts, NULL)) != -1) {
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
		case 'h':
			usage(stdout);
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
	if (setup(&a) < 0) {
		rc = 1;
		goto out;
	}
	/* detach only once everything is set up, so that failures reach the caller */
	if (!foreground && daemon(0, 0) < 0)
		fatal("daemon");
	sd_notify_msg("READY=1");
	if (a.cloud)
		cloud_kick(a.cloud);
	rc = run(&a);
	sd_notify_msg("STOPPING=1");
out:
	ctl_close_all(&a);
	if (a.lfd >= 0) {
		close(a.lfd);
		unlink(a.sock_path);
	}
	if (a.flush_on_exit && a.rt && a.nft)
		state_flush(&a);
	state_free(&a);
	watch_close(a.watch);
	cloud_free(a.cloud);
	nft_close(a.nft);
	rtnl_close(a.rt);
	cfg_free(a.cfg);
	curl_global_cleanup();
	log_info("stopped");
	return rc;
}
