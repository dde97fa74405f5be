// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <kite/acpi.h>
#include <kite/log.h>
#include <kite/machine.h>
#include <kite/msix.h>
#include <kite/pci.h>
#include <kite/util.h>
#include <kite/x86_layout.h>

#define PCI_CF8_PORT 0xcf8
#define PCI_CFC_PORT 0xcfc
#define PCI_CF8_ENABLE 0x80000000u
#define PCI_CAP_START 0x40
#define PCI_CAP_LIMIT 0x100

/* One rule for the DSDT's _PRT and for the Interrupt Line kite writes. */
unsigned pci_intx_gsi(unsigned slot, unsigned pin)
{
	return acpi_pci_intx_gsi(slot, pin);
}

static void cfg_put(struct pci_dev *d, unsigned off, uint32_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		d->cfg[off + i] = (uint8_t)(v >> (8 * i));
}

static void wmask_put(struct pci_dev *d, unsigned off, uint32_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		d->wmask[off + i] = (uint8_t)(v >> (8 * i));
}

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device, uint32_t class_code,
		  uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	cfg_put(d, PCI_VENDOR_ID, vendor, 2);
	cfg_put(d, PCI_DEVICE_ID, device, 2);
	cfg_put(d, PCI_REVISION_ID, revision, 1);
	cfg_put(d, PCI_CLASS_PROG, class_code, 3);
	cfg_put(d, PCI_SUBSYSTEM_VENDOR, subsys_vendor, 2);
	cfg_put(d, PCI_SUBSYSTEM_ID, subsys_id, 2);
	wmask_put(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_OFF, 2);
	wmask_put(d, PCI_INTERRUPT_LINE, 0xff, 1);
	d->cap_end = PCI_CAP_START;
}

int pci_dev_add_bar(struct pci_dev *d, unsigned bar, uint64_t size, bus_io_fn fn, void *opaque)
{
	if (bar >= PCI_NUM_BARS || size < 4096 || size > X86_PCI_MMIO_SIZE || (size & (size - 1)) || !fn)
		return -EINVAL;
	d->bar[bar] = (struct pci_bar){ .size = size, .fn = fn, .opaque = opaque, .dev = d };
	/* Memory, 32-bit, not prefetchable: flag bits read 0.  Sizing = the mask. */
	wmask_put(d, PCI_BAR0 + 4 * bar, (uint32_t)~(size - 1), 4);
	return 0;
}

int pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, unsigned len)
{
	unsigned off = ALIGN_UP((unsigned)d->cap_end, 4u);

	if (len < 2 || off + len > PCI_CAP_LIMIT)
		return -ENOSPC;
	memcpy(&d->cfg[off], body, len);
	d->cfg[off] = id;
	d->cfg[off + 1] = 0;
	if (d->last_cap)
		d->cfg[d->last_cap + 1] = (uint8_t)off;
	else
		d->cfg[PCI_CAP_PTR] = (uint8_t)off;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->last_cap = (uint8_t)off;
	d->cap_end = (uint8_t)MIN(off + len, 0xffu);
	return (int)off;
}

void pci_dev_cfg_writable(struct pci_dev *d, unsigned reg, unsigned len)
{
	if (reg < PCI_CFG_SIZE && len <= PCI_CFG_SIZE - reg)
		memset(&d->wmask[reg], 0xff, len);
}

void pci_dev_set_window(struct pci_dev *d, unsigned reg, unsigned len,
			void (*fn)(struct pci_dev *d, unsigned off, uint8_t *data, unsigned len, bool is_write))
{
	d->window_fn = fn;
	d->window_reg = (uint8_t)reg;
	d->window_len = (uint8_t)len;
}

static void pci_bar_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct pci_bar *b = opaque;

	b->fn(b->opaque, off, data, len, is_write);
}

static uint64_t bar_addr(const struct pci_dev *d, unsigned i)
{
	return pci_cfg_read32(d, PCI_BAR0 + 4 * i) & ~0xfu;
}

/* Where BAR i should decode now, or 0 for nowhere. */
static uint64_t bar_target(const struct pci_dev *d, unsigned i)
{
	uint64_t a = bar_addr(d, i), size = d->bar[i].size;

	if (!(pci_cfg_read16(d, PCI_COMMAND) & PCI_COMMAND_MEMORY) || !a)
		return 0;
	/* The all-ones sizing pattern is not an address a guest means to use. */
	if (a == (~(size - 1) & 0xffffffffull) || a + size > X86_4G)
		return 0;
	return a;
}

/* Makes each BAR's bus range follow its register and the command register. */
static void pci_update_bars(struct pci_dev *d)
{
	struct bus *mmio = d->bus->m->mmio;

	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &d->bar[i];
		uint64_t old = b->mapped_at, want = b->size ? bar_target(d, i) : 0;

		if (want == old)
			continue;
		if (old)
			bus_unregister(mmio, old, b);
		b->mapped_at = 0;
		if (want && bus_register(mmio, want, b->size, pci_bar_io, b, d->name) == 0)
			b->mapped_at = want;
		else if (want)
			pr_warn_ratelimited(&d->bus->rl, "pci %s: BAR%u at 0x%llx is not usable; left unmapped", d->name, i,
					    (unsigned long long)want);
		if (d->bar_moved && old != b->mapped_at)
			d->bar_moved(d, i, old, b->mapped_at);
	}
}

static bool touches(unsigned reg, unsigned len, unsigned start, unsigned n)
{
	return reg < start + n && start < reg + len;
}

static void pci_dev_cfg_write(struct pci_dev *d, unsigned reg, const uint8_t *data, unsigned len)
{
	for (unsigned i = 0; i < len; i++) {
		uint8_t m = d->wmask[reg + i];

		d->cfg[reg + i] = (uint8_t)((d->cfg[reg + i] & ~m) | (data[i] & m));
	}
	if (touches(reg, len, PCI_COMMAND, 2) || touches(reg, len, PCI_BAR0, 4 * PCI_NUM_BARS))
		pci_update_bars(d);
	if (touches(reg, len, PCI_COMMAND, 2) && (pci_cfg_read16(d, PCI_COMMAND) & PCI_COMMAND_INTX_OFF))
		pci_intx(d, 0);
	if (d->msix && touches(reg, len, d->msix->cap + 2, 2))
		msix_control_written(d->msix);
}

static struct pci_dev *pci_find(struct pci_bus *pb, unsigned busnr, unsigned devfn)
{
	if (busnr != 0 || (devfn & 7) || devfn >> 3 >= PCI_MAX_SLOTS)
		return NULL;
	return pb->slots[devfn >> 3];
}

void pci_cfg_access(struct pci_bus *pb, unsigned busnr, unsigned devfn, unsigned reg, uint8_t *data, unsigned len,
		    bool is_write)
{
	struct pci_dev *d;

	pthread_mutex_lock(&pb->lock);
	d = pci_find(pb, busnr, devfn);
	if (d && d->window_fn && reg >= d->window_reg && reg - d->window_reg < d->window_len &&
	    len <= d->window_len - (reg - d->window_reg)) {
		/* The window reaches into a BAR whose handler may take locks of its own. */
		pthread_mutex_unlock(&pb->lock);
		d->window_fn(d, reg - d->window_reg, data, len, is_write);
		return;
	}
	if (!d || reg >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - reg) {
		if (!is_write)
			memset(data, 0xff, len);
	} else if (is_write) {
		pci_dev_cfg_write(d, reg, data, len);
	} else {
		memcpy(data, &d->cfg[reg], len);
	}
	pthread_mutex_unlock(&pb->lock);
}

static void pci_cf8_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct pci_bus *pb = opaque;

	/* Only dword accesses reach the address latch; 0xcfb byte writes are the old mechanism #2 switch. */
	if (off != 0 || len != 4) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&pb->lock);
	if (is_write)
		memcpy(&pb->cf8, data, 4);
	else
		memcpy(data, &pb->cf8, 4);
	pthread_mutex_unlock(&pb->lock);
}

static void pci_cfc_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct pci_bus *pb = opaque;
	uint32_t cf8;

	pthread_mutex_lock(&pb->lock);
	cf8 = pb->cf8;
	pthread_mutex_unlock(&pb->lock);
	if (!(cf8 & PCI_CF8_ENABLE) || off + len > 4) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pci_cfg_access(pb, (cf8 >> 16) & 0xff, (cf8 >> 8) & 0xff, (cf8 & 0xfc) + (unsigned)off, data, len, is_write);
}

static void pci_ecam_io(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct pci_bus *pb = opaque;
	unsigned reg = off & 0xfff;

	if (len > 4 || (reg & (len - 1))) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pci_cfg_access(pb, (unsigned)(off >> 20) & 0xff, (unsigned)(off >> 12) & 0xff, reg, data, len, is_write);
}

int pci_bus_init(struct pci_bus *pb, struct machine *m)
{
	int r;

	memset(pb, 0, sizeof(*pb));
	pb->m = m;
	pb->mmio_next = X86_PCI_MMIO_START;
	pthread_mutex_init(&pb->lock, NULL);
	pci_dev_init(&pb->host, "pci-host", PCI_HOST_VENDOR, PCI_HOST_DEVICE, 0x060000, 0, 0x1af4, 0x1100);
	wmask_put(&pb->host, PCI_COMMAND, 0, 2);
	wmask_put(&pb->host, PCI_INTERRUPT_LINE, 0, 1);
	pb->host.bus = pb;
	pb->slots[0] = &pb->host;

	r = bus_register(m->pio, PCI_CF8_PORT, 4, pci_cf8_io, pb, "pci-cf8");
	if (r)
		goto fail;
	pb->pio_registered = true;
	r = bus_register(m->pio, PCI_CFC_PORT, 4, pci_cfc_io, pb, "pci-cfc");
	if (r)
		goto fail;
	r = bus_register(m->mmio, X86_PCI_ECAM_START, X86_PCI_ECAM_SIZE, pci_ecam_io, pb, "pci-ecam");
	if (r)
		goto fail;
	pb->ecam_registered = true;
	return 0;
fail:
	pr_err("pci: cannot claim the configuration ports or ECAM: %s", strerror(-r));
	pci_bus_exit(pb);
	return r;
}

void pci_bus_exit(struct pci_bus *pb)
{
	if (!pb->m)
		return;
	for (unsigned s = 1; s < PCI_MAX_SLOTS; s++)
		if (pb->slots[s])
			pci_unregister(pb, pb->slots[s]);
	if (pb->pio_registered) {
		bus_unregister(pb->m->pio, PCI_CF8_PORT, pb);
		bus_unregister(pb->m->pio, PCI_CFC_PORT, pb);
	}
	if (pb->ecam_registered)
		bus_unregister(pb->m->mmio, X86_PCI_ECAM_START, pb);
	pthread_mutex_destroy(&pb->lock);
	pb->m = NULL;
}

static int pci_assign_bars(struct pci_bus *pb, struct pci_dev *d)
{
	uint64_t next = pb->mmio_next;

	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t size = d->bar[i].size, a;

		if (!size)
			continue;
		a = ALIGN_UP(next, size);
		if (a + size > X86_PCI_MMIO_START + X86_PCI_MMIO_SIZE) {
			pr_err("pci %s: the 32-bit MMIO window is full", d->name);
			return -ENOSPC;
		}
		cfg_put(d, PCI_BAR0 + 4 * i, (uint32_t)a, 4);
		next = a + size;
	}
	pb->mmio_next = next;
	return 0;
}

int pci_register(struct pci_bus *pb, struct pci_dev *d)
{
	unsigned slot;
	int r;

	pthread_mutex_lock(&pb->lock);
	for (slot = 1; slot < PCI_MAX_SLOTS && pb->slots[slot]; slot++)
		;
	if (slot == PCI_MAX_SLOTS) {
		pthread_mutex_unlock(&pb->lock);
		pr_err("pci %s: no free slot on bus 0", d->name);
		return -ENOSPC;
	}
	r = pci_assign_bars(pb, d);
	if (r) {
		pthread_mutex_unlock(&pb->lock);
		return r;
	}
	d->bus = pb;
	d->slot = slot;
	d->intx_gsi = pci_intx_gsi(slot, 0);
	d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)d->intx_gsi;
	d->cfg[PCI_INTERRUPT_PIN] = 1; /* INTA */
	d->cfg[PCI_COMMAND] |= PCI_COMMAND_MEMORY;
	pb->slots[slot] = d;
	pci_update_bars(d);
	pthread_mutex_unlock(&pb->lock);
	pr_debug("pci: 00:%02x.0 %s, INTA -> GSI %u", slot, d->name, d->intx_gsi);
	return 0;
}

void pci_unregister(struct pci_bus *pb, struct pci_dev *d)
{
	pthread_mutex_lock(&pb->lock);
	if (d->bus == pb && pb->slots[d->slot] == d) {
		d->cfg[PCI_COMMAND] &= (uint8_t)~PCI_COMMAND_MEMORY;
		pci_update_bars(d);
		pb->slots[d->slot] = NULL;
	}
	pthread_mutex_unlock(&pb->lock);
}

void pci_intx(struct pci_dev *d, int level)
{
	struct machine *m = d->bus->m;

	if (level && (pci_cfg_read16(d, PCI_COMMAND) & PCI_COMMAND_INTX_OFF))
		return;
	/* Device threads change this bit outside the bus lock. */
	if (level)
		__atomic_or_fetch(&d->cfg[PCI_STATUS], PCI_STATUS_INTX, __ATOMIC_RELAXED);
	else
		__atomic_and_fetch(&d->cfg[PCI_STATUS], (uint8_t)~PCI_STATUS_INTX, __ATOMIC_RELAXED);
	if (m->irq_line)
		m->irq_line(m, d->intx_gsi, level);
}
