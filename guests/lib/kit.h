/* SPDX-License-Identifier: MIT */
/*
 * The guest kit: what a kite test guest links against.  See docs/guests.md.
 *
 * A guest defines `int main(void)`.  The kit boots (PVH or Multiboot v1),
 * sets up long mode, the GDT/TSS/IDT and the syscall MSRs in ring 0, then
 * calls main() in ring 3 and exits through debug-exit with main's return
 * value (0 = pass: the VMM's exit status is then 1).
 */
#ifndef KIT_H
#define KIT_H

#define KIT_MAX_CPUS      16
#define KIT_KSTACK_SHIFT  14            /* 16 KiB kernel stack per CPU */
#define KIT_KSTACK_SIZE   (1 << KIT_KSTACK_SHIFT)
#define KIT_USTACK_SIZE   0x10000       /* the BSP's ring-3 stack */
#define KIT_TRAMP_ADDR    0x8000        /* AP trampoline (SIPI vector 0x08) */

/* GDT selectors. */
#define KIT_CS32  0x08
#define KIT_CS64  0x10
#define KIT_DS    0x18
#define KIT_UDS   0x23                  /* ring-3 data, RPL 3 */
#define KIT_UCS   0x2b                  /* ring-3 64-bit code, RPL 3 */
#define KIT_TSS0  0x30                  /* TSS of CPU i: KIT_TSS0 + 16 * i */
#define KIT_GDT_ENTRIES (6 + 2 * KIT_MAX_CPUS)

#define KIT_TSS_STRIDE 256
#define KIT_TSS_LIMIT  (104 + 128)      /* I/O bitmap covers ports 0-0x3ff */

#define KIT_PVH_MAGIC  0x336ec578
#define KIT_MB_MAGIC   0x2badb002

#ifndef __ASSEMBLER__
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Debug-exit values (port 0xf4): the VMM exits with status value * 2 + 1. */
#define KIT_EXIT_PASS    0x00           /* status 1 */
#define KIT_EXIT_FAIL    0x01           /* status 3: a check failed */
#define KIT_EXIT_TIMEOUT 0x02           /* status 5: something never happened */
#define KIT_EXIT_TRAP    0x7f           /* status 255: unexpected exception/interrupt */

#define KIT_VEC_TIMER    0x20           /* LAPIC timer */
#define KIT_VEC_SPURIOUS 0xff

enum kit_boot_proto { KIT_BOOT_UNKNOWN, KIT_BOOT_PVH, KIT_BOOT_MULTIBOOT };

/* Saved by the interrupt stubs; the layout is fixed by lib/isr.S. */
struct kit_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

int main(void);                         /* the guest's; runs in ring 3 */

/* Boot information (copied at boot, so the guest may reuse all other RAM). */
enum kit_boot_proto kit_boot_proto(void);
const char *kit_boot_proto_name(void);
uint64_t kit_ram_top(void);             /* end of the RAM range holding the kernel */
uint64_t kit_rsdp_addr(void);           /* from PVH start_info, else 0 */
unsigned int kit_acpi_cpu_count(void);  /* CPUs in the MADT, 0 without one */
extern char kit_image_end[];            /* first byte after the guest image */

/* Command line: "key=value key2 ..." */
const char *kit_cmdline(void);
bool kit_arg(const char *key, char *val, size_t size);
unsigned long kit_arg_ulong(const char *key, unsigned long def);

/* Output (COM1, 16550 FIFO) and exit. */
void kit_serial_init(void);
void kit_serial_write(const char *s, size_t n);
int kit_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kit_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int kit_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kit_exit(uint32_t value) __attribute__((noreturn));

/* Time: PIT-calibrated TSC and LAPIC timer. */
void kit_calibrate(void);               /* ~50 ms; ring 3 is fine */
uint64_t kit_tsc_hz(void);
uint64_t kit_lapic_timer_hz(void);      /* timer ticks per second at divide-by-16 */
void kit_delay_us(uint64_t us);
static inline uint64_t kit_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* LAPIC (xAPIC MMIO, mapped for ring 3 too). */
void kit_lapic_init(void);
uint32_t kit_lapic_id(void);
void kit_lapic_eoi(void);
void kit_lapic_timer_periodic(uint8_t vector, uint32_t hz);
void kit_lapic_timer_stop(void);

/* Interrupts: handlers run with interrupts off, must not use privileged
 * instructions (see docs/guests.md); the kit sends the EOI afterwards. */
typedef void (*kit_irq_fn)(struct kit_frame *f);
void kit_irq_register(uint8_t vector, kit_irq_fn fn);
unsigned int kit_cpu_index(void);       /* from the stack: no privileged instruction */

/* Syscalls: ring 3 -> kit_syscall() via `syscall`, back with iretq. */
#define KIT_SYS_NOP     0
#define KIT_SYS_GETCPU  1
#define KIT_SYS_WRITE   2               /* (const char *buf, size_t len) */
#define KIT_SYS_ADD     3               /* (a, b) -> a + b; a self-test */
#define KIT_SYS_MAX     16
typedef uint64_t (*kit_sys_fn)(uint64_t a1, uint64_t a2, uint64_t a3);
void kit_syscall_register(unsigned int nr, kit_sys_fn fn);
static inline uint64_t kit_syscall3(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
	register uint64_t r8 __asm__("r8"), r9 __asm__("r9"), r10 __asm__("r10");

	__asm__ volatile("syscall"
			 : "+a"(nr), "+D"(a1), "+S"(a2), "+d"(a3), "=r"(r8), "=r"(r9), "=r"(r10)
			 :
			 : "rcx", "r11", "memory", "cc");
	return nr;
}

/* SMP: APs start with INIT-SIPI-SIPI (broadcast), reach long mode, run
 * kit_ap_fn(cpu) in ring 0 if set, count themselves in and halt. */
extern void (*kit_ap_fn)(unsigned int cpu);
extern volatile unsigned int kit_cpus_online;   /* includes the BSP */
extern volatile uint32_t kit_cpu_apic_id[KIT_MAX_CPUS];
unsigned int kit_smp_start(unsigned int cpus, unsigned int timeout_ms);
unsigned int kit_cpu_count_hint(void);  /* cmdline cpus=, else MADT, else CPUID */

/* Port I/O and small helpers. */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void kit_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

/* Internal: the boot path (lib/setup.c, lib/boot.S, lib/isr.S). */
void kit_boot(uint32_t proto, uint32_t info) __attribute__((noreturn));
void kit_ap_main(uint32_t cpu) __attribute__((noreturn));
void kit_trap(struct kit_frame *f);
uint64_t kit_syscall(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3);
void kit_enter_user(void (*fn)(void), uint64_t rsp) __attribute__((noreturn));
void kit_syscall_entry(void);
void kit_print_lock(void);
void kit_print_unlock(void);
void kit_lapic_icr(uint32_t hi, uint32_t lo);
extern char kit_isr_stubs[];
extern char kit_tramp_start[], kit_tramp_end[];
extern char kit_kstacks[], kit_ustack_top[];
extern uint64_t kit_gdt[KIT_GDT_ENTRIES];
extern uint8_t kit_tss[KIT_MAX_CPUS][KIT_TSS_STRIDE];
extern volatile uint32_t kit_ap_next;
#endif /* __ASSEMBLER__ */
#endif
