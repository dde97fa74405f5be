/* SPDX-License-Identifier: MIT */
#ifndef KITE_BOOT_LOADER_H
#define KITE_BOOT_LOADER_H

/*
 * What the x86 loaders (multiboot.c, pvh.c, bzimage.c) share: the load
 * context, boot data placement (boot.c) and ELF program loading with libelf
 * (boot_elf.c).  Users of the loaders include kite/boot.h only.
 */

#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kite/boot.h>
#include <kite/boot_alloc.h>

struct boot_ctx {
	struct gmem *m;
	const struct e820_map *map;
	const struct boot_config *cfg;
	const char *path; /* the kernel, for messages */
	const uint8_t *image;
	size_t len;
	const uint8_t *initrd;
	size_t initrd_len;
	struct boot_alloc alloc;
	struct boot_entry *entry;
};

/*
 * Reserves `size` zeroed bytes of boot data below `max` (lowest free place
 * first) and returns their guest address and host pointer.
 */
int boot_data_alloc(struct boot_ctx *c, uint64_t size, uint64_t align, uint64_t max, uint64_t *gpa, void **hva);
/* Copies a NUL-terminated string into boot data below `max`. */
int boot_data_string(struct boot_ctx *c, const char *s, uint64_t max, uint64_t *gpa);
/*
 * Places the initrd (page aligned) in [min, max) and copies it; *gpa = 0 when
 * there is none.
 */
int boot_place_initrd(struct boot_ctx *c, uint64_t min, uint64_t max, bool top_down, uint64_t *gpa);
/* Writes kite's GDT (null, null, BOOT_GDT_CS, BOOT_GDT_DS) and a boot stack; fills entry->gdt_*, rsp. */
int boot_write_gdt_stack(struct boot_ctx *c, bool long_mode);
/* -EINVAL with a message naming the file unless `entry` lies in the loaded kernel. */
int boot_check_entry(const struct boot_ctx *c, uint64_t entry, const char *what);
/* Reserves a kernel range the file asks for; the error names what is wrong. */
int boot_reserve_kernel(struct boot_ctx *c, uint64_t addr, uint64_t size, const char *what);

/* A parsed ELF image (boot_elf.c). */
struct boot_elf {
	Elf *elf;
	GElf_Ehdr ehdr;
	size_t phnum;
};

/* Opens and validates the ELF header and program header table; quiet = no messages. */
int boot_elf_open(struct boot_elf *e, const char *path, const void *image, size_t len, bool quiet);
void boot_elf_close(struct boot_elf *e);
/*
 * Loads every PT_LOAD segment at its physical address, below `limit`, after
 * checking it against the file and the RAM; reserves the segments and sets
 * entry->kernel_start/end.
 */
int boot_elf_load(struct boot_ctx *c, struct boot_elf *e, uint64_t limit);
/* Physical address of a virtual entry point (Multiboot ELF kernels may link high). */
uint64_t boot_elf_entry_paddr(struct boot_elf *e);
/* The XEN_ELFNOTE_PHYS32_ENTRY address: 1 found, 0 none, -EINVAL for a malformed note. */
int boot_elf_pvh_entry(struct boot_elf *e, const char *path, const void *image, size_t len, bool quiet,
		       uint64_t *entry);

#define MULTIBOOT_SEARCH 8192

/* Offset of a valid Multiboot header; -EBADMSG if only a bad checksum was seen, -ENOENT if none. */
long multiboot_find_header(const void *image, size_t len);
bool bzimage_detect(const void *image, size_t len);

int multiboot_load(struct boot_ctx *c);
int pvh_load(struct boot_ctx *c);
int bzimage_load(struct boot_ctx *c);

#endif
