// SPDX-License-Identifier: MIT
/*
 * Sections of the PCI functions ("pci", one per slot) and of the virtio
 * devices behind them ("virtio", same instance number).
 *
 * PCI state is put back the way a guest would write it (decoding off, BARs,
 * MSI-X table, the other writable registers, the command register last), so
 * the PCI core maps the BARs, moves the ioeventfds and programs the MSI
 * routes itself.  The virtio transport and its queues load through
 * virtio_load(); requests the guest had queued but kite had not yet taken
 * (pause completes every request already taken) are found by a kick once the
 * VM runs.  A disk's size must not have changed since the snapshot.
 *
 * A NIC adds "virtio-net" (instance: its index), loaded after the transports:
 * MAC, link status, the offloads the TAP was given.  Its MAC is the saved one
 * on a live migration; a restore or clone (new_identity) keeps the MAC its
 * configuration gave the new device (the restore command decides: the saved
 * one, a derived one for a new name, or an override) and, when that differs
 * from the saved one, the guest is told through the configuration space.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <kite/log.h>
#include <kite/msix.h>
#include <kite/pci.h>
#include <kite/state.h>
#include <kite/util.h>
#include <kite/virtio.h>
#include <kite/virtio_blk.h>
#include <kite/virtio_net.h>
#include <kite/vm.h>

#define VIRTIO_VENDOR   0x1af4
#define VIRTIO_TYPE_BLK 2

static struct virtio_dev *pci_to_virtio(struct pci_dev *d)
{
	if (pci_cfg_read16(d, 0) != VIRTIO_VENDOR || d == &d->bus->host)
		return NULL;
	return (struct virtio_dev *)((char *)d - offsetof(struct virtio_dev, pci));
}

static void cfg_write(struct pci_dev *d, unsigned off, uint32_t v, unsigned len)
{
	uint8_t b[4] = { v, v >> 8, v >> 16, v >> 24 };

	pci_cfg_access(d->bus, 0, d->slot << 3, off, b, len, true);
}

static uint32_t wmask32(const struct pci_dev *d, unsigned off)
{
	return (uint32_t)d->wmask[off] | (uint32_t)d->wmask[off + 1] << 8 | (uint32_t)d->wmask[off + 2] << 16 |
	       (uint32_t)d->wmask[off + 3] << 24;
}

/* pci 1.0: the ids (to check the slot holds the same function), config space, MSI-X table and PBA. */
static int pci_save(void *opaque, struct sbuf *b)
{
	struct pci_dev *d = opaque;
	struct msix *x = d->msix;

	pthread_mutex_lock(&d->bus->lock);
	sbuf_put(b, d->cfg, PCI_CFG_SIZE);
	pthread_mutex_unlock(&d->bus->lock);
	sbuf_put_u32(b, x ? x->nvec : 0);
	if (!x)
		return 0;
	for (unsigned i = 0; i < x->nvec * 4; i++) {
		uint8_t v[4];

		msix_table_access(x, i * 4, v, 4, false);
		sbuf_put(b, v, 4);
	}
	pthread_mutex_lock(&x->lock);
	for (unsigned i = 0; i < ARRAY_SIZE(x->pba); i++)
		sbuf_put_u64(b, x->pba[i]);
	pthread_mutex_unlock(&x->lock);
	return 0;
}

static int pci_load(void *opaque, struct sbuf *b, unsigned minor)
{
	struct pci_dev *d = opaque;
	struct msix *x = d->msix;
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t table[MSIX_MAX_VECTORS * 16];
	uint64_t pba[ARRAY_SIZE(x->pba)];
	uint32_t nvec;

	sbuf_get(b, cfg, sizeof(cfg));
	nvec = sbuf_get_u32(b);
	if (b->err)
		return b->err;
	if (memcmp(cfg, d->cfg, 4) || nvec != (x ? x->nvec : 0)) {
		pr_err("pci section for slot %u: the snapshot has %04x:%04x (%u MSI-X vectors), this VM %04x:%04x",
		       d->slot, cfg[0] | cfg[1] << 8, cfg[2] | cfg[3] << 8, nvec, pci_cfg_read16(d, 0),
		       pci_cfg_read16(d, 2));
		return -EINVAL;
	}
	sbuf_get(b, table, nvec * 16);
	for (unsigned i = 0; x && i < ARRAY_SIZE(pba); i++)
		pba[i] = sbuf_get_u64(b);
	if (b->err)
		return b->err;
	cfg_write(d, PCI_COMMAND, 0, 2);
	for (unsigned i = 0; i < nvec * 4; i++)
		msix_table_access(x, i * 4, table + i * 4, 4, true);
	for (unsigned off = 8; off < PCI_CFG_SIZE; off += 4) {
		uint32_t v = (uint32_t)cfg[off] | (uint32_t)cfg[off + 1] << 8 | (uint32_t)cfg[off + 2] << 16 |
			     (uint32_t)cfg[off + 3] << 24;

		if (wmask32(d, off))
			cfg_write(d, off, v, 4);
	}
	cfg_write(d, PCI_COMMAND, cfg[PCI_COMMAND] | cfg[PCI_COMMAND + 1] << 8, 2);
	if (x) {
		pthread_mutex_lock(&x->lock);
		memcpy(x->pba, pba, sizeof(pba));
		pthread_mutex_unlock(&x->lock);
	}
	return 0;
}

/* The disk's capacity (sectors) as the guest reads it from the device configuration. */
static uint64_t blk_capacity(struct virtio_dev *v)
{
	uint8_t c[8];
	uint64_t cap = 0;

	virtio_bar_access(v, VIRTIO_DEVCFG_OFF + VIRTIO_BLK_CFG_CAPACITY, c, 8, false);
	for (int i = 7; i >= 0; i--)
		cap = cap << 8 | c[i];
	return cap;
}

/* virtio 1.0: type, transport registers, each queue, and for a disk its capacity. */
static int virtio_save_cb(void *opaque, struct sbuf *b)
{
	struct virtio_dev *v = opaque;
	struct virtio_state s;

	virtio_save(v, &s);
	sbuf_put_u32(b, v->type);
	sbuf_put_u8(b, s.status);
	sbuf_put_u8(b, s.isr);
	sbuf_put_u8(b, s.config_generation);
	sbuf_put_u64(b, s.guest_features);
	sbuf_put_u16(b, s.msix_config);
	sbuf_put_u32(b, s.dfselect);
	sbuf_put_u32(b, s.gfselect);
	sbuf_put_u16(b, s.queue_select);
	sbuf_put_u32(b, v->nqueues);
	for (unsigned i = 0; i < v->nqueues; i++) {
		sbuf_put_u16(b, s.q[i].vq.size);
		sbuf_put_u8(b, s.q[i].vq.enabled);
		sbuf_put_u64(b, s.q[i].vq.desc_gpa);
		sbuf_put_u64(b, s.q[i].vq.avail_gpa);
		sbuf_put_u64(b, s.q[i].vq.used_gpa);
		sbuf_put_u16(b, s.q[i].vq.last_avail);
		sbuf_put_u16(b, s.q[i].vq.used_idx);
		sbuf_put_u16(b, s.q[i].msix_vector);
	}
	sbuf_put_u64(b, v->type == VIRTIO_TYPE_BLK ? blk_capacity(v) : 0);
	return 0;
}

static int virtio_load_cb(void *opaque, struct sbuf *b, unsigned minor)
{
	struct virtio_dev *v = opaque;
	struct virtio_state s = { 0 };
	uint32_t type = sbuf_get_u32(b), nq;
	uint64_t cap;
	int r;

	s.status = sbuf_get_u8(b);
	s.isr = sbuf_get_u8(b);
	s.config_generation = sbuf_get_u8(b);
	s.guest_features = sbuf_get_u64(b);
	s.msix_config = sbuf_get_u16(b);
	s.dfselect = sbuf_get_u32(b);
	s.gfselect = sbuf_get_u32(b);
	s.queue_select = sbuf_get_u16(b);
	nq = sbuf_get_u32(b);
	if (b->err)
		return b->err;
	if (type != v->type || nq != v->nqueues) {
		pr_err("virtio section of %s: device type %u with %u queues in the snapshot, %u with %u here", v->name,
		       type, nq, v->type, v->nqueues);
		return -EINVAL;
	}
	for (unsigned i = 0; i < nq; i++) {
		s.q[i].vq.size = sbuf_get_u16(b);
		s.q[i].vq.enabled = sbuf_get_u8(b);
		s.q[i].vq.desc_gpa = sbuf_get_u64(b);
		s.q[i].vq.avail_gpa = sbuf_get_u64(b);
		s.q[i].vq.used_gpa = sbuf_get_u64(b);
		s.q[i].vq.last_avail = sbuf_get_u16(b);
		s.q[i].vq.used_idx = sbuf_get_u16(b);
		s.q[i].msix_vector = sbuf_get_u16(b);
	}
	cap = sbuf_get_u64(b);
	if (b->err)
		return b->err;
	if (type == VIRTIO_TYPE_BLK && cap != blk_capacity(v)) {
		pr_err("%s: the disk has %llu sectors, the snapshot %llu: its size changed since", v->name,
		       (unsigned long long)blk_capacity(v), (unsigned long long)cap);
		return -EINVAL;
	}
	r = virtio_load(v, &s);
	if (r) {
		pr_err("%s: a queue of the snapshot does not fit this device or guest memory", v->name);
		return r;
	}
	/* Requests the guest queued before the snapshot: picked up once the event loop runs. */
	for (unsigned i = 0; i < nq; i++)
		if (s.q[i].vq.enabled)
			virtio_kick(v, i);
	return 0;
}

struct net_ctx {
	struct virtio_net *n;
	const struct state_registry *reg;
};

/* virtio-net 1.0: mac[6], status, offloads. */
static int net_save_cb(void *opaque, struct sbuf *b)
{
	struct net_ctx *c = opaque;
	struct virtio_net_state s;

	virtio_net_save(c->n, &s);
	sbuf_put(b, s.mac, 6);
	sbuf_put_u16(b, s.status);
	sbuf_put_u32(b, s.offloads);
	return 0;
}

static int net_load_cb(void *opaque, struct sbuf *b, unsigned minor)
{
	struct net_ctx *c = opaque;
	struct virtio_net_state s = { 0 };
	uint8_t configured[6];
	int r;

	sbuf_get(b, s.mac, 6);
	s.status = sbuf_get_u16(b);
	s.offloads = sbuf_get_u32(b);
	if (b->err)
		return b->err;
	if (s.mac[0] & 1) {
		pr_err("virtio-net section of %s: multicast MAC (corrupt file)", virtio_net_dev(c->n)->name);
		return -EINVAL;
	}
	virtio_net_mac(c->n, configured);
	r = virtio_net_load_dev(c->n, &s);
	if (!r && c->reg->new_identity)
		virtio_net_set_mac(c->n, configured);
	return r;
}

static int state_net_register(struct state_registry *reg, const struct vm_device_refs *d)
{
	int r = 0;

	for (unsigned i = 0; i < KITE_MAX_NETS && !r; i++) {
		struct net_ctx *c;

		if (!d->net[i])
			continue;
		c = state_registry_alloc(reg, sizeof(*c));
		if (!c)
			return -ENOMEM;
		*c = (struct net_ctx){ d->net[i], reg };
		r = state_register(reg, "virtio-net", i, 1, 0, net_save_cb, net_load_cb, c);
	}
	return r;
}

int state_virtio_register(struct vm *vm, struct state_registry *reg, const struct vm_device_refs *d)
{
	int r = 0;

	if (!d->pci)
		return 0;
	for (unsigned s = 1; s < PCI_MAX_SLOTS && !r; s++)
		if (d->pci->slots[s])
			r = state_register(reg, "pci", s, 1, 0, pci_save, pci_load, d->pci->slots[s]);
	for (unsigned s = 1; s < PCI_MAX_SLOTS && !r; s++) {
		struct virtio_dev *v = d->pci->slots[s] ? pci_to_virtio(d->pci->slots[s]) : NULL;

		if (v)
			r = state_register(reg, "virtio", s, 1, 0, virtio_save_cb, virtio_load_cb, v);
	}
	return r ? r : state_net_register(reg, d);
}
