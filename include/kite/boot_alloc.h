/* SPDX-License-Identifier: MIT */
#ifndef KITE_BOOT_ALLOC_H
#define KITE_BOOT_ALLOC_H

/*
 * Placement of what a loader puts in guest RAM.  It knows the usable RAM (the
 * e820 map's RAM entries that gmem backs) and the ranges already taken (the
 * kernel's segments, the initrd, earlier boot data), so that nothing kite
 * writes lands on the kernel, whatever address the kernel chose to load at.
 * The page at 0 (the real-mode IVT) is never handed out.
 */

#include <stdbool.h>
#include <stdint.h>

#define BOOT_ALLOC_MAX  64
#define BOOT_ALLOC_MIN  0x1000ull /* lowest address boot_alloc_find() returns */

struct e820_map;
struct gmem;

struct boot_range {
	uint64_t start, end; /* [start, end) */
};

struct boot_alloc {
	const struct e820_map *map;
	const struct gmem *m;
	unsigned nr;
	struct boot_range used[BOOT_ALLOC_MAX];
};

void boot_alloc_init(struct boot_alloc *a, const struct e820_map *map, const struct gmem *m);
/* True when [addr, addr+size) is inside one e820 RAM entry and backed by gmem. */
bool boot_alloc_is_ram(const struct boot_alloc *a, uint64_t addr, uint64_t size);
/* The taken range overlapping [addr, addr+size), or NULL. */
const struct boot_range *boot_alloc_conflict(const struct boot_alloc *a, uint64_t addr, uint64_t size);
/*
 * Marks [addr, addr+size) taken: -EINVAL when it is not RAM or wraps, -EBUSY
 * when it overlaps a taken range, -ENOSPC when the table is full.
 */
int boot_alloc_reserve(struct boot_alloc *a, uint64_t addr, uint64_t size);
/*
 * Finds `size` free bytes aligned to `align` (a power of two) inside
 * [min, max), the lowest such place or, with `top_down`, the highest, and
 * reserves them.  -ENOMEM when there is no room.
 */
int boot_alloc_find(struct boot_alloc *a, uint64_t size, uint64_t align, uint64_t min, uint64_t max, bool top_down,
		    uint64_t *addr);

#endif
