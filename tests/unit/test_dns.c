// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The resolver of the rules' host names (agent/dns.c), without DNS: its
 * answers are built here as c-ares hands them over (struct ares_addrinfo)
 * and given to its callback; the clock is the test's (dns.c is included with
 * loop_now_ms replaced). The last test runs a real c-ares channel whose
 * server is a loopback port nobody answers on, for the table's life through
 * reconfigurations.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"

static uint64_t fake_now = 1000000;

#define loop_now_ms() (fake_now)
#include "../../agent/dns.c"
#undef loop_now_ms

#include "unit.h"

static unsigned warnings;

static void count(int prio, const char *msg, void *ctx)
{
	if (strstr(msg, "lookup failed"))
		warnings++;
}

/* A node as c-ares allocates it (ares_freeaddrinfo frees it with free()). */
static struct ares_addrinfo_node *node(const char *addr, int ttl, struct ares_addrinfo_node *next)
{
	struct ares_addrinfo_node *n = calloc(1, sizeof(*n));
	struct sockaddr_in6 *s6 = calloc(1, sizeof(*s6));
	struct sockaddr_in *s4 = (struct sockaddr_in *)s6;

	assert_non_null(n);
	assert_non_null(s6);
	n->ai_ttl = ttl;
	n->ai_next = next;
	n->ai_addr = (struct sockaddr *)s6;
	if (strchr(addr, ':')) {
		n->ai_family = s6->sin6_family = AF_INET6;
		n->ai_addrlen = sizeof(*s6);
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else if (strcmp(addr, "unix") == 0) {
		n->ai_family = AF_UNIX; /* not an address: left out */
		n->ai_addrlen = 2;
	} else {
		n->ai_family = s4->sin_family = AF_INET;
		n->ai_addrlen = sizeof(*s4);
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
	return n;
}

static struct ares_addrinfo *answer(struct ares_addrinfo_node *nodes, int cname_ttl)
{
	struct ares_addrinfo *ai = calloc(1, sizeof(*ai));

	assert_non_null(ai);
	ai->nodes = nodes;
	if (cname_ttl >= 0) {
		ai->cnames = calloc(1, sizeof(*ai->cnames));
		assert_non_null(ai->cnames);
		ai->cnames->ttl = cname_ttl;
		ai->cnames->alias = strdup("svc.example.com");
		ai->cnames->name = strdup("lb.example.com");
	}
	return ai;
}

static const char *addrs(const struct pfx_list *l)
{
	static char buf[1024];

	return pfx_list_format(l, " ", buf, sizeof(buf));
}

static void test_answer_addrs(void **state)
{
	struct ares_addrinfo *ai;
	struct pfx_list got = { 0 };
	char a[32];
	int ttl;

	/* both families, a duplicate, a node that is no address; the CNAME's TTL counts */
	ai = answer(node("10.0.0.2", 30,
			 node("fd00::1", 60,
			      node("10.0.0.1", 20, node("unix", 1, node("10.0.0.1", 20, NULL))))),
		    15);
	assert_int_equal(answer_addrs(ai, &got, &ttl), 0);
	assert_string_equal(addrs(&got), "10.0.0.1/32 10.0.0.2/32 fd00::1/128");
	assert_int_equal(ttl, 15); /* the AF_UNIX node's TTL of 1 is not taken */
	ares_freeaddrinfo(ai);
	pfx_list_free(&got);
	/* more than DNS_ADDRS_MAX: the lowest ones, whatever the order of the records */
	{
		struct ares_addrinfo_node *n = NULL;

		for (int i = 200; i > 0; i--) {
			snprintf(a, sizeof(a), "10.0.%d.%d", i % 2, i);
			n = node(a, 100, n);
		}
		ai = answer(n, -1);
	}
	assert_int_equal(answer_addrs(ai, &got, &ttl), 0);
	assert_int_equal(got.n, DNS_ADDRS_MAX);
	assert_int_equal(ttl, 100);
	assert_string_equal(pfx_format(&got.v[0], a, sizeof(a)), "10.0.0.2/32");
	ares_freeaddrinfo(ai);
	pfx_list_free(&got);
	/* nothing */
	assert_int_equal(answer_addrs(NULL, &got, &ttl), 0);
	assert_int_equal(got.n, 0);
	assert_int_equal(ttl, -1);
}

static void test_retry(void **state)
{
	struct dns d = { .min_ttl_s = 1, .max_ttl_s = 300 };
	static const unsigned want[] = { 1, 2, 4, 8, 16, 30, 30, 30 };

	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(retry_s(&d, i + 1), want[i]);
	d.min_ttl_s = 5;
	d.max_ttl_s = 10;
	assert_int_equal(retry_s(&d, 1), 5);
	assert_int_equal(retry_s(&d, 2), 10);
	assert_int_equal(retry_s(&d, 9), 10);
	d.min_ttl_s = 60; /* never sooner than min_ttl_s */
	d.max_ttl_s = 600;
	assert_int_equal(retry_s(&d, 1), 60);
	assert_int_equal(retry_s(&d, 5), 60);
}

/* The callback: TTL within the bounds, failures keep the addresses and are
 * logged once, a change is reported once. */
static void test_lookup_done(void **state)
{
	struct dns d = { .min_ttl_s = 2, .max_ttl_s = 60 };
	struct dns_entry e = { .name = "svc.example.com", .d = &d, .rl = LOG_RL_INIT(1, 600) };

	log_set_sink(count, NULL);
	metrics_reset();
	warnings = 0;
	/* the first answer: a TTL of 300 is kept to 60 */
	e.in_flight = true;
	lookup_done(&e, ARES_SUCCESS, 0, answer(node("10.0.0.11", 300, NULL), -1));
	assert_false(e.in_flight);
	assert_string_equal(addrs(&e.addrs), "10.0.0.11/32");
	assert_int_equal(e.ttl_s, 60);
	assert_int_equal(e.next_ms, fake_now + 60000);
	assert_true(e.resolved_at > 0);
	assert_true(dns_take_changed(&d));
	assert_false(dns_take_changed(&d));
	/* the same again: no change; a TTL of 0 is kept to 2 */
	fake_now += 60000;
	lookup_done(&e, ARES_SUCCESS, 0, answer(node("10.0.0.11", 0, NULL), -1));
	assert_int_equal(e.ttl_s, 2);
	assert_int_equal(e.next_ms, fake_now + 2000);
	assert_false(dns_take_changed(&d));
	/* failures: the addresses stay, one warning, the wait doubles */
	lookup_done(&e, ARES_ETIMEOUT, 2, NULL);
	assert_string_equal(addrs(&e.addrs), "10.0.0.11/32");
	assert_int_equal(e.failures, 1);
	assert_string_equal(e.error, ares_strerror(ARES_ETIMEOUT));
	assert_true(e.error_at > 0);
	assert_int_equal(e.next_ms, fake_now + 2000);
	lookup_done(&e, ARES_ESERVFAIL, 0, NULL);
	assert_int_equal(e.failures, 2);
	assert_int_equal(e.next_ms, fake_now + 4000);
	/* an answer without an address is a failure too */
	lookup_done(&e, ARES_SUCCESS, 0, answer(node("unix", 5, NULL), -1));
	assert_int_equal(e.failures, 3);
	assert_string_equal(e.error, ares_strerror(ARES_ENODATA));
	assert_false(dns_take_changed(&d));
	assert_int_equal(warnings, 1);
	assert_int_equal(metrics_get(VM_DNS_LOOKUPS, "failed"), 3);
	assert_int_equal(metrics_get(VM_DNS_LOOKUPS, "ok"), 2);
	/* it moves: the new addresses replace the old, the error is gone */
	lookup_done(&e, ARES_SUCCESS, 0,
		    answer(node("10.0.0.12", 5, node("fd00::12", 7, NULL)), -1));
	assert_string_equal(addrs(&e.addrs), "10.0.0.12/32 fd00::12/128");
	assert_int_equal(e.ttl_s, 5);
	assert_int_equal(e.failures, 0);
	assert_string_equal(e.error, "");
	assert_true(dns_take_changed(&d));
	/* a cancelled lookup (the channel replaced) is due again at once, nothing else */
	lookup_done(&e, ARES_EDESTRUCTION, 0, NULL);
	assert_int_equal(e.next_ms, fake_now);
	assert_int_equal(e.failures, 0);
	pfx_list_free(&e.addrs);
	log_set_sink(NULL, NULL);
	metrics_reset();
}

static struct cfg *conf(const char *names, const char *servers)
{
	char text[2048], err[CFG_ERRLEN];
	struct cfg *c;

	snprintf(text, sizeof(text),
		 "{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.0.0.0/24\"],"
		 "\"tunnel\":{\"pool\":\"100.64.0.0/16\"},\"clients\":{\"a\":{\"iroutes\":["
		 "\"192.168.1.0/24\"],\"to_local\":[%s]}},\"default_client\":{\"from_local\":"
		 "[{\"to\":\"Z.example.\"}]},\"dns\":{\"servers\":[%s],\"min_ttl_s\":1}}",
		 names, servers);
	if (cfg_load_buf("t.conf", text, strlen(text), &c, err, sizeof(err)))
		fail_msg("%s", err);
	return c;
}

static struct dns_entry *entry(struct dns *d, const char *name)
{
	for (size_t i = 0; i < d->t.n; i++)
		if (strcmp(d->t.v[i]->name, name) == 0)
			return d->t.v[i];
	return NULL;
}

/* The names of the configuration, each once, sorted; a reload keeps the
 * entries (and addresses) of the names that stay. */
static void test_configure(void **state)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	struct cfg *c1 = conf("{\"to\":\"a.example\"},{\"to\":\"b.example\"},{\"to\":\"A.example\","
			      "\"proto\":\"tcp\",\"ports\":[80]},{\"to\":\"10.0.0.5\"}",
			      "\"127.0.0.1:9\""),
		   *c2 = conf("{\"to\":\"c.example\"},{\"to\":\"a.example\"}", "\"127.0.0.1:9\""),
		   *c3 = conf("{\"to\":\"c.example\"},{\"to\":\"a.example\"}", "\"127.0.0.1:19\"");
	const char **names;
	struct dns_entry *a;
	struct pfx p = pfx_of("10.0.0.7");
	bool b_on;
	char err[256];
	struct dns *d;
	size_t n;
	json_t *j;

	assert_true(epfd >= 0);
	log_set_sink(count, NULL);
	assert_int_equal(cfg_host_names(c1, &names, &n), 0);
	assert_int_equal(n, 3); /* the default entry's too, in lower case */
	assert_string_equal(names[0], "a.example");
	assert_string_equal(names[1], "b.example");
	assert_string_equal(names[2], "z.example");
	free(names);
	d = dns_open(epfd, c1, err, sizeof(err));
	if (!d)
		fail_msg("%s", err);
	assert_int_equal(d->t.n, 3);
	assert_true(d->have_ch);
	assert_string_equal(d->servers, "127.0.0.1:9");
	a = entry(d, "a.example");
	assert_non_null(a);
	/* looked up at once (on its way, or already failed where loopback is down) */
	assert_true(a->in_flight || a->failures);
	assert_null(dns_table_addrs(dns_table(d), "nothing.example"));
	assert_int_equal(pfx_list_add(&a->addrs, &p, 8), 0);
	assert_ptr_equal(dns_table_addrs(dns_table(d), "a.example"), &a->addrs);
	/* a reload: a stays with its address, b goes (freed by its callback when its
	 * lookup is still on), c comes */
	b_on = entry(d, "b.example")->in_flight;
	assert_int_equal(dns_configure(d, c2, err, sizeof(err)), 0);
	assert_int_equal(d->t.n, 3);
	assert_ptr_equal(entry(d, "a.example"), a);
	assert_string_equal(addrs(&a->addrs), "10.0.0.7/32");
	assert_null(entry(d, "b.example"));
	assert_non_null(entry(d, "c.example"));
	assert_int_equal(d->inflight_dropped, b_on ? 1 : 0);
	j = dns_status_json(d);
	assert_int_equal(json_array_size(json_object_get(j, "names")), 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(j, "names"), 0), "name")),
			    "a.example");
	json_decref(j);
	/* other servers: a new channel; the lookups under way end and start again */
	assert_int_equal(dns_configure(d, c3, err, sizeof(err)), 0);
	assert_ptr_equal(entry(d, "a.example"), a);
	assert_int_equal(d->inflight_dropped, 0); /* b freed by its callback */
	assert_string_equal(d->servers, "127.0.0.1:19");
	assert_true(a->in_flight || a->failures);
	assert_string_equal(addrs(&a->addrs), "10.0.0.7/32");
	dns_close(d);
	cfg_free(c1);
	cfg_free(c2);
	cfg_free(c3);
	close(epfd);
	log_set_sink(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_addrs),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_lookup_done),
		cmocka_unit_test(test_configure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
