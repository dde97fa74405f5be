// SPDX-License-Identifier: MIT
/*
 * compute: a fixed, deterministic workload in ring 3 (a sieve, then CRC32
 * over the sieve and over an xorshift stream); the printed result must be
 * the same under any VMM.  mib=N sets the stream length (default 32 MiB).
 */
#include "kit.h"

#define SIEVE_N      4000000
#define PRIMES_BELOW 283146             /* pi(4000000) */
#define RESULT_32MIB 0x0004520a66db2ff0ul /* the result for mib=32, from a host build */

static uint8_t composite[SIEVE_N];
static uint32_t crc_table[256];

static void crc_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		for (c = i, j = 0; j < 8; j++)
			c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t sieve(void)
{
	uint32_t i, j, count = 0;

	for (i = 2; (uint64_t)i * i < SIEVE_N; i++)
		if (!composite[i])
			for (j = i * i; j < SIEVE_N; j += i)
				composite[j] = 1;
	for (i = 2; i < SIEVE_N; i++)
		count += !composite[i];
	return count;
}

int main(void)
{
	unsigned long mib = kit_arg_ulong("mib", 32), i;
	uint64_t x = 0x9e3779b97f4a7c15ull, t0 = kit_rdtsc();
	uint32_t primes, crc;
	uint64_t block[512];

	crc_init();
	primes = sieve();
	crc = crc32(0, composite, SIEVE_N);
	for (i = 0; i < mib * 256; i++) {        /* 4 KiB per block */
		unsigned int k;

		for (k = 0; k < 512; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			block[k] = x;
		}
		crc = crc32(crc, (const uint8_t *)block, sizeof(block));
	}
	kit_printf("compute: primes below %u: %u\n", SIEVE_N, primes);
	kit_printf("compute: result 0x%08x%08x\n", primes, crc);
	kit_printf("compute: %lu Mcycles\n", (kit_rdtsc() - t0) / 1000000);
	if (primes != PRIMES_BELOW) {
		kit_printf("compute: wrong prime count, wanted %u\n", PRIMES_BELOW);
		return KIT_EXIT_FAIL;
	}
	if (mib == 32 && ((uint64_t)primes << 32 | crc) != RESULT_32MIB) {
		kit_printf("compute: wrong result, wanted 0x%016lx\n", RESULT_32MIB);
		return KIT_EXIT_FAIL;
	}
	return KIT_EXIT_PASS;
}
