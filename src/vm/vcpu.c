// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <kite/boot_cpu.h>
#include <kite/cpuid.h>
#include <kite/event.h>
#include <kite/log.h>
#include <kite/msr.h>
#include <kite/util.h>
#include <kite/vm.h>

/* The signal that kicks a vCPU thread out of KVM_RUN; its handler does nothing. */
#define SIG_VCPU_KICK SIGUSR1

const char *const vcpu_exit_stat_names[EXIT_STAT_NR] = {
	[EXIT_STAT_IO] = "io",
	[EXIT_STAT_MMIO] = "mmio",
	[EXIT_STAT_HLT] = "hlt",
	[EXIT_STAT_INTR] = "intr",
	[EXIT_STAT_SHUTDOWN] = "shutdown",
	[EXIT_STAT_SYSTEM_EVENT] = "system_event",
	[EXIT_STAT_OTHER] = "other",
};

static const char *const kvm_exit_names[] = {
	[KVM_EXIT_UNKNOWN] = "UNKNOWN",
	[KVM_EXIT_EXCEPTION] = "EXCEPTION",
	[KVM_EXIT_IO] = "IO",
	[KVM_EXIT_HYPERCALL] = "HYPERCALL",
	[KVM_EXIT_DEBUG] = "DEBUG",
	[KVM_EXIT_HLT] = "HLT",
	[KVM_EXIT_MMIO] = "MMIO",
	[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
	[KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
	[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
	[KVM_EXIT_INTR] = "INTR",
	[KVM_EXIT_SET_TPR] = "SET_TPR",
	[KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
	[KVM_EXIT_NMI] = "NMI",
	[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	[KVM_EXIT_OSI] = "OSI",
	[KVM_EXIT_PAPR_HCALL] = "PAPR_HCALL",
	[KVM_EXIT_WATCHDOG] = "WATCHDOG",
	[KVM_EXIT_EPR] = "EPR",
	[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	[KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
	[KVM_EXIT_HYPERV] = "HYPERV",
};

static const char *kvm_exit_name(uint32_t reason)
{
	if (reason < ARRAY_SIZE(kvm_exit_names) && kvm_exit_names[reason])
		return kvm_exit_names[reason];
	return "(unnamed)";
}

static const char *const internal_suberror_names[] = {
	[KVM_INTERNAL_ERROR_EMULATION] = "instruction emulation failed",
	[KVM_INTERNAL_ERROR_SIMUL_EX] = "exception while delivering an exception",
	[KVM_INTERNAL_ERROR_DELIVERY_EV] = "exit while delivering an event",
	[KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON] = "unexpected exit reason",
};

static void vcpu_kick_handler(int sig)
{
	(void)sig;
}

/* Process-wide, installed once: a signal disposition cannot be per VM. */
static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void vcpu_install_kick(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(SIG_VCPU_KICK, &sa, NULL);
}

/*
 * LINT0 as ExtINT and LINT1 as NMI: the virtual-wire set-up a PC BIOS leaves,
 * so that PIC interrupts reach the boot CPU before the OS programs the LAPIC.
 */
static int vcpu_setup_lint(struct vcpu *v)
{
	struct kvm_lapic_state l;
	uint32_t *lvt0, *lvt1;
	int r;

	r = kvm_get_lapic(v->fd, &l);
	if (r)
		return r;
	lvt0 = (uint32_t *)&l.regs[0x350];
	lvt1 = (uint32_t *)&l.regs[0x360];
	*lvt0 = (*lvt0 & ~0x1071fu) | (7u << 8); /* ExtINT, unmasked */
	*lvt1 = (*lvt1 & ~0x1071fu) | (4u << 8); /* NMI, unmasked */
	return kvm_set_lapic(v->fd, &l);
}

static int vcpu_setup_cpu(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_cpuid2 *cpuid;
	struct kvm_msrs *msrs;
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	int r;

	cpuid = cpuid_policy(vm->kvm.supported_cpuid, v->index, vm->ncpus);
	if (!cpuid)
		return -ENOMEM;
	r = kvm_set_cpuid2(v->fd, cpuid);
	free(cpuid);
	if (r) {
		pr_err("vCPU %u: KVM_SET_CPUID2: %s", v->index, strerror(-r));
		return r;
	}
	msrs = msr_reset_values(&vm->kvm);
	if (!msrs)
		return -ENOMEM;
	r = kvm_set_msrs(v->fd, msrs);
	free(msrs);
	if (r) {
		pr_err("vCPU %u: KVM_SET_MSRS refused a reset value: %s", v->index, strerror(-r));
		return r;
	}
	r = kvm_set_fpu(v->fd, &fpu);
	if (!r)
		r = vcpu_setup_lint(v);
	if (r)
		pr_err("vCPU %u: FPU/LAPIC set-up: %s", v->index, strerror(-r));
	return r;
}

int vcpu_create(struct vm *vm, struct vcpu *v, unsigned index)
{
	int r;

	pthread_once(&kick_once, vcpu_install_kick);
	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->index = index;
	v->fd = kvm_create_vcpu(vm->fd, index);
	if (v->fd < 0) {
		r = v->fd;
		pr_err("KVM_CREATE_VCPU %u: %s", index, strerror(-r));
		return r;
	}
	v->run = mmap(NULL, vm->kvm.vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		r = -errno;
		v->run = NULL;
		pr_err("vCPU %u: mmap of kvm_run: %s", index, strerror(-r));
		return r;
	}
	return vcpu_setup_cpu(v);
}

int vcpu_setup_boot(struct vcpu *v, const struct boot_entry *e)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	int r;

	r = kvm_get_sregs(v->fd, &sregs);
	if (r)
		return r;
	memset(&regs, 0, sizeof(regs));
	r = boot_cpu_setup(e, &regs, &sregs);
	if (r)
		return r;
	r = kvm_set_sregs(v->fd, &sregs);
	if (!r)
		r = kvm_set_regs(v->fd, &regs);
	if (r)
		pr_err("vCPU %u: setting boot registers: %s", v->index, strerror(-r));
	return r;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->vm->kvm.vcpu_mmap_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

/* A kick makes the vCPU leave KVM_RUN at once, or not enter it, whichever comes first. */
void vcpu_kick(struct vcpu *v)
{
	if (!v->run)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (v->thread_started)
		pthread_kill(v->thread, SIG_VCPU_KICK);
}

static void vcpu_dump_code(struct vcpu *v, const struct kvm_regs *r, const struct kvm_sregs *s)
{
	uint64_t linear = s->cs.base + r->rip, gpa = linear;
	uint8_t *code;
	char hex[16 * 3 + 1] = "";

	if ((s->cr0 & 0x80000000u) && kvm_translate(v->fd, linear, &gpa)) {
		fprintf(stderr, "  code: rip 0x%llx is not mapped\n", (unsigned long long)linear);
		return;
	}
	code = gmem_ptr(&v->vm->mem, gpa, 16);
	if (!code) {
		fprintf(stderr, "  code: rip 0x%llx (gpa 0x%llx) is not in RAM\n", (unsigned long long)linear,
			(unsigned long long)gpa);
		return;
	}
	for (int i = 0; i < 16; i++)
		snprintf(hex + i * 3, 4, "%02x ", code[i]);
	fprintf(stderr, "  code at gpa 0x%llx: %s\n", (unsigned long long)gpa, hex);
}

void vcpu_dump(struct vcpu *v)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (kvm_get_regs(v->fd, &r) || kvm_get_sregs(v->fd, &s)) {
		fprintf(stderr, "  (registers unavailable)\n");
		return;
	}
	fprintf(stderr,
		"  rip %016llx rsp %016llx rflags %08llx\n"
		"  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
		"  rsi %016llx rdi %016llx rbp %016llx\n"
		"  r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n"
		"  r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n"
		"  cs %04x (base %llx dpl %u l %u db %u) ss %04x ds %04x\n"
		"  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %llx\n"
		"  gdt %llx/%x idt %llx/%x apic_base %llx\n",
		r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11,
		r.r12, r.r13, r.r14, r.r15, s.cs.selector, s.cs.base, s.cs.dpl, s.cs.l, s.cs.db, s.ss.selector,
		s.ds.selector, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit,
		s.apic_base);
	vcpu_dump_code(v, &r, &s);
}

static void vcpu_fail(struct vcpu *v, const char *what)
{
	char detail[160];

	/* Only the first failing vCPU prints its state: the rest are collateral. */
	pthread_mutex_lock(&v->vm->lock);
	if (v->vm->stop == STOP_NONE) {
		/* The reason itself is the last line kite prints (see cmd_run). */
		pr_err("vCPU %u state at the failure:", v->index);
		vcpu_dump(v);
	}
	pthread_mutex_unlock(&v->vm->lock);
	snprintf(detail, sizeof(detail), "vCPU %u: %s", v->index, what);
	vm_request_stop(v->vm, STOP_FAILURE, 0, detail);
}

static void vcpu_handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;

	/* KVM put the data inside the run page; count and size come from KVM, not the guest. */
	for (uint32_t i = 0; i < run->io.count; i++)
		bus_access(&v->vm->pio, run->io.port, data + i * run->io.size, run->io.size, write);
}

static void vcpu_handle_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t sub = run->internal.suberror;
	char what[128];
	int n;

	n = snprintf(what, sizeof(what), "KVM internal error %u (%s)", sub,
		     sub < ARRAY_SIZE(internal_suberror_names) && internal_suberror_names[sub]
			     ? internal_suberror_names[sub]
			     : "unknown");
	for (uint32_t i = 0; i < run->internal.ndata && i < ARRAY_SIZE(run->internal.data) && n < 100; i++)
		n += snprintf(what + n, sizeof(what) - n, "%s%llx", i ? " " : ", data ",
			      (unsigned long long)run->internal.data[i]);
	vcpu_fail(v, what);
}

static void vcpu_handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(v->vm, STOP_POWEROFF, 0, "guest powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(v->vm, STOP_RESET, 0, "guest reset");
		break;
	case KVM_SYSTEM_EVENT_CRASH:
		vcpu_fail(v, "guest crashed (system event)");
		break;
	default: {
		char what[64];

		snprintf(what, sizeof(what), "unknown system event %u", v->run->system_event.type);
		vcpu_fail(v, what);
	}
	}
}

/* Returns false when the vCPU must stop running. */
static bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[128];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		v->exits[EXIT_STAT_IO]++;
		vcpu_handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		v->exits[EXIT_STAT_MMIO]++;
		bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, MIN(run->mmio.len, 8u),
			   run->mmio.is_write);
		return true;
	case KVM_EXIT_HLT:
		/* With the in-kernel LAPIC, HLT stays in KVM; this only happens without interrupts to wait for. */
		v->exits[EXIT_STAT_HLT]++;
		vcpu_fail(v, "halted with interrupts disabled");
		return false;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		v->exits[EXIT_STAT_INTR]++;
		return true;
	case KVM_EXIT_SHUTDOWN:
		v->exits[EXIT_STAT_SHUTDOWN]++;
		/* A triple fault: the reset line of a PC. */
		vm_request_stop(v->vm, STOP_RESET, 0, "triple fault");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		v->exits[EXIT_STAT_SYSTEM_EVENT]++;
		vcpu_handle_system_event(v);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		v->exits[EXIT_STAT_OTHER]++;
		vcpu_handle_internal_error(v);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		v->exits[EXIT_STAT_OTHER]++;
		snprintf(what, sizeof(what), "VM entry failed: hardware reason 0x%llx on host CPU %u",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason, run->fail_entry.cpu);
		vcpu_fail(v, what);
		return false;
	default:
		v->exits[EXIT_STAT_OTHER]++;
		snprintf(what, sizeof(what), "unexpected exit %u (KVM_EXIT_%s)", run->exit_reason,
			 kvm_exit_name(run->exit_reason));
		vcpu_fail(v, what);
		return false;
	}
}

/*
 * Pause and stop requests, checked between runs.  A paused vCPU waits here,
 * outside KVM_RUN, until resumed; returns false when the VM is stopping.
 */
static bool vcpu_check_requests(struct vcpu *v)
{
	struct vm *vm = v->vm;
	bool go;

	pthread_mutex_lock(&vm->lock);
	if (vm->pause_requested && vm->stop == STOP_NONE) {
		vm->parked++;
		pthread_cond_broadcast(&vm->cond);
		/* Tell a guest with kvmclock that it was stopped, so its watchdogs stay calm. */
		kvm_kvmclock_ctrl(v->fd);
		while (vm->pause_requested && vm->stop == STOP_NONE)
			pthread_cond_wait(&vm->cond, &vm->lock);
		vm->parked--;
	}
	go = vm->stop == STOP_NONE;
	pthread_mutex_unlock(&vm->lock);
	return go;
}

/*
 * Auto-converge (src/migrate): the migration kicks every vCPU each
 * VCPU_THROTTLE_PERIOD_US and a throttled vCPU sleeps its share of that period
 * outside KVM_RUN, so a guest that dirties memory faster than the link
 * carries slows down.
 */
static void vcpu_throttle(struct vcpu *v)
{
	unsigned pct = __atomic_load_n(&v->vm->throttle_pct, __ATOMIC_RELAXED);

	if (pct)
		usleep(MIN(pct, 99u) * VCPU_THROTTLE_PERIOD_US / 100);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	bool traced = false;
	char name[16];
	sigset_t set;

	snprintf(name, sizeof(name), "kite-vcpu%u", v->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, SIG_VCPU_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (vcpu_check_requests(v)) {
		int r = kvm_run(v->fd);

		if (!traced && v->index == 0) {
			vm_trace(v->vm, "first exit of vCPU 0");
			traced = true;
		}

		if (r == -EINTR || r == -EAGAIN) {
			__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			v->exits[EXIT_STAT_INTR]++;
			vcpu_throttle(v);
			continue;
		}
		if (r < 0) {
			char what[96];

			snprintf(what, sizeof(what), "KVM_RUN failed: %s", strerror(-r));
			vcpu_fail(v, what);
			break;
		}
		if (!vcpu_handle_exit(v))
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	sigset_t set, old;
	int r;

	/* The thread starts with the kick signal blocked and unblocks it itself. */
	sigemptyset(&set);
	sigaddset(&set, SIG_VCPU_KICK);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	r = pthread_create(&v->thread, NULL, vcpu_thread, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		pr_err("vCPU %u: cannot create its thread: %s", v->index, strerror(r));
		return -r;
	}
	v->thread_started = true;
	return 0;
}
