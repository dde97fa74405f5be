// SPDX-License-Identifier: MIT
/*
 * virtio-blk device model against plain pread/pwrite on the same file, in
 * the same run.  No KVM: this program plays the guest in shared memory (the
 * unit-test harness), keeps QD requests in flight on one queue, and polls
 * the used ring.  Prints one JSON object.
 *
 *   blk_bench [--secs S] [--size MiB] [--file PATH] [--wait interrupt|poll]
 *
 * The "guest" sleeps until the MSI-X interrupt (default), or spins on the
 * used ring (poll), which on a 2-CPU machine steals the CPU the device needs.
 *
 * overhead_us = device latency at QD1 - raw latency of the same I/O: what
 * the queue, the event loop hop, the worker hand-off and the interrupt path
 * add to each request.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kite/config.h>
#include <kite/log.h>
#include <kite/virtio_blk.h>

#include "../../tests/unit/virtio_harness.h"

#define HDR0    0x300000ull
#define STATUS0 0x310000ull
#define MAXQD   32

struct run {
	double secs;
	uint64_t file_size;
	uint64_t rng;
};

struct result {
	uint64_t ops;
	double elapsed;
};

static uint64_t next_sector(struct run *r, size_t bs)
{
	uint64_t blocks = r->file_size / bs;

	r->rng = r->rng * 6364136223846793005ull + 1442695040888963407ull;
	return ((r->rng >> 33) % blocks) * (bs / 512);
}

static double secs_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e9;
}

static struct result run_raw(struct run *r, int fd, size_t bs, bool write)
{
	struct result res = { 0 };
	void *buf = aligned_alloc(4096, bs);
	uint64_t t0 = now_ns();

	memset(buf, 0x3c, bs);
	do {
		for (int i = 0; i < 64; i++) {
			off_t off = (off_t)(next_sector(r, bs) * 512);
			ssize_t n = write ? pwrite(fd, buf, bs, off) : pread(fd, buf, bs, off);

			if (n != (ssize_t)bs) {
				fprintf(stderr, "raw I/O failed: %s\n", strerror(errno));
				exit(1);
			}
			res.ops++;
		}
	} while ((res.elapsed = secs_since(t0)) < r->secs);
	free(buf);
	return res;
}

/* Fills slot i's three descriptors and header for one request. */
static void prep_slot(struct vh *h, struct run *r, unsigned i, size_t bs, bool write)
{
	struct { uint32_t type, reserved; uint64_t sector; } hdr = {
		write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, 0, next_sector(r, bs)
	};
	uint64_t data = VH_DATA + (uint64_t)i * bs;

	memcpy(vh_ptr(h, HDR0 + 32ull * i, 16), &hdr, 16);
	*(uint8_t *)vh_ptr(h, STATUS0 + i, 1) = 0xee;
	vh_set_desc(h, 0, 3 * i, HDR0 + 32ull * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(3 * i + 1));
	vh_set_desc(h, 0, 3 * i + 1, data, (uint32_t)bs, VIRTQ_DESC_F_NEXT | (write ? 0 : VIRTQ_DESC_F_WRITE),
		    (uint16_t)(3 * i + 2));
	vh_set_desc(h, 0, 3 * i + 2, STATUS0 + i, 1, VIRTQ_DESC_F_WRITE, 0);
}

/* Publishes slot i and kicks only when the device asked for it (EVENT_IDX avail_event). */
static void post(struct vh *h, unsigned i)
{
	struct virtq_avail *a = vh_avail(h, 0);
	uint16_t old = h->avail_idx[0], new = (uint16_t)(old + 1), event;

	a->ring[old % h->qsize[0]] = (uint16_t)(3 * i);
	h->avail_idx[0] = new;
	__atomic_store_n(&a->idx, new, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	event = __atomic_load_n((uint16_t *)((uint8_t *)vh_used(h, 0) + 4 + 8 * h->qsize[0]), __ATOMIC_ACQUIRE);
	if ((uint16_t)(new - event - 1) < (uint16_t)(new - old))
		vh_wr(h, VIRTIO_NOTIFY_OFF, 0, 2);
}

/*
 * Sleeps until the device interrupts (MSI), as a guest would, after asking
 * for an interrupt at the next completion (used_event, EVENT_IDX).
 */
static void wait_interrupt(struct vh *h)
{
	struct virtq_avail *a = vh_avail(h, 0);
	struct virtq_used *u = vh_used(h, 0);
	uint64_t seen;

	pthread_mutex_lock(&h->lock);
	seen = h->msis;
	pthread_mutex_unlock(&h->lock);
	__atomic_store_n(&a->ring[h->qsize[0]], h->used_seen[0], __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) != h->used_seen[0])
		return;
	pthread_mutex_lock(&h->lock);
	while (h->msis == seen)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

static struct result run_dev(struct vh *h, struct run *r, size_t bs, bool write, unsigned qd, bool poll)
{
	struct virtq_used *u = vh_used(h, 0);
	struct result res = { 0 };
	uint64_t t0 = now_ns();
	unsigned outstanding = qd;
	bool stopping = false;

	for (unsigned i = 0; i < qd; i++) {
		prep_slot(h, r, i, bs, write);
		post(h, i);
	}
	while (outstanding) {
		uint16_t idx = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);

		if (idx == h->used_seen[0] && !poll) {
			wait_interrupt(h);
			continue;
		}
		while (h->used_seen[0] != idx) {
			struct virtq_used_elem *e = &u->ring[h->used_seen[0] % h->qsize[0]];
			unsigned slot = e->id / 3;

			h->used_seen[0]++;
			if (*(uint8_t *)vh_ptr(h, STATUS0 + slot, 1) != VIRTIO_BLK_S_OK) {
				fprintf(stderr, "device I/O failed\n");
				exit(1);
			}
			res.ops++;
			if (!stopping && (res.ops & 63) == 0 && secs_since(t0) >= r->secs)
				stopping = true;
			if (stopping) {
				outstanding--;
				continue;
			}
			prep_slot(h, r, slot, bs, write);
			post(h, slot);
		}
	}
	res.elapsed = secs_since(t0);
	return res;
}

static int make_file(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char *buf = malloc(1 << 20);

	if (fd < 0 || !buf)
		return -1;
	memset(buf, 0x5a, 1 << 20);
	for (uint64_t off = 0; off < size; off += 1 << 20)
		if (pwrite(fd, buf, 1 << 20, (off_t)off) != 1 << 20)
			return -1;
	free(buf);
	fsync(fd);
	return fd;
}

int main(int argc, char **argv)
{
	struct run r = { .secs = 1.0, .file_size = 64 * MiB, .rng = 42 };
	const char *path = "/tmp/kite-blk-bench.img";
	struct disk_config cfg = { .id = "bench" };
	static const size_t sizes[] = { 4096, 65536 };
	static const unsigned qds[] = { 1, 16 };
	bool poll = false;
	struct virtio_blk *blk;
	struct vh h;
	bool first = true;
	int fd;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--secs"))
			r.secs = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--size"))
			r.file_size = strtoull(argv[i + 1], NULL, 0) * MiB;
		else if (!strcmp(argv[i], "--file"))
			path = argv[i + 1];
		else if (!strcmp(argv[i], "--wait"))
			poll = !strcmp(argv[i + 1], "poll");
	}
	log_set_level(LOG_ERR);
	fd = make_file(path, r.file_size);
	cfg.path = path;
	if (fd < 0 || vh_init(&h) || virtio_blk_create(&h.pci, &h.m, &cfg, &blk)) {
		fprintf(stderr, "blk_bench: set-up failed\n");
		return 1;
	}
	vh_start(&h);
	if (vh_find(&h, VIRTIO_ID_BLOCK) ||
	    !(vh_setup(&h, 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_EVENT_IDX, 1, 128, true) &
	      VIRTIO_STATUS_DRIVER_OK)) {
		fprintf(stderr, "blk_bench: device did not come up\n");
		return 1;
	}
	printf("{\"benchmark\": \"virtio-blk\", \"file_mib\": %llu, \"secs_per_case\": %.2f, \"completion\": \"%s\", "
	       "\"target\": {\"min_ratio\": 0.90, \"max_overhead_us\": 2.0}, \"results\": [",
	       (unsigned long long)(r.file_size / MiB), r.secs, poll ? "poll" : "interrupt");
	for (unsigned s = 0; s < ARRAY_SIZE(sizes); s++) {
		for (int w = 0; w <= 1; w++) {
			struct result raw = run_raw(&r, fd, sizes[s], w);
			double raw_us = raw.elapsed * 1e6 / (double)raw.ops;
			double raw_mbps = (double)raw.ops * (double)sizes[s] / raw.elapsed / 1e6;

			for (unsigned q = 0; q < ARRAY_SIZE(qds); q++) {
				struct result dev = run_dev(&h, &r, sizes[s], w, qds[q], poll);
				double dev_us = dev.elapsed * 1e6 / (double)dev.ops;
				double dev_mbps = (double)dev.ops * (double)sizes[s] / dev.elapsed / 1e6;

				printf("%s\n  {\"op\": \"%s\", \"bs\": %zu, \"qd\": %u, \"raw_MBps\": %.1f, \"dev_MBps\": %.1f, "
				       "\"ratio\": %.3f, \"raw_us\": %.2f, \"dev_us\": %.2f, \"overhead_us\": %.2f}",
				       first ? "" : ",", w ? "write" : "read", sizes[s], qds[q], raw_mbps, dev_mbps,
				       dev_mbps / raw_mbps, raw_us, dev_us, qds[q] == 1 ? dev_us - raw_us : 0.0);
				first = false;
				fflush(stdout);
			}
		}
	}
	printf("\n]}\n");
	vh_stop(&h);
	virtio_blk_destroy(blk);
	vh_exit(&h);
	close(fd);
	unlink(path);
	return 0;
}
