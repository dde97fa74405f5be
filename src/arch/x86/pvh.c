// SPDX-License-Identifier: MIT
/*
 * PVH: an ELF kernel with a XEN_ELFNOTE_PHYS32_ENTRY note, entered in flat
 * 32-bit protected mode at the note's address with ebx = hvm_start_info.
 */
#include <errno.h>
#include <string.h>

#include <kite/boot_loader.h>
#include <kite/e820.h>
#include <kite/gmem.h>
#include <kite/log.h>
#include <kite/pvh.h>
#include <kite/util.h>
#include <kite/x86_layout.h>

static int write_memmap(struct boot_ctx *c, struct hvm_start_info *si)
{
	struct hvm_memmap_table_entry *mm;
	uint64_t gpa;
	void *p;
	int r;

	r = boot_data_alloc(c, c->map->nr * sizeof(*mm), 8, X86_4G, &gpa, &p);
	if (r)
		return r;
	mm = p;
	for (unsigned i = 0; i < c->map->nr; i++) {
		mm[i].addr = c->map->e[i].addr;
		mm[i].size = c->map->e[i].size;
		mm[i].type = c->map->e[i].type;
	}
	si->memmap_paddr = gpa;
	si->memmap_entries = c->map->nr;
	return 0;
}

static int write_modules(struct boot_ctx *c, struct hvm_start_info *si)
{
	struct hvm_modlist_entry *mod;
	uint64_t addr, gpa, top = MIN(e820_lowmem_end(c->map), X86_4G);
	void *p;
	int r;

	if (!c->initrd)
		return 0;
	/* As high as possible, as QEMU does: out of the way of kernels that grow upwards from 1 MiB. */
	r = boot_place_initrd(c, X86_HIGHMEM_START, top, true, &addr);
	if (!r)
		r = boot_data_alloc(c, sizeof(*mod), 8, X86_4G, &gpa, &p);
	if (r)
		return r;
	mod = p;
	mod->paddr = addr;
	mod->size = c->initrd_len;
	si->nr_modules = 1;
	si->modlist_paddr = gpa;
	return 0;
}

static int write_start_info(struct boot_ctx *c, uint64_t *info)
{
	struct hvm_start_info *si;
	void *p;
	int r;

	r = boot_data_alloc(c, sizeof(*si), 8, X86_4G, info, &p);
	if (r)
		return r;
	si = p;
	si->magic = HVM_START_MAGIC;
	si->version = 1;
	si->rsdp_paddr = c->cfg->rsdp_addr;
	r = write_memmap(c, si);
	if (!r)
		r = write_modules(c, si);
	if (!r && c->cfg->cmdline && *c->cfg->cmdline)
		r = boot_data_string(c, c->cfg->cmdline, X86_4G, &si->cmdline_paddr);
	return r;
}

int pvh_load(struct boot_ctx *c)
{
	struct boot_elf e;
	uint64_t entry = 0, info;
	int r;

	if (boot_elf_open(&e, c->path, c->image, c->len, false))
		return -EINVAL;
	r = boot_elf_pvh_entry(&e, c->path, c->image, c->len, false, &entry);
	if (r == 0) {
		pr_err("%s: no PVH entry note", c->path);
		r = -EINVAL;
	}
	if (r == 1)
		r = boot_elf_load(c, &e, X86_4G);
	boot_elf_close(&e);
	if (r)
		return -EINVAL;
	if (boot_check_entry(c, entry, "PVH entry point"))
		return -EINVAL;
	r = write_start_info(c, &info);
	if (!r)
		r = boot_write_gdt_stack(c, false);
	if (r)
		return r;
	c->entry->mode = BOOT_CPU_PROT32;
	c->entry->rip = entry;
	c->entry->rbx = info;
	return 0;
}
