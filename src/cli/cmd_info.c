// SPDX-License-Identifier: MIT
/* kite info NAME [--json] (GET /kite/vm) and kite stats NAME [--json] (GET /kite/stats). */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kite/api_client.h>
#include <kite/cli.h>

/* Parses "NAME [--json]" in any order. */
static int info_args(int argc, char **argv, const char **name, bool *as_json)
{
	*name = NULL;
	*as_json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			*as_json = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(cli_find(argv[0])->usage, stdout);
			return -1;
		} else if (argv[i][0] == '-' || *name)
			return cli_usage_error(argv[0], "unexpected argument '%s'", argv[i]);
		else
			*name = argv[i];
	}
	if (!*name)
		return cli_usage_error(argv[0], "expected a VM name");
	return 0;
}

/* GETs target and returns its JSON object, or NULL with *status set to the exit status. */
static json_t *info_get(const char *cmd, const char *name, const char *target, int *status)
{
	struct api_reply rep;
	json_t *j = NULL;
	json_error_t e;

	*status = cli_vm_request(cmd, name, "GET", target, NULL, &rep);
	if (*status)
		return NULL;
	if (rep.status == 200)
		j = json_loadb(rep.body, rep.body_len, 0, &e);
	if (!json_is_object(j)) {
		char *m = api_reply_fault(&rep);

		fprintf(stderr, "kite %s: %s: %s (HTTP %d)\n", cmd, name, m ? m : "?", rep.status);
		free(m);
		json_decref(j);
		j = NULL;
		*status = EXIT_FAILURE_VM;
	}
	api_reply_free(&rep);
	return j;
}

static void info_dump(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(9));

	puts(s ? s : "{}");
	free(s);
}

static void info_print(json_t *j)
{
	const char *key;
	json_t *v, *d;
	size_t i;

	json_object_foreach(j, key, v) {
		if (json_is_string(v))
			printf("%-16s %s\n", key, json_string_value(v));
		else if (json_is_integer(v))
			printf("%-16s %lld\n", key, (long long)json_integer_value(v));
		else if (json_is_real(v))
			printf("%-16s %.1f\n", key, json_real_value(v));
	}
	printf("devices\n");
	json_array_foreach(json_object_get(j, "devices"), i, d)
		printf("  %-16s %-4s %-10s size %lld\n", json_string_value(json_object_get(d, "name")),
		       json_string_value(json_object_get(d, "bus")), json_string_value(json_object_get(d, "base")),
		       (long long)json_integer_value(json_object_get(d, "size")));
	json_array_foreach(json_object_get(j, "network_interfaces"), i, d)
		printf("%-16s tap %s, mac %s, link %s\n", json_string_value(json_object_get(d, "iface_id")),
		       json_string_value(json_object_get(d, "host_dev_name")),
		       json_string_value(json_object_get(d, "guest_mac")),
		       json_is_true(json_object_get(d, "link_up")) ? "up" : "down");
}

/* kite info and kite stats: one GET on the VM's socket, printed as text or JSON. */
static int info_command(int argc, char **argv, const char *target, void (*print)(json_t *j))
{
	const char *name;
	bool as_json;
	json_t *j;
	int r;

	r = info_args(argc, argv, &name, &as_json);
	if (r)
		return r < 0 ? EXIT_OK : r;
	j = info_get(argv[0], name, target, &r);
	if (!j)
		return r;
	if (as_json)
		info_dump(j);
	else
		print(j);
	json_decref(j);
	return EXIT_OK;
}

int cmd_info(int argc, char **argv)
{
	return info_command(argc, argv, "/kite/vm", info_print);
}

static void stats_print(json_t *j)
{
	json_t *vcpus = json_object_get(j, "vcpus"), *v, *exits, *n, *d, *c;
	const char *key, *dev, *ctr;
	size_t i;

	printf("VM %s, up %.1f s\n\nvCPU exits\n%-6s", json_string_value(json_object_get(j, "name")),
	       json_number_value(json_object_get(j, "uptime_seconds")), "vcpu");
	json_object_foreach(json_object_get(j, "exits"), key, n)
		printf(" %12s", key);
	printf(" %12s\n", "total");
	json_array_foreach(vcpus, i, v) {
		exits = json_object_get(v, "exits");
		printf("%-6lld", (long long)json_integer_value(json_object_get(v, "vcpu")));
		json_object_foreach(json_object_get(j, "exits"), key, n)
			printf(" %12lld", (long long)json_integer_value(json_object_get(exits, key)));
		printf(" %12lld\n", (long long)json_integer_value(json_object_get(exits, "total")));
	}
	printf("\ndevices\n");
	json_object_foreach(json_object_get(j, "devices"), dev, d)
		json_object_foreach(d, ctr, c)
			printf("  %-16s %-20s %lld\n", dev, ctr, (long long)json_integer_value(c));
	printf("\nbus (unclaimed accesses)\n");
	json_object_foreach(json_object_get(j, "bus"), dev, d)
		printf("  %-5s reads %lld, writes %lld\n", dev,
		       (long long)json_integer_value(json_object_get(d, "unclaimed_reads")),
		       (long long)json_integer_value(json_object_get(d, "unclaimed_writes")));
}

int cmd_stats(int argc, char **argv)
{
	return info_command(argc, argv, "/kite/stats", stats_print);
}
