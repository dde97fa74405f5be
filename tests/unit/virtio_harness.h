/* SPDX-License-Identifier: MIT */
/*
 * A host-side "guest" for virtio device models: guest memory in a gmem, the
 * PIO/MMIO buses, an event loop on its own thread, and a driver that speaks
 * PCI config (0xcf8/0xcfc) and the virtio-pci modern registers through bus
 * accesses, exactly as a vCPU's exits would.  Interrupts arrive through the
 * machine's msi()/irq_line() callbacks.  Used by the unit tests and by
 * bench/virtio-blk.
 */
#ifndef VIRTIO_HARNESS_H
#define VIRTIO_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kite/bus.h>
#include <kite/event.h>
#include <kite/gmem.h>
#include <kite/machine.h>
#include <kite/pci.h>
#include <kite/util.h>
#include <kite/virtio.h>
#include <kite/virtq.h>

#define VH_MEM_SIZE  (32 * MiB)
#define VH_QBASE     0x10000ull  /* queue i rings at VH_QBASE + i * 0x10000 */
#define VH_INDIRECT  0x100000ull /* indirect tables */
#define VH_DATA      0x200000ull /* data buffers */

struct vh {
	struct gmem mem;
	struct bus pio, mmio;
	struct event_loop *loop;
	pthread_t loop_thread;
	bool loop_running;
	struct machine m;
	struct pci_bus pci;
	/* Interrupts seen. */
	uint64_t msis, irq_raises;
	int irq_level[24];
	uint64_t last_msi_addr;
	uint32_t last_msi_data;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* The device under test. */
	unsigned slot;
	uint64_t bar;
	uint16_t qsize[VIRTIO_MAX_QUEUES];
	uint16_t avail_idx[VIRTIO_MAX_QUEUES];
	uint16_t used_seen[VIRTIO_MAX_QUEUES];
};

static inline int vh_irq_line(struct machine *m, unsigned gsi, int level)
{
	struct vh *h = m->opaque;

	pthread_mutex_lock(&h->lock);
	if (gsi < 24) {
		if (level && !h->irq_level[gsi])
			h->irq_raises++;
		h->irq_level[gsi] = level;
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static inline int vh_msi(struct machine *m, uint64_t addr, uint32_t data)
{
	struct vh *h = m->opaque;

	pthread_mutex_lock(&h->lock);
	h->msis++;
	h->last_msi_addr = addr;
	h->last_msi_data = data;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static inline void vh_request_stop(struct machine *m, enum stop_reason why, int status, const char *detail)
{
}

static inline void *vh_loop_main(void *opaque)
{
	event_loop_run(opaque);
	return NULL;
}

static inline int vh_init(struct vh *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (gmem_map(&h->mem, VH_MEM_SIZE, false) || gmem_add_region(&h->mem, 0, VH_MEM_SIZE))
		return -1;
	bus_init(&h->pio, "pio");
	bus_init(&h->mmio, "mmio");
	h->loop = event_loop_new();
	if (!h->loop)
		return -1;
	h->m = (struct machine){
		.mem = &h->mem,
		.pio = &h->pio,
		.mmio = &h->mmio,
		.loop = h->loop,
		.ncpus = 1,
		.irq_line = vh_irq_line,
		.msi = vh_msi,
		.request_stop = vh_request_stop,
		.opaque = h,
	};
	return pci_bus_init(&h->pci, &h->m);
}

static inline void vh_start(struct vh *h)
{
	pthread_create(&h->loop_thread, NULL, vh_loop_main, h->loop);
	h->loop_running = true;
}

static inline void vh_stop(struct vh *h)
{
	if (!h->loop_running)
		return;
	event_loop_stop(h->loop);
	pthread_join(h->loop_thread, NULL);
	h->loop_running = false;
}

/* Devices must be destroyed between vh_stop and vh_exit. */
static inline void vh_exit(struct vh *h)
{
	vh_stop(h);
	pci_bus_exit(&h->pci);
	event_loop_free(h->loop);
	bus_exit(&h->pio);
	bus_exit(&h->mmio);
	gmem_unmap(&h->mem);
}

/* ---- PCI config through 0xcf8/0xcfc ---- */

static inline uint32_t vh_cfg_read(struct vh *h, unsigned slot, unsigned reg, unsigned len)
{
	uint32_t a = 0x80000000u | slot << 11 | (reg & 0xfc), v = 0;

	bus_access(&h->pio, 0xcf8, (uint8_t *)&a, 4, true);
	bus_access(&h->pio, 0xcfc + (reg & 3), (uint8_t *)&v, len, false);
	return v;
}

static inline void vh_cfg_write(struct vh *h, unsigned slot, unsigned reg, uint32_t v, unsigned len)
{
	uint32_t a = 0x80000000u | slot << 11 | (reg & 0xfc);

	bus_access(&h->pio, 0xcf8, (uint8_t *)&a, 4, true);
	bus_access(&h->pio, 0xcfc + (reg & 3), (uint8_t *)&v, len, true);
}

/* ---- MMIO ---- */

static inline uint64_t vh_rd(struct vh *h, uint64_t off, unsigned len)
{
	uint64_t v = 0;

	bus_access(&h->mmio, h->bar + off, (uint8_t *)&v, len, false);
	return v;
}

static inline void vh_wr(struct vh *h, uint64_t off, uint64_t v, unsigned len)
{
	bus_access(&h->mmio, h->bar + off, (uint8_t *)&v, len, true);
}

static inline uint8_t vh_status(struct vh *h)
{
	return (uint8_t)vh_rd(h, VIRTIO_COMMON_STATUS, 1);
}

/* Finds the first virtio device of `type` on bus 0; 0 on success. */
static inline int vh_find(struct vh *h, unsigned type)
{
	for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
		if (vh_cfg_read(h, s, 0, 4) == (uint32_t)(0x1af4 | (0x1040 + type) << 16)) {
			h->slot = s;
			h->bar = vh_cfg_read(h, s, PCI_BAR0, 4) & ~0xfull;
			return 0;
		}
	}
	return -1;
}

/* Enables MSI-X with vector i -> data 0x40+i, all unmasked. */
static inline void vh_enable_msix(struct vh *h, unsigned nvec)
{
	unsigned cap = vh_cfg_read(h, h->slot, PCI_CAP_PTR, 1);

	while (cap && vh_cfg_read(h, h->slot, cap, 1) != PCI_CAP_ID_MSIX)
		cap = vh_cfg_read(h, h->slot, cap + 1, 1);
	for (unsigned i = 0; i < nvec; i++) {
		uint64_t e = VIRTIO_MSIX_TABLE_OFF + 16 * i;

		vh_wr(h, e, 0xfee00000, 4);
		vh_wr(h, e + 4, 0, 4);
		vh_wr(h, e + 8, 0x40 + i, 4);
		vh_wr(h, e + 12, 0, 4);
	}
	vh_cfg_write(h, h->slot, cap + 2, MSIX_CTRL_ENABLE, 2);
}

static inline uint64_t vh_qaddr(unsigned qi)
{
	return VH_QBASE + (uint64_t)qi * 0x10000;
}

static inline struct virtq_desc *vh_desc(struct vh *h, unsigned qi)
{
	return gmem_ptr(&h->mem, vh_qaddr(qi), 16ull * h->qsize[qi]);
}

static inline struct virtq_avail *vh_avail(struct vh *h, unsigned qi)
{
	return gmem_ptr(&h->mem, vh_qaddr(qi) + 0x4000, 6 + 2ull * h->qsize[qi]);
}

static inline struct virtq_used *vh_used(struct vh *h, unsigned qi)
{
	return gmem_ptr(&h->mem, vh_qaddr(qi) + 0x8000, 6 + 8ull * h->qsize[qi]);
}

/*
 * Resets and initialises the device with `features` (VERSION_1 is added
 * unless `raw`), sets up `nq` queues of `qsize`; returns the final status.
 */
static inline uint8_t vh_setup(struct vh *h, uint64_t features, unsigned nq, uint16_t qsize, bool msix)
{
	vh_wr(h, VIRTIO_COMMON_STATUS, 0, 1);
	vh_wr(h, VIRTIO_COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	vh_wr(h, VIRTIO_COMMON_GFSELECT, 0, 4);
	vh_wr(h, VIRTIO_COMMON_GF, (uint32_t)features, 4);
	vh_wr(h, VIRTIO_COMMON_GFSELECT, 1, 4);
	vh_wr(h, VIRTIO_COMMON_GF, (uint32_t)(features >> 32), 4);
	vh_wr(h, VIRTIO_COMMON_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK,
	      1);
	if (!(vh_status(h) & VIRTIO_STATUS_FEATURES_OK))
		return vh_status(h);
	if (msix) {
		vh_enable_msix(h, nq + 1);
		vh_wr(h, VIRTIO_COMMON_MSIX, 0, 2);
	}
	for (unsigned qi = 0; qi < nq; qi++) {
		uint64_t a = vh_qaddr(qi);

		memset(gmem_ptr(&h->mem, a, 0x10000), 0, 0x10000);
		h->qsize[qi] = qsize;
		h->avail_idx[qi] = 0;
		h->used_seen[qi] = 0;
		vh_wr(h, VIRTIO_COMMON_Q_SELECT, qi, 2);
		vh_wr(h, VIRTIO_COMMON_Q_SIZE, qsize, 2);
		vh_wr(h, VIRTIO_COMMON_Q_DESC, a, 4);
		vh_wr(h, VIRTIO_COMMON_Q_DESC + 4, a >> 32, 4);
		vh_wr(h, VIRTIO_COMMON_Q_DRIVER, a + 0x4000, 8);
		vh_wr(h, VIRTIO_COMMON_Q_DEVICE, a + 0x8000, 8);
		if (msix)
			vh_wr(h, VIRTIO_COMMON_Q_MSIX, qi + 1, 2);
		vh_wr(h, VIRTIO_COMMON_Q_ENABLE, 1, 2);
	}
	vh_wr(h, VIRTIO_COMMON_STATUS,
	      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK, 1);
	return vh_status(h);
}

/* Writes descriptor i of queue qi. */
static inline void vh_set_desc(struct vh *h, unsigned qi, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
			       uint16_t next)
{
	vh_desc(h, qi)[i] = (struct virtq_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

/* Makes chain `head` available and rings the doorbell. */
static inline void vh_submit(struct vh *h, unsigned qi, uint16_t head)
{
	struct virtq_avail *a = vh_avail(h, qi);

	a->ring[h->avail_idx[qi] % h->qsize[qi]] = head;
	h->avail_idx[qi]++;
	__atomic_store_n(&a->idx, h->avail_idx[qi], __ATOMIC_RELEASE);
	vh_wr(h, VIRTIO_NOTIFY_OFF + VIRTIO_NOTIFY_MULT * qi, qi, 2);
}

/* Waits (bounded: 10 s, then fails) until the used index reaches `want`. */
static inline bool vh_wait_used(struct vh *h, unsigned qi, uint16_t want)
{
	struct virtq_used *u = vh_used(h, qi);

	for (int i = 0; i < 200000; i++) {
		if ((uint16_t)(__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) - want) < 0x8000)
			return true;
		usleep(50);
	}
	return false;
}

/* Waits for the status to show NEEDS_RESET (bounded). */
static inline bool vh_wait_status(struct vh *h, uint8_t bits)
{
	for (int i = 0; i < 200000; i++) {
		if ((vh_status(h) & bits) == bits)
			return true;
		usleep(50);
	}
	return false;
}

static inline void *vh_ptr(struct vh *h, uint64_t gpa, uint64_t len)
{
	return gmem_ptr(&h->mem, gpa, len);
}

#endif
