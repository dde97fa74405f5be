// SPDX-License-Identifier: MIT
/* A polled virtio-net driver: 2 KiB buffers, one descriptor each, no offloads. */
#include "virtio_net.h"

#define F_MAC       (1ull << 5)
#define F_MRG_RXBUF (1ull << 15)
#define F_STATUS    (1ull << 16)

static uint8_t rx_ring[KIT_VQ_AREA] __attribute__((aligned(4096)));
static uint8_t tx_ring[KIT_VQ_AREA] __attribute__((aligned(4096)));
static uint8_t rx_bufs[KIT_NET_RXN][KIT_NET_BUF] __attribute__((aligned(4096)));
static uint8_t tx_bufs[KIT_NET_TXN][KIT_NET_BUF] __attribute__((aligned(4096)));

static void rx_post(struct kit_net *n, uint16_t id)
{
	kit_vq_set_desc(&n->rx, id, rx_bufs[id], KIT_NET_BUF, KIT_VIRTQ_F_WRITE, 0);
	kit_vq_add(&n->rx, id);
}

int kit_net_init(struct kit_net *n)
{
	int r;

	memset(n, 0, sizeof(*n));
	/* Mergeable buffers on purpose: num_buffers must come back as 1 for frames that fit. */
	r = kit_virtio_init(&n->v, KIT_VIRTIO_ID_NET, F_MAC | F_MRG_RXBUF | F_STATUS);
	if (r)
		return r;
	if (kit_virtio_queue(&n->v, &n->rx, 0, KIT_NET_RXN, rx_ring) ||
	    kit_virtio_queue(&n->v, &n->tx, 1, KIT_NET_TXN, tx_ring))
		return -5;
	for (unsigned int i = 0; i < 6; i++)
		n->mac[i] = (n->v.features & F_MAC) ? n->v.devcfg[i] : (uint8_t)(0x02 + i);
	kit_virtio_driver_ok(&n->v);
	for (uint16_t i = 0; i < n->rx.size; i++)
		rx_post(n, i);
	kit_vq_kick(&n->rx);
	for (uint16_t i = 0; i < n->tx.size; i++)
		n->tx_free[n->ntx_free++] = i;
	return 0;
}

bool kit_net_link_up(struct kit_net *n)
{
	if (!(n->v.features & F_STATUS))
		return true;
	return *(volatile uint16_t *)(n->v.devcfg + 6) & 1;
}

bool kit_net_mac_changed(struct kit_net *n)
{
	uint8_t mac[6];

	if (!(n->v.features & F_MAC))
		return false;
	for (unsigned int i = 0; i < 6; i++)
		mac[i] = *(volatile uint8_t *)(n->v.devcfg + i);
	if (!memcmp(mac, n->mac, 6))
		return false;
	memcpy(n->mac, mac, 6);
	return true;
}

uint8_t *kit_net_rx(struct kit_net *n, uint32_t *len, uint16_t *id)
{
	uint32_t i, l;

	while (kit_vq_used(&n->rx, &i, &l)) {
		uint16_t nbuf;

		if (i >= n->rx.size)
			continue; /* never happens with a sane device; the buffer is lost */
		memcpy(&nbuf, rx_bufs[i] + 10, 2);
		if (l < KIT_NET_HDR + 14 || l > KIT_NET_BUF || nbuf != 1) {
			kit_net_rx_done(n, (uint16_t)i);
			continue;
		}
		n->rx_packets++;
		*len = l - KIT_NET_HDR;
		*id = (uint16_t)i;
		return rx_bufs[i] + KIT_NET_HDR;
	}
	return NULL;
}

void kit_net_rx_done(struct kit_net *n, uint16_t id)
{
	rx_post(n, id);
	kit_vq_kick(&n->rx);
}

static void tx_reclaim(struct kit_net *n)
{
	uint32_t id, len;

	while (kit_vq_used(&n->tx, &id, &len))
		if (id < n->tx.size && n->ntx_free < KIT_NET_TXN)
			n->tx_free[n->ntx_free++] = (uint16_t)id;
}

bool kit_net_tx(struct kit_net *n, const void *frame, uint32_t len)
{
	uint16_t id;

	if (len > KIT_NET_BUF - KIT_NET_HDR)
		return false;
	for (unsigned int spin = 0; !n->ntx_free; spin++) {
		tx_reclaim(n);
		if (spin > 10000000) {
			n->tx_full++;
			return false;
		}
		cpu_relax();
	}
	id = n->tx_free[--n->ntx_free];
	memset(tx_bufs[id], 0, KIT_NET_HDR);
	memcpy(tx_bufs[id] + KIT_NET_HDR, frame, len);
	kit_vq_set_desc(&n->tx, id, tx_bufs[id], KIT_NET_HDR + len, 0, 0);
	kit_vq_add(&n->tx, id);
	kit_vq_kick(&n->tx);
	n->tx_packets++;
	tx_reclaim(n);
	return true;
}
