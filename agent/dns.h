/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The resolver of the host names in the forward filter's rules (a rule's
 * "to", vpcroute.conf(5)): c-ares inside the agent's loop, its sockets as
 * typed watchers (loop.h) and one timerfd for its timeouts and the refreshes.
 * Each name is looked up for A and AAAA and looked up again when the
 * smallest TTL of its answer (kept within dns.min_ttl_s..dns.max_ttl_s) runs
 * out. A failed lookup keeps the last addresses. The core reads the table
 * (dns_table_addrs) when it computes the sets; the loop asks
 * dns_take_changed after each pass and reconciles once when addresses moved.
 */
#ifndef VR_DNS_H
#define VR_DNS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cfg.h"
#include "dnsname.h"
#include "log.h"
#include "pfx.h"

#define DNS_ERR_MAX	160
#define DNS_ADDRS_MAX	64 /* addresses kept per name (the first, sorted) */
#define DNS_RETRY_MAX_S 30 /* a failing name is retried at least this often */

struct dns;

/* One name, as last resolved. */
struct dns_entry {
	char name[DNSNAME_MAX + 1];
	struct pfx_list addrs;	 /* the last known addresses, sorted; empty: never resolved */
	unsigned ttl_s;		 /* of the last answer, within the bounds; 0: none yet */
	uint64_t next_ms;	 /* loop_now_ms() of the next lookup */
	time_t next_at;		 /* the same, wall clock (status) */
	time_t resolved_at;	 /* the last successful lookup; 0: never */
	char error[DNS_ERR_MAX]; /* the last lookup's error; "": it succeeded */
	time_t error_at;
	unsigned failures; /* consecutive */
	bool in_flight;
	bool dropped; /* no longer configured: freed when its lookup ends */
	struct log_rl rl;
	struct dns *d;
};

/* The names, sorted (strcmp). */
struct dns_table {
	struct dns_entry **v;
	size_t n;
};

static inline int dns_entry_cmp_(const void *k, const void *e)
{
	return strcmp((const char *)k, (*(struct dns_entry *const *)e)->name);
}

/* The last known addresses of name (normalised as lib/dnsname.h makes it),
 * or NULL when it is not in the table. */
static inline const struct pfx_list *dns_table_addrs(const struct dns_table *t, const char *name)
{
	struct dns_entry **e;

	if (!t || !t->n)
		return NULL;
	e = bsearch(name, t->v, t->n, sizeof(*t->v), dns_entry_cmp_);
	return e ? &(*e)->addrs : NULL;
}

/* The resolver for c's names, its watchers in epfd; NULL with err filled. */
struct dns *dns_open(int epfd, const struct cfg *c, char *err, size_t len);
/* After a reload: names added are looked up now, names that stay keep their
 * addresses, names gone are forgotten; servers and timeouts as c says. */
int dns_configure(struct dns *d, const struct cfg *c, char *err, size_t len);
void dns_close(struct dns *d);
const struct dns_table *dns_table(const struct dns *d);
/* True once after a lookup changed some name's addresses. */
bool dns_take_changed(struct dns *d);
/* The "dns" object of the status (doc/status.schema.json). */
json_t *dns_status_json(const struct dns *d);

#endif
