/* SPDX-License-Identifier: MIT */
/* Guest kit: a polled virtio-net driver on lib/virtio.h; 2 KiB buffers, one descriptor each, no offloads. */
#ifndef KIT_VIRTIO_NET_H
#define KIT_VIRTIO_NET_H

#include "virtio.h"

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
