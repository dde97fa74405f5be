// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kite/aml.h>

/* Opcodes and prefixes of ACPI 6.5 chapter 20. */
#define AML_ZERO          0x00
#define AML_ONE           0x01
#define AML_NAME_OP       0x08
#define AML_BYTE_PREFIX   0x0a
#define AML_WORD_PREFIX   0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX  0x0e
#define AML_SCOPE_OP      0x10
#define AML_BUFFER_OP     0x11
#define AML_PACKAGE_OP    0x12
#define AML_METHOD_OP     0x14
#define AML_DUAL_NAME     0x2e
#define AML_MULTI_NAME    0x2f
#define AML_EXT_OP        0x5b
#define AML_DEVICE_OP     0x82 /* after AML_EXT_OP */
#define AML_ROOT_CHAR     0x5c
#define AML_PARENT_CHAR   0x5e
#define AML_RETURN_OP     0xa4

/* Small and large resource descriptor tags (ACPI 6.5 section 6.4). */
#define RES_IRQ_NOFLAGS   0x22
#define RES_IO            0x47
#define RES_END_TAG       0x79
#define RES_MEMORY32_FIXED 0x86
#define RES_DWORD_ADDR    0x87
#define RES_WORD_ADDR     0x88
#define RES_EXT_IRQ       0x89
#define RES_QWORD_ADDR    0x8a

#define RES_TYPE_MEMORY 0
#define RES_TYPE_IO     1
#define RES_TYPE_BUS    2
/* General flags: producer, MinFixed, MaxFixed, PosDecode. */
#define RES_GEN_FLAGS   0x0c

#define PKGLEN_MAX (1u << 28)

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

int aml_error(const struct aml *a)
{
	if (a->err)
		return a->err;
	return a->depth ? -EPROTO : 0;
}

static void aml_fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

static bool aml_reserve(struct aml *a, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (a->err)
		return false;
	if (more > PKGLEN_MAX || a->len + more > PKGLEN_MAX) {
		aml_fail(a, -E2BIG);
		return false;
	}
	if (a->len + more <= a->cap)
		return true;
	cap = a->cap ? a->cap : 256;
	while (cap < a->len + more)
		cap *= 2;
	p = realloc(a->buf, cap);
	if (!p) {
		aml_fail(a, -ENOMEM);
		return false;
	}
	a->buf = p;
	a->cap = cap;
	return true;
}

void aml_bytes(struct aml *a, const void *p, size_t len)
{
	if (!aml_reserve(a, len))
		return;
	memcpy(a->buf + a->len, p, len);
	a->len += len;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned n)
{
	uint8_t b[8];

	for (unsigned i = 0; i < n; i++)
		b[i] = v >> (8 * i);
	aml_bytes(a, b, n);
}

/* Inserts `len` bytes at offset `at`, moving what follows. */
static void aml_insert(struct aml *a, size_t at, const uint8_t *p, size_t len)
{
	if (!aml_reserve(a, len))
		return;
	memmove(a->buf + at + len, a->buf + at, a->len - at);
	memcpy(a->buf + at, p, len);
	a->len += len;
}

/*
 * PkgLength counts its own bytes, so the encoding of a `content`-byte package
 * is the shortest n for which content + n still fits n bytes' worth of bits.
 */
static unsigned pkglen_encode(size_t content, uint8_t out[4])
{
	size_t total;
	unsigned n;

	if (content + 1 <= 0x3f) {
		out[0] = content + 1;
		return 1;
	}
	for (n = 2; n <= 4; n++) {
		total = content + n;
		if (total < (1ull << (4 + 8 * (n - 1))))
			break;
	}
	out[0] = ((n - 1) << 6) | (total & 0x0f);
	for (unsigned i = 1; i < n; i++)
		out[i] = total >> (4 + 8 * (i - 1));
	return n;
}

static bool name_char_ok(char c, bool lead)
{
	if ((c >= 'A' && c <= 'Z') || c == '_')
		return true;
	return !lead && c >= '0' && c <= '9';
}

/* Appends one 4-byte NameSeg from [s, s+len). */
static void aml_name_seg(struct aml *a, const char *s, size_t len)
{
	char seg[4] = { '_', '_', '_', '_' };

	if (len == 0 || len > 4) {
		aml_fail(a, -EINVAL);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (!name_char_ok(s[i], i == 0)) {
			aml_fail(a, -EINVAL);
			return;
		}
		seg[i] = s[i];
	}
	aml_bytes(a, seg, 4);
}

void aml_name_string(struct aml *a, const char *path)
{
	const char *p = path, *dot;
	unsigned nsegs = 1;

	if (!path) {
		aml_fail(a, -EINVAL);
		return;
	}
	if (*p == '\\') {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			aml_byte(a, AML_PARENT_CHAR);
			p++;
		}
	}
	if (!*p) {
		aml_byte(a, AML_ZERO); /* NullName */
		return;
	}
	for (const char *q = p; *q; q++)
		nsegs += *q == '.';
	if (nsegs == 2) {
		aml_byte(a, AML_DUAL_NAME);
	} else if (nsegs > 2) {
		if (nsegs > 255) {
			aml_fail(a, -EINVAL);
			return;
		}
		aml_byte(a, AML_MULTI_NAME);
		aml_byte(a, nsegs);
	}
	for (;;) {
		dot = strchr(p, '.');
		aml_name_seg(a, p, dot ? (size_t)(dot - p) : strlen(p));
		if (!dot)
			break;
		p = dot + 1;
	}
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO);
	} else if (v == 1) {
		aml_byte(a, AML_ONE);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	if (!s) {
		aml_fail(a, -EINVAL);
		return;
	}
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x01 || (unsigned char)*p > 0x7f) {
			aml_fail(a, -EINVAL);
			return;
		}
	}
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Three 5-bit letters and four hex digits, stored most significant byte first. */
bool aml_eisaid_value(const char *id, uint32_t *out)
{
	uint32_t v = 0;

	if (!id || strlen(id) != 7)
		return false;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			return false;
		v = (v << 5) | (id[i] - 0x40);
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);

		if (d < 0)
			return false;
		v = (v << 4) | d;
	}
	*out = __builtin_bswap32(v);
	return true;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v;

	if (!aml_eisaid_value(id, &v)) {
		aml_fail(a, -EINVAL);
		return;
	}
	/* Always a DWord, as iasl emits it, even when the value would fit less. */
	aml_byte(a, AML_DWORD_PREFIX);
	aml_le(a, v, 4);
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_string(a, name);
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_name(a, name);
	aml_integer(a, v);
}

void aml_name_string_value(struct aml *a, const char *name, const char *s)
{
	aml_name(a, name);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_name(a, name);
	aml_eisaid(a, id);
}

/* Records an open PkgLength term whose content starts at the current end. */
static void aml_open(struct aml *a, uint8_t kind)
{
	if (a->err)
		return;
	if (a->depth == AML_MAX_DEPTH) {
		aml_fail(a, -EPROTO);
		return;
	}
	a->open[a->depth].start = a->len;
	a->open[a->depth].kind = kind;
	a->depth++;
}

void aml_scope_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_SCOPE_OP);
	aml_open(a, AML_SCOPE_OP);
	aml_name_string(a, name);
}

void aml_device_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_EXT_OP);
	aml_byte(a, AML_DEVICE_OP);
	aml_open(a, AML_DEVICE_OP);
	aml_name_string(a, name);
}

void aml_method_begin(struct aml *a, const char *name, unsigned nargs)
{
	if (nargs > 7) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, AML_METHOD_OP);
	aml_open(a, AML_METHOD_OP);
	aml_name_string(a, name);
	aml_byte(a, nargs); /* NotSerialized, SyncLevel 0 */
}

void aml_return(struct aml *a)
{
	aml_byte(a, AML_RETURN_OP);
}

void aml_package_begin(struct aml *a, unsigned nelems)
{
	if (nelems > 255) {
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, AML_PACKAGE_OP);
	aml_open(a, AML_PACKAGE_OP);
	aml_byte(a, nelems);
}

void aml_buffer_begin(struct aml *a)
{
	aml_byte(a, AML_BUFFER_OP);
	aml_open(a, AML_BUFFER_OP);
}

void aml_end(struct aml *a)
{
	uint8_t head[4 + 9], size[9];
	size_t start, content;
	unsigned n = 0, nsize = 0;

	if (a->err)
		return;
	if (!a->depth) {
		aml_fail(a, -EPROTO);
		return;
	}
	a->depth--;
	start = a->open[a->depth].start;
	content = a->len - start;
	if (a->open[a->depth].kind == AML_BUFFER_OP) {
		/* BufferSize is an Integer term inside the package, before the bytes. */
		struct aml tmp;

		aml_init(&tmp);
		aml_integer(&tmp, content);
		if (tmp.err || tmp.len > sizeof(size)) {
			aml_fail(a, tmp.err ? tmp.err : -EINVAL);
			aml_free(&tmp);
			return;
		}
		nsize = tmp.len;
		memcpy(size, tmp.buf, nsize);
		aml_free(&tmp);
		content += nsize;
	}
	if (content + 4 >= PKGLEN_MAX) {
		aml_fail(a, -E2BIG);
		return;
	}
	n = pkglen_encode(content, head);
	memcpy(head + n, size, nsize);
	aml_insert(a, start, head, n + nsize);
}

/* The innermost open Buffer: resource descriptors belong in one. */
static bool in_buffer(struct aml *a)
{
	if (a->err)
		return false;
	if (!a->depth || a->open[a->depth - 1].kind != AML_BUFFER_OP) {
		aml_fail(a, -EPROTO);
		return false;
	}
	return true;
}

void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	if (!in_buffer(a))
		return;
	aml_byte(a, RES_IO);
	aml_byte(a, 1); /* Decode16 */
	aml_le(a, min, 2);
	aml_le(a, max, 2);
	aml_byte(a, align);
	aml_byte(a, len);
}

void aml_res_irq_noflags(struct aml *a, unsigned irq)
{
	if (irq > 15) {
		aml_fail(a, -EINVAL);
		return;
	}
	if (!in_buffer(a))
		return;
	aml_byte(a, RES_IRQ_NOFLAGS);
	aml_le(a, 1u << irq, 2);
}

void aml_res_interrupt(struct aml *a, unsigned flags, uint32_t gsi)
{
	if (!in_buffer(a))
		return;
	aml_byte(a, RES_EXT_IRQ);
	aml_le(a, 6, 2); /* length after this field */
	/* Bit 0 consumer, bit 1 edge, bit 2 active low, bit 3 shared. */
	aml_byte(a, 0x01 | ((flags & AML_IRQ_LEVEL) ? 0 : 0x02) | ((flags & AML_IRQ_ACTIVE_LOW) ? 0x04 : 0) |
			    ((flags & AML_IRQ_SHARED) ? 0x08 : 0));
	aml_byte(a, 1); /* one interrupt */
	aml_le(a, gsi, 4);
}

/*
 * The address space descriptors share one shape: type, flags, then
 * granularity, min, max, translation and length, each `width` bytes.
 */
static void aml_res_addr(struct aml *a, uint8_t tag, unsigned width, uint8_t type, uint8_t type_flags,
			 uint64_t min, uint64_t max)
{
	if (max < min) {
		aml_fail(a, -EINVAL);
		return;
	}
	if (!in_buffer(a))
		return;
	aml_byte(a, tag);
	aml_le(a, 3 + 5 * width, 2);
	aml_byte(a, type);
	aml_byte(a, RES_GEN_FLAGS);
	aml_byte(a, type_flags);
	aml_le(a, 0, width); /* granularity */
	aml_le(a, min, width);
	aml_le(a, max, width);
	aml_le(a, 0, width); /* translation */
	aml_le(a, max - min + 1, width);
}

void aml_res_word_bus_number(struct aml *a, uint16_t min, uint16_t max)
{
	aml_res_addr(a, RES_WORD_ADDR, 2, RES_TYPE_BUS, 0, min, max);
}

void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	aml_res_addr(a, RES_WORD_ADDR, 2, RES_TYPE_IO, 0x03 /* EntireRange */, min, max);
}

/* Memory type flags: bit 0 read-write, bits 1-2 cacheability (1 = cacheable). */
void aml_res_dword_memory(struct aml *a, uint32_t min, uint32_t max, bool cacheable)
{
	aml_res_addr(a, RES_DWORD_ADDR, 4, RES_TYPE_MEMORY, 0x01 | (cacheable ? 0x02 : 0), min, max);
}

void aml_res_qword_memory(struct aml *a, uint64_t min, uint64_t max, bool cacheable)
{
	if (min == 0 && max == UINT64_MAX) {
		aml_fail(a, -EINVAL); /* the length would not fit */
		return;
	}
	aml_res_addr(a, RES_QWORD_ADDR, 8, RES_TYPE_MEMORY, 0x01 | (cacheable ? 0x02 : 0), min, max);
}

void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t len)
{
	if (!in_buffer(a))
		return;
	aml_byte(a, RES_MEMORY32_FIXED);
	aml_le(a, 9, 2);
	aml_byte(a, 0x01); /* ReadWrite */
	aml_le(a, base, 4);
	aml_le(a, len, 4);
}

void aml_res_end_tag(struct aml *a)
{
	uint8_t sum = RES_END_TAG;
	size_t start;

	if (!in_buffer(a))
		return;
	start = a->open[a->depth - 1].start;
	for (size_t i = start; i < a->len; i++)
		sum += a->buf[i];
	aml_byte(a, RES_END_TAG);
	aml_byte(a, -sum);
}
