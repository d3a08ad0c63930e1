// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"
#include "log.h"

struct http {
	CURLM *multi;
	int epfd, tfd;
	struct hreq *reqs; /* in flight */
};

struct hreq {
	struct http *h;
	CURL *easy;
	struct curl_slist *headers;
	char *buf;
	size_t len, cap;
	bool too_big;
	char errbuf[CURL_ERROR_SIZE];
	http_done_fn done;
	void *arg;
	struct hreq *next, **pprev;
};

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct epoll_event ev = { .data.fd = s };

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(h->epfd, EPOLL_CTL_DEL, s, NULL);
		curl_multi_assign(h->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(h->epfd, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) < 0) {
		log_warn("http: epoll_ctl on socket %d", s);
		return -1;
	}
	curl_multi_assign(h->multi, s, (void *)1);
	return 0;
}

static int on_timer(CURLM *multi, long ms, void *userp)
{
	struct http *h = userp;
	struct itimerspec its = { 0 };

	(void)multi;
	if (ms == 0)
		its.it_value.tv_nsec = 1; /* "now": the next loop turn */
	else if (ms > 0) {
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (ms % 1000) * 1000000L;
	}
	timerfd_settime(h->tfd, 0, &its, NULL);
	return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct hreq *q = arg;
	size_t len = size * n;

	if (q->len + len + 1 > HTTP_BODY_MAX) {
		q->too_big = true;
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	}
	if (q->len + len + 1 > q->cap) {
		size_t cap = q->cap ? q->cap : 4096;
		char *b;

		while (cap < q->len + len + 1)
			cap *= 2;
		if (!(b = realloc(q->buf, cap)))
			return 0;
		q->buf = b;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, p, len);
	q->len += len;
	q->buf[q->len] = '\0';
	return len;
}

struct http *http_new(char *err, size_t errlen)
{
	struct http *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!h) {
		snprintf(err, errlen, "http: out of memory");
		return NULL;
	}
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	h->multi = curl_multi_init();
	ev.data.fd = h->tfd;
	if (h->epfd < 0 || h->tfd < 0 || !h->multi ||
	    epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->tfd, &ev) < 0) {
		snprintf(err, errlen, "http: setting up libcurl: %s", strerror(errno));
		http_free(h);
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

static void req_free(struct hreq *q)
{
	if (q->pprev) {
		*q->pprev = q->next;
		if (q->next)
			q->next->pprev = q->pprev;
	}
	if (q->easy) {
		curl_multi_remove_handle(q->h->multi, q->easy);
		curl_easy_cleanup(q->easy);
	}
	curl_slist_free_all(q->headers);
	free(q->buf);
	free(q);
}

void http_free(struct http *h)
{
	if (!h)
		return;
	while (h->reqs)
		req_free(h->reqs);
	if (h->multi)
		curl_multi_cleanup(h->multi);
	if (h->tfd >= 0)
		close(h->tfd);
	if (h->epfd >= 0)
		close(h->epfd);
	free(h);
}

int http_fd(const struct http *h)
{
	return h->epfd;
}

static void finish(struct http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		struct hreq *q = NULL;
		long status = 0;
		char why[CURL_ERROR_SIZE + 64];

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		if (m->data.result != CURLE_OK) {
			snprintf(why, sizeof(why), "%s",
				 q->too_big	? "answer larger than 16 MiB"
				 : q->errbuf[0] ? q->errbuf
						: curl_easy_strerror(m->data.result));
			status = 0;
		}
		/* done may start requests: this one is gone first */
		{
			http_done_fn done = q->done;
			void *arg = q->arg;
			char *body = q->buf ? q->buf : strdup("");
			size_t len = q->len;

			q->buf = NULL;
			req_free(q);
			done(arg, status, body ? body : "", body ? len : 0, status ? NULL : why);
			free(body);
		}
	}
}

void http_run(struct http *h)
{
	struct epoll_event evs[16];
	int n, running;

	n = epoll_wait(h->epfd, evs, 16, 0);
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd, flags = 0;

		if (fd == h->tfd) {
			uint64_t x;

			if (read(h->tfd, &x, sizeof(x)) > 0)
				curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0,
							 &running);
			continue;
		}
		if (evs[i].events & EPOLLIN)
			flags |= CURL_CSELECT_IN;
		if (evs[i].events & EPOLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (evs[i].events & (EPOLLERR | EPOLLHUP))
			flags |= CURL_CSELECT_ERR;
		curl_multi_socket_action(h->multi, fd, flags, &running);
	}
	finish(h);
}

int http_start(struct http *h, const struct http_req *r, http_done_fn done, void *arg)
{
	struct hreq *q = calloc(1, sizeof(*q));

	if (!q || !(q->easy = curl_easy_init())) {
		free(q);
		return -ENOMEM;
	}
	q->h = h;
	q->done = done;
	q->arg = arg;
	for (size_t i = 0; r->headers && r->headers[i]; i++) {
		struct curl_slist *l = curl_slist_append(q->headers, r->headers[i]);

		if (!l) {
			req_free(q);
			return -ENOMEM;
		}
		q->headers = l;
	}
	curl_easy_setopt(q->easy, CURLOPT_URL, r->url);
	curl_easy_setopt(q->easy, CURLOPT_PRIVATE, q);
	curl_easy_setopt(q->easy, CURLOPT_ERRORBUFFER, q->errbuf);
	curl_easy_setopt(q->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(q->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(q->easy, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	curl_easy_setopt(q->easy, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms);
	curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(q->easy, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(q->easy, CURLOPT_USERAGENT, "vpcroute-agent/" PACKAGE_VERSION);
	if (r->no_proxy)
		curl_easy_setopt(q->easy, CURLOPT_NOPROXY, "*");
	if (r->body) {
		/* curl keeps a copy: the caller's buffer may go */
		curl_easy_setopt(q->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
		curl_easy_setopt(q->easy, CURLOPT_COPYPOSTFIELDS, r->body);
	}
	if (strcmp(r->method, "POST") && (r->body || strcmp(r->method, "GET")))
		curl_easy_setopt(q->easy, CURLOPT_CUSTOMREQUEST, r->method);
	if (!r->body && strcmp(r->method, "GET"))
		curl_easy_setopt(q->easy, CURLOPT_POSTFIELDS, "");
	if (q->headers)
		curl_easy_setopt(q->easy, CURLOPT_HTTPHEADER, q->headers);
	if (r->sigv4) {
		curl_easy_setopt(q->easy, CURLOPT_AWS_SIGV4, r->sigv4);
		curl_easy_setopt(q->easy, CURLOPT_USERNAME, r->user);
		curl_easy_setopt(q->easy, CURLOPT_PASSWORD, r->password);
	}
	if (curl_multi_add_handle(h->multi, q->easy) != CURLM_OK) {
		req_free(q);
		return -ENOMEM;
	}
	q->next = h->reqs;
	if (q->next)
		q->next->pprev = &q->next;
	q->pprev = &h->reqs;
	h->reqs = q;
	return 0;
}
