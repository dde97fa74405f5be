// SPDX-License-Identifier: MIT
/*
 * HTTP/1.1 request parsing for the control socket.  Strict on purpose: the
 * clients are curl, SDKs and kite's own CLI, so anything unusual (bare LF,
 * obsolete line folding, chunked bodies, conflicting lengths) is refused with
 * a 4xx that says why instead of being guessed at.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <kite/http.h>
#include <kite/util.h>

static int http_fail(struct http_parser *p, int status, const char *fmt, const char *arg)
{
	snprintf(p->error, sizeof(p->error), fmt, arg);
	return -status;
}

void http_parser_reset(struct http_parser *p)
{
	p->scanned = 0;
	p->error[0] = '\0';
}

/* RFC 9110 tchar: what a method or a header name may be made of. */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static bool span_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && !strncasecmp(s, lit, n);
}

/* True when the comma-separated list s[0..n) has the token `tok`. */
static bool list_has(const char *s, size_t n, const char *tok)
{
	size_t i = 0;

	while (i < n) {
		size_t start, end;

		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		start = i;
		while (i < n && s[i] != ',')
			i++;
		end = i;
		while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
			end--;
		if (end > start && span_eq(s + start, end - start, tok))
			return true;
	}
	return false;
}

/*
 * Where the head ends ("\r\n\r\n"), 0 if not yet, -1 on a bare LF (a client
 * that would wait forever for a CRLF it never sends).  Resumes where the last
 * call stopped, so feeding a byte at a time stays linear.
 */
static long http_find_head_end(struct http_parser *p, const char *buf, size_t len)
{
	size_t from = p->scanned > 3 ? p->scanned - 3 : 0;

	for (size_t i = from; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i == 0 || buf[i - 1] != '\r')
			return -1;
		if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r')
			return (long)i + 1;
	}
	p->scanned = len;
	return 0;
}

static int http_parse_target(struct http_parser *p, const char *t, size_t n, struct http_request *req)
{
	const char *q;
	size_t plen;

	if (n == 0 || t[0] != '/')
		return http_fail(p, 400, "%s", "request target must be a path starting with '/'");
	if (n >= HTTP_MAX_TARGET)
		return http_fail(p, 400, "%s", "request target is too long");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= ' ' || t[i] == 0x7f)
			return http_fail(p, 400, "%s", "control character or space in the request target");
	q = memchr(t, '?', n);
	plen = q ? (size_t)(q - t) : n;
	memcpy(req->path, t, plen);
	req->path[plen] = '\0';
	if (q) {
		memcpy(req->query, q + 1, n - plen - 1);
		req->query[n - plen - 1] = '\0';
	}
	return 0;
}

/* "METHOD SP target SP HTTP/1.x" */
static int http_parse_request_line(struct http_parser *p, const char *s, size_t n, struct http_request *req)
{
	const char *sp1 = memchr(s, ' ', n), *sp2, *ver;
	size_t mlen, tlen, vlen;
	int r;

	if (!sp1)
		return http_fail(p, 400, "%s", "malformed request line");
	mlen = sp1 - s;
	if (mlen == 0 || mlen >= HTTP_MAX_METHOD)
		return http_fail(p, 400, "%s", "malformed method");
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar(s[i]))
			return http_fail(p, 400, "%s", "malformed method");
	memcpy(req->method, s, mlen);
	req->method[mlen] = '\0';
	sp2 = memchr(sp1 + 1, ' ', n - mlen - 1);
	if (!sp2)
		return http_fail(p, 400, "%s", "malformed request line (no HTTP version)");
	tlen = sp2 - sp1 - 1;
	r = http_parse_target(p, sp1 + 1, tlen, req);
	if (r)
		return r;
	ver = sp2 + 1;
	vlen = n - (ver - s);
	if (vlen != 8 || memcmp(ver, "HTTP/1.", 7) || (ver[7] != '0' && ver[7] != '1'))
		return http_fail(p, 400, "%s", "unsupported HTTP version (HTTP/1.0 or HTTP/1.1)");
	req->minor = ver[7] - '0';
	return 0;
}

static int http_parse_header_line(struct http_parser *p, const char *s, size_t n, struct http_request *req)
{
	const char *colon = memchr(s, ':', n), *v, *end = s + n;
	struct http_header *h;

	if (s[0] == ' ' || s[0] == '\t')
		return http_fail(p, 400, "%s", "obsolete header line folding is not accepted");
	if (!colon || colon == s)
		return http_fail(p, 400, "%s", "malformed header line");
	for (const char *c = s; c < colon; c++)
		if (!is_tchar(*c))
			return http_fail(p, 400, "%s", "malformed header name");
	if (req->nheaders == HTTP_MAX_HEADERS)
		return http_fail(p, 431, "too many header lines (at most %s)", "64");
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *c = v; c < end; c++)
		if ((unsigned char)*c < ' ' && *c != '\t')
			return http_fail(p, 400, "%s", "control character in a header value");
	h = &req->headers[req->nheaders++];
	h->name = s;
	h->name_len = colon - s;
	h->value = v;
	h->value_len = end - v;
	return 0;
}

static int http_parse_length(struct http_parser *p, const struct http_header *h, size_t *len, bool *seen)
{
	size_t v = 0;

	if (h->value_len == 0)
		return http_fail(p, 400, "%s", "empty Content-Length");
	for (size_t i = 0; i < h->value_len; i++) {
		char c = h->value[i];

		if (c < '0' || c > '9')
			return http_fail(p, 400, "%s", "Content-Length is not a decimal number");
		if (v > HTTP_MAX_BODY)
			break; /* already too big: stop before it can overflow */
		v = v * 10 + (c - '0');
	}
	if (*seen && v != *len)
		return http_fail(p, 400, "%s", "conflicting Content-Length headers");
	*seen = true;
	*len = v;
	return 0;
}

/* Applies the headers that frame the message: length, connection, expect. */
static int http_apply_headers(struct http_parser *p, struct http_request *req, size_t *body_len)
{
	bool seen_len = false;
	int r;

	req->keep_alive = req->minor >= 1;
	*body_len = 0;
	for (unsigned i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];

		if (span_eq(h->name, h->name_len, "Content-Length")) {
			r = http_parse_length(p, h, body_len, &seen_len);
			if (r)
				return r;
		} else if (span_eq(h->name, h->name_len, "Transfer-Encoding")) {
			return http_fail(p, 411, "%s", "Transfer-Encoding is not supported: send a Content-Length");
		} else if (span_eq(h->name, h->name_len, "Connection")) {
			if (list_has(h->value, h->value_len, "close"))
				req->keep_alive = false;
			else if (list_has(h->value, h->value_len, "keep-alive"))
				req->keep_alive = true;
		} else if (span_eq(h->name, h->name_len, "Expect")) {
			if (!span_eq(h->value, h->value_len, "100-continue"))
				return http_fail(p, 400, "%s", "unsupported Expect header");
			req->expect_continue = true;
		}
	}
	if (*body_len > HTTP_MAX_BODY)
		return http_fail(p, 413, "request body too large (at most %s bytes)", "65536");
	return 0;
}

static int http_parse_head(struct http_parser *p, const char *buf, size_t head_len, struct http_request *req)
{
	const char *s = buf, *end = buf + head_len - 2; /* up to the final blank line's CRLF */
	bool first = true;
	int r;

	/* Every LF follows a CR (checked while scanning); a CR must precede an LF. */
	for (size_t i = 0; i < head_len; i++) {
		if (buf[i] == '\r' && buf[i + 1] != '\n')
			return http_fail(p, 400, "%s", "bare CR in the request head");
		if (buf[i] == '\0')
			return http_fail(p, 400, "%s", "NUL byte in the request head");
	}
	while (s < end) {
		const char *eol = memchr(s, '\r', end - s);
		size_t n = eol - s;

		if (n == 0)
			return http_fail(p, 400, "%s", first ? "empty request line" : "malformed header line");
		r = first ? http_parse_request_line(p, s, n, req) : http_parse_header_line(p, s, n, req);
		if (r)
			return r;
		first = false;
		s = eol + 2;
	}
	return 0;
}

int http_parse_request(struct http_parser *p, const char *buf, size_t len, struct http_request *req)
{
	size_t body_len;
	long head_len;
	int r;

	head_len = http_find_head_end(p, buf, MIN(len, (size_t)HTTP_MAX_HEAD));
	if (head_len < 0)
		return http_fail(p, 400, "%s", "bare LF in the request head (lines end with CRLF)");
	if (!head_len) {
		if (len >= HTTP_MAX_HEAD)
			return http_fail(p, 431, "request head larger than %s bytes", "16384");
		return 0;
	}
	memset(req, 0, sizeof(*req));
	r = http_parse_head(p, buf, head_len, req);
	if (!r)
		r = http_apply_headers(p, req, &body_len);
	if (r)
		return r;
	req->head_len = head_len;
	if (len - head_len < body_len)
		return 0;
	req->body = buf + head_len;
	req->body_len = body_len;
	return (int)(head_len + body_len);
}

const struct http_header *http_find_header(const struct http_request *req, const char *name)
{
	for (unsigned i = 0; i < req->nheaders; i++)
		if (span_eq(req->headers[i].name, req->headers[i].name_len, name))
			return &req->headers[i];
	return NULL;
}

const char *http_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 415:
		return "Unsupported Media Type";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	}
	return "Unknown";
}

int http_format_head(char *buf, size_t size, int status, const char *content_type, size_t body_len, bool close,
		     const char *extra)
{
	char length[40] = "";
	int n;

	/* RFC 9110 8.6: no Content-Length in a 1xx or 204 response. */
	if (status >= 200 && status != 204)
		snprintf(length, sizeof(length), "Content-Length: %zu\r\n", body_len);
	n = snprintf(buf, size,
		     "HTTP/1.1 %d %s\r\n"
		     "Server: kite/" KITE_VERSION "\r\n"
		     "%s%s%s"
		     "%s"
		     "%s%s\r\n",
		     status, http_reason(status), content_type ? "Content-Type: " : "", content_type ? content_type : "",
		     content_type ? "\r\n" : "", length, close ? "Connection: close\r\n" : "", extra ? extra : "");
	return n < 0 || (size_t)n >= size ? -1 : n;
}

static int http_response_length(const char *s, size_t n, size_t *len, bool *has_len)
{
	size_t v = 0;

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	if (!n)
		return -1;
	for (size_t i = 0; i < n && s[i] != ' ' && s[i] != '\t'; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (1u << 30))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*len = v;
	*has_len = true;
	return 0;
}

int http_parse_response(const char *buf, size_t len, bool eof, int *status, const char **body, size_t *body_len)
{
	const char *end = NULL, *s, *eol;
	size_t head_len, blen = 0;
	bool has_len = false;

	for (size_t i = 0; i + 4 <= len; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4)) {
			end = buf + i + 2;
			break;
		}
	if (!end)
		return eof ? -1 : 0;
	head_len = end - buf + 2;
	if (head_len < 14 || memcmp(buf, "HTTP/1.", 7) || buf[8] != ' ')
		return -1;
	if (buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9')
		return -1;
	*status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	for (s = memchr(buf, '\n', end - buf) + 1; s < end; s = eol + 2) {
		eol = memchr(s, '\r', end - s);
		if (!eol)
			return -1;
		if ((size_t)(eol - s) > 15 && !strncasecmp(s, "Content-Length:", 15) &&
		    http_response_length(s + 15, eol - s - 15, &blen, &has_len))
			return -1;
	}
	if (!has_len) {
		if (!eof && *status != 204 && *status != 101)
			return 0;
		blen = *status == 204 || *status == 101 ? 0 : len - head_len;
	}
	if (len - head_len < blen)
		return eof ? -1 : 0;
	*body = buf + head_len;
	*body_len = blen;
	return (int)(head_len + blen);
}
