/* SPDX-License-Identifier: MIT */
#ifndef KITE_DISK_AIO_H
#define KITE_DISK_AIO_H

/*
 * Asynchronous disk I/O through io_uring, for cache=none (O_DIRECT) images:
 * there every read and write goes to the device, and without a ring each one
 * would hold a worker thread for its whole latency.  One ring per disk, used
 * from one thread (the disk's I/O thread), so nothing here is locked.
 *
 * Before first use the ring is restricted (IORING_REGISTER_RESTRICTIONS) to
 * vectored reads, vectored writes and fdatasync on the one registered image
 * file, so io_uring_enter - the only io_uring call the sandbox lets through -
 * cannot be turned into open, connect or anything else seccomp would refuse.
 */

#include <stdint.h>
#include <sys/uio.h>

struct disk;
struct disk_aio;

enum disk_aio_op { DISK_AIO_READ, DISK_AIO_WRITE, DISK_AIO_FLUSH };

/*
 * A ring of `depth` entries for d's file.  -errno when io_uring is not
 * there: -ENOSYS (old kernel), -EPERM (disabled by the kernel.io_uring_disabled
 * sysctl or a container's seccomp policy), -EINVAL (no ring restrictions,
 * before Linux 5.10); the caller decides whether that is an error.
 */
int disk_aio_open(struct disk_aio **out, struct disk *d, unsigned depth);
void disk_aio_close(struct disk_aio *a);
/* An eventfd that turns readable when completions wait for disk_aio_reap. */
int disk_aio_event_fd(const struct disk_aio *a);

/*
 * Queues one operation (not yet submitted).  -EINVAL: buffers, offset or
 * length not sector-aligned, as O_DIRECT needs; -EBUSY: the ring is full.
 * iov[] must stay valid until the operation completes.
 */
int disk_aio_queue(struct disk_aio *a, enum disk_aio_op op, const struct iovec *iov, int n, uint64_t off,
		   void *tag);
/* Hands everything queued to the kernel in one call; the number submitted or -errno. */
int disk_aio_submit(struct disk_aio *a);

typedef void (*disk_aio_done_fn)(void *opaque, void *tag, int res);
/*
 * Calls done(opaque, tag, res) for each completed operation, res being the
 * bytes transferred (0 for a flush) or -errno; returns how many.
 */
unsigned disk_aio_reap(struct disk_aio *a, disk_aio_done_fn done, void *opaque);

#endif
