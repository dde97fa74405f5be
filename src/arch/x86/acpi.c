// SPDX-License-Identifier: MIT
/*
 * ACPI tables for x86 guests; the layout is described in kite/acpi.h.  The
 * tables are assembled in a host buffer that mirrors the BIOS area and copied
 * into guest memory once, so a failure leaves guest memory untouched.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <kite/acpi.h>
#include <kite/aml.h>
#include <kite/e820.h>
#include <kite/gmem.h>
#include <kite/log.h>
#include <kite/util.h>
#include <kite/x86_layout.h>

#include "acpi_tables.h"

#define ACPI_OEM_ID       "KITE  "
#define ACPI_OEM_TABLE_ID "KITEVM  "
#define ACPI_CREATOR_ID   "KITE"

/* The last page of the BIOS area holds the VM generation ID. */
#define ACPI_AREA_SIZE (ACPI_VMGENID_ADDR - ACPI_RSDP_ADDR)

/* A host image of the BIOS area and the next free offset in it. */
struct acpi_area {
	uint8_t *buf;
	uint64_t used;
};

uint8_t acpi_checksum(const void *p, uint64_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (uint64_t i = 0; i < len; i++)
		sum += b[i];
	return -sum;
}

unsigned acpi_pci_intx_gsi(unsigned slot, unsigned pin)
{
	return ACPI_PCI_INTX_GSI_BASE + ((slot & 31) + (pin & 3)) % ACPI_PCI_INTX_GSI_NR;
}

void acpi_config_default(struct acpi_config *cfg, unsigned ncpus)
{
	*cfg = (struct acpi_config){
		.ncpus = ncpus,
		.pm_port = ACPI_PM_PORT_DEFAULT,
		.com1 = true,
		.pci = true,
		.bus_start = 0,
		.bus_end = X86_PCI_ECAM_SIZE / MiB - 1,
		.ecam_base = X86_PCI_ECAM_START,
		.mmio32_base = X86_PCI_MMIO_START,
		.mmio32_size = X86_PCI_MMIO_SIZE,
	};
}

/* Reserves `len` bytes, 16-byte aligned; returns the guest address or 0 when the area is full. */
static uint64_t area_alloc(struct acpi_area *a, uint64_t len)
{
	uint64_t off = ALIGN_UP(a->used, 16);

	if (off + len > ACPI_AREA_SIZE)
		return 0;
	a->used = off + len;
	return ACPI_RSDP_ADDR + off;
}

static void *area_ptr(struct acpi_area *a, uint64_t gpa)
{
	return a->buf + (gpa - ACPI_RSDP_ADDR);
}

static void header_init(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = 1;
}

static void header_seal(struct acpi_header *h)
{
	h->checksum = 0;
	h->checksum = acpi_checksum(h, h->length);
}

static struct acpi_gas gas_io8(uint16_t port)
{
	return (struct acpi_gas){ .space_id = ACPI_GAS_SYSTEM_IO, .bit_width = 8, .access_size = 1, .address = port };
}

static uint64_t build_fadt(struct acpi_area *a, const struct acpi_config *cfg, uint64_t dsdt)
{
	uint64_t gpa = area_alloc(a, sizeof(struct acpi_fadt));
	struct acpi_fadt *f;

	if (!gpa)
		return 0;
	f = area_ptr(a, gpa);
	header_init(&f->h, "FACP", sizeof(*f), 6);
	f->minor_version = 5;
	f->dsdt = dsdt;
	f->x_dsdt = dsdt;
	f->flags = ACPI_FADT_HW_REDUCED | ACPI_FADT_RESET_REG_SUP | ACPI_FADT_PWR_BUTTON | ACPI_FADT_SLP_BUTTON;
	/* COM1 and the CMOS clock are ISA devices; no VGA; ASPM is not ours to offer. */
	f->iapc_boot_arch = ACPI_BOOT_LEGACY_DEVICES | ACPI_BOOT_VGA_NOT_PRESENT | ACPI_BOOT_ASPM_CONTROLS;
	f->reset_reg = gas_io8(cfg->pm_port + ACPI_PM_RESET);
	f->reset_value = ACPI_RESET_VALUE;
	f->sleep_control_reg = gas_io8(cfg->pm_port + ACPI_PM_SLEEP_CONTROL);
	f->sleep_status_reg = gas_io8(cfg->pm_port + ACPI_PM_SLEEP_STATUS);
	memcpy(&f->hypervisor_vendor_id, "KITE    ", 8);
	header_seal(&f->h);
	return gpa;
}

static uint64_t build_madt(struct acpi_area *a, const struct acpi_config *cfg)
{
	uint32_t len = sizeof(struct acpi_madt) + cfg->ncpus * sizeof(struct acpi_madt_lapic) +
		       sizeof(struct acpi_madt_ioapic) + sizeof(struct acpi_madt_iso) +
		       sizeof(struct acpi_madt_lapic_nmi);
	uint64_t gpa = area_alloc(a, len);
	struct acpi_madt *madt;
	uint8_t *p;

	if (!gpa)
		return 0;
	madt = area_ptr(a, gpa);
	header_init(&madt->h, "APIC", len, 5);
	madt->lapic_addr = X86_LAPIC_ADDR;
	madt->flags = ACPI_MADT_PCAT_COMPAT;
	p = (uint8_t *)(madt + 1);
	for (unsigned i = 0; i < cfg->ncpus; i++) {
		struct acpi_madt_lapic *l = (void *)p;

		*l = (struct acpi_madt_lapic){ .type = ACPI_MADT_TYPE_LAPIC, .length = sizeof(*l),
					       .uid = i, .apic_id = i, .flags = ACPI_MADT_ENABLED };
		p += sizeof(*l);
	}
	*(struct acpi_madt_ioapic *)p = (struct acpi_madt_ioapic){
		.type = ACPI_MADT_TYPE_IOAPIC, .length = sizeof(struct acpi_madt_ioapic),
		.id = 0, .addr = X86_IOAPIC_ADDR, .gsi_base = 0,
	};
	p += sizeof(struct acpi_madt_ioapic);
	/* The PIT's IRQ 0 arrives on IOAPIC pin 2; flags 0 = conforms to the ISA bus (edge, high). */
	*(struct acpi_madt_iso *)p = (struct acpi_madt_iso){
		.type = ACPI_MADT_TYPE_ISO, .length = sizeof(struct acpi_madt_iso),
		.bus = 0, .source = 0, .gsi = 2, .flags = 0,
	};
	p += sizeof(struct acpi_madt_iso);
	*(struct acpi_madt_lapic_nmi *)p = (struct acpi_madt_lapic_nmi){
		.type = ACPI_MADT_TYPE_LAPIC_NMI, .length = sizeof(struct acpi_madt_lapic_nmi),
		.uid = 0xff, .flags = 0, .lint = 1,
	};
	header_seal(&madt->h);
	return gpa;
}

static uint64_t build_mcfg(struct acpi_area *a, const struct acpi_config *cfg)
{
	uint32_t len = sizeof(struct acpi_mcfg) + sizeof(struct acpi_mcfg_entry);
	uint64_t gpa = area_alloc(a, len);
	struct acpi_mcfg *mcfg;
	struct acpi_mcfg_entry *e;

	if (!gpa)
		return 0;
	mcfg = area_ptr(a, gpa);
	header_init(&mcfg->h, "MCFG", len, 1);
	e = (struct acpi_mcfg_entry *)(mcfg + 1);
	e->base = cfg->ecam_base;
	e->segment = 0;
	e->bus_start = cfg->bus_start;
	e->bus_end = cfg->bus_end;
	header_seal(&mcfg->h);
	return gpa;
}

static uint64_t ecam_start(const struct acpi_config *cfg)
{
	return cfg->ecam_base + ((uint64_t)cfg->bus_start << 20);
}

static uint64_t ecam_size(const struct acpi_config *cfg)
{
	return (uint64_t)(cfg->bus_end - cfg->bus_start + 1) << 20;
}

static void dsdt_processors(struct aml *a, const struct acpi_config *cfg)
{
	char name[5];

	for (unsigned i = 0; i < cfg->ncpus; i++) {
		snprintf(name, sizeof(name), "C%03X", i & 0xfff); /* ncpus <= 255 */
		aml_device_begin(a, name);
		aml_name_string_value(a, "_HID", "ACPI0007");
		aml_name_integer(a, "_UID", i);
		aml_end(a);
	}
}

static void dsdt_com1(struct aml *a)
{
	aml_device_begin(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501");
	aml_name_integer(a, "_UID", 1);
	aml_method_begin(a, "_STA", 0);
	aml_return(a);
	aml_integer(a, 0x0f); /* present, enabled, shown, working */
	aml_end(a);
	aml_name(a, "_CRS");
	aml_buffer_begin(a);
	aml_res_io(a, 0x3f8, 0x3f8, 0x01, 8);
	aml_res_irq_noflags(a, X86_IRQ_COM1);
	aml_res_end_tag(a);
	aml_end(a);
	aml_end(a);
}

/* _PRT: for every slot and pin, a direct GSI (Source = 0, SourceIndex = GSI). */
static void dsdt_prt(struct aml *a)
{
	aml_name(a, "_PRT");
	aml_package_begin(a, 32 * 4);
	for (unsigned slot = 0; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			aml_package_begin(a, 4);
			aml_integer(a, ((uint64_t)slot << 16) | 0xffff);
			aml_integer(a, pin);
			aml_integer(a, 0);
			aml_integer(a, acpi_pci_intx_gsi(slot, pin));
			aml_end(a);
		}
	}
	aml_end(a);
}

static void dsdt_pci_root(struct aml *a, const struct acpi_config *cfg)
{
	aml_device_begin(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A08");
	aml_name_eisaid(a, "_CID", "PNP0A03");
	aml_name_integer(a, "_SEG", 0);
	aml_name_integer(a, "_BBN", cfg->bus_start);
	aml_name_integer(a, "_UID", 0);
	aml_name(a, "_CRS");
	aml_buffer_begin(a);
	aml_res_word_bus_number(a, cfg->bus_start, cfg->bus_end);
	/* The bridge itself decodes the configuration ports; it forwards the rest. */
	aml_res_io(a, 0xcf8, 0xcf8, 0x01, 8);
	aml_res_word_io(a, 0x0000, 0x0cf7);
	aml_res_word_io(a, 0x0d00, 0xffff);
	aml_res_dword_memory(a, cfg->mmio32_base, cfg->mmio32_base + cfg->mmio32_size - 1, false);
	if (cfg->mmio64_size)
		aml_res_qword_memory(a, cfg->mmio64_base, cfg->mmio64_base + cfg->mmio64_size - 1, false);
	aml_res_end_tag(a);
	aml_end(a);
	dsdt_prt(a);
	aml_end(a);
}

/* Motherboard resources: the ECAM range (Linux insists it is reserved here) and the PM ports. */
static void dsdt_motherboard(struct aml *a, const struct acpi_config *cfg)
{
	aml_device_begin(a, "MRES");
	aml_name_eisaid(a, "_HID", "PNP0C02");
	aml_name_integer(a, "_UID", 0);
	aml_name(a, "_CRS");
	aml_buffer_begin(a);
	aml_res_io(a, cfg->pm_port, cfg->pm_port, 0x01, ACPI_PM_NR_PORTS);
	if (cfg->pci && cfg->ecam_base) {
		if (ecam_start(cfg) + ecam_size(cfg) <= X86_4G)
			aml_res_memory32_fixed(a, ecam_start(cfg), ecam_size(cfg));
		else
			aml_res_qword_memory(a, ecam_start(cfg), ecam_start(cfg) + ecam_size(cfg) - 1, false);
	}
	aml_res_end_tag(a);
	aml_end(a);
	aml_end(a);
}

/* VGEN as QEMU describes it: ADDR returns the ID's address as two 32-bit halves. */
static void dsdt_vmgenid(struct aml *a)
{
	aml_device_begin(a, "VGEN");
	/* QEMU's _HID is not a valid PNP/ACPI ID; a method keeps it out of iasl's Name(_HID) check. */
	aml_method_begin(a, "_HID", 0);
	aml_return(a);
	aml_string(a, "QEMUVGID");
	aml_end(a);
	aml_name_string_value(a, "_CID", "VM_Gen_Counter");
	aml_name_string_value(a, "_DDN", "VM_Gen_Counter");
	aml_method_begin(a, "_STA", 0);
	aml_return(a);
	aml_integer(a, 0x0f);
	aml_end(a);
	aml_method_begin(a, "ADDR", 0);
	aml_return(a);
	aml_package_begin(a, 2);
	aml_integer(a, ACPI_VMGENID_ADDR & 0xffffffffu);
	aml_integer(a, ACPI_VMGENID_ADDR >> 32);
	aml_end(a);
	aml_end(a);
	aml_end(a);
}

/* A Generic Event Device (hardware-reduced ACPI's SCI): its one event notifies VGEN. */
static void dsdt_ged(struct aml *a)
{
	static const uint8_t notify_op = 0x86;

	aml_device_begin(a, "GED0");
	aml_name_string_value(a, "_HID", "ACPI0013");
	aml_name_integer(a, "_UID", 0);
	aml_name(a, "_CRS");
	aml_buffer_begin(a);
	aml_res_interrupt(a, 0, ACPI_VMGENID_GSI); /* edge, active high, exclusive */
	aml_res_end_tag(a);
	aml_end(a);
	aml_method_begin(a, "_EVT", 1);
	aml_bytes(a, &notify_op, 1); /* Notify (\_SB.VGEN, 0x80) */
	aml_name_string(a, "\\_SB.VGEN");
	aml_integer(a, 0x80);
	aml_end(a);
	aml_end(a);
}

static int build_dsdt_aml(struct aml *a, const struct acpi_config *cfg)
{
	int r;

	aml_name(a, "\\_S5");
	aml_package_begin(a, 4);
	aml_integer(a, ACPI_S5_SLP_TYP); /* SLP_TYPa */
	aml_integer(a, 0);               /* SLP_TYPb */
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a);
	aml_scope_begin(a, "\\_SB");
	dsdt_processors(a, cfg);
	if (cfg->com1)
		dsdt_com1(a);
	if (cfg->pci)
		dsdt_pci_root(a, cfg);
	dsdt_motherboard(a, cfg);
	if (cfg->vmgenid) {
		dsdt_vmgenid(a);
		dsdt_ged(a);
	}
	aml_end(a);
	r = aml_error(a);
	if (r)
		pr_err("ACPI: building the DSDT failed: %s", strerror(-r));
	return r;
}

static uint64_t build_dsdt(struct acpi_area *a, const struct acpi_config *cfg)
{
	struct acpi_header *h;
	struct aml aml;
	uint64_t gpa = 0;

	aml_init(&aml);
	if (build_dsdt_aml(&aml, cfg) == 0) {
		gpa = area_alloc(a, sizeof(*h) + aml.len);
		if (gpa) {
			h = area_ptr(a, gpa);
			header_init(h, "DSDT", sizeof(*h) + aml.len, 2); /* 2: 64-bit integers */
			memcpy(h + 1, aml.buf, aml.len);
			header_seal(h);
		}
	}
	aml_free(&aml);
	return gpa;
}

static uint64_t build_xsdt(struct acpi_area *a, const uint64_t *tables, unsigned n)
{
	uint32_t len = sizeof(struct acpi_header) + n * sizeof(uint64_t);
	uint64_t gpa = area_alloc(a, len);
	struct acpi_header *h;

	if (!gpa)
		return 0;
	h = area_ptr(a, gpa);
	header_init(h, "XSDT", len, 1);
	/* Entries are 8-byte but only 4-byte aligned after the header: copy, do not store. */
	memcpy(h + 1, tables, n * sizeof(uint64_t));
	header_seal(h);
	return gpa;
}

static void build_rsdp(struct acpi_area *a, uint64_t rsdp, uint64_t xsdt)
{
	struct acpi_rsdp *r = area_ptr(a, rsdp);

	memcpy(r->signature, "RSD PTR ", 8);
	memcpy(r->oem_id, ACPI_OEM_ID, 6);
	r->revision = 2;
	r->rsdt_addr = 0;
	r->length = sizeof(*r);
	r->xsdt_addr = xsdt;
	r->checksum = acpi_checksum(r, ACPI_RSDP_V1_LEN);
	r->ext_checksum = acpi_checksum(r, sizeof(*r));
}

static int check_config(const struct acpi_config *cfg)
{
	if (cfg->ncpus < 1 || cfg->ncpus > 255) {
		pr_err("ACPI: %u vCPUs cannot be described (1..255)", cfg->ncpus);
		return -EINVAL;
	}
	if (cfg->pm_port > 0x10000 - ACPI_PM_NR_PORTS) {
		pr_err("ACPI: power device port 0x%x out of range", cfg->pm_port);
		return -EINVAL;
	}
	if (!cfg->pci)
		return 0;
	if (cfg->bus_end < cfg->bus_start || !cfg->mmio32_size || cfg->mmio32_base + cfg->mmio32_size > X86_4G ||
	    (cfg->mmio64_size && cfg->mmio64_base + cfg->mmio64_size < cfg->mmio64_base) ||
	    (cfg->ecam_base & (MiB - 1))) {
		pr_err("ACPI: inconsistent PCI layout (buses %u-%u, window 0x%llx+0x%llx, ECAM 0x%llx)",
		       cfg->bus_start, cfg->bus_end, (unsigned long long)cfg->mmio32_base,
		       (unsigned long long)cfg->mmio32_size, (unsigned long long)cfg->ecam_base);
		return -EINVAL;
	}
	return 0;
}

static int build_all(struct acpi_area *a, const struct acpi_config *cfg)
{
	uint64_t tables[4], dsdt, xsdt;
	unsigned n = 0;

	/* The RSDP goes first: ACPI_RSDP_ADDR is where scanners look. */
	if (!area_alloc(a, sizeof(struct acpi_rsdp)))
		return -ENOSPC;
	dsdt = build_dsdt(a, cfg);
	if (!dsdt)
		return -ENOSPC;
	tables[n++] = build_fadt(a, cfg, dsdt);
	tables[n++] = build_madt(a, cfg);
	if (cfg->pci && cfg->ecam_base)
		tables[n++] = build_mcfg(a, cfg);
	for (unsigned i = 0; i < n; i++)
		if (!tables[i])
			return -ENOSPC;
	xsdt = build_xsdt(a, tables, n);
	if (!xsdt)
		return -ENOSPC;
	build_rsdp(a, ACPI_RSDP_ADDR, xsdt);
	return 0;
}

int acpi_build(struct gmem *m, struct e820_map *map, const struct acpi_config *cfg, uint64_t *rsdp_addr)
{
	struct acpi_area area = { 0 };
	void *dst;
	int r;

	r = check_config(cfg);
	if (r)
		return r;
	area.buf = calloc(1, ACPI_AREA_SIZE);
	if (!area.buf)
		return -ENOMEM;
	r = build_all(&area, cfg);
	if (r) {
		/* The DSDT builder explains its own failures; the rest is lack of room. */
		if (r == -ENOSPC)
			pr_err("ACPI: the tables do not fit in the BIOS area (%u vCPUs)", cfg->ncpus);
		goto out;
	}
	dst = gmem_ptr(m, ACPI_RSDP_ADDR, area.used);
	if (!dst) {
		pr_err("ACPI: guest memory does not back the BIOS area 0x%llx-0x%llx",
		       (unsigned long long)ACPI_RSDP_ADDR, (unsigned long long)(ACPI_RSDP_ADDR + area.used));
		r = -ENOSPC;
		goto out;
	}
	memcpy(dst, area.buf, area.used);
	if (cfg->vmgenid) {
		uint8_t *id = gmem_ptr(m, ACPI_VMGENID_ADDR, ACPI_VMGENID_SIZE);

		if (!id || getrandom(id, ACPI_VMGENID_SIZE, 0) != ACPI_VMGENID_SIZE) {
			pr_err("ACPI: cannot set the VM generation ID");
			r = -EIO;
			goto out;
		}
	}
	r = e820_set(map, ACPI_RSDP_ADDR, ALIGN_UP(area.used, 4096), E820_ACPI);
	if (!r && cfg->pci && cfg->ecam_base)
		r = e820_set(map, ecam_start(cfg), ecam_size(cfg), E820_RESERVED);
	if (r) {
		pr_err("ACPI: cannot update the e820 map: %s", strerror(-r));
		goto out;
	}
	*rsdp_addr = ACPI_RSDP_ADDR;
out:
	free(area.buf);
	return r;
}
