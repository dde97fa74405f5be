// SPDX-License-Identifier: MIT
/* kite snapshot NAME DIR [--stop] [--compress]: PUT /snapshot/create on the VM's socket. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kite/api_client.h>
#include <kite/api_registry.h>
#include <kite/cli.h>

/* Writing a large memory takes a while; the VM answers when it is done. */
#define SNAPSHOT_TIMEOUT_MS (30 * 60 * 1000)

/* The VM resolves paths in its own working directory: send an absolute one. */
static int snapshot_abs_path(const char *in, char *out, size_t size)
{
	char cwd[PATH_MAX];

	if (in[0] == '/')
		return snprintf(out, size, "%s", in) < (int)size ? 0 : -ENAMETOOLONG;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return snprintf(out, size, "%s/%s", cwd, in) < (int)size ? 0 : -ENAMETOOLONG;
}

static const struct option snapshot_options[] = {
	{ "stop", no_argument, NULL, 's' },
	{ "compress", no_argument, NULL, 'z' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_snapshot(int argc, char **argv)
{
	bool stop = false, compress = false;
	char dir[PATH_MAX];
	struct api_reply rep;
	json_t *j;
	char *body;
	int opt, r;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", snapshot_options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(cli_find("snapshot")->usage, stdout);
			return EXIT_OK;
		}
		if (opt == 's')
			stop = true;
		else if (opt == 'z')
			compress = true;
		else
			return cli_usage_error("snapshot", "unknown option '%s'", argv[optind - 1]);
	}
	if (argc - optind != 2)
		return cli_usage_error("snapshot", "expected a VM name and a directory");
	if (snapshot_abs_path(argv[optind + 1], dir, sizeof(dir)))
		return cli_usage_error("snapshot", "%s: path too long", argv[optind + 1]);
	j = json_pack("{s:s, s:s, s:b, s:b}", "snapshot_type", "Full", "snapshot_path", dir, "compress", compress,
		      "stop", stop);
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!body)
		return EXIT_FAILURE_VM;
	{
		char path[256];

		r = api_resolve(argv[optind], path, sizeof(path));
		if (r) {
			fprintf(stderr, "kite snapshot: no VM named '%s'\n", argv[optind]);
			free(body);
			return EXIT_USAGE;
		}
		r = api_client_call(path, "PUT", "/snapshot/create", body, &rep, SNAPSHOT_TIMEOUT_MS);
		free(body);
		if (r) {
			fprintf(stderr, "kite snapshot: %s: no answer: %s\n", argv[optind], strerror(-r));
			return EXIT_FAILURE_VM;
		}
	}
	if (rep.status != 204) {
		char *m = api_reply_fault(&rep);

		fprintf(stderr, "kite snapshot: %s: %s\n", argv[optind], m ? m : "failed");
		free(m);
		r = rep.status == 400 ? EXIT_USAGE : EXIT_FAILURE_VM;
	}
	api_reply_free(&rep);
	return r;
}
