// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The sender of bench/forward: UDP/IPv4 frames written to a device with an
 * AF_PACKET socket (sendmmsg, batches of 64, the qdisc bypassed) for a
 * number of seconds, as fast as one core makes them. The source address
 * cycles through FLOWS hosts 10.x.y.z (the clients of vrlab/scale.py's
 * host_net: 10.0.0.0, 10.0.0.1, ...), so that the forwarding host's lookups
 * touch the whole of its sets, not one cached element. Prints JSON: the
 * frames sent, the seconds taken and the CPU seconds the process used
 * (with veth, the forwarding host's work runs in the sender's softirqs,
 * charged to it: per CPU second, the cost of a packet on a loaded machine).
 *
 * With "reply" after SECONDS, the answers instead: from DST_IP port 9 to
 * each client's port 40000 (bench/forward.py sends one round of them so
 * that the flows are established before it measures).
 *
 *   bench/fwd_blast DEV DST_MAC DST_IP FLOWS SECONDS [reply]      (root)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH	64
#define PAYLOAD 18 /* a 64-byte frame on the wire, without the FCS: 14+20+8+18 */
#define FRAME	(sizeof(struct ether_header) + sizeof(struct iphdr) + sizeof(struct udphdr) + PAYLOAD)

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint16_t csum(const void *p, size_t n)
{
	const uint16_t *w = p;
	uint32_t s = 0;

	for (; n > 1; n -= 2)
		s += *w++;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* The frame from flow i (source 10.x.y.z with z.y.x = i), or its answer. */
static void frame(uint8_t *f, const uint8_t dmac[6], const uint8_t smac[6], uint32_t dst,
		  uint32_t i, int reply)
{
	struct ether_header *eh = (struct ether_header *)f;
	struct iphdr *ip = (struct iphdr *)(eh + 1);
	struct udphdr *u = (struct udphdr *)(ip + 1);

	memset(f, 0, FRAME);
	memcpy(eh->ether_dhost, dmac, 6);
	memcpy(eh->ether_shost, smac, 6);
	eh->ether_type = htons(ETHERTYPE_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons((uint16_t)(FRAME - sizeof(*eh)));
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = reply ? dst : htonl(10u << 24 | (i & 0xffffffu));
	ip->daddr = reply ? htonl(10u << 24 | (i & 0xffffffu)) : dst;
	ip->check = csum(ip, sizeof(*ip));
	u->source = htons(reply ? 9 : 40000);
	u->dest = htons(reply ? 40000 : 9); /* 9: discard */
	u->len = htons((uint16_t)(sizeof(*u) + PAYLOAD));
}

int main(int argc, char **argv)
{
	uint8_t dmac[6], smac[6], *frames;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	struct ifreq ifr = { 0 };
	struct rusage ru;
	struct in_addr dst;
	unsigned long flows;
	double secs, t0, t;
	unsigned long long sent = 0;
	int fd, one = 1, reply = argc == 7 && strcmp(argv[6], "reply") == 0;

	if ((argc != 6 && !reply) ||
	    sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1], &dmac[2], &dmac[3],
		   &dmac[4], &dmac[5]) != 6 ||
	    inet_pton(AF_INET, argv[3], &dst) != 1 || (flows = strtoul(argv[4], NULL, 10)) == 0 ||
	    flows > 1ul << 24 || (secs = strtod(argv[5], NULL)) <= 0) {
		fprintf(stderr, "usage: %s DEV DST_MAC DST_IP FLOWS SECONDS [reply]\n", argv[0]);
		return 2;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket(AF_PACKET)");
		return 1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 || ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	sll.sll_ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
	sll.sll_protocol = htons(ETH_P_IP);
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("bind");
		return 1;
	}
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	/* every flow's frame made once: the loop only sends */
	if (!(frames = malloc(flows * FRAME))) {
		perror("malloc");
		return 1;
	}
	for (unsigned long i = 0; i < flows; i++)
		frame(frames + i * FRAME, dmac, smac, dst.s_addr, (uint32_t)i, reply);
	memset(msg, 0, sizeof(msg));
	for (int k = 0; k < BATCH; k++) {
		iov[k].iov_len = FRAME;
		msg[k].msg_hdr.msg_iov = &iov[k];
		msg[k].msg_hdr.msg_iovlen = 1;
	}
	t0 = t = now_s();
	for (unsigned long next = 0; t - t0 < secs; t = now_s()) {
		int n;

		for (int k = 0; k < BATCH; k++) {
			iov[k].iov_base = frames + next * FRAME;
			next = next + 1 == flows ? 0 : next + 1;
		}
		n = sendmmsg(fd, msg, BATCH, 0);
		if (n < 0 && errno != ENOBUFS && errno != EAGAIN) {
			perror("sendmmsg");
			return 1;
		}
		if (n > 0)
			sent += (unsigned long long)n;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"sent\": %llu, \"seconds\": %.3f, \"cpu_s\": %.3f}\n", sent, t - t0,
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	free(frames);
	close(fd);
	return 0;
}
