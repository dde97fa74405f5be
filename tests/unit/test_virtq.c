// SPDX-License-Identifier: MIT
/* The split virtqueue alone: hand-built rings in a gmem, valid and malicious. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kite/gmem.h>
#include <kite/util.h>
#include <kite/virtq.h>

#define MEM   (4 * MiB)
#define DESC  0x1000ull
#define AVAIL 0x2000ull
#define USED  0x3000ull
#define IND   0x10000ull
#define BUF   0x100000ull
#define QSIZE 16

struct fx {
	struct gmem mem;
	struct virtq q;
	struct ratelimit rl;
	struct virtq_elem e;
	struct iovec iov[8];
	uint16_t avail_idx;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	*state = f;
	if (gmem_map(&f->mem, MEM, false) || gmem_add_region(&f->mem, 0, MEM))
		return -1;
	f->q.name = "test.q0";
	f->q.rl = &f->rl;
	f->q.size = QSIZE;
	f->q.desc_gpa = DESC;
	f->q.avail_gpa = AVAIL;
	f->q.used_gpa = USED;
	f->q.indirect = true;
	f->e.iov = f->iov;
	f->e.cap = ARRAY_SIZE(f->iov);
	return virtq_enable(&f->q, &f->mem);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	gmem_unmap(&f->mem);
	free(f);
	return 0;
}

static struct virtq_desc *desc(struct fx *f, uint64_t table, unsigned i)
{
	return (struct virtq_desc *)gmem_ptr(&f->mem, table + 16ull * i, 16);
}

static void set(struct fx *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	*desc(f, DESC, i) = (struct virtq_desc){ addr, len, flags, next };
}

static void publish(struct fx *f, uint16_t head)
{
	struct virtq_avail *a = gmem_ptr(&f->mem, AVAIL, 6 + 2 * QSIZE);

	a->ring[f->avail_idx % QSIZE] = head;
	a->idx = ++f->avail_idx;
}

static void test_valid_chain(void **state)
{
	struct fx *f = *state;
	struct virtq_used *u = gmem_ptr(&f->mem, USED, 6 + 8 * QSIZE);

	assert_int_equal(virtq_pop(&f->q, &f->e), 0);
	set(f, 3, BUF, 100, VIRTQ_DESC_F_NEXT, 7);
	set(f, 7, BUF + 0x1000, 200, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	set(f, 1, BUF + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
	publish(f, 3);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(f->e.head, 3);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 2);
	assert_int_equal(f->e.out_len, 100);
	assert_int_equal(f->e.in_len, 201);
	assert_ptr_equal(f->iov[1].iov_base, gmem_ptr(&f->mem, BUF + 0x1000, 1));
	assert_int_equal(virtq_pop(&f->q, &f->e), 0);
	virtq_push(&f->q, 3, 201);
	assert_int_equal(u->idx, 1);
	assert_int_equal(u->ring[0].id, 3);
	assert_int_equal(u->ring[0].len, 201);
	assert_true(virtq_should_notify(&f->q));
}

static void expect_broken(struct fx *f)
{
	assert_int_equal(virtq_pop(&f->q, &f->e), -EIO);
	assert_true(f->q.broken);
	/* Stays broken: nothing more is taken until a reset. */
	assert_int_equal(virtq_pop(&f->q, &f->e), -EIO);
}

static void test_loop(void **state)
{
	struct fx *f = *state;

	set(f, 0, BUF, 10, VIRTQ_DESC_F_NEXT, 1);
	set(f, 1, BUF, 10, VIRTQ_DESC_F_NEXT, 0);
	publish(f, 0);
	expect_broken(f);
}

static void test_self_loop(void **state)
{
	struct fx *f = *state;

	set(f, 5, BUF, 10, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 5);
	publish(f, 5);
	expect_broken(f);
}

static void test_out_of_range_address(void **state)
{
	struct fx *f = *state;

	set(f, 0, MEM - 8, 16, 0, 0);
	publish(f, 0);
	expect_broken(f);
}

static void test_wrapping_address(void **state)
{
	struct fx *f = *state;

	set(f, 0, ~0ull - 4, 16, 0, 0);
	publish(f, 0);
	expect_broken(f);
}

static void test_zero_length(void **state)
{
	struct fx *f = *state;

	set(f, 0, BUF, 0, 0, 0);
	publish(f, 0);
	expect_broken(f);
}

static void test_huge_length(void **state)
{
	struct fx *f = *state;

	set(f, 0, BUF, 0xffffffffu, VIRTQ_DESC_F_WRITE, 0);
	publish(f, 0);
	expect_broken(f);
}

static void test_head_out_of_range(void **state)
{
	struct fx *f = *state;

	publish(f, QSIZE);
	expect_broken(f);
}

static void test_next_out_of_range(void **state)
{
	struct fx *f = *state;

	set(f, 0, BUF, 10, VIRTQ_DESC_F_NEXT, 999);
	publish(f, 0);
	expect_broken(f);
}

static void test_readable_after_writable(void **state)
{
	struct fx *f = *state;

	set(f, 0, BUF, 10, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set(f, 1, BUF, 10, 0, 0);
	publish(f, 0);
	expect_broken(f);
}

static void test_avail_idx_jump(void **state)
{
	struct fx *f = *state;
	struct virtq_avail *a = gmem_ptr(&f->mem, AVAIL, 6 + 2 * QSIZE);

	set(f, 0, BUF, 10, 0, 0);
	a->idx = QSIZE + 1;
	expect_broken(f);
}

static void test_wrapped_indices(void **state)
{
	struct fx *f = *state;
	struct virtq_used *u = gmem_ptr(&f->mem, USED, 6 + 8 * QSIZE);

	/* Start just below the 16-bit wrap, as after 65k requests. */
	f->q.last_avail = f->avail_idx = 65533;
	f->q.used_idx = 65533;
	set(f, 2, BUF, 10, 0, 0);
	for (int i = 0; i < 6; i++) {
		publish(f, 2);
		assert_int_equal(virtq_pop(&f->q, &f->e), 1);
		virtq_push(&f->q, 2, 0);
	}
	assert_int_equal(f->q.last_avail, 3);
	assert_int_equal(u->idx, 3);
	assert_false(f->q.broken);
}

static void test_chain_too_long_for_device(void **state)
{
	struct fx *f = *state;

	/* 10 buffers: within the queue size but beyond the element's 8. */
	for (unsigned i = 0; i < 10; i++)
		set(f, i, BUF, 10, i < 9 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	publish(f, 0);
	expect_broken(f);
}

static void ind(struct fx *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	*desc(f, IND, i) = (struct virtq_desc){ addr, len, flags, next };
}

static void test_indirect_valid(void **state)
{
	struct fx *f = *state;

	ind(f, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	ind(f, 1, BUF + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	ind(f, 2, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	set(f, 4, IND, 48, VIRTQ_DESC_F_INDIRECT, 0);
	publish(f, 4);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
	assert_int_equal(f->e.nout, 1);
	assert_int_equal(f->e.nin, 2);
	assert_int_equal(f->e.in_len, 513);
}

static void test_indirect_in_indirect(void **state)
{
	struct fx *f = *state;

	ind(f, 0, IND + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	set(f, 0, IND, 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(f, 0);
	expect_broken(f);
}

static void test_indirect_bad_length(void **state)
{
	struct fx *f = *state;

	set(f, 0, IND, 20, VIRTQ_DESC_F_INDIRECT, 0);
	publish(f, 0);
	expect_broken(f);
}

static void test_indirect_out_of_range(void **state)
{
	struct fx *f = *state;

	set(f, 0, MEM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(f, 0);
	expect_broken(f);
}

static void test_indirect_loop(void **state)
{
	struct fx *f = *state;

	ind(f, 0, BUF, 10, VIRTQ_DESC_F_NEXT, 1);
	ind(f, 1, BUF, 10, VIRTQ_DESC_F_NEXT, 0);
	set(f, 0, IND, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(f, 0);
	expect_broken(f);
}

static void test_indirect_not_negotiated(void **state)
{
	struct fx *f = *state;

	f->q.indirect = false;
	ind(f, 0, BUF, 10, 0, 0);
	set(f, 0, IND, 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(f, 0);
	expect_broken(f);
}

static void test_indirect_mid_chain(void **state)
{
	struct fx *f = *state;

	ind(f, 0, BUF, 10, 0, 0);
	set(f, 0, BUF, 10, VIRTQ_DESC_F_NEXT, 1);
	set(f, 1, IND, 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(f, 0);
	expect_broken(f);
}

static void test_reset_clears_broken(void **state)
{
	struct fx *f = *state;

	publish(f, QSIZE + 3);
	expect_broken(f);
	virtq_reset(&f->q);
	assert_string_equal(f->q.name, "test.q0");
	f->q.size = QSIZE;
	f->q.desc_gpa = DESC;
	f->q.avail_gpa = AVAIL;
	f->q.used_gpa = USED;
	memset(gmem_ptr(&f->mem, AVAIL, 64), 0, 64);
	f->avail_idx = 0;
	assert_int_equal(virtq_enable(&f->q, &f->mem), 0);
	set(f, 0, BUF, 10, 0, 0);
	publish(f, 0);
	assert_int_equal(virtq_pop(&f->q, &f->e), 1);
}

static void test_enable_checks(void **state)
{
	struct fx *f = *state;

	virtq_reset(&f->q);
	f->q.size = 12;
	assert_int_equal(virtq_enable(&f->q, &f->mem), -EIO);
	f->q.size = QSIZE;
	f->q.desc_gpa = DESC + 8; /* misaligned */
	f->q.avail_gpa = AVAIL;
	f->q.used_gpa = USED;
	assert_int_equal(virtq_enable(&f->q, &f->mem), -EIO);
	f->q.desc_gpa = DESC;
	f->q.used_gpa = MEM - 8;
	assert_int_equal(virtq_enable(&f->q, &f->mem), -EIO);
	assert_false(f->q.enabled);
}

static void test_event_idx(void **state)
{
	struct fx *f = *state;
	struct virtq_avail *a = gmem_ptr(&f->mem, AVAIL, 6 + 2 * QSIZE + 2);
	struct virtq_used *u = gmem_ptr(&f->mem, USED, 6 + 8 * QSIZE + 2);

	f->q.event_idx = true;
	set(f, 0, BUF, 10, 0, 0);
	/* Driver wants an interrupt only when used idx passes 2 (used_event = 2). */
	a->ring[QSIZE] = 2;
	for (int i = 0; i < 4; i++) {
		publish(f, 0);
		assert_int_equal(virtq_pop(&f->q, &f->e), 1);
		/* avail_event follows what we consumed. */
		assert_int_equal(*(uint16_t *)((uint8_t *)u + 4 + 8 * QSIZE), f->q.last_avail);
		virtq_push(&f->q, 0, 0);
		/* The first push always notifies (nothing signalled yet); then only crossing used_event. */
		assert_int_equal(virtq_should_notify(&f->q), i == 0 || i == 2);
	}
	/* While the device polls anyway, avail_event stays put: the driver kicks once, not per buffer. */
	virtq_notify_off(&f->q);
	for (int i = 0; i < 3; i++) {
		publish(f, 0);
		assert_int_equal(virtq_pop(&f->q, &f->e), 1);
		assert_int_equal(*(uint16_t *)((uint8_t *)u + 4 + 8 * QSIZE), (uint16_t)(f->q.last_avail - 1 - i));
	}
	assert_false(virtq_notify_on(&f->q));
	assert_int_equal(*(uint16_t *)((uint8_t *)u + 4 + 8 * QSIZE), f->q.last_avail);
	/* Without EVENT_IDX the NO_INTERRUPT flag rules. */
	f->q.event_idx = false;
	a->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	assert_false(virtq_should_notify(&f->q));
	virtq_notify_off(&f->q);
	assert_int_equal(u->flags, VIRTQ_USED_F_NO_NOTIFY);
	assert_false(virtq_notify_on(&f->q));
	assert_int_equal(u->flags, 0);
}

static void test_iov_helpers(void **state)
{
	uint8_t a[4] = { 1, 2, 3, 4 }, b[3] = { 5, 6, 7 }, out[7];
	struct iovec v[2] = { { a, 4 }, { b, 3 } }, s[2];

	assert_int_equal(iov_to_buf(v, 2, 2, out, 7), 5);
	assert_int_equal(out[0], 3);
	assert_int_equal(out[4], 7);
	assert_int_equal(iov_slice(v, 2, 3, 3, s, 2), 2);
	assert_int_equal(s[0].iov_len, 1);
	assert_int_equal(s[1].iov_len, 2);
	assert_int_equal(iov_slice(v, 2, 3, 10, s, 2), -1);
	assert_int_equal(iov_slice(v, 2, 0, 7, s, 1), -1);
	assert_int_equal(iov_from_buf(v, 2, 6, "x", 1), 1);
	assert_int_equal(b[2], 'x');
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_valid_chain),
		T(test_loop),
		T(test_self_loop),
		T(test_out_of_range_address),
		T(test_wrapping_address),
		T(test_zero_length),
		T(test_huge_length),
		T(test_head_out_of_range),
		T(test_next_out_of_range),
		T(test_readable_after_writable),
		T(test_avail_idx_jump),
		T(test_wrapped_indices),
		T(test_chain_too_long_for_device),
		T(test_indirect_valid),
		T(test_indirect_in_indirect),
		T(test_indirect_bad_length),
		T(test_indirect_out_of_range),
		T(test_indirect_loop),
		T(test_indirect_not_negotiated),
		T(test_indirect_mid_chain),
		T(test_reset_clears_broken),
		T(test_enable_checks),
		T(test_event_idx),
		T(test_iov_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
