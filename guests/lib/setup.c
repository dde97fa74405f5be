// SPDX-License-Identifier: MIT
/*
 * Ring-0 set-up: boot information, per-CPU TSS/IDT, syscall MSRs, then the
 * iretq into ring 3.  Kept short: on some hosts each instruction here is
 * emulated (~0.3 us).
 */
#include "kit.h"

#define MSR_STAR  0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_FMASK 0xc0000084
#define RFLAGS_CLEARED_ON_SYSCALL 0x47700 /* TF IF DF IOPL NT AC */

#define CMDLINE_MAX 1024
#define MEMMAP_MAX  128

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
};

struct mb_mmap_entry {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

static struct {
	enum kit_boot_proto proto;
	uint64_t ram_top, rsdp;
	char cmdline[CMDLINE_MAX];
} boot;

/* Built by the linker (guests/Makefile, idt.lds): no ring-0 loop fills it. */
extern uint64_t kit_idt[256][2];

static void copy_cmdline(uint64_t paddr)
{
	const char *s = (const char *)(uintptr_t)paddr;
	size_t i;

	if (!paddr || paddr >= 0x100000000ull)
		return;
	for (i = 0; i < CMDLINE_MAX - 1 && s[i]; i++)
		boot.cmdline[i] = s[i];
	boot.cmdline[i] = 0;
}

/* The RAM range that holds the image bounds what the guest may use. */
static void note_ram(uint64_t addr, uint64_t size, uint32_t type)
{
	uint64_t image = (uint64_t)(uintptr_t)kit_kstacks;

	if (type == 1 && addr <= image && image - addr < size)
		boot.ram_top = addr + size;
}

static void parse_pvh(const struct hvm_start_info *si)
{
	const struct hvm_memmap_entry *e;
	uint32_t i;

	if (si->magic != KIT_PVH_MAGIC) {
		boot.proto = KIT_BOOT_UNKNOWN;
		return;
	}
	copy_cmdline(si->cmdline_paddr);
	boot.rsdp = si->rsdp_paddr;
	if (si->version < 1 || !si->memmap_paddr || si->memmap_paddr >= 0x100000000ull)
		return;
	e = (const struct hvm_memmap_entry *)(uintptr_t)si->memmap_paddr;
	for (i = 0; i < si->memmap_entries && i < MEMMAP_MAX; i++)
		note_ram(e[i].addr, e[i].size, e[i].type);
}

static void parse_multiboot(const struct mb_info *mbi)
{
	uint32_t off;

	if (mbi->flags & (1 << 2))
		copy_cmdline(mbi->cmdline);
	if (mbi->flags & (1 << 0))
		boot.ram_top = 0x100000 + (uint64_t)mbi->mem_upper * 1024;
	if (!(mbi->flags & (1 << 6)))
		return;
	for (off = 0; off + sizeof(struct mb_mmap_entry) <= mbi->mmap_length && off < MEMMAP_MAX * 24;) {
		const struct mb_mmap_entry *e = (const void *)(uintptr_t)(mbi->mmap_addr + off);

		note_ram(e->addr, e->len, e->type);
		off += e->size + 4;
	}
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

/* Per CPU: its TSS (kernel stack for entries from ring 3), TR and IDTR. */
static void cpu_setup(uint32_t cpu)
{
	uint64_t base = (uint64_t)(uintptr_t)kit_tss[cpu];
	uint64_t rsp0 = (uint64_t)(uintptr_t)kit_kstacks + (uint64_t)(cpu + 1) * KIT_KSTACK_SIZE;
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idtr = { sizeof(kit_idt) - 1, (uint64_t)(uintptr_t)kit_idt };
	uint16_t sel = KIT_TSS0 + 16 * cpu;

	memcpy(&kit_tss[cpu][4], &rsp0, sizeof(rsp0));
	kit_gdt[sel / 8] = (KIT_TSS_LIMIT & 0xffff) | (base & 0xffffff) << 16 | 0x89ull << 40 |
			   (uint64_t)(KIT_TSS_LIMIT >> 16) << 48 | (base >> 24 & 0xff) << 56;
	kit_gdt[sel / 8 + 1] = base >> 32;
	__asm__ volatile("ltr %0" : : "r"(sel));
	__asm__ volatile("lidt %0" : : "m"(idtr));
}

static void user_start(void)
{
	kit_serial_init();
	kit_lapic_init();
	kit_exit((uint32_t)main());
}

void kit_boot(uint32_t proto, uint32_t info)
{
	boot.proto = proto;
	if (proto == KIT_BOOT_PVH)
		parse_pvh((const struct hvm_start_info *)(uintptr_t)info);
	else if (proto == KIT_BOOT_MULTIBOOT)
		parse_multiboot((const struct mb_info *)(uintptr_t)info);
	cpu_setup(0);
	wrmsr(MSR_STAR, (uint64_t)(KIT_DS | 3) << 48 | (uint64_t)KIT_CS64 << 32);
	wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)kit_syscall_entry);
	wrmsr(MSR_FMASK, RFLAGS_CLEARED_ON_SYSCALL);
	/* The 8259s stay masked: LINT0 may be ExtINT after reset. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	kit_enter_user(user_start, (uint64_t)(uintptr_t)kit_ustack_top - 8);
}

void kit_ap_main(uint32_t cpu)
{
	cpu_setup(cpu);
	kit_lapic_init();
	kit_cpu_apic_id[cpu] = kit_lapic_id();
	if (kit_ap_fn)
		kit_ap_fn(cpu);
	__atomic_add_fetch(&kit_cpus_online, 1, __ATOMIC_SEQ_CST);
	/* APs never enter ring 3, so hlt stays legal for them. */
	for (;;)
		__asm__ volatile("cli; hlt");
}

enum kit_boot_proto kit_boot_proto(void)
{
	return boot.proto;
}

const char *kit_boot_proto_name(void)
{
	static const char *const names[] = { "unknown", "pvh", "multiboot" };

	return names[boot.proto];
}

uint64_t kit_ram_top(void)
{
	return boot.ram_top;
}

uint64_t kit_rsdp_addr(void)
{
	return boot.rsdp;
}

const char *kit_cmdline(void)
{
	return boot.cmdline;
}
