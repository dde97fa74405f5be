// SPDX-License-Identifier: MIT
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <kite/api_client.h>
#include <kite/http.h>
#include <kite/util.h>

#define API_REPLY_MAX (16u << 20)

int api_client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static void api_set_timeout(int fd, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int api_send_request(int fd, const char *method, const char *target, const char *json)
{
	size_t blen = json ? strlen(json) : 0;
	char head[1024];
	int n;

	n = snprintf(head, sizeof(head),
		     "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: kite/" KITE_VERSION
		     "\r\nAccept: application/json\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n",
		     method, target, json ? "Content-Type: application/json\r\n" : "", blen);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -EINVAL;
	if (send(fd, head, n, MSG_NOSIGNAL) != n)
		return -EIO;
	if (blen && send(fd, json, blen, MSG_NOSIGNAL) != (ssize_t)blen)
		return -EIO;
	return 0;
}

static int api_read_reply(int fd, struct api_reply *rep)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	bool eof = false;

	for (;;) {
		ssize_t n;
		int r;

		if (len + 4096 + 1 > cap) {
			char *b;

			if (cap >= API_REPLY_MAX)
				goto proto;
			cap = cap ? cap * 2 : 8192;
			b = realloc(buf, cap);
			if (!b) {
				free(buf);
				return -ENOMEM;
			}
			buf = b;
		}
		r = http_parse_response(buf, len, eof, &rep->status, &rep->body, &rep->body_len);
		if (r > 0)
			break;
		if (r < 0 || eof)
			goto proto;
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno == EAGAIN ? -ETIMEDOUT : -errno;

			free(buf);
			return e;
		}
		eof = n == 0;
		len += n;
	}
	buf[len] = '\0';
	rep->raw = buf;
	/* The body is followed by nothing (Connection: close), so it is NUL-terminated. */
	((char *)rep->body)[rep->body_len] = '\0';
	return 0;
proto:
	free(buf);
	return -EPROTO;
}

int api_client_call(const char *path, const char *method, const char *target, const char *json,
		    struct api_reply *rep, int timeout_ms)
{
	int fd, r;

	memset(rep, 0, sizeof(*rep));
	fd = api_client_connect(path);
	if (fd < 0)
		return fd;
	api_set_timeout(fd, timeout_ms);
	r = api_send_request(fd, method, target, json);
	if (!r)
		r = api_read_reply(fd, rep);
	close(fd);
	return r;
}

void api_reply_free(struct api_reply *rep)
{
	free(rep->raw);
	memset(rep, 0, sizeof(*rep));
}

char *api_reply_fault(const struct api_reply *rep)
{
	json_t *j = rep->body ? json_loadb(rep->body, rep->body_len, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(j, "fault_message"));
	char *s;

	if (m)
		s = strdup(m);
	else if (rep->body && rep->body_len)
		s = strndup(rep->body, MIN(rep->body_len, (size_t)200));
	else
		s = strdup("(no message)");
	json_decref(j);
	for (char *p = s; p && *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return s;
}
