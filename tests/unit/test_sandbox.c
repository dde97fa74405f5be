// SPDX-License-Identifier: MIT
/*
 * The seccomp sandbox, installed in forked children (a filter is for the
 * rest of a process's life): what a running VMM does still works; what it
 * never needs kills (on) or is named (trap).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <kite/sandbox.h>

#if defined(__SANITIZE_ADDRESS__)
#define TEST_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_SANITIZER 1
#endif
#endif
#ifndef TEST_SANITIZER
#define TEST_SANITIZER 0
#endif

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* valgrind runs the client's system calls itself and maps its translations executable: no filter there. */
#define skip_under_valgrind()                                                                                       \
	do {                                                                                                        \
		if (RUNNING_ON_VALGRIND)                                                                            \
			skip();                                                                                     \
	} while (0)

/* Child exit codes: which step failed. */
enum { CHILD_OK = 0, CHILD_INSTALL = 10, CHILD_ALLOWED = 11, CHILD_SURVIVED = 12 };

struct child_result {
	int status;
	char err[512]; /* the child's stderr */
};

/* Runs fn(arg) in a child whose stderr is captured; the child _exits (no atexit, no leak check). */
static void run_child(int (*fn)(void *), void *arg, struct child_result *res)
{
	int pfd[2];
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], STDERR_FILENO);
		_exit(fn(arg));
	}
	close(pfd[1]);
	while ((n = read(pfd[0], res->err + got, sizeof(res->err) - 1 - got)) > 0)
		got += n;
	res->err[got] = 0;
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &res->status, 0), pid);
}

/* The child says how far it got, so that a death in an allowed call cannot pass for the forbidden one. */
static void child_reached(const char *step)
{
	if (write(STDERR_FILENO, step, strlen(step)) < 0)
		_exit(CHILD_ALLOWED);
}

static void assert_killed_by_sigsys(const struct child_result *res, const char *step)
{
	if (!WIFSIGNALED(res->status) || WTERMSIG(res->status) != SIGSYS)
		fail_msg("child: status 0x%x, expected death by SIGSYS; stderr: %s", res->status, res->err);
	if (!strstr(res->err, step))
		fail_msg("child died before '%s'; stderr: %s", step, res->err);
}

static void assert_exited(const struct child_result *res, int code)
{
	if (!WIFEXITED(res->status) || WEXITSTATUS(res->status) != code)
		fail_msg("child: status 0x%x, expected exit %d; stderr: %s", res->status, code, res->err);
}

static void *thread_nop(void *arg)
{
	return arg;
}

/* What the event loop, the vCPU threads and the device backends do after the filter is in. */
static int allowed_calls(void)
{
	struct itimerspec its = { .it_value = { .tv_nsec = 1000 } };
	int pfd[2], efd, ep, tfd, s;
	struct timespec ts;
	uint64_t v = 1;
	pthread_t t;
	void *p;
	pid_t pid;
	char c;

	if (pipe2(pfd, O_CLOEXEC) || write(pfd[1], "x", 1) != 1 || read(pfd[0], &c, 1) != 1)
		return 1;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (efd < 0 || ep < 0 || tfd < 0 || write(efd, &v, 8) != 8 || timerfd_settime(tfd, 0, &its, NULL))
		return 2;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) || getpid() <= 0)
		return 3;
	p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || madvise(p, 1 << 20, MADV_DONTNEED) || munmap(p, 1 << 20))
		return 4;
	p = malloc(1 << 20); /* the allocator's own mmap/brk */
	if (!p)
		return 5;
	free(p);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 6;
	/* An allowed request on the wrong kind of fd fails in the kernel, not in the filter. */
	if (ioctl(pfd[0], KVM_RUN, 0) == 0 || ioctl(pfd[0], TCGETS, &c) == 0)
		return 7;
	/* Threads started late (migration) and the fork of the detached teardown. */
	if (pthread_create(&t, NULL, thread_nop, NULL) || pthread_join(t, NULL))
		return 8;
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0 || waitpid(pid, NULL, 0) != pid)
		return 9;
	close(s);
	close(tfd);
	close(ep);
	close(efd);
	return 0;
}

struct forbidden {
	const char *name;
	void (*call)(void);
};

static void call_mount(void)
{
	mount("none", "/tmp", "tmpfs", 0, NULL);
}

static void call_unshare(void)
{
	syscall(SYS_unshare, CLONE_NEWUSER);
}

static void call_execve(void)
{
	char *argv[] = { "/bin/true", NULL };

	execve(argv[0], argv, argv + 1);
}

static void call_packet_socket(void)
{
	socket(AF_PACKET, SOCK_RAW, 0);
}

/* TIOCSTI types into a terminal: never on the allowlist, whatever the fd. */
static void call_tiocsti(void)
{
	char c = 'x';

	ioctl(STDIN_FILENO, TIOCSTI, &c);
}

static void call_clone_newns(void)
{
	syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
}

static void call_kvm_create_vm(void)
{
	ioctl(-1, KVM_CREATE_VM, 0);
}

static void call_bpf(void)
{
	syscall(SYS_bpf, 0, NULL, 0);
}

/* The same getpid through the i386 entry (int $0x80) and the x32 ABI: other numbers the filter must not miss. */
static void call_int80(void)
{
	long r;

	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
	(void)r;
}

static void call_x32(void)
{
	syscall(0x40000000L | SYS_getpid);
}

static const struct forbidden forbidden_calls[] = {
	{ "mount", call_mount },
	{ "unshare", call_unshare },
	{ "socket", call_packet_socket },
	{ "ioctl", call_tiocsti },
	{ "clone", call_clone_newns },
	{ "ioctl", call_kvm_create_vm },
	{ "bpf", call_bpf },
	{ "int80", call_int80 },
	{ "x32", call_x32 },
	{ "execve", call_execve }, /* last: in sanitizer builds it fails with EPERM instead */
};

struct child_arg {
	enum sandbox_mode mode;
	unsigned flags;
	const struct forbidden *f;
};

static int child_forbidden(void *opaque)
{
	const struct child_arg *a = opaque;

	if (sandbox_install(a->mode, a->flags))
		return CHILD_INSTALL;
	if (allowed_calls())
		return CHILD_ALLOWED;
	child_reached("[allowed calls done]");
	a->f->call();
	return CHILD_SURVIVED;
}

static void test_on_kills(void **state)
{
	skip_under_valgrind();
	for (size_t i = 0; i < sizeof(forbidden_calls) / sizeof(forbidden_calls[0]); i++) {
		struct child_arg a = { SANDBOX_ON, 0, &forbidden_calls[i] };
		struct child_result res;

		run_child(child_forbidden, &a, &res);
		if (TEST_SANITIZER && !strcmp(forbidden_calls[i].name, "execve"))
			assert_exited(&res, CHILD_SURVIVED);
		else
			assert_killed_by_sigsys(&res, "[allowed calls done]");
	}
}

static void test_trap_names_the_call(void **state)
{
	struct child_arg a = { SANDBOX_TRAP, 0, &forbidden_calls[0] }; /* mount */
	struct child_result res;

	skip_under_valgrind();

	run_child(child_forbidden, &a, &res);
	assert_exited(&res, 128 + SIGSYS);
	assert_non_null(strstr(res.err, "kite: seccomp: the VM process made syscall mount ("));
	assert_non_null(strstr(res.err, "run with --seccomp off and report it"));
	/* Another ABI's call is trapped the same way (not libseccomp's default, a kill). */
	for (size_t i = 0; i < sizeof(forbidden_calls) / sizeof(forbidden_calls[0]); i++) {
		if (strcmp(forbidden_calls[i].name, "x32") && strcmp(forbidden_calls[i].name, "int80"))
			continue;
		a.f = &forbidden_calls[i];
		run_child(child_forbidden, &a, &res);
		assert_exited(&res, 128 + SIGSYS);
		/* Not named from the native table, which would call i386's getpid (20) writev. */
		assert_non_null(strstr(res.err, "kite: seccomp: the VM process made syscall ? ("));
		assert_non_null(strstr(res.err, " of another ABI), which"));
	}
}

/* --reboot restart: a new VM may be created; the kernel then says EBADF for fd -1, not the filter. */
static int child_vm_create(void *opaque)
{
	if (sandbox_install(SANDBOX_ON, SANDBOX_VM_CREATE))
		return CHILD_INSTALL;
	return ioctl(-1, KVM_CREATE_VM, 0) < 0 && errno == EBADF ? CHILD_OK : CHILD_ALLOWED;
}

static void test_vm_create_flag(void **state)
{
	struct child_result res;

	skip_under_valgrind();

	run_child(child_vm_create, NULL, &res);
	assert_exited(&res, CHILD_OK);
}

/* Errors rather than kills: glibc falls back from clone3, dlopen copes with no PROT_EXEC. */
static int child_soft_denials(void *opaque)
{
	void *p;

	if (sandbox_install(SANDBOX_ON, 0))
		return CHILD_INSTALL;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 1;
	if (TEST_SANITIZER)
		return CHILD_OK; /* the sanitizer runtime keeps mmap/mprotect unrestricted */
	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED || errno != EPERM)
		return 2;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 3;
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0 || errno != EPERM)
		return 4;
	return CHILD_OK;
}

static void test_soft_denials(void **state)
{
	struct child_result res;

	skip_under_valgrind();

	run_child(child_soft_denials, NULL, &res);
	assert_exited(&res, CHILD_OK);
}

/* TSYNC: a thread that existed before the install (a virtio-blk worker) is confined too. */
struct early_thread {
	int go[2];
};

static void *early_thread_fn(void *opaque)
{
	struct early_thread *e = opaque;
	char c;

	if (read(e->go[0], &c, 1) == 1)
		call_mount();
	return NULL;
}

static int child_tsync(void *opaque)
{
	struct early_thread e;
	pthread_t t;

	if (pipe(e.go) || pthread_create(&t, NULL, early_thread_fn, &e))
		return CHILD_ALLOWED;
	if (sandbox_install(SANDBOX_ON, 0))
		return CHILD_INSTALL;
	child_reached("[installed]");
	if (write(e.go[1], "g", 1) != 1)
		return CHILD_ALLOWED;
	pthread_join(t, NULL);
	return CHILD_SURVIVED;
}

static void test_tsync(void **state)
{
	struct child_result res;

	skip_under_valgrind();

	run_child(child_tsync, NULL, &res);
	assert_killed_by_sigsys(&res, "[installed]");
}

/* A second install (the next boot of --reboot restart) keeps the first filter and succeeds. */
static int child_twice(void *opaque)
{
	if (sandbox_active())
		return 1;
	if (sandbox_install(SANDBOX_ON, 0) || !sandbox_active())
		return 2;
	if (sandbox_install(SANDBOX_TRAP, SANDBOX_VM_CREATE))
		return 3;
	/* Still the first filter: no trap handler, no VM creation. */
	child_reached("[second install]");
	call_kvm_create_vm();
	return CHILD_SURVIVED;
}

static void test_second_install_is_noop(void **state)
{
	struct child_result res;

	skip_under_valgrind();

	run_child(child_twice, NULL, &res);
	assert_killed_by_sigsys(&res, "[second install]");
}

static int child_off(void *opaque)
{
	if (sandbox_install(SANDBOX_OFF, 0) || sandbox_active())
		return 1;
	/* Not on the allowlist, harmless without a filter. */
	return syscall(SYS_unshare, 0) == 0 ? CHILD_OK : 2;
}

static void test_off(void **state)
{
	struct child_result res;

	run_child(child_off, NULL, &res);
	assert_exited(&res, CHILD_OK);
}

static void test_parse_mode(void **state)
{
	static const char *const bad[] = { "", "ON", "yes", "1", "trap ", "enforce" };
	enum sandbox_mode m = SANDBOX_OFF;

	assert_int_equal(sandbox_parse_mode("on", &m), 0);
	assert_int_equal(m, SANDBOX_ON);
	assert_int_equal(sandbox_parse_mode("trap", &m), 0);
	assert_int_equal(m, SANDBOX_TRAP);
	assert_int_equal(sandbox_parse_mode("off", &m), 0);
	assert_int_equal(m, SANDBOX_OFF);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sandbox_parse_mode(bad[i], &m), -EINVAL);
	assert_int_equal(m, SANDBOX_OFF); /* untouched on error */
	assert_string_equal(sandbox_mode_name(SANDBOX_ON), "on");
	assert_string_equal(sandbox_mode_name(SANDBOX_TRAP), "trap");
	assert_string_equal(sandbox_mode_name(SANDBOX_OFF), "off");
	/* A configuration nobody set is enforced. */
	assert_int_equal(SANDBOX_ON, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_mode),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_on_kills),
		cmocka_unit_test(test_trap_names_the_call),
		cmocka_unit_test(test_vm_create_flag),
		cmocka_unit_test(test_soft_denials),
		cmocka_unit_test(test_tsync),
		cmocka_unit_test(test_second_install_is_noop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
