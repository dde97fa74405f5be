// SPDX-License-Identifier: MIT
/*
 * virtio-net through the PCI transport (harness guest) against a real TAP
 * in a private network namespace; an AF_PACKET socket plays the network.
 * Skipped without CAP_NET_ADMIN or /dev/net/tun.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <kite/config.h>
#include <kite/tap.h>
#include <kite/virtio_net.h>

#include "virtio_harness.h"
#include "net_fixture.h"

#define F(bit) (1ull << (bit))
#define STD_FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_INDIRECT_DESC))
#define NET_BASE (STD_FEATURES | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS))
#define RXQ VIRTIO_NET_RXQ
#define TXQ VIRTIO_NET_TXQ
#define RXBUF(i) (VH_DATA + (uint64_t)(i) * 0x10000)
#define TXBUF    0x1000000ull
#define HDR      TAP_VNET_HDR_LEN
#define QSIZE    256

static const uint8_t guest_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

struct fx {
	struct vh h;
	struct virtio_net *net;
	struct net_config cfg;
	char ifname[IF_NAMESIZE];
	int ps; /* packet socket on the TAP */
};

static bool have_netns(void)
{
	static int ok = -1;

	if (ok < 0) {
		int fd;

		ok = access("/dev/net/tun", R_OK | W_OK) == 0 && nf_enter_netns() == 0;
		/* No IPv6 chatter (router solicitations) on the test TAPs. */
		fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
		if (fd >= 0) {
			if (write(fd, "1", 1) < 0)
				ok = ok && true;
			close(fd);
		}
	}
	return ok;
}

static int setup(void **state)
{
	static unsigned seq;
	struct fx *f = calloc(1, sizeof(*f));

	*state = f;
	f->ps = -1;
	if (!have_netns())
		return 0;
	snprintf(f->ifname, sizeof(f->ifname), "kt%u", seq++);
	if (nf_tap_create(f->ifname, 9000) || vh_init(&f->h))
		return -1;
	f->cfg = (struct net_config){ .tap = f->ifname, .fd = -1, .mac_set = true };
	memcpy(f->cfg.mac, guest_mac, 6);
	if (virtio_net_create(&f->h.pci, &f->h.m, &f->cfg, "unit", 0, &f->net))
		return -1;
	f->ps = nf_packet_socket(f->ifname, 1);
	if (f->ps < 0)
		return -1;
	vh_start(&f->h);
	return vh_find(&f->h, VIRTIO_ID_NET);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->net) {
		vh_stop(&f->h);
		virtio_net_destroy(f->net);
		vh_exit(&f->h);
	}
	if (f->ps >= 0)
		close(f->ps);
	if (f->ifname[0])
		nf_tap_delete(f->ifname);
	free(f);
	return 0;
}

#define NEED_NET(f)                                                                  \
	do {                                                                         \
		if (!(f)->net)                                                       \
			skip();                                                      \
	} while (0)

static void post_rx(struct fx *f, unsigned i, uint32_t len)
{
	vh_set_desc(&f->h, RXQ, i, RXBUF(i), len, VIRTQ_DESC_F_WRITE, 0);
	vh_submit(&f->h, RXQ, (uint16_t)i);
}

static struct virtq_used_elem used_elem(struct fx *f, unsigned qi, uint16_t n)
{
	return vh_used(&f->h, qi)->ring[n % f->h.qsize[qi]];
}

/* The guest sends `len` bytes of frame with header `hdr`; waits until the chain comes back. */
static void guest_tx(struct fx *f, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len)
{
	struct vh *h = &f->h;
	uint8_t *p = vh_ptr(h, TXBUF, HDR + len);
	uint16_t want = (uint16_t)(h->used_seen[TXQ] + 1);

	memcpy(p, hdr, HDR);
	memcpy(p + HDR, frame, len);
	/* Header and frame in two descriptors, as Linux does without ANY_LAYOUT tricks. */
	vh_set_desc(h, TXQ, 0, TXBUF, HDR, VIRTQ_DESC_F_NEXT, 1);
	vh_set_desc(h, TXQ, 1, TXBUF + HDR, (uint32_t)len, 0, 0);
	vh_submit(h, TXQ, 0);
	assert_true(vh_wait_used(h, TXQ, want));
	h->used_seen[TXQ] = want;
}

/* Next frame of our ethertype from the packet socket (bounded wait); its length, or -1. */
static ssize_t net_recv(struct fx *f, uint8_t *buf, size_t size)
{
	for (int i = 0; i < 200; i++) {
		struct pollfd p = { .fd = f->ps, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recv(f->ps, buf, size, 0);
		if (n >= 14 && buf[12] == 0x88 && buf[13] == 0xb5)
			return n;
	}
	return -1;
}

static void net_send(struct fx *f, const uint8_t *frame, size_t len)
{
	assert_int_equal(send(f->ps, frame, len, 0), (ssize_t)len);
}

static void stats(struct fx *f, struct virtio_net_stats *s)
{
	virtio_net_get_stats(f->net, s);
}

/* Polls the stats (up to about 2 s) until the device has had to wait for RX buffers. */
static void wait_rx_waits(struct fx *f, struct virtio_net_stats *s)
{
	for (int i = 0; i < 2000 && !s->rx_waits; i++) {
		usleep(1000);
		stats(f, s);
	}
}

/* Copies the first `n` used RX chains, which must be buffers 0..n-1 in order, to `got`; returns the bytes. */
static size_t gather_rx(struct fx *f, uint16_t n, uint8_t *got)
{
	size_t off = 0;

	for (uint16_t k = 0; k < n; k++) {
		struct virtq_used_elem u = used_elem(f, RXQ, k);

		assert_int_equal(u.id, k);
		memcpy(got + off, vh_ptr(&f->h, RXBUF(k), u.len), u.len);
		off += u.len;
	}
	return off;
}

/* ---- tests ---- */

static void test_mac_helpers(void **state)
{
	uint8_t a[6], b[6], c[6];

	(void)state;
	virtio_net_default_mac("web", 0, a);
	virtio_net_default_mac("web", 0, b);
	virtio_net_default_mac("web", 1, c);
	assert_memory_equal(a, b, 6);
	assert_memory_not_equal(a, c, 6);
	assert_int_equal(a[0] & 3, 2); /* locally administered, unicast */
	assert_int_equal(c[0] & 3, 2);
	assert_int_equal(virtio_net_parse_mac("52:54:00:ab:CD:ef", a), 0);
	assert_int_equal(a[0], 0x52);
	assert_int_equal(a[5], 0xef);
	assert_int_equal(virtio_net_parse_mac("01:00:5e:00:00:01", a), -EINVAL); /* multicast */
	assert_int_equal(virtio_net_parse_mac("52:54:00:ab:cd", a), -EINVAL);
	assert_int_equal(virtio_net_parse_mac("52-54-00-ab-cd-ef", a), -EINVAL);
	assert_int_equal(virtio_net_parse_mac("52:54:00:ab:cd:efx", a), -EINVAL);
	assert_int_equal(virtio_net_parse_mac("zz:54:00:ab:cd:ef", a), -EINVAL);
}

static void test_identity_and_config(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	uint64_t feats;
	uint8_t mac[6];

	NEED_NET(f);
	assert_int_equal(vh_cfg_read(h, h->slot, 0x0a, 2), 0x0200); /* class: Ethernet */
	vh_wr(h, VIRTIO_COMMON_DFSELECT, 0, 4);
	feats = vh_rd(h, VIRTIO_COMMON_DF, 4);
	vh_wr(h, VIRTIO_COMMON_DFSELECT, 1, 4);
	feats |= vh_rd(h, VIRTIO_COMMON_DF, 4) << 32;
	for (unsigned b = 0; b < 6; b++)
		mac[b] = (uint8_t)vh_rd(h, VIRTIO_DEVCFG_OFF + b, 1);
	assert_memory_equal(mac, guest_mac, 6);
	assert_int_equal(vh_rd(h, VIRTIO_DEVCFG_OFF + VIRTIO_NET_CFG_STATUS, 2), VIRTIO_NET_S_LINK_UP);
	assert_int_equal(vh_rd(h, VIRTIO_DEVCFG_OFF + VIRTIO_NET_CFG_PAIRS, 2), 1);
	assert_true(feats & F(VIRTIO_F_VERSION_1));
	assert_true(feats & F(VIRTIO_NET_F_MAC));
	assert_true(feats & F(VIRTIO_NET_F_STATUS));
	assert_true(feats & F(VIRTIO_NET_F_MRG_RXBUF));
	assert_true(feats & F(VIRTIO_NET_F_CSUM));
	assert_true(feats & F(VIRTIO_NET_F_GUEST_CSUM));
	assert_true(feats & F(VIRTIO_NET_F_HOST_TSO4));
	assert_true(feats & F(VIRTIO_NET_F_GUEST_TSO6));
	assert_false(feats & F(VIRTIO_NET_F_CTRL_VQ));
	assert_int_equal(vh_rd(h, VIRTIO_COMMON_NUMQ, 2), 2);
	assert_string_equal(virtio_net_tap_name(f->net), f->ifname);
}

static void test_tx(void **state)
{
	struct fx *f = *state;
	static const size_t sizes[] = { 60, 1514, 4000 };
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint8_t frame[4096], got[9100];
	struct virtio_net_stats s;

	NEED_NET(f);
	assert_true(vh_setup(&f->h, NET_BASE, 2, QSIZE, true) & VIRTIO_STATUS_DRIVER_OK);
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		nf_frame(frame, sizes[i], (const uint8_t[6]){ 0x02, 0, 0, 0, 0, 1 }, i);
		guest_tx(f, &hdr, frame, sizes[i]);
		assert_int_equal(net_recv(f, got, sizeof(got)), (ssize_t)sizes[i]);
		assert_memory_equal(got, frame, sizes[i]);
	}
	stats(f, &s);
	assert_int_equal(s.tx_packets, 3);
	assert_int_equal(s.tx_bytes, 60 + 1514 + 4000);
	assert_int_equal(s.tx_errors, 0);
	assert_true(f->h.msis > 0);
}

static void test_rx_single_buffers(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	uint8_t frame[1000];
	struct virtio_net_hdr_v1 *hdr = vh_ptr(h, RXBUF(0), HDR);
	struct virtq_used_elem u;

	NEED_NET(f);
	assert_true(vh_setup(h, NET_BASE, 2, QSIZE, true) & VIRTIO_STATUS_DRIVER_OK);
	memset(hdr, 0xee, HDR);
	for (unsigned i = 0; i < 4; i++)
		post_rx(f, i, 2048);
	nf_frame(frame, sizeof(frame), guest_mac, 7);
	net_send(f, frame, sizeof(frame));
	assert_true(vh_wait_used(h, RXQ, 1));
	u = used_elem(f, RXQ, 0);
	assert_int_equal(u.id, 0);
	assert_int_equal(u.len, HDR + sizeof(frame));
	assert_int_equal(hdr->num_buffers, 1);
	assert_int_equal(hdr->gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_memory_equal(vh_ptr(h, RXBUF(0) + HDR, sizeof(frame)), frame, sizeof(frame));
}

static void test_rx_mergeable(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	uint8_t frame[3000], got[3000 + HDR];
	struct virtio_net_hdr_v1 hdr;

	NEED_NET(f);
	assert_true(vh_setup(h, NET_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 2, QSIZE, true) & VIRTIO_STATUS_DRIVER_OK);
	for (unsigned i = 0; i < 8; i++)
		post_rx(f, i, 1024);
	nf_frame(frame, sizeof(frame), guest_mac, 9);
	net_send(f, frame, sizeof(frame));
	/* 3012 bytes in 1024-byte buffers: three of them, published together. */
	assert_true(vh_wait_used(h, RXQ, 3));
	assert_int_equal(vh_used(h, RXQ)->idx, 3);
	assert_int_equal(gather_rx(f, 3, got), sizeof(got));
	memcpy(&hdr, got, HDR);
	assert_int_equal(hdr.num_buffers, 3);
	assert_memory_equal(got + HDR, frame, sizeof(frame));
}

/* After a large packet the device reads into several chains at once; a small one then gives the rest back. */
static void test_rx_large_then_small(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	static const size_t sizes[] = { 5000, 5000, 100, 3000, 60 };
	uint8_t frame[5000], got[5000 + HDR];
	uint16_t seen = 0, next_buf = 0;

	NEED_NET(f);
	assert_true(vh_setup(h, NET_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 2, QSIZE, true) & VIRTIO_STATUS_DRIVER_OK);
	for (; next_buf < 64; next_buf++)
		post_rx(f, next_buf, 1024);
	for (unsigned p = 0; p < ARRAY_SIZE(sizes); p++) {
		struct virtio_net_hdr_v1 hdr;
		size_t off = 0;

		nf_frame(frame, sizes[p], guest_mac, p);
		net_send(f, frame, sizes[p]);
		assert_true(vh_wait_used(h, RXQ, (uint16_t)(seen + 1)));
		memcpy(&hdr, vh_ptr(h, RXBUF(used_elem(f, RXQ, seen).id), HDR), HDR);
		assert_int_equal(hdr.num_buffers, (sizes[p] + HDR + 1023) / 1024);
		assert_true(vh_wait_used(h, RXQ, (uint16_t)(seen + hdr.num_buffers)));
		for (unsigned b = 0; b < hdr.num_buffers; b++) {
			struct virtq_used_elem u = used_elem(f, RXQ, seen++);

			memcpy(got + off, vh_ptr(h, RXBUF(u.id), u.len), u.len);
			off += u.len;
		}
		assert_int_equal(off, sizes[p] + HDR);
		assert_memory_equal(got + HDR, frame, sizes[p]);
		/* Buffers are used in ring order: nothing skipped, nothing taken twice. */
		assert_int_equal(vh_used(h, RXQ)->idx, seen);
	}
}

/* A packet larger than the buffers posted so far waits in the device, whole, until more arrive. */
static void test_rx_partial_then_more(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	uint8_t frame[3000], got[3000 + HDR];
	struct virtio_net_stats s = { 0 };

	NEED_NET(f);
	assert_true(vh_setup(h, NET_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 2, QSIZE, true) & VIRTIO_STATUS_DRIVER_OK);
	post_rx(f, 0, 1024);
	memset(vh_ptr(h, RXBUF(0), 1024), 0, 1024);
	nf_frame(frame, sizeof(frame), guest_mac, 5);
	net_send(f, frame, sizeof(frame));
	wait_rx_waits(f, &s);
	assert_true(s.rx_waits >= 1);
	assert_int_equal(vh_used(h, RXQ)->idx, 0);
	/* Scribble on buffer 0 meanwhile: the device must not rely on what it wrote there. */
	memset(vh_ptr(h, RXBUF(0), 1024), 0x5a, 1024);
	post_rx(f, 1, 1024);
	post_rx(f, 2, 1024);
	assert_true(vh_wait_used(h, RXQ, 3));
	assert_int_equal(gather_rx(f, 3, got), sizeof(got));
	assert_memory_equal(got + HDR, frame, sizeof(frame));
	stats(f, &s);
	assert_int_equal(s.rx_dropped, 0);
}

static void test_rx_backpressure(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	uint8_t frame[200];
	struct virtio_net_stats s = { 0 };

	NEED_NET(f);
	assert_true(vh_setup(h, NET_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 2, QSIZE, true) & VIRTIO_STATUS_DRIVER_OK);
	/* No buffers: packets wait in the device and the TAP's queue, none is dropped. */
	for (uint32_t i = 0; i < 5; i++) {
		nf_frame(frame, sizeof(frame), guest_mac, i);
		net_send(f, frame, sizeof(frame));
	}
	wait_rx_waits(f, &s);
	stats(f, &s);
	assert_true(s.rx_waits >= 1);
	assert_int_equal(vh_used(h, RXQ)->idx, 0);
	for (unsigned i = 0; i < 8; i++)
		post_rx(f, i, 2048);
	assert_true(vh_wait_used(h, RXQ, 5));
	for (uint16_t k = 0; k < 5; k++) {
		struct virtq_used_elem u = used_elem(f, RXQ, k);
		uint32_t seq;

		assert_int_equal(u.len, HDR + sizeof(frame));
		memcpy(&seq, vh_ptr(h, RXBUF(u.id) + HDR + 14, 4), 4);
		assert_int_equal(seq, k); /* in order */
	}
	stats(f, &s);
	assert_int_equal(s.rx_dropped, 0);
	assert_int_equal(s.rx_packets, 5);
}

static void test_rx_buffer_too_small(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	uint8_t frame[1000];
	struct virtio_net_stats s;

	NEED_NET(f);
	assert_true(vh_setup(h, NET_BASE, 2, QSIZE, true) & VIRTIO_STATUS_DRIVER_OK);
	post_rx(f, 0, 200);
	nf_frame(frame, sizeof(frame), guest_mac, 1);
	net_send(f, frame, sizeof(frame)); /* does not fit: dropped, the buffer stays posted */
	nf_frame(frame, 100, guest_mac, 2);
	net_send(f, frame, 100);
	assert_true(vh_wait_used(h, RXQ, 1));
	assert_int_equal(used_elem(f, RXQ, 0).len, HDR + 100);
	stats(f, &s);
	assert_int_equal(s.rx_dropped, 1);
	assert_int_equal(s.rx_packets, 1);
	assert_false(vh_status(h) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_tx_bad_chains(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	struct virtio_net_stats s;

	NEED_NET(f);
	assert_true(vh_setup(h, NET_BASE, 2, QSIZE, true) & VIRTIO_STATUS_DRIVER_OK);
	/* Shorter than header + Ethernet header: dropped, chain returned. */
	vh_set_desc(h, TXQ, 0, TXBUF, 8, 0, 0);
	vh_submit(h, TXQ, 0);
	assert_true(vh_wait_used(h, TXQ, 1));
	/* A GSO header the kernel refuses (TCPv4 GSO on a non-IP frame). */
	struct virtio_net_hdr_v1 bad = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					 .gso_size = 0, .csum_start = 9000, .csum_offset = 16 };
	uint8_t frame[100];

	h->used_seen[TXQ] = 1;
	nf_frame(frame, sizeof(frame), guest_mac, 0);
	guest_tx(f, &bad, frame, sizeof(frame));
	stats(f, &s);
	assert_int_equal(s.tx_errors, 2);
	assert_int_equal(s.tx_packets, 0);
	assert_false(vh_status(h) & VIRTIO_STATUS_NEEDS_RESET);
	/* A descriptor outside guest RAM: the queue is broken, the device needs a reset. */
	vh_set_desc(h, TXQ, 0, VH_MEM_SIZE + 0x1000, 100, 0, 0);
	vh_submit(h, TXQ, 0);
	assert_true(vh_wait_status(h, VIRTIO_STATUS_NEEDS_RESET));
	/* And a reset brings it back. */
	assert_true(vh_setup(h, NET_BASE, 2, QSIZE, true) & VIRTIO_STATUS_DRIVER_OK);
	assert_false(vh_status(h) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_tso_tx(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	static uint8_t frame[14 + 20 + 20 + 8000];
	struct virtio_net_hdr_v1 hdr = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					 .hdr_len = 54, .gso_size = 1448, .csum_start = 34, .csum_offset = 16 };
	uint16_t tot = sizeof(frame) - 14;
	struct virtio_net_stats s;

	NEED_NET(f);
	assert_true(vh_setup(h, NET_BASE | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4), 2, QSIZE, true) &
		    VIRTIO_STATUS_DRIVER_OK);
	memset(frame, 0, sizeof(frame));
	memcpy(frame, guest_mac, 6);
	frame[6] = 2;
	frame[12] = 0x08; /* IPv4 */
	frame[14] = 0x45;
	frame[16] = (uint8_t)(tot >> 8);
	frame[17] = (uint8_t)tot;
	frame[22] = 64;
	frame[23] = 6; /* TCP */
	memcpy(frame + 26, (uint8_t[]){ 10, 0, 0, 1, 10, 0, 0, 2 }, 8);
	frame[34 + 12] = 0x50; /* data offset 5 */
	frame[34 + 13] = 0x18;
	guest_tx(f, &hdr, frame, sizeof(frame));
	stats(f, &s);
	assert_int_equal(s.tx_errors, 0);
	assert_int_equal(s.tx_packets, 1);
}

static void test_tap_gone(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint8_t frame[100];
	struct virtio_net_stats s;
	uint64_t msis;
	char cmd[64];
	int i;

	NEED_NET(f);
	assert_true(vh_setup(h, NET_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 2, QSIZE, true) & VIRTIO_STATUS_DRIVER_OK);
	post_rx(f, 0, 2048);
	msis = h->msis;
	close(f->ps);
	f->ps = -1;
	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", f->ifname);
	if (system(cmd) != 0)
		skip();
	for (i = 0; i < 2000 && virtio_net_link_up(f->net); i++)
		usleep(1000);
	assert_false(virtio_net_link_up(f->net));
	assert_int_equal(vh_rd(h, VIRTIO_DEVCFG_OFF + VIRTIO_NET_CFG_STATUS, 2), 0);
	assert_true(h->msis > msis); /* the config interrupt */
	/* TX still completes (dropped), nothing breaks. */
	nf_frame(frame, sizeof(frame), guest_mac, 0);
	guest_tx(f, &hdr, frame, sizeof(frame));
	stats(f, &s);
	assert_int_equal(s.tx_dropped, 1);
	assert_false(vh_status(h) & VIRTIO_STATUS_NEEDS_RESET);
	f->ifname[0] = 0;
}

static void test_save_load(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	struct virtio_net_state st;
	uint8_t other[6] = { 0x02, 9, 9, 9, 9, 9 }, mac[6];
	uint8_t frame[300];

	NEED_NET(f);
	assert_true(vh_setup(h, NET_BASE | F(VIRTIO_NET_F_MRG_RXBUF), 2, QSIZE, true) & VIRTIO_STATUS_DRIVER_OK);
	post_rx(f, 0, 2048);
	nf_frame(frame, sizeof(frame), guest_mac, 1);
	net_send(f, frame, sizeof(frame));
	assert_true(vh_wait_used(h, RXQ, 1));
	virtio_net_quiesce(f->net);
	virtio_net_save(f->net, &st);
	assert_memory_equal(st.mac, guest_mac, 6);
	assert_int_equal(st.vio.q[RXQ].vq.used_idx, 1);
	assert_int_equal(st.vio.q[RXQ].vq.last_avail, 1);
	/* A clone takes a new MAC; loading the snapshot brings the old one back. */
	virtio_net_set_mac(f->net, other);
	virtio_net_mac(f->net, mac);
	assert_memory_equal(mac, other, 6);
	assert_int_equal(virtio_net_load(f->net, &st), 0);
	virtio_net_mac(f->net, mac);
	assert_memory_equal(mac, guest_mac, 6);
	virtio_net_resume(f->net);
	/* Still working after resume. */
	post_rx(f, 1, 2048);
	net_send(f, frame, sizeof(frame));
	assert_true(vh_wait_used(h, RXQ, 2));
}

static void test_open_errors(void **state)
{
	struct tap t;

	(void)state;
	if (!have_netns())
		skip();
	assert_int_equal(tap_open(&t, ""), -EINVAL);
	assert_int_equal(tap_open(&t, "a-name-much-too-long-for-linux"), -EINVAL);
	/* Not a TAP: stdin / a regular fd. */
	assert_true(tap_open_fd(&t, STDERR_FILENO) < 0);
	/* A TAP without VNET_HDR is refused. */
	{
		struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
		int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

		assert_true(fd >= 0);
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "ktplain");
		assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
		assert_int_equal(tap_open_fd(&t, fd), -EINVAL);
		close(fd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_helpers),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_single_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_mergeable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_partial_then_more, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_large_then_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_buffer_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_bad_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tso_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	};

	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
