// SPDX-License-Identifier: MIT
/*
 * The ACPI tables as a guest finds them: from the RSDP at 0xe0000 through
 * the XSDT to every table, with every checksum, the MADT's per-vCPU entries,
 * the FADT's power registers and the e820 marks.  Offsets are the ACPI 6.5
 * ones, written out here rather than taken from kite's own structs.  Also
 * the power device (acpi_pm) on a fake machine.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <kite/acpi.h>
#include <kite/acpi_pm.h>
#include <kite/e820.h>
#include <kite/gmem.h>
#include <kite/util.h>
#include <kite/x86_layout.h>

#include "boot_fixture.h"
#include "fake_machine.h"

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

/* A checked table: signature, length within memory, checksum zero. */
static const uint8_t *table(struct vmfix *f, uint64_t gpa, const char *sig)
{
	const uint8_t *h = gmem_ptr(&f->m, gpa, 36);

	assert_non_null(h);
	assert_memory_equal(h, sig, 4);
	assert_true(rd32(h + 4) >= 36);
	assert_non_null(gmem_ptr(&f->m, gpa, rd32(h + 4)));
	assert_int_equal(sum(h, rd32(h + 4)), 0);
	/* Everything kite writes stays inside the BIOS area. */
	assert_true(gpa >= X86_BIOS_START && gpa + rd32(h + 4) <= X86_BIOS_END);
	return h;
}

struct walk {
	const uint8_t *xsdt, *fadt, *madt, *mcfg, *dsdt;
	unsigned ntables;
};

static void walk(struct vmfix *f, uint64_t rsdp_addr, struct walk *w)
{
	const uint8_t *rsdp = gmem_ptr(&f->m, rsdp_addr, 36);

	memset(w, 0, sizeof(*w));
	assert_int_equal(rsdp_addr, 0xe0000);
	assert_non_null(rsdp);
	assert_memory_equal(rsdp, "RSD PTR ", 8);
	assert_int_equal(sum(rsdp, 20), 0);
	assert_int_equal(sum(rsdp, 36), 0);
	assert_int_equal(rsdp[15], 2);         /* revision */
	assert_int_equal(rd32(rsdp + 20), 36); /* length */
	w->xsdt = table(f, rd64(rsdp + 24), "XSDT");
	w->ntables = (rd32(w->xsdt + 4) - 36) / 8;
	for (unsigned i = 0; i < w->ntables; i++) {
		uint64_t gpa = rd64(w->xsdt + 36 + 8 * i);
		const uint8_t *h = gmem_ptr(&f->m, gpa, 4);

		assert_non_null(h);
		if (!memcmp(h, "FACP", 4))
			w->fadt = table(f, gpa, "FACP");
		else if (!memcmp(h, "APIC", 4))
			w->madt = table(f, gpa, "APIC");
		else if (!memcmp(h, "MCFG", 4))
			w->mcfg = table(f, gpa, "MCFG");
		else
			fail_msg("unexpected table %.4s", (const char *)h);
	}
	assert_non_null(w->fadt);
	assert_non_null(w->madt);
	w->dsdt = table(f, rd64(w->fadt + 140), "DSDT");
	assert_int_equal(rd32(w->fadt + 40), rd64(w->fadt + 140));
}

static bool has(const uint8_t *t, const void *needle, size_t n)
{
	return memmem(t, rd32(t + 4), needle, n) != NULL;
}

static uint32_t e820_type_at(const struct e820_map *map, uint64_t addr)
{
	for (unsigned i = 0; i < map->nr; i++)
		if (addr >= map->e[i].addr && addr - map->e[i].addr < map->e[i].size)
			return map->e[i].type;
	return 0;
}

/* Builds the tables for `cfg` into f's RAM, which must work, and walks them from the RSDP. */
static void build_and_walk(struct vmfix *f, const struct acpi_config *cfg, struct walk *w)
{
	uint64_t rsdp = 0;

	assert_int_equal(acpi_build(&f->m, &f->map, cfg, &rsdp), 0);
	walk(f, rsdp, w);
}

static void test_tables(void **state)
{
	struct vmfix *f = vmfix_new(512 * MiB);
	struct acpi_config cfg;
	struct walk w;
	unsigned lapics = 0, ioapics = 0, isos = 0;

	acpi_config_default(&cfg, 4);
	build_and_walk(f, &cfg, &w);
	assert_int_equal(w.ntables, 3);

	/* FADT: 6.x, hardware-reduced, reset and sleep registers in port I/O at the PM device. */
	assert_int_equal(rd32(w.fadt + 4), 276);
	assert_int_equal(w.fadt[8], 6);
	assert_true(rd32(w.fadt + 112) & (1u << 20));
	assert_true(rd32(w.fadt + 112) & (1u << 10));
	assert_int_equal(w.fadt[116], 1); /* RESET_REG: SystemIO */
	assert_int_equal(rd64(w.fadt + 120), ACPI_PM_PORT_DEFAULT + ACPI_PM_RESET);
	assert_int_equal(w.fadt[128], ACPI_RESET_VALUE);
	assert_int_equal(w.fadt[244], 1);
	assert_int_equal(rd64(w.fadt + 248), ACPI_PM_PORT_DEFAULT + ACPI_PM_SLEEP_CONTROL);
	assert_int_equal(w.fadt[256], 1);
	assert_int_equal(rd64(w.fadt + 260), ACPI_PM_PORT_DEFAULT + ACPI_PM_SLEEP_STATUS);

	/* MADT: one enabled local APIC per vCPU (APIC id = index), one IOAPIC, IRQ0 -> GSI 2. */
	assert_int_equal(rd32(w.madt + 36), 0xfee00000);
	for (uint32_t off = 44; off < rd32(w.madt + 4); off += w.madt[off + 1]) {
		const uint8_t *e = w.madt + off;

		assert_true(e[1] >= 2 && off + e[1] <= rd32(w.madt + 4));
		switch (e[0]) {
		case 0:
			assert_int_equal(e[2], lapics);
			assert_int_equal(e[3], lapics);
			assert_int_equal(rd32(e + 4), 1);
			lapics++;
			break;
		case 1:
			assert_int_equal(rd32(e + 4), 0xfec00000);
			assert_int_equal(rd32(e + 8), 0);
			ioapics++;
			break;
		case 2:
			assert_int_equal(e[3], 0);
			assert_int_equal(rd32(e + 4), 2);
			isos++;
			break;
		}
	}
	assert_int_equal(lapics, 4);
	assert_int_equal(ioapics, 1);
	assert_int_equal(isos, 1);

	/* MCFG: ECAM for buses 0-255 at 0xe0000000, reserved in e820. */
	assert_non_null(w.mcfg);
	assert_int_equal(rd64(w.mcfg + 44), 0xe0000000);
	assert_int_equal(w.mcfg[54], 0);
	assert_int_equal(w.mcfg[55], 255);
	assert_int_equal(e820_type_at(&f->map, 0xe0000000), E820_RESERVED);
	assert_int_equal(e820_type_at(&f->map, 0xefffffff), E820_RESERVED);

	/* DSDT: the objects a guest needs. */
	assert_true(has(w.dsdt, "_S5_", 4));
	assert_true(has(w.dsdt, "COM1", 4));
	assert_true(has(w.dsdt, "PCI0", 4));
	assert_true(has(w.dsdt, "_PRT", 4));
	assert_true(has(w.dsdt, "C003", 4));
	assert_false(has(w.dsdt, "C004", 4));
	assert_true(has(w.dsdt, "\x0c\x41\xd0\x0a\x08", 5)); /* EISAID PNP0A08 */

	/* The tables' page is ACPI data; RAM below and above is untouched. */
	assert_int_equal(e820_type_at(&f->map, 0xe0000), E820_ACPI);
	assert_int_equal(e820_type_at(&f->map, 0x1000), E820_RAM);
	assert_int_equal(e820_type_at(&f->map, 0x100000), E820_RAM);
	vmfix_free(f);
}

static void test_without_pci(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct acpi_config cfg;
	struct walk w;

	acpi_config_default(&cfg, 1);
	cfg.pci = false;
	build_and_walk(f, &cfg, &w);
	assert_int_equal(w.ntables, 2);
	assert_null(w.mcfg);
	assert_false(has(w.dsdt, "PCI0", 4));
	assert_int_equal(e820_type_at(&f->map, 0xe0000000), 0);
	vmfix_free(f);
}

/* The largest machine still fits the BIOS area, with a 64-bit window. */
static void test_max_cpus(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct acpi_config cfg;
	struct walk w;

	acpi_config_default(&cfg, 255);
	cfg.mmio64_base = 0x8000000000ull;
	cfg.mmio64_size = 0x8000000000ull;
	build_and_walk(f, &cfg, &w);
	assert_int_equal(rd32(w.madt + 4), 44 + 255 * 8 + 12 + 10 + 6);
	assert_true(has(w.dsdt, "C0FE", 4));
	vmfix_free(f);
}

static void test_bad_config(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct acpi_config cfg;
	uint64_t rsdp = 0;

	acpi_config_default(&cfg, 0);
	assert_int_equal(acpi_build(&f->m, &f->map, &cfg, &rsdp), -EINVAL);
	acpi_config_default(&cfg, 256);
	assert_int_equal(acpi_build(&f->m, &f->map, &cfg, &rsdp), -EINVAL);
	acpi_config_default(&cfg, 2);
	cfg.bus_start = 5;
	cfg.bus_end = 4;
	assert_int_equal(acpi_build(&f->m, &f->map, &cfg, &rsdp), -EINVAL);
	acpi_config_default(&cfg, 2);
	cfg.mmio32_base = 0xf0000000;
	cfg.mmio32_size = 0x20000000;
	assert_int_equal(acpi_build(&f->m, &f->map, &cfg, &rsdp), -EINVAL);
	assert_int_equal(rsdp, 0);
	vmfix_free(f);
}

/* Guest memory that does not back the BIOS area: an error, no crash. */
static void test_no_bios_area(void **state)
{
	struct gmem m;
	struct e820_map map;
	struct acpi_config cfg;
	uint64_t rsdp = 0;

	assert_int_equal(gmem_map(&m, 0x80000, false), 0);
	assert_int_equal(gmem_add_region(&m, 0, 0x80000), 0);
	assert_int_equal(e820_build(&map, &m), 0);
	acpi_config_default(&cfg, 1);
	assert_int_equal(acpi_build(&m, &map, &cfg, &rsdp), -ENOSPC);
	gmem_unmap(&m);
}

static void test_intx_gsi(void **state)
{
	assert_int_equal(acpi_pci_intx_gsi(0, 0), 16);
	assert_int_equal(acpi_pci_intx_gsi(1, 0), 17);
	assert_int_equal(acpi_pci_intx_gsi(1, 3), 20);
	assert_int_equal(acpi_pci_intx_gsi(7, 1), 16);
	for (unsigned s = 0; s < 32; s++)
		for (unsigned p = 0; p < 4; p++)
			assert_in_range(acpi_pci_intx_gsi(s, p), 16, 23);
}

static void test_dump(void **state)
{
	static const char *const names[] = { "RSDP", "XSDT", "FACP", "DSDT", "APIC", "MCFG" };
	struct vmfix *f = vmfix_new(64 * MiB);
	char dir[] = "/tmp/kite-acpi-XXXXXX", path[64];
	struct acpi_config cfg;
	struct stat st;
	uint64_t rsdp = 0;

	assert_non_null(mkdtemp(dir));
	acpi_config_default(&cfg, 2);
	assert_int_equal(acpi_build(&f->m, &f->map, &cfg, &rsdp), 0);
	assert_int_equal(acpi_dump(&f->m, rsdp, dir), 0);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(path, sizeof(path), "%s/%s.dat", dir, names[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_true(st.st_size >= 36);
		unlink(path);
	}
	/* A corrupted XSDT length is refused, not followed. */
	{
		uint8_t *r = gmem_ptr(&f->m, rsdp, 36);
		uint8_t *x = gmem_ptr(&f->m, rd64(r + 24), 36);
		uint32_t bad = 0x7fffffff;

		memcpy(x + 4, &bad, 4);
		assert_int_equal(acpi_dump(&f->m, rsdp, dir), -EINVAL);
		snprintf(path, sizeof(path), "%s/RSDP.dat", dir);
		unlink(path);
	}
	assert_int_equal(rmdir(dir), 0);
	vmfix_free(f);
}

static void test_pm_device(void **state)
{
	struct fake_machine *fm = fake_machine_new();
	uint16_t base = ACPI_PM_PORT_DEFAULT;
	struct acpi_pm pm;

	assert_int_equal(acpi_pm_init(&pm, &fm->m, base), 0);
	/* Sleep without SLP_EN, a wrong reset value, S3: nothing. */
	outb(fm, base + ACPI_PM_SLEEP_CONTROL, ACPI_S5_SLP_TYP << ACPI_SLP_TYP_SHIFT);
	outb(fm, base + ACPI_PM_RESET, ACPI_RESET_VALUE + 1);
	outb(fm, base + ACPI_PM_SLEEP_CONTROL, ACPI_SLP_EN | (3 << ACPI_SLP_TYP_SHIFT));
	assert_int_equal(fm->nstops, 0);
	/* Write-1-to-clear status. */
	pm.sleep_status = ACPI_WAK_STS;
	assert_int_equal(inb(fm, base + ACPI_PM_SLEEP_STATUS), ACPI_WAK_STS);
	outb(fm, base + ACPI_PM_SLEEP_STATUS, 0);
	assert_int_equal(inb(fm, base + ACPI_PM_SLEEP_STATUS), ACPI_WAK_STS);
	outb(fm, base + ACPI_PM_SLEEP_STATUS, ACPI_WAK_STS);
	assert_int_equal(inb(fm, base + ACPI_PM_SLEEP_STATUS), 0);
	/* S5 powers off. */
	outb(fm, base + ACPI_PM_SLEEP_CONTROL, ACPI_SLP_EN | (ACPI_S5_SLP_TYP << ACPI_SLP_TYP_SHIFT));
	assert_int_equal(fm->nstops, 1);
	assert_int_equal(fm->why, STOP_POWEROFF);
	assert_string_equal(fm->detail, "ACPI poweroff");
	/* The reset value resets, also inside a wider write. */
	outn(fm, base + ACPI_PM_SLEEP_STATUS, (uint32_t)ACPI_RESET_VALUE << 8, 2);
	assert_int_equal(fm->nstops, 2);
	assert_int_equal(fm->why, STOP_RESET);
	assert_string_equal(fm->detail, "ACPI reset");
	acpi_pm_exit(&pm);
	/* Gone from the bus. */
	outb(fm, base + ACPI_PM_RESET, ACPI_RESET_VALUE);
	assert_int_equal(fm->nstops, 2);
	assert_int_equal(acpi_pm_init(&pm, &fm->m, 0xfffe), -EINVAL);
	fake_machine_free(fm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_without_pci),
		cmocka_unit_test(test_max_cpus),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_no_bios_area),
		cmocka_unit_test(test_intx_gsi),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_pm_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
