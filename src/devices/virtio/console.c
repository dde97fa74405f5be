// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#include <kite/config.h>
#include <kite/event.h>
#include <kite/log.h>
#include <kite/machine.h>
#include <kite/term.h>
#include <kite/util.h>
#include <kite/virtio.h>
#include <kite/virtio_console.h>

#define CON_RXQ 0
#define CON_TXQ 1
#define CON_IOV_CAP 64
#define CON_CFG_SIZE 12 /* cols, rows, max_nr_ports, emerg_wr: unused without features */

struct virtio_console {
	struct virtio_dev vdev;
	enum console_kind kind;
	int in_fd;        /* -1: no input */
	int out_fd;
	bool close_out;   /* out_fd is ours */
	bool polling;     /* in_fd is watched for input */
	bool in_added;
	char pty[64];
	struct term_escape esc;
	/* Input read from the backend that no guest buffer has taken yet. */
	uint8_t stash[1024];
	size_t stash_len, stash_off;
	struct virtq_elem e;
	struct iovec iov[CON_IOV_CAP];
	struct ratelimit rl;
};

struct virtio_dev *virtio_console_dev(struct virtio_console *c)
{
	return &c->vdev;
}

const char *virtio_console_pty(struct virtio_console *c)
{
	return c->pty[0] ? c->pty : NULL;
}

/* ---- output ---- */

static void con_write(struct virtio_console *c)
{
	for (unsigned i = 0; i < c->e.nout; i++) {
		const uint8_t *p = c->e.iov[i].iov_base;
		size_t left = c->e.iov[i].iov_len;

		while (left) {
			ssize_t n = write(c->out_fd, p, left);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				pr_warn_ratelimited(&c->rl, "virtio console: output dropped: %s",
						    n < 0 ? strerror(errno) : "short write");
				return;
			}
			p += n;
			left -= (size_t)n;
		}
	}
}

static void con_tx(struct virtio_console *c)
{
	struct virtio_dev *v = &c->vdev;

	do {
		virtio_queue_notify_off(v, CON_TXQ);
		while (virtio_pop(v, CON_TXQ, &c->e) > 0) {
			con_write(c);
			virtio_complete(v, CON_TXQ, c->e.head, 0);
		}
	} while (virtio_queue_notify_on(v, CON_TXQ));
}

/* ---- input ---- */

static void con_poll(struct virtio_console *c, bool on)
{
	if (c->in_fd < 0 || !c->in_added || c->polling == on)
		return;
	if (event_loop_mod(c->vdev.m->loop, c->in_fd, on ? EPOLLIN : 0) == 0)
		c->polling = on;
}

/* Hands stashed input to the guest; true when all of it went. */
static bool con_deliver(struct virtio_console *c)
{
	struct virtio_dev *v = &c->vdev;

	while (c->stash_off < c->stash_len) {
		size_t n;

		if (virtio_pop(v, CON_RXQ, &c->e) <= 0)
			return false;
		n = iov_from_buf(c->e.iov + c->e.nout, c->e.nin, 0, c->stash + c->stash_off,
				 c->stash_len - c->stash_off);
		c->stash_off += n;
		virtio_complete(v, CON_RXQ, c->e.head, (uint32_t)n);
	}
	c->stash_len = c->stash_off = 0;
	return true;
}

static void con_input(void *opaque, uint32_t events)
{
	struct virtio_console *c = opaque;
	bool quit = false;
	ssize_t n;

	if (!con_deliver(c)) {
		con_poll(c, false); /* wait for the guest to post buffers */
		return;
	}
	n = read(c->in_fd, c->stash, sizeof(c->stash));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* EOF (or a pty with no one attached): stop watching. */
		if (c->kind != CONSOLE_PTY) {
			event_loop_del(c->vdev.m->loop, c->in_fd);
			c->in_added = false;
		}
		c->polling = false;
		return;
	}
	c->stash_len = (size_t)n;
	if (c->kind == CONSOLE_STDIO)
		c->stash_len = term_escape_filter(&c->esc, c->stash, c->stash_len, &quit);
	if (quit && c->vdev.m->request_stop)
		c->vdev.m->request_stop(c->vdev.m, STOP_USER, 0, "Ctrl-A x on the virtio console");
	if (!con_deliver(c))
		con_poll(c, false);
}

static void con_rx(struct virtio_console *c)
{
	if (con_deliver(c))
		con_poll(c, true);
}

static void con_queue_notify(struct virtio_dev *v, unsigned qi)
{
	struct virtio_console *c = v->priv;

	if (qi == CON_TXQ)
		con_tx(c);
	else
		con_rx(c);
}

static void con_reset(struct virtio_dev *v)
{
	struct virtio_console *c = v->priv;

	c->stash_len = c->stash_off = 0;
}

static const struct virtio_ops con_ops = {
	.queue_notify = con_queue_notify,
	.reset = con_reset,
};

/* ---- backends ---- */

static int con_open_pty(struct virtio_console *c)
{
	struct termios t;
	int fd = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || grantpt(fd) || unlockpt(fd) || ptsname_r(fd, c->pty, sizeof(c->pty))) {
		int err = errno;

		pr_err("virtio console: cannot create a pty: %s", strerror(err));
		if (fd >= 0)
			close(fd);
		return -err;
	}
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	c->in_fd = c->out_fd = fd;
	c->close_out = true;
	pr_info("virtio console: %s", c->pty);
	return 0;
}

static int con_open(struct virtio_console *c, const struct console_config *cfg)
{
	c->in_fd = -1;
	c->out_fd = -1;
	switch (cfg->kind) {
	case CONSOLE_STDIO:
		c->in_fd = STDIN_FILENO;
		c->out_fd = STDOUT_FILENO;
		return term_raw_enable(STDIN_FILENO);
	case CONSOLE_FILE:
		c->out_fd = open(cfg->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (c->out_fd < 0) {
			pr_err("virtio console: %s: %s", cfg->path, strerror(errno));
			return -errno;
		}
		c->close_out = true;
		return 0;
	case CONSOLE_PTY:
		return con_open_pty(c);
	default:
		pr_err("virtio console: no backend given");
		return -EINVAL;
	}
}

int virtio_console_create(struct pci_bus *pci, struct machine *m, const struct console_config *cfg,
			  struct virtio_console **out)
{
	struct virtio_console *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->kind = cfg->kind;
	c->e.iov = c->iov;
	c->e.cap = CON_IOV_CAP;
	c->vdev.priv = c;
	r = con_open(c, cfg);
	if (r)
		goto fail;
	r = virtio_dev_init(&c->vdev, pci, m, "console", VIRTIO_ID_CONSOLE, 0x078000, 0, 2, 256, CON_CFG_SIZE,
			    &con_ops);
	if (r)
		goto fail;
	/* Input is watched only while the guest has buffers for it (con_rx turns it on). */
	if (c->in_fd >= 0) {
		r = event_loop_add(m->loop, c->in_fd, 0, con_input, c);
		/* -EPERM: a regular file or /dev/null, which epoll cannot watch, simply gives no input. */
		if (r == -EEXIST)
			pr_warn("virtio console: no input: stdin is taken by the serial console (use --serial none)");
		else if (r && r != -EPERM)
			pr_warn("virtio console: no input: %s", strerror(-r));
		c->in_added = !r;
	}
	*out = c;
	return 0;
fail:
	if (c->close_out && c->out_fd >= 0)
		close(c->out_fd);
	free(c);
	return r;
}

void virtio_console_destroy(struct virtio_console *c)
{
	if (!c)
		return;
	if (c->in_added)
		event_loop_del(c->vdev.m->loop, c->in_fd);
	virtio_dev_exit(&c->vdev);
	if (c->close_out)
		close(c->out_fd);
	free(c);
}

void virtio_console_quiesce(struct virtio_console *c)
{
	virtio_quiesce(&c->vdev);
}

void virtio_console_resume(struct virtio_console *c)
{
	virtio_resume(&c->vdev);
}
