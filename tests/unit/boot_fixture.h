/* SPDX-License-Identifier: MIT */
#ifndef KITE_TEST_BOOT_FIXTURE_H
#define KITE_TEST_BOOT_FIXTURE_H

/*
 * Shared by the e820 and loader unit tests: guest memory laid out as the VM
 * lays it out, an ELF image builder (ELF32 or ELF64, segments and notes by
 * hand) and a capture of kite's error messages.  Include after <cmocka.h>.
 */

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kite/boot.h>
#include <kite/e820.h>
#include <kite/gmem.h>
#include <kite/util.h>
#include <kite/x86_layout.h>

struct vmfix {
	struct gmem m;
	struct e820_map map;
};

/* RAM at 0 up to min(size, 3 GiB), the rest at 4 GiB: what the VM does. */
static inline struct vmfix *vmfix_new(uint64_t size)
{
	struct vmfix *f = calloc(1, sizeof(*f));
	uint64_t low = MIN(size, X86_LOWMEM_MAX);

	assert_non_null(f);
	assert_int_equal(gmem_map(&f->m, size, false), 0);
	assert_int_equal(gmem_add_region(&f->m, 0, low), 0);
	if (size > low)
		assert_int_equal(gmem_add_region(&f->m, X86_4G, size - low), 0);
	assert_int_equal(e820_build(&f->map, &f->m), 0);
	return f;
}

static inline void vmfix_free(struct vmfix *f)
{
	gmem_unmap(&f->m);
	free(f);
}

static inline void *gptr(struct vmfix *f, uint64_t gpa, uint64_t len)
{
	void *p = gmem_ptr(&f->m, gpa, len);

	assert_non_null(p);
	return p;
}

/* ---- ELF images ---- */

struct tseg {
	uint32_t type;
	uint64_t offset, paddr, vaddr, filesz, memsz, align;
};

#define TIMG_MAX 0x6000

struct timg {
	uint8_t b[TIMG_MAX];
	size_t len;
	bool is64;
};

/* Header and program headers; segments' bytes are the caller's to put at their offsets. */
static inline void timg_elf(struct timg *t, bool is64, uint64_t entry, const struct tseg *s, unsigned n, size_t len)
{
	memset(t, 0, sizeof(*t));
	t->is64 = is64;
	t->len = len;
	memcpy(t->b, ELFMAG, SELFMAG);
	t->b[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	t->b[EI_DATA] = ELFDATA2LSB;
	t->b[EI_VERSION] = EV_CURRENT;
	if (is64) {
		Elf64_Ehdr *h = (Elf64_Ehdr *)t->b;
		Elf64_Phdr *ph = (Elf64_Phdr *)(t->b + sizeof(*h));

		h->e_type = ET_EXEC, h->e_machine = EM_X86_64, h->e_version = EV_CURRENT, h->e_entry = entry;
		h->e_phoff = sizeof(*h), h->e_ehsize = sizeof(*h), h->e_phentsize = sizeof(*ph), h->e_phnum = n;
		for (unsigned i = 0; i < n; i++)
			ph[i] = (Elf64_Phdr){ .p_type = s[i].type, .p_offset = s[i].offset, .p_paddr = s[i].paddr,
					      .p_vaddr = s[i].vaddr, .p_filesz = s[i].filesz, .p_memsz = s[i].memsz,
					      .p_align = s[i].align ? s[i].align : 4, .p_flags = PF_R | PF_X };
	} else {
		Elf32_Ehdr *h = (Elf32_Ehdr *)t->b;
		Elf32_Phdr *ph = (Elf32_Phdr *)(t->b + sizeof(*h));

		h->e_type = ET_EXEC, h->e_machine = EM_386, h->e_version = EV_CURRENT, h->e_entry = (uint32_t)entry;
		h->e_phoff = sizeof(*h), h->e_ehsize = sizeof(*h), h->e_phentsize = sizeof(*ph), h->e_phnum = n;
		for (unsigned i = 0; i < n; i++)
			ph[i] = (Elf32_Phdr){ .p_type = s[i].type, .p_offset = (uint32_t)s[i].offset,
					      .p_paddr = (uint32_t)s[i].paddr, .p_vaddr = (uint32_t)s[i].vaddr,
					      .p_filesz = (uint32_t)s[i].filesz, .p_memsz = (uint32_t)s[i].memsz,
					      .p_align = (uint32_t)(s[i].align ? s[i].align : 4), .p_flags = PF_R | PF_X };
	}
}

static inline void timg_put32(struct timg *t, size_t off, uint32_t v)
{
	memcpy(t->b + off, &v, 4);
}

/* A Multiboot header at `off`: magic, flags, checksum. */
static inline void timg_multiboot(struct timg *t, size_t off, uint32_t flags)
{
	timg_put32(t, off, 0x1BADB002u);
	timg_put32(t, off + 4, flags);
	timg_put32(t, off + 8, -(0x1BADB002u + flags));
}

/* A XEN_ELFNOTE_PHYS32_ENTRY note at `off` (20 bytes for descsz 4); returns its size. */
static inline size_t timg_pvh_note(struct timg *t, size_t off, uint64_t entry, uint32_t descsz)
{
	timg_put32(t, off, 4);
	timg_put32(t, off + 4, descsz);
	timg_put32(t, off + 8, 18);
	memcpy(t->b + off + 12, "Xen", 4);
	memcpy(t->b + off + 16, &entry, MIN(descsz, 8u));
	return 16 + ALIGN_UP(descsz, 4u);
}

/* ---- error messages ---- */

struct capture {
	int saved;
	FILE *f;
	char text[4096];
};

static inline void capture_start(struct capture *c)
{
	fflush(stderr);
	c->f = tmpfile();
	assert_non_null(c->f);
	c->saved = dup(STDERR_FILENO);
	dup2(fileno(c->f), STDERR_FILENO);
}

static inline const char *capture_end(struct capture *c)
{
	size_t n;

	fflush(stderr);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	rewind(c->f);
	n = fread(c->text, 1, sizeof(c->text) - 1, c->f);
	c->text[n] = 0;
	fclose(c->f);
	/* Shown in the test log too, so a failing case says what kite said. */
	fputs(c->text, stderr);
	return c->text;
}

#endif
