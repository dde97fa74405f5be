// SPDX-License-Identifier: MIT
/* kite ls [--json]: every VM whose socket answers in the runtime directory. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kite/api_client.h>
#include <kite/api_registry.h>
#include <kite/cli.h>

#define LS_TIMEOUT_MS 2000

struct ls_state {
	json_t *vms;
};

static void ls_one(void *opaque, const char *name, const char *path)
{
	struct ls_state *st = opaque;
	struct api_reply rep;
	json_t *j = NULL;

	if (!api_client_call(path, "GET", "/kite/vm", NULL, &rep, LS_TIMEOUT_MS) && rep.status == 200)
		j = json_loadb(rep.body, rep.body_len, 0, NULL);
	if (rep.raw)
		api_reply_free(&rep);
	if (!json_is_object(j)) {
		/* Listening but not answering: a VM stuck somewhere, still worth showing. */
		json_decref(j);
		j = json_pack("{s:s, s:s, s:s}", "name", name, "state", "Unreachable", "api_socket", path);
	}
	json_object_del(j, "devices");
	json_array_append_new(st->vms, j);
}

static void ls_uptime(double s, char *buf, size_t size)
{
	unsigned long t = (unsigned long)s;

	if (t < 60)
		snprintf(buf, size, "%lus", t);
	else if (t < 3600)
		snprintf(buf, size, "%lum%02lus", t / 60, t % 60);
	else
		snprintf(buf, size, "%luh%02lum", t / 3600, t / 60 % 60);
}

static void ls_print_table(json_t *vms)
{
	size_t i;
	json_t *v;

	printf("%-24s %-8s %-12s %5s %8s %8s\n", "NAME", "PID", "STATE", "VCPUS", "MEMORY", "UPTIME");
	json_array_foreach(vms, i, v) {
		char up[32] = "-", mem[32] = "-", pid[16] = "-", cpus[16] = "-";

		if (json_is_number(json_object_get(v, "uptime_seconds")))
			ls_uptime(json_number_value(json_object_get(v, "uptime_seconds")), up, sizeof(up));
		if (json_is_integer(json_object_get(v, "memory_mib")))
			snprintf(mem, sizeof(mem), "%lldM", (long long)json_integer_value(json_object_get(v, "memory_mib")));
		if (json_is_integer(json_object_get(v, "pid")))
			snprintf(pid, sizeof(pid), "%lld", (long long)json_integer_value(json_object_get(v, "pid")));
		if (json_is_integer(json_object_get(v, "vcpus")))
			snprintf(cpus, sizeof(cpus), "%lld", (long long)json_integer_value(json_object_get(v, "vcpus")));
		printf("%-24s %-8s %-12s %5s %8s %8s\n", json_string_value(json_object_get(v, "name")), pid,
		       json_string_value(json_object_get(v, "state")), cpus, mem, up);
	}
}

int cmd_ls(int argc, char **argv)
{
	struct ls_state st;
	bool as_json = false;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			as_json = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(cli_find("ls")->usage, stdout);
			return EXIT_OK;
		} else
			return cli_usage_error("ls", "unexpected argument '%s'", argv[i]);
	}
	st.vms = json_array();
	if (!st.vms)
		return EXIT_FAILURE_VM;
	r = api_foreach_vm(ls_one, &st);
	if (r < 0) {
		char dir[256] = "?";

		api_runtime_dir(dir, sizeof(dir));
		fprintf(stderr, "kite ls: %s: %s\n", dir, strerror(-r));
		json_decref(st.vms);
		return EXIT_FAILURE_VM;
	}
	if (as_json) {
		char *s = json_dumps(st.vms, JSON_INDENT(2) | JSON_REAL_PRECISION(9));

		puts(s ? s : "[]");
		free(s);
	} else {
		ls_print_table(st.vms);
	}
	json_decref(st.vms);
	return EXIT_OK;
}
