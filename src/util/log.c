// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <time.h>

#include <kite/log.h>

static enum log_level log_level = LOG_INFO;

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

void kite_log(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = { "", "warning: ", "", "debug: " };
	char buf[1024];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One write per line so that messages of several threads do not interleave. */
	fprintf(stderr, "kite: %s%s\n", prefix[level], buf);
}

int ratelimit_ok(struct ratelimit *rl)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec - rl->window_start >= 5) {
		if (rl->suppressed)
			kite_log(LOG_WARN, "%u similar messages suppressed", rl->suppressed);
		rl->window_start = ts.tv_sec;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed < 10) {
		rl->printed++;
		return 1;
	}
	rl->suppressed++;
	return 0;
}
