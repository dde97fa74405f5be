// SPDX-License-Identifier: MIT
/*
 * hello: prints a greeting and its command line, checks a syscall round
 * trip.  fault=ud|gp|pf makes it fault on purpose afterwards (ud2, hlt in
 * ring 3, a write to an unmapped address), to test the kit's trap path.
 */
#include "kit.h"

static int fault(void)
{
	char what[8];

	if (!kit_arg("fault", what, sizeof(what)))
		return KIT_EXIT_PASS;
	kit_printf("hello: faulting on purpose (%s)\n", what);
	if (!strncmp(what, "ud", 3))
		__asm__ volatile("ud2");
	else if (!strncmp(what, "gp", 3))
		__asm__ volatile("hlt");
	else if (!strncmp(what, "pf", 3))
		*(volatile uint64_t *)0x8000000000ul = 1;
	kit_printf("hello: no fault\n");
	return KIT_EXIT_FAIL;
}

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
	return fault();
}
