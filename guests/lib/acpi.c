// SPDX-License-Identifier: MIT
/* Just enough ACPI to count the CPUs: RSDP -> XSDT/RSDT -> MADT. */
#include "kit.h"

struct rsdp {
	char sig[8];
	uint8_t csum;
	char oem[6];
	uint8_t rev;
	uint32_t rsdt;
	uint32_t len;
	uint64_t xsdt;
} __attribute__((packed));

struct sdt {
	char sig[4];
	uint32_t len;
	uint8_t rev, csum;
	char oem[6], oem_table[8];
	uint32_t oem_rev, creator, creator_rev;
} __attribute__((packed));

static bool in_low4g(uint64_t addr, uint64_t len)
{
	return addr && addr < 0x100000000ull && len < 0x100000000ull - addr;
}

static const struct rsdp *find_rsdp(void)
{
	uint64_t p = kit_rsdp_addr();

	if (in_low4g(p, sizeof(struct rsdp)) && !memcmp((const void *)(uintptr_t)p, "RSD PTR ", 8))
		return (const void *)(uintptr_t)p;
	for (p = 0xe0000; p < 0x100000; p += 16)
		if (!memcmp((const void *)(uintptr_t)p, "RSD PTR ", 8))
			return (const void *)(uintptr_t)p;
	return NULL;
}

static const struct sdt *find_madt(const struct rsdp *rsdp)
{
	bool x = rsdp->rev >= 2 && rsdp->xsdt;
	uint64_t root = x ? rsdp->xsdt : rsdp->rsdt;
	const struct sdt *t = (const void *)(uintptr_t)root;
	uint32_t i, n, esize = x ? 8 : 4;

	if (!in_low4g(root, sizeof(*t)) || t->len < sizeof(*t) || !in_low4g(root, t->len))
		return NULL;
	n = (t->len - sizeof(*t)) / esize;
	for (i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)(t + 1) + i * esize;
		uint64_t a = 0;

		memcpy(&a, e, esize);
		if (in_low4g(a, sizeof(struct sdt)) && !memcmp((const void *)(uintptr_t)a, "APIC", 4))
			return (const void *)(uintptr_t)a;
	}
	return NULL;
}

/* Enabled (or online-capable) local APIC and x2APIC entries; 0 if no MADT. */
unsigned int kit_acpi_cpu_count(void)
{
	const struct rsdp *rsdp = find_rsdp();
	const struct sdt *madt = rsdp ? find_madt(rsdp) : NULL;
	const uint8_t *p, *end;
	unsigned int n = 0;

	if (!madt || !in_low4g((uintptr_t)madt, madt->len) || madt->len < sizeof(*madt) + 8)
		return 0;
	p = (const uint8_t *)(madt + 1) + 8;    /* LAPIC address, flags */
	end = (const uint8_t *)madt + madt->len;
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		uint32_t flags;

		if (p[0] == 0 && p[1] >= 8) {
			memcpy(&flags, p + 4, 4);
			n += (flags & 3) != 0;
		} else if (p[0] == 9 && p[1] >= 16) {
			memcpy(&flags, p + 8, 4);
			n += (flags & 3) != 0;
		}
		p += p[1];
	}
	return n;
}
