// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include <kite/acpi_pm.h>
#include <kite/bus.h>
#include <kite/machine.h>

static void acpi_pm_sleep(struct acpi_pm *pm, uint8_t v)
{
	unsigned typ = (v & ACPI_SLP_TYP_MASK) >> ACPI_SLP_TYP_SHIFT;

	if (!(v & ACPI_SLP_EN))
		return;
	if (typ == ACPI_S5_SLP_TYP) {
		pm->m->request_stop(pm->m, STOP_POWEROFF, 0, "ACPI poweroff");
		return;
	}
	pr_warn_ratelimited(&pm->rl, "ACPI: guest asked for sleep type %u, which kite does not offer; ignored",
			    typ);
}

static void acpi_pm_write(struct acpi_pm *pm, unsigned reg, uint8_t v)
{
	switch (reg) {
	case ACPI_PM_SLEEP_CONTROL:
		acpi_pm_sleep(pm, v);
		break;
	case ACPI_PM_SLEEP_STATUS:
		/* Write 1 to clear. */
		__atomic_and_fetch(&pm->sleep_status, (uint8_t)~(v & ACPI_WAK_STS), __ATOMIC_RELAXED);
		break;
	case ACPI_PM_RESET:
		if (v == ACPI_RESET_VALUE)
			pm->m->request_stop(pm->m, STOP_RESET, 0, "ACPI reset");
		break;
	default:
		break;
	}
}

static uint8_t acpi_pm_read(struct acpi_pm *pm, unsigned reg)
{
	if (reg == ACPI_PM_SLEEP_STATUS)
		return __atomic_load_n(&pm->sleep_status, __ATOMIC_RELAXED);
	return 0;
}

/* The registers are bytes; a wider access touches consecutive registers. */
static void acpi_pm_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct acpi_pm *pm = opaque;

	for (unsigned i = 0; i < len; i++) {
		unsigned reg = offset + i;

		if (is_write)
			acpi_pm_write(pm, reg, data[i]);
		else
			data[i] = acpi_pm_read(pm, reg);
	}
}

int acpi_pm_init(struct acpi_pm *pm, struct machine *m, uint16_t base)
{
	memset(pm, 0, sizeof(*pm));
	if (base > 0x10000 - ACPI_PM_NR_PORTS)
		return -EINVAL;
	pm->m = m;
	pm->base = base;
	return bus_register(m->pio, base, ACPI_PM_NR_PORTS, acpi_pm_io, pm, "acpi-pm");
}

void acpi_pm_exit(struct acpi_pm *pm)
{
	if (!pm->m)
		return;
	bus_unregister(pm->m->pio, pm->base, pm);
	pm->m = NULL;
}
