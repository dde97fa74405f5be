// SPDX-License-Identifier: MIT
/*
 * Interrupts, exceptions, syscalls and exit.  Runs in ring 0 on a normal
 * host but in hardware ring 3 on a nested one once ring 3 was used: no
 * privileged instruction here (the LAPIC EOI is an MMIO write).
 */
#include "kit.h"

static kit_irq_fn irq_fns[256];
static kit_sys_fn sys_fns[KIT_SYS_MAX];

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP",
	"#PF", "res", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

unsigned int kit_cpu_index(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	uintptr_t base = (uintptr_t)kit_kstacks;

	if (sp < base || sp >= base + (uintptr_t)KIT_MAX_CPUS * KIT_KSTACK_SIZE)
		return 0;               /* the ring-3 stack: only the BSP has one */
	return (sp - base) >> KIT_KSTACK_SHIFT;
}

void kit_irq_register(uint8_t vector, kit_irq_fn fn)
{
	irq_fns[vector] = fn;
}

static void fatal(struct kit_frame *f)
{
	const char *name = f->vector < 32 && exc_names[f->vector] ? exc_names[f->vector] : "irq";

	kit_printf("kit: FATAL vector %lu (%s) error 0x%lx rip 0x%lx cs 0x%lx rsp 0x%lx rflags 0x%lx cpu %u\n",
		   f->vector, name, f->error, f->rip, f->cs, f->rsp, f->rflags, kit_cpu_index());
	kit_exit(KIT_EXIT_TRAP);
}

void kit_trap(struct kit_frame *f)
{
	if (f->vector == KIT_VEC_SPURIOUS)
		return;
	if (f->vector < 32 || !irq_fns[f->vector])
		fatal(f);
	irq_fns[f->vector](f);
	kit_lapic_eoi();
}

void kit_syscall_register(unsigned int nr, kit_sys_fn fn)
{
	if (nr < KIT_SYS_MAX)
		sys_fns[nr] = fn;
}

uint64_t kit_syscall(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
	switch (nr) {
	case KIT_SYS_NOP:
		return 0;
	case KIT_SYS_GETCPU:
		return kit_cpu_index();
	case KIT_SYS_WRITE:
		kit_print_lock();
		kit_serial_write((const char *)(uintptr_t)a1, a2);
		kit_print_unlock();
		return a2;
	case KIT_SYS_ADD:
		return a1 + a2;
	}
	if (nr < KIT_SYS_MAX && sys_fns[nr])
		return sys_fns[nr](a1, a2, a3);
	return (uint64_t)-1;
}

void kit_exit(uint32_t value)
{
	outl(0xf4, value);
	/* Only reached if no debug-exit device listens; hlt may be illegal here. */
	for (;;)
		cpu_relax();
}
