// SPDX-License-Identifier: MIT
/* virtio-rng and virtio-console through the PCI transport. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include <kite/config.h>
#include <kite/virtio_console.h>
#include <kite/virtio_rng.h>

#include "virtio_harness.h"

#define F(bit) (1ull << (bit))
#define STD_FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX))

static void test_rng(void **state)
{
	struct vh h;
	struct virtio_rng *r;
	uint8_t *buf;
	unsigned zeros = 0;

	assert_int_equal(vh_init(&h), 0);
	assert_int_equal(virtio_rng_create(&h.pci, &h.m, &r), 0);
	vh_start(&h);
	assert_int_equal(vh_find(&h, VIRTIO_ID_RNG), 0);
	assert_true(vh_setup(&h, STD_FEATURES, 1, 64, true) & VIRTIO_STATUS_DRIVER_OK);
	buf = vh_ptr(&h, VH_DATA, 4096);
	memset(buf, 0, 4096);
	vh_set_desc(&h, 0, 0, VH_DATA, 256, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	vh_set_desc(&h, 0, 1, VH_DATA + 256, 256, VIRTQ_DESC_F_WRITE, 0);
	vh_submit(&h, 0, 0);
	assert_true(vh_wait_used(&h, 0, 1));
	assert_int_equal(vh_used(&h, 0)->ring[0].len, 512);
	for (unsigned i = 0; i < 512; i++)
		zeros += !buf[i];
	assert_true(zeros < 20);
	/* A device-readable buffer gives nothing; a bad one breaks the device; reset recovers. */
	vh_set_desc(&h, 0, 2, VH_DATA + 1024, 64, 0, 0);
	vh_submit(&h, 0, 2);
	assert_true(vh_wait_used(&h, 0, 2));
	assert_int_equal(vh_used(&h, 0)->ring[1].len, 0);
	vh_set_desc(&h, 0, 3, 1ull << 40, 64, VIRTQ_DESC_F_WRITE, 0);
	vh_submit(&h, 0, 3);
	assert_true(vh_wait_status(&h, VIRTIO_STATUS_NEEDS_RESET));
	assert_true(vh_setup(&h, STD_FEATURES, 1, 64, true) & VIRTIO_STATUS_DRIVER_OK);
	vh_set_desc(&h, 0, 0, VH_DATA, 256, VIRTQ_DESC_F_WRITE, 0);
	vh_submit(&h, 0, 0);
	assert_true(vh_wait_used(&h, 0, 1));
	vh_stop(&h);
	virtio_rng_destroy(r);
	vh_exit(&h);
}

/* The PCI_CFG capability: BAR accesses through config space, as a driver without BAR mappings does. */
static void test_pci_cfg_window(void **state)
{
	struct vh h;
	struct virtio_rng *r;
	unsigned cap;

	assert_int_equal(vh_init(&h), 0);
	assert_int_equal(virtio_rng_create(&h.pci, &h.m, &r), 0);
	vh_start(&h);
	assert_int_equal(vh_find(&h, VIRTIO_ID_RNG), 0);
	for (cap = vh_cfg_read(&h, h.slot, PCI_CAP_PTR, 1); cap; cap = vh_cfg_read(&h, h.slot, cap + 1, 1))
		if (vh_cfg_read(&h, h.slot, cap, 1) == PCI_CAP_ID_VNDR &&
		    vh_cfg_read(&h, h.slot, cap + 3, 1) == VIRTIO_PCI_CAP_PCI_CFG)
			break;
	assert_int_not_equal(cap, 0);
	assert_int_equal(vh_cfg_read(&h, h.slot, cap + 2, 1), 20);
	/* num_queues (2 bytes) through the window equals what the BAR says. */
	vh_cfg_write(&h, h.slot, cap + 4, 0, 1);
	vh_cfg_write(&h, h.slot, cap + 8, VIRTIO_COMMON_NUMQ, 4);
	vh_cfg_write(&h, h.slot, cap + 12, 2, 4);
	assert_int_equal(vh_cfg_read(&h, h.slot, cap + 16, 2), vh_rd(&h, VIRTIO_COMMON_NUMQ, 2));
	assert_int_equal(vh_cfg_read(&h, h.slot, cap + 16, 2), 1);
	/* A write through the window: device_feature_select = 1, read back through the BAR. */
	vh_cfg_write(&h, h.slot, cap + 8, VIRTIO_COMMON_DFSELECT, 4);
	vh_cfg_write(&h, h.slot, cap + 12, 4, 4);
	vh_cfg_write(&h, h.slot, cap + 16, 1, 4);
	assert_int_equal(vh_rd(&h, VIRTIO_COMMON_DFSELECT, 4), 1);
	/* VERSION_1 is bit 32: device_feature with select 1 has bit 0 set. */
	vh_cfg_write(&h, h.slot, cap + 8, VIRTIO_COMMON_DF, 4);
	assert_true(vh_cfg_read(&h, h.slot, cap + 16, 4) & 1);
	/* Bad windows read zero and write nothing: another BAR, a bad length, beyond the BAR. */
	vh_cfg_write(&h, h.slot, cap + 4, 3, 1);
	assert_int_equal(vh_cfg_read(&h, h.slot, cap + 16, 4), 0);
	vh_cfg_write(&h, h.slot, cap + 4, 0, 1);
	vh_cfg_write(&h, h.slot, cap + 12, 3, 4);
	assert_int_equal(vh_cfg_read(&h, h.slot, cap + 16, 4), 0);
	vh_cfg_write(&h, h.slot, cap + 12, 4, 4);
	vh_cfg_write(&h, h.slot, cap + 8, 0xfffffffe, 4);
	vh_cfg_write(&h, h.slot, cap + 16, 0x12345678, 4);
	assert_int_equal(vh_cfg_read(&h, h.slot, cap + 16, 4), 0);
	assert_int_equal(vh_status(&h) & VIRTIO_STATUS_NEEDS_RESET, 0);
	vh_stop(&h);
	virtio_rng_destroy(r);
	vh_exit(&h);
}

static void test_console_output_to_file(void **state)
{
	char path[] = "/tmp/kite-con-XXXXXX", got[64] = { 0 };
	struct console_config cfg = { .kind = CONSOLE_FILE, .path = path };
	struct virtio_console *c;
	struct vh h;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(vh_init(&h), 0);
	assert_int_equal(virtio_console_create(&h.pci, &h.m, &cfg, &c), 0);
	assert_null(virtio_console_pty(c));
	vh_start(&h);
	assert_int_equal(vh_find(&h, VIRTIO_ID_CONSOLE), 0);
	assert_int_equal(vh_cfg_read(&h, h.slot, 0x0a, 2), 0x0780);
	assert_int_equal(vh_rd(&h, VIRTIO_COMMON_NUMQ, 2), 2);
	assert_true(vh_setup(&h, STD_FEATURES, 2, 64, false) & VIRTIO_STATUS_DRIVER_OK);
	memcpy(vh_ptr(&h, VH_DATA, 6), "hello ", 6);
	memcpy(vh_ptr(&h, VH_DATA + 100, 6), "hvc0\n", 5);
	vh_set_desc(&h, 1, 0, VH_DATA, 6, VIRTQ_DESC_F_NEXT, 1);
	vh_set_desc(&h, 1, 1, VH_DATA + 100, 5, 0, 0);
	vh_submit(&h, 1, 0);
	assert_true(vh_wait_used(&h, 1, 1));
	assert_int_equal(pread(fd, got, sizeof(got) - 1, 0), 11);
	assert_string_equal(got, "hello hvc0\n");
	vh_stop(&h);
	virtio_console_destroy(c);
	vh_exit(&h);
	close(fd);
	unlink(path);
}

static void test_console_pty_input(void **state)
{
	struct console_config cfg = { .kind = CONSOLE_PTY };
	struct virtio_console *c;
	struct vh h;
	int slave;
	uint8_t *buf;

	assert_int_equal(vh_init(&h), 0);
	assert_int_equal(virtio_console_create(&h.pci, &h.m, &cfg, &c), 0);
	assert_non_null(virtio_console_pty(c));
	slave = open(virtio_console_pty(c), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	vh_start(&h);
	assert_int_equal(vh_find(&h, VIRTIO_ID_CONSOLE), 0);
	assert_true(vh_setup(&h, STD_FEATURES, 2, 64, true) & VIRTIO_STATUS_DRIVER_OK);
	/* The guest posts a receive buffer; what is typed on the pty lands in it. */
	buf = vh_ptr(&h, VH_DATA, 64);
	memset(buf, 0, 64);
	vh_set_desc(&h, 0, 0, VH_DATA, 64, VIRTQ_DESC_F_WRITE, 0);
	vh_submit(&h, 0, 0);
	assert_int_equal(write(slave, "ping", 4), 4);
	assert_true(vh_wait_used(&h, 0, 1));
	assert_int_equal(vh_used(&h, 0)->ring[0].len, 4);
	assert_memory_equal(buf, "ping", 4);
	vh_stop(&h);
	virtio_console_destroy(c);
	close(slave);
	vh_exit(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng),
		cmocka_unit_test(test_pci_cfg_window),
		cmocka_unit_test(test_console_output_to_file),
		cmocka_unit_test(test_console_pty_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
