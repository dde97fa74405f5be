// SPDX-License-Identifier: MIT
/* kite pause|resume|stop|shutdown NAME: one request each, 204 expected. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kite/api_client.h>
#include <kite/api_registry.h>
#include <kite/cli.h>

/* Long enough for a pause (every vCPU leaves KVM_RUN), short enough for a script. */
#define CTL_TIMEOUT_MS 10000

int cli_vm_request(const char *cmd, const char *name, const char *method, const char *target, const char *json,
		   struct api_reply *rep)
{
	char path[256], dir[256];
	int r;

	r = api_resolve(name, path, sizeof(path));
	if (r == -ENOENT) {
		if (strchr(name, '/') || api_runtime_dir(dir, sizeof(dir)))
			fprintf(stderr, "kite %s: no VM answers at %s\n", cmd, name);
		else
			fprintf(stderr, "kite %s: no VM named '%s' (in %s; kite ls lists them)\n", cmd, name, dir);
		return EXIT_USAGE;
	}
	if (r) {
		fprintf(stderr, "kite %s: %s: %s\n", cmd, name, strerror(-r));
		return EXIT_USAGE;
	}
	r = api_client_call(path, method, target, json, rep, CTL_TIMEOUT_MS);
	if (r) {
		fprintf(stderr, "kite %s: %s: no answer on %s: %s\n", cmd, name, path, strerror(-r));
		return EXIT_FAILURE_VM;
	}
	return EXIT_OK;
}

/* Sends the request and expects 204; prints the VM's fault message otherwise. */
static int ctl_simple(int argc, char **argv, const char *method, const char *target, const char *json)
{
	struct api_reply rep;
	int r;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(cli_find(argv[0])->usage, stdout);
		return EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error(argv[0], "expected one VM name");
	r = cli_vm_request(argv[0], argv[1], method, target, json, &rep);
	if (r)
		return r;
	if (rep.status != 204) {
		char *m = api_reply_fault(&rep);

		fprintf(stderr, "kite %s: %s: %s (HTTP %d)\n", argv[0], argv[1], m ? m : "?", rep.status);
		free(m);
		r = EXIT_FAILURE_VM;
	}
	api_reply_free(&rep);
	return r;
}

int cmd_pause(int argc, char **argv)
{
	return ctl_simple(argc, argv, "PATCH", "/vm", "{\"state\": \"Paused\"}");
}

int cmd_resume(int argc, char **argv)
{
	return ctl_simple(argc, argv, "PATCH", "/vm", "{\"state\": \"Resumed\"}");
}

int cmd_stop(int argc, char **argv)
{
	return ctl_simple(argc, argv, "PUT", "/kite/stop", NULL);
}

int cmd_shutdown(int argc, char **argv)
{
	return ctl_simple(argc, argv, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}");
}
