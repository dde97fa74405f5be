// SPDX-License-Identifier: MIT
/* virtio-net over a TAP device (see include/kite/virtio_net.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <kite/config.h>
#include <kite/event.h>
#include <kite/log.h>
#include <kite/machine.h>
#include <kite/tap.h>
#include <kite/util.h>
#include <kite/virtio.h>
#include <kite/virtio_net.h>

#define F(bit) (1ull << (bit))
#define NET_FEATURES                                                                                           \
	(F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_GUEST_TSO4) | \
	 F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN) | F(VIRTIO_NET_F_HOST_TSO4) |                   \
	 F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_MRG_RXBUF) |                     \
	 F(VIRTIO_NET_F_STATUS))

#define HDR_LEN        TAP_VNET_HDR_LEN
#define MIN_FRAME      14          /* an Ethernet header */
#define TX_IOV_CAP     256
#define RX_MAX_CHAINS  VIRTIO_NET_QUEUE_SIZE
#define RX_IOV_POOL    4096
#define RX_CHAIN_IOVS  256         /* room left before one more chain may be popped */
#define RX_READ_IOVS   64          /* chain 0 read into directly when it has at most this many buffers */
#define BUDGET         256         /* packets per callback, so RX and TX take turns */
#define TX_BATCH       32          /* TX chains popped and completed together */
#define RX_BATCH       64          /* RX chains completed together (one used index, one interrupt) */

struct virtio_net {
	struct virtio_dev vdev;
	struct tap tap;
	bool tap_added;     /* tap fd is in the event loop */
	uint32_t poll_mask; /* what the loop watches the tap fd for */
	bool link_gone;     /* the interface was deleted under us */
	/* Device config; guarded by vdev.lock. */
	uint8_t mac[6];
	uint16_t status;
	unsigned reset_gen; /* bumped by each reset, so a stashed packet from before is dropped */

	/* RX (loop thread): one packet read from the TAP that no guest buffer took yet. */
	uint8_t *rxbuf;
	size_t rx_len;
	unsigned rx_gen;
	bool rx_wait;       /* waiting for the guest to post RX buffers */
	unsigned rx_direct; /* chains holding the packet's start already (rx_read) */
	bool rx_big;        /* the last packet needed more than one chain: read into several */
	struct virtq_elem rxe[RX_MAX_CHAINS];
	uint32_t rxlen[RX_MAX_CHAINS];
	struct iovec rxiov[RX_IOV_POOL];

	/* RX chains filled but not yet given back (rx_complete publishes them). */
	struct virtq_used_elem rxdone[VIRTIO_NET_QUEUE_SIZE];
	unsigned rx_ndone;

	/* TX (loop thread). */
	bool tx_wait;       /* the TAP said EAGAIN: waiting for EPOLLOUT */
	struct virtq_elem txe[TX_BATCH];
	struct virtq_elem *txp[TX_BATCH];
	struct virtq_used_elem txdone[TX_BATCH];
	struct iovec txiov[TX_BATCH][TX_IOV_CAP];

	struct virtio_net_stats st;
	struct ratelimit rl;
};

struct virtio_dev *virtio_net_dev(struct virtio_net *n)
{
	return &n->vdev;
}

const char *virtio_net_tap_name(struct virtio_net *n)
{
	return n->tap.name;
}

#define STAT_ADD(n, field, v) __atomic_add_fetch(&(n)->st.field, (v), __ATOMIC_RELAXED)

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *s)
{
	const uint64_t *src = (const uint64_t *)&n->st;
	uint64_t *dst = (uint64_t *)s;

	for (unsigned i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

bool virtio_net_link_up(struct virtio_net *n)
{
	bool up;

	pthread_mutex_lock(&n->vdev.lock);
	up = n->status & VIRTIO_NET_S_LINK_UP;
	pthread_mutex_unlock(&n->vdev.lock);
	return up;
}

void virtio_net_mac(struct virtio_net *n, uint8_t mac[6])
{
	pthread_mutex_lock(&n->vdev.lock);
	memcpy(mac, n->mac, 6);
	pthread_mutex_unlock(&n->vdev.lock);
}

/* ---- MAC addresses ---- */

void virtio_net_default_mac(const char *vm_name, unsigned index, uint8_t mac[6])
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
	char buf[KITE_NAME_MAX + 16];
	int len = snprintf(buf, sizeof(buf), "%s/net%u", vm_name ? vm_name : "", index);

	for (int i = 0; i < len && i < (int)sizeof(buf); i++) {
		h ^= (uint8_t)buf[i];
		h *= 0x100000001b3ull;
	}
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
	mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02); /* locally administered, unicast */
}

int virtio_net_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char end;

	if (!s || strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
		return -EINVAL;
	for (unsigned i = 0; i < 6; i++) {
		if (s[3 * i + 2] != ':' && i < 5)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return (mac[0] & 1) ? -EINVAL : 0;
}

/* ---- polling the TAP ---- */

static void net_update_poll(struct virtio_net *n)
{
	uint32_t want = 0;

	if (!n->tap_added)
		return;
	if (!n->rx_wait)
		want |= EPOLLIN;
	if (n->tx_wait)
		want |= EPOLLOUT;
	if (want != n->poll_mask && event_loop_mod(n->vdev.m->loop, n->tap.fd, want) == 0)
		n->poll_mask = want;
}

/* The interface was deleted: report once, stop watching it, tell the guest the link is down. */
static void net_link_lost(struct virtio_net *n, int err)
{
	struct virtio_dev *v = &n->vdev;

	if (n->link_gone)
		return;
	__atomic_store_n(&n->link_gone, true, __ATOMIC_RELAXED); /* read by the vCPU-side hooks */
	pr_warn("virtio %s: tap %s is gone (%s): link down, packets are dropped", v->name, n->tap.name,
		strerror(err));
	if (n->tap_added)
		event_loop_del(v->m->loop, n->tap.fd);
	n->tap_added = false;
	n->rx_len = 0;
	n->tx_wait = false;
	virtio_kick(v, VIRTIO_NET_TXQ); /* chains waiting for the TAP are dropped now */
	pthread_mutex_lock(&v->lock);
	n->status &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
	if ((v->status & VIRTIO_STATUS_DRIVER_OK) && virtio_has_feature(v, VIRTIO_NET_F_STATUS))
		virtio_config_changed(v);
	pthread_mutex_unlock(&v->lock);
}

/* ---- returning chains ---- */

/*
 * Gives `k` popped chains back to the ring untouched, as if never taken:
 * a packet that did not fit waits in the device, the buffers stay the
 * guest's, and nothing is in flight while we wait.
 */
static void net_unpop(struct virtio_net *n, unsigned qi, unsigned k)
{
	struct virtio_dev *v = &n->vdev;

	if (!k)
		return;
	pthread_mutex_lock(&v->lock);
	if (!v->resetting && v->q[qi].vq.enabled)
		v->q[qi].vq.last_avail = (uint16_t)(v->q[qi].vq.last_avail - k);
	pthread_mutex_unlock(&v->lock);
	while (k--)
		virtio_drop(v);
}

/* Gives the filled RX chains back: one used-index update and at most one interrupt for them all. */
static void rx_complete(struct virtio_net *n)
{
	if (!n->rx_ndone)
		return;
	virtio_complete_many(&n->vdev, VIRTIO_NET_RXQ, n->rxdone, n->rx_ndone);
	n->rx_ndone = 0;
}

/*
 * Queues the k chains of one received packet for rx_complete.  A driver
 * reads num_buffers from the first chain and then takes the others at
 * once, so the used index only ever moves over whole packets.
 */
static void net_push_packet(struct virtio_net *n, unsigned k)
{
	if (n->rx_ndone + k > ARRAY_SIZE(n->rxdone))
		rx_complete(n); /* cannot happen: the ring holds no more chains than that */
	for (unsigned i = 0; i < k; i++)
		n->rxdone[n->rx_ndone++] = (struct virtq_used_elem){ .id = n->rxe[i].head, .len = n->rxlen[i] };
	/*
	 * Counted in chains, not packets: with 64 KiB packets (17 chains each)
	 * the guest gets buffers back to re-post while we go on reading.
	 */
	if (n->rx_ndone >= RX_BATCH)
		rx_complete(n);
}

/* ---- RX: TAP -> guest ---- */

static void rx_drop(struct virtio_net *n, const char *why)
{
	STAT_ADD(n, rx_dropped, 1);
	pr_warn_ratelimited(&n->rl, "virtio %s: RX packet of %zu bytes dropped: %s", n->vdev.name, n->rx_len, why);
	n->rx_len = 0;
}

/* Pops chain k of the packet; 1, 0 (no buffer), or -1 (no room left: the packet cannot be placed). */
static int rx_pop(struct virtio_net *n, unsigned k, unsigned *iov_used)
{
	struct virtq_elem *e = &n->rxe[k];
	int r;

	if (k == RX_MAX_CHAINS || RX_IOV_POOL - *iov_used < RX_CHAIN_IOVS)
		return -1;
	e->iov = n->rxiov + *iov_used;
	e->cap = RX_IOV_POOL - *iov_used;
	r = virtio_pop(&n->vdev, VIRTIO_NET_RXQ, e);
	if (r < 0)
		return -1;
	if (r > 0)
		*iov_used += e->nout + e->nin;
	return r;
}

/*
 * Places rxbuf[off, rx_len) in guest buffers from chain k on (chains 0..k-1
 * are popped and filled already).  False when the guest has too few
 * buffers: then nothing stays taken and the whole packet is in rxbuf.
 */
static bool rx_place(struct virtio_net *n, unsigned k, unsigned iov_used, size_t off)
{
	struct virtio_dev *v = &n->vdev;
	bool mrg = virtio_has_feature(v, VIRTIO_NET_F_MRG_RXBUF);
	uint16_t nbuf;

	while (off < n->rx_len) {
		struct virtq_elem *e = &n->rxe[k];
		int r = rx_pop(n, k, &iov_used);

		if (r == 0) {
			/* The packet's start went straight into guest buffers: keep all of it here instead. */
			for (unsigned j = 0, o = 0; j < n->rx_direct; o += n->rxlen[j++])
				iov_to_buf(n->rxe[j].iov + n->rxe[j].nout, n->rxe[j].nin, 0, n->rxbuf + o, n->rxlen[j]);
			n->rx_direct = 0;
			net_unpop(n, VIRTIO_NET_RXQ, k);
			return false;
		}
		if (r < 0 || (k == 0 && e->in_len < HDR_LEN) || (!mrg && e->in_len < n->rx_len)) {
			n->rx_direct = 0;
			net_unpop(n, VIRTIO_NET_RXQ, k + (r > 0));
			rx_drop(n, r < 0 ? "guest buffers too small or too many" : "guest buffer too small");
			return true;
		}
		n->rxlen[k] = (uint32_t)iov_from_buf(e->iov + e->nout, e->nin, 0, n->rxbuf + off, n->rx_len - off);
		off += n->rxlen[k++];
	}
	n->rx_direct = 0;
	/* num_buffers: the TAP leaves it undefined; 1 without MRG_RXBUF (virtio 1.x, 5.1.6.4). */
	nbuf = (uint16_t)k;
	iov_from_buf(n->rxe[0].iov + n->rxe[0].nout, n->rxe[0].nin, offsetof(struct virtio_net_hdr_v1, num_buffers),
		     &nbuf, sizeof(nbuf));
	STAT_ADD(n, rx_packets, 1);
	STAT_ADD(n, rx_bytes, n->rx_len - HDR_LEN);
	n->rx_len = 0;
	net_push_packet(n, k);
	return true;
}

/* Places the stashed packet in guest buffers; false if the guest has too few (nothing is taken then). */
static bool rx_deliver(struct virtio_net *n)
{
	if (__atomic_load_n(&n->reset_gen, __ATOMIC_ACQUIRE) != n->rx_gen) {
		n->rx_len = 0; /* read before a reset: its offloads may not be what the new driver accepts */
		return true;
	}
	return rx_place(n, 0, 0, 0);
}

/* No buffer for the stashed packet: stop reading the TAP until the guest posts some. */
static void rx_stall(struct virtio_net *n)
{
	if (!n->rx_wait)
		STAT_ADD(n, rx_waits, 1);
	n->rx_wait = true;
	net_update_poll(n);
}

/* Delivers the stashed packet if there is one; false while the guest has no room for it. */
static bool rx_flush(struct virtio_net *n)
{
	if (n->rx_len && !rx_deliver(n)) {
		rx_stall(n);
		/* Buffers posted between our look and the kick re-enable would be missed: look again. */
		if (!virtio_queue_notify_on(&n->vdev, VIRTIO_NET_RXQ) || !rx_deliver(n))
			return false;
	}
	if (n->rx_wait) {
		n->rx_wait = false;
		net_update_poll(n);
	}
	return true;
}

enum rx_result { RX_EMPTY, RX_DONE, RX_STALL, RX_STOP };

static enum rx_result rx_read_error(struct virtio_net *n, ssize_t r)
{
	if (r == -EAGAIN)
		return RX_EMPTY;
	if (tap_gone_error((int)-r))
		net_link_lost(n, (int)-r);
	else
		pr_warn_ratelimited(&n->rl, "virtio %s: tap %s read: %s", n->vdev.name, n->tap.name,
				    strerror((int)-r));
	return RX_STOP;
}

/* One packet through kite's buffer (a first guest chain unfit for reading into directly). */
static enum rx_result rx_read_bounce(struct virtio_net *n)
{
	ssize_t r = tap_read(&n->tap, n->rxbuf, VIRTIO_NET_MAX_PACKET + HDR_LEN);

	if (r < 0)
		return rx_read_error(n, r);
	n->rx_len = (size_t)r;
	n->rx_gen = __atomic_load_n(&n->reset_gen, __ATOMIC_ACQUIRE);
	if (n->rx_len < HDR_LEN + MIN_FRAME) {
		rx_drop(n, "runt");
		return RX_DONE;
	}
	return rx_deliver(n) ? RX_DONE : RX_STALL;
}

/* Adds chain k's writable buffers to iov; false (chain given back) if they do not fit. */
static bool rx_add_iov(struct virtio_net *n, unsigned k, struct iovec *iov, unsigned *cnt)
{
	struct virtq_elem *e = &n->rxe[k];

	if (*cnt + e->nin > RX_READ_IOVS) {
		net_unpop(n, VIRTIO_NET_RXQ, 1);
		return false;
	}
	memcpy(iov + *cnt, e->iov + e->nout, e->nin * sizeof(*iov));
	*cnt += e->nin;
	return true;
}

/*
 * One packet, read straight into guest RX chains: the first, or after a
 * large packet (TSO) as many as a largest packet needs.  What does not fit
 * lands in kite's buffer behind them and is spread over further chains;
 * chains the packet did not need go back.  No buffer: the packet stays in
 * the TAP.
 */
static enum rx_result rx_read(struct virtio_net *n)
{
	struct iovec iov[RX_READ_IOVS + 1];
	bool mrg = virtio_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF);
	unsigned iov_used = 0, cnt = 0, popped = 1, k = 0;
	size_t cap, left;
	ssize_t r;

	if (rx_pop(n, 0, &iov_used) <= 0)
		return RX_STALL;
	cap = n->rxe[0].in_len;
	if (cap < HDR_LEN) {
		net_unpop(n, VIRTIO_NET_RXQ, 1);
		return rx_read_bounce(n); /* it drops the packet, nothing can take it */
	}
	if (!rx_add_iov(n, 0, iov, &cnt))
		return rx_read_bounce(n);
	while (mrg && n->rx_big && cap < VIRTIO_NET_MAX_PACKET + HDR_LEN && rx_pop(n, popped, &iov_used) > 0) {
		if (!rx_add_iov(n, popped, iov, &cnt))
			break;
		cap += n->rxe[popped++].in_len;
	}
	if (cap < VIRTIO_NET_MAX_PACKET + HDR_LEN)
		iov[cnt++] = (struct iovec){ n->rxbuf + cap, VIRTIO_NET_MAX_PACKET + HDR_LEN - cap };
	r = tap_readv(&n->tap, iov, (int)cnt);
	if (r < 0) {
		net_unpop(n, VIRTIO_NET_RXQ, popped);
		return rx_read_error(n, r);
	}
	n->rx_len = (size_t)r;
	n->rx_gen = __atomic_load_n(&n->reset_gen, __ATOMIC_ACQUIRE);
	if (n->rx_len < HDR_LEN + MIN_FRAME || (n->rx_len > cap && !mrg)) {
		net_unpop(n, VIRTIO_NET_RXQ, popped);
		rx_drop(n, n->rx_len > cap ? "guest buffer too small" : "runt");
		return RX_DONE;
	}
	for (left = n->rx_len; k < popped && left; k++) {
		n->rxlen[k] = (uint32_t)MIN(left, n->rxe[k].in_len);
		left -= n->rxlen[k];
	}
	net_unpop(n, VIRTIO_NET_RXQ, popped - k); /* the tail the packet did not need */
	n->rx_big = n->rx_len > n->rxe[0].in_len;
	n->rx_direct = k;
	return rx_place(n, k, iov_used, n->rx_len - left) ? RX_DONE : RX_STALL;
}

/* Moves packets from the TAP to the guest; also run when the guest posts RX buffers. */
static void rx_pump_batch(struct virtio_net *n)
{
	for (unsigned i = 0; i < BUDGET && !n->link_gone; i++) {
		if (!rx_flush(n))
			return;
		switch (rx_read(n)) {
		case RX_EMPTY:
		case RX_STOP:
			return;
		case RX_STALL:
			rx_stall(n);
			/* Buffers posted between our look and the kick re-enable would be missed: look again. */
			if (!virtio_queue_notify_on(&n->vdev, VIRTIO_NET_RXQ))
				return;
			break;
		case RX_DONE:
			break;
		}
	}
	/* Budget spent with more to read: level-triggered epoll calls again. */
	if (!n->link_gone)
		rx_flush(n);
}

static void rx_pump(struct virtio_net *n)
{
	rx_pump_batch(n);
	rx_complete(n);
}

/* ---- TX: guest -> TAP ---- */

/* Writes one chain to the TAP; false when the TAP is full (nothing written). */
static bool tx_one(struct virtio_net *n, const struct virtq_elem *e)
{
	struct virtio_dev *v = &n->vdev;
	ssize_t w;

	if (n->link_gone) {
		STAT_ADD(n, tx_dropped, 1);
		return true;
	}
	if (e->out_len < HDR_LEN + MIN_FRAME || e->out_len > VIRTIO_NET_MAX_PACKET + HDR_LEN) {
		STAT_ADD(n, tx_errors, 1);
		pr_warn_ratelimited(&n->rl, "virtio %s: TX packet of %zu bytes dropped (header %d + 14..%d)", v->name,
				    e->out_len, HDR_LEN, VIRTIO_NET_MAX_PACKET);
		return true;
	}
	w = tap_writev(&n->tap, e->iov, (int)e->nout);
	if (w == -EAGAIN)
		return false;
	if (w < 0) {
		if (tap_gone_error((int)-w)) {
			net_link_lost(n, (int)-w);
			STAT_ADD(n, tx_dropped, 1);
		} else {
			/* E.g. EINVAL for a GSO header the kernel refuses: the guest's packet, not our problem. */
			STAT_ADD(n, tx_errors, 1);
			pr_warn_ratelimited(&n->rl, "virtio %s: TX to tap %s: %s", v->name, n->tap.name,
					    strerror((int)-w));
		}
	} else {
		STAT_ADD(n, tx_packets, 1);
		STAT_ADD(n, tx_bytes, e->out_len - HDR_LEN);
	}
	return true;
}

/*
 * Sends `got` popped chains; they go back to the guest together (one
 * used-index update, at most one interrupt).  Returns how many were sent:
 * fewer when the TAP is full, and those not sent go back to the ring.
 */
static unsigned tx_batch(struct virtio_net *n, unsigned got)
{
	unsigned i;

	for (i = 0; i < got && tx_one(n, &n->txe[i]); i++)
		n->txdone[i] = (struct virtq_used_elem){ .id = n->txe[i].head, .len = 0 };
	virtio_complete_many(&n->vdev, VIRTIO_NET_TXQ, n->txdone, i);
	net_unpop(n, VIRTIO_NET_TXQ, got - i);
	return i;
}

static void tx_run(struct virtio_net *n)
{
	struct virtio_dev *v = &n->vdev;
	unsigned done = 0;
	int got;

	if (n->tx_wait)
		return;
	do {
		virtio_queue_notify_off(v, VIRTIO_NET_TXQ);
		while ((got = virtio_pop_many(v, VIRTIO_NET_TXQ, n->txp, TX_BATCH)) > 0) {
			if (tx_batch(n, (unsigned)got) < (unsigned)got) {
				STAT_ADD(n, tx_waits, 1);
				n->tx_wait = true;
				virtio_queue_notify_on(v, VIRTIO_NET_TXQ);
				net_update_poll(n);
				return;
			}
			done += (unsigned)got;
			if (done >= BUDGET) {
				/* Let RX and other devices run; the loop calls us again. */
				virtio_kick(v, VIRTIO_NET_TXQ);
				return;
			}
		}
	} while (virtio_queue_notify_on(v, VIRTIO_NET_TXQ));
}

/* ---- event loop callbacks ---- */

static void net_tap_event(void *opaque, uint32_t events)
{
	struct virtio_net *n = opaque;

	if ((events & EPOLLOUT) && n->tx_wait) {
		n->tx_wait = false;
		net_update_poll(n);
		tx_run(n);
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rx_pump(n);
	/* An error event that a read did not explain would fire forever: the interface is unusable. */
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN) && n->tap_added)
		net_link_lost(n, EIO);
}

static void net_queue_notify(struct virtio_dev *v, unsigned qi)
{
	struct virtio_net *n = v->priv;

	if (qi == VIRTIO_NET_TXQ)
		tx_run(n);
	else
		rx_pump(n);
}

/* ---- transport hooks (vdev.lock held) ---- */

static void net_cfg_read(struct virtio_dev *v, unsigned off, uint8_t *data, unsigned len)
{
	struct virtio_net *n = v->priv;
	uint8_t cfg[VIRTIO_NET_CFG_SIZE] = { 0 };
	uint16_t pairs = 1;

	memcpy(cfg + VIRTIO_NET_CFG_MAC, n->mac, 6);
	memcpy(cfg + VIRTIO_NET_CFG_STATUS, &n->status, 2);
	memcpy(cfg + VIRTIO_NET_CFG_PAIRS, &pairs, 2);
	memcpy(data, cfg + off, len);
}

static unsigned net_offloads(struct virtio_dev *v)
{
	unsigned o = 0;

	if (virtio_has_feature(v, VIRTIO_NET_F_GUEST_CSUM))
		o |= TAP_OFF_CSUM;
	if (virtio_has_feature(v, VIRTIO_NET_F_GUEST_TSO4))
		o |= TAP_OFF_TSO4;
	if (virtio_has_feature(v, VIRTIO_NET_F_GUEST_TSO6))
		o |= TAP_OFF_TSO6;
	if (virtio_has_feature(v, VIRTIO_NET_F_GUEST_ECN))
		o |= TAP_OFF_ECN;
	return o;
}

static void net_driver_ok(struct virtio_dev *v)
{
	struct virtio_net *n = v->priv;

	/* The TAP hands us only what the guest can take: no GSO to a driver without GUEST_TSO. */
	if (!__atomic_load_n(&n->link_gone, __ATOMIC_RELAXED))
		tap_set_offload(&n->tap, net_offloads(v));
}

static void net_reset(struct virtio_dev *v)
{
	struct virtio_net *n = v->priv;

	__atomic_add_fetch(&n->reset_gen, 1, __ATOMIC_RELEASE);
	if (!__atomic_load_n(&n->link_gone, __ATOMIC_RELAXED))
		tap_set_offload(&n->tap, 0);
}

static const struct virtio_ops net_ops = {
	.queue_notify = net_queue_notify,
	.cfg_read = net_cfg_read,
	.driver_ok = net_driver_ok,
	.reset = net_reset,
};

/* ---- life cycle ---- */

static int net_open_tap(struct virtio_net *n, const struct net_config *cfg)
{
	if (cfg->tap)
		return tap_open(&n->tap, cfg->tap);
	if (cfg->fd >= 0)
		return tap_open_fd(&n->tap, cfg->fd);
	pr_err("virtio-net: no backend (tap=NAME or fd=N)");
	return -EINVAL;
}

int virtio_net_create(struct pci_bus *pci, struct machine *m, const struct net_config *cfg, const char *vm_name,
		      unsigned index, struct virtio_net **out)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	char name[16];
	int r;

	if (!n)
		return -ENOMEM;
	n->tap.fd = -1;
	n->rxbuf = malloc(VIRTIO_NET_MAX_PACKET + HDR_LEN);
	if (!n->rxbuf) {
		r = -ENOMEM;
		goto fail;
	}
	r = net_open_tap(n, cfg);
	if (r)
		goto fail;
	if (cfg->mac_set)
		memcpy(n->mac, cfg->mac, 6);
	else
		virtio_net_default_mac(vm_name, index, n->mac);
	n->status = VIRTIO_NET_S_LINK_UP;
	for (unsigned i = 0; i < TX_BATCH; i++) {
		n->txe[i].iov = n->txiov[i];
		n->txe[i].cap = TX_IOV_CAP;
		n->txp[i] = &n->txe[i];
	}
	n->vdev.priv = n;
	snprintf(name, sizeof(name), "net%u", index);
	r = virtio_dev_init(&n->vdev, pci, m, name, VIRTIO_ID_NET, 0x020000, NET_FEATURES, 2, VIRTIO_NET_QUEUE_SIZE,
			    VIRTIO_NET_CFG_SIZE, &net_ops);
	if (r)
		goto fail_tap;
	/* Polled for input once the guest posts RX buffers (rx_pump); errors are reported regardless. */
	r = event_loop_add(m->loop, n->tap.fd, 0, net_tap_event, n);
	if (r) {
		virtio_dev_exit(&n->vdev);
		goto fail_tap;
	}
	n->tap_added = true;
	n->rx_wait = true;
	pr_info("virtio %s: tap %s, mac %02x:%02x:%02x:%02x:%02x:%02x", name, n->tap.name, n->mac[0], n->mac[1],
		n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
	*out = n;
	return 0;
fail_tap:
	tap_close(&n->tap);
fail:
	free(n->rxbuf);
	free(n);
	return r;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	if (n->tap_added)
		event_loop_del(n->vdev.m->loop, n->tap.fd);
	virtio_dev_exit(&n->vdev);
	tap_close(&n->tap);
	free(n->rxbuf);
	free(n);
}

void virtio_net_quiesce(struct virtio_net *n)
{
	virtio_quiesce(&n->vdev);
}

void virtio_net_resume(struct virtio_net *n)
{
	virtio_resume(&n->vdev);
}

void virtio_net_save(struct virtio_net *n, struct virtio_net_state *s)
{
	virtio_save(&n->vdev, &s->vio);
	pthread_mutex_lock(&n->vdev.lock);
	memcpy(s->mac, n->mac, 6);
	s->status = n->status;
	s->offloads = net_offloads(&n->vdev);
	pthread_mutex_unlock(&n->vdev.lock);
}

/*
 * A new MAC in the configuration space: the generation moves so a driver
 * rereading the space sees a consistent MAC, and with STATUS negotiated a
 * configuration interrupt tells it to look (vdev.lock held).
 */
static void net_mac_changed(struct virtio_net *n)
{
	struct virtio_dev *v = &n->vdev;

	if (!(v->status & VIRTIO_STATUS_DRIVER_OK))
		return;
	if (virtio_has_feature(v, VIRTIO_NET_F_STATUS))
		virtio_config_changed(v);
	else
		v->config_generation++;
}

int virtio_net_load_dev(struct virtio_net *n, const struct virtio_net_state *s)
{
	struct virtio_dev *v = &n->vdev;
	bool changed;

	pthread_mutex_lock(&v->lock);
	if (s->offloads != net_offloads(v)) {
		pthread_mutex_unlock(&v->lock);
		pr_err("virtio %s: saved offloads 0x%x do not follow the saved features (0x%x)", v->name, s->offloads,
		       net_offloads(v));
		return -EINVAL;
	}
	memcpy(n->mac, s->mac, 6);
	/* The link is what this host's TAP says, not what the source's was. */
	n->status = n->link_gone ? 0 : VIRTIO_NET_S_LINK_UP;
	if (!n->link_gone)
		tap_set_offload(&n->tap, s->offloads);
	changed = n->status != s->status;
	if (changed && (v->status & VIRTIO_STATUS_DRIVER_OK) && virtio_has_feature(v, VIRTIO_NET_F_STATUS))
		virtio_config_changed(v);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

int virtio_net_load(struct virtio_net *n, const struct virtio_net_state *s)
{
	struct virtio_net_state fixed = *s;
	int r = virtio_load(&n->vdev, &s->vio);

	if (r)
		return r;
	pthread_mutex_lock(&n->vdev.lock);
	fixed.offloads = net_offloads(&n->vdev);
	pthread_mutex_unlock(&n->vdev.lock);
	return virtio_net_load_dev(n, &fixed);
}

void virtio_net_set_mac(struct virtio_net *n, const uint8_t mac[6])
{
	pthread_mutex_lock(&n->vdev.lock);
	if (memcmp(n->mac, mac, 6)) {
		memcpy(n->mac, mac, 6);
		net_mac_changed(n);
	}
	pthread_mutex_unlock(&n->vdev.lock);
}
