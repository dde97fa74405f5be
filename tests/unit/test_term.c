// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include <kite/term.h>

static void test_not_a_tty(void **state)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(term_raw_enable(p[0]), 0);
	assert_false(term_is_raw());
	term_restore();
	close(p[0]);
	close(p[1]);
}

/* A pseudo-terminal stands in for the user's terminal. */
static void test_raw_and_restore(void **state)
{
	struct termios before, raw, after;
	int master, slave;

	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	assert_int_equal(tcgetattr(slave, &before), 0);
	assert_true(before.c_lflag & ECHO);
	assert_int_equal(term_raw_enable(slave), 0);
	assert_true(term_is_raw());
	assert_int_equal(term_raw_enable(slave), 0); /* again: no-op, keeps the first saved state */
	assert_int_equal(tcgetattr(slave, &raw), 0);
	assert_false(raw.c_lflag & (ECHO | ICANON | ISIG | IEXTEN));
	assert_false(raw.c_iflag & (ICRNL | IXON));
	assert_true(raw.c_oflag & OPOST);
	assert_int_equal(raw.c_cc[VMIN], 1);
	term_restore();
	assert_false(term_is_raw());
	assert_int_equal(tcgetattr(slave, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_int_equal(after.c_iflag, before.c_iflag);
	assert_int_equal(after.c_oflag, before.c_oflag);
	term_restore(); /* twice is harmless */
	close(slave);
	close(master);
}

/* A fatal signal restores the terminal before the process dies of it. */
static void test_restore_on_signal(void **state)
{
	struct termios before, after;
	int master, slave, status;
	pid_t pid;

	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	assert_int_equal(tcgetattr(slave, &before), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (term_raw_enable(slave) || !term_is_raw())
			_exit(3);
		raise(SIGTERM);
		_exit(4); /* not reached */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
	assert_int_equal(tcgetattr(slave, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	close(slave);
	close(master);
}

static void test_escape_filter(void **state)
{
	struct term_escape e = { 0 };
	bool quit = false;
	uint8_t buf[16];
	size_t n;

	memcpy(buf, "ab\x01\x01" "c\x01z", 7);
	n = term_escape_filter(&e, buf, 7, &quit);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "ab\x01" "c", 4);
	assert_false(quit);
	/* Armed across calls. */
	memcpy(buf, "d\x01", 2);
	assert_int_equal(term_escape_filter(&e, buf, 2, &quit), 1);
	assert_true(e.armed);
	memcpy(buf, "Xtrailing", 9);
	assert_int_equal(term_escape_filter(&e, buf, 9, &quit), 0);
	assert_true(quit);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_a_tty),
		cmocka_unit_test(test_raw_and_restore),
		cmocka_unit_test(test_restore_on_signal),
		cmocka_unit_test(test_escape_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
