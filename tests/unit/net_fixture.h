/* SPDX-License-Identifier: MIT */
/*
 * A private network namespace with one TAP interface and an AF_PACKET
 * socket on it: what the virtio-net device writes to the TAP arrives on the
 * socket, and what the socket sends the device reads from the TAP.  The
 * whole process moves into the namespace (unshare), so nothing touches the
 * host's network.  Needs CAP_NET_ADMIN; callers skip without it.  Used by
 * tests/unit/test_virtio_net.c and bench/virtio-net.
 */
#ifndef KITE_TEST_NET_FIXTURE_H
#define KITE_TEST_NET_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <arpa/inet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Enters a new network namespace once per process; 0 or -errno. */
static inline int nf_enter_netns(void)
{
	static int done;

	if (done)
		return 0;
	if (unshare(CLONE_NEWNET) < 0)
		return -errno;
	done = 1;
	return 0;
}

/* Sets flags/MTU of `name` (persistent TAP created first when `create`). */
static inline int nf_tap_create(const char *name, unsigned mtu)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), s, r = 0;

	if (fd < 0)
		return -errno;
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
		r = -errno;
	close(fd);
	if (r)
		return r;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_mtu = (int)mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
		r = -errno;
	if (!r && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			r = -errno;
	}
	close(s);
	return r;
}

/* Deletes a persistent TAP that nobody holds open (TUNSETPERSIST 0). */
static inline void nf_tap_delete(const char *name)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) == 0)
		ioctl(fd, TUNSETPERSIST, 0);
	close(fd);
}

/* A raw packet socket on `name` seeing every frame; nonblocking when asked. */
static inline int nf_packet_socket(const char *name, int nonblock)
{
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), htons(ETH_P_ALL));
	int big = 8 << 20;

	if (s < 0)
		return -errno;
	a.sll_ifindex = (int)if_nametoindex(name);
	if (!a.sll_ifindex || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(s);
		return -ENODEV;
	}
	setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	return s;
}

/* An Ethernet frame of `len` bytes with a recognisable payload (ethertype 0x88b5, for experiments). */
static inline void nf_frame(uint8_t *p, size_t len, const uint8_t dst[6], uint32_t seq)
{
	static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x99 };

	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = 0x88;
	p[13] = 0xb5;
	for (size_t i = 14; i < len; i++)
		p[i] = (uint8_t)(seq * 31 + i);
	if (len >= 18)
		memcpy(p + 14, &seq, 4);
}

#endif
