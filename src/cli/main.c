// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include <kite/cli.h>

int main(int argc, char **argv)
{
	const struct cli_command *c;

	if (argc < 2)
		return cmd_help(1, argv);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
		return cmd_version(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(1, argv);
	c = cli_find(argv[1]);
	if (!c) {
		fprintf(stderr, "kite: unknown command '%s' (see 'kite help')\n", argv[1]);
		return EXIT_USAGE;
	}
	return c->fn(argc - 1, argv + 1);
}
