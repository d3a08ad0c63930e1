// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the configuration loader, error paths included.
 * Property: a configuration that loads dumps (cfg_to_json: clients, access
 * rules, NAT, port forwards, the connection log, aws and plugin settings, all
 * of it) to a text that loads again
 * to the same configuration: load -> dump -> load gives an equal struct cfg
 * (secrets and the file name aside: the dump never prints secrets), and its
 * dump is the same; the rules' host names (cfg_host_names) are valid names in
 * normal form, sorted, each once. abort() on any violation.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool opt_eq(bool ha, const struct pfx *a, bool hb, const struct pfx *b)
{
	return ha == hb && (!ha || pfx_equal(a, b));
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool access_eq(const struct cfg_access *a, const struct cfg_access *b)
{
	if (a->kind != b->kind || a->nrules != b->nrules)
		return false;
	for (size_t i = 0; i < a->nrules; i++) {
		const struct cfg_rule *x = &a->rules[i], *y = &b->rules[i];

		if (!pfx_equal(&x->to, &y->to) || !str_eq(x->to_name, y->to_name) ||
		    x->proto != y->proto || x->nports != y->nports ||
		    x->masquerade != y->masquerade || x->log != y->log)
			return false;
		for (size_t j = 0; j < x->nports; j++)
			if (x->ports[j].lo != y->ports[j].lo || x->ports[j].hi != y->ports[j].hi)
				return false;
	}
	return true;
}

static bool client_eq(const struct cfg_client *a, const struct cfg_client *b)
{
	/* no "allow" means the iroutes: the dump writes them out */
	return str_eq(a->name, b->name) &&
	       pfx_list_equal(a->allow.n ? &a->allow : &a->iroutes,
			      b->allow.n ? &b->allow : &b->iroutes) &&
	       pfx_list_equal(&a->iroutes, &b->iroutes) &&
	       opt_eq(a->has_address, &a->address, b->has_address, &b->address) &&
	       opt_eq(a->has_address6, &a->address6, b->has_address6, &b->address6) &&
	       pfx_list_equal(&a->push_routes, &b->push_routes) &&
	       access_eq(&a->to_local, &b->to_local) && access_eq(&a->from_local, &b->from_local);
}

static bool clients_eq(const struct cfg *a, const struct cfg *b)
{
	if (a->nclients != b->nclients || !a->default_client != !b->default_client ||
	    (a->default_client && !client_eq(a->default_client, b->default_client)))
		return false;
	for (size_t i = 0; i < a->nclients; i++) {
		size_t j = 0;

		while (j < b->nclients && strcmp(a->clients[i].name, b->clients[j].name))
			j++;
		if (j == b->nclients || !client_eq(&a->clients[i], &b->clients[j]))
			return false;
	}
	return true;
}

static bool peers_eq(const struct cfg *a, const struct cfg *b)
{
	if (a->npeers != b->npeers)
		return false;
	for (size_t i = 0; i < a->npeers; i++) {
		const struct cfg_peer *o = a->peers[i].id ? cfg_peer_find_id(b, a->peers[i].id)
							  : cfg_peer_find(b, &a->peers[i].addr);

		if (!o || !client_eq(&a->peers[i].pol, &o->pol))
			return false;
	}
	return (!a->vici_socket && !b->vici_socket) ||
	       (a->vici_socket && b->vici_socket && strcmp(a->vici_socket, b->vici_socket) == 0);
}

/* port_forwards, OpenVPN's port and the connection log */
static bool forwards_eq(const struct cfg *a, const struct cfg *b)
{
	const struct cfg_connlog *x = &a->connlog, *y = &b->connlog;

	if (a->nforwards != b->nforwards || a->openvpn_proto != b->openvpn_proto ||
	    a->rules_log != b->rules_log || a->openvpn_port != b->openvpn_port ||
	    x->enabled != y->enabled ||
	    (x->enabled && (x->new_conns != y->new_conns || x->drops != y->drops ||
			    x->has_group != y->has_group || x->group != y->group ||
			    x->rate_per_s != y->rate_per_s || x->burst != y->burst)))
		return false;
	for (size_t i = 0; i < a->nforwards; i++) {
		const struct cfg_forward *f = &a->forwards[i], *g = &b->forwards[i];

		if (f->proto != g->proto || f->port != g->port || f->to_port != g->to_port ||
		    !pfx_equal(&f->to, &g->to) || strcmp(f->in_interface, g->in_interface) ||
		    f->masquerade != g->masquerade || f->log != g->log)
			return false;
	}
	return true;
}

static bool cfg_eq(const struct cfg *a, const struct cfg *b)
{
	const struct cfg_aws *x = &a->aws, *y = &b->aws;

	if (a->role != b->role || !str_eq(a->socket.path, b->socket.path) ||
	    a->socket.mode != b->socket.mode || !str_eq(a->socket.group, b->socket.group) ||
	    !str_eq(a->socket.openvpn_user, b->socket.openvpn_user) ||
	    !str_eq(a->socket.openvpn_group, b->socket.openvpn_group) ||
	    a->local_auto != b->local_auto || !pfx_list_equal(&a->local, &b->local))
		return false;
	if (a->role == CFG_ROLE_SERVER &&
	    (!opt_eq(a->has_pool, &a->pool, b->has_pool, &b->pool) ||
	     !opt_eq(a->has_pool6, &a->pool6, b->has_pool6, &b->pool6) || a->strict != b->strict ||
	     !clients_eq(a, b)))
		return false;
	if (a->role == CFG_ROLE_CLIENT &&
	    (!pfx_list_equal(&a->accept_routes, &b->accept_routes) ||
	     !pfx_list_equal(&a->tunnel_networks, &b->tunnel_networks) ||
	     !access_eq(&a->to_local, &b->to_local) || !access_eq(&a->from_local, &b->from_local)))
		return false;
	if (a->nnat != b->nnat || a->nat_exempt_tunnel != b->nat_exempt_tunnel || !peers_eq(a, b) ||
	    !forwards_eq(a, b))
		return false;
	for (size_t i = 0; i < a->nnat; i++)
		if (!pfx_list_equal(&a->nat[i].sources, &b->nat[i].sources) ||
		    strcmp(a->nat[i].out_interface, b->nat[i].out_interface) ||
		    !opt_eq(a->nat[i].has_snat_to, &a->nat[i].snat_to, b->nat[i].has_snat_to,
			    &b->nat[i].snat_to))
			return false;
	if (x->enabled != y->enabled || !str_eq(x->region, y->region) ||
	    !str_eq(x->endpoint, y->endpoint) || !str_eq(x->imds_endpoint, y->imds_endpoint) ||
	    !str_eq(x->access_key_id, y->access_key_id) ||
	    !x->secret_access_key != !y->secret_access_key ||
	    !x->session_token != !y->session_token ||
	    x->route_tables_auto != y->route_tables_auto || x->nroute_tables != y->nroute_tables ||
	    x->disable_source_dest_check != y->disable_source_dest_check ||
	    x->takeover != y->takeover || x->withdraw_grace_s != y->withdraw_grace_s ||
	    x->drift_check_s != y->drift_check_s || x->max_calls_per_s != y->max_calls_per_s ||
	    x->max_calls_burst != y->max_calls_burst || x->route_quota != y->route_quota ||
	    !pfx_list_equal(&x->summaries, &y->summaries))
		return false;
	for (size_t i = 0; i < x->nroute_tables; i++)
		if (strcmp(x->route_tables[i], y->route_tables[i]))
			return false;
	if (a->dns.min_ttl_s != b->dns.min_ttl_s || a->dns.max_ttl_s != b->dns.max_ttl_s ||
	    a->dns.timeout_ms != b->dns.timeout_ms || a->dns.nservers != b->dns.nservers)
		return false;
	for (size_t i = 0; i < a->dns.nservers; i++)
		if (strcmp(a->dns.servers[i], b->dns.servers[i]))
			return false;
	return a->plugin.fail_mode == b->plugin.fail_mode &&
	       a->plugin.admission == b->plugin.admission &&
	       a->plugin.defer_timeout_ms == b->plugin.defer_timeout_ms &&
	       a->plugin.reconnect_max_ms == b->plugin.reconnect_max_ms &&
	       a->plugin.queue_max == b->plugin.queue_max;
}

static void check_roundtrip(const struct cfg *c)
{
	char err[CFG_ERRLEN];
	struct cfg *c2 = NULL;
	json_t *j = cfg_to_json(c), *j2;
	char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;

	if (!text)
		abort(); /* out of memory, or a dump jansson cannot print */
	if (cfg_load_buf("dump.conf", text, strlen(text), &c2, err, sizeof(err)) != 0) {
		fprintf(stderr, "the dump does not load: %s\n%s\n", err, text);
		abort();
	}
	j2 = cfg_to_json(c2);
	if (!cfg_eq(c, c2) || !j2 || !json_equal(j, j2)) {
		char *t2 = j2 ? json_dumps(j2, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;

		fprintf(stderr, "load -> dump -> load changed it:\n%s\nbecame\n%s\n", text,
			t2 ? t2 : "(null)");
		abort();
	}
	json_decref(j2);
	cfg_free(c2);
	free(text);
	json_decref(j);
}

/* The rules' host names: each a valid name in normal form, sorted, once. */
static void check_host_names(const struct cfg *c)
{
	char norm[DNSNAME_MAX + 1], why[256];
	const char **v;
	size_t n;

	if (cfg_host_names(c, &v, &n) < 0)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!dnsname_valid(v[i], norm, why, sizeof(why)) || strcmp(norm, v[i]) ||
		    (i && strcmp(v[i - 1], v[i]) >= 0))
			abort();
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CFG_ERRLEN];
	struct cfg *c = NULL;

	if (cfg_load_buf("fuzz.conf", (const char *)data, size, &c, err, sizeof(err)) == 0) {
		check_roundtrip(c);
		check_host_names(c);
		cfg_free(c);
	} else if (!memchr(err, '\0', sizeof(err))) {
		abort(); /* error text must be terminated */
	}
	return 0;
}
