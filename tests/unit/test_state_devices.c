// SPDX-License-Identifier: MIT
/*
 * Device sections round trips: a device is programmed through its ports,
 * saved, loaded into a fresh device on another machine, and read back
 * through that one's ports.  Hostile sections are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kite/cmos.h>
#include <kite/i8042.h>
#include <kite/section.h>
#include <kite/state.h>
#include <kite/uart.h>

#include "fake_machine.h"

#define COM1 0x3f8

/* Saves what reg_a holds and loads it into reg_b's objects; the load's result. */
static int transfer(struct state_registry *ra, struct state_registry *rb)
{
	struct sbuf buf;
	struct state_sink sink = { state_sbuf_write, &buf };
	struct state_mem_source ms;
	struct state_source src = { state_mem_read, &ms };
	struct state_file f;
	int r;

	sbuf_init(&buf);
	assert_int_equal(state_save_all(ra, &sink), 0);
	ms = (struct state_mem_source){ buf.data, buf.len, 0 };
	assert_int_equal(state_read_file(&src, "test", &f), 0);
	r = state_load_all(rb, &f, NULL);
	state_file_free(&f);
	sbuf_free(&buf);
	return r;
}

static void test_uart_round_trip(void **state)
{
	struct fake_machine *f1 = fake_machine_new(), *f2 = fake_machine_new();
	struct state_registry ra, rb;
	struct uart u1, u2;

	assert_int_equal(uart_init(&u1, &f1->m, COM1, 4, -1, -1, false), 0);
	assert_int_equal(uart_init(&u2, &f2->m, COM1, 4, -1, -1, false), 0);
	outb(f1, COM1 + 3, 0x80); /* DLAB */
	outb(f1, COM1 + 0, 0x0c);
	outb(f1, COM1 + 1, 0x00);
	outb(f1, COM1 + 3, 0x1b); /* 8E1 */
	outb(f1, COM1 + 2, 0x07); /* FIFOs on */
	outb(f1, COM1 + 7, 0x5a); /* scratch */
	outb(f1, COM1 + 4, 0x18); /* loopback, OUT2 */
	outb(f1, COM1 + 1, 0x01); /* RX interrupt */
	outb(f1, COM1, 'a');
	outb(f1, COM1, 'b');
	outb(f1, COM1, 'c');
	assert_int_equal(f1->irq[4], 1);

	state_registry_init(&ra);
	state_registry_init(&rb);
	assert_int_equal(state_uart_register(&ra, 0, &u1), 0);
	assert_int_equal(state_uart_register(&rb, 0, &u2), 0);
	assert_int_equal(transfer(&ra, &rb), 0);

	assert_int_equal(inb(f2, COM1 + 3), 0x1b);
	assert_int_equal(inb(f2, COM1 + 7), 0x5a);
	assert_int_equal(inb(f2, COM1 + 4), 0x18);
	assert_int_equal(inb(f2, COM1 + 1), 0x01);
	assert_true(inb(f2, COM1 + 5) & 0x01); /* data ready */
	assert_int_equal(inb(f2, COM1), 'a');
	assert_int_equal(inb(f2, COM1), 'b');
	assert_int_equal(inb(f2, COM1), 'c');
	assert_false(inb(f2, COM1 + 5) & 0x01);
	outb(f2, COM1 + 3, 0x9b);
	assert_int_equal(inb(f2, COM1 + 0), 0x0c);
	state_registry_free(&ra);
	state_registry_free(&rb);
	uart_exit(&u1);
	uart_exit(&u2);
	fake_machine_free(f1);
	fake_machine_free(f2);
}

static void test_cmos_round_trip(void **state)
{
	struct fake_machine *f1 = fake_machine_new(), *f2 = fake_machine_new();
	struct state_registry ra, rb;
	struct cmos c1, c2;

	assert_int_equal(cmos_init(&c1, &f1->m, 64 << 20, 0), 0);
	assert_int_equal(cmos_init(&c2, &f2->m, 128 << 20, 0), 0);
	outb(f1, 0x70, 0x40);
	outb(f1, 0x71, 0x99);
	outb(f1, 0x70, 0x41);
	state_registry_init(&ra);
	state_registry_init(&rb);
	assert_int_equal(state_cmos_register(&ra, &c1), 0);
	assert_int_equal(state_cmos_register(&rb, &c2), 0);
	assert_int_equal(transfer(&ra, &rb), 0);
	outb(f2, 0x70, 0x40);
	assert_int_equal(inb(f2, 0x71), 0x99);
	/* The memory-size bytes are the saved machine's (64 MiB: 0x34-0x35 count 64 KiB above 16 MiB). */
	outb(f2, 0x70, 0x35);
	assert_int_equal(inb(f2, 0x71), c1.ram[0x35]);
	state_registry_free(&ra);
	state_registry_free(&rb);
	cmos_exit(&c1);
	cmos_exit(&c2);
	fake_machine_free(f1);
	fake_machine_free(f2);
}

static void test_i8042_round_trip(void **state)
{
	struct fake_machine *f1 = fake_machine_new(), *f2 = fake_machine_new();
	struct state_registry ra, rb;
	struct i8042 k1, k2;
	uint8_t ctr;

	assert_int_equal(i8042_init(&k1, &f1->m), 0);
	assert_int_equal(i8042_init(&k2, &f2->m), 0);
	outb(f1, 0x64, 0x60); /* write command byte */
	outb(f1, 0x60, 0x45);
	outb(f1, 0x64, 0x20); /* read it: queued in the output buffer */
	state_registry_init(&ra);
	state_registry_init(&rb);
	assert_int_equal(state_i8042_register(&ra, &k1), 0);
	assert_int_equal(state_i8042_register(&rb, &k2), 0);
	assert_int_equal(transfer(&ra, &rb), 0);
	/* The byte that was waiting is still there, then the command byte reads back. */
	assert_true(inb(f2, 0x64) & 0x01);
	assert_int_equal(inb(f2, 0x60), 0x45);
	outb(f2, 0x64, 0x20);
	ctr = inb(f2, 0x60);
	assert_int_equal(ctr, 0x45);
	state_registry_free(&ra);
	state_registry_free(&rb);
	i8042_exit(&k1);
	i8042_exit(&k2);
	fake_machine_free(f1);
	fake_machine_free(f2);
}

/* A section claiming 200 bytes in a 16-byte FIFO, and one that is cut short. */
static void test_hostile_device_sections(void **state)
{
	struct fake_machine *f = fake_machine_new();
	uint8_t big[12 + 200] = { [11] = 200 }, short_one[5] = { 0 };
	struct state_section s = { .tag = "uart", .major = 1 };
	struct state_file file = { .s = &s, .n = 1 };
	struct state_registry reg;
	struct uart u;

	assert_int_equal(uart_init(&u, &f->m, COM1, 4, -1, -1, false), 0);
	state_registry_init(&reg);
	assert_int_equal(state_uart_register(&reg, 0, &u), 0);
	s.data = big;
	s.len = sizeof(big);
	assert_int_equal(state_load_all(&reg, &file, NULL), -EINVAL);
	assert_int_equal(u.rx.count, 0);
	s.data = short_one;
	s.len = sizeof(short_one);
	assert_int_equal(state_load_all(&reg, &file, NULL), -EOVERFLOW);
	state_registry_free(&reg);
	uart_exit(&u);
	fake_machine_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uart_round_trip),
		cmocka_unit_test(test_cmos_round_trip),
		cmocka_unit_test(test_i8042_round_trip),
		cmocka_unit_test(test_hostile_device_sections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
