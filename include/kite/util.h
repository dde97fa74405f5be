/* SPDX-License-Identifier: MIT */
#ifndef KITE_UTIL_H
#define KITE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define ALIGN_UP(x, a)   (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Parses "512", "64K", "512M", "2G" (also lower case and "MiB"/"MB" forms). */
int parse_size(const char *s, uint64_t *out);
/* Parses a decimal unsigned integer within [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * "key=value,flag,key2=value2" option lists as used by --disk and --net.
 * opts_next() walks one item at a time: *key and *val point into a copy the
 * caller owns (val is NULL for a bare flag).  Returns 1 for an item, 0 at the
 * end, -EINVAL for an empty item.
 */
int opts_next(char **cursor, char **key, char **val);

/* True when [a, a+alen) and [b, b+blen) overlap; lengths of zero never overlap. */
bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen);

/* Reads a whole file into a malloc'd buffer; -errno on failure. */
int read_file(const char *path, void **buf, size_t *len);

/* write(2)/read(2) loops that handle short transfers and EINTR. */
int write_full(int fd, const void *buf, size_t len);
int read_full(int fd, void *buf, size_t len);

uint64_t now_ns(void); /* CLOCK_MONOTONIC */

#endif
