// SPDX-License-Identifier: MIT
/*
 * The AML builder against bytes iasl 20200925 produced from tests/unit/aml_ref.asl
 * (iasl -p ref aml_ref.asl; the 36-byte table header dropped), plus the edges
 * of PkgLength and name encodings that a small DSDT does not reach.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <kite/aml.h>

static const uint8_t iasl_ref[] = {
	0x08, 0x49, 0x4e, 0x54, 0x30, 0x00, 0x08, 0x49, 0x4e, 0x54, 0x31, 0x01,
	0x08, 0x49, 0x4e, 0x54, 0x42, 0x0a, 0x12, 0x08, 0x49, 0x4e, 0x54, 0x57,
	0x0b, 0x34, 0x12, 0x08, 0x49, 0x4e, 0x54, 0x44, 0x0c, 0x78, 0x56, 0x34,
	0x12, 0x08, 0x49, 0x4e, 0x54, 0x51, 0x0e, 0xf0, 0xde, 0xbc, 0x9a, 0x78,
	0x56, 0x34, 0x12, 0x08, 0x53, 0x54, 0x52, 0x5f, 0x0d, 0x68, 0x65, 0x6c,
	0x6c, 0x6f, 0x00, 0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x07, 0x04, 0x0a,
	0x05, 0x00, 0x00, 0x00, 0x10, 0x42, 0x0e, 0x5f, 0x53, 0x42, 0x5f, 0x5b,
	0x82, 0x35, 0x43, 0x4f, 0x4d, 0x31, 0x08, 0x5f, 0x48, 0x49, 0x44, 0x0c,
	0x41, 0xd0, 0x05, 0x01, 0x08, 0x5f, 0x55, 0x49, 0x44, 0x01, 0x14, 0x09,
	0x5f, 0x53, 0x54, 0x41, 0x00, 0xa4, 0x0a, 0x0f, 0x08, 0x5f, 0x43, 0x52,
	0x53, 0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00,
	0x08, 0x22, 0x10, 0x00, 0x79, 0x00, 0x5b, 0x82, 0x43, 0x0a, 0x50, 0x43,
	0x49, 0x30, 0x08, 0x5f, 0x48, 0x49, 0x44, 0x0c, 0x41, 0xd0, 0x0a, 0x08,
	0x08, 0x5f, 0x43, 0x49, 0x44, 0x0c, 0x41, 0xd0, 0x0a, 0x03, 0x08, 0x5f,
	0x43, 0x52, 0x53, 0x11, 0x43, 0x08, 0x0a, 0x7f, 0x88, 0x0d, 0x00, 0x02,
	0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x00, 0xf7, 0x0c,
	0x00, 0x00, 0xf8, 0x0c, 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xff, 0xff, 0xff, 0xdf, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x03,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x80, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x80, 0x00, 0x00, 0x00, 0x89, 0x06, 0x00, 0x09, 0x01, 0x10, 0x00, 0x00,
	0x00, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x00,
	0x10, 0x79, 0x00, 0x08, 0x2f, 0x03, 0x5f, 0x53, 0x42, 0x5f, 0x50, 0x43,
	0x49, 0x30, 0x50, 0x52, 0x54, 0x30, 0x12, 0x0c, 0x01, 0x12, 0x09, 0x04,
	0x0b, 0xff, 0xff, 0x00, 0x00, 0x0a, 0x11,
};

/* iasl writes 0 (= "no checksum") after each end tag; kite writes the real sum. */
static const size_t end_tag_checksums[] = { 137, 302 };

static void build_ref(struct aml *a)
{
	aml_name_integer(a, "INT0", 0);
	aml_name_integer(a, "INT1", 1);
	aml_name_integer(a, "INTB", 0x12);
	aml_name_integer(a, "INTW", 0x1234);
	aml_name_integer(a, "INTD", 0x12345678);
	aml_name_integer(a, "INTQ", 0x123456789abcdef0ull);
	aml_name_string_value(a, "STR", "hello");
	aml_name(a, "_S5");
	aml_package_begin(a, 4);
	aml_integer(a, 5);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a);
	aml_scope_begin(a, "_SB");

	aml_device_begin(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501");
	aml_name_integer(a, "_UID", 1);
	aml_method_begin(a, "_STA", 0);
	aml_return(a);
	aml_integer(a, 0x0f);
	aml_end(a);
	aml_name(a, "_CRS");
	aml_buffer_begin(a);
	aml_res_io(a, 0x3f8, 0x3f8, 0, 8);
	aml_res_irq_noflags(a, 4);
	aml_res_end_tag(a);
	aml_end(a);
	aml_end(a);

	aml_device_begin(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A08");
	aml_name_eisaid(a, "_CID", "PNP0A03");
	aml_name(a, "_CRS");
	aml_buffer_begin(a);
	aml_res_word_bus_number(a, 0, 0xff);
	aml_res_word_io(a, 0, 0xcf7);
	aml_res_dword_memory(a, 0xc0000000, 0xdfffffff, false);
	aml_res_qword_memory(a, 0x8000000000ull, 0xffffffffffull, true);
	aml_res_interrupt(a, AML_IRQ_LEVEL | AML_IRQ_SHARED, 16);
	aml_res_memory32_fixed(a, 0xe0000000, 0x10000000);
	aml_res_end_tag(a);
	aml_end(a);
	aml_end(a);

	aml_end(a);
	aml_name(a, "_SB.PCI0.PRT0");
	aml_package_begin(a, 1);
	aml_package_begin(a, 4);
	aml_integer(a, 0xffff);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_integer(a, 0x11);
	aml_end(a);
	aml_end(a);
}

static void test_matches_iasl(void **state)
{
	uint8_t got[sizeof(iasl_ref)];
	struct aml a;

	aml_init(&a);
	build_ref(&a);
	assert_int_equal(aml_error(&a), 0);
	assert_int_equal(a.len, sizeof(iasl_ref));
	memcpy(got, a.buf, a.len);
	for (size_t i = 0; i < sizeof(end_tag_checksums) / sizeof(end_tag_checksums[0]); i++) {
		assert_int_equal(got[end_tag_checksums[i] - 1], 0x79);
		got[end_tag_checksums[i]] = 0;
	}
	for (size_t i = 0; i < a.len; i++) {
		if (got[i] != iasl_ref[i])
			fail_msg("byte %zu: got 0x%02x, iasl has 0x%02x", i, got[i], iasl_ref[i]);
	}
	aml_free(&a);
}

/* Buffer content (after BufferSize) of a resource template sums to zero with its end tag. */
static void test_end_tag_checksum(void **state)
{
	struct aml a;
	uint8_t sum = 0;

	aml_init(&a);
	aml_buffer_begin(&a);
	aml_res_io(&a, 0x3f8, 0x3f8, 0, 8);
	aml_res_irq_noflags(&a, 4);
	aml_res_end_tag(&a);
	aml_end(&a);
	assert_int_equal(aml_error(&a), 0);
	/* 11 <pkglen> 0a 0d <13 bytes> */
	assert_int_equal(a.len, 17);
	assert_int_equal(a.buf[1], 16);
	assert_int_equal(a.buf[2], 0x0a);
	assert_int_equal(a.buf[3], 13);
	for (size_t i = 4; i < a.len; i++)
		sum += a.buf[i];
	assert_int_equal(sum, 0);
	aml_free(&a);
}

/* A Scope of `content` raw bytes after its name: returns the PkgLength bytes. */
static size_t scope_pkglen(size_t content, uint8_t out[4])
{
	static uint8_t zeros[1 << 21];
	struct aml a;
	size_t n;

	aml_init(&a);
	aml_scope_begin(&a, "_SB");
	aml_bytes(&a, zeros, content);
	aml_end(&a);
	assert_int_equal(aml_error(&a), 0);
	/* 10 <pkglen> 5f 53 42 5f <content> */
	n = a.len - 1 - 4 - content;
	memcpy(out, a.buf + 1, n);
	assert_memory_equal(a.buf + 1 + n, "_SB_", 4);
	aml_free(&a);
	return n;
}

static void test_pkglen_sizes(void **state)
{
	uint8_t p[4];

	/* 58 + 4 name bytes + 1 = 63: the largest one-byte length. */
	assert_int_equal(scope_pkglen(58, p), 1);
	assert_int_equal(p[0], 63);
	/* 59 + 4 = 63 content, + 2 = 65 = 0x41: lead 0x41, then 0x04. */
	assert_int_equal(scope_pkglen(59, p), 2);
	assert_int_equal(p[0], 0x41);
	assert_int_equal(p[1], 0x04);
	/* Two bytes hold up to 0xfff. 4089 + 4 + 2 = 0xfff. */
	assert_int_equal(scope_pkglen(4089, p), 2);
	assert_int_equal(p[0], 0x4f);
	assert_int_equal(p[1], 0xff);
	/* 4090 + 4 = 4094, + 2 = 0x1000 does not fit: three bytes, 0x1001. */
	assert_int_equal(scope_pkglen(4090, p), 3);
	assert_int_equal(p[0], 0x81);
	assert_int_equal(p[1], 0x00);
	assert_int_equal(p[2], 0x01);
	/* 0x100000 needs four bytes: content 0x100000 - 4 name bytes, + 4 = 0x100004. */
	assert_int_equal(scope_pkglen(0x100000 - 4, p), 4);
	assert_int_equal(p[0], 0xc4);
	assert_int_equal(p[1], 0x00);
	assert_int_equal(p[2], 0x00);
	assert_int_equal(p[3], 0x01);
}

/* An inner term growing past one PkgLength byte must shift the outer term's length too. */
static void test_nested_growth(void **state)
{
	static uint8_t zeros[100];
	struct aml a;

	aml_init(&a);
	aml_scope_begin(&a, "_SB");
	aml_device_begin(&a, "DEV");
	aml_bytes(&a, zeros, sizeof(zeros));
	aml_end(&a);
	aml_end(&a);
	assert_int_equal(aml_error(&a), 0);
	/* Device: 5b 82 <2> "DEV_" 100 = 108 bytes; scope content = 4 + 108 = 112, +2 = 114. */
	assert_int_equal(a.len, 1 + 2 + 4 + 108);
	assert_int_equal(a.buf[1], 0x40 | (114 & 0xf));
	assert_int_equal(a.buf[2], 114 >> 4);
	assert_int_equal(a.buf[7], 0x5b);
	assert_int_equal(a.buf[8], 0x82);
	assert_int_equal(a.buf[9], 0x40 | (106 & 0xf));
	assert_int_equal(a.buf[10], 106 >> 4);
	aml_free(&a);
}

static void test_names(void **state)
{
	static const uint8_t root[] = { 0x5c, 0x00 };
	static const uint8_t abs1[] = { 0x5c, '_', 'S', 'B', '_' };
	static const uint8_t dual[] = { 0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0' };
	static const uint8_t parent[] = { 0x5e, 0x5e, 'C', '0', '0', '0' };
	struct aml a;

	aml_init(&a);
	aml_name_string(&a, "\\");
	assert_memory_equal(a.buf, root, sizeof(root));
	aml_free(&a);
	aml_name_string(&a, "\\_SB");
	assert_memory_equal(a.buf, abs1, sizeof(abs1));
	aml_free(&a);
	aml_name_string(&a, "\\_SB.PCI0");
	assert_memory_equal(a.buf, dual, sizeof(dual));
	aml_free(&a);
	aml_name_string(&a, "^^C000");
	assert_memory_equal(a.buf, parent, sizeof(parent));
	assert_int_equal(aml_error(&a), 0);
	aml_free(&a);
}

static void test_bad_input(void **state)
{
	static const char *const bad[] = { "", "TOOLONG", "1ABC", "ab", "A.", ".A", "A..B", "\\^A" };
	uint32_t v;
	struct aml a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a);
		aml_name(&a, bad[i]);
		/* Every later call is a no-op once an error is recorded. */
		aml_integer(&a, 5);
		if (strcmp(bad[i], "") != 0)
			assert_int_equal(aml_error(&a), -EINVAL);
		aml_free(&a);
	}
	aml_init(&a);
	aml_end(&a);
	assert_int_equal(aml_error(&a), -EPROTO);
	aml_free(&a);
	aml_init(&a);
	aml_scope_begin(&a, "_SB");
	assert_int_equal(aml_error(&a), -EPROTO); /* still open */
	aml_res_io(&a, 0, 0, 0, 0);           /* not inside a Buffer */
	aml_end(&a);
	assert_int_equal(aml_error(&a), -EPROTO);
	aml_free(&a);
	aml_init(&a);
	aml_buffer_begin(&a);
	aml_res_irq_noflags(&a, 16);
	assert_int_equal(aml_error(&a), -EINVAL);
	aml_free(&a);
	assert_false(aml_eisaid_value("PNP0A0", &v));
	assert_false(aml_eisaid_value("pnp0A03", &v));
	assert_false(aml_eisaid_value("PNP0A0G", &v));
	assert_true(aml_eisaid_value("PNP0A03", &v));
	assert_int_equal(v, 0x030ad041);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_iasl),
		cmocka_unit_test(test_end_tag_checksum),
		cmocka_unit_test(test_pkglen_sizes),
		cmocka_unit_test(test_nested_growth),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
