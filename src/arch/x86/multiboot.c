// SPDX-License-Identifier: MIT
/*
 * Multiboot v1: an ELF kernel (or any file using the a.out kludge) with a
 * header in its first 8 KiB.  Entered in flat 32-bit protected mode with
 * eax = 0x2BADB002 and ebx = the multiboot_info kite writes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kite/boot_loader.h>
#include <kite/e820.h>
#include <kite/gmem.h>
#include <kite/log.h>
#include <kite/multiboot.h>
#include <kite/util.h>
#include <kite/x86_layout.h>

/* Requirement bits kite honours; the others make the kernel ask for what kite cannot give. */
#define MB_SUPPORTED_REQS (MULTIBOOT_PAGE_ALIGN | MULTIBOOT_MEMORY_INFO)

long multiboot_find_header(const void *image, size_t len)
{
	const uint8_t *b = image;
	long bad = -ENOENT;
	size_t end = MIN(len, (size_t)MULTIBOOT_SEARCH);

	for (size_t off = 0; off + 12 <= end; off += 4) {
		uint32_t w[3];

		memcpy(w, b + off, sizeof(w));
		if (w[0] != MULTIBOOT_HEADER_MAGIC)
			continue;
		if ((uint32_t)(w[0] + w[1] + w[2]) == 0)
			return (long)off;
		bad = -EBADMSG;
	}
	return bad;
}

static int check_flags(struct boot_ctx *c, uint32_t flags)
{
	uint32_t reqs = flags & 0xffff;

	if (reqs & MULTIBOOT_VIDEO_MODE) {
		pr_err("%s: Multiboot header requires video mode information (flag 2); kite has no framebuffer",
		       c->path);
		return -EINVAL;
	}
	if (reqs & ~MB_SUPPORTED_REQS) {
		pr_err("%s: Multiboot header requires unknown features (flags %#x)", c->path, reqs & ~MB_SUPPORTED_REQS);
		return -EINVAL;
	}
	return 0;
}

/* The a.out kludge: the header's own addresses say what to load where. */
static int load_aout(struct boot_ctx *c, const struct multiboot_header *h, size_t hoff, uint64_t *entry)
{
	uint64_t file_off, load_size, mem_size;

	if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > hoff) {
		pr_err("%s: Multiboot header_addr %#x and load_addr %#x put the image start before the file start",
		       c->path, h->header_addr, h->load_addr);
		return -EINVAL;
	}
	file_off = hoff - (h->header_addr - h->load_addr);
	if (h->load_end_addr && h->load_end_addr < h->load_addr) {
		pr_err("%s: Multiboot load_end_addr %#x is below load_addr %#x", c->path, h->load_end_addr,
		       h->load_addr);
		return -EINVAL;
	}
	load_size = h->load_end_addr ? h->load_end_addr - h->load_addr : c->len - file_off;
	if (load_size > c->len - file_off) {
		pr_err("%s: Multiboot load range of %#llx bytes runs past the end of the %zu-byte file", c->path,
		       (unsigned long long)load_size, c->len);
		return -EINVAL;
	}
	mem_size = load_size;
	if (h->bss_end_addr) {
		if (h->bss_end_addr < h->load_addr + load_size) {
			pr_err("%s: Multiboot bss_end_addr %#x is below the end of the loaded image", c->path,
			       h->bss_end_addr);
			return -EINVAL;
		}
		mem_size = h->bss_end_addr - h->load_addr;
	}
	if (boot_reserve_kernel(c, h->load_addr, mem_size, "Multiboot image"))
		return -EINVAL;
	uint8_t *dst = gmem_ptr(c->m, h->load_addr, mem_size);
	memcpy(dst, c->image + file_off, load_size);
	memset(dst + load_size, 0, mem_size - load_size);
	*entry = h->entry_addr;
	return 0;
}

static int load_elf(struct boot_ctx *c, uint64_t *entry)
{
	struct boot_elf e;
	int r;

	if (boot_elf_open(&e, c->path, c->image, c->len, false))
		return -EINVAL;
	r = boot_elf_load(c, &e, X86_4G);
	*entry = boot_elf_entry_paddr(&e);
	boot_elf_close(&e);
	return r;
}

static void fill_memory(const struct e820_map *map, struct multiboot_info *mbi)
{
	const struct e820_entry *low = e820_find(map, 0, 1, E820_RAM);
	uint64_t upper = e820_lowmem_end(map);

	mbi->mem_lower = low ? (uint32_t)(MIN(low->size, 640 * KiB) / KiB) : 0;
	mbi->mem_upper = upper > X86_HIGHMEM_START ? (uint32_t)MIN((upper - X86_HIGHMEM_START) / KiB, UINT32_MAX) : 0;
	mbi->flags |= MULTIBOOT_INFO_MEMORY;
}

static int write_mmap(struct boot_ctx *c, struct multiboot_info *mbi)
{
	struct multiboot_mmap_entry *mm;
	uint64_t gpa;
	void *p;
	int r;

	r = boot_data_alloc(c, c->map->nr * sizeof(*mm), 8, X86_4G, &gpa, &p);
	if (r)
		return r;
	mm = p;
	for (unsigned i = 0; i < c->map->nr; i++) {
		mm[i].size = sizeof(*mm) - sizeof(mm->size);
		mm[i].addr = c->map->e[i].addr;
		mm[i].len = c->map->e[i].size;
		mm[i].type = c->map->e[i].type;
	}
	mbi->mmap_addr = (uint32_t)gpa;
	mbi->mmap_length = c->map->nr * sizeof(*mm);
	mbi->flags |= MULTIBOOT_INFO_MEM_MAP;
	return 0;
}

/* The kernel's command line starts with its name, as GRUB and QEMU pass it (kvm-unit-tests read argv[0] there). */
static int write_cmdline(struct boot_ctx *c, struct multiboot_info *mbi)
{
	const char *args = c->cfg->cmdline ? c->cfg->cmdline : "";
	size_t n = strlen(c->path) + 1 + strlen(args) + 1;
	uint64_t gpa;
	char *s;
	int r;

	s = malloc(n);
	if (!s)
		return -ENOMEM;
	snprintf(s, n, "%s%s%s", c->path, *args ? " " : "", args);
	r = boot_data_string(c, s, X86_4G, &gpa);
	free(s);
	if (r)
		return r;
	mbi->cmdline = (uint32_t)gpa;
	mbi->flags |= MULTIBOOT_INFO_CMDLINE;
	return 0;
}

static int write_module(struct boot_ctx *c, struct multiboot_info *mbi)
{
	struct multiboot_mod *mod;
	uint64_t addr, gpa, str;
	void *p;
	int r;

	if (!c->initrd)
		return 0;
	/* Modules are always page aligned here, which satisfies MULTIBOOT_PAGE_ALIGN too. */
	r = boot_place_initrd(c, X86_HIGHMEM_START, X86_4G, false, &addr);
	if (r)
		return r;
	r = boot_data_string(c, c->cfg->initrd_path ? c->cfg->initrd_path : "initrd", X86_4G, &str);
	if (!r)
		r = boot_data_alloc(c, sizeof(*mod), 8, X86_4G, &gpa, &p);
	if (r)
		return r;
	mod = p;
	mod->mod_start = (uint32_t)addr;
	mod->mod_end = (uint32_t)(addr + c->initrd_len);
	mod->string = (uint32_t)str;
	mbi->mods_count = 1;
	mbi->mods_addr = (uint32_t)gpa;
	mbi->flags |= MULTIBOOT_INFO_MODS;
	return 0;
}

static int write_info(struct boot_ctx *c, uint64_t *info_gpa)
{
	struct multiboot_info *mbi;
	uint64_t name;
	void *p;
	int r;

	r = boot_data_alloc(c, sizeof(*mbi), 8, X86_4G, info_gpa, &p);
	if (r)
		return r;
	mbi = p;
	fill_memory(c->map, mbi);
	r = write_mmap(c, mbi);
	if (!r)
		r = write_cmdline(c, mbi);
	if (!r)
		r = write_module(c, mbi);
	if (!r)
		r = boot_data_string(c, "kite", X86_4G, &name);
	if (r)
		return r;
	mbi->boot_loader_name = (uint32_t)name;
	mbi->flags |= MULTIBOOT_INFO_LOADER_NAME;
	return 0;
}

int multiboot_load(struct boot_ctx *c)
{
	struct multiboot_header h = { 0 };
	long hoff = multiboot_find_header(c->image, c->len);
	uint64_t entry, info;
	int r;

	if (hoff < 0) {
		pr_err("%s: no valid Multiboot header", c->path);
		return -EINVAL;
	}
	memcpy(&h, c->image + hoff, MIN(sizeof(h), c->len - (size_t)hoff));
	r = check_flags(c, h.flags);
	if (r)
		return r;
	if (h.flags & MULTIBOOT_AOUT_KLUDGE) {
		if (c->len - (size_t)hoff < sizeof(h)) {
			pr_err("%s: Multiboot header with the a.out kludge is cut off by the end of the file", c->path);
			return -EINVAL;
		}
		r = load_aout(c, &h, (size_t)hoff, &entry);
	} else if (c->len >= SELFMAG && !memcmp(c->image, ELFMAG, SELFMAG)) {
		r = load_elf(c, &entry);
	} else {
		pr_err("%s: Multiboot kernel is not ELF and its header has no load addresses (flag 16)", c->path);
		return -EINVAL;
	}
	if (!r)
		r = boot_check_entry(c, entry, "entry point");
	if (r)
		return r;
	r = write_info(c, &info);
	if (!r)
		r = boot_write_gdt_stack(c, false);
	if (r)
		return r;
	c->entry->mode = BOOT_CPU_PROT32;
	c->entry->rip = entry;
	c->entry->rax = MULTIBOOT_BOOTLOADER_MAGIC;
	c->entry->rbx = info;
	return 0;
}
