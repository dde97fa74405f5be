// SPDX-License-Identifier: MIT
/*
 * Linux bzImage through the 64-bit boot protocol (boot.rst, "64-bit Boot
 * Protocol"): no real-mode setup code runs; kite loads the protected-mode
 * kernel, writes the zero page and identity page tables, and enters at the
 * 64-bit entry point with rsi = zero page.
 */
#include <errno.h>
#include <string.h>

#include <kite/bootparam.h>
#include <kite/boot_loader.h>
#include <kite/e820.h>
#include <kite/gmem.h>
#include <kite/log.h>
#include <kite/util.h>
#include <kite/x86_layout.h>

#define PT_PRESENT 0x1ull
#define PT_RW      0x2ull
#define PT_PS      0x80ull
#define PT_PAGES   6 /* PML4, PDPT, 4 page directories of 2 MiB pages: 4 GiB */

bool bzimage_detect(const void *image, size_t len)
{
	const uint8_t *b = image;
	uint16_t flag;
	uint32_t magic;

	if (len < 0x206)
		return false;
	memcpy(&flag, b + 0x1fe, 2);
	memcpy(&magic, b + 0x202, 4);
	return flag == BZ_BOOT_FLAG && magic == BZ_HDR_MAGIC;
}

static int check_header(struct boot_ctx *c, const struct setup_header *h, size_t *pm_off)
{
	size_t sects = h->setup_sects ? h->setup_sects : 4;

	if (h->version < 0x020c || !(h->xloadflags & BZ_XLF_KERNEL_64)) {
		pr_err("%s: Linux boot protocol %u.%02u%s: kite boots bzImages through the 64-bit entry point, which "
		       "needs protocol 2.12 or later with XLF_KERNEL_64 (a 64-bit kernel, Linux 3.8 or later)",
		       c->path, h->version >> 8, h->version & 0xff,
		       h->version >= 0x020c ? " without XLF_KERNEL_64" : "");
		return -EINVAL;
	}
	if (!(h->loadflags & BZ_LOADED_HIGH)) {
		pr_err("%s: zImage (not LOADED_HIGH) kernels are not supported", c->path);
		return -EINVAL;
	}
	*pm_off = (sects + 1) * 512;
	if (*pm_off >= c->len) {
		pr_err("%s: setup code of %zu sectors leaves no protected-mode kernel in the %zu-byte file", c->path,
		       sects, c->len);
		return -EINVAL;
	}
	return 0;
}

/* Loads the protected-mode kernel at pref_address when it is relocatable and fits, else at 1 MiB. */
static int load_kernel(struct boot_ctx *c, const struct setup_header *h, size_t pm_off, uint64_t *load)
{
	uint64_t pm_len = c->len - pm_off, need = MAX(pm_len, (uint64_t)h->init_size), pref = h->pref_address;
	uint64_t end;

	*load = X86_HIGHMEM_START;
	if (h->relocatable_kernel && pref >= X86_HIGHMEM_START && pref < X86_4G && need <= X86_4G - pref &&
	    boot_alloc_is_ram(&c->alloc, pref, need))
		*load = pref;
	/*
	 * A kernel loaded at 1 MiB still decompresses itself to pref_address
	 * (LOAD_PHYSICAL_ADDR): keep everything else out of [1 MiB, pref + init_size).
	 */
	end = *load + need;
	if (*load != pref && pref > *load && pref < X86_4G && h->init_size)
		end = MAX(end, pref + h->init_size);
	if (boot_reserve_kernel(c, *load, end - *load, "kernel (with its init_size)"))
		return -EINVAL;
	memcpy(gmem_ptr(c->m, *load, pm_len), c->image + pm_off, pm_len);
	return 0;
}

static int write_cmdline(struct boot_ctx *c, struct boot_params *zp)
{
	const char *s = c->cfg->cmdline ? c->cfg->cmdline : "";
	uint64_t gpa;
	int r;

	if (strlen(s) > zp->hdr.cmdline_size) {
		pr_err("%s: command line of %zu bytes is longer than the kernel's cmdline_size (%u)", c->path,
		       strlen(s), zp->hdr.cmdline_size);
		return -EINVAL;
	}
	r = boot_data_string(c, s, X86_4G, &gpa);
	if (!r)
		zp->hdr.cmd_line_ptr = (uint32_t)gpa;
	return r;
}

static int place_initrd(struct boot_ctx *c, struct boot_params *zp)
{
	uint64_t max = MIN((uint64_t)zp->hdr.initrd_addr_max + 1, e820_lowmem_end(c->map)), addr;
	int r;

	/* Protocol 2.03+ kernels give the limit; "as high as possible" below it, as boot.rst advises. */
	r = boot_place_initrd(c, X86_HIGHMEM_START, MIN(max, X86_4G), true, &addr);
	if (r || !addr)
		return r;
	zp->hdr.ramdisk_image = (uint32_t)addr;
	zp->hdr.ramdisk_size = (uint32_t)c->initrd_len;
	zp->ext_ramdisk_size = (uint32_t)((uint64_t)c->initrd_len >> 32);
	return 0;
}

static int write_page_tables(struct boot_ctx *c)
{
	uint64_t gpa, *pt;
	void *p;
	int r;

	r = boot_data_alloc(c, PT_PAGES * 0x1000, 0x1000, X86_4G, &gpa, &p);
	if (r)
		return r;
	pt = p;
	pt[0] = (gpa + 0x1000) | PT_PRESENT | PT_RW;
	for (unsigned i = 0; i < 4; i++)
		pt[512 + i] = (gpa + (2 + i) * 0x1000) | PT_PRESENT | PT_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pt[1024 + i] = (i << 21) | PT_PRESENT | PT_RW | PT_PS;
	c->entry->cr3 = gpa;
	return 0;
}

static void fill_zero_page(struct boot_ctx *c, struct boot_params *zp, uint64_t load)
{
	size_t hdr_end = MIN((size_t)0x202 + c->image[0x201], (size_t)BZ_SETUP_HDR_MAX);

	/* The setup header as the file has it, up to the length its jump instruction gives. */
	memcpy((uint8_t *)zp + BZ_SETUP_HDR_OFF, c->image + BZ_SETUP_HDR_OFF, MIN(hdr_end, c->len) - BZ_SETUP_HDR_OFF);
	zp->hdr.type_of_loader = BZ_LOADER_OTHER;
	zp->hdr.loadflags |= BZ_CAN_USE_HEAP;
	/* No real-mode setup runs under the 64-bit protocol; a conventional heap end, as other loaders give. */
	zp->hdr.heap_end_ptr = 0xfe00;
	zp->hdr.code32_start = (uint32_t)load;
	zp->hdr.ramdisk_image = 0;
	zp->hdr.ramdisk_size = 0;
	zp->hdr.setup_data = 0;
	zp->hdr.cmd_line_ptr = 0;
	if (zp->hdr.version >= 0x020e)
		zp->acpi_rsdp_addr = c->cfg->rsdp_addr;
	for (unsigned i = 0; i < c->map->nr && i < BZ_E820_MAX; i++) {
		zp->e820_table[i].addr = c->map->e[i].addr;
		zp->e820_table[i].size = c->map->e[i].size;
		zp->e820_table[i].type = c->map->e[i].type;
		zp->e820_entries = (uint8_t)(i + 1);
	}
}

int bzimage_load(struct boot_ctx *c)
{
	struct setup_header h = { 0 };
	struct boot_params *zp;
	uint64_t load, zp_gpa;
	size_t pm_off;
	void *p;
	int r;

	memcpy(&h, c->image + BZ_SETUP_HDR_OFF, MIN(sizeof(h), c->len - BZ_SETUP_HDR_OFF));
	if (c->len < BZ_SETUP_HDR_OFF + sizeof(h)) {
		pr_err("%s: bzImage setup header is cut off by the end of the %zu-byte file", c->path, c->len);
		return -EINVAL;
	}
	r = check_header(c, &h, &pm_off);
	if (!r)
		r = load_kernel(c, &h, pm_off, &load);
	if (!r)
		r = boot_data_alloc(c, sizeof(*zp), 0x1000, X86_4G, &zp_gpa, &p);
	if (r)
		return r;
	zp = p;
	fill_zero_page(c, zp, load);
	r = write_cmdline(c, zp);
	if (!r)
		r = place_initrd(c, zp);
	if (!r)
		r = write_page_tables(c);
	if (!r)
		r = boot_write_gdt_stack(c, true);
	if (r)
		return r;
	c->entry->mode = BOOT_CPU_LONG64;
	c->entry->rip = load + BZ_ENTRY64_OFFSET;
	c->entry->rsi = zp_gpa;
	return 0;
}
