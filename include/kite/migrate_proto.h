/* SPDX-License-Identifier: MIT */
#ifndef KITE_MIGRATE_PROTO_H
#define KITE_MIGRATE_PROTO_H

/*
 * The migration stream (docs/migration.md), shared by the sender and the
 * receiver: framing with a CRC32 per frame, socket set-up, the page batches,
 * and the dirty-page tracking of the source.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kite/section.h>

struct vm;

#define MIG_MAGIC        0x47494d4bu /* "KMIG" little-endian */
#define MIG_PROTO_MAJOR  1
#define MIG_PROTO_MINOR  0
#define MIG_HDR_SIZE     16
#define MIG_FRAME_MAX    (64u << 20)
#define MIG_PAGE         4096u
#define MIG_BATCH_PAGES  256

enum mig_type {
	MIG_HELLO = 1,   /* src: versions, architecture, page size, features */
	MIG_CONFIG,      /* src: a state stream of the config and memory sections */
	MIG_ACCEPT,      /* dst: u32 features it takes */
	MIG_REFUSE,      /* dst: reason */
	MIG_PAGES,       /* src: u32 n, then n (u64 index|kind<<56, data) */
	MIG_ROUND,       /* src: u32 round, u64 pages (information) */
	MIG_MEMFD,       /* src: u64 size; the memfd travels as SCM_RIGHTS */
	MIG_STOPCOPY,    /* src: the guest is paused now */
	MIG_STATE,       /* src: the whole state stream */
	MIG_READY,       /* dst: state loaded, waiting for go */
	MIG_GO,          /* src: the source will not run the guest again */
	MIG_DONE,        /* dst: u64 downtime seen there, u64 state load, u64 wake-up (ns); the guest runs */
	MIG_ERROR,       /* either side: reason; the stream ends */
	MIG_TYPE_MAX,
};

#define MIG_F_ZLIB  1u /* pages may come zlib-compressed */
#define MIG_F_MEMFD 2u /* the source offers RAM as a memfd */

enum mig_page_kind { MIG_PAGE_RAW = 0, MIG_PAGE_ZERO = 1, MIG_PAGE_ZLIB = 2 };
#define MIG_PAGE_KIND_SHIFT 56

const char *mig_type_name(unsigned type);

struct mig_conn {
	int fd;
	bool is_unix;
	uint64_t bytes_out, bytes_in;
	uint8_t *rbuf; /* the last frame received */
	size_t rcap;
	int rx_fd;     /* an fd that came with the last frame (SCM_RIGHTS), or -1 */
	/*
	 * Tests: KITE_MIGRATE_FAULT in the sender's environment breaks the
	 * connection after BYTES sent, or before the COUNT-th frame of TYPE
	 * ("config", "pages:40", "state", "go"...).
	 */
	uint64_t fault_after;
	unsigned fault_type, fault_count;
};

/* "tcp:HOST:PORT" / "unix:PATH": a connected socket, or a listening one; -errno after a message. */
int mig_connect(const char *addr, struct mig_conn *c);
int mig_listen(const char *addr);
int mig_accept(int lfd, struct mig_conn *c);
void mig_conn_close(struct mig_conn *c);
/* Receive timeout for a stage that waits on the peer (0 = none). */
void mig_set_timeout(struct mig_conn *c, unsigned ms);

/* One frame: header (magic, type, flags, length, CRC32 of header and payload) and payload. */
int mig_send(struct mig_conn *c, unsigned type, const void *payload, size_t len);
/* The same with one fd attached (UNIX sockets). */
int mig_send_fd(struct mig_conn *c, unsigned type, const void *payload, size_t len, int fd);
/* An error frame with a formatted reason (best effort: the stream ends after it). */
void mig_send_error(struct mig_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Reads one frame into c->rbuf and views it in `payload`: 0, -ECONNRESET at
 * an end of stream, -EPROTO/-EBADMSG for a bad frame (after a message), or
 * -errno.  An attached fd lands in c->rx_fd (the caller owns it).
 */
int mig_recv(struct mig_conn *c, unsigned *type, struct sbuf *payload);

/* A batch of pages under construction (sender). */
struct mig_batch {
	struct sbuf buf;
	unsigned n;
	bool zlib;
	uint8_t *zbuf;
	uint64_t pages, zero_pages; /* counters of what went in */
};
void mig_batch_init(struct mig_batch *b, bool zlib);
void mig_batch_free(struct mig_batch *b);
void mig_batch_add(struct mig_batch *b, uint64_t index, const uint8_t *page);
/* Sends the batch if it holds anything. */
int mig_batch_flush(struct mig_batch *b, struct mig_conn *c);
bool mig_page_is_zero(const uint8_t *p);
/*
 * Applies a MIG_PAGES payload to `ram` of `npages` pages; -EINVAL for
 * anything out of bounds.  `written` (a bit per page, or NULL) remembers
 * which pages hold data, so a zero marker for a page never written costs
 * nothing.
 */
int mig_pages_apply(struct sbuf *in, uint8_t *ram, uint64_t npages, uint64_t *pages, unsigned long *written);

/* dirty.c: which pages to send (again). */
struct mig_dirty {
	struct vm *vm;
	uint64_t npages;         /* of the RAM mapping */
	unsigned long *bits;     /* pages to send */
	unsigned long *slot_buf; /* KVM's log of one slot */
	unsigned long *touched;  /* pages handed to devices (gmem_ptr), since the start */
	bool manual;             /* KVM_CLEAR_DIRTY_LOG with manual protect */
	bool logging;
};
/* Logging on for every slot, `touched` installed, every page marked to send. */
int mig_dirty_start(struct mig_dirty *d, struct vm *vm);
/* Adds the pages KVM saw written since the last sync (and re-protects them). */
int mig_dirty_sync(struct mig_dirty *d);
/* Final round, devices quiesced: adds every page devices were given and the virtqueue rings. */
void mig_dirty_add_devices(struct mig_dirty *d);
uint64_t mig_dirty_count(const struct mig_dirty *d);
/* Next page to send at or after `from` (cleared from the set), or npages. */
uint64_t mig_dirty_next(struct mig_dirty *d, uint64_t from);
/* Logging off, `touched` uninstalled; idempotent. */
void mig_dirty_stop(struct mig_dirty *d);
/*
 * Frees `touched` too: only once no device thread can be inside gmem_ptr
 * with it (the next migration's start, or after the VM stopped).
 */
void mig_dirty_release(struct mig_dirty *d);

#endif
