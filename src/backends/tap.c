// SPDX-License-Identifier: MIT
/* TAP interfaces with the virtio-net header (see include/kite/tap.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kite/log.h>
#include <kite/tap.h>

static int tap_setup_fd(struct tap *t)
{
	int hdr = TAP_VNET_HDR_LEN, fl = fcntl(t->fd, F_GETFL);

	if (fl < 0 || fcntl(t->fd, F_SETFL, fl | O_NONBLOCK) < 0 || ioctl(t->fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int err = errno;

		pr_err("tap %s: cannot set up the fd: %s", t->name, strerror(err));
		return -err;
	}
	/* Nothing is offloaded until a driver negotiates it (virtio-net's driver_ok). */
	return tap_set_offload(t, 0);
}

/* A tap kite created starts down; bring it up so traffic flows (best effort). */
static void tap_bring_up(struct tap *t)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			pr_warn("tap %s: cannot bring it up: %s", t->name, strerror(errno));
	}
	close(s);
}

int tap_open(struct tap *t, const char *name)
{
	struct ifreq ifr = { 0 };
	bool existed;
	int r;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (!name || !*name || strlen(name) >= IF_NAMESIZE) {
		pr_err("tap: bad interface name '%s' (1-%d characters)", name ? name : "", IF_NAMESIZE - 1);
		return -EINVAL;
	}
	snprintf(t->name, sizeof(t->name), "%s", name);
	existed = if_nametoindex(name) != 0;
	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (t->fd < 0) {
		r = -errno;
		pr_err("tap %s: /dev/net/tun: %s", name, strerror(errno));
		return r;
	}
	t->owned_fd = true;
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, t->name, sizeof(t->name));
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		if (errno == EPERM)
			pr_err("tap %s: %s (create it with `kite-net tap add %s --user $USER`, or run as root)", name,
			       existed ? "owned by another user" : "no permission to create it", name);
		else if (errno == EBUSY)
			pr_err("tap %s: busy (another VM has it open?)", name);
		else
			pr_err("tap %s: %s%s", name, strerror(errno), existed ? " (is it a TAP device?)" : "");
		tap_close(t);
		return r;
	}
	t->created = !existed;
	r = tap_setup_fd(t);
	if (r) {
		tap_close(t);
		return r;
	}
	if (t->created)
		tap_bring_up(t);
	return 0;
}

int tap_open_fd(struct tap *t, int fd)
{
	struct ifreq ifr = { 0 };

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		int r = -errno;

		pr_err("tap fd %d: not a TAP device: %s", fd, strerror(errno));
		return r;
	}
	snprintf(t->name, sizeof(t->name), "%.*s", IF_NAMESIZE - 1, ifr.ifr_name);
	if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP || !(ifr.ifr_flags & IFF_VNET_HDR) ||
	    !(ifr.ifr_flags & IFF_NO_PI)) {
		pr_err("tap fd %d (%s): must be opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR", fd, t->name);
		return -EINVAL;
	}
	t->fd = fd;
	t->owned_fd = true;
	return tap_setup_fd(t);
}

void tap_close(struct tap *t)
{
	if (t->owned_fd && t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->owned_fd = false;
}

int tap_set_offload(struct tap *t, unsigned offloads)
{
	unsigned long f = 0;

	if (offloads & TAP_OFF_CSUM) {
		f |= TUN_F_CSUM;
		/* Segmentation offloads need checksum offload (as in virtio). */
		if (offloads & TAP_OFF_TSO4)
			f |= TUN_F_TSO4;
		if (offloads & TAP_OFF_TSO6)
			f |= TUN_F_TSO6;
		if ((offloads & TAP_OFF_ECN) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
			f |= TUN_F_TSO_ECN;
	}
	if (ioctl(t->fd, TUNSETOFFLOAD, f) < 0) {
		int r = -errno;

		pr_err("tap %s: TUNSETOFFLOAD 0x%lx: %s", t->name, f, strerror(errno));
		return r;
	}
	return 0;
}

ssize_t tap_read(struct tap *t, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(t->fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t tap_readv(struct tap *t, const struct iovec *iov, int n)
{
	ssize_t r;

	/* One buffer: read(2) takes the kernel's cheaper single-segment path. */
	do
		r = n == 1 ? read(t->fd, iov[0].iov_base, iov[0].iov_len) : readv(t->fd, iov, n);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

ssize_t tap_writev(struct tap *t, const struct iovec *iov, int n)
{
	ssize_t r;

	do
		r = n == 1 ? write(t->fd, iov[0].iov_base, iov[0].iov_len) : writev(t->fd, iov, n);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

bool tap_gone_error(int err)
{
	/* A deleted interface detaches its queues: reads and writes then fail with EBADFD. */
	return err == EBADFD || err == EIO || err == ENXIO || err == ENODEV;
}
