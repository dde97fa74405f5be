/* SPDX-License-Identifier: MIT */
#ifndef KITE_TERM_H
#define KITE_TERM_H

/*
 * The controlling terminal as a serial console.  When stdin is a tty it goes
 * into raw mode (no echo, no line editing, ^C reaches the guest instead of
 * killing kite) and comes back on every way out: term_restore(), atexit, and
 * the fatal signals SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL (restored, then the signal is re-raised so the
 * process still dies of it).
 *
 * Since ^C no longer interrupts kite, the user quits with the escape
 * Ctrl-A x (as in QEMU).  Ctrl-A Ctrl-A sends one Ctrl-A to the guest; Ctrl-A
 * followed by any other key is dropped, both bytes.
 *
 * The saved terminal state is process-wide, unlike everything else in kite: a
 * terminal belongs to the process, not to a VM, and a signal handler can only
 * reach static storage.  Two VMs in one process share one terminal and the
 * first one to enable raw mode owns the saved state.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TERM_ESCAPE_CHAR 0x01 /* Ctrl-A */

/*
 * Puts `fd` in raw mode if it is a terminal; 0 and nothing done otherwise.
 * Output post-processing stays on (\n becomes \r\n on a tty), as in QEMU.
 * Calling it again while raw is a no-op.
 */
int term_raw_enable(int fd);
/* Restores the saved terminal state; safe to call any number of times. */
void term_restore(void);
bool term_is_raw(void);

/* State of the Ctrl-A escape across reads (one per console input). */
struct term_escape {
	bool armed; /* the last byte seen was Ctrl-A */
};

/*
 * Filters `n` input bytes in place and returns how many remain.  Sets *quit
 * when Ctrl-A x (or X) was typed; the bytes after it are dropped.
 */
size_t term_escape_filter(struct term_escape *e, uint8_t *buf, size_t n, bool *quit);

#endif
