// SPDX-License-Identifier: MIT
/*
 * virtio_test: drives kite's virtio-pci devices from a test guest (ring 3,
 * polling).  test=blk|rng|console|evil chooses what:
 *   blk      writes sectors 0-7 with a pattern, flushes, reads them back,
 *            prints the checksum of sectors 8-15 and the serial (GET_ID)
 *   rng      reads 64 random bytes
 *   console  writes a line to hvc0 (virtio-console port 0)
 *   blkloop  keeps `slots` requests in flight (default 8) over `blocks` 4 KiB
 *            blocks (default 256): each slot writes its next block with a new
 *            generation, reads it back and checks it, `reqs` requests in all
 *            (default 20000), printing "blkloop: N requests" every 1000; then
 *            flushes, reads every block back, checks it and prints the
 *            checksum of the region.  For snapshots taken mid-flight.
 *   evil     submits broken chains to virtio-blk (a loop, a buffer outside
 *            RAM, indirect inside indirect, a zero-length buffer, an avail
 *            index jump); each must put the device in NEEDS_RESET, and after
 *            a reset it must still serve a valid read
 * checksum = sum of byte[i] * (i + 1) mod 2^32 over the 4096 bytes.
 */
#include "kit.h"
#include "virtio.h"

#define BLK_T_IN     0
#define BLK_T_OUT    1
#define BLK_T_FLUSH  4
#define BLK_T_GET_ID 8

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static uint8_t qarea[2][KIT_VQ_AREA] __attribute__((aligned(4096)));
static uint8_t data[4096] __attribute__((aligned(4096)));
static struct kit_vq_desc itable[2][4] __attribute__((aligned(16)));
static struct blk_hdr hdr;
static volatile uint8_t status;

static uint32_t checksum(const uint8_t *p, unsigned n)
{
	uint32_t s = 0;

	for (unsigned i = 0; i < n; i++)
		s += (uint32_t)p[i] * (i + 1);
	return s;
}

static int blk_open(struct kit_virtio *v, struct kit_vq *q, uint64_t features)
{
	int r = kit_virtio_init(v, KIT_VIRTIO_ID_BLK, features);

	if (r == -1) {
		kit_printf("virtio_test: no virtio-blk device\n");
		return -1;
	}
	if (r || kit_virtio_queue(v, q, 0, 64, qarea[0])) {
		kit_printf("virtio_test: virtio-blk refused the set-up (status 0x%x)\n", kit_virtio_status(v));
		return -1;
	}
	kit_virtio_driver_ok(v);
	return 0;
}

/* Makes chain `head` available and rings the doorbell. */
static void submit(struct kit_vq *q, uint16_t head)
{
	kit_vq_add(q, head);
	kit_vq_kick(q);
}

/* One request through descriptors 0-2; returns the status byte, 0xff on timeout. */
static int blk_req(struct kit_vq *q, uint32_t type, uint64_t sector, void *buf, uint32_t len, bool dev_writes)
{
	uint32_t id;

	hdr = (struct blk_hdr){ type, 0, sector };
	status = 0xee;
	kit_vq_set_desc(q, 0, &hdr, sizeof(hdr), KIT_VIRTQ_F_NEXT, len ? 1 : 2);
	kit_vq_set_desc(q, 1, buf, len, KIT_VIRTQ_F_NEXT | (dev_writes ? KIT_VIRTQ_F_WRITE : 0), 2);
	kit_vq_set_desc(q, 2, (const void *)&status, 1, KIT_VIRTQ_F_WRITE, 0);
	submit(q, 0);
	if (kit_vq_wait(q, &id, NULL, 2000))
		return 0xff;
	return status;
}

static int test_blk(void)
{
	struct kit_virtio v;
	struct kit_vq q;
	uint64_t cap;
	char serial[21] = { 0 };

	if (blk_open(&v, &q, 0))
		return KIT_EXIT_FAIL;
	cap = *(volatile uint32_t *)v.devcfg | (uint64_t) * (volatile uint32_t *)(v.devcfg + 4) << 32;
	kit_printf("virtio-blk: 00:%02x.0 capacity %lu sectors\n", v.pci.slot, cap);
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	if (blk_req(&q, BLK_T_OUT, 0, data, sizeof(data), false) || blk_req(&q, BLK_T_FLUSH, 0, NULL, 0, false)) {
		kit_printf("virtio-blk: write or flush failed\n");
		return KIT_EXIT_FAIL;
	}
	kit_printf("virtio-blk: wrote checksum 0x%x\n", checksum(data, sizeof(data)));
	memset(data, 0, sizeof(data));
	if (blk_req(&q, BLK_T_IN, 0, data, sizeof(data), true))
		return KIT_EXIT_FAIL;
	for (unsigned i = 0; i < sizeof(data); i++) {
		if (data[i] != (uint8_t)(i * 7 + 3)) {
			kit_printf("virtio-blk: read back byte %u is 0x%x\n", i, data[i]);
			return KIT_EXIT_FAIL;
		}
	}
	if (blk_req(&q, BLK_T_IN, 8, data, sizeof(data), true))
		return KIT_EXIT_FAIL;
	kit_printf("virtio-blk: read checksum 0x%x\n", checksum(data, sizeof(data)));
	if (blk_req(&q, BLK_T_GET_ID, 0, serial, 20, true))
		return KIT_EXIT_FAIL;
	kit_printf("virtio-blk: serial '%s'\n", serial);
	/* Past the end: the device's error status, not a broken device. */
	if (blk_req(&q, BLK_T_IN, cap, data, 512, true) != 1)
		return KIT_EXIT_FAIL;
	kit_printf("virtio-blk: ok\n");
	return KIT_EXIT_PASS;
}

/* ---- blkloop ---- */

#define LOOP_SLOTS_MAX  16
#define LOOP_BLOCKS_MAX 1024

struct loop_slot {
	struct blk_hdr hdr;
	volatile uint8_t status;
	bool writing;     /* the request in flight is the write (else the read back) */
	uint32_t block;
};

static struct loop_slot slot[LOOP_SLOTS_MAX];
static uint8_t slot_data[LOOP_SLOTS_MAX][4096] __attribute__((aligned(4096)));
static uint32_t gen[LOOP_BLOCKS_MAX]; /* the generation each block holds on the disk */

/* Word i of block b at generation g: the host recomputes it (tests/integration/snapshot.sh). */
static uint64_t pattern(uint32_t b, uint32_t g, unsigned i)
{
	return (uint64_t)b << 40 | (uint64_t)g << 12 | i;
}

static void loop_submit(struct kit_vq *q, unsigned s)
{
	struct loop_slot *l = &slot[s];
	uint64_t *w = (uint64_t *)slot_data[s];
	unsigned d = 3 * s;

	l->hdr = (struct blk_hdr){ l->writing ? BLK_T_OUT : BLK_T_IN, 0, (uint64_t)l->block * 8 };
	l->status = 0xee;
	for (unsigned i = 0; i < 512; i++)
		w[i] = l->writing ? pattern(l->block, gen[l->block] + 1, i) : 0xaaaaaaaaaaaaaaaaull;
	kit_vq_set_desc(q, d, &l->hdr, sizeof(l->hdr), KIT_VIRTQ_F_NEXT, d + 1);
	kit_vq_set_desc(q, d + 1, slot_data[s], 4096, KIT_VIRTQ_F_NEXT | (l->writing ? 0 : KIT_VIRTQ_F_WRITE), d + 2);
	kit_vq_set_desc(q, d + 2, (const void *)&l->status, 1, KIT_VIRTQ_F_WRITE, 0);
	submit(q, (uint16_t)d);
}

static bool block_ok(uint32_t b, const uint8_t *data)
{
	const uint64_t *w = (const uint64_t *)data;

	for (unsigned i = 0; i < 512; i++)
		if (w[i] != pattern(b, gen[b], i)) {
			kit_printf("blkloop: bad block %u word %u: 0x%lx, expected generation %u\n", b, i, w[i], gen[b]);
			return false;
		}
	return true;
}

/* A completion of slot s: a write moves the block's generation on; a read is checked, then the next block. */
static int loop_complete(struct kit_vq *q, unsigned s, unsigned slots, unsigned blocks)
{
	struct loop_slot *l = &slot[s];

	if (l->status) {
		kit_printf("blkloop: slot %u block %u: status %u\n", s, l->block, l->status);
		return -1;
	}
	if (l->writing) {
		gen[l->block]++;
	} else {
		if (!block_ok(l->block, slot_data[s]))
			return -1;
		l->block += slots;
		if (l->block >= blocks)
			l->block = s;
	}
	l->writing = !l->writing;
	loop_submit(q, s);
	return 0;
}

/* Every block read back one at a time and checked; the checksum of the whole region. */
static int loop_verify(struct kit_vq *q, unsigned blocks)
{
	uint32_t sum = 0;

	if (blk_req(q, BLK_T_FLUSH, 0, NULL, 0, false))
		return -1;
	for (uint32_t b = 0; b < blocks; b++) {
		if (blk_req(q, BLK_T_IN, (uint64_t)b * 8, data, sizeof(data), true) || !block_ok(b, data))
			return -1;
		for (unsigned i = 0; i < sizeof(data); i++)
			sum += (uint32_t)data[i] * (uint32_t)(b * 4096 + i + 1);
	}
	kit_printf("blkloop: verified %u blocks, image checksum 0x%x\n", blocks, sum);
	return 0;
}

static int test_blkloop(void)
{
	unsigned slots = (unsigned)kit_arg_ulong("slots", 8), blocks = (unsigned)kit_arg_ulong("blocks", 256);
	uint64_t reqs = kit_arg_ulong("reqs", 20000), done = 0;
	struct kit_virtio v;
	struct kit_vq q;

	if (!slots || slots > LOOP_SLOTS_MAX || blocks < slots || blocks > LOOP_BLOCKS_MAX) {
		kit_printf("blkloop: 1-%u slots, slots-%u blocks\n", LOOP_SLOTS_MAX, LOOP_BLOCKS_MAX);
		return KIT_EXIT_FAIL;
	}
	if (blk_open(&v, &q, 0))
		return KIT_EXIT_FAIL;
	/* Generation 0 everywhere first, one request at a time. */
	for (uint32_t b = 0; b < blocks; b++) {
		uint64_t *w = (uint64_t *)data;

		for (unsigned i = 0; i < 512; i++)
			w[i] = pattern(b, 0, i);
		if (blk_req(&q, BLK_T_OUT, (uint64_t)b * 8, data, sizeof(data), false))
			return KIT_EXIT_FAIL;
	}
	kit_printf("blkloop: %u slots over %u blocks, %lu requests\n", slots, blocks, reqs);
	for (unsigned s = 0; s < slots; s++) {
		slot[s] = (struct loop_slot){ .writing = true, .block = s };
		loop_submit(&q, s);
	}
	while (done < reqs) {
		uint32_t id;

		if (kit_vq_wait(&q, &id, NULL, 5000)) {
			kit_printf("blkloop: no completion for 5 s after %lu requests\n", done);
			return KIT_EXIT_TIMEOUT;
		}
		if (id % 3 || id / 3 >= slots || loop_complete(&q, id / 3, slots, blocks))
			return KIT_EXIT_FAIL;
		if (++done % 1000 == 0)
			kit_printf("blkloop: %lu requests\n", done);
	}
	/* Let the last requests finish before reading on one slot. */
	for (unsigned s = 0; s < slots; s++) {
		uint32_t id;

		if (kit_vq_wait(&q, &id, NULL, 5000))
			return KIT_EXIT_TIMEOUT;
		if (slot[id / 3].writing)
			gen[slot[id / 3].block]++;
	}
	if (loop_verify(&q, blocks))
		return KIT_EXIT_FAIL;
	kit_printf("blkloop: ok\n");
	return KIT_EXIT_PASS;
}

static int test_rng(void)
{
	struct kit_virtio v;
	struct kit_vq q;
	uint32_t len = 0;
	unsigned distinct = 0;
	bool seen[256] = { false };

	if (kit_virtio_init(&v, KIT_VIRTIO_ID_RNG, 0) || kit_virtio_queue(&v, &q, 0, 16, qarea[0]))
		return KIT_EXIT_FAIL;
	kit_virtio_driver_ok(&v);
	memset(data, 0, 64);
	kit_vq_set_desc(&q, 0, data, 64, KIT_VIRTQ_F_WRITE, 0);
	submit(&q, 0);
	if (kit_vq_wait(&q, NULL, &len, 2000))
		return KIT_EXIT_TIMEOUT;
	for (unsigned i = 0; i < len; i++) {
		distinct += !seen[data[i]];
		seen[data[i]] = true;
	}
	kit_printf("virtio-rng: %u bytes, %u distinct values\n", len, distinct);
	return len == 64 && distinct > 16 ? KIT_EXIT_PASS : KIT_EXIT_FAIL;
}

static int test_console(void)
{
	static const char msg[] = "hello from hvc0\n";
	struct kit_virtio v;
	struct kit_vq rx, tx;

	if (kit_virtio_init(&v, KIT_VIRTIO_ID_CONSOLE, 0) || kit_virtio_queue(&v, &rx, 0, 16, qarea[0]) ||
	    kit_virtio_queue(&v, &tx, 1, 16, qarea[1]))
		return KIT_EXIT_FAIL;
	kit_virtio_driver_ok(&v);
	memcpy(data, msg, sizeof(msg) - 1);
	kit_vq_set_desc(&tx, 0, data, sizeof(msg) - 1, 0, 0);
	submit(&tx, 0);
	if (kit_vq_wait(&tx, NULL, NULL, 2000))
		return KIT_EXIT_TIMEOUT;
	kit_printf("virtio-console: sent %u bytes\n", (unsigned)(sizeof(msg) - 1));
	return KIT_EXIT_PASS;
}

static bool wait_needs_reset(struct kit_virtio *v)
{
	uint64_t end = kit_rdtsc() + kit_tsc_hz() * 2;

	while (kit_rdtsc() < end)
		if (kit_virtio_status(v) & KIT_VIRTIO_S_NEEDS_RESET)
			return true;
	return false;
}

/* Submits one broken chain (prepared by `arm`) and checks the device gives up on it. */
static int evil_case(const char *what, void (*arm)(struct kit_vq *q))
{
	struct kit_virtio v;
	struct kit_vq q;

	if (blk_open(&v, &q, 1ull << KIT_VIRTIO_F_INDIRECT_DESC))
		return KIT_EXIT_FAIL;
	hdr = (struct blk_hdr){ BLK_T_IN, 0, 0 };
	arm(&q);
	if (!wait_needs_reset(&v)) {
		kit_printf("evil: %s: device did not enter NEEDS_RESET\n", what);
		return KIT_EXIT_FAIL;
	}
	kit_printf("evil: %s -> NEEDS_RESET\n", what);
	return KIT_EXIT_PASS;
}

static void arm_loop(struct kit_vq *q)
{
	kit_vq_set_desc(q, 0, &hdr, sizeof(hdr), KIT_VIRTQ_F_NEXT, 1);
	kit_vq_set_desc(q, 1, data, 512, KIT_VIRTQ_F_NEXT | KIT_VIRTQ_F_WRITE, 0);
	submit(q, 0);
}

static void arm_outside_ram(struct kit_vq *q)
{
	kit_vq_set_desc(q, 0, &hdr, sizeof(hdr), KIT_VIRTQ_F_NEXT, 1);
	kit_vq_set_desc(q, 1, (void *)0x7f0000000000ul, 512, KIT_VIRTQ_F_NEXT | KIT_VIRTQ_F_WRITE, 2);
	kit_vq_set_desc(q, 2, (const void *)&status, 1, KIT_VIRTQ_F_WRITE, 0);
	submit(q, 0);
}

static void arm_nested_indirect(struct kit_vq *q)
{
	itable[1][0] = (struct kit_vq_desc){ (uintptr_t)&hdr, sizeof(hdr), 0, 0 };
	itable[0][0] = (struct kit_vq_desc){ (uintptr_t)itable[1], sizeof(struct kit_vq_desc), KIT_VIRTQ_F_INDIRECT, 0 };
	kit_vq_set_desc(q, 0, itable[0], sizeof(struct kit_vq_desc), KIT_VIRTQ_F_INDIRECT, 0);
	submit(q, 0);
}

static void arm_zero_length(struct kit_vq *q)
{
	kit_vq_set_desc(q, 0, &hdr, 0, 0, 0);
	submit(q, 0);
}

static void arm_avail_jump(struct kit_vq *q)
{
	kit_vq_set_desc(q, 0, &hdr, sizeof(hdr), 0, 0);
	q->avail_idx = 1000;
	submit(q, 0);
}

static int test_evil(void)
{
	struct kit_virtio v;
	struct kit_vq q;

	if (evil_case("descriptor loop", arm_loop) || evil_case("buffer outside RAM", arm_outside_ram) ||
	    evil_case("indirect inside indirect", arm_nested_indirect) ||
	    evil_case("zero-length buffer", arm_zero_length) || evil_case("avail index jump", arm_avail_jump))
		return KIT_EXIT_FAIL;
	if (blk_open(&v, &q, 0) || blk_req(&q, BLK_T_IN, 0, data, sizeof(data), true)) {
		kit_printf("evil: device does not serve after reset\n");
		return KIT_EXIT_FAIL;
	}
	kit_printf("evil: device still serves after reset\n");
	return KIT_EXIT_PASS;
}

int main(void)
{
	char test[16] = "blk";

	kit_calibrate();
	kit_arg("test", test, sizeof(test));
	if (!strncmp(test, "blk", 4))
		return test_blk();
	if (!strncmp(test, "rng", 4))
		return test_rng();
	if (!strncmp(test, "console", 8))
		return test_console();
	if (!strncmp(test, "evil", 5))
		return test_evil();
	if (!strncmp(test, "blkloop", 8))
		return test_blkloop();
	kit_printf("virtio_test: unknown test '%s'\n", test);
	return KIT_EXIT_FAIL;
}
