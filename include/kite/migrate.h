/* SPDX-License-Identifier: MIT */
#ifndef KITE_MIGRATE_H
#define KITE_MIGRATE_H

/*
 * Live migration (docs/migration.md): the source sends the configuration,
 * then guest RAM in dirty-log rounds while the guest runs, then pauses it and
 * sends the last dirty pages and every state section; the target loads them,
 * says it is ready, and runs the guest once the source says go.  Until the
 * source has sent "go", any failure leaves the guest running on the source.
 *
 * The sender runs on its own thread (not the event loop, not a vCPU);
 * migrate_start/cancel/get are for the control socket (loop thread).
 */

#include <stdbool.h>
#include <stdint.h>

#include <kite/config.h>

struct vm;

#define MIGRATE_DEST_MAX        256
#define MIGRATE_DEFAULT_DOWNTIME_MS 50
#define MIGRATE_DEFAULT_MAX_ROUNDS  30
#define MIGRATE_HISTORY         64 /* rounds kept for the report */

struct migrate_params {
	char dest[MIGRATE_DEST_MAX]; /* tcp:HOST:PORT or unix:PATH */
	unsigned downtime_ms;        /* budget for the stop-and-copy; 0 = default */
	unsigned bandwidth_mib;      /* MiB/s, 0 = unlimited */
	unsigned max_rounds;         /* 0 = default; then stop-and-copy whatever is left */
	bool compress;               /* zlib per page where it pays */
	bool no_auto_converge;       /* never throttle the vCPUs */
	bool no_fd_passing;          /* unix: copy even when RAM is a memfd */
};

enum migrate_status {
	MIGRATE_NONE,
	MIGRATE_SETUP,     /* connecting, negotiating the configuration */
	MIGRATE_ACTIVE,    /* dirty-log rounds, the guest runs */
	MIGRATE_STOP_COPY, /* the guest is paused: last pages and state */
	MIGRATE_COMPLETED, /* the target runs the guest */
	MIGRATE_FAILED,    /* the guest runs on here (or, see error, is paused) */
	MIGRATE_CANCELLED,
};

struct migrate_round {
	uint64_t pages, zero_pages, bytes, ns;
	uint64_t dirty_pages; /* left for the next round when this one ended */
	unsigned throttle_pct;
};

struct migrate_stats {
	enum migrate_status status;
	char dest[MIGRATE_DEST_MAX];
	char error[256];
	unsigned round;
	uint64_t mem_bytes;
	uint64_t bytes;        /* on the wire, frames included */
	uint64_t pages, zero_pages;
	uint64_t remaining_pages;
	double bandwidth_mibs; /* of the last round */
	double dirty_pages_per_s;
	double est_downtime_ms;
	unsigned throttle_pct;
	bool fd_passed;
	bool guest_paused;     /* the guest is paused here after a failure (handover unknown) */
	/*
	 * downtime_ns: the guest paused here until the target confirmed it runs
	 * there (done received).  sent_ns: paused until the last byte of the
	 * state was written to the socket, which is how QEMU defines its
	 * "downtime" (it does not wait for the target).  target_downtime_ns:
	 * from the target reading stop-copy to its vCPUs resumed.
	 */
	uint64_t total_ns, setup_ns, downtime_ns, target_downtime_ns, sent_ns;
	struct migrate_phases {
		uint64_t pause_ns;      /* vm_pause: kicks, vCPUs parked, devices quiesced */
		uint64_t harvest_ns;    /* last dirty-log sync and device-touched pages */
		uint64_t pages_ns;      /* sending the last pages */
		uint64_t save_ns;       /* state sections saved (vCPU, devices) */
		uint64_t state_send_ns; /* the state frame written */
		uint64_t ready_ns;      /* state sent until ready: transfer and the target's load */
		uint64_t handover_ns;   /* go written until done read */
		uint64_t target_load_ns; /* target: state frame read until ready written (0: not told) */
		uint64_t target_wake_ns; /* target: go read until the vCPUs were resumed (0: not told) */
	} phases;
	unsigned nhistory;
	struct migrate_round history[MIGRATE_HISTORY];
};

const char *migrate_status_name(enum migrate_status s);
/* Validates "tcp:HOST:PORT" / "unix:PATH"; 0 or -EINVAL. */
int migrate_parse_addr(const char *addr);

/* sender.c (source).  -EBUSY when one runs, -ENOTSUP when the VM cannot migrate. */
int migrate_start(struct vm *vm, const struct migrate_params *p);
/* Cancels before the handover: -ENOENT none, -EALREADY too late (the target runs the guest). */
int migrate_cancel(struct vm *vm);
/* The current or last migration; -ENOENT when there was none.  Marks a final report as read. */
int migrate_get_stats(struct vm *vm, struct migrate_stats *out);
/* True while the sender works (kite ls: "Migrating"). */
bool migrate_active(struct vm *vm);
/* Cancels and joins the sender; before vm_destroy (api_server_detach calls it). */
void migrate_cleanup(struct vm *vm);

/* receiver.c (target) */
struct migrate_incoming {
	const char *addr;     /* listen on tcp:HOST:PORT or unix:PATH */
	const char *name;     /* NULL: the source's */
	struct serial_config serial;
	const char *api_path; /* NULL: the default socket for the name */
	/*
	 * Called once the VM exists, before any page arrives: what must happen
	 * before the guest runs but need not cost downtime (kite run installs its
	 * sandbox here).  -errno ends the migration.
	 */
	int (*created)(void *opaque, struct vm *vm);
};
struct migrate_target;
/*
 * Waits for one migration, creates vm from the source's configuration
 * (cfg_check may refuse it: return -errno after writing a reason), loads
 * memory and state and says ready.  On 0 the VM is loaded, its vCPU
 * threads started and parked (vm_start_vcpus_parked): arm *t, then vm_run; on
 * failure the VM does not exist and a message was printed.
 */
typedef int (*migrate_cfg_check_fn)(void *opaque, struct vm_config *cfg, char *reason, unsigned len);
int migrate_receive(struct vm *vm, const struct migrate_incoming *in, migrate_cfg_check_fn check, void *opaque,
		    struct migrate_target **t);
/*
 * Waits for "go" on vm's event loop (the vCPU threads were started parked
 * before the first page, so go costs only their wake-up): then resumes the VM, confirms
 * with the target-side downtime and calls on_run (loop thread).  Anything
 * else, or 30 s without go, stops the VM before it ran (STOP_FAILURE).
 */
int migrate_target_arm(struct migrate_target *t, struct vm *vm, void (*on_run)(void *opaque), void *opaque);
/* After vm_destroy: vm->cfg points into t. */
void migrate_target_free(struct migrate_target *t);
/* Receiver numbers (after migrate_receive). */
void migrate_target_stats(const struct migrate_target *t, struct migrate_stats *out);

#endif
