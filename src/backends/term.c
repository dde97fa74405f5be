// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <kite/log.h>
#include <kite/term.h>

/*
 * Process-wide on purpose (see term.h): the terminal is the process's, and
 * the signal handlers below can reach nothing else.  `term_fd` >= 0 means
 * raw mode is on and `term_saved` holds what to put back.
 */
static struct termios term_saved;
static volatile sig_atomic_t term_fd = -1;
static bool term_hooks_installed;

static const int term_fatal_signals[] = {
	SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL,
};

void term_restore(void)
{
	int fd = term_fd;

	if (fd < 0)
		return;
	term_fd = -1;
	/* tcsetattr is async-signal-safe: this also runs from the handler. */
	tcsetattr(fd, TCSAFLUSH, &term_saved);
}

bool term_is_raw(void)
{
	return term_fd >= 0;
}

static void term_on_signal(int sig)
{
	int saved_errno = errno;

	term_restore();
	/*
	 * SA_RESETHAND put the default action back; the re-raised signal is
	 * blocked until this handler returns and then kills the process as
	 * it would have without us.
	 */
	raise(sig);
	errno = saved_errno;
}

static void term_on_exit(void)
{
	term_restore();
}

/*
 * Handlers go only on signals nobody handles yet: the VM's own graceful
 * SIGTERM/SIGINT handling (stop, then exit through atexit) must win, and
 * sanitizers keep their SIGSEGV reports.
 */
static void term_install_hooks(void)
{
	struct sigaction sa;

	if (term_hooks_installed)
		return;
	term_hooks_installed = true;
	atexit(term_on_exit);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = term_on_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(term_fatal_signals) / sizeof(term_fatal_signals[0]); i++) {
		struct sigaction old;

		if (sigaction(term_fatal_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
		    !(old.sa_flags & SA_SIGINFO))
			sigaction(term_fatal_signals[i], &sa, NULL);
	}
}

int term_raw_enable(int fd)
{
	struct termios raw;

	if (term_fd >= 0 || !isatty(fd))
		return 0;
	if (tcgetattr(fd, &term_saved) < 0) {
		int r = -errno;

		pr_err("terminal: cannot read its settings: %s", strerror(errno));
		return r;
	}
	term_install_hooks();
	raw = term_saved;
	/* cfmakeraw(), except that output post-processing stays (\n -> \r\n), as QEMU does. */
	raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	raw.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cflag &= ~(CSIZE | PARENB);
	raw.c_cflag |= CS8;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	term_fd = fd;
	if (tcsetattr(fd, TCSANOW, &raw) < 0) {
		int r = -errno;

		term_fd = -1;
		pr_err("terminal: cannot enter raw mode: %s", strerror(errno));
		return r;
	}
	return 0;
}

size_t term_escape_filter(struct term_escape *e, uint8_t *buf, size_t n, bool *quit)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = buf[i];

		if (!e->armed) {
			if (c == TERM_ESCAPE_CHAR)
				e->armed = true;
			else
				buf[out++] = c;
			continue;
		}
		e->armed = false;
		if (c == 'x' || c == 'X') {
			*quit = true;
			return out;
		}
		if (c == TERM_ESCAPE_CHAR)
			buf[out++] = c;
		/* Any other key after Ctrl-A: both dropped. */
	}
	return out;
}
