/* SPDX-License-Identifier: MIT */
#ifndef KITE_HTTP_H
#define KITE_HTTP_H

/*
 * The HTTP/1.1 subset the control socket speaks: one request parser that can
 * be fed a growing buffer (incremental, pipelining-safe), bodies framed by
 * Content-Length only, and hard limits on every size a client controls.  It
 * does no I/O and never allocates, so the server, the unit tests and the
 * fuzzer drive exactly the same code.
 */

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEAD    (16 * 1024) /* request line + headers + blank line */
#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_BODY    (64 * 1024)
#define HTTP_MAX_METHOD  16
#define HTTP_MAX_TARGET  1024

struct http_header {
	const char *name, *value; /* point into the caller's buffer; not NUL-terminated */
	size_t name_len, value_len;
};

struct http_request {
	char method[HTTP_MAX_METHOD];
	char path[HTTP_MAX_TARGET];  /* the target up to '?' */
	char query[HTTP_MAX_TARGET]; /* after '?', "" if none */
	unsigned minor;              /* HTTP/1.<minor> */
	bool keep_alive;
	bool expect_continue;
	struct http_header headers[HTTP_MAX_HEADERS];
	unsigned nheaders;
	const char *body; /* into the caller's buffer */
	size_t body_len;
	size_t head_len;
};

/* What the parser remembers between calls on the same, growing buffer. */
struct http_parser {
	size_t scanned; /* bytes known to hold no end of the head */
	char error[128];
};

void http_parser_reset(struct http_parser *p);

/*
 * Parses the request at the start of buf[0..len).  Returns the request's total
 * size when it is complete (req filled; its pointers point into buf), 0 when
 * more bytes are needed, or -status (400, 411, 413, 431) with p->error naming
 * the problem.  After a complete request, consume its bytes and reset the
 * parser before parsing the next one.
 */
int http_parse_request(struct http_parser *p, const char *buf, size_t len, struct http_request *req);

/* The first header named `name` (case-insensitive), or NULL. */
const struct http_header *http_find_header(const struct http_request *req, const char *name);

const char *http_reason(int status);

/*
 * Formats a response head (status line, Server, Content-Type if body_len or
 * content_type, Content-Length, Connection: close if `close`, extra header
 * lines `extra` ending in CRLF or NULL).  Returns its length, or -1 if it does
 * not fit.
 */
int http_format_head(char *buf, size_t size, int status, const char *content_type, size_t body_len, bool close,
		     const char *extra);

/*
 * A whole response at the start of buf[0..len), for the client side.  Returns
 * its total size, 0 when more bytes are needed (or `eof` is false and the
 * response has no Content-Length), -1 when it is malformed.
 */
int http_parse_response(const char *buf, size_t len, bool eof, int *status, const char **body, size_t *body_len);

#endif
