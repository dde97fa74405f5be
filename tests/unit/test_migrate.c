// SPDX-License-Identifier: MIT
/*
 * The migration stream without a VM: frames over a socketpair (round trip,
 * every corrupted byte caught, bad magic, bad length, end of stream, fds over
 * SCM_RIGHTS), page batches (raw, zero, zlib, hostile indices and lengths),
 * addresses and fault points.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <kite/api.h>
#include <kite/gmem.h>
#include <kite/http.h>
#include <kite/migrate.h>
#include <kite/migrate_proto.h>
#include <kite/util.h>

struct pair {
	struct mig_conn a, b;
};

static void pair_open(struct pair *p, int type)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	memset(p, 0, sizeof(*p));
	p->a = (struct mig_conn){ .fd = sv[0], .is_unix = true, .rx_fd = -1 };
	p->b = (struct mig_conn){ .fd = sv[1], .is_unix = true, .rx_fd = -1 };
}

static void pair_close(struct pair *p)
{
	mig_conn_close(&p->a);
	mig_conn_close(&p->b);
}

static void test_frame_round_trip(void **state)
{
	struct pair p;
	struct sbuf in;
	unsigned type;
	uint8_t big[100000];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = i * 7;
	pair_open(&p, SOCK_STREAM);
	assert_int_equal(mig_send(&p.a, MIG_READY, NULL, 0), 0);
	assert_int_equal(mig_send(&p.a, MIG_STATE, big, sizeof(big)), 0);
	assert_int_equal(mig_recv(&p.b, &type, &in), 0);
	assert_int_equal(type, MIG_READY);
	assert_int_equal(in.len, 0);
	assert_int_equal(mig_recv(&p.b, &type, &in), 0);
	assert_int_equal(type, MIG_STATE);
	assert_int_equal(in.len, sizeof(big));
	assert_memory_equal(in.data, big, sizeof(big));
	assert_int_equal(p.a.bytes_out, 2 * MIG_HDR_SIZE + sizeof(big));
	assert_int_equal(p.b.bytes_in, p.a.bytes_out);
	/* The end of the stream is a reset, not a frame. */
	close(p.a.fd);
	p.a.fd = -1;
	assert_int_equal(mig_recv(&p.b, &type, &in), -ECONNRESET);
	pair_close(&p);
}

/* Writes raw bytes and returns what mig_recv makes of them. */
static int recv_raw(const uint8_t *buf, size_t len)
{
	struct pair p;
	struct sbuf in;
	unsigned type;
	int r;

	pair_open(&p, SOCK_STREAM);
	assert_int_equal(write_full(p.a.fd, buf, len), 0);
	close(p.a.fd);
	p.a.fd = -1;
	r = mig_recv(&p.b, &type, &in);
	pair_close(&p);
	return r;
}

/* Captures one encoded frame. */
static size_t encode(unsigned type, const void *payload, size_t len, uint8_t *out, size_t cap)
{
	struct pair p;
	ssize_t n;

	pair_open(&p, SOCK_STREAM);
	assert_int_equal(mig_send(&p.a, type, payload, len), 0);
	n = read(p.b.fd, out, cap);
	assert_int_equal(n, MIG_HDR_SIZE + len);
	pair_close(&p);
	return n;
}

static void test_frame_every_flipped_byte(void **state)
{
	uint8_t frame[MIG_HDR_SIZE + 64], bad[sizeof(frame)];
	const char msg[64] = "a payload of sixty-four bytes, checked by the frame's CRC32....";
	size_t n = encode(MIG_ROUND, msg, sizeof(msg), frame, sizeof(frame));

	assert_int_equal(recv_raw(frame, n), 0);
	for (size_t i = 0; i < n; i++) {
		int r;

		memcpy(bad, frame, n);
		bad[i] ^= 0x10;
		r = recv_raw(bad, n);
		/* Length bytes may make the frame longer than what follows: then it is truncated. */
		assert_true(r == -EBADMSG || r == -EPROTO || r == -ECONNRESET);
	}
}

static void test_frame_bad_header(void **state)
{
	uint8_t frame[MIG_HDR_SIZE];

	encode(MIG_GO, NULL, 0, frame, sizeof(frame));
	frame[0] = 'X';
	assert_int_equal(recv_raw(frame, sizeof(frame)), -EPROTO);
	encode(MIG_GO, NULL, 0, frame, sizeof(frame));
	frame[8] = 0xff, frame[9] = 0xff, frame[10] = 0xff, frame[11] = 0xff; /* 4 GiB */
	assert_int_equal(recv_raw(frame, sizeof(frame)), -EPROTO);
	encode(MIG_GO, NULL, 0, frame, sizeof(frame));
	frame[4] = MIG_TYPE_MAX;
	assert_int_equal(recv_raw(frame, sizeof(frame)), -EPROTO);
	assert_int_equal(recv_raw(frame, 5), -ECONNRESET);
}

static void test_frame_fd_passing(void **state)
{
	struct pair p;
	struct sbuf in;
	unsigned type;
	int fds[2];
	char c = 0;

	assert_int_equal(pipe(fds), 0);
	pair_open(&p, SOCK_STREAM);
	assert_int_equal(mig_send_fd(&p.a, MIG_MEMFD, "12345678", 8, fds[1]), 0);
	assert_int_equal(mig_recv(&p.b, &type, &in), 0);
	assert_int_equal(type, MIG_MEMFD);
	assert_true(p.b.rx_fd >= 0);
	assert_int_equal(write(p.b.rx_fd, "k", 1), 1);
	assert_int_equal(read(fds[0], &c, 1), 1);
	assert_int_equal(c, 'k');
	close(fds[0]);
	close(fds[1]);
	pair_close(&p);
}

/* KITE_MIGRATE_FAULT=pages:3: the third page frame breaks the connection (other frames do not count). */
static void test_fault_points(void **state)
{
	struct pair p;

	pair_open(&p, SOCK_STREAM);
	p.a.fault_type = MIG_PAGES;
	p.a.fault_count = 3;
	assert_int_equal(mig_send(&p.a, MIG_PAGES, "x", 1), 0);
	assert_int_equal(mig_send(&p.a, MIG_ROUND, "x", 1), 0);
	assert_int_equal(mig_send(&p.a, MIG_PAGES, "x", 1), 0);
	assert_int_equal(mig_send(&p.a, MIG_PAGES, "x", 1), -ECONNRESET);
	pair_close(&p);
}

static void test_addresses(void **state)
{
	assert_int_equal(migrate_parse_addr("tcp:127.0.0.1:4444"), 0);
	assert_int_equal(migrate_parse_addr("tcp:[::1]:4444"), 0);
	assert_int_equal(migrate_parse_addr("tcp:host.example:1"), 0);
	assert_int_equal(migrate_parse_addr("unix:/run/x.sock"), 0);
	assert_int_equal(migrate_parse_addr("tcp:127.0.0.1"), -EINVAL);
	assert_int_equal(migrate_parse_addr("tcp:127.0.0.1:0"), -EINVAL);
	assert_int_equal(migrate_parse_addr("tcp:127.0.0.1:65536"), -EINVAL);
	assert_int_equal(migrate_parse_addr("tcp:127.0.0.1:44a"), -EINVAL);
	assert_int_equal(migrate_parse_addr("tcp::44"), -EINVAL);
	assert_int_equal(migrate_parse_addr("unix:"), -EINVAL);
	assert_int_equal(migrate_parse_addr("udp:1.2.3.4:5"), -EINVAL);
	assert_int_equal(migrate_parse_addr(""), -EINVAL);
}

#define NPAGES 8

static void test_batch_apply(void **state)
{
	uint8_t *src = calloc(NPAGES, MIG_PAGE), *dst = malloc(NPAGES * MIG_PAGE);
	struct mig_batch b[2];
	struct sbuf in;
	uint64_t pages = 0;

	memset(dst, 0xee, NPAGES * MIG_PAGE);
	for (unsigned i = 0; i < MIG_PAGE; i++) {
		src[1 * MIG_PAGE + i] = i * 13 + 1; /* incompressible enough: raw */
		src[2 * MIG_PAGE + i] = i < 100 ? 'a' : 0; /* compresses */
	}
	for (int z = 0; z < 2; z++) {
		mig_batch_init(&b[z], z);
		for (unsigned p = 0; p < NPAGES; p++)
			mig_batch_add(&b[z], p, src + p * MIG_PAGE);
		assert_int_equal(b[z].pages, NPAGES);
		assert_int_equal(b[z].zero_pages, NPAGES - 2);
	}
	/* The zlib batch is smaller by most of page 2. */
	assert_true(b[1].buf.len + MIG_PAGE / 2 < b[0].buf.len);
	for (int z = 0; z < 2; z++) {
		/* As mig_batch_flush lays it out: the count first. */
		b[z].buf.data[0] = NPAGES;
		sbuf_view(&in, b[z].buf.data, b[z].buf.len);
		memset(dst, 0xee, NPAGES * MIG_PAGE);
		assert_int_equal(mig_pages_apply(&in, dst, NPAGES, &pages, NULL), 0);
		assert_memory_equal(dst, src, NPAGES * MIG_PAGE);
		/* Hostile: one page fewer of RAM than the batch addresses. */
		sbuf_view(&in, b[z].buf.data, b[z].buf.len);
		assert_int_equal(mig_pages_apply(&in, dst, NPAGES - 1, &pages, NULL), -EINVAL);
		/* Truncated. */
		sbuf_view(&in, b[z].buf.data, b[z].buf.len - 1);
		assert_int_equal(mig_pages_apply(&in, dst, NPAGES, &pages, NULL), -EINVAL);
		mig_batch_free(&b[z]);
	}
	free(src);
	free(dst);
}

/* A batch header announcing `count` pages. */
static void batch_start(struct sbuf *out, uint32_t count)
{
	sbuf_init(out);
	sbuf_put_u32(out, count);
}

/* Page 1 as zlib: a length of `len` in front of three bytes that are not zlib. */
static void put_zlib_page(struct sbuf *out, uint32_t len)
{
	sbuf_put_u64(out, 1 | (uint64_t)MIG_PAGE_ZLIB << MIG_PAGE_KIND_SHIFT);
	sbuf_put_u32(out, len);
	sbuf_put(out, "xyz", 3);
}

/* The batch in `out` must be refused by two pages of RAM at `dst`; frees `out`. */
static void expect_batch_refused(struct sbuf *out, uint8_t *dst, uint64_t *pages)
{
	struct sbuf in;

	sbuf_view(&in, out->data, out->len);
	assert_int_equal(mig_pages_apply(&in, dst, 2, pages, NULL), -EINVAL);
	sbuf_free(out);
}

static void test_batch_hostile(void **state)
{
	uint8_t dst[2 * MIG_PAGE] = { 0 }; /* target RAM reads as zero, as fresh guest memory does */
	uint64_t pages = 0;
	struct sbuf out;

	/* An unknown page kind. */
	batch_start(&out, 1);
	sbuf_put_u64(&out, 0 | 7ull << MIG_PAGE_KIND_SHIFT);
	expect_batch_refused(&out, dst, &pages);
	/* A zlib length beyond the frame. */
	batch_start(&out, 1);
	put_zlib_page(&out, 1000000);
	expect_batch_refused(&out, dst, &pages);
	/* Garbage that is not zlib. */
	batch_start(&out, 1);
	put_zlib_page(&out, 3);
	expect_batch_refused(&out, dst, &pages);
	/* A huge count. */
	batch_start(&out, 0xffffffff);
	expect_batch_refused(&out, dst, &pages);
	/* Trailing bytes after the pages. */
	batch_start(&out, 1);
	sbuf_put_u64(&out, 0 | (uint64_t)MIG_PAGE_ZERO << MIG_PAGE_KIND_SHIFT);
	sbuf_put_u8(&out, 1);
	expect_batch_refused(&out, dst, &pages);
}

/* The device-dirty hook: gmem_ptr marks every page of what it hands out, by offset in the mapping. */
static void test_gmem_touched(void **state)
{
	struct gmem m;
	unsigned long bits[2] = { 0, 0 };

	assert_int_equal(gmem_map(&m, 16 * MIG_PAGE, false), 0);
	assert_int_equal(gmem_add_region(&m, 0, 8 * MIG_PAGE), 0);
	assert_int_equal(gmem_add_region(&m, 1ull << 32, 8 * MIG_PAGE), 0);
	assert_non_null(gmem_ptr(&m, 100, 10)); /* no bitmap: nothing to mark */
	m.touched = bits;
	assert_non_null(gmem_ptr(&m, MIG_PAGE - 1, 2));               /* pages 0 and 1 */
	assert_non_null(gmem_ptr(&m, (1ull << 32) + 2 * MIG_PAGE, 1)); /* page 8 + 2 */
	assert_non_null(gmem_ptr(&m, 5 * MIG_PAGE, 0));                /* a zero length marks its page */
	assert_null(gmem_ptr(&m, 7 * MIG_PAGE, 2 * MIG_PAGE));          /* refused: nothing marked */
	assert_int_equal(bits[0], (1ul << 0) | (1ul << 1) | (1ul << 10) | (1ul << 5));
	m.touched = NULL;
	gmem_unmap(&m);
}

/* PUT /kite/migrate and friends as the control socket decodes them (no VM needed). */
static int api_decode_str(const char *method, const char *path, const char *body, struct api_call *call,
			  struct api_response *resp)
{
	static char buf[1024];
	struct http_request req;
	struct http_parser p;
	int n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s", method, path,
			 body ? strlen(body) : 0, body ? body : "");

	http_parser_reset(&p);
	assert_int_equal(http_parse_request(&p, buf, n, &req), n);
	memset(resp, 0, sizeof(*resp));
	return api_decode(&req, call, resp);
}

static void test_api_decode(void **state)
{
	static const char *const bad[] = {
		"{}", "{\"destination\": 5}", "{\"destination\": \"udp:1.2.3.4:5\"}",
		"{\"destination\": \"tcp:h:1\", \"downtime_ms\": 0}",
		"{\"destination\": \"tcp:h:1\", \"downtime_ms\": \"50\"}",
		"{\"destination\": \"tcp:h:1\", \"bandwidth_mib\": -1}",
		"{\"destination\": \"tcp:h:1\", \"compress\": 1}", "{\"destination\": \"tcp:h:1\", \"speed\": 1}",
		"[1]", "not json",
	};
	struct api_response resp;
	struct api_call call;

	assert_int_equal(api_decode_str("PUT", "/kite/migrate",
					 "{\"destination\": \"tcp:10.0.0.2:4444\", \"downtime_ms\": 20, "
					 "\"bandwidth_mib\": 100, \"max_rounds\": 5, \"compress\": true, "
					 "\"auto_converge\": false, \"fd_passing\": false}", &call, &resp), 0);
	assert_int_equal(call.op, API_PUT_MIGRATE);
	assert_string_equal(call.mig.dest, "tcp:10.0.0.2:4444");
	assert_int_equal(call.mig.downtime_ms, 20);
	assert_int_equal(call.mig.bandwidth_mib, 100);
	assert_int_equal(call.mig.max_rounds, 5);
	assert_true(call.mig.compress && call.mig.no_auto_converge && call.mig.no_fd_passing);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(api_decode_str("PUT", "/kite/migrate", bad[i], &call, &resp), -1);
		assert_int_equal(resp.status, 400);
		api_response_free(&resp);
	}
	assert_int_equal(api_decode_str("GET", "/kite/migrate", NULL, &call, &resp), 0);
	assert_int_equal(call.op, API_GET_MIGRATE);
	assert_int_equal(api_decode_str("PUT", "/kite/migrate/cancel", NULL, &call, &resp), 0);
	assert_int_equal(call.op, API_PUT_MIGRATE_CANCEL);
	assert_int_equal(api_decode_str("DELETE", "/kite/migrate", NULL, &call, &resp), -1);
	assert_int_equal(resp.status, 405);
	api_response_free(&resp);
}

static void test_status_names(void **state)
{
	assert_string_equal(migrate_status_name(MIGRATE_STOP_COPY), "stop-copy");
	assert_string_equal(migrate_status_name(MIGRATE_COMPLETED), "completed");
	assert_string_equal(mig_type_name(MIG_GO), "go");
	assert_string_equal(mig_type_name(999), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_round_trip),  cmocka_unit_test(test_frame_every_flipped_byte),
		cmocka_unit_test(test_frame_bad_header),  cmocka_unit_test(test_frame_fd_passing),
		cmocka_unit_test(test_fault_points),      cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_batch_apply),       cmocka_unit_test(test_batch_hostile),
		cmocka_unit_test(test_gmem_touched),      cmocka_unit_test(test_api_decode),
		cmocka_unit_test(test_status_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
