/* SPDX-License-Identifier: MIT */
#ifndef KITE_CLI_H
#define KITE_CLI_H

/* `kite` subcommands: one file each in src/cli/, listed in src/cli/main.c. */

#include <stdarg.h>
#include <stdbool.h>

#include <kite/sandbox.h>

/* kite's own exit statuses are even, a guest's debug-exit statuses odd. */
#define EXIT_OK      0
#define EXIT_USAGE   2
#define EXIT_FAILURE_VM 4

struct cli_command {
	const char *name;
	int (*fn)(int argc, char **argv); /* argv[0] is the command name */
	const char *summary;
	const char *usage; /* full help text for `kite help NAME` */
};

extern const struct cli_command cli_commands[];
const struct cli_command *cli_find(const char *name);

/* Prints "kite CMD: <message>" and a hint to stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * SIGINT, SIGTERM and SIGHUP through a signalfd on a VM's event loop
 * (src/cli/signals.c).  cli_stop_signals fills the set the caller blocks;
 * open makes the fd (before a sandbox forbids it), attach watches it once
 * the VM exists.
 */
#include <signal.h>
struct vm;
struct cli_signals {
	int fd;
	struct vm *vm;
};
void cli_stop_signals(sigset_t *set);
int cli_signals_open(struct cli_signals *s, const sigset_t *set);
void cli_signals_attach(struct cli_signals *s, struct vm *vm);
void cli_signals_close(struct cli_signals *s);

int cmd_run(int argc, char **argv);
int cmd_host(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
/* Lifecycle commands over a VM's control socket (src/cli/cmd_{ls,ctl,info,console}.c). */
int cmd_ls(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_shutdown(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_console(int argc, char **argv);

/*
 * One request to the VM `name` (a name or a socket path) for `kite CMD`:
 * EXIT_OK with rep filled (any HTTP status), or EXIT_USAGE (no such VM) /
 * EXIT_FAILURE_VM (no answer) after a one-line message.
 */
struct api_reply;
int cli_vm_request(const char *cmd, const char *name, const char *method, const char *target, const char *json,
		   struct api_reply *rep);

/* Live migration (src/cli/cmd_migrate.c): the source's command and kite run --incoming. */
int cmd_migrate(int argc, char **argv);
struct vm_config;
int migrate_incoming_run(const struct vm_config *cfg);

/* Snapshots (src/cli/cmd_{snapshot,restore,clone}.c). */
int cmd_snapshot(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_clone(int argc, char **argv);

/* What kite restore and each clone of kite clone run (src/cli/cmd_restore.c). */
struct net_config;
struct restore_args {
	const char *dir;
	const char *name;     /* NULL: the saved name */
	const struct net_config *nets; /* --net overrides of the saved NICs, in order */
	unsigned nnets;
	const char *serial;   /* NULL: stdio (or the log when detached) */
	const char *api_path; /* NULL: the default socket for the name */
	bool eager;
	enum sandbox_mode seccomp; /* --seccomp (0: on) */
	struct cli_detach *detach; /* set in a detached child */
	/* kite clone: once restored (and reported ready), wait for end of file on go_fd before the vCPUs start. */
	bool wait_go;
	int go_fd;
};
/* Restores and runs the VM; the process exit status. */
int restore_run(const struct restore_args *a);

/* -d/--detach (src/cli/detach.c). */
struct cli_detach {
	int pid;
	int ready_fd;
};
/* Forks: 1 in the parent, 0 in the child (new session, stdio on log_path), -errno. */
int cli_detach_start(const char *log_path, struct cli_detach *d);
/* Child: the VM runs (the parent may return). */
void cli_detach_ready(struct cli_detach *d);
/* Parent: EXIT_OK once the child is ready, else the child's exit status. */
int cli_detach_wait(struct cli_detach *d);

/*
 * One --net tap=NAME[,mac=MAC] / fd=N[,mac=MAC] value of `kite CMD` into n;
 * `copy` is a writable copy of s that n's strings then point into.  EXIT_OK
 * or EXIT_USAGE after a message.
 */
int cli_parse_net(const char *cmd, const char *s, char *copy, struct net_config *n);

/* Parses `kite run` options into cfg (no side effects); EXIT_OK or EXIT_USAGE after a message. */
struct vm_config;
int run_parse_args(int argc, char **argv, struct vm_config *cfg);

#endif
