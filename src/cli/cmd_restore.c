// SPDX-License-Identifier: MIT
/*
 * kite restore DIR (also kite run --restore DIR): the VM of a snapshot,
 * recreated from the saved configuration and run from where it was.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kite/api.h>
#include <kite/api_registry.h>
#include <kite/cli.h>
#include <kite/event.h>
#include <kite/log.h>
#include <kite/sandbox.h>
#include <kite/state.h>
#include <kite/util.h>
#include <kite/vm.h>

static bool restore_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= KITE_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

static int restore_serial(const char *s, struct serial_config *sc)
{
	if (!strcmp(s, "stdio"))
		*sc = (struct serial_config){ SERIAL_STDIO, NULL };
	else if (!strcmp(s, "none"))
		*sc = (struct serial_config){ SERIAL_NONE, NULL };
	else if (!strncmp(s, "file:", 5) && s[5])
		*sc = (struct serial_config){ SERIAL_FILE, s + 5 };
	else
		return -EINVAL;
	return 0;
}

/*
 * kite clone: every clone restores first and its guest starts when all are
 * ready (the parent closes the pipe), so that spinning guests do not take
 * the CPU from the siblings still restoring.
 */
static void restore_wait_go(int fd)
{
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	close(fd);
}

/* The VM is restored: serve it, run it, report how it ended. */
static int restore_serve(struct vm *vm, struct api_server *api, sigset_t *sigs, const struct restore_args *a)
{
	struct cli_signals rs;
	int status;

	cli_signals_open(&rs, sigs);
	cli_signals_attach(&rs, vm);
	if (api && api_server_attach(api, vm))
		vm_request_stop(vm, STOP_FAILURE, 0, "the control socket cannot be served");
	/*
	 * A clone compiles its sandbox while its siblings restore, not once the
	 * guests run (vm_run's call then finds it in place).
	 */
	if (a->wait_go && sandbox_install(vm->cfg.seccomp, vm->cfg.reboot == REBOOT_RESTART ? SANDBOX_VM_CREATE : 0))
		vm_request_stop(vm, STOP_FAILURE, 0, "cannot install the seccomp sandbox");
	if (a->detach)
		cli_detach_ready(a->detach);
	if (a->wait_go)
		restore_wait_go(a->go_fd);
	vm_run(vm);
	if (api)
		api_server_detach(api);
	status = vm_exit_status(vm);
	if (vm->stop == STOP_FAILURE)
		pr_err("VM stopped: %s", vm->stop_detail);
	else if (vm->stop != STOP_DEBUG_EXIT)
		pr_info("%s", vm->stop_detail);
	vm_detach_teardown(vm);
	vm_destroy(vm);
	cli_signals_close(&rs);
	return status;
}

int restore_run(const struct restore_args *a)
{
	uint64_t t0 = now_ns();
	struct restore_image img;
	struct api_server *api = NULL;
	struct vm vm;
	sigset_t sigs;
	int r;

	r = restore_open(&img, a->dir, NULL, NULL);
	if (r)
		return EXIT_USAGE;
	if (restore_configure(&img, a->name, a->nets, a->nnets)) {
		restore_close(&img);
		return EXIT_USAGE;
	}
	img.info.cfg.serial = (struct serial_config){ SERIAL_STDIO, NULL };
	if (a->serial)
		restore_serial(a->serial, &img.info.cfg.serial); /* checked by the caller */
	img.info.cfg.api_path = a->api_path;
	img.info.cfg.seccomp = a->seccomp;
	cli_stop_signals(&sigs);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = api_server_open_default(&api, a->api_path, img.info.cfg.name);
	if (r) {
		restore_close(&img);
		return r == -EADDRINUSE ? EXIT_USAGE : EXIT_FAILURE_VM;
	}
	r = restore_vm(&vm, &img, a->eager);
	if (r) {
		api_server_close(api);
		restore_close(&img);
		return r == -EINVAL || r == -EPROTO ? EXIT_USAGE : EXIT_FAILURE_VM;
	}
	pr_info("restored %s from %s in %.2f ms", vm.cfg.name, a->dir, (now_ns() - t0) / 1e6);
	r = restore_serve(&vm, api, &sigs, a);
	api_server_close(api);
	restore_close(&img);
	return r;
}

enum { OPT_NAME = 0x100, OPT_SERIAL, OPT_API, OPT_EAGER, OPT_RESTORE, OPT_LOG, OPT_NET, OPT_SECCOMP };

static const struct option restore_options[] = {
	{ "name", required_argument, NULL, OPT_NAME },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "api", required_argument, NULL, OPT_API },
	{ "eager", no_argument, NULL, OPT_EAGER },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "net", required_argument, NULL, OPT_NET },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "detach", no_argument, NULL, 'd' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* A detached VM logs to RUNTIME_DIR/NAME.log unless --log says otherwise. */
static int restore_log_path(const char *name, const char *log, char *buf, size_t size)
{
	char dir[256];

	if (log)
		return snprintf(buf, size, "%s", log) < (int)size ? 0 : -ENAMETOOLONG;
	if (api_runtime_dir(dir, sizeof(dir)))
		return -ENAMETOOLONG;
	return snprintf(buf, size, "%s/%s.log", dir, name) < (int)size ? 0 : -ENAMETOOLONG;
}

static int restore_detached(struct restore_args *a, const char *log)
{
	struct restore_image img;
	struct cli_detach d;
	char path[512], dir[256];
	int r;

	if (!a->name) {
		/* The saved name names the log and the socket. */
		if (restore_open(&img, a->dir, NULL, NULL))
			return EXIT_USAGE;
		a->name = strdup(img.info.cfg.name);
		restore_close(&img);
		if (!a->name)
			return EXIT_FAILURE_VM;
	}
	if (restore_log_path(a->name, log, path, sizeof(path)))
		return cli_usage_error("restore", "log path too long");
	if (!log && !api_runtime_dir(dir, sizeof(dir)))
		mkdir(dir, 0700); /* the runtime directory may not exist yet */
	fflush(stdout);
	r = cli_detach_start(path, &d);
	if (r < 0) {
		fprintf(stderr, "kite restore: cannot fork: %s\n", strerror(-r));
		return EXIT_FAILURE_VM;
	}
	if (r == 0) {
		a->detach = &d;
		exit(restore_run(a));
	}
	r = cli_detach_wait(&d);
	if (r == EXIT_OK)
		printf("%s %d %s\n", a->name, d.pid, path);
	else
		fprintf(stderr, "kite restore: %s failed (status %d); see %s\n", a->name, r, path);
	return r;
}

/* --net overrides and the strings they point into (they live as long as the VM). */
struct restore_nets {
	struct net_config n[KITE_MAX_NETS];
	char buf[KITE_MAX_NETS][128];
	unsigned count;
};

static int restore_add_net(struct restore_nets *rn, const char *s)
{
	if (rn->count == KITE_MAX_NETS)
		return cli_usage_error("restore", "--net: at most %d interfaces", KITE_MAX_NETS);
	if (strlen(s) >= sizeof(rn->buf[0]))
		return cli_usage_error("restore", "--net '%s': too long", s);
	strcpy(rn->buf[rn->count], s);
	if (cli_parse_net("restore", s, rn->buf[rn->count], &rn->n[rn->count]))
		return EXIT_USAGE;
	rn->count++;
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	struct restore_args a = { 0 };
	struct restore_nets nets = { 0 };
	struct serial_config sc;
	const char *log = NULL;
	bool detach = false;
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "dvqh", restore_options, NULL)) != -1) {
		switch (opt) {
		case OPT_NAME:
			if (!restore_name_ok(optarg))
				return cli_usage_error("restore", "--name '%s': use 1-63 letters, digits, '-', '_', '.'", optarg);
			a.name = optarg;
			break;
		case OPT_SERIAL:
			if (restore_serial(optarg, &sc))
				return cli_usage_error("restore", "--serial '%s': expected stdio, file:PATH or none", optarg);
			a.serial = optarg;
			break;
		case OPT_API:
			a.api_path = optarg;
			break;
		case OPT_EAGER:
			a.eager = true;
			break;
		case OPT_SECCOMP:
			if (sandbox_parse_mode(optarg, &a.seccomp))
				return cli_usage_error("restore", "--seccomp '%s': expected on, trap or off", optarg);
			break;
		case OPT_RESTORE:
			a.dir = optarg;
			break;
		case OPT_LOG:
			log = optarg;
			break;
		case OPT_NET:
			if (restore_add_net(&nets, optarg))
				return EXIT_USAGE;
			a.nets = nets.n;
			a.nnets = nets.count;
			break;
		case 'd':
			detach = true;
			break;
		case 'v':
			if (log_get_level() < LOG_DEBUG)
				log_set_level(log_get_level() + 1);
			break;
		case 'q':
			log_set_level(LOG_ERR);
			break;
		case 'h':
			fputs(cli_find("restore")->usage, stdout);
			return EXIT_OK;
		default:
			return cli_usage_error("restore", "unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	if (!a.dir && optind < argc)
		a.dir = argv[optind++];
	if (!a.dir || optind < argc)
		return cli_usage_error("restore", "expected one snapshot directory");
	if (detach && a.api_path && !strcmp(a.api_path, "none"))
		return cli_usage_error("restore", "--detach needs the control socket (not --api none)");
	return detach ? restore_detached(&a, log) : restore_run(&a);
}
