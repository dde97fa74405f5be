/* SPDX-License-Identifier: MIT */
/*
 * Guest-kit drivers for PCI (enumeration through ECAM, no I/O ports, so
 * ring 3 may use it) and modern virtio-pci (1.x) with split queues.  Used
 * by virtio_test (blk, rng, console, broken chains on purpose) and, through
 * virtio_net.h, by the net guest.  Everything runs in ring 3 with
 * virtual = physical, so static buffers are their own DMA addresses.
 * Polled: every queue asks the device for no interrupts (no MSI-X vector,
 * VIRTQ_AVAIL_F_NO_INTERRUPT) and completions are found in the used ring.
 * BARs are the ones the VMM assigned (kite and QEMU's -kernel boots both
 * do; no firmware runs).
 */
#ifndef KIT_VIRTIO_H
#define KIT_VIRTIO_H

#include "kit.h"

#define KIT_ECAM_BASE 0xe0000000ul

struct kit_pci_dev {
	unsigned int bus, slot;
	uint16_t vendor, device;
};

uint32_t kit_pci_read32(const struct kit_pci_dev *d, unsigned int reg);
void kit_pci_write32(const struct kit_pci_dev *d, unsigned int reg, uint32_t v);
/* The first function of bus 0 with these ids; false if none. */
bool kit_pci_find(uint16_t vendor, uint16_t device, struct kit_pci_dev *out);
/* Address of 32-bit memory BAR i (0 if unassigned or not memory). */
uint64_t kit_pci_bar(const struct kit_pci_dev *d, unsigned int i);

/* ---- virtio ---- */

/* Device types (PCI device id 0x1040 + type). */
#define KIT_VIRTIO_ID_NET     1
#define KIT_VIRTIO_ID_BLK     2
#define KIT_VIRTIO_ID_CONSOLE 3
#define KIT_VIRTIO_ID_RNG     4

#define KIT_VIRTIO_S_ACK         1
#define KIT_VIRTIO_S_DRIVER      2
#define KIT_VIRTIO_S_DRIVER_OK   4
#define KIT_VIRTIO_S_FEATURES_OK 8
#define KIT_VIRTIO_S_NEEDS_RESET 0x40

#define KIT_VIRTIO_F_INDIRECT_DESC 28
#define KIT_VIRTIO_F_VERSION_1     32

#define KIT_VIRTQ_F_NEXT     1
#define KIT_VIRTQ_F_WRITE    2
#define KIT_VIRTQ_F_INDIRECT 4

/* A queue's rings: desc at 0, avail at 4 KiB, used at 8 KiB of a 4 KiB-aligned area. */
#define KIT_VQ_MAX  256
#define KIT_VQ_AREA 0x3000

struct kit_vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct kit_vq {
	uint16_t size, index;
	uint16_t avail_idx, used_seen;
	struct kit_vq_desc *desc;
	volatile uint16_t *avail;   /* flags, idx, ring[size] */
	volatile uint32_t *used;    /* flags|idx, then (id, len) pairs */
	volatile uint16_t *notify;
};

struct kit_virtio {
	struct kit_pci_dev pci;
	volatile uint8_t *common, *isr, *devcfg;
	volatile uint8_t *notify_base;
	uint32_t notify_mult;
	uint64_t features;
};

/*
 * Finds device type `type` (KIT_VIRTIO_ID_*), resets it and negotiates
 * `wanted` & offered (VERSION_1 required).  0, or -1 no such (modern)
 * device, -2 the reset did not finish, -3 no VERSION_1, -4 FEATURES_OK
 * refused (kit_virtio_status() tells what the device says).
 */
int kit_virtio_init(struct kit_virtio *v, unsigned int type, uint64_t wanted);
/*
 * Sets up and enables queue qi with `size` entries (cut to the device's
 * maximum and KIT_VQ_MAX) in `mem`: KIT_VQ_AREA bytes, 4 KiB aligned, zeroed
 * by the call.
 */
int kit_virtio_queue(struct kit_virtio *v, struct kit_vq *q, unsigned int qi, unsigned int size, void *mem);
void kit_virtio_driver_ok(struct kit_virtio *v);
uint8_t kit_virtio_status(struct kit_virtio *v);

void kit_vq_set_desc(struct kit_vq *q, uint16_t i, const void *addr, uint32_t len, uint16_t flags, uint16_t next);
/* Makes descriptor chain `head` available (does not notify: several may go in one kick). */
void kit_vq_add(struct kit_vq *q, uint16_t head);
void kit_vq_kick(struct kit_vq *q);
/* Next used element: true with id/len filled, false if none. */
bool kit_vq_used(struct kit_vq *q, uint32_t *id, uint32_t *len);
/* Polls for the next used element up to timeout_ms; 0, or -1 on timeout.  id and len may be NULL. */
int kit_vq_wait(struct kit_vq *q, uint32_t *id, uint32_t *len, unsigned int timeout_ms);

#endif
