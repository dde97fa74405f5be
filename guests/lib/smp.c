// SPDX-License-Identifier: MIT
/* AP bring-up: INIT-SIPI-SIPI to all but self, from ring 3 (the ICR is MMIO). */
#include "kit.h"

#define ICR_INIT       0x00000500
#define ICR_STARTUP    0x00000600
#define ICR_ASSERT     0x00004000
#define ICR_LEVEL      0x00008000
#define ICR_ALL_BUT_ME 0x000c0000


void (*kit_ap_fn)(unsigned int cpu);
volatile unsigned int kit_cpus_online = 1;
volatile uint32_t kit_cpu_apic_id[KIT_MAX_CPUS];

unsigned int kit_cpu_count_hint(void)
{
	uint32_t r[4];
	unsigned int sub, n;

	n = kit_arg_ulong("cpus", 0);
	if (n)
		return n;
	n = kit_acpi_cpu_count();
	if (n)
		return n;
	kit_cpuid(0, 0, r);
	if (r[0] >= 0xb) {
		/* The widest x2APIC topology level counts the package's CPUs. */
		for (sub = 0; sub < 8; sub++) {
			kit_cpuid(0xb, sub, r);
			if (!(r[2] >> 8 & 0xff))
				break;
			n = r[1] & 0xffff;
		}
		if (n)
			return n;
	}
	kit_cpuid(1, 0, r);
	if (r[3] & (1u << 28))          /* HTT: EBX[23:16] is meaningful */
		return (r[1] >> 16 & 0xff) ? (r[1] >> 16 & 0xff) : 1;
	return 1;
}

/*
 * Starts the APs and waits until `cpus` CPUs (BSP included) are online or
 * `timeout_ms` passed; then waits a little longer so that extra CPUs show.
 */
unsigned int kit_smp_start(unsigned int cpus, unsigned int timeout_ms)
{
	uint64_t hz = kit_tsc_hz(), end;
	uint32_t vector = KIT_TRAMP_ADDR >> 12;

	kit_cpu_apic_id[0] = kit_lapic_id();
	memcpy((void *)(uintptr_t)KIT_TRAMP_ADDR, kit_tramp_start, kit_tramp_end - kit_tramp_start);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	kit_lapic_icr(0, ICR_ALL_BUT_ME | ICR_LEVEL | ICR_ASSERT | ICR_INIT);
	kit_delay_us(10000);
	kit_lapic_icr(0, ICR_ALL_BUT_ME | ICR_ASSERT | ICR_STARTUP | vector);
	kit_delay_us(200);
	kit_lapic_icr(0, ICR_ALL_BUT_ME | ICR_ASSERT | ICR_STARTUP | vector);
	end = kit_rdtsc() + hz / 1000 * timeout_ms;
	while (kit_cpus_online < cpus && kit_rdtsc() < end)
		cpu_relax();
	kit_delay_us(20000);
	return kit_cpus_online;
}
