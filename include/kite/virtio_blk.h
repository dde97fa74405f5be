/* SPDX-License-Identifier: MIT */
#ifndef KITE_VIRTIO_BLK_H
#define KITE_VIRTIO_BLK_H

/*
 * virtio-blk over a raw image (src/backends/disk.c).  One request queue of
 * 256 entries; requests are popped on the event loop thread and served by a
 * small pool of worker threads (preadv/pwritev), so several are in flight
 * and neither a vCPU nor the event loop ever waits for the disk.
 */

#include <stdint.h>

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
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SEG_MAX    126
#define VIRTIO_BLK_SIZE_MAX   (1u << 20)
#define VIRTIO_BLK_MAX_DISCARD_SECTORS 0x400000u
#define VIRTIO_BLK_MAX_DISCARD_SEG     16

/* Device configuration offsets (virtio 1.x, 5.2.4). */
#define VIRTIO_BLK_CFG_CAPACITY    0
#define VIRTIO_BLK_CFG_SIZE_MAX    8
#define VIRTIO_BLK_CFG_SEG_MAX     12
#define VIRTIO_BLK_CFG_BLK_SIZE    20
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

#endif
