/* SPDX-License-Identifier: MIT */
#ifndef KITE_MACHINE_H
#define KITE_MACHINE_H

/*
 * What a VM offers its devices.  Devices never see struct vm (lower layers
 * never include higher ones); they get this table of services instead.
 */

#include <stdint.h>

struct gmem;
struct bus;
struct event_loop;

/* Why the VM stops.  Each maps to a documented `kite run` exit status. */
enum stop_reason {
	STOP_NONE = 0,
	STOP_POWEROFF,   /* guest powered off: status 0 */
	STOP_RESET,      /* guest asked for a reset (i8042, ACPI, triple fault): status 0 */
	STOP_DEBUG_EXIT, /* isa-debug-exit write of v: status v*2+1 */
	STOP_USER,       /* kite stop / signal: status 0 */
	STOP_FAILURE,    /* VMM or guest failure: status 4 */
};

struct machine {
	struct gmem *mem;
	struct bus *pio;
	struct bus *mmio;
	struct event_loop *loop;
	unsigned ncpus;
	/* Level of a GSI on the in-kernel IOAPIC/PIC (edge devices pulse 1 then 0). */
	int (*irq_line)(struct machine *m, unsigned gsi, int level);
	/* Delivers one MSI message. */
	int (*msi)(struct machine *m, uint64_t addr, uint32_t data);
	/* Binds an eventfd to a GSI (irqfd); `gsi` from alloc_gsi for MSI routes. */
	int (*irqfd)(struct machine *m, int fd, unsigned gsi, int assign);
	/* Binds an eventfd to a guest write at `addr` (ioeventfd); pio or mmio. */
	int (*ioeventfd)(struct machine *m, int fd, uint64_t addr, unsigned len, int is_pio, int assign);
	/* Allocates a GSI and routes it to an MSI message (update with route_msi). */
	int (*alloc_gsi)(struct machine *m);
	int (*route_msi)(struct machine *m, unsigned gsi, uint64_t addr, uint32_t data);
	/* Asks the VM to stop; `status` is the debug-exit value for STOP_DEBUG_EXIT. */
	void (*request_stop)(struct machine *m, enum stop_reason why, int status, const char *detail);
	void *opaque; /* the VM */
};

static inline int machine_irq_pulse(struct machine *m, unsigned gsi)
{
	int r = m->irq_line(m, gsi, 1);
	return r ? r : m->irq_line(m, gsi, 0);
}

#endif
