// SPDX-License-Identifier: MIT
/*
 * ELF kernels (Multiboot and PVH): header and program header checks, segment
 * loading at physical addresses, the PVH entry note.  libelf parses; every
 * offset and size it returns from the file is still checked here before use.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <kite/boot_loader.h>
#include <kite/gmem.h>
#include <kite/log.h>
#include <kite/util.h>

#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define elf_err(quiet, path, fmt, ...)                                         \
	do {                                                                   \
		if (!(quiet))                                                  \
			pr_err("%s: " fmt, path, ##__VA_ARGS__);               \
	} while (0)

/* True when [off, off+size) lies inside a buffer of `len` bytes. */
static bool in_file(uint64_t off, uint64_t size, size_t len)
{
	return off <= len && size <= len - off;
}

static int check_ehdr(const GElf_Ehdr *h, const char *path, const uint8_t *image, size_t len, bool quiet)
{
	size_t ehsize = image[EI_CLASS] == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsize = image[EI_CLASS] == ELFCLASS64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);

	if (h->e_type != ET_EXEC) {
		elf_err(quiet, path, "ELF type %u is not an executable (ET_EXEC)", h->e_type);
		return -EINVAL;
	}
	if (h->e_machine != EM_386 && h->e_machine != EM_X86_64) {
		elf_err(quiet, path, "ELF machine %u is not x86 (EM_386 or EM_X86_64)", h->e_machine);
		return -EINVAL;
	}
	if (h->e_ehsize < ehsize) {
		elf_err(quiet, path, "ELF header size %u is too small", h->e_ehsize);
		return -EINVAL;
	}
	if (!h->e_phnum || h->e_phnum == PN_XNUM) {
		elf_err(quiet, path, "ELF file has no program headers");
		return -EINVAL;
	}
	if (h->e_phentsize != phsize) {
		elf_err(quiet, path, "ELF program header size %u, expected %zu", h->e_phentsize, phsize);
		return -EINVAL;
	}
	if (!in_file(h->e_phoff, (uint64_t)h->e_phnum * phsize, len)) {
		elf_err(quiet, path, "ELF program header table [%#llx, +%u*%zu) lies outside the %zu-byte file",
			(unsigned long long)h->e_phoff, h->e_phnum, phsize, len);
		return -EINVAL;
	}
	return 0;
}

int boot_elf_open(struct boot_elf *e, const char *path, const void *image, size_t len, bool quiet)
{
	const uint8_t *b = image;
	int r = -EINVAL;

	memset(e, 0, sizeof(*e));
	if (len < EI_NIDENT || memcmp(b, ELFMAG, SELFMAG)) {
		elf_err(quiet, path, "not an ELF file");
		return -EINVAL;
	}
	if ((b[EI_CLASS] != ELFCLASS32 && b[EI_CLASS] != ELFCLASS64) || b[EI_DATA] != ELFDATA2LSB) {
		elf_err(quiet, path, "ELF class %u / data encoding %u: kite loads little-endian ELF32 or ELF64", b[EI_CLASS],
			b[EI_DATA]);
		return -EINVAL;
	}
	if (len < (b[EI_CLASS] == ELFCLASS64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
		elf_err(quiet, path, "truncated ELF header (%zu bytes)", len);
		return -EINVAL;
	}
	if (elf_version(EV_CURRENT) == EV_NONE) {
		elf_err(quiet, path, "libelf: %s", elf_errmsg(-1));
		return -EINVAL;
	}
	/* libelf only reads an ELF_C_READ_MMAP image of the host's byte order; the cast drops no promise. */
	e->elf = elf_memory((char *)image, len);
	if (!e->elf || elf_kind(e->elf) != ELF_K_ELF || !gelf_getehdr(e->elf, &e->ehdr)) {
		elf_err(quiet, path, "invalid ELF header: %s", elf_errmsg(-1));
		goto fail;
	}
	r = check_ehdr(&e->ehdr, path, b, len, quiet);
	if (r)
		goto fail;
	e->phnum = e->ehdr.e_phnum;
	return 0;
fail:
	boot_elf_close(e);
	return -EINVAL;
}

void boot_elf_close(struct boot_elf *e)
{
	if (e->elf)
		elf_end(e->elf);
	e->elf = NULL;
}

static int get_phdr(struct boot_elf *e, const char *path, size_t i, GElf_Phdr *ph, bool quiet)
{
	if (!gelf_getphdr(e->elf, i, ph)) {
		elf_err(quiet, path, "cannot read ELF program header %zu: %s", i, elf_errmsg(-1));
		return -EINVAL;
	}
	return 0;
}

static int check_segment(struct boot_ctx *c, size_t i, const GElf_Phdr *ph, uint64_t limit)
{
	if (!in_file(ph->p_offset, ph->p_filesz, c->len)) {
		pr_err("%s: segment %zu: file range [%#llx, +%#llx) lies outside the %zu-byte file", c->path, i,
		       (unsigned long long)ph->p_offset, (unsigned long long)ph->p_filesz, c->len);
		return -EINVAL;
	}
	if (ph->p_filesz > ph->p_memsz) {
		pr_err("%s: segment %zu: file size %#llx is larger than its memory size %#llx", c->path, i,
		       (unsigned long long)ph->p_filesz, (unsigned long long)ph->p_memsz);
		return -EINVAL;
	}
	if (ph->p_paddr > limit || ph->p_memsz > limit - ph->p_paddr) {
		pr_err("%s: segment %zu: [%#llx, +%#llx) does not fit below %#llx", c->path, i,
		       (unsigned long long)ph->p_paddr, (unsigned long long)ph->p_memsz, (unsigned long long)limit);
		return -EINVAL;
	}
	return 0;
}

int boot_elf_load(struct boot_ctx *c, struct boot_elf *e, uint64_t limit)
{
	char what[32];
	GElf_Phdr ph;
	uint8_t *dst;
	int r, n = 0;

	for (size_t i = 0; i < e->phnum; i++) {
		r = get_phdr(e, c->path, i, &ph, false);
		if (r)
			return r;
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		r = check_segment(c, i, &ph, limit);
		if (r)
			return r;
		snprintf(what, sizeof(what), "segment %zu", i);
		r = boot_reserve_kernel(c, ph.p_paddr, ph.p_memsz, what);
		if (r)
			return r;
		dst = gmem_ptr(c->m, ph.p_paddr, ph.p_memsz);
		memcpy(dst, c->image + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		n++;
	}
	if (!n) {
		pr_err("%s: ELF file has no loadable segment", c->path);
		return -EINVAL;
	}
	return 0;
}

uint64_t boot_elf_entry_paddr(struct boot_elf *e)
{
	uint64_t entry = e->ehdr.e_entry;
	GElf_Phdr ph;

	for (size_t i = 0; i < e->phnum; i++) {
		if (!gelf_getphdr(e->elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (entry >= ph.p_vaddr && entry - ph.p_vaddr < ph.p_memsz)
			return entry - ph.p_vaddr + ph.p_paddr;
	}
	return entry;
}

/* Looks for the note in one PT_NOTE segment: 1 found, 0 not, -EINVAL malformed. */
static int pvh_note_in(struct boot_elf *e, const char *path, const GElf_Phdr *ph, size_t len, bool quiet,
		       uint64_t *entry)
{
	Elf_Data *d;
	GElf_Nhdr nh;
	size_t off = 0, next, name_off, desc_off;

	if (!in_file(ph->p_offset, ph->p_filesz, len)) {
		elf_err(quiet, path, "note segment [%#llx, +%#llx) lies outside the %zu-byte file",
			(unsigned long long)ph->p_offset, (unsigned long long)ph->p_filesz, len);
		return -EINVAL;
	}
	if (!ph->p_filesz)
		return 0;
	d = elf_getdata_rawchunk(e->elf, ph->p_offset, ph->p_filesz, ph->p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
	if (!d)
		return 0;
	while (off < d->d_size && (next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
		const uint8_t *name = (const uint8_t *)d->d_buf + name_off, *desc = (const uint8_t *)d->d_buf + desc_off;

		off = next;
		if (nh.n_type != XEN_ELFNOTE_PHYS32_ENTRY || nh.n_namesz != 4 || memcmp(name, "Xen", 4))
			continue;
		if (nh.n_descsz == 4) {
			uint32_t v;
			memcpy(&v, desc, 4);
			*entry = v;
		} else if (nh.n_descsz == 8) {
			memcpy(entry, desc, 8);
		} else {
			elf_err(quiet, path, "PVH entry note has a %u-byte address (expected 4 or 8)", nh.n_descsz);
			return -EINVAL;
		}
		return 1;
	}
	return 0;
}

int boot_elf_pvh_entry(struct boot_elf *e, const char *path, const void *image, size_t len, bool quiet,
		       uint64_t *entry)
{
	GElf_Phdr ph;
	int r;

	for (size_t i = 0; i < e->phnum; i++) {
		r = get_phdr(e, path, i, &ph, quiet);
		if (r)
			return r;
		if (ph.p_type != PT_NOTE)
			continue;
		r = pvh_note_in(e, path, &ph, len, quiet, entry);
		if (r)
			return r;
	}
	return 0;
}
