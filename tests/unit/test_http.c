// SPDX-License-Identifier: MIT
/* The control socket's HTTP/1.1 request parser: framing, incremental feeding, pipelining, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kite/http.h>

static struct http_request req;

static int parse(const char *s)
{
	struct http_parser p;

	http_parser_reset(&p);
	return http_parse_request(&p, s, strlen(s), &req);
}

static void test_simple_get(void **state)
{
	const char *s = "GET /kite/vm?x=1 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";

	assert_int_equal(parse(s), strlen(s));
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.path, "/kite/vm");
	assert_string_equal(req.query, "x=1");
	assert_int_equal(req.minor, 1);
	assert_true(req.keep_alive);
	assert_int_equal(req.nheaders, 2);
	assert_int_equal(req.body_len, 0);
	assert_non_null(http_find_header(&req, "ACCEPT"));
	assert_null(http_find_header(&req, "Content-Type"));
}

static void test_body(void **state)
{
	const char *s = "PATCH /vm HTTP/1.1\r\nContent-Length: 18\r\n\r\n{\"state\":\"Paused\"}";

	assert_int_equal(parse(s), strlen(s));
	assert_int_equal(req.body_len, 18);
	assert_memory_equal(req.body, "{\"state\":\"Paused\"}", 18);
}

/* A byte at a time: nothing until the last byte, then the whole request. */
static void test_incremental(void **state)
{
	const char *s = "PUT /actions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
	size_t n = strlen(s);
	struct http_parser p;

	http_parser_reset(&p);
	for (size_t i = 1; i < n; i++)
		assert_int_equal(http_parse_request(&p, s, i, &req), 0);
	assert_int_equal(http_parse_request(&p, s, n, &req), n);
	assert_memory_equal(req.body, "hello", 5);
}

static void test_pipelining(void **state)
{
	const char *s = "GET / HTTP/1.1\r\n\r\n"
			"PUT /kite/stop HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
			"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n";
	size_t len = strlen(s), off = 0;
	const char *paths[] = { "/", "/kite/stop", "/metrics" };
	struct http_parser p;

	for (int i = 0; i < 3; i++) {
		int r;

		http_parser_reset(&p);
		r = http_parse_request(&p, s + off, len - off, &req);
		assert_true(r > 0);
		assert_string_equal(req.path, paths[i]);
		off += r;
	}
	assert_int_equal(off, len);
	assert_false(req.keep_alive);
}

static void test_keep_alive_rules(void **state)
{
	assert_true(parse("GET / HTTP/1.0\r\n\r\n") > 0);
	assert_false(req.keep_alive);
	assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0);
	assert_true(req.keep_alive);
	assert_true(parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n") > 0);
	assert_false(req.keep_alive);
	assert_true(parse("GET / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx") > 0);
	assert_true(req.expect_continue);
}

static void expect_error(const char *s, int status)
{
	struct http_parser p;

	http_parser_reset(&p);
	assert_int_equal(http_parse_request(&p, s, strlen(s), &req), -status);
	assert_true(p.error[0] != '\0');
}

static void test_malformed(void **state)
{
	expect_error("GET / HTTP/1.1\n\n", 400);                      /* bare LF */
	expect_error("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400);       /* bare CR */
	expect_error("GET /\r\n\r\n", 400);                            /* no version */
	expect_error("GET / HTTP/2.0\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1 x\r\n\r\n", 400);
	expect_error("GET vm HTTP/1.1\r\n\r\n", 400);                  /* not origin-form */
	expect_error("G(T / HTTP/1.1\r\n\r\n", 400);
	expect_error(" GET / HTTP/1.1\r\n\r\n", 400);
	expect_error("\r\nGET / HTTP/1.1\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\n: x\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
	expect_error("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400);
	expect_error("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411);
	expect_error("GET / HTTP/1.1\r\nExpect: something\r\n\r\n", 400);
}

static void test_nul_in_head(void **state)
{
	const char s[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
	struct http_parser p;

	http_parser_reset(&p);
	assert_int_equal(http_parse_request(&p, s, sizeof(s) - 1, &req), -400);
}

static void test_same_length_twice_is_fine(void **state)
{
	assert_true(parse("PUT / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}") > 0);
	assert_int_equal(req.body_len, 2);
}

static void test_head_limit(void **state)
{
	size_t n = HTTP_MAX_HEAD + 100;
	char *s = malloc(n + 1);
	struct http_parser p;

	memcpy(s, "GET / HTTP/1.1\r\nX: ", 19);
	memset(s + 19, 'a', n - 19);
	s[n] = '\0';
	http_parser_reset(&p);
	/* Below the limit it waits; at the limit it refuses, without seeing the rest. */
	assert_int_equal(http_parse_request(&p, s, HTTP_MAX_HEAD - 1, &req), 0);
	assert_int_equal(http_parse_request(&p, s, HTTP_MAX_HEAD, &req), -431);
	assert_int_equal(http_parse_request(&p, s, n, &req), -431);
	free(s);
}

static void test_header_count_limit(void **state)
{
	char s[4096];
	int n = snprintf(s, sizeof(s), "GET / HTTP/1.1\r\n");

	for (int i = 0; i < HTTP_MAX_HEADERS; i++)
		n += snprintf(s + n, sizeof(s) - n, "H%d: v\r\n", i);
	snprintf(s + n, sizeof(s) - n, "\r\n");
	assert_true(parse(s) > 0);
	assert_int_equal(req.nheaders, HTTP_MAX_HEADERS);
	snprintf(s + n, sizeof(s) - n, "One: more\r\n\r\n");
	expect_error(s, 431);
}

static void test_body_limit(void **state)
{
	char s[256];

	snprintf(s, sizeof(s), "PUT / HTTP/1.1\r\nContent-Length: %d\r\n\r\n", HTTP_MAX_BODY);
	assert_int_equal(parse(s), 0); /* allowed: waits for the body */
	snprintf(s, sizeof(s), "PUT / HTTP/1.1\r\nContent-Length: %d\r\n\r\n", HTTP_MAX_BODY + 1);
	expect_error(s, 413);
	expect_error("PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999999999999\r\n\r\n", 413);
}

static void test_target_limit(void **state)
{
	char s[HTTP_MAX_TARGET + 64];

	memset(s, 'a', sizeof(s));
	memcpy(s, "GET /", 5);
	memcpy(s + HTTP_MAX_TARGET + 10, " HTTP/1.1\r\n\r\n", 14);
	s[HTTP_MAX_TARGET + 24] = '\0';
	expect_error(s, 400);
}

static void test_format_head(void **state)
{
	char buf[512];
	int n;

	n = http_format_head(buf, sizeof(buf), 204, NULL, 0, false, NULL);
	assert_true(n > 0);
	assert_non_null(strstr(buf, "HTTP/1.1 204 No Content\r\n"));
	assert_null(strstr(buf, "Content-Type"));
	n = http_format_head(buf, sizeof(buf), 405, "application/json", 10, true, "Allow: GET\r\n");
	assert_non_null(strstr(buf, "Content-Length: 10\r\n"));
	assert_non_null(strstr(buf, "Connection: close\r\n"));
	assert_non_null(strstr(buf, "Allow: GET\r\n\r\n"));
	assert_int_equal(n, strlen(buf));
	assert_int_equal(http_format_head(buf, 16, 200, NULL, 0, false, NULL), -1);
}

static void test_parse_response(void **state)
{
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	const char *nc = "HTTP/1.1 204 No Content\r\n\r\n";
	const char *body;
	size_t blen;
	int status;

	assert_int_equal(http_parse_response(ok, strlen(ok), false, &status, &body, &blen), strlen(ok));
	assert_int_equal(status, 200);
	assert_int_equal(blen, 2);
	assert_int_equal(http_parse_response(ok, strlen(ok) - 1, false, &status, &body, &blen), 0);
	assert_int_equal(http_parse_response(ok, strlen(ok) - 1, true, &status, &body, &blen), -1);
	assert_int_equal(http_parse_response(nc, strlen(nc), false, &status, &body, &blen), strlen(nc));
	assert_int_equal(status, 204);
	assert_int_equal(http_parse_response("garbage\r\n\r\n", 11, true, &status, &body, &blen), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_keep_alive_rules),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_nul_in_head),
		cmocka_unit_test(test_same_length_twice_is_fine),
		cmocka_unit_test(test_head_limit),
		cmocka_unit_test(test_header_count_limit),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_target_limit),
		cmocka_unit_test(test_format_head),
		cmocka_unit_test(test_parse_response),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
