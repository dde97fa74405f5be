// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include <kite/bus.h>
#include <kite/i8042.h>
#include <kite/log.h>
#include <kite/machine.h>
#include <kite/x86_layout.h>

#define I8042_IRQ_AUX 12

/* Status register. */
#define STS_OBF      0x01 /* output buffer full */
#define STS_SYS      0x04 /* system flag: self-test passed */
#define STS_CMD      0x08 /* last write went to the command port */
#define STS_UNLOCKED 0x10 /* keyboard not inhibited */
#define STS_AUX_OBF  0x20 /* the byte waiting came from the aux port */

/* Controller command byte (CTR). */
#define CTR_KBD_INT  0x01
#define CTR_AUX_INT  0x02
#define CTR_SYS      0x04
#define CTR_KBD_OFF  0x10
#define CTR_AUX_OFF  0x20
#define CTR_XLATE    0x40

/* Output port. */
#define OUT_RESET    0x01 /* active low: clearing it resets the CPU */
#define OUT_A20      0x02
#define OUT_KBD_OBF  0x10
#define OUT_AUX_OBF  0x20

/* Controller commands. */
#define CMD_READ_CTR     0x20
#define CMD_WRITE_CTR    0x60
#define CMD_AUX_DISABLE  0xa7
#define CMD_AUX_ENABLE   0xa8
#define CMD_AUX_TEST     0xa9
#define CMD_SELF_TEST    0xaa
#define CMD_KBD_TEST     0xab
#define CMD_KBD_DISABLE  0xad
#define CMD_KBD_ENABLE   0xae
#define CMD_READ_INPUT   0xc0
#define CMD_READ_OUTPORT 0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_WRITE_KBD_OBUF 0xd2
#define CMD_WRITE_AUX_OBUF 0xd3
#define CMD_WRITE_AUX    0xd4
#define CMD_A20_OFF      0xdd
#define CMD_A20_ON       0xdf
#define CMD_PULSE_FIRST  0xf0 /* 0xf0-0xff pulse output lines low for each clear bit 0-3 */

/* Keyboard commands and replies (a PS/2 keyboard, scan code set 2 translated to set 1). */
#define KBD_SET_LEDS    0xed
#define KBD_ECHO        0xee
#define KBD_SCANSET     0xf0
#define KBD_IDENTIFY    0xf2
#define KBD_TYPEMATIC   0xf3
#define KBD_ENABLE      0xf4
#define KBD_DISABLE     0xf5
#define KBD_DEFAULTS    0xf6
#define KBD_RESEND      0xfe
#define KBD_RESET       0xff
#define KBD_ACK         0xfa
#define KBD_BAT_OK      0xaa

#define SELF_TEST_OK 0x55
#define PORT_TEST_OK 0x00

static void i8042_update_irq(struct i8042 *k)
{
	bool aux = k->count && k->aux[k->head];
	int kbd_level = k->count && !aux && (k->ctr & CTR_KBD_INT);
	int aux_level = k->count && aux && (k->ctr & CTR_AUX_INT);

	if (kbd_level != k->irq_kbd) {
		k->irq_kbd = kbd_level;
		k->m->irq_line(k->m, X86_IRQ_KBD, kbd_level);
	}
	if (aux_level != k->irq_aux) {
		k->irq_aux = aux_level;
		k->m->irq_line(k->m, I8042_IRQ_AUX, aux_level);
	}
}

static void i8042_queue(struct i8042 *k, uint8_t byte, bool aux)
{
	unsigned i;

	if (k->count == I8042_QUEUE)
		return; /* a guest that never reads loses the newest replies */
	i = (k->head + k->count) % I8042_QUEUE;
	k->queue[i] = byte;
	k->aux[i] = aux;
	k->count++;
}

static uint8_t i8042_status(const struct i8042 *k)
{
	uint8_t s = k->status & (STS_SYS | STS_CMD);

	s |= STS_UNLOCKED;
	if (k->count)
		s |= STS_OBF | (k->aux[k->head] ? STS_AUX_OBF : 0);
	return s;
}

static uint8_t i8042_outport(const struct i8042 *k)
{
	uint8_t p = k->outport & ~(OUT_KBD_OBF | OUT_AUX_OBF);

	if (k->count)
		p |= k->aux[k->head] ? OUT_AUX_OBF : OUT_KBD_OBF;
	return p;
}

/* Returns true when the guest pulled the reset line. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case CMD_READ_CTR:
		i8042_queue(k, k->ctr, false);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OBUF:
	case CMD_WRITE_AUX_OBUF:
	case CMD_WRITE_AUX:
		k->pending = cmd;
		break;
	case CMD_AUX_DISABLE:
		k->ctr |= CTR_AUX_OFF;
		break;
	case CMD_AUX_ENABLE:
		k->ctr &= ~CTR_AUX_OFF;
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		i8042_queue(k, PORT_TEST_OK, false);
		break;
	case CMD_SELF_TEST:
		k->status |= STS_SYS;
		i8042_queue(k, SELF_TEST_OK, false);
		break;
	case CMD_KBD_DISABLE:
		k->ctr |= CTR_KBD_OFF;
		break;
	case CMD_KBD_ENABLE:
		k->ctr &= ~CTR_KBD_OFF;
		break;
	case CMD_READ_INPUT:
		i8042_queue(k, 0x80, false); /* bit 7: keyboard not inhibited */
		break;
	case CMD_READ_OUTPORT:
		i8042_queue(k, i8042_outport(k), false);
		break;
	case CMD_A20_OFF:
		k->outport &= ~OUT_A20;
		break;
	case CMD_A20_ON:
		k->outport |= OUT_A20;
		break;
	default:
		if (cmd >= CMD_PULSE_FIRST)
			return !(cmd & OUT_RESET);
		pr_debug("i8042: command 0x%02x ignored", cmd);
		break;
	}
	return false;
}

/*
 * A byte for the keyboard.  Linux's atkbd binds only to a keyboard that
 * answers reset and identify, and only a bound keyboard turns Ctrl-Alt-Del
 * into a reboot request (SendCtrlAltDel on the control socket).
 */
static void i8042_keyboard(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->kbd_pending;

	k->kbd_pending = 0;
	if (cmd == KBD_SCANSET && val == 0) {
		i8042_queue(k, KBD_ACK, false);
		i8042_queue(k, (k->ctr & CTR_XLATE) ? 0x41 : 0x02, false); /* set 2, as translated */
		return;
	}
	if (cmd) {
		i8042_queue(k, KBD_ACK, false); /* the data byte of LEDs, scan set or typematic */
		return;
	}
	switch (val) {
	case KBD_SET_LEDS:
	case KBD_SCANSET:
	case KBD_TYPEMATIC:
		k->kbd_pending = val;
		i8042_queue(k, KBD_ACK, false);
		break;
	case KBD_ECHO:
		i8042_queue(k, KBD_ECHO, false);
		break;
	case KBD_IDENTIFY:
		i8042_queue(k, KBD_ACK, false);
		i8042_queue(k, 0xab, false);
		i8042_queue(k, (k->ctr & CTR_XLATE) ? 0x41 : 0x83, false);
		break;
	case KBD_ENABLE:
		k->kbd_scanning = true;
		i8042_queue(k, KBD_ACK, false);
		break;
	case KBD_DISABLE:
	case KBD_DEFAULTS:
		k->kbd_scanning = val == KBD_DEFAULTS;
		i8042_queue(k, KBD_ACK, false);
		break;
	case KBD_RESET:
		k->kbd_scanning = true;
		i8042_queue(k, KBD_ACK, false);
		i8042_queue(k, KBD_BAT_OK, false);
		break;
	default:
		i8042_queue(k, KBD_RESEND, false);
		break;
	}
}

/* A byte written to the data port; returns true when it pulled the reset line. */
static bool i8042_data(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		k->ctr = val;
		k->status = (k->status & ~STS_SYS) | (val & CTR_SYS);
		break;
	case CMD_WRITE_OUTPORT:
		k->outport = val;
		return !(val & OUT_RESET);
	case CMD_WRITE_KBD_OBUF:
		i8042_queue(k, val, false);
		break;
	case CMD_WRITE_AUX_OBUF:
		i8042_queue(k, val, true);
		break;
	case CMD_WRITE_AUX:
		/* No mouse: the byte is lost and Linux's probe times out quietly. */
		break;
	default:
		i8042_keyboard(k, val);
		break;
	}
	return false;
}

static void i8042_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write, bool cmd_port)
{
	struct i8042 *k = opaque;
	bool reset = false;

	memset(data + 1, 0xff, is_write ? 0 : len - 1);
	pthread_mutex_lock(&k->lock);
	if (is_write && cmd_port) {
		k->status |= STS_CMD;
		k->pending = 0;
		reset = i8042_command(k, data[0]);
	} else if (is_write) {
		k->status &= ~STS_CMD;
		reset = i8042_data(k, data[0]);
	} else if (cmd_port) {
		data[0] = i8042_status(k);
	} else if (k->count) {
		data[0] = k->queue[k->head];
		k->head = (k->head + 1) % I8042_QUEUE;
		k->count--;
	} else {
		data[0] = 0; /* nothing waiting: the last byte on a real one; 0 will do */
	}
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
	/* Outside the lock: stopping may wait for vCPUs that wait for it. */
	if (reset)
		k->m->request_stop(k->m, STOP_RESET, 0, "i8042 reset");
}

static void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	i8042_io(opaque, offset, data, len, is_write, false);
}

static void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	i8042_io(opaque, offset, data, len, is_write, true);
}

int i8042_init(struct i8042 *k, struct machine *m)
{
	int r;

	memset(k, 0, sizeof(*k));
	k->m = m;
	/* As firmware leaves it: self-test passed, translation on, interrupts on, A20 on. */
	k->status = STS_SYS;
	k->ctr = CTR_KBD_INT | CTR_AUX_INT | CTR_SYS | CTR_XLATE;
	k->outport = OUT_RESET | OUT_A20;
	k->kbd_scanning = true;
	r = -pthread_mutex_init(&k->lock, NULL);
	if (r)
		return r;
	r = bus_register(m->pio, I8042_DATA_PORT, 1, i8042_data_io, k, "i8042-data");
	if (r)
		goto err_lock;
	r = bus_register(m->pio, I8042_COMMAND_PORT, 1, i8042_cmd_io, k, "i8042-cmd");
	if (r)
		goto err_data;
	return 0;
err_data:
	bus_unregister(m->pio, I8042_DATA_PORT, k);
err_lock:
	pthread_mutex_destroy(&k->lock);
	return r;
}

int i8042_send_ctrl_alt_del(struct i8042 *k)
{
	/* Ctrl, Alt, Del (extended) made, then broken in reverse order. */
	static const uint8_t seq[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	int r = 0;

	pthread_mutex_lock(&k->lock);
	if ((k->ctr & CTR_KBD_OFF) || I8042_QUEUE - k->count < sizeof(seq)) {
		r = -EAGAIN;
	} else {
		for (unsigned i = 0; i < sizeof(seq); i++)
			i8042_queue(k, seq[i], false);
		i8042_update_irq(k);
	}
	pthread_mutex_unlock(&k->lock);
	return r;
}

void i8042_exit(struct i8042 *k)
{
	if (!k->m)
		return;
	bus_unregister(k->m->pio, I8042_COMMAND_PORT, k);
	bus_unregister(k->m->pio, I8042_DATA_PORT, k);
	pthread_mutex_destroy(&k->lock);
	k->m = NULL;
}
