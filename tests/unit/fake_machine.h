/* SPDX-License-Identifier: MIT */
#ifndef KITE_TEST_FAKE_MACHINE_H
#define KITE_TEST_FAKE_MACHINE_H

/*
 * A struct machine for device unit tests: a real port-I/O bus and event
 * loop, IRQ levels and stop requests recorded instead of reaching KVM.
 * Include after <cmocka.h>.
 */

#include <stdio.h>
#include <string.h>

#include <kite/bus.h>
#include <kite/event.h>
#include <kite/machine.h>

#define FAKE_NR_GSI 24

struct fake_machine {
	struct machine m;
	struct bus pio, mmio;
	int irq[FAKE_NR_GSI];          /* last level per GSI */
	unsigned irq_calls[FAKE_NR_GSI];
	unsigned nstops;
	enum stop_reason why;
	int status;
	char detail[64];
};

static inline int fake_irq_line(struct machine *m, unsigned gsi, int level)
{
	struct fake_machine *f = m->opaque;

	assert_true(gsi < FAKE_NR_GSI);
	f->irq[gsi] = level;
	f->irq_calls[gsi]++;
	return 0;
}

static inline void fake_request_stop(struct machine *m, enum stop_reason why, int status, const char *detail)
{
	struct fake_machine *f = m->opaque;

	f->nstops++;
	f->why = why;
	f->status = status;
	snprintf(f->detail, sizeof(f->detail), "%s", detail ? detail : "");
}

static inline struct fake_machine *fake_machine_new(void)
{
	struct fake_machine *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(bus_init(&f->pio, "pio"), 0);
	assert_int_equal(bus_init(&f->mmio, "mmio"), 0);
	f->m.pio = &f->pio;
	f->m.mmio = &f->mmio;
	f->m.loop = event_loop_new();
	assert_non_null(f->m.loop);
	f->m.ncpus = 1;
	f->m.irq_line = fake_irq_line;
	f->m.request_stop = fake_request_stop;
	f->m.opaque = f;
	return f;
}

static inline void fake_machine_free(struct fake_machine *f)
{
	event_loop_free(f->m.loop);
	bus_exit(&f->mmio);
	bus_exit(&f->pio);
	free(f);
}

/* One round of the event loop: everything ready now (and queued calls) is handled. */
static inline void fake_pump(struct fake_machine *f)
{
	event_loop_stop(f->m.loop);
	assert_int_equal(event_loop_run(f->m.loop), 0);
}

static inline uint8_t inb(struct fake_machine *f, uint16_t port)
{
	uint8_t v = 0;

	bus_access(&f->pio, port, &v, 1, false);
	return v;
}

static inline void outb(struct fake_machine *f, uint16_t port, uint8_t v)
{
	bus_access(&f->pio, port, &v, 1, true);
}

/* A `len`-byte little-endian port write, as `out` with a wider register. */
static inline void outn(struct fake_machine *f, uint16_t port, uint32_t v, unsigned len)
{
	uint8_t b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };

	bus_access(&f->pio, port, b, len, true);
}

#endif
