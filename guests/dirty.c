// SPDX-License-Identifier: MIT
/*
 * dirty: ring 3 writes a counter into every 4 KiB page of a buffer, round
 * after round, and checks a checksum of the whole buffer each round: the
 * workload for snapshot and migration tests.  All its state lives in guest
 * memory, so after a restore it carries on from the saved round.
 *
 *   mem_mb=N    buffer size (default 64), placed at the first 2 MiB boundary
 *               after the image
 *   rounds=N    exit(0) after N rounds (default: run until killed)
 *   print_ms=N  at most one progress line per N ms (default 500); rounds 1
 *               and N are always printed
 *   pause_ms=N  spin N ms between rounds (default 0), to bound the dirty rate
 *
 * Page p holds (round << 32 | p) in its first word and zeroes elsewhere, so
 * the checksum (the 64-bit sum of all words) is known for every round.
 */
#include "kit.h"

#define PAGE 4096
#define MiB  (1ul << 20)

static struct {
	uint64_t round;
	uint64_t last_print;
} st;

static uint64_t expected_sum(uint64_t round, uint64_t pages)
{
	return pages * (round << 32) + pages * (pages - 1) / 2;
}

static uint64_t run_round(uint64_t *buf, uint64_t pages, uint64_t round)
{
	uint64_t p, i, sum = 0;

	for (p = 0; p < pages; p++)
		buf[p * (PAGE / 8)] = round << 32 | p;
	for (i = 0; i < pages * (PAGE / 8); i++)
		sum += buf[i];
	return sum;
}

int main(void)
{
	unsigned long mem_mb = kit_arg_ulong("mem_mb", 64), rounds = kit_arg_ulong("rounds", 0);
	unsigned long print_ms = kit_arg_ulong("print_ms", 500), pause_ms = kit_arg_ulong("pause_ms", 0);
	uint64_t base = ((uint64_t)(uintptr_t)kit_image_end + 2 * MiB - 1) & ~(2 * MiB - 1);
	uint64_t pages = mem_mb * MiB / PAGE, tsc_hz = kit_tsc_hz(), *buf = (uint64_t *)(uintptr_t)base;

	if (!pages || base + mem_mb * MiB > kit_ram_top()) {
		kit_printf("dirty: a %lu MiB buffer at 0x%lx does not fit below RAM top 0x%lx\n", mem_mb, base,
			   kit_ram_top());
		return KIT_EXIT_FAIL;
	}
	if (!st.round) {
		kit_printf("dirty: %lu MiB at 0x%lx, %lu pages, rounds %lu\n", mem_mb, base, pages, rounds);
		memset(buf, 0, mem_mb * MiB);
	}
	for (;;) {
		uint64_t r = ++st.round, sum = run_round(buf, pages, r), now = kit_rdtsc();

		if (sum != expected_sum(r, pages)) {
			kit_printf("dirty: round %lu sum 0x%lx, expected 0x%lx\n", r, sum, expected_sum(r, pages));
			return KIT_EXIT_FAIL;
		}
		if (r == 1 || r == rounds || now - st.last_print >= tsc_hz / 1000 * print_ms) {
			kit_printf("dirty: round %lu sum 0x%lx\n", r, sum);
			st.last_print = now;
		}
		if (rounds && r >= rounds)
			break;
		if (pause_ms)
			kit_delay_us(pause_ms * 1000);
	}
	kit_printf("dirty: done after %lu rounds\n", rounds);
	return KIT_EXIT_PASS;
}
