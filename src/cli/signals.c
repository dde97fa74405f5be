// SPDX-License-Identifier: MIT
/*
 * SIGINT, SIGTERM and SIGHUP stop a VM cleanly: they arrive through a
 * signalfd on the VM's event loop, so every thread of the process blocks
 * them.  Shared by kite run, restore and run --incoming.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <kite/cli.h>
#include <kite/event.h>
#include <kite/log.h>
#include <kite/vm.h>

void cli_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

int cli_signals_open(struct cli_signals *s, const sigset_t *set)
{
	s->vm = NULL;
	s->fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	return s->fd < 0 ? -errno : 0;
}

static void cli_on_signal(void *opaque, uint32_t events)
{
	struct cli_signals *s = opaque;
	struct signalfd_siginfo si;
	char detail[64];

	if (read(s->fd, &si, sizeof(si)) != sizeof(si))
		return;
	snprintf(detail, sizeof(detail), "stopped by %s", strsignal(si.ssi_signo));
	vm_request_stop(s->vm, STOP_USER, 0, detail);
}

void cli_signals_attach(struct cli_signals *s, struct vm *vm)
{
	s->vm = vm;
	if (s->fd < 0 || event_loop_add(vm->loop, s->fd, EPOLLIN, cli_on_signal, s) < 0)
		pr_warn("signals will not stop the VM cleanly: %s", strerror(s->fd < 0 ? EBADF : errno));
}

void cli_signals_close(struct cli_signals *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->vm = NULL;
}
