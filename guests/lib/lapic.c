// SPDX-License-Identifier: MIT
/*
 * xAPIC (MMIO at 0xfee00000, user-accessible in the kit's page tables), its
 * timer, and the TSC/LAPIC calibration against the PIT.  The PIT is only
 * polled (channel 0 latched reads): no PIT interrupt is ever needed.
 */
#include "kit.h"

#define LAPIC_BASE   0xfee00000ul
#define LAPIC_ID     0x020
#define LAPIC_TPR    0x080
#define LAPIC_EOI    0x0b0
#define LAPIC_SVR    0x0f0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERR   0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR  0x390
#define LAPIC_TIMER_DIV  0x3e0
#define LVT_MASKED   (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define DIV_BY_16    0x3

#define PIT_HZ       1193182ull
#define PIT_CH0      0x40
#define PIT_CMD      0x43
#define CALIBRATE_MS 50

static struct {
	uint64_t tsc_hz, lapic_hz;
} clk;

static inline uint32_t lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(LAPIC_BASE + reg);
}

static inline void lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(LAPIC_BASE + reg) = v;
}

void kit_lapic_init(void)
{
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | KIT_VEC_TIMER);
	lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
	lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
	lapic_write(LAPIC_LVT_ERR, LVT_MASKED);
	lapic_write(LAPIC_SVR, 0x100 | KIT_VEC_SPURIOUS);
}

uint32_t kit_lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void kit_lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

static uint16_t pit_read(void)
{
	uint8_t lo, hi;

	outb(PIT_CMD, 0x00);            /* latch channel 0 */
	lo = inb(PIT_CH0);
	hi = inb(PIT_CH0);
	return (uint16_t)(hi << 8 | lo);
}

/*
 * Channel 0 counts down from 65536 at 1.193182 MHz (mode 2); the elapsed
 * ticks are summed from successive latched reads, which come far more often
 * than one wrap (55 ms).  The LAPIC timer runs one-shot, masked, alongside.
 */
void kit_calibrate(void)
{
	uint64_t want = PIT_HZ * CALIBRATE_MS / 1000, ticks = 0, tsc0, tsc1;
	uint32_t apic0, apic1;
	uint16_t prev, cur;

	if (clk.tsc_hz)
		return;
	outb(PIT_CMD, 0x34);            /* ch0, lo/hi, mode 2 */
	outb(PIT_CH0, 0);
	outb(PIT_CH0, 0);
	lapic_write(LAPIC_TIMER_DIV, DIV_BY_16);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | KIT_VEC_TIMER);
	lapic_write(LAPIC_TIMER_INIT, 0xffffffff);
	prev = pit_read();
	tsc0 = kit_rdtsc();
	apic0 = lapic_read(LAPIC_TIMER_CUR);
	while (ticks < want) {
		cur = pit_read();
		ticks += (uint16_t)(prev - cur);
		prev = cur;
	}
	tsc1 = kit_rdtsc();
	apic1 = lapic_read(LAPIC_TIMER_CUR);
	lapic_write(LAPIC_TIMER_INIT, 0);
	/* Leave channel 0 one-shot so it stops firing into the masked IRQ 0. */
	outb(PIT_CMD, 0x30);
	outb(PIT_CH0, 1);
	outb(PIT_CH0, 0);
	clk.tsc_hz = (tsc1 - tsc0) * PIT_HZ / ticks;
	clk.lapic_hz = (uint64_t)(apic0 - apic1) * PIT_HZ / ticks;
}

uint64_t kit_tsc_hz(void)
{
	kit_calibrate();
	return clk.tsc_hz;
}

uint64_t kit_lapic_timer_hz(void)
{
	kit_calibrate();
	return clk.lapic_hz;
}

void kit_delay_us(uint64_t us)
{
	uint64_t end = kit_rdtsc() + kit_tsc_hz() * us / 1000000;

	while (kit_rdtsc() < end)
		cpu_relax();
}

void kit_lapic_timer_periodic(uint8_t vector, uint32_t hz)
{
	uint64_t count = kit_lapic_timer_hz() / (hz ? hz : 1);

	lapic_write(LAPIC_TIMER_DIV, DIV_BY_16);
	lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | vector);
	lapic_write(LAPIC_TIMER_INIT, count ? (uint32_t)count : 1);
}

void kit_lapic_timer_stop(void)
{
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | KIT_VEC_TIMER);
	lapic_write(LAPIC_TIMER_INIT, 0);
}

/* For the SMP bring-up: ICR writes (lib/smp.c). */
void kit_lapic_icr(uint32_t hi, uint32_t lo)
{
	lapic_write(0x310, hi);
	lapic_write(0x300, lo);
	while (lapic_read(0x300) & (1u << 12))  /* delivery pending */
		cpu_relax();
}
