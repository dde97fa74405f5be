// SPDX-License-Identifier: MIT
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
#include <kite/config.h>
#include <kite/event.h>
#include <kite/log.h>
#include <kite/sandbox.h>
#include <kite/migrate.h>
#include <kite/state.h>
#include <kite/util.h>
#include <kite/virtio_net.h>
#include <kite/vm.h>

#define DEFAULT_MEM (128 * MiB)
#define MIN_MEM     (2 * MiB)
#define MAX_MEM     (1ull << 40)

enum {
	OPT_KERNEL = 0x100,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_MEM,
	OPT_CPUS,
	OPT_SERIAL,
	OPT_NAME,
	OPT_REBOOT,
	OPT_DUMP_ACPI,
	OPT_API,
	OPT_DISK,
	OPT_CONSOLE,
	OPT_RNG,
	OPT_NET,
	OPT_INCOMING,
	OPT_MEM_SHARED,
	OPT_SECCOMP,
};

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "reboot", required_argument, NULL, OPT_REBOOT },
	{ "dump-acpi", required_argument, NULL, OPT_DUMP_ACPI },
	{ "api", required_argument, NULL, OPT_API },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "net", required_argument, NULL, OPT_NET },
	{ "incoming", required_argument, NULL, OPT_INCOMING },
	{ "mem-shared", no_argument, NULL, OPT_MEM_SHARED },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_serial(const char *s, struct serial_config *sc)
{
	if (!strcmp(s, "stdio"))
		sc->kind = SERIAL_STDIO;
	else if (!strcmp(s, "none"))
		sc->kind = SERIAL_NONE;
	else if (!strcmp(s, "socket"))
		sc->kind = SERIAL_SOCKET; /* kite console NAME, over the control socket */
	else if (!strncmp(s, "file:", 5) && s[5])
		sc->kind = SERIAL_FILE, sc->path = s + 5;
	else
		return cli_usage_error("run", "--serial '%s': expected stdio, file:PATH, socket or none", s);
	return 0;
}

/*
 * --disk PATH[,ro][,id=NAME][,cache=none|writeback][,aio=io_uring|threads][,queues=N];
 * the file itself is checked when the VM is built.
 */
static int parse_disk(const char *s, struct vm_config *cfg)
{
	char *copy, *cur, *key, *val;
	struct disk_config *d;
	uint64_t n;
	int r;

	if (cfg->ndisks == KITE_MAX_DISKS)
		return cli_usage_error("run", "--disk: at most %d disks", KITE_MAX_DISKS);
	d = &cfg->disks[cfg->ndisks];
	memset(d, 0, sizeof(*d));
	cur = copy = config_strdup(cfg, s);
	if (!copy)
		return cli_usage_error("run", "--disk '%s': too many or too long options", s);
	if (opts_next(&cur, &key, &val) != 1 || val)
		return cli_usage_error("run", "--disk '%s': expected PATH[,ro][,id=NAME][,cache=none|writeback]"
				       "[,aio=io_uring|threads][,queues=N]", s);
	d->path = key;
	while ((r = opts_next(&cur, &key, &val)) == 1) {
		if (!strcmp(key, "ro") && !val)
			d->readonly = true;
		else if (!strcmp(key, "id") && val && *val && strlen(val) < sizeof(d->id))
			strcpy(d->id, val);
		else if (!strcmp(key, "cache") && val && !strcmp(val, "none"))
			d->cache = DISK_CACHE_NONE;
		else if (!strcmp(key, "cache") && val && !strcmp(val, "writeback"))
			d->cache = DISK_CACHE_WRITEBACK;
		else if (!strcmp(key, "aio") && val && !strcmp(val, "io_uring"))
			d->aio = DISK_AIO_IO_URING;
		else if (!strcmp(key, "aio") && val && !strcmp(val, "threads"))
			d->aio = DISK_AIO_THREADS;
		else if (!strcmp(key, "queues") && val && parse_uint(val, 1, KITE_MAX_DISK_QUEUES, &n) == 0)
			d->queues = (unsigned)n;
		else
			return cli_usage_error("run", "--disk '%s': bad option '%s' (ro, id=NAME of 1-20 characters, "
					       "cache=none|writeback, aio=io_uring|threads, queues=1-%d)", s, key,
					       KITE_MAX_DISK_QUEUES);
	}
	if (r < 0)
		return cli_usage_error("run", "--disk '%s': empty option", s);
	/* Writeback I/O is page-cache copies done on the disk's own thread: there is nothing to choose. */
	if (d->aio != DISK_AIO_AUTO && d->cache != DISK_CACHE_NONE)
		return cli_usage_error("run", "--disk '%s': aio= applies to cache=none only", s);
	cfg->ndisks++;
	return 0;
}

int cli_parse_net(const char *cmd, const char *s, char *copy, struct net_config *n)
{
	const char *usage = "expected tap=NAME[,mac=MAC] or fd=N[,mac=MAC]";
	char *cur = copy, *key, *val;
	uint64_t fd;
	int r;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	while ((r = opts_next(&cur, &key, &val)) == 1) {
		if (!strcmp(key, "tap") && val && *val && strlen(val) < 16 && !n->tap && n->fd < 0)
			n->tap = val;
		else if (!strcmp(key, "fd") && val && !n->tap && n->fd < 0 && parse_uint(val, 0, 1 << 20, &fd) == 0)
			n->fd = (int)fd;
		else if (!strcmp(key, "mac") && val && virtio_net_parse_mac(val, n->mac) == 0)
			n->mac_set = true;
		else
			return cli_usage_error(cmd, "--net '%s': bad option '%s' (%s; MAC as 52:54:00:12:34:56, "
					       "unicast)", s, key, usage);
	}
	if (r < 0 || (!n->tap && n->fd < 0))
		return cli_usage_error(cmd, "--net '%s': %s", s, usage);
	return 0;
}

/* --net tap=NAME[,mac=MAC] or --net fd=N[,mac=MAC]; the TAP itself is opened when the VM is built. */
static int parse_net(const char *s, struct vm_config *cfg)
{
	char *copy;
	int r;

	if (cfg->nnets == KITE_MAX_NETS)
		return cli_usage_error("run", "--net: at most %d interfaces", KITE_MAX_NETS);
	copy = config_strdup(cfg, s);
	if (!copy)
		return cli_usage_error("run", "--net '%s': too many or too long options", s);
	r = cli_parse_net("run", s, copy, &cfg->nets[cfg->nnets]);
	if (!r)
		cfg->nnets++;
	return r;
}

/* --console virtio[,stdio|file:PATH|pty] or none. */
static int parse_console(const char *s, struct console_config *c)
{
	if (!strcmp(s, "none"))
		c->kind = CONSOLE_NONE;
	else if (!strcmp(s, "virtio") || !strcmp(s, "virtio,stdio"))
		c->kind = CONSOLE_STDIO;
	else if (!strcmp(s, "virtio,pty"))
		c->kind = CONSOLE_PTY;
	else if (!strncmp(s, "virtio,file:", 12) && s[12])
		c->kind = CONSOLE_FILE, c->path = s + 12;
	else
		return cli_usage_error("run", "--console '%s': expected virtio[,stdio|file:PATH|pty] or none", s);
	return 0;
}

static int parse_name(const char *s, struct vm_config *cfg)
{
	size_t n = strlen(s);

	if (!n || n >= sizeof(cfg->name))
		return cli_usage_error("run", "--name: must be 1 to %zu characters", sizeof(cfg->name) - 1);
	/* The name becomes a socket file name: keep it to a portable set. */
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')) ||
		    (i == 0 && s[i] == '.'))
			return cli_usage_error("run", "--name '%s': use letters, digits, '-', '_' and '.'", s);
	memcpy(cfg->name, s, n + 1);
	return 0;
}

static int run_parse_one(int opt, const char *arg, struct vm_config *cfg)
{
	uint64_t v;

	switch (opt) {
	case OPT_KERNEL:
		cfg->kernel = arg;
		return 0;
	case OPT_INITRD:
		cfg->initrd = arg;
		return 0;
	case OPT_CMDLINE:
		cfg->cmdline = arg;
		return 0;
	case OPT_MEM:
		if (parse_size(arg, &v))
			return cli_usage_error("run", "--mem '%s' is not a size (use e.g. 512M or 2G)", arg);
		if (v < MIN_MEM || v > MAX_MEM)
			return cli_usage_error("run", "--mem %s: must be between 2M and 1T", arg);
		cfg->mem_size = ALIGN_UP(v, 4096);
		return 0;
	case OPT_CPUS:
		if (parse_uint(arg, 1, KITE_MAX_CPUS, &v))
			return cli_usage_error("run", "--cpus '%s': expected a number from 1 to %d", arg, KITE_MAX_CPUS);
		cfg->ncpus = v;
		return 0;
	case OPT_SERIAL:
		return parse_serial(arg, &cfg->serial);
	case OPT_NAME:
		return parse_name(arg, cfg);
	case OPT_REBOOT:
		if (!strcmp(arg, "exit"))
			cfg->reboot = REBOOT_EXIT;
		else if (!strcmp(arg, "restart"))
			cfg->reboot = REBOOT_RESTART;
		else
			return cli_usage_error("run", "--reboot '%s': expected exit or restart", arg);
		return 0;
	case OPT_DUMP_ACPI:
		cfg->dump_acpi_dir = arg;
		return 0;
	case OPT_API:
		cfg->api_path = arg;
		return 0;
	case OPT_DISK:
		return parse_disk(arg, cfg);
	case OPT_CONSOLE:
		return parse_console(arg, &cfg->console);
	case OPT_RNG:
		cfg->rng = true;
		return 0;
	case OPT_NET:
		return parse_net(arg, cfg);
	case OPT_INCOMING:
		cfg->incoming_addr = arg;
		return 0;
	case OPT_MEM_SHARED:
		cfg->mem_shared = true;
		return 0;
	case OPT_SECCOMP:
		if (sandbox_parse_mode(arg, &cfg->seccomp))
			return cli_usage_error("run", "--seccomp '%s': expected on, trap or off", arg);
		return 0;
	case 'v':
		if (log_get_level() < LOG_DEBUG)
			log_set_level(log_get_level() + 1);
		return 0;
	case 'q':
		log_set_level(LOG_ERR);
		return 0;
	}
	return cli_usage_error("run", "unknown option");
}

static bool run_waits_for_load(const struct vm_config *cfg)
{
	return !cfg->kernel && !cfg->incoming_addr && !cfg->dump_acpi_dir && cfg->api_path &&
	       strcmp(cfg->api_path, "none");
}

static int run_check_file(const char *opt, const char *path)
{
	if (access(path, R_OK) < 0)
		return cli_usage_error("run", "%s %s: %s", opt, path, strerror(errno));
	return 0;
}

int run_parse_args(int argc, char **argv, struct vm_config *cfg)
{
	int opt, r;

	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_size = DEFAULT_MEM;
	cfg->ncpus = 1;
	cfg->serial.kind = SERIAL_STDIO;
	cfg->cmdline = "";
	snprintf(cfg->name, sizeof(cfg->name), "kite-%d", (int)getpid());

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+vqh", run_options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(cli_find("run")->usage, stdout);
			return -1;
		}
		if (opt == '?') {
			if (optopt && optopt < 0x100)
				return cli_usage_error("run", "unknown option '-%c'", optopt);
			if (optopt)
				return cli_usage_error("run", "option '%s' needs a value", argv[optind - 1]);
			return cli_usage_error("run", "unknown option '%s'", argv[optind - 1]);
		}
		r = run_parse_one(opt, optarg, cfg);
		if (r)
			return r;
	}
	if (optind < argc)
		return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
	/* --api PATH alone: wait for PUT /snapshot/load (Firecracker's model). */
	if (!cfg->kernel && !cfg->dump_acpi_dir && !cfg->incoming_addr && !run_waits_for_load(cfg))
		return cli_usage_error("run", "--kernel PATH is required (or --api PATH alone, to wait for "
				       "PUT /snapshot/load)");
	if (run_waits_for_load(cfg) && (cfg->ndisks || cfg->initrd || cfg->rng || cfg->console.kind != CONSOLE_NONE))
		return cli_usage_error("run", "without --kernel the VM comes from a snapshot (PUT /snapshot/load): "
				       "its disks and devices are the snapshot's (--net replaces its NICs' TAPs)");
	if (cfg->incoming_addr && (cfg->kernel || cfg->dump_acpi_dir))
		return cli_usage_error("run", "--incoming: the source sends the VM; no --kernel or --dump-acpi");
	if (cfg->incoming_addr && migrate_parse_addr(cfg->incoming_addr))
		return cli_usage_error("run", "--incoming '%s': expected tcp:HOST:PORT or unix:PATH", cfg->incoming_addr);
	if (cfg->kernel && (r = run_check_file("--kernel", cfg->kernel)))
		return r;
	if (cfg->initrd && (r = run_check_file("--initrd", cfg->initrd)))
		return r;
	return 0;
}

static void run_report(const struct vm *vm)
{
	switch (vm->stop) {
	case STOP_POWEROFF:
	case STOP_RESET:
	case STOP_USER:
		pr_info("%s", vm->stop_detail);
		break;
	case STOP_FAILURE:
		pr_err("VM stopped: %s", vm->stop_detail);
		break;
	default:
		break;
	}
}

/* One boot of the VM; returns the process exit status, or -1 to boot again (--reboot restart). */
static int run_once(const struct vm_config *cfg, sigset_t *sigs, struct api_server *api)
{
	struct cli_signals rs;
	struct vm vm;
	int r, status;

	r = vm_create(&vm, cfg);
	if (r)
		return EXIT_FAILURE_VM;
	if (cfg->dump_acpi_dir) {
		/* vm_devices_create wrote the tables; nothing more to run. */
		vm_destroy(&vm);
		return EXIT_OK;
	}
	cli_signals_open(&rs, sigs);
	cli_signals_attach(&rs, &vm);
	if (api && api_server_attach(api, &vm))
		vm_request_stop(&vm, STOP_FAILURE, 0, "the control socket cannot be served");
	vm_run(&vm);
	if (api)
		api_server_detach(api);
	status = vm_exit_status(&vm);
	run_report(&vm);
	if (vm.stop == STOP_RESET && cfg->reboot == REBOOT_RESTART)
		status = -1;
	else
		vm_detach_teardown(&vm);
	vm_destroy(&vm);
	cli_signals_close(&rs);
	return status;
}

/*
 * kite run --api PATH alone: the control socket serves on a loop of its own
 * until PUT /snapshot/load restores a VM in this process (or a signal ends
 * the wait).  The saved name and MACs are kept unless --name is given; --net
 * replaces the snapshot's TAPs in order.
 */
struct run_waiter {
	const struct vm_config *cfg;
	bool name_given;
	struct event_loop *loop;
	int sigfd;
	struct restore_image img;
	struct vm vm;
	bool loaded, resume;
};

static void run_wait_on_signal(void *opaque, uint32_t events)
{
	struct run_waiter *w = opaque;
	struct signalfd_siginfo si;

	if (read(w->sigfd, &si, sizeof(si)) == sizeof(si))
		pr_info("stopped by %s while waiting for a snapshot", strsignal(si.ssi_signo));
	event_loop_stop(w->loop);
}

/* api_load_fn: on the waiting loop; success stops it so that cmd_run runs the VM. */
static int run_load(void *opaque, const struct api_snapshot *sn, char *why, size_t len)
{
	struct run_waiter *w = opaque;
	struct vm_config *c = &w->img.info.cfg;
	struct stat st;
	bool dir = !sn->mem_path[0] && stat(sn->path, &st) == 0 && S_ISDIR(st.st_mode);
	int r;

	if (w->loaded) {
		snprintf(why, len, "a snapshot is loaded already");
		return -EBUSY;
	}
	r = restore_open(&w->img, dir ? sn->path : NULL, dir ? NULL : sn->path, sn->mem_path[0] ? sn->mem_path : NULL);
	if (r) {
		snprintf(why, len, "%s: %s", sn->path,
			 r == -EINVAL || r == -EPROTO || r == -ENODATA
				 ? "refused (corrupt, truncated, or another format version or architecture; see kite's log)"
				 : strerror(-r));
		return r == -ENOMEM ? r : -EINVAL;
	}
	if (restore_configure(&w->img, w->name_given ? w->cfg->name : NULL, w->cfg->nets, w->cfg->nnets)) {
		snprintf(why, len, "the snapshot has %u network interfaces, kite run was given %u --net", c->nnets,
			 w->cfg->nnets);
		restore_close(&w->img);
		return -EINVAL;
	}
	c->serial = w->cfg->serial;
	c->api_path = w->cfg->api_path;
	c->seccomp = w->cfg->seccomp;
	r = restore_vm(&w->vm, &w->img, false);
	if (r) {
		snprintf(why, len, "cannot restore the VM: %s (kite's log says more)", strerror(-r));
		restore_close(&w->img);
		return r == -ENOMEM ? r : -EINVAL;
	}
	pr_info("restored %s from %s", c->name, sn->path);
	w->loaded = true;
	w->resume = sn->resume;
	event_loop_stop(w->loop);
	return 0;
}

/* The loaded VM: served on its own loop (the socket and its connections move there), Paused unless resume_vm. */
static int run_loaded(struct run_waiter *w, sigset_t *sigs, struct api_server *api)
{
	struct vm *vm = &w->vm;
	struct cli_signals rs;
	int status;

	cli_signals_open(&rs, sigs);
	cli_signals_attach(&rs, vm);
	if (!w->resume)
		vm_start_paused(vm);
	if (api_server_attach(api, vm))
		vm_request_stop(vm, STOP_FAILURE, 0, "the control socket cannot be served");
	vm_run(vm);
	api_server_detach(api);
	status = vm_exit_status(vm);
	run_report(vm);
	vm_detach_teardown(vm);
	vm_destroy(vm);
	cli_signals_close(&rs);
	return status;
}

static int run_wait_for_load(const struct vm_config *cfg, bool name_given, sigset_t *sigs, struct api_server *api)
{
	struct run_waiter *w = calloc(1, sizeof(*w));
	int status = EXIT_FAILURE_VM;

	if (!w)
		return EXIT_FAILURE_VM;
	*w = (struct run_waiter){ .cfg = cfg, .name_given = name_given, .sigfd = -1 };
	w->loop = event_loop_new();
	if (!w->loop)
		goto out;
	w->sigfd = signalfd(-1, sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (w->sigfd < 0 || event_loop_add(w->loop, w->sigfd, EPOLLIN, run_wait_on_signal, w) < 0)
		pr_warn("signals will not stop kite cleanly: %s", strerror(errno));
	if (api_server_wait(api, w->loop, cfg->name, run_load, w))
		goto out;
	pr_info("%s: no VM yet; waiting for PUT /snapshot/load on %s", cfg->name, api_server_path(api));
	if (event_loop_run(w->loop) < 0)
		pr_err("the control socket's event loop failed");
	if (w->loaded) {
		status = run_loaded(w, sigs, api);
		restore_close(&w->img);
	} else {
		api_server_detach(api);
		status = EXIT_OK;
	}
out:
	if (w->sigfd >= 0)
		close(w->sigfd);
	if (w->loop)
		event_loop_free(w->loop);
	free(w);
	return status;
}

/*
 * -d: forks; returns the parent's exit status (>= 0), or -1 in the child,
 * which goes on with its output in RUNTIME_DIR/NAME.log.
 */
static int run_detach(const struct vm_config *cfg, struct cli_detach *d)
{
	char dir[256], log[512];
	int r;

	if ((cfg->api_path && !strcmp(cfg->api_path, "none")) || cfg->dump_acpi_dir)
		return cli_usage_error("run", "--detach needs the control socket (and no --dump-acpi)");
	if (api_runtime_dir(dir, sizeof(dir)) || snprintf(log, sizeof(log), "%s/%s.log", dir, cfg->name) >= (int)sizeof(log))
		return cli_usage_error("run", "runtime directory path too long");
	mkdir(dir, 0700);
	fflush(stdout);
	r = cli_detach_start(log, d);
	if (r < 0) {
		pr_err("cannot fork: %s", strerror(-r));
		return EXIT_FAILURE_VM;
	}
	if (r == 0)
		return -1;
	r = cli_detach_wait(d);
	if (r == EXIT_OK)
		printf("%s %d %s\n", cfg->name, d->pid, log);
	else
		fprintf(stderr, "kite run: %s failed (status %d); see %s\n", cfg->name, r, log);
	return r;
}

int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	struct api_server *api = NULL;
	struct cli_detach detach = { .ready_fd = -1 };
	bool detached = false, name_given = false;
	sigset_t sigs;
	int r;

	/* kite run --restore DIR [restore options] is kite restore (src/cli/cmd_restore.c). */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--restore") || !strncmp(argv[i], "--restore=", 10))
			return cmd_restore(argc, argv);
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--name") || !strncmp(argv[i], "--name=", 7))
			name_given = true;
	/* -d/--detach (src/cli/detach.c): taken out before the option parser sees it. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-d") && strcmp(argv[i], "--detach"))
			continue;
		memmove(&argv[i], &argv[i + 1], (argc - i) * sizeof(*argv));
		argc--;
		detached = true;
		break;
	}
	r = run_parse_args(argc, argv, &cfg);
	if (r)
		return r < 0 ? EXIT_OK : r;
	if (detached) {
		r = run_detach(&cfg, &detach);
		if (r >= 0)
			return r; /* the parent */
	}
	if (cfg.incoming_addr)
		return migrate_incoming_run(&cfg); /* src/cli/cmd_migrate.c */
	/* Termination signals arrive on the event loop (signalfd), so every thread blocks them. */
	cli_stop_signals(&sigs);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Before the VM exists: a name in use costs nothing (exit 2, like any usage error). */
	if (!cfg.dump_acpi_dir) {
		r = api_server_open_default(&api, cfg.api_path, cfg.name);
		if (r)
			return r == -EADDRINUSE ? EXIT_USAGE : EXIT_FAILURE_VM;
	}
	cli_detach_ready(&detach); /* the socket answers: a detaching parent may go */
	if (run_waits_for_load(&cfg)) {
		r = run_wait_for_load(&cfg, name_given, &sigs, api);
		api_server_close(api);
		return r;
	}
	do {
		r = run_once(&cfg, &sigs, api);
		if (r < 0)
			pr_info("guest reset: restarting (--reboot restart)");
	} while (r < 0);
	api_server_close(api);
	return r;
}
