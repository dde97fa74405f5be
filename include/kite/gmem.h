/* SPDX-License-Identifier: MIT */
#ifndef KITE_GMEM_H
#define KITE_GMEM_H

/*
 * Guest physical memory: the single boundary through which every guest
 * address is turned into a host pointer.  Anything a guest hands us (a
 * descriptor address, a boot-data pointer) passes gmem_ptr() once; the
 * returned pointer is valid for exactly `len` bytes.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 4

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	uint64_t offset; /* offset of this region in the backing mapping */
};

struct gmem {
	uint8_t *base;     /* the whole backing mapping */
	uint64_t size;     /* RAM bytes (sum of regions) */
	int fd;            /* memfd backing, -1 for anonymous */
	unsigned nr;
	struct gmem_region regions[GMEM_MAX_REGIONS];
	/*
	 * Live migration: while set, gmem_ptr() marks every page it hands out
	 * (one bit per 4 KiB page of the mapping, set atomically), so that the
	 * pages devices may write are sent again in the final round.
	 */
	unsigned long *touched;
};

/*
 * Maps `size` bytes of RAM (anonymous, or a memfd when `shareable`), leaving
 * regions unset.  gmem_add_region() then places consecutive slices of it at
 * guest physical addresses.
 */
int gmem_map(struct gmem *m, uint64_t size, bool shareable);
int gmem_add_region(struct gmem *m, uint64_t gpa, uint64_t size);
/*
 * Restore: maps the `size`-byte file at `path` MAP_PRIVATE (pages load on
 * first touch, guest writes are copy-on-write, the file is never written).
 * The file is opened read-only and held with a shared flock(2) until
 * gmem_unmap(), so a writer that takes the exclusive lock sees it in use.
 */
int gmem_map_file(struct gmem *m, const char *path, uint64_t size);
void gmem_unmap(struct gmem *m);

/* Host pointer for [gpa, gpa+len) if it lies entirely inside one region, else NULL (marks `touched`). */
void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len);
int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, size_t len);
int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, size_t len);
/* True when [gpa, gpa+len) is RAM. */
bool gmem_is_ram(const struct gmem *m, uint64_t gpa, uint64_t len);
/* The guest physical address one past the highest RAM byte. */
uint64_t gmem_top(const struct gmem *m);

#endif
