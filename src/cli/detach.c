// SPDX-License-Identifier: MIT
/*
 * -d/--detach: the VM runs in a child in its own session, with stdout and
 * stderr (so a stdio serial port too) on a log file and stdin on /dev/null.
 * The parent returns once the child says it runs, or with the child's exit
 * status if it failed first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kite/cli.h>

static void detach_child_stdio(const char *log_path)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);

	if (null >= 0)
		dup2(null, STDIN_FILENO);
	if (log >= 0) {
		dup2(log, STDOUT_FILENO);
		dup2(log, STDERR_FILENO);
	}
	if (null > STDERR_FILENO)
		close(null);
	if (log > STDERR_FILENO)
		close(log);
}

int cli_detach_start(const char *log_path, struct cli_detach *d)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	d->pid = fork();
	if (d->pid < 0) {
		int r = -errno;

		close(p[0]);
		close(p[1]);
		return r;
	}
	if (d->pid == 0) {
		close(p[0]);
		d->ready_fd = p[1];
		setsid();
		detach_child_stdio(log_path);
		return 0;
	}
	close(p[1]);
	d->ready_fd = p[0];
	return 1;
}

void cli_detach_ready(struct cli_detach *d)
{
	char c = 1;

	if (d->ready_fd < 0)
		return;
	if (write(d->ready_fd, &c, 1) < 0) {
		/* The parent is gone: nobody to tell. */
	}
	close(d->ready_fd);
	d->ready_fd = -1;
}

int cli_detach_wait(struct cli_detach *d)
{
	char c;
	ssize_t n;
	int status;

	do
		n = read(d->ready_fd, &c, 1);
	while (n < 0 && errno == EINTR);
	close(d->ready_fd);
	d->ready_fd = -1;
	if (n == 1)
		return EXIT_OK;
	/* No word: the child failed before running the VM; its status says how. */
	if (waitpid(d->pid, &status, 0) == d->pid && WIFEXITED(status))
		return WEXITSTATUS(status) ? WEXITSTATUS(status) : EXIT_FAILURE_VM;
	return EXIT_FAILURE_VM;
}
