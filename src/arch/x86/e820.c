// SPDX-License-Identifier: MIT
/*
 * The guest's e820 memory map.  Kept sorted, non-overlapping and with
 * adjacent entries of one type merged, so that every consumer (the loaders'
 * boot data, the ACPI tables, the tests comparing with Linux's log) sees
 * the same canonical form.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kite/e820.h>
#include <kite/gmem.h>
#include <kite/util.h>
#include <kite/x86_layout.h>

/* Room for every entry split in two plus the new one, before merging. */
#define E820_TMP_MAX (2 * E820_MAX + 2)

struct e820_tmp {
	unsigned nr;
	struct e820_entry e[E820_TMP_MAX];
};

static int e820_cmp(const void *a, const void *b)
{
	const struct e820_entry *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void tmp_push(struct e820_tmp *t, uint64_t addr, uint64_t end, uint32_t type)
{
	if (end > addr)
		t->e[t->nr++] = (struct e820_entry){ .addr = addr, .size = end - addr, .type = type };
}

/* Copies `map` into `t` without the range [addr, end). */
static void tmp_cut(struct e820_tmp *t, const struct e820_map *map, uint64_t addr, uint64_t end)
{
	t->nr = 0;
	for (unsigned i = 0; i < map->nr; i++) {
		const struct e820_entry *e = &map->e[i];
		uint64_t e_end = e->addr + e->size;

		if (e_end <= addr || e->addr >= end) {
			tmp_push(t, e->addr, e_end, e->type);
			continue;
		}
		tmp_push(t, e->addr, addr, e->type);
		tmp_push(t, end, e_end, e->type);
	}
}

/* Sorts, merges touching entries of one type and stores the result in `map`. */
static int tmp_commit(struct e820_tmp *t, struct e820_map *map)
{
	unsigned n = 0;

	qsort(t->e, t->nr, sizeof(t->e[0]), e820_cmp);
	for (unsigned i = 0; i < t->nr; i++) {
		struct e820_entry *prev = n ? &t->e[n - 1] : NULL;

		if (prev && prev->type == t->e[i].type && prev->addr + prev->size == t->e[i].addr)
			prev->size += t->e[i].size;
		else
			t->e[n++] = t->e[i];
	}
	if (n > E820_MAX)
		return -ENOSPC;
	map->nr = n;
	memcpy(map->e, t->e, n * sizeof(t->e[0]));
	return 0;
}

static int e820_change(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type, bool insert)
{
	struct e820_tmp t;

	if (!size)
		return 0;
	if (addr + size < addr)
		return -EINVAL;
	tmp_cut(&t, map, addr, addr + size);
	if (insert)
		tmp_push(&t, addr, addr + size, type);
	return tmp_commit(&t, map);
}

int e820_set(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type)
{
	return e820_change(map, addr, size, type, true);
}

int e820_clear(struct e820_map *map, uint64_t addr, uint64_t size)
{
	return e820_change(map, addr, size, 0, false);
}

int e820_build(struct e820_map *map, const struct gmem *m)
{
	int r = 0;

	memset(map, 0, sizeof(*map));
	for (unsigned i = 0; i < m->nr && !r; i++)
		r = e820_set(map, m->regions[i].gpa, m->regions[i].size, E820_RAM);
	/* The legacy area between the EBDA and 1 MiB is never usable RAM. */
	if (!r)
		r = e820_clear(map, X86_EBDA_START, X86_BIOS_END - X86_EBDA_START);
	if (!r)
		r = e820_set(map, X86_EBDA_START, 0xa0000 - X86_EBDA_START, E820_RESERVED);
	if (!r)
		r = e820_set(map, X86_BIOS_START, X86_BIOS_END - X86_BIOS_START, E820_RESERVED);
	/* KVM_SET_IDENTITY_MAP_ADDR page and KVM_SET_TSS_ADDR's three pages. */
	if (!r)
		r = e820_set(map, X86_KVM_IDMAP_ADDR, 0x4000, E820_RESERVED);
	return r;
}

const struct e820_entry *e820_find(const struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type)
{
	for (unsigned i = 0; i < map->nr; i++) {
		const struct e820_entry *e = &map->e[i];

		if (e->type != type || addr < e->addr || addr - e->addr >= e->size)
			continue;
		return size <= e->size - (addr - e->addr) ? e : NULL;
	}
	return NULL;
}

uint64_t e820_lowmem_end(const struct e820_map *map)
{
	const struct e820_entry *e = e820_find(map, X86_HIGHMEM_START, 1, E820_RAM);

	return e ? e->addr + e->size : 0;
}

const char *e820_type_name(uint32_t type, char *buf, size_t len)
{
	switch (type) {
	case E820_RAM:
		return "usable";
	case E820_RESERVED:
		return "reserved";
	case E820_ACPI:
		return "ACPI data";
	case E820_NVS:
		return "ACPI NVS";
	case 5:
		return "unusable";
	case 7:  /* E820_TYPE_PMEM */
	case 12: /* E820_TYPE_PRAM */
		snprintf(buf, len, "persistent (type %u)", type);
		return buf;
	case 0xefffffff:
		return "soft reserved";
	default:
		snprintf(buf, len, "type %u", type);
		return buf;
	}
}

void e820_print(const struct e820_map *map, void (*out)(void *opaque, const char *line), void *opaque)
{
	char line[112], tbuf[32];

	for (unsigned i = 0; i < map->nr; i++) {
		const struct e820_entry *e = &map->e[i];

		/* Linux prints "%#018Lx", which in the kernel keeps the 0x even for zero. */
		snprintf(line, sizeof(line), "BIOS-e820: [mem 0x%016llx-0x%016llx] %s", (unsigned long long)e->addr,
			 (unsigned long long)(e->addr + e->size - 1), e820_type_name(e->type, tbuf, sizeof(tbuf)));
		out(opaque, line);
	}
}
