// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kite/event.h>
#include <kite/log.h>
#include <kite/sandbox.h>
#include <kite/util.h>
#include <kite/vm.h>
#include <kite/x86_layout.h>

#define IOAPIC_PINS 24

static struct vm *machine_vm(struct machine *m)
{
	return m->opaque;
}

static int vm_irq_line(struct machine *m, unsigned gsi, int level)
{
	return kvm_irq_line(machine_vm(m)->fd, gsi, level);
}

static int vm_msi(struct machine *m, uint64_t addr, uint32_t data)
{
	return kvm_signal_msi(machine_vm(m)->fd, addr, data);
}

static int vm_irqfd(struct machine *m, int fd, unsigned gsi, int assign)
{
	return kvm_irqfd(machine_vm(m)->fd, fd, gsi, assign);
}

static int vm_ioeventfd(struct machine *m, int fd, uint64_t addr, unsigned len, int is_pio, int assign)
{
	return kvm_ioeventfd(machine_vm(m)->fd, fd, addr, len, is_pio, assign);
}

static int vm_add_route(struct vm *vm, const struct kvm_irq_routing_entry *e)
{
	if (vm->nroutes == vm->routes_cap) {
		unsigned cap = vm->routes_cap ? vm->routes_cap * 2 : 64;
		struct kvm_irq_routing_entry *n = realloc(vm->routes, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		vm->routes = n;
		vm->routes_cap = cap;
	}
	vm->routes[vm->nroutes++] = *e;
	return 0;
}

/*
 * The routing a PC has: ISA IRQs 0-15 on the PIC and the IOAPIC, except that
 * IRQ0 (the PIT) arrives on IOAPIC pin 2, as the MADT's interrupt source
 * override says; pins 16-23 are PCI INTx.  MSI routes follow from GSI 24.
 */
static int vm_setup_irq_routing(struct vm *vm)
{
	struct kvm_irq_routing_entry e;
	int r;

	for (unsigned gsi = 0; gsi < IOAPIC_PINS; gsi++) {
		if (gsi < 16 && gsi != 2) {
			e = (struct kvm_irq_routing_entry){ .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP };
			e.u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			e.u.irqchip.pin = gsi % 8;
			r = vm_add_route(vm, &e);
			if (r)
				return r;
		}
		if (gsi == 2)
			continue;
		e = (struct kvm_irq_routing_entry){ .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP };
		e.u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e.u.irqchip.pin = gsi == 0 ? 2 : gsi;
		r = vm_add_route(vm, &e);
		if (r)
			return r;
	}
	vm->next_gsi = IOAPIC_PINS;
	r = kvm_set_gsi_routing(vm->fd, vm->routes, vm->nroutes);
	if (r)
		pr_err("KVM_SET_GSI_ROUTING: %s", strerror(-r));
	return r;
}

static int vm_alloc_gsi(struct machine *m)
{
	struct vm *vm = machine_vm(m);
	struct kvm_irq_routing_entry e = { .type = KVM_IRQ_ROUTING_MSI };
	int r;

	pthread_mutex_lock(&vm->routes_lock);
	e.gsi = vm->next_gsi;
	/* A masked-off route (address 0) until the driver programs the vector. */
	r = vm_add_route(vm, &e);
	if (!r)
		r = vm->next_gsi++;
	pthread_mutex_unlock(&vm->routes_lock);
	return r;
}

static int vm_route_msi(struct machine *m, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct vm *vm = machine_vm(m);
	int r = -ENOENT;

	pthread_mutex_lock(&vm->routes_lock);
	for (unsigned i = 0; i < vm->nroutes; i++) {
		struct kvm_irq_routing_entry *e = &vm->routes[i];

		if (e->gsi != gsi || e->type != KVM_IRQ_ROUTING_MSI)
			continue;
		e->u.msi.address_lo = (uint32_t)addr;
		e->u.msi.address_hi = addr >> 32;
		e->u.msi.data = data;
		r = kvm_set_gsi_routing(vm->fd, vm->routes, vm->nroutes);
		break;
	}
	pthread_mutex_unlock(&vm->routes_lock);
	return r;
}

static void vm_machine_stop(struct machine *m, enum stop_reason why, int status, const char *detail)
{
	vm_request_stop(machine_vm(m), why, status, detail);
}

static void vm_init_machine(struct vm *vm)
{
	vm->machine = (struct machine){
		.mem = &vm->mem,
		.pio = &vm->pio,
		.mmio = &vm->mmio,
		.loop = vm->loop,
		.ncpus = vm->ncpus,
		.irq_line = vm_irq_line,
		.msi = vm_msi,
		.irqfd = vm_irqfd,
		.ioeventfd = vm_ioeventfd,
		.alloc_gsi = vm_alloc_gsi,
		.route_msi = vm_route_msi,
		.request_stop = vm_machine_stop,
		.opaque = vm,
	};
}

/* RAM up to the 32-bit MMIO hole at the bottom, the rest from 4 GiB. */
static int vm_setup_memory(struct vm *vm)
{
	uint64_t size = vm->cfg.mem_size, low = MIN(size, X86_LOWMEM_MAX);
	int r;

	/* A restore maps the snapshot's memory file privately: pages load on first touch. */
	r = vm->cfg.mem_file ? gmem_map_file(&vm->mem, vm->cfg.mem_file, size) : gmem_map(&vm->mem, size, vm->cfg.mem_shared);
	if (r)
		return r;
	r = gmem_add_region(&vm->mem, 0, low);
	if (!r && size > low)
		r = gmem_add_region(&vm->mem, X86_4G, size - low);
	if (r)
		return r;
	for (unsigned i = 0; i < vm->mem.nr; i++) {
		struct gmem_region *g = &vm->mem.regions[i];

		r = kvm_set_memory_region(vm->fd, i, g->gpa, g->size, g->hva, 0);
		if (r) {
			pr_err("KVM_SET_USER_MEMORY_REGION (slot %u, %llu MiB at 0x%llx): %s", i,
			       (unsigned long long)(g->size >> 20), (unsigned long long)g->gpa, strerror(-r));
			return r;
		}
	}
	return e820_build(&vm->e820, &vm->mem);
}

static int vm_setup_kvm(struct vm *vm)
{
	int r;

	r = kvm_open(&vm->kvm, NULL);
	if (r)
		return r;
	if (vm->ncpus > (unsigned)vm->kvm.max_vcpus) {
		pr_err("--cpus %u: this host's KVM allows at most %d vCPUs", vm->ncpus, vm->kvm.max_vcpus);
		return -EINVAL;
	}
	vm->fd = kvm_create_vm(&vm->kvm);
	if (vm->fd < 0) {
		r = vm->fd;
		pr_err("KVM_CREATE_VM: %s", strerror(-r));
		return r;
	}
	r = kvm_set_tss_addr(vm->fd, X86_KVM_TSS_ADDR);
	if (!r)
		r = kvm_set_identity_map_addr(vm->fd, X86_KVM_IDMAP_ADDR);
	if (r) {
		pr_err("KVM_SET_TSS_ADDR/IDENTITY_MAP_ADDR: %s", strerror(-r));
		return r;
	}
	return 0;
}

/*
 * After the memory slots: with an irqchip present, every slot change costs
 * KVM an SRCU grace period (milliseconds on some hosts).
 */
static int vm_setup_irqchip(struct vm *vm)
{
	int r;

	r = kvm_create_irqchip(vm->fd);
	if (r) {
		pr_err("KVM_CREATE_IRQCHIP: %s", strerror(-r));
		return r;
	}
	r = kvm_create_pit2(vm->fd);
	if (r) {
		pr_err("KVM_CREATE_PIT2: %s", strerror(-r));
		return r;
	}
	return vm_setup_irq_routing(vm);
}

static void vm_log_line(void *opaque, const char *line)
{
	pr_debug("%s", line);
}

/* -vv: how long each step of building the VM took, for start-up work. */
void vm_trace(struct vm *vm, const char *what)
{
	if (log_get_level() >= LOG_DEBUG)
		pr_debug("%8.3f ms  %s", (now_ns() - vm->create_ns) / 1e6, what);
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	struct boot_config bc;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->create_ns = now_ns();
	/* The seccomp filter compiles on its own thread while the VM is built (vm_run loads it). */
	sandbox_prepare(cfg->seccomp, cfg->reboot == REBOOT_RESTART ? SANDBOX_VM_CREATE : 0);
	vm->fd = -1;
	vm->mem.fd = -1;
	vm->cfg = *cfg;
	vm->ncpus = cfg->ncpus;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	pthread_mutex_init(&vm->routes_lock, NULL);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->loop = event_loop_new();
	if (!vm->loop)
		return -ENOMEM;
	vm_init_machine(vm);

	r = vm_setup_kvm(vm);
	if (r)
		goto fail;
	vm_trace(vm, "KVM VM created");
	r = vm_setup_memory(vm);
	if (r)
		goto fail;
	vm_trace(vm, "memory mapped");
	r = vm_setup_irqchip(vm);
	if (r)
		goto fail;
	vm_trace(vm, "irqchip and PIT created");
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		r = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		r = vcpu_create(vm, &vm->vcpus[i], i);
		if (r)
			goto fail;
	}
	vm_trace(vm, "vCPUs created");
	/* Devices first: firmware tables (ACPI) are part of them and the loader passes their address. */
	r = vm_devices_create(vm);
	if (r)
		goto fail;
	vm_trace(vm, "devices created");
	if (cfg->dump_acpi_dir)
		return 0;
	/* Restore/migration: memory and every register come from the saved state (src/state). */
	if (cfg->incoming) {
		vm->state = VM_CREATED;
		return 0;
	}
	bc = (struct boot_config){
		.kernel_path = cfg->kernel,
		.initrd_path = cfg->initrd,
		.cmdline = cfg->cmdline ? cfg->cmdline : "",
		.rsdp_addr = vm->rsdp_addr,
		.ncpus = vm->ncpus,
	};
	r = boot_load(&vm->mem, &vm->e820, &bc, &vm->boot);
	if (r)
		goto fail;
	/* -vv: the map as the guest gets it, in Linux's words (tests compare it with the guest's log). */
	if (log_get_level() >= LOG_DEBUG)
		e820_print(&vm->e820, vm_log_line, NULL);
	r = vcpu_setup_boot(&vm->vcpus[0], &vm->boot);
	if (r)
		goto fail;
	vm_trace(vm, "kernel loaded");
	vm->state = VM_CREATED;
	return 0;
fail:
	vm_destroy(vm);
	return r;
}

static void vm_kick_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

void vm_request_stop(struct vm *vm, enum stop_reason why, int status, const char *detail)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->stop == STOP_NONE) {
		vm->stop = why;
		vm->stop_status = status;
		snprintf(vm->stop_detail, sizeof(vm->stop_detail), "%s", detail ? detail : "");
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	vm_kick_all(vm);
	event_loop_stop(vm->loop);
}

void vm_start_paused(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause_requested = true;
	pthread_mutex_unlock(&vm->lock);
}

int vm_start_vcpus_parked(struct vm *vm)
{
	int r = 0;

	vm_start_paused(vm);
	for (unsigned i = 0; !r && i < vm->ncpus; i++)
		if (!vm->vcpus[i].thread_started)
			r = vcpu_start(&vm->vcpus[i]);
	return r;
}

void vm_stop_vcpus(struct vm *vm, const char *why)
{
	vm_request_stop(vm, STOP_FAILURE, 0, why);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i].thread_started)
			pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].thread_started = false;
	}
}

int vm_pause(struct vm *vm)
{
	int r;

	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_RUNNING) {
		r = vm->state == VM_PAUSED ? 0 : -EBUSY;

		pthread_mutex_unlock(&vm->lock);
		return r;
	}
	vm->pause_requested = true;
	pthread_mutex_unlock(&vm->lock);
	vm_kick_all(vm);
	pthread_mutex_lock(&vm->lock);
	while (vm->parked < vm->ncpus && vm->stop == STOP_NONE)
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (vm->stop == STOP_NONE)
		vm->state = VM_PAUSED;
	r = vm->state == VM_PAUSED ? 0 : -ECANCELED;
	pthread_mutex_unlock(&vm->lock);
	/* vCPUs first, then backends: a parked vCPU can no longer kick a queue. */
	if (!r)
		vm_devices_quiesce(vm);
	return r;
}

int vm_resume(struct vm *vm)
{
	int r = 0;

	if (vm_get_state(vm) == VM_PAUSED)
		vm_devices_resume(vm); /* backends before vCPUs, the reverse of vm_pause */
	pthread_mutex_lock(&vm->lock);
	if (vm->state == VM_PAUSED) {
		vm->pause_requested = false;
		vm->state = VM_RUNNING;
		pthread_cond_broadcast(&vm->cond);
	} else if (vm->state != VM_RUNNING) {
		r = -EBUSY;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

enum vm_state vm_get_state(struct vm *vm)
{
	enum vm_state s;

	pthread_mutex_lock(&vm->lock);
	s = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return s;
}

const char *vm_state_name(enum vm_state s)
{
	switch (s) {
	case VM_CREATED:
		return "Not started";
	case VM_RUNNING:
		return "Running";
	case VM_PAUSED:
		return "Paused";
	case VM_STOPPED:
		return "Stopped";
	}
	return "?";
}

int vm_run(struct vm *vm)
{
	bool paused;
	int r = 0;

	vm->start_ns = now_ns();
	pthread_mutex_lock(&vm->lock);
	vm->state = VM_RUNNING;
	paused = vm->pause_requested; /* vm_start_paused */
	pthread_mutex_unlock(&vm->lock);
	/* Built: from here on the process needs only what running, saving and migrating take (docs/security.md). */
	r = sandbox_install(vm->cfg.seccomp, vm->cfg.reboot == REBOOT_RESTART ? SANDBOX_VM_CREATE : 0);
	if (r)
		vm_request_stop(vm, STOP_FAILURE, 0, "cannot install the seccomp sandbox");
	vm_trace(vm, "sandbox in place");
	for (unsigned i = 0; !r && i < vm->ncpus; i++) {
		if (vm->vcpus[i].thread_started) /* vm_start_vcpus_parked */
			continue;
		r = vcpu_start(&vm->vcpus[i]);
		if (r) {
			vm_request_stop(vm, STOP_FAILURE, 0, "cannot start a vCPU thread");
			break;
		}
	}
	/* The vCPUs park before their first instruction; the loop (and the API) starts with the VM Paused. */
	if (!r && paused)
		vm_pause(vm);
	if (!r && event_loop_run(vm->loop) < 0)
		vm_request_stop(vm, STOP_FAILURE, 0, "event loop failed");
	/* A stop request ends the loop; make sure every vCPU has seen it. */
	vm_request_stop(vm, STOP_USER, 0, "event loop ended");
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i].thread_started)
			pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].thread_started = false;
	}
	pthread_mutex_lock(&vm->lock);
	vm->state = VM_STOPPED;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int vm_exit_status(const struct vm *vm)
{
	switch (vm->stop) {
	case STOP_DEBUG_EXIT:
		return (((unsigned)vm->stop_status << 1) | 1) & 0xff;
	case STOP_POWEROFF:
	case STOP_RESET:
	case STOP_USER:
	case STOP_NONE:
		return 0;
	case STOP_FAILURE:
		return 4;
	}
	return 4;
}

/*
 * Tearing a VM down costs the kernel RCU grace periods (on some hosts tens of
 * milliseconds) in the last close of the VM fd.  A process that is about to
 * exit need not wait for that: a child that holds the VM's fds makes the
 * final close its own, after the parent is gone (it waits for the parent's
 * end of a pipe to close).  The child keeps nothing else open, so sockets,
 * terminals and pipes of the parent close when the parent exits.
 */
void vm_detach_teardown(struct vm *vm)
{
	int pfd[2];
	pid_t pid;

	if (pipe(pfd) < 0)
		return;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return;
	}
	if (pid == 0) {
		unsigned next = 0;
		char c;

		/* Keep the VM, its vCPUs and the pipe: close every range in between. */
		for (;;) {
			unsigned lowest = ~0u;

			if ((unsigned)vm->fd >= next)
				lowest = MIN(lowest, (unsigned)vm->fd);
			if ((unsigned)pfd[0] >= next)
				lowest = MIN(lowest, (unsigned)pfd[0]);
			for (unsigned i = 0; i < vm->ncpus; i++)
				if ((unsigned)vm->vcpus[i].fd >= next)
					lowest = MIN(lowest, (unsigned)vm->vcpus[i].fd);
			if (lowest == ~0u) {
				close_range(next, ~0u, 0);
				break;
			}
			if (lowest > next)
				close_range(next, lowest - 1, 0);
			next = lowest + 1;
		}
		while (read(pfd[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(pfd[0]);
	/* pfd[1] stays open until this process exits. */
}

void vm_destroy(struct vm *vm)
{
	if (vm->devs)
		vm_devices_destroy(vm);
	for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
	gmem_unmap(&vm->mem);
	kvm_close(&vm->kvm);
	if (vm->loop)
		event_loop_free(vm->loop);
	vm->loop = NULL;
	bus_exit(&vm->pio);
	bus_exit(&vm->mmio);
	free(vm->routes);
	vm->routes = NULL;
	pthread_mutex_destroy(&vm->routes_lock);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
}
