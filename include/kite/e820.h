/* SPDX-License-Identifier: MIT */
#ifndef KITE_E820_H
#define KITE_E820_H

#include <stdint.h>

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3
#define E820_NVS      4

#define E820_MAX 32

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

struct e820_map {
	unsigned nr;
	struct e820_entry e[E820_MAX];
};

struct gmem;

/* The map of a freshly created VM: RAM from gmem, the BIOS area and KVM's pages reserved. */
int e820_build(struct e820_map *map, const struct gmem *m);
/*
 * Marks [addr, addr+size) as `type`, splitting entries as needed, and keeps
 * the map sorted and non-overlapping.  -ENOSPC when the map is full.
 */
int e820_set(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type);
/* "BIOS-e820: [mem 0x...-0x...] usable" lines, as Linux prints them; for tests and --verbose. */
void e820_print(const struct e820_map *map, void (*out)(void *opaque, const char *line), void *opaque);

#endif
