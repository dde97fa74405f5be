/* SPDX-License-Identifier: MIT */
#ifndef KITE_VM_H
#define KITE_VM_H

/*
 * The VM: memory, vCPU threads, devices and the life of the machine
 * (created -> running <-> paused -> stopped).  One struct vm per VM and no
 * process-wide state, so tests may hold several.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <kite/boot.h>
#include <kite/bus.h>
#include <kite/config.h>
#include <kite/e820.h>
#include <kite/gmem.h>
#include <kite/kvm.h>
#include <kite/machine.h>

enum vm_state { VM_CREATED, VM_RUNNING, VM_PAUSED, VM_STOPPED };

/* Exit reasons counted per vCPU (kite stats, /metrics). */
enum vcpu_exit_stat {
	EXIT_STAT_IO,
	EXIT_STAT_MMIO,
	EXIT_STAT_HLT,
	EXIT_STAT_INTR, /* kicked by kite: pause, stop, signal */
	EXIT_STAT_SHUTDOWN,
	EXIT_STAT_SYSTEM_EVENT,
	EXIT_STAT_OTHER,
	EXIT_STAT_NR,
};
extern const char *const vcpu_exit_stat_names[EXIT_STAT_NR];

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	uint64_t exits[EXIT_STAT_NR]; /* written by the vCPU thread only; read relaxed */
};

struct vm_devices; /* src/vm/devices.c */

struct vm {
	struct vm_config cfg;
	struct kvm kvm;
	int fd;
	struct gmem mem;
	struct e820_map e820;
	struct bus pio, mmio;
	struct event_loop *loop;
	struct machine machine;
	struct boot_entry boot;
	uint64_t rsdp_addr;
	unsigned ncpus;
	struct vcpu *vcpus;
	struct vm_devices *devs;

	pthread_mutex_t lock; /* state, pause and stop requests */
	pthread_cond_t cond;
	enum vm_state state;
	bool pause_requested;
	unsigned parked;
	enum stop_reason stop;
	int stop_status;
	char stop_detail[160];
	uint64_t start_ns;
	uint64_t create_ns; /* vm_create began (for vm_trace) */

	/* Live migration (src/migrate): the outgoing one, and the vCPU throttle of auto-converge (0-99 %). */
	struct migration *migration; /* loop thread only */
	unsigned throttle_pct;       /* atomic */

	pthread_mutex_t routes_lock;
	struct kvm_irq_routing_entry *routes;
	unsigned nroutes, routes_cap;
	unsigned next_gsi;
};

/* Creates the VM of `cfg` (kernel loaded, devices created, vCPUs ready); -errno with a message. */
int vm_create(struct vm *vm, const struct vm_config *cfg);
/* Runs until the VM stops; the event loop runs on the calling thread. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);
/* At -vv: the time since vm_create began and what was just done. */
void vm_trace(struct vm *vm, const char *what);
/* Before the last vm_destroy of a process that exits next: leave the kernel's teardown to a child. */
void vm_detach_teardown(struct vm *vm);

/* Before vm_run: the VM starts Paused, no guest instruction run (vm_resume starts it). */
void vm_start_paused(struct vm *vm);
/*
 * vm_start_paused, and the vCPU threads started now, parked, ahead of vm_run
 * (a migration target: their start is then no part of the downtime).  A VM
 * that never gets to vm_run must then go through vm_stop_vcpus before vm_destroy.
 */
int vm_start_vcpus_parked(struct vm *vm);
void vm_stop_vcpus(struct vm *vm, const char *why);
/* Parks every vCPU outside KVM_RUN (blocking until they are); idempotent. */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
/* First caller wins; safe from any thread. */
void vm_request_stop(struct vm *vm, enum stop_reason why, int status, const char *detail);
enum vm_state vm_get_state(struct vm *vm);
const char *vm_state_name(enum vm_state s);
/* The `kite run` exit status for how the VM stopped (see docs/kite.1). */
int vm_exit_status(const struct vm *vm);

/* vcpu.c */
int vcpu_create(struct vm *vm, struct vcpu *v, unsigned index);
int vcpu_start(struct vcpu *v);
/* Boot processor registers from the loader's entry state. */
int vcpu_setup_boot(struct vcpu *v, const struct boot_entry *e);
void vcpu_kick(struct vcpu *v);
/* Period of the auto-converge kicks; a vCPU throttled at P % sleeps P % of it after each kick. */
#define VCPU_THROTTLE_PERIOD_US 10000
void vcpu_destroy(struct vcpu *v);
void vcpu_dump(struct vcpu *v); /* registers and instruction bytes, on stderr */

/* devices.c: the devices of a VM, created from vm->cfg. */
int vm_devices_create(struct vm *vm);
void vm_devices_destroy(struct vm *vm);
/*
 * Pause support: vm_pause() calls quiesce once every vCPU is parked (on the
 * thread that paused, the event loop's when the API paused); from then until
 * vm_devices_resume() no device backend may write guest memory or raise
 * interrupts (the state the snapshot saves must not move).
 */
void vm_devices_quiesce(struct vm *vm);
void vm_devices_resume(struct vm *vm);
/* The devices whose state src/state saves and loads; NULL when absent. */
struct vm_device_refs {
	struct uart *com1;
	struct i8042 *i8042;
	struct cmos *cmos;
	struct acpi_pm *acpi_pm;
	struct pci_bus *pci;
	struct virtio_blk *blk[KITE_MAX_DISKS];
	struct virtio_console *vcon;
	struct virtio_rng *rng;
	struct virtio_net *net[KITE_MAX_NETS]; /* state: virtio_net_save/load (include/kite/virtio_net.h) */
};
void vm_devices_refs(struct vm *vm, struct vm_device_refs *out);
/*
 * --serial socket: connects COM1 to `fd` (both ways), or detaches with -1.
 * -ENOTSUP without --serial socket, -EBUSY when a console is attached;
 * on_end(opaque) runs on the loop thread when the fd's input ends.  Loop thread.
 */
int vm_serial_attach(struct vm *vm, int fd, void (*on_end)(void *opaque), void *opaque);
/* A guest-visible shutdown request: Ctrl-Alt-Del on the i8042 keyboard port. */
int vm_send_ctrl_alt_del(struct vm *vm);
/* Calls fn for each device counter (bytes, requests), for kite stats and /metrics. */
typedef void (*vm_stat_fn)(void *opaque, const char *device, const char *counter, uint64_t value);
void vm_devices_stats(struct vm *vm, vm_stat_fn fn, void *opaque);

#endif
