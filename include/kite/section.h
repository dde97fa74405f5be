/* SPDX-License-Identifier: MIT */
#ifndef KITE_SECTION_H
#define KITE_SECTION_H

/*
 * State sections: the one format for snapshots and live migration
 * (docs/snapshot-format.md).  A stream is a file header (magic, format
 * version, kite version, architecture) and then tagged sections, each with
 * its own version, length and CRC32, closed by an "end" section.
 *
 * Every stateful object registers a save and a load function under a tag and
 * an instance number.  Loading reads and checks the whole stream first (magic,
 * versions, CRCs, lengths, that every section has a registered counterpart and
 * every registered object a section) and only then calls the load functions,
 * in registration order: a bad file never half-loads a VM.
 *
 * This module depends on nothing but util and log, so any layer may use it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_MAGIC        "KITESTAT"
#define STATE_FORMAT_MAJOR 1
#define STATE_FORMAT_MINOR 0
#define STATE_ARCH         "x86_64"
#define STATE_TAG_MAX      24 /* including the NUL */
#define STATE_HEADER_SIZE  64
#define STATE_SECTION_HEADER_SIZE 48
/* No section of kite's is near this; a larger length is a corrupt file. */
#define STATE_SECTION_MAX  (64u << 20)

/* A growable byte buffer with little-endian put/get and a sticky error. */
struct sbuf {
	uint8_t *data;
	size_t len, cap; /* bytes written / allocated */
	size_t pos;      /* read cursor */
	int err;         /* first error: -ENOMEM on put, -EOVERFLOW when a get runs past len */
};

void sbuf_init(struct sbuf *b);
/* A read-only view of `len` bytes (not copied, not freed). */
void sbuf_view(struct sbuf *b, const void *data, size_t len);
void sbuf_free(struct sbuf *b);
void sbuf_put(struct sbuf *b, const void *p, size_t n);
void sbuf_put_u8(struct sbuf *b, uint8_t v);
void sbuf_put_u16(struct sbuf *b, uint16_t v);
void sbuf_put_u32(struct sbuf *b, uint32_t v);
void sbuf_put_u64(struct sbuf *b, uint64_t v);
/* A string as u32 length + bytes; NULL is stored as length 0xffffffff. */
void sbuf_put_str(struct sbuf *b, const char *s);
/* Copies n bytes or zero-fills `p` and sets err. */
void sbuf_get(struct sbuf *b, void *p, size_t n);
uint8_t sbuf_get_u8(struct sbuf *b);
uint16_t sbuf_get_u16(struct sbuf *b);
uint32_t sbuf_get_u32(struct sbuf *b);
uint64_t sbuf_get_u64(struct sbuf *b);
/* A malloc'd copy of a stored string (NULL for a stored NULL, or on error with err set). */
char *sbuf_get_str(struct sbuf *b, size_t max);
/* Bytes left to read. */
size_t sbuf_left(const struct sbuf *b);

/* Where a stream goes and where it comes from (a file, a socket). */
struct state_sink {
	int (*write)(void *opaque, const void *buf, size_t len); /* 0 or -errno */
	void *opaque;
};
struct state_source {
	int (*read)(void *opaque, void *buf, size_t len); /* 0, -ENODATA at the end, or -errno */
	void *opaque;
};

typedef int (*state_save_fn)(void *opaque, struct sbuf *out);
/* `minor` is the section's minor version (same major as registered); `in` is untrusted. */
typedef int (*state_load_fn)(void *opaque, struct sbuf *in, unsigned minor);

struct state_entry {
	char tag[STATE_TAG_MAX];
	uint32_t instance;
	uint16_t major, minor;
	state_save_fn save;
	state_load_fn load;
	void *opaque;
};

struct state_registry {
	struct state_entry *e;
	unsigned n, cap;
	void **owned; /* state_registry_alloc() blocks, freed with the registry */
	unsigned nowned;
	/*
	 * Set by a restore or clone (not by live migration): objects that carry
	 * the VM's identity (the VM generation ID) take a new one as they load.
	 */
	bool new_identity;
};

void state_registry_init(struct state_registry *reg);
void state_registry_free(struct state_registry *reg);
/* Zeroed memory for callback contexts that lives as long as the registry. */
void *state_registry_alloc(struct state_registry *reg, size_t size);
/* -EEXIST for a duplicate (tag, instance), -EINVAL for a bad tag. */
int state_register(struct state_registry *reg, const char *tag, uint32_t instance, uint16_t major, uint16_t minor,
		   state_save_fn save, state_load_fn load, void *opaque);

/* One section as read and checked: the payload is owned. */
struct state_section {
	char tag[STATE_TAG_MAX];
	uint32_t instance;
	uint16_t major, minor;
	uint8_t *data;
	size_t len;
};

struct state_file {
	uint16_t major, minor;
	char kite_version[24];
	char arch[16];
	struct state_section *s;
	unsigned n;
};

/* The header; then each section; then the end marker. */
int state_write_header(struct state_sink *sink);
int state_write_section(struct state_sink *sink, const char *tag, uint32_t instance, uint16_t major,
			uint16_t minor, const void *data, size_t len);
int state_write_end(struct state_sink *sink);
/* Saves every registered object, in registration order, between header and end. */
int state_save_all(struct state_registry *reg, struct state_sink *sink);

/*
 * Reads and checks a whole stream (header, CRCs, lengths, the end marker)
 * into f; -EINVAL / -EPROTO / -ENODATA with a message naming `what` and the
 * section at fault.
 */
int state_read_file(struct state_source *src, const char *what, struct state_file *f);
void state_file_free(struct state_file *f);
/* The section (tag, instance), or NULL. */
const struct state_section *state_file_find(const struct state_file *f, const char *tag, uint32_t instance);
/*
 * Matches f's sections to reg's entries (versions; nothing left over on
 * either side, except tags listed in `ignore`, NULL-terminated) and then calls
 * every load function in registration order.
 */
int state_load_all(struct state_registry *reg, const struct state_file *f, const char *const *ignore);

/* Sinks and sources for a file descriptor and an in-memory buffer (tests, migration). */
struct state_fd {
	int fd;
};
int state_fd_write(void *opaque, const void *buf, size_t len);
int state_fd_read(void *opaque, void *buf, size_t len);
struct state_mem_source {
	const uint8_t *data;
	size_t len, pos;
};
int state_mem_read(void *opaque, void *buf, size_t len);
/* opaque is a struct sbuf. */
int state_sbuf_write(void *opaque, const void *buf, size_t len);

#endif
