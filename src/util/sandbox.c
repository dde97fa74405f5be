// SPDX-License-Identifier: MIT
/*
 * The seccomp allowlist of a running VM process; docs/security.md says what
 * it is for, what it allows and why.  libseccomp resolves the names to this
 * architecture's numbers, adds the architecture check and lays out the BPF.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/fs.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <kite/log.h>
#include <kite/sandbox.h>
#include <kite/util.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif
#ifndef SANDBOX_SANITIZER
#define SANDBOX_SANITIZER 0
#endif

/* The exit status of `--seccomp trap`: what a shell reports for a death by SIGSYS. */
#define SANDBOX_TRAP_STATUS (128 + SIGSYS)

/*
 * System calls allowed with any arguments.  Names rather than __NR_ numbers:
 * libseccomp maps them for the architecture it builds the filter for, and a
 * name this architecture does not have is skipped.
 */
static const char *const sandbox_syscalls[] = {
	/* File descriptors: guest I/O, disks, the console, the control socket. */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
	"close", "close_range", "dup", "dup3", "fcntl", "lseek", "fstat", "newfstatat", "statx",
	"fsync", "fdatasync", "fallocate", "ftruncate", "flock", "pipe2", "getdents64",
	/* cache=none disks: rings made (and restricted to their image, see disk_aio.h) before the filter. */
	"io_uring_enter",
	/*
	 * Snapshots and the control socket's files, made while the VM runs:
	 * open and create, link into place, rename, remove.  Paths cannot be
	 * checked by seccomp (they are pointers); see docs/security.md.
	 */
	"openat", "mkdirat", "unlinkat", "renameat", "renameat2", "linkat", "fchmod", "faccessat", "faccessat2",
	"readlinkat", "memfd_create", "fstatfs", "statfs",
	/* The same on x86-64's older numbers, which glibc still uses for unlink(), rename(), mkdir()... */
	"unlink", "rmdir", "rename", "mkdir", "link", "access", "readlink", "chmod", "stat", "lstat", "open",
	"pipe", "dup2", "getdents",
	/* Memory: the allocator, thread stacks, the snapshot's RAM mappings. */
	"munmap", "madvise", "mremap", "brk", "msync", "mincore",
	/* Waiting and time. */
	"futex", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2",
	"timerfd_create", "timerfd_settime", "timerfd_gettime", "poll", "ppoll", "select", "pselect6",
	"nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "sched_yield",
	"sched_getaffinity", "restart_syscall",
	/* Signals: the signalfd of SIGINT/SIGTERM, vCPU kicks (pthread_kill), abort(). */
	"rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "sigaltstack", "signalfd4", "tgkill", "getpid",
	"gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
	/* Threads: start (clone is checked below), end, glibc's per-thread setup. */
	"set_robust_list", "rseq", "exit", "exit_group", "wait4", "membarrier",
	"getrandom", "uname", "prlimit64",
	/* glibc's sysconf(_SC_PHYS_PAGES), which qsort() of a large array asks. */
	"sysinfo",
	/* Sockets: the control socket (accept4), migration (connect, SCM_RIGHTS); socket() is checked below. */
	"accept4", "connect", "shutdown", "sendmsg", "recvmsg", "sendto", "recvfrom", "sendmmsg", "recvmmsg",
	"getsockopt", "setsockopt", "getsockname", "getpeername", "bind", "listen",
};

/* ioctl requests on the VM and vCPU fds while the VM runs, pauses, saves, loads or migrates. */
static const unsigned long sandbox_kvm_ioctls[] = {
	KVM_RUN, KVM_IRQ_LINE, KVM_SIGNAL_MSI, KVM_SET_GSI_ROUTING, KVM_IRQFD, KVM_IOEVENTFD,
	KVM_CHECK_EXTENSION, KVM_GET_API_VERSION, KVM_GET_VCPU_MMAP_SIZE, KVM_GET_SUPPORTED_CPUID,
	KVM_GET_MSR_INDEX_LIST, KVM_ENABLE_CAP,
	/* pause and snapshot (state saved), a migration target (state loaded: confined before the stream) */
	KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_FPU, KVM_SET_FPU,
	KVM_GET_MSRS, KVM_SET_MSRS, KVM_GET_LAPIC, KVM_SET_LAPIC, KVM_GET_MP_STATE, KVM_SET_MP_STATE,
	KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_GET_XSAVE, KVM_GET_XSAVE2, KVM_SET_XSAVE,
	KVM_GET_XCRS, KVM_SET_XCRS, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, KVM_GET_TSC_KHZ, KVM_SET_TSC_KHZ,
	KVM_SET_CPUID2, KVM_KVMCLOCK_CTRL, KVM_TRANSLATE,
	KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, KVM_GET_PIT2, KVM_SET_PIT2, KVM_GET_CLOCK, KVM_SET_CLOCK,
	/* dirty logging: slots are re-registered with KVM_MEM_LOG_DIRTY_PAGES */
	KVM_SET_USER_MEMORY_REGION, KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG,
};

/* Only for SANDBOX_VM_CREATE: a new VM, its vCPUs and chips. */
static const unsigned long sandbox_kvm_create_ioctls[] = {
	KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2, KVM_SET_TSS_ADDR,
	KVM_SET_IDENTITY_MAP_ADDR,
	/* the devices of the new VM: a TAP reopened by name, its link brought up, a pty console, a block device's size */
	TUNSETIFF, SIOCGIFFLAGS, SIOCSIFFLAGS, TIOCSPTLCK, BLKGETSIZE64,
};

/*
 * Other fds: the TAP (offloads follow what the guest negotiates), the
 * terminal (raw mode, window size), non-blocking sockets.  Not TIOCSTI,
 * which would type into the terminal of the user who started kite.
 */
static const unsigned long sandbox_other_ioctls[] = {
	TUNSETOFFLOAD, TUNSETVNETHDRSZ, TUNGETIFF, TUNGETVNETHDRSZ, TUNGETFEATURES,
	TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCGPTN, FIONREAD, FIONBIO, FIOCLEX,
};

/* Namespaces would let a forked child escape the mount and user view of the host. */
#define SANDBOX_CLONE_NS                                                                                            \
	(CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP)

static const int sandbox_socket_families[] = { AF_UNIX, AF_INET, AF_INET6 };

/* prctl: thread names. */
static const int sandbox_prctls[] = { PR_SET_NAME, PR_GET_NAME, PR_GET_SECCOMP };

/*
 * The sanitizer runtime: LeakSanitizer stops the world at exit with a
 * ptrace()ing helper; reports read /proc and may start a symbolizer (execve
 * fails with EPERM instead of killing, so the report still appears).
 */
static const char *const sandbox_sanitizer_syscalls[] = {
	"ptrace", "prctl", "sched_getparam", "sched_getscheduler", "kill", "tkill", "getrlimit",
	"setrlimit", "mprotect", "mmap",
};

static int sandbox_allow_name(scmp_filter_ctx ctx, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0; /* not a system call of this architecture */
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
}

/* One rule with one argument test: (arg & mask) == value, or arg == value when mask is 0. */
static int sandbox_rule1(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned arg, scmp_datum_t mask,
			 scmp_datum_t value)
{
	struct scmp_arg_cmp c = { .arg = arg, .op = mask ? SCMP_CMP_MASKED_EQ : SCMP_CMP_EQ,
				  .datum_a = mask ? mask : value, .datum_b = mask ? value : 0 };

	return seccomp_rule_add_array(ctx, action, nr, 1, &c);
}

/* The kernel reads the request as an unsigned int: compare the low 32 bits only. */
static int sandbox_allow_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs, size_t n)
{
	int r = 0;

	for (size_t i = 0; i < n && !r; i++)
		r = sandbox_rule1(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, 0xffffffffu, reqs[i] & 0xffffffffu);
	return r;
}

/*
 * No new executable memory (a guest that took over the VMM gets no place
 * for its own code): PROT_EXEC fails with EPERM rather than killing, as a
 * library's dlopen() (NSS in getaddrinfo) may try it and cope.
 */
static int sandbox_memory_rules(scmp_filter_ctx ctx)
{
	static const int calls[] = { SCMP_SYS(mmap), SCMP_SYS(mprotect), SCMP_SYS(pkey_mprotect) };
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(calls) && !r; i++) {
		r = sandbox_rule1(ctx, SCMP_ACT_ALLOW, calls[i], 2, PROT_EXEC, 0);
		if (!r)
			r = sandbox_rule1(ctx, SCMP_ACT_ERRNO(EPERM), calls[i], 2, PROT_EXEC, PROT_EXEC);
	}
	return r;
}

static int sandbox_arg_rules(scmp_filter_ctx ctx)
{
	int r;

	r = sandbox_rule1(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0, SANDBOX_CLONE_NS, 0);
	/* clone3's flags are behind a pointer: ENOSYS makes glibc fall back to clone, which is checked. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	for (size_t i = 0; i < ARRAY_SIZE(sandbox_socket_families) && !r; i++)
		r = sandbox_rule1(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 0, 0, sandbox_socket_families[i]);
	if (!r)
		r = sandbox_rule1(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 0, 0, AF_UNIX);
	for (size_t i = 0; i < ARRAY_SIZE(sandbox_prctls) && !r && !SANDBOX_SANITIZER; i++)
		r = sandbox_rule1(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 0, 0, sandbox_prctls[i]);
	if (!r && !SANDBOX_SANITIZER)
		r = sandbox_memory_rules(ctx);
	return r;
}

/*
 * New io_uring rings only where a new VM may be built (its disks get new
 * rings); elsewhere EPERM, which a disk takes as "no io_uring here" and
 * falls back to worker threads instead of the process being killed.
 */
static int sandbox_uring_rules(scmp_filter_ctx ctx, unsigned flags)
{
	uint32_t action = flags & SANDBOX_VM_CREATE ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EPERM);
	int r = seccomp_rule_add(ctx, action, SCMP_SYS(io_uring_setup), 0);

	if (!r)
		r = seccomp_rule_add(ctx, action, SCMP_SYS(io_uring_register), 0);
	return r;
}

static int sandbox_rules(scmp_filter_ctx ctx, unsigned flags)
{
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(sandbox_syscalls) && !r; i++)
		r = sandbox_allow_name(ctx, sandbox_syscalls[i]);
	if (!r)
		r = sandbox_allow_ioctls(ctx, sandbox_kvm_ioctls, ARRAY_SIZE(sandbox_kvm_ioctls));
	if (!r)
		r = sandbox_allow_ioctls(ctx, sandbox_other_ioctls, ARRAY_SIZE(sandbox_other_ioctls));
	if (!r && (flags & SANDBOX_VM_CREATE))
		r = sandbox_allow_ioctls(ctx, sandbox_kvm_create_ioctls, ARRAY_SIZE(sandbox_kvm_create_ioctls));
	if (!r)
		r = sandbox_uring_rules(ctx, flags);
	if (!r)
		r = sandbox_arg_rules(ctx);
	for (size_t i = 0; SANDBOX_SANITIZER && i < ARRAY_SIZE(sandbox_sanitizer_syscalls) && !r; i++)
		r = sandbox_allow_name(ctx, sandbox_sanitizer_syscalls[i]);
	if (!r && SANDBOX_SANITIZER)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execve), 0);
	return r;
}

/*
 * --seccomp trap names the call from a SIGSYS handler, where nothing may
 * allocate; so the names are looked up once, before the filter goes in.
 * Process-wide like the filter itself, written once and read-only after.
 */
#define SANDBOX_MAX_NR 512
static const char *sandbox_names[SANDBOX_MAX_NR];
static uint32_t sandbox_native_arch; /* AUDIT_ARCH_*, as siginfo's si_arch says it */
static pthread_once_t sandbox_names_once = PTHREAD_ONCE_INIT;

static void sandbox_names_init(void)
{
	sandbox_native_arch = seccomp_arch_native();
	for (int nr = 0; nr < SANDBOX_MAX_NR; nr++)
		sandbox_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
}

/* A number of another ABI (i386's int $0x80, x32's bit 30): the table would name the wrong call. */
static bool sandbox_foreign(const siginfo_t *si)
{
	return si->si_arch != sandbox_native_arch || si->si_syscall < 0 || si->si_syscall >= SANDBOX_MAX_NR;
}

static void sandbox_put(const char *s)
{
	ssize_t n = (ssize_t)strlen(s);

	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= w;
	}
}

static void sandbox_on_sigsys(int sig, siginfo_t *si, void *uc)
{
	const char *name = sandbox_foreign(si) ? NULL : sandbox_names[si->si_syscall];
	char num[16], *p = num + sizeof(num);
	unsigned u = (unsigned)si->si_syscall;

	*--p = 0;
	do
		*--p = '0' + u % 10;
	while (u /= 10);
	sandbox_put("kite: seccomp: the VM process made syscall ");
	sandbox_put(name ? name : "?");
	sandbox_put(" (");
	sandbox_put(p);
	sandbox_put(sandbox_foreign(si) ? " of another ABI" : "");
	sandbox_put("), which the sandbox does not allow; run with --seccomp off and report it\n");
	_exit(SANDBOX_TRAP_STATUS);
}

static int sandbox_trap_handler(void)
{
	struct sigaction sa = { .sa_sigaction = sandbox_on_sigsys, .sa_flags = SA_SIGINFO };
	sigset_t set;

	pthread_once(&sandbox_names_once, sandbox_names_init);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	/* A thread that blocks SIGSYS would be killed without a word. */
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	return 0;
}

/*
 * Whether kite's filter is in: process-wide, like the filter it mirrors,
 * which no one can take out again.  Not prctl(PR_GET_SECCOMP): under an
 * outer filter (a container runtime's, systemd's) that says yes already.
 */
static bool sandbox_installed;

int sandbox_active(void)
{
	return __atomic_load_n(&sandbox_installed, __ATOMIC_ACQUIRE);
}

/* The filter of `mode`/`flags`, with its attributes, ready to load or export. */
static int sandbox_build(enum sandbox_mode mode, unsigned flags, scmp_filter_ctx *out)
{
	uint32_t action = mode == SANDBOX_TRAP ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx = seccomp_init(action);
	int r;

	if (!ctx) {
		pr_err("seccomp: cannot start a filter (libseccomp)");
		return -ENOMEM;
	}
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	/* i386 (int $0x80) and x32 calls: the same action, not libseccomp's default of killing one thread. */
	if (!r)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, action);
	/* ioctl (KVM_RUN on every exit) is tested first. */
	if (!r)
		r = seccomp_syscall_priority(ctx, SCMP_SYS(ioctl), 255);
	if (!r)
		r = sandbox_rules(ctx, flags);
	if (r) {
		pr_err("seccomp: building the filter: %s", strerror(-r));
		seccomp_release(ctx);
		return r;
	}
	*out = ctx;
	return 0;
}

/*
 * Building and compiling the filter costs over a millisecond, which would
 * sit between "VM built" and the guest's first instruction.  sandbox_prepare
 * does it on a thread of its own while the VM is being built; install then
 * only loads the compiled program.  Process-wide, like the filter.
 */
static struct {
	pthread_mutex_t lock;
	bool started, joined;
	pthread_t thread;
	enum sandbox_mode mode;
	unsigned flags;
	struct sock_filter *insns;
	unsigned short len;
} sandbox_prep = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *sandbox_compile(void *arg)
{
	scmp_filter_ctx ctx;
	struct stat st;
	int fd;

	(void)arg;
	if (sandbox_build(sandbox_prep.mode, sandbox_prep.flags, &ctx))
		return NULL;
	fd = memfd_create("kite-seccomp", MFD_CLOEXEC);
	if (fd >= 0 && seccomp_export_bpf(ctx, fd) == 0 && fstat(fd, &st) == 0 && st.st_size > 0 &&
	    st.st_size % sizeof(struct sock_filter) == 0 && st.st_size / sizeof(struct sock_filter) <= BPF_MAXINSNS) {
		struct sock_filter *p = malloc(st.st_size);

		if (p && pread(fd, p, st.st_size, 0) == st.st_size) {
			sandbox_prep.insns = p;
			sandbox_prep.len = st.st_size / sizeof(struct sock_filter);
		} else {
			free(p);
		}
	}
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return NULL;
}

void sandbox_prepare(enum sandbox_mode mode, unsigned flags)
{
	pthread_mutex_lock(&sandbox_prep.lock);
	if (mode != SANDBOX_OFF && !sandbox_active() && !sandbox_prep.started) {
		sandbox_prep.mode = mode;
		sandbox_prep.flags = flags;
		sandbox_prep.started = pthread_create(&sandbox_prep.thread, NULL, sandbox_compile, NULL) == 0;
	}
	pthread_mutex_unlock(&sandbox_prep.lock);
}

/* The prepared program if it is the one asked for (else the caller builds it now). */
static bool sandbox_take_prepared(enum sandbox_mode mode, unsigned flags, struct sock_fprog *prog)
{
	bool ok;

	pthread_mutex_lock(&sandbox_prep.lock);
	if (sandbox_prep.started && !sandbox_prep.joined) {
		pthread_join(sandbox_prep.thread, NULL);
		sandbox_prep.joined = true;
	}
	ok = sandbox_prep.insns && sandbox_prep.mode == mode && sandbox_prep.flags == flags;
	if (ok) {
		prog->filter = sandbox_prep.insns;
		prog->len = sandbox_prep.len;
	}
	pthread_mutex_unlock(&sandbox_prep.lock);
	return ok;
}

/* What seccomp_load does with TSYNC: no_new_privs, then one filter on every thread. */
static int sandbox_load_prog(const struct sock_fprog *prog)
{
	long r;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	r = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, prog);
	if (r < 0)
		return -errno;
	return r ? -EAGAIN : 0; /* > 0: a thread that could not take it (TSYNC names it) */
}

int sandbox_install(enum sandbox_mode mode, unsigned flags)
{
	struct sock_fprog prog;
	scmp_filter_ctx ctx;
	int r;

	if (mode == SANDBOX_OFF || sandbox_active())
		return 0;
	if (mode == SANDBOX_TRAP && (r = sandbox_trap_handler())) {
		pr_err("seccomp: SIGSYS handler: %s", strerror(-r));
		return r;
	}
	if (sandbox_take_prepared(mode, flags, &prog)) {
		r = sandbox_load_prog(&prog);
	} else {
		r = sandbox_build(mode, flags, &ctx);
		if (r)
			return r;
		r = seccomp_load(ctx);
		seccomp_release(ctx);
	}
	if (r) {
		pr_err("seccomp: loading the filter on every thread: %s", strerror(-r));
		return r;
	}
	__atomic_store_n(&sandbox_installed, true, __ATOMIC_RELEASE);
	pr_debug("seccomp: sandbox in place on every thread, mode %s%s", sandbox_mode_name(mode),
		 mode == SANDBOX_ON ? " (a call outside it kills kite; --seccomp trap names it)" : "");
	return 0;
}

int sandbox_parse_mode(const char *s, enum sandbox_mode *mode)
{
	static const char *const names[] = { [SANDBOX_ON] = "on", [SANDBOX_TRAP] = "trap", [SANDBOX_OFF] = "off" };

	for (unsigned i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(s, names[i])) {
			*mode = i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sandbox_mode_name(enum sandbox_mode mode)
{
	switch (mode) {
	case SANDBOX_ON:
		return "on";
	case SANDBOX_TRAP:
		return "trap";
	case SANDBOX_OFF:
		return "off";
	}
	return "?";
}
