/* SPDX-License-Identifier: MIT */
#ifndef KITE_API_REGISTRY_H
#define KITE_API_REGISTRY_H

/*
 * Where VM control sockets live, and which of them belong to live VMs.
 * The runtime directory is $KITE_RUNTIME_DIR if set, else
 * $XDG_RUNTIME_DIR/kite, else /run/kite for root, else /tmp/kite-UID; each
 * VM's socket is DIR/NAME.sock.  A socket nobody listens on (connect gives
 * ECONNREFUSED) belongs to a VM that died without cleaning up: it is stale
 * and may be removed.
 */

#include <stdbool.h>
#include <stddef.h>

#define API_SOCKET_SUFFIX ".sock"

/* The runtime directory (not created); -ENAMETOOLONG if it does not fit. */
int api_runtime_dir(char *buf, size_t size);
/* DIR/NAME.sock, creating DIR (mode 0700) if needed; -errno with a message. */
int api_default_socket(const char *name, char *buf, size_t size);
/*
 * 1 when a server accepts connections at `path`, 0 when nothing is there or
 * the socket is stale (removed when remove_stale), -errno when `path` exists
 * but is not a socket, or cannot be checked.
 */
int api_socket_probe(const char *path, bool remove_stale);
/*
 * The socket of the VM named `name` (a NAME, or a path if it contains '/');
 * -ENOENT when no live VM answers there.
 */
int api_resolve(const char *name, char *buf, size_t size);

/* Calls fn(opaque, name, path) for each live VM, in name order; stale sockets are removed. */
typedef void (*api_vm_fn)(void *opaque, const char *name, const char *path);
int api_foreach_vm(api_vm_fn fn, void *opaque);

#endif
