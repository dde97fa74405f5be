/* SPDX-License-Identifier: MIT */
#ifndef KITE_STATE_H
#define KITE_STATE_H

/*
 * The saved state of a VM: which sections a VM has (vCPUs, the KVM irqchip,
 * PIT and clock, the devices, the configuration and the memory layout), and
 * the snapshot and restore built on them (docs/snapshot-format.md).  Live
 * migration (src/migrate) uses the same registry with a socket as the sink.
 */

#include <stdbool.h>
#include <stdint.h>

#include <kite/config.h>
#include <kite/section.h>

struct vm;
struct vcpu;

/* How guest RAM travels (the "memory" section). */
enum state_mem_format {
	STATE_MEM_RAW = 0,  /* a file of the RAM bytes, zero pages left as holes */
	STATE_MEM_ZLIB = 1, /* one zlib stream of the RAM bytes */
	STATE_MEM_STREAM = 2, /* sent separately (migration) */
};

/* What the "config" and "memory" sections say, owned strings included. */
struct state_vm_info {
	struct vm_config cfg;
	uint32_t mem_format;
	char *strings[8 + 2 * KITE_MAX_DISKS + KITE_MAX_NETS]; /* everything cfg points to */
	unsigned nstrings;
	/* NIC i's TAP was given as an fd; cfg.nets[i].tap is the name that fd's interface had. */
	bool net_by_fd[KITE_MAX_NETS];
};

/* vcpu_state.c: one "vcpu" section per vCPU (KVM's register state, in KVM's order). */
int state_vcpu_save(struct vcpu *v, struct sbuf *out);
int state_vcpu_load(struct vcpu *v, struct sbuf *in, unsigned minor);

/*
 * vm_state.c: registers every object of vm, in the order loading must follow:
 * config, memory, KVM clock, PIT, PIC master/slave, IOAPIC, the vCPUs, the
 * devices.  mem_format goes into the memory section.
 */
int state_vm_register(struct vm *vm, struct state_registry *reg, uint32_t *mem_format);
/* Decodes the config and memory sections of f into info (untrusted input). */
int state_vm_info(const struct state_file *f, struct state_vm_info *info);
void state_vm_info_free(struct state_vm_info *info);

/* devices_state.c: the legacy devices (COM1, i8042, CMOS, ACPI PM) and virtio hooks. */
int state_devices_register(struct vm *vm, struct state_registry *reg);
/* One device each (also for tests, without a VM). */
struct uart;
struct i8042;
struct cmos;
int state_uart_register(struct state_registry *reg, unsigned instance, struct uart *u);
int state_i8042_register(struct state_registry *reg, struct i8042 *k);
int state_cmos_register(struct state_registry *reg, struct cmos *c);

/* virtio_state.c: PCI functions, their virtio transports and queues. */
struct vm_device_refs;
int state_virtio_register(struct vm *vm, struct state_registry *reg, const struct vm_device_refs *d);

/* snapshot.c */
struct snapshot_opts {
	const char *dir;        /* DIR/state + DIR/memory, made in DIR.tmp-* and renamed into place */
	const char *state_path; /* or two named files (Firecracker's snapshot_path + mem_file_path) */
	const char *mem_path;
	bool compress;          /* zlib memory stream (restored eagerly) */
	bool progress;          /* log progress for large memories */
	/*
	 * Stop the VM once the snapshot is written, from the pause: it never
	 * runs past the snapshot point, so its disks hold what the snapshot's
	 * guest expects (resuming first would let it write on).
	 */
	bool stop_after;
};
/*
 * Pauses vm (when running), writes the snapshot, fsyncs it and resumes vm if
 * it was running (or stops it: stop_after).  On any failure nothing of the
 * snapshot is left behind and the VM runs on.  Returns 0 or -errno after a
 * message.
 */
int snapshot_create(struct vm *vm, const struct snapshot_opts *o);

/* restore.c */
struct restore_image {
	char *state_path, *mem_path;
	struct state_file file;
	struct state_vm_info info; /* info.cfg: the saved configuration, to adjust before restore_vm */
};
/* Reads and checks DIR/state (or state_path; mem_path NULL = beside it, "memory"). */
int restore_open(struct restore_image *img, const char *dir, const char *state_path, const char *mem_path);
void restore_close(struct restore_image *img);
/*
 * The identity and backends of the restored VM, in img->info.cfg: `name`
 * (NULL: the saved one) and `nets` replacing the saved NICs' backends in
 * order (at most as many as were saved; their strings must outlive the VM).
 * A NIC's MAC is the override's, else for a new name (a clone) one derived
 * from it (virtio_net_default_mac), else the saved one.  -EINVAL after a message.
 */
int restore_configure(struct restore_image *img, const char *name, const struct net_config *nets, unsigned nnets);
/*
 * Creates vm from img->info.cfg without the loader, brings in the memory
 * (MAP_PRIVATE from the file, or copied when `eager` or compressed) and loads
 * every section.  The VM is left created, ready for vm_run.
 */
int restore_vm(struct vm *vm, struct restore_image *img, bool eager);

#endif
