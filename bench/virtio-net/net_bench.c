// SPDX-License-Identifier: MIT
/*
 * virtio-net device model against raw TAP reads and writes, in the same run.
 * No KVM: this program plays the guest in shared memory (the unit-test
 * harness).  Each TAP sits alone on a bridge in hairpin mode inside a
 * private network namespace, so a frame written to the TAP comes straight
 * back out of it: the device path is guest TX ring -> device -> TAP ->
 * bridge -> TAP -> device -> guest RX ring; the raw path is write(tap fd)
 * -> bridge -> read(tap fd).  Both keep the same number of frames in
 * flight.  The raw path is one thread writing then reading; the device
 * path has two (this "guest" and the device's event loop), as in a VM.
 * Bridge netfilter is switched off in the namespace (conntrack would drop
 * the repeated TSO frames).  Prints one JSON object with packets/s and Gbit/s for 64-byte,
 * 1500-byte and 64 KiB (TSO: one GSO frame of 44 segments) frames, and the
 * device's share of raw throughput.
 *
 *   net_bench [--secs S] [--window N]   (S per size and path, in 6 interleaved rounds)
 *
 * Needs root (a network namespace, /dev/net/tun, a bridge); otherwise the
 * JSON says "skipped".
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <kite/config.h>
#include <kite/log.h>
#include <kite/tap.h>
#include <kite/virtio_net.h>

#include "../../tests/unit/virtio_harness.h"
#include "../../tests/unit/net_fixture.h"

#define F(bit) (1ull << (bit))
#define RXQ VIRTIO_NET_RXQ
#define TXQ VIRTIO_NET_TXQ
#define QSIZE 256
#define RXBUF_SIZE 4096
#define RXBUF(i) (VH_DATA + (uint64_t)(i) * RXBUF_SIZE)
#define TXPKT 0x1000000ull /* one frame, shared by every TX descriptor */
#define HDR TAP_VNET_HDR_LEN
#define BIG (65536 - 14 - 20 - 20 - 64) /* TCP payload of the TSO frame */

struct result {
	uint64_t packets, lost;
	double secs;
	uint64_t io_cpu_ns; /* CPU time of the thread(s) doing the TAP I/O (not the polling "guest") */
	double rx_waits_per_k; /* device: RX back-pressure episodes per 1000 frames */
};

static uint64_t cpu_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct bench {
	struct vh h;
	struct virtio_net *net;
	int raw_fd;
	double secs;
	unsigned window;
	uint8_t *frame; /* HDR + frame, host copy for the raw path */
	size_t frame_len;
	uint8_t *rxbuf;
	/*
	 * The "guest"'s TX ring state lives across rounds: chains still in flight
	 * when a round ends complete in the next one, and their descriptors must
	 * not be posted again before that.
	 */
	unsigned tx_free, pending_bufs;
	uint16_t next_desc;
};

static const uint8_t dst_mac[6] = { 0x02, 0xbe, 0xec, 0, 0, 1 };

/* A frame of `len` bytes; len > 1514 means one TSO (GSO TCPv4) frame. */
static void build_frame(struct bench *b, size_t len)
{
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint8_t *p = b->frame + HDR;
	uint16_t tot = (uint16_t)(len - 14);

	memset(b->frame, 0, HDR + len);
	nf_frame(p, len, dst_mac, 1);
	if (len > 1514) {
		hdr = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
						  .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .hdr_len = 54,
						  .gso_size = 1448, .csum_start = 34, .csum_offset = 16 };
		p[12] = 0x08;
		p[13] = 0x00;
		memset(p + 14, 0, 40);
		p[14] = 0x45;
		p[16] = (uint8_t)(tot >> 8);
		p[17] = (uint8_t)tot;
		p[22] = 64;
		p[23] = 6;
		memcpy(p + 26, (uint8_t[]){ 10, 9, 0, 1, 10, 9, 0, 2 }, 8);
		p[34 + 12] = 0x50;
		p[34 + 13] = 0x10;
	}
	memcpy(b->frame, &hdr, HDR);
	b->frame_len = len;
}

/* ---- the raw path ---- */

static struct result run_raw(struct bench *b)
{
	struct result r = { 0 };
	unsigned inflight = 0;
	uint64_t t0 = now_ns(), last = t0, c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);

	while ((r.secs = (double)(now_ns() - t0) / 1e9) < b->secs) {
		ssize_t n;

		while (inflight < b->window) {
			ssize_t w = write(b->raw_fd, b->frame, HDR + b->frame_len);

			if (w <= 0)
				break; /* EAGAIN: read first */
			inflight++;
		}
		n = read(b->raw_fd, b->rxbuf, VIRTIO_NET_MAX_PACKET + HDR);
		if (n > 0) {
			r.packets++;
			inflight--;
			last = now_ns();
		} else if (now_ns() - last > 100000000ull) {
			r.lost += inflight; /* nothing for 100 ms: count them lost, start again */
			inflight = 0;
			last = now_ns();
		}
	}
	r.io_cpu_ns = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	return r;
}

/* ---- the device path ---- */

static void ring_publish(struct vh *h, unsigned qi, uint16_t head)
{
	struct virtq_avail *a = vh_avail(h, qi);

	a->ring[h->avail_idx[qi] % h->qsize[qi]] = head;
	h->avail_idx[qi]++;
}

static void ring_kick(struct vh *h, unsigned qi, bool force)
{
	__atomic_store_n(&vh_avail(h, qi)->idx, h->avail_idx[qi], __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* Like a driver: no doorbell while the device polls the ring (VIRTQ_USED_F_NO_NOTIFY). */
	if (force || !(__atomic_load_n(&vh_used(h, qi)->flags, __ATOMIC_ACQUIRE) & VIRTQ_USED_F_NO_NOTIFY))
		vh_wr(h, VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * qi, qi, 2);
}

static int dev_setup(struct bench *b)
{
	struct vh *h = &b->h;
	uint64_t feats = F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CSUM) |
			 F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO4) |
			 F(VIRTIO_NET_F_MAC);

	if (!(vh_setup(h, feats, 2, QSIZE, false) & VIRTIO_STATUS_DRIVER_OK))
		return -1;
	/* Polled "guest": no interrupts wanted. */
	vh_avail(h, RXQ)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	vh_avail(h, TXQ)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	for (unsigned i = 0; i < QSIZE; i++) {
		vh_set_desc(h, RXQ, i, RXBUF(i), RXBUF_SIZE, VIRTQ_DESC_F_WRITE, 0);
		ring_publish(h, RXQ, (uint16_t)i);
	}
	ring_kick(h, RXQ, true);
	b->tx_free = QSIZE;
	return 0;
}

/* Reclaims RX chains; returns whole packets seen (a packet's first chain carries num_buffers). */
static unsigned rx_reap(struct bench *b, unsigned *pending_bufs)
{
	struct vh *h = &b->h;
	struct virtq_used *u = vh_used(h, RXQ);
	uint16_t idx = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
	unsigned packets = 0, n = 0;

	while (h->used_seen[RXQ] != idx) {
		struct virtq_used_elem e = u->ring[h->used_seen[RXQ] % QSIZE];

		if (!*pending_bufs) {
			struct virtio_net_hdr_v1 hdr;

			memcpy(&hdr, vh_ptr(h, RXBUF(e.id), HDR), HDR);
			*pending_bufs = hdr.num_buffers ? hdr.num_buffers : 1;
		}
		if (!--*pending_bufs)
			packets++;
		ring_publish(h, RXQ, (uint16_t)e.id);
		h->used_seen[RXQ]++;
		n++;
	}
	if (n)
		ring_kick(h, RXQ, false);
	return packets;
}

static unsigned tx_reap(struct bench *b)
{
	struct vh *h = &b->h;
	uint16_t idx = __atomic_load_n(&vh_used(h, TXQ)->idx, __ATOMIC_ACQUIRE);
	unsigned n = (uint16_t)(idx - h->used_seen[TXQ]);

	h->used_seen[TXQ] = idx;
	return n;
}

static struct result run_dev(struct bench *b)
{
	struct vh *h = &b->h;
	struct result r = { 0 };
	unsigned inflight = 0, got;
	uint64_t t0 = now_ns(), last = t0;
	/* The device's loop thread: the process's CPU time minus this ("guest") thread's. */
	uint64_t p0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID), c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);

	/* Each round ends drained (below), so this rewrites no chain in flight. */
	memcpy(vh_ptr(h, TXPKT, HDR + b->frame_len), b->frame, HDR + b->frame_len);
	for (unsigned i = 0; i < QSIZE; i++)
		vh_set_desc(h, TXQ, i, TXPKT, (uint32_t)(HDR + b->frame_len), 0, 0);
	while ((r.secs = (double)(now_ns() - t0) / 1e9) < b->secs) {
		bool posted = false;

		b->tx_free += tx_reap(b);
		while (inflight < b->window && b->tx_free) {
			ring_publish(h, TXQ, b->next_desc);
			b->next_desc = (uint16_t)((b->next_desc + 1) % QSIZE);
			b->tx_free--;
			inflight++;
			posted = true;
		}
		if (posted)
			ring_kick(h, TXQ, false);
		got = rx_reap(b, &b->pending_bufs);
		if (got) {
			r.packets += got;
			inflight -= MIN(got, inflight);
			last = now_ns();
		} else if (now_ns() - last > 100000000ull) {
			r.lost += inflight;
			inflight = 0;
			last = now_ns();
		} else {
			sched_yield(); /* two cores, shared: let the device thread run */
		}
	}
	r.io_cpu_ns = (cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - p0) - (cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0);
	/* Drained, uncounted: the next round (or size) starts with nothing in flight. */
	for (uint64_t d0 = now_ns(); (inflight || b->tx_free < QSIZE) && now_ns() - d0 < 200000000ull;) {
		b->tx_free += tx_reap(b);
		got = rx_reap(b, &b->pending_bufs);
		inflight -= MIN(got, inflight);
		if (!got)
			sched_yield();
	}
	return r;
}

/*
 * The machine is shared and its load moves from second to second: the two
 * paths run in ROUNDS pairs, a device round right next to a raw round, for
 * secs/ROUNDS each.  Each side keeps its best round (losses are summed), and
 * the median of the per-pair ratios is reported too: pairs see the same
 * load, so it drifts less than a ratio of bests.
 */
#define ROUNDS 6

static double pps(struct result r)
{
	return r.secs > 0 ? (double)r.packets / r.secs : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void run_pairs(struct bench *b, struct result *dev, struct result *raw, double *median)
{
	double secs = b->secs, ratio[ROUNDS];
	uint64_t dlost = 0, rlost = 0;

	*dev = (struct result){ 0 };
	*raw = (struct result){ 0 };
	b->secs = secs / ROUNDS;
	for (int i = 0; i < ROUNDS; i++) {
		struct result d = run_dev(b), r = run_raw(b);

		dlost += d.lost;
		rlost += r.lost;
		ratio[i] = pps(r) > 0 ? pps(d) / pps(r) : 0;
		if (pps(d) > pps(*dev))
			*dev = d;
		if (pps(r) > pps(*raw))
			*raw = r;
	}
	b->secs = secs;
	dev->lost = dlost;
	raw->lost = rlost;
	qsort(ratio, ROUNDS, sizeof(ratio[0]), cmp_double);
	*median = (ratio[ROUNDS / 2 - 1] + ratio[ROUNDS / 2]) / 2;
}

/* ---- set-up ---- */

static int sh(const char *cmd)
{
	return system(cmd) == 0 ? 0 : -1;
}

/* Each TAP alone on a hairpin bridge: what goes in comes back out. */
static int net_setup(void)
{
	if (nf_enter_netns())
		return -1;
	if (nf_tap_create("kb0", 1500) || nf_tap_create("kb1", 1500))
		return -1;
	return sh("ip link add kbr0 type bridge && ip link add kbr1 type bridge && "
		  "ip link set kb0 master kbr0 && ip link set kb1 master kbr1 && "
		  "ip link set kbr0 type bridge ageing_time 0 && ip link set kbr1 type bridge ageing_time 0 && "
		  "bridge link set dev kb0 hairpin on && bridge link set dev kb1 hairpin on && "
		  "ip link set kbr0 up && ip link set kbr1 up && "
		  "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1; "
		  "sysctl -qw net.bridge.bridge-nf-call-iptables=0 >/dev/null 2>&1; true");
}

static double ns_per_packet(struct result r)
{
	return r.packets ? (double)r.io_cpu_ns / (double)r.packets : 0;
}

/*
 * device_vs_raw compares packets/s; device_vs_raw_cpu compares the CPU time
 * per packet of the thread doing the TAP I/O (raw / device), which the
 * other load on a shared host moves much less.
 */
static void print_result(const char *name, size_t len, struct result dev, struct result raw, double median,
			 bool last)
{
	double dpps = (double)dev.packets / dev.secs, rpps = (double)raw.packets / raw.secs;
	double bits = (double)len * 8, dns = ns_per_packet(dev), rns = ns_per_packet(raw);

	printf("    \"%s\": {\"frame_bytes\": %zu, \"device_pps\": %.0f, \"device_gbps\": %.3f, \"raw_pps\": %.0f, "
	       "\"raw_gbps\": %.3f, \"device_vs_raw\": %.3f, \"device_vs_raw_paired_median\": %.3f, \"device_io_cpu_ns_per_packet\": %.0f, "
	       "\"raw_io_cpu_ns_per_packet\": %.0f, \"device_vs_raw_cpu\": %.3f, \"device_rx_waits_per_kframe\": %.1f, \"device_lost\": %llu, "
	       "\"raw_lost\": %llu}%s\n",
	       name, len, dpps, dpps * bits / 1e9, rpps, rpps * bits / 1e9, rpps > 0 ? dpps / rpps : 0.0, median, dns, rns,
	       dns > 0 ? rns / dns : 0.0, dev.rx_waits_per_k, (unsigned long long)dev.lost, (unsigned long long)raw.lost, last ? "" : ",");
}

static int parse_args(int argc, char **argv, struct bench *b)
{
	b->secs = 2;
	b->window = 64;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--secs") && i + 1 < argc)
			b->secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "--window") && i + 1 < argc)
			b->window = (unsigned)atoi(argv[++i]);
		else
			return -1;
	}
	if (b->secs <= 0 || !b->window || b->window > QSIZE)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		size_t len;
	} sizes[] = { { "64B", 64 }, { "1500B", 1514 }, { "64KiB_tso", 14 + 20 + 20 + BIG } };
	struct net_config cfg = { .tap = "kb0", .fd = -1 };
	static struct bench b;
	struct tap raw;

	if (parse_args(argc, argv, &b)) {
		fprintf(stderr, "usage: net_bench [--secs S] [--window 1-%d]\n", QSIZE);
		return 2;
	}
	log_set_level(LOG_ERR);
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) || net_setup()) {
		printf("{\"bench\": \"virtio-net\", \"skipped\": \"needs root, /dev/net/tun and a bridge\"}\n");
		return 0;
	}
	b.frame = malloc(HDR + VIRTIO_NET_MAX_PACKET);
	b.rxbuf = malloc(HDR + VIRTIO_NET_MAX_PACKET);
	if (!b.frame || !b.rxbuf || vh_init(&b.h) || virtio_net_create(&b.h.pci, &b.h.m, &cfg, "bench", 0, &b.net))
		return 1;
	vh_start(&b.h);
	if (vh_find(&b.h, VIRTIO_ID_NET) || dev_setup(&b) || tap_open(&raw, "kb1") ||
	    tap_set_offload(&raw, TAP_OFF_CSUM | TAP_OFF_TSO4))
		return 1;
	b.raw_fd = raw.fd;
	printf("{\"bench\": \"virtio-net\", \"secs\": %.2f, \"window\": %u, \"threads\": {\"device\": 2, \"raw\": 1}, "
	       "\"fairness\": \"both paths do the same TAP syscalls (one writev/write and one readv/read per frame) on "
	       "one thread; the device path adds a polling guest thread on the other core, so on a shared 2-core host "
	       "outside load preempts it more; device_vs_raw_cpu compares the I/O thread's CPU per frame\", "
	       "\"results\": {\n",
	       b.secs, b.window);
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct result dev, rawr;
		struct virtio_net_stats st0, st1;
		double median;

		build_frame(&b, sizes[i].len);
		virtio_net_get_stats(b.net, &st0);
		run_pairs(&b, &dev, &rawr, &median);
		virtio_net_get_stats(b.net, &st1);
		/* Back-pressure episodes: the guest's RX ring was empty (a 64 KiB frame takes 17 of its 256 buffers). */
		dev.rx_waits_per_k = st1.rx_packets > st0.rx_packets ? 1000.0 * (double)(st1.rx_waits - st0.rx_waits) /
									(double)(st1.rx_packets - st0.rx_packets)
								     : 0;
		print_result(sizes[i].name, sizes[i].len, dev, rawr, median, i + 1 == ARRAY_SIZE(sizes));
	}
	printf("}}\n");
	vh_stop(&b.h);
	virtio_net_destroy(b.net);
	vh_exit(&b.h);
	tap_close(&raw);
	nf_tap_delete("kb0");
	nf_tap_delete("kb1");
	return 0;
}
