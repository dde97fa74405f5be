/* SPDX-License-Identifier: MIT */
#ifndef KITE_PCI_H
#define KITE_PCI_H

/*
 * PCI bus 0: a host bridge at 00:00.0 and up to 31 single-function devices,
 * reached through configuration mechanism #1 (ports 0xcf8/0xcfc) and PCIe
 * ECAM (MMIO at X86_PCI_ECAM_START).  No firmware runs, so kite assigns every
 * BAR itself, naturally aligned, in the 32-bit MMIO window; a guest may move
 * them (BAR writes) and switch decoding off and on (command register), and
 * the BAR's bus range follows.  Only 32-bit memory BARs are implemented.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <kite/bus.h>
#include <kite/log.h>

struct machine;
struct msix;

#define PCI_CFG_SIZE  4096
#define PCI_MAX_SLOTS 32
#define PCI_NUM_BARS  6

/* Configuration space registers and bits used by kite. */
#define PCI_VENDOR_ID        0x00
#define PCI_DEVICE_ID        0x02
#define PCI_COMMAND          0x04
#define PCI_COMMAND_IO       0x1
#define PCI_COMMAND_MEMORY   0x2
#define PCI_COMMAND_MASTER   0x4
#define PCI_COMMAND_INTX_OFF 0x400
#define PCI_STATUS           0x06
#define PCI_STATUS_CAP_LIST  0x10
#define PCI_STATUS_INTX      0x08
#define PCI_REVISION_ID      0x08
#define PCI_CLASS_PROG       0x09
#define PCI_HEADER_TYPE      0x0e
#define PCI_BAR0             0x10
#define PCI_SUBSYSTEM_VENDOR 0x2c
#define PCI_SUBSYSTEM_ID     0x2e
#define PCI_CAP_PTR          0x34
#define PCI_INTERRUPT_LINE   0x3c
#define PCI_INTERRUPT_PIN    0x3d
#define PCI_CAP_ID_VNDR      0x09
#define PCI_CAP_ID_MSIX      0x11

/* The host bridge's identity: the one of QEMU's q35 (Intel 82G33 DRAM controller). */
#define PCI_HOST_VENDOR 0x8086
#define PCI_HOST_DEVICE 0x29c0

struct pci_dev;

/*
 * A device-side hook told that the BAR `bar` stopped (addr 0) or started
 * decoding at `addr`; virtio uses it to move its ioeventfds.  Called with the
 * PCI bus lock held, from a vCPU thread.
 */
typedef void (*pci_bar_moved_fn)(struct pci_dev *d, unsigned bar, uint64_t old_addr, uint64_t new_addr);

struct pci_bar {
	uint64_t size; /* 0: not implemented; else a power of two >= 16 */
	bus_io_fn fn;
	void *opaque;
	uint64_t mapped_at; /* 0 when not registered on the MMIO bus */
	struct pci_dev *dev;
};

struct pci_dev {
	struct pci_bus *bus;
	char name[32];
	unsigned slot;
	unsigned intx_gsi;
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits a guest may write */
	uint8_t cap_end;             /* where the next capability goes */
	uint8_t last_cap;            /* offset of the last capability, 0 if none */
	struct pci_bar bar[PCI_NUM_BARS];
	struct msix *msix;           /* set by msix_init */
	pci_bar_moved_fn bar_moved;
	void *priv;
	/*
	 * A config-space range served by a function instead of cfg[] (virtio's
	 * PCI_CFG access window); called without the bus lock held.
	 */
	void (*window_fn)(struct pci_dev *d, unsigned off, uint8_t *data, unsigned len, bool is_write);
	uint8_t window_reg, window_len;
};

struct pci_bus {
	struct machine *m;
	pthread_mutex_t lock; /* config space, BAR mappings, the 0xcf8 latch */
	uint32_t cf8;
	uint64_t mmio_next; /* next free address in the BAR window */
	struct pci_dev host;
	struct pci_dev *slots[PCI_MAX_SLOTS];
	bool pio_registered, ecam_registered;
	struct ratelimit rl;
};

/* Registers 0xcf8-0xcff and the ECAM window and puts the host bridge at 00:00.0. */
int pci_bus_init(struct pci_bus *pb, struct machine *m);
void pci_bus_exit(struct pci_bus *pb);

/*
 * Fills the header of a type-0 function.  `class_code` is class<<16 |
 * subclass<<8 | prog-if.  Capabilities and BARs are added before pci_register.
 */
void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device, uint32_t class_code,
		  uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id);
/* Declares memory BAR `bar` of `size` bytes (a power of two, >= 4 KiB) served by fn(opaque, ...). */
int pci_dev_add_bar(struct pci_dev *d, unsigned bar, uint64_t size, bus_io_fn fn, void *opaque);
/*
 * Appends a capability (body[0] is overwritten with `id`, body[1] with the
 * next pointer) and returns its config-space offset, or -ENOSPC.
 */
int pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, unsigned len);
/* Lets the guest write bytes [reg, reg+len) of config space (a capability's writable fields). */
void pci_dev_cfg_writable(struct pci_dev *d, unsigned reg, unsigned len);
/* Accesses inside [reg, reg+len) go to fn (see struct pci_dev.window_fn). */
void pci_dev_set_window(struct pci_dev *d, unsigned reg, unsigned len,
			void (*fn)(struct pci_dev *d, unsigned off, uint8_t *data, unsigned len, bool is_write));
/*
 * Puts `d` in the first free slot (or -ENOSPC), assigns its BARs in the MMIO
 * window, its INTx GSI and Interrupt Line, and enables memory decoding so a
 * kernel that keeps firmware assignments finds them working.
 */
int pci_register(struct pci_bus *pb, struct pci_dev *d);
void pci_unregister(struct pci_bus *pb, struct pci_dev *d);

/* Config access as the guest does it (bus 0 only; others read all-ones). */
void pci_cfg_access(struct pci_bus *pb, unsigned busnr, unsigned devfn, unsigned reg, uint8_t *data, unsigned len,
		    bool is_write);

/* Raises or lowers the device's INTx line (INTA), unless the guest disabled INTx. */
void pci_intx(struct pci_dev *d, int level);

/* The GSI of slot S's pin P (0 = INTA): acpi_pci_intx_gsi(), the DSDT _PRT's rule. */
unsigned pci_intx_gsi(unsigned slot, unsigned pin);

static inline uint16_t pci_cfg_read16(const struct pci_dev *d, unsigned off)
{
	return (uint16_t)(d->cfg[off] | d->cfg[off + 1] << 8);
}

static inline uint32_t pci_cfg_read32(const struct pci_dev *d, unsigned off)
{
	return (uint32_t)d->cfg[off] | (uint32_t)d->cfg[off + 1] << 8 | (uint32_t)d->cfg[off + 2] << 16 |
	       (uint32_t)d->cfg[off + 3] << 24;
}

#endif
