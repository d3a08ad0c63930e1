// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench/plugin_callbacks: what each vpcroute.so callback costs OpenVPN.
 *
 * Loads the real plugin with dlopen, plays OpenVPN (open_v3, func_v3 with
 * the environment OpenVPN sets) and a minimal agent on a UNIX socket that
 * acknowledges requests and answers with claims, connects N clients (each
 * announcing its own /24, so the overlap checks see up to N peers), then
 * disconnects them (the plugin does not register for LEARN_ADDRESS). Prints JSON: p50, p99 and
 * max per callback in microseconds.
 *
 *   bench/plugin_callbacks PLUGIN.so [CLIENTS]
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

int main(int argc, char **argv)
{
	char dir[] = "/tmp/vr-bench-XXXXXX", sock[128], conf[128];
	size_t nclients = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	struct openvpn_plugin_callbacks cb = { .plugin_log = fake_log, .plugin_vlog = fake_vlog };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int64_t *t_conn, *t_disc;
	void *so, **ctx;
	pthread_t thr;
	FILE *f;
	int lfd;

	if (argc < 2 || nclients == 0 || nclients > 65000) {
		fprintf(stderr, "usage: %s PLUGIN.so [CLIENTS (1-65000, default 1000)]\n", argv[0]);
		return 2;
	}
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
	fprintf(f, "}}\n");
	fclose(f);

	lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	strcpy(sun.sun_path, sock);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(lfd, 1) < 0)
		return perror("agent socket"), 1;
	pthread_create(&thr, NULL, agent, &lfd);

	so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!so)
		return fprintf(stderr, "%s\n", dlerror()), 1;
	open_fn op = (open_fn)dlsym(so, "openvpn_plugin_open_v3");
	func_fn fn = (func_fn)dlsym(so, "openvpn_plugin_func_v3");
	close_fn cl = (close_fn)dlsym(so, "openvpn_plugin_close_v1");
	ctor_fn ctor = (ctor_fn)dlsym(so, "openvpn_plugin_client_constructor_v1");
	dtor_fn dtor = (dtor_fn)dlsym(so, "openvpn_plugin_client_destructor_v1");
	if (!op || !fn || !cl || !ctor || !dtor)
		return fprintf(stderr, "missing plugin entry points\n"), 1;

	const char *oargv[] = { argv[1], conf, "instance=bench", NULL };
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

	if (op(OPENVPN_PLUGINv3_STRUCTVER, &oin, &oret) != OPENVPN_PLUGIN_FUNC_SUCCESS)
		return fprintf(stderr, "plugin open failed\n"), 1;
	usleep(100000); /* let the link settle (hello, sync) */

	t_conn = calloc(nclients, sizeof(int64_t));
	t_disc = calloc(nclients, sizeof(int64_t));
	ctx = calloc(nclients, sizeof(void *));
	size_t admitted = 0;

	for (size_t i = 0; i < nclients; i++) {
		char cn[32], cnv[48], ip[48], addr[24];
		const char *env[] = { cnv, ip, "trusted_ip=198.18.0.10", "verb=3", NULL };
		struct openvpn_plugin_string_list *rl = NULL;
		struct openvpn_plugin_args_func_return fret = { .return_list = &rl };
		int64_t t0;
		int r;

		snprintf(cn, sizeof(cn), "c%zu", i);
		snprintf(cnv, sizeof(cnv), "common_name=%s", cn);
		snprintf(addr, sizeof(addr), "100.64.%zu.%zu", (i + 2) / 256, (i + 2) % 256);
		snprintf(ip, sizeof(ip), "ifconfig_pool_remote_ip=%s", addr);
		ctx[i] = ctor(oret.handle);
		struct openvpn_plugin_args_func_in fin = { .type = OPENVPN_PLUGIN_CLIENT_CONNECT_V2,
							   .argv = oargv,
							   .envp = env,
							   .handle = oret.handle,
							   .per_client_context = ctx[i] };
		t0 = now_ns();
		r = fn(OPENVPN_PLUGINv3_STRUCTVER, &fin, &fret);
		t_conn[i] = now_ns() - t0;
		admitted += r == OPENVPN_PLUGIN_FUNC_SUCCESS;
		free_list(rl);
	}
	for (size_t i = 0; i < nclients; i++) {
		char cnv[48];
		const char *env[] = { cnv, NULL };
		struct openvpn_plugin_args_func_return fret = { 0 };
		int64_t t0;

		snprintf(cnv, sizeof(cnv), "common_name=c%zu", i);
		struct openvpn_plugin_args_func_in din = { .type = OPENVPN_PLUGIN_CLIENT_DISCONNECT,
							   .argv = oargv,
							   .envp = env,
							   .handle = oret.handle,
							   .per_client_context = ctx[i] };
		t0 = now_ns();
		fn(OPENVPN_PLUGINv3_STRUCTVER, &din, &fret);
		t_disc[i] = now_ns() - t0;
		dtor(oret.handle, ctx[i]);
	}
	cl(oret.handle);

	printf("{\n  \"benchmark\": \"plugin_callbacks\",\n  \"clients\": %zu,\n  \"admitted\": "
	       "%zu,\n",
	       nclients, admitted);
	printf("  \"note\": \"each client announces its own /24; CLIENT_CONNECT_V2 checks it "
	       "against "
	       "every connected client and the agent's claims\",\n  \"callbacks\": {\n");
	report("CLIENT_CONNECT_V2", t_conn, nclients, 0);
	report("CLIENT_DISCONNECT", t_disc, nclients, 1);
	printf("  },\n  \"log_lines\": %lu\n}\n", log_lines);
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	unlink(sock);
	unlink(conf);
	rmdir(dir);
	return admitted == nclients ? 0 : 1;
}
