/* SPDX-License-Identifier: MIT */
#ifndef KITE_VIRTIO_NET_H
#define KITE_VIRTIO_NET_H

/*
 * virtio-net over a TAP device (src/backends/tap.c): one RX and one TX
 * queue, both served on the event loop thread.  The virtio-net header is
 * the TAP's vnet header, so checksum and TSO offloads cross unchanged; the
 * TAP's offloads follow what the guest negotiated.
 *
 * Back-pressure: a packet read from the TAP that finds no guest buffer is
 * kept and the TAP is no longer polled until the guest posts RX buffers; a
 * TAP that refuses a TX packet (EAGAIN) leaves the chain in the ring and
 * the device waits for EPOLLOUT.  No chain is ever held between two event
 * loop callbacks, so pause and reset never wait for the network.
 *
 * A TAP that disappears (ip link del) turns the link down (config
 * interrupt when STATUS was negotiated); TX is then dropped, the VM lives on.
 */

#include <stdbool.h>
#include <stdint.h>

#include <kite/virtio.h>

struct pci_bus;
struct machine;
struct net_config;
struct virtio_net;

#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU        3
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN  9
#define VIRTIO_NET_F_GUEST_UFO  10
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_HOST_ECN   13
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16
#define VIRTIO_NET_F_CTRL_VQ    17

#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_GSO_NONE  0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP   3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN   0x80

/* The virtio 1.x header that starts every packet in both directions. */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
#define VIRTIO_NET_QUEUE_SIZE 256
/* Device configuration: mac[6], status, max_virtqueue_pairs, mtu. */
#define VIRTIO_NET_CFG_MAC    0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_CFG_PAIRS  8
#define VIRTIO_NET_CFG_SIZE   12
/* Largest packet a TAP hands over: 64 KiB of GSO payload plus headers. */
#define VIRTIO_NET_MAX_PACKET (65536 + 256)

struct virtio_net_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped;
	uint64_t tx_packets, tx_bytes, tx_errors, tx_dropped;
	uint64_t rx_waits, tx_waits; /* back-pressure episodes */
};

/* What a snapshot keeps besides guest memory. */
struct virtio_net_state {
	struct virtio_state vio;
	uint8_t mac[6];
	uint16_t status;
	uint32_t offloads; /* TAP_OFF_* the negotiated features gave the TAP */
};

/*
 * Opens the TAP of `cfg` (by name or fd) and creates the PCI function; the
 * MAC is cfg's or, without one, virtio_net_default_mac(vm_name, index).
 */
int virtio_net_create(struct pci_bus *pci, struct machine *m, const struct net_config *cfg, const char *vm_name,
		      unsigned index, struct virtio_net **out);
/* The event loop must be stopped. */
void virtio_net_destroy(struct virtio_net *n);
void virtio_net_quiesce(struct virtio_net *n);
void virtio_net_resume(struct virtio_net *n);
struct virtio_dev *virtio_net_dev(struct virtio_net *n);
void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *s);
bool virtio_net_link_up(struct virtio_net *n);
const char *virtio_net_tap_name(struct virtio_net *n);
void virtio_net_mac(struct virtio_net *n, uint8_t mac[6]);

/*
 * Save needs a quiesced device; load re-applies the TAP offloads. Clones then set a new MAC.
 * virtio_net_load loads the transport too; virtio_net_load_dev only the net part (mac, status,
 * offloads), for src/state, where the transport has a section of its own and loads first:
 * -EINVAL when the offloads do not follow the loaded features.
 */
void virtio_net_save(struct virtio_net *n, struct virtio_net_state *s);
int virtio_net_load(struct virtio_net *n, const struct virtio_net_state *s);
int virtio_net_load_dev(struct virtio_net *n, const struct virtio_net_state *s);
/*
 * A new MAC in the configuration space (a clone).  The guest learns it only by
 * rereading the space: the generation moves, and with STATUS negotiated a
 * configuration interrupt is sent.  Linux's driver reads the MAC at probe only.
 */
void virtio_net_set_mac(struct virtio_net *n, const uint8_t mac[6]);

/* A locally administered unicast MAC from a hash of the VM name and NIC index: stable across restarts. */
void virtio_net_default_mac(const char *vm_name, unsigned index, uint8_t mac[6]);
/* "52:54:00:12:34:56" -> bytes; -EINVAL for bad syntax or a multicast address. */
int virtio_net_parse_mac(const char *s, uint8_t mac[6]);

#endif
