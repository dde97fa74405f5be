// SPDX-License-Identifier: MIT
/*
 * The bzImage loader on a fake kernel: a setup header (protocol 2.15) and a
 * few KiB of "protected-mode kernel".  Checks the zero page, the e820 table
 * in it, initrd placement, the command line, the page tables and the GDT.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <kite/bootparam.h>

#include "boot_fixture.h"

#define KPATH "/boot/vmlinuz-test"
#define PM_OFF  0x400 /* setup_sects = 1 */
#define PM_LEN  0x3000

static struct setup_header *hdr(struct timg *t)
{
	return (struct setup_header *)(t->b + BZ_SETUP_HDR_OFF);
}

static void fake_bzimage(struct timg *t, uint16_t version)
{
	struct setup_header *h = hdr(t);

	memset(t, 0, sizeof(*t));
	t->len = PM_OFF + PM_LEN;
	h->setup_sects = 1;
	h->boot_flag = BZ_BOOT_FLAG;
	t->b[0x200] = 0xeb;
	t->b[0x201] = 0x26c - 0x202; /* header end, as the jump encodes it */
	h->header = BZ_HDR_MAGIC;
	h->version = version;
	h->loadflags = BZ_LOADED_HIGH;
	h->code32_start = 0x100000;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->xloadflags = BZ_XLF_KERNEL_64 | 0x2;
	h->cmdline_size = 2047;
	h->pref_address = 0x1000000;
	h->init_size = 0x200000;
	h->kernel_info_offset = 0x1234;
	for (size_t i = 0; i < PM_LEN; i++)
		t->b[PM_OFF + i] = (uint8_t)(i ^ 0x5a);
}

static int load(struct vmfix *f, const struct boot_config *cfg, const struct timg *t, const void *initrd,
		size_t ilen, struct boot_entry *e)
{
	return boot_load_image(&f->m, &f->map, cfg, t->b, t->len, initrd, ilen, e);
}

static void expect_bad(struct vmfix *f, const struct boot_config *cfg, const struct timg *t, const char *why)
{
	struct boot_entry e;
	struct capture c;
	const char *msg;
	int r;

	capture_start(&c);
	r = load(f, cfg, t, NULL, 0, &e);
	msg = capture_end(&c);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(msg, KPATH ": "));
	if (!strstr(msg, why))
		fail_msg("message \"%s\" lacks \"%s\"", msg, why);
}

/* Walks kite's page tables like the MMU: 4-level, 2 MiB pages. */
static uint64_t translate(struct vmfix *f, uint64_t cr3, uint64_t va)
{
	uint64_t *pml4 = gptr(f, cr3, 4096), *pdpt, *pd;

	assert_true(pml4[(va >> 39) & 511] & 1);
	pdpt = gptr(f, pml4[(va >> 39) & 511] & ~0xfffull, 4096);
	assert_true(pdpt[(va >> 30) & 511] & 1);
	pd = gptr(f, pdpt[(va >> 30) & 511] & ~0xfffull, 4096);
	assert_int_equal(pd[(va >> 21) & 511] & 0x83, 0x83);
	return (pd[(va >> 21) & 511] & ~0x1fffffull) | (va & 0x1fffff);
}

static void test_bzimage_zero_page(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct boot_config cfg = { .kernel_path = KPATH, .initrd_path = "/initrd.img",
				   .cmdline = "console=ttyS0 panic=-1", .rsdp_addr = 0xe0000 };
	static uint8_t initrd[10000];
	struct boot_params *zp;
	struct boot_entry e;
	struct timg t;

	memset(initrd, 0xcd, sizeof(initrd));
	fake_bzimage(&t, 0x020f);
	assert_int_equal(boot_detect(t.b, t.len), BOOT_BZIMAGE);
	assert_int_equal(load(f, &cfg, &t, initrd, sizeof(initrd), &e), 0);
	assert_int_equal(e.format, BOOT_BZIMAGE);
	assert_int_equal(e.mode, BOOT_CPU_LONG64);
	/* Relocatable and room at pref_address: loaded there. */
	assert_int_equal(e.kernel_start, 0x1000000);
	assert_int_equal(e.kernel_end, 0x1200000); /* init_size */
	assert_int_equal(e.rip, 0x1000000 + 0x200);
	assert_memory_equal(gptr(f, 0x1000000, PM_LEN), t.b + PM_OFF, PM_LEN);

	zp = gptr(f, e.rsi, sizeof(*zp));
	assert_int_equal(e.rsi % 4096, 0);
	assert_int_equal(zp->hdr.header, BZ_HDR_MAGIC);
	assert_int_equal(zp->hdr.version, 0x020f);
	assert_int_equal(zp->hdr.kernel_info_offset, 0x1234); /* copied from the file */
	assert_int_equal(zp->hdr.type_of_loader, 0xff);
	assert_int_equal(zp->hdr.loadflags, BZ_LOADED_HIGH | BZ_CAN_USE_HEAP);
	assert_int_equal(zp->hdr.heap_end_ptr, 0xfe00);
	assert_int_equal(zp->hdr.code32_start, 0x1000000);
	assert_string_equal((char *)gptr(f, zp->hdr.cmd_line_ptr, 1), "console=ttyS0 panic=-1");
	assert_int_equal(zp->acpi_rsdp_addr, 0xe0000);

	assert_int_equal(zp->e820_entries, f->map.nr);
	for (unsigned i = 0; i < f->map.nr; i++) {
		assert_int_equal(zp->e820_table[i].addr, f->map.e[i].addr);
		assert_int_equal(zp->e820_table[i].size, f->map.e[i].size);
		assert_int_equal(zp->e820_table[i].type, f->map.e[i].type);
	}

	/* The initrd as high as possible, page aligned, below the end of RAM. */
	assert_int_equal(zp->hdr.ramdisk_size, sizeof(initrd));
	assert_int_equal(zp->hdr.ramdisk_image, ALIGN_DOWN(64 * MiB - sizeof(initrd), 4096));
	assert_memory_equal(gptr(f, zp->hdr.ramdisk_image, sizeof(initrd)), initrd, sizeof(initrd));
	assert_int_equal(e.initrd_addr, zp->hdr.ramdisk_image);

	/* Identity page tables over 4 GiB, and the GDT with boot.rst's selectors. */
	assert_int_equal(e.cr3 % 4096, 0);
	assert_int_equal(translate(f, e.cr3, 0), 0);
	assert_int_equal(translate(f, e.cr3, e.rip), e.rip);
	assert_int_equal(translate(f, e.cr3, e.rsi), e.rsi);
	assert_int_equal(translate(f, e.cr3, 0xfffff123), 0xfffff123);
	assert_int_equal(e.gdt_limit, 31);
	assert_int_equal(*(uint64_t *)gptr(f, e.gdt_base + BOOT_GDT_CS, 8), 0x00af9b000000ffffull);
	assert_int_equal(*(uint64_t *)gptr(f, e.gdt_base + BOOT_GDT_DS, 8), 0x00cf93000000ffffull);
	/* None of the boot data on the kernel or the initrd. */
	assert_false(ranges_overlap(e.bootdata_start, e.bootdata_end - e.bootdata_start, e.kernel_start,
				    e.kernel_end - e.kernel_start));
	assert_false(ranges_overlap(e.bootdata_start, e.bootdata_end - e.bootdata_start, e.initrd_addr,
				    e.initrd_size));
	assert_true(e.bootdata_start >= 0x1000);
	vmfix_free(f);
}

/* A kernel that is not relocatable goes to 1 MiB; it will move itself to pref_address, so that stays free too. */
static void test_bzimage_not_relocatable(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct boot_config cfg = { .kernel_path = KPATH, .initrd_path = "i", .cmdline = "" };
	static uint8_t initrd[0x100000];
	struct boot_params *zp;
	struct boot_entry e;
	struct timg t;

	fake_bzimage(&t, 0x020f);
	hdr(&t)->relocatable_kernel = 0;
	hdr(&t)->initrd_addr_max = 0x1ffffff; /* 32 MiB */
	assert_int_equal(load(f, &cfg, &t, initrd, sizeof(initrd), &e), 0);
	assert_int_equal(e.rip, 0x100200);
	assert_memory_equal(gptr(f, 0x100000, PM_LEN), t.b + PM_OFF, PM_LEN);
	assert_int_equal(e.kernel_start, 0x100000);
	assert_int_equal(e.kernel_end, 0x1200000);
	zp = gptr(f, e.rsi, sizeof(*zp));
	assert_int_equal(zp->hdr.ramdisk_image, 32 * MiB - sizeof(initrd));
	assert_string_equal((char *)gptr(f, zp->hdr.cmd_line_ptr, 1), "");
	vmfix_free(f);
}

/* Protocol 2.13 has no acpi_rsdp_addr; no initrd leaves the ramdisk fields zero. */
static void test_bzimage_protocol_2_13(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct boot_config cfg = { .kernel_path = KPATH, .cmdline = "x", .rsdp_addr = 0xe0000 };
	struct boot_params *zp;
	struct boot_entry e;
	struct timg t;

	fake_bzimage(&t, 0x020d);
	hdr(&t)->ramdisk_image = 0x1234; /* junk in the file must not reach the kernel */
	assert_int_equal(load(f, &cfg, &t, NULL, 0, &e), 0);
	zp = gptr(f, e.rsi, sizeof(*zp));
	assert_int_equal(zp->acpi_rsdp_addr, 0);
	assert_int_equal(zp->hdr.ramdisk_image, 0);
	assert_int_equal(zp->hdr.ramdisk_size, 0);
	assert_int_equal(e.initrd_size, 0);
	vmfix_free(f);
}

static void test_bzimage_refused(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct boot_config cfg = { .kernel_path = KPATH, .cmdline = "" };
	char longline[64];
	struct timg t;

	fake_bzimage(&t, 0x020b);
	expect_bad(f, &cfg, &t, "protocol 2.11");
	fake_bzimage(&t, 0x020f);
	hdr(&t)->xloadflags = 0;
	expect_bad(f, &cfg, &t, "without XLF_KERNEL_64");
	fake_bzimage(&t, 0x020f);
	hdr(&t)->loadflags = 0;
	expect_bad(f, &cfg, &t, "LOADED_HIGH");
	fake_bzimage(&t, 0x020f);
	hdr(&t)->setup_sects = 200; /* setup longer than the file */
	expect_bad(f, &cfg, &t, "no protected-mode kernel");
	fake_bzimage(&t, 0x020f);
	t.len = 0x210; /* header cut off */
	expect_bad(f, &cfg, &t, "cut off");
	fake_bzimage(&t, 0x020f);
	hdr(&t)->cmdline_size = 10;
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	cfg.cmdline = longline;
	expect_bad(f, &cfg, &t, "cmdline_size");
	vmfix_free(f);
}

/* A kernel bigger than the guest, and an initrd that does not fit below initrd_addr_max. */
static void test_bzimage_no_room(void **state)
{
	struct vmfix *f = vmfix_new(16 * MiB);
	struct boot_config cfg = { .kernel_path = KPATH, .initrd_path = "big-initrd", .cmdline = "" };
	static uint8_t initrd[0x100000];
	struct boot_entry e;
	struct capture c;
	const char *msg;
	struct timg t;
	int r;

	fake_bzimage(&t, 0x020f);
	hdr(&t)->init_size = 0x2000000; /* 32 MiB */
	expect_bad(f, &cfg, &t, "not inside guest RAM");
	vmfix_free(f);

	f = vmfix_new(64 * MiB);
	fake_bzimage(&t, 0x020f);
	hdr(&t)->initrd_addr_max = 0x1fffff; /* 2 MiB: taken by the kernel loaded at 1 MiB */
	hdr(&t)->relocatable_kernel = 0;
	capture_start(&c);
	r = load(f, &cfg, &t, initrd, sizeof(initrd), &e);
	msg = capture_end(&c);
	assert_int_equal(r, -ENOMEM);
	assert_non_null(strstr(msg, "big-initrd: no room"));
	vmfix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bzimage_zero_page),
		cmocka_unit_test(test_bzimage_not_relocatable),
		cmocka_unit_test(test_bzimage_protocol_2_13),
		cmocka_unit_test(test_bzimage_refused),
		cmocka_unit_test(test_bzimage_no_room),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
