// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kite/bus.h>
#include <kite/log.h>
#include <kite/util.h>

int bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
	return -pthread_rwlock_init(&b->lock, NULL);
}

void bus_exit(struct bus *b)
{
	free(b->ranges);
	pthread_rwlock_destroy(&b->lock);
	memset(b, 0, sizeof(*b));
}

/* Index of the first range whose base is > addr. Caller holds the lock. */
static unsigned bus_upper(const struct bus *b, uint64_t addr)
{
	unsigned lo = 0, hi = b->nr;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (b->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct bus_range *bus_find(const struct bus *b, uint64_t addr)
{
	unsigned i = bus_upper(b, addr);
	struct bus_range *r;

	if (!i)
		return NULL;
	r = &b->ranges[i - 1];
	return addr - r->base < r->len ? r : NULL;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_io_fn fn, void *opaque, const char *name)
{
	unsigned i;
	int r = 0;

	if (!len || base + (len - 1) < base || !fn)
		return -EINVAL;
	pthread_rwlock_wrlock(&b->lock);
	i = bus_upper(b, base);
	/* Only the neighbours can overlap a range in a sorted, disjoint list. */
	if (i > 0 && ranges_overlap(b->ranges[i - 1].base, b->ranges[i - 1].len, base, len)) {
		pr_err("%s: %s at 0x%llx+0x%llx overlaps %s at 0x%llx+0x%llx", b->name, name, (unsigned long long)base,
		       (unsigned long long)len, b->ranges[i - 1].name, (unsigned long long)b->ranges[i - 1].base,
		       (unsigned long long)b->ranges[i - 1].len);
		r = -EEXIST;
		goto out;
	}
	if (i < b->nr && ranges_overlap(b->ranges[i].base, b->ranges[i].len, base, len)) {
		pr_err("%s: %s at 0x%llx+0x%llx overlaps %s at 0x%llx+0x%llx", b->name, name, (unsigned long long)base,
		       (unsigned long long)len, b->ranges[i].name, (unsigned long long)b->ranges[i].base,
		       (unsigned long long)b->ranges[i].len);
		r = -EEXIST;
		goto out;
	}
	if (b->nr == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *n = realloc(b->ranges, cap * sizeof(*n));

		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		b->ranges = n;
		b->cap = cap;
	}
	memmove(&b->ranges[i + 1], &b->ranges[i], (b->nr - i) * sizeof(*b->ranges));
	b->ranges[i] = (struct bus_range){ .base = base, .len = len, .fn = fn, .opaque = opaque, .name = name };
	b->nr++;
out:
	pthread_rwlock_unlock(&b->lock);
	return r;
}

int bus_unregister(struct bus *b, uint64_t base, void *opaque)
{
	struct bus_range *r;
	int ret = -ENOENT;

	pthread_rwlock_wrlock(&b->lock);
	r = bus_find(b, base);
	if (r && r->base == base && r->opaque == opaque) {
		unsigned i = r - b->ranges;

		memmove(&b->ranges[i], &b->ranges[i + 1], (b->nr - i - 1) * sizeof(*b->ranges));
		b->nr--;
		ret = 0;
	}
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, unsigned len, bool is_write)
{
	struct bus_range *r;
	bus_io_fn fn = NULL;
	void *opaque = NULL;
	uint64_t off = 0;

	pthread_rwlock_rdlock(&b->lock);
	r = bus_find(b, addr);
	if (r && len && len - 1 < r->len - (addr - r->base)) {
		fn = r->fn;
		opaque = r->opaque;
		off = addr - r->base;
	}
	pthread_rwlock_unlock(&b->lock);
	/*
	 * The handler runs without the lock: a guest write may move a PCI BAR
	 * and so re-register ranges on this very bus.  Devices live as long as
	 * the VM, so an unregistered range's handler stays safe to call.
	 */
	if (fn) {
		fn(opaque, off, data, len, is_write);
		return true;
	}
	if (is_write) {
		__atomic_add_fetch(&b->unclaimed_writes, 1, __ATOMIC_RELAXED);
	} else {
		__atomic_add_fetch(&b->unclaimed_reads, 1, __ATOMIC_RELAXED);
		memset(data, 0xff, len);
	}
	return false;
}

const char *bus_owner(struct bus *b, uint64_t addr)
{
	struct bus_range *r;
	const char *name;

	pthread_rwlock_rdlock(&b->lock);
	r = bus_find(b, addr);
	name = r ? r->name : NULL;
	pthread_rwlock_unlock(&b->lock);
	return name;
}
