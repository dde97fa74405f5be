/* SPDX-License-Identifier: MIT */
#ifndef KITE_VIRTIO_CONSOLE_H
#define KITE_VIRTIO_CONSOLE_H

/*
 * virtio-console, port 0 only (Linux's hvc0): queue 0 carries input to the
 * guest, queue 1 its output.  Backends: stdio (raw terminal, Ctrl-A x
 * quits), a file (output only, appended), or a new pty whose path is
 * printed.  All work happens on the event loop thread; output to a full pty
 * is dropped rather than waited for.
 */

struct pci_bus;
struct machine;
struct console_config;
struct virtio_dev;
struct virtio_console;

int virtio_console_create(struct pci_bus *pci, struct machine *m, const struct console_config *cfg,
			  struct virtio_console **out);
/* The event loop must be stopped. */
void virtio_console_destroy(struct virtio_console *c);
void virtio_console_quiesce(struct virtio_console *c);
void virtio_console_resume(struct virtio_console *c);
/* "/dev/pts/N" for a pty backend, else NULL. */
const char *virtio_console_pty(struct virtio_console *c);
struct virtio_dev *virtio_console_dev(struct virtio_console *c);

#endif
