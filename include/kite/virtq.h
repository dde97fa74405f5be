/* SPDX-License-Identifier: MIT */
#ifndef KITE_VIRTQ_H
#define KITE_VIRTQ_H

/*
 * The split virtqueue, device side.  The rings live in guest memory and the
 * guest may change them at any moment, so every descriptor is copied once,
 * checked (index, flags, address and length through gmem_ptr, chain length,
 * direction order), and only then turned into host pointers.  A queue that
 * breaks the rules is marked broken; the transport then puts the device in
 * NEEDS_RESET.  No device ever sees a guest address.
 *
 * Layout is little-endian as on the x86 host kite runs on.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <kite/log.h>

struct gmem;

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_USED_F_NO_NOTIFY     1
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_MAX_SIZE 32768

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* then used_event */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* then avail_event */
};

/* Plain state: what a snapshot saves and a restore loads (see virtq_enable). */
struct virtq_state {
	uint16_t size;
	bool enabled;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail, used_idx;
};

struct virtq {
	const struct gmem *mem;
	const char *name;          /* "blk0.req", for messages */
	struct ratelimit *rl;      /* the device's warning budget */
	uint16_t size;             /* queue size the driver chose */
	bool enabled;
	bool broken;               /* the guest broke the rules; nothing more is processed */
	bool event_idx;            /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;             /* VIRTIO_F_INDIRECT_DESC negotiated */
	bool quiet;                /* between notify_off and notify_on: no kicks wanted */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct virtq_desc *desc;   /* host pointers, valid while enabled */
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t last_avail;       /* next avail entry to take */
	uint16_t used_idx;         /* our copy of used->idx */
	uint16_t signalled_used;   /* used_idx at the last interrupt (EVENT_IDX) */
	bool signalled_valid;
};

/*
 * One popped chain: iov[0, nout) are device-readable buffers, iov[nout,
 * nout+nin) device-writable ones, each a host pointer valid for its length.
 */
struct virtq_elem {
	uint16_t head;
	unsigned nout, nin;
	size_t out_len, in_len;
	unsigned cap;
	struct iovec *iov;
};

/* Checks and maps the three rings; -EINVAL (queue marked broken) if they are not usable. */
int virtq_enable(struct virtq *q, const struct gmem *mem);
/* Forgets everything but name and rl (device reset). */
void virtq_reset(struct virtq *q);
/*
 * Takes the next available chain into `e` (whose iov/cap the caller set).
 * Returns 1 for a chain, 0 when none is available, -EIO when the guest broke
 * the rules (the queue is then broken and a warning was printed).
 */
int virtq_pop(struct virtq *q, struct virtq_elem *e);
/* Returns a chain to the guest with `len` bytes written into its writable buffers. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);
/* The same for n chains, the used index moving once: the driver sees all of them or none. */
void virtq_push_many(struct virtq *q, const struct virtq_used_elem *done, unsigned n);
/* After pushes: does the guest want an interrupt now (EVENT_IDX or NO_INTERRUPT)? */
bool virtq_should_notify(struct virtq *q);
/*
 * Asks the guest not to kick while we poll the ring anyway.  With EVENT_IDX
 * avail_event then stays where it is, so a driver that keeps adding buffers
 * kicks at most once until virtq_notify_on.
 */
void virtq_notify_off(struct virtq *q);
/* Re-enables kicks; true if buffers arrived meanwhile (poll again). */
bool virtq_notify_on(struct virtq *q);
/* True when the guest has made chains available that we have not taken. */
bool virtq_pending(struct virtq *q);
/* How many: avail->idx - last_avail (above the queue size if the guest broke the index). */
unsigned virtq_avail_count(struct virtq *q);

void virtq_save(const struct virtq *q, struct virtq_state *s);
/* Restores the indices and re-enables the rings (-EINVAL if they no longer fit). */
int virtq_load(struct virtq *q, const struct gmem *mem, const struct virtq_state *s);

/* Helpers over an element's buffers. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);
/* Describes [off, off+len) of iov in dst (at most max entries); returns the entry count, -1 if it does not fit. */
int iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *dst, unsigned max);

#endif
