/* SPDX-License-Identifier: MIT */
#ifndef KITE_BOOT_H
#define KITE_BOOT_H

/*
 * Kernel loaders for x86: Multiboot v1 ELF, PVH ELF and Linux bzImage,
 * detected from the file's contents.  A loader writes the kernel, its modules
 * and the boot data into guest memory and says how the boot vCPU must start.
 * It never writes boot data over the kernel's own segments or modules.
 */

#include <stddef.h>
#include <stdint.h>

#include <kite/e820.h>

struct gmem;

enum boot_format {
	BOOT_NONE = 0,
	BOOT_MULTIBOOT,
	BOOT_PVH,
	BOOT_BZIMAGE,
};

struct boot_config {
	const char *kernel_path;
	const char *initrd_path; /* NULL for none */
	const char *cmdline;     /* "" for none */
	uint64_t rsdp_addr;      /* guest address of the ACPI RSDP, 0 if none */
	unsigned ncpus;
};

/*
 * Selectors of the GDT kite writes for every format (as Linux's boot.rst
 * names them): flat 4 GiB code (32-bit for PROT32, 64-bit for LONG64) and data.
 */
#define BOOT_GDT_CS 0x10
#define BOOT_GDT_DS 0x18

/* Initial vCPU state of the boot processor. */
enum boot_cpu_mode {
	BOOT_CPU_PROT32, /* flat 32-bit protected mode, paging off (Multiboot, PVH) */
	BOOT_CPU_LONG64, /* 64-bit mode with kite's identity page tables (bzImage) */
};

struct boot_entry {
	enum boot_format format;
	enum boot_cpu_mode mode;
	uint64_t rip;
	uint64_t rsp;
	uint64_t rax, rbx, rsi;
	uint64_t cr3;      /* LONG64: page tables kite wrote */
	uint64_t gdt_base; /* guest address of the GDT kite wrote */
	uint16_t gdt_limit;
	/* Guest ranges the loader wrote, for diagnostics and tests. */
	uint64_t kernel_start, kernel_end;
	uint64_t initrd_addr, initrd_size;
	uint64_t bootdata_start, bootdata_end;
};

/* Detects the format of an image already in memory; BOOT_NONE if unknown. */
enum boot_format boot_detect(const void *image, size_t len);
const char *boot_format_name(enum boot_format f);

/*
 * Loads the kernel named by cfg into memory described by `map` (RAM entries
 * only are used) and fills `entry`.  On a bad file returns -EINVAL (or the
 * errno of the failed read) after printing "kite: KERNEL: what is wrong";
 * -ENOMEM when the guest's RAM has no room for the initrd or the boot data.
 *
 * Where things go: the kernel where its file says (Multiboot, PVH) or at
 * pref_address / 1 MiB (bzImage); boot data (info blocks, memory maps,
 * strings, zero page, page tables, GDT, a 4 KiB stack) at the lowest free RAM
 * from 0x1000 up; the initrd after the kernel (Multiboot module) or as high
 * as possible below 4 GiB (PVH) or initrd_addr_max (bzImage).  The Multiboot
 * command line is "KERNEL_PATH CMDLINE", as GRUB and QEMU pass it.
 */
int boot_load(struct gmem *m, const struct e820_map *map, const struct boot_config *cfg, struct boot_entry *entry);

/* The same on an image in memory (used by the file variant and the unit tests). */
int boot_load_image(struct gmem *m, const struct e820_map *map, const struct boot_config *cfg, const void *image,
		    size_t len, const void *initrd, size_t initrd_len, struct boot_entry *entry);

#endif
