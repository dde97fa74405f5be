// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kite/gmem.h>
#include <kite/log.h>

int gmem_map(struct gmem *m, uint64_t size, bool shareable)
{
	int flags = MAP_SHARED | MAP_NORESERVE;
	void *p;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (!size)
		return -EINVAL;
	if (shareable) {
		m->fd = memfd_create("kite-guest-ram", MFD_CLOEXEC);
		if (m->fd < 0 || ftruncate(m->fd, size) < 0) {
			int r = -errno;
			pr_err("guest memory: cannot create a %llu-byte memfd: %s", (unsigned long long)size, strerror(-r));
			if (m->fd >= 0)
				close(m->fd);
			m->fd = -1;
			return r;
		}
	} else {
		flags |= MAP_ANONYMOUS;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, m->fd, 0);
	if (p == MAP_FAILED) {
		int r = -errno;
		pr_err("guest memory: cannot map %llu bytes: %s", (unsigned long long)size, strerror(-r));
		if (m->fd >= 0)
			close(m->fd);
		m->fd = -1;
		return r;
	}
	/* Guest RAM is large and mostly cold; let the host back it with huge pages where it can. */
	madvise(p, size, MADV_HUGEPAGE);
	m->base = p;
	m->size = size;
	return 0;
}

int gmem_map_file(struct gmem *m, const char *path, uint64_t size)
{
	struct stat st;
	void *p;
	int r;

	memset(m, 0, sizeof(*m));
	m->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (m->fd < 0) {
		r = -errno;
		pr_err("guest memory: %s: %s", path, strerror(-r));
		return r;
	}
	if (flock(m->fd, LOCK_SH | LOCK_NB) < 0) {
		r = -errno;
		pr_err("guest memory: %s is being written (locked): %s", path, strerror(-r));
		goto fail;
	}
	if (fstat(m->fd, &st) < 0 || (uint64_t)st.st_size != size) {
		r = -EINVAL;
		pr_err("guest memory: %s has %lld bytes, the VM has %llu", path, (long long)st.st_size,
		       (unsigned long long)size);
		goto fail;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, m->fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		pr_err("guest memory: cannot map %s: %s", path, strerror(-r));
		goto fail;
	}
	m->base = p;
	m->size = size;
	return 0;
fail:
	close(m->fd);
	m->fd = -1;
	return r;
}

int gmem_add_region(struct gmem *m, uint64_t gpa, uint64_t size)
{
	uint64_t used = 0;

	for (unsigned i = 0; i < m->nr; i++)
		used += m->regions[i].size;
	if (m->nr == GMEM_MAX_REGIONS || size > m->size - used || gpa + size < gpa)
		return -EINVAL;
	m->regions[m->nr] = (struct gmem_region){
		.gpa = gpa, .size = size, .hva = m->base + used, .offset = used,
	};
	m->nr++;
	return 0;
}

void gmem_unmap(struct gmem *m)
{
	if (m->base)
		munmap(m->base, m->size);
	if (m->fd >= 0)
		close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

static void gmem_mark_touched(unsigned long *bits, uint64_t off, uint64_t len)
{
	const unsigned w = 8 * sizeof(long);
	uint64_t last = (off + (len ? len - 1 : 0)) >> 12;

	for (uint64_t p = off >> 12; p <= last; p++)
		__atomic_fetch_or(&bits[p / w], 1ul << (p % w), __ATOMIC_RELAXED);
}

void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	unsigned long *touched = __atomic_load_n(&m->touched, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < m->nr; i++) {
		const struct gmem_region *r = &m->regions[i];

		/* Subtractions only: no sum of guest numbers can wrap. */
		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		if (touched)
			gmem_mark_touched(touched, r->offset + (gpa - r->gpa), len);
		return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

bool gmem_is_ram(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	return gmem_ptr(m, gpa, len) != NULL;
}

int gmem_read(const struct gmem *m, uint64_t gpa, void *dst, size_t len)
{
	void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, size_t len)
{
	void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

uint64_t gmem_top(const struct gmem *m)
{
	uint64_t top = 0;

	for (unsigned i = 0; i < m->nr; i++)
		if (m->regions[i].gpa + m->regions[i].size > top)
			top = m->regions[i].gpa + m->regions[i].size;
	return top;
}
