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

static void expect_fault(int status, const char *words)
{
	assert_int_equal(resp.status, status);
	assert_string_equal(resp.content_type, "application/json");
	assert_non_null(strstr(resp.body, "\"fault_message\""));
	if (words && !strstr(resp.body, words))
		fail_msg("'%s' not in %s", words, resp.body);
}

static void test_routes(void **state)
{
	assert_int_equal(decode("GET", "/", NULL), 0);
	assert_int_equal(call.op, API_GET_INFO);
	assert_int_equal(decode("GET", "/machine-config", NULL), 0);
	assert_int_equal(call.op, API_GET_MACHINE_CONFIG);
	assert_int_equal(decode("GET", "/kite/vm", NULL), 0);
	assert_int_equal(call.op, API_GET_KITE_VM);
	assert_int_equal(decode("GET", "/kite/stats", NULL), 0);
	assert_int_equal(call.op, API_GET_KITE_STATS);
	assert_int_equal(decode("GET", "/metrics", NULL), 0);
	assert_int_equal(call.op, API_GET_METRICS);
	assert_int_equal(decode("PUT", "/kite/stop", NULL), 0);
	assert_int_equal(call.op, API_PUT_KITE_STOP);
	/* A query string does not change the route. */
	assert_int_equal(decode("GET", "/kite/vm?pretty", NULL), 0);
}

static void test_unknown_path_and_method(void **state)
{
	assert_int_equal(decode("GET", "/nope", NULL), -1);
	expect_fault(404, "/nope");
	assert_int_equal(decode("GET", "/vm/", NULL), -1);
	expect_fault(404, NULL);
	assert_int_equal(decode("DELETE", "/vm", NULL), -1);
	expect_fault(405, "PATCH");
	assert_string_equal(resp.extra, "Allow: PATCH\r\n");
	assert_int_equal(decode("POST", "/", NULL), -1);
	expect_fault(405, NULL);
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
	assert_int_equal(decode("PATCH", "/vm", NULL), -1);
	expect_fault(400, "needs a JSON body");
	assert_int_equal(decode("PATCH", "/vm", "{\"state\": \"Paused\""), -1);
	expect_fault(400, "invalid JSON");
	assert_int_equal(decode("PATCH", "/vm", "{\"state\": \"Paused\"} x"), -1);
	expect_fault(400, "invalid JSON");
	assert_int_equal(decode("PATCH", "/vm", "[\"Paused\"]"), -1);
	expect_fault(400, "object");
	assert_int_equal(decode("PATCH", "/vm", "{\"state\": 1}"), -1);
	expect_fault(400, "must be a string");
	assert_int_equal(decode("PATCH", "/vm", "{}"), -1);
	expect_fault(400, "missing field");
	assert_int_equal(decode("PATCH", "/vm", "{\"state\": \"Frozen\"}"), -1);
	expect_fault(400, "Paused");
	assert_int_equal(decode("PATCH", "/vm", "{\"state\": \"Paused\", \"x\": 1}"), -1);
	expect_fault(400, "unknown field");
	assert_int_equal(decode("PATCH", "/vm", "{\"state\": \"Paused\", \"state\": \"Resumed\"}"), -1);
	expect_fault(400, "invalid JSON");
}

static void test_actions(void **state)
{
	assert_int_equal(decode("PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), 0);
	assert_int_equal(call.op, API_PUT_ACTIONS);
	assert_int_equal(call.action, API_ACTION_CTRL_ALT_DEL);
	assert_int_equal(decode("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), -1);
	expect_fault(400, "not supported");
	assert_int_equal(decode("PUT", "/actions", "{\"action_type\": null}"), -1);
	expect_fault(400, "must be a string");
	assert_int_equal(decode("PUT", "/actions", "\"SendCtrlAltDel\""), -1);
	expect_fault(400, NULL);
}

/* Found by fuzz_http: a non-UTF-8 path must still give a JSON fault. */
static void test_non_utf8_path(void **state)
{
	assert_int_equal(decode("GET", "/t\xff\xfe", NULL), -1);
	expect_fault(404, "/t??");
}

static void test_console_needs_upgrade(void **state)
{
	assert_int_equal(decode("GET", "/kite/console", NULL), -1);
	expect_fault(400, "Upgrade");
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
