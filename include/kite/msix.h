/* SPDX-License-Identifier: MIT */
#ifndef KITE_MSIX_H
#define KITE_MSIX_H

/*
 * The MSI-X capability of a PCI function: the table and the pending-bit
 * array live in one of its BARs (the device forwards those accesses here).
 * Each unmasked vector gets a GSI routed to its message (alloc_gsi +
 * route_msi) and an irqfd, so any thread fires it with one eventfd write;
 * a masked vector only sets its pending bit, delivered on unmask.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct machine;
struct pci_dev;

#define MSIX_MAX_VECTORS 64
#define MSIX_ENTRY_SIZE  16
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_VEC_MASKED  0x1
#define MSIX_NO_VECTOR   0xffff

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct msix_route {
	int gsi; /* -1: none yet */
	int efd; /* irqfd bound to gsi, -1: none */
	bool routed;
	uint64_t addr;
	uint32_t data;
};

struct msix {
	struct pci_dev *dev;
	struct machine *m;
	pthread_mutex_t lock;
	unsigned nvec;
	unsigned cap; /* config-space offset of the capability */
	struct msix_entry table[MSIX_MAX_VECTORS];
	uint64_t pba[(MSIX_MAX_VECTORS + 63) / 64];
	struct msix_route route[MSIX_MAX_VECTORS];
};

/* Adds the capability to `d` (before pci_register); table and PBA at the given BAR offsets. */
int msix_init(struct msix *x, struct pci_dev *d, struct machine *m, unsigned nvec, unsigned bar, uint32_t table_off,
	      uint32_t pba_off);
void msix_exit(struct msix *x);
/* BAR accesses to the table / the PBA, `off` relative to their start. */
void msix_table_access(struct msix *x, uint64_t off, uint8_t *data, unsigned len, bool is_write);
void msix_pba_access(struct msix *x, uint64_t off, uint8_t *data, unsigned len, bool is_write);
/* The guest wrote the capability's Message Control (called by the PCI core). */
void msix_control_written(struct msix *x);
bool msix_enabled(struct msix *x);
/* Fires vector `vec` (or marks it pending); -EINVAL for a vector out of range. Any thread. */
int msix_notify(struct msix *x, unsigned vec);
/* Clears every pending bit (device reset). */
void msix_clear_pending(struct msix *x);

#endif
