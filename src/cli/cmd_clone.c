// SPDX-License-Identifier: MIT
/*
 * kite clone DIR -n N [--name PREFIX]: N detached VMs from one snapshot,
 * named PREFIX-1..PREFIX-N.  They map the same memory file privately, so
 * pages no clone has written are shared through the page cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kite/api_registry.h>
#include <kite/cli.h>
#include <kite/config.h>
#include <kite/log.h>
#include <kite/state.h>
#include <kite/util.h>
#include <kite/virtio_net.h>

#define CLONE_MAX 1000

enum { OPT_NAME = 0x100, OPT_EAGER, OPT_LOG_DIR, OPT_NET };

static const struct option clone_options[] = {
	{ "name", required_argument, NULL, OPT_NAME },
	{ "eager", no_argument, NULL, OPT_EAGER },
	{ "log-dir", required_argument, NULL, OPT_LOG_DIR },
	{ "net", required_argument, NULL, OPT_NET },
	{ "count", required_argument, NULL, 'n' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* --net values as given: each clone expands %d in the TAP name to its number. */
struct clone_nets {
	const char *arg[KITE_MAX_NETS];
	unsigned count;
};

/* Clone i's overrides: a TAP name's "%d" becomes i (n[] strings point into buf). */
static int clone_nets_for(const struct clone_nets *cn, unsigned i, struct net_config *n, char (*buf)[128])
{
	for (unsigned k = 0; k < cn->count; k++) {
		const char *s = cn->arg[k], *pct = strstr(s, "%d");
		int len = pct ? snprintf(buf[k], 128, "%.*s%u%s", (int)(pct - s), s, i, pct + 2)
			      : snprintf(buf[k], 128, "%s", s);

		if (len >= 128)
			return cli_usage_error("clone", "--net '%s': too long", s);
		if (cli_parse_net("clone", buf[k], buf[k], &n[k]))
			return EXIT_USAGE;
	}
	return 0;
}

/* The --net values are checked once in the parent (as for clone 1), a MAC only for a single clone. */
static int clone_check_nets(const struct clone_nets *cn, uint64_t n)
{
	struct net_config nc[KITE_MAX_NETS];
	char buf[KITE_MAX_NETS][128];

	if (clone_nets_for(cn, 1, nc, buf))
		return EXIT_USAGE;
	for (unsigned k = 0; k < cn->count; k++)
		if (nc[k].mac_set && n > 1)
			return cli_usage_error("clone", "--net '%s': mac= would give %llu clones one MAC (each gets "
					       "one derived from its name)", cn->arg[k], (unsigned long long)n);
	return 0;
}

struct clone_child {
	struct cli_detach d;
	char name[KITE_NAME_MAX];
	char log[512];
	bool started;
};

/*
 * Starts every clone first and then collects their answers: they restore in
 * parallel, and their guests start together once all are ready (go[1] closed).
 */
static int clone_start_all(const char *dir, const char *prefix, const char *log_dir, bool eager,
			   const struct clone_nets *cn, const int go[2], unsigned n, struct clone_child *c)
{
	for (unsigned i = 0; i < n; i++) {
		int r;

		snprintf(c[i].name, sizeof(c[i].name), "%s-%u", prefix, i + 1);
		snprintf(c[i].log, sizeof(c[i].log), "%s/%s.log", log_dir, c[i].name);
		r = cli_detach_start(c[i].log, &c[i].d);
		if (r < 0) {
			fprintf(stderr, "kite clone: cannot fork clone %u: %s\n", i + 1, strerror(-r));
			return i;
		}
		if (r == 0) {
			struct restore_args a = { .dir = dir, .name = c[i].name, .eager = eager, .detach = &c[i].d,
						  .wait_go = true, .go_fd = go[0] };
			struct net_config nets[KITE_MAX_NETS];
			char buf[KITE_MAX_NETS][128];

			/* Each clone is its own process: the siblings' pipes are not its business. */
			for (unsigned j = 0; j < i; j++)
				close(c[j].d.ready_fd);
			close(go[1]); /* else the end of file never comes */
			if (clone_nets_for(cn, i + 1, nets, buf))
				exit(EXIT_USAGE);
			a.nets = nets;
			a.nnets = cn->count;
			exit(restore_run(&a));
		}
		c[i].started = true;
	}
	return n;
}

int cmd_clone(int argc, char **argv)
{
	const char *prefix = NULL, *log_dir = NULL;
	char rundir[256], *saved = NULL;
	uint64_t n = 0, t0 = now_ns();
	struct restore_image img;
	struct clone_child *c;
	struct clone_nets nets = { .count = 0 };
	unsigned started, ok = 0;
	int go[2];
	bool eager = false;
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "n:qh", clone_options, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_uint(optarg, 1, CLONE_MAX, &n))
				return cli_usage_error("clone", "-n '%s': expected 1 to %d", optarg, CLONE_MAX);
			break;
		case OPT_NAME:
			prefix = optarg;
			break;
		case OPT_EAGER:
			eager = true;
			break;
		case OPT_LOG_DIR:
			log_dir = optarg;
			break;
		case OPT_NET:
			if (nets.count == KITE_MAX_NETS)
				return cli_usage_error("clone", "--net: at most %d interfaces", KITE_MAX_NETS);
			nets.arg[nets.count++] = optarg;
			break;
		case 'q':
			log_set_level(LOG_ERR);
			break;
		case 'h':
			fputs(cli_find("clone")->usage, stdout);
			return EXIT_OK;
		default:
			return cli_usage_error("clone", "unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1 || !n)
		return cli_usage_error("clone", "expected a snapshot directory and -n N");
	if (prefix && (strlen(prefix) > KITE_NAME_MAX - 6 || !*prefix || strchr(prefix, '/')))
		return cli_usage_error("clone", "--name '%s': 1 to %d characters, no '/'", prefix, KITE_NAME_MAX - 6);
	if (clone_check_nets(&nets, n))
		return EXIT_USAGE;
	/* Check the snapshot once here, so that a bad one gives one message and not N. */
	if (restore_open(&img, argv[optind], NULL, NULL))
		return EXIT_USAGE;
	if (nets.count > img.info.cfg.nnets) {
		restore_close(&img);
		return cli_usage_error("clone", "%u --net given, the snapshot has %u network interfaces", nets.count,
				       img.info.cfg.nnets);
	}
	if (!prefix)
		prefix = saved = strdup(img.info.cfg.name);
	restore_close(&img);
	if (!prefix)
		return EXIT_FAILURE_VM;
	if (!log_dir) {
		if (api_runtime_dir(rundir, sizeof(rundir)))
			return EXIT_FAILURE_VM;
		log_dir = rundir;
	}
	mkdir(log_dir, 0700); /* the runtime directory may not exist yet */
	c = calloc(n, sizeof(*c));
	if (!c)
		return EXIT_FAILURE_VM;
	fflush(stdout);
	if (pipe2(go, O_CLOEXEC) < 0) {
		fprintf(stderr, "kite clone: pipe: %s\n", strerror(errno));
		free(c);
		free(saved);
		return EXIT_FAILURE_VM;
	}
	started = clone_start_all(argv[optind], prefix, log_dir, eager, &nets, go, n, c);
	close(go[0]);
	for (unsigned i = 0; i < started; i++) {
		int r = cli_detach_wait(&c[i].d);

		if (r == EXIT_OK) {
			printf("%s %d %s\n", c[i].name, c[i].d.pid, c[i].log);
			ok++;
		} else {
			fprintf(stderr, "kite clone: %s failed (status %d); see %s\n", c[i].name, r, c[i].log);
		}
	}
	close(go[1]); /* every clone is restored (or failed): their guests start now */
	pr_info("%u of %llu clones running after %.1f ms", ok, (unsigned long long)n, (now_ns() - t0) / 1e6);
	free(c);
	free(saved);
	return ok == n ? EXIT_OK : EXIT_FAILURE_VM;
}
