// SPDX-License-Identifier: MIT
/*
 * COM1 output through the 16550 FIFO.  Every port access is a VM exit (tens
 * of microseconds from native guest code on a nested host), so LSR is read
 * only when the FIFO may be full: once per 16 bytes.
 */
#include "kit.h"

#define COM1 0x3f8
#define LSR_THRE 0x20
#define FIFO_SIZE 16

static volatile uint32_t print_lock;
static unsigned int fifo_room;

void kit_serial_init(void)
{
	outb(COM1 + 1, 0x00);           /* no interrupts */
	outb(COM1 + 3, 0x80);           /* DLAB */
	outb(COM1 + 0, 0x01);           /* 115200 */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);           /* 8N1 */
	outb(COM1 + 2, 0x07);           /* FIFOs on and cleared */
	outb(COM1 + 4, 0x03);           /* DTR RTS */
	fifo_room = 0;
}

/* Callers hold the print lock. */
void kit_serial_write(const char *s, size_t n)
{
	while (n) {
		if (!fifo_room) {
			while (!(inb(COM1 + 5) & LSR_THRE))
				cpu_relax();
			fifo_room = FIFO_SIZE;
		}
		outb(COM1, (uint8_t)*s++);
		fifo_room--;
		n--;
	}
}

/* Bounded: a fatal trap taken while the lock is held must still print. */
void kit_print_lock(void)
{
	unsigned long spins = 0;

	while (__atomic_exchange_n(&print_lock, 1, __ATOMIC_ACQUIRE))
		while (print_lock && ++spins < 100000000ul)
			cpu_relax();
}

void kit_print_unlock(void)
{
	__atomic_store_n(&print_lock, 0, __ATOMIC_RELEASE);
}

/* "\n" becomes "\r\n" so that a raw-mode terminal shows lines. */
int kit_printf(const char *fmt, ...)
{
	char buf[512], out[1024];
	va_list ap;
	int n, i, o = 0;

	va_start(ap, fmt);
	n = kit_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	for (i = 0; i < n; i++) {
		if (buf[i] == '\n')
			out[o++] = '\r';
		out[o++] = buf[i];
	}
	kit_print_lock();
	kit_serial_write(out, o);
	kit_print_unlock();
	return n;
}
