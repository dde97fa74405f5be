// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include <kite/boot_alloc.h>
#include <kite/e820.h>
#include <kite/gmem.h>
#include <kite/util.h>

void boot_alloc_init(struct boot_alloc *a, const struct e820_map *map, const struct gmem *m)
{
	memset(a, 0, sizeof(*a));
	a->map = map;
	a->m = m;
}

bool boot_alloc_is_ram(const struct boot_alloc *a, uint64_t addr, uint64_t size)
{
	if (!size || addr + size < addr)
		return false;
	return e820_find(a->map, addr, size, E820_RAM) && gmem_is_ram(a->m, addr, size);
}

const struct boot_range *boot_alloc_conflict(const struct boot_alloc *a, uint64_t addr, uint64_t size)
{
	for (unsigned i = 0; i < a->nr; i++)
		if (ranges_overlap(addr, size, a->used[i].start, a->used[i].end - a->used[i].start))
			return &a->used[i];
	return NULL;
}

int boot_alloc_reserve(struct boot_alloc *a, uint64_t addr, uint64_t size)
{
	if (!boot_alloc_is_ram(a, addr, size))
		return -EINVAL;
	if (boot_alloc_conflict(a, addr, size))
		return -EBUSY;
	if (a->nr == BOOT_ALLOC_MAX)
		return -ENOSPC;
	a->used[a->nr++] = (struct boot_range){ .start = addr, .end = addr + size };
	return 0;
}

/*
 * Inside one RAM entry [lo, hi): starts at the lowest (highest) aligned
 * candidate and jumps past each taken range it hits.  Every jump moves
 * strictly in one direction, so the walk ends.
 */
static bool find_in(const struct boot_alloc *a, uint64_t lo, uint64_t hi, uint64_t size, uint64_t align,
		    bool top_down, uint64_t *out)
{
	const struct boot_range *c;
	uint64_t at;

	if (hi - lo < size)
		return false;
	if (!top_down) {
		at = ALIGN_UP(lo, align);
		while (at >= lo && at <= hi - size) {
			c = boot_alloc_conflict(a, at, size);
			if (!c) {
				*out = at;
				return true;
			}
			at = ALIGN_UP(c->end, align);
		}
		return false;
	}
	at = ALIGN_DOWN(hi - size, align);
	while (at >= lo && at <= hi - size) {
		c = boot_alloc_conflict(a, at, size);
		if (!c) {
			*out = at;
			return true;
		}
		if (c->start < size)
			return false;
		at = ALIGN_DOWN(c->start - size, align);
	}
	return false;
}

int boot_alloc_find(struct boot_alloc *a, uint64_t size, uint64_t align, uint64_t min, uint64_t max, bool top_down,
		    uint64_t *addr)
{
	const struct e820_map *map = a->map;
	bool found = false;
	uint64_t best = 0;

	if (!size || !align || (align & (align - 1)) || align > (1ull << 40))
		return -EINVAL;
	min = MAX(min, BOOT_ALLOC_MIN);
	for (unsigned i = 0; i < map->nr; i++) {
		const struct e820_entry *e = &map->e[i];
		uint64_t lo = MAX(e->addr, min), hi = MIN(e->addr + e->size, max), at;

		if (e->type != E820_RAM || lo >= hi || !find_in(a, lo, hi, size, align, top_down, &at))
			continue;
		if (!gmem_is_ram(a->m, at, size))
			continue;
		if (!found || (top_down ? at > best : at < best))
			best = at;
		found = true;
	}
	if (!found)
		return -ENOMEM;
	*addr = best;
	return boot_alloc_reserve(a, best, size);
}
