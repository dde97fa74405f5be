// SPDX-License-Identifier: MIT
/*
 * net: a tiny IPv4 host on virtio-net.  Answers ARP for its address, ICMP
 * echo requests, and echoes UDP datagrams sent to port 7.
 *
 *   ip=10.0.0.2         its address (required)
 *   peer=10.0.0.3       also ping this host: `pings` replies, then exit pass
 *   pings=5
 *   secs=120            exit (pass) after this long at most
 *
 * A UDP datagram "kite-quit" to port 7 makes it print its counters and
 * exit with pass.  Prints "net: up" once the device is ready.
 */
#include "kit.h"
#include "virtio_net.h"

#define ETH_ARP  0x0806
#define ETH_IP   0x0800
#define ECHO_PORT 7

struct host {
	struct kit_net n;
	uint8_t ip[4];
	uint8_t peer[4], peer_mac[6];
	bool have_peer, peer_resolved;
	unsigned int pings, replies;
	uint16_t ping_seq;
	uint64_t udp_echoed, icmp_echoed, arp_answered;
	uint8_t out[KIT_NET_BUF];
};

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static bool parse_ip(const char *s, uint8_t ip[4])
{
	for (int i = 0; i < 4; i++) {
		unsigned int v = 0, digits = 0;

		while (*s >= '0' && *s <= '9' && digits < 4)
			v = v * 10 + (unsigned int)(*s++ - '0'), digits++;
		if (!digits || v > 255 || (i < 3 && *s++ != '.'))
			return false;
		ip[i] = (uint8_t)v;
	}
	return *s == 0;
}

static uint16_t csum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += be16(p + i);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void eth_header(struct host *h, uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, h->n.mac, 6);
	put_be16(f + 12, type);
}

static void send_arp(struct host *h, uint16_t op, const uint8_t *tha, const uint8_t *tpa)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *f = h->out, *a = f + 14;

	eth_header(h, f, op == 1 ? bcast : tha, ETH_ARP);
	put_be16(a, 1);
	put_be16(a + 2, ETH_IP);
	a[4] = 6;
	a[5] = 4;
	put_be16(a + 6, op);
	memcpy(a + 8, h->n.mac, 6);
	memcpy(a + 14, h->ip, 4);
	memcpy(a + 18, tha, 6);
	memcpy(a + 24, tpa, 4);
	memset(f + 42, 0, 18);
	kit_net_tx(&h->n, f, 60);
}

static void on_arp(struct host *h, const uint8_t *f, uint32_t len)
{
	const uint8_t *a = f + 14;

	if (len < 42 || be16(a) != 1 || be16(a + 2) != ETH_IP || a[4] != 6 || a[5] != 4)
		return;
	if (h->have_peer && !memcmp(a + 14, h->peer, 4)) {
		memcpy(h->peer_mac, a + 8, 6);
		h->peer_resolved = true;
	}
	if (be16(a + 6) == 1 && !memcmp(a + 24, h->ip, 4)) {
		send_arp(h, 2, a + 8, a + 14);
		h->arp_answered++;
	}
}

/* Replies in place: swap MACs and IPs; the caller fixes the layer-4 part. */
static uint8_t *ip_reply(struct host *h, const uint8_t *f, uint32_t len)
{
	uint8_t *o = h->out, *ip = o + 14;

	memcpy(o, f, len);
	eth_header(h, o, f + 6, ETH_IP);
	memcpy(ip + 16, f + 14 + 12, 4);
	memcpy(ip + 12, h->ip, 4);
	ip[8] = 64;
	put_be16(ip + 10, 0);
	put_be16(ip + 10, csum(ip, (size_t)(ip[0] & 0xf) * 4));
	return ip;
}

static void send_ping(struct host *h)
{
	uint8_t *f = h->out, *ip = f + 14, *ic = ip + 20;

	eth_header(h, f, h->peer_mac, ETH_IP);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put_be16(ip + 2, 20 + 8 + 32);
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, h->ip, 4);
	memcpy(ip + 16, h->peer, 4);
	put_be16(ip + 10, csum(ip, 20));
	ic[0] = 8;
	ic[1] = 0;
	put_be16(ic + 2, 0);
	put_be16(ic + 4, 0x6b74);
	put_be16(ic + 6, ++h->ping_seq);
	for (int i = 0; i < 32; i++)
		ic[8 + i] = (uint8_t)i;
	put_be16(ic + 2, csum(ic, 40));
	kit_net_tx(&h->n, f, 14 + 20 + 40);
}

static int on_ip(struct host *h, const uint8_t *f, uint32_t len)
{
	const uint8_t *ip = f + 14;
	uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4, tot;

	if (len < 34 || (ip[0] >> 4) != 4 || ihl < 20 || memcmp(ip + 16, h->ip, 4))
		return 0;
	tot = be16(ip + 2);
	if (tot < ihl + 8 || 14 + tot > len || (be16(ip + 6) & 0x3fff))
		return 0; /* truncated, or a fragment */
	if (ip[9] == 1 && ip[ihl] == 8) {
		uint8_t *o = ip_reply(h, f, 14 + tot), *ic = o + ihl;

		ic[0] = 0;
		put_be16(ic + 2, 0);
		put_be16(ic + 2, csum(ic, tot - ihl));
		kit_net_tx(&h->n, h->out, 14 + tot);
		h->icmp_echoed++;
	} else if (ip[9] == 1 && ip[ihl] == 0 && h->have_peer && !memcmp(ip + 12, h->peer, 4)) {
		h->replies++;
	} else if (ip[9] == 17 && be16(ip + ihl + 2) == ECHO_PORT) {
		const uint8_t *u = ip + ihl;
		uint8_t *o;

		if (be16(u + 4) == 8 + 9 && !memcmp(u + 8, "kite-quit", 9))
			return 1;
		o = ip_reply(h, f, 14 + tot);
		/* Swapped ports and addresses leave the UDP checksum as it was. */
		put_be16(o + ihl, be16(u + 2));
		put_be16(o + ihl + 2, be16(u));
		kit_net_tx(&h->n, h->out, 14 + tot);
		h->udp_echoed++;
	}
	return 0;
}

static int handle(struct host *h, const uint8_t *f, uint32_t len)
{
	uint16_t type = be16(f + 12);

	if (type == ETH_ARP)
		on_arp(h, f, len);
	else if (type == ETH_IP)
		return on_ip(h, f, len);
	return 0;
}

static void report(struct host *h)
{
	kit_printf("net: rx %lu tx %lu arp %lu icmp %lu udp %lu\n", h->n.rx_packets, h->n.tx_packets,
		   h->arp_answered, h->icmp_echoed, h->udp_echoed);
}

static struct host host;

int main(void)
{
	struct host *h = &host;
	char buf[32];
	uint64_t hz, deadline, next_probe = 0, next_mac = 0;
	bool link = true;
	int r;

	if (!kit_arg("ip", buf, sizeof(buf)) || !parse_ip(buf, h->ip)) {
		kit_printf("net: need ip=A.B.C.D\n");
		return KIT_EXIT_FAIL;
	}
	if (kit_arg("peer", buf, sizeof(buf))) {
		if (!parse_ip(buf, h->peer)) {
			kit_printf("net: bad peer=%s\n", buf);
			return KIT_EXIT_FAIL;
		}
		h->have_peer = true;
	}
	h->pings = (unsigned int)kit_arg_ulong("pings", 5);
	kit_calibrate();
	hz = kit_tsc_hz();
	deadline = kit_rdtsc() + kit_arg_ulong("secs", 120) * hz;
	r = kit_net_init(&h->n);
	if (r) {
		kit_printf("net: no virtio-net device (%d)\n", r);
		return KIT_EXIT_FAIL;
	}
	kit_printf("net: up ip %u.%u.%u.%u mac %02x:%02x:%02x:%02x:%02x:%02x\n", h->ip[0], h->ip[1], h->ip[2],
		   h->ip[3], h->n.mac[0], h->n.mac[1], h->n.mac[2], h->n.mac[3], h->n.mac[4], h->n.mac[5]);
	while (kit_rdtsc() < deadline) {
		uint32_t len;
		uint16_t id;
		uint8_t *f = kit_net_rx(&h->n, &len, &id);

		if (f) {
			r = handle(h, f, len);
			kit_net_rx_done(&h->n, id);
			if (r) {
				report(h);
				return KIT_EXIT_PASS;
			}
			continue;
		}
		if (link != kit_net_link_up(&h->n)) {
			link = !link;
			kit_printf("net: link %s\n", link ? "up" : "down");
		}
		/* Like any driver, this one learns a new MAC only by rereading it (config space reads exit: rarely). */
		if (kit_rdtsc() >= next_mac) {
			next_mac = kit_rdtsc() + hz / 10;
			if (kit_net_mac_changed(&h->n))
				kit_printf("net: mac changed to %02x:%02x:%02x:%02x:%02x:%02x\n", h->n.mac[0],
					   h->n.mac[1], h->n.mac[2], h->n.mac[3], h->n.mac[4], h->n.mac[5]);
		}
		if (h->have_peer && kit_rdtsc() >= next_probe) {
			next_probe = kit_rdtsc() + hz / 5;
			if (!h->peer_resolved)
				send_arp(h, 1, (const uint8_t[6]){ 0 }, h->peer);
			else
				send_ping(h);
		}
		if (h->have_peer && h->replies >= h->pings) {
			kit_printf("net: peer %u.%u.%u.%u answered %u pings\n", h->peer[0], h->peer[1], h->peer[2],
				   h->peer[3], h->replies);
			report(h);
			return KIT_EXIT_PASS;
		}
		cpu_relax();
	}
	kit_printf("net: time is up\n");
	report(h);
	return h->have_peer ? KIT_EXIT_TIMEOUT : KIT_EXIT_PASS;
}
