// SPDX-License-Identifier: MIT
/*
 * 16550A UART.  Every register access and every input event takes u->lock;
 * the IRQ line is driven under it (a KVM ioctl that never calls back), but
 * request_stop() is called only after the lock is dropped, since stopping a
 * VM may wait for the vCPU that is blocked on this very lock.
 */
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <kite/bus.h>
#include <kite/event.h>
#include <kite/log.h>
#include <kite/machine.h>
#include <kite/uart.h>
#include <kite/util.h>

/* Register offsets. */
#define UART_RX  0 /* read, DLAB=0 */
#define UART_TX  0 /* write, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI  0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI  0x08
#define IER_MASK 0x0f /* a 16550A keeps only the low nibble */

#define IIR_MSI    0x00
#define IIR_NO_INT 0x01
#define IIR_THRI   0x02
#define IIR_RDI    0x04
#define IIR_RLSI   0x06
#define IIR_CTI    0x0c /* character timeout */
#define IIR_FIFO   0xc0 /* both bits set: FIFOs enabled on a 16550A */

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_DMA      0x08
#define FCR_TRIGGER  0xc0

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR     0x01
#define LSR_OE     0x02
#define LSR_ERRORS 0x1e /* OE, PE, FE, BI */
#define LSR_THRE   0x20
#define LSR_TEMT   0x40

#define MSR_DCTS   0x01
#define MSR_DDSR   0x02
#define MSR_TERI   0x04
#define MSR_DDCD   0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS    0x10
#define MSR_DSR    0x20
#define MSR_RI     0x40
#define MSR_DCD    0x80
/* What a connected peer shows outside loopback (as QEMU's stdio chardev). */
#define MSR_CONNECTED (MSR_CTS | MSR_DSR | MSR_DCD)

/* Milliseconds to wait for a non-blocking output fd to drain before dropping a byte. */
#define UART_OUT_WAIT_MS 1000

static void uart_input_ready(void *opaque, uint32_t events);

static bool uart_fifo_on(const struct uart *u)
{
	return u->fcr & FCR_ENABLE;
}

/* Without FIFOs the receiver holds one byte. */
static unsigned uart_rx_capacity(const struct uart *u)
{
	return uart_fifo_on(u) ? UART_FIFO_SIZE : 1;
}

static unsigned uart_rx_trigger(const struct uart *u)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };

	return uart_fifo_on(u) ? levels[u->fcr >> 6] : 1;
}

static bool fifo_push(struct uart_fifo *f, unsigned capacity, uint8_t byte)
{
	if (f->count >= capacity)
		return false;
	f->buf[(f->head + f->count) % UART_FIFO_SIZE] = byte;
	f->count++;
	return true;
}

static uint8_t fifo_pop(struct uart_fifo *f)
{
	uint8_t byte;

	if (!f->count)
		return 0;
	byte = f->buf[f->head];
	f->head = (f->head + 1) % UART_FIFO_SIZE;
	f->count--;
	return byte;
}

static void fifo_clear(struct uart_fifo *f)
{
	f->head = 0;
	f->count = 0;
}

/* Room for input from the fd; none in loopback, where the receiver is cut off from the line. */
static unsigned uart_rx_space(const struct uart *u)
{
	unsigned cap = uart_rx_capacity(u);

	if (u->mcr & MCR_LOOP)
		return 0;
	return u->rx.count < cap ? cap - u->rx.count : 0;
}

/* The highest-priority pending cause, as IIR bits 3:0. */
static uint8_t uart_iir_cause(const struct uart *u)
{
	if ((u->ier & IER_RLSI) && (u->lsr & LSR_ERRORS))
		return IIR_RLSI;
	if ((u->ier & IER_RDI) && u->rx.count) {
		/*
		 * Below the trigger level a real 16550A reports a character
		 * timeout after four idle character times; input arrives here
		 * in bursts, so the line is idle as soon as the burst is in.
		 */
		if (uart_fifo_on(u) && u->rx.count < uart_rx_trigger(u))
			return IIR_CTI;
		return IIR_RDI;
	}
	if ((u->ier & IER_THRI) && u->thre_pending)
		return IIR_THRI;
	if ((u->ier & IER_MSI) && (u->msr & MSR_DELTAS))
		return IIR_MSI;
	return IIR_NO_INT;
}

static void uart_update_irq(struct uart *u)
{
	/* On a PC the INTR pin reaches the PIC only through OUT2's gate. */
	int level = uart_iir_cause(u) != IIR_NO_INT && (u->mcr & MCR_OUT2);

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	if (u->m->irq_line(u->m, u->irq, level))
		pr_warn_ratelimited(&u->irq_rl, "%s: cannot set IRQ %u to %d", u->name, u->irq, level);
}

/* Modem status as the pins show it: the loopback wiring, or a connected peer. */
static uint8_t uart_msr_lines(const struct uart *u)
{
	uint8_t msr = 0;

	if (!(u->mcr & MCR_LOOP))
		return MSR_CONNECTED;
	if (u->mcr & MCR_RTS)
		msr |= MSR_CTS;
	if (u->mcr & MCR_DTR)
		msr |= MSR_DSR;
	if (u->mcr & MCR_OUT1)
		msr |= MSR_RI;
	if (u->mcr & MCR_OUT2)
		msr |= MSR_DCD;
	return msr;
}

static void uart_update_msr(struct uart *u)
{
	uint8_t old = u->msr, now = uart_msr_lines(u), changed = (old ^ now);
	uint8_t deltas = u->msr & MSR_DELTAS;

	if (changed & MSR_CTS)
		deltas |= MSR_DCTS;
	if (changed & MSR_DSR)
		deltas |= MSR_DDSR;
	if (changed & MSR_DCD)
		deltas |= MSR_DDCD;
	if ((old & MSR_RI) && !(now & MSR_RI)) /* trailing edge only */
		deltas |= MSR_TERI;
	u->msr = now | deltas;
}

/* Waits for a non-blocking fd to take more; false on timeout or error. */
static bool uart_wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int r;

	do
		r = poll(&p, 1, UART_OUT_WAIT_MS);
	while (r < 0 && errno == EINTR);
	return r > 0 && !(p.revents & (POLLERR | POLLNVAL));
}

static void uart_drop(struct uart *u, const char *why)
{
	/* One message, not one per byte: the guest decides how much it prints. */
	if (!u->tx_dropped)
		pr_warn("%s: output lost: %s", u->name, why);
	u->tx_dropped++;
}

/*
 * Writes one transmitted byte now, so that a guest that exits right after
 * printing has all of its output out.  An fd that cannot take it within
 * UART_OUT_WAIT_MS loses the byte rather than stall the vCPU forever; an fd
 * that fails is given up.
 */
static void uart_emit(struct uart *u, uint8_t byte)
{
	u->tx_bytes++;
	if (u->out_fd < 0)
		return;
	if (u->out_broken) {
		u->tx_dropped++;
		return;
	}
	for (;;) {
		ssize_t n = write(u->out_fd, &byte, 1);

		if (n == 1)
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (uart_wait_writable(u->out_fd))
				continue;
			uart_drop(u, "output fd not writable");
			return;
		}
		pr_err("%s: writing output: %s; further output is discarded", u->name,
		       n < 0 ? strerror(errno) : "nothing written");
		u->out_broken = true;
		u->tx_dropped++;
		return;
	}
}

static void uart_resume_input(void *opaque);

/*
 * The guest made room in the RX FIFO: have the loop thread poll the input
 * again.  Only the loop thread touches the loop's sources, hence the call.
 */
static void uart_kick_input(struct uart *u)
{
	if (!u->in_paused || u->resume_queued || !uart_rx_space(u))
		return;
	if (event_loop_call(u->m->loop, uart_resume_input, u) == 0)
		u->resume_queued = true;
}

/* Loop thread. */
static void uart_pause_input(struct uart *u)
{
	/*
	 * Removed rather than set to no events: epoll reports a hang-up even
	 * then, and a closed pipe with data still unread would spin the loop.
	 */
	event_loop_del(u->m->loop, u->in_fd);
	u->in_paused = true;
}

/* Loop thread. */
static void uart_resume_input(void *opaque)
{
	struct uart *u = opaque;
	int r;

	pthread_mutex_lock(&u->lock);
	u->resume_queued = false;
	if (u->in_registered && u->in_paused && uart_rx_space(u)) {
		r = event_loop_add(u->m->loop, u->in_fd, EPOLLIN, uart_input_ready, u);
		if (r)
			pr_err("%s: cannot watch input again: %s", u->name, strerror(-r));
		else
			u->in_paused = false;
	}
	pthread_mutex_unlock(&u->lock);
}

/* Loop thread: bytes from the input fd go into the RX FIFO, as many as fit. */
static void uart_input_ready(void *opaque, uint32_t events)
{
	struct uart *u = opaque;
	uint8_t buf[UART_FIFO_SIZE];
	unsigned space;
	bool quit = false, ended = false;
	ssize_t n;

	pthread_mutex_lock(&u->lock);
	space = uart_rx_space(u);
	if (!space) {
		uart_pause_input(u);
		goto out;
	}
	do
		n = read(u->in_fd, buf, space);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		goto out;
	if (n <= 0) {
		/* End of input (or a broken fd): the guest just sees no more bytes. */
		if (n < 0)
			pr_warn("%s: reading input: %s", u->name, strerror(errno));
		event_loop_del(u->m->loop, u->in_fd);
		u->in_registered = false;
		ended = true;
		goto out;
	}
	if (u->escape_on)
		n = term_escape_filter(&u->escape, buf, n, &quit);
	for (ssize_t i = 0; i < n; i++)
		fifo_push(&u->rx, uart_rx_capacity(u), buf[i]);
	u->rx_bytes += n;
	uart_update_irq(u);
	if (!uart_rx_space(u))
		uart_pause_input(u);
out:
	pthread_mutex_unlock(&u->lock);
	if (quit)
		u->m->request_stop(u->m, STOP_USER, 0, "ctrl-a x");
	if (ended && u->on_input_end)
		u->on_input_end(u->input_end_opaque);
}

static void uart_transmit(struct uart *u, uint8_t byte)
{
	if (u->mcr & MCR_LOOP) {
		/* A full FIFO keeps its bytes and the new one is lost (16550A overrun). */
		if (!fifo_push(&u->rx, uart_rx_capacity(u), byte)) {
			u->lsr |= LSR_OE;
			u->overruns++;
		}
	} else {
		uart_emit(u, byte);
	}
	/* Transmission is instantaneous: the THR is empty again at once. */
	u->thre_pending = true;
}

static void uart_write_fcr(struct uart *u, uint8_t val)
{
	/* Without the enable bit the other bits do not take (and the FIFOs go off). */
	uint8_t fcr = (val & FCR_ENABLE) ? (val & (FCR_ENABLE | FCR_DMA | FCR_TRIGGER)) : 0;

	if ((fcr ^ u->fcr) & FCR_ENABLE)
		val |= FCR_CLEAR_RX | FCR_CLEAR_TX;
	u->fcr = fcr;
	if (val & FCR_CLEAR_RX)
		fifo_clear(&u->rx);
	if (val & FCR_CLEAR_TX)
		u->thre_pending = true;
}

static void uart_write(struct uart *u, unsigned reg, uint8_t val)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case UART_TX:
		if (dlab) {
			u->dll = val;
			break;
		}
		u->thre_pending = false;
		uart_transmit(u, val);
		break;
	case UART_IER:
		if (dlab) {
			u->dlm = val;
			break;
		}
		/* Enabling the THRE interrupt while THR is empty raises it at once (Linux relies on it). */
		if (!(u->ier & IER_THRI) && (val & IER_THRI))
			u->thre_pending = true;
		u->ier = val & IER_MASK;
		break;
	case UART_FCR:
		uart_write_fcr(u, val);
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		u->mcr = val & MCR_MASK;
		uart_update_msr(u);
		break;
	case UART_SCR:
		u->scr = val;
		break;
	default: /* LSR and MSR are read-only here */
		break;
	}
}

static uint8_t uart_read(struct uart *u, unsigned reg)
{
	bool dlab = u->lcr & LCR_DLAB;
	uint8_t val;

	switch (reg) {
	case UART_RX:
		if (dlab)
			return u->dll;
		return fifo_pop(&u->rx);
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR:
		val = uart_iir_cause(u);
		/* Reading IIR acknowledges a THRE interrupt when it is the one shown. */
		if (val == IIR_THRI)
			u->thre_pending = false;
		return val | (uart_fifo_on(u) ? IIR_FIFO : 0);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		val = (u->lsr & LSR_ERRORS) | LSR_THRE | LSR_TEMT | (u->rx.count ? LSR_DR : 0);
		u->lsr &= ~LSR_ERRORS; /* errors clear on read */
		return val;
	case UART_MSR:
		val = u->msr;
		u->msr &= ~MSR_DELTAS;
		return val;
	case UART_SCR:
		return u->scr;
	}
	return 0xff;
}

static void uart_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct uart *u = opaque;

	/* Byte registers: a wider access touches the first one, the rest reads as ones. */
	pthread_mutex_lock(&u->lock);
	if (is_write) {
		uart_write(u, offset, data[0]);
	} else {
		memset(data, 0xff, len);
		data[0] = uart_read(u, offset);
	}
	uart_update_irq(u);
	uart_kick_input(u);
	pthread_mutex_unlock(&u->lock);
}

static void uart_reset(struct uart *u)
{
	u->ier = 0;
	u->lcr = 0x03; /* 8N1, as firmware leaves it */
	u->mcr = 0;
	u->lsr = 0;
	u->msr = MSR_CONNECTED;
	u->scr = 0;
	u->dll = 0x0c; /* 9600 baud */
	u->dlm = 0;
	u->fcr = 0;
	fifo_clear(&u->rx);
	u->thre_pending = false;
	u->irq_level = 0;
}

int uart_init(struct uart *u, struct machine *m, uint16_t base, unsigned irq, int in_fd, int out_fd, bool escape)
{
	int r;

	memset(u, 0, sizeof(*u));
	u->m = m;
	u->base = base;
	u->irq = irq;
	u->in_fd = in_fd;
	u->out_fd = out_fd;
	u->escape_on = escape;
	snprintf(u->name, sizeof(u->name), "uart@0x%x", base);
	uart_reset(u);
	r = -pthread_mutex_init(&u->lock, NULL);
	if (r)
		return r;
	r = bus_register(m->pio, base, UART_NR_PORTS, uart_io, u, u->name);
	if (r)
		goto err_lock;
	if (in_fd >= 0) {
		r = event_loop_add(m->loop, in_fd, EPOLLIN, uart_input_ready, u);
		if (r == -EPERM) {
			/* /dev/null or a regular file (stdin of a batch job): nothing to wait for. */
			pr_debug("%s: input fd %d cannot be polled; no input", u->name, in_fd);
			r = 0;
		} else if (r) {
			pr_err("%s: cannot watch input fd %d: %s", u->name, in_fd, strerror(-r));
			goto err_bus;
		} else {
			u->in_registered = true;
		}
	}
	return 0;
err_bus:
	bus_unregister(m->pio, base, u);
err_lock:
	pthread_mutex_destroy(&u->lock);
	return r;
}

int uart_set_backend(struct uart *u, int in_fd, int out_fd, void (*on_input_end)(void *opaque), void *opaque)
{
	int r = 0;

	/* Under the lock: once this returns, no vCPU writes to the old out_fd. */
	pthread_mutex_lock(&u->lock);
	if (u->in_registered && !u->in_paused)
		event_loop_del(u->m->loop, u->in_fd);
	u->in_registered = false;
	u->in_paused = false;
	u->in_fd = in_fd;
	u->out_fd = out_fd;
	u->out_broken = false;
	u->on_input_end = on_input_end;
	u->input_end_opaque = opaque;
	if (in_fd >= 0) {
		r = event_loop_add(u->m->loop, in_fd, EPOLLIN, uart_input_ready, u);
		if (r)
			pr_err("%s: cannot watch input fd %d: %s", u->name, in_fd, strerror(-r));
		else
			u->in_registered = true;
	}
	pthread_mutex_unlock(&u->lock);
	return r;
}

void uart_exit(struct uart *u)
{
	if (!u->m)
		return;
	if (u->in_registered && !u->in_paused)
		event_loop_del(u->m->loop, u->in_fd);
	bus_unregister(u->m->pio, u->base, u);
	pthread_mutex_destroy(&u->lock);
	u->m = NULL;
}
