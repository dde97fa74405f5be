/* SPDX-License-Identifier: MIT */
#ifndef KITE_VIRTIO_RNG_H
#define KITE_VIRTIO_RNG_H

/* virtio-rng (entropy source) backed by getrandom(2); one request queue. */

struct pci_bus;
struct machine;
struct virtio_dev;
struct virtio_rng;

/* Bytes served per request at most: a guest asking for more gets a short answer. */
#define VIRTIO_RNG_MAX_CHUNK 65536

int virtio_rng_create(struct pci_bus *pci, struct machine *m, struct virtio_rng **out);
/* The event loop must be stopped. */
void virtio_rng_destroy(struct virtio_rng *r);
void virtio_rng_quiesce(struct virtio_rng *r);
void virtio_rng_resume(struct virtio_rng *r);
struct virtio_dev *virtio_rng_dev(struct virtio_rng *r);

#endif
