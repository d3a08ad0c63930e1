// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * IPsec peers in the agent (agent/ipsec.c over agent/state.c and
 * lib/policy.c): the tunnels of an XFRM table become admitted or refused
 * networks, by the same rule as OpenVPN clients, with the kernel stubbed.
 */
#include "config.h"

#include <stdlib.h>

#include <linux/xfrm.h>

#include "unit.h"

#include "agent_stubs.h"
#include "log.h"
#include "policy.h"
#include "vici.h"
#include "xfrm.h"

/* --- the XFRM socket, replaced by a table the test fills --- */

static struct xfrm_tab tab;
static struct xfrm_links links; /* the XFRM interfaces and VTIs */
static bool links_changed;
static char dummy;
static unsigned broadcasts;

struct xfrm *xfrm_open(char *err, size_t errlen)
{
	return (struct xfrm *)&dummy;
}

void xfrm_close(struct xfrm *x)
{
}

int xfrm_current(const struct xfrm *x, struct xfrm_tunnel **out, size_t *n)
{
	int r = xfrm_tunnels(&tab, out, n);

	if (r == 0)
		xfrm_link_name(&links, *out, *n);
	return r;
}

bool xfrm_links_sync(struct xfrm *x)
{
	bool r = links_changed;

	links_changed = false;
	return r;
}

/* --- strongSwan's VICI socket, replaced by a list of IKE_SAs the test fills --- */

static struct vici_ike ikes[64];
static size_t nikes;

struct vici *vici_open(int epfd, const char *path, void (*changed)(void *ctx), void *ctx)
{
	return (struct vici *)&dummy;
}

void vici_close(struct vici *v)
{
}

const char *vici_path(const struct vici *v)
{
	return "/run/test.vici";
}

const struct vici_ike *vici_ikes(const struct vici *v, size_t *n)
{
	*n = v ? nikes : 0;
	return ikes;
}

json_t *vici_status_json(const struct vici *v)
{
	return json_object();
}

static void ike(const char *host, const char *id)
{
	assert_true(nikes < 64);
	ikes[nikes] = (struct vici_ike){ .has_host = true, .remote_host = pfx_of(host) };
	snprintf(ikes[nikes].name, sizeof(ikes[nikes].name), "conn%zu", nikes);
	snprintf(ikes[nikes].state, sizeof(ikes[nikes].state), "ESTABLISHED");
	snprintf(ikes[nikes++].remote_id, sizeof(ikes[0].remote_id), "%s", id);
}

void sock_broadcast_claims(struct sock *s)
{
	broadcasts++;
}

static void quiet(int prio, const char *msg, void *ctx)
{
}

static const char conf[] =
	"{\"version\":1,\"role\":\"server\",\"local_networks\":[\"10.0.0.0/16\"],"
	"\"tunnel\":{\"pool\":\"10.9.0.0/24\"},\"strict\":true,"
	"\"clients\":{\"pi-home\":{\"allow\":[\"192.168.1.0/24\"]}},"
	"\"ipsec\":{\"peers\":{"
	"\"203.0.113.7\":{\"allow\":[\"192.168.99.0/24\",\"192.168.98.0/24\"]},"
	"\"203.0.113.8\":{\"allow\":[\"192.168.1.0/24\"],\"to_local\":false}}}}";

static struct agent *agent_with(const char *text)
{
	struct agent *a = calloc(1, sizeof(*a));
	char err[CFG_ERRLEN];

	log_set_sink(quiet, NULL);
	a->nft_ready = true;
	a->cloud = (struct cloud *)&dummy; /* the stubs' cloud_want_set records */
	if (cfg_load_buf("t.conf", text, strlen(text), &a->cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(ipsec_open(a), 0);
	ipsec_vici_configure(a);
	nikes = 0;
	return a;
}

static struct agent *agent_new(void)
{
	return agent_with(conf);
}

static void agent_free(struct agent *a)
{
	ipsec_close(a);
	state_free(a);
	cfg_free(a->cfg);
	free(a);
	xfrm_tab_free(&tab);
	xfrm_links_free(&links);
	stub_kernel_clear();
}

/* An outbound tunnel policy of index to net through peer, from src, of
 * reqid; route-based with if_id, or mark (a VTI's). */
static void policy(uint32_t index, const char *peer, const char *src, const char *net,
		   uint32_t reqid, uint32_t if_id, uint32_t mark)
{
	struct xfrm_ev ev = { .kind = XFRM_EV_POL_ADD };

	ev.pol.index = index;
	ev.pol.dir = XFRM_POLICY_OUT;
	ev.pol.allow = ev.pol.main = ev.pol.tunnel = true;
	ev.pol.src = pfx_of(src);
	ev.pol.dst = pfx_of(net);
	ev.pol.peer = pfx_of(peer);
	ev.pol.local = pfx_of("198.51.100.1");
	ev.pol.proto = IPPROTO_ESP;
	ev.pol.reqid = reqid;
	ev.pol.if_id = if_id;
	ev.pol.mark_v = mark;
	ev.pol.mark_m = mark ? 0xffffffff : 0;
	assert_int_equal(xfrm_tab_apply(&tab, &ev), 0);
}

static void tunnel(uint32_t index, const char *peer, const char *net)
{
	policy(index, peer, "10.0.0.0/16", net, 1, 0, 0);
}

/* An SA to peer of reqid and if_id, added or deleted; with NAT traversal
 * (port) ESP in UDP to the peer's port. */
static void sa_port(bool add, const char *peer, uint32_t spi, uint32_t reqid, uint32_t if_id,
		    uint16_t port)
{
	struct xfrm_ev ev = { .kind = add ? XFRM_EV_SA_ADD : XFRM_EV_SA_DEL };

	ev.sa.daddr = pfx_of(peer);
	ev.sa.saddr = pfx_of("198.51.100.1");
	ev.sa.spi = spi;
	ev.sa.proto = IPPROTO_ESP;
	ev.sa.mode = XFRM_MODE_TUNNEL;
	ev.sa.reqid = reqid;
	ev.sa.if_id = if_id;
	ev.sa.encap_sport = port ? 4500 : 0;
	ev.sa.encap_dport = port;
	assert_int_equal(xfrm_tab_apply(&tab, &ev), 0);
}

static void sa_of(bool add, const char *peer, uint32_t spi, uint32_t reqid, uint32_t if_id)
{
	sa_port(add, peer, spi, reqid, if_id, 0);
}

static void sa_nat(const char *peer, uint32_t spi, uint32_t reqid, uint16_t port)
{
	sa_port(true, peer, spi, reqid, 0, port);
}

static void sa(bool add, const char *peer, uint32_t spi)
{
	sa_of(add, peer, spi, 1, 0);
}

/* The remote networks of the last nftables model, "A B ". */
static const char *remote(void)
{
	static char all[1024];
	char s[PFX_STRLEN];

	all[0] = 0;
	for (size_t i = 0; i < stub_nremote && i < 64; i++)
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s ",
			 pfx_format(&stub_remote[i], s, sizeof(s)));
	return all;
}

static const char *refusal(const struct agent *a, const char *net)
{
	for (size_t i = 0; i < a->nrefused; i++)
		if (pfx_equal(&a->refused[i].net, P(net)))
			return a->refused[i].why;
	return NULL;
}

static void test_admitted_with_sa(void **state)
{
	struct agent *a = agent_new();
	struct proto_claim *c;
	size_t n;

	(void)state;
	tunnel(0x101, "203.0.113.7", "192.168.99.0/24");
	/* a policy without an SA announces nothing */
	assert_false(ipsec_update(a));
	assert_int_equal(a->ntunnels, 1);
	assert_false(a->tunnels[0].sa);
	assert_int_equal(a->nrefused, 0);
	sa(true, "203.0.113.7", 0x1000);
	broadcasts = 0;
	assert_true(ipsec_update(a));
	assert_int_equal(broadcasts, 0); /* no control socket here */
	/* the pool, then the peer's network: VPC routes and NAT exemption */
	assert_string_equal(remote(), "10.9.0.0/24 192.168.99.0/24 ");
	assert_int_equal(stub_nacc, 1); /* to_local by default: its network -> 10.0.0.0/16 */
	/* and the VPC routes wanted: the same networks (the cloud's planner takes
	 * it from there, its grace period included) */
	assert_int_equal(stub_ncloud, 2);
	assert_true(pfx_equal(&stub_cloud[1], P("192.168.99.0/24")));
	n = state_claims(a, &c);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].cn, "203.0.113.7");
	assert_string_equal(c[0].instance, POLICY_IPSEC_INSTANCE);
	free(c);
	/* nothing changed: nothing done */
	assert_false(ipsec_update(a));
	/* a rekey (new SA, then the old one goes) changes nothing */
	sa(true, "203.0.113.7", 0x1001);
	assert_false(ipsec_update(a));
	sa(false, "203.0.113.7", 0x1000);
	assert_false(ipsec_update(a));
	/* the last SA goes: the peer is gone, its network no longer remote */
	sa(false, "203.0.113.7", 0x1001);
	assert_true(ipsec_update(a));
	assert_string_equal(remote(), "10.9.0.0/24 ");
	assert_int_equal(stub_ncloud, 1);
	n = state_claims(a, &c);
	assert_int_equal(n, 0);
	free(c);
	agent_free(a);
}

/* The status names each ipsec.peers address with what the security groups
 * let in from it: unknown (null) until the cloud has read them. */
static void test_status_peers(void **state)
{
	struct agent *a = agent_new();
	json_t *st, *p;

	(void)state;
	st = ipsec_status_json(a);
	assert_int_equal(json_array_size(json_object_get(st, "peers")), 2);
	p = json_array_get(json_object_get(st, "peers"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "peer")), "203.0.113.7");
	assert_true(json_is_null(json_object_get(json_object_get(p, "security_groups"), "udp500")));
	assert_non_null(json_object_get(json_object_get(p, "security_groups"), "esp"));
	json_decref(st);
	agent_free(a);
}

static void test_refused(void **state)
{
	struct agent *a = agent_new();
	const char *why;

	(void)state;
	tunnel(0x101, "203.0.113.7", "192.168.99.0/24");
	tunnel(0x109, "203.0.113.7", "172.16.0.0/12");	   /* not in its allow */
	tunnel(0x111, "203.0.113.7", "192.168.99.128/25"); /* inside one it has */
	tunnel(0x119, "203.0.113.99", "192.168.97.0/24");  /* an unknown peer */
	tunnel(0x121, "203.0.113.7", "192.168.98.0/24");   /* allowed, no SA yet */
	sa(true, "203.0.113.7", 0x1000);
	sa(true, "203.0.113.99", 0x1001);
	assert_true(ipsec_update(a));
	assert_string_equal(remote(), "10.9.0.0/24 192.168.98.0/24 192.168.99.0/24 ");
	assert_int_equal(a->nrefused, 3);
	why = refusal(a, "172.16.0.0/12");
	assert_non_null(why);
	assert_string_equal(why, "IPsec peer 203.0.113.7: 172.16.0.0/12 is not inside its allowed "
				 "networks (192.168.99.0/24, 192.168.98.0/24) (rule: "
				 "ipsec.peers.203.0.113.7.allow)");
	why = refusal(a, "192.168.99.128/25");
	assert_non_null(why);
	assert_non_null(strstr(why, "(rule: one route per network)"));
	why = refusal(a, "192.168.97.0/24");
	assert_non_null(why);
	assert_string_equal(why, "IPsec peer 203.0.113.99: not in ipsec.peers (rule: ipsec.peers)");
	agent_free(a);
}

static void test_one_owner_with_openvpn(void **state)
{
	struct agent *a = agent_new();
	struct ainst *in = state_inst(a, "server", PROTO_ROLE_SERVER);
	struct proto_client c = { 0 };
	char why[POLICY_REASON_MAX];
	const char *r;

	(void)state;
	/* an OpenVPN client holds 192.168.1.0/24: the peer that may announce it too gets nothing */
	snprintf(c.cn, sizeof(c.cn), "pi-home");
	assert_int_equal(pfx_list_add(&c.nets, P("192.168.1.0/24"), PROTO_MAX_NETS), 0);
	assert_int_equal(state_admit(a, in, &c, why, sizeof(why)), 0);
	assert_int_equal(state_client_set(in, &c), 0);
	tunnel(0x101, "203.0.113.8", "192.168.1.0/24");
	sa(true, "203.0.113.8", 0x1000);
	ipsec_update(a);
	r = refusal(a, "192.168.1.0/24");
	assert_non_null(r);
	assert_string_equal(r, "IPsec peer 203.0.113.8: 192.168.1.0/24 overlaps 192.168.1.0/24, "
			       "already announced by client pi-home of server (rule: one owner "
			       "per network)");
	/* the client leaves: the peer's tunnel is admitted at the next look */
	assert_true(state_client_del(in, "pi-home"));
	assert_true(ipsec_update(a));
	assert_int_equal(a->nrefused, 0);
	assert_string_equal(remote(), "10.9.0.0/24 192.168.1.0/24 ");
	assert_int_equal(stub_nacc, 0); /* to_local false */
	/* and now the client is the one refused, naming the peer */
	assert_int_equal(state_admit(a, in, &c, why, sizeof(why)), -EPERM);
	assert_string_equal(why, "client pi-home: 192.168.1.0/24 overlaps 192.168.1.0/24, already "
				 "announced by IPsec peer 203.0.113.8 (rule: one owner per "
				 "network)");
	pfx_list_free(&c.nets);
	agent_free(a);
}

static void test_reload(void **state)
{
	struct agent *a = agent_new();
	struct cfg *c;
	char err[CFG_ERRLEN];
	static const char other[] =
		"{\"version\":1,\"role\":\"client\",\"local_networks\":[\"10.0.0.0/16\"],"
		"\"ipsec\":{\"peers\":{\"203.0.113.7\":{\"allow\":[\"192.168.98.0/24\"]}}}}";

	(void)state;
	tunnel(0x101, "203.0.113.7", "192.168.99.0/24");
	sa(true, "203.0.113.7", 0x1000);
	assert_true(ipsec_update(a));
	assert_string_equal(remote(), "10.9.0.0/24 192.168.99.0/24 ");
	/* a configuration that no longer allows it: withdrawn and reported */
	assert_int_equal(cfg_load_buf("t2.conf", other, strlen(other), &c, err, sizeof(err)), 0);
	cfg_free(a->cfg);
	a->cfg = c;
	assert_true(ipsec_update(a));
	assert_string_equal(remote(), "");
	assert_int_equal(a->nrefused, 1);
	assert_non_null(strstr(a->refused[0].why, "(rule: ipsec.peers.203.0.113.7.allow)"));
	agent_free(a);
}

static void test_instance_name_reserved(void **state)
{
	struct agent *a = agent_new();
	char why[POLICY_REASON_MAX];

	(void)state;
	assert_false(policy_check_role(a->cfg, POLICY_IPSEC_INSTANCE, PROTO_ROLE_SERVER, why,
				       sizeof(why)));
	assert_non_null(strstr(why, "(rule: instance)"));
	assert_true(policy_check_role(a->cfg, "server", PROTO_ROLE_SERVER, why, sizeof(why)));
	agent_free(a);
}

/* ipsec.peers keyed by IKE identity: VICI names the identity behind a
 * tunnel's address; the identity's entry before the address's. */
static const char conf_ids[] =
	"{\"version\":1,\"role\":\"client\",\"local_networks\":[\"10.0.0.0/16\"],"
	"\"ipsec\":{\"vici_socket\":\"/run/test.vici\",\"peers\":{"
	"\"@site1\":{\"allow\":[\"192.168.50.0/24\"],\"to_local\":false},"
	"\"203.0.113.7\":{\"allow\":[\"192.168.99.0/24\"]}}}}";

static void test_peer_by_id(void **state)
{
	struct agent *a = agent_with(conf_ids);
	json_t *st, *t;
	const char *why;

	(void)state;
	tunnel(0x101, "203.0.113.20", "192.168.50.0/24");
	sa(true, "203.0.113.20", 0x1000);
	/* no IKE_SA listed yet: the identity is unknown, nothing matches */
	ipsec_update(a);
	assert_string_equal(remote(), "");
	why = refusal(a, "192.168.50.0/24");
	assert_non_null(why);
	assert_string_equal(why, "IPsec peer 203.0.113.20: its address is not in ipsec.peers, "
				 "and its IKE identity is not known (strongSwan's VICI socket "
				 "names no IKE_SA from it), so no entry keyed by identity "
				 "matches (rule: ipsec.peers)");
	/* VICI lists it as @site1: its entry applies, forward filter included */
	ike("203.0.113.20", "@site1");
	assert_true(ipsec_update(a));
	assert_string_equal(remote(), "192.168.50.0/24 ");
	assert_int_equal(stub_nacc, 0); /* @site1's to_local: false */
	assert_int_equal(a->nrefused, 0);
	st = ipsec_status_json(a);
	t = json_array_get(json_object_get(st, "tunnels"), 0);
	assert_string_equal(json_string_value(json_object_get(t, "policy")), "@site1");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(t, "ike_sa"), "remote_id")),
		"@site1");
	assert_string_equal(json_string_value(json_object_get(t, "state")), "up");
	json_decref(st);
	/* the same address, another identity: withdrawn, refused */
	snprintf(ikes[0].remote_id, sizeof(ikes[0].remote_id), "@site2");
	assert_true(ipsec_update(a));
	assert_string_equal(remote(), "");
	why = refusal(a, "192.168.50.0/24");
	assert_non_null(why);
	assert_string_equal(why, "IPsec peer 203.0.113.20: neither its address nor its IKE "
				 "identity \"@site2\" is in ipsec.peers (rule: ipsec.peers)");
	/* two IKE_SAs from the address with different identities: neither */
	snprintf(ikes[0].remote_id, sizeof(ikes[0].remote_id), "@site1");
	ike("203.0.113.20", "@site3");
	ipsec_update(a);
	assert_string_equal(remote(), "");
	st = ipsec_status_json(a);
	t = json_array_get(json_object_get(st, "tunnels"), 0);
	assert_true(json_is_true(json_object_get(json_object_get(t, "ike_sa"), "ambiguous")));
	json_decref(st);
	/* an address-keyed peer whose identity has no entry: its address's */
	nikes = 1;
	tunnel(0x109, "203.0.113.7", "192.168.99.0/24");
	sa(true, "203.0.113.7", 0x1001);
	ike("203.0.113.7", "@elsewhere");
	assert_true(ipsec_update(a));
	assert_string_equal(remote(), "192.168.99.0/24 192.168.50.0/24 ");
	agent_free(a);
}

/* Two sites behind one NAT address, each with its identity: the NAT's
 * ports (XFRMA_ENCAP's dport, VICI's remote-port) tell them apart, each is
 * a peer of its own named with its port, under its own entry. Without the
 * IKE side's ports it stays ambiguous: neither is admitted. */
static const char conf_nat[] =
	"{\"version\":1,\"role\":\"client\",\"local_networks\":[\"10.0.0.0/16\"],"
	"\"ipsec\":{\"vici_socket\":\"/run/test.vici\",\"peers\":{"
	"\"@site1\":{\"allow\":[\"192.168.50.0/24\"],\"to_local\":false},"
	"\"@site2\":{\"allow\":[\"192.168.60.0/24\"]}}}}";

static const char *tunnel_str(json_t *st, size_t i, const char *key)
{
	json_t *t = json_array_get(json_object_get(st, "tunnels"), i);

	return json_string_value(json_object_get(t, key));
}

static void test_two_sites_behind_one_nat(void **state)
{
	struct agent *a = agent_with(conf_nat);
	struct proto_claim *c;
	json_t *st, *t;
	size_t n;

	(void)state;
	policy(0x101, "203.0.113.20", "10.0.0.0/16", "192.168.50.0/24", 1, 0, 0);
	policy(0x109, "203.0.113.20", "10.0.0.0/16", "192.168.60.0/24", 2, 0, 0);
	sa_nat("203.0.113.20", 0x1000, 1, 4500);
	sa_nat("203.0.113.20", 0x1001, 2, 31337);
	/* VICI without ports: both IKE_SAs could be either tunnel's */
	ike("203.0.113.20", "@site1");
	ike("203.0.113.20", "@site2");
	ipsec_update(a);
	assert_int_equal(state_claims(a, &c), 0);
	free(c);
	assert_int_equal(a->nrefused, 2);
	st = ipsec_status_json(a);
	t = json_array_get(json_object_get(st, "tunnels"), 0);
	assert_true(json_is_true(json_object_get(json_object_get(t, "ike_sa"), "ambiguous")));
	assert_int_equal(json_integer_value(json_object_get(t, "port")), 4500);
	json_decref(st);
	/* with them: each tunnel its own identity, its own entry */
	ikes[0].remote_port = 4500;
	ikes[1].remote_port = 31337;
	assert_true(ipsec_update(a));
	assert_int_equal(a->nrefused, 0);
	assert_string_equal(remote(), "192.168.50.0/24 192.168.60.0/24 ");
	assert_int_equal(stub_nacc, 1); /* only @site2's to_local */
	n = state_claims(a, &c);
	assert_int_equal(n, 2);
	assert_true((strcmp(c[0].cn, "203.0.113.20:4500") == 0 &&
		     strcmp(c[1].cn, "203.0.113.20:31337") == 0) ||
		    (strcmp(c[1].cn, "203.0.113.20:4500") == 0 &&
		     strcmp(c[0].cn, "203.0.113.20:31337") == 0));
	free(c);
	st = ipsec_status_json(a);
	assert_string_equal(tunnel_str(st, 0, "network"), "192.168.50.0/24");
	assert_string_equal(tunnel_str(st, 0, "policy"), "@site1");
	assert_string_equal(tunnel_str(st, 0, "name"), "203.0.113.20:4500");
	assert_string_equal(tunnel_str(st, 0, "state"), "up");
	assert_string_equal(tunnel_str(st, 1, "policy"), "@site2");
	assert_string_equal(tunnel_str(st, 1, "name"), "203.0.113.20:31337");
	assert_string_equal(tunnel_str(st, 1, "state"), "up");
	t = json_array_get(json_object_get(st, "tunnels"), 1);
	assert_false(json_is_true(json_object_get(json_object_get(t, "ike_sa"), "ambiguous")));
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(t, "ike_sa"), "remote_id")),
		"@site2");
	json_decref(st);
	/* nothing changed: nothing done */
	assert_false(ipsec_update(a));
	/* the second site's SA goes: only the first stays */
	sa_of(false, "203.0.113.20", 0x1001, 2, 0);
	assert_true(ipsec_update(a));
	assert_string_equal(remote(), "192.168.50.0/24 ");
	n = state_claims(a, &c);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].cn, "203.0.113.20"); /* one peer left: its address */
	free(c);
	agent_free(a);
}

static void test_peer_by_id_without_vici(void **state)
{
	char text[sizeof(conf_ids)];
	struct proto_claim *c;
	struct agent *a;
	char *p;

	(void)state;
	snprintf(text, sizeof(text), "%s", conf_ids);
	p = strstr(text, "\"vici_socket\":\"/run/test.vici\",");
	memmove(p, p + strlen("\"vici_socket\":\"/run/test.vici\","),
		strlen(p + strlen("\"vici_socket\":\"/run/test.vici\",")) + 1);
	a = agent_with(text);
	assert_null(a->vici);
	ike("203.0.113.20", "@site1"); /* nobody asks */
	tunnel(0x101, "203.0.113.20", "192.168.50.0/24");
	sa(true, "203.0.113.20", 0x1000);
	assert_false(ipsec_update(a));
	assert_int_equal(state_claims(a, &c), 0);
	free(c);
	assert_non_null(refusal(a, "192.168.50.0/24"));
	assert_non_null(strstr(refusal(a, "192.168.50.0/24"), "ipsec.vici_socket is not set"));
	agent_free(a);
}

/*
 * Many peers keyed by identity, VICI naming one for every other address
 * and listing its IKE_SAs in another order than the tunnels': each named
 * peer gets its own identity (the ones without are left out of the index,
 * the others moved down), the others are refused; a changed identity is
 * seen in the next refresh.
 */
static void test_peer_ids_many(void **state)
{
	enum { N = 40 };
	char text[8192], host[32], net[32], id[16];
	struct agent *a;
	json_t *st;
	size_t len;

	(void)state;
	len = (size_t)snprintf(text, sizeof(text),
			       "{\"version\":1,\"role\":\"client\",\"local_networks\":[\"10.0.0."
			       "0/16\"],\"ipsec\":{\"vici_socket\":\"/run/test.vici\",\"peers\":{");
	for (int i = 1; i <= N; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"%s\"@s%d\":{\"allow\":[\"192.168.%d.0/24\"]}",
					i > 1 ? "," : "", i, i);
	snprintf(text + len, sizeof(text) - len, "}}}");
	a = agent_with(text);
	for (int i = 1; i <= N; i++) {
		snprintf(host, sizeof(host), "203.0.113.%d", i);
		snprintf(net, sizeof(net), "192.168.%d.0/24", i);
		tunnel(0x100 + 8 * (uint32_t)i, host, net);
		sa(true, host, 0x1000 + (uint32_t)i);
	}
	for (int i = N - 1; i >= 1; i -= 2) { /* the odd ones, last first */
		snprintf(host, sizeof(host), "203.0.113.%d", i);
		snprintf(id, sizeof(id), "@s%d", i);
		ike(host, id);
	}
	assert_true(ipsec_update(a));
	assert_int_equal(a->npeer_ids, N / 2);
	assert_int_equal(a->nrefused, N / 2);
	st = ipsec_status_json(a);
	for (int i = 1; i <= N; i++) {
		json_t *t = json_array_get(json_object_get(st, "tunnels"), (size_t)i - 1);
		const char *pol = json_string_value(json_object_get(t, "policy"));

		snprintf(host, sizeof(host), "203.0.113.%d", i);
		snprintf(id, sizeof(id), "@s%d", i);
		assert_string_equal(json_string_value(json_object_get(t, "name")), host);
		if (i % 2) {
			assert_string_equal(agent_peer_id(a, host), id);
			assert_string_equal(pol, id);
			assert_string_equal(json_string_value(json_object_get(t, "state")), "up");
		} else {
			assert_null(agent_peer_id(a, host));
			assert_null(pol);
			assert_string_equal(json_string_value(json_object_get(t, "state")),
					    "refused");
		}
	}
	json_decref(st);
	assert_false(ipsec_update(a)); /* the same identities: nothing changed */
	/* 203.0.113.1 now says it is @s2: its own entry no longer applies */
	snprintf(ikes[nikes - 1].remote_id, sizeof(ikes[0].remote_id), "@s2");
	assert_true(ipsec_update(a));
	assert_string_equal(agent_peer_id(a, "203.0.113.1"), "@s2");
	assert_non_null(refusal(a, "192.168.1.0/24"));
	assert_string_equal(agent_peer_id(a, "203.0.113.39"), "@s39");
	agent_free(a);
}

/* An entry keyed by IKE identity is checked at the outer addresses the
 * agent sees for it: none known yet (peer null), then the address of an
 * IKE_SA VICI lists with it, then that of its tunnel as well. */
static void test_status_peers_by_id(void **state)
{
	struct agent *a = agent_with(conf_ids);
	json_t *st, *p, *g;

	(void)state;
	stub_open_from = pfx_of("203.0.113.21");
	st = ipsec_status_json(a);
	assert_int_equal(json_array_size(json_object_get(st, "peers")), 2);
	p = json_array_get(json_object_get(st, "peers"), 0);
	assert_true(json_is_null(json_object_get(p, "peer")));
	assert_string_equal(json_string_value(json_object_get(p, "id")), "@site1");
	assert_true(json_is_null(json_object_get(json_object_get(p, "security_groups"), "udp500")));
	p = json_array_get(json_object_get(st, "peers"), 1);
	assert_string_equal(json_string_value(json_object_get(p, "peer")), "203.0.113.7");
	assert_true(json_is_null(json_object_get(p, "id")));
	assert_true(
		json_is_false(json_object_get(json_object_get(p, "security_groups"), "udp500")));
	json_decref(st);
	/* an IKE_SA (no tunnel yet) from 203.0.113.21 names it, and another
	 * identity's from 203.0.113.30 does not count */
	ike("203.0.113.21", "site1"); /* strongSwan prints FQDNs without "@" */
	ike("203.0.113.30", "@site2");
	st = ipsec_status_json(a);
	assert_int_equal(json_array_size(json_object_get(st, "peers")), 2);
	p = json_array_get(json_object_get(st, "peers"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "peer")), "203.0.113.21");
	assert_string_equal(json_string_value(json_object_get(p, "id")), "@site1");
	g = json_object_get(p, "security_groups");
	assert_true(json_is_true(json_object_get(g, "udp500")));
	assert_true(json_is_true(json_object_get(g, "esp")));
	json_decref(st);
	/* its tunnel comes from 203.0.113.20, also with that identity: both */
	tunnel(0x101, "203.0.113.20", "192.168.50.0/24");
	sa(true, "203.0.113.20", 0x1000);
	ike("203.0.113.20", "@site1");
	assert_true(ipsec_update(a));
	st = ipsec_status_json(a);
	assert_int_equal(json_array_size(json_object_get(st, "peers")), 3);
	p = json_array_get(json_object_get(st, "peers"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "peer")), "203.0.113.20");
	assert_true(
		json_is_false(json_object_get(json_object_get(p, "security_groups"), "udp4500")));
	p = json_array_get(json_object_get(st, "peers"), 1);
	assert_string_equal(json_string_value(json_object_get(p, "peer")), "203.0.113.21");
	json_decref(st);
	stub_open_from = (struct pfx){ 0 };
	agent_free(a);
}

/* Our kernel routes (the stubs'), "NET@OIF " in the stubs' order. */
static const char *kernel(void)
{
	static char all[1024];
	char s[PFX_STRLEN];

	all[0] = 0;
	for (size_t i = 0; i < stub_nkernel && i < 64; i++)
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s@%d ",
			 pfx_format(&stub_kernel[i].dst, s, sizeof(s)), stub_kernel[i].oif);
	return all;
}

/* One XFRM interface of if_id 7, named lo (so that the test host has its
 * index: 1). */
static void links_lo(void)
{
	struct xfrm_link lo = { .index = 1, .name = "lo", .if_id = 7 };

	links.v = malloc(sizeof(lo));
	assert_non_null(links.v);
	links.v[0] = lo;
	links.n = links.cap = 1;
}

/* A route-based tunnel (an XFRM interface, here named lo so that the test
 * host has its index: 1) with a wide policy: the peer's allow list is its
 * networks, routed via the interface while an SA of its if_id lives. */
static void test_route_based(void **state)
{
	struct agent *a = agent_new();

	(void)state;
	links_lo();
	policy(0x101, "203.0.113.7", "0.0.0.0/0", "0.0.0.0/0", 0, 7, 0);
	/* a narrow one outside its allow list, through a VTI with no device */
	policy(0x109, "203.0.113.8", "0.0.0.0/0", "172.16.0.0/12", 0, 0, 42);
	/* and one wider than its one allowed network: that network */
	policy(0x111, "203.0.113.8", "0.0.0.0/0", "192.168.0.0/16", 0, 0, 42);
	sa_of(true, "203.0.113.8", 0x2000, 0, 0);
	/* an SA of another if_id: nothing yet */
	sa_of(true, "203.0.113.7", 0x1000, 0, 9);
	ipsec_update(a);
	assert_string_equal(kernel(), "");
	assert_int_equal(a->ntunnels, 4); /* 0/0 became the two allowed networks */
	assert_true(a->tunnels[0].wide);
	assert_string_equal(a->tunnels[0].dev, "lo");
	assert_non_null(refusal(a, "172.16.0.0/12"));
	/* its SA: both networks routed via the interface, remote, VPC routes */
	sa_of(true, "203.0.113.7", 0x1001, 0, 7);
	assert_true(ipsec_update(a));
	assert_string_equal(kernel(), "192.168.98.0/24@1 192.168.99.0/24@1 ");
	/* 192.168.1.0/24 is up too, but its VTI is missing: not routed */
	assert_string_equal(remote(),
			    "10.9.0.0/24 192.168.1.0/24 192.168.98.0/24 192.168.99.0/24 ");
	assert_int_equal(stub_ncloud, 4);
	/* the interface deleted (the kernel drops its routes with it) and
	 * another of that if_id, not yet there: wanted, reported missing */
	memcpy(links.v[0].name, "ipsec-gone", sizeof("ipsec-gone"));
	stub_kernel_clear();
	links_changed = true;
	ipsec_route_links(a);
	assert_string_equal(a->tunnels[0].dev, "ipsec-gone");
	assert_string_equal(kernel(), "");
	assert_int_equal(a->nfailed, 2); /* reported: its device is missing */
	memcpy(links.v[0].name, "lo", sizeof("lo"));
	links_changed = true;
	ipsec_route_links(a);
	assert_string_equal(kernel(), "192.168.98.0/24@1 192.168.99.0/24@1 ");
	/* the SA goes: the routes at once, as an OpenVPN client's */
	sa_of(false, "203.0.113.7", 0x1001, 0, 7);
	assert_true(ipsec_update(a));
	assert_string_equal(kernel(), "");
	assert_string_equal(remote(), "10.9.0.0/24 192.168.1.0/24 ");
	agent_free(a);
}

/*
 * A second site behind the NAT address of a route-based peer already up:
 * the first is renamed ADDR:PORT (each named by its NAT port), and keeps
 * its route through the interface: not withdrawn and added again.
 */
static char logged[4096];

static void keep_log(int prio, const char *msg, void *ctx)
{
	size_t o = strlen(logged);

	snprintf(logged + o, sizeof(logged) - o, "%s\n", msg);
}

static void test_rename_keeps_routes(void **state)
{
	struct agent *a = agent_with(conf_nat);
	struct proto_claim *c;
	size_t added, deleted;

	(void)state;
	links_lo();
	policy(0x101, "203.0.113.20", "0.0.0.0/0", "192.168.50.0/24", 1, 7, 0);
	policy(0x109, "203.0.113.20", "0.0.0.0/0", "192.168.60.0/24", 2, 7, 0);
	sa_port(true, "203.0.113.20", 0x1000, 1, 7, 4500);
	ike("203.0.113.20", "@site1");
	ikes[0].remote_port = 4500;
	assert_true(ipsec_update(a));
	assert_string_equal(kernel(), "192.168.50.0/24@1 ");
	assert_int_equal(state_claims(a, &c), 1);
	assert_string_equal(c[0].cn, "203.0.113.20");
	free(c);
	added = stub_nadded;
	deleted = stub_ndeleted;
	logged[0] = 0;
	log_set_sink(keep_log, NULL);
	/* the second site: the first one renamed, its route kept */
	sa_port(true, "203.0.113.20", 0x1001, 2, 7, 31337);
	ike("203.0.113.20", "@site2");
	ikes[1].remote_port = 31337;
	assert_true(ipsec_update(a));
	log_set_sink(quiet, NULL);
	assert_non_null(strstr(logged, "ipsec: peer 203.0.113.20 is now named 203.0.113.20:4500"));
	assert_null(strstr(logged, "no tunnel with an SA left"));
	assert_string_equal(kernel(), "192.168.50.0/24@1 192.168.60.0/24@1 ");
	assert_int_equal(stub_ndeleted - deleted, 0);
	assert_int_equal(stub_nadded - added, 1); /* 192.168.60.0/24 alone */
	assert_string_equal(pfx_format(&stub_added[(stub_nadded - 1) % 64], (char[PFX_STRLEN]){ 0 },
				       PFX_STRLEN),
			    "192.168.60.0/24");
	assert_int_equal(state_claims(a, &c), 2);
	assert_true(strcmp(c[0].cn, "203.0.113.20:4500") == 0 ||
		    strcmp(c[1].cn, "203.0.113.20:4500") == 0);
	free(c);
	agent_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admitted_with_sa),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_one_owner_with_openvpn),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_instance_name_reserved),
		cmocka_unit_test(test_peer_by_id),
		cmocka_unit_test(test_peer_by_id_without_vici),
		cmocka_unit_test(test_two_sites_behind_one_nat),
		cmocka_unit_test(test_peer_ids_many),
		cmocka_unit_test(test_status_peers),
		cmocka_unit_test(test_status_peers_by_id),
		cmocka_unit_test(test_route_based),
		cmocka_unit_test(test_rename_keeps_routes),
	};

	return cmocka_run_group_tests_name("ipsec peers", tests, NULL, NULL);
}
