/* SPDX-License-Identifier: MIT */
#ifndef KITE_VIRTIO_H
#define KITE_VIRTIO_H

/*
 * The virtio 1.x PCI transport (modern only) and the device core: feature
 * negotiation, the status state machine, queue set-up from the common
 * config, doorbells (ioeventfd -> eventfd -> event loop), interrupts (MSI-X
 * through irqfd, INTx + ISR as the fallback) and reset.
 *
 * BAR0 (32 KiB) layout:
 *   0x0000 common config   0x1000 ISR   0x2000 device config
 *   0x3000 notify (queue i at 0x3000 + 4*i)   0x4000 MSI-X table   0x5000 PBA
 *
 * Threads: common/device config and ISR accesses come from vCPU threads,
 * queue kicks run on the event loop thread, and a device may complete
 * requests from its own workers.  `lock` serialises all of them; no vCPU
 * ever waits for I/O (a reset with requests in flight completes when the
 * last one does, and the status reads non-zero until then).
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <kite/log.h>
#include <kite/msix.h>
#include <kite/pci.h>
#include <kite/virtq.h>

struct machine;
struct pci_bus;

#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG     4

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_PCI_SUBSYS_ID   0x1100

#define VIRTIO_BAR            0
#define VIRTIO_BAR_SIZE       0x8000
#define VIRTIO_COMMON_OFF     0x0000
#define VIRTIO_ISR_OFF        0x1000
#define VIRTIO_DEVCFG_OFF     0x2000
#define VIRTIO_NOTIFY_OFF     0x3000
#define VIRTIO_NOTIFY_MULT    4
#define VIRTIO_MSIX_TABLE_OFF 0x4000
#define VIRTIO_MSIX_PBA_OFF   0x5000

/* Common configuration register offsets (virtio 1.x, 4.1.4.3). */
#define VIRTIO_COMMON_DFSELECT   0x00
#define VIRTIO_COMMON_DF         0x04
#define VIRTIO_COMMON_GFSELECT   0x08
#define VIRTIO_COMMON_GF         0x0c
#define VIRTIO_COMMON_MSIX       0x10
#define VIRTIO_COMMON_NUMQ       0x12
#define VIRTIO_COMMON_STATUS     0x14
#define VIRTIO_COMMON_CFGGEN     0x15
#define VIRTIO_COMMON_Q_SELECT   0x16
#define VIRTIO_COMMON_Q_SIZE     0x18
#define VIRTIO_COMMON_Q_MSIX     0x1a
#define VIRTIO_COMMON_Q_ENABLE   0x1c
#define VIRTIO_COMMON_Q_NOFF     0x1e
#define VIRTIO_COMMON_Q_DESC     0x20
#define VIRTIO_COMMON_Q_DRIVER   0x28
#define VIRTIO_COMMON_Q_DEVICE   0x30
#define VIRTIO_COMMON_SIZE       0x38

#define VIRTIO_PCI_CAP_COMMON 1
#define VIRTIO_PCI_CAP_NOTIFY 2
#define VIRTIO_PCI_CAP_ISR    3
#define VIRTIO_PCI_CAP_DEVICE 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

#define VIRTIO_MAX_QUEUES 8

struct virtio_dev;

/* What a device type adds to the core.  Every hook is optional except queue_notify. */
struct virtio_ops {
	/* Buffers were made available on queue `qi` (event loop thread, lock NOT held). */
	void (*queue_notify)(struct virtio_dev *v, unsigned qi);
	/* Device-specific configuration space; `off` + `len` within cfg_size. Lock held. */
	void (*cfg_read)(struct virtio_dev *v, unsigned off, uint8_t *data, unsigned len);
	void (*cfg_write)(struct virtio_dev *v, unsigned off, const uint8_t *data, unsigned len);
	/* The driver set DRIVER_OK. Lock held. */
	void (*driver_ok)(struct virtio_dev *v);
	/* Device reset has completed (no request in flight). Lock held. */
	void (*reset)(struct virtio_dev *v);
};

struct virtio_queue {
	struct virtio_dev *dev;
	unsigned index;
	struct virtq vq;
	uint16_t max_size;
	uint16_t msix_vector;
	int kickfd;               /* eventfd the doorbell signals */
	struct event_loop *loop;  /* where it is served: the device's loop unless set before init */
	uint64_t ioeventfd_addr;  /* 0 when not bound */
	char name[32];
};

/* Plain state for snapshots (see virtio_save / virtio_load). */
struct virtio_state {
	uint8_t status, isr, config_generation;
	uint64_t guest_features;
	uint16_t msix_config;
	uint32_t dfselect, gfselect;
	uint16_t queue_select;
	struct {
		struct virtq_state vq;
		uint16_t msix_vector;
	} q[VIRTIO_MAX_QUEUES];
};

struct virtio_dev {
	struct pci_dev pci;
	struct msix msix;
	struct machine *m;
	/* Where the queues' doorbells are served: the machine's loop unless the device brings its own. */
	struct event_loop *loop;
	const struct virtio_ops *ops;
	void *priv;
	char name[16];
	unsigned type;
	unsigned cfg_size;
	pthread_mutex_t lock;
	pthread_cond_t idle;      /* signalled when inflight drops to 0 */

	uint64_t host_features;
	uint64_t guest_features;
	uint32_t dfselect, gfselect;
	uint16_t msix_config;
	uint16_t queue_select;
	uint8_t status;
	uint8_t isr;
	uint8_t config_generation;
	bool resetting;           /* status 0 written, waiting for in-flight requests */
	bool paused;              /* quiesced: touch no guest memory */
	unsigned inflight;
	unsigned nqueues;
	struct virtio_queue q[VIRTIO_MAX_QUEUES];
	struct ratelimit rl;
	/* Counters, for tests and diagnostics. */
	uint64_t interrupts, needs_reset_events;
};

/*
 * Builds the PCI function (ids 0x1af4:0x1040+type, revision 1), its vendor
 * capabilities and MSI-X (one vector per queue plus config), creates the
 * kick eventfds and adds them to the event loop (v->loop if the caller set
 * it, the machine's otherwise), and registers it on `pci`.  `features` are
 * the device-type bits; VERSION_1, EVENT_IDX and INDIRECT_DESC are added.
 * The caller zeroes *v beforehand and may set priv, loop and q[i].loop.
 */
int virtio_dev_init(struct virtio_dev *v, struct pci_bus *pci, struct machine *m, const char *name, unsigned type,
		    uint32_t class_code, uint64_t features, unsigned nqueues, uint16_t queue_size, unsigned cfg_size,
		    const struct virtio_ops *ops);
/* Unregisters and frees what init made.  Call with the event loop stopped. */
void virtio_dev_exit(struct virtio_dev *v);

/* Transport register accesses (the BAR handler; exported for tests and harnesses). */
void virtio_bar_access(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write);

/*
 * Queue helpers for device code.  virtio_pop takes the next chain of queue qi
 * (1), nothing (0), or fails (-EIO) and then puts the device in NEEDS_RESET.
 * A popped chain counts as in flight until virtio_complete returns it.
 */
int virtio_pop(struct virtio_dev *v, unsigned qi, struct virtq_elem *e);
/*
 * Up to n chains at once into e[0..), under one lock; returns how many.  A
 * broken ring ends the run (the chains before it are valid) and puts the
 * device in NEEDS_RESET.
 */
int virtio_pop_many(struct virtio_dev *v, unsigned qi, struct virtq_elem **e, unsigned n);
/* Returns the chain with `len` bytes written and interrupts the guest if it wants. Any thread. */
void virtio_complete(struct virtio_dev *v, unsigned qi, uint16_t head, uint32_t len);
/*
 * The same for n chains at once (done[i].id is the head): one lock, one
 * used-index update and at most one interrupt for the lot.
 */
void virtio_complete_many(struct virtio_dev *v, unsigned qi, const struct virtq_used_elem *done, unsigned n);
/* Chains not popped yet in queue qi, 0 when it is not ready (any thread). */
unsigned virtio_queue_pending(struct virtio_dev *v, unsigned qi);
/* Drops a popped chain without touching the rings (the device is resetting or broken). */
void virtio_drop(struct virtio_dev *v);
/* Kick suppression while a device drains a queue; on() returns true if more arrived. */
void virtio_queue_notify_off(struct virtio_dev *v, unsigned qi);
bool virtio_queue_notify_on(struct virtio_dev *v, unsigned qi);
/* True when queue qi may be processed now (DRIVER_OK, enabled, not broken, not paused). */
bool virtio_queue_ready(struct virtio_dev *v, unsigned qi);
/* Re-runs queue_notify for qi on the loop thread (e.g. after resources freed up). Any thread. */
void virtio_kick(struct virtio_dev *v, unsigned qi);
/* The guest broke the rules: NEEDS_RESET + config interrupt. Lock held. */
void virtio_set_needs_reset(struct virtio_dev *v);
/* Config-change interrupt (lock held). */
void virtio_config_changed(struct virtio_dev *v);
bool virtio_has_feature(const struct virtio_dev *v, unsigned bit);

/*
 * Pause support: quiesce stops every queue and waits until no request is in
 * flight (call from a control thread, not from the event loop or a worker);
 * afterwards the device touches no guest memory until resume.
 */
void virtio_quiesce(struct virtio_dev *v);
void virtio_resume(struct virtio_dev *v);
/* Save/load the transport state; load re-maps enabled queues (quiesced device). */
void virtio_save(struct virtio_dev *v, struct virtio_state *s);
int virtio_load(struct virtio_dev *v, const struct virtio_state *s);

#endif
