/* SPDX-License-Identifier: MIT */
#ifndef KITE_E820_H
#define KITE_E820_H

#include <stddef.h>
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
/* Removes [addr, addr+size) from the map (a hole: no entry at all). */
int e820_clear(struct e820_map *map, uint64_t addr, uint64_t size);
/* The entry of `type` holding all of [addr, addr+size), or NULL. */
const struct e820_entry *e820_find(const struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type);
/* End of the RAM entry that starts the memory above 1 MiB (0 if none): the "mem_upper" RAM. */
uint64_t e820_lowmem_end(const struct e820_map *map);
/* "usable", "reserved", "ACPI data", "ACPI NVS", ... as Linux names them; buf (32 bytes) for the others. */
const char *e820_type_name(uint32_t type, char *buf, size_t len);
/* "BIOS-e820: [mem 0x...-0x...] usable" lines, as Linux prints them; for tests and --verbose. */
void e820_print(const struct e820_map *map, void (*out)(void *opaque, const char *line), void *opaque);

#endif
