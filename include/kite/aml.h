/* SPDX-License-Identifier: MIT */
#ifndef KITE_AML_H
#define KITE_AML_H

/*
 * A small builder of ACPI Machine Language (ACPI 6.5 chapter 20) for the
 * DSDT kite generates.  It appends encoded terms to a growing byte buffer.
 * Terms that carry a PkgLength (Scope, Device, Method, Package, Buffer) are
 * opened with *_begin() and closed with aml_end(); the length is computed
 * when the term is closed, so nesting can go as deep as AML_MAX_DEPTH.
 *
 * Errors are sticky: after the first failure (no memory, a bad name, an
 * unbalanced aml_end) every call is a no-op and aml_error() reports it, so a
 * table is written as a straight sequence of calls checked once at the end.
 *
 * A ResourceTemplate is a Buffer whose content is resource descriptors and an
 * end tag: aml_buffer_begin(), aml_res_*()..., aml_res_end_tag(), aml_end().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 16

struct aml {
	uint8_t *buf;
	size_t len, cap;
	int err; /* first error, negative errno; 0 while all is well */
	unsigned depth;
	struct {
		size_t start; /* offset of the first byte after the opcode */
		uint8_t kind;
	} open[AML_MAX_DEPTH];
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
/* 0, or the first error: -ENOMEM, -EINVAL (bad name or value), -EPROTO (unbalanced begin/end). */
int aml_error(const struct aml *a);

/* Raw bytes, for opcodes the builder does not know. */
void aml_bytes(struct aml *a, const void *p, size_t len);

/*
 * A NameString: "_SB", "\\_SB.PCI0", "^C000", "\\" (root).  Segments shorter
 * than four characters are padded with '_'; a segment must start with A-Z
 * or '_' and hold only A-Z, 0-9 and '_'.
 */
void aml_name_string(struct aml *a, const char *path);
/* An integer with the shortest encoding: Zero, One, Byte/Word/DWord/QWord prefix. */
void aml_integer(struct aml *a, uint64_t v);
/* A String of printable ASCII. */
void aml_string(struct aml *a, const char *s);
/* An EISA id ("PNP0A03") as the DWord ACPI compresses it to. */
void aml_eisaid(struct aml *a, const char *id);
/* Encodes an EISA id; returns false when `id` is not three letters and four hex digits. */
bool aml_eisaid_value(const char *id, uint32_t *out);

/* Name(NAME, ...): follow with exactly one data object. */
void aml_name(struct aml *a, const char *name);
/* Shorthands for Name(NAME, integer / string / EISAID). */
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_string_value(struct aml *a, const char *name, const char *s);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

void aml_scope_begin(struct aml *a, const char *name);
void aml_device_begin(struct aml *a, const char *name);
/* Method(NAME, nargs, NotSerialized): its body follows, e.g. aml_return() and a term. */
void aml_method_begin(struct aml *a, const char *name, unsigned nargs);
/* Return(...): follow with exactly one term. */
void aml_return(struct aml *a);
/* Package(){...} of `nelems` elements (at most 255), appended before aml_end(). */
void aml_package_begin(struct aml *a, unsigned nelems);
/* Buffer(){...}: the size is what was appended when aml_end() closes it. */
void aml_buffer_begin(struct aml *a);
/* Closes the innermost Scope/Device/Method/Package/Buffer. */
void aml_end(struct aml *a);

/* Resource descriptors (ACPI 6.5 section 6.4), appended inside a Buffer. */
void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags(){irq}: edge, active high, exclusive. */
void aml_res_irq_noflags(struct aml *a, unsigned irq);

enum aml_irq_flags {
	AML_IRQ_LEVEL = 1 << 1,      /* else edge */
	AML_IRQ_ACTIVE_LOW = 1 << 2, /* else active high */
	AML_IRQ_SHARED = 1 << 3,     /* else exclusive */
};
/* Interrupt(ResourceConsumer, ...){gsi}: the extended interrupt descriptor. */
void aml_res_interrupt(struct aml *a, unsigned flags, uint32_t gsi);

/* Address space descriptors: ResourceProducer, MinFixed, MaxFixed, PosDecode. */
void aml_res_word_bus_number(struct aml *a, uint16_t min, uint16_t max);
/* WordIO(..., EntireRange). */
void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max);
/* DWordMemory / QWordMemory(..., Cacheable|NonCacheable, ReadWrite). */
void aml_res_dword_memory(struct aml *a, uint32_t min, uint32_t max, bool cacheable);
void aml_res_qword_memory(struct aml *a, uint64_t min, uint64_t max, bool cacheable);
/* Memory32Fixed(ReadWrite, base, len): for motherboard reservations. */
void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t len);
/* The end tag, with the checksum that makes the template's bytes sum to zero. */
void aml_res_end_tag(struct aml *a);

#endif
