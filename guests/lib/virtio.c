// SPDX-License-Identifier: MIT
/* Modern virtio-pci (1.x): capabilities, feature negotiation, split queues, polled. */
#include "virtio.h"

#define barrier() __asm__ volatile("" ::: "memory")

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

#define S_ACK       1
#define S_DRIVER    2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8

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

		if ((h & 0xff) == 0x09 && bar < 6 && (base = kit_pci_bar(&v->pci, bar))) {
			volatile uint8_t *p = (volatile uint8_t *)(base + off);

			if (type == 1)
				v->common = p;
			else if (type == 2) {
				v->notify_base = p;
				v->notify_mult = kit_pci_read32(&v->pci, cap + 16);
			} else if (type == 3)
				v->isr = p;
			else if (type == 4)
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

int kit_virtio_init(struct kit_virtio *v, unsigned int type, uint64_t wanted)
{
	uint64_t offered;

	memset(v, 0, sizeof(*v));
	if (!kit_pci_find(0x1af4, (uint16_t)(0x1040 + type), &v->pci))
		return -1;
	/* Memory decoding and bus mastering on; the status half is write-1-to-clear, so 0 there. */
	kit_pci_write32(&v->pci, 0x04, (kit_pci_read32(&v->pci, 0x04) & 0xffff) | 0x6);
	if (virtio_caps(v))
		return -2;
	w8(v->common, C_STATUS, 0);
	while (r8(v->common, C_STATUS))
		cpu_relax();
	w8(v->common, C_STATUS, S_ACK | S_DRIVER);
	w32(v->common, C_DFSELECT, 0);
	offered = r32(v->common, C_DF);
	w32(v->common, C_DFSELECT, 1);
	offered |= (uint64_t)r32(v->common, C_DF) << 32;
	if (!(offered & (1ull << 32)))
		return -3; /* VERSION_1 */
	v->features = (wanted | 1ull << 32) & offered;
	w32(v->common, C_GFSELECT, 0);
	w32(v->common, C_GF, (uint32_t)v->features);
	w32(v->common, C_GFSELECT, 1);
	w32(v->common, C_GF, (uint32_t)(v->features >> 32));
	w8(v->common, C_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(r8(v->common, C_STATUS) & S_FEATURES_OK))
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
	memset(m, 0, 0x3000);
	memset(q, 0, sizeof(*q));
	q->size = (uint16_t)size;
	q->index = (uint16_t)qi;
	q->desc = (struct kit_vq_desc *)m;
	q->avail = (volatile uint16_t *)(m + 0x1000);
	q->used = (volatile uint32_t *)(m + 0x2000);
	q->notify = (volatile uint16_t *)(v->notify_base + (uint64_t)r16(v->common, C_QNOFF) * v->notify_mult);
	q->avail[0] = 1; /* VIRTQ_AVAIL_F_NO_INTERRUPT: we poll */
	w16(v->common, C_QSIZE, q->size);
	w16(v->common, C_QMSIX, 0xffff);
	w64(v->common, C_QDESC, (uint64_t)(uintptr_t)q->desc);
	w64(v->common, C_QDRIVER, (uint64_t)(uintptr_t)q->avail);
	w64(v->common, C_QDEVICE, (uint64_t)(uintptr_t)q->used);
	w16(v->common, C_QENABLE, 1);
	return 0;
}

void kit_virtio_driver_ok(struct kit_virtio *v)
{
	w8(v->common, C_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
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
