// SPDX-License-Identifier: MIT
/* virtio-blk through the PCI transport, driven by the harness "guest". */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <kite/config.h>
#include <kite/disk.h>
#include <kite/virtio_blk.h>

#include "virtio_harness.h"

#define HDR    0x300000ull
#define STATUS 0x300100ull
#define IMG_SIZE (1 * MiB)

#define F(bit) (1ull << (bit))
#define STD_FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_INDIRECT_DESC))

struct fx {
	struct vh h;
	char path[64];
	struct virtio_blk *blk;
	struct disk_config cfg;
};

static int make_image(char *path)
{
	int fd;
	uint8_t buf[4096];

	strcpy(path, "/tmp/kite-blk-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	for (unsigned i = 0; i < IMG_SIZE / sizeof(buf); i++) {
		for (unsigned j = 0; j < sizeof(buf); j++)
			buf[j] = (uint8_t)(i * 7 + j / 512);
		if (write(fd, buf, sizeof(buf)) != sizeof(buf))
			return -1;
	}
	close(fd);
	return 0;
}

static int fx_open(struct fx *f, bool ro, enum disk_cache cache)
{
	if (vh_init(&f->h) || make_image(f->path))
		return -1;
	f->cfg = (struct disk_config){ .path = f->path, .readonly = ro, .cache = cache };
	strcpy(f->cfg.id, "kite-serial-1");
	if (virtio_blk_create(&f->h.pci, &f->h.m, &f->cfg, &f->blk))
		return -1;
	vh_start(&f->h);
	return vh_find(&f->h, VIRTIO_ID_BLOCK);
}

static int setup_rw(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	*state = f;
	return fx_open(f, false, DISK_CACHE_WRITEBACK);
}

static int setup_ro(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	*state = f;
	return fx_open(f, true, DISK_CACHE_WRITEBACK);
}

/* cache=none; a file system without O_DIRECT (or a kernel without io_uring) leaves f->blk NULL: the test skips. */
static int fx_open_direct(void **state, enum disk_aio_mode aio)
{
	struct fx *f = calloc(1, sizeof(*f));

	*state = f;
	if (vh_init(&f->h) || make_image(f->path))
		return -1;
	f->cfg = (struct disk_config){ .path = f->path, .cache = DISK_CACHE_NONE, .aio = aio };
	if (virtio_blk_create(&f->h.pci, &f->h.m, &f->cfg, &f->blk)) {
		f->blk = NULL;
		return 0;
	}
	vh_start(&f->h);
	return vh_find(&f->h, VIRTIO_ID_BLOCK);
}

static int setup_direct(void **state)
{
	return fx_open_direct(state, DISK_AIO_THREADS);
}

/* Two request queues (VIRTIO_BLK_F_MQ), page cache or cache=none with workers. */
static int fx_open_mq(void **state, enum disk_cache cache)
{
	struct fx *f = calloc(1, sizeof(*f));

	*state = f;
	if (vh_init(&f->h) || make_image(f->path))
		return -1;
	f->cfg = (struct disk_config){ .path = f->path, .cache = cache, .aio = DISK_AIO_THREADS, .queues = 2 };
	if (virtio_blk_create(&f->h.pci, &f->h.m, &f->cfg, &f->blk)) {
		f->blk = NULL;
		return cache == DISK_CACHE_NONE ? 0 : -1;
	}
	vh_start(&f->h);
	return vh_find(&f->h, VIRTIO_ID_BLOCK);
}

static int setup_mq(void **state)
{
	return fx_open_mq(state, DISK_CACHE_WRITEBACK);
}

static int setup_mq_direct(void **state)
{
	return fx_open_mq(state, DISK_CACHE_NONE);
}

static int setup_ring(void **state)
{
	return fx_open_direct(state, DISK_AIO_IO_URING);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	vh_stop(&f->h);
	virtio_blk_destroy(f->blk);
	vh_exit(&f->h);
	unlink(f->path);
	free(f);
	return 0;
}

/* One request through descriptors 0..2; returns the status byte (0xee: never written). */
static uint8_t blk_req(struct fx *f, uint32_t type, uint64_t sector, uint64_t data, uint32_t len, bool dev_writes,
		       uint32_t *used_len)
{
	struct vh *h = &f->h;
	struct { uint32_t type, reserved; uint64_t sector; } hdr = { type, 0, sector };
	uint8_t *st = vh_ptr(h, STATUS, 1);
	uint16_t next = (uint16_t)(h->used_seen[0] + 1);
	struct virtq_used *u = vh_used(h, 0);

	memcpy(vh_ptr(h, HDR, 16), &hdr, 16);
	*st = 0xee;
	vh_set_desc(h, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, len ? 1 : 2);
	vh_set_desc(h, 0, 1, data, len, (uint16_t)(VIRTQ_DESC_F_NEXT | (dev_writes ? VIRTQ_DESC_F_WRITE : 0)), 2);
	vh_set_desc(h, 0, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	vh_submit(h, 0, 0);
	if (!vh_wait_used(h, 0, next))
		return 0xdd;
	h->used_seen[0] = next;
	if (used_len)
		*used_len = u->ring[(next - 1) % h->qsize[0]].len;
	return *st;
}

static uint8_t cfg8(struct fx *f, unsigned off)
{
	return (uint8_t)vh_rd(&f->h, VIRTIO_DEVCFG_OFF + off, 1);
}

static void test_identity_and_config(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	uint64_t feats;

	assert_int_equal(vh_cfg_read(h, h->slot, PCI_REVISION_ID, 1), 1);
	assert_int_equal(vh_cfg_read(h, h->slot, PCI_SUBSYSTEM_VENDOR, 2), 0x1af4);
	assert_int_equal(vh_cfg_read(h, h->slot, PCI_INTERRUPT_LINE, 1), pci_intx_gsi(h->slot, 0));
	assert_int_equal(vh_rd(h, VIRTIO_DEVCFG_OFF + VIRTIO_BLK_CFG_CAPACITY, 8), IMG_SIZE / 512);
	assert_int_equal(vh_rd(h, VIRTIO_DEVCFG_OFF + VIRTIO_BLK_CFG_SEG_MAX, 4), VIRTIO_BLK_SEG_MAX);
	assert_int_equal(vh_rd(h, VIRTIO_DEVCFG_OFF + VIRTIO_BLK_CFG_BLK_SIZE, 4), 512);
	assert_int_equal(cfg8(f, VIRTIO_BLK_CFG_WZ_MAY_UNMAP), 1);
	vh_wr(h, VIRTIO_COMMON_DFSELECT, 0, 4);
	feats = vh_rd(h, VIRTIO_COMMON_DF, 4);
	vh_wr(h, VIRTIO_COMMON_DFSELECT, 1, 4);
	feats |= vh_rd(h, VIRTIO_COMMON_DF, 4) << 32;
	assert_true(feats & F(VIRTIO_F_VERSION_1));
	assert_true(feats & F(VIRTIO_BLK_F_FLUSH));
	assert_true(feats & F(VIRTIO_BLK_F_DISCARD));
	assert_false(feats & F(VIRTIO_BLK_F_RO));
	assert_int_equal(vh_rd(h, VIRTIO_COMMON_NUMQ, 2), 1);
	assert_int_equal(vh_rd(h, VIRTIO_COMMON_Q_SIZE, 2), VIRTIO_BLK_QUEUE_SIZE);
}

static void test_feature_refusal(void **state)
{
	struct fx *f = *state;

	/* A feature we never offered, then no VERSION_1: FEATURES_OK does not stick. */
	assert_false(vh_setup(&f->h, STD_FEATURES | F(60), 1, 128, false) & VIRTIO_STATUS_FEATURES_OK);
	assert_false(vh_setup(&f->h, F(VIRTIO_BLK_F_FLUSH), 1, 128, false) & VIRTIO_STATUS_FEATURES_OK);
	assert_true(vh_setup(&f->h, STD_FEATURES, 1, 128, false) & VIRTIO_STATUS_DRIVER_OK);
}

static void test_read_write(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	uint8_t *d = vh_ptr(h, VH_DATA, 65536), file[4096];
	uint32_t used;
	int fd;

	assert_true(vh_setup(h, STD_FEATURES, 1, 128, true) & VIRTIO_STATUS_DRIVER_OK);
	/* Read sector 16 (4 KiB block 2 of the pattern). */
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 16, VH_DATA, 4096, true, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 4097);
	for (unsigned j = 0; j < 4096; j++)
		assert_int_equal(d[j], (uint8_t)(2 * 7 + j / 512));
	/* Write 64 KiB at sector 100 and find it in the file. */
	memset(d, 0xab, 65536);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_OUT, 100, VH_DATA, 65536, false, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	fd = open(f->path, O_RDONLY);
	assert_int_equal(pread(fd, file, sizeof(file), 100 * 512 + 61440), sizeof(file));
	close(fd);
	for (unsigned j = 0; j < sizeof(file); j++)
		assert_int_equal(file[j], 0xab);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	assert_true(h->msis > 0);
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;

	assert_true(vh_setup(h, STD_FEATURES, 1, 128, false) & VIRTIO_STATUS_DRIVER_OK);
	/* Past the end, straddling the end, unaligned length, unknown type. */
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, IMG_SIZE / 512, VH_DATA, 512, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, IMG_SIZE / 512 - 1, VH_DATA, 1024, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, ~0ull, VH_DATA, 512, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_OUT, 0, VH_DATA, 100, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(blk_req(f, 77, 0, VH_DATA, 512, true, NULL), VIRTIO_BLK_S_UNSUPP);
	/* A read whose data buffer is device-readable: the device may not write it. */
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 0, VH_DATA, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	/* INTx when MSI-X is off. */
	assert_true(h->irq_raises > 0);
	assert_false(vh_status(h) & VIRTIO_STATUS_NEEDS_RESET);
	/* And the device still works. */
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 0, VH_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
}

static void test_get_id_discard_zeroes(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	struct { uint64_t sector; uint32_t num, flags; } seg = { 8, 16, 0 };
	uint8_t *d = vh_ptr(h, VH_DATA, 8192), buf[8192];
	uint32_t used;
	int fd;

	assert_true(vh_setup(h, STD_FEATURES | F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES), 1, 128, false) &
		    VIRTIO_STATUS_DRIVER_OK);
	memset(d, 0, 64);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_GET_ID, 0, VH_DATA, 20, true, &used), VIRTIO_BLK_S_OK);
	assert_string_equal((char *)d, "kite-serial-1");
	assert_int_equal(used, 21);

	memcpy(vh_ptr(h, HDR + 0x200, 16), &seg, 16);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_DISCARD, 0, HDR + 0x200, 16, false, NULL), VIRTIO_BLK_S_OK);
	seg = (typeof(seg)){ 32, 16, 0 };
	memcpy(vh_ptr(h, HDR + 0x200, 16), &seg, 16);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, HDR + 0x200, 16, false, NULL), VIRTIO_BLK_S_OK);
	fd = open(f->path, O_RDONLY);
	assert_int_equal(pread(fd, buf, sizeof(buf), 8 * 512), sizeof(buf));
	for (unsigned j = 0; j < 8192; j++)
		assert_int_equal(buf[j], 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 32 * 512), sizeof(buf));
	for (unsigned j = 0; j < 8192; j++)
		assert_int_equal(buf[j], 0);
	close(fd);
	/* Bad flags on discard, range past the end. */
	seg = (typeof(seg)){ 0, 8, 1 };
	memcpy(vh_ptr(h, HDR + 0x200, 16), &seg, 16);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_DISCARD, 0, HDR + 0x200, 16, false, NULL), VIRTIO_BLK_S_UNSUPP);
	seg = (typeof(seg)){ IMG_SIZE / 512 - 4, 8, 0 };
	memcpy(vh_ptr(h, HDR + 0x200, 16), &seg, 16);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_DISCARD, 0, HDR + 0x200, 16, false, NULL), VIRTIO_BLK_S_IOERR);
}

static void test_readonly(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;

	vh_wr(h, VIRTIO_COMMON_DFSELECT, 0, 4);
	assert_true(vh_rd(h, VIRTIO_COMMON_DF, 4) & F(VIRTIO_BLK_F_RO));
	assert_true(vh_setup(h, STD_FEATURES | F(VIRTIO_BLK_F_RO), 1, 128, false) & VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_OUT, 0, VH_DATA, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 0, VH_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
}

static void test_indirect_request(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	struct virtq_desc *t = vh_ptr(h, VH_INDIRECT, 3 * 16);
	struct { uint32_t type, reserved; uint64_t sector; } hdr = { VIRTIO_BLK_T_IN, 0, 0 };
	uint8_t *st = vh_ptr(h, STATUS, 1);

	assert_true(vh_setup(h, STD_FEATURES, 1, 128, false) & VIRTIO_STATUS_DRIVER_OK);
	memcpy(vh_ptr(h, HDR, 16), &hdr, 16);
	t[0] = (struct virtq_desc){ HDR, 16, VIRTQ_DESC_F_NEXT, 1 };
	t[1] = (struct virtq_desc){ VH_DATA, 1024, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 };
	t[2] = (struct virtq_desc){ STATUS, 1, VIRTQ_DESC_F_WRITE, 0 };
	vh_set_desc(h, 0, 5, VH_INDIRECT, 48, VIRTQ_DESC_F_INDIRECT, 0);
	*st = 0xee;
	vh_submit(h, 0, 5);
	assert_true(vh_wait_used(h, 0, 1));
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	assert_int_equal(((uint8_t *)vh_ptr(h, VH_DATA, 1))[0], 0);
	assert_int_equal(((uint8_t *)vh_ptr(h, VH_DATA + 512, 1))[0], 1);
}

/* A broken chain puts the device in NEEDS_RESET; after a reset it serves again. */
static void test_malicious_then_reset(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	uint64_t cfg_irqs;

	assert_true(vh_setup(h, STD_FEATURES, 1, 128, true) & VIRTIO_STATUS_DRIVER_OK);
	cfg_irqs = h->msis;
	vh_set_desc(h, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	vh_set_desc(h, 0, 1, VH_DATA, 512, VIRTQ_DESC_F_NEXT, 0); /* loops back to 0 */
	vh_submit(h, 0, 0);
	assert_true(vh_wait_status(h, VIRTIO_STATUS_NEEDS_RESET));
	assert_true(h->msis > cfg_irqs); /* the config interrupt */
	assert_int_equal(h->last_msi_data, 0x40);
	/* Buffers after the broken one are not processed. */
	assert_int_equal(vh_used(h, 0)->idx, 0);

	assert_true(vh_setup(h, STD_FEATURES, 1, 128, true) & VIRTIO_STATUS_DRIVER_OK);
	assert_false(vh_status(h) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 0, VH_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);

	/* Out-of-RAM data buffer. */
	vh_set_desc(h, 0, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	vh_set_desc(h, 0, 1, VH_MEM_SIZE - 256, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	vh_set_desc(h, 0, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	vh_submit(h, 0, 0);
	assert_true(vh_wait_status(h, VIRTIO_STATUS_NEEDS_RESET));
	assert_true(vh_setup(h, STD_FEATURES, 1, 128, true) & VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 0, VH_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
}

static void test_rings_outside_ram(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;

	vh_wr(h, VIRTIO_COMMON_STATUS, 0, 1);
	vh_wr(h, VIRTIO_COMMON_STATUS, 3, 1);
	vh_wr(h, VIRTIO_COMMON_GFSELECT, 1, 4);
	vh_wr(h, VIRTIO_COMMON_GF, 1, 4);
	vh_wr(h, VIRTIO_COMMON_STATUS, 11, 1);
	vh_wr(h, VIRTIO_COMMON_Q_SELECT, 0, 2);
	vh_wr(h, VIRTIO_COMMON_Q_DESC, VH_MEM_SIZE - 16, 8);
	vh_wr(h, VIRTIO_COMMON_Q_DRIVER, 0x4000, 8);
	vh_wr(h, VIRTIO_COMMON_Q_DEVICE, 0x8000, 8);
	vh_wr(h, VIRTIO_COMMON_Q_ENABLE, 1, 2);
	assert_true(vh_status(h) & VIRTIO_STATUS_NEEDS_RESET);
	/* A queue size that is not a power of two. */
	assert_true(vh_setup(h, STD_FEATURES, 1, 100, false) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(vh_setup(h, STD_FEATURES, 1, 512, false) & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(vh_setup(h, STD_FEATURES, 1, 256, false) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_many_in_flight(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	struct { uint32_t type, reserved; uint64_t sector; } hdr;
	const unsigned n = 32;

	assert_true(vh_setup(h, STD_FEATURES, 1, 128, false) & VIRTIO_STATUS_DRIVER_OK);
	for (unsigned i = 0; i < n; i++) {
		uint64_t hg = HDR + 32 * i, sg = STATUS + 0x1000 + i, dg = VH_DATA + 4096ull * i;

		hdr = (typeof(hdr)){ VIRTIO_BLK_T_IN, 0, 8ull * i };
		memcpy(vh_ptr(h, hg, 16), &hdr, 16);
		*(uint8_t *)vh_ptr(h, sg, 1) = 0xee;
		vh_set_desc(h, 0, 3 * i, hg, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(3 * i + 1));
		vh_set_desc(h, 0, 3 * i + 1, dg, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(3 * i + 2));
		vh_set_desc(h, 0, 3 * i + 2, sg, 1, VIRTQ_DESC_F_WRITE, 0);
		vh_avail(h, 0)->ring[i] = (uint16_t)(3 * i);
	}
	__atomic_store_n(&vh_avail(h, 0)->idx, n, __ATOMIC_RELEASE);
	h->avail_idx[0] = n;
	vh_wr(h, VIRTIO_NOTIFY_OFF, 0, 2);
	assert_true(vh_wait_used(h, 0, n));
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(*(uint8_t *)vh_ptr(h, STATUS + 0x1000 + i, 1), 0);
		assert_int_equal(*(uint8_t *)vh_ptr(h, VH_DATA + 4096ull * i, 1), (uint8_t)(i * 7));
	}
}

/*
 * Queues n 4 KiB requests at sector 8 * (first + i) on queue qi (descriptors
 * 3i..3i+2 of that queue's table; headers, data and status bytes in the
 * queue's own area: for queue 0, HDR + 32i, VH_DATA + 4 KiB i and
 * STATUS + 0x1000 + i), one doorbell.
 */
static void post_batch(struct vh *h, unsigned qi, uint32_t type, unsigned first, unsigned n)
{
	struct { uint32_t type, reserved; uint64_t sector; } hdr;
	struct virtq_avail *a = vh_avail(h, qi);

	for (unsigned i = 0; i < n; i++) {
		uint64_t hg = HDR + 0x800 * qi + 32 * i, sg = STATUS + 0x1000 + 0x100 * qi + i;
		uint64_t dg = VH_DATA + 0x40000ull * qi + 4096ull * i;

		hdr = (typeof(hdr)){ type, 0, 8ull * (first + i) };
		memcpy(vh_ptr(h, hg, 16), &hdr, 16);
		*(uint8_t *)vh_ptr(h, sg, 1) = 0xee;
		vh_set_desc(h, qi, 3 * i, hg, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(3 * i + 1));
		vh_set_desc(h, qi, 3 * i + 1, dg, 4096,
			    VIRTQ_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0), (uint16_t)(3 * i + 2));
		vh_set_desc(h, qi, 3 * i + 2, sg, 1, VIRTQ_DESC_F_WRITE, 0);
		a->ring[(h->avail_idx[qi] + i) % h->qsize[qi]] = (uint16_t)(3 * i);
	}
	h->avail_idx[qi] = (uint16_t)(h->avail_idx[qi] + n);
	__atomic_store_n(&a->idx, h->avail_idx[qi], __ATOMIC_RELEASE);
	vh_wr(h, VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * qi, 0, 2);
}

/*
 * Requests made available together are served as one batch: one pass of
 * the queue handler, the writes handed to the workers together, the reads
 * (page-cache hits) returned together with one interrupt even without
 * EVENT_IDX, where every used-ring update the driver does not mask counts.
 */
static void test_batches(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	struct virtio_dev *v = virtio_blk_dev(f->blk);
	struct virtio_blk_stats w, r;
	const unsigned n = 24;
	uint8_t sector[512];
	uint64_t irqs;
	int fd;

	virtio_blk_set_poll(f->blk, 0);
	assert_true(vh_setup(h, F(VIRTIO_F_VERSION_1), 1, 128, false) & VIRTIO_STATUS_DRIVER_OK);
	for (unsigned i = 0; i < n; i++)
		memset(vh_ptr(h, VH_DATA + 4096ull * i, 4096), 0xa0 + (int)i, 4096);
	post_batch(h, 0, VIRTIO_BLK_T_OUT, 16, n);
	assert_true(vh_wait_used(h, 0, n));
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(*(uint8_t *)vh_ptr(h, STATUS + 0x1000 + i, 1), VIRTIO_BLK_S_OK);
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(pread(fd, sector, sizeof(sector), 4096 * (16 + i) + 4096 - 512), 512);
		assert_int_equal(sector[0], 0xa0 + i);
	}
	close(fd);
	virtio_blk_get_stats(f->blk, &w);
	assert_int_equal(w.chains, n);
	assert_int_equal(w.batches, 1);
	/* Buffered writes end in the page cache: done on the disk's thread, not handed off. */
	assert_int_equal(w.to_workers, 0);

	memset(vh_ptr(h, VH_DATA, 4096ull * n), 0, 4096ull * n);
	pthread_mutex_lock(&v->lock);
	irqs = v->interrupts;
	pthread_mutex_unlock(&v->lock);
	post_batch(h, 0, VIRTIO_BLK_T_IN, 16, n);
	assert_true(vh_wait_used(h, 0, 2 * n));
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(*(uint8_t *)vh_ptr(h, STATUS + 0x1000 + i, 1), VIRTIO_BLK_S_OK);
		assert_int_equal(*(uint8_t *)vh_ptr(h, VH_DATA + 4096ull * i + 100, 1), 0xa0 + i);
	}
	virtio_blk_get_stats(f->blk, &r);
	assert_int_equal(r.chains, 2 * n);
	assert_int_equal(r.batches, 2);
	assert_int_equal(r.polls, 0);
	pthread_mutex_lock(&v->lock);
	if (r.to_workers == w.to_workers) /* all page-cache hits, served on the loop */
		assert_int_equal(v->interrupts - irqs, 1);
	pthread_mutex_unlock(&v->lock);
}

/*
 * cache=none: writes go to the disk itself, so they go to the workers
 * (the queue thread never waits on the device), and still land.
 */
static void test_direct_writes_to_workers(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	struct virtio_blk_stats st;
	const unsigned n = 8;
	uint8_t sector[512];
	int fd;

	if (!f->blk)
		skip(); /* no O_DIRECT on this file system */
	assert_true(vh_setup(h, STD_FEATURES, 1, 128, false) & VIRTIO_STATUS_DRIVER_OK);
	for (unsigned i = 0; i < n; i++)
		memset(vh_ptr(h, VH_DATA + 4096ull * i, 4096), 0x50 + (int)i, 4096);
	post_batch(h, 0, VIRTIO_BLK_T_OUT, 40, n);
	assert_true(vh_wait_used(h, 0, n));
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.to_workers, n);
	assert_int_equal(st.write_reqs, n);
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(pread(fd, sector, sizeof(sector), 4096 * (40 + i)), 512);
		assert_int_equal(sector[0], 0x50 + i);
		assert_int_equal(*(uint8_t *)vh_ptr(h, STATUS + 0x1000 + i, 1), VIRTIO_BLK_S_OK);
	}
	close(fd);
}

/*
 * cache=none with io_uring: aligned reads, writes and flushes go to the
 * disk's ring (none to a worker) and land; an unaligned buffer cannot go
 * to O_DIRECT as it is, so that one request is bounced on a worker.
 */
static void test_ring_io(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	struct virtio_blk_stats st;
	const unsigned n = 8;
	uint8_t sector[512];
	uint32_t len;
	int fd;

	if (!f->blk)
		skip(); /* no O_DIRECT or no io_uring here */
	assert_true(virtio_blk_uses_ring(f->blk));
	assert_true(vh_setup(h, STD_FEATURES, 1, 128, false) & VIRTIO_STATUS_DRIVER_OK);
	for (unsigned i = 0; i < n; i++)
		memset(vh_ptr(h, VH_DATA + 4096ull * i, 4096), 0x60 + (int)i, 4096);
	post_batch(h, 0, VIRTIO_BLK_T_OUT, 64, n);
	assert_true(vh_wait_used(h, 0, n));
	h->used_seen[0] = n;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(*(uint8_t *)vh_ptr(h, STATUS + 0x1000 + i, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.to_ring, n + 1);
	assert_int_equal(st.to_workers, 0);
	assert_int_equal(st.flushes, 1);
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(pread(fd, sector, sizeof(sector), 4096 * (64 + i) + 1024), 512);
		assert_int_equal(sector[0], 0x60 + i);
	}
	close(fd);

	/* Read back through the ring: the used length counts the data and the status byte. */
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 8 * 65, VH_DATA + 0x10000, 4096, true, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 4097);
	assert_int_equal(*(uint8_t *)vh_ptr(h, VH_DATA + 0x10000 + 4095, 1), 0x61);
	/* Unaligned: a worker bounces it. */
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 8 * 66, VH_DATA + 0x20001, 4096, true, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)vh_ptr(h, VH_DATA + 0x20001, 1), 0x62);
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.to_ring, n + 2);
	assert_int_equal(st.to_workers, 1);
	assert_int_equal(st.errors, 0);
}

/*
 * Two queues: offered with MQ and num_queues 2; writes on queue 0 and reads
 * on queue 1 at once, each served (inline or by a worker) and completed on
 * its own queue, the data where the other queue's requests put it.
 */
static void mq_writes_and_reads(struct fx *f)
{
	struct vh *h = &f->h;
	const unsigned n = 12;
	uint8_t sector[512];
	int fd;

	assert_true(vh_rd(h, VIRTIO_COMMON_DF, 4) & F(VIRTIO_BLK_F_MQ));
	assert_int_equal(vh_rd(h, VIRTIO_DEVCFG_OFF + VIRTIO_BLK_CFG_NUM_QUEUES, 2), 2);
	assert_true(vh_setup(h, STD_FEATURES | F(VIRTIO_BLK_F_MQ), 2, 128, false) & VIRTIO_STATUS_DRIVER_OK);
	for (unsigned i = 0; i < n; i++)
		memset(vh_ptr(h, VH_DATA + 4096ull * i, 4096), 0x30 + (int)i, 4096);
	post_batch(h, 0, VIRTIO_BLK_T_OUT, 100, n);
	post_batch(h, 1, VIRTIO_BLK_T_IN, 0, n);
	assert_true(vh_wait_used(h, 0, n));
	assert_true(vh_wait_used(h, 1, n));
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(*(uint8_t *)vh_ptr(h, STATUS + 0x1000 + i, 1), VIRTIO_BLK_S_OK);
		assert_int_equal(*(uint8_t *)vh_ptr(h, STATUS + 0x1100 + i, 1), VIRTIO_BLK_S_OK);
		/* make_image: byte j of 4 KiB block b is b * 7 + j / 512 */
		assert_int_equal(*(uint8_t *)vh_ptr(h, VH_DATA + 0x40000 + 4096ull * i + 1024, 1), (uint8_t)(i * 7 + 2));
		assert_int_equal(vh_used(h, 0)->ring[i].id % 3, 0);
		assert_int_equal(vh_used(h, 1)->ring[i].len, 4097);
	}
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(pread(fd, sector, sizeof(sector), 4096 * (100 + i)), 512);
		assert_int_equal(sector[0], 0x30 + i);
	}
	close(fd);
}

static void test_mq(void **state)
{
	struct fx *f = *state;
	struct virtio_blk_stats st;

	mq_writes_and_reads(f);
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.to_workers, 0);
}

/* The same with every request on the workers: their completions find their queues. */
static void test_mq_workers(void **state)
{
	struct fx *f = *state;
	struct virtio_blk_stats st;

	if (!f->blk)
		skip(); /* no O_DIRECT on this file system */
	mq_writes_and_reads(f);
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.to_workers, 24);
}

/*
 * Another process cuts the image short under a running VM (flock binds only
 * those who ask): a read past the new end comes back short - from preadv2 or
 * from the ring - and the worker that retries it answers IOERR.  Reads
 * before the cut still work.
 */
static void test_image_truncated_under_us(void **state)
{
	struct fx *f = *state;
	struct virtio_blk_stats st;

	if (!f->blk)
		skip(); /* no O_DIRECT or no io_uring here */
	assert_true(vh_setup(&f->h, STD_FEATURES, 1, 128, false) & VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(truncate(f->path, IMG_SIZE / 2), 0);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, IMG_SIZE / 512 - 8, VH_DATA, 4096, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 8, VH_DATA, 4096, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)vh_ptr(&f->h, VH_DATA, 1), 7);
	virtio_blk_get_stats(f->blk, &st);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.to_workers, 1);
}

/* The queue runs on the disk's own thread: it keeps serving with the VM's event loop stopped. */
static void test_own_thread(void **state)
{
	struct fx *f = *state;
	uint32_t len;

	assert_true(vh_setup(&f->h, STD_FEATURES, 1, 128, false) & VIRTIO_STATUS_DRIVER_OK);
	vh_stop(&f->h);
	assert_int_equal(blk_req(f, VIRTIO_BLK_T_IN, 8, VH_DATA, 4096, true, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 4097);
	assert_int_equal(*(uint8_t *)vh_ptr(&f->h, VH_DATA, 1), 7);
}

static void test_disk_open_errors(void **state)
{
	struct fx *f = *state;
	struct disk d;
	struct disk_config c = { .path = "/nonexistent/kite.img" };

	assert_int_equal(disk_open(&d, &c), -ENOENT);
	c.path = "/tmp";
	assert_int_equal(disk_open(&d, &c), -EISDIR);
	/* The fixture holds the image read-write: a second writer or reader is refused. */
	c.path = f->path;
	assert_int_equal(disk_open(&d, &c), -EBUSY);
	c.readonly = true;
	assert_int_equal(disk_open(&d, &c), -EBUSY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_config, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_feature_refusal, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_read_write, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_get_id_discard_zeroes, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_request, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_malicious_then_reset, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_rings_outside_ram, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_many_in_flight, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_batches, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_direct_writes_to_workers, setup_direct, teardown),
		cmocka_unit_test_setup_teardown(test_ring_io, setup_ring, teardown),
		cmocka_unit_test_setup_teardown(test_own_thread, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_image_truncated_under_us, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(test_image_truncated_under_us, setup_ring, teardown),
		cmocka_unit_test_setup_teardown(test_mq, setup_mq, teardown),
		cmocka_unit_test_setup_teardown(test_mq_workers, setup_mq_direct, teardown),
		cmocka_unit_test_setup_teardown(test_disk_open_errors, setup_rw, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
