/* SPDX-License-Identifier: MIT */
#ifndef KITE_UART_H
#define KITE_UART_H

/*
 * A 16550A UART as Linux's 8250 driver expects it: 16-byte FIFOs with trigger
 * levels, the divisor latch, loopback with the modem-status mapping, the
 * interrupt causes and their priorities, and the IRQ gated by MCR.OUT2 as on
 * a PC.  Transmission is instantaneous: each THR write goes straight to the
 * output fd, so the transmitter is always empty (THRE and TEMT set) and the
 * divisor and line settings have no effect on speed.
 *
 * Input comes from an fd watched by the machine's event loop; when the RX
 * FIFO is full the fd stops being polled and is polled again once the guest
 * has read from the FIFO (back-pressure, nothing is lost).
 *
 * The UART never closes the fds it is given.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <kite/log.h>
#include <kite/term.h>

struct machine;

#define UART_COM1_BASE 0x3f8
#define UART_COM2_BASE 0x2f8
#define UART_COM3_BASE 0x3e8
#define UART_COM4_BASE 0x2e8
#define UART_NR_PORTS  8
#define UART_FIFO_SIZE 16

struct uart_fifo {
	uint8_t buf[UART_FIFO_SIZE];
	unsigned head, count;
};

struct uart {
	struct machine *m;
	pthread_mutex_t lock;
	char name[16];
	uint16_t base;
	unsigned irq;
	int in_fd, out_fd; /* -1: none (no input; output discarded) */

	/* Registers. */
	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	struct uart_fifo rx;
	bool thre_pending;  /* THR-empty interrupt pending (cleared by IIR read or THR write) */
	int irq_level;      /* level last driven on the line */
	struct ratelimit irq_rl;

	/* Input side, guarded by `lock`. */
	bool in_registered; /* in_fd is on the event loop */
	bool in_paused;     /* RX FIFO full: in_fd not polled */
	bool resume_queued; /* a resume call is queued on the loop */
	bool escape_on;     /* the Ctrl-A escape is active */
	struct term_escape escape;
	bool out_broken;    /* output fd failed: later bytes are dropped */

	/* Counters for statistics. */
	uint64_t rx_bytes;   /* bytes accepted from in_fd into the RX FIFO */
	uint64_t tx_bytes;   /* bytes written to out_fd */
	uint64_t tx_dropped; /* bytes that could not be written */
	uint64_t overruns;   /* bytes lost to a full RX FIFO (loopback only) */

	/* uart_set_backend(): called on the loop thread when in_fd reaches its end. */
	void (*on_input_end)(void *opaque);
	void *input_end_opaque;
};

/*
 * Claims [base, base+8) on m->pio and, when in_fd >= 0, watches in_fd on
 * m->loop.  `escape` enables the Ctrl-A escape on input (Ctrl-A x asks the
 * machine to stop with STOP_USER); turn it on for an interactive terminal.
 */
int uart_init(struct uart *u, struct machine *m, uint16_t base, unsigned irq, int in_fd, int out_fd, bool escape);
/* Stops watching in_fd (call it from the loop thread or with the loop stopped) and frees the ports. */
void uart_exit(struct uart *u);
/*
 * Replaces the input and output fds while the VM runs (kite console attaching
 * to a VM run with --serial socket); -1, -1 detaches.  on_input_end(opaque)
 * runs on the loop thread, without the UART's lock, once in_fd reaches end of
 * input (the client left); it typically detaches.  Loop thread only; the
 * UART still never closes the fds.
 */
int uart_set_backend(struct uart *u, int in_fd, int out_fd, void (*on_input_end)(void *opaque), void *opaque);

#endif
