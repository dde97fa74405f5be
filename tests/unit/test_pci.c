// SPDX-License-Identifier: MIT
/* PCI configuration space: mechanism #1, ECAM, BARs, command register, capabilities, MSI-X. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include <kite/msix.h>
#include <kite/pci.h>
#include <kite/virtio_rng.h>
#include <kite/x86_layout.h>

#include "virtio_harness.h"

struct fx {
	struct vh h;
	struct pci_dev dev;
	struct msix msix;
	unsigned bar_hits;
	uint64_t last_off;
};

static void dummy_bar(void *opaque, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	struct fx *f = opaque;

	f->bar_hits++;
	f->last_off = off;
	if (off >= 0x1000 && off < 0x2000) {
		msix_table_access(&f->msix, off - 0x1000, data, len, is_write);
		return;
	}
	if (off >= 0x2000) {
		msix_pba_access(&f->msix, off - 0x2000, data, len, is_write);
		return;
	}
	if (!is_write)
		memset(data, 0x5a, len);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint8_t vcap[8] = { 0, 0, 8, 0x77 };

	*state = f;
	if (vh_init(&f->h))
		return -1;
	pci_dev_init(&f->dev, "dummy", 0x1234, 0x5678, 0x020000, 3, 0x1af4, 0x42);
	if (pci_dev_add_bar(&f->dev, 0, 0x4000, dummy_bar, f) || pci_dev_add_bar(&f->dev, 2, 0x100000, dummy_bar, f))
		return -1;
	if (pci_dev_add_cap(&f->dev, PCI_CAP_ID_VNDR, vcap, sizeof(vcap)) < 0)
		return -1;
	if (msix_init(&f->msix, &f->dev, &f->h.m, 4, 0, 0x1000, 0x2000))
		return -1;
	return pci_register(&f->h.pci, &f->dev);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	pci_unregister(&f->h.pci, &f->dev);
	msix_exit(&f->msix);
	vh_exit(&f->h);
	free(f);
	return 0;
}

static void test_host_bridge(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	uint32_t a = 0x80000000u, v = 0;

	assert_int_equal(vh_cfg_read(h, 0, 0, 4), PCI_HOST_VENDOR | PCI_HOST_DEVICE << 16);
	assert_int_equal(vh_cfg_read(h, 0, 0x0a, 2), 0x0600);
	assert_int_equal(vh_cfg_read(h, 0, 0x0b, 1), 0x06);
	/* The Linux probe: the latch reads back what was written. */
	bus_access(&h->pio, 0xcf8, (uint8_t *)&a, 4, true);
	bus_access(&h->pio, 0xcf8, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0x80000000u);
	/* Without the enable bit, data reads all-ones. */
	a = 0;
	bus_access(&h->pio, 0xcf8, (uint8_t *)&a, 4, true);
	bus_access(&h->pio, 0xcfc, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0xffffffffu);
	/* Empty slots and functions read all-ones. */
	assert_int_equal(vh_cfg_read(h, 30, 0, 4), 0xffffffffu);
	assert_int_equal(vh_cfg_read(h, 0, 0, 2), PCI_HOST_VENDOR);
}

static void test_ecam(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	uint32_t v = 0;
	uint16_t w = 0;

	bus_access(&h->mmio, X86_PCI_ECAM_START + (f->dev.slot << 15), (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0x1234 | 0x5678 << 16);
	bus_access(&h->mmio, X86_PCI_ECAM_START + (f->dev.slot << 15) + 2, (uint8_t *)&w, 2, false);
	assert_int_equal(w, 0x5678);
	/* Bus 1 does not exist; extended config space reads zero. */
	bus_access(&h->mmio, X86_PCI_ECAM_START + (1 << 20), (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0xffffffffu);
	bus_access(&h->mmio, X86_PCI_ECAM_START + (f->dev.slot << 15) + 0x100, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0);
}

static void test_header(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	unsigned s = f->dev.slot;

	assert_int_equal(s, 1);
	assert_int_equal(vh_cfg_read(h, s, PCI_REVISION_ID, 1), 3);
	assert_int_equal(vh_cfg_read(h, s, PCI_SUBSYSTEM_ID, 2), 0x42);
	assert_int_equal(vh_cfg_read(h, s, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(vh_cfg_read(h, s, PCI_INTERRUPT_LINE, 1), 16 + (s % 8));
	assert_true(vh_cfg_read(h, s, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* Read-only registers ignore writes. */
	vh_cfg_write(h, s, 0, 0xffffffff, 4);
	assert_int_equal(vh_cfg_read(h, s, 0, 4), 0x1234 | 0x5678 << 16);
}

static void test_bar_assignment_and_sizing(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	unsigned s = f->dev.slot;
	uint32_t b0 = vh_cfg_read(h, s, PCI_BAR0, 4), b2 = vh_cfg_read(h, s, PCI_BAR0 + 8, 4), v;

	/* In the window, naturally aligned, decoding. */
	assert_true(b0 >= X86_PCI_MMIO_START && b0 < X86_PCI_MMIO_START + X86_PCI_MMIO_SIZE);
	assert_int_equal(b0 % 0x4000, 0);
	assert_int_equal(b2 % 0x100000, 0);
	assert_int_equal(vh_cfg_read(h, s, PCI_BAR0 + 4, 4), 0); /* not implemented */
	assert_true(vh_cfg_read(h, s, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY);
	assert_string_equal(bus_owner(&h->mmio, b0 + 0x10), "dummy");
	bus_access(&h->mmio, b0 + 0x10, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0x5a5a5a5a);
	assert_int_equal(f->last_off, 0x10);

	/* Sizing, as Linux does it: decode off, all-ones, read the mask, restore. */
	vh_cfg_write(h, s, PCI_COMMAND, 0, 2);
	assert_null(bus_owner(&h->mmio, b0));
	vh_cfg_write(h, s, PCI_BAR0, 0xffffffff, 4);
	assert_int_equal(vh_cfg_read(h, s, PCI_BAR0, 4), 0xffffc000u);
	vh_cfg_write(h, s, PCI_BAR0 + 8, 0xffffffff, 4);
	assert_int_equal(vh_cfg_read(h, s, PCI_BAR0 + 8, 4), 0xfff00000u);
	vh_cfg_write(h, s, PCI_BAR0 + 4, 0xffffffff, 4);
	assert_int_equal(vh_cfg_read(h, s, PCI_BAR0 + 4, 4), 0);
	vh_cfg_write(h, s, PCI_BAR0, b0, 4);
	vh_cfg_write(h, s, PCI_BAR0 + 8, b2, 4);

	/* The guest moves BAR0 (with a word write, even) and turns decoding on. */
	vh_cfg_write(h, s, PCI_BAR0 + 2, 0xd000, 2);
	vh_cfg_write(h, s, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(vh_cfg_read(h, s, PCI_BAR0, 4), 0xd0000000u | (b0 & 0xffff));
	assert_null(bus_owner(&h->mmio, b0));
	assert_string_equal(bus_owner(&h->mmio, 0xd0000000u | (b0 & 0xffff)), "dummy");
	assert_string_equal(bus_owner(&h->mmio, b2), "dummy");
}

static void test_capability_walk(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	unsigned s = f->dev.slot, cap = vh_cfg_read(h, s, PCI_CAP_PTR, 1), n = 0;
	bool vndr = false, msix = false;

	while (cap && n++ < 48) {
		unsigned id = vh_cfg_read(h, s, cap, 1);

		assert_true(cap >= 0x40 && cap % 4 == 0);
		vndr |= id == PCI_CAP_ID_VNDR && vh_cfg_read(h, s, cap + 3, 1) == 0x77;
		if (id == PCI_CAP_ID_MSIX) {
			msix = true;
			assert_int_equal(vh_cfg_read(h, s, cap + 2, 2) & 0x7ff, 3); /* 4 vectors */
			assert_int_equal(vh_cfg_read(h, s, cap + 4, 4), 0x1000);  /* BAR0 + 0x1000 */
			assert_int_equal(vh_cfg_read(h, s, cap + 8, 4), 0x2000);
		}
		cap = vh_cfg_read(h, s, cap + 1, 1);
	}
	assert_true(vndr);
	assert_true(msix);
}

static void test_msix(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	unsigned s = f->dev.slot, cap = f->msix.cap;
	uint32_t pba = 0;

	h->bar = vh_cfg_read(h, s, PCI_BAR0, 4) & ~0xfu;
	/* Disabled: notify is a no-op for MSI (the device would use INTx). */
	assert_false(msix_enabled(&f->msix));
	/* Vector 2 -> (0xfee01000, 0x4042); masked at first. */
	vh_wr(h, 0x1000 + 32, 0xfee01000, 4);
	vh_wr(h, 0x1000 + 36, 0, 4);
	vh_wr(h, 0x1000 + 40, 0x4042, 4);
	assert_int_equal(vh_rd(h, 0x1000 + 44, 4), MSIX_VEC_MASKED);
	vh_cfg_write(h, s, cap + 2, MSIX_CTRL_ENABLE, 2);
	assert_true(msix_enabled(&f->msix));
	assert_int_equal(msix_notify(&f->msix, 2), 0);
	assert_int_equal(h->msis, 0);
	pba = (uint32_t)vh_rd(h, 0x2000, 4);
	assert_int_equal(pba, 1u << 2);
	/* Unmasking delivers the pending message. */
	vh_wr(h, 0x1000 + 44, 0, 4);
	assert_int_equal(h->msis, 1);
	assert_int_equal(h->last_msi_addr, 0xfee01000);
	assert_int_equal(h->last_msi_data, 0x4042);
	assert_int_equal(vh_rd(h, 0x2000, 4), 0);
	assert_int_equal(msix_notify(&f->msix, 2), 0);
	assert_int_equal(h->msis, 2);
	/* Function mask holds everything back. */
	vh_cfg_write(h, s, cap + 2, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL, 2);
	msix_notify(&f->msix, 2);
	assert_int_equal(h->msis, 2);
	vh_cfg_write(h, s, cap + 2, MSIX_CTRL_ENABLE, 2);
	assert_int_equal(h->msis, 3);
	/* Reserved Vector Control bits stay zero; vectors past the table are refused. */
	vh_wr(h, 0x1000 + 44, 0xfffffffe, 4);
	assert_int_equal(vh_rd(h, 0x1000 + 44, 4), 0);
	assert_int_equal(msix_notify(&f->msix, 4), -EINVAL);
}

static void test_intx(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	unsigned gsi = f->dev.intx_gsi;

	pci_intx(&f->dev, 1);
	assert_int_equal(h->irq_level[gsi], 1);
	assert_true(vh_cfg_read(h, f->dev.slot, PCI_STATUS, 2) & PCI_STATUS_INTX);
	/* Interrupt Disable lowers the line and keeps it low. */
	vh_cfg_write(h, f->dev.slot, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_OFF, 2);
	assert_int_equal(h->irq_level[gsi], 0);
	pci_intx(&f->dev, 1);
	assert_int_equal(h->irq_level[gsi], 0);
}

static void test_slots_and_virtio_caps(void **state)
{
	struct fx *f = *state;
	struct vh *h = &f->h;
	struct virtio_rng *rng;
	unsigned cap, types = 0;

	assert_int_equal(virtio_rng_create(&h->pci, &h->m, &rng), 0);
	assert_int_equal(vh_find(h, VIRTIO_ID_RNG), 0);
	assert_int_equal(h->slot, 2);
	assert_int_equal(vh_cfg_read(h, h->slot, 0, 4), 0x1af4 | 0x1044 << 16);
	assert_int_equal(vh_cfg_read(h, h->slot, PCI_REVISION_ID, 1), 1);
	/* BARs of different devices do not overlap. */
	assert_true(h->bar >= (vh_cfg_read(h, 1, PCI_BAR0 + 8, 4) & ~0xfu) + 0x100000 ||
		    h->bar + VIRTIO_BAR_SIZE <= (vh_cfg_read(h, 1, PCI_BAR0, 4) & ~0xfu));
	for (cap = vh_cfg_read(h, h->slot, PCI_CAP_PTR, 1); cap; cap = vh_cfg_read(h, h->slot, cap + 1, 1)) {
		if (vh_cfg_read(h, h->slot, cap, 1) != PCI_CAP_ID_VNDR)
			continue;
		types |= 1u << vh_cfg_read(h, h->slot, cap + 3, 1);
		if (vh_cfg_read(h, h->slot, cap + 3, 1) == VIRTIO_PCI_CAP_NOTIFY)
			assert_int_equal(vh_cfg_read(h, h->slot, cap + 16, 4), VIRTIO_NOTIFY_MULT);
	}
	/* common, notify, ISR and the PCI_CFG window (rng has no device config). */
	assert_int_equal(types, 1u << 1 | 1u << 2 | 1u << 3 | 1u << 5);
	virtio_rng_destroy(rng);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_host_bridge),
		T(test_ecam),
		T(test_header),
		T(test_bar_assignment_and_sizing),
		T(test_capability_walk),
		T(test_msix),
		T(test_intx),
		T(test_slots_and_virtio_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
