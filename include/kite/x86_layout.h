/* SPDX-License-Identifier: MIT */
#ifndef KITE_X86_LAYOUT_H
#define KITE_X86_LAYOUT_H

/*
 * The guest physical address map kite builds for x86 (documented in
 * docs/architecture.md):
 *
 *   0x0000_0000 - 0x0009_fbff  RAM (low; kernels may load here)
 *   0x0009_fc00 - 0x0009_ffff  reserved (EBDA)
 *   0x000a_0000 - 0x000d_ffff  hole (legacy VGA/option ROM range; no RAM in e820)
 *   0x000e_0000 - 0x000f_ffff  BIOS area: RSDP and ACPI tables live here
 *   0x0010_0000 - lowmem end   RAM
 *   0xc000_0000 - 0xdfff_ffff  32-bit PCI MMIO window (BARs)
 *   0xe000_0000 - 0xefff_ffff  PCIe ECAM (256 buses)
 *   0xfec0_0000                IOAPIC
 *   0xfee0_0000                LAPIC
 *   0xfffb_c000 - 0xfffb_cfff  KVM identity map page (reserved)
 *   0xfffb_d000 - 0xfffb_ffff  KVM TSS (reserved)
 *   0x1_0000_0000 -            RAM above 4 GiB when the guest has more than
 *                              X86_LOWMEM_MAX bytes
 *
 * RAM is backed by one host mapping; the slice above X86_LOWMEM_MAX appears
 * at 4 GiB.
 */

#define X86_EBDA_START       0x9fc00ull
#define X86_BIOS_START       0xe0000ull
#define X86_BIOS_END         0x100000ull
#define X86_HIGHMEM_START    0x100000ull
#define X86_LOWMEM_MAX       0xc0000000ull /* start of the 32-bit MMIO hole */
#define X86_PCI_MMIO_START   0xc0000000ull
#define X86_PCI_MMIO_SIZE    0x20000000ull
#define X86_PCI_ECAM_START   0xe0000000ull
#define X86_PCI_ECAM_SIZE    0x10000000ull
#define X86_IOAPIC_ADDR      0xfec00000ull
#define X86_LAPIC_ADDR       0xfee00000ull
#define X86_KVM_IDMAP_ADDR   0xfffbc000ull
#define X86_KVM_TSS_ADDR     0xfffbd000ull
#define X86_4G               0x100000000ull

/* ISA IRQs / GSIs of the legacy devices. */
#define X86_IRQ_COM1 4
#define X86_IRQ_COM2 3
#define X86_IRQ_RTC  8
#define X86_IRQ_KBD  1

#endif
