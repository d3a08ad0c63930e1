// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench/plugin_callbacks: what each vpcroute.so callback costs OpenVPN.
 *
 * Loads the real plugin with dlopen, plays OpenVPN (open_v3, func_v3 with
 * the environment OpenVPN sets) and a minimal agent on a UNIX socket that
 * acknowledges requests and answers with claims, connects N clients (each
 * announcing its own /24, so the overlap checks see up to N peers: the
 * case of many clients of the plugin's own instance), then
 * disconnects them (the plugin does not register for LEARN_ADDRESS). Prints JSON: p50, p99 and
 * max per callback in microseconds.
 *
 * With --claims N,...: what the claims held cost a connect. For each N the
 * agent sends a snapshot of N claims of another instance (each a /24 none
 * of the clients' overlaps), waits until the plugin refuses a client whose
 * network is the last claim's (the table is in effect), then CLIENTS
 * clients connect and disconnect one at a time (the peers stay one). With
 * --baseline, the same for another build of the plugin (e.g. the one
 * before a change), side by side. Each run in a process of its own.
 *
 *   bench/plugin_callbacks PLUGIN.so [CLIENTS]
 *   bench/plugin_callbacks --claims 1000,10000,50000 [--baseline OLD.so] PLUGIN.so [CLIENTS]
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openvpn/openvpn-plugin.h>

#include "proto.h"

typedef int (*open_fn)(int, struct openvpn_plugin_args_open_in const *,
		       struct openvpn_plugin_args_open_return *);
typedef int (*func_fn)(int, struct openvpn_plugin_args_func_in const *,
		       struct openvpn_plugin_args_func_return *);
typedef void (*close_fn)(openvpn_plugin_handle_t);
typedef void *(*ctor_fn)(openvpn_plugin_handle_t);
typedef void (*dtor_fn)(openvpn_plugin_handle_t, void *);

static unsigned long log_lines;

static void fake_log(openvpn_plugin_log_flags_t flags, const char *name, const char *fmt, ...)
{
	log_lines++;
}

static void fake_vlog(openvpn_plugin_log_flags_t flags, const char *name, const char *fmt,
		      va_list ap)
{
	log_lines++;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The claims the agent holds for other instances (--claims). */
static size_t nheld;

static struct proto_claim held_claim(size_t i)
{
	struct proto_claim c = { 0 };

	c.net.family = AF_INET;
	c.net.addr[0] = (uint8_t)(11 + i / 65536);
	c.net.addr[1] = (uint8_t)(i / 256 % 256);
	c.net.addr[2] = (uint8_t)(i % 256);
	c.net.len = 24;
	snprintf(c.cn, sizeof(c.cn), "o%zu", i);
	snprintf(c.instance, sizeof(c.instance), "other");
	return c;
}

/* A snapshot of the nheld claims, chunked as the agent chunks it. */
static int send_snapshot(int fd)
{
	static char out[PROTO_MAX_MSG];
	struct proto_claim *v = calloc(nheld + 1, sizeof(*v));
	struct proto_msg m = { .type = PROTO_CLAIMS };
	size_t i = 0;

	if (!v)
		return -1;
	for (size_t k = 0; k < nheld; k++)
		v[k] = held_claim(k);
	m.claims.gen = 1;
	do {
		size_t room = PROTO_MAX_MSG - PROTO_CLAIMS_FRAME, n = 0, k;
		int len;

		while (i + n < nheld && n < PROTO_MAX_CLAIMS &&
		       (k = proto_claim_size(&v[i + n]) + 1) <= room) {
			room -= k;
			n++;
		}
		m.claims.v = n ? v + i : NULL;
		m.claims.n = n;
		i += n;
		m.claims.more = i < nheld;
		len = proto_encode(&m, out, sizeof(out));
		if (len <= 0 || send(fd, out, (size_t)len, MSG_NOSIGNAL) < 0) {
			free(v);
			return -1;
		}
	} while (m.claims.more);
	free(v);
	return 0;
}

/* The agent: acknowledges every request, reads everything, never blocks the plugin. */
static void *agent(void *arg)
{
	int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);
	char buf[PROTO_MAX_MSG], err[PROTO_ERRLEN], out[256];
	struct proto_msg m, ack = { .type = PROTO_ACK };
	ssize_t n;

	while (fd >= 0 && (n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		if (proto_decode(buf, (size_t)n, &m, err, sizeof(err)) < 0) {
			fprintf(stderr, "agent: bad message: %s\n", err);
			continue;
		}
		if (m.id) {
			int len;

			ack.ack.ref = m.id;
			ack.ack.ok = true;
			len = proto_encode(&ack, out, sizeof(out));
			if (len > 0 && send(fd, out, (size_t)len, MSG_NOSIGNAL) < 0)
				break;
		}
		if ((m.type == PROTO_HELLO || m.type == PROTO_SNAPSHOT) && nheld &&
		    send_snapshot(fd) < 0)
			break;
		proto_msg_free(&m);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *name, int64_t *v, size_t n, int last)
{
	qsort(v, n, sizeof(*v), cmp64);
	printf("    \"%s\": {\"calls\": %zu, \"p50_us\": %.2f, \"p99_us\": %.2f, \"max_us\": "
	       "%.2f}%s\n",
	       name, n, v[n / 2] / 1000.0, v[n * 99 / 100] / 1000.0, v[n - 1] / 1000.0,
	       last ? "" : ",");
}

static void free_list(struct openvpn_plugin_string_list *l)
{
	while (l) {
		struct openvpn_plugin_string_list *next = l->next;

		free(l->name);
		free(l->value);
		free(l);
		l = next;
	}
}

/* The plugin under test, opened as OpenVPN opens it. */
struct plugin {
	func_fn fn;
	close_fn cl;
	ctor_fn ctor;
	dtor_fn dtor;
	openvpn_plugin_handle_t handle;
	const char **argv;
};

/* One callback of type with env: its time in *ns; true when it succeeded. */
static bool call(struct plugin *p, int type, const char **env, void *pcc, int64_t *ns)
{
	struct openvpn_plugin_string_list *rl = NULL;
	struct openvpn_plugin_args_func_return fret = { .return_list = &rl };
	struct openvpn_plugin_args_func_in fin = { .type = type,
						   .argv = p->argv,
						   .envp = env,
						   .handle = p->handle,
						   .per_client_context = pcc };
	int64_t t0 = now_ns();
	int r = p->fn(OPENVPN_PLUGINv3_STRUCTVER, &fin, &fret);

	*ns = now_ns() - t0;
	free_list(rl);
	return r == OPENVPN_PLUGIN_FUNC_SUCCESS;
}

/* CLIENT_CONNECT_V2 of client cn with tunnel address number i: true when admitted. */
static bool connect_one(struct plugin *p, const char *cn, size_t i, void *pcc, int64_t *ns)
{
	char cnv[48], ip[64];
	const char *env[] = { cnv, ip, "trusted_ip=198.18.0.10", "verb=3", NULL };

	snprintf(cnv, sizeof(cnv), "common_name=%s", cn);
	snprintf(ip, sizeof(ip), "ifconfig_pool_remote_ip=100.64.%zu.%zu", (i + 2) / 256,
		 (i + 2) % 256);
	return call(p, OPENVPN_PLUGIN_CLIENT_CONNECT_V2, env, pcc, ns);
}

static int64_t disconnect_one(struct plugin *p, const char *cn, void *pcc)
{
	char cnv[48];
	const char *env[] = { cnv, NULL };
	int64_t ns;

	snprintf(cnv, sizeof(cnv), "common_name=%s", cn);
	call(p, OPENVPN_PLUGIN_CLIENT_DISCONNECT, env, pcc, &ns);
	return ns;
}

/* What one run measured. */
struct result {
	size_t clients, admitted, claims;
	double wait_ms;		 /* until the claims were in effect */
	double conn[3], disc[3]; /* p50, p99, max in microseconds */
};

static void stats(int64_t *v, size_t n, double out[3])
{
	qsort(v, n, sizeof(*v), cmp64);
	out[0] = v[n / 2] / 1000.0;
	out[1] = v[n * 99 / 100] / 1000.0;
	out[2] = v[n - 1] / 1000.0;
}

/*
 * Opens the plugin at so_path with nclients clients configured; with
 * churn, each connects and disconnects in turn (the claims, nheld, are
 * what the connect checks against), else all connect, then all disconnect.
 */
static int run(const char *so_path, size_t nclients, bool churn, struct result *res, bool print)
{
	char dir[] = "/tmp/vr-bench-XXXXXX", sock[128], conf[128], net[PFX_STRLEN];
	struct openvpn_plugin_callbacks cb = { .plugin_log = fake_log, .plugin_vlog = fake_vlog };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct plugin p = { 0 };
	int64_t *t_conn, *t_disc, t0, ns;
	void *so, **ctx;
	pthread_t thr;
	FILE *f;
	int lfd;

	if (!mkdtemp(dir))
		return perror("mkdtemp"), 1;
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	snprintf(conf, sizeof(conf), "%s/vpcroute.conf", dir);
	f = fopen(conf, "w");
	fprintf(f,
		"{\"version\":1,\"role\":\"server\",\"socket\":{\"path\":\"%s\"},"
		"\"local_networks\":[\"192.168.255.0/24\"],\"tunnel\":{\"pool\":\"100.64.0.0/16\"},"
		"\"strict\":true,\"clients\":{",
		sock);
	for (size_t i = 0; i < nclients; i++)
		fprintf(f,
			"%s\"c%zu\":{\"iroutes\":[\"10.%zu.%zu.0/"
			"24\"],\"push_routes\":[\"192.168.255.0/24\"]}",
			i ? "," : "", i, i / 256, i % 256);
	if (nheld) {
		/* a client whose network is the last claim's: refused once the table is in */
		struct proto_claim last = held_claim(nheld - 1);

		fprintf(f, ",\"probe\":{\"iroutes\":[\"%s\"]}",
			pfx_format(&last.net, net, sizeof(net)));
	}
	fprintf(f, "}}\n");
	fclose(f);

	lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	strcpy(sun.sun_path, sock);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(lfd, 1) < 0)
		return perror("agent socket"), 1;
	pthread_create(&thr, NULL, agent, &lfd);

	so = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
	if (!so)
		return fprintf(stderr, "%s\n", dlerror()), 1;
	open_fn op = (open_fn)dlsym(so, "openvpn_plugin_open_v3");
	p.fn = (func_fn)dlsym(so, "openvpn_plugin_func_v3");
	p.cl = (close_fn)dlsym(so, "openvpn_plugin_close_v1");
	p.ctor = (ctor_fn)dlsym(so, "openvpn_plugin_client_constructor_v1");
	p.dtor = (dtor_fn)dlsym(so, "openvpn_plugin_client_destructor_v1");
	if (!op || !p.fn || !p.cl || !p.ctor || !p.dtor)
		return fprintf(stderr, "missing plugin entry points\n"), 1;

	const char *oargv[] = { so_path, conf, "instance=bench", NULL };
	const char *oenv[] = { "verb=3", NULL };
	struct openvpn_plugin_args_open_in oin = { .type_mask = 0xffff,
						   .argv = oargv,
						   .envp = oenv,
						   .callbacks = &cb,
						   .ssl_api = SSLAPI_OPENSSL,
						   .ovpn_version = "2.6.14",
						   .ovpn_version_major = 2,
						   .ovpn_version_minor = 6,
						   .ovpn_version_patch = "14" };
	struct openvpn_plugin_args_open_return oret = { 0 };

	p.argv = oargv;
	t0 = now_ns();
	if (op(OPENVPN_PLUGINv3_STRUCTVER, &oin, &oret) != OPENVPN_PLUGIN_FUNC_SUCCESS)
		return fprintf(stderr, "plugin open failed\n"), 1;
	p.handle = oret.handle;
	usleep(100000); /* let the link settle (hello, sync) */
	if (nheld) {
		int64_t limit = now_ns() + 30 * 1000000000LL;
		void *pc = p.ctor(p.handle);
		bool in = false;

		while (!in && now_ns() < limit) {
			in = !connect_one(&p, "probe", 65000, pc, &ns);
			disconnect_one(&p, "probe", pc);
			if (!in)
				usleep(10000);
		}
		p.dtor(p.handle, pc);
		if (!in)
			return fprintf(stderr, "the plugin never took the %zu claims\n", nheld), 1;
	}
	res->wait_ms = (double)(now_ns() - t0) / 1e6;

	t_conn = calloc(nclients, sizeof(int64_t));
	t_disc = calloc(nclients, sizeof(int64_t));
	ctx = calloc(nclients, sizeof(void *));
	res->clients = nclients;
	res->claims = nheld;
	res->admitted = 0;
	for (size_t i = 0; i < nclients; i++) {
		char cn[32];

		snprintf(cn, sizeof(cn), "c%zu", i);
		ctx[i] = p.ctor(p.handle);
		res->admitted += connect_one(&p, cn, i, ctx[i], &t_conn[i]);
		if (churn) {
			t_disc[i] = disconnect_one(&p, cn, ctx[i]);
			p.dtor(p.handle, ctx[i]);
		}
	}
	for (size_t i = 0; !churn && i < nclients; i++) {
		char cn[32];

		snprintf(cn, sizeof(cn), "c%zu", i);
		t_disc[i] = disconnect_one(&p, cn, ctx[i]);
		p.dtor(p.handle, ctx[i]);
	}
	p.cl(p.handle);

	if (print) {
		printf("{\n  \"benchmark\": \"plugin_callbacks\",\n  \"clients\": %zu,\n  "
		       "\"admitted\": %zu,\n",
		       nclients, res->admitted);
		printf("  \"note\": \"each client announces its own /24; CLIENT_CONNECT_V2 checks "
		       "it against the connected clients (up to CLIENTS: the plugin's own) and "
		       "the agent's claims\",\n  "
		       "\"callbacks\": {\n");
		report("CLIENT_CONNECT_V2", t_conn, nclients, 0);
		report("CLIENT_DISCONNECT", t_disc, nclients, 1);
		printf("  },\n  \"log_lines\": %lu\n}\n", log_lines);
	}
	stats(t_conn, nclients, res->conn);
	stats(t_disc, nclients, res->disc);
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	unlink(sock);
	unlink(conf);
	rmdir(dir);
	return res->admitted == nclients ? 0 : 1;
}

/* run() in a process of its own (a plugin build each, its thread, its socket). */
static int run_apart(const char *so_path, size_t nclients, struct result *res)
{
	int fds[2], status;
	pid_t pid;
	ssize_t n;

	if (pipe(fds) < 0 || (pid = fork()) < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		int r = run(so_path, nclients, true, res, false);

		if (write(fds[1], res, sizeof(*res)) != sizeof(*res))
			_exit(1);
		_exit(r);
	}
	close(fds[1]);
	n = read(fds[0], res, sizeof(*res));
	close(fds[0]);
	waitpid(pid, &status, 0);
	return n == sizeof(*res) && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s PLUGIN.so [CLIENTS (1-65000, default 1000)]\n"
		"       %s --claims N[,N...] [--baseline OLD.so] PLUGIN.so [CLIENTS]\n",
		argv0, argv0);
	return 2;
}

int main(int argc, char **argv)
{
	const char *claims = NULL, *baseline = NULL, *so[2];
	size_t nclients, sizes[16], nsizes = 0;
	struct result res = { 0 };
	int i = 1, failed = 0;

	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--claims") == 0)
			claims = argv[i + 1];
		else if (strcmp(argv[i], "--baseline") == 0)
			baseline = argv[i + 1];
		else
			return usage(argv[0]);
	}
	if (i >= argc)
		return usage(argv[0]);
	nclients = i + 1 < argc ? strtoul(argv[i + 1], NULL, 10) : 1000;
	if (nclients == 0 || nclients > 65000)
		return usage(argv[0]);
	if (!claims)
		return run(argv[i], nclients, false, &res, true);

	for (const char *s = claims; *s && nsizes < 16; s += *s == ',') {
		char *end;

		sizes[nsizes] = strtoul(s, &end, 10);
		if (end == s || sizes[nsizes] == 0 || sizes[nsizes] > 4 * 65536)
			return usage(argv[0]);
		nsizes++;
		s = end;
	}
	so[0] = baseline;
	so[1] = argv[i];
	printf("{\n  \"benchmark\": \"plugin_callbacks --claims\",\n  \"clients\": %zu,\n"
	       "  \"note\": \"CLIENT_CONNECT_V2 of one client (its /24) against N claims of "
	       "another instance, none overlapping; microseconds\",\n  \"runs\": [\n",
	       nclients);
	struct result all[2][16];

	for (size_t k = 0; k < nsizes; k++)
		for (int b = 0; b < 2; b++) {
			if (!so[b])
				continue;
			nheld = sizes[k];
			memset(&all[b][k], 0, sizeof(all[b][k]));
			if (run_apart(so[b], nclients, &all[b][k])) {
				fprintf(stderr, "run failed: %s, %zu claims\n", so[b], sizes[k]);
				failed = 1;
			}
			printf("    %s{\"plugin\": \"%s\", \"build\": \"%s\", \"claims\": %zu, "
			       "\"admitted\": %zu, \"claims_in_ms\": %.1f, \"connect_p50_us\": "
			       "%.2f, "
			       "\"connect_p99_us\": %.2f, \"connect_max_us\": %.2f}\n",
			       k || (b && so[0]) ? "," : "", so[b], b ? "after" : "before",
			       sizes[k], all[b][k].admitted, all[b][k].wait_ms, all[b][k].conn[0],
			       all[b][k].conn[1], all[b][k].conn[2]);
		}
	printf("  ]\n}\n\n");
	printf("%-8s  %-26s  %-26s  %s\n", "claims", "before p50 / p99 (us)",
	       "after p50 / p99 (us)", "p50 before/after");
	for (size_t k = 0; k < nsizes; k++) {
		char b[40] = "-", a[40];

		if (so[0])
			snprintf(b, sizeof(b), "%.2f / %.2f", all[0][k].conn[0], all[0][k].conn[1]);
		snprintf(a, sizeof(a), "%.2f / %.2f", all[1][k].conn[0], all[1][k].conn[1]);
		if (so[0])
			printf("%-8zu  %-26s  %-26s  %.1fx\n", sizes[k], b, a,
			       all[0][k].conn[0] / all[1][k].conn[0]);
		else
			printf("%-8zu  %-26s  %-26s\n", sizes[k], b, a);
	}
	return failed;
}
