// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <kite/gmem.h>
#include <kite/util.h>

static void test_parse_size_units(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "0", 0 },          { "512", 512 },       { "64K", 64 * KiB }, { "64k", 64 * KiB },
		{ "512M", 512 * MiB }, { "512MiB", 512 * MiB }, { "2G", 2 * GiB }, { "2gb", 2 * GiB },
		{ "1T", 1ull << 40 }, { "100B", 100 },
	};
	uint64_t v;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		assert_int_equal(parse_size(ok[i].s, &v), 0);
		assert_int_equal(v, ok[i].v);
	}
}

static void test_parse_size_bad(void **state)
{
	static const char *const bad[] = { "", "M", "-1", " 1M", "1 M", "1X", "1MM", "0x10", "1.5G" };
	uint64_t v;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_not_equal(parse_size(bad[i], &v), 0);
	assert_int_equal(parse_size("99999999999999999999", &v), -EINVAL);
	assert_int_equal(parse_size("17179869184G", &v), -ERANGE); /* 2^34 GiB = 2^64 */
}

static void test_parse_uint(void **state)
{
	uint64_t v;

	assert_int_equal(parse_uint("4", 1, 64, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(parse_uint("0", 1, 64, &v), -EINVAL);
	assert_int_equal(parse_uint("65", 1, 64, &v), -EINVAL);
	assert_int_equal(parse_uint("4x", 1, 64, &v), -EINVAL);
	assert_int_equal(parse_uint("-4", 0, 64, &v), -EINVAL);
	assert_int_equal(parse_uint(NULL, 0, 64, &v), -EINVAL);
}

static void test_opts_next(void **state)
{
	char buf[] = "disk.img,ro,id=root,cache=none";
	char *cur = buf, *k, *v;

	assert_int_equal(opts_next(&cur, &k, &v), 1);
	assert_string_equal(k, "disk.img");
	assert_null(v);
	assert_int_equal(opts_next(&cur, &k, &v), 1);
	assert_string_equal(k, "ro");
	assert_int_equal(opts_next(&cur, &k, &v), 1);
	assert_string_equal(k, "id");
	assert_string_equal(v, "root");
	assert_int_equal(opts_next(&cur, &k, &v), 1);
	assert_string_equal(k, "cache");
	assert_string_equal(v, "none");
	assert_int_equal(opts_next(&cur, &k, &v), 0);

	char empty[] = "a,,b";
	cur = empty;
	assert_int_equal(opts_next(&cur, &k, &v), 1);
	assert_int_equal(opts_next(&cur, &k, &v), -EINVAL);
}

static void test_ranges_overlap(void **state)
{
	assert_true(ranges_overlap(0, 10, 5, 10));
	assert_true(ranges_overlap(5, 10, 0, 10));
	assert_false(ranges_overlap(0, 10, 10, 10));
	assert_false(ranges_overlap(10, 10, 0, 10));
	assert_false(ranges_overlap(0, 0, 0, 10));
	assert_true(ranges_overlap(UINT64_MAX - 1, 2, UINT64_MAX, 1));
	assert_false(ranges_overlap(0, UINT64_MAX, UINT64_MAX, 1));
}

/* gmem_ptr is the boundary every guest address crosses: exact edges, no wrap-around. */
static void test_gmem_ptr_bounds(void **state)
{
	struct gmem m;

	assert_int_equal(gmem_map(&m, 2 * MiB, false), 0);
	assert_int_equal(gmem_add_region(&m, 0, MiB), 0);
	assert_int_equal(gmem_add_region(&m, 4 * GiB, MiB), 0);
	assert_int_equal(gmem_add_region(&m, 8 * GiB, 1), -EINVAL); /* no backing left */

	assert_non_null(gmem_ptr(&m, 0, MiB));
	assert_null(gmem_ptr(&m, 0, MiB + 1));
	assert_non_null(gmem_ptr(&m, MiB - 1, 1));
	assert_null(gmem_ptr(&m, MiB, 1));
	assert_null(gmem_ptr(&m, MiB - 1, 2));
	assert_ptr_equal(gmem_ptr(&m, 4 * GiB, 1), m.base + MiB);
	assert_null(gmem_ptr(&m, 4 * GiB - 1, 2)); /* spans a hole */
	assert_null(gmem_ptr(&m, UINT64_MAX, 2));
	assert_null(gmem_ptr(&m, 4 * GiB + 16, UINT64_MAX));
	assert_int_equal(gmem_top(&m), 4 * GiB + MiB);
	assert_true(gmem_is_ram(&m, 0x1000, 0x1000));
	assert_false(gmem_is_ram(&m, 3 * GiB, 1));

	uint32_t v = 0x12345678, r = 0;
	assert_int_equal(gmem_write(&m, 4 * GiB + 8, &v, 4), 0);
	assert_int_equal(gmem_read(&m, 4 * GiB + 8, &r, 4), 0);
	assert_int_equal(r, v);
	assert_int_equal(gmem_write(&m, 4 * GiB + MiB - 2, &v, 4), -EFAULT);
	gmem_unmap(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size_units), cmocka_unit_test(test_parse_size_bad),
		cmocka_unit_test(test_parse_uint),       cmocka_unit_test(test_opts_next),
		cmocka_unit_test(test_ranges_overlap),   cmocka_unit_test(test_gmem_ptr_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
