// SPDX-License-Identifier: MIT
/* The section stream (kite/section.h): encoding, round trips and every refusal. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include <kite/section.h>
#include <kite/util.h>

/* Hundreds of refusals follow in some tests: their messages go to /dev/null. */
static int quiet(void)
{
	int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);

	dup2(null, STDERR_FILENO);
	close(null);
	return saved;
}

static void loud(int saved)
{
	dup2(saved, STDERR_FILENO);
	close(saved);
}

/* A toy device: a counter and a name. */
struct toy {
	uint32_t counter;
	char name[16];
	int loads;
	unsigned minor_seen;
};

static int toy_save(void *opaque, struct sbuf *b)
{
	struct toy *t = opaque;

	sbuf_put_u32(b, t->counter);
	sbuf_put_str(b, t->name);
	return 0;
}

static int toy_load(void *opaque, struct sbuf *b, unsigned minor)
{
	struct toy *t = opaque;
	char *s;

	t->counter = sbuf_get_u32(b);
	s = sbuf_get_str(b, sizeof(t->name) - 1);
	if (s)
		strcpy(t->name, s);
	free(s);
	t->loads++;
	t->minor_seen = minor;
	return 0;
}

/* Saves two toys (instances 0 and 1) and a "cpu" into buf. */
static void save_stream(struct sbuf *buf, uint16_t toy_major)
{
	struct toy a = { .counter = 7, .name = "com1" }, b = { .counter = 9, .name = "com2" };
	struct toy c = { .counter = 1, .name = "cpu" };
	struct state_registry reg;
	struct state_sink sink = { state_sbuf_write, buf };

	state_registry_init(&reg);
	assert_int_equal(state_register(&reg, "toy", 0, toy_major, 3, toy_save, toy_load, &a), 0);
	assert_int_equal(state_register(&reg, "toy", 1, toy_major, 3, toy_save, toy_load, &b), 0);
	assert_int_equal(state_register(&reg, "vcpu", 0, 1, 0, toy_save, toy_load, &c), 0);
	sbuf_init(buf);
	assert_int_equal(state_save_all(&reg, &sink), 0);
	state_registry_free(&reg);
}

static int read_stream(const struct sbuf *buf, struct state_file *f)
{
	struct state_mem_source ms = { buf->data, buf->len, 0 };
	struct state_source src = { state_mem_read, &ms };

	return state_read_file(&src, "test", f);
}

/* Loads into fresh toys registered with the given layout. */
static int load_into(const struct state_file *f, struct toy *t, unsigned ntoys, unsigned ncpus, uint16_t major)
{
	struct state_registry reg;
	int r = 0;

	state_registry_init(&reg);
	for (unsigned i = 0; i < ntoys; i++)
		assert_int_equal(state_register(&reg, "toy", i, major, 0, toy_save, toy_load, &t[i]), 0);
	for (unsigned i = 0; i < ncpus; i++)
		assert_int_equal(state_register(&reg, "vcpu", i, 1, 0, toy_save, toy_load, &t[ntoys + i]), 0);
	r = state_load_all(&reg, f, NULL);
	state_registry_free(&reg);
	return r;
}

static void test_sbuf_round_trip(void **state)
{
	struct sbuf b;
	uint8_t raw[3];
	char *s;

	sbuf_init(&b);
	sbuf_put_u8(&b, 0xab);
	sbuf_put_u16(&b, 0x1234);
	sbuf_put_u32(&b, 0xdeadbeef);
	sbuf_put_u64(&b, 0x0123456789abcdefull);
	sbuf_put_str(&b, "hello");
	sbuf_put_str(&b, NULL);
	sbuf_put(&b, "xyz", 3);
	assert_int_equal(b.err, 0);
	/* Little-endian on the wire, whatever the host. */
	assert_int_equal(b.data[1], 0x34);
	assert_int_equal(b.data[2], 0x12);
	assert_int_equal(sbuf_get_u8(&b), 0xab);
	assert_int_equal(sbuf_get_u16(&b), 0x1234);
	assert_int_equal(sbuf_get_u32(&b), 0xdeadbeef);
	assert_true(sbuf_get_u64(&b) == 0x0123456789abcdefull);
	s = sbuf_get_str(&b, 64);
	assert_string_equal(s, "hello");
	free(s);
	assert_null(sbuf_get_str(&b, 64));
	assert_int_equal(b.err, 0);
	sbuf_get(&b, raw, 3);
	assert_memory_equal(raw, "xyz", 3);
	assert_int_equal(sbuf_left(&b), 0);
	/* Reading past the end: zeros and a sticky error. */
	assert_int_equal(sbuf_get_u32(&b), 0);
	assert_int_equal(b.err, -EOVERFLOW);
	sbuf_free(&b);
}

static void test_sbuf_hostile_strings(void **state)
{
	uint8_t huge[] = { 0xfe, 0xff, 0xff, 0x7f, 'a' };  /* length 2 GiB, 1 byte present */
	uint8_t nul[] = { 3, 0, 0, 0, 'a', 0, 'b' };        /* embedded NUL */
	uint8_t toolong[] = { 5, 0, 0, 0, 'a', 'b', 'c', 'd', 'e' };
	struct sbuf b;

	sbuf_view(&b, huge, sizeof(huge));
	assert_null(sbuf_get_str(&b, 1u << 31));
	assert_int_equal(b.err, -EOVERFLOW);
	sbuf_view(&b, nul, sizeof(nul));
	assert_null(sbuf_get_str(&b, 64));
	assert_int_equal(b.err, -EINVAL);
	sbuf_view(&b, toolong, sizeof(toolong));
	assert_null(sbuf_get_str(&b, 4));
	assert_int_equal(b.err, -EOVERFLOW);
}

static void test_registry_rules(void **state)
{
	struct state_registry reg;
	int x;

	state_registry_init(&reg);
	assert_int_equal(state_register(&reg, "uart", 0, 1, 0, toy_save, toy_load, &x), 0);
	assert_int_equal(state_register(&reg, "uart", 0, 1, 0, toy_save, toy_load, &x), -EEXIST);
	assert_int_equal(state_register(&reg, "uart", 1, 1, 0, toy_save, toy_load, &x), 0);
	assert_int_equal(state_register(&reg, "end", 0, 1, 0, toy_save, toy_load, &x), -EINVAL);
	assert_int_equal(state_register(&reg, "", 0, 1, 0, toy_save, toy_load, &x), -EINVAL);
	assert_int_equal(state_register(&reg, "Bad Tag", 0, 1, 0, toy_save, toy_load, &x), -EINVAL);
	assert_int_equal(state_register(&reg, "a-tag-that-is-far-too-long-to-fit", 0, 1, 0, toy_save, toy_load, &x),
			 -EINVAL);
	assert_non_null(state_registry_alloc(&reg, 100));
	state_registry_free(&reg);
}

static void test_round_trip(void **state)
{
	struct toy t[3] = { 0 };
	struct state_file f;
	struct sbuf buf;

	save_stream(&buf, 1);
	assert_int_equal(read_stream(&buf, &f), 0);
	assert_int_equal(f.major, STATE_FORMAT_MAJOR);
	assert_string_equal(f.arch, STATE_ARCH);
	assert_string_equal(f.kite_version, KITE_VERSION);
	assert_int_equal(f.n, 3);
	assert_non_null(state_file_find(&f, "toy", 1));
	assert_null(state_file_find(&f, "toy", 2));
	assert_int_equal(load_into(&f, t, 2, 1, 1), 0);
	assert_int_equal(t[0].counter, 7);
	assert_string_equal(t[0].name, "com1");
	assert_int_equal(t[1].counter, 9);
	assert_string_equal(t[1].name, "com2");
	assert_string_equal(t[2].name, "cpu");
	assert_int_equal(t[0].minor_seen, 3); /* the section's minor reaches the loader */
	state_file_free(&f);
	sbuf_free(&buf);
}

static void test_every_flipped_byte_is_caught(void **state)
{
	struct state_file f;
	struct sbuf buf;
	int fd, r;

	save_stream(&buf, 1);
	fd = quiet();
	for (size_t i = 0; i < buf.len; i++) {
		buf.data[i] ^= 0x40;
		r = read_stream(&buf, &f);
		buf.data[i] ^= 0x40;
		if (!r) {
			loud(fd);
			fail_msg("a flipped byte at offset %zu went unnoticed", i);
		}
	}
	loud(fd);
	sbuf_free(&buf);
}

static void test_every_truncation_is_caught(void **state)
{
	struct state_file f;
	struct sbuf buf;
	size_t len;
	int fd;

	save_stream(&buf, 1);
	len = buf.len;
	fd = quiet();
	for (size_t n = 0; n < len; n++) {
		buf.len = n;
		assert_int_equal(read_stream(&buf, &f), -EINVAL);
	}
	loud(fd);
	buf.len = len;
	sbuf_free(&buf);
}

/* Rewrites a header field and its CRC, as a file from another kite would have them. */
static void patch_header(struct sbuf *buf, size_t off, const void *val, size_t n)
{
	uint32_t crc;

	memcpy(buf->data + off, val, n);
	crc = crc32(crc32(0, NULL, 0), buf->data, 60);
	for (int i = 0; i < 4; i++)
		buf->data[60 + i] = crc >> (8 * i);
}

static void test_wrong_format_and_arch(void **state)
{
	struct state_file f;
	struct sbuf buf;

	save_stream(&buf, 1);
	patch_header(&buf, 8, "\x02\x00", 2);
	assert_int_equal(read_stream(&buf, &f), -EPROTO);
	patch_header(&buf, 8, "\x01\x00", 2);
	patch_header(&buf, 10, "\x07\x00", 2); /* a newer minor is fine */
	assert_int_equal(read_stream(&buf, &f), 0);
	state_file_free(&f);
	patch_header(&buf, 40, "aarch64\0", 8);
	assert_int_equal(read_stream(&buf, &f), -EPROTO);
	sbuf_free(&buf);
}

static void test_sections_must_fit_the_vm(void **state)
{
	struct toy t[4] = { 0 };
	struct state_file f;
	struct sbuf buf;

	save_stream(&buf, 1);
	assert_int_equal(read_stream(&buf, &f), 0);
	/* One toy fewer here: the file's toy #1 has no counterpart. */
	assert_int_equal(load_into(&f, t, 1, 1, 1), -EINVAL);
	/* A second vCPU here that the file lacks. */
	assert_int_equal(load_into(&f, t, 2, 2, 1), -EINVAL);
	/* The toy's major version moved on. */
	assert_int_equal(load_into(&f, t, 2, 1, 2), -EPROTO);
	/* Nothing was loaded by any refused attempt. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(t[i].loads, 0);
	state_file_free(&f);
	sbuf_free(&buf);
}

static int short_load(void *opaque, struct sbuf *b, unsigned minor)
{
	sbuf_get_u64(b);
	sbuf_get_u64(b);
	return 0;
}

static void test_short_section_is_an_error(void **state)
{
	struct state_registry reg;
	struct state_file f;
	struct sbuf buf;
	int x;

	save_stream(&buf, 1);
	assert_int_equal(read_stream(&buf, &f), 0);
	state_registry_init(&reg);
	state_register(&reg, "toy", 0, 1, 0, toy_save, short_load, &x);
	state_register(&reg, "toy", 1, 1, 0, toy_save, short_load, &x);
	state_register(&reg, "vcpu", 0, 1, 0, toy_save, short_load, &x);
	assert_int_equal(state_load_all(&reg, &f, NULL), -EOVERFLOW);
	state_registry_free(&reg);
	state_file_free(&f);
	sbuf_free(&buf);
}

static void test_duplicate_and_oversized_sections(void **state)
{
	struct state_sink sink;
	struct state_file f;
	struct sbuf buf;
	uint8_t h[STATE_SECTION_HEADER_SIZE] = "toy";
	uint32_t crc;

	sbuf_init(&buf);
	sink = (struct state_sink){ state_sbuf_write, &buf };
	state_write_header(&sink);
	state_write_section(&sink, "toy", 0, 1, 0, "a", 1);
	state_write_section(&sink, "toy", 0, 1, 0, "b", 1);
	state_write_end(&sink);
	assert_int_equal(read_stream(&buf, &f), -EINVAL);
	sbuf_free(&buf);

	/* A header that claims 1 TiB: refused before any allocation. */
	sbuf_init(&buf);
	state_write_header(&sink);
	h[32 + 5] = 1;
	crc = crc32(crc32(0, NULL, 0), h, 40);
	for (int i = 0; i < 4; i++)
		h[40 + i] = crc >> (8 * i);
	sbuf_put(&buf, h, sizeof(h));
	assert_int_equal(read_stream(&buf, &f), -EINVAL);
	sbuf_free(&buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sbuf_round_trip),
		cmocka_unit_test(test_sbuf_hostile_strings),
		cmocka_unit_test(test_registry_rules),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_flipped_byte_is_caught),
		cmocka_unit_test(test_every_truncation_is_caught),
		cmocka_unit_test(test_wrong_format_and_arch),
		cmocka_unit_test(test_sections_must_fit_the_vm),
		cmocka_unit_test(test_short_section_is_an_error),
		cmocka_unit_test(test_duplicate_and_oversized_sections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
