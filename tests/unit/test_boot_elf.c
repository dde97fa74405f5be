// SPDX-License-Identifier: MIT
/*
 * Multiboot and PVH ELF loading on images built here byte by byte: the boot
 * data kite writes (read back through gmem), kernels that load low, and
 * crafted bad files, each of which must give -EINVAL and a message naming
 * the file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <kite/multiboot.h>
#include <kite/pvh.h>

#include "boot_fixture.h"

#define KPATH "/boot/test-kernel"

static const struct boot_config cfg_plain = { .kernel_path = KPATH, .cmdline = "" };

/* A Multiboot ELF32 kernel: one segment at `paddr` (0x1000 bytes of file, `memsz` in memory), header at its start. */
static void mb_kernel(struct timg *t, bool is64, uint64_t paddr, uint64_t memsz, uint32_t flags)
{
	struct tseg s = { .type = PT_LOAD, .offset = 0x1000, .paddr = paddr, .vaddr = paddr, .filesz = 0x1000,
			  .memsz = memsz };

	timg_elf(t, is64, paddr + 0x10, &s, 1, 0x2000);
	timg_multiboot(t, 0x1000, flags);
	memset(t->b + 0x1010, 0x90, 0x10);
}

/* A PVH ELF64 kernel: a segment at `paddr`, a PT_NOTE with the entry note. */
static void pvh_kernel(struct timg *t, uint64_t paddr, uint64_t entry)
{
	struct tseg s[2] = {
		{ .type = PT_LOAD, .offset = 0x1000, .paddr = paddr, .vaddr = 0xffffffff81000000ull,
		  .filesz = 0x1000, .memsz = 0x4000 },
		{ .type = PT_NOTE, .offset = 0x2000, .filesz = 20 },
	};

	timg_elf(t, true, 0xffffffff81000000ull, s, 2, 0x3000);
	memset(t->b + 0x1000, 0xf4, 0x1000);
	timg_pvh_note(t, 0x2000, entry, 4);
}

static int load(struct vmfix *f, const struct boot_config *cfg, const struct timg *t, const void *initrd,
		size_t ilen, struct boot_entry *e)
{
	return boot_load_image(&f->m, &f->map, cfg, t->b, t->len, initrd, ilen, e);
}

/* Loads a bad image, expecting -EINVAL and a message with the path and `why`. */
static void expect_bad(struct vmfix *f, const struct timg *t, const char *why)
{
	struct boot_entry e;
	struct capture c;
	const char *msg;
	int r;

	capture_start(&c);
	r = load(f, &cfg_plain, t, NULL, 0, &e);
	msg = capture_end(&c);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(msg, KPATH ": "));
	if (!strstr(msg, why))
		fail_msg("message \"%s\" lacks \"%s\"", msg, why);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return ranges_overlap(a, alen, b, blen);
}

static void test_multiboot_info(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct boot_config cfg = { .kernel_path = KPATH, .initrd_path = "/tmp/mod.img", .cmdline = "arg=1 x" };
	static uint8_t initrd[5000];
	struct multiboot_info *mbi;
	struct multiboot_mmap_entry *mm;
	struct multiboot_mod *mod;
	struct boot_entry e;
	struct timg t;

	memset(initrd, 0xab, sizeof(initrd));
	mb_kernel(&t, false, 0x100000, 0x3000, MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO);
	assert_int_equal(boot_detect(t.b, t.len), BOOT_MULTIBOOT);
	assert_int_equal(load(f, &cfg, &t, initrd, sizeof(initrd), &e), 0);
	assert_int_equal(e.format, BOOT_MULTIBOOT);
	assert_int_equal(e.mode, BOOT_CPU_PROT32);
	assert_int_equal(e.rip, 0x100010);
	assert_int_equal(e.rax, 0x2BADB002);
	assert_int_equal(e.kernel_start, 0x100000);
	assert_int_equal(e.kernel_end, 0x103000);
	/* The kernel's bytes, and its bss zeroed. */
	assert_memory_equal(gptr(f, 0x100000, 0x1000), t.b + 0x1000, 0x1000);
	assert_int_equal(((uint8_t *)gptr(f, 0x101000, 0x2000))[0x1fff], 0);

	mbi = gptr(f, e.rbx, sizeof(*mbi));
	assert_true(mbi->flags & MULTIBOOT_INFO_MEMORY);
	assert_int_equal(mbi->mem_lower, 639);
	assert_int_equal(mbi->mem_upper, 63 * 1024);
	assert_true(mbi->flags & MULTIBOOT_INFO_CMDLINE);
	assert_string_equal((char *)gptr(f, mbi->cmdline, 1), KPATH " arg=1 x");
	assert_true(mbi->flags & MULTIBOOT_INFO_LOADER_NAME);
	assert_string_equal((char *)gptr(f, mbi->boot_loader_name, 1), "kite");

	assert_true(mbi->flags & MULTIBOOT_INFO_MODS);
	assert_int_equal(mbi->mods_count, 1);
	mod = gptr(f, mbi->mods_addr, sizeof(*mod));
	assert_int_equal(mod->mod_start % 4096, 0);
	assert_int_equal(mod->mod_end - mod->mod_start, sizeof(initrd));
	assert_memory_equal(gptr(f, mod->mod_start, sizeof(initrd)), initrd, sizeof(initrd));
	assert_string_equal((char *)gptr(f, mod->string, 1), "/tmp/mod.img");
	assert_false(overlaps(mod->mod_start, sizeof(initrd), e.kernel_start, e.kernel_end - e.kernel_start));
	assert_int_equal(e.initrd_addr, mod->mod_start);

	assert_true(mbi->flags & MULTIBOOT_INFO_MEM_MAP);
	assert_int_equal(mbi->mmap_length, f->map.nr * sizeof(*mm));
	mm = gptr(f, mbi->mmap_addr, mbi->mmap_length);
	for (unsigned i = 0; i < f->map.nr; i++) {
		assert_int_equal(mm[i].size, 20);
		assert_int_equal(mm[i].addr, f->map.e[i].addr);
		assert_int_equal(mm[i].len, f->map.e[i].size);
		assert_int_equal(mm[i].type, f->map.e[i].type);
	}
	/* Boot data: never the IVT page, never the kernel, always RAM. */
	assert_true(e.bootdata_start >= 0x1000);
	assert_false(overlaps(e.bootdata_start, e.bootdata_end - e.bootdata_start, e.kernel_start,
			      e.kernel_end - e.kernel_start));
	assert_non_null(e820_find(&f->map, e.gdt_base, e.gdt_limit + 1, E820_RAM));
	assert_int_equal(*(uint64_t *)gptr(f, e.gdt_base + BOOT_GDT_CS, 8), 0x00cf9b000000ffffull);
	assert_non_null(e820_find(&f->map, e.rsp - 0x1000, 0x1000, E820_RAM));
	vmfix_free(f);
}

/* Every piece of Multiboot data kite wrote, as (address, length) pairs. */
static unsigned mb_pieces(struct vmfix *f, const struct boot_entry *e, uint64_t p[][2])
{
	struct multiboot_info *mbi = gptr(f, e->rbx, sizeof(*mbi));
	unsigned n = 0;

	p[n][0] = e->rbx, p[n++][1] = sizeof(*mbi);
	p[n][0] = mbi->mmap_addr, p[n++][1] = mbi->mmap_length;
	p[n][0] = mbi->cmdline, p[n++][1] = strlen(gptr(f, mbi->cmdline, 1)) + 1;
	p[n][0] = mbi->boot_loader_name, p[n++][1] = 5;
	p[n][0] = e->gdt_base, p[n++][1] = e->gdt_limit + 1u;
	p[n][0] = e->rsp - 0x1000, p[n++][1] = 0x1000;
	if (mbi->mods_count) {
		struct multiboot_mod *mod = gptr(f, mbi->mods_addr, sizeof(*mod));

		p[n][0] = mbi->mods_addr, p[n++][1] = sizeof(*mod);
		p[n][0] = mod->string, p[n++][1] = strlen(gptr(f, mod->string, 1)) + 1;
		p[n][0] = mod->mod_start, p[n++][1] = mod->mod_end - mod->mod_start;
	}
	return n;
}

static void check_low_kernel(uint64_t paddr, uint64_t memsz)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct boot_config cfg = { .kernel_path = KPATH, .initrd_path = "m", .cmdline = "realmode" };
	static uint8_t initrd[100];
	struct boot_entry e;
	uint64_t p[16][2];
	struct timg t;
	unsigned n;

	mb_kernel(&t, false, paddr, memsz, 0);
	assert_int_equal(load(f, &cfg, &t, initrd, sizeof(initrd), &e), 0);
	assert_int_equal(e.kernel_start, paddr);
	n = mb_pieces(f, &e, p);
	for (unsigned i = 0; i < n; i++) {
		assert_true(p[i][0] >= 0x1000);
		assert_non_null(e820_find(&f->map, p[i][0], p[i][1], E820_RAM));
		if (overlaps(p[i][0], p[i][1], paddr, memsz))
			fail_msg("boot data piece %u [%#llx, +%#llx) overlaps the kernel", i,
				 (unsigned long long)p[i][0], (unsigned long long)p[i][1]);
		for (unsigned j = 0; j < i; j++)
			assert_false(overlaps(p[i][0], p[i][1], p[j][0], p[j][1]));
	}
	vmfix_free(f);
}

/* kvm-unit-tests' realmode test loads at 0x8000. */
static void test_multiboot_low_kernel(void **state)
{
	check_low_kernel(0x8000, 0x10000);
}

/* A kernel that takes all the low RAM pushes the boot data above 1 MiB. */
static void test_multiboot_kernel_fills_low_ram(void **state)
{
	check_low_kernel(0x1000, 0x9e000);
}

static void test_multiboot_elf64(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct boot_entry e;
	struct timg t;

	mb_kernel(&t, true, 0x200000, 0x1000, 0);
	assert_int_equal(load(f, &cfg_plain, &t, NULL, 0, &e), 0);
	assert_int_equal(e.rip, 0x200010);
	assert_string_equal((char *)gptr(f, ((struct multiboot_info *)gptr(f, e.rbx, 88))->cmdline, 1), KPATH);
	vmfix_free(f);
}

/* The a.out kludge: a flat binary whose header says where it goes. */
static void test_multiboot_aout_kludge(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct boot_entry e;
	struct timg t = { .len = 0x2000 };

	/* File offset 0x40 holds the header; the image starts at file offset 0 = 0x100000. */
	timg_multiboot(&t, 0x40, MULTIBOOT_AOUT_KLUDGE);
	timg_put32(&t, 0x4c, 0x100040);  /* header_addr */
	timg_put32(&t, 0x50, 0x100000);  /* load_addr */
	timg_put32(&t, 0x54, 0x101000);  /* load_end_addr: the first 4 KiB of the file */
	timg_put32(&t, 0x58, 0x104000);  /* bss_end_addr */
	timg_put32(&t, 0x5c, 0x100060);  /* entry_addr */
	t.b[0x1000] = 0x77;              /* beyond load_end: must not be loaded */
	assert_int_equal(boot_detect(t.b, t.len), BOOT_MULTIBOOT);
	assert_int_equal(load(f, &cfg_plain, &t, NULL, 0, &e), 0);
	assert_int_equal(e.rip, 0x100060);
	assert_int_equal(e.kernel_start, 0x100000);
	assert_int_equal(e.kernel_end, 0x104000);
	assert_memory_equal(gptr(f, 0x100000, 0x1000), t.b, 0x1000);
	assert_int_equal(*(uint8_t *)gptr(f, 0x101000, 1), 0);

	/* The kludge fields past the end of the file. */
	t.len = 0x50;
	expect_bad(f, &t, "cut off");
	t.len = 0x2000;
	/* load_end_addr beyond the file. */
	timg_put32(&t, 0x54, 0x103000);
	expect_bad(f, &t, "past the end");
	timg_put32(&t, 0x54, 0x101000);
	/* bss_end_addr inside the loaded image. */
	timg_put32(&t, 0x58, 0x100800);
	expect_bad(f, &t, "bss_end_addr");
	timg_put32(&t, 0x58, 0x104000);
	/* A header_addr below load_addr is inconsistent. */
	timg_put32(&t, 0x4c, 0xff000);
	expect_bad(f, &t, "header_addr");
	vmfix_free(f);
}

/* Above 3 GiB: mem_upper stops at the MMIO hole, the initrd stays below it, the mmap shows RAM at 4 GiB. */
static void test_big_guest(void **state)
{
	struct vmfix *f = vmfix_new(5 * GiB);
	struct boot_config cfg = { .kernel_path = KPATH, .initrd_path = "i", .cmdline = "" };
	static uint8_t initrd[8192];
	struct multiboot_mmap_entry *mm;
	struct hvm_modlist_entry *mod;
	struct hvm_start_info *si;
	struct multiboot_info *mbi;
	struct boot_entry e;
	struct timg t;

	mb_kernel(&t, false, 0x100000, 0x1000, MULTIBOOT_MEMORY_INFO);
	assert_int_equal(load(f, &cfg, &t, NULL, 0, &e), 0);
	mbi = gptr(f, e.rbx, sizeof(*mbi));
	assert_int_equal(mbi->mem_upper, (3 * GiB - 1 * MiB) / KiB);
	mm = gptr(f, mbi->mmap_addr, mbi->mmap_length);
	assert_int_equal(mm[mbi->mmap_length / sizeof(*mm) - 1].addr, X86_4G);
	assert_int_equal(mm[mbi->mmap_length / sizeof(*mm) - 1].len, 2 * GiB);

	pvh_kernel(&t, 0x1000000, 0x1000020);
	assert_int_equal(load(f, &cfg, &t, initrd, sizeof(initrd), &e), 0);
	si = gptr(f, e.rbx, sizeof(*si));
	mod = gptr(f, si->modlist_paddr, sizeof(*mod));
	assert_int_equal(mod->paddr, 3 * GiB - sizeof(initrd));
	vmfix_free(f);
}

static void test_pvh_start_info(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct boot_config cfg = { .kernel_path = KPATH, .initrd_path = "/i", .cmdline = "console=ttyS0",
				   .rsdp_addr = 0xe0000 };
	static uint8_t initrd[3 * 4096 + 1];
	struct hvm_memmap_table_entry *mm;
	struct hvm_modlist_entry *mod;
	struct hvm_start_info *si;
	struct boot_entry e;
	struct timg t;

	memset(initrd, 0x5a, sizeof(initrd));
	pvh_kernel(&t, 0x1000000, 0x1000020);
	assert_int_equal(boot_detect(t.b, t.len), BOOT_PVH);
	assert_int_equal(load(f, &cfg, &t, initrd, sizeof(initrd), &e), 0);
	assert_int_equal(e.format, BOOT_PVH);
	assert_int_equal(e.mode, BOOT_CPU_PROT32);
	assert_int_equal(e.rip, 0x1000020);
	assert_memory_equal(gptr(f, 0x1000000, 0x1000), t.b + 0x1000, 0x1000);

	si = gptr(f, e.rbx, sizeof(*si));
	assert_int_equal(si->magic, 0x336ec578);
	assert_int_equal(si->version, 1);
	assert_int_equal(si->rsdp_paddr, 0xe0000);
	assert_string_equal((char *)gptr(f, si->cmdline_paddr, 1), "console=ttyS0");
	assert_int_equal(si->memmap_entries, f->map.nr);
	mm = gptr(f, si->memmap_paddr, si->memmap_entries * sizeof(*mm));
	for (unsigned i = 0; i < f->map.nr; i++) {
		assert_int_equal(mm[i].addr, f->map.e[i].addr);
		assert_int_equal(mm[i].size, f->map.e[i].size);
		assert_int_equal(mm[i].type, f->map.e[i].type);
	}
	assert_int_equal(si->nr_modules, 1);
	mod = gptr(f, si->modlist_paddr, sizeof(*mod));
	assert_int_equal(mod->size, sizeof(initrd));
	assert_int_equal(mod->paddr % 4096, 0);
	/* As high as possible: the last pages below the end of RAM. */
	assert_int_equal(mod->paddr, 64 * MiB - 4 * 4096);
	assert_memory_equal(gptr(f, mod->paddr, sizeof(initrd)), initrd, sizeof(initrd));
	assert_false(overlaps(e.bootdata_start, e.bootdata_end - e.bootdata_start, 0x1000000, 0x4000));
	vmfix_free(f);
}

/* An 8-byte note descriptor (Linux's _ASM_PTR) and no command line. */
static void test_pvh_note64_no_cmdline(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct hvm_start_info *si;
	struct boot_entry e;
	struct timg t;

	pvh_kernel(&t, 0x1000000, 0);
	((Elf64_Phdr *)(t.b + sizeof(Elf64_Ehdr)))[1].p_filesz = timg_pvh_note(&t, 0x2000, 0x1000100, 8);
	assert_int_equal(load(f, &cfg_plain, &t, NULL, 0, &e), 0);
	assert_int_equal(e.rip, 0x1000100);
	si = gptr(f, e.rbx, sizeof(*si));
	assert_int_equal(si->cmdline_paddr, 0);
	assert_int_equal(si->nr_modules, 0);
	assert_int_equal(si->rsdp_paddr, 0);
	vmfix_free(f);
}

static void test_bad_truncated_header(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct timg t;

	pvh_kernel(&t, 0x1000000, 0x1000020);
	t.len = 40;
	expect_bad(f, &t, "truncated ELF header");
	t.len = 3;
	expect_bad(f, &t, "too small");
	vmfix_free(f);
}

static void test_bad_phdrs_outside_file(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct timg t;

	pvh_kernel(&t, 0x1000000, 0x1000020);
	((Elf64_Ehdr *)t.b)->e_phoff = t.len - 8;
	expect_bad(f, &t, "program header table");
	((Elf64_Ehdr *)t.b)->e_phoff = UINT64_MAX - 8;
	expect_bad(f, &t, "program header table");
	mb_kernel(&t, false, 0x100000, 0x1000, 0);
	((Elf32_Ehdr *)t.b)->e_phnum = 0xfff0;
	expect_bad(f, &t, "program header table");
	vmfix_free(f);
}

static Elf64_Phdr *ph64(struct timg *t, unsigned i)
{
	return &((Elf64_Phdr *)(t->b + sizeof(Elf64_Ehdr)))[i];
}

static void test_bad_segment_outside_file(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct timg t;

	pvh_kernel(&t, 0x1000000, 0x1000020);
	ph64(&t, 0)->p_offset = 0x2800;
	expect_bad(f, &t, "outside the");
	pvh_kernel(&t, 0x1000000, 0x1000020);
	ph64(&t, 0)->p_offset = UINT64_MAX - 0x10; /* offset + size wraps */
	expect_bad(f, &t, "outside the");
	pvh_kernel(&t, 0x1000000, 0x1000020);
	ph64(&t, 0)->p_filesz = 0x3000;
	ph64(&t, 0)->p_memsz = 0x3000;
	expect_bad(f, &t, "outside the");
	vmfix_free(f);
}

static void test_bad_filesz_over_memsz(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct timg t;

	pvh_kernel(&t, 0x1000000, 0x1000020);
	ph64(&t, 0)->p_memsz = 0x800;
	expect_bad(f, &t, "larger than its memory size");
	vmfix_free(f);
}

static void test_bad_segment_outside_ram(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB), *big = vmfix_new(5 * GiB);
	struct timg t;

	pvh_kernel(&t, 0x8000000, 0x8000020); /* 128 MiB in a 64 MiB guest */
	expect_bad(f, &t, "not inside guest RAM");
	pvh_kernel(&t, 64 * MiB - 0x1000, 64 * MiB - 0x1000); /* straddles the end of RAM */
	expect_bad(f, &t, "not inside guest RAM");
	pvh_kernel(&t, 0xa0000, 0xa0000); /* the VGA hole: backed by gmem, but not e820 RAM */
	expect_bad(f, &t, "not inside guest RAM");
	pvh_kernel(&t, 0xc0001000, 0xc0001000); /* the 32-bit MMIO hole */
	expect_bad(big, &t, "not inside guest RAM");
	pvh_kernel(&t, 0x100000000ull, 0x100000000ull); /* RAM, but above what a 32-bit entry reaches */
	expect_bad(big, &t, "does not fit below");
	vmfix_free(big);
	vmfix_free(f);
}

static void test_bad_huge_sizes(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct timg t;

	pvh_kernel(&t, 0x1000000, 0x1000020);
	ph64(&t, 0)->p_paddr = UINT64_MAX - 0xfff; /* paddr + memsz wraps */
	expect_bad(f, &t, "does not fit below");
	pvh_kernel(&t, 0x1000000, 0x1000020);
	ph64(&t, 0)->p_memsz = UINT64_MAX;
	expect_bad(f, &t, "does not fit below");
	mb_kernel(&t, false, 0xfffff000, 0xffffffff, 0);
	expect_bad(f, &t, "does not fit below");
	vmfix_free(f);
}

static void test_bad_multiboot(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct timg t;

	mb_kernel(&t, false, 0x100000, 0x1000, 0);
	timg_put32(&t, 0x1008, 0x12345678);
	assert_int_equal(boot_detect(t.b, t.len), BOOT_NONE);
	expect_bad(f, &t, "checksum");
	mb_kernel(&t, false, 0x100000, 0x1000, MULTIBOOT_VIDEO_MODE);
	expect_bad(f, &t, "video");
	mb_kernel(&t, false, 0x100000, 0x1000, 1u << 5);
	expect_bad(f, &t, "unknown features");
	/* Entry point outside the kernel. */
	mb_kernel(&t, false, 0x100000, 0x1000, 0);
	((Elf32_Ehdr *)t.b)->e_entry = 0x300000;
	expect_bad(f, &t, "entry point");
	/* A header past the first 8 KiB does not count. */
	mb_kernel(&t, false, 0x100000, 0x1000, 0);
	memset(t.b + 0x1000, 0, 12);
	t.len = 0x3000;
	timg_multiboot(&t, 0x2000, 0);
	expect_bad(f, &t, "neither a PVH entry note");
	/* Overlapping segments. */
	{
		struct tseg s[2] = {
			{ .type = PT_LOAD, .offset = 0x1000, .paddr = 0x100000, .filesz = 0x1000, .memsz = 0x2000 },
			{ .type = PT_LOAD, .offset = 0x1000, .paddr = 0x101000, .filesz = 0x1000, .memsz = 0x1000 },
		};
		timg_elf(&t, false, 0x100010, s, 2, 0x2000);
		timg_multiboot(&t, 0x1000, 0);
		expect_bad(f, &t, "overlaps");
	}
	vmfix_free(f);
}

static void test_bad_not_a_kernel(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct timg t;

	memset(&t, 0, sizeof(t));
	t.len = 0x3000;
	for (size_t i = 0; i < t.len; i++)
		t.b[i] = (uint8_t)(i * 7 + 3);
	expect_bad(f, &t, "not a kernel kite can boot");
	pvh_kernel(&t, 0x1000000, 0x1000020);
	memset(t.b + 0x2000, 0, 20); /* ELF, but no note and no Multiboot header */
	expect_bad(f, &t, "neither a PVH entry note");
	pvh_kernel(&t, 0x1000000, 0x1000020);
	timg_pvh_note(&t, 0x2000, 0x1000020, 2);
	expect_bad(f, &t, "2-byte address");
	pvh_kernel(&t, 0x1000000, 0x2000000); /* note entry outside the kernel */
	expect_bad(f, &t, "entry point");
	pvh_kernel(&t, 0x1000000, 0x1000020);
	((Elf64_Ehdr *)t.b)->e_machine = EM_AARCH64;
	expect_bad(f, &t, "not x86");
	vmfix_free(f);
}

static void test_boot_load_reads_files(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	char kpath[] = "/tmp/kite-test-kernel-XXXXXX";
	struct boot_config cfg = { .kernel_path = kpath, .cmdline = "" };
	struct boot_entry e;
	struct capture c;
	const char *msg;
	struct timg t;
	int fd, r;

	mb_kernel(&t, false, 0x100000, 0x1000, 0);
	fd = mkstemp(kpath);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, t.b, t.len), (ssize_t)t.len);
	close(fd);
	assert_int_equal(boot_load(&f->m, &f->map, &cfg, &e), 0);
	assert_int_equal(e.format, BOOT_MULTIBOOT);
	cfg.initrd_path = "/nonexistent/initrd";
	capture_start(&c);
	r = boot_load(&f->m, &f->map, &cfg, &e);
	msg = capture_end(&c);
	assert_int_equal(r, -ENOENT);
	assert_non_null(strstr(msg, "/nonexistent/initrd"));
	unlink(kpath);
	vmfix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multiboot_info),
		cmocka_unit_test(test_multiboot_low_kernel),
		cmocka_unit_test(test_multiboot_kernel_fills_low_ram),
		cmocka_unit_test(test_multiboot_elf64),
		cmocka_unit_test(test_multiboot_aout_kludge),
		cmocka_unit_test(test_big_guest),
		cmocka_unit_test(test_pvh_start_info),
		cmocka_unit_test(test_pvh_note64_no_cmdline),
		cmocka_unit_test(test_bad_truncated_header),
		cmocka_unit_test(test_bad_phdrs_outside_file),
		cmocka_unit_test(test_bad_segment_outside_file),
		cmocka_unit_test(test_bad_filesz_over_memsz),
		cmocka_unit_test(test_bad_segment_outside_ram),
		cmocka_unit_test(test_bad_huge_sizes),
		cmocka_unit_test(test_bad_multiboot),
		cmocka_unit_test(test_bad_not_a_kernel),
		cmocka_unit_test(test_boot_load_reads_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
