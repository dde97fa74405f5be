// SPDX-License-Identifier: MIT
/*
 * kite console NAME: the serial console of a VM started with --serial socket,
 * over its control socket (GET /kite/console, upgraded to a raw byte stream).
 * Ctrl-A x detaches (as in kite run); the VM keeps running.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kite/api_client.h>
#include <kite/api_registry.h>
#include <kite/cli.h>
#include <kite/http.h>
#include <kite/term.h>
#include <kite/util.h>

static const char console_request[] = "GET /kite/console HTTP/1.1\r\nHost: localhost\r\n"
				      "Upgrade: kite-console\r\nConnection: Upgrade\r\n\r\n";

/* Reads the reply head byte by byte (nothing of the stream after it is consumed); the status or -1. */
static int console_handshake(int fd, char *buf, size_t size, size_t *len)
{
	const char *body;
	size_t blen;
	int status;

	if (write_full(fd, console_request, sizeof(console_request) - 1))
		return -1;
	for (*len = 0; *len + 1 < size;) {
		ssize_t n = read(fd, buf + *len, 1);

		if (n <= 0)
			return -1;
		(*len)++;
		if (*len >= 4 && !memcmp(buf + *len - 4, "\r\n\r\n", 4))
			break;
	}
	buf[*len] = '\0';
	/* Error replies carry a body: read it to show the fault message. */
	for (;;) {
		int r = http_parse_response(buf, *len, false, &status, &body, &blen);
		ssize_t n;

		if (r > 0 || r < 0 || *len + 1 >= size)
			return r < 0 ? -1 : (r > 0 || status == 101 ? status : -1);
		n = read(fd, buf + *len, size - *len - 1);
		if (n <= 0)
			return -1;
		*len += n;
		buf[*len] = '\0';
	}
}

/* Relays until the VM goes away or the user types Ctrl-A x. */
static int console_relay(int fd)
{
	struct term_escape esc = { 0 };
	uint8_t buf[4096];

	for (;;) {
		struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
		bool quit = false;
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return EXIT_FAILURE_VM;
		}
		if (p[1].revents) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0)
				return EXIT_OK; /* the VM stopped */
			if (write_full(STDOUT_FILENO, buf, n))
				return EXIT_FAILURE_VM;
		}
		if (p[0].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0)
				return EXIT_OK;
			n = term_escape_filter(&esc, buf, n, &quit);
			if (n && write_full(fd, buf, n))
				return EXIT_OK;
			if (quit)
				return EXIT_OK;
		}
	}
}

int cmd_console(int argc, char **argv)
{
	char path[256], head[2048];
	size_t len;
	int fd, r, status;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(cli_find("console")->usage, stdout);
		return EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error("console", "expected one VM name");
	r = api_resolve(argv[1], path, sizeof(path));
	if (r) {
		fprintf(stderr, "kite console: no VM named '%s' (kite ls lists them)\n", argv[1]);
		return EXIT_USAGE;
	}
	fd = api_client_connect(path);
	if (fd < 0) {
		fprintf(stderr, "kite console: %s: %s\n", path, strerror(-fd));
		return EXIT_FAILURE_VM;
	}
	status = console_handshake(fd, head, sizeof(head), &len);
	if (status != 101) {
		const char *m = strstr(head, "\"fault_message\"");

		fprintf(stderr, "kite console: %s: %s\n", argv[1], status < 0 ? "no answer" : m ? m : head);
		close(fd);
		return EXIT_FAILURE_VM;
	}
	if (isatty(STDIN_FILENO)) {
		fprintf(stderr, "kite console: attached to %s; Ctrl-A x detaches\r\n", argv[1]);
		term_raw_enable(STDIN_FILENO);
	}
	r = console_relay(fd);
	term_restore();
	close(fd);
	return r;
}
