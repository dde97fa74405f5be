// SPDX-License-Identifier: MIT
/* The control socket's request decoding: paths, methods, JSON bodies and field types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kite/api.h>
#include <kite/util.h>

static struct http_request req;
static struct api_response resp;
static struct api_call call;

/* Parses `method path` with `body` and decodes it; returns api_decode's result. */
static int decode(const char *method, const char *path, const char *body)
{
	static char buf[4096];
	struct http_parser p;
	int n;

	n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s", method, path,
		     body ? strlen(body) : 0, body ? body : "");
	http_parser_reset(&p);
	assert_int_equal(http_parse_request(&p, buf, n, &req), n);
	api_response_free(&resp);
	memset(&resp, 0, sizeof(resp));
	return api_decode(&req, &call, &resp);
}

/* The request must be refused with a JSON fault of `status` that mentions `words` (NULL: any). */
static void expect_rejected(const char *method, const char *path, const char *body, int status, const char *words)
{
	assert_int_equal(decode(method, path, body), -1);
	assert_int_equal(resp.status, status);
	assert_string_equal(resp.content_type, "application/json");
	assert_non_null(strstr(resp.body, "\"fault_message\""));
	if (words && !strstr(resp.body, words))
		fail_msg("'%s' not in %s", words, resp.body);
}

static void test_routes(void **state)
{
	static const struct {
		const char *method, *path;
		enum api_op op;
	} routes[] = {
		{ "GET", "/", API_GET_INFO },
		{ "GET", "/machine-config", API_GET_MACHINE_CONFIG },
		{ "GET", "/kite/vm", API_GET_KITE_VM },
		{ "GET", "/kite/stats", API_GET_KITE_STATS },
		{ "GET", "/metrics", API_GET_METRICS },
		{ "PUT", "/kite/stop", API_PUT_KITE_STOP },
	};

	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		assert_int_equal(decode(routes[i].method, routes[i].path, NULL), 0);
		assert_int_equal(call.op, routes[i].op);
	}
	/* A query string does not change the route. */
	assert_int_equal(decode("GET", "/kite/vm?pretty", NULL), 0);
}

static void test_unknown_path_and_method(void **state)
{
	expect_rejected("GET", "/nope", NULL, 404, "/nope");
	expect_rejected("GET", "/vm/", NULL, 404, NULL);
	expect_rejected("DELETE", "/vm", NULL, 405, "PATCH");
	assert_string_equal(resp.extra, "Allow: PATCH\r\n");
	expect_rejected("POST", "/", NULL, 405, NULL);
}

static void test_vm_state(void **state)
{
	assert_int_equal(decode("PATCH", "/vm", "{\"state\": \"Paused\"}"), 0);
	assert_int_equal(call.op, API_PATCH_VM);
	assert_true(call.pause);
	assert_int_equal(decode("PATCH", "/vm", "{\"state\":\"Resumed\"}"), 0);
	assert_false(call.pause);
}

static void test_vm_state_errors(void **state)
{
	static const struct {
		const char *body, *words;
	} bad[] = {
		{ NULL, "needs a JSON body" },
		{ "{\"state\": \"Paused\"", "invalid JSON" },
		{ "{\"state\": \"Paused\"} x", "invalid JSON" },
		{ "[\"Paused\"]", "object" },
		{ "{\"state\": 1}", "must be a string" },
		{ "{}", "missing field" },
		{ "{\"state\": \"Frozen\"}", "Paused" },
		{ "{\"state\": \"Paused\", \"x\": 1}", "unknown field" },
		{ "{\"state\": \"Paused\", \"state\": \"Resumed\"}", "invalid JSON" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_rejected("PATCH", "/vm", bad[i].body, 400, bad[i].words);
}

static void test_actions(void **state)
{
	assert_int_equal(decode("PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), 0);
	assert_int_equal(call.op, API_PUT_ACTIONS);
	assert_int_equal(call.action, API_ACTION_CTRL_ALT_DEL);
	expect_rejected("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400, "not supported");
	expect_rejected("PUT", "/actions", "{\"action_type\": null}", 400, "must be a string");
	expect_rejected("PUT", "/actions", "\"SendCtrlAltDel\"", 400, NULL);
}

/* Found by fuzz_http: a non-UTF-8 path must still give a JSON fault. */
static void test_non_utf8_path(void **state)
{
	expect_rejected("GET", "/t\xff\xfe", NULL, 404, "/t??");
}

static void test_console_needs_upgrade(void **state)
{
	expect_rejected("GET", "/kite/console", NULL, 400, "Upgrade");
}

static void test_fault_is_valid_json_even_with_quotes(void **state)
{
	api_response_free(&resp);
	memset(&resp, 0, sizeof(resp));
	api_fault(&resp, 400, "a \"quoted\" \\ thing\n\xff");
	assert_string_equal(resp.body, "{\"fault_message\":\"a \\\"quoted\\\" \\\\ thing??\"}");
	api_response_free(&resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_unknown_path_and_method),
		cmocka_unit_test(test_vm_state),
		cmocka_unit_test(test_vm_state_errors),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_non_utf8_path),
		cmocka_unit_test(test_console_needs_upgrade),
		cmocka_unit_test(test_fault_is_valid_json_even_with_quotes),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	api_response_free(&resp);
	return r;
}
