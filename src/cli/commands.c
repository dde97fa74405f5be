// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include <kite/cli.h>

const struct cli_command cli_commands[] = {
	{ "run", cmd_run, "boot a guest kernel",
	  "usage: kite run --kernel PATH [options]\n"
	  "\n"
	  "  --kernel PATH        Multiboot ELF, PVH ELF or Linux bzImage (detected from the file)\n"
	  "  --initrd PATH        initial ramdisk (Multiboot module, PVH module, Linux initrd)\n"
	  "  --cmdline STR        kernel command line\n"
	  "  --mem SIZE           guest RAM, with suffix K, M or G (default 128M)\n"
	  "  --cpus N             number of vCPUs (default 1); APs start by INIT/SIPI from the guest\n"
	  "  --serial MODE        COM1: stdio (default), file:PATH, socket (kite console), none\n"
	  "  --disk PATH[,ro][,id=NAME][,cache=none|writeback][,aio=io_uring|threads][,queues=N]\n"
	  "                       virtio-blk disk on a raw image (repeatable, up to 16)\n"
	  "  --console virtio[,stdio|file:PATH|pty]\n"
	  "                       virtio-console (Linux hvc0); use with --serial none for stdio\n"
	  "  --rng                virtio-rng entropy source (getrandom)\n"
	  "  --net tap=NAME[,mac=MAC] | fd=N[,mac=MAC]\n"
	  "                       virtio-net on a TAP (repeatable, up to 8; docs/networking.md);\n"
	  "                       default MAC from a hash of --name\n"
	  "  --name NAME          name of the VM (default: kite-PID)\n"
	  "  --incoming tcp:HOST:PORT|unix:PATH\n"
	  "                       no kernel: wait for a live migration (kite migrate) and run it\n"
	  "  --mem-shared         guest RAM in a memfd: kite migrate over unix: passes it, no copy\n"
	  "  --seccomp on|trap|off  system call sandbox of the running VM (default on: a call\n"
	  "                       outside it kills kite; trap: names the call; docs/security.md)\n"
	  "  --reboot exit|restart  what a guest reset does (default exit, status 0)\n"
	  "  --dump-acpi DIR      write the ACPI tables as DIR/<SIG>.dat and exit\n"
	  "  --api PATH|none      control socket (default $XDG_RUNTIME_DIR/kite/NAME.sock, root:\n"
	  "                       /run/kite/NAME.sock; docs/api.md); a NAME in use gives exit 2\n"
	  "                       --api PATH without --kernel: no VM until PUT /snapshot/load\n"
	  "                       restores one (Firecracker's model; --net replaces its TAPs)\n"
	  "  -d, --detach         run in the background, output in RUNTIME_DIR/NAME.log; prints\n"
	  "                       'NAME PID LOG' once the control socket answers\n"
	  "  --restore DIR        run the VM of a snapshot instead (kite restore DIR; see its help)\n"
	  "  -v, --verbose        more messages (repeat for debug)\n"
	  "  -q, --quiet          errors only\n"
	  "\n"
	  "Exit status: v*2+1 when the guest writes v to the debug-exit port 0xf4 (as QEMU's\n"
	  "isa-debug-exit); 0 guest poweroff or reset; 2 usage error; 4 VMM or guest failure.\n" },
	{ "host", cmd_host, "describe this host's virtualization and KVM",
	  "usage: kite host [--json]\n"
	  "\n"
	  "Prints whether the host has hardware virtualization (VT-x/AMD-V with EPT/NPT) or a\n"
	  "nested/emulated KVM, and the KVM capabilities kite uses.\n" },
	{ "ls", cmd_ls, "list the running VMs (through their control sockets)",
	  "usage: kite ls [--json]\n"
	  "\n"
	  "Lists every VM whose control socket answers in the runtime directory\n"
	  "($KITE_RUNTIME_DIR, else $XDG_RUNTIME_DIR/kite, else /run/kite for root): name, pid,\n"
	  "state, vCPUs, memory, uptime.  Sockets of VMs that died are removed.\n" },
	{ "pause", cmd_pause, "pause a VM (every vCPU parked, devices quiet)",
	  "usage: kite pause NAME\n\nNAME may also be a socket path.  Exit status: 0 done, 2 no such VM, 4 refused.\n" },
	{ "resume", cmd_resume, "resume a paused VM", "usage: kite resume NAME\n" },
	{ "stop", cmd_stop, "stop a VM now (like pulling the plug)", "usage: kite stop NAME\n" },
	{ "shutdown", cmd_shutdown, "ask the guest to shut down (Ctrl-Alt-Del)",
	  "usage: kite shutdown NAME\n\nSends Ctrl-Alt-Del on the i8042 keyboard port (PUT /actions SendCtrlAltDel);\n"
	  "the guest decides what to do with it.\n" },
	{ "info", cmd_info, "show a VM's configuration and state", "usage: kite info NAME [--json]\n" },
	{ "stats", cmd_stats, "show a VM's exit counters and device counters", "usage: kite stats NAME [--json]\n" },
	{ "console", cmd_console, "attach to the serial console of a VM run with --serial socket",
	  "usage: kite console NAME\n\nCtrl-A x detaches; the VM keeps running.\n" },
	{ "snapshot", cmd_snapshot, "save a running VM to a directory (state + memory)",
	  "usage: kite snapshot NAME DIR [--stop] [--compress]\n"
	  "\n"
	  "Pauses the VM, writes DIR/state and DIR/memory (raw RAM, zero pages left as holes)\n"
	  "into a temporary directory, fsyncs and renames it to DIR, then resumes the VM.  A\n"
	  "failure (disk full, permissions) leaves the VM running and no DIR.  DIR must not exist.\n"
	  "\n"
	  "  --stop       stop the VM once the snapshot is written\n"
	  "  --compress   write the memory as one zlib stream (smaller; restored eagerly)\n"
	  "\n"
	  "Format: docs/snapshot-format.md.  Exit status: 0 done, 2 refused, 4 failed.\n" },
	{ "restore", cmd_restore, "run a VM from a snapshot, where it was saved",
	  "usage: kite restore DIR [options]     (or: kite run --restore DIR [options])\n"
	  "\n"
	  "Recreates the VM from DIR/state (no kernel or command line needed) and continues it.\n"
	  "Memory is mapped MAP_PRIVATE from DIR/memory: pages load on first touch, the file is\n"
	  "never written and is held with a shared lock.\n"
	  "\n"
	  "  --name NAME      name of the restored VM (default: the saved one)\n"
	  "  --serial MODE    COM1: stdio (default), file:PATH, none\n"
	  "  --api PATH|none  control socket (default: the runtime directory's NAME.sock)\n"
	  "  --eager          copy the memory instead of mapping it\n"
	  "  --seccomp on|trap|off  system call sandbox (default on; see kite run --help)\n"
	  "  --net tap=NAME[,mac=MAC] | fd=N[,mac=MAC]\n"
	  "                   replaces the backend of the next saved NIC (repeatable, in order);\n"
	  "                   saved TAPs are reopened by name.  MAC: mac=, else for a new --name\n"
	  "                   one derived from it, else the saved one\n"
	  "  -d, --detach     run in the background; output to --log PATH (default RUNTIME/NAME.log);\n"
	  "                   prints 'NAME PID LOG' once the VM runs\n"
	  "  -v, -q           more / fewer messages\n"
	  "\n"
	  "Exit status: as kite run; 2 also when the snapshot is refused (corrupt, truncated,\n"
	  "another format version or architecture).\n" },
	{ "clone", cmd_clone, "start N detached VMs from one snapshot",
	  "usage: kite clone DIR -n N [--name PREFIX] [--eager] [--log-dir DIR] [--net tap=NAME%d ...]\n"
	  "\n"
	  "Starts PREFIX-1 .. PREFIX-N (default PREFIX: the saved name), each restored from DIR in\n"
	  "its own detached process with its output in LOGDIR/NAME.log (default: the runtime\n"
	  "directory), and prints 'NAME PID LOG' for each.  Clones share the unmodified memory\n"
	  "through the page cache; each gets a new VM generation id and, per NIC, a new MAC\n"
	  "derived from its name.  --net (repeatable, in order) replaces a saved NIC's TAP; %d in\n"
	  "the TAP name becomes the clone's number (mac= only with -n 1).  See docs/templates.md.\n" },
	{ "migrate", cmd_migrate, "move a running VM to another kite (live migration)",
	  "usage: kite migrate NAME tcp:HOST:PORT|unix:PATH [options]\n"
	  "       kite migrate --cancel NAME\n"
	  "\n"
	  "The target waits with: kite run --incoming tcp:HOST:PORT|unix:PATH [--name N] [--serial MODE].\n"
	  "RAM is sent while the guest runs, then the pages it dirtied, round after round, until\n"
	  "the rest fits the downtime budget; then the guest is paused, the rest and the device\n"
	  "state are sent, and the target runs it.  Any failure before the handover leaves the\n"
	  "guest running here.  Protocol: docs/migration.md.\n"
	  "\n"
	  "  --downtime MS       downtime budget (default 50)\n"
	  "  --bandwidth MiB/s   limit the link (default: unlimited)\n"
	  "  --max-rounds N      then stop and copy whatever is left (default 30)\n"
	  "  --compress          zlib the pages that compress\n"
	  "  --no-auto-converge  never throttle the vCPUs\n"
	  "  --no-fd-passing     unix: copy RAM even when it could pass as a memfd\n"
	  "  --json              the final report as JSON\n"
	  "  --cancel            cancel the running migration of NAME\n"
	  "\n"
	  "Exit status: 0 the target runs the guest; 2 usage or no such VM; 4 failed or cancelled\n"
	  "(the guest runs on here, unless the report says it stays paused).\n" },
	{ "help", cmd_help, "show help for a command", "usage: kite help [COMMAND]\n" },
	{ "version", cmd_version, "print kite's version", "usage: kite version | kite --version\n" },
	{ NULL, NULL, NULL, NULL },
};

const struct cli_command *cli_find(const char *name)
{
	for (const struct cli_command *c = cli_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kite %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'kite help %s')\n", cmd);
	return EXIT_USAGE;
}

int cmd_help(int argc, char **argv)
{
	const struct cli_command *c;

	if (argc >= 2) {
		c = cli_find(argv[1]);
		if (!c) {
			fprintf(stderr, "kite help: unknown command '%s'\n", argv[1]);
			return EXIT_USAGE;
		}
		fputs(c->usage, stdout);
		return EXIT_OK;
	}
	printf("kite %s - a Type 2 hypervisor on /dev/kvm\n\nusage: kite COMMAND [options]\n\ncommands:\n",
	       KITE_VERSION);
	for (c = cli_commands; c->name; c++)
		printf("  %-10s %s\n", c->name, c->summary);
	printf("\n'kite help COMMAND' shows a command's options; man kite has the rest.\n");
	return EXIT_OK;
}

int cmd_version(int argc, char **argv)
{
	printf("kite %s\n", KITE_VERSION);
	return EXIT_OK;
}
