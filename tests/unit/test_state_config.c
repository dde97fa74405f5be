// SPDX-License-Identifier: MIT
/*
 * The config section as state_vm_info decodes it: a 1.0 section (before
 * NICs) still loads, 1.1 carries the NICs, hostile NIC lists are refused;
 * restore_configure's MAC rule (override, new name, saved).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kite/section.h>
#include <kite/state.h>
#include <kite/virtio_net.h>

struct nic {
	uint8_t kind; /* 0 by name, 1 fd */
	const char *tap;
	uint8_t mac[6];
};

/* With disk_queues >= 0, one disk whose queue count (1.2) is disk_queues. */
static int disk_queues = -1;

/* A config section like config_save writes (1.0 without NICs), a memory section, the end marker. */
static void put_config(struct sbuf *b, unsigned minor, unsigned nnets, const struct nic *nets)
{
	char id[21] = "d0";

	sbuf_put_str(b, "vm1");
	sbuf_put_u64(b, 16 << 20);
	sbuf_put_u32(b, 1);
	sbuf_put_str(b, "guest.elf");
	sbuf_put_str(b, NULL);
	sbuf_put_str(b, "");
	sbuf_put_u32(b, 0); /* reboot */
	sbuf_put_u32(b, 0); /* serial stdio */
	sbuf_put_str(b, NULL);
	sbuf_put_u32(b, disk_queues >= 0); /* disks */
	if (disk_queues >= 0) {
		sbuf_put_str(b, "/images/d0.img");
		sbuf_put_u8(b, 0);
		sbuf_put(b, id, sizeof(id));
		sbuf_put_u32(b, 0); /* cache */
	}
	sbuf_put_u32(b, 0); /* console */
	sbuf_put_str(b, NULL);
	sbuf_put_u8(b, 0); /* rng */
	if (minor < 1)
		return;
	sbuf_put_u32(b, nnets);
	for (unsigned i = 0; i < nnets && nets && nets[i].tap; i++) { /* a NULL tap ends the list */
		sbuf_put_u8(b, nets[i].kind);
		sbuf_put_str(b, nets[i].tap);
		sbuf_put(b, nets[i].mac, 6);
	}
	if (minor >= 2 && disk_queues >= 0)
		sbuf_put_u32(b, (uint32_t)disk_queues);
}

static int decode(unsigned minor, unsigned nnets, const struct nic *nets, struct state_vm_info *info)
{
	struct sbuf cfg, mem, file;
	struct state_sink sink = { state_sbuf_write, &file };
	struct state_mem_source ms;
	struct state_source src = { state_mem_read, &ms };
	struct state_file f;
	int r;

	sbuf_init(&cfg);
	sbuf_init(&mem);
	sbuf_init(&file);
	put_config(&cfg, minor, nnets, nets);
	sbuf_put_u32(&mem, STATE_MEM_RAW);
	sbuf_put_u64(&mem, 16 << 20);
	sbuf_put_u32(&mem, 0);
	assert_int_equal(state_write_header(&sink), 0);
	assert_int_equal(state_write_section(&sink, "config", 0, 1, minor, cfg.data, cfg.len), 0);
	assert_int_equal(state_write_section(&sink, "memory", 0, 1, 0, mem.data, mem.len), 0);
	assert_int_equal(state_write_end(&sink), 0);
	ms = (struct state_mem_source){ file.data, file.len, 0 };
	assert_int_equal(state_read_file(&src, "test", &f), 0);
	r = state_vm_info(&f, info);
	state_file_free(&f);
	sbuf_free(&cfg);
	sbuf_free(&mem);
	sbuf_free(&file);
	return r;
}

static const struct nic two[3] = {
	{ 0, "tap0", { 0x52, 0x54, 0, 1, 2, 3 } },
	{ 1, "tap9", { 0x02, 0, 0, 0, 0, 9 } },
	{ 0, NULL, { 0 } },
};

static void test_config_1_0_has_no_nics(void **state)
{
	struct state_vm_info info;

	(void)state;
	assert_int_equal(decode(0, 0, NULL, &info), 0);
	assert_string_equal(info.cfg.name, "vm1");
	assert_int_equal(info.cfg.nnets, 0);
	state_vm_info_free(&info);
}

static void test_config_1_1_nics(void **state)
{
	struct state_vm_info info;

	(void)state;
	assert_int_equal(decode(1, 2, two, &info), 0);
	assert_int_equal(info.cfg.nnets, 2);
	assert_string_equal(info.cfg.nets[0].tap, "tap0");
	assert_memory_equal(info.cfg.nets[0].mac, two[0].mac, 6);
	assert_true(info.cfg.nets[0].mac_set);
	assert_false(info.net_by_fd[0]);
	assert_true(info.net_by_fd[1]);
	assert_int_equal(info.cfg.nets[1].fd, -1);
	state_vm_info_free(&info);
}

static void test_config_hostile_nics(void **state)
{
	struct nic bad[2] = { { 0, "tap0", { 0x01, 0, 0, 0, 0, 1 } }, { 0 } }; /* multicast */
	struct nic noname[2] = { { 0, "", { 0x02, 0, 0, 0, 0, 1 } }, { 0 } };
	struct state_vm_info info;

	(void)state;
	assert_int_equal(decode(1, KITE_MAX_NETS + 1, NULL, &info), -EINVAL);
	assert_int_equal(decode(1, 3, two, &info), -EINVAL); /* says 3, holds 2: truncated */
	assert_int_equal(decode(1, 1, bad, &info), -EINVAL);
	assert_int_equal(decode(1, 1, noname, &info), -EINVAL);
}

/* 1.2 adds each disk's queue count; before it a disk has one queue; more than a disk can have is refused. */
static void test_config_disk_queues(void **state)
{
	struct state_vm_info info;

	(void)state;
	disk_queues = 4;
	assert_int_equal(decode(1, 0, NULL, &info), 0);
	assert_int_equal(info.cfg.ndisks, 1);
	assert_int_equal(info.cfg.disks[0].queues, 0); /* 1.1: the default, one queue */
	state_vm_info_free(&info);
	assert_int_equal(decode(2, 0, NULL, &info), 0);
	assert_string_equal(info.cfg.disks[0].path, "/images/d0.img");
	assert_int_equal(info.cfg.disks[0].queues, 4);
	state_vm_info_free(&info);
	disk_queues = KITE_MAX_DISK_QUEUES + 1;
	assert_int_equal(decode(2, 0, NULL, &info), -EINVAL);
	disk_queues = -1;
}

static void test_restore_configure_macs(void **state)
{
	struct restore_image img;
	struct net_config over[2] = { { .tap = "other", .fd = -1 }, { .tap = NULL, .fd = 7, .mac_set = true } };
	uint8_t derived[6];

	(void)state;
	memset(&img, 0, sizeof(img));
	over[1].mac[0] = 0x02;
	over[1].mac[5] = 0x77;
	/* The same name: the saved MACs. */
	assert_int_equal(decode(1, 2, two, &img.info), 0);
	assert_int_equal(restore_configure(&img, NULL, NULL, 0), 0);
	assert_memory_equal(img.info.cfg.nets[0].mac, two[0].mac, 6);
	assert_string_equal(img.info.cfg.nets[1].tap, "tap9"); /* an fd's interface, by name */
	state_vm_info_free(&img.info);
	/* A new name: derived MACs, except where mac= was given; backends replaced in order. */
	assert_int_equal(decode(1, 2, two, &img.info), 0);
	assert_int_equal(restore_configure(&img, "clone-1", over, 2), 0);
	virtio_net_default_mac("clone-1", 0, derived);
	assert_memory_equal(img.info.cfg.nets[0].mac, derived, 6);
	assert_string_equal(img.info.cfg.nets[0].tap, "other");
	assert_null(img.info.cfg.nets[1].tap);
	assert_int_equal(img.info.cfg.nets[1].fd, 7);
	assert_memory_equal(img.info.cfg.nets[1].mac, over[1].mac, 6);
	/* More overrides than NICs. */
	assert_int_equal(restore_configure(&img, NULL, over, 3), -EINVAL);
	state_vm_info_free(&img.info);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_1_0_has_no_nics),
		cmocka_unit_test(test_config_1_1_nics),
		cmocka_unit_test(test_config_hostile_nics),
		cmocka_unit_test(test_config_disk_queues),
		cmocka_unit_test(test_restore_configure_macs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
