// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kite/config.h>
#include <kite/disk.h>
#include <kite/log.h>
#include <kite/util.h>

static int disk_fail(const char *path, int err, const char *why)
{
	pr_err("disk %s: %s", path, why ? why : strerror(err));
	return -err;
}

static int disk_check_path(const char *path, bool readonly, struct stat *st)
{
	if (stat(path, st) < 0)
		return disk_fail(path, errno, NULL);
	if (S_ISDIR(st->st_mode))
		return disk_fail(path, EISDIR, "is a directory, not a disk image");
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		return disk_fail(path, EINVAL, "is neither a regular file nor a block device");
	if (access(path, readonly ? R_OK : R_OK | W_OK) < 0)
		return disk_fail(path, errno, readonly ? "is not readable" : "is not readable and writable (use ,ro?)");
	return 0;
}

static int disk_lock(struct disk *d)
{
	if (flock(d->fd, (d->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return disk_fail(d->path, EBUSY,
				 d->readonly ? "is locked for writing by another process"
					     : "is in use by another process (locked); a read-only share needs ,ro everywhere");
	return disk_fail(d->path, errno, NULL);
}

static int disk_size(struct disk *d, const struct stat *st)
{
	uint64_t size = (uint64_t)st->st_size;

	if (S_ISBLK(st->st_mode) && ioctl(d->fd, BLKGETSIZE64, &size) < 0)
		return disk_fail(d->path, errno, NULL);
	if (size % DISK_SECTOR)
		pr_warn("disk %s: size %llu is not a multiple of 512; the last %llu bytes are not visible", d->path,
			(unsigned long long)size, (unsigned long long)(size % DISK_SECTOR));
	d->size = size - size % DISK_SECTOR;
	return 0;
}

int disk_open(struct disk *d, const struct disk_config *cfg)
{
	struct stat st;
	int flags = O_CLOEXEC, r;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	snprintf(d->path, sizeof(d->path), "%s", cfg->path);
	d->readonly = cfg->readonly;
	d->direct = cfg->cache == DISK_CACHE_NONE;
	r = disk_check_path(cfg->path, d->readonly, &st);
	if (r)
		return r;
	flags |= d->readonly ? O_RDONLY : O_RDWR;
	if (d->direct)
		flags |= O_DIRECT;
	d->fd = open(cfg->path, flags);
	if (d->fd < 0 && d->direct && errno == EINVAL)
		return disk_fail(d->path, EINVAL, "cache=none: the file system does not support O_DIRECT");
	if (d->fd < 0)
		return disk_fail(d->path, errno, NULL);
	r = disk_lock(d);
	if (!r)
		r = disk_size(d, &st);
	if (r) {
		close(d->fd);
		d->fd = -1;
		return r;
	}
	d->can_punch = S_ISREG(st.st_mode);
	return 0;
}

void disk_close(struct disk *d)
{
	/*
	 * Unlocked explicitly: an io_uring that registered the file keeps it
	 * open until the kernel finishes tearing the ring down, after close()
	 * and even after exit, and the next kite on this image would find it
	 * still locked.
	 */
	if (d->fd >= 0) {
		flock(d->fd, LOCK_UN);
		close(d->fd);
	}
	d->fd = -1;
}

static bool iov_aligned(const struct iovec *iov, int n)
{
	for (int i = 0; i < n; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (DISK_SECTOR - 1))
			return false;
	return true;
}

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* preadv/pwritev until done; advances through the vector on short transfers. */
static int disk_rw_loop(struct disk *d, struct iovec *iov, int n, uint64_t off, bool write)
{
	while (n > 0) {
		ssize_t r = write ? pwritev(d->fd, iov, MIN(n, IOV_MAX), (off_t)off)
				  : preadv(d->fd, iov, MIN(n, IOV_MAX), (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		off += (uint64_t)r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* O_DIRECT with guest buffers that are not sector-aligned: go through an aligned bounce buffer. */
static int disk_bounce(struct disk *d, const struct iovec *iov, int n, uint64_t off, bool write)
{
	size_t len = iov_total(iov, n), done = 0;
	struct iovec b;
	void *buf;
	int r;

	if (posix_memalign(&buf, 4096, ALIGN_UP(len, (size_t)4096)))
		return -ENOMEM;
	if (write) {
		for (int i = 0; i < n; i++) {
			memcpy((uint8_t *)buf + done, iov[i].iov_base, iov[i].iov_len);
			done += iov[i].iov_len;
		}
	}
	b = (struct iovec){ .iov_base = buf, .iov_len = len };
	r = disk_rw_loop(d, &b, 1, off, write);
	if (!r && !write) {
		for (int i = 0; i < n; i++) {
			memcpy(iov[i].iov_base, (uint8_t *)buf + done, iov[i].iov_len);
			done += iov[i].iov_len;
		}
	}
	free(buf);
	return r;
}

static int disk_rw(struct disk *d, const struct iovec *iov, int n, uint64_t off, bool write)
{
	struct iovec local[256], *v = local;
	int r;

	if (d->direct && !iov_aligned(iov, n))
		return disk_bounce(d, iov, n, off, write);
	/* The loop edits the vector on short transfers; the caller's stays intact. */
	if ((size_t)n > ARRAY_SIZE(local)) {
		v = malloc(sizeof(*v) * (size_t)n);
		if (!v)
			return -ENOMEM;
	}
	memcpy(v, iov, sizeof(*v) * (size_t)n);
	r = disk_rw_loop(d, v, n, off, write);
	if (v != local)
		free(v);
	return r;
}

int disk_preadv(struct disk *d, const struct iovec *iov, int n, uint64_t off)
{
	return disk_rw(d, iov, n, off, false);
}

int disk_pwritev(struct disk *d, const struct iovec *iov, int n, uint64_t off)
{
	if (d->readonly)
		return -EROFS;
	return disk_rw(d, iov, n, off, true);
}

static int disk_try(struct disk *d, const struct iovec *iov, int n, uint64_t off, bool write)
{
	bool *refused = write ? &d->nowait_write_refused : &d->nowait_read_refused;
	ssize_t r;

	if (d->direct || n > IOV_MAX || (write && d->readonly) || __atomic_load_n(refused, __ATOMIC_RELAXED))
		return -EAGAIN;
	r = write ? pwritev2(d->fd, iov, n, (off_t)off, RWF_NOWAIT) : preadv2(d->fd, iov, n, (off_t)off, RWF_NOWAIT);
	/* ext4 refuses every buffered RWF_NOWAIT write: stop paying a syscall to hear it again. */
	if (r < 0 && errno == EOPNOTSUPP)
		__atomic_store_n(refused, true, __ATOMIC_RELAXED);
	return r >= 0 && (size_t)r == iov_total(iov, n) ? 0 : -EAGAIN;
}

int disk_try_preadv(struct disk *d, const struct iovec *iov, int n, uint64_t off)
{
	return disk_try(d, iov, n, off, false);
}

int disk_try_pwritev(struct disk *d, const struct iovec *iov, int n, uint64_t off)
{
	return disk_try(d, iov, n, off, true);
}

int disk_flush(struct disk *d)
{
	if (d->readonly)
		return 0;
	return fdatasync(d->fd) < 0 ? -errno : 0;
}

int disk_discard(struct disk *d, uint64_t off, uint64_t len)
{
	if (d->readonly)
		return -EROFS;
	if (!d->can_punch)
		return -EOPNOTSUPP;
	if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
		return -errno;
	return 0;
}

/* The slow way, for file systems without ZERO_RANGE. */
static int disk_write_zero_buf(struct disk *d, uint64_t off, uint64_t len)
{
	size_t chunk = (size_t)MIN(len, (uint64_t)(1 * MiB));
	struct iovec v;
	void *buf;
	int r = 0;

	if (posix_memalign(&buf, 4096, chunk))
		return -ENOMEM;
	memset(buf, 0, chunk);
	while (len && !r) {
		v = (struct iovec){ .iov_base = buf, .iov_len = (size_t)MIN(len, (uint64_t)chunk) };
		r = disk_rw_loop(d, &v, 1, off, true);
		off += chunk;
		len -= MIN(len, (uint64_t)chunk);
	}
	free(buf);
	return r;
}

int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool unmap)
{
	if (d->readonly)
		return -EROFS;
	if (d->can_punch && unmap &&
	    fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (d->can_punch && fallocate(d->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	return disk_write_zero_buf(d, off, len);
}
