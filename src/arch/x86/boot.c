// SPDX-License-Identifier: MIT
/*
 * Format detection and the parts every loader shares: boot data placement,
 * the initrd, the GDT and stack.  The format loaders are multiboot.c, pvh.c
 * and bzimage.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kite/boot_loader.h>
#include <kite/e820.h>
#include <kite/gmem.h>
#include <kite/log.h>
#include <kite/util.h>
#include <kite/x86_layout.h>

#define BOOT_STACK_SIZE 0x1000

const char *boot_format_name(enum boot_format f)
{
	switch (f) {
	case BOOT_MULTIBOOT:
		return "Multiboot";
	case BOOT_PVH:
		return "PVH ELF";
	case BOOT_BZIMAGE:
		return "bzImage";
	default:
		return "unknown";
	}
}

static bool is_elf(const void *image, size_t len)
{
	return len >= SELFMAG && !memcmp(image, ELFMAG, SELFMAG);
}

static bool has_pvh_note(const void *image, size_t len)
{
	struct boot_elf e;
	uint64_t entry;
	int r;

	if (!is_elf(image, len) || boot_elf_open(&e, NULL, image, len, true))
		return false;
	r = boot_elf_pvh_entry(&e, NULL, image, len, true, &entry);
	boot_elf_close(&e);
	/* A malformed note still says "PVH": the loader then explains what is wrong. */
	return r != 0;
}

enum boot_format boot_detect(const void *image, size_t len)
{
	if (bzimage_detect(image, len))
		return BOOT_BZIMAGE;
	if (has_pvh_note(image, len))
		return BOOT_PVH;
	if (multiboot_find_header(image, len) >= 0)
		return BOOT_MULTIBOOT;
	return BOOT_NONE;
}

/* For a file of no known format: the most precise reason we can give. */
static int explain_unknown(const char *path, const void *image, size_t len)
{
	struct boot_elf e;

	if (len < 16) {
		pr_err("%s: file too small (%zu bytes) to be a kernel", path, len);
		return -EINVAL;
	}
	if (multiboot_find_header(image, len) == -EBADMSG) {
		pr_err("%s: Multiboot header magic found, but its checksum is wrong", path);
		return -EINVAL;
	}
	if (is_elf(image, len)) {
		if (boot_elf_open(&e, path, image, len, false))
			return -EINVAL;
		boot_elf_close(&e);
		pr_err("%s: ELF file has neither a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) nor a Multiboot header "
		       "in its first %d bytes", path, MULTIBOOT_SEARCH);
		return -EINVAL;
	}
	pr_err("%s: not a kernel kite can boot: no bzImage setup header, not an ELF file, no Multiboot header in its "
	       "first %d bytes", path, MULTIBOOT_SEARCH);
	return -EINVAL;
}

static void note_bootdata(struct boot_ctx *c, uint64_t gpa, uint64_t size)
{
	struct boot_entry *e = c->entry;

	if (e->bootdata_end == 0 || gpa < e->bootdata_start)
		e->bootdata_start = gpa;
	if (gpa + size > e->bootdata_end)
		e->bootdata_end = gpa + size;
}

int boot_data_alloc(struct boot_ctx *c, uint64_t size, uint64_t align, uint64_t max, uint64_t *gpa, void **hva)
{
	int r = boot_alloc_find(&c->alloc, size, align, 0, max, false, gpa);

	if (r) {
		pr_err("%s: no free guest RAM below %#llx for %llu bytes of boot data", c->path,
		       (unsigned long long)max, (unsigned long long)size);
		return -ENOMEM;
	}
	*hva = gmem_ptr(c->m, *gpa, size);
	memset(*hva, 0, size);
	note_bootdata(c, *gpa, size);
	return 0;
}

int boot_data_string(struct boot_ctx *c, const char *s, uint64_t max, uint64_t *gpa)
{
	size_t n = strlen(s) + 1;
	void *p;
	int r;

	r = boot_data_alloc(c, n, 8, max, gpa, &p);
	if (!r)
		memcpy(p, s, n);
	return r;
}

int boot_place_initrd(struct boot_ctx *c, uint64_t min, uint64_t max, bool top_down, uint64_t *gpa)
{
	const char *ipath = c->cfg->initrd_path ? c->cfg->initrd_path : "initrd";

	*gpa = 0;
	if (!c->initrd)
		return 0;
	if (!c->initrd_len) {
		pr_err("%s: initrd is empty", ipath);
		return -EINVAL;
	}
	if (boot_alloc_find(&c->alloc, c->initrd_len, 0x1000, min, max, top_down, gpa)) {
		pr_err("%s: no room for the %zu-byte initrd in guest RAM between %#llx and %#llx", ipath,
		       c->initrd_len, (unsigned long long)min, (unsigned long long)max);
		return -ENOMEM;
	}
	memcpy(gmem_ptr(c->m, *gpa, c->initrd_len), c->initrd, c->initrd_len);
	c->entry->initrd_addr = *gpa;
	c->entry->initrd_size = c->initrd_len;
	return 0;
}

int boot_check_entry(const struct boot_ctx *c, uint64_t entry, const char *what)
{
	if (entry >= c->entry->kernel_start && entry < c->entry->kernel_end)
		return 0;
	pr_err("%s: %s %#llx is outside the loaded kernel [%#llx, %#llx)", c->path, what, (unsigned long long)entry,
	       (unsigned long long)c->entry->kernel_start, (unsigned long long)c->entry->kernel_end);
	return -EINVAL;
}

int boot_write_gdt_stack(struct boot_ctx *c, bool long_mode)
{
	uint64_t gdt[4] = {
		[BOOT_GDT_CS / 8] = long_mode ? 0x00af9b000000ffffull : 0x00cf9b000000ffffull,
		[BOOT_GDT_DS / 8] = 0x00cf93000000ffffull,
	};
	uint64_t gpa;
	void *p;
	int r;

	r = boot_data_alloc(c, sizeof(gdt), 16, X86_4G, &gpa, &p);
	if (r)
		return r;
	memcpy(p, gdt, sizeof(gdt));
	c->entry->gdt_base = gpa;
	c->entry->gdt_limit = sizeof(gdt) - 1;
	/* No protocol promises a stack; a valid one costs a page and spares early-code surprises. */
	r = boot_data_alloc(c, BOOT_STACK_SIZE, 16, X86_4G, &gpa, &p);
	if (!r)
		c->entry->rsp = gpa + BOOT_STACK_SIZE;
	return r;
}

int boot_reserve_kernel(struct boot_ctx *c, uint64_t addr, uint64_t size, const char *what)
{
	const struct boot_range *o;
	int r;

	if (!size)
		return 0;
	r = boot_alloc_reserve(&c->alloc, addr, size);
	if (r == -EINVAL) {
		pr_err("%s: %s [%#llx, +%#llx) is not inside guest RAM", c->path, what, (unsigned long long)addr,
		       (unsigned long long)size);
	} else if (r == -EBUSY) {
		o = boot_alloc_conflict(&c->alloc, addr, size);
		pr_err("%s: %s [%#llx, +%#llx) overlaps [%#llx, %#llx) loaded before it", c->path, what,
		       (unsigned long long)addr, (unsigned long long)size, (unsigned long long)o->start,
		       (unsigned long long)o->end);
	} else if (r == -ENOSPC) {
		pr_err("%s: too many loadable segments (more than %d)", c->path, BOOT_ALLOC_MAX);
	}
	if (r)
		return -EINVAL;
	if (c->entry->kernel_end == 0 || addr < c->entry->kernel_start)
		c->entry->kernel_start = addr;
	if (addr + size > c->entry->kernel_end)
		c->entry->kernel_end = addr + size;
	return 0;
}

int boot_load_image(struct gmem *m, const struct e820_map *map, const struct boot_config *cfg, const void *image,
		    size_t len, const void *initrd, size_t initrd_len, struct boot_entry *entry)
{
	struct boot_ctx c = {
		.m = m, .map = map, .cfg = cfg, .image = image, .len = len,
		.initrd = initrd, .initrd_len = initrd_len, .entry = entry,
		.path = cfg->kernel_path ? cfg->kernel_path : "kernel",
	};

	memset(entry, 0, sizeof(*entry));
	boot_alloc_init(&c.alloc, map, m);
	entry->format = boot_detect(image, len);
	switch (entry->format) {
	case BOOT_MULTIBOOT:
		return multiboot_load(&c);
	case BOOT_PVH:
		return pvh_load(&c);
	case BOOT_BZIMAGE:
		return bzimage_load(&c);
	default:
		return explain_unknown(c.path, image, len);
	}
}

int boot_load(struct gmem *m, const struct e820_map *map, const struct boot_config *cfg, struct boot_entry *entry)
{
	void *kernel = NULL, *initrd = NULL;
	size_t klen = 0, ilen = 0;
	int r;

	r = read_file(cfg->kernel_path, &kernel, &klen);
	if (r) {
		pr_err("%s: cannot read the kernel: %s", cfg->kernel_path, strerror(-r));
		return r;
	}
	if (cfg->initrd_path) {
		r = read_file(cfg->initrd_path, &initrd, &ilen);
		if (r) {
			pr_err("%s: cannot read the initrd: %s", cfg->initrd_path, strerror(-r));
			goto out;
		}
	}
	r = boot_load_image(m, map, cfg, kernel, klen, initrd, ilen, entry);
out:
	free(initrd);
	free(kernel);
	return r;
}
