// SPDX-License-Identifier: MIT
/*
 * MC146818 RTC + CMOS RAM.  The time registers are computed from the host's
 * wall clock at every read; a guest that sets the clock (Linux does, when NTP
 * keeps it synchronised) shifts an offset instead of stopping the host's.
 *
 * No periodic, alarm or update-ended interrupts: register B's interrupt
 * enables are stored and read back, register C never reports a flag, and
 * IRQ 8 is never raised.  Linux keeps time with the LAPIC timer, kvmclock
 * or the TSC, and reads the RTC only at boot and resume.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <kite/bus.h>
#include <kite/cmos.h>
#include <kite/machine.h>
#include <kite/util.h>

#define CMOS_NMI_DISABLE 0x80
#define CMOS_INDEX_MASK  0x7f

/* Clock registers. */
#define RTC_SECONDS   0x00
#define RTC_MINUTES   0x02
#define RTC_HOURS     0x04
#define RTC_WEEKDAY   0x06
#define RTC_DAY       0x07
#define RTC_MONTH     0x08
#define RTC_YEAR      0x09
#define RTC_REG_A     0x0a
#define RTC_REG_B     0x0b
#define RTC_REG_C     0x0c
#define RTC_REG_D     0x0d
#define RTC_CENTURY   0x32

#define REG_A_UIP     0x80
#define REG_A_DEFAULT 0x26 /* 32.768 kHz time base, 1024 Hz rate */
#define REG_B_SET     0x80 /* updates halted while the guest sets the clock */
#define REG_B_BINARY  0x04
#define REG_B_24H     0x02
#define REG_D_VRT     0x80 /* valid RAM and time: the battery is fine */
#define HOUR_PM       0x80

/* Memory-size bytes, as QEMU's PC sets them. */
#define CMOS_BASE_MEM_LO 0x15
#define CMOS_BASE_MEM_HI 0x16
#define CMOS_EXT_MEM_LO  0x17
#define CMOS_EXT_MEM_HI  0x18
#define CMOS_EXT_MEM2_LO 0x30
#define CMOS_EXT_MEM2_HI 0x31
#define CMOS_MEM_16M_LO  0x34
#define CMOS_MEM_16M_HI  0x35
#define CMOS_MEM_4G_LO   0x5b /* three bytes */

/*
 * The update cycle lasts 244 us at the end of each second and UIP is set
 * during it, so a guest waiting for UIP to clear (or to rise then fall, as
 * old kernels do) sees a real clock's pattern and never waits long.
 */
#define UIP_WINDOW_NS 244000

static uint8_t to_bcd(unsigned v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

static bool cmos_binary(const struct cmos *c)
{
	return c->ram[RTC_REG_B] & REG_B_BINARY;
}

static uint8_t cmos_encode(const struct cmos *c, unsigned v)
{
	return cmos_binary(c) ? (uint8_t)v : to_bcd(v);
}

static unsigned cmos_decode(const struct cmos *c, uint8_t v)
{
	return cmos_binary(c) ? v : from_bcd(v);
}

static uint8_t cmos_encode_hour(const struct cmos *c, unsigned hour)
{
	unsigned h12;

	if (c->ram[RTC_REG_B] & REG_B_24H)
		return cmos_encode(c, hour);
	h12 = hour % 12 ? hour % 12 : 12;
	return cmos_encode(c, h12) | (hour >= 12 ? HOUR_PM : 0);
}

static unsigned cmos_decode_hour(const struct cmos *c, uint8_t v)
{
	unsigned h;

	if (c->ram[RTC_REG_B] & REG_B_24H)
		return cmos_decode(c, v);
	h = cmos_decode(c, v & ~HOUR_PM) % 12;
	return (v & HOUR_PM) ? h + 12 : h;
}

static void cmos_now(const struct cmos *c, struct tm *tm, long *nsec)
{
	struct timespec ts;
	time_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec + c->offset;
	gmtime_r(&t, tm);
	*nsec = ts.tv_nsec;
}

static uint8_t cmos_read_clock(const struct cmos *c, unsigned reg)
{
	struct tm tm;
	long nsec;

	cmos_now(c, &tm, &nsec);
	switch (reg) {
	case RTC_SECONDS:
		return cmos_encode(c, tm.tm_sec);
	case RTC_MINUTES:
		return cmos_encode(c, tm.tm_min);
	case RTC_HOURS:
		return cmos_encode_hour(c, tm.tm_hour);
	case RTC_WEEKDAY:
		return cmos_encode(c, tm.tm_wday + 1); /* 1 = Sunday */
	case RTC_DAY:
		return cmos_encode(c, tm.tm_mday);
	case RTC_MONTH:
		return cmos_encode(c, tm.tm_mon + 1);
	case RTC_YEAR:
		return cmos_encode(c, (tm.tm_year + 1900) % 100);
	case RTC_CENTURY:
		return cmos_encode(c, (tm.tm_year + 1900) / 100);
	case RTC_REG_A:
		if (!(c->ram[RTC_REG_B] & REG_B_SET) && nsec >= 1000000000L - UIP_WINDOW_NS)
			return c->ram[RTC_REG_A] | REG_A_UIP;
		return c->ram[RTC_REG_A] & ~REG_A_UIP;
	}
	return c->ram[reg];
}

/* The guest sets one field of the clock: the other fields keep running. */
static void cmos_write_clock(struct cmos *c, unsigned reg, uint8_t val)
{
	struct tm tm;
	long nsec;
	time_t t;

	cmos_now(c, &tm, &nsec);
	switch (reg) {
	case RTC_SECONDS:
		tm.tm_sec = MIN(cmos_decode(c, val), 59u);
		break;
	case RTC_MINUTES:
		tm.tm_min = MIN(cmos_decode(c, val), 59u);
		break;
	case RTC_HOURS:
		tm.tm_hour = MIN(cmos_decode_hour(c, val), 23u);
		break;
	case RTC_DAY:
		tm.tm_mday = MAX(MIN(cmos_decode(c, val), 31u), 1u);
		break;
	case RTC_MONTH:
		tm.tm_mon = MAX(MIN(cmos_decode(c, val), 12u), 1u) - 1;
		break;
	case RTC_YEAR:
		tm.tm_year = (tm.tm_year + 1900) / 100 * 100 + MIN(cmos_decode(c, val), 99u) - 1900;
		break;
	case RTC_CENTURY:
		tm.tm_year = MIN(cmos_decode(c, val), 99u) * 100 + (tm.tm_year + 1900) % 100 - 1900;
		break;
	default: /* the weekday follows from the date */
		return;
	}
	t = timegm(&tm);
	if (t != (time_t)-1)
		c->offset = (int64_t)t - (int64_t)time(NULL);
}

static bool cmos_is_clock(unsigned reg)
{
	return reg <= RTC_YEAR && reg != 1 && reg != 3 && reg != 5; /* 1, 3, 5 are the alarm */
}

static uint8_t cmos_read(struct cmos *c, unsigned reg)
{
	if (cmos_is_clock(reg) || reg == RTC_CENTURY || reg == RTC_REG_A)
		return cmos_read_clock(c, reg);
	if (reg == RTC_REG_C) {
		uint8_t v = c->ram[RTC_REG_C];

		c->ram[RTC_REG_C] = 0; /* flags clear on read */
		return v;
	}
	return c->ram[reg];
}

static void cmos_write(struct cmos *c, unsigned reg, uint8_t val)
{
	if (cmos_is_clock(reg) || reg == RTC_CENTURY) {
		cmos_write_clock(c, reg, val);
		return;
	}
	switch (reg) {
	case RTC_REG_A:
		c->ram[reg] = val & ~REG_A_UIP; /* UIP is read-only */
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		c->ram[reg] = val;
		break;
	}
}

static void cmos_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct cmos *c = opaque;

	if (!is_write)
		memset(data, 0xff, len);
	pthread_mutex_lock(&c->lock);
	if (offset == 0) {
		/* The index port is write-only; QEMU reads it as 0xff. */
		if (is_write) {
			c->index = data[0] & CMOS_INDEX_MASK;
			c->nmi_disabled = data[0] & CMOS_NMI_DISABLE;
		}
	} else if (is_write) {
		cmos_write(c, c->index, data[0]);
	} else {
		data[0] = cmos_read(c, c->index);
	}
	pthread_mutex_unlock(&c->lock);
}

static void cmos_put16(struct cmos *c, unsigned reg, uint64_t v)
{
	c->ram[reg] = v & 0xff;
	c->ram[reg + 1] = (v >> 8) & 0xff;
}

static void cmos_set_memory(struct cmos *c, uint64_t below_4g, uint64_t above_4g)
{
	uint64_t v;

	cmos_put16(c, CMOS_BASE_MEM_LO, 640);
	/* Extended memory above 1 MiB in KiB, saturating at 64 MiB - 1 KiB. */
	v = below_4g > MiB ? (below_4g - MiB) / KiB : 0;
	v = MIN(v, 0xffffull);
	cmos_put16(c, CMOS_EXT_MEM_LO, v);
	cmos_put16(c, CMOS_EXT_MEM2_LO, v);
	/* Memory above 16 MiB (below 4 GiB) in 64 KiB units. */
	v = below_4g > 16 * MiB ? (below_4g - 16 * MiB) / (64 * KiB) : 0;
	v = MIN(v, 0xffffull);
	cmos_put16(c, CMOS_MEM_16M_LO, v);
	/* Memory above 4 GiB in 64 KiB units, 24 bits. */
	v = MIN(above_4g / (64 * KiB), 0xffffffull);
	c->ram[CMOS_MEM_4G_LO] = v & 0xff;
	c->ram[CMOS_MEM_4G_LO + 1] = (v >> 8) & 0xff;
	c->ram[CMOS_MEM_4G_LO + 2] = (v >> 16) & 0xff;
}

int cmos_init(struct cmos *c, struct machine *m, uint64_t below_4g, uint64_t above_4g)
{
	int r;

	memset(c, 0, sizeof(*c));
	c->m = m;
	c->ram[RTC_REG_A] = REG_A_DEFAULT;
	c->ram[RTC_REG_B] = REG_B_24H; /* BCD, 24-hour: what PC firmware leaves */
	c->ram[RTC_REG_D] = REG_D_VRT;
	cmos_set_memory(c, below_4g, above_4g);
	r = -pthread_mutex_init(&c->lock, NULL);
	if (r)
		return r;
	r = bus_register(m->pio, CMOS_PORT, 2, cmos_io, c, "cmos");
	if (r)
		pthread_mutex_destroy(&c->lock);
	return r;
}

void cmos_exit(struct cmos *c)
{
	if (!c->m)
		return;
	bus_unregister(c->m->pio, CMOS_PORT, c);
	pthread_mutex_destroy(&c->lock);
	c->m = NULL;
}
