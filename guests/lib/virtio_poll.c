// SPDX-License-Identifier: MIT
/* Guest kit: ECAM PCI enumeration and a polling virtio-pci modern driver. */
#include "virtio_poll.h"

#define PCI_CAP_ID_VNDR 0x09
#define VIRTIO_PCI_CAP_COMMON 1
#define VIRTIO_PCI_CAP_NOTIFY 2
#define VIRTIO_PCI_CAP_ISR    3
#define VIRTIO_PCI_CAP_DEVICE 4

/* Common configuration registers. */
#define C_DFSELECT 0x00
#define C_DF       0x04
#define C_GFSELECT 0x08
#define C_GF       0x0c
#define C_STATUS   0x14
#define C_QSELECT  0x16
#define C_QSIZE    0x18
#define C_QENABLE  0x1c
#define C_QNOFF    0x1e
#define C_QDESC    0x20
#define C_QDRIVER  0x28
#define C_QDEVICE  0x30

static void mb(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

static uint32_t mmio_read(volatile uint8_t *p, unsigned len)
{
	switch (len) {
	case 1:
		return *p;
	case 2:
		return *(volatile uint16_t *)p;
	default:
		return *(volatile uint32_t *)p;
	}
}

static void mmio_write(volatile uint8_t *p, uint32_t v, unsigned len)
{
	switch (len) {
	case 1:
		*p = (uint8_t)v;
		break;
	case 2:
		*(volatile uint16_t *)p = (uint16_t)v;
		break;
	default:
		*(volatile uint32_t *)p = v;
	}
}

uint32_t vpci_cfg_read(const struct vpci *d, unsigned off, unsigned len)
{
	return mmio_read(d->cfg + off, len);
}

void vpci_cfg_write(const struct vpci *d, unsigned off, uint32_t v, unsigned len)
{
	mmio_write(d->cfg + off, v, len);
}

static volatile uint8_t *bar_ptr(const struct vpci *d, unsigned bar, uint32_t off)
{
	uint32_t b = vpci_cfg_read(d, 0x10 + 4 * bar, 4) & ~0xfu;

	return (volatile uint8_t *)(uintptr_t)(b + off);
}

static void vpci_map_caps(struct vpci *d)
{
	unsigned cap = vpci_cfg_read(d, 0x34, 1), n = 0;

	while (cap && n++ < 48) {
		if (vpci_cfg_read(d, cap, 1) == PCI_CAP_ID_VNDR) {
			unsigned type = vpci_cfg_read(d, cap + 3, 1), bar = vpci_cfg_read(d, cap + 4, 1);
			volatile uint8_t *p = bar_ptr(d, bar, vpci_cfg_read(d, cap + 8, 4));

			if (type == VIRTIO_PCI_CAP_COMMON)
				d->common = p;
			else if (type == VIRTIO_PCI_CAP_ISR)
				d->isr = p;
			else if (type == VIRTIO_PCI_CAP_DEVICE)
				d->device = p;
			else if (type == VIRTIO_PCI_CAP_NOTIFY) {
				d->notify = p;
				d->notify_mult = vpci_cfg_read(d, cap + 16, 4);
			}
		}
		cap = vpci_cfg_read(d, cap + 1, 1);
	}
}

int vpci_find(uint16_t device_id, unsigned n, struct vpci *d)
{
	for (unsigned slot = 0; slot < 32; slot++) {
		memset(d, 0, sizeof(*d));
		d->slot = slot;
		d->cfg = (volatile uint8_t *)(VPCI_ECAM_BASE + ((uintptr_t)slot << 15));
		if (vpci_cfg_read(d, 0, 2) != 0x1af4 || vpci_cfg_read(d, 2, 2) != device_id)
			continue;
		if (n--)
			continue;
		d->device_id = device_id;
		/* Memory decoding and bus mastering on. */
		vpci_cfg_write(d, 4, vpci_cfg_read(d, 4, 2) | 0x6, 2);
		vpci_map_caps(d);
		return d->common && d->notify ? 0 : -1;
	}
	return -1;
}

uint8_t vpci_status(struct vpci *d)
{
	return (uint8_t)mmio_read(d->common + C_STATUS, 1);
}

void vpci_reset(struct vpci *d)
{
	mmio_write(d->common + C_STATUS, 0, 1);
	for (int i = 0; i < 100000 && vpci_status(d); i++)
		cpu_relax();
}

uint64_t vpci_device_features(struct vpci *d)
{
	uint64_t f;

	mmio_write(d->common + C_DFSELECT, 0, 4);
	f = mmio_read(d->common + C_DF, 4);
	mmio_write(d->common + C_DFSELECT, 1, 4);
	return f | (uint64_t)mmio_read(d->common + C_DF, 4) << 32;
}

uint8_t vpci_init(struct vpci *d, uint64_t features)
{
	features |= 1ull << VIRTIO_F_VERSION_1;
	vpci_reset(d);
	mmio_write(d->common + C_STATUS, VIRTIO_STATUS_ACK, 1);
	mmio_write(d->common + C_STATUS, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER, 1);
	mmio_write(d->common + C_GFSELECT, 0, 4);
	mmio_write(d->common + C_GF, (uint32_t)features, 4);
	mmio_write(d->common + C_GFSELECT, 1, 4);
	mmio_write(d->common + C_GF, (uint32_t)(features >> 32), 4);
	mmio_write(d->common + C_STATUS, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
	return vpci_status(d);
}

void vpci_driver_ok(struct vpci *d)
{
	mmio_write(d->common + C_STATUS,
		   VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK, 1);
}

static void write64(volatile uint8_t *p, uint64_t v)
{
	mmio_write(p, (uint32_t)v, 4);
	mmio_write(p + 4, (uint32_t)(v >> 32), 4);
}

int vq_setup(struct vpci *d, unsigned index, struct vq *q, void *area, uint16_t size)
{
	uintptr_t a = (uintptr_t)area;
	uint16_t max;

	mmio_write(d->common + C_QSELECT, index, 2);
	max = (uint16_t)mmio_read(d->common + C_QSIZE, 2);
	if (!max || size > max || size > VQ_MAX_SIZE)
		return -1;
	memset(area, 0, VQ_AREA_SIZE);
	q->dev = d;
	q->index = index;
	q->size = size;
	q->desc = (volatile struct vq_desc *)a;
	q->avail = (volatile uint16_t *)(a + 0x1000);
	q->used = (volatile uint8_t *)(a + 0x2000);
	q->avail_idx = q->used_seen = 0;
	q->doorbell = (volatile uint16_t *)(d->notify + mmio_read(d->common + C_QNOFF, 2) * d->notify_mult);
	mmio_write(d->common + C_QSIZE, size, 2);
	write64(d->common + C_QDESC, a);
	write64(d->common + C_QDRIVER, a + 0x1000);
	write64(d->common + C_QDEVICE, a + 0x2000);
	mmio_write(d->common + C_QENABLE, 1, 2);
	return 0;
}

void vq_set_desc(struct vq *q, unsigned i, const void *addr, uint32_t len, uint16_t flags, uint16_t next)
{
	q->desc[i].addr = (uint64_t)(uintptr_t)addr;
	q->desc[i].len = len;
	q->desc[i].flags = flags;
	q->desc[i].next = next;
}

void vq_submit(struct vq *q, uint16_t head)
{
	q->avail[2 + q->avail_idx % q->size] = head;
	q->avail_idx++;
	mb(); /* descriptors and ring entry before the index */
	q->avail[1] = q->avail_idx;
	mb();
	*q->doorbell = (uint16_t)q->index;
}

int vq_wait(struct vq *q, uint32_t *id, uint32_t *len, unsigned timeout_ms)
{
	uint64_t end = kit_rdtsc() + kit_tsc_hz() / 1000 * timeout_ms;
	volatile uint16_t *idx = (volatile uint16_t *)(q->used + 2);

	while (*idx == q->used_seen) {
		if (kit_rdtsc() > end)
			return -1;
		cpu_relax();
	}
	mb();
	{
		volatile struct vq_used_elem *e =
			(volatile struct vq_used_elem *)(q->used + 4) + q->used_seen % q->size;

		if (id)
			*id = e->id;
		if (len)
			*len = e->len;
	}
	q->used_seen++;
	return 0;
}
