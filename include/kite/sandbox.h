/* SPDX-License-Identifier: MIT */
#ifndef KITE_SANDBOX_H
#define KITE_SANDBOX_H

/*
 * The seccomp sandbox of a running VM process (docs/security.md): an
 * allowlist of the system calls, ioctl requests and socket families the VMM
 * needs once its VM is built, installed on every thread at once
 * (SECCOMP_FILTER_FLAG_TSYNC) and irrevocable.  Built with libseccomp; knows
 * the KVM, TAP and terminal ioctls kite uses, nothing of struct vm.
 */

/* Zero is "on": a configuration nobody set is enforced. */
enum sandbox_mode {
	SANDBOX_ON,   /* a forbidden system call kills the process (SIGSYS) */
	SANDBOX_TRAP, /* ... prints which one, then exits with status 159 */
	SANDBOX_OFF,
};

/* Also allow what building another VM in this process needs (kite run --reboot restart). */
#define SANDBOX_VM_CREATE (1u << 0)

/* "on", "trap" or "off"; -EINVAL for anything else. */
int sandbox_parse_mode(const char *s, enum sandbox_mode *mode);
const char *sandbox_mode_name(enum sandbox_mode mode);

/*
 * Confines every thread of the calling process for the rest of its life.
 * SANDBOX_OFF does nothing; so does a second call once a filter is in place
 * (a filter cannot be loosened, and the first one is kite's).  0 or -errno
 * with a message.
 */
int sandbox_install(enum sandbox_mode mode, unsigned flags);
/*
 * Starts compiling the filter of (mode, flags) on a thread of its own, so
 * that sandbox_install later only loads it.  Optional; safe to call once
 * or more (later calls do nothing).
 */
void sandbox_prepare(enum sandbox_mode mode, unsigned flags);

/* Whether kite's filter is in place in this process (an outer one, a container's, does not count). */
int sandbox_active(void);

#endif
