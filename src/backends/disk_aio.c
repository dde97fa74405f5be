// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <kite/disk.h>
#include <kite/disk_aio.h>
#include <kite/log.h>
#include <kite/util.h>

struct disk_aio {
	struct io_uring ring;
	int efd;
	unsigned queued; /* SQEs filled since the last submit */
};

/* Debian's liburing 2.3 declares the next two calls but does not export them: the system call itself. */
static int disk_aio_register(struct disk_aio *a, unsigned op, void *arg, unsigned n)
{
	return syscall(__NR_io_uring_register, a->ring.ring_fd, op, arg, n) < 0 ? -errno : 0;
}

/* What the ring may ever do: these three operations, on registered file 0 only. */
static int disk_aio_restrict(struct disk_aio *a)
{
	struct io_uring_restriction res[4];

	memset(res, 0, sizeof(res));
	res[0].opcode = IORING_RESTRICTION_SQE_OP;
	res[0].sqe_op = IORING_OP_READV;
	res[1].opcode = IORING_RESTRICTION_SQE_OP;
	res[1].sqe_op = IORING_OP_WRITEV;
	res[2].opcode = IORING_RESTRICTION_SQE_OP;
	res[2].sqe_op = IORING_OP_FSYNC;
	res[3].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[3].sqe_flags = IOSQE_FIXED_FILE;
	return disk_aio_register(a, IORING_REGISTER_RESTRICTIONS, res, ARRAY_SIZE(res));
}

static int disk_aio_setup(struct disk_aio *a, struct disk *d, unsigned depth)
{
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED };
	int r;

	r = io_uring_queue_init_params(depth, &a->ring, &p);
	if (r < 0)
		return r;
	r = io_uring_register_files(&a->ring, &d->fd, 1);
	if (!r)
		r = io_uring_register_eventfd(&a->ring, a->efd);
	if (!r)
		r = disk_aio_restrict(a);
	if (!r)
		r = disk_aio_register(a, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (r < 0)
		io_uring_queue_exit(&a->ring);
	return r < 0 ? r : 0;
}

int disk_aio_open(struct disk_aio **out, struct disk *d, unsigned depth)
{
	struct disk_aio *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		r = -errno;
		free(a);
		return r;
	}
	r = disk_aio_setup(a, d, depth);
	if (r) {
		close(a->efd);
		free(a);
		return r;
	}
	*out = a;
	return 0;
}

void disk_aio_close(struct disk_aio *a)
{
	if (!a)
		return;
	/* In-flight transfers keep their pages pinned in the kernel until they end; nothing here is reused. */
	io_uring_queue_exit(&a->ring);
	close(a->efd);
	free(a);
}

int disk_aio_event_fd(const struct disk_aio *a)
{
	return a->efd;
}

static bool disk_aio_aligned(const struct iovec *iov, int n, uint64_t off)
{
	uint64_t bits = off;

	for (int i = 0; i < n; i++)
		bits |= (uintptr_t)iov[i].iov_base | iov[i].iov_len;
	return !(bits & (DISK_SECTOR - 1));
}

int disk_aio_queue(struct disk_aio *a, enum disk_aio_op op, const struct iovec *iov, int n, uint64_t off,
		   void *tag)
{
	struct io_uring_sqe *sqe;

	if (op != DISK_AIO_FLUSH && (n <= 0 || n > IOV_MAX || !disk_aio_aligned(iov, n, off)))
		return -EINVAL;
	sqe = io_uring_get_sqe(&a->ring);
	if (!sqe)
		return -EBUSY;
	if (op == DISK_AIO_READ)
		io_uring_prep_readv(sqe, 0, iov, (unsigned)n, off);
	else if (op == DISK_AIO_WRITE)
		io_uring_prep_writev(sqe, 0, iov, (unsigned)n, off);
	else
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, tag);
	a->queued++;
	return 0;
}

int disk_aio_submit(struct disk_aio *a)
{
	int r;

	if (!a->queued)
		return 0;
	do
		r = io_uring_submit(&a->ring);
	while (r == -EINTR);
	if (r >= 0)
		a->queued -= MIN((unsigned)r, a->queued);
	return r;
}

unsigned disk_aio_reap(struct disk_aio *a, disk_aio_done_fn done, void *opaque)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	uint64_t count;

	/* Cleared before looking, so a completion posted after the look signals again. */
	if (read(a->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		pr_warn("disk: io_uring eventfd: %s", strerror(errno));
	io_uring_for_each_cqe(&a->ring, head, cqe) {
		done(opaque, io_uring_cqe_get_data(cqe), cqe->res);
		n++;
	}
	io_uring_cq_advance(&a->ring, n);
	return n;
}
