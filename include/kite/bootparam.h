/* SPDX-License-Identifier: MIT */
#ifndef KITE_BOOTPARAM_H
#define KITE_BOOTPARAM_H

/*
 * Linux's x86 boot protocol structures (Documentation/arch/x86/boot.rst and
 * zero-page.rst): the setup header at 0x1f1 of a bzImage and the 4 KiB zero
 * page (struct boot_params).  Only the fields kite fills are named.
 */

#include <stddef.h>
#include <stdint.h>

#define BZ_BOOT_FLAG      0xAA55
#define BZ_HDR_MAGIC      0x53726448u /* "HdrS" */
#define BZ_SETUP_HDR_OFF  0x1f1
#define BZ_SETUP_HDR_MAX  0x290       /* the header may grow up to here */
#define BZ_LOADER_OTHER   0xff
#define BZ_LOADED_HIGH    (1u << 0)
#define BZ_CAN_USE_HEAP   (1u << 7)
#define BZ_XLF_KERNEL_64  (1u << 0)
#define BZ_E820_MAX       128
#define BZ_ENTRY64_OFFSET 0x200

struct setup_header {
	uint8_t setup_sects;
	uint16_t root_flags;
	uint32_t syssize;
	uint16_t ram_size;
	uint16_t vid_mode;
	uint16_t root_dev;
	uint16_t boot_flag;
	uint16_t jump;
	uint32_t header;
	uint16_t version;
	uint32_t realmode_swtch;
	uint16_t start_sys_seg;
	uint16_t kernel_version;
	uint8_t type_of_loader;
	uint8_t loadflags;
	uint16_t setup_move_size;
	uint32_t code32_start;
	uint32_t ramdisk_image;
	uint32_t ramdisk_size;
	uint32_t bootsect_kludge;
	uint16_t heap_end_ptr;
	uint8_t ext_loader_ver;
	uint8_t ext_loader_type;
	uint32_t cmd_line_ptr;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint8_t relocatable_kernel;
	uint8_t min_alignment;
	uint16_t xloadflags;
	uint32_t cmdline_size;
	uint32_t hardware_subarch;
	uint64_t hardware_subarch_data;
	uint32_t payload_offset;
	uint32_t payload_length;
	uint64_t setup_data;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t handover_offset;
	uint32_t kernel_info_offset;
} __attribute__((packed));

struct boot_e820_entry {
	uint64_t addr, size;
	uint32_t type;
} __attribute__((packed));

struct boot_params {
	uint8_t _pad0[0x070];
	uint64_t acpi_rsdp_addr; /* 0x070, protocol 2.14 */
	uint8_t _pad1[0x0c0 - 0x078];
	uint32_t ext_ramdisk_image; /* 0x0c0 */
	uint32_t ext_ramdisk_size;
	uint32_t ext_cmd_line_ptr;
	uint8_t _pad2[0x1e8 - 0x0cc];
	uint8_t e820_entries; /* 0x1e8 */
	uint8_t _pad3[BZ_SETUP_HDR_OFF - 0x1e9];
	struct setup_header hdr; /* 0x1f1 */
	uint8_t _pad4[0x2d0 - BZ_SETUP_HDR_OFF - sizeof(struct setup_header)];
	struct boot_e820_entry e820_table[BZ_E820_MAX]; /* 0x2d0 */
	uint8_t _pad5[0x1000 - 0xcd0];
} __attribute__((packed));

_Static_assert(offsetof(struct setup_header, header) == 0x202 - BZ_SETUP_HDR_OFF, "setup_header layout");
_Static_assert(offsetof(struct setup_header, cmd_line_ptr) == 0x228 - BZ_SETUP_HDR_OFF, "setup_header layout");
_Static_assert(offsetof(struct setup_header, pref_address) == 0x258 - BZ_SETUP_HDR_OFF, "setup_header layout");
_Static_assert(sizeof(struct setup_header) == 0x26c - BZ_SETUP_HDR_OFF, "setup_header size");
_Static_assert(offsetof(struct boot_params, hdr) == BZ_SETUP_HDR_OFF, "boot_params layout");
_Static_assert(sizeof(struct boot_params) == 4096, "boot_params size");

#endif
