// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_machine.h"
#include <kite/debug_exit.h>
#include <kite/util.h>

struct rig {
	struct fake_machine *f;
	struct debug_exit d;
};

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->f = fake_machine_new();
	if (debug_exit_init(&r->d, &r->f->m, DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE))
		return -1;
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	debug_exit_exit(&r->d);
	fake_machine_free(r->f);
	free(r);
	return 0;
}

static void test_widths(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;
	static const struct {
		uint32_t value;
		unsigned len;
		uint32_t seen;
		int status;
	} cases[] = {
		{ 0x00, 1, 0x00, 1 },
		{ 0x10, 1, 0x10, 33 }, /* the usual "success" of QEMU test kernels */
		{ 0x11, 1, 0x11, 35 },
		{ 0x7f, 1, 0x7f, 255 },
		{ 0x80, 1, 0x80, 1 }, /* exit(2) keeps 8 bits, as with QEMU */
		{ 0x1234, 2, 0x1234, 0x69 },
		{ 0xabcd0031, 2, 0x0031, 99 },
		{ 0x00000003, 4, 0x3, 7 },
		{ 0x12345678, 4, 0x12345678, 0xf1 },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		f->nstops = 0;
		outn(f, DEBUG_EXIT_PORT, cases[i].value, cases[i].len);
		assert_int_equal(f->nstops, 1);
		assert_int_equal(f->why, STOP_DEBUG_EXIT);
		assert_int_equal((uint32_t)f->status, cases[i].seen);
		assert_int_equal(debug_exit_status((uint32_t)f->status), cases[i].status);
	}
}

static void test_any_offset_and_reads(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;
	uint8_t v[4] = { 0xaa, 0xaa, 0xaa, 0xaa };

	outb(f, DEBUG_EXIT_PORT + 3, 2);
	assert_int_equal(f->nstops, 1);
	assert_int_equal(f->status, 2);
	/* Reads return 0 (QEMU's isa-debug-exit) and stop nothing. */
	assert_true(bus_access(f->m.pio, DEBUG_EXIT_PORT, v, 4, false));
	for (int i = 0; i < 4; i++)
		assert_int_equal(v[i], 0);
	assert_int_equal(f->nstops, 1);
	/* Outside the range: unclaimed. */
	outb(f, DEBUG_EXIT_PORT + 4, 1);
	assert_int_equal(f->nstops, 1);
	assert_int_equal(f->pio.unclaimed_writes, 1);
}

static void test_bad_size(void **state)
{
	struct fake_machine *f = fake_machine_new();
	struct debug_exit d;

	assert_int_equal(debug_exit_init(&d, &f->m, 0x501, 3), -EINVAL);
	assert_int_equal(debug_exit_init(&d, &f->m, 0x501, 0), -EINVAL);
	assert_int_equal(debug_exit_init(&d, &f->m, 0x501, 1), 0);
	outb(f, 0x501, 0x31);
	assert_int_equal(f->status, 0x31);
	debug_exit_exit(&d);
	fake_machine_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_widths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_any_offset_and_reads, setup, teardown),
		cmocka_unit_test(test_bad_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
