/* SPDX-License-Identifier: MIT */
/*
 * Entry from PVH or Multiboot v1 (32-bit protected mode, paging off), the
 * switch to long mode, and the AP trampoline.  Everything the CPU needs is
 * static data (page tables, GDT, TSSs) so that the boot path executes as few
 * instructions as possible: on some hosts guest ring 0 is emulated.
 */
#include "kit.h"

#define MSR_EFER 0xc0000080

	.section .boot32, "ax"
	.code32

	/* Multiboot v1: eax = 0x2badb002, ebx = multiboot info.  The ELF entry. */
	.globl kit_mb_entry
kit_mb_entry:
	mov $2, %esi			/* KIT_BOOT_MULTIBOOT */
	cmp $KIT_MB_MAGIC, %eax
	je 1f
	xor %esi, %esi
1:	jmp boot32

	/* PVH: ebx = hvm_start_info (its magic is checked in C). */
	.globl kit_pvh_entry
kit_pvh_entry:
	mov $1, %esi			/* KIT_BOOT_PVH */

boot32:
	cli
	cld
	mov %ebx, %edi
	lgdt kit_gdtr
	ljmp $KIT_CS32, $1f
1:	mov $KIT_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov $(kit_kstacks + KIT_KSTACK_SIZE), %esp
	mov $long64_bsp, %ebp
	/* fall through */

	/* esi, edi: kept for the 64-bit side; ebp: the 64-bit target. */
to_long:
	mov %cr4, %eax
	or $0x20, %eax			/* PAE */
	mov %eax, %cr4
	mov $kit_pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $0x101, %eax			/* LME | SCE */
	wrmsr
	mov %cr0, %eax
	or $0x80010001, %eax		/* PG | WP | PE */
	mov %eax, %cr0
	push $KIT_CS64
	push %ebp
	lret

	/* An AP, from the trampoline: take the next CPU index and its stack. */
	.globl kit_ap_entry32
kit_ap_entry32:
	mov $KIT_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov $1, %eax
	lock xadd %eax, kit_ap_next
	cmp $KIT_MAX_CPUS, %eax
	jae 2f
	mov %eax, %edi
	inc %eax
	shl $KIT_KSTACK_SHIFT, %eax
	add $kit_kstacks, %eax
	mov %eax, %esp
	mov $long64_ap, %ebp
	jmp to_long
2:	hlt				/* more CPUs than the kit supports */
	jmp 2b

	.code64
long64_bsp:
	mov %esi, %esi
	mov %edi, %edi
	mov %esp, %esp
	mov %esi, %eax
	mov %edi, %esi
	mov %eax, %edi
	call kit_boot
1:	hlt
	jmp 1b

long64_ap:
	mov %edi, %edi
	mov %esp, %esp
	call kit_ap_main
1:	hlt
	jmp 1b

	/*
	 * Real mode, copied to KIT_TRAMP_ADDR at run time: the SIPI starts the
	 * AP here with CS = KIT_TRAMP_ADDR >> 4, IP = 0.
	 */
	.section .tramp, "ax"
	.code16
	.globl kit_tramp_start, kit_tramp_end
kit_tramp_start:
	cli
	mov %cs, %ax
	mov %ax, %ds
	lgdtl (tramp_gdtr - kit_tramp_start)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $KIT_CS32, $kit_ap_entry32
	.balign 8
tramp_gdtr:
	.word KIT_GDT_ENTRIES * 8 - 1
	.long kit_gdt
kit_tramp_end:

	.data
	.balign 8
	.globl kit_ap_next
kit_ap_next:
	.long 1

	/* Accessed bits preset: the CPU need not write the GDT. */
	.balign 16
	.globl kit_gdt
kit_gdt:
	.quad 0
	.quad 0x00cf9b000000ffff	/* KIT_CS32 */
	.quad 0x00af9b000000ffff	/* KIT_CS64 */
	.quad 0x00cf93000000ffff	/* KIT_DS */
	.quad 0x00cff3000000ffff	/* KIT_UDS */
	.quad 0x00affb000000ffff	/* KIT_UCS */
	.fill 2 * KIT_MAX_CPUS, 8, 0	/* TSS descriptors, set by each CPU */
kit_gdt_end:

	.balign 8
	.globl kit_gdtr
kit_gdtr:
	.word kit_gdt_end - kit_gdt - 1
	.quad kit_gdt

	/*
	 * TSSs with an I/O permission bitmap (1 = denied) that lets ring 3 use
	 * the PIT (0x40-0x43), debug-exit (0xf4-0xf7) and COM1 (0x3f8-0x3ff).
	 * Ports above 0x3ff are past the limit: denied.
	 */
	.balign KIT_TSS_STRIDE
	.globl kit_tss
kit_tss:
	.rept KIT_MAX_CPUS
	.balign KIT_TSS_STRIDE
	.fill 102, 1, 0
	.word 104			/* I/O map base */
	.fill 8, 1, 0xff		/* 0x000-0x03f */
	.byte 0xf0			/* 0x040-0x047 */
	.fill 21, 1, 0xff		/* 0x048-0x0ef */
	.byte 0x0f			/* 0x0f0-0x0f7 */
	.fill 96, 1, 0xff		/* 0x0f8-0x3f7 */
	.byte 0x00			/* 0x3f8-0x3ff */
	.byte 0xff			/* terminator */
	.endr

	/*
	 * Identity map of the first 4 GiB with 2 MiB pages, user-accessible
	 * (ring 3 uses the same mapping); the top GiB (MMIO) uncached.
	 */
	.balign 4096
	.globl kit_pml4
kit_pml4:
	.quad kit_pdpt + 0x7
	.fill 511, 8, 0
kit_pdpt:
	.quad kit_pd + 0x0007
	.quad kit_pd + 0x1007
	.quad kit_pd + 0x2007
	.quad kit_pd + 0x3007
	.fill 508, 8, 0
kit_pd:
	.set pde, 0x87			/* P | RW | US | PS */
	.rept 1536
	.quad pde
	.set pde, pde + 0x200000
	.endr
	.set pde, pde | 0x18		/* PWT | PCD */
	.rept 512
	.quad pde
	.set pde, pde + 0x200000
	.endr

	.bss
	.balign 4096
	.globl kit_kstacks, kit_ustack_top
kit_kstacks:
	.skip KIT_KSTACK_SIZE * KIT_MAX_CPUS
	.skip KIT_USTACK_SIZE
kit_ustack_top:
