/* SPDX-License-Identifier: MIT */
#ifndef KITE_CONFIG_H
#define KITE_CONFIG_H

/*
 * What a VM is made of, as the command line (or, later, a snapshot or a
 * migration source) describes it.  Parsed and validated before the VM is
 * created so that bad input costs nothing.
 */

#include <stdbool.h>
#include <stdint.h>

#define KITE_MAX_CPUS  64
#define KITE_MAX_DISKS 16
#define KITE_NAME_MAX  64

enum serial_kind { SERIAL_STDIO, SERIAL_FILE, SERIAL_NONE, SERIAL_SOCKET };

struct serial_config {
	enum serial_kind kind;
	const char *path; /* SERIAL_FILE */
};

enum disk_cache { DISK_CACHE_WRITEBACK, DISK_CACHE_NONE };

struct disk_config {
	const char *path;
	bool readonly;
	char id[21]; /* VIRTIO_BLK_ID_BYTES + NUL; "" = derived from the path */
	enum disk_cache cache;
};

enum console_kind { CONSOLE_NONE, CONSOLE_STDIO, CONSOLE_FILE, CONSOLE_PTY };

struct console_config {
	enum console_kind kind; /* virtio-console backend */
	const char *path;       /* CONSOLE_FILE */
};

enum reboot_action { REBOOT_EXIT, REBOOT_RESTART };

struct vm_config {
	char name[KITE_NAME_MAX];
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	uint64_t mem_size;
	unsigned ncpus;
	struct serial_config serial;
	enum reboot_action reboot;
	const char *dump_acpi_dir; /* --dump-acpi: write the tables and exit */
	struct disk_config disks[KITE_MAX_DISKS];
	unsigned ndisks;
	struct console_config console;
	bool rng;
	const char *api_path;
};

#endif
