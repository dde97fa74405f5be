// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_machine.h"
#include <kite/uart.h>

#define COM1 UART_COM1_BASE
#define RBR (COM1 + 0)
#define THR (COM1 + 0)
#define DLL (COM1 + 0)
#define IER (COM1 + 1)
#define DLM (COM1 + 1)
#define IIR (COM1 + 2)
#define FCR (COM1 + 2)
#define EFR (COM1 + 2) /* what Linux calls offset 2 under LCR 0xbf */
#define LCR (COM1 + 3)
#define MCR (COM1 + 4)
#define LSR (COM1 + 5)
#define MSR (COM1 + 6)
#define SCR (COM1 + 7)

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

/* One UART on COM1/IRQ4 with pipes on both sides. */
struct rig {
	struct fake_machine *f;
	struct uart u;
	int in[2], out[2]; /* in[1]: we type; out[0]: we read what the guest printed */
};

static int rig_setup(void **state, bool escape)
{
	struct rig *r = calloc(1, sizeof(*r));

	if (!r || pipe2(r->in, O_CLOEXEC) || pipe2(r->out, O_CLOEXEC | O_NONBLOCK))
		return -1;
	r->f = fake_machine_new();
	if (uart_init(&r->u, &r->f->m, COM1, 4, r->in[0], r->out[1], escape))
		return -1;
	*state = r;
	return 0;
}

static int setup(void **state)
{
	return rig_setup(state, false);
}

static int setup_escape(void **state)
{
	return rig_setup(state, true);
}

static int teardown(void **state)
{
	struct rig *r = *state;

	uart_exit(&r->u);
	fake_machine_free(r->f);
	close(r->in[0]);
	if (r->in[1] >= 0)
		close(r->in[1]);
	close(r->out[0]);
	if (r->out[1] >= 0)
		close(r->out[1]);
	free(r);
	return 0;
}

static void type(struct rig *r, const char *s, size_t n)
{
	assert_int_equal(write(r->in[1], s, n), (ssize_t)n);
}

static size_t printed(struct rig *r, char *buf, size_t max)
{
	ssize_t n = read(r->out[0], buf, max);

	return n < 0 ? 0 : (size_t)n;
}

/* Linux's 8250 autoconfig() and autoconfig_16550a(), in order, with their checks. */
static void test_linux_autoconfig(void **state)
{
	struct rig *r = *state;
	struct fake_machine *f = r->f;
	uint8_t save_mcr, save_lcr;

	/* IER scratch test: only the low nibble sticks. */
	outb(f, IER, 0);
	assert_int_equal(inb(f, IER) & 0x0f, 0);
	outb(f, IER, 0x0f);
	assert_int_equal(inb(f, IER) & 0x0f, 0x0f);
	outb(f, IER, 0xff);
	assert_int_equal(inb(f, IER), 0x0f); /* no XScale UUE bit */
	outb(f, IER, 0);

	/* Loopback test: LOOP | OUT2 | RTS must show DCD | CTS and nothing else. */
	save_mcr = inb(f, MCR);
	save_lcr = inb(f, LCR);
	outb(f, MCR, MCR_LOOP | 0x0a);
	assert_int_equal(inb(f, MSR) & 0xf0, 0x90);
	outb(f, MCR, save_mcr);

	/* Divisor latch and LCR read back. */
	outb(f, LCR, 0x80);
	outb(f, DLL, 0x01);
	outb(f, DLM, 0x00);
	assert_int_equal(inb(f, DLL), 0x01);
	assert_int_equal(inb(f, DLM), 0x00);
	/* No EFR: offset 2 under 0xbf is IIR and never 0 here. */
	outb(f, LCR, 0xbf);
	assert_int_not_equal(inb(f, EFR), 0);
	outb(f, LCR, save_lcr);
	assert_int_equal(inb(f, LCR), save_lcr);

	/* FIFO detection: IIR bits 7:6 = 11 means 16550A; no 64-byte FIFO bit. */
	outb(f, FCR, 0x01);
	assert_int_equal(inb(f, IIR) >> 6, 3);
	outb(f, FCR, 0x01 | 0x20);
	assert_int_equal(inb(f, IIR) & 0x20, 0);
	outb(f, FCR, 0);
	assert_int_equal(inb(f, IIR) >> 6, 0);

	/* Scratch register. */
	outb(f, SCR, 0xa5);
	assert_int_equal(inb(f, SCR), 0xa5);
	outb(f, SCR, 0x5a);
	assert_int_equal(inb(f, SCR), 0x5a);

	/* Idle: transmitter empty, nothing received, never 0xff. */
	assert_int_equal(inb(f, LSR), LSR_THRE | LSR_TEMT);
	assert_int_equal(inb(f, IIR), 0x01);
	assert_int_equal(f->irq_calls[4], 0);
}

static void test_transmit(void **state)
{
	struct rig *r = *state;
	char buf[64];
	const char *msg = "hello, kite\r\n";

	for (const char *p = msg; *p; p++)
		outb(r->f, THR, *p);
	/* Written at once: nothing waits for the loop or a flush. */
	assert_int_equal(printed(r, buf, sizeof(buf)), strlen(msg));
	assert_memory_equal(buf, msg, strlen(msg));
	assert_int_equal(r->u.tx_bytes, strlen(msg));
	assert_int_equal(r->u.tx_dropped, 0);
	/* DLAB routes offset 0 to the divisor, not to the line. */
	outb(r->f, LCR, 0x83);
	outb(r->f, THR, 'X');
	outb(r->f, LCR, 0x03);
	assert_int_equal(printed(r, buf, sizeof(buf)), 0);
	/* A wider access writes the first register only. */
	outn(r->f, THR, 0x4241, 2);
	assert_int_equal(printed(r, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'A');
}

static void test_transmit_none_and_broken(void **state)
{
	struct fake_machine *f = fake_machine_new();
	struct uart u;
	int p[2];

	/* `none`: discarded but counted. */
	assert_int_equal(uart_init(&u, &f->m, COM1, 4, -1, -1, false), 0);
	outb(f, THR, 'a');
	assert_int_equal(u.tx_bytes, 1);
	assert_int_equal(u.tx_dropped, 0);
	uart_exit(&u);

	/* A reader that went away: one error, then output dropped, the guest runs on. */
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	assert_int_equal(uart_init(&u, &f->m, COM1, 4, -1, p[1], false), 0);
	outb(f, THR, 'a');
	outb(f, THR, 'b');
	assert_true(u.out_broken);
	assert_int_equal(u.tx_bytes, 2);
	assert_int_equal(u.tx_dropped, 2);
	assert_int_equal(inb(f, LSR) & LSR_THRE, LSR_THRE);
	uart_exit(&u);
	close(p[1]);
	fake_machine_free(f);
}

static void test_receive(void **state)
{
	struct rig *r = *state;
	struct fake_machine *f = r->f;

	assert_int_equal(inb(f, LSR) & LSR_DR, 0);
	type(r, "abc", 3);
	fake_pump(f);
	assert_int_equal(r->u.rx_bytes, 1); /* no FIFO yet: a one-byte holding register */
	outb(f, FCR, 0x07);                 /* FIFO on, both cleared: the byte goes too */
	assert_int_equal(inb(f, LSR) & LSR_DR, 0);
	fake_pump(f);
	fake_pump(f);
	assert_int_equal(r->u.rx_bytes, 3);
	assert_int_equal(inb(f, LSR) & LSR_DR, LSR_DR);
	assert_int_equal(inb(f, RBR), 'b');
	assert_int_equal(inb(f, RBR), 'c');
	assert_int_equal(inb(f, LSR) & LSR_DR, 0);
	type(r, "xyz", 3);
	fake_pump(f);
	assert_int_equal(inb(f, RBR), 'x');
	assert_int_equal(inb(f, RBR), 'y');
	assert_int_equal(inb(f, RBR), 'z');
	assert_int_equal(inb(f, LSR), LSR_THRE | LSR_TEMT);
}

/* A full FIFO stops the input; reading it resumes; nothing is lost or reordered. */
static void test_receive_backpressure(void **state)
{
	struct rig *r = *state;
	struct fake_machine *f = r->f;
	char in[100];
	unsigned got = 0;

	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (char)(' ' + i % 90);
	type(r, in, sizeof(in));
	outb(f, FCR, 0x01);
	for (unsigned round = 0; round < 50 && got < sizeof(in); round++) {
		fake_pump(f);
		assert_true(r->u.rx.count <= UART_FIFO_SIZE);
		/* Take a few, not all, so both full and partly-full FIFOs happen. */
		for (unsigned k = 0; k < 5 && (inb(f, LSR) & LSR_DR); k++) {
			assert_int_equal(inb(f, RBR), (uint8_t)in[got]);
			got++;
		}
	}
	assert_int_equal(got, sizeof(in));
	assert_int_equal(r->u.rx_bytes, sizeof(in));
	assert_int_equal(r->u.overruns, 0);
}

static void test_receive_eof(void **state)
{
	struct rig *r = *state;

	type(r, "q", 1);
	close(r->in[1]);
	r->in[1] = -1;
	fake_pump(r->f);
	assert_true(r->u.in_paused); /* no FIFO: one byte fills the receiver */
	assert_int_equal(inb(r->f, RBR), 'q');
	fake_pump(r->f); /* resumes polling */
	fake_pump(r->f); /* end of input: the fd leaves the loop */
	assert_false(r->u.in_registered);
	fake_pump(r->f);
	assert_int_equal(inb(r->f, LSR) & LSR_DR, 0);
}

/* stdin from /dev/null or a regular file cannot be polled: the UART runs without input. */
static void test_unpollable_input(void **state)
{
	struct fake_machine *f = fake_machine_new();
	struct uart u;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(uart_init(&u, &f->m, COM1, 4, fd, -1, false), 0);
	assert_false(u.in_registered);
	assert_int_equal(inb(f, LSR) & LSR_DR, 0);
	uart_exit(&u);
	close(fd);
	fake_machine_free(f);
}

static void test_rx_trigger_and_timeout(void **state)
{
	struct rig *r = *state;
	struct fake_machine *f = r->f;

	outb(f, FCR, 0x81); /* FIFO, trigger 8 */
	outb(f, IER, IER_RDI);
	outb(f, MCR, MCR_OUT2);
	assert_int_equal(f->irq[4], 0);
	type(r, "123", 3);
	fake_pump(f);
	assert_int_equal(inb(f, IIR), 0xcc); /* below trigger: character timeout */
	assert_int_equal(f->irq[4], 1);
	type(r, "45678", 5);
	fake_pump(f);
	assert_int_equal(inb(f, IIR), 0xc4); /* at trigger: data available */
	for (int i = 0; i < 8; i++)
		inb(f, RBR);
	assert_int_equal(inb(f, IIR), 0xc1);
	assert_int_equal(f->irq[4], 0);
}

static void test_irq_gated_by_out2(void **state)
{
	struct rig *r = *state;
	struct fake_machine *f = r->f;

	outb(f, IER, IER_RDI);
	type(r, "k", 1);
	fake_pump(f);
	assert_int_equal(inb(f, IIR), 0x04);
	assert_int_equal(f->irq[4], 0); /* OUT2 low: the PIC sees nothing */
	outb(f, MCR, MCR_OUT2 | MCR_DTR | MCR_RTS);
	assert_int_equal(f->irq[4], 1);
	outb(f, MCR, MCR_DTR | MCR_RTS);
	assert_int_equal(f->irq[4], 0);
	outb(f, MCR, MCR_OUT2);
	assert_int_equal(f->irq[4], 1);
	outb(f, IER, 0);
	assert_int_equal(f->irq[4], 0);
	outb(f, IER, IER_RDI);
	assert_int_equal(f->irq[4], 1);
	inb(f, RBR);
	assert_int_equal(f->irq[4], 0);
	assert_int_equal(inb(f, IIR), 0x01);
}

static void test_thre_interrupt(void **state)
{
	struct rig *r = *state;
	struct fake_machine *f = r->f;
	uint8_t iir, lsr;
	char buf[8];

	outb(f, MCR, MCR_OUT2);
	/* Enabling THRI while the transmitter is empty interrupts at once. */
	outb(f, IER, IER_THRI);
	assert_int_equal(f->irq[4], 1);
	/* Reading IIR that shows THRE acknowledges it. */
	assert_int_equal(inb(f, IIR), 0x02);
	assert_int_equal(f->irq[4], 0);
	assert_int_equal(inb(f, IIR), 0x01);
	/* Each byte sent empties the THR again: a new THRE interrupt. */
	outb(f, THR, '!');
	assert_int_equal(f->irq[4], 1);
	assert_int_equal(printed(r, buf, sizeof(buf)), 1);
	outb(f, IER, 0);
	assert_int_equal(f->irq[4], 0);

	/* serial8250_do_startup's UART_BUG_THRE test: the re-enable must interrupt too. */
	outb(f, IER, IER_THRI);
	iir = inb(f, IIR);
	outb(f, IER, 0);
	outb(f, IER, IER_THRI);
	iir = inb(f, IIR);
	outb(f, IER, 0);
	assert_int_equal(iir & 0x01, 0);
	/* ... and its UART_BUG_TXEN test. */
	outb(f, IER, IER_THRI);
	lsr = inb(f, LSR);
	iir = inb(f, IIR);
	outb(f, IER, 0);
	assert_true((lsr & LSR_TEMT) && !(iir & 0x01));
	/* Clearing the TX FIFO also leaves THRE pending. */
	outb(f, FCR, 0x01);
	outb(f, IER, IER_THRI);
	assert_int_equal(inb(f, IIR), 0xc2);
	outb(f, FCR, 0x05);
	assert_int_equal(inb(f, IIR), 0xc2);
}

/* RLS > RX data > THRE > modem status, each cleared its own way. */
static void test_interrupt_priorities(void **state)
{
	struct rig *r = *state;
	struct fake_machine *f = r->f;

	outb(f, FCR, 0x01); /* trigger 1 */
	outb(f, MCR, MCR_LOOP | MCR_OUT2);
	for (int i = 0; i < UART_FIFO_SIZE + 1; i++)
		outb(f, THR, 'a' + i); /* one too many: overrun */
	outb(f, MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS); /* CTS rises: a modem-status delta */
	outb(f, IER, IER_RDI | IER_THRI | IER_RLSI | IER_MSI);
	assert_int_equal(inb(f, IIR), 0xc6);
	assert_int_equal(inb(f, LSR) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR); /* clears OE */
	assert_int_equal(inb(f, IIR), 0xc4);
	for (int i = 0; i < UART_FIFO_SIZE; i++)
		assert_int_equal(inb(f, RBR), 'a' + i); /* the first 16 kept, the 17th lost */
	assert_int_equal(r->u.overruns, 1);
	assert_int_equal(inb(f, IIR), 0xc2);
	assert_int_equal(inb(f, IIR), 0xc0); /* THRE acknowledged: MSR shows */
	assert_int_equal(inb(f, MSR) & 0x01, 0x01);
	assert_int_equal(inb(f, IIR), 0xc1);
	assert_int_equal(f->irq[4], 0);
	/* Loopback never reaches the output. */
	char buf[4];
	assert_int_equal(printed(r, buf, sizeof(buf)), 0);
}

static void test_overrun_without_fifo(void **state)
{
	struct rig *r = *state;
	struct fake_machine *f = r->f;

	outb(f, MCR, MCR_LOOP);
	outb(f, THR, '1');
	assert_int_equal(inb(f, LSR), LSR_DR | LSR_THRE | LSR_TEMT);
	outb(f, THR, '2');
	assert_int_equal(inb(f, LSR), LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT);
	assert_int_equal(inb(f, LSR), LSR_DR | LSR_THRE | LSR_TEMT); /* OE clears on read */
	assert_int_equal(inb(f, RBR), '1');
}

static void test_modem_status_loopback(void **state)
{
	struct rig *r = *state;
	struct fake_machine *f = r->f;

	/* Outside loopback: a connected peer, no deltas. */
	assert_int_equal(inb(f, MSR), 0xb0);
	outb(f, MCR, MCR_LOOP);
	assert_int_equal(inb(f, MSR), 0x0b); /* CTS, DSR, DCD fell: their deltas */
	assert_int_equal(inb(f, MSR), 0x00); /* deltas clear on read */
	outb(f, MCR, MCR_LOOP | MCR_DTR | MCR_RTS | MCR_OUT1 | MCR_OUT2);
	assert_int_equal(inb(f, MSR), 0xfb);
	outb(f, MCR, MCR_LOOP | MCR_DTR | MCR_RTS | MCR_OUT2);
	assert_int_equal(inb(f, MSR), 0xb4); /* RI trailing edge */
	outb(f, MCR, MCR_LOOP | MCR_OUT2 | MCR_OUT1);
	assert_int_equal(inb(f, MSR), 0xc3); /* RI rising edge is not TERI */
	/* MSR interrupt follows IER. */
	outb(f, IER, IER_MSI);
	outb(f, MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS);
	assert_int_equal(f->irq[4], 1);
	assert_int_equal(inb(f, IIR), 0x00);
	inb(f, MSR);
	assert_int_equal(f->irq[4], 0);
	assert_int_equal(inb(f, IIR), 0x01);
}

static void test_escape(void **state)
{
	struct rig *r = *state;
	struct fake_machine *f = r->f;

	outb(f, FCR, 0x01);
	type(r, "a\x01\x01" "b\x01q", 6); /* Ctrl-A Ctrl-A = one Ctrl-A; Ctrl-A q dropped */
	fake_pump(f);
	assert_int_equal(inb(f, RBR), 'a');
	assert_int_equal(inb(f, RBR), 0x01);
	assert_int_equal(inb(f, RBR), 'b');
	assert_int_equal(inb(f, LSR) & LSR_DR, 0);
	assert_int_equal(f->nstops, 0);
	type(r, "c\x01", 2); /* the escape may straddle two reads */
	fake_pump(f);
	type(r, "xd", 2);
	fake_pump(f);
	assert_int_equal(f->nstops, 1);
	assert_int_equal(f->why, STOP_USER);
	assert_string_equal(f->detail, "ctrl-a x");
	assert_int_equal(inb(f, RBR), 'c');
	assert_int_equal(inb(f, LSR) & LSR_DR, 0);
}

static void test_no_escape_by_default(void **state)
{
	struct rig *r = *state;

	outb(r->f, FCR, 0x01);
	type(r, "\x01x", 2);
	fake_pump(r->f);
	assert_int_equal(inb(r->f, RBR), 0x01);
	assert_int_equal(inb(r->f, RBR), 'x');
	assert_int_equal(r->f->nstops, 0);
}

static void test_other_ports(void **state)
{
	struct fake_machine *f = fake_machine_new();
	struct uart com1, com2, dup;

	assert_int_equal(uart_init(&com1, &f->m, UART_COM1_BASE, 4, -1, -1, false), 0);
	assert_int_equal(uart_init(&com2, &f->m, UART_COM2_BASE, 3, -1, -1, false), 0);
	assert_int_equal(uart_init(&dup, &f->m, UART_COM1_BASE, 4, -1, -1, false), -EEXIST);
	outb(f, UART_COM2_BASE + 4, MCR_OUT2);
	outb(f, UART_COM2_BASE + 1, IER_THRI);
	assert_int_equal(f->irq[3], 1);
	assert_int_equal(f->irq_calls[4], 0);
	assert_int_equal(inb(f, UART_COM2_BASE + 2), 0x02);
	assert_int_equal(f->irq[3], 0);
	assert_string_equal(bus_owner(f->m.pio, UART_COM2_BASE + 7), "uart@0x2f8");
	uart_exit(&com2);
	uart_exit(&com1);
	assert_null(bus_owner(f->m.pio, UART_COM1_BASE));
	fake_machine_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_linux_autoconfig, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit, setup, teardown),
		cmocka_unit_test(test_transmit_none_and_broken),
		cmocka_unit_test_setup_teardown(test_receive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_eof, setup, teardown),
		cmocka_unit_test(test_unpollable_input),
		cmocka_unit_test_setup_teardown(test_rx_trigger_and_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_gated_by_out2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_priorities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overrun_without_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modem_status_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escape, setup_escape, teardown),
		cmocka_unit_test_setup_teardown(test_no_escape_by_default, setup, teardown),
		cmocka_unit_test(test_other_ports),
	};

	/* A guest's output to a closed reader must be an error, not the end of kite. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
