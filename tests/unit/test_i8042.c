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
#include <kite/i8042.h>

#define DATA 0x60
#define CMD  0x64
#define STS_OBF 0x01
#define STS_SYS 0x04
#define STS_CMD 0x08
#define STS_AUX_OBF 0x20

struct rig {
	struct fake_machine *f;
	struct i8042 k;
};

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->f = fake_machine_new();
	if (i8042_init(&r->k, &r->f->m))
		return -1;
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	i8042_exit(&r->k);
	fake_machine_free(r->f);
	free(r);
	return 0;
}

/* i8042_command() in Linux: write the command, then poll OBF for each reply byte. */
static uint8_t command(struct fake_machine *f, uint8_t cmd)
{
	outb(f, CMD, cmd);
	assert_int_equal(inb(f, CMD) & STS_OBF, STS_OBF);
	return inb(f, DATA);
}

static void test_linux_probe(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;
	uint8_t ctr;

	/* i8042_flush: nothing waiting. */
	assert_int_equal(inb(f, CMD) & STS_OBF, 0);
	assert_int_equal(command(f, 0xaa), 0x55);
	assert_int_equal(inb(f, CMD) & (STS_OBF | STS_SYS), STS_SYS);
	/* Read the command byte, write it back with the ports disabled and IRQs off. */
	ctr = command(f, 0x20);
	outb(f, CMD, 0x60);
	outb(f, DATA, (ctr | 0x30) & ~0x03);
	assert_int_equal(command(f, 0x20), (ctr | 0x30) & ~0x03);
	outb(f, CMD, 0xae);
	outb(f, CMD, 0xa8);
	assert_int_equal(command(f, 0x20) & 0x30, 0);
	outb(f, CMD, 0xad);
	outb(f, CMD, 0xa7);
	assert_int_equal(command(f, 0x20) & 0x30, 0x30);
	/* Port interface tests pass. */
	assert_int_equal(command(f, 0xab), 0x00);
	assert_int_equal(command(f, 0xa9), 0x00);
	assert_int_equal(inb(f, CMD) & STS_CMD, STS_CMD);
	/* Output port: reset line high, A20 on. */
	assert_int_equal(command(f, 0xd0) & 0x03, 0x03);
	/* The keyboard identifies itself (ACK, 0xab, 0x41 with translation on). */
	outb(f, DATA, 0xf2);
	assert_int_equal(inb(f, CMD) & (STS_OBF | STS_CMD), STS_OBF);
	assert_int_equal(inb(f, DATA), 0xfa);
	assert_int_equal(inb(f, DATA), 0xab);
	assert_int_equal(inb(f, DATA), 0x41);
	assert_int_equal(f->nstops, 0);
	/* Port 0x61 is KVM's (PIT speaker port), never ours. */
	assert_null(bus_owner(f->m.pio, 0x61));
}

static void test_reset_command(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;

	outb(f, CMD, 0xff); /* pulse nothing */
	assert_int_equal(f->nstops, 0);
	outb(f, CMD, 0xfe);
	assert_int_equal(f->nstops, 1);
	assert_int_equal(f->why, STOP_RESET);
	assert_string_equal(f->detail, "i8042 reset");
}

static void test_reset_through_output_port(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;

	outb(f, CMD, 0xd1);
	outb(f, DATA, 0x03); /* A20 on, reset line high */
	assert_int_equal(f->nstops, 0);
	outb(f, CMD, 0xd1);
	outb(f, DATA, 0x02);
	assert_int_equal(f->nstops, 1);
	assert_int_equal(f->why, STOP_RESET);
}

static void test_irq_follows_ctr(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;

	/* Firmware left keyboard interrupts on: a reply raises IRQ 1 until read. */
	outb(f, CMD, 0xaa);
	assert_int_equal(f->irq[1], 1);
	assert_int_equal(inb(f, DATA), 0x55);
	assert_int_equal(f->irq[1], 0);
	/* Bytes "from the aux port" (D3) show AUX_OBF and raise IRQ 12. */
	outb(f, CMD, 0xd3);
	outb(f, DATA, 0x42);
	assert_int_equal(inb(f, CMD) & (STS_OBF | STS_AUX_OBF), STS_OBF | STS_AUX_OBF);
	assert_int_equal(f->irq[12], 1);
	assert_int_equal(f->irq[1], 0);
	assert_int_equal(inb(f, DATA), 0x42);
	assert_int_equal(f->irq[12], 0);
	/* Interrupts off in the command byte: polled only. */
	outb(f, CMD, 0x60);
	outb(f, DATA, 0x44);
	outb(f, CMD, 0xaa);
	assert_int_equal(f->irq[1], 0);
	assert_int_equal(inb(f, DATA), 0x55);
}

static void test_queue_overflow(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;

	for (int i = 0; i < 3 * I8042_QUEUE; i++)
		outb(f, CMD, 0xaa);
	for (int i = 0; i < I8042_QUEUE; i++)
		assert_int_equal(inb(f, DATA), 0x55);
	assert_int_equal(inb(f, CMD) & STS_OBF, 0);
	assert_int_equal(inb(f, DATA), 0);
}

/* A byte for the keyboard itself; returns the first byte it answers with. */
static uint8_t kbd_send(struct fake_machine *f, uint8_t byte)
{
	outb(f, DATA, byte);
	return inb(f, DATA);
}

/* What atkbd does when it binds: reset, identify, scan set, LEDs, typematic, enable. */
static void test_keyboard_commands(void **state)
{
	struct fake_machine *f = ((struct rig *)*state)->f;

	assert_int_equal(kbd_send(f, 0xff), 0xfa);
	assert_int_equal(inb(f, DATA), 0xaa);
	assert_int_equal(kbd_send(f, 0xf0), 0xfa);
	assert_int_equal(kbd_send(f, 0x00), 0xfa); /* which set? */
	assert_int_equal(inb(f, DATA), 0x41);
	assert_int_equal(kbd_send(f, 0xed), 0xfa);
	assert_int_equal(kbd_send(f, 0x07), 0xfa);
	assert_int_equal(kbd_send(f, 0xf3), 0xfa);
	assert_int_equal(kbd_send(f, 0x20), 0xfa);
	assert_int_equal(kbd_send(f, 0xee), 0xee);
	assert_int_equal(kbd_send(f, 0xf4), 0xfa);
	assert_int_equal(kbd_send(f, 0x42), 0xfe); /* not a command */
	assert_int_equal(inb(f, CMD) & STS_OBF, 0);
	/* Ctrl-Alt-Del arrives as translated make and break codes with IRQ 1. */
	assert_int_equal(i8042_send_ctrl_alt_del(&((struct rig *)*state)->k), 0);
	assert_int_equal(f->irq[1], 1);
	assert_int_equal(inb(f, DATA), 0x1d);
	assert_int_equal(inb(f, DATA), 0x38);
	assert_int_equal(f->nstops, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_linux_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_through_output_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_follows_ctr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyboard_commands, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
