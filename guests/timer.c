// SPDX-License-Identifier: MIT
/*
 * timer: the LAPIC timer, calibrated against the PIT, runs periodic at hz=N
 * (default 100) while ring 3 spins on the TSC; the interrupts counted over
 * ~0.5 s must give the rate within +-25%.
 */
#include "kit.h"

#define SPAN_MS       500
#define TOLERANCE_PCT 25

static volatile uint64_t ticks;

static void on_timer(struct kit_frame *f)
{
	(void)f;
	ticks++;
}

int main(void)
{
	unsigned long hz = kit_arg_ulong("hz", 100);
	uint64_t tsc_hz, t0, t1, n0, n1, rate_milli, want_milli;

	if (hz < 1 || hz > 10000) {
		kit_printf("timer: hz=%lu out of range 1-10000\n", hz);
		return KIT_EXIT_FAIL;
	}
	kit_calibrate();
	tsc_hz = kit_tsc_hz();
	kit_printf("timer: tsc %lu kHz, lapic timer %lu kHz (div 16)\n", tsc_hz / 1000, kit_lapic_timer_hz() / 1000);
	if (!tsc_hz || !kit_lapic_timer_hz()) {
		kit_printf("timer: calibration failed\n");
		return KIT_EXIT_FAIL;
	}
	kit_irq_register(KIT_VEC_TIMER, on_timer);
	kit_lapic_timer_periodic(KIT_VEC_TIMER, hz);
	/* Start on a tick, so that the span holds whole periods. */
	t0 = kit_rdtsc() + tsc_hz;      /* at most 1 s for the first tick */
	for (n0 = ticks; ticks == n0 && kit_rdtsc() < t0;)
		cpu_relax();
	n0 = ticks;
	t0 = kit_rdtsc();
	while (kit_rdtsc() - t0 < tsc_hz / 1000 * SPAN_MS)
		cpu_relax();
	n1 = ticks;
	t1 = kit_rdtsc();
	kit_lapic_timer_stop();
	rate_milli = (n1 - n0) * 1000 * tsc_hz / (t1 - t0);
	want_milli = hz * 1000;
	kit_printf("timer: %lu interrupts in %lu ms: %lu.%03lu Hz (want %lu Hz +-%u%%)\n", n1 - n0,
		   (t1 - t0) * 1000 / tsc_hz, rate_milli / 1000, rate_milli % 1000, hz, TOLERANCE_PCT);
	if (rate_milli * 100 < want_milli * (100 - TOLERANCE_PCT) ||
	    rate_milli * 100 > want_milli * (100 + TOLERANCE_PCT)) {
		kit_printf("timer: rate out of tolerance\n");
		return KIT_EXIT_FAIL;
	}
	kit_printf("timer: ok\n");
	return KIT_EXIT_PASS;
}
