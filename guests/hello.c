// SPDX-License-Identifier: MIT
/* hello: prints a greeting and its command line, checks a syscall round trip. */
#include "kit.h"

int main(void)
{
	uint64_t r;

	kit_printf("hello from kite guest\n");
	kit_printf("hello: boot protocol %s, ram top 0x%lx\n", kit_boot_proto_name(), kit_ram_top());
	kit_printf("hello: cmdline '%s'\n", kit_cmdline());
	r = kit_syscall3(KIT_SYS_ADD, 40, 2, 0);
	if (r != 42) {
		kit_printf("hello: syscall returned %lu, wanted 42\n", r);
		return KIT_EXIT_FAIL;
	}
	kit_printf("hello: syscall ok\n");
	return KIT_EXIT_PASS;
}
