/* SPDX-License-Identifier: MIT */
/*
 * Interrupt stubs (one per vector, 16 bytes apart), the common path that
 * calls kit_trap(), the syscall entry, and the iretq into ring 3.  None of
 * this uses a privileged instruction: on some hosts code entered from ring 3
 * runs in hardware ring 3.
 */
#include "kit.h"

	.text
	.balign 16
	.globl kit_isr_stubs
kit_isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	/* Vectors where the CPU pushes an error code. */
	.if !(vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30)
	push $0
	.endif
	push $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi
	mov %rsp, %rbx
	and $-16, %rsp
	cld
	call kit_trap
	mov %rbx, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	add $16, %rsp
	iretq

	/*
	 * syscall: rcx = user rip, r11 = user rflags, rsp still the user stack
	 * (no swapgs: privileged where this code may run).  The guest is built
	 * with -mno-red-zone, so the user stack may be pushed on.  Returns with
	 * iretq (sysretq is refused on some hosts).
	 */
	.globl kit_syscall_entry
kit_syscall_entry:
	push %rcx
	push %r11
	push %rbx
	mov %rsp, %rbx
	and $-16, %rsp
	mov %rdx, %rcx
	mov %rsi, %rdx
	mov %rdi, %rsi
	mov %rax, %rdi
	cld
	call kit_syscall
	mov %rbx, %rsp
	pop %rbx
	pop %r11
	pop %rcx
	mov %rsp, %r10
	push $KIT_UDS
	push %r10
	push %r11
	push $KIT_UCS
	push %rcx
	iretq

	/* kit_enter_user(fn, rsp): to ring 3 with interrupts enabled. */
	.globl kit_enter_user
kit_enter_user:
	push $KIT_UDS
	push %rsi
	push $0x202
	push $KIT_UCS
	push %rdi
	iretq
