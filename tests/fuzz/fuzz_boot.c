// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: any bytes as a kernel image, through format detection
 * and the Multiboot, PVH and bzImage loaders, into a small guest.  Every
 * input must either load or be refused with an error; the sanitizers catch
 * the rest.  Refusals print one line each: run with -close_fd_mask=2 to
 * keep the output readable.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <kite/boot.h>
#include <kite/e820.h>
#include <kite/gmem.h>
#include <kite/util.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The guest is made once: mapping 16 MiB per input would dominate the run time. */
static struct gmem mem;
static struct e820_map map;

static int setup(void)
{
	if (mem.base)
		return 0;
	if (gmem_map(&mem, 16 * MiB, false) || gmem_add_region(&mem, 0, 16 * MiB) || e820_build(&map, &mem))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t initrd[4096 + 17] = { 1, 2, 3 };
	const struct boot_config cfg = {
		.kernel_path = "fuzz", .initrd_path = "fuzz-initrd", .cmdline = "console=ttyS0", .rsdp_addr = 0xe0000,
	};
	struct boot_entry e;

	setup();
	/* Odd sizes run without an initrd, so that both paths are covered. */
	boot_load_image(&mem, &map, &cfg, data, size, (size & 1) ? NULL : initrd, (size & 1) ? 0 : sizeof(initrd),
			&e);
	return 0;
}
