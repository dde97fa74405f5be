/* SPDX-License-Identifier: MIT */
#ifndef KITE_ACPI_PM_H
#define KITE_ACPI_PM_H

/*
 * The power registers a hardware-reduced FADT names (layout in kite/acpi.h):
 * SLEEP_CONTROL_REG, SLEEP_STATUS_REG and RESET_REG, each one byte in port
 * I/O.  Writing SLP_EN with SLP_TYP = ACPI_S5_SLP_TYP powers the VM off;
 * writing ACPI_RESET_VALUE to RESET_REG resets it.  Other sleep states are
 * not offered (the DSDT has only \_S5); asking for one is logged and ignored.
 */

#include <stdint.h>

#include <kite/acpi.h>
#include <kite/log.h>

struct machine;

struct acpi_pm {
	struct machine *m;
	uint16_t base;
	uint8_t sleep_status; /* WAK_STS; accessed atomically (any vCPU) */
	struct ratelimit rl;
};

/* Claims [base, base + ACPI_PM_NR_PORTS) on m->pio. */
int acpi_pm_init(struct acpi_pm *pm, struct machine *m, uint16_t base);
void acpi_pm_exit(struct acpi_pm *pm);

#endif
