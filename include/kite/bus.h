/* SPDX-License-Identifier: MIT */
#ifndef KITE_BUS_H
#define KITE_BUS_H

/*
 * An address space (port I/O or MMIO) where devices claim ranges.  Lookup is
 * a binary search over sorted, non-overlapping ranges.  Registration may
 * happen while vCPUs run (a guest moving a PCI BAR), hence the rwlock.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* `offset` is relative to the start of the range; `data` holds `len` bytes (1..8). */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn fn;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	pthread_rwlock_t lock;
	struct bus_range *ranges;
	unsigned nr, cap;
	/* Accesses nobody claimed: counted, never fatal. */
	uint64_t unclaimed_reads, unclaimed_writes;
};

int bus_init(struct bus *b, const char *name);
void bus_exit(struct bus *b);
/* -EEXIST (with a message naming both claimants) if the range overlaps another. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_io_fn fn, void *opaque, const char *name);
/* Removes the range that starts at `base` and belongs to `opaque`; -ENOENT if none. */
int bus_unregister(struct bus *b, uint64_t base, void *opaque);
/*
 * Dispatches one access.  Returns true when a device claimed it; an unclaimed
 * read fills `data` with all-ones.  An access that straddles the end of a
 * range is unclaimed.
 */
bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, unsigned len, bool is_write);
/* The name of the range that contains `addr`, or NULL. */
const char *bus_owner(struct bus *b, uint64_t addr);

#endif
