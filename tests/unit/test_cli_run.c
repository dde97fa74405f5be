// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <kite/cli.h>
#include <kite/config.h>
#include <kite/util.h>

#define ARGV(...) ((char *[]){ "run", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "run", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(cfg, ...) run_parse_args(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), cfg)

static void test_defaults(void **state)
{
	struct vm_config c;

	assert_int_equal(PARSE(&c, "--kernel", "/dev/null"), 0);
	assert_string_equal(c.kernel, "/dev/null");
	assert_int_equal(c.mem_size, 128 * MiB);
	assert_int_equal(c.ncpus, 1);
	assert_int_equal(c.serial.kind, SERIAL_STDIO);
	assert_string_equal(c.cmdline, "");
	assert_int_equal(c.reboot, REBOOT_EXIT);
	assert_true(strncmp(c.name, "kite-", 5) == 0);
}

static void test_all_options(void **state)
{
	struct vm_config c;

	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--initrd", "/dev/null", "--cmdline", "console=ttyS0",
			       "--mem", "3G", "--cpus", "4", "--serial", "file:/tmp/x", "--name", "web-1", "--reboot",
			       "restart"),
			 0);
	assert_int_equal(c.mem_size, 3 * GiB);
	assert_int_equal(c.ncpus, 4);
	assert_int_equal(c.serial.kind, SERIAL_FILE);
	assert_string_equal(c.serial.path, "/tmp/x");
	assert_string_equal(c.name, "web-1");
	assert_string_equal(c.cmdline, "console=ttyS0");
	assert_int_equal(c.reboot, REBOOT_RESTART);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--serial", "none"), 0);
	assert_int_equal(c.serial.kind, SERIAL_NONE);
}

static void test_mem_rounded_to_pages(void **state)
{
	struct vm_config c;

	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--mem", "4097K"), 0);
	assert_int_equal(c.mem_size, 4100 * KiB);
}

static void test_usage_errors(void **state)
{
	struct vm_config c;

	assert_int_equal(PARSE(&c, "--mem", "1G"), EXIT_USAGE); /* no kernel */
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--mem", "lots"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--mem", "1M"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--mem", "2T"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--cpus", "0"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--cpus", "65"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--cpus", "two"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--serial", "file:"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--reboot", "sometimes"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--name", ""), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--name", ".hidden"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--name",
			       "a-name-that-is-much-too-long-for-a-socket-file-name-in-a-directory-x"),
			 EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/nonexistent"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--initrd", "/nonexistent"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "--bogus"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel", "/dev/null", "stray"), EXIT_USAGE);
	assert_int_equal(PARSE(&c, "--kernel"), EXIT_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_options),
		cmocka_unit_test(test_mem_rounded_to_pages),
		cmocka_unit_test(test_usage_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
