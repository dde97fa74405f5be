// SPDX-License-Identifier: MIT
/*
 * The migration stream: addresses, sockets, frames and page batches.  Every
 * frame carries a CRC32 of its header and payload; the receiver checks magic,
 * type, length and CRC before anything looks at the payload.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <nmmintrin.h>
#include <zlib.h>

#include <kite/log.h>
#include <kite/migrate.h>
#include <kite/migrate_proto.h>
#include <kite/util.h>

static const char *const mig_type_names[MIG_TYPE_MAX] = {
	[MIG_HELLO] = "hello", [MIG_CONFIG] = "config", [MIG_ACCEPT] = "accept", [MIG_REFUSE] = "refuse",
	[MIG_PAGES] = "pages", [MIG_ROUND] = "round", [MIG_MEMFD] = "memfd", [MIG_STOPCOPY] = "stop-copy",
	[MIG_STATE] = "state", [MIG_READY] = "ready", [MIG_GO] = "go", [MIG_DONE] = "done", [MIG_ERROR] = "error",
};

const char *mig_type_name(unsigned type)
{
	return type < MIG_TYPE_MAX && mig_type_names[type] ? mig_type_names[type] : "unknown";
}

const char *migrate_status_name(enum migrate_status s)
{
	switch (s) {
	case MIGRATE_NONE:
		return "none";
	case MIGRATE_SETUP:
		return "setup";
	case MIGRATE_ACTIVE:
		return "active";
	case MIGRATE_STOP_COPY:
		return "stop-copy";
	case MIGRATE_COMPLETED:
		return "completed";
	case MIGRATE_FAILED:
		return "failed";
	case MIGRATE_CANCELLED:
		return "cancelled";
	}
	return "?";
}

/* Splits "tcp:HOST:PORT" into host and port (the last colon; [v6] brackets removed). */
static int mig_split_tcp(const char *s, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon = strrchr(s, ':');
	size_t n;

	if (!colon || colon == s || !colon[1] || strlen(colon + 1) >= plen)
		return -EINVAL;
	n = colon - s;
	if (s[0] == '[' && n >= 2 && s[n - 1] == ']')
		s++, n -= 2;
	if (!n || n >= hlen)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = 0;
	strcpy(port, colon + 1);
	for (const char *p = port; *p; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	return atoi(port) > 0 && atoi(port) < 65536 ? 0 : -EINVAL;
}

int migrate_parse_addr(const char *addr)
{
	char host[256], port[8];

	if (!strncmp(addr, "unix:", 5))
		return addr[5] && strlen(addr + 5) < sizeof(((struct sockaddr_un *)0)->sun_path) ? 0 : -EINVAL;
	if (!strncmp(addr, "tcp:", 4))
		return mig_split_tcp(addr + 4, host, sizeof(host), port, sizeof(port));
	return -EINVAL;
}

static int mig_unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/*
 * Small socket buffers on purpose: whatever sits in them when the guest is
 * paused must still reach the target and be applied before the state, so it
 * is downtime.  256 KiB (the kernel doubles it) keeps a loopback or LAN link
 * busy and bounds that backlog to about a millisecond.
 */
static void mig_tcp_tune(int fd)
{
	int one = 1, buf = 256 << 10;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

static void mig_conn_init(struct mig_conn *c, int fd, bool is_unix)
{
	const char *fault = getenv("KITE_MIGRATE_FAULT");

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->is_unix = is_unix;
	c->rx_fd = -1;
	if (!fault || !*fault)
		return;
	if (*fault >= '0' && *fault <= '9') {
		c->fault_after = strtoull(fault, NULL, 0);
		return;
	}
	for (unsigned t = 1; t < MIG_TYPE_MAX; t++) {
		size_t n = strlen(mig_type_names[t]);

		if (!strncmp(fault, mig_type_names[t], n) && (!fault[n] || fault[n] == ':')) {
			c->fault_type = t;
			c->fault_count = fault[n] ? strtoul(fault + n + 1, NULL, 0) : 1;
		}
	}
}

static int mig_tcp_resolve(const char *addr, bool passive, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	char host[256], port[8];
	int r;

	if (mig_split_tcp(addr + 4, host, sizeof(host), port, sizeof(port)))
		return -EINVAL;
	if (passive)
		hints.ai_flags = AI_PASSIVE;
	r = getaddrinfo(host, port, &hints, res);
	if (r) {
		pr_err("migration: %s: %s", addr, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	return 0;
}

int mig_connect(const char *addr, struct mig_conn *c)
{
	struct sockaddr_un sa;
	struct addrinfo *res, *ai;
	int fd = -1, r = -EINVAL;

	if (migrate_parse_addr(addr)) {
		pr_err("migration: '%s': expected tcp:HOST:PORT or unix:PATH", addr);
		return -EINVAL;
	}
	if (!strncmp(addr, "unix:", 5)) {
		mig_unix_addr(addr + 5, &sa);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			r = -errno;
			pr_err("migration: cannot connect to %s: %s", addr, strerror(-r));
			if (fd >= 0)
				close(fd);
			return r;
		}
		mig_conn_init(c, fd, true);
		return 0;
	}
	r = mig_tcp_resolve(addr, false, &res);
	if (r)
		return r;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		mig_tcp_tune(fd);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		r = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		pr_err("migration: cannot connect to %s: %s", addr, strerror(-r));
		return r;
	}
	mig_conn_init(c, fd, false);
	return 0;
}

int mig_listen(const char *addr)
{
	struct sockaddr_un sa;
	struct addrinfo *res, *ai;
	int fd = -1, one = 1, r = -EINVAL;

	if (migrate_parse_addr(addr)) {
		pr_err("migration: '%s': expected tcp:HOST:PORT or unix:PATH", addr);
		return -EINVAL;
	}
	if (!strncmp(addr, "unix:", 5)) {
		mig_unix_addr(addr + 5, &sa);
		unlink(sa.sun_path); /* a stale socket of an earlier target */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
			r = -errno;
			pr_err("migration: cannot listen on %s: %s", addr, strerror(-r));
			if (fd >= 0)
				close(fd);
			return r;
		}
		chmod(sa.sun_path, 0600);
		return fd;
	}
	r = mig_tcp_resolve(addr, true, &res);
	if (r)
		return r;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		mig_tcp_tune(fd);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0)
			break;
		r = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		pr_err("migration: cannot listen on %s: %s", addr, strerror(-r));
	return fd < 0 ? r : fd;
}

int mig_accept(int lfd, struct mig_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	do
		fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	if (ss.ss_family != AF_UNIX)
		mig_tcp_tune(fd);
	mig_conn_init(c, fd, ss.ss_family == AF_UNIX);
	return 0;
}

void mig_conn_close(struct mig_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->rx_fd >= 0)
		close(c->rx_fd);
	free(c->rbuf);
	c->fd = c->rx_fd = -1;
	c->rbuf = NULL;
	c->rcap = 0;
}

void mig_set_timeout(struct mig_conn *c, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Frames carry CRC32C (Castagnoli): SSE4.2 computes it at several GB/s, a
 * third of the cost of zlib's CRC32 on the page stream.
 */
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t n)
{
	uint64_t c = crc;

	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
	}
	for (; n; p++, n--)
		c = _mm_crc32_u8((uint32_t)c, *p);
	return c;
}

static uint32_t crc32c_soft(uint32_t crc, const uint8_t *p, size_t n)
{
	for (; n; p++, n--) {
		crc ^= *p;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & -(crc & 1));
	}
	return crc;
}

static uint32_t crc32c_update(uint32_t crc, const void *p, size_t n)
{
	return __builtin_cpu_supports("sse4.2") ? crc32c_sse42(crc, p, n) : crc32c_soft(crc, p, n);
}

static uint32_t mig_crc(const uint8_t *hdr, const void *payload, size_t len)
{
	uint32_t crc = crc32c_update(~0u, hdr, 12);

	return ~crc32c_update(crc, payload, len);
}

/* sendmsg until everything is out; the fd goes with the first byte. */
static int mig_sendv(struct mig_conn *c, struct iovec *iov, int niov, int fd)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = niov };

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(ctl, 0, sizeof(ctl));
		mh.msg_control = ctl;
		mh.msg_controllen = sizeof(ctl);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	while (mh.msg_iovlen) {
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		c->bytes_out += n;
		while (mh.msg_iovlen && (size_t)n >= mh.msg_iov->iov_len) {
			n -= mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= n;
		}
	}
	return 0;
}

int mig_send_fd(struct mig_conn *c, unsigned type, const void *payload, size_t len, int fd)
{
	uint8_t h[MIG_HDR_SIZE];
	struct iovec iov[2] = { { h, sizeof(h) }, { (void *)payload, len } };

	if (len > MIG_FRAME_MAX)
		return -EMSGSIZE;
	put32(h, MIG_MAGIC);
	h[4] = type;
	h[5] = type >> 8;
	h[6] = h[7] = 0;
	put32(h + 8, len);
	put32(h + 12, mig_crc(h, payload, len));
	/* Fault injection for the tests: the link breaks after N bytes, or at a frame of a type. */
	if (c->fault_type == type && c->fault_count)
		c->fault_count--;
	if ((c->fault_after && c->bytes_out + sizeof(h) + len > c->fault_after) ||
	    (c->fault_type == type && !c->fault_count)) {
		pr_warn("migration: KITE_MIGRATE_FAULT: cutting the connection after %llu bytes",
			(unsigned long long)c->bytes_out);
		shutdown(c->fd, SHUT_RDWR);
		return -ECONNRESET;
	}
	return mig_sendv(c, iov, len ? 2 : 1, fd);
}

int mig_send(struct mig_conn *c, unsigned type, const void *payload, size_t len)
{
	return mig_send_fd(c, type, payload, len, -1);
}

void mig_send_error(struct mig_conn *c, const char *fmt, ...)
{
	char msg[256];
	struct sbuf b;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sbuf_init(&b);
	sbuf_put_str(&b, msg);
	if (!b.err)
		mig_send(c, MIG_ERROR, b.data, b.len);
	sbuf_free(&b);
}

/* recvmsg of exactly len bytes; an fd that arrives is kept in c->rx_fd. */
static int mig_read(struct mig_conn *c, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		char ctl[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { p, len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (c->is_unix) {
			mh.msg_control = ctl;
			mh.msg_controllen = sizeof(ctl);
		}
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0)
			return -ECONNRESET;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); c->is_unix && cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
			    cm->cmsg_len == CMSG_LEN(sizeof(int))) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm), sizeof(int));
				if (c->rx_fd >= 0)
					close(c->rx_fd); /* one fd per frame: an extra one is dropped */
				c->rx_fd = fd;
			}
		}
		c->bytes_in += n;
		p += n;
		len -= n;
	}
	return 0;
}

int mig_recv(struct mig_conn *c, unsigned *type, struct sbuf *payload)
{
	uint8_t h[MIG_HDR_SIZE];
	uint32_t len;
	int r;

	r = mig_read(c, h, sizeof(h));
	if (r)
		return r;
	len = get32(h + 8);
	*type = h[4] | h[5] << 8;
	if (get32(h) != MIG_MAGIC) {
		pr_err("migration: the peer does not speak kite's migration protocol (bad frame magic)");
		return -EPROTO;
	}
	if (!*type || *type >= MIG_TYPE_MAX || len > MIG_FRAME_MAX) {
		pr_err("migration: bad frame (type %u, %u bytes)", *type, len);
		return -EPROTO;
	}
	if (len > c->rcap) {
		uint8_t *n = realloc(c->rbuf, len);

		if (!n)
			return -ENOMEM;
		c->rbuf = n;
		c->rcap = len;
	}
	r = mig_read(c, c->rbuf, len);
	if (r)
		return r;
	if (mig_crc(h, c->rbuf, len) != get32(h + 12)) {
		pr_err("migration: CRC mismatch in a '%s' frame of %u bytes", mig_type_name(*type), len);
		return -EBADMSG;
	}
	sbuf_view(payload, c->rbuf, len);
	return 0;
}

/* Any alignment: a copy inside a batch sits 4 bytes off. */
bool mig_page_is_zero(const uint8_t *p)
{
	for (unsigned i = 0; i < MIG_PAGE; i += 64) {
		uint64_t w[8];

		memcpy(w, p + i, sizeof(w));
		if (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7])
			return false;
	}
	return true;
}

void mig_batch_init(struct mig_batch *b, bool zlib)
{
	memset(b, 0, sizeof(*b));
	sbuf_init(&b->buf);
	b->zlib = zlib;
	if (zlib)
		b->zbuf = malloc(compressBound(MIG_PAGE));
	b->zlib = b->zbuf != NULL;
	sbuf_put_u32(&b->buf, 0);
}

void mig_batch_free(struct mig_batch *b)
{
	sbuf_free(&b->buf);
	free(b->zbuf);
	b->zbuf = NULL;
}

/*
 * The page is copied first and looked at in the copy: one pass over guest
 * RAM, and what is checked (zero?) is what is sent even while the guest
 * writes the page (a write after the copy shows in the dirty log).
 */
void mig_batch_add(struct mig_batch *b, uint64_t index, const uint8_t *page)
{
	size_t at = b->buf.len;
	const uint8_t *copy;
	uLongf zlen;

	b->n++;
	b->pages++;
	sbuf_put_u64(&b->buf, index);
	sbuf_put(&b->buf, page, MIG_PAGE);
	if (b->buf.err)
		return;
	copy = b->buf.data + at + 8;
	if (mig_page_is_zero(copy)) {
		b->zero_pages++;
		b->buf.len = at;
		sbuf_put_u64(&b->buf, index | (uint64_t)MIG_PAGE_ZERO << MIG_PAGE_KIND_SHIFT);
		return;
	}
	zlen = compressBound(MIG_PAGE);
	/* Compressed only when it saves at least a quarter: otherwise the receiver's time is wasted. */
	if (b->zlib && compress2(b->zbuf, &zlen, copy, MIG_PAGE, Z_BEST_SPEED) == Z_OK && zlen < MIG_PAGE * 3 / 4) {
		b->buf.len = at;
		sbuf_put_u64(&b->buf, index | (uint64_t)MIG_PAGE_ZLIB << MIG_PAGE_KIND_SHIFT);
		sbuf_put_u32(&b->buf, zlen);
		sbuf_put(&b->buf, b->zbuf, zlen);
	}
}

int mig_batch_flush(struct mig_batch *b, struct mig_conn *c)
{
	int r;

	if (!b->n)
		return 0;
	if (b->buf.err)
		return b->buf.err;
	put32(b->buf.data, b->n);
	r = mig_send(c, MIG_PAGES, b->buf.data, b->buf.len);
	b->buf.len = 0;
	b->n = 0;
	sbuf_put_u32(&b->buf, 0);
	return r;
}

static bool bit_test_set(unsigned long *bits, uint64_t i, bool set)
{
	const unsigned w = 8 * sizeof(long);
	bool was = bits[i / w] & (1ul << (i % w));

	if (set)
		bits[i / w] |= 1ul << (i % w);
	return was;
}

int mig_pages_apply(struct sbuf *in, uint8_t *ram, uint64_t npages, uint64_t *pages, unsigned long *written)
{
	uint32_t n = sbuf_get_u32(in);

	if (n > MIG_BATCH_PAGES * 4)
		return -EINVAL;
	for (uint32_t i = 0; i < n && !in->err; i++) {
		uint64_t w = sbuf_get_u64(in), idx = w & ((1ull << MIG_PAGE_KIND_SHIFT) - 1);
		unsigned kind = w >> MIG_PAGE_KIND_SHIFT;
		uint8_t *dst;

		if (in->err || idx >= npages)
			return -EINVAL;
		dst = ram + idx * MIG_PAGE;
		if (kind == MIG_PAGE_ZERO) {
			/* Fresh target RAM reads as zero: never fault a page in just to clear it (or to look). */
			if (written ? bit_test_set(written, idx, false) : !mig_page_is_zero(dst))
				memset(dst, 0, MIG_PAGE);
			(*pages)++;
			continue;
		}
		if (written)
			bit_test_set(written, idx, true);
		if (kind == MIG_PAGE_RAW) {
			sbuf_get(in, dst, MIG_PAGE);
		} else if (kind == MIG_PAGE_ZLIB) {
			uint32_t zlen = sbuf_get_u32(in);
			uLongf out = MIG_PAGE;

			if (in->err || zlen > sbuf_left(in) ||
			    uncompress(dst, &out, in->data + in->pos, zlen) != Z_OK || out != MIG_PAGE)
				return -EINVAL;
			in->pos += zlen;
		} else {
			return -EINVAL;
		}
		(*pages)++;
	}
	return in->err || sbuf_left(in) ? -EINVAL : 0;
}
