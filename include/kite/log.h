/* SPDX-License-Identifier: MIT */
#ifndef KITE_LOG_H
#define KITE_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Process-wide verbosity: a setting of the command line, not VM state. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void kite_log(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_err(fmt, ...)   kite_log(LOG_ERR, fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...)  kite_log(LOG_WARN, fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...)  kite_log(LOG_INFO, fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) kite_log(LOG_DEBUG, fmt, ##__VA_ARGS__)

/*
 * Rate-limited warning for guest-triggered conditions: a misbehaving guest must
 * not be able to flood the host's log.  Each call site keeps its own budget.
 */
struct ratelimit {
	long window_start; /* seconds, CLOCK_MONOTONIC */
	unsigned printed;
	unsigned suppressed;
};
int ratelimit_ok(struct ratelimit *rl);

#define pr_warn_ratelimited(rl, fmt, ...)                                      \
	do {                                                                   \
		if (ratelimit_ok(rl))                                          \
			kite_log(LOG_WARN, fmt, ##__VA_ARGS__);                \
	} while (0)

#endif
