/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one nftables table vpcroute owns: "inet vpcroute" (libnftnl).
 *
 *   chain exempt   nat postrouting, priority srcnat - 50: traffic between the
 *                  local and remote networks is bound untranslated by an
 *                  identity SNAT, so no later NAT chain (ours or a foreign
 *                  table's MASQUERADE) can rewrite it;
 *   chain nat      nat postrouting, priority srcnat: the configured
 *                  masquerade/SNAT;
 *   chain forward  filter forward, priority filter: established traffic,
 *                  then who may open connections to whom, from sets;
 *   chain dnat     nat prerouting, priority dstnat: the port forwards
 *                  (to one of this host's addresses: fib daddr type local).
 *
 * With the configuration's "offload" (nft_model.offload), also:
 *
 *   flowtable fastpath hook ingress, priority filter, on the devices of
 *                  nft_offload_devices (the tunnel devices and the
 *                  configured LAN side), changed in place as they come and
 *                  go;
 *   chain fastpath filter forward, priority NFT_PRIO_OFFLOAD (the last
 *                  there is, after every other forward chain has accepted):
 *                  "meta l4proto tcp ct direction reply flow add @fastpath",
 *                  the same for udp (on an answer: both directions passed).
 *
 * They go in a transaction of their own after the table's: a kernel
 * without flowtables (no CONFIG_NF_FLOW_TABLE) refuses them, and the table
 * stays as it is without them ("unsupported", one warning).
 *
 * The exempt chain begins with the masquerades that take precedence over the
 * exemptions: to_local rules with "masquerade" (set masqto4/6, saddr . daddr)
 * and forwards with "masquerade". connection_log adds rate-limited log
 * rules (prefixes NFT_LOG_NEW, NFT_LOG_DROP) before the accepts and drops;
 * access rules with "log" are logged through sets logallow4/6, logports4/6.
 *
 * The rules are fixed; clients only add set elements. The table is created
 * or replaced in one batch; later changes are element batches.
 */
#ifndef VR_NFT_H
#define VR_NFT_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>

#include <jansson.h>

#include "cfg.h"
#include "pfx.h"

#define NFT_TABLE	   "vpcroute"
#define NFT_TABLE_FULLNAME "inet " NFT_TABLE /* as nft(8) names it */
/* nat postrouting priorities: srcnat (NF_IP_PRI_NAT_SRC) and our exemptions */
#define NFT_PRIO_SRCNAT	  100
#define NFT_EXEMPT_OFFSET 50
#define NFT_PRIO_EXEMPT	  (NFT_PRIO_SRCNAT - NFT_EXEMPT_OFFSET)
#define NFT_PRIO_DSTNAT	  (-100)
/* the offload chain: the last forward priority (NF_IP_PRI_LAST) */
#define NFT_PRIO_OFFLOAD 2147483647
/* the flowtable's and its chain's name: not "offload", a keyword of nft's
 * grammar (nft 1.0.6 could neither list it by name nor read it back) */
#define NFT_OFFLOAD "fastpath"
/* the connection log's prefixes, stable: what a journal filter matches */
#define NFT_LOG_NEW  "vpcroute: new "
#define NFT_LOG_DROP "vpcroute: drop "

/* New connections from src to dst with protocol (and port) in range are allowed. */
struct nft_acc {
	struct pfx src, dst;
	uint8_t proto_lo, proto_hi;
	bool ports;
	uint16_t port_lo, port_hi;
	bool masq; /* src -> dst also masqueraded (a to_local rule's "masquerade") */
	bool log;  /* its new connections logged (a rule's "log") */
};

struct nft_model {
	struct pfx_list local, remote;
	/* single addresses (/32, /128) with an access "all": to every local
	 * network (to_local), from every local network (from_local), any
	 * protocol; in hash sets, not as acc elements */
	struct pfx_list to_local, from_local;
	struct nft_acc *acc;
	size_t nacc;
	const struct cfg_nat *nat;
	size_t nnat;
	bool exempt;
	/* port forwards to program (those that do not take OpenVPN's port) */
	const struct cfg_forward *fwd;
	size_t nfwd;
	const struct cfg_connlog *connlog; /* the settings; not enabled: no global log */
	bool rule_log;			   /* some rule has "log": sets logallow/logports */
	bool offload;			   /* the flowtable fast path (cfg offload) */
};

struct nft;

struct nft *nft_open(char *err, size_t errlen);
void nft_close(struct nft *n);
/*
 * Makes the table equal to m: the first time (or when the NAT part changes)
 * by replacing the whole table atomically (one transaction, whatever its
 * size); then by adding and removing set elements, in transactions of a
 * bounded size (about 20 ms of the kernel's time each): the first now, the
 * others by nft_continue while nft_busy. On failure nothing of that
 * transaction is applied.
 */
int nft_apply(struct nft *n, const struct nft_model *m);
/* True while element changes of the last nft_apply are left. */
bool nft_busy(const struct nft *n);
/* The next transaction of them: 0 or -errno (the next apply rebuilds). */
int nft_continue(struct nft *n);
/* How many element changes are left (for the status). */
size_t nft_pending(const struct nft *n);
/*
 * Adds add's remote and access elements and removes del's (elements in both
 * stay): the change of a batch of clients, in one transaction, at once (a
 * load in progress goes on towards the result). -EAGAIN before the table
 * is built.
 */
int nft_update(struct nft *n, const struct nft_model *add, const struct nft_model *del);
bool nft_built(const struct nft *n);
/* Removes the table (vpcroute-agent --flush). */
int nft_flush(struct nft *n);
/*
 * Logs the NAT rules of other tables in nat postrouting chains: a warning
 * for those that run before our exemptions, a note for the others.
 * Returns how many were found, or -errno.
 */
int nft_report_foreign_nat(struct nft *n);

/* A NAT rule of another table in a nat postrouting chain, as last scanned. */
struct nft_foreign {
	char action[32]; /* masquerade, snat, MASQUERADE (iptables), ... */
	char family[8], table[64], chain[64];
	char rule[256]; /* the rule's text as nft shows it, as far as it decodes */
	uint64_t handle;
	int32_t prio;
	bool before; /* runs before our exemptions */
};

/* Set elements added and removed since the last call (for the log's summary). */
void nft_take_counts(struct nft *n, size_t *added, size_t *removed);
/* Scans again without logging; *out stays valid until the next scan. */
int nft_scan_foreign_nat(struct nft *n, const struct nft_foreign **out, size_t *count);
/*
 * Reads the table from the kernel (chains, sets, rules, elements) and
 * compares it with what was last applied: 1 when equal, 0 when missing or
 * changed from outside (logged; the next nft_apply rebuilds it whole), or
 * -errno. With read, also {"present", "set_elements" (counts as read),
 * "differs" (why, or null)} for the status.
 */
int nft_check(struct nft *n, json_t **read);
/* Why the table is to be rebuilt (nft_check found it changed), or NULL. */
const char *nft_differs(const struct nft *n);
/* The netlink port of our batches (see rtnl_portid). */
unsigned nft_portid(const struct nft *n);
/*
 * The packet and byte counters of the port forwards' DNAT rules, in the
 * order of the model's fwd as last applied: how many were read (<= max), or
 * -errno.
 */
int nft_forward_counters(struct nft *n, uint64_t *packets, uint64_t *bytes, size_t max);
/* Counts of elements per set as last applied, for status: {"local4": N, ...}. */
json_t *nft_elements_json(const struct nft *n);

enum nft_offload_state {
	NFT_OFFLOAD_OFF,	/* not configured, or the table not built yet */
	NFT_OFFLOAD_ON,		/* the flowtable and its chain are in the table */
	NFT_OFFLOAD_UNSUPPORTED /* the kernel refused them */
};
/*
 * The devices the flowtable is to hook (those that exist; names of
 * IF_NAMESIZE bytes): remembered, and with the flowtable in the table, the
 * devices that differ from what it holds added (NFT_MSG_NEWFLOWTABLE) and
 * removed (NFT_MSG_DELFLOWTABLE with their hooks) in one transaction, logged.
 * 0, or -errno (what the kernel holds is read again at the next nft_check).
 */
int nft_offload_devices(struct nft *n, const char (*dev)[IF_NAMESIZE], size_t ndev);
/* Adds dev to those devices (a route through a new tunnel device). */
int nft_offload_add_device(struct nft *n, const char *dev);
/* True when dev is among those devices. */
bool nft_offload_wants(const struct nft *n, const char *dev);
enum nft_offload_state nft_offload_state(const struct nft *n);
/*
 * {"state": "off"|"on"|"unsupported", "devices": [hooked, as last read],
 * "kernel": the kernel's answer when unsupported} for the status.
 */
json_t *nft_offload_json(const struct nft *n);

#endif
