// SPDX-License-Identifier: MIT
/* PCI configuration through ECAM (memory accesses: ring 3 needs no I/O permission). */
#include "virtio.h"

static volatile uint32_t *ecam(const struct kit_pci_dev *d, unsigned int reg)
{
	return (volatile uint32_t *)(KIT_ECAM_BASE + ((uint64_t)d->bus << 20) + ((uint64_t)d->slot << 15) +
				     (reg & 0xffc));
}

uint32_t kit_pci_read32(const struct kit_pci_dev *d, unsigned int reg)
{
	return *ecam(d, reg);
}

void kit_pci_write32(const struct kit_pci_dev *d, unsigned int reg, uint32_t v)
{
	*ecam(d, reg) = v;
}

bool kit_pci_find(uint16_t vendor, uint16_t device, struct kit_pci_dev *out)
{
	for (unsigned int slot = 0; slot < 32; slot++) {
		struct kit_pci_dev d = { .bus = 0, .slot = slot };
		uint32_t id = kit_pci_read32(&d, 0);

		if (id == ((uint32_t)device << 16 | vendor)) {
			d.vendor = vendor;
			d.device = device;
			*out = d;
			return true;
		}
	}
	return false;
}

uint64_t kit_pci_bar(const struct kit_pci_dev *d, unsigned int i)
{
	uint32_t b = kit_pci_read32(d, 0x10 + 4 * i);

	if (b & 1)
		return 0; /* I/O BAR */
	return b & ~0xful;
}
