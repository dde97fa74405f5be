// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: any bytes as what a client sends to the control socket.
 * The first byte picks how many bytes arrive per read (incremental feeding);
 * the rest is a stream of requests, parsed one after another (pipelining),
 * each complete one decoded (route, method, JSON body, field types) exactly
 * as the server does.  Every prefix is parsed from an allocation of its own
 * size, so a read past what has arrived is an ASan error, not a lucky read.
 * The same bytes also go through the client's response parser.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kite/api.h>
#include <kite/http.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_one(const struct http_request *req)
{
	struct api_response resp = { 0 };
	struct api_call call;

	if (api_decode(req, &call, &resp) == 0) {
		if (resp.body)
			abort(); /* a successful decode leaves the response to the executor */
	} else if (resp.status < 400 || resp.status > 499 || !resp.body) {
		abort(); /* every refusal is a 4xx with a fault message */
	}
	api_response_free(&resp);
}

/* Parses stream[0..len) as arriving `step` bytes at a time; returns false on a refusal. */
static bool feed(const uint8_t *stream, size_t len, size_t step)
{
	static struct http_request req;
	struct http_parser p;
	size_t start = 0, have = 0;

	http_parser_reset(&p);
	while (start < len) {
		char *buf;
		int r;

		have = have + step > len ? len : have + step;
		buf = malloc(have - start ? have - start : 1);
		memcpy(buf, stream + start, have - start);
		r = http_parse_request(&p, buf, have - start, &req);
		if (r > 0) {
			if ((size_t)r > have - start || req.body_len > HTTP_MAX_BODY || req.head_len > HTTP_MAX_HEAD)
				abort();
			decode_one(&req);
			start += r;
			http_parser_reset(&p);
		}
		free(buf);
		if (r < 0) {
			if (-r < 400 || -r > 499 || !p.error[0])
				abort();
			return false;
		}
		if (r == 0 && have == len)
			break;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body;
	size_t blen, step;
	int status;
	char *copy;

	if (size < 1)
		return 0;
	step = data[0] % 64 + 1;
	if (data[0] >= 0xf0)
		step = size; /* all at once */
	feed(data + 1, size - 1, step);

	copy = malloc(size - 1 ? size - 1 : 1);
	memcpy(copy, data + 1, size - 1);
	http_parse_response(copy, size - 1, data[0] & 1, &status, &body, &blen);
	free(copy);
	return 0;
}
