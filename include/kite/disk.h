/* SPDX-License-Identifier: MIT */
#ifndef KITE_DISK_H
#define KITE_DISK_H

/*
 * A raw disk image: a regular file (or a block device), locked with flock so
 * two VMs cannot write one image by mistake (LOCK_EX read-write, LOCK_SH
 * read-only), opened with O_DIRECT for cache=none.  I/O calls are blocking
 * (but disk_try_*) and thread-safe (positional): a device's queue threads and
 * workers call them concurrently.  disk_aio.h adds an io_uring per thread.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct disk_config;

#define DISK_SECTOR 512

struct disk {
	int fd;
	char path[256];
	uint64_t size;   /* bytes; the device exposes size / 512 sectors */
	bool readonly;
	bool direct;     /* O_DIRECT: buffers, offsets and lengths must be 512-aligned */
	bool can_punch;  /* fallocate PUNCH_HOLE works here */
	/* The file system answered RWF_NOWAIT with EOPNOTSUPP (set once, read atomically by any thread). */
	bool nowait_read_refused, nowait_write_refused;
};

/*
 * Opens and locks the image.  Errors (missing, a directory, no permission,
 * locked by another process) print "kite: disk PATH: why" and return -errno.
 */
int disk_open(struct disk *d, const struct disk_config *cfg);
void disk_close(struct disk *d);

/* Full transfers (short ones retried); -errno, or -EIO at end of file. */
int disk_preadv(struct disk *d, const struct iovec *iov, int n, uint64_t off);
int disk_pwritev(struct disk *d, const struct iovec *iov, int n, uint64_t off);
/*
 * The same without ever blocking (RWF_NOWAIT): 0 when the whole transfer was
 * done from/into the page cache, -EAGAIN when it would wait (or went short):
 * the caller then hands it to a thread that may block.  Once the file system
 * has refused RWF_NOWAIT (ext4 does for buffered writes), these return
 * -EAGAIN at once.  Any thread.
 */
int disk_try_preadv(struct disk *d, const struct iovec *iov, int n, uint64_t off);
int disk_try_pwritev(struct disk *d, const struct iovec *iov, int n, uint64_t off);
int disk_flush(struct disk *d);
/* Deallocates [off, off+len) (reads as zeroes afterwards on Linux filesystems). */
int disk_discard(struct disk *d, uint64_t off, uint64_t len);
/* Makes [off, off+len) read as zeroes; `unmap` allows deallocating. */
int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool unmap);

#endif
