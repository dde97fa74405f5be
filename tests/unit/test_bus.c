// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kite/bus.h>

/* A device that records its last access and answers reads with its tag. */
struct probe {
	uint8_t tag;
	unsigned calls;
	uint64_t offset;
	unsigned len;
	bool is_write;
	uint8_t data[8];
};

static void probe_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct probe *p = opaque;

	p->calls++;
	p->offset = offset;
	p->len = len;
	p->is_write = is_write;
	if (is_write)
		memcpy(p->data, data, len);
	else
		memset(data, p->tag, len);
}

static int setup(void **state)
{
	struct bus *b = calloc(1, sizeof(*b));

	if (!b || bus_init(b, "pio"))
		return -1;
	*state = b;
	return 0;
}

static int teardown(void **state)
{
	bus_exit(*state);
	free(*state);
	return 0;
}

static void test_register_and_dispatch(void **state)
{
	struct bus *b = *state;
	struct probe p = { .tag = 0x5a };
	uint8_t v[4] = { 1, 2, 3, 4 };

	assert_int_equal(bus_register(b, 0x3f8, 8, probe_io, &p, "uart"), 0);
	assert_string_equal(bus_owner(b, 0x3fb), "uart");
	assert_true(bus_access(b, 0x3fb, v, 2, true));
	assert_int_equal(p.calls, 1);
	assert_int_equal(p.offset, 3);
	assert_int_equal(p.len, 2);
	assert_true(p.is_write);
	assert_memory_equal(p.data, v, 2);
	assert_true(bus_access(b, 0x3f8, v, 4, false));
	assert_int_equal(p.offset, 0);
	assert_false(p.is_write);
	assert_int_equal(v[0], 0x5a);
	assert_int_equal(v[3], 0x5a);
	assert_int_equal(b->unclaimed_reads + b->unclaimed_writes, 0);
}

static void test_register_rejects_bad_ranges(void **state)
{
	struct bus *b = *state;
	struct probe p = { 0 };

	assert_int_equal(bus_register(b, 0x100, 0, probe_io, &p, "empty"), -EINVAL);
	assert_int_equal(bus_register(b, UINT64_MAX - 3, 8, probe_io, &p, "wraps"), -EINVAL);
	assert_int_equal(bus_register(b, 0x100, 4, NULL, &p, "no handler"), -EINVAL);
	assert_int_equal(b->nr, 0);
	/* The very top of the space is fine. */
	assert_int_equal(bus_register(b, UINT64_MAX - 0xff, 0x100, probe_io, &p, "top"), 0);
	assert_string_equal(bus_owner(b, UINT64_MAX), "top");
}

static void test_overlap_refused(void **state)
{
	struct bus *b = *state;
	struct probe a = { 0 }, c = { 0 }, x = { 0 };

	assert_int_equal(bus_register(b, 0x100, 0x10, probe_io, &a, "a"), 0); /* [0x100, 0x110) */
	assert_int_equal(bus_register(b, 0x120, 0x10, probe_io, &c, "c"), 0); /* [0x120, 0x130) */

	/* Identical, containing, contained. */
	assert_int_equal(bus_register(b, 0x100, 0x10, probe_io, &x, "same"), -EEXIST);
	assert_int_equal(bus_register(b, 0x0f0, 0x100, probe_io, &x, "covers"), -EEXIST);
	assert_int_equal(bus_register(b, 0x104, 0x2, probe_io, &x, "inside"), -EEXIST);
	/* Across the start of a range: the new one sorts before its neighbour. */
	assert_int_equal(bus_register(b, 0x0f8, 0x9, probe_io, &x, "into a"), -EEXIST);
	assert_int_equal(bus_register(b, 0x118, 0x9, probe_io, &x, "into c"), -EEXIST);
	/* Across the end of a range: the new one sorts after its neighbour. */
	assert_int_equal(bus_register(b, 0x10f, 0x2, probe_io, &x, "out of a"), -EEXIST);
	assert_int_equal(bus_register(b, 0x12f, 0x2, probe_io, &x, "out of c"), -EEXIST);
	/* Between both neighbours, touching the left one only, the right one only, both. */
	assert_int_equal(bus_register(b, 0x10f, 0x12, probe_io, &x, "both"), -EEXIST);
	/* From a free gap over the right neighbour and past it. */
	assert_int_equal(bus_register(b, 0x111, 0x100, probe_io, &x, "over c"), -EEXIST);
	assert_int_equal(b->nr, 2);
	/* Exactly filling the gap touches both neighbours without overlapping. */
	assert_int_equal(bus_register(b, 0x110, 0x10, probe_io, &x, "gap"), 0);
	assert_int_equal(b->nr, 3);
	assert_string_equal(bus_owner(b, 0x10f), "a");
	assert_string_equal(bus_owner(b, 0x110), "gap");
	assert_string_equal(bus_owner(b, 0x11f), "gap");
	assert_string_equal(bus_owner(b, 0x120), "c");
}

static void test_lookup_at_edges(void **state)
{
	struct bus *b = *state;
	struct probe p = { .tag = 0x11 };
	uint8_t v;

	assert_int_equal(bus_register(b, 0x70, 2, probe_io, &p, "cmos"), 0);
	assert_null(bus_owner(b, 0x6f));
	assert_string_equal(bus_owner(b, 0x70), "cmos");
	assert_string_equal(bus_owner(b, 0x71), "cmos");
	assert_null(bus_owner(b, 0x72));
	assert_true(bus_access(b, 0x71, &v, 1, false));
	assert_int_equal(p.offset, 1);
	assert_false(bus_access(b, 0x72, &v, 1, false));
	assert_false(bus_access(b, 0x6f, &v, 1, false));
	assert_int_equal(p.calls, 1);
	assert_null(bus_owner(b, 0));
	assert_null(bus_owner(b, UINT64_MAX));
}

static void test_straddling_unclaimed(void **state)
{
	struct bus *b = *state;
	struct probe p = { .tag = 0x22 };
	uint8_t v[4] = { 0 };

	assert_int_equal(bus_register(b, 0xf4, 4, probe_io, &p, "debug-exit"), 0);
	/* The last byte, as a 2-byte access: runs past the end. */
	assert_false(bus_access(b, 0xf7, v, 2, false));
	assert_int_equal(v[0], 0xff);
	assert_int_equal(v[1], 0xff);
	/* Starting just before the range and running into it. */
	assert_false(bus_access(b, 0xf3, v, 4, true));
	/* A 4-byte access that fits exactly is claimed. */
	assert_true(bus_access(b, 0xf4, v, 4, false));
	assert_int_equal(p.calls, 1);
	assert_int_equal(b->unclaimed_reads, 1);
	assert_int_equal(b->unclaimed_writes, 1);
}

static void test_unclaimed_all_ones_and_counted(void **state)
{
	struct bus *b = *state;
	uint8_t v[8];

	memset(v, 0, sizeof(v));
	assert_false(bus_access(b, 0x80, v, 1, false));
	assert_int_equal(v[0], 0xff);
	assert_int_equal(v[1], 0); /* only `len` bytes are touched */
	assert_false(bus_access(b, 0x80, v, 8, false));
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(v[i], 0xff);
	assert_false(bus_access(b, 0x80, v, 4, true));
	assert_false(bus_access(b, 0x81, v, 1, true));
	assert_false(bus_access(b, 0x82, v, 1, true));
	assert_int_equal(b->unclaimed_reads, 2);
	assert_int_equal(b->unclaimed_writes, 3);
}

static void test_unregister(void **state)
{
	struct bus *b = *state;
	struct probe p = { .tag = 1 }, q = { .tag = 2 };
	uint8_t v;

	assert_int_equal(bus_register(b, 0x60, 1, probe_io, &p, "kbd-data"), 0);
	assert_int_equal(bus_register(b, 0x64, 1, probe_io, &p, "kbd-cmd"), 0);
	/* Only the owner, and only by the range's base. */
	assert_int_equal(bus_unregister(b, 0x60, &q), -ENOENT);
	assert_int_equal(bus_unregister(b, 0x62, &p), -ENOENT);
	assert_int_equal(bus_unregister(b, 0x60, &p), 0);
	assert_int_equal(bus_unregister(b, 0x60, &p), -ENOENT);
	assert_false(bus_access(b, 0x60, &v, 1, false));
	assert_int_equal(v, 0xff);
	assert_true(bus_access(b, 0x64, &v, 1, false));
	assert_int_equal(v, 1);
	/* The freed range can be claimed again, by someone else. */
	assert_int_equal(bus_register(b, 0x60, 1, probe_io, &q, "other"), 0);
	assert_true(bus_access(b, 0x60, &v, 1, false));
	assert_int_equal(v, 2);
}

static void test_many_ranges_sorted(void **state)
{
	struct bus *b = *state;
	static struct probe p[64];
	uint8_t v;

	/* Out of order and beyond the initial capacity. */
	for (unsigned i = 0; i < 64; i++) {
		unsigned k = (i * 37) % 64;

		p[k].tag = k;
		assert_int_equal(bus_register(b, 0x1000 + k * 0x10, 0x8, probe_io, &p[k], "dev"), 0);
	}
	assert_int_equal(b->nr, 64);
	for (unsigned i = 1; i < b->nr; i++)
		assert_true(b->ranges[i - 1].base < b->ranges[i].base);
	for (unsigned k = 0; k < 64; k++) {
		assert_true(bus_access(b, 0x1000 + k * 0x10 + 7, &v, 1, false));
		assert_int_equal(v, k);
		assert_false(bus_access(b, 0x1000 + k * 0x10 + 8, &v, 1, false));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_and_dispatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_rejects_bad_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_at_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_straddling_unclaimed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unclaimed_all_ones_and_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unregister, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_ranges_sorted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
