// SPDX-License-Identifier: MIT
/*
 * The VM-wide sections: the configuration (so that a restore needs no
 * command line), the memory layout, the KVM clock, PIT and irqchip, and the
 * list of every section of a VM in load order.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kite/log.h>
#include <kite/state.h>
#include <kite/util.h>
#include <kite/virtio_net.h>
#include <kite/vm.h>

#define STATE_STR_MAX 4096

enum { NET_BY_NAME = 0, NET_BY_FD = 1 };

/*
 * 1.1: per NIC how its TAP was given (by name, or as an fd), the interface's
 * name and the MAC the guest has: what a restore needs to reopen it.
 */
static void config_save_nets(struct vm *vm, struct sbuf *b)
{
	struct vm_device_refs d;

	vm_devices_refs(vm, &d);
	sbuf_put_u32(b, vm->cfg.nnets);
	for (unsigned i = 0; i < vm->cfg.nnets; i++) {
		uint8_t mac[6];

		memcpy(mac, vm->cfg.nets[i].mac, 6);
		if (d.net[i])
			virtio_net_mac(d.net[i], mac);
		sbuf_put_u8(b, vm->cfg.nets[i].tap ? NET_BY_NAME : NET_BY_FD);
		sbuf_put_str(b, d.net[i] ? virtio_net_tap_name(d.net[i]) : vm->cfg.nets[i].tap);
		sbuf_put(b, mac, 6);
	}
}

/* config 1.1 (1.1 added the NICs): what kite run's options made of the VM. */
static int config_save(void *opaque, struct sbuf *b)
{
	struct vm *vm = opaque;
	const struct vm_config *c = &vm->cfg;

	sbuf_put_str(b, c->name);
	sbuf_put_u64(b, c->mem_size);
	sbuf_put_u32(b, c->ncpus);
	sbuf_put_str(b, c->kernel);
	sbuf_put_str(b, c->initrd);
	sbuf_put_str(b, c->cmdline);
	sbuf_put_u32(b, c->reboot);
	sbuf_put_u32(b, c->serial.kind);
	sbuf_put_str(b, c->serial.path);
	sbuf_put_u32(b, c->ndisks);
	for (unsigned i = 0; i < c->ndisks; i++) {
		sbuf_put_str(b, c->disks[i].path);
		sbuf_put_u8(b, c->disks[i].readonly);
		sbuf_put(b, c->disks[i].id, sizeof(c->disks[i].id));
		sbuf_put_u32(b, c->disks[i].cache);
	}
	sbuf_put_u32(b, c->console.kind);
	sbuf_put_str(b, c->console.path);
	sbuf_put_u8(b, c->rng);
	config_save_nets(vm, b);
	/* 1.2: each disk's queue count (a device with another count would not take the saved queues). */
	for (unsigned i = 0; i < c->ndisks; i++)
		sbuf_put_u32(b, c->disks[i].queues ? c->disks[i].queues : 1);
	return 0;
}

/* The section was decoded before the VM existed (state_vm_info); check it is this VM's. */
static int config_load(void *opaque, struct sbuf *b, unsigned minor)
{
	return 0;
}

struct mem_ctx {
	struct vm *vm;
	uint32_t *format;
};

/* memory 1.0: format, size and the regions as slices of the one backing file. */
static int memory_save_ctx(void *opaque, struct sbuf *b)
{
	struct mem_ctx *m = opaque;
	const struct gmem *g = &m->vm->mem;

	sbuf_put_u32(b, *m->format);
	sbuf_put_u64(b, g->size);
	sbuf_put_u32(b, g->nr);
	for (unsigned i = 0; i < g->nr; i++) {
		sbuf_put_u64(b, g->regions[i].gpa);
		sbuf_put_u64(b, g->regions[i].size);
		sbuf_put_u64(b, g->regions[i].offset);
	}
	return 0;
}

static int memory_load_ctx(void *opaque, struct sbuf *b, unsigned minor)
{
	struct mem_ctx *m = opaque;
	const struct gmem *g = &m->vm->mem;
	uint32_t nr;

	sbuf_get_u32(b);
	if (sbuf_get_u64(b) != g->size || (nr = sbuf_get_u32(b)) != g->nr) {
		pr_err("memory section: the layout does not match this VM's RAM");
		return -EINVAL;
	}
	for (unsigned i = 0; i < nr; i++) {
		if (sbuf_get_u64(b) != g->regions[i].gpa || sbuf_get_u64(b) != g->regions[i].size ||
		    sbuf_get_u64(b) != g->regions[i].offset) {
			pr_err("memory section: region %u differs from this VM's RAM layout", i);
			return -EINVAL;
		}
	}
	return b->err;
}

static int clock_save(void *opaque, struct sbuf *b)
{
	struct vm *vm = opaque;
	struct kvm_clock_data c = { 0 };
	int r = kvm_get_clock(vm->fd, &c);

	if (r) {
		pr_err("KVM_GET_CLOCK: %s", strerror(-r));
		return r;
	}
	sbuf_put_u64(b, c.clock);
	sbuf_put_u32(b, c.flags);
	return 0;
}

/* The guest's clock goes on from the saved value: the time the VM spent saved does not pass for it. */
static int clock_load(void *opaque, struct sbuf *b, unsigned minor)
{
	struct vm *vm = opaque;
	struct kvm_clock_data c = { .clock = sbuf_get_u64(b) };
	int r;

	sbuf_get_u32(b);
	if (b->err)
		return b->err;
	r = kvm_set_clock(vm->fd, &c);
	if (r)
		pr_err("KVM_SET_CLOCK: %s", strerror(-r));
	return r;
}

static int pit_save(void *opaque, struct sbuf *b)
{
	struct vm *vm = opaque;
	struct kvm_pit_state2 p;
	int r = kvm_get_pit2(vm->fd, &p);

	if (r) {
		pr_err("KVM_GET_PIT2: %s", strerror(-r));
		return r;
	}
	sbuf_put_u32(b, sizeof(p));
	sbuf_put(b, &p, sizeof(p));
	return 0;
}

static int pit_load(void *opaque, struct sbuf *b, unsigned minor)
{
	struct vm *vm = opaque;
	struct kvm_pit_state2 p;
	int r;

	if (sbuf_get_u32(b) != sizeof(p)) {
		pr_err("pit section: wrong size for KVM's PIT state");
		return -EINVAL;
	}
	sbuf_get(b, &p, sizeof(p));
	if (b->err)
		return b->err;
	r = kvm_set_pit2(vm->fd, &p);
	if (r)
		pr_err("KVM_SET_PIT2: %s", strerror(-r));
	return r;
}

struct chip_ctx {
	struct vm *vm;
	uint32_t chip_id;
};

static int irqchip_save(void *opaque, struct sbuf *b)
{
	struct chip_ctx *c = opaque;
	struct kvm_irqchip ic = { .chip_id = c->chip_id };
	int r = kvm_get_irqchip(c->vm->fd, &ic);

	if (r) {
		pr_err("KVM_GET_IRQCHIP %u: %s", c->chip_id, strerror(-r));
		return r;
	}
	sbuf_put_u32(b, sizeof(ic.chip));
	sbuf_put(b, &ic.chip, sizeof(ic.chip));
	return 0;
}

static int irqchip_load(void *opaque, struct sbuf *b, unsigned minor)
{
	struct chip_ctx *c = opaque;
	struct kvm_irqchip ic = { .chip_id = c->chip_id };
	int r;

	if (sbuf_get_u32(b) != sizeof(ic.chip)) {
		pr_err("irqchip section: wrong size for KVM's irqchip state");
		return -EINVAL;
	}
	sbuf_get(b, &ic.chip, sizeof(ic.chip));
	if (b->err)
		return b->err;
	r = kvm_set_irqchip(c->vm->fd, &ic);
	if (r)
		pr_err("KVM_SET_IRQCHIP %u: %s", c->chip_id, strerror(-r));
	return r;
}

static int vcpu_save_cb(void *opaque, struct sbuf *b)
{
	return state_vcpu_save(opaque, b);
}

static int vcpu_load_cb(void *opaque, struct sbuf *b, unsigned minor)
{
	return state_vcpu_load(opaque, b, minor);
}

int state_vm_register(struct vm *vm, struct state_registry *reg, uint32_t *mem_format)
{
	static const char *const chip_tags[3] = { "kvm.pic", "kvm.pic", "kvm.ioapic" };
	static const uint32_t chip_ids[3] = { KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC };
	static const uint32_t chip_inst[3] = { 0, 1, 0 };
	struct mem_ctx *mem = state_registry_alloc(reg, sizeof(*mem));
	struct chip_ctx *chips = state_registry_alloc(reg, 3 * sizeof(*chips));
	int r;

	if (!mem || !chips)
		return -ENOMEM;
	*mem = (struct mem_ctx){ vm, mem_format };
	r = state_register(reg, "config", 0, 1, 2, config_save, config_load, vm);
	if (!r)
		r = state_register(reg, "memory", 0, 1, 0, memory_save_ctx, memory_load_ctx, mem);
	if (!r)
		r = state_register(reg, "kvm.clock", 0, 1, 0, clock_save, clock_load, vm);
	if (!r)
		r = state_register(reg, "kvm.pit", 0, 1, 0, pit_save, pit_load, vm);
	for (unsigned i = 0; !r && i < 3; i++) {
		chips[i] = (struct chip_ctx){ vm, chip_ids[i] };
		r = state_register(reg, chip_tags[i], chip_inst[i], 1, 0, irqchip_save, irqchip_load, &chips[i]);
	}
	for (unsigned i = 0; !r && i < vm->ncpus; i++)
		r = state_register(reg, "vcpu", i, 1, 1, vcpu_save_cb, vcpu_load_cb, &vm->vcpus[i]);
	if (!r)
		r = state_devices_register(vm, reg);
	return r;
}

static char *info_keep(struct state_vm_info *info, char *s)
{
	if (s && info->nstrings < ARRAY_SIZE(info->strings))
		info->strings[info->nstrings++] = s;
	else
		free(s);
	return s;
}

/* A NIC's TAP is reopened by name on restore, also one that was given as an fd (kite restore --net overrides). */
static void info_nets(struct sbuf *b, struct state_vm_info *info)
{
	struct vm_config *c = &info->cfg;

	c->nnets = sbuf_get_u32(b);
	if (c->nnets > KITE_MAX_NETS) {
		b->err = -EINVAL;
		return;
	}
	for (unsigned i = 0; i < c->nnets; i++) {
		struct net_config *n = &c->nets[i];

		n->fd = -1;
		info->net_by_fd[i] = sbuf_get_u8(b) == NET_BY_FD;
		n->tap = info_keep(info, sbuf_get_str(b, IF_NAMESIZE - 1));
		sbuf_get(b, n->mac, 6);
		n->mac_set = true;
	}
}

static void info_config(struct sbuf *b, struct state_vm_info *info, unsigned minor)
{
	struct vm_config *c = &info->cfg;
	char *name = sbuf_get_str(b, KITE_NAME_MAX - 1);

	snprintf(c->name, sizeof(c->name), "%s", name ? name : "");
	free(name);
	c->mem_size = sbuf_get_u64(b);
	c->ncpus = sbuf_get_u32(b);
	c->kernel = info_keep(info, sbuf_get_str(b, STATE_STR_MAX));
	c->initrd = info_keep(info, sbuf_get_str(b, STATE_STR_MAX));
	c->cmdline = info_keep(info, sbuf_get_str(b, STATE_STR_MAX));
	c->reboot = sbuf_get_u32(b);
	c->serial.kind = sbuf_get_u32(b);
	c->serial.path = info_keep(info, sbuf_get_str(b, STATE_STR_MAX));
	c->ndisks = sbuf_get_u32(b);
	if (c->ndisks > KITE_MAX_DISKS) {
		b->err = -EINVAL;
		return;
	}
	for (unsigned i = 0; i < c->ndisks; i++) {
		c->disks[i].path = info_keep(info, sbuf_get_str(b, STATE_STR_MAX));
		c->disks[i].readonly = sbuf_get_u8(b);
		sbuf_get(b, c->disks[i].id, sizeof(c->disks[i].id));
		c->disks[i].id[sizeof(c->disks[i].id) - 1] = 0;
		c->disks[i].cache = sbuf_get_u32(b);
	}
	c->console.kind = sbuf_get_u32(b);
	c->console.path = info_keep(info, sbuf_get_str(b, STATE_STR_MAX));
	c->rng = sbuf_get_u8(b);
	if (minor >= 1)
		info_nets(b, info);
	for (unsigned i = 0; minor >= 2 && i < c->ndisks; i++)
		c->disks[i].queues = sbuf_get_u32(b);
}

/* Numbers from the file, checked before they size a VM. */
static int info_check(const struct state_vm_info *info)
{
	const struct vm_config *c = &info->cfg;

	if (!c->name[0] || !c->ncpus || c->ncpus > KITE_MAX_CPUS || c->mem_size < (2 << 20) ||
	    c->mem_size > (1ull << 40) || c->mem_size % 4096 || c->reboot > REBOOT_RESTART ||
	    c->serial.kind > SERIAL_SOCKET || c->console.kind > CONSOLE_PTY || (c->console.kind == CONSOLE_FILE && !c->console.path)) {
		pr_err("state: the config section holds impossible values (corrupt file)");
		return -EINVAL;
	}
	for (unsigned i = 0; i < c->ndisks; i++)
		if (!c->disks[i].path || c->disks[i].cache > DISK_CACHE_NONE ||
		    c->disks[i].queues > KITE_MAX_DISK_QUEUES) {
			pr_err("state: disk %u of the config section is malformed", i);
			return -EINVAL;
		}
	for (unsigned i = 0; i < c->nnets; i++)
		if (!c->nets[i].tap || !c->nets[i].tap[0] || (c->nets[i].mac[0] & 1)) {
			pr_err("state: NIC %u of the config section is malformed", i);
			return -EINVAL;
		}
	if (info->mem_format > STATE_MEM_STREAM) {
		pr_err("state: unknown memory format %u", info->mem_format);
		return -EINVAL;
	}
	return 0;
}

int state_vm_info(const struct state_file *f, struct state_vm_info *info)
{
	const struct state_section *cs = state_file_find(f, "config", 0);
	const struct state_section *ms = state_file_find(f, "memory", 0);
	struct sbuf b;
	int r;

	memset(info, 0, sizeof(*info));
	if (!cs || !ms) {
		pr_err("state: no %s section", cs ? "memory" : "config");
		return -EINVAL;
	}
	if (cs->major != 1 || ms->major != 1) {
		pr_err("state: section '%s' version %u.x, this kite reads 1.x", cs->major != 1 ? "config" : "memory",
		       cs->major != 1 ? cs->major : ms->major);
		return -EPROTO;
	}
	sbuf_view(&b, cs->data, cs->len);
	info_config(&b, info, cs->minor);
	if (b.err) {
		pr_err("state: section 'config' #0 is malformed or truncated");
		r = -EINVAL;
		goto fail;
	}
	sbuf_view(&b, ms->data, ms->len);
	info->mem_format = sbuf_get_u32(&b);
	if (sbuf_get_u64(&b) != info->cfg.mem_size || b.err) {
		pr_err("state: section 'memory' #0 disagrees with the configured RAM size");
		r = -EINVAL;
		goto fail;
	}
	r = info_check(info);
	if (!r)
		return 0;
fail:
	/* Nothing half-decoded stays behind (state_vm_info_free is still safe to call). */
	state_vm_info_free(info);
	return r;
}

void state_vm_info_free(struct state_vm_info *info)
{
	for (unsigned i = 0; i < info->nstrings; i++)
		free(info->strings[i]);
	memset(info, 0, sizeof(*info));
}
