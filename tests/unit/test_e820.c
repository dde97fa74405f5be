// SPDX-License-Identifier: MIT
/* The e820 map: the layout for small, 3 GiB and hole-crossing RAM sizes, set/split/merge, Linux's print format. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "boot_fixture.h"

struct lines {
	char buf[2048];
};

static void collect(void *opaque, const char *line)
{
	struct lines *l = opaque;

	strcat(l->buf, line);
	strcat(l->buf, "\n");
}

static const char *print_map(const struct e820_map *map, struct lines *l)
{
	l->buf[0] = 0;
	e820_print(map, collect, l);
	return l->buf;
}

static void test_build_64m(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct lines l;

	assert_string_equal(print_map(&f->map, &l),
			    "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
			    "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved\n"
			    "BIOS-e820: [mem 0x00000000000e0000-0x00000000000fffff] reserved\n"
			    "BIOS-e820: [mem 0x0000000000100000-0x0000000003ffffff] usable\n"
			    "BIOS-e820: [mem 0x00000000fffbc000-0x00000000fffbffff] reserved\n");
	assert_int_equal(e820_lowmem_end(&f->map), 64 * MiB);
	vmfix_free(f);
}

static void test_build_3g(void **state)
{
	struct vmfix *f = vmfix_new(3 * GiB);
	struct lines l;

	assert_string_equal(print_map(&f->map, &l),
			    "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
			    "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved\n"
			    "BIOS-e820: [mem 0x00000000000e0000-0x00000000000fffff] reserved\n"
			    "BIOS-e820: [mem 0x0000000000100000-0x00000000bfffffff] usable\n"
			    "BIOS-e820: [mem 0x00000000fffbc000-0x00000000fffbffff] reserved\n");
	vmfix_free(f);
}

static void test_build_5g_hole_and_high(void **state)
{
	struct vmfix *f = vmfix_new(5 * GiB);
	struct lines l;

	assert_string_equal(print_map(&f->map, &l),
			    "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
			    "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved\n"
			    "BIOS-e820: [mem 0x00000000000e0000-0x00000000000fffff] reserved\n"
			    "BIOS-e820: [mem 0x0000000000100000-0x00000000bfffffff] usable\n"
			    "BIOS-e820: [mem 0x00000000fffbc000-0x00000000fffbffff] reserved\n"
			    "BIOS-e820: [mem 0x0000000100000000-0x000000017fffffff] usable\n");
	assert_int_equal(e820_lowmem_end(&f->map), 3 * GiB);
	assert_null(e820_find(&f->map, X86_PCI_MMIO_START, 1, E820_RAM));
	assert_non_null(e820_find(&f->map, X86_4G, 2 * GiB, E820_RAM));
	assert_null(e820_find(&f->map, X86_4G, 2 * GiB + 1, E820_RAM));
	vmfix_free(f);
}

static void test_set_splits_and_merges(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct lines l;

	/* ACPI tables in the middle of the BIOS area: one entry becomes three. */
	assert_int_equal(e820_set(&f->map, 0xf0000, 0x1000, E820_ACPI), 0);
	assert_int_equal(f->map.nr, 7);
	assert_int_equal(e820_set(&f->map, 0xf1000, 0x1000, E820_NVS), 0);
	assert_string_equal(print_map(&f->map, &l),
			    "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
			    "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved\n"
			    "BIOS-e820: [mem 0x00000000000e0000-0x00000000000effff] reserved\n"
			    "BIOS-e820: [mem 0x00000000000f0000-0x00000000000f0fff] ACPI data\n"
			    "BIOS-e820: [mem 0x00000000000f1000-0x00000000000f1fff] ACPI NVS\n"
			    "BIOS-e820: [mem 0x00000000000f2000-0x00000000000fffff] reserved\n"
			    "BIOS-e820: [mem 0x0000000000100000-0x0000000003ffffff] usable\n"
			    "BIOS-e820: [mem 0x00000000fffbc000-0x00000000fffbffff] reserved\n");
	/* Setting it all back merges the pieces into one entry again. */
	assert_int_equal(e820_set(&f->map, 0xf0000, 0x2000, E820_RESERVED), 0);
	assert_int_equal(f->map.nr, 5);
	assert_int_equal(f->map.e[2].addr, 0xe0000);
	assert_int_equal(f->map.e[2].size, 0x20000);
	/* A range across several entries and the gap between them. */
	assert_int_equal(e820_set(&f->map, 0x9f000, 0x62000, E820_RAM), 0);
	assert_int_equal(f->map.nr, 2);
	assert_int_equal(f->map.e[0].addr, 0);
	assert_int_equal(f->map.e[0].size, 64 * MiB);
	vmfix_free(f);
}

static void test_set_edges(void **state)
{
	struct e820_map map = { 0 };

	assert_int_equal(e820_set(&map, 0x1000, 0, E820_RAM), 0);
	assert_int_equal(map.nr, 0);
	assert_int_equal(e820_set(&map, UINT64_MAX - 0xfff, 0x2000, E820_RAM), -EINVAL);
	/* Touching entries of one type merge; of different types they do not. */
	assert_int_equal(e820_set(&map, 0x2000, 0x1000, E820_RAM), 0);
	assert_int_equal(e820_set(&map, 0x1000, 0x1000, E820_RAM), 0);
	assert_int_equal(map.nr, 1);
	assert_int_equal(e820_set(&map, 0x3000, 0x1000, E820_RESERVED), 0);
	assert_int_equal(map.nr, 2);
	assert_int_equal(e820_clear(&map, 0x1800, 0x1000), 0);
	assert_int_equal(map.nr, 3);
	assert_int_equal(map.e[0].size, 0x800);
	assert_int_equal(map.e[1].addr, 0x2800);
	/* The map is full: a change that needs one more entry fails and leaves it as it was. */
	memset(&map, 0, sizeof(map));
	for (unsigned i = 0; i < E820_MAX; i++)
		assert_int_equal(e820_set(&map, i * 0x2000ull, 0x1000, E820_RAM), 0);
	assert_int_equal(map.nr, E820_MAX);
	assert_int_equal(e820_set(&map, 0x100000, 0x1000, E820_RAM), -ENOSPC);
	assert_int_equal(map.nr, E820_MAX);
	/* ...but one that merges entries still works. */
	assert_int_equal(e820_set(&map, 0, 0x4000, E820_RAM), 0);
	assert_int_equal(map.nr, E820_MAX - 2); /* [0, 0x5000) took in three */
}

static void test_print_types(void **state)
{
	struct e820_map map = { 0 };
	struct lines l;
	char buf[32];

	assert_int_equal(e820_set(&map, 0, 0x1000, 9), 0);
	assert_int_equal(e820_set(&map, 0x1000, 0x1000, 7), 0);
	assert_string_equal(print_map(&map, &l), "BIOS-e820: [mem 0x0000000000000000-0x0000000000000fff] type 9\n"
						 "BIOS-e820: [mem 0x0000000000001000-0x0000000000001fff] persistent (type 7)\n");
	assert_string_equal(e820_type_name(E820_ACPI, buf, sizeof(buf)), "ACPI data");
	assert_string_equal(e820_type_name(E820_NVS, buf, sizeof(buf)), "ACPI NVS");
	assert_string_equal(e820_type_name(E820_RESERVED, buf, sizeof(buf)), "reserved");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_64m),
		cmocka_unit_test(test_build_3g),
		cmocka_unit_test(test_build_5g_hole_and_high),
		cmocka_unit_test(test_set_splits_and_merges),
		cmocka_unit_test(test_set_edges),
		cmocka_unit_test(test_print_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
