// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <kite/log.h>
#include <kite/util.h>
#include <kite/virtio.h>
#include <kite/virtio_rng.h>

#define RNG_IOV_CAP 64

struct virtio_rng {
	struct virtio_dev vdev;
	struct virtq_elem e;
	struct iovec iov[RNG_IOV_CAP];
};

struct virtio_dev *virtio_rng_dev(struct virtio_rng *r)
{
	return &r->vdev;
}

static uint32_t rng_fill(struct virtio_rng *r)
{
	struct virtq_elem *e = &r->e;
	size_t budget = VIRTIO_RNG_MAX_CHUNK, done = 0;

	for (unsigned i = e->nout; i < e->nout + e->nin && budget; i++) {
		size_t want = MIN(e->iov[i].iov_len, budget), got = 0;

		while (got < want) {
			ssize_t n = getrandom((uint8_t *)e->iov[i].iov_base + got, want - got, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return (uint32_t)(done + got);
			got += (size_t)n;
		}
		done += got;
		budget -= got;
	}
	return (uint32_t)done;
}

static void rng_queue_notify(struct virtio_dev *v, unsigned qi)
{
	struct virtio_rng *r = v->priv;

	do {
		virtio_queue_notify_off(v, qi);
		while (virtio_pop(v, qi, &r->e) > 0)
			virtio_complete(v, qi, r->e.head, rng_fill(r));
	} while (virtio_queue_notify_on(v, qi));
}

static const struct virtio_ops rng_ops = {
	.queue_notify = rng_queue_notify,
};

int virtio_rng_create(struct pci_bus *pci, struct machine *m, struct virtio_rng **out)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	r->e.iov = r->iov;
	r->e.cap = RNG_IOV_CAP;
	r->vdev.priv = r;
	err = virtio_dev_init(&r->vdev, pci, m, "rng", VIRTIO_ID_RNG, 0x00ff00, 0, 1, 256, 0, &rng_ops);
	if (err) {
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
	if (!r)
		return;
	virtio_dev_exit(&r->vdev);
	free(r);
}

void virtio_rng_quiesce(struct virtio_rng *r)
{
	virtio_quiesce(&r->vdev);
}

void virtio_rng_resume(struct virtio_rng *r)
{
	virtio_resume(&r->vdev);
}
