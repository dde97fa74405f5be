/* SPDX-License-Identifier: MIT */
#ifndef KITE_DEBUG_EXIT_H
#define KITE_DEBUG_EXIT_H

/*
 * QEMU's isa-debug-exit: a guest write of value v at the port stops the VM
 * and kite exits with status (v << 1) | 1, so a test suite written for QEMU
 * reads kite's verdict the same way.  Reads return 0, as in QEMU.
 */

#include <stdint.h>

struct machine;

#define DEBUG_EXIT_PORT 0xf4
#define DEBUG_EXIT_SIZE 4

struct debug_exit {
	struct machine *m;
	uint16_t base;
	unsigned size;
};

/* Claims [base, base+size) on m->pio; size is 1, 2 or 4. */
int debug_exit_init(struct debug_exit *d, struct machine *m, uint16_t base, unsigned size);
void debug_exit_exit(struct debug_exit *d);

/* The process exit status for a written value, as QEMU computes it (exit(2) keeps 8 bits). */
static inline int debug_exit_status(uint32_t value)
{
	return (int)(((value << 1) | 1) & 0xff);
}

#endif
