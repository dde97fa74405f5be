// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <linux/kvm.h>

#include <kite/boot_cpu.h>

#define CR0_PE  (1ull << 0)
#define CR0_ET  (1ull << 4)
#define CR0_NW  (1ull << 29)
#define CR0_CD  (1ull << 30)
#define CR0_PG  (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define RFLAGS_RESERVED (1ull << 1)

/* The hidden part of the flat descriptors kite's GDT holds (boot.c). */
static struct kvm_segment flat_segment(uint16_t selector, bool code, bool long_mode)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = code ? 0xb : 0x3, /* execute/read or read/write, accessed */
		.present = 1,
		.dpl = 0,
		.db = code && long_mode ? 0 : 1,
		.s = 1,
		.l = code && long_mode,
		.g = 1,
	};
}

int boot_cpu_setup(const struct boot_entry *e, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	bool lm;

	if (e->mode != BOOT_CPU_PROT32 && e->mode != BOOT_CPU_LONG64)
		return -EINVAL;
	lm = e->mode == BOOT_CPU_LONG64;

	memset(regs, 0, sizeof(*regs));
	regs->rip = e->rip;
	regs->rsp = e->rsp;
	regs->rax = e->rax;
	regs->rbx = e->rbx;
	regs->rsi = e->rsi;
	regs->rflags = RFLAGS_RESERVED; /* interrupts off, as every boot protocol requires */

	sregs->cs = flat_segment(BOOT_GDT_CS, true, lm);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = flat_segment(BOOT_GDT_DS, false, lm);
	sregs->gdt.base = e->gdt_base;
	sregs->gdt.limit = e->gdt_limit;
	/* Caches on (reset leaves CD and NW set), as firmware hands over. */
	sregs->cr0 = (sregs->cr0 & ~(CR0_CD | CR0_NW | CR0_PG)) | CR0_PE | CR0_ET;
	if (lm) {
		sregs->cr0 |= CR0_PG;
		sregs->cr3 = e->cr3;
		sregs->cr4 |= CR4_PAE;
		sregs->efer |= EFER_LME | EFER_LMA;
	} else {
		sregs->cr3 = 0;
		sregs->cr4 &= ~CR4_PAE;
		sregs->efer &= ~(EFER_LME | EFER_LMA);
	}
	return 0;
}
