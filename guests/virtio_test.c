// SPDX-License-Identifier: MIT
/*
 * virtio_test: drives kite's virtio-pci devices from a test guest (ring 3,
 * polling).  test=blk|rng|console|evil chooses what:
 *   blk      writes sectors 0-7 with a pattern, flushes, reads them back,
 *            prints the checksum of sectors 8-15 and the serial (GET_ID)
 *   rng      reads 64 random bytes
 *   console  writes a line to hvc0 (virtio-console port 0)
 *   evil     submits broken chains to virtio-blk (a loop, a buffer outside
 *            RAM, indirect inside indirect, a zero-length buffer, an avail
 *            index jump); each must put the device in NEEDS_RESET, and after
 *            a reset it must still serve a valid read
 * checksum = sum of byte[i] * (i + 1) mod 2^32 over the 4096 bytes.
 */
#include "kit.h"
#include "virtio_poll.h"

#define BLK_T_IN     0
#define BLK_T_OUT    1
#define BLK_T_FLUSH  4
#define BLK_T_GET_ID 8

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static uint8_t qarea[2][VQ_AREA_SIZE] __attribute__((aligned(4096)));
static uint8_t data[4096] __attribute__((aligned(4096)));
static struct vq_desc itable[2][4] __attribute__((aligned(16)));
static struct blk_hdr hdr;
static volatile uint8_t status;

static uint32_t checksum(const uint8_t *p, unsigned n)
{
	uint32_t s = 0;

	for (unsigned i = 0; i < n; i++)
		s += (uint32_t)p[i] * (i + 1);
	return s;
}

static int blk_open(struct vpci *d, struct vq *q, uint64_t features)
{
	if (vpci_find(0x1042, 0, d)) {
		kit_printf("virtio_test: no virtio-blk device\n");
		return -1;
	}
	if (!(vpci_init(d, features) & VIRTIO_STATUS_FEATURES_OK) || vq_setup(d, 0, q, qarea[0], 64)) {
		kit_printf("virtio_test: virtio-blk refused the set-up (status 0x%x)\n", vpci_status(d));
		return -1;
	}
	vpci_driver_ok(d);
	return 0;
}

/* One request through descriptors 0-2; returns the status byte, 0xff on timeout. */
static int blk_req(struct vq *q, uint32_t type, uint64_t sector, void *buf, uint32_t len, bool dev_writes)
{
	uint32_t id;

	hdr = (struct blk_hdr){ type, 0, sector };
	status = 0xee;
	vq_set_desc(q, 0, &hdr, sizeof(hdr), VQ_DESC_F_NEXT, len ? 1 : 2);
	vq_set_desc(q, 1, buf, len, VQ_DESC_F_NEXT | (dev_writes ? VQ_DESC_F_WRITE : 0), 2);
	vq_set_desc(q, 2, (const void *)&status, 1, VQ_DESC_F_WRITE, 0);
	vq_submit(q, 0);
	if (vq_wait(q, &id, NULL, 2000))
		return 0xff;
	return status;
}

static int test_blk(void)
{
	struct vpci d;
	struct vq q;
	uint64_t cap;
	char serial[21] = { 0 };

	if (blk_open(&d, &q, 0))
		return KIT_EXIT_FAIL;
	cap = *(volatile uint32_t *)d.device | (uint64_t) * (volatile uint32_t *)(d.device + 4) << 32;
	kit_printf("virtio-blk: 00:%02x.0 capacity %lu sectors\n", d.slot, cap);
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

static int test_rng(void)
{
	struct vpci d;
	struct vq q;
	uint32_t len = 0;
	unsigned distinct = 0;
	bool seen[256] = { false };

	if (vpci_find(0x1044, 0, &d) || !(vpci_init(&d, 0) & VIRTIO_STATUS_FEATURES_OK) ||
	    vq_setup(&d, 0, &q, qarea[0], 16))
		return KIT_EXIT_FAIL;
	vpci_driver_ok(&d);
	memset(data, 0, 64);
	vq_set_desc(&q, 0, data, 64, VQ_DESC_F_WRITE, 0);
	vq_submit(&q, 0);
	if (vq_wait(&q, NULL, &len, 2000))
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
	struct vpci d;
	struct vq rx, tx;

	if (vpci_find(0x1043, 0, &d) || !(vpci_init(&d, 0) & VIRTIO_STATUS_FEATURES_OK) ||
	    vq_setup(&d, 0, &rx, qarea[0], 16) || vq_setup(&d, 1, &tx, qarea[1], 16))
		return KIT_EXIT_FAIL;
	vpci_driver_ok(&d);
	memcpy(data, msg, sizeof(msg) - 1);
	vq_set_desc(&tx, 0, data, sizeof(msg) - 1, 0, 0);
	vq_submit(&tx, 0);
	if (vq_wait(&tx, NULL, NULL, 2000))
		return KIT_EXIT_TIMEOUT;
	kit_printf("virtio-console: sent %u bytes\n", (unsigned)(sizeof(msg) - 1));
	return KIT_EXIT_PASS;
}

static bool wait_needs_reset(struct vpci *d)
{
	uint64_t end = kit_rdtsc() + kit_tsc_hz() * 2;

	while (kit_rdtsc() < end)
		if (vpci_status(d) & VIRTIO_STATUS_NEEDS_RESET)
			return true;
	return false;
}

/* Submits one broken chain (prepared by `arm`) and checks the device gives up on it. */
static int evil_case(const char *what, void (*arm)(struct vq *q))
{
	struct vpci d;
	struct vq q;

	if (blk_open(&d, &q, 1ull << VIRTIO_F_INDIRECT_DESC))
		return KIT_EXIT_FAIL;
	hdr = (struct blk_hdr){ BLK_T_IN, 0, 0 };
	arm(&q);
	if (!wait_needs_reset(&d)) {
		kit_printf("evil: %s: device did not enter NEEDS_RESET\n", what);
		return KIT_EXIT_FAIL;
	}
	kit_printf("evil: %s -> NEEDS_RESET\n", what);
	return KIT_EXIT_PASS;
}

static void arm_loop(struct vq *q)
{
	vq_set_desc(q, 0, &hdr, sizeof(hdr), VQ_DESC_F_NEXT, 1);
	vq_set_desc(q, 1, data, 512, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 0);
	vq_submit(q, 0);
}

static void arm_outside_ram(struct vq *q)
{
	vq_set_desc(q, 0, &hdr, sizeof(hdr), VQ_DESC_F_NEXT, 1);
	vq_set_desc(q, 1, (void *)0x7f0000000000ul, 512, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 2);
	vq_set_desc(q, 2, (const void *)&status, 1, VQ_DESC_F_WRITE, 0);
	vq_submit(q, 0);
}

static void arm_nested_indirect(struct vq *q)
{
	itable[1][0] = (struct vq_desc){ (uintptr_t)&hdr, sizeof(hdr), 0, 0 };
	itable[0][0] = (struct vq_desc){ (uintptr_t)itable[1], sizeof(struct vq_desc), VQ_DESC_F_INDIRECT, 0 };
	vq_set_desc(q, 0, itable[0], sizeof(struct vq_desc), VQ_DESC_F_INDIRECT, 0);
	vq_submit(q, 0);
}

static void arm_zero_length(struct vq *q)
{
	vq_set_desc(q, 0, &hdr, 0, 0, 0);
	vq_submit(q, 0);
}

static void arm_avail_jump(struct vq *q)
{
	vq_set_desc(q, 0, &hdr, sizeof(hdr), 0, 0);
	q->avail_idx = 1000;
	vq_submit(q, 0);
}

static int test_evil(void)
{
	struct vpci d;
	struct vq q;

	if (evil_case("descriptor loop", arm_loop) || evil_case("buffer outside RAM", arm_outside_ram) ||
	    evil_case("indirect inside indirect", arm_nested_indirect) ||
	    evil_case("zero-length buffer", arm_zero_length) || evil_case("avail index jump", arm_avail_jump))
		return KIT_EXIT_FAIL;
	if (blk_open(&d, &q, 0) || blk_req(&q, BLK_T_IN, 0, data, sizeof(data), true)) {
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
	kit_printf("virtio_test: unknown test '%s'\n", test);
	return KIT_EXIT_FAIL;
}
