// SPDX-License-Identifier: MIT
/*
 * kite migrate NAME DEST: asks the source VM (its control socket) to migrate
 * and follows the progress until the target runs the guest or the attempt
 * ends; kite migrate --cancel NAME.  And kite run --incoming ADDR: the
 * target, which waits for one migration and then runs the guest.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <kite/api.h>
#include <kite/api_client.h>
#include <kite/api_registry.h>
#include <kite/cli.h>
#include <kite/event.h>
#include <kite/log.h>
#include <kite/migrate.h>
#include <kite/sandbox.h>
#include <kite/util.h>
#include <kite/vm.h>

#define POLL_MS 100

enum {
	OPT_DOWNTIME = 0x100,
	OPT_BANDWIDTH,
	OPT_MAX_ROUNDS,
	OPT_COMPRESS,
	OPT_NO_AC,
	OPT_NO_FD,
	OPT_JSON,
	OPT_CANCEL,
};

static const struct option migrate_options[] = {
	{ "downtime", required_argument, NULL, OPT_DOWNTIME },
	{ "bandwidth", required_argument, NULL, OPT_BANDWIDTH },
	{ "max-rounds", required_argument, NULL, OPT_MAX_ROUNDS },
	{ "compress", no_argument, NULL, OPT_COMPRESS },
	{ "no-auto-converge", no_argument, NULL, OPT_NO_AC },
	{ "no-fd-passing", no_argument, NULL, OPT_NO_FD },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "cancel", no_argument, NULL, OPT_CANCEL },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct migrate_cli {
	json_t *req;
	bool json, cancel;
};

static int migrate_parse(int argc, char **argv, struct migrate_cli *c)
{
	uint64_t v;
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", migrate_options, NULL)) != -1) {
		switch (opt) {
		case OPT_DOWNTIME:
			if (parse_uint(optarg, 1, 600000, &v))
				return cli_usage_error("migrate", "--downtime '%s': milliseconds from 1 to 600000", optarg);
			json_object_set_new(c->req, "downtime_ms", json_integer(v));
			break;
		case OPT_BANDWIDTH:
			if (parse_uint(optarg, 1, 1u << 20, &v))
				return cli_usage_error("migrate", "--bandwidth '%s': MiB/s from 1 to 1048576", optarg);
			json_object_set_new(c->req, "bandwidth_mib", json_integer(v));
			break;
		case OPT_MAX_ROUNDS:
			if (parse_uint(optarg, 1, 10000, &v))
				return cli_usage_error("migrate", "--max-rounds '%s': from 1 to 10000", optarg);
			json_object_set_new(c->req, "max_rounds", json_integer(v));
			break;
		case OPT_COMPRESS:
			json_object_set_new(c->req, "compress", json_true());
			break;
		case OPT_NO_AC:
			json_object_set_new(c->req, "auto_converge", json_false());
			break;
		case OPT_NO_FD:
			json_object_set_new(c->req, "fd_passing", json_false());
			break;
		case OPT_JSON:
			c->json = true;
			break;
		case OPT_CANCEL:
			c->cancel = true;
			break;
		case 'h':
			fputs(cli_find("migrate")->usage, stdout);
			return -1;
		default:
			return cli_usage_error("migrate", "unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	return 0;
}

static int migrate_cancel_cmd(const char *name)
{
	struct api_reply rep;
	int r = cli_vm_request("migrate", name, "PUT", "/kite/migrate/cancel", NULL, &rep);

	if (r)
		return r;
	if (rep.status != 204) {
		char *m = api_reply_fault(&rep);

		fprintf(stderr, "kite migrate: %s: %s (HTTP %d)\n", name, m ? m : "?", rep.status);
		free(m);
		r = rep.status == 404 ? EXIT_USAGE : EXIT_FAILURE_VM;
	}
	api_reply_free(&rep);
	return r;
}

static double jnum(json_t *j, const char *k)
{
	return json_number_value(json_object_get(j, k));
}

static const char *jstr(json_t *j, const char *k)
{
	const char *s = json_string_value(json_object_get(j, k));

	return s ? s : "";
}

static void migrate_progress_line(json_t *j)
{
	fprintf(stderr, "\r\033[Kmigrate: %-9s round %d  %.1f MiB sent  %.0f MiB/s  dirty %.0f pages/s  "
			"est. downtime %.1f ms%s",
		jstr(j, "status"), (int)jnum(j, "round"), jnum(j, "bytes") / MiB, jnum(j, "bandwidth_mibs"),
		jnum(j, "dirty_pages_per_s"), jnum(j, "est_downtime_ms"), jnum(j, "throttle_pct") > 0 ? "  throttled" : "");
	fflush(stderr);
}

static void migrate_print_report(json_t *j)
{
	printf("migration %s to %s\n", jstr(j, "status"), jstr(j, "destination"));
	if (*jstr(j, "error"))
		printf("  reason:         %s\n", jstr(j, "error"));
	printf("  total time:     %.1f ms (setup %.1f ms)\n", jnum(j, "total_ms"), jnum(j, "setup_ms"));
	if (!strcmp(jstr(j, "status"), "completed"))
		printf("  downtime:       %.2f ms at the source (until sent, as QEMU counts: %.2f ms), %.2f ms at the "
		       "target\n", jnum(j, "downtime_ms"), jnum(j, "downtime_sent_ms"), jnum(j, "target_downtime_ms"));
	printf("  rounds:         %d%s\n", (int)jnum(j, "round"), json_is_true(json_object_get(j, "fd_passed")) ?
						       " (memory passed as a file descriptor)" : "");
	printf("  sent:           %.1f MiB, %.0f pages (%.0f zero) of %.0f MiB RAM\n", jnum(j, "bytes") / MiB,
	       jnum(j, "pages"), jnum(j, "zero_pages"), jnum(j, "memory_bytes") / MiB);
}

static bool migrate_final(const char *status)
{
	return !strcmp(status, "completed") || !strcmp(status, "failed") || !strcmp(status, "cancelled");
}

/* Polls GET /kite/migrate until the migration ends; returns the last report (owned) or NULL. */
static json_t *migrate_follow(const char *path, bool tty)
{
	json_t *last = NULL;

	for (;;) {
		struct api_reply rep;
		json_t *j;
		int r = api_client_call(path, "GET", "/kite/migrate", NULL, &rep, 10000);

		if (r) {
			if (tty && last)
				fputc('\n', stderr);
			fprintf(stderr, "kite migrate: the source stopped answering (%s)\n", strerror(-r));
			return last;
		}
		j = rep.status == 200 ? json_loadb(rep.body, rep.body_len, 0, NULL) : NULL;
		api_reply_free(&rep);
		if (!j) {
			fprintf(stderr, "kite migrate: unexpected reply from the source\n");
			return last;
		}
		json_decref(last);
		last = j;
		if (migrate_final(jstr(j, "status"))) {
			if (tty)
				fputc('\n', stderr);
			return last;
		}
		if (tty)
			migrate_progress_line(j);
		usleep(POLL_MS * 1000);
	}
}

static int migrate_run_cmd(const char *name, const char *dest, struct migrate_cli *c)
{
	struct api_reply rep;
	char path[256], *body;
	json_t *rpt;
	int r;

	if (migrate_parse_addr(dest))
		return cli_usage_error("migrate", "'%s': expected tcp:HOST:PORT or unix:PATH", dest);
	json_object_set_new(c->req, "destination", json_string(dest));
	body = json_dumps(c->req, JSON_COMPACT);
	if (!body)
		return EXIT_FAILURE_VM;
	r = cli_vm_request("migrate", name, "PUT", "/kite/migrate", body, &rep);
	free(body);
	if (r)
		return r;
	if (rep.status != 202) {
		char *m = api_reply_fault(&rep);

		fprintf(stderr, "kite migrate: %s: %s (HTTP %d)\n", name, m ? m : "?", rep.status);
		free(m);
		api_reply_free(&rep);
		return EXIT_FAILURE_VM;
	}
	api_reply_free(&rep);
	if (api_resolve(name, path, sizeof(path)))
		return EXIT_FAILURE_VM;
	rpt = migrate_follow(path, !c->json && isatty(STDERR_FILENO));
	if (!rpt)
		return EXIT_FAILURE_VM;
	if (c->json) {
		json_dumpf(rpt, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
		putchar('\n');
	} else {
		migrate_print_report(rpt);
	}
	r = !strcmp(jstr(rpt, "status"), "completed") ? EXIT_OK : EXIT_FAILURE_VM;
	if (r && !c->json)
		fprintf(stderr, "kite migrate: %s: %s\n", name, jstr(rpt, "error"));
	json_decref(rpt);
	return r;
}

int cmd_migrate(int argc, char **argv)
{
	struct migrate_cli c = { .req = json_object() };
	int r;

	r = migrate_parse(argc, argv, &c);
	if (!r && c.cancel) {
		if (optind + 1 != argc)
			r = cli_usage_error("migrate", "--cancel: expected one VM name");
		else
			r = migrate_cancel_cmd(argv[optind]);
	} else if (!r) {
		if (optind + 2 != argc)
			r = cli_usage_error("migrate", "expected NAME and tcp:HOST:PORT|unix:PATH");
		else
			r = migrate_run_cmd(argv[optind], argv[optind + 1], &c);
	}
	json_decref(c.req);
	return r < 0 ? EXIT_OK : r;
}

/* kite run --incoming: the control socket is opened under the name the VM will have. */
struct incoming_ctx {
	const struct vm_config *cfg;
	struct api_server *api;
	struct vm *vm;
	sigset_t sigs;
	struct cli_signals *is;
};

static int incoming_check(void *opaque, struct vm_config *cfg, char *why, unsigned len)
{
	struct incoming_ctx *x = opaque;
	int r = api_server_open_default(&x->api, x->cfg->api_path, cfg->name);

	if (r == -EADDRINUSE)
		snprintf(why, len, "a VM named '%s' already runs on the target host (start the target with --name)",
			 cfg->name);
	else if (r)
		snprintf(why, len, "cannot open the control socket for '%s': %s", cfg->name, strerror(-r));
	return r;
}

/*
 * The VM exists, no page has arrived: termination signals go to its loop from
 * now on, and this host's sandbox goes in here rather than in vm_run, where
 * compiling it would cost the guest downtime.
 */
static int incoming_created(void *opaque, struct vm *vm)
{
	struct incoming_ctx *x = opaque;

	pthread_sigmask(SIG_BLOCK, &x->sigs, NULL);
	cli_signals_attach(x->is, vm);
	vm->cfg.seccomp = x->cfg->seccomp; /* this host's policy, not the source's */
	return sandbox_install(vm->cfg.seccomp, 0);
}

/* The guest runs here: only now may the control socket pause or resume it. */
static void incoming_running(void *opaque)
{
	struct incoming_ctx *x = opaque;

	if (x->api && api_server_attach(x->api, x->vm))
		vm_request_stop(x->vm, STOP_FAILURE, 0, "the control socket cannot be served");
}

int migrate_incoming_run(const struct vm_config *cfg)
{
	struct cli_signals is;
	struct incoming_ctx x = { .cfg = cfg, .is = &is };
	struct migrate_incoming in = {
		.addr = cfg->incoming_addr, .serial = cfg->serial, .api_path = cfg->api_path, .created = incoming_created,
	};
	struct migrate_target *t;
	char defname[32];
	struct vm vm;
	int r, status;

	/* run_parse_args names an unnamed VM kite-PID: then the source's name is kept. */
	snprintf(defname, sizeof(defname), "kite-%d", (int)getpid());
	in.name = strcmp(cfg->name, defname) ? cfg->name : NULL;
	signal(SIGPIPE, SIG_IGN);
	/* Until the VM exists, Ctrl-C simply ends the wait; the fd is made now, before the sandbox. */
	cli_stop_signals(&x.sigs);
	cli_signals_open(&is, &x.sigs);
	r = migrate_receive(&vm, &in, incoming_check, &x, &t);
	if (r) {
		cli_signals_close(&is);
		api_server_close(x.api);
		return EXIT_FAILURE_VM;
	}
	/* vCPUs created and parked, sandbox in place, loop running: "go" only has to wake them. */
	x.vm = &vm;
	vm_start_paused(&vm);
	if (migrate_target_arm(t, &vm, incoming_running, &x))
		vm_request_stop(&vm, STOP_FAILURE, 0, "cannot wait for the handover");
	vm_run(&vm);
	if (x.api)
		api_server_detach(x.api);
	status = vm_exit_status(&vm);
	if (vm.stop == STOP_FAILURE)
		pr_err("VM stopped: %s", vm.stop_detail);
	else if (vm.stop != STOP_DEBUG_EXIT)
		pr_info("%s", vm.stop_detail);
	vm_detach_teardown(&vm);
	vm_destroy(&vm);
	migrate_target_free(t);
	cli_signals_close(&is);
	api_server_close(x.api);
	return status;
}
