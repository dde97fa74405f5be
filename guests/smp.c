// SPDX-License-Identifier: MIT
/*
 * smp: the BSP starts every AP; each checks in by APIC id from its own
 * vCPU.  cpus=N on the command line says how many to expect (else CPUID).
 */
#include "kit.h"

#define TIMEOUT_MS 2000

static void checkin(unsigned int cpu)
{
	kit_printf("smp: cpu %u (apic id %u) online\n", cpu, kit_cpu_apic_id[cpu]);
}

static bool apic_ids_unique(unsigned int n)
{
	unsigned int i, j;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (kit_cpu_apic_id[i] == kit_cpu_apic_id[j])
				return false;
	return true;
}

int main(void)
{
	unsigned int want = kit_cpu_count_hint(), got;

	if (want > KIT_MAX_CPUS) {
		kit_printf("smp: %u cpus wanted, the kit supports %u\n", want, KIT_MAX_CPUS);
		return KIT_EXIT_FAIL;
	}
	kit_printf("smp: cpu 0 (apic id %u) online, expecting %u cpus\n", kit_lapic_id(), want);
	kit_ap_fn = checkin;
	got = kit_smp_start(want, TIMEOUT_MS);
	if (got < want) {
		kit_printf("smp: timeout: %u of %u cpus checked in\n", got, want);
		return KIT_EXIT_TIMEOUT;
	}
	if (got != want) {
		kit_printf("smp: %u cpus checked in, expected %u\n", got, want);
		return KIT_EXIT_FAIL;
	}
	if (!apic_ids_unique(got)) {
		kit_printf("smp: duplicate apic ids\n");
		return KIT_EXIT_FAIL;
	}
	kit_printf("smp: all %u cpus checked in\n", got);
	return KIT_EXIT_PASS;
}
