// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include <kite/gmem.h>
#include <kite/log.h>
#include <kite/util.h>
#include <kite/virtq.h>

#define broken(q, fmt, ...)                                                                       \
	({                                                                                        \
		(q)->broken = true;                                                               \
		if ((q)->rl)                                                                      \
			pr_warn_ratelimited((q)->rl, "virtio %s: " fmt "; device needs reset",    \
					    (q)->name ? (q)->name : "queue", ##__VA_ARGS__);      \
		-EIO;                                                                             \
	})

/* Guest-shared fields: single loads/stores, never torn or repeated by the compiler. */
static inline uint16_t load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* The avail_event field after the used ring (EVENT_IDX), written by us. */
static inline uint16_t *avail_event(struct virtq *q)
{
	return (uint16_t *)((uint8_t *)q->used + 4 + 8 * (size_t)q->size);
}

int virtq_enable(struct virtq *q, const struct gmem *mem)
{
	uint64_t n = q->size;

	q->mem = mem;
	if (!n || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
		return broken(q, "queue size %u is not a power of two <= %u", q->size, VIRTQ_MAX_SIZE);
	if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
		return broken(q, "misaligned rings (desc 0x%llx avail 0x%llx used 0x%llx)",
			      (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
			      (unsigned long long)q->used_gpa);
	q->desc = gmem_ptr(mem, q->desc_gpa, 16 * n);
	q->avail = gmem_ptr(mem, q->avail_gpa, 6 + 2 * n);
	q->used = gmem_ptr(mem, q->used_gpa, 6 + 8 * n);
	if (!q->desc || !q->avail || !q->used) {
		q->desc = NULL;
		q->avail = NULL;
		q->used = NULL;
		return broken(q, "rings outside guest RAM (desc 0x%llx avail 0x%llx used 0x%llx, size %u)",
			      (unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
			      (unsigned long long)q->used_gpa, q->size);
	}
	q->enabled = true;
	q->broken = false;
	q->signalled_valid = false;
	return 0;
}

void virtq_reset(struct virtq *q)
{
	const char *name = q->name;
	struct ratelimit *rl = q->rl;

	memset(q, 0, sizeof(*q));
	q->name = name;
	q->rl = rl;
}

unsigned virtq_avail_count(struct virtq *q)
{
	if (!q->enabled || q->broken)
		return 0;
	/* A bogus index shows as more than the queue holds; virtq_pop then says why. */
	return (uint16_t)(__atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE) - q->last_avail);
}

bool virtq_pending(struct virtq *q)
{
	return virtq_avail_count(q) != 0;
}

/* Adds one checked buffer to the element. */
static int elem_add(struct virtq *q, struct virtq_elem *e, const struct virtq_desc *d)
{
	void *p;

	if (!d->len)
		return broken(q, "zero-length descriptor");
	p = gmem_ptr(q->mem, d->addr, d->len);
	if (!p)
		return broken(q, "descriptor 0x%llx+0x%x is outside guest RAM", (unsigned long long)d->addr, d->len);
	if (e->nout + e->nin >= e->cap)
		return broken(q, "chain longer than %u buffers", e->cap);
	if (d->flags & VIRTQ_DESC_F_WRITE) {
		e->nin++;
		e->in_len += d->len;
	} else {
		if (e->nin)
			return broken(q, "readable descriptor after a writable one");
		e->nout++;
		e->out_len += d->len;
	}
	e->iov[e->nout + e->nin - 1] = (struct iovec){ .iov_base = p, .iov_len = d->len };
	return 0;
}

/* Copies descriptor i of table t (of n entries) once; the guest may be rewriting it. */
static void desc_read(const struct virtq_desc *t, unsigned i, struct virtq_desc *d)
{
	memcpy(d, &t[i], sizeof(*d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static int walk_indirect(struct virtq *q, struct virtq_elem *e, const struct virtq_desc *ind)
{
	const struct virtq_desc *t;
	struct virtq_desc d;
	unsigned n, i = 0, seen = 0;
	int r;

	if (!q->indirect)
		return broken(q, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
	if (ind->flags & VIRTQ_DESC_F_NEXT)
		return broken(q, "indirect descriptor with NEXT set");
	if (!ind->len || ind->len % sizeof(d))
		return broken(q, "indirect table length %u is not a multiple of 16", ind->len);
	n = ind->len / sizeof(d);
	if (n > VIRTQ_MAX_SIZE)
		return broken(q, "indirect table of %u entries", n);
	t = gmem_ptr(q->mem, ind->addr, ind->len);
	if (!t)
		return broken(q, "indirect table 0x%llx+0x%x is outside guest RAM", (unsigned long long)ind->addr,
			      ind->len);
	for (;;) {
		if (i >= n)
			return broken(q, "indirect next index %u beyond table of %u", i, n);
		if (++seen > n)
			return broken(q, "loop in indirect table");
		desc_read(t, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return broken(q, "indirect descriptor inside an indirect table");
		r = elem_add(q, e, &d);
		if (r)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

static int walk_chain(struct virtq *q, struct virtq_elem *e, unsigned head)
{
	struct virtq_desc d;
	unsigned i = head, seen = 0;
	int r;

	for (;;) {
		if (i >= q->size)
			return broken(q, "descriptor index %u beyond queue size %u", i, q->size);
		if (++seen > q->size)
			return broken(q, "descriptor chain loops (longer than queue size %u)", q->size);
		desc_read(q->desc, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (seen != 1 || e->nout + e->nin)
				return broken(q, "indirect descriptor in the middle of a chain");
			return walk_indirect(q, e, &d);
		}
		r = elem_add(q, e, &d);
		if (r)
			return r;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_elem *e)
{
	uint16_t avail_idx, head;

	if (!q->enabled || q->broken)
		return q->broken ? -EIO : 0;
	/* Acquire: the ring entry and descriptors are read after the index that published them. */
	avail_idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
	if (avail_idx == q->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - q->last_avail) > q->size)
		return broken(q, "avail index jumped from %u to %u (queue size %u)", q->last_avail, avail_idx,
			      q->size);
	head = load16(&q->avail->ring[q->last_avail % q->size]);
	e->head = head;
	e->nout = e->nin = 0;
	e->out_len = e->in_len = 0;
	if (walk_chain(q, e, head))
		return -EIO;
	q->last_avail++;
	if (q->event_idx && !q->quiet)
		store16(avail_event(q), q->last_avail);
	return 1;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	struct virtq_used_elem *u;

	if (!q->enabled)
		return;
	u = &q->used->ring[q->used_idx % q->size];
	__atomic_store_n(&u->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, len, __ATOMIC_RELAXED);
	q->used_idx++;
	/* Release: the element is visible before the index that publishes it. */
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
}

void virtq_push_many(struct virtq *q, const struct virtq_used_elem *done, unsigned n)
{
	if (!q->enabled || !n)
		return;
	for (unsigned i = 0; i < n; i++) {
		struct virtq_used_elem *u = &q->used->ring[(uint16_t)(q->used_idx + i) % q->size];

		__atomic_store_n(&u->id, done[i].id, __ATOMIC_RELAXED);
		__atomic_store_n(&u->len, done[i].len, __ATOMIC_RELAXED);
	}
	q->used_idx = (uint16_t)(q->used_idx + n);
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_notify(struct virtq *q)
{
	uint16_t old, new, event;

	if (!q->enabled)
		return false;
	/* Our used->idx store must be ordered before reading the guest's suppression fields. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(load16(&q->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	old = q->signalled_used;
	new = q->used_idx;
	event = load16(&q->avail->ring[q->size]);
	if (q->signalled_valid && old == new)
		return false;
	q->signalled_used = new;
	if (!q->signalled_valid) {
		q->signalled_valid = true;
		return true;
	}
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

void virtq_notify_off(struct virtq *q)
{
	if (!q->enabled)
		return;
	q->quiet = true;
	if (!q->event_idx)
		store16(&q->used->flags, VIRTQ_USED_F_NO_NOTIFY);
}

bool virtq_notify_on(struct virtq *q)
{
	if (!q->enabled || q->broken)
		return false;
	q->quiet = false;
	if (q->event_idx)
		store16(avail_event(q), q->last_avail);
	else
		store16(&q->used->flags, 0);
	/* The flag store must be visible before we look at avail->idx again. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_pending(q);
}

void virtq_save(const struct virtq *q, struct virtq_state *s)
{
	*s = (struct virtq_state){
		.size = q->size,
		.enabled = q->enabled,
		.desc_gpa = q->desc_gpa,
		.avail_gpa = q->avail_gpa,
		.used_gpa = q->used_gpa,
		.last_avail = q->last_avail,
		.used_idx = q->used_idx,
	};
}

int virtq_load(struct virtq *q, const struct gmem *mem, const struct virtq_state *s)
{
	q->size = s->size;
	q->desc_gpa = s->desc_gpa;
	q->avail_gpa = s->avail_gpa;
	q->used_gpa = s->used_gpa;
	q->last_avail = s->last_avail;
	q->used_idx = s->used_idx;
	if (!s->enabled)
		return 0;
	return virtq_enable(q, mem);
}

/* Copies between buf and the vector from byte off of it on, either way; returns the bytes copied. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t off, uint8_t *buf, size_t len, bool into_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		uint8_t *p;
		size_t c;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		c = MIN(iov[i].iov_len - off, len - done);
		p = (uint8_t *)iov[i].iov_base + off;
		memcpy(into_iov ? p : buf + done, into_iov ? buf + done : p, c);
		done += c;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
	return iov_copy(iov, n, off, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
	/* Only read from buf in this direction. */
	return iov_copy(iov, n, off, (uint8_t *)(uintptr_t)buf, len, true);
}

int iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *dst, unsigned max)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len; i++) {
		size_t c;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		if (k == max)
			return -1;
		c = MIN(iov[i].iov_len - off, len);
		dst[k++] = (struct iovec){ .iov_base = (uint8_t *)iov[i].iov_base + off, .iov_len = c };
		len -= c;
		off = 0;
	}
	return len ? -1 : (int)k;
}
