// SPDX-License-Identifier: MIT
/*
 * Which pages the source must send (again).  Two writers change guest RAM:
 *  - the vCPUs: KVM's dirty log, on every slot for the whole migration
 *    (KVM_CLEAR_DIRTY_LOG with manual protect when KVM has it: the pages are
 *    re-protected just before they are read, and the first round needs no
 *    write-protection pass over all of RAM);
 *  - kite's devices (virtio buffers and used rings): gmem_ptr() marks every
 *    page it hands out in `touched`, and the rings, mapped once when a queue is
 *    enabled, are added from the queue state.  Both are sent in the final
 *    round, when the devices are quiesced, never earlier: a buffer a device
 *    holds may be written after any earlier round read it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kite/log.h>
#include <kite/migrate_proto.h>
#include <kite/util.h>
#include <kite/virtio.h>
#include <kite/virtio_blk.h>
#include <kite/virtio_console.h>
#include <kite/virtio_net.h>
#include <kite/virtio_rng.h>
#include <kite/vm.h>

#define BPL (8 * sizeof(long))

static size_t bitmap_bytes(uint64_t bits)
{
	return ALIGN_UP(bits, 64) / 8;
}

static void bit_set(unsigned long *b, uint64_t i)
{
	b[i / BPL] |= 1ul << (i % BPL);
}

static int mig_dirty_set_logging(struct mig_dirty *d, bool on)
{
	struct vm *vm = d->vm;

	for (unsigned i = 0; i < vm->mem.nr; i++) {
		struct gmem_region *g = &vm->mem.regions[i];
		int r = kvm_set_memory_region(vm->fd, i, g->gpa, g->size, g->hva, on ? KVM_MEM_LOG_DIRTY_PAGES : 0);

		if (r) {
			pr_err("migration: dirty logging %s on slot %u: %s", on ? "on" : "off", i, strerror(-r));
			return r;
		}
	}
	return 0;
}

int mig_dirty_start(struct mig_dirty *d, struct vm *vm)
{
	uint64_t slot_max = 0;
	int caps, r;

	memset(d, 0, sizeof(*d));
	d->vm = vm;
	d->npages = vm->mem.size / MIG_PAGE;
	for (unsigned i = 0; i < vm->mem.nr; i++)
		slot_max = MAX(slot_max, vm->mem.regions[i].size / MIG_PAGE);
	d->bits = calloc(1, bitmap_bytes(d->npages));
	d->touched = calloc(1, bitmap_bytes(d->npages));
	d->slot_buf = calloc(1, bitmap_bytes(slot_max));
	if (!d->bits || !d->touched || !d->slot_buf) {
		mig_dirty_stop(d);
		return -ENOMEM;
	}
	/* Every page goes in the first round: no write-protection pass needed for it (INITIALLY_SET). */
	caps = kvm_check_cap(vm->fd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (caps > 0 && (caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
		uint64_t arg = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | (caps & KVM_DIRTY_LOG_INITIALLY_SET);

		d->manual = kvm_enable_cap(vm->fd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, arg) == 0;
	}
	memset(d->bits, 0xff, bitmap_bytes(d->npages));
	if (d->npages % BPL)
		d->bits[d->npages / BPL] = (1ul << (d->npages % BPL)) - 1;
	__atomic_store_n(&vm->mem.touched, d->touched, __ATOMIC_RELEASE);
	r = mig_dirty_set_logging(d, true);
	if (r) {
		mig_dirty_stop(d);
		return r;
	}
	d->logging = true;
	pr_debug("migration: dirty logging on (%s)", d->manual ? "manual protect" : "KVM_GET_DIRTY_LOG");
	return 0;
}

int mig_dirty_sync(struct mig_dirty *d)
{
	struct vm *vm = d->vm;

	for (unsigned i = 0; i < vm->mem.nr; i++) {
		struct gmem_region *g = &vm->mem.regions[i];
		uint64_t pages = g->size / MIG_PAGE, first = g->offset / MIG_PAGE;
		int r;

		memset(d->slot_buf, 0, bitmap_bytes(pages));
		r = kvm_get_dirty_log(vm->fd, i, d->slot_buf);
		/* Re-protect before the pages are read: a write after this point shows in the next sync. */
		if (!r && d->manual)
			r = kvm_clear_dirty_log(vm->fd, i, 0, pages, d->slot_buf);
		if (r) {
			pr_err("migration: reading the dirty log of slot %u: %s", i, strerror(-r));
			return r;
		}
		if (first % BPL == 0) {
			for (uint64_t w = 0; w < ALIGN_UP(pages, BPL) / BPL; w++)
				d->bits[first / BPL + w] |= d->slot_buf[w];
		} else {
			for (uint64_t p = 0; p < pages; p++)
				if (d->slot_buf[p / BPL] & (1ul << (p % BPL)))
					bit_set(d->bits, first + p);
		}
	}
	return 0;
}

static void mig_dirty_add_range(struct mig_dirty *d, uint64_t gpa, uint64_t len)
{
	/* gmem_ptr marks `touched`: the ring pages land there. */
	if (len)
		gmem_ptr(&d->vm->mem, gpa, len);
}

static void mig_dirty_add_rings(struct mig_dirty *d, struct virtio_dev *v)
{
	struct virtio_state *s;

	if (!v || !(s = malloc(sizeof(*s))))
		return;
	virtio_save(v, s);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		const struct virtq_state *vq = &s->q[q].vq;

		if (!vq->enabled)
			continue;
		mig_dirty_add_range(d, vq->desc_gpa, 16ull * vq->size);
		mig_dirty_add_range(d, vq->avail_gpa, 6 + 2ull * vq->size);
		mig_dirty_add_range(d, vq->used_gpa, 6 + 8ull * vq->size);
	}
	free(s);
}

void mig_dirty_add_devices(struct mig_dirty *d)
{
	struct vm_device_refs refs;
	uint64_t words = bitmap_bytes(d->npages) / sizeof(long);

	vm_devices_refs(d->vm, &refs);
	for (unsigned i = 0; i < KITE_MAX_DISKS; i++)
		if (refs.blk[i])
			mig_dirty_add_rings(d, virtio_blk_dev(refs.blk[i]));
	for (unsigned i = 0; i < KITE_MAX_NETS; i++)
		if (refs.net[i])
			mig_dirty_add_rings(d, virtio_net_dev(refs.net[i]));
	if (refs.vcon)
		mig_dirty_add_rings(d, virtio_console_dev(refs.vcon));
	if (refs.rng)
		mig_dirty_add_rings(d, virtio_rng_dev(refs.rng));
	for (uint64_t w = 0; w < words; w++)
		d->bits[w] |= __atomic_load_n(&d->touched[w], __ATOMIC_RELAXED);
}

uint64_t mig_dirty_count(const struct mig_dirty *d)
{
	uint64_t n = 0, words = bitmap_bytes(d->npages) / sizeof(long);

	for (uint64_t w = 0; w < words; w++)
		n += __builtin_popcountl(d->bits[w]);
	return n;
}

uint64_t mig_dirty_next(struct mig_dirty *d, uint64_t from)
{
	uint64_t words = bitmap_bytes(d->npages) / sizeof(long);

	for (uint64_t w = from / BPL; w < words; w++) {
		unsigned long bits = d->bits[w];

		if (w == from / BPL)
			bits &= ~0ul << (from % BPL);
		if (bits) {
			uint64_t p = w * BPL + __builtin_ctzl(bits);

			if (p >= d->npages)
				return d->npages;
			d->bits[w] &= ~(1ul << (p % BPL));
			return p;
		}
	}
	return d->npages;
}

void mig_dirty_stop(struct mig_dirty *d)
{
	if (d->vm) {
		__atomic_store_n(&d->vm->mem.touched, NULL, __ATOMIC_RELEASE);
		if (d->logging)
			mig_dirty_set_logging(d, false);
	}
	d->logging = false;
	free(d->bits);
	free(d->slot_buf);
	d->bits = d->slot_buf = NULL;
}

void mig_dirty_release(struct mig_dirty *d)
{
	mig_dirty_stop(d);
	free(d->touched);
	d->touched = NULL;
}
