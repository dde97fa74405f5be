/* SPDX-License-Identifier: MIT */
/*
 * Guest kit: PCI enumeration through ECAM and a small polling virtio 1.x
 * (modern, PCI) driver with split queues, used by the virtio_test guest to
 * drive virtio-blk, -rng and -console, and to hand the device broken chains
 * on purpose.  Everything runs in ring 3: the kit maps the first 4 GiB (ECAM
 * and the BAR window included) for ring 3 and virtual = physical, so static
 * buffers are their own DMA addresses.  No interrupts: completions are found
 * by polling the used ring.  (lib/virtio.h is the virtio-net guests' driver.)
 */
#ifndef KIT_VIRTIO_POLL_H
#define KIT_VIRTIO_POLL_H

#include "kit.h"

#define VPCI_ECAM_BASE 0xe0000000ul

#define VIRTIO_STATUS_ACK         1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

#define VQ_DESC_F_NEXT     1
#define VQ_DESC_F_WRITE    2
#define VQ_DESC_F_INDIRECT 4

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vq_used_elem {
	uint32_t id, len;
};

struct vpci {
	unsigned slot;
	uint16_t device_id;
	volatile uint8_t *cfg;      /* ECAM config space of the function */
	volatile uint8_t *common;
	volatile uint8_t *isr;
	volatile uint8_t *device;
	volatile uint8_t *notify;
	uint32_t notify_mult;
};

/* A split queue in a 16 KiB, 4 KiB-aligned area: desc at 0, avail at 4 KiB, used at 8 KiB. */
#define VQ_AREA_SIZE 0x4000
#define VQ_MAX_SIZE  128

struct vq {
	struct vpci *dev;
	unsigned index;
	uint16_t size;
	volatile struct vq_desc *desc;
	volatile uint16_t *avail;   /* flags, idx, ring[size], used_event */
	volatile uint8_t *used;     /* flags, idx, ring[size] of {id, len}, avail_event */
	volatile uint16_t *doorbell;
	uint16_t avail_idx, used_seen;
};

uint32_t vpci_cfg_read(const struct vpci *d, unsigned off, unsigned len);
void vpci_cfg_write(const struct vpci *d, unsigned off, uint32_t v, unsigned len);
/* Finds the n-th (from 0) function with vendor 0x1af4 and this device id; 0 on success. */
int vpci_find(uint16_t device_id, unsigned n, struct vpci *d);
/* Reset, ACK, DRIVER, features (VERSION_1 added), FEATURES_OK; returns the status read back. */
uint8_t vpci_init(struct vpci *d, uint64_t features);
uint64_t vpci_device_features(struct vpci *d);
void vpci_driver_ok(struct vpci *d);
uint8_t vpci_status(struct vpci *d);
void vpci_reset(struct vpci *d);

/* Sets queue `index` up in `area` (VQ_AREA_SIZE bytes, 4 KiB aligned) with `size` entries and enables it. */
int vq_setup(struct vpci *d, unsigned index, struct vq *q, void *area, uint16_t size);
void vq_set_desc(struct vq *q, unsigned i, const void *addr, uint32_t len, uint16_t flags, uint16_t next);
/* Makes chain `head` available and rings the doorbell. */
void vq_submit(struct vq *q, uint16_t head);
/* Polls for the next used element, up to timeout_ms; 0 on success, -1 on timeout. */
int vq_wait(struct vq *q, uint32_t *id, uint32_t *len, unsigned timeout_ms);

#endif
