// SPDX-License-Identifier: MIT
/*
 * The devices of a VM, created from its configuration.  Each subsystem adds
 * its devices here; struct vm only knows this file's opaque type.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kite/acpi.h>
#include <kite/acpi_pm.h>
#include <kite/cmos.h>
#include <kite/debug_exit.h>
#include <kite/i8042.h>
#include <kite/log.h>
#include <kite/pci.h>
#include <kite/term.h>
#include <kite/uart.h>
#include <kite/virtio.h>
#include <kite/virtio_blk.h>
#include <kite/virtio_console.h>
#include <kite/virtio_net.h>
#include <kite/virtio_rng.h>
#include <kite/vm.h>
#include <kite/x86_layout.h>

#define COM1_BASE       0x3f8
#define DEBUG_EXIT_BASE 0xf4
#define DEBUG_EXIT_SIZE 4

struct vm_devices {
	struct uart com1;
	struct i8042 i8042;
	struct cmos cmos;
	struct debug_exit debug_exit;
	struct acpi_pm acpi_pm;
	bool com1_up, i8042_up, cmos_up, debug_exit_up, acpi_pm_up, pci_up;
	struct pci_bus pci;
	struct virtio_blk *blk[KITE_MAX_DISKS];
	struct virtio_console *vcon;
	struct virtio_net *net[KITE_MAX_NETS];
	struct virtio_rng *rng;
	int serial_out_fd; /* owned when it is a file */
};

/* COM1's backends: stdin/stdout, a file, or nothing. */
static int vm_serial_fds(struct vm *vm, int *in_fd, int *out_fd, bool *escape)
{
	const struct serial_config *s = &vm->cfg.serial;
	struct stat st;

	*in_fd = -1;
	*out_fd = -1;
	*escape = false;
	switch (s->kind) {
	case SERIAL_STDIO:
		/* epoll cannot watch regular files or /dev/null: such a stdin simply gives no input. */
		if (isatty(STDIN_FILENO) || (fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))))
			*in_fd = STDIN_FILENO;
		*out_fd = STDOUT_FILENO;
		if (*in_fd >= 0 && isatty(STDIN_FILENO) && term_raw_enable(STDIN_FILENO) == 0)
			*escape = true;
		return 0;
	case SERIAL_FILE:
		*out_fd = open(s->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (*out_fd < 0) {
			int r = -errno;
			pr_err("--serial file:%s: %s", s->path, strerror(errno));
			return r;
		}
		vm->devs->serial_out_fd = *out_fd;
		return 0;
	case SERIAL_NONE:
	case SERIAL_SOCKET:
		return 0;
	}
	return -EINVAL;
}

static int vm_legacy_devices(struct vm *vm)
{
	struct vm_devices *d = vm->devs;
	uint64_t low = vm->mem.regions[0].size, high = vm->mem.size - low;
	int in_fd, out_fd, r;
	bool escape;

	r = vm_serial_fds(vm, &in_fd, &out_fd, &escape);
	if (r)
		return r;
	r = uart_init(&d->com1, &vm->machine, COM1_BASE, X86_IRQ_COM1, in_fd, out_fd, escape);
	if (r)
		return r;
	d->com1_up = true;
	r = i8042_init(&d->i8042, &vm->machine);
	if (r)
		return r;
	d->i8042_up = true;
	r = cmos_init(&d->cmos, &vm->machine, low, high);
	if (r)
		return r;
	d->cmos_up = true;
	r = debug_exit_init(&d->debug_exit, &vm->machine, DEBUG_EXIT_BASE, DEBUG_EXIT_SIZE);
	if (r)
		return r;
	d->debug_exit_up = true;
	return 0;
}

/* PCI bus 0 and the virtio devices of --disk, --console virtio and --rng. */
static int vm_pci_devices(struct vm *vm)
{
	struct vm_devices *d = vm->devs;
	int r;

	r = pci_bus_init(&d->pci, &vm->machine);
	if (r)
		return r;
	d->pci_up = true;
	for (unsigned i = 0; i < vm->cfg.ndisks; i++) {
		r = virtio_blk_create(&d->pci, &vm->machine, &vm->cfg.disks[i], &d->blk[i]);
		if (r)
			return r;
	}
	for (unsigned i = 0; i < vm->cfg.nnets; i++) {
		r = virtio_net_create(&d->pci, &vm->machine, &vm->cfg.nets[i], vm->cfg.name, i, &d->net[i]);
		if (r)
			return r;
	}
	if (vm->cfg.console.kind != CONSOLE_NONE) {
		r = virtio_console_create(&d->pci, &vm->machine, &vm->cfg.console, &d->vcon);
		if (r)
			return r;
	}
	if (vm->cfg.rng)
		return virtio_rng_create(&d->pci, &vm->machine, &d->rng);
	return 0;
}

/* The ACPI tables and the power device they name; with --dump-acpi, the dump too. */
static int vm_acpi(struct vm *vm)
{
	struct vm_devices *d = vm->devs;
	struct acpi_config acfg;
	int r;

	acpi_config_default(&acfg, vm->ncpus);
	acfg.vmgenid = true; /* snapshots and clones change it (src/state) */
	r = acpi_pm_init(&d->acpi_pm, &vm->machine, acfg.pm_port);
	if (r)
		return r;
	d->acpi_pm_up = true;
	if (vm->cfg.incoming)
		return 0; /* the tables are in the restored RAM already */
	r = acpi_build(&vm->mem, &vm->e820, &acfg, &vm->rsdp_addr);
	if (!r && vm->cfg.dump_acpi_dir)
		r = acpi_dump(&vm->mem, vm->rsdp_addr, vm->cfg.dump_acpi_dir);
	return r;
}

int vm_devices_create(struct vm *vm)
{
	int r;

	vm->devs = calloc(1, sizeof(*vm->devs));
	if (!vm->devs)
		return -ENOMEM;
	vm->devs->serial_out_fd = -1;
	r = vm_legacy_devices(vm);
	if (r)
		return r;
	r = vm_pci_devices(vm);
	if (r)
		return r;
	r = vm_acpi(vm);
	if (r)
		return r;
	return 0;
}

void vm_devices_refs(struct vm *vm, struct vm_device_refs *out)
{
	struct vm_devices *d = vm->devs;

	memset(out, 0, sizeof(*out));
	out->com1 = d->com1_up ? &d->com1 : NULL;
	out->i8042 = d->i8042_up ? &d->i8042 : NULL;
	out->cmos = d->cmos_up ? &d->cmos : NULL;
	out->acpi_pm = d->acpi_pm_up ? &d->acpi_pm : NULL;
	out->pci = d->pci_up ? &d->pci : NULL;
	memcpy(out->blk, d->blk, sizeof(out->blk));
	out->vcon = d->vcon;
	out->rng = d->rng;
	memcpy(out->net, d->net, sizeof(out->net));
}

int vm_send_ctrl_alt_del(struct vm *vm)
{
	return i8042_send_ctrl_alt_del(&vm->devs->i8042);
}

void vm_devices_stats(struct vm *vm, vm_stat_fn fn, void *opaque)
{
	struct uart *u = &vm->devs->com1;

	fn(opaque, "com1", "rx_bytes", __atomic_load_n(&u->rx_bytes, __ATOMIC_RELAXED));
	fn(opaque, "com1", "tx_bytes", __atomic_load_n(&u->tx_bytes, __ATOMIC_RELAXED));
	fn(opaque, "com1", "tx_dropped", __atomic_load_n(&u->tx_dropped, __ATOMIC_RELAXED));
	for (unsigned i = 0; i < KITE_MAX_DISKS; i++) {
		struct virtio_dev *v = vm->devs->blk[i] ? virtio_blk_dev(vm->devs->blk[i]) : NULL;

		struct virtio_blk_stats bs;

		if (!v)
			continue;
		virtio_blk_get_stats(vm->devs->blk[i], &bs);
		fn(opaque, v->name, "read_requests", bs.read_reqs);
		fn(opaque, v->name, "read_bytes", bs.read_bytes);
		fn(opaque, v->name, "write_requests", bs.write_reqs);
		fn(opaque, v->name, "write_bytes", bs.write_bytes);
		fn(opaque, v->name, "flushes", bs.flushes);
		fn(opaque, v->name, "errors", bs.errors);
		fn(opaque, v->name, "worker_requests", bs.to_workers);
		fn(opaque, v->name, "ring_requests", bs.to_ring);
		fn(opaque, v->name, "interrupts", __atomic_load_n(&v->interrupts, __ATOMIC_RELAXED));
	}
	for (unsigned i = 0; i < KITE_MAX_NETS; i++) {
		struct virtio_net_stats ns;
		const char *name;

		if (!vm->devs->net[i])
			continue;
		name = virtio_net_dev(vm->devs->net[i])->name;
		virtio_net_get_stats(vm->devs->net[i], &ns);
		fn(opaque, name, "rx_packets", ns.rx_packets);
		fn(opaque, name, "rx_bytes", ns.rx_bytes);
		fn(opaque, name, "rx_dropped", ns.rx_dropped);
		fn(opaque, name, "tx_packets", ns.tx_packets);
		fn(opaque, name, "tx_bytes", ns.tx_bytes);
		fn(opaque, name, "tx_errors", ns.tx_errors);
		fn(opaque, name, "tx_dropped", ns.tx_dropped);
		fn(opaque, name, "link_up", virtio_net_link_up(vm->devs->net[i]));
	}
}

/* virtio devices finish their in-flight requests and then leave guest memory alone. */
int vm_serial_attach(struct vm *vm, int fd, void (*on_end)(void *opaque), void *opaque)
{
	struct uart *u = &vm->devs->com1;

	if (vm->cfg.serial.kind != SERIAL_SOCKET)
		return -ENOTSUP;
	if (fd >= 0 && u->out_fd >= 0)
		return -EBUSY;
	return uart_set_backend(u, fd, fd, on_end, opaque);
}

void vm_devices_quiesce(struct vm *vm)
{
	struct vm_devices *d = vm->devs;

	for (unsigned i = 0; i < KITE_MAX_DISKS; i++)
		if (d->blk[i])
			virtio_blk_quiesce(d->blk[i]);
	for (unsigned i = 0; i < KITE_MAX_NETS; i++)
		if (d->net[i])
			virtio_net_quiesce(d->net[i]);
	if (d->vcon)
		virtio_console_quiesce(d->vcon);
	if (d->rng)
		virtio_rng_quiesce(d->rng);
}

void vm_devices_resume(struct vm *vm)
{
	struct vm_devices *d = vm->devs;

	for (unsigned i = 0; i < KITE_MAX_DISKS; i++)
		if (d->blk[i])
			virtio_blk_resume(d->blk[i]);
	for (unsigned i = 0; i < KITE_MAX_NETS; i++)
		if (d->net[i])
			virtio_net_resume(d->net[i]);
	if (d->vcon)
		virtio_console_resume(d->vcon);
	if (d->rng)
		virtio_rng_resume(d->rng);
}

void vm_devices_destroy(struct vm *vm)
{
	struct vm_devices *d = vm->devs;

	for (unsigned i = 0; i < KITE_MAX_DISKS; i++)
		virtio_blk_destroy(d->blk[i]);
	for (unsigned i = 0; i < KITE_MAX_NETS; i++)
		virtio_net_destroy(d->net[i]);
	virtio_console_destroy(d->vcon);
	virtio_rng_destroy(d->rng);
	if (d->pci_up)
		pci_bus_exit(&d->pci);
	if (d->acpi_pm_up)
		acpi_pm_exit(&d->acpi_pm);
	if (d->debug_exit_up)
		debug_exit_exit(&d->debug_exit);
	if (d->cmos_up)
		cmos_exit(&d->cmos);
	if (d->i8042_up)
		i8042_exit(&d->i8042);
	if (d->com1_up)
		uart_exit(&d->com1);
	if (d->serial_out_fd >= 0)
		close(d->serial_out_fd);
	term_restore();
	free(d);
	vm->devs = NULL;
}
