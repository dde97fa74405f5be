/* SPDX-License-Identifier: MIT */
#ifndef KITE_TAP_H
#define KITE_TAP_H

/*
 * A TAP network interface as a packet backend: opened by name (an existing
 * interface, or a new one when the caller has CAP_NET_ADMIN) or taken over
 * as an fd a helper passed in.  Always IFF_NO_PI | IFF_VNET_HDR with the
 * 12-byte virtio 1.x header (struct virtio_net_hdr_v1), non-blocking: every
 * packet read or written starts with that header, so checksum and
 * segmentation offloads pass through untouched.
 */

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#define TAP_VNET_HDR_LEN 12

/* Offloads the reader accepts (TUNSETOFFLOAD): what the guest negotiated. */
#define TAP_OFF_CSUM 1u
#define TAP_OFF_TSO4 2u
#define TAP_OFF_TSO6 4u
#define TAP_OFF_ECN  8u

struct tap {
	int fd;
	char name[IF_NAMESIZE];
	bool created;  /* kite made the interface (it goes away with the fd) */
	bool owned_fd; /* close fd on tap_close */
};

/* Opens or creates tap `name`; created ones are brought up. -errno with a message. */
int tap_open(struct tap *t, const char *name);
/* Adopts a TAP fd (must be IFF_TAP | IFF_VNET_HDR); -errno with a message. */
int tap_open_fd(struct tap *t, int fd);
void tap_close(struct tap *t);
/* TUNSETOFFLOAD with TAP_OFF_* bits. */
int tap_set_offload(struct tap *t, unsigned offloads);
/* One packet (header first); bytes moved, or -errno (-EAGAIN: try later). */
ssize_t tap_read(struct tap *t, void *buf, size_t len);
ssize_t tap_readv(struct tap *t, const struct iovec *iov, int n);
ssize_t tap_writev(struct tap *t, const struct iovec *iov, int n);
/* True for errors meaning the interface is gone (deleted while open). */
bool tap_gone_error(int err);

#endif
