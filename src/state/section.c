// SPDX-License-Identifier: MIT
/* The section stream: encoding helpers, the registry, writing and checked reading. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <kite/log.h>
#include <kite/section.h>
#include <kite/util.h>

void sbuf_init(struct sbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void sbuf_view(struct sbuf *b, const void *data, size_t len)
{
	memset(b, 0, sizeof(*b));
	b->data = (uint8_t *)data;
	b->len = len;
}

void sbuf_free(struct sbuf *b)
{
	if (b->cap)
		free(b->data);
	memset(b, 0, sizeof(*b));
}

void sbuf_put(struct sbuf *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (n > b->cap - b->len) {
		size_t cap = MAX(b->cap * 2, b->len + n + 256);
		uint8_t *d = realloc(b->cap ? b->data : NULL, cap);

		if (!d) {
			b->err = -ENOMEM;
			return;
		}
		if (!b->cap && b->len)
			memcpy(d, b->data, b->len); /* a view becomes a copy */
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void sbuf_put_u8(struct sbuf *b, uint8_t v)
{
	sbuf_put(b, &v, 1);
}

void sbuf_put_u16(struct sbuf *b, uint16_t v)
{
	uint8_t x[2] = { v, v >> 8 };

	sbuf_put(b, x, 2);
}

void sbuf_put_u32(struct sbuf *b, uint32_t v)
{
	sbuf_put_u16(b, v);
	sbuf_put_u16(b, v >> 16);
}

void sbuf_put_u64(struct sbuf *b, uint64_t v)
{
	sbuf_put_u32(b, v);
	sbuf_put_u32(b, v >> 32);
}

void sbuf_put_str(struct sbuf *b, const char *s)
{
	if (!s) {
		sbuf_put_u32(b, UINT32_MAX);
		return;
	}
	sbuf_put_u32(b, strlen(s));
	sbuf_put(b, s, strlen(s));
}

size_t sbuf_left(const struct sbuf *b)
{
	return b->len - b->pos;
}

void sbuf_get(struct sbuf *b, void *p, size_t n)
{
	if (b->err || n > sbuf_left(b)) {
		if (!b->err)
			b->err = -EOVERFLOW;
		memset(p, 0, n);
		return;
	}
	memcpy(p, b->data + b->pos, n);
	b->pos += n;
}

uint8_t sbuf_get_u8(struct sbuf *b)
{
	uint8_t v;

	sbuf_get(b, &v, 1);
	return v;
}

uint16_t sbuf_get_u16(struct sbuf *b)
{
	uint8_t x[2];

	sbuf_get(b, x, 2);
	return x[0] | x[1] << 8;
}

uint32_t sbuf_get_u32(struct sbuf *b)
{
	uint32_t lo = sbuf_get_u16(b);

	return lo | (uint32_t)sbuf_get_u16(b) << 16;
}

uint64_t sbuf_get_u64(struct sbuf *b)
{
	uint64_t lo = sbuf_get_u32(b);

	return lo | (uint64_t)sbuf_get_u32(b) << 32;
}

char *sbuf_get_str(struct sbuf *b, size_t max)
{
	uint32_t n = sbuf_get_u32(b);
	char *s;

	if (b->err || n == UINT32_MAX)
		return NULL;
	if (n > max || n > sbuf_left(b)) {
		b->err = -EOVERFLOW;
		return NULL;
	}
	s = malloc(n + 1);
	if (!s) {
		b->err = -ENOMEM;
		return NULL;
	}
	sbuf_get(b, s, n);
	s[n] = 0;
	if (strlen(s) != n) { /* an embedded NUL */
		free(s);
		b->err = -EINVAL;
		return NULL;
	}
	return s;
}

void state_registry_init(struct state_registry *reg)
{
	memset(reg, 0, sizeof(*reg));
}

void state_registry_free(struct state_registry *reg)
{
	for (unsigned i = 0; i < reg->nowned; i++)
		free(reg->owned[i]);
	free(reg->owned);
	free(reg->e);
	memset(reg, 0, sizeof(*reg));
}

void *state_registry_alloc(struct state_registry *reg, size_t size)
{
	void **o = realloc(reg->owned, (reg->nowned + 1) * sizeof(*o));
	void *p;

	if (!o)
		return NULL;
	reg->owned = o;
	p = calloc(1, size);
	if (p)
		reg->owned[reg->nowned++] = p;
	return p;
}

static bool state_tag_ok(const char *tag)
{
	size_t n = strlen(tag);

	if (!n || n >= STATE_TAG_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(tag[i] == '.' || tag[i] == '_' || tag[i] == '-' || (tag[i] >= 'a' && tag[i] <= 'z') ||
		      (tag[i] >= '0' && tag[i] <= '9')))
			return false;
	return true;
}

static struct state_entry *state_find_entry(struct state_registry *reg, const char *tag, uint32_t instance)
{
	for (unsigned i = 0; i < reg->n; i++)
		if (reg->e[i].instance == instance && !strcmp(reg->e[i].tag, tag))
			return &reg->e[i];
	return NULL;
}

int state_register(struct state_registry *reg, const char *tag, uint32_t instance, uint16_t major, uint16_t minor,
		   state_save_fn save, state_load_fn load, void *opaque)
{
	struct state_entry *e;

	if (!state_tag_ok(tag) || !strcmp(tag, "end"))
		return -EINVAL;
	if (state_find_entry(reg, tag, instance))
		return -EEXIST;
	if (reg->n == reg->cap) {
		unsigned cap = reg->cap ? reg->cap * 2 : 16;

		e = realloc(reg->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		reg->e = e;
		reg->cap = cap;
	}
	e = &reg->e[reg->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->tag, tag, strlen(tag) + 1);
	e->instance = instance;
	e->major = major;
	e->minor = minor;
	e->save = save;
	e->load = load;
	e->opaque = opaque;
	return 0;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, v);
	put_le16(p + 2, v >> 16);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, v);
	put_le32(p + 4, v >> 32);
}

static uint16_t get_le16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t get_le32(const uint8_t *p)
{
	return get_le16(p) | (uint32_t)get_le16(p + 2) << 16;
}

static uint64_t get_le64(const uint8_t *p)
{
	return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static uint32_t crc32_of(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	/* zlib takes uInt lengths. */
	while (n) {
		uInt chunk = n > (1u << 30) ? 1u << 30 : (uInt)n;

		crc = crc32(crc, b, chunk);
		b += chunk;
		n -= chunk;
	}
	return crc;
}

int state_write_header(struct state_sink *sink)
{
	uint8_t h[STATE_HEADER_SIZE] = { 0 };

	memcpy(h, STATE_MAGIC, 8);
	put_le16(h + 8, STATE_FORMAT_MAJOR);
	put_le16(h + 10, STATE_FORMAT_MINOR);
	put_le32(h + 12, STATE_HEADER_SIZE);
	strncpy((char *)h + 16, KITE_VERSION, 23);
	strncpy((char *)h + 40, STATE_ARCH, 15);
	put_le32(h + 60, crc32_of(crc32(0, NULL, 0), h, 60));
	return sink->write(sink->opaque, h, sizeof(h));
}

int state_write_section(struct state_sink *sink, const char *tag, uint32_t instance, uint16_t major,
			uint16_t minor, const void *data, size_t len)
{
	uint8_t h[STATE_SECTION_HEADER_SIZE] = { 0 };
	uint32_t crc;
	int r;

	if (strlen(tag) >= STATE_TAG_MAX || len > STATE_SECTION_MAX)
		return -EINVAL;
	memcpy(h, tag, strlen(tag));
	put_le32(h + 24, instance);
	put_le16(h + 28, major);
	put_le16(h + 30, minor);
	put_le64(h + 32, len);
	crc = crc32_of(crc32(0, NULL, 0), h, 40);
	crc = crc32_of(crc, data, len);
	put_le32(h + 40, crc);
	r = sink->write(sink->opaque, h, sizeof(h));
	if (!r && len)
		r = sink->write(sink->opaque, data, len);
	return r;
}

int state_write_end(struct state_sink *sink)
{
	return state_write_section(sink, "end", 0, 1, 0, NULL, 0);
}

int state_save_all(struct state_registry *reg, struct state_sink *sink)
{
	int r = state_write_header(sink);

	for (unsigned i = 0; !r && i < reg->n; i++) {
		struct state_entry *e = &reg->e[i];
		struct sbuf b;

		sbuf_init(&b);
		r = e->save(e->opaque, &b);
		if (!r && b.err)
			r = b.err;
		if (r)
			pr_err("saving state section '%s' #%u: %s", e->tag, e->instance, strerror(-r));
		else
			r = state_write_section(sink, e->tag, e->instance, e->major, e->minor, b.data, b.len);
		sbuf_free(&b);
	}
	if (!r)
		r = state_write_end(sink);
	return r;
}

void state_file_free(struct state_file *f)
{
	for (unsigned i = 0; i < f->n; i++)
		free(f->s[i].data);
	free(f->s);
	memset(f, 0, sizeof(*f));
}

static int state_read_header(struct state_source *src, const char *what, struct state_file *f)
{
	uint8_t h[STATE_HEADER_SIZE];
	int r = src->read(src->opaque, h, sizeof(h));

	if (r) {
		pr_err("%s: %s", what, r == -ENODATA ? "truncated: no complete file header" : strerror(-r));
		return r == -ENODATA ? -EINVAL : r;
	}
	if (memcmp(h, STATE_MAGIC, 8)) {
		pr_err("%s: not a kite state file (bad magic)", what);
		return -EINVAL;
	}
	if (get_le32(h + 60) != crc32_of(crc32(0, NULL, 0), h, 60)) {
		pr_err("%s: file header checksum mismatch (corrupt file)", what);
		return -EINVAL;
	}
	f->major = get_le16(h + 8);
	f->minor = get_le16(h + 10);
	memcpy(f->kite_version, h + 16, 23);
	memcpy(f->arch, h + 40, 15);
	if (f->major != STATE_FORMAT_MAJOR) {
		pr_err("%s: format version %u.%u (written by kite %s); this kite reads format %u.x", what, f->major,
		       f->minor, f->kite_version, STATE_FORMAT_MAJOR);
		return -EPROTO;
	}
	if (get_le32(h + 12) != STATE_HEADER_SIZE) {
		pr_err("%s: bad header size %u", what, get_le32(h + 12));
		return -EINVAL;
	}
	if (strcmp(f->arch, STATE_ARCH)) {
		pr_err("%s: state of a %s machine; this kite runs %s guests", what, f->arch, STATE_ARCH);
		return -EPROTO;
	}
	return 0;
}

static int state_add_section(struct state_file *f, const struct state_section *s)
{
	struct state_section *n = realloc(f->s, (f->n + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	f->s = n;
	f->s[f->n++] = *s;
	return 0;
}

static bool state_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* One section; 1 at the end marker. */
static int state_read_section(struct state_source *src, const char *what, struct state_file *f)
{
	uint8_t h[STATE_SECTION_HEADER_SIZE];
	struct state_section s = { 0 };
	uint64_t len;
	int r;

	r = src->read(src->opaque, h, sizeof(h));
	if (r) {
		if (r == -ENODATA)
			pr_err("%s: truncated after %u sections (no end marker)", what, f->n);
		else
			pr_err("%s: %s", what, strerror(-r));
		return r == -ENODATA ? -EINVAL : r;
	}
	memcpy(s.tag, h, STATE_TAG_MAX - 1);
	if (!state_tag_ok(s.tag) || !state_zero(h + strlen(s.tag), STATE_TAG_MAX - strlen(s.tag))) {
		pr_err("%s: section %u has a malformed tag (corrupt file)", what, f->n);
		return -EINVAL;
	}
	if (get_le32(h + 44)) {
		pr_err("%s: section '%s' has a non-zero reserved field (corrupt file)", what, s.tag);
		return -EINVAL;
	}
	s.instance = get_le32(h + 24);
	s.major = get_le16(h + 28);
	s.minor = get_le16(h + 30);
	len = get_le64(h + 32);
	if (len > STATE_SECTION_MAX) {
		pr_err("%s: section '%s' #%u claims %llu bytes (corrupt file)", what, s.tag, s.instance,
		       (unsigned long long)len);
		return -EINVAL;
	}
	s.len = len;
	s.data = malloc(len ? len : 1);
	if (!s.data)
		return -ENOMEM;
	r = len ? src->read(src->opaque, s.data, len) : 0;
	if (r) {
		pr_err("%s: section '%s' #%u: %s", what, s.tag, s.instance,
		       r == -ENODATA ? "truncated" : strerror(-r));
		free(s.data);
		return r == -ENODATA ? -EINVAL : r;
	}
	if (crc32_of(crc32_of(crc32(0, NULL, 0), h, 40), s.data, len) != get_le32(h + 40)) {
		pr_err("%s: section '%s' #%u: checksum mismatch (corrupt file)", what, s.tag, s.instance);
		free(s.data);
		return -EINVAL;
	}
	if (!strcmp(s.tag, "end")) {
		free(s.data);
		return 1;
	}
	if (state_file_find(f, s.tag, s.instance)) {
		pr_err("%s: section '%s' #%u appears twice", what, s.tag, s.instance);
		free(s.data);
		return -EINVAL;
	}
	r = state_add_section(f, &s);
	if (r)
		free(s.data);
	return r;
}

int state_read_file(struct state_source *src, const char *what, struct state_file *f)
{
	int r;

	memset(f, 0, sizeof(*f));
	r = state_read_header(src, what, f);
	while (!r)
		r = state_read_section(src, what, f);
	if (r < 0) {
		state_file_free(f);
		return r;
	}
	return 0;
}

const struct state_section *state_file_find(const struct state_file *f, const char *tag, uint32_t instance)
{
	for (unsigned i = 0; i < f->n; i++)
		if (f->s[i].instance == instance && !strcmp(f->s[i].tag, tag))
			return &f->s[i];
	return NULL;
}

static bool state_ignored(const char *const *ignore, const char *tag)
{
	for (; ignore && *ignore; ignore++)
		if (!strcmp(*ignore, tag))
			return true;
	return false;
}

/* Every section has an entry of the same major version, and every entry a section. */
static int state_match(struct state_registry *reg, const struct state_file *f, const char *const *ignore)
{
	for (unsigned i = 0; i < f->n; i++) {
		const struct state_section *s = &f->s[i];
		struct state_entry *e = state_find_entry(reg, s->tag, s->instance);

		if (state_ignored(ignore, s->tag))
			continue;
		if (!e) {
			pr_err("state section '%s' #%u does not fit this VM (no such device or vCPU here)", s->tag,
			       s->instance);
			return -EINVAL;
		}
		if (s->major != e->major) {
			pr_err("state section '%s' #%u: version %u.%u, this kite reads %u.x", s->tag, s->instance,
			       s->major, s->minor, e->major);
			return -EPROTO;
		}
	}
	for (unsigned i = 0; i < reg->n; i++) {
		if (!state_file_find(f, reg->e[i].tag, reg->e[i].instance)) {
			pr_err("state section '%s' #%u is missing (the VM has this object, the file does not)",
			       reg->e[i].tag, reg->e[i].instance);
			return -EINVAL;
		}
	}
	return 0;
}

int state_load_all(struct state_registry *reg, const struct state_file *f, const char *const *ignore)
{
	int r = state_match(reg, f, ignore);

	for (unsigned i = 0; !r && i < reg->n; i++) {
		struct state_entry *e = &reg->e[i];
		const struct state_section *s = state_file_find(f, e->tag, e->instance);
		struct sbuf b;

		if (!e->load)
			continue;
		sbuf_view(&b, s->data, s->len);
		r = e->load(e->opaque, &b, s->minor);
		if (!r && b.err)
			r = b.err;
		if (r)
			pr_err("loading state section '%s' #%u: %s", e->tag, e->instance,
			       r == -EOVERFLOW ? "section too short" : strerror(-r));
	}
	return r;
}

int state_fd_write(void *opaque, const void *buf, size_t len)
{
	struct state_fd *s = opaque;

	return write_full(s->fd, buf, len);
}

int state_fd_read(void *opaque, void *buf, size_t len)
{
	struct state_fd *s = opaque;
	uint8_t *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(s->fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		done += n;
	}
	return 0;
}

int state_mem_read(void *opaque, void *buf, size_t len)
{
	struct state_mem_source *m = opaque;

	if (len > m->len - m->pos)
		return -ENODATA;
	memcpy(buf, m->data + m->pos, len);
	m->pos += len;
	return 0;
}

int state_sbuf_write(void *opaque, const void *buf, size_t len)
{
	struct sbuf *b = opaque;

	sbuf_put(b, buf, len);
	return b->err;
}
