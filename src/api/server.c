// SPDX-License-Identifier: MIT
/*
 * The control socket's server: a listening UNIX socket and its connections,
 * all non-blocking on the VM's event loop.  Each connection buffers at most
 * one request head plus one body of input and a bounded amount of output;
 * past that it stops reading until the client drains its responses, so a
 * client can slow only itself.  Connections idle for API_IDLE_NS are closed,
 * so a client that sends half a request cannot pin a slot forever.
 *
 * Before a VM exists (kite run --api PATH alone, Firecracker's model) the
 * server runs on a loop of the caller's and answers what needs no VM; the
 * one thing that makes a VM is PUT /snapshot/load, through the caller's
 * loader.  Attaching the VM then moves the socket and the open connections
 * to the VM's loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <kite/api.h>
#include <kite/api_registry.h>
#include <kite/event.h>
#include <kite/log.h>
#include <kite/migrate.h>
#include <kite/util.h>
#include <kite/vm.h>

#define API_MAX_CONNS  64
#define API_IN_CAP     (HTTP_MAX_HEAD + HTTP_MAX_BODY)
#define API_OUT_MAX    (1u << 20) /* stop parsing input while this much output waits */
#define API_IDLE_NS    (60 * 1000000000ull)
#define API_SWEEP_NS   (5 * 1000000000ull)

struct api_conn {
	struct api_server *s;
	int fd;
	char *in;
	size_t in_len, in_cap;
	struct http_parser parser;
	bool continue_sent; /* "100 Continue" already sent for the request in progress */
	char *out;
	size_t out_len, out_off, out_cap;
	bool closing;       /* close once the output is written; read nothing more */
	bool want_out;      /* EPOLLOUT is on */
	bool reading;       /* EPOLLIN is on */
	uint64_t last_ns;
	struct api_conn *next;
};

struct api_server {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	dev_t dev;
	ino_t ino;
	struct vm *vm;
	struct event_loop *loop; /* the VM's, or the caller's while it waits for a load; NULL: not serving */
	struct event_timer *sweep;
	struct api_conn *conns;
	unsigned nconns;
	int console_fd; /* the connection COM1 is attached to (--serial socket), or -1 */
	struct api_context ctx;
};

/* Drops c from the server without closing its fd. */
static void api_conn_forget(struct api_conn *c)
{
	struct api_server *s = c->s;

	for (struct api_conn **pp = &s->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	s->nconns--;
	event_loop_del(s->loop, c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static void api_conn_close(struct api_conn *c)
{
	int fd = c->fd;

	api_conn_forget(c);
	close(fd);
}

/* The console client left (its input ended) or the VM is going away. */
static void api_console_end(void *opaque)
{
	struct api_server *s = opaque;

	if (s->console_fd < 0 || !s->vm)
		return;
	vm_serial_attach(s->vm, -1, NULL, NULL);
	close(s->console_fd);
	s->console_fd = -1;
}

/*
 * After "101 Switching Protocols": the connection stops being HTTP and
 * becomes COM1's input and output.  The server keeps only its fd, to close
 * it when the client leaves or the VM stops.
 */
static void api_conn_to_console(struct api_conn *c)
{
	struct api_server *s = c->s;
	int fd = c->fd, r;

	/* The 101 is tiny and the socket fresh: if it does not go out at once, give up. */
	while (c->out_off < c->out_len) {
		ssize_t n = send(fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n <= 0) {
			api_conn_close(c);
			return;
		}
		c->out_off += n;
	}
	api_conn_forget(c);
	r = vm_serial_attach(s->vm, fd, api_console_end, s);
	if (r) {
		pr_warn("api: cannot attach the console: %s", strerror(-r));
		close(fd);
		return;
	}
	s->console_fd = fd;
}

static int api_conn_append(struct api_conn *c, const void *data, size_t len)
{
	if (!len)
		return 0; /* data may be NULL (204) */
	if (c->out_len + len > c->out_cap) {
		size_t cap = MAX(c->out_cap * 2, c->out_len + len + 4096);
		char *n = realloc(c->out, cap);

		if (!n)
			return -ENOMEM;
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

static void api_conn_update_events(struct api_conn *c)
{
	bool want_out = c->out_off < c->out_len;
	bool reading = !c->closing && c->out_len - c->out_off < API_OUT_MAX;

	if (want_out == c->want_out && reading == c->reading)
		return;
	c->want_out = want_out;
	c->reading = reading;
	event_loop_mod(c->s->loop, c->fd, (reading ? EPOLLIN | EPOLLRDHUP : 0) | (want_out ? EPOLLOUT : 0));
}

/* Writes what it can; returns false when the connection was closed. */
static bool api_conn_flush(struct api_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			api_conn_close(c);
			return false;
		}
		c->out_off += n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->closing) {
			api_conn_close(c);
			return false;
		}
	}
	api_conn_update_events(c);
	return true;
}

static void api_conn_respond(struct api_conn *c, struct api_response *resp, bool close)
{
	char head[512];
	int n;

	n = http_format_head(head, sizeof(head), resp->status, resp->content_type, resp->len, close,
			     resp->extra[0] ? resp->extra : NULL);
	if (n < 0 || api_conn_append(c, head, n) || api_conn_append(c, resp->body, resp->len))
		close = true; /* out of memory: the client sees a cut response, then EOF */
	if (resp->status >= 400)
		c->s->ctx.errors++;
	if (close)
		c->closing = true;
}

static void api_conn_fault(struct api_conn *c, int status, const char *msg)
{
	struct api_response resp = { 0 };

	api_fault(&resp, status, "%s", msg);
	api_conn_respond(c, &resp, true);
	api_response_free(&resp);
}

/* Returns false when the connection left HTTP (it became the console, or is gone). */
static bool api_conn_handle(struct api_conn *c, const struct http_request *req)
{
	struct api_server *s = c->s;
	struct api_response resp = { 0 };
	struct api_call call;
	bool upgrade;

	s->ctx.requests++;
	if (!api_decode(req, &call, &resp))
		api_execute(&s->ctx, &call, &resp);
	if (resp.upgrade_console && s->console_fd >= 0) {
		api_response_free(&resp);
		memset(&resp, 0, sizeof(resp));
		api_fault(&resp, 409, "a console is attached already (one at a time)");
	}
	upgrade = resp.upgrade_console;
	pr_debug("api: %s %s -> %d", req->method, req->path, resp.status);
	api_conn_respond(c, &resp, !req->keep_alive && !upgrade);
	api_response_free(&resp);
	if (upgrade)
		api_conn_to_console(c);
	return !upgrade;
}

static void api_conn_consume(struct api_conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	http_parser_reset(&c->parser);
	c->continue_sent = false;
}

/*
 * Handles the complete requests in the input buffer (pipelining), in order;
 * returns how many, or -1 when the connection is no longer ours.
 */
static int api_conn_process(struct api_conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct http_request *req = malloc(sizeof(*req)); /* ~3 KiB: not on the loop's stack */
	int r, handled = 0;

	if (!req) {
		c->closing = true;
		return 0;
	}
	while (!c->closing && c->in_len && c->out_len - c->out_off < API_OUT_MAX) {
		req->head_len = 0;
		r = http_parse_request(&c->parser, c->in, c->in_len, req);
		if (r < 0) {
			c->s->ctx.requests++;
			api_conn_fault(c, -r, c->parser.error);
			handled++;
			break;
		}
		if (r == 0) {
			if (req->head_len && req->expect_continue && !c->continue_sent) {
				api_conn_append(c, cont, sizeof(cont) - 1);
				c->continue_sent = true;
			}
			break;
		}
		if (!api_conn_handle(c, req)) {
			handled = -1;
			break;
		}
		api_conn_consume(c, r);
		handled++;
	}
	free(req);
	return handled;
}

/* Reads what is there; returns 1 at end of input, 0 otherwise, -1 on error. */
static int api_conn_read(struct api_conn *c)
{
	while (c->in_len < API_IN_CAP) {
		ssize_t n;

		if (c->in_len == c->in_cap) {
			size_t cap = MIN(MAX(c->in_cap * 2, (size_t)4096), (size_t)API_IN_CAP);
			char *b = realloc(c->in, cap);

			if (!b)
				return -1;
			c->in = b;
			c->in_cap = cap;
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -1;
		if (n == 0)
			return 1;
		c->in_len += n;
		/* Parse as we go: a full buffer must be answered (431/413), not just refilled. */
		if (c->in_len == c->in_cap)
			return 0;
	}
	return 0;
}

static void api_conn_event(void *opaque, uint32_t events)
{
	struct api_conn *c = opaque;
	int eof = 0;

	c->last_ns = now_ns();
	if (events & EPOLLERR) {
		api_conn_close(c);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) && c->reading) {
		eof = api_conn_read(c);
		if (eof < 0) {
			api_conn_close(c);
			return;
		}
	}
	/* Requests left buffered while output was backed up are handled once it drains. */
	for (;;) {
		int handled = api_conn_process(c);

		if (handled < 0)
			return; /* handed over to the console */
		if (!api_conn_flush(c))
			return; /* closed */
		if (!handled || c->want_out)
			break;
	}
	if (eof && !c->closing) {
		/* The client half-closed: answer what it left unfinished, then go. */
		if (c->in_len)
			api_conn_fault(c, 400, "request truncated: the client closed the connection mid-request");
		c->closing = true;
		api_conn_flush(c);
	}
}

static void api_accept(void *opaque, uint32_t events)
{
	struct api_server *s = opaque;

	for (;;) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct api_conn *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				pr_warn("api: accept: %s", strerror(errno));
			return;
		}
		if (s->nconns >= API_MAX_CONNS) {
			static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
						   "Content-Length: 52\r\nConnection: close\r\n\r\n"
						   "{\"fault_message\": \"too many connections; try again\"}";

			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				pr_debug("api: refusing a connection: %s", strerror(errno));
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || event_loop_add(s->loop, fd, EPOLLIN | EPOLLRDHUP, api_conn_event, c) < 0) {
			free(c);
			close(fd);
			continue;
		}
		c->s = s;
		c->fd = fd;
		c->reading = true;
		c->last_ns = now_ns();
		c->next = s->conns;
		s->conns = c;
		s->nconns++;
		s->ctx.connections++;
	}
}

static void api_sweep(void *opaque)
{
	struct api_server *s = opaque;
	uint64_t now = now_ns();
	struct api_conn *c = s->conns, *next;

	for (; c; c = next) {
		next = c->next;
		if (now - c->last_ns > API_IDLE_NS)
			api_conn_close(c);
	}
}

static int api_bind_at(int fd, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int r;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* Mode 0600 from the start: no window in which others could connect. */
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	return r < 0 ? -errno : 0;
}

/*
 * Publishes the listening socket at s->path with link(2) from a private
 * name, so the path never names a socket that is not listening yet (kite ls
 * would take it for stale and remove it) and two VMs racing for one name
 * cannot both win: link fails on an existing path, which is then probed.
 */
static int api_publish(struct api_server *s, const char *tmp)
{
	for (int tries = 0;; tries++) {
		int r;

		if (link(tmp, s->path) == 0)
			return 0;
		if (errno != EEXIST || tries)
			return -errno;
		r = api_socket_probe(s->path, true);
		if (r)
			return r > 0 ? -EADDRINUSE : r;
	}
}

static int api_bind(struct api_server *s)
{
	char tmp[sizeof(s->path)];
	struct stat st;
	int n, r;

	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	n = snprintf(tmp, sizeof(tmp), "%s.%d.tmp", s->path, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		/* No room for a private name: bind in place (a short not-listening window). */
		r = api_bind_at(s->fd, s->path);
		if (!r && listen(s->fd, 64) < 0)
			r = -errno;
	} else {
		unlink(tmp);
		r = api_bind_at(s->fd, tmp);
		if (!r && listen(s->fd, 64) < 0)
			r = -errno;
		if (!r)
			r = api_publish(s, tmp);
		unlink(tmp);
	}
	if (r)
		return r;
	if (stat(s->path, &st) < 0)
		return -errno;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

int api_server_open(struct api_server **out, const char *path)
{
	struct api_server *s;
	int r;

	if (strlen(path) >= sizeof(s->path)) {
		pr_err("API socket %s: path longer than %zu bytes (a UNIX socket limit)", path, sizeof(s->path) - 1);
		return -ENAMETOOLONG;
	}
	r = api_socket_probe(path, true);
	if (r > 0) {
		pr_err("API socket %s: another VM is serving it (choose another --name or --api)", path);
		return -EADDRINUSE;
	}
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->ctx.socket_path = s->path;
	s->console_fd = -1;
	r = api_bind(s);
	if (r) {
		if (r == -EADDRINUSE)
			pr_err("API socket %s: another VM took it just now (choose another --name or --api)", path);
		else
			pr_err("API socket %s: %s", path, strerror(-r));
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

/* Moves the open connections from the loop they are on to s->loop (same events). */
static int api_conns_move(struct api_server *s, struct event_loop *from)
{
	struct api_conn *c, *next;

	for (c = s->conns; c; c = next) {
		uint32_t ev = (c->reading ? EPOLLIN | EPOLLRDHUP : 0) | (c->want_out ? EPOLLOUT : 0);

		next = c->next;
		event_loop_del(from, c->fd);
		if (event_loop_add(s->loop, c->fd, ev, api_conn_event, c) < 0) {
			int fd = c->fd;

			/* Not on any loop now: api_conn_close's event_loop_del fails harmlessly. */
			api_conn_close(c);
			pr_debug("api: a connection was lost moving to the VM's loop (fd %d)", fd);
		}
	}
	return 0;
}

/* Serves on `loop` (for vm, or for none yet); moves everything there from a previous loop. */
static int api_server_serve(struct api_server *s, struct event_loop *loop, struct vm *vm)
{
	struct event_loop *from = s->loop;
	int r;

	if (from) {
		event_timer_free(s->sweep);
		s->sweep = NULL;
		event_loop_del(from, s->fd);
	}
	s->loop = loop;
	r = event_loop_add(loop, s->fd, EPOLLIN, api_accept, s);
	if (r) {
		pr_err("API socket %s: cannot watch it: %s", s->path, strerror(-r));
		s->loop = from;
		while (s->conns)
			api_conn_close(s->conns);
		s->loop = NULL;
		return r;
	}
	if (from)
		api_conns_move(s, from);
	s->vm = vm;
	s->ctx.vm = vm;
	s->sweep = event_timer_new(loop, API_SWEEP_NS, API_SWEEP_NS, api_sweep, s);
	return 0;
}

int api_server_wait(struct api_server *s, struct event_loop *loop, const char *id, api_load_fn load, void *opaque)
{
	s->ctx.id = id;
	s->ctx.load = load;
	s->ctx.load_opaque = opaque;
	return api_server_serve(s, loop, NULL);
}

int api_server_attach(struct api_server *s, struct vm *vm)
{
	return api_server_serve(s, vm->loop, vm);
}

void api_server_detach(struct api_server *s)
{
	if (!s->loop)
		return;
	/* A migration reads the VM until it ends: stop and join it before the VM goes. */
	if (s->vm)
		migrate_cleanup(s->vm);
	api_console_end(s);
	while (s->conns)
		api_conn_close(s->conns);
	event_timer_free(s->sweep);
	s->sweep = NULL;
	event_loop_del(s->loop, s->fd);
	s->loop = NULL;
	s->vm = NULL;
	s->ctx.vm = NULL;
}

void api_server_close(struct api_server *s)
{
	struct stat st;

	if (!s)
		return;
	api_server_detach(s);
	close(s->fd);
	/* Only our own socket: a successor may have replaced it already. */
	if (stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s);
}

const char *api_server_path(const struct api_server *s)
{
	return s->path;
}

int api_server_open_default(struct api_server **out, const char *api_path, const char *name)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int r;

	*out = NULL;
	if (api_path && !strcmp(api_path, "none"))
		return 0;
	if (!api_path) {
		r = api_default_socket(name, path, sizeof(path));
		if (r)
			return r;
		api_path = path;
	}
	return api_server_open(out, api_path);
}
