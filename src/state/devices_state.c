// SPDX-License-Identifier: MIT
/*
 * Device sections.  The device models keep their state in plain structs
 * (kite/uart.h, i8042.h, cmos.h, acpi_pm.h, virtio.h); these functions copy
 * the guest-visible part in and out, under each device's lock.  Host-side
 * things (fds, event-loop registrations, counters) are not state: a restored
 * device keeps the ones its new VM gave it.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <kite/acpi.h>
#include <kite/acpi_pm.h>
#include <kite/cmos.h>
#include <kite/i8042.h>
#include <kite/log.h>
#include <kite/state.h>
#include <kite/uart.h>
#include <kite/vm.h>

/* uart 1.0: the registers, the RX FIFO, the pending THRE interrupt and the IRQ level. */
static int uart_save(void *opaque, struct sbuf *b)
{
	struct uart *u = opaque;

	pthread_mutex_lock(&u->lock);
	sbuf_put_u8(b, u->ier);
	sbuf_put_u8(b, u->lcr);
	sbuf_put_u8(b, u->mcr);
	sbuf_put_u8(b, u->lsr);
	sbuf_put_u8(b, u->msr);
	sbuf_put_u8(b, u->scr);
	sbuf_put_u8(b, u->dll);
	sbuf_put_u8(b, u->dlm);
	sbuf_put_u8(b, u->fcr);
	sbuf_put_u8(b, u->thre_pending);
	sbuf_put_u8(b, u->irq_level);
	sbuf_put_u8(b, u->rx.count);
	for (unsigned i = 0; i < u->rx.count; i++)
		sbuf_put_u8(b, u->rx.buf[(u->rx.head + i) % UART_FIFO_SIZE]);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

static int uart_load(void *opaque, struct sbuf *b, unsigned minor)
{
	struct uart *u = opaque;
	uint8_t r[11], count;

	sbuf_get(b, r, sizeof(r));
	count = sbuf_get_u8(b);
	if (b->err || count > UART_FIFO_SIZE)
		return b->err ? b->err : -EINVAL;
	pthread_mutex_lock(&u->lock);
	u->ier = r[0];
	u->lcr = r[1];
	u->mcr = r[2];
	u->lsr = r[3];
	u->msr = r[4];
	u->scr = r[5];
	u->dll = r[6];
	u->dlm = r[7];
	u->fcr = r[8];
	u->thre_pending = r[9];
	/* The level is already in the restored irqchip; remembering it keeps the next edge right. */
	u->irq_level = !!r[10];
	u->rx.head = 0;
	u->rx.count = count;
	sbuf_get(b, u->rx.buf, count);
	pthread_mutex_unlock(&u->lock);
	return b->err;
}

/* i8042 1.1 (1.1 added the keyboard's pending command and scanning flag) */
static int i8042_save(void *opaque, struct sbuf *b)
{
	struct i8042 *k = opaque;

	pthread_mutex_lock(&k->lock);
	sbuf_put_u8(b, k->status);
	sbuf_put_u8(b, k->ctr);
	sbuf_put_u8(b, k->outport);
	sbuf_put_u8(b, k->pending);
	sbuf_put_u8(b, k->irq_kbd);
	sbuf_put_u8(b, k->irq_aux);
	sbuf_put_u8(b, k->count);
	for (unsigned i = 0; i < k->count; i++) {
		unsigned j = (k->head + i) % I8042_QUEUE;

		sbuf_put_u8(b, k->queue[j]);
		sbuf_put_u8(b, k->aux[j]);
	}
	sbuf_put_u8(b, k->kbd_pending);
	sbuf_put_u8(b, k->kbd_scanning);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static int i8042_load(void *opaque, struct sbuf *b, unsigned minor)
{
	struct i8042 *k = opaque;
	uint8_t r[6], count;

	sbuf_get(b, r, sizeof(r));
	count = sbuf_get_u8(b);
	if (b->err || count > I8042_QUEUE)
		return b->err ? b->err : -EINVAL;
	pthread_mutex_lock(&k->lock);
	k->status = r[0];
	k->ctr = r[1];
	k->outport = r[2];
	k->pending = r[3];
	k->irq_kbd = !!r[4];
	k->irq_aux = !!r[5];
	k->head = 0;
	k->count = count;
	for (unsigned i = 0; i < count; i++) {
		k->queue[i] = sbuf_get_u8(b);
		k->aux[i] = sbuf_get_u8(b);
	}
	if (minor >= 1) {
		k->kbd_pending = sbuf_get_u8(b);
		k->kbd_scanning = sbuf_get_u8(b);
	}
	pthread_mutex_unlock(&k->lock);
	return b->err;
}

/* cmos 1.0: index latch, NMI mask, the 128 bytes and the guest's clock offset. */
static int cmos_save(void *opaque, struct sbuf *b)
{
	struct cmos *c = opaque;

	pthread_mutex_lock(&c->lock);
	sbuf_put_u8(b, c->index);
	sbuf_put_u8(b, c->nmi_disabled);
	sbuf_put(b, c->ram, CMOS_SIZE);
	sbuf_put_u64(b, (uint64_t)c->offset);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int cmos_load(void *opaque, struct sbuf *b, unsigned minor)
{
	struct cmos *c = opaque;
	uint8_t index = sbuf_get_u8(b), nmi = sbuf_get_u8(b), ram[CMOS_SIZE];
	int64_t offset;

	sbuf_get(b, ram, sizeof(ram));
	offset = (int64_t)sbuf_get_u64(b);
	if (b->err)
		return b->err;
	pthread_mutex_lock(&c->lock);
	c->index = index & (CMOS_SIZE - 1);
	c->nmi_disabled = nmi;
	memcpy(c->ram, ram, sizeof(ram));
	/* The RTC stays on wall-clock time, shifted as the guest set it. */
	c->offset = offset;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* acpi_pm 1.0 */
static int acpi_pm_save(void *opaque, struct sbuf *b)
{
	struct acpi_pm *pm = opaque;

	sbuf_put_u8(b, __atomic_load_n(&pm->sleep_status, __ATOMIC_RELAXED));
	return 0;
}

static int acpi_pm_load(void *opaque, struct sbuf *b, unsigned minor)
{
	struct acpi_pm *pm = opaque;
	uint8_t v = sbuf_get_u8(b);

	if (!b->err)
		__atomic_store_n(&pm->sleep_status, v, __ATOMIC_RELAXED);
	return b->err;
}

/*
 * vmgenid 1.0: where the generation ID lives and the GSI that announces a new
 * one.  A restore or clone (reg->new_identity) gives the guest a new ID and
 * the GED event; a live migration keeps it.
 */
struct vmgenid_ctx {
	struct vm *vm;
	const struct state_registry *reg;
};

static int vmgenid_save(void *opaque, struct sbuf *b)
{
	struct vm *vm = ((struct vmgenid_ctx *)opaque)->vm;
	uint8_t id[ACPI_VMGENID_SIZE];

	if (gmem_read(&vm->mem, ACPI_VMGENID_ADDR, id, sizeof(id)))
		return -EFAULT;
	sbuf_put_u64(b, ACPI_VMGENID_ADDR);
	sbuf_put_u32(b, ACPI_VMGENID_GSI);
	sbuf_put(b, id, sizeof(id));
	return 0;
}

static int vmgenid_load(void *opaque, struct sbuf *b, unsigned minor)
{
	struct vmgenid_ctx *ctx = opaque;
	struct vm *vm = ctx->vm;
	uint64_t addr = sbuf_get_u64(b);
	uint32_t gsi = sbuf_get_u32(b);
	uint8_t id[ACPI_VMGENID_SIZE];
	int r;

	if (b->err)
		return b->err;
	/* The guest's tables name this address and GSI; anything else would be a different machine. */
	if (addr != ACPI_VMGENID_ADDR || gsi != ACPI_VMGENID_GSI) {
		pr_err("vmgenid section: ID at 0x%llx, GSI %u; this kite uses 0x%llx, GSI %u", (unsigned long long)addr,
		       gsi, (unsigned long long)ACPI_VMGENID_ADDR, ACPI_VMGENID_GSI);
		return -EINVAL;
	}
	/* A live migration moves the same VM on: its generation stays. */
	if (!ctx->reg->new_identity)
		return 0;
	if (getrandom(id, sizeof(id), 0) != sizeof(id))
		return -EIO;
	r = gmem_write(&vm->mem, addr, id, sizeof(id));
	if (!r)
		r = machine_irq_pulse(&vm->machine, gsi);
	return r;
}

int state_uart_register(struct state_registry *reg, unsigned instance, struct uart *u)
{
	return state_register(reg, "uart", instance, 1, 0, uart_save, uart_load, u);
}

int state_i8042_register(struct state_registry *reg, struct i8042 *k)
{
	return state_register(reg, "i8042", 0, 1, 1, i8042_save, i8042_load, k);
}

int state_cmos_register(struct state_registry *reg, struct cmos *c)
{
	return state_register(reg, "cmos", 0, 1, 0, cmos_save, cmos_load, c);
}

int state_devices_register(struct vm *vm, struct state_registry *reg)
{
	struct vm_device_refs d;
	int r = 0;

	vm_devices_refs(vm, &d);
	if (d.com1)
		r = state_uart_register(reg, 0, d.com1);
	if (!r && d.i8042)
		r = state_i8042_register(reg, d.i8042);
	if (!r && d.cmos)
		r = state_cmos_register(reg, d.cmos);
	if (!r && d.acpi_pm)
		r = state_register(reg, "acpi_pm", 0, 1, 0, acpi_pm_save, acpi_pm_load, d.acpi_pm);
	if (!r) {
		struct vmgenid_ctx *ctx = state_registry_alloc(reg, sizeof(*ctx));

		if (!ctx)
			return -ENOMEM;
		*ctx = (struct vmgenid_ctx){ vm, reg };
		r = state_register(reg, "vmgenid", 0, 1, 0, vmgenid_save, vmgenid_load, ctx);
	}
	if (!r)
		r = state_virtio_register(vm, reg, &d);
	return r;
}
