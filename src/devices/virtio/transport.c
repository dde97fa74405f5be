// SPDX-License-Identifier: MIT
/* virtio 1.x over PCI: common config, notify, ISR, device config, and the device core. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <kite/event.h>
#include <kite/log.h>
#include <kite/machine.h>
#include <kite/util.h>
#include <kite/virtio.h>

struct virtio_pci_cap {
	uint8_t vndr, next, len, cfg_type, bar, id, pad[2];
	uint32_t offset, length;
	uint32_t notify_off_multiplier; /* notify capability only */
} __attribute__((packed));

static inline void put16(uint8_t *b, uint16_t v)
{
	memcpy(b, &v, 2);
}

static inline void put32(uint8_t *b, uint32_t v)
{
	memcpy(b, &v, 4);
}

static inline void put64(uint8_t *b, uint64_t v)
{
	memcpy(b, &v, 8);
}

static inline uint16_t get16(const uint8_t *b)
{
	uint16_t v;
	memcpy(&v, b, 2);
	return v;
}

static inline uint32_t get32(const uint8_t *b)
{
	uint32_t v;
	memcpy(&v, b, 4);
	return v;
}

static inline uint64_t get64(const uint8_t *b)
{
	uint64_t v;
	memcpy(&v, b, 8);
	return v;
}

bool virtio_has_feature(const struct virtio_dev *v, unsigned bit)
{
	return v->guest_features & (1ull << bit);
}

/* ---- interrupts (lock held) ---- */

static void virtio_irq(struct virtio_dev *v, uint16_t vector, uint8_t isr_bit)
{
	v->interrupts++;
	if (msix_enabled(&v->msix)) {
		if (vector != MSIX_NO_VECTOR)
			msix_notify(&v->msix, vector);
		return;
	}
	v->isr |= isr_bit;
	pci_intx(&v->pci, 1);
}

void virtio_config_changed(struct virtio_dev *v)
{
	v->config_generation++;
	virtio_irq(v, v->msix_config, 2);
}

void virtio_set_needs_reset(struct virtio_dev *v)
{
	if (v->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	v->needs_reset_events++;
	v->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (v->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_irq(v, v->msix_config, 2);
}

/* ---- reset ---- */

static void virtio_finish_reset(struct virtio_dev *v)
{
	for (unsigned i = 0; i < v->nqueues; i++) {
		struct virtio_queue *q = &v->q[i];

		virtq_reset(&q->vq);
		q->vq.size = q->max_size;
		q->msix_vector = MSIX_NO_VECTOR;
	}
	v->guest_features = 0;
	v->dfselect = v->gfselect = 0;
	v->msix_config = MSIX_NO_VECTOR;
	v->queue_select = 0;
	v->isr = 0;
	v->status = 0;
	v->resetting = false;
	pci_intx(&v->pci, 0);
	msix_clear_pending(&v->msix);
	if (v->ops->reset)
		v->ops->reset(v);
}

static void virtio_start_reset(struct virtio_dev *v)
{
	v->resetting = true;
	pci_intx(&v->pci, 0);
	if (!v->inflight)
		virtio_finish_reset(v);
}

/* ---- status and features (lock held) ---- */

static bool virtio_features_ok(struct virtio_dev *v)
{
	uint64_t extra = v->guest_features & ~v->host_features;

	if (extra) {
		pr_warn_ratelimited(&v->rl, "virtio %s: driver asked for features 0x%llx we did not offer", v->name,
				    (unsigned long long)extra);
		return false;
	}
	if (!virtio_has_feature(v, VIRTIO_F_VERSION_1)) {
		pr_warn_ratelimited(&v->rl, "virtio %s: driver did not accept VERSION_1 (legacy drivers unsupported)",
				    v->name);
		return false;
	}
	return true;
}

static void virtio_write_status(struct virtio_dev *v, uint8_t val)
{
	uint8_t added;

	if (!val) {
		virtio_start_reset(v);
		return;
	}
	if (v->resetting)
		return;
	val &= (uint8_t)~VIRTIO_STATUS_NEEDS_RESET;
	added = val & (uint8_t)~v->status;
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !virtio_features_ok(v))
		added &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !((v->status | added) & VIRTIO_STATUS_FEATURES_OK))
		added &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
	/* Drivers only add bits; clearing one other than by reset is ignored. */
	v->status |= added;
	if (added & VIRTIO_STATUS_DRIVER_OK) {
		if (v->ops->driver_ok)
			v->ops->driver_ok(v);
		for (unsigned i = 0; i < v->nqueues; i++)
			if (v->q[i].vq.enabled)
				virtio_kick(v, i);
	}
}

static void virtio_enable_queue(struct virtio_dev *v, struct virtio_queue *q)
{
	q->vq.event_idx = virtio_has_feature(v, VIRTIO_F_EVENT_IDX);
	q->vq.indirect = virtio_has_feature(v, VIRTIO_F_INDIRECT_DESC);
	if (q->vq.size > q->max_size) {
		q->vq.broken = true;
		pr_warn_ratelimited(&v->rl, "virtio %s: queue size %u above the maximum %u", q->name, q->vq.size,
				    q->max_size);
	} else if (virtq_enable(&q->vq, v->m->mem) == 0) {
		return;
	}
	virtio_set_needs_reset(v);
}

/* ---- common configuration ---- */

static struct virtio_queue *selected_queue(struct virtio_dev *v)
{
	return v->queue_select < v->nqueues ? &v->q[v->queue_select] : NULL;
}

static void common_fill(struct virtio_dev *v, uint8_t *b)
{
	struct virtio_queue *q = selected_queue(v);

	memset(b, 0, VIRTIO_COMMON_SIZE);
	put32(b + VIRTIO_COMMON_DFSELECT, v->dfselect);
	put32(b + VIRTIO_COMMON_DF, v->dfselect < 2 ? (uint32_t)(v->host_features >> (32 * v->dfselect)) : 0);
	put32(b + VIRTIO_COMMON_GFSELECT, v->gfselect);
	put32(b + VIRTIO_COMMON_GF, v->gfselect < 2 ? (uint32_t)(v->guest_features >> (32 * v->gfselect)) : 0);
	put16(b + VIRTIO_COMMON_MSIX, v->msix_config);
	put16(b + VIRTIO_COMMON_NUMQ, (uint16_t)v->nqueues);
	/* Until in-flight requests end, a reset is not complete and the status stays non-zero. */
	b[VIRTIO_COMMON_STATUS] = v->status | (v->resetting ? VIRTIO_STATUS_ACKNOWLEDGE : 0);
	b[VIRTIO_COMMON_CFGGEN] = v->config_generation;
	put16(b + VIRTIO_COMMON_Q_SELECT, v->queue_select);
	if (!q)
		return;
	put16(b + VIRTIO_COMMON_Q_SIZE, q->vq.size);
	put16(b + VIRTIO_COMMON_Q_MSIX, q->msix_vector);
	put16(b + VIRTIO_COMMON_Q_ENABLE, q->vq.enabled);
	put16(b + VIRTIO_COMMON_Q_NOFF, (uint16_t)q->index);
	put64(b + VIRTIO_COMMON_Q_DESC, q->vq.desc_gpa);
	put64(b + VIRTIO_COMMON_Q_DRIVER, q->vq.avail_gpa);
	put64(b + VIRTIO_COMMON_Q_DEVICE, q->vq.used_gpa);
}

static uint16_t valid_vector(struct virtio_dev *v, uint16_t vec)
{
	return vec < v->msix.nvec ? vec : MSIX_NO_VECTOR;
}

static void common_apply_queue(struct virtio_dev *v, unsigned field, const uint8_t *b)
{
	struct virtio_queue *q = selected_queue(v);

	/* Queue fields are frozen once the queue is enabled (only a reset disables it). */
	if (!q || q->vq.enabled || v->resetting)
		return;
	switch (field) {
	case VIRTIO_COMMON_Q_SIZE:
		q->vq.size = get16(b + field);
		break;
	case VIRTIO_COMMON_Q_MSIX:
		q->msix_vector = valid_vector(v, get16(b + field));
		break;
	case VIRTIO_COMMON_Q_ENABLE:
		if (get16(b + field) == 1)
			virtio_enable_queue(v, q);
		break;
	case VIRTIO_COMMON_Q_DESC:
		q->vq.desc_gpa = get64(b + field);
		break;
	case VIRTIO_COMMON_Q_DRIVER:
		q->vq.avail_gpa = get64(b + field);
		break;
	case VIRTIO_COMMON_Q_DEVICE:
		q->vq.used_gpa = get64(b + field);
		break;
	}
}

static void common_apply(struct virtio_dev *v, unsigned field, const uint8_t *b)
{
	uint32_t half;

	switch (field) {
	case VIRTIO_COMMON_DFSELECT:
		v->dfselect = get32(b + field);
		break;
	case VIRTIO_COMMON_GFSELECT:
		v->gfselect = get32(b + field);
		break;
	case VIRTIO_COMMON_GF:
		if (v->gfselect >= 2 || (v->status & VIRTIO_STATUS_FEATURES_OK) || v->resetting)
			break;
		half = v->gfselect * 32;
		v->guest_features = (v->guest_features & ~(0xffffffffull << half)) | (uint64_t)get32(b + field) << half;
		break;
	case VIRTIO_COMMON_MSIX:
		v->msix_config = valid_vector(v, get16(b + field));
		break;
	case VIRTIO_COMMON_STATUS:
		virtio_write_status(v, b[field]);
		break;
	case VIRTIO_COMMON_Q_SELECT:
		v->queue_select = get16(b + field);
		break;
	default:
		common_apply_queue(v, field, b);
	}
}

static const struct {
	uint8_t off, len;
} common_fields[] = {
	{ VIRTIO_COMMON_DFSELECT, 4 }, { VIRTIO_COMMON_GFSELECT, 4 }, { VIRTIO_COMMON_GF, 4 },
	{ VIRTIO_COMMON_MSIX, 2 },     { VIRTIO_COMMON_STATUS, 1 },   { VIRTIO_COMMON_Q_SELECT, 2 },
	{ VIRTIO_COMMON_Q_SIZE, 2 },   { VIRTIO_COMMON_Q_MSIX, 2 },   { VIRTIO_COMMON_Q_DESC, 8 },
	{ VIRTIO_COMMON_Q_DRIVER, 8 }, { VIRTIO_COMMON_Q_DEVICE, 8 }, { VIRTIO_COMMON_Q_ENABLE, 2 },
};

static void common_access(struct virtio_dev *v, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	uint8_t b[VIRTIO_COMMON_SIZE];

	if (off >= VIRTIO_COMMON_SIZE || len > VIRTIO_COMMON_SIZE - off) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	common_fill(v, b);
	if (!is_write) {
		memcpy(data, b + off, len);
		return;
	}
	memcpy(b + off, data, len);
	/* Registers the write touched, in the order above: enable after addresses. */
	for (unsigned i = 0; i < ARRAY_SIZE(common_fields); i++)
		if (off < common_fields[i].off + common_fields[i].len && common_fields[i].off < off + len)
			common_apply(v, common_fields[i].off, b);
}

/* ---- the BAR ---- */

static void isr_read(struct virtio_dev *v, uint8_t *data, unsigned len)
{
	memset(data, 0, len);
	data[0] = v->isr;
	v->isr = 0;
	pci_intx(&v->pci, 0);
}

static void notify_write(struct virtio_dev *v, uint64_t off)
{
	uint64_t qi = off / VIRTIO_NOTIFY_MULT, one = 1;

	/* Reached only when no ioeventfd caught the write (odd width, or none bound). */
	if (qi < v->nqueues && write(v->q[qi].kickfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn_ratelimited(&v->rl, "virtio %s: kick: %s", v->name, strerror(errno));
}

void virtio_bar_access(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct virtio_dev *v = opaque;

	if (off >= VIRTIO_MSIX_PBA_OFF) {
		msix_pba_access(&v->msix, off - VIRTIO_MSIX_PBA_OFF, data, len, is_write);
		return;
	}
	if (off >= VIRTIO_MSIX_TABLE_OFF) {
		msix_table_access(&v->msix, off - VIRTIO_MSIX_TABLE_OFF, data, len, is_write);
		return;
	}
	if (off >= VIRTIO_NOTIFY_OFF) {
		if (is_write)
			notify_write(v, off - VIRTIO_NOTIFY_OFF);
		else
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&v->lock);
	if (off >= VIRTIO_DEVCFG_OFF) {
		off -= VIRTIO_DEVCFG_OFF;
		if (off < v->cfg_size && len <= v->cfg_size - off) {
			if (is_write && v->ops->cfg_write)
				v->ops->cfg_write(v, (unsigned)off, data, len);
			else if (!is_write && v->ops->cfg_read)
				v->ops->cfg_read(v, (unsigned)off, data, len);
		} else if (!is_write) {
			memset(data, 0, len);
		}
	} else if (off >= VIRTIO_ISR_OFF) {
		if (!is_write)
			isr_read(v, data, len);
	} else {
		common_access(v, off, data, len, is_write);
	}
	pthread_mutex_unlock(&v->lock);
}

static void virtio_bar_moved(struct pci_dev *d, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
	struct virtio_dev *v = d->priv;
	struct machine *m = v->m;

	if (bar != VIRTIO_BAR || !m->ioeventfd)
		return;
	for (unsigned i = 0; i < v->nqueues; i++) {
		struct virtio_queue *q = &v->q[i];
		uint64_t a = new_addr + VIRTIO_NOTIFY_OFF + (uint64_t)VIRTIO_NOTIFY_MULT * i;

		if (q->ioeventfd_addr)
			m->ioeventfd(m, q->kickfd, q->ioeventfd_addr, 2, 0, 0);
		q->ioeventfd_addr = 0;
		/* Linux writes the queue index as 16 bits; other widths reach notify_write. */
		if (new_addr && m->ioeventfd(m, q->kickfd, a, 2, 0, 1) == 0)
			q->ioeventfd_addr = a;
	}
}

/* ---- queues, for device code ---- */

bool virtio_queue_ready(struct virtio_dev *v, unsigned qi)
{
	return qi < v->nqueues && (v->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(v->status & VIRTIO_STATUS_NEEDS_RESET) && !v->resetting && !v->paused && v->q[qi].vq.enabled &&
	       !v->q[qi].vq.broken;
}

int virtio_pop(struct virtio_dev *v, unsigned qi, struct virtq_elem *e)
{
	int r = 0;

	pthread_mutex_lock(&v->lock);
	if (virtio_queue_ready(v, qi)) {
		r = virtq_pop(&v->q[qi].vq, e);
		if (r > 0)
			v->inflight++;
		else if (r < 0)
			virtio_set_needs_reset(v);
	}
	pthread_mutex_unlock(&v->lock);
	return r;
}

int virtio_pop_many(struct virtio_dev *v, unsigned qi, struct virtq_elem **e, unsigned n)
{
	unsigned got = 0;
	int r = 0;

	pthread_mutex_lock(&v->lock);
	if (virtio_queue_ready(v, qi)) {
		while (got < n && (r = virtq_pop(&v->q[qi].vq, e[got])) > 0)
			got++;
		v->inflight += got;
		if (r < 0)
			virtio_set_needs_reset(v);
	}
	pthread_mutex_unlock(&v->lock);
	return (int)got;
}

static void virtio_put_inflight(struct virtio_dev *v)
{
	if (--v->inflight)
		return;
	if (v->resetting)
		virtio_finish_reset(v);
	pthread_cond_broadcast(&v->idle);
}

void virtio_complete(struct virtio_dev *v, unsigned qi, uint16_t head, uint32_t len)
{
	struct virtio_queue *q = &v->q[qi];

	pthread_mutex_lock(&v->lock);
	if (!v->resetting && q->vq.enabled) {
		virtq_push(&q->vq, head, len);
		if (virtq_should_notify(&q->vq))
			virtio_irq(v, q->msix_vector, 1);
	}
	virtio_put_inflight(v);
	pthread_mutex_unlock(&v->lock);
}

void virtio_complete_many(struct virtio_dev *v, unsigned qi, const struct virtq_used_elem *done, unsigned n)
{
	struct virtio_queue *q = &v->q[qi];

	if (!n)
		return;
	pthread_mutex_lock(&v->lock);
	if (!v->resetting && q->vq.enabled) {
		virtq_push_many(&q->vq, done, n);
		/* One decision for the lot: the guest sees them all when it wakes. */
		if (virtq_should_notify(&q->vq))
			virtio_irq(v, q->msix_vector, 1);
	}
	v->inflight -= n - 1;
	virtio_put_inflight(v);
	pthread_mutex_unlock(&v->lock);
}

unsigned virtio_queue_pending(struct virtio_dev *v, unsigned qi)
{
	unsigned n = 0;

	pthread_mutex_lock(&v->lock);
	if (virtio_queue_ready(v, qi))
		n = virtq_avail_count(&v->q[qi].vq);
	pthread_mutex_unlock(&v->lock);
	return n;
}

void virtio_drop(struct virtio_dev *v)
{
	pthread_mutex_lock(&v->lock);
	virtio_put_inflight(v);
	pthread_mutex_unlock(&v->lock);
}

void virtio_queue_notify_off(struct virtio_dev *v, unsigned qi)
{
	pthread_mutex_lock(&v->lock);
	if (virtio_queue_ready(v, qi))
		virtq_notify_off(&v->q[qi].vq);
	pthread_mutex_unlock(&v->lock);
}

bool virtio_queue_notify_on(struct virtio_dev *v, unsigned qi)
{
	bool more = false;

	pthread_mutex_lock(&v->lock);
	if (virtio_queue_ready(v, qi))
		more = virtq_notify_on(&v->q[qi].vq);
	pthread_mutex_unlock(&v->lock);
	return more;
}

void virtio_kick(struct virtio_dev *v, unsigned qi)
{
	uint64_t one = 1;

	if (qi < v->nqueues && write(v->q[qi].kickfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn_ratelimited(&v->rl, "virtio %s: kick: %s", v->name, strerror(errno));
}

static void virtio_kicked(void *opaque, uint32_t events)
{
	struct virtio_queue *q = opaque;
	struct virtio_dev *v = q->dev;
	uint64_t n;
	bool ready;

	if (read(q->kickfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&v->lock);
	ready = virtio_queue_ready(v, q->index);
	pthread_mutex_unlock(&v->lock);
	if (ready)
		v->ops->queue_notify(v, q->index);
}

/* ---- pause and state ---- */

void virtio_quiesce(struct virtio_dev *v)
{
	pthread_mutex_lock(&v->lock);
	v->paused = true;
	while (v->inflight)
		pthread_cond_wait(&v->idle, &v->lock);
	pthread_mutex_unlock(&v->lock);
}

void virtio_resume(struct virtio_dev *v)
{
	pthread_mutex_lock(&v->lock);
	v->paused = false;
	pthread_mutex_unlock(&v->lock);
	for (unsigned i = 0; i < v->nqueues; i++)
		virtio_kick(v, i);
}

void virtio_save(struct virtio_dev *v, struct virtio_state *s)
{
	pthread_mutex_lock(&v->lock);
	memset(s, 0, sizeof(*s));
	s->status = v->status;
	s->isr = v->isr;
	s->config_generation = v->config_generation;
	s->guest_features = v->guest_features;
	s->msix_config = v->msix_config;
	s->dfselect = v->dfselect;
	s->gfselect = v->gfselect;
	s->queue_select = v->queue_select;
	for (unsigned i = 0; i < v->nqueues; i++) {
		virtq_save(&v->q[i].vq, &s->q[i].vq);
		s->q[i].msix_vector = v->q[i].msix_vector;
	}
	pthread_mutex_unlock(&v->lock);
}

int virtio_load(struct virtio_dev *v, const struct virtio_state *s)
{
	int r = 0;

	pthread_mutex_lock(&v->lock);
	v->status = s->status;
	v->isr = s->isr;
	v->config_generation = s->config_generation;
	v->guest_features = s->guest_features & v->host_features;
	v->msix_config = valid_vector(v, s->msix_config);
	v->dfselect = s->dfselect;
	v->gfselect = s->gfselect;
	v->queue_select = s->queue_select;
	for (unsigned i = 0; i < v->nqueues && !r; i++) {
		struct virtio_queue *q = &v->q[i];

		q->msix_vector = valid_vector(v, s->q[i].msix_vector);
		q->vq.event_idx = virtio_has_feature(v, VIRTIO_F_EVENT_IDX);
		q->vq.indirect = virtio_has_feature(v, VIRTIO_F_INDIRECT_DESC);
		if (s->q[i].vq.size > q->max_size)
			r = -EINVAL;
		else
			r = virtq_load(&q->vq, v->m->mem, &s->q[i].vq);
	}
	pthread_mutex_unlock(&v->lock);
	return r;
}

/* ---- creation ---- */

/*
 * VIRTIO_PCI_CAP_PCI_CFG: a window through config space into the BAR, for
 * drivers that cannot map it (the spec requires it).  The driver writes
 * bar, offset and length into the capability, then reads or writes
 * pci_cfg_data; kite forwards that to the BAR as an access of `length`
 * bytes.  Anything else (another BAR, a length other than 1, 2 or 4, a
 * range outside the BAR) reads as zero and writes nothing.
 */
#define VIRTIO_PCI_CFG_DATA 16 /* offset of pci_cfg_data in the capability */

static void virtio_pci_cfg_window(struct pci_dev *d, unsigned off, uint8_t *data, unsigned len, bool is_write)
{
	struct virtio_dev *v = d->priv;
	unsigned cap = d->window_reg - VIRTIO_PCI_CFG_DATA;
	struct pci_bar *b = &d->bar[VIRTIO_BAR];
	uint32_t boff, blen;
	uint8_t bar, buf[4] = { 0 };

	pthread_mutex_lock(&d->bus->lock);
	bar = d->cfg[cap + 4];
	memcpy(&boff, &d->cfg[cap + 8], 4);
	memcpy(&blen, &d->cfg[cap + 12], 4);
	pthread_mutex_unlock(&d->bus->lock);
	if (bar != VIRTIO_BAR || off != 0 || len != blen || (blen != 1 && blen != 2 && blen != 4) ||
	    boff >= b->size || blen > b->size - boff) {
		if (!is_write)
			memset(data, 0, len);
		pr_warn_ratelimited(&v->rl, "virtio %s: PCI_CFG access to bar %u offset 0x%x length %u ignored", v->name,
				    bar, boff, blen);
		return;
	}
	if (is_write)
		memcpy(buf, data, len);
	b->fn(b->opaque, boff, buf, blen, is_write);
	if (!is_write)
		memcpy(data, buf, len);
}

static int virtio_add_caps(struct virtio_dev *v)
{
	struct virtio_pci_cap c = { .len = 16, .bar = VIRTIO_BAR };
	int r;

	c.cfg_type = VIRTIO_PCI_CAP_COMMON;
	c.offset = VIRTIO_COMMON_OFF;
	c.length = VIRTIO_COMMON_SIZE;
	r = pci_dev_add_cap(&v->pci, PCI_CAP_ID_VNDR, &c, 16);
	c.cfg_type = VIRTIO_PCI_CAP_ISR;
	c.offset = VIRTIO_ISR_OFF;
	c.length = 1;
	if (r >= 0)
		r = pci_dev_add_cap(&v->pci, PCI_CAP_ID_VNDR, &c, 16);
	c.cfg_type = VIRTIO_PCI_CAP_DEVICE;
	c.offset = VIRTIO_DEVCFG_OFF;
	c.length = v->cfg_size;
	if (r >= 0 && v->cfg_size)
		r = pci_dev_add_cap(&v->pci, PCI_CAP_ID_VNDR, &c, 16);
	c.len = 20;
	c.cfg_type = VIRTIO_PCI_CAP_NOTIFY;
	c.offset = VIRTIO_NOTIFY_OFF;
	c.length = VIRTIO_NOTIFY_MULT * v->nqueues;
	c.notify_off_multiplier = VIRTIO_NOTIFY_MULT;
	if (r >= 0)
		r = pci_dev_add_cap(&v->pci, PCI_CAP_ID_VNDR, &c, 20);
	c.len = 20;
	c.cfg_type = VIRTIO_PCI_CAP_PCI_CFG;
	c.bar = 0;
	c.offset = 0;
	c.length = 0;
	c.notify_off_multiplier = 0; /* here: pci_cfg_data */
	if (r >= 0)
		r = pci_dev_add_cap(&v->pci, PCI_CAP_ID_VNDR, &c, 20);
	if (r >= 0) {
		pci_dev_cfg_writable(&v->pci, r + 4, 1);  /* bar */
		pci_dev_cfg_writable(&v->pci, r + 8, 8);  /* offset, length */
		pci_dev_set_window(&v->pci, r + VIRTIO_PCI_CFG_DATA, 4, virtio_pci_cfg_window);
	}
	return r < 0 ? r : 0;
}

static int virtio_init_queues(struct virtio_dev *v, uint16_t queue_size)
{
	for (unsigned i = 0; i < v->nqueues; i++) {
		struct virtio_queue *q = &v->q[i];
		int r;

		q->dev = v;
		q->index = i;
		q->max_size = queue_size;
		q->msix_vector = MSIX_NO_VECTOR;
		snprintf(q->name, sizeof(q->name), "%s.q%u", v->name, i);
		q->vq.name = q->name;
		q->vq.rl = &v->rl;
		q->vq.size = queue_size;
		q->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->kickfd < 0)
			return -errno;
		if (!q->loop)
			q->loop = v->loop;
		r = event_loop_add(q->loop, q->kickfd, EPOLLIN, virtio_kicked, q);
		if (r) {
			close(q->kickfd);
			q->kickfd = -1;
			return r;
		}
	}
	return 0;
}

int virtio_dev_init(struct virtio_dev *v, struct pci_bus *pci, struct machine *m, const char *name, unsigned type,
		    uint32_t class_code, uint64_t features, unsigned nqueues, uint16_t queue_size, unsigned cfg_size,
		    const struct virtio_ops *ops)
{
	int r;

	if (!nqueues || nqueues > VIRTIO_MAX_QUEUES || !queue_size || (queue_size & (queue_size - 1)) ||
	    cfg_size > 0x1000)
		return -EINVAL;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		v->q[i].kickfd = -1;
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->m = m;
	if (!v->loop)
		v->loop = m->loop;
	v->ops = ops;
	v->type = type;
	v->cfg_size = cfg_size;
	v->nqueues = nqueues;
	v->msix_config = MSIX_NO_VECTOR;
	v->host_features = features | 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_EVENT_IDX |
			   1ull << VIRTIO_F_INDIRECT_DESC;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->idle, NULL);

	pci_dev_init(&v->pci, name, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + type), class_code, 1,
		     VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS_ID);
	v->pci.priv = v;
	v->pci.bar_moved = virtio_bar_moved;
	r = pci_dev_add_bar(&v->pci, VIRTIO_BAR, VIRTIO_BAR_SIZE, virtio_bar_access, v);
	if (!r)
		r = virtio_add_caps(v);
	if (!r)
		r = msix_init(&v->msix, &v->pci, m, nqueues + 1, VIRTIO_BAR, VIRTIO_MSIX_TABLE_OFF,
			      VIRTIO_MSIX_PBA_OFF);
	if (r)
		goto fail;
	r = virtio_init_queues(v, queue_size);
	if (r)
		goto fail_msix;
	r = pci_register(pci, &v->pci);
	if (r)
		goto fail_msix;
	return 0;
fail_msix:
	msix_exit(&v->msix);
fail:
	for (unsigned i = 0; i < nqueues; i++) {
		if (v->q[i].kickfd >= 0) {
			event_loop_del(v->q[i].loop, v->q[i].kickfd);
			close(v->q[i].kickfd);
		}
	}
	pthread_cond_destroy(&v->idle);
	pthread_mutex_destroy(&v->lock);
	pr_err("virtio %s: cannot create the device: %s", name, strerror(-r));
	return r;
}

void virtio_dev_exit(struct virtio_dev *v)
{
	if (!v->m)
		return;
	if (v->pci.bus)
		pci_unregister(v->pci.bus, &v->pci);
	msix_exit(&v->msix);
	for (unsigned i = 0; i < v->nqueues; i++) {
		event_loop_del(v->q[i].loop, v->q[i].kickfd);
		close(v->q[i].kickfd);
	}
	pthread_cond_destroy(&v->idle);
	pthread_mutex_destroy(&v->lock);
	v->m = NULL;
}
