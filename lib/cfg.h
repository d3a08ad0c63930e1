/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /etc/vpcroute/vpcroute.conf, schema version 1 (see vpcroute.conf(5)).
 */
#ifndef VR_CFG_H
#define VR_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <net/if.h>
#include <jansson.h>

#include "digest.h"
#include "dnsname.h"
#include "pfx.h"

#define CFG_VERSION	   1
#define CFG_ERRLEN	   512
#define CFG_MAX_SIZE	   (1024 * 1024)
#define CFG_DEFAULT_SOCKET VR_RUNSTATEDIR "/vpcroute/agent.sock"

enum cfg_role { CFG_ROLE_SERVER, CFG_ROLE_CLIENT };
enum cfg_fail_mode { CFG_FAIL_CLOSED, CFG_FAIL_OPEN };
enum cfg_admission { CFG_ADMIT_IMMEDIATE, CFG_ADMIT_DEFERRED };
/* aws.routes: who puts the remote networks into the VPC route tables */
enum cfg_routes { CFG_ROUTES_API, CFG_ROUTES_ROUTE_SERVER, CFG_ROUTES_OFF };
#define CFG_DEFAULT_BGP_SOCKET "/run/bird/bird.ctl"

/* A port range; a single port has lo == hi. */
struct cfg_ports {
	uint16_t lo, hi;
};

/* One rule of an access list: destination, protocol (0: any), ports. */
struct cfg_rule {
	struct pfx to; /* unset (family 0) when to_name is */
	char *to_name; /* a host name the agent resolves (lower case, no final dot), or NULL */
	uint8_t proto;
	struct cfg_ports *ports;
	size_t nports;
	/* to_local only: connections to `to` leave with this host's address
	 * (a peered VPC that sees only the instance), before the exemptions */
	bool masquerade;
	bool log; /* its new connections logged (connection_log's settings) */
};

/* Who may open connections in one direction: nobody, everybody, or rules. */
enum cfg_access_kind { CFG_ACCESS_NONE, CFG_ACCESS_ALL, CFG_ACCESS_RULES };
struct cfg_access {
	enum cfg_access_kind kind;
	struct cfg_rule *rules;
	size_t nrules;
};

/* Policy for one OpenVPN client (server role), or the default entry. */
struct cfg_client {
	char *name;
	struct pfx_list allow;	 /* what the client may announce */
	struct pfx_list iroutes; /* what the policy announces for it */
	bool has_address;	 /* fixed tunnel address (ifconfig-push) */
	struct pfx address;
	bool has_address6;
	struct pfx address6;
	struct pfx_list push_routes;  /* pushed to the client */
	struct cfg_access to_local;   /* client's networks -> local networks */
	struct cfg_access from_local; /* local networks -> client's networks */
};

/*
 * One IPsec peer (ipsec.peers), keyed by the address of its tunnel end as
 * the kernel's XFRM tables name it, or by its IKE identity (a key that is
 * not an address, or "id:" and any text), which strongSwan's VICI socket
 * (ipsec.vici_socket) tells for a tunnel's address: pol.name is that key,
 * pol.allow what it may announce (its remote networks), pol.to_local and
 * pol.from_local the forward filter, as for an OpenVPN client; the rest of
 * pol is unused.
 */
#define CFG_PEER_ID_MAX 255 /* an IKE identity's text, in bytes */
struct cfg_peer {
	struct pfx addr; /* a host prefix; unused when id is set */
	char *id;	 /* NULL: keyed by addr; else the IKE identity */
	struct cfg_client pol;
};

struct cfg_nat {
	struct pfx_list sources;
	char out_interface[IF_NAMESIZE];
	bool has_snat_to; /* SNAT to this address instead of masquerade */
	struct pfx snat_to;
};

/*
 * port_forwards[]: new connections of proto to one of this host's addresses,
 * port `port` (arriving on in_interface, or any), go to `to`:to_port.
 */
struct cfg_forward {
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port, to_port;
	struct pfx to;			/* the target host (full-length prefix); a name later */
	char in_interface[IF_NAMESIZE]; /* "" any */
	bool masquerade;		/* answers come back through us (internet sources) */
	bool log;			/* its new connections logged (connection_log) */
};

/* connection_log: rate-limited nftables log of new forwarded connections and drops. */
struct cfg_connlog {
	bool enabled; /* the object is present */
	bool new_conns, drops;
	bool has_group; /* NFLOG group (log group N); else the kernel log */
	uint16_t group;
	unsigned rate_per_s, burst;
};

/* offload: the nftables flowtable fast path (agent/nft.c); present: on. */
struct cfg_offload {
	bool enabled;
	char (*devices)[IF_NAMESIZE]; /* the VPC/LAN side, beside the tunnel devices */
	size_t ndevices;
};

struct cfg_aws {
	bool enabled;
	char *region, *endpoint, *imds_endpoint;
	char *access_key_id, *secret_access_key, *session_token;
	bool route_tables_auto;
	char **route_tables;
	size_t nroute_tables;
	bool disable_source_dest_check;
	bool takeover;
	unsigned withdraw_grace_s;
	unsigned drift_check_s;
	double max_calls_per_s;
	unsigned max_calls_burst; /* mutating calls made at once before pacing */
	/* announced to the VPC instead of each wanted network inside one
	 * (vpcroute.conf(5), "summaries"): disjoint, off the local networks
	 * and the tunnel pools */
	struct pfx_list summaries;
	unsigned route_quota; /* routes per route table that EC2 allows */
	enum cfg_routes routes;
	char *bgp_socket; /* the BGP daemon's control socket (doctor, route-server mode) */
	/* aws.cluster: the value of the tag vpcroute:cluster on the network
	 * interfaces of the servers that serve the same clients; NULL: none */
	char *cluster;
	/* aws.interface: a floating network interface (eni-...) that the agent
	 * attaches to this instance and uses as its own; NULL: the primary one */
	char *interface;
	/* aws.elastic_ip: an allocation id (eipalloc-...) associated with our
	 * network interface at start; NULL: none */
	char *elastic_ip;
};

struct cfg {
	char *path;
	char digest[DIGEST_HEXLEN]; /* SHA-256 of the bytes it was loaded from */
	enum cfg_role role;
	struct {
		char *path;
		mode_t mode;
		char *group;
		char *openvpn_user, *openvpn_group;
	} socket;
	struct {
		char *listen; /* NULL: none; "ADDRESS:PORT" or an absolute path */
	} metrics;
	bool local_auto; /* local_networks: "auto" (the VPC's CIDR blocks) */
	struct pfx_list local;
	bool has_pool, has_pool6;
	struct pfx pool, pool6;
	/* server role */
	bool strict;
	struct cfg_client *clients;
	size_t nclients;
	struct cfg_client *default_client; /* NULL: none */
	/* client role */
	struct pfx_list accept_routes; /* empty: accept all pushed routes */
	/* reachable through the tunnel although the server does not push them
	 * (a branch's own VPN-client pool): routed like accepted pushed routes */
	struct pfx_list tunnel_networks;
	struct cfg_access to_local, from_local;
	/* both */
	struct cfg_peer *peers; /* ipsec.peers */
	size_t npeers;
	size_t npeer_ids;  /* how many of them are keyed by IKE identity */
	char *vici_socket; /* ipsec.vici_socket; NULL: no VICI client */
	struct cfg_nat *nat;
	size_t nnat;
	bool nat_exempt_tunnel;
	struct cfg_forward *forwards;
	size_t nforwards;
	/* OpenVPN's own port, which no forward may take (openvpn.proto/port) */
	uint8_t openvpn_proto; /* 0: unknown (client role without "openvpn") */
	uint16_t openvpn_port;
	struct cfg_connlog connlog;
	bool rules_log; /* some access rule has "log" */
	struct cfg_offload offload;
	struct cfg_aws aws;
	struct {
		enum cfg_fail_mode fail_mode;
		enum cfg_admission admission;
		unsigned defer_timeout_ms;
		unsigned reconnect_max_ms;
		unsigned queue_max;
	} plugin;
	unsigned kernel_check_s; /* the agent's full diff against the kernel */
	/* the resolver of rules' host names (agent/dns.c) */
	struct {
		unsigned min_ttl_s, max_ttl_s;	   /* a record's TTL is kept within these */
		unsigned timeout_ms;		   /* per query and server */
		char (*servers)[DNSSERVER_STRLEN]; /* normalised; none: /etc/resolv.conf */
		size_t nservers;
	} dns;
};

/*
 * Load and validate. On error returns a negative errno and writes one line
 * "FILE:LINE:COL: KEY.PATH: what is wrong" into err; *out is untouched.
 */
int cfg_load_file(const char *path, struct cfg **out, char *err, size_t errlen);
int cfg_load_buf(const char *name, const char *buf, size_t len, struct cfg **out, char *err,
		 size_t errlen);
/* From a pipe or a terminal (standard input): at most CFG_MAX_SIZE bytes, called name. */
int cfg_load_fd(int fd, const char *name, struct cfg **out, char *err, size_t errlen);
/*
 * The text cfg_load_file and cfg_load_fd load, for a caller that needs it
 * too (check-config names lines): 0 and *text (malloc'd, len bytes), or a
 * negative errno with err filled. Freed with cfg_text_free, which wipes it.
 */
int cfg_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen);
int cfg_read_fd(int fd, const char *name, char **text, size_t *len, char *err, size_t errlen);
void cfg_text_free(char *text, size_t len);
void cfg_free(struct cfg *c);
/*
 * Forgets the aws section (keys, token, endpoints: the plugin needs none of
 * it), the secrets overwritten before they are freed; aws.enabled stays.
 */
void cfg_drop_secrets(struct cfg *c);
/* aws.routes as the configuration spells it: "api", "route-server", "off" */
const char *cfg_routes_name(enum cfg_routes r);

/* Policy of a client: its own entry, else the default entry, else NULL. */
const struct cfg_client *cfg_client_find(const struct cfg *c, const char *name);

/* Is addr (a full-length prefix) inside a network this configuration reaches:
 * local networks, a client's (allow, iroutes, tunnel pool) or the routes
 * accepted through the tunnel? "auto" local networks and an empty
 * accept_routes count as reaching everything. why is filled when not. */
bool cfg_reaches(const struct cfg *c, const struct pfx *addr, char *why, size_t len);
/* The distinct host names of the rules (their "to"), normalised, sorted, each
 * once: a malloc'd array of pointers into c (free the array only; NULL when
 * none); 0 or -ENOMEM. */
int cfg_host_names(const struct cfg *c, const char ***out, size_t *n);
/* The ipsec.peers entry of the peer at addr (a host prefix), or NULL. */
const struct cfg_peer *cfg_peer_find(const struct cfg *c, const struct pfx *addr);
/* An IKE identity as strongSwan prints it (VICI's remote-id): without the
 * "@" (FQDN) or "@@" (RFC 822 address) that marks its type in swanctl.conf;
 * the text identities are compared by. */
const char *cfg_id_text(const char *id);
/* The ipsec.peers entry keyed by the IKE identity id (compared as
 * cfg_id_text), or NULL. */
const struct cfg_peer *cfg_peer_find_id(const struct cfg *c, const char *id);
/*
 * The policy of the peer at addr whose IKE identity is id (NULL: unknown):
 * the entry of that identity when there is one, else the entry of addr.
 */
const struct cfg_peer *cfg_peer_lookup(const struct cfg *c, const struct pfx *addr, const char *id);
/* Whether key (of ipsec.peers) names an IKE identity, and which: *id points
 * into key ("id:" skipped). */
bool cfg_peer_key_id(const char *key, const char **id);

/* An AWS region name such as us-east-1 (shape only). */
bool cfg_valid_region(const char *s);
/* An aws.cluster name: 1 to 64 letters, digits, '_', '.', '-'. */
bool cfg_valid_cluster(const char *s);
/* An id as AWS issues them: prefix, '-', 8 or 17 lower-case hex digits. */
bool cfg_valid_aws_id(const char *s, const char *prefix);
/* An http:// or https:// URL with something after the scheme. */
bool cfg_valid_url(const char *s);

/* The configuration in normalised form (all defaults filled in). */
json_t *cfg_to_json(const struct cfg *c);

const char *cfg_role_name(enum cfg_role r);

/* port_forwards as in the normalised form (also the status shows it). */
json_t *cfg_forwards_json(const struct cfg *c);

/* Prints cfg_to_json(c), indented, and a newline: 0, or -ENOMEM or -EIO. */
int cfg_print(FILE *f, const struct cfg *c);

/*
 * metrics.listen: "IPV4:PORT", "[IPV6]:PORT" or an absolute path (a UNIX
 * socket) into *sa of *salen bytes. 0, or -EINVAL with why filled.
 */
struct sockaddr_storage;
int cfg_listen_addr(const char *s, struct sockaddr_storage *sa, unsigned *salen, char *why,
		    size_t len);

#endif
