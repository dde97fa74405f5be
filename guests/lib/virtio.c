// SPDX-License-Identifier: MIT
/* Modern virtio-pci (1.x): capabilities, feature negotiation, split queues, polled. */
#include "virtio.h"

#define barrier() __asm__ volatile("" ::: "memory")

#define PCI_CAP_ID_VNDR       0x09
#define VIRTIO_PCI_CAP_COMMON 1
#define VIRTIO_PCI_CAP_NOTIFY 2
#define VIRTIO_PCI_CAP_ISR    3
#define VIRTIO_PCI_CAP_DEVICE 4

/* Common configuration offsets (virtio 1.x, 4.1.4.3). */
#define C_DFSELECT 0x00
#define C_DF       0x04
#define C_GFSELECT 0x08
#define C_GF       0x0c
#define C_STATUS   0x14
#define C_QSELECT  0x16
#define C_QSIZE    0x18
#define C_QMSIX    0x1a
#define C_QENABLE  0x1c
#define C_QNOFF    0x1e
#define C_QDESC    0x20
#define C_QDRIVER  0x28
#define C_QDEVICE  0x30

#define NO_VECTOR              0xffff
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
/* Bounds a reset that never reads back 0 (a broken device must not hang the guest). */
#define RESET_SPINS 100000

static inline void w8(volatile uint8_t *b, unsigned int off, uint8_t v) { *(volatile uint8_t *)(b + off) = v; }
static inline void w16(volatile uint8_t *b, unsigned int off, uint16_t v) { *(volatile uint16_t *)(b + off) = v; }
static inline void w32(volatile uint8_t *b, unsigned int off, uint32_t v) { *(volatile uint32_t *)(b + off) = v; }
static inline uint8_t r8(volatile uint8_t *b, unsigned int off) { return *(volatile uint8_t *)(b + off); }
static inline uint16_t r16(volatile uint8_t *b, unsigned int off) { return *(volatile uint16_t *)(b + off); }
static inline uint32_t r32(volatile uint8_t *b, unsigned int off) { return *(volatile uint32_t *)(b + off); }

static void w64(volatile uint8_t *b, unsigned int off, uint64_t v)
{
	w32(b, off, (uint32_t)v);
	w32(b, off + 4, (uint32_t)(v >> 32));
}

/* Walks the vendor capabilities for the four structures we use. */
static int virtio_caps(struct kit_virtio *v)
{
	unsigned int cap = kit_pci_read32(&v->pci, 0x34) & 0xfc;

	for (unsigned int n = 0; cap && n < 48; n++) {
		uint32_t h = kit_pci_read32(&v->pci, cap);
		uint8_t type = (uint8_t)(h >> 24), bar = (uint8_t)kit_pci_read32(&v->pci, cap + 4);
		uint32_t off = kit_pci_read32(&v->pci, cap + 8);
		uint64_t base;

		if ((h & 0xff) == PCI_CAP_ID_VNDR && bar < 6 && (base = kit_pci_bar(&v->pci, bar))) {
			volatile uint8_t *p = (volatile uint8_t *)(base + off);

			if (type == VIRTIO_PCI_CAP_COMMON)
				v->common = p;
			else if (type == VIRTIO_PCI_CAP_NOTIFY) {
				v->notify_base = p;
				v->notify_mult = kit_pci_read32(&v->pci, cap + 16);
			} else if (type == VIRTIO_PCI_CAP_ISR)
				v->isr = p;
			else if (type == VIRTIO_PCI_CAP_DEVICE)
				v->devcfg = p;
		}
		cap = (h >> 8) & 0xfc;
	}
	return v->common && v->notify_base && v->isr ? 0 : -1;
}

uint8_t kit_virtio_status(struct kit_virtio *v)
{
	return r8(v->common, C_STATUS);
}

static int virtio_reset(struct kit_virtio *v)
{
	w8(v->common, C_STATUS, 0);
	for (unsigned int i = 0; kit_virtio_status(v); i++) {
		if (i == RESET_SPINS)
			return -1;
		cpu_relax();
	}
	return 0;
}

static uint64_t virtio_offered(struct kit_virtio *v)
{
	uint64_t f;

	w32(v->common, C_DFSELECT, 0);
	f = r32(v->common, C_DF);
	w32(v->common, C_DFSELECT, 1);
	return f | (uint64_t)r32(v->common, C_DF) << 32;
}

int kit_virtio_init(struct kit_virtio *v, unsigned int type, uint64_t wanted)
{
	uint64_t offered;

	memset(v, 0, sizeof(*v));
	if (!kit_pci_find(0x1af4, (uint16_t)(0x1040 + type), &v->pci))
		return -1;
	/* Memory decoding and bus mastering on; the status half is write-1-to-clear, so 0 there. */
	kit_pci_write32(&v->pci, 0x04, (kit_pci_read32(&v->pci, 0x04) & 0xffff) | 0x6);
	if (virtio_caps(v))
		return -1;
	if (virtio_reset(v))
		return -2;
	w8(v->common, C_STATUS, KIT_VIRTIO_S_ACK);
	w8(v->common, C_STATUS, KIT_VIRTIO_S_ACK | KIT_VIRTIO_S_DRIVER);
	offered = virtio_offered(v);
	if (!(offered & 1ull << KIT_VIRTIO_F_VERSION_1))
		return -3;
	v->features = (wanted | 1ull << KIT_VIRTIO_F_VERSION_1) & offered;
	w32(v->common, C_GFSELECT, 0);
	w32(v->common, C_GF, (uint32_t)v->features);
	w32(v->common, C_GFSELECT, 1);
	w32(v->common, C_GF, (uint32_t)(v->features >> 32));
	w8(v->common, C_STATUS, KIT_VIRTIO_S_ACK | KIT_VIRTIO_S_DRIVER | KIT_VIRTIO_S_FEATURES_OK);
	if (!(kit_virtio_status(v) & KIT_VIRTIO_S_FEATURES_OK))
		return -4;
	return 0;
}

int kit_virtio_queue(struct kit_virtio *v, struct kit_vq *q, unsigned int qi, unsigned int size, void *mem)
{
	uint8_t *m = mem;
	uint16_t max;

	w16(v->common, C_QSELECT, (uint16_t)qi);
	max = r16(v->common, C_QSIZE);
	if (!max)
		return -1;
	if (size > max)
		size = max;
	if (size > KIT_VQ_MAX)
		size = KIT_VQ_MAX;
	memset(m, 0, KIT_VQ_AREA);
	memset(q, 0, sizeof(*q));
	q->size = (uint16_t)size;
	q->index = (uint16_t)qi;
	q->desc = (struct kit_vq_desc *)m;
	q->avail = (volatile uint16_t *)(m + 0x1000);
	q->used = (volatile uint32_t *)(m + 0x2000);
	q->notify = (volatile uint16_t *)(v->notify_base + (uint64_t)r16(v->common, C_QNOFF) * v->notify_mult);
	q->avail[0] = VIRTQ_AVAIL_F_NO_INTERRUPT; /* we poll */
	w16(v->common, C_QSIZE, q->size);
	w16(v->common, C_QMSIX, NO_VECTOR);
	w64(v->common, C_QDESC, (uint64_t)(uintptr_t)q->desc);
	w64(v->common, C_QDRIVER, (uint64_t)(uintptr_t)q->avail);
	w64(v->common, C_QDEVICE, (uint64_t)(uintptr_t)q->used);
	w16(v->common, C_QENABLE, 1);
	return 0;
}

void kit_virtio_driver_ok(struct kit_virtio *v)
{
	w8(v->common, C_STATUS,
	   KIT_VIRTIO_S_ACK | KIT_VIRTIO_S_DRIVER | KIT_VIRTIO_S_FEATURES_OK | KIT_VIRTIO_S_DRIVER_OK);
}

void kit_vq_set_desc(struct kit_vq *q, uint16_t i, const void *addr, uint32_t len, uint16_t flags, uint16_t next)
{
	q->desc[i] = (struct kit_vq_desc){ (uint64_t)(uintptr_t)addr, len, flags, next };
}

void kit_vq_add(struct kit_vq *q, uint16_t head)
{
	q->avail[2 + q->avail_idx % q->size] = head;
	barrier(); /* x86 keeps stores in order; the compiler must too */
	q->avail_idx++;
	q->avail[1] = q->avail_idx;
}

void kit_vq_kick(struct kit_vq *q)
{
	__asm__ volatile("mfence" ::: "memory");
	*q->notify = q->index;
}

bool kit_vq_used(struct kit_vq *q, uint32_t *id, uint32_t *len)
{
	uint16_t idx = ((volatile uint16_t *)q->used)[1];
	unsigned int slot;

	if (idx == q->used_seen)
		return false;
	barrier();
	slot = q->used_seen % q->size;
	*id = q->used[1 + 2 * slot];
	*len = q->used[2 + 2 * slot];
	q->used_seen++;
	return true;
}

int kit_vq_wait(struct kit_vq *q, uint32_t *id, uint32_t *len, unsigned int timeout_ms)
{
	uint64_t end = kit_rdtsc() + kit_tsc_hz() / 1000 * timeout_ms;
	uint32_t i, l;

	while (!kit_vq_used(q, &i, &l)) {
		if (kit_rdtsc() > end)
			return -1;
		cpu_relax();
	}
	if (id)
		*id = i;
	if (len)
		*len = l;
	return 0;
}
