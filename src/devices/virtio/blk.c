// SPDX-License-Identifier: MIT
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <kite/config.h>
#include <kite/disk.h>
#include <kite/disk_aio.h>
#include <kite/event.h>
#include <kite/log.h>
#include <kite/machine.h>
#include <kite/util.h>
#include <kite/virtio.h>
#include <kite/virtio_blk.h>

#define BLK_WORKERS 4
#define BLK_IOV_CAP (VIRTIO_BLK_SEG_MAX + 2)
#define BLK_BATCH   32         /* chains served per used-ring update and interrupt */
#define BLK_WORKER_BATCH 8     /* requests a worker takes (and completes) at once */
#define BLK_POLL_MIN_NS 4000u  /* first polling window once polling pays */
#define BLK_AGAIN   0xff       /* from blk_rw: not a status, retry on a worker */
#define BLK_QUEUED  0xfe       /* from blk_rw: not a status, on the disk's ring */
#define BLK_EXEC_AGAIN UINT32_MAX /* the same from blk_execute */
#define BLK_EXEC_QUEUED (UINT32_MAX - 1)

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_range {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

struct blk_req {
	struct virtq_elem e;
	struct iovec iov[BLK_IOV_CAP];
	struct iovec data[BLK_IOV_CAP];
	struct blk_req *next;
	unsigned qi; /* the queue it came from, and goes back to */
	/* On the ring: what completion must find (I/O thread only). */
	uint32_t ring_type;
	uint32_t ring_len;
};

/*
 * A request queue and its I/O thread: an epoll loop of its own over the
 * queue's doorbell (and ring), so I/O done inline never holds up the VM's
 * loop, another disk or another queue of this disk.
 */
struct blk_queue {
	struct virtio_blk *b;
	unsigned index;
	struct event_loop *loop;
	struct disk_aio *aio; /* cache=none with io_uring: this thread's ring */
	pthread_t thread;
	bool running;
	/* Polling the avail ring after a batch (this thread only). */
	uint32_t poll_ns;     /* current window, adapted between 0 and poll_max_ns */
	uint64_t idle_since;  /* when the thread last went to sleep on the doorbell */
};

struct virtio_blk {
	struct virtio_dev vdev;
	struct disk disk;
	uint64_t capacity; /* sectors */
	char serial[VIRTIO_BLK_ID_BYTES];
	uint8_t cfg[VIRTIO_BLK_CFG_SIZE];
	struct ratelimit rl;

	pthread_mutex_t lock; /* the lists below */
	pthread_cond_t work;
	struct blk_req *free;
	struct blk_req *todo, **todo_tail;
	bool starved; /* a queue found no free request: kick them when one returns */
	bool stop;
	uint32_t poll_max_ns;  /* 0: never poll (any thread) */
	struct virtio_blk_stats stats;
	unsigned nqueues;
	struct blk_queue q[VIRTIO_BLK_MAX_QUEUES];
	unsigned nworkers;
	pthread_t workers[BLK_WORKERS];
	struct blk_req reqs[VIRTIO_BLK_QUEUE_SIZE];
};

struct virtio_dev *virtio_blk_dev(struct virtio_blk *b)
{
	return &b->vdev;
}

/* ---- request execution (worker threads) ---- */

static bool blk_range_ok(struct virtio_blk *b, uint64_t sector, uint64_t nsect)
{
	return sector <= b->capacity && nsect <= b->capacity - sector;
}

/*
 * A write done on the disk's I/O thread without a hand-off.  RWF_NOWAIT
 * where the file system honours it; where it refuses non-blocking buffered
 * writes outright (ext4), a plain buffered write all the same: it lands in
 * the page cache, blocks only this disk's queue and only while writeback
 * throttles writers, and costs far less than waking a worker (bench/virtio-blk:
 * 4 KiB writes at QD16 went from 12 to 6 us of device CPU each).  O_DIRECT
 * writes go to the disk itself: those stay with the workers.  -EAGAIN: use one.
 */
static int blk_write_here(struct virtio_blk *b, const struct iovec *iov, int n, uint64_t off)
{
	int err = disk_try_pwritev(&b->disk, iov, n, off);

	if (err == -EAGAIN && !b->disk.direct && __atomic_load_n(&b->disk.nowait_write_refused, __ATOMIC_RELAXED))
		err = disk_pwritev(&b->disk, iov, n, off);
	return err;
}

static uint8_t blk_rw(struct virtio_blk *b, struct blk_req *r, const struct blk_hdr *h, uint32_t *written,
		      bool nowait)
{
	struct virtq_elem *e = &r->e;
	bool write = h->type == VIRTIO_BLK_T_OUT;
	size_t len = write ? e->out_len - sizeof(*h) : e->in_len - 1;
	uint64_t off = h->sector * DISK_SECTOR;
	int n, err;

	/* A read brings no data of its own and a write expects nothing back but the status. */
	if ((write && e->in_len != 1) || (!write && e->out_len != sizeof(*h)))
		return VIRTIO_BLK_S_IOERR;
	if (len % DISK_SECTOR || !blk_range_ok(b, h->sector, len / DISK_SECTOR))
		return VIRTIO_BLK_S_IOERR;
	if (write && b->disk.readonly)
		return VIRTIO_BLK_S_IOERR;
	if (write)
		n = iov_slice(e->iov, e->nout, sizeof(*h), len, r->data, BLK_IOV_CAP);
	else
		n = iov_slice(e->iov + e->nout, e->nin, 0, len, r->data, BLK_IOV_CAP);
	if (n < 0)
		return VIRTIO_BLK_S_IOERR;
	if (!n)
		return VIRTIO_BLK_S_OK;
	if (nowait && b->q[r->qi].aio) {
		/* Unaligned buffers (bounced on a worker) or a full ring: the worker path. */
		if (disk_aio_queue(b->q[r->qi].aio, write ? DISK_AIO_WRITE : DISK_AIO_READ, r->data, n, off, r))
			return BLK_AGAIN;
		r->ring_type = h->type;
		r->ring_len = (uint32_t)len;
		return BLK_QUEUED;
	}
	if (nowait) {
		err = write ? blk_write_here(b, r->data, n, off) : disk_try_preadv(&b->disk, r->data, n, off);
		if (err == -EAGAIN)
			return BLK_AGAIN;
	} else {
		err = write ? disk_pwritev(&b->disk, r->data, n, off) : disk_preadv(&b->disk, r->data, n, off);
	}
	if (err) {
		pr_warn_ratelimited(&b->rl, "virtio %s: %s at sector %llu: %s", b->vdev.name, write ? "write" : "read",
				    (unsigned long long)h->sector, strerror(-err));
		return VIRTIO_BLK_S_IOERR;
	}
	if (!write)
		*written += (uint32_t)len;
	return VIRTIO_BLK_S_OK;
}

/* Per-device counters for kite stats and /metrics (loop and worker threads). */
static void blk_count(struct virtio_blk *b, uint32_t type, uint8_t status, uint64_t bytes)
{
	if (status == VIRTIO_BLK_S_IOERR)
		__atomic_add_fetch(&b->stats.errors, 1, __ATOMIC_RELAXED);
	if (status != VIRTIO_BLK_S_OK)
		return;
	if (type == VIRTIO_BLK_T_IN) {
		__atomic_add_fetch(&b->stats.read_reqs, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&b->stats.read_bytes, bytes, __ATOMIC_RELAXED);
	} else if (type == VIRTIO_BLK_T_OUT) {
		__atomic_add_fetch(&b->stats.write_reqs, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&b->stats.write_bytes, bytes, __ATOMIC_RELAXED);
	} else if (type == VIRTIO_BLK_T_FLUSH) {
		__atomic_add_fetch(&b->stats.flushes, 1, __ATOMIC_RELAXED);
	}
}

static uint8_t blk_get_id(struct virtio_blk *b, struct blk_req *r, uint32_t *written)
{
	struct virtq_elem *e = &r->e;
	size_t n = MIN(e->in_len - 1, (size_t)VIRTIO_BLK_ID_BYTES);

	*written += (uint32_t)iov_from_buf(e->iov + e->nout, e->nin, 0, b->serial, n);
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_discard(struct virtio_blk *b, struct blk_req *r, uint32_t type)
{
	struct virtq_elem *e = &r->e;
	size_t len = e->out_len - sizeof(struct blk_hdr);
	bool zeroes = type == VIRTIO_BLK_T_WRITE_ZEROES;
	uint64_t feature = zeroes ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD;

	if (!(b->vdev.host_features & (1ull << feature)))
		return VIRTIO_BLK_S_UNSUPP;
	if (len % sizeof(struct blk_range) || !len || len / sizeof(struct blk_range) > VIRTIO_BLK_MAX_DISCARD_SEG)
		return VIRTIO_BLK_S_IOERR;
	for (size_t off = 0; off < len; off += sizeof(struct blk_range)) {
		struct blk_range s;
		int err;

		iov_to_buf(e->iov, e->nout, sizeof(struct blk_hdr) + off, &s, sizeof(s));
		if (s.flags & ~(uint32_t)(zeroes ? 1 : 0))
			return VIRTIO_BLK_S_UNSUPP;
		if (s.num_sectors > VIRTIO_BLK_MAX_DISCARD_SECTORS || !blk_range_ok(b, s.sector, s.num_sectors))
			return VIRTIO_BLK_S_IOERR;
		err = zeroes ? disk_write_zeroes(&b->disk, s.sector * DISK_SECTOR,
						 (uint64_t)s.num_sectors * DISK_SECTOR, s.flags & 1)
			     : disk_discard(&b->disk, s.sector * DISK_SECTOR, (uint64_t)s.num_sectors * DISK_SECTOR);
		if (err)
			return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

/* Counts a request and writes its status byte; returns the used length (bytes written, status included). */
static uint32_t blk_finish(struct virtio_blk *b, struct blk_req *r, uint32_t type, uint8_t status, uint32_t written)
{
	struct virtq_elem *e = &r->e;

	blk_count(b, type, status, type == VIRTIO_BLK_T_OUT ? e->out_len - sizeof(struct blk_hdr) : written);
	iov_from_buf(e->iov + e->nout, e->nin, e->in_len - 1, &status, 1);
	return written + 1;
}

/* A flush on the ring: ordered after the writes already completed, which is all virtio asks. */
static uint32_t blk_flush_on_ring(struct virtio_blk *b, struct blk_req *r)
{
	if (disk_aio_queue(b->q[r->qi].aio, DISK_AIO_FLUSH, NULL, 0, 0, r))
		return BLK_EXEC_AGAIN;
	r->ring_type = VIRTIO_BLK_T_FLUSH;
	r->ring_len = 0;
	return BLK_EXEC_QUEUED;
}

/*
 * Executes one request; returns the bytes written into the guest's buffers,
 * status included.  With `nowait` (the I/O thread) only I/O that will not wait on the disk
 * is done; anything else returns BLK_AGAIN without effect.
 */
static uint32_t blk_execute(struct virtio_blk *b, struct blk_req *r, bool nowait)
{
	struct virtq_elem *e = &r->e;
	struct blk_hdr h;
	uint32_t written = 0;
	uint8_t status;

	if (e->out_len < sizeof(h) || e->in_len < 1) {
		pr_warn_ratelimited(&b->rl, "virtio %s: request without header or status byte", b->vdev.name);
		return 0;
	}
	iov_to_buf(e->iov, e->nout, 0, &h, sizeof(h));
	if (nowait && b->q[r->qi].aio && h.type == VIRTIO_BLK_T_FLUSH)
		return blk_flush_on_ring(b, r);
	/* Flush, discard and write-zeroes may block: a worker's job. */
	if (nowait && (h.type == VIRTIO_BLK_T_FLUSH || h.type == VIRTIO_BLK_T_DISCARD ||
		       h.type == VIRTIO_BLK_T_WRITE_ZEROES))
		return BLK_EXEC_AGAIN;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		status = blk_rw(b, r, &h, &written, nowait);
		if (status == BLK_AGAIN)
			return BLK_EXEC_AGAIN;
		if (status == BLK_QUEUED)
			return BLK_EXEC_QUEUED;
		break;
	case VIRTIO_BLK_T_FLUSH:
		status = disk_flush(&b->disk) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_GET_ID:
		status = blk_get_id(b, r, &written);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		status = blk_discard(b, r, h.type);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
	}
	return blk_finish(b, r, h.type, status, written);
}

/* ---- request lists ---- */

/*
 * Takes up to max free requests into r[] under one lock; none left makes
 * the next blk_put_free kick the queues.
 */
static unsigned blk_get_free(struct virtio_blk *b, struct blk_req **r, unsigned max)
{
	unsigned n = 0;

	pthread_mutex_lock(&b->lock);
	while (b->free && n < max) {
		r[n++] = b->free;
		b->free = b->free->next;
	}
	if (!n)
		b->starved = true;
	pthread_mutex_unlock(&b->lock);
	return n;
}

/* Returns the list head..tail to the free list; kicks the queues if one ran out. */
static void blk_put_free(struct virtio_blk *b, struct blk_req *head, struct blk_req *tail)
{
	bool kick;

	pthread_mutex_lock(&b->lock);
	tail->next = b->free;
	b->free = head;
	kick = b->starved;
	b->starved = false;
	pthread_mutex_unlock(&b->lock);
	for (unsigned i = 0; kick && i < b->nqueues; i++)
		virtio_kick(&b->vdev, i);
}

/* Queues n requests (a list) for the workers with one lock and as few wake-ups as will help. */
static void blk_submit(struct virtio_blk *b, struct blk_req *head, struct blk_req *tail, unsigned n)
{
	pthread_mutex_lock(&b->lock);
	tail->next = NULL;
	*b->todo_tail = head;
	b->todo_tail = &tail->next;
	for (unsigned i = 0; i < n; i += BLK_WORKER_BATCH)
		pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->lock);
}

/* Takes up to BLK_WORKER_BATCH queued requests into r[]; 0 when stopping. */
static unsigned blk_take_work(struct virtio_blk *b, struct blk_req **r)
{
	unsigned n = 0;

	pthread_mutex_lock(&b->lock);
	while (!b->todo && !b->stop)
		pthread_cond_wait(&b->work, &b->lock);
	while (b->todo && n < BLK_WORKER_BATCH) {
		r[n++] = b->todo;
		b->todo = b->todo->next;
	}
	if (!b->todo)
		b->todo_tail = &b->todo;
	pthread_mutex_unlock(&b->lock);
	return n;
}

static void *blk_worker(void *opaque)
{
	struct virtio_blk *b = opaque;
	struct virtq_used_elem done[BLK_WORKER_BATCH];
	struct blk_req *r[BLK_WORKER_BATCH];
	unsigned n;

	pthread_setname_np(pthread_self(), "kite-blk-wk");
	while ((n = blk_take_work(b, r))) {
		unsigned first = 0;

		for (unsigned i = 0; i < n; i++) {
			done[i] = (struct virtq_used_elem){ .id = r[i]->e.head, .len = blk_execute(b, r[i], false) };
			r[i]->next = i + 1 < n ? r[i + 1] : NULL;
			/* Each run of one queue's requests goes back to that queue in one update. */
			if (i + 1 == n || r[i + 1]->qi != r[first]->qi) {
				virtio_complete_many(&b->vdev, r[first]->qi, done + first, i + 1 - first);
				first = i + 1;
			}
		}
		blk_put_free(b, r[0], r[n - 1]);
	}
	return NULL;
}

/* ---- a queue (its I/O thread) ---- */

/* Everything a batch queued goes to the kernel in one system call. */
static void blk_ring_submit(struct blk_queue *q)
{
	int r = disk_aio_submit(q->aio);

	/* Left in the ring, it goes with the next batch's submit. */
	if (r < 0)
		pr_warn_ratelimited(&q->b->rl, "virtio %s: io_uring submit: %s", q->b->vdev.name, strerror(-r));
}

/* Counters are added to by every queue's thread and read by anyone. */
#define blk_stat_add(b, field, n) __atomic_add_fetch(&(b)->stats.field, (n), __ATOMIC_RELAXED)

/* A singly linked list with a tail, for handing requests on in one go. */
struct blk_list {
	struct blk_req *head, *tail;
	unsigned n;
};

static void blk_list_add(struct blk_list *l, struct blk_req *r)
{
	if (l->n++)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

/*
 * Pops and serves up to BLK_BATCH chains, taking request slots and chains
 * under one lock each.  Those done here (page-cache hits) go back to the
 * guest together: one used-index update and at most one interrupt; those
 * that could block go to the workers together.  Returns the number popped,
 * or -EBUSY when every request slot is in use.
 */
static int blk_run_batch(struct blk_queue *q, unsigned *completed)
{
	struct virtio_blk *b = q->b;
	unsigned qi = q->index;
	struct virtq_used_elem done[BLK_BATCH];
	struct virtq_elem *e[BLK_BATCH];
	struct blk_req *r[BLK_BATCH];
	struct blk_list freed = { 0 }, slow = { 0 };
	unsigned have, n, ndone = 0, ring = 0;

	/* As many slots as there are chains: no list walks for slots that go back unused. */
	n = MIN(virtio_queue_pending(&b->vdev, qi), (unsigned)BLK_BATCH);
	if (!n)
		return 0;
	have = blk_get_free(b, r, n);
	if (!have)
		return -EBUSY; /* blk_put_free kicks us again */
	for (unsigned i = 0; i < have; i++)
		e[i] = &r[i]->e;
	n = virtio_pop_many(&b->vdev, qi, e, have);
	for (unsigned i = 0; i < n; i++) {
		uint32_t written;

		r[i]->qi = qi;
		written = blk_execute(b, r[i], true);

		if (written == BLK_EXEC_AGAIN) {
			blk_list_add(&slow, r[i]);
			continue;
		}
		if (written == BLK_EXEC_QUEUED) {
			ring++;
			continue;
		}
		done[ndone++] = (struct virtq_used_elem){ .id = r[i]->e.head, .len = written };
		blk_list_add(&freed, r[i]);
	}
	for (unsigned i = n; i < have; i++)
		blk_list_add(&freed, r[i]);
	if (ring)
		blk_ring_submit(q);
	if (slow.n)
		blk_submit(b, slow.head, slow.tail, slow.n);
	virtio_complete_many(&b->vdev, qi, done, ndone);
	*completed += ndone;
	if (freed.n)
		blk_put_free(b, freed.head, freed.tail);
	blk_stat_add(b, chains, n);
	blk_stat_add(b, to_workers, slow.n);
	blk_stat_add(b, to_ring, ring);
	blk_stat_add(b, batches, n ? 1 : 0);
	return (int)n;
}

/* ---- the ring (cache=none with io_uring; I/O thread) ---- */

/* Completions taken from the ring in one pass, returned to the guest together. */
struct blk_reaped {
	struct virtio_blk *b;
	unsigned qi;
	struct virtq_used_elem done[VIRTIO_BLK_QUEUE_SIZE];
	struct blk_list freed, retry;
};

static void blk_ring_done(void *opaque, void *tag, int res)
{
	struct blk_reaped *c = opaque;
	struct blk_req *r = tag;
	uint32_t written = r->ring_type == VIRTIO_BLK_T_IN ? r->ring_len : 0;

	/* Short or failed: a worker does the request again, synchronously, and reports what the disk says. */
	if (res < 0 || (uint32_t)res != r->ring_len) {
		blk_list_add(&c->retry, r);
		return;
	}
	c->done[c->freed.n] = (struct virtq_used_elem){ .id = r->e.head,
						       .len = blk_finish(c->b, r, r->ring_type, VIRTIO_BLK_S_OK,
									 written) };
	blk_list_add(&c->freed, r);
}

static void blk_ring_event(void *opaque, uint32_t events)
{
	struct blk_queue *q = opaque;
	struct virtio_blk *b = q->b;
	struct blk_reaped c = { .b = b, .qi = q->index };

	disk_aio_reap(q->aio, blk_ring_done, &c);
	if (c.retry.n)
		blk_submit(b, c.retry.head, c.retry.tail, c.retry.n);
	virtio_complete_many(&b->vdev, q->index, c.done, c.freed.n);
	if (c.freed.n)
		blk_put_free(b, c.freed.head, c.freed.tail);
	blk_stat_add(b, to_workers, c.retry.n);
	blk_ring_submit(q); /* anything an earlier submit left behind */
}

/*
 * After completing requests, watches the avail ring for up to poll_ns
 * before going back to sleep on the doorbell: a driver that answers the
 * interrupt with new requests within the window costs neither a kick nor a
 * wake-up of this thread.  Bounded, and only right after completions here:
 * an idle queue, or one whose requests all wait for the workers, is not
 * polled (the CPU is better left to them and to the guest).
 */
static bool blk_poll(struct blk_queue *q)
{
	struct virtio_blk *b = q->b;
	uint64_t t0;
	bool hit;

	if (!q->poll_ns)
		return false;
	t0 = now_ns();
	while (!(hit = virtio_queue_pending(&b->vdev, q->index) != 0) && now_ns() - t0 < q->poll_ns)
		__builtin_ia32_pause();
	blk_stat_add(b, polls, 1);
	blk_stat_add(b, poll_hits, hit);
	blk_stat_add(b, poll_spent_ns, now_ns() - t0);
	return hit;
}

/*
 * Halt-polling style adaptation, on each doorbell: had the window been long
 * enough to catch this request without the wake-up, widen it (up to the
 * maximum); otherwise halve it, to 0 for a queue that is mostly idle.
 */
static void blk_adapt_poll(struct blk_queue *q)
{
	uint32_t max = __atomic_load_n(&q->b->poll_max_ns, __ATOMIC_RELAXED);
	uint64_t slept = now_ns() - q->idle_since;

	if (!q->idle_since)
		return;
	if (slept < max)
		q->poll_ns = MAX(2 * q->poll_ns, BLK_POLL_MIN_NS);
	else
		q->poll_ns = q->poll_ns / 2 < BLK_POLL_MIN_NS ? 0 : q->poll_ns / 2;
	q->poll_ns = MIN(q->poll_ns, max);
	__atomic_store_n(&q->b->stats.poll_ns, q->poll_ns, __ATOMIC_RELAXED);
}

static void blk_queue_notify(struct virtio_dev *v, unsigned qi)
{
	struct virtio_blk *b = v->priv;
	struct blk_queue *q = &b->q[qi];
	unsigned completed = 0;
	int n;

	blk_stat_add(b, notifies, 1);
	blk_adapt_poll(q);
	do {
		virtio_queue_notify_off(v, qi);
		for (;;) {
			n = blk_run_batch(q, &completed);
			if (n < 0)
				return;
			if (n)
				continue;
			if (!completed || !blk_poll(q))
				break;
			completed = 0;
		}
	} while (virtio_queue_notify_on(v, qi));
	q->idle_since = now_ns();
}

static void blk_cfg_read(struct virtio_dev *v, unsigned off, uint8_t *data, unsigned len)
{
	struct virtio_blk *b = v->priv;

	memcpy(data, b->cfg + off, len);
}

static const struct virtio_ops blk_ops = {
	.queue_notify = blk_queue_notify,
	.cfg_read = blk_cfg_read,
};

/* ---- creation ---- */

static void put_le(uint8_t *p, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t blk_features(struct virtio_blk *b)
{
	uint64_t f = 1ull << VIRTIO_BLK_F_SIZE_MAX | 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
		     1ull << VIRTIO_BLK_F_FLUSH;

	if (b->nqueues > 1)
		f |= 1ull << VIRTIO_BLK_F_MQ;
	if (b->disk.readonly)
		f |= 1ull << VIRTIO_BLK_F_RO;
	else if (b->disk.can_punch)
		f |= 1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

static void blk_fill_config(struct virtio_blk *b)
{
	uint8_t *c = b->cfg;

	put_le(c + VIRTIO_BLK_CFG_CAPACITY, b->capacity, 8);
	put_le(c + VIRTIO_BLK_CFG_SIZE_MAX, VIRTIO_BLK_SIZE_MAX, 4);
	put_le(c + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX, 4);
	put_le(c + VIRTIO_BLK_CFG_BLK_SIZE, DISK_SECTOR, 4);
	put_le(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS, 4);
	put_le(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VIRTIO_BLK_MAX_DISCARD_SEG, 4);
	put_le(c + VIRTIO_BLK_CFG_DISCARD_ALIGN, 8, 4); /* 4 KiB: a file system block */
	put_le(c + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS, 4);
	put_le(c + VIRTIO_BLK_CFG_MAX_WZ_SEG, VIRTIO_BLK_MAX_DISCARD_SEG, 4);
	c[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = 1;
	put_le(c + VIRTIO_BLK_CFG_NUM_QUEUES, b->nqueues, 2);
}

static void blk_set_serial(struct virtio_blk *b, const struct disk_config *cfg)
{
	char tmp[256];
	const char *id = cfg->id;

	if (!id[0]) {
		snprintf(tmp, sizeof(tmp), "%s", cfg->path);
		id = basename(tmp);
	}
	/* Not NUL-terminated when it fills all 20 bytes, as the spec says. */
	memcpy(b->serial, id, MIN(strlen(id), sizeof(b->serial)));
}

static void blk_stop_workers(struct virtio_blk *b)
{
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_broadcast(&b->work);
	pthread_mutex_unlock(&b->lock);
	for (unsigned i = 0; i < b->nworkers; i++)
		pthread_join(b->workers[i], NULL);
	b->nworkers = 0;
}

static void *blk_io_main(void *opaque)
{
	struct blk_queue *q = opaque;

	pthread_setname_np(pthread_self(), "kite-blk-io");
	if (event_loop_run(q->loop) < 0)
		pr_err("virtio %s: queue %u's I/O thread failed", q->b->vdev.name, q->index);
	return NULL;
}

static int blk_start_io(struct virtio_blk *b)
{
	for (unsigned i = 0; i < b->nqueues; i++) {
		struct blk_queue *q = &b->q[i];
		int r = pthread_create(&q->thread, NULL, blk_io_main, q);

		if (r) {
			pr_err("virtio %s: cannot start an I/O thread: %s", b->vdev.name, strerror(r));
			return -r;
		}
		q->running = true;
	}
	return 0;
}

static void blk_stop_io(struct virtio_blk *b)
{
	for (unsigned i = 0; i < b->nqueues; i++) {
		struct blk_queue *q = &b->q[i];

		if (!q->running)
			continue;
		event_loop_stop(q->loop);
		pthread_join(q->thread, NULL);
		q->running = false;
	}
}

static void blk_close_rings(struct virtio_blk *b)
{
	for (unsigned i = 0; i < b->nqueues; i++) {
		struct blk_queue *q = &b->q[i];

		if (!q->aio)
			continue;
		event_loop_del(q->loop, disk_aio_event_fd(q->aio));
		disk_aio_close(q->aio);
		q->aio = NULL;
	}
}

static int blk_open_ring(struct blk_queue *q)
{
	int r = disk_aio_open(&q->aio, &q->b->disk, VIRTIO_BLK_QUEUE_SIZE);

	if (r) {
		q->aio = NULL;
		return r;
	}
	r = event_loop_add(q->loop, disk_aio_event_fd(q->aio), EPOLLIN, blk_ring_event, q);
	if (r) {
		disk_aio_close(q->aio);
		q->aio = NULL;
	}
	return r;
}

/*
 * cache=none: an io_uring per queue (each used by its own thread only)
 * unless the user chose threads; auto falls back when there is none.
 */
static int blk_open_rings(struct virtio_blk *b, const struct disk_config *cfg)
{
	int r = 0;

	if (!b->disk.direct || cfg->aio == DISK_AIO_THREADS)
		return 0;
	for (unsigned i = 0; i < b->nqueues && !r; i++)
		r = blk_open_ring(&b->q[i]);
	if (!r)
		return 0;
	blk_close_rings(b);
	if (cfg->aio == DISK_AIO_IO_URING) {
		pr_err("disk %s: aio=io_uring: %s", b->disk.path, strerror(-r));
		return r;
	}
	pr_info("disk %s: no io_uring here (%s); cache=none I/O goes to worker threads", b->disk.path, strerror(-r));
	return 0;
}

/* Each queue's event loop, given to the transport so the queue's doorbell is served there. */
static int blk_make_loops(struct virtio_blk *b)
{
	for (unsigned i = 0; i < b->nqueues; i++) {
		b->q[i] = (struct blk_queue){ .b = b, .index = i, .loop = event_loop_new() };
		if (!b->q[i].loop)
			return -ENOMEM;
		b->vdev.q[i].loop = b->q[i].loop;
	}
	return 0;
}

static void blk_free_loops(struct virtio_blk *b)
{
	for (unsigned i = 0; i < b->nqueues; i++) {
		if (b->q[i].loop)
			event_loop_free(b->q[i].loop);
		b->q[i].loop = NULL;
	}
}

static int blk_start_workers(struct virtio_blk *b)
{
	for (unsigned i = 0; i < BLK_WORKERS; i++) {
		int r = pthread_create(&b->workers[i], NULL, blk_worker, b);

		if (r) {
			pr_err("virtio %s: cannot start a worker: %s", b->vdev.name, strerror(r));
			blk_stop_workers(b);
			return -r;
		}
		b->nworkers++;
	}
	return 0;
}

int virtio_blk_create(struct pci_bus *pci, struct machine *m, const struct disk_config *cfg, struct virtio_blk **out)
{
	struct virtio_blk *b = calloc(1, sizeof(*b));
	char name[16];
	int r;

	if (!b)
		return -ENOMEM;
	r = disk_open(&b->disk, cfg);
	if (r)
		goto fail_free;
	b->capacity = b->disk.size / DISK_SECTOR;
	b->nqueues = cfg->queues ? cfg->queues : 1;
	blk_set_serial(b, cfg);
	blk_fill_config(b);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->work, NULL);
	b->todo_tail = &b->todo;
	b->poll_max_ns = VIRTIO_BLK_POLL_NS;
	for (unsigned i = 0; i < VIRTIO_BLK_QUEUE_SIZE; i++) {
		b->reqs[i].e.iov = b->reqs[i].iov;
		b->reqs[i].e.cap = BLK_IOV_CAP;
		b->reqs[i].next = b->free;
		b->free = &b->reqs[i];
	}
	r = blk_make_loops(b);
	if (!r)
		r = blk_open_rings(b, cfg);
	if (r)
		goto fail_loop;
	b->vdev.priv = b;
	snprintf(name, sizeof(name), "blk-%.11s", b->serial[0] ? b->serial : "disk");
	r = virtio_dev_init(&b->vdev, pci, m, name, VIRTIO_ID_BLOCK, 0x018000, blk_features(b), b->nqueues,
			    VIRTIO_BLK_QUEUE_SIZE, VIRTIO_BLK_CFG_SIZE, &blk_ops);
	if (r)
		goto fail_ring;
	r = blk_start_workers(b);
	if (!r)
		r = blk_start_io(b);
	if (r)
		goto fail_dev;
	*out = b;
	return 0;
fail_dev:
	blk_stop_io(b);
	blk_stop_workers(b);
	virtio_dev_exit(&b->vdev);
fail_ring:
	blk_close_rings(b);
fail_loop:
	blk_free_loops(b);
	pthread_cond_destroy(&b->work);
	pthread_mutex_destroy(&b->lock);
	disk_close(&b->disk);
fail_free:
	free(b);
	return r;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b)
		return;
	blk_stop_io(b);
	blk_stop_workers(b);
	virtio_dev_exit(&b->vdev);
	blk_close_rings(b);
	blk_free_loops(b);
	pthread_cond_destroy(&b->work);
	pthread_mutex_destroy(&b->lock);
	disk_close(&b->disk);
	free(b);
}

void virtio_blk_set_poll(struct virtio_blk *b, uint32_t max_ns)
{
	__atomic_store_n(&b->poll_max_ns, max_ns, __ATOMIC_RELAXED);
}

void virtio_blk_get_stats(struct virtio_blk *b, struct virtio_blk_stats *s)
{
	uint64_t *dst = (uint64_t *)s, *src = (uint64_t *)&b->stats;

	for (size_t i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

bool virtio_blk_uses_ring(const struct virtio_blk *b)
{
	return b->q[0].aio != NULL;
}

void virtio_blk_quiesce(struct virtio_blk *b)
{
	virtio_quiesce(&b->vdev);
}

void virtio_blk_resume(struct virtio_blk *b)
{
	virtio_resume(&b->vdev);
}
