/* SPDX-License-Identifier: MIT */
/*
 * Guest-kit drivers for PCI (enumeration through ECAM, no I/O ports, so
 * ring 3 may use it) and modern virtio-pci with split queues, polled from
 * ring 3: no interrupts (the driver asks for none).  BARs are the ones the
 * VMM assigned (kite and QEMU's -kernel boots both do; no firmware runs).
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

#define KIT_VQ_MAX 256

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

#define KIT_VIRTQ_F_NEXT  1
#define KIT_VIRTQ_F_WRITE 2

/* Finds device type `type` (0x1040 + type), resets it, negotiates `wanted` & offered (VERSION_1 required). */
int kit_virtio_init(struct kit_virtio *v, unsigned int type, uint64_t wanted);
/* Sets up queue qi with rings in `mem` (16 KiB aligned to 4 KiB, zeroed by the call); size <= KIT_VQ_MAX. */
int kit_virtio_queue(struct kit_virtio *v, struct kit_vq *q, unsigned int qi, unsigned int size, void *mem);
void kit_virtio_driver_ok(struct kit_virtio *v);
uint8_t kit_virtio_status(struct kit_virtio *v);
/* Makes descriptor chain `head` available (does not notify). */
void kit_vq_add(struct kit_vq *q, uint16_t head);
void kit_vq_kick(struct kit_vq *q);
/* Next used element: true with id/len filled, false if none. */
bool kit_vq_used(struct kit_vq *q, uint32_t *id, uint32_t *len);

/* ---- virtio-net ---- */

#define KIT_NET_BUF   2048
#define KIT_NET_RXN   128
#define KIT_NET_TXN   128
#define KIT_NET_HDR   12

struct kit_net {
	struct kit_virtio v;
	struct kit_vq rx, tx;
	uint8_t mac[6];
	uint16_t tx_free[KIT_NET_TXN];
	unsigned int ntx_free;
	uint64_t rx_packets, tx_packets, tx_full;
};

int kit_net_init(struct kit_net *n);
/* A received frame (no virtio header) or NULL; give it back with kit_net_rx_done. */
uint8_t *kit_net_rx(struct kit_net *n, uint32_t *len, uint16_t *id);
void kit_net_rx_done(struct kit_net *n, uint16_t id);
/* Copies and sends one frame; false if the TX ring stayed full. */
bool kit_net_tx(struct kit_net *n, const void *frame, uint32_t len);
bool kit_net_link_up(struct kit_net *n);
/* Rereads the MAC from the configuration space (a restored clone gets a new one); true when it changed. */
bool kit_net_mac_changed(struct kit_net *n);

#endif
