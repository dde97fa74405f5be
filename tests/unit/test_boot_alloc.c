// SPDX-License-Identifier: MIT
/* The boot data allocator: RAM only, never the IVT page, never a taken range, both directions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <kite/boot_alloc.h>

#include "boot_fixture.h"

static void test_bottom_up_skips_taken(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct boot_alloc a;
	uint64_t at;

	boot_alloc_init(&a, &f->map, &f->m);
	assert_int_equal(boot_alloc_find(&a, 0x100, 8, 0, X86_4G, false, &at), 0);
	assert_int_equal(at, 0x1000); /* the IVT page is never handed out */
	assert_int_equal(boot_alloc_reserve(&a, 0x2000, 0x3000), 0);
	assert_int_equal(boot_alloc_find(&a, 0x1000, 0x1000, 0, X86_4G, false, &at), 0);
	assert_int_equal(at, 0x5000);
	assert_int_equal(boot_alloc_find(&a, 0x10, 8, 0, X86_4G, false, &at), 0);
	assert_int_equal(at, 0x1100);
	/* Low RAM too small: the next RAM entry (1 MiB), never the EBDA or BIOS area. */
	assert_int_equal(boot_alloc_find(&a, 0xa0000, 0x1000, 0, X86_4G, false, &at), 0);
	assert_int_equal(at, 0x100000);
	vmfix_free(f);
}

static void test_top_down_and_limits(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct boot_alloc a;
	uint64_t at;

	boot_alloc_init(&a, &f->map, &f->m);
	assert_int_equal(boot_alloc_find(&a, 0x1800, 0x1000, 1 * MiB, X86_4G, true, &at), 0);
	assert_int_equal(at, 64 * MiB - 0x2000);
	assert_int_equal(boot_alloc_reserve(&a, 32 * MiB, 32 * MiB - 0x2000), 0);
	assert_int_equal(boot_alloc_find(&a, 0x1000, 0x1000, 1 * MiB, X86_4G, true, &at), 0);
	assert_int_equal(at, 32 * MiB - 0x1000);
	assert_int_equal(boot_alloc_find(&a, 64 * MiB, 0x1000, 0, X86_4G, true, &at), -ENOMEM);
	assert_int_equal(boot_alloc_find(&a, 0x1000, 0x1000, 0, 0x1000, false, &at), -ENOMEM);
	assert_int_equal(boot_alloc_find(&a, 0x1000, 3, 0, X86_4G, false, &at), -EINVAL);
	assert_int_equal(boot_alloc_find(&a, 0, 8, 0, X86_4G, false, &at), -EINVAL);
	vmfix_free(f);
}

static void test_reserve_checks(void **state)
{
	struct vmfix *f = vmfix_new(64 * MiB);
	struct boot_alloc a;

	boot_alloc_init(&a, &f->map, &f->m);
	assert_int_equal(boot_alloc_reserve(&a, 0x100000, 0x1000), 0);
	assert_int_equal(boot_alloc_reserve(&a, 0x100800, 0x1000), -EBUSY);
	assert_int_equal(boot_alloc_reserve(&a, 0x9f000, 0x1000), -EINVAL);  /* runs into the EBDA */
	assert_int_equal(boot_alloc_reserve(&a, 0xe0000, 0x1000), -EINVAL);  /* BIOS area */
	assert_int_equal(boot_alloc_reserve(&a, UINT64_MAX, 2), -EINVAL);    /* wraps */
	assert_int_equal(boot_alloc_reserve(&a, 0, 0x1000), 0);             /* kernels may use page 0 */
	for (unsigned i = 2; i < BOOT_ALLOC_MAX; i++)
		assert_int_equal(boot_alloc_reserve(&a, 0x200000 + i * 0x1000ull, 0x1000), 0);
	assert_int_equal(boot_alloc_reserve(&a, 0x300000, 0x1000), -ENOSPC);
	vmfix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bottom_up_skips_taken),
		cmocka_unit_test(test_top_down_and_limits),
		cmocka_unit_test(test_reserve_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
