/* SPDX-License-Identifier: MIT */
#ifndef KITE_VIRTIO_BLK_H
#define KITE_VIRTIO_BLK_H

/*
 * virtio-blk over a raw image (src/backends/disk.c).  One request queue of
 * 256 entries, or up to VIRTIO_BLK_MAX_QUEUES (VIRTIO_BLK_F_MQ, --disk
 * ...,queues=N), each served by an I/O thread of its own.  A queue's thread
 * pops requests in batches and serves what will not wait on the disk there
 * (page-cache reads with RWF_NOWAIT, buffered writes; cache=none requests
 * go to its io_uring), returning a batch with one used-index update and at
 * most one interrupt; the rest goes to a small pool of worker threads
 * shared by the queues (preadv/pwritev) that take and complete several at
 * a time, so no vCPU waits for the disk.  After a batch the thread polls
 * the avail ring for an adaptive, bounded while (VIRTIO_BLK_POLL_NS) to save
 * the next doorbell wake-up.
 */

#include <stdbool.h>
#include <stdint.h>

#include <kite/config.h>

struct pci_bus;
struct machine;
struct disk_config;
struct virtio_dev;
struct virtio_blk;

#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES   20
#define VIRTIO_BLK_MAX_QUEUES KITE_MAX_DISK_QUEUES
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SEG_MAX    126
#define VIRTIO_BLK_SIZE_MAX   (1u << 20)
#define VIRTIO_BLK_MAX_DISCARD_SECTORS 0x400000u
#define VIRTIO_BLK_MAX_DISCARD_SEG     16
/* Longest a queue's thread watches the avail ring after a batch (adaptive, see blk.c). */
#define VIRTIO_BLK_POLL_NS 64000u

/* Device configuration offsets (virtio 1.x, 5.2.4). */
#define VIRTIO_BLK_CFG_CAPACITY    0
#define VIRTIO_BLK_CFG_SIZE_MAX    8
#define VIRTIO_BLK_CFG_SEG_MAX     12
#define VIRTIO_BLK_CFG_BLK_SIZE    20
#define VIRTIO_BLK_CFG_NUM_QUEUES  34
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG     40
#define VIRTIO_BLK_CFG_DISCARD_ALIGN       44
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS      48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG          52
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP        56
#define VIRTIO_BLK_CFG_SIZE                60

/*
 * Opens the image (clear error and -errno if it is missing, a directory,
 * not accessible as asked, or locked by another VM), creates the PCI
 * function and starts the workers.
 */
int virtio_blk_create(struct pci_bus *pci, struct machine *m, const struct disk_config *cfg,
		      struct virtio_blk **out);
/* Stops the workers and frees everything; the event loop must be stopped. */
void virtio_blk_destroy(struct virtio_blk *b);
/* Finish in-flight requests and stop taking new ones / take them again. */
void virtio_blk_quiesce(struct virtio_blk *b);
void virtio_blk_resume(struct virtio_blk *b);
struct virtio_dev *virtio_blk_dev(struct virtio_blk *b);

/* What the request queue did, for benchmarks and diagnostics (all uint64_t). */
struct virtio_blk_stats {
	uint64_t notifies;   /* runs of the queue handler (doorbells and re-kicks) */
	uint64_t batches;    /* non-empty batches */
	uint64_t chains;     /* requests popped */
	uint64_t to_workers; /* requests that could block, handed to a worker */
	uint64_t to_ring;    /* requests handed to the disk's io_uring (cache=none) */
	uint64_t polls;      /* polling windows opened after a batch */
	uint64_t poll_hits;  /* ... that found new requests */
	uint64_t poll_spent_ns; /* time spent polling */
	uint64_t poll_ns;    /* the current window */
	/* Completed requests; any thread (loop or worker) adds to them atomically. */
	uint64_t read_reqs, read_bytes;
	uint64_t write_reqs, write_bytes;
	uint64_t flushes;
	uint64_t errors;     /* requests answered with VIRTIO_BLK_S_IOERR */
};
void virtio_blk_get_stats(struct virtio_blk *b, struct virtio_blk_stats *s);
/* cache=none I/O goes through the disk's io_uring (false: worker threads, or not cache=none). */
bool virtio_blk_uses_ring(const struct virtio_blk *b);
/* Upper bound of the adaptive polling window (0 turns polling off). Any thread. */
void virtio_blk_set_poll(struct virtio_blk *b, uint32_t max_ns);

#endif
