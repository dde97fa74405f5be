/* SPDX-License-Identifier: MIT */
#ifndef KITE_ACPI_H
#define KITE_ACPI_H

/*
 * The ACPI tables kite gives x86 guests (ACPI 6.5), all in the BIOS area:
 *
 *   0xe0000  RSDP (revision 2: XSDT address, both checksums; no RSDT)
 *   then, each 16-byte aligned: XSDT, FADT ("FACP"), MADT ("APIC"),
 *   MCFG (only with PCIe ECAM), DSDT.
 *
 * The FADT is hardware-reduced (no SCI, no PM1/GPE blocks, no FACS): power
 * goes through the registers of the ACPI power device (acpi_pm) in port I/O:
 *
 *   pm_port + 0  SLEEP_CONTROL_REG: writing SLP_EN | SLP_TYP(5) powers off
 *   pm_port + 1  SLEEP_STATUS_REG:  WAK_STS, write 1 to clear
 *   pm_port + 2  RESET_REG:         writing ACPI_RESET_VALUE resets
 *
 * MADT: local APIC at 0xfee00000 (PCAT_COMPAT: the 8259s exist), one
 * enabled Processor Local APIC per vCPU with ACPI processor UID = APIC id =
 * vCPU index, LINT1 as NMI on every processor, one IOAPIC with id 0 (what
 * KVM's IOAPIC ID register reads; IOAPIC and local APIC ids are separate
 * name spaces since the P4, and QEMU does the same) at 0xfec00000, GSI base 0,
 * and the ISA override IRQ0 -> GSI 2 (the PIT is wired to IOAPIC pin 2, as
 * on PCs and in QEMU).  The other ISA IRQs are identity-mapped, edge, active
 * high.
 *
 * DSDT: \_S5 (SLP_TYP 5), and in \_SB: processor devices C000.. (ACPI0007,
 * _UID = vCPU index), COM1 (PNP0501, 0x3f8-0x3ff, IRQ 4), and with PCI the
 * root bridge PCI0 (PNP0A08, _CID PNP0A03, _SEG 0, _BBN, _UID 0, _CRS with
 * the bus range, the I/O ports outside 0xcf8-0xcff, the 32-bit MMIO window
 * and the 64-bit one when configured, _PRT per acpi_pci_intx_gsi()) and
 * MRES (PNP0C02) reserving the ECAM range.
 */

#include <stdbool.h>
#include <stdint.h>

struct gmem;
struct e820_map;

/* The registers of the ACPI power device, as offsets from acpi_config.pm_port. */
#define ACPI_PM_PORT_DEFAULT  0x600
#define ACPI_PM_SLEEP_CONTROL 0
#define ACPI_PM_SLEEP_STATUS  1
#define ACPI_PM_RESET         2
#define ACPI_PM_NR_PORTS      4
#define ACPI_RESET_VALUE      0x0f
/* SLEEP_CONTROL_REG bits (ACPI 6.5 section 4.8.3.7). */
#define ACPI_SLP_TYP_SHIFT    2
#define ACPI_SLP_TYP_MASK     0x1c
#define ACPI_SLP_EN           0x20
/* SLEEP_STATUS_REG bit. */
#define ACPI_WAK_STS          0x80
/* The SLP_TYP value of \_S5 (soft off). */
#define ACPI_S5_SLP_TYP       5

/* Where the tables go: the RSDP must lie in 0xe0000-0xfffff for BIOS-style scans. */
#define ACPI_RSDP_ADDR        0xe0000ull
#define ACPI_TABLES_END       0x100000ull

/*
 * VM generation ID (Microsoft's "Virtual Machine Generation ID" device, as
 * QEMU's vmgenid): 16 bytes at a fixed address in the reserved BIOS area,
 * named by \_SB.VGEN's ADDR method.  A restore writes a new ID there and
 * pulses ACPI_VMGENID_GSI, the interrupt of a Generic Event Device whose
 * _EVT notifies VGEN (0x80), so the guest rereads it (Linux reseeds its RNG).
 */
#define ACPI_VMGENID_ADDR     (ACPI_TABLES_END - 0x1000)
#define ACPI_VMGENID_SIZE     16
#define ACPI_VMGENID_GSI      5

/* Legacy INTx of PCI devices: GSIs 16..23 (IOAPIC pins 16-23). */
#define ACPI_PCI_INTX_GSI_BASE 16
#define ACPI_PCI_INTX_GSI_NR   8

struct acpi_config {
	unsigned ncpus;               /* 1..255 */
	uint16_t pm_port;             /* base of the ACPI_PM_* registers */
	bool com1;                    /* describe the 16550 at 0x3f8, IRQ 4 */
	bool pci;                     /* a PCI root bridge is present */
	uint8_t bus_start, bus_end;   /* its bus range */
	uint64_t ecam_base;           /* PCIe ECAM address of bus 0 as in MCFG, 0 = none */
	uint64_t mmio32_base, mmio32_size; /* 32-bit window for BARs */
	uint64_t mmio64_base, mmio64_size; /* 64-bit window, size 0 = none */
	bool vmgenid;                 /* VGEN and GED devices; a random ID at ACPI_VMGENID_ADDR */
};

/* The configuration for kite's x86 layout (x86_layout.h) with PCI, ECAM and COM1. */
void acpi_config_default(struct acpi_config *cfg, unsigned ncpus);

/*
 * Writes the tables into guest memory at ACPI_RSDP_ADDR onwards, marks
 * their pages E820_ACPI and the ECAM range E820_RESERVED in `map`, and
 * returns the RSDP's guest address.  -EINVAL for a bad configuration,
 * -ENOSPC if the tables do not fit the BIOS area or the area is not mapped.
 */
int acpi_build(struct gmem *m, struct e820_map *map, const struct acpi_config *cfg, uint64_t *rsdp_addr);

/*
 * Writes DIR/RSDP.dat and DIR/<SIG>.dat for every table reachable from the
 * RSDP (XSDT entries, the FADT's DSDT), as `iasl -d` reads them.  The
 * tables are re-validated (bounds, lengths) as they are read.
 */
int acpi_dump(const struct gmem *m, uint64_t rsdp_addr, const char *dir);

/*
 * The GSI of INTx pin `pin` (0 = INTA .. 3 = INTD) of the device in `slot`
 * (0..31) on bus 0: 16 + (slot + pin) % 8.  The DSDT's _PRT and the PCI
 * code both use this, so they cannot disagree.  The lines are level
 * triggered, active low, shared (what an ACPI _PRT entry without a link
 * device means to the OS).
 */
unsigned acpi_pci_intx_gsi(unsigned slot, unsigned pin);

/* The 8-bit checksum that makes `len` bytes sum to zero (helper for tests too). */
uint8_t acpi_checksum(const void *p, uint64_t len);

#endif
