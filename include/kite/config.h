/* SPDX-License-Identifier: MIT */
#ifndef KITE_CONFIG_H
#define KITE_CONFIG_H

/*
 * What a VM is made of, as the command line (or, later, a snapshot or a
 * migration source) describes it.  Parsed and validated before the VM is
 * created so that bad input costs nothing.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kite/sandbox.h>

#define KITE_MAX_CPUS  64
#define KITE_MAX_DISKS 16
#define KITE_MAX_DISK_QUEUES 8 /* virtio-blk request queues per disk, each with its own thread */
#define KITE_NAME_MAX  64
#define KITE_MAX_NETS  8

enum serial_kind { SERIAL_STDIO, SERIAL_FILE, SERIAL_NONE, SERIAL_SOCKET };

struct serial_config {
	enum serial_kind kind;
	const char *path; /* SERIAL_FILE */
};

enum disk_cache { DISK_CACHE_WRITEBACK, DISK_CACHE_NONE };
/* How cache=none I/O waits for the device: io_uring where the kernel allows it (auto), or worker threads. */
enum disk_aio_mode { DISK_AIO_AUTO, DISK_AIO_THREADS, DISK_AIO_IO_URING };

struct disk_config {
	const char *path;
	bool readonly;
	char id[21]; /* VIRTIO_BLK_ID_BYTES + NUL; "" = derived from the path */
	enum disk_cache cache;
	enum disk_aio_mode aio; /* a host-side choice: not kept in snapshots (restore uses auto) */
	unsigned queues;        /* request queues; 0 = 1 */
};

enum console_kind { CONSOLE_NONE, CONSOLE_STDIO, CONSOLE_FILE, CONSOLE_PTY };

struct console_config {
	enum console_kind kind; /* virtio-console backend */
	const char *path;       /* CONSOLE_FILE */
};

/* --net tap=NAME[,mac=MAC] or --net fd=N[,mac=MAC] (virtio-net over a TAP). */
struct net_config {
	const char *tap; /* interface name, or NULL with fd */
	int fd;          /* an open TAP fd (IFF_VNET_HDR), or -1 */
	uint8_t mac[6];
	bool mac_set;    /* else derived from the VM name */
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
	struct net_config nets[KITE_MAX_NETS];
	unsigned nnets;
	bool rng;
	const char *api_path;
	/*
	 * Restore and incoming migration (src/state, src/migrate): no loader and
	 * no firmware tables, as RAM comes from a snapshot or a stream;
	 * mem_file maps RAM MAP_PRIVATE from that file (gmem_map_file).
	 */
	bool incoming;
	const char *mem_file;
	/* kite run --incoming ADDR: wait for a live migration there (src/migrate) instead of booting. */
	const char *incoming_addr;
	/* --mem-shared: RAM in a memfd, which a local migration passes instead of copying. */
	bool mem_shared;
	/* --seccomp: the sandbox vm_run installs (kite/sandbox.h); zero, the default, is on. */
	enum sandbox_mode seccomp;
	/*
	 * Storage for option strings the parser splits (--disk, --net): the
	 * configuration owns them, so there is nothing to free and nothing to
	 * leak on an error path.
	 */
	char strings[8192];
	unsigned strings_used;
};

/* A copy of s inside cfg->strings, or NULL when that is full. */
static inline char *config_strdup(struct vm_config *cfg, const char *s)
{
	size_t n = __builtin_strlen(s) + 1;
	char *p;

	if (n > sizeof(cfg->strings) - cfg->strings_used)
		return (char *)0;
	p = cfg->strings + cfg->strings_used;
	__builtin_memcpy(p, s, n);
	cfg->strings_used += n;
	return p;
}

#endif
