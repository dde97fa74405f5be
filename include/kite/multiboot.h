/* SPDX-License-Identifier: MIT */
#ifndef KITE_MULTIBOOT_H
#define KITE_MULTIBOOT_H

/* The Multiboot v1 structures (Multiboot Specification 0.6.96), as the guest sees them. */

#include <stdint.h>

#define MULTIBOOT_HEADER_MAGIC     0x1BADB002u
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u

/* Header flags: 0-15 are requirements, 16-31 optional features. */
#define MULTIBOOT_PAGE_ALIGN  (1u << 0)
#define MULTIBOOT_MEMORY_INFO (1u << 1)
#define MULTIBOOT_VIDEO_MODE  (1u << 2)
#define MULTIBOOT_AOUT_KLUDGE (1u << 16)

/* multiboot_info.flags */
#define MULTIBOOT_INFO_MEMORY     (1u << 0)
#define MULTIBOOT_INFO_CMDLINE    (1u << 2)
#define MULTIBOOT_INFO_MODS       (1u << 3)
#define MULTIBOOT_INFO_MEM_MAP    (1u << 6)
#define MULTIBOOT_INFO_LOADER_NAME (1u << 9)

struct multiboot_header {
	uint32_t magic, flags, checksum;
	/* Valid with MULTIBOOT_AOUT_KLUDGE. */
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
} __attribute__((packed));

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper; /* KiB */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe_control_info, vbe_mode_info;
	uint16_t vbe_mode, vbe_interface_seg, vbe_interface_off, vbe_interface_len;
} __attribute__((packed));

struct multiboot_mod {
	uint32_t mod_start, mod_end, string, reserved;
} __attribute__((packed));

struct multiboot_mmap_entry {
	uint32_t size; /* of the rest of the entry: 20 */
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

_Static_assert(sizeof(struct multiboot_info) == 88, "multiboot_info layout");
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "multiboot mmap entry layout");

#endif
