/* SPDX-License-Identifier: MIT */
#ifndef KITE_I8042_H
#define KITE_I8042_H

/*
 * The 8042 keyboard controller at ports 0x60 (data) and 0x64 (status and
 * command), without a keyboard or mouse behind it: enough for Linux's probe
 * (self-test, command byte, port tests) and for the reset line (command 0xFE,
 * or an output-port write with bit 0 clear), which stops the VM with
 * STOP_RESET.
 *
 * Port 0x61 (system control port B: PIT channel 2 gate and OUT2, speaker) is
 * not here: KVM's in-kernel PIT serves it when the VM creates the PIT with
 * KVM_PIT_SPEAKER_DUMMY.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct machine;

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_QUEUE        16

struct i8042 {
	struct machine *m;
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t ctr;      /* controller command byte */
	uint8_t outport;  /* output port (bit 0 = reset line, active low; bit 1 = A20) */
	uint8_t pending;  /* command waiting for its data byte, 0 if none */
	uint8_t kbd_pending; /* keyboard command waiting for its data byte, 0 if none */
	bool kbd_scanning;   /* keyboard enabled (0xf4) */
	/* Output buffer queue; aux[i] tells whether byte i came from the aux port. */
	uint8_t queue[I8042_QUEUE];
	bool aux[I8042_QUEUE];
	unsigned head, count;
	int irq_kbd, irq_aux; /* levels last driven */
};

int i8042_init(struct i8042 *k, struct machine *m);
void i8042_exit(struct i8042 *k);
/*
 * Queues the scancodes of Ctrl-Alt-Del pressed and released (set 1, as the
 * controller's translation delivers them) and raises IRQ1, as a keyboard
 * would: the guest's keyboard driver decides what that means (Linux: reboot,
 * or systemd's ctrl-alt-del.target).  -EAGAIN when the guest disabled the
 * keyboard interface or the queue has no room.
 */
int i8042_send_ctrl_alt_del(struct i8042 *k);

#endif
