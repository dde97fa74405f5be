// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include <kite/bus.h>
#include <kite/debug_exit.h>
#include <kite/machine.h>

/* No state to guard: the handler only reads fields set before the VM runs. */
static void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct debug_exit *d = opaque;
	uint32_t value = 0;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	/* Any write in the range, of any width, as QEMU; the value is the little-endian bytes written. */
	for (unsigned i = 0; i < len && i < sizeof(value); i++)
		value |= (uint32_t)data[i] << (8 * i);
	d->m->request_stop(d->m, STOP_DEBUG_EXIT, (int)value, NULL);
}

int debug_exit_init(struct debug_exit *d, struct machine *m, uint16_t base, unsigned size)
{
	if (size != 1 && size != 2 && size != 4)
		return -EINVAL;
	d->m = m;
	d->base = base;
	d->size = size;
	return bus_register(m->pio, base, size, debug_exit_io, d, "debug-exit");
}

void debug_exit_exit(struct debug_exit *d)
{
	if (!d->m)
		return;
	bus_unregister(d->m->pio, d->base, d);
	d->m = NULL;
}
