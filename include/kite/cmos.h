/* SPDX-License-Identifier: MIT */
#ifndef KITE_CMOS_H
#define KITE_CMOS_H

/*
 * MC146818 RTC and CMOS RAM at ports 0x70 (index, bit 7 = NMI disable) and
 * 0x71 (data).  The clock is the host's wall clock read at every access,
 * shifted by whatever the guest set; the memory-size bytes are the ones
 * QEMU's PC firmware interface sets.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct machine;

#define CMOS_PORT 0x70
#define CMOS_SIZE 128

struct cmos {
	struct machine *m;
	pthread_mutex_t lock;
	uint8_t index;
	bool nmi_disabled;
	uint8_t ram[CMOS_SIZE];
	int64_t offset; /* guest RTC time minus host time, seconds */
};

/* `below_4g` and `above_4g` are the RAM bytes under and over the 32-bit hole. */
int cmos_init(struct cmos *c, struct machine *m, uint64_t below_4g, uint64_t above_4g);
void cmos_exit(struct cmos *c);

#endif
