// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fake_machine.h"
#include <kite/cmos.h>
#include <kite/util.h>

#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define UIP 0x80
#define B_SET 0x80
#define B_BINARY 0x04
#define B_24H 0x02

struct rig {
	struct fake_machine *f;
	struct cmos c;
};

static int setup_mem(void **state, uint64_t below, uint64_t above)
{
	struct rig *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->f = fake_machine_new();
	if (cmos_init(&r->c, &r->f->m, below, above))
		return -1;
	*state = r;
	return 0;
}

static int setup(void **state)
{
	return setup_mem(state, 64 * MiB, 0);
}

/* 5 GiB with the 32-bit hole at 3 GiB: 3 GiB below, 2 GiB above. */
static int setup_5g(void **state)
{
	return setup_mem(state, 3 * GiB, 2 * GiB);
}

static int teardown(void **state)
{
	struct rig *r = *state;

	cmos_exit(&r->c);
	fake_machine_free(r->f);
	free(r);
	return 0;
}

static uint8_t rd(struct fake_machine *f, uint8_t reg)
{
	outb(f, 0x70, reg);
	return inb(f, 0x71);
}

static void wr(struct fake_machine *f, uint8_t reg, uint8_t v)
{
	outb(f, 0x70, reg);
	outb(f, 0x71, v);
}

static unsigned dec(uint8_t v, bool binary)
{
	return binary ? v : (v >> 4) * 10 + (v & 0xf);
}

/*
 * Reads the clock as Linux's mc146818_get_time() does: wait for UIP to be
 * clear, read everything, and read again if the seconds moved meanwhile.
 */
static time_t read_rtc(struct fake_machine *f)
{
	uint8_t b = rd(f, REG_B), r[10], cent;
	bool binary = b & B_BINARY;
	struct tm tm = { 0 };
	unsigned hour;

	for (int tries = 0;; tries++) {
		assert_true(tries < 1000);
		if (rd(f, REG_A) & UIP)
			continue;
		for (int i = 0; i < 10; i++)
			r[i] = rd(f, i);
		cent = rd(f, 0x32);
		if (rd(f, 0) == r[0])
			break;
	}
	if (b & B_24H) {
		hour = dec(r[4], binary);
	} else {
		hour = dec(r[4] & 0x7f, binary) % 12 + ((r[4] & 0x80) ? 12 : 0);
		assert_true(dec(r[4] & 0x7f, binary) >= 1 && dec(r[4] & 0x7f, binary) <= 12);
	}
	tm.tm_sec = dec(r[0], binary);
	tm.tm_min = dec(r[2], binary);
	tm.tm_hour = hour;
	tm.tm_mday = dec(r[7], binary);
	tm.tm_mon = dec(r[8], binary) - 1;
	tm.tm_year = dec(cent, binary) * 100 + dec(r[9], binary) - 1900;
	assert_true(dec(r[6], binary) >= 1 && dec(r[6], binary) <= 7);
	return timegm(&tm);
}

static void assert_close_to_now(time_t t)
{
	long long d = (long long)t - (long long)time(NULL);

	assert_true(d >= -3 && d <= 3);
}

static void test_time_bcd(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;
	time_t t;

	/* Firmware default: BCD, 24-hour. */
	assert_int_equal(rd(f, REG_B), B_24H);
	t = read_rtc(f);
	assert_close_to_now(t);
	/* Every clock byte is valid BCD. */
	for (int i = 0; i <= 9; i += (i < 4 ? 2 : 1)) {
		uint8_t v = rd(f, i);

		assert_true((v & 0xf) <= 9 && (v >> 4) <= 9);
	}
	assert_int_equal(rd(f, 0x32), 0x20);
}

static void test_time_binary_and_12h(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;

	/* read_rtc() turns 12-hour readings back into 24-hour time: a wrong PM bit is 12 hours off. */
	wr(f, REG_B, B_BINARY | B_24H);
	assert_close_to_now(read_rtc(f));
	assert_int_equal(rd(f, 0x32), 20);
	wr(f, REG_B, B_BINARY);
	assert_close_to_now(read_rtc(f));
	wr(f, REG_B, 0);
	assert_close_to_now(read_rtc(f));
}

static void test_guest_sets_clock(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;
	time_t before = read_rtc(f), after;

	wr(f, REG_B, B_SET | B_24H);
	assert_int_equal(rd(f, REG_A) & UIP, 0); /* no updates while SET */
	wr(f, 0x09, 0x99); /* year 2099 */
	wr(f, REG_B, B_24H);
	assert_int_equal(rd(f, 0x09), 0x99);
	after = read_rtc(f);
	assert_true(after - before > 70LL * 365 * 86400);
	/* Nonsense from the guest is clamped, not trusted. */
	wr(f, 0x08, 0xff);
	assert_int_equal(rd(f, 0x08), 0x12);
	wr(f, 0x32, 0x20);
	wr(f, 0x09, 0x26);
	assert_int_equal(rd(f, 0x09), 0x26);
}

static void test_status_registers(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;
	bool seen_clear = false;

	assert_int_equal(rd(f, REG_A) & 0x7f, 0x26);
	/* UIP is never stuck: clear most of the time. */
	for (int i = 0; i < 100000 && !seen_clear; i++)
		seen_clear = !(rd(f, REG_A) & UIP);
	assert_true(seen_clear);
	wr(f, REG_A, 0xa6); /* UIP is read-only */
	assert_int_equal(rd(f, REG_A) & 0x7f, 0x26);
	assert_int_equal(rd(f, REG_D), 0x80);
	wr(f, REG_D, 0);
	assert_int_equal(rd(f, REG_D), 0x80);
	assert_int_equal(rd(f, REG_C), 0);
	/* Periodic, alarm and update interrupts enabled: accepted, never delivered. */
	wr(f, REG_B, 0x70 | B_24H);
	assert_int_equal(rd(f, REG_B), 0x70 | B_24H);
	assert_int_equal(rd(f, REG_C), 0);
	assert_close_to_now(read_rtc(f));
	assert_int_equal(f->irq_calls[8], 0);
}

static void test_index_and_ram(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;

	/* Bit 7 of the index disables NMI and is not part of the index. */
	outb(f, 0x70, 0x80 | REG_D);
	assert_int_equal(inb(f, 0x71), 0x80);
	assert_true(((struct rig *)*state)->c.nmi_disabled);
	outb(f, 0x70, REG_D);
	assert_false(((struct rig *)*state)->c.nmi_disabled);
	assert_int_equal(inb(f, 0x70), 0xff);
	/* Free CMOS RAM keeps what is written, all 128 bytes addressable. */
	wr(f, 0x40, 0x5a);
	wr(f, 0x7f, 0xa5);
	assert_int_equal(rd(f, 0x40), 0x5a);
	assert_int_equal(rd(f, 0x7f), 0xa5);
	assert_int_equal(rd(f, 0xff), 0xa5); /* index 0xff = NMI off + 0x7f */
	assert_null(bus_owner(f->m.pio, 0x72));
}

static void test_memory_64m(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;

	assert_int_equal(rd(f, 0x15) | rd(f, 0x16) << 8, 640);
	assert_int_equal(rd(f, 0x17) | rd(f, 0x18) << 8, 63 * 1024);
	assert_int_equal(rd(f, 0x30) | rd(f, 0x31) << 8, 63 * 1024);
	assert_int_equal(rd(f, 0x34) | rd(f, 0x35) << 8, 48 * 16);
	assert_int_equal(rd(f, 0x5b) | rd(f, 0x5c) << 8 | rd(f, 0x5d) << 16, 0);
}

static void test_memory_5g(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;

	assert_int_equal(rd(f, 0x15) | rd(f, 0x16) << 8, 640);
	assert_int_equal(rd(f, 0x17) | rd(f, 0x18) << 8, 0xffff); /* saturates at 64 MiB */
	assert_int_equal(rd(f, 0x30) | rd(f, 0x31) << 8, 0xffff);
	assert_int_equal(rd(f, 0x34) | rd(f, 0x35) << 8, (3072 - 16) * 16);
	assert_int_equal(rd(f, 0x5b) | rd(f, 0x5c) << 8 | rd(f, 0x5d) << 16, 2 * 1024 * 16);
}

static void test_memory_tiny(void **state)
{
	struct fake_machine *f = fake_machine_new();
	struct cmos c;

	assert_int_equal(cmos_init(&c, &f->m, 8 * MiB, 0), 0);
	assert_int_equal(rd(f, 0x17) | rd(f, 0x18) << 8, 7 * 1024);
	assert_int_equal(rd(f, 0x34) | rd(f, 0x35) << 8, 0);
	cmos_exit(&c);
	fake_machine_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_time_bcd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_binary_and_12h, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_sets_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_and_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_64m, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_5g, setup_5g, teardown),
		cmocka_unit_test(test_memory_tiny),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
