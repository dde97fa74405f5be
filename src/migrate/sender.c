// SPDX-License-Identifier: MIT
/*
 * The source side of a live migration, on its own thread: configuration
 * first, then RAM in dirty-log rounds while the guest runs (throttled when it
 * dirties faster than the link carries), then stop-and-copy and the
 * handover.  Until "go" is sent every failure resumes the guest here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kite/log.h>
#include <kite/migrate.h>
#include <kite/migrate_proto.h>
#include <kite/state.h>
#include <kite/util.h>
#include <kite/vm.h>

#define MIG_ACCEPT_TIMEOUT_MS 60000 /* the target creates the VM meanwhile */
#define MIG_READY_TIMEOUT_MS  30000
#define MIG_REPORT_LINGER_MS  3000  /* after success: time for kite migrate to read the report */
#define MIG_BW_MIN_BYTES      (4 * MiB) /* rounds smaller than this say little about the link */
#define MIG_THROTTLE_FIRST    20
#define MIG_THROTTLE_STEP     10
#define MIG_THROTTLE_MAX      99

struct migration {
	struct vm *vm;
	struct migrate_params p;
	pthread_t thread, throttler;
	bool throttler_started;
	bool throttle_stop; /* atomic */
	bool cancel;        /* atomic */
	pthread_mutex_t lock; /* st, sock, committed, report_read */
	struct migrate_stats st;
	int sock;             /* for cancel (shutdown); -1 when none */
	bool committed;       /* "go" sent: the guest never runs here again */
	bool report_read;
	bool finished;        /* the thread has nothing left to do but exit */
	struct mig_conn conn;
	struct mig_dirty dirty;
	double bw;            /* bytes/s, best estimate */
	uint64_t t_start;
	bool paused_by_us;
};

static void mig_update(struct migration *m, void (*fn)(struct migration *m, void *arg), void *arg)
{
	pthread_mutex_lock(&m->lock);
	fn(m, arg);
	pthread_mutex_unlock(&m->lock);
}

static void mig_set_status_cb(struct migration *m, void *arg)
{
	m->st.status = *(enum migrate_status *)arg;
}

static void mig_set_status(struct migration *m, enum migrate_status s)
{
	mig_update(m, mig_set_status_cb, &s);
}

static bool mig_cancelled(struct migration *m)
{
	return __atomic_load_n(&m->cancel, __ATOMIC_ACQUIRE);
}

/* The reason of a failure, as the source reports it (first one wins). */
static void mig_error(struct migration *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mig_error(struct migration *m, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&m->lock);
	if (!m->st.error[0]) {
		va_start(ap, fmt);
		vsnprintf(m->st.error, sizeof(m->st.error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&m->lock);
}

/* Whether the VM's objects can all be saved (virtio devices may not be yet); registry freed. */
static int mig_check_vm(struct migration *m)
{
	struct state_registry reg;
	uint32_t fmt = STATE_MEM_STREAM;
	int r;

	state_registry_init(&reg);
	r = state_vm_register(m->vm, &reg, &fmt);
	state_registry_free(&reg);
	if (r)
		mig_error(m, "this VM cannot be saved: %s%s", strerror(-r),
			  r == -ENOTSUP ? " (a device has no state section yet; see the VM's log)" : "");
	return r;
}

static int mig_send_hello(struct migration *m, uint32_t features)
{
	struct sbuf b;
	int r;

	sbuf_init(&b);
	sbuf_put_u32(&b, MIG_PROTO_MAJOR);
	sbuf_put_u32(&b, MIG_PROTO_MINOR);
	sbuf_put_str(&b, KITE_VERSION);
	sbuf_put_str(&b, STATE_ARCH);
	sbuf_put_u32(&b, MIG_PAGE);
	sbuf_put_u32(&b, features);
	r = b.err ? b.err : mig_send(&m->conn, MIG_HELLO, b.data, b.len);
	sbuf_free(&b);
	return r;
}

/* The config and memory sections, as a state stream of their own (the target decodes it with state_vm_info). */
static int mig_send_config(struct migration *m)
{
	struct state_registry reg;
	uint32_t fmt = STATE_MEM_STREAM;
	struct sbuf out, sec;
	struct state_sink sink = { state_sbuf_write, &out };
	int r;

	state_registry_init(&reg);
	sbuf_init(&out);
	r = state_vm_register(m->vm, &reg, &fmt);
	if (!r)
		r = state_write_header(&sink);
	for (unsigned i = 0; !r && i < reg.n; i++) {
		const struct state_entry *e = &reg.e[i];

		if (strcmp(e->tag, "config") && strcmp(e->tag, "memory"))
			continue;
		sbuf_init(&sec);
		r = e->save(e->opaque, &sec);
		if (!r)
			r = sec.err;
		if (!r)
			r = state_write_section(&sink, e->tag, e->instance, e->major, e->minor, sec.data, sec.len);
		sbuf_free(&sec);
	}
	if (!r)
		r = state_write_end(&sink);
	if (!r)
		r = out.err;
	if (!r)
		r = mig_send(&m->conn, MIG_CONFIG, out.data, out.len);
	sbuf_free(&out);
	state_registry_free(&reg);
	return r;
}

/* A frame that ends the stream from the target's side, as the reason to report. */
static int mig_peer_error(struct migration *m, unsigned type, struct sbuf *in, const char *stage)
{
	char *why = sbuf_get_str(in, 240);

	if (type == MIG_REFUSE)
		mig_error(m, "the target refused: %s", why ? why : "(no reason)");
	else if (type == MIG_ERROR)
		mig_error(m, "the target failed %s: %s", stage, why ? why : "(no reason)");
	else
		mig_error(m, "protocol error %s: unexpected '%s' frame", stage, mig_type_name(type));
	free(why);
	return type == MIG_REFUSE ? -EPERM : -EPROTO;
}

/* Waits for a frame of type `want` (a stage the peer must answer). */
static int mig_expect(struct migration *m, unsigned want, unsigned timeout_ms, struct sbuf *in, const char *stage)
{
	unsigned type;
	int r;

	mig_set_timeout(&m->conn, timeout_ms);
	r = mig_recv(&m->conn, &type, in);
	mig_set_timeout(&m->conn, 0);
	if (r) {
		if (mig_cancelled(m))
			return -ECANCELED;
		mig_error(m, "connection lost %s: %s", stage,
			  r == -ECONNRESET ? "the target closed it" : r == -ETIMEDOUT ? "the target did not answer" : strerror(-r));
		return r;
	}
	return type == want ? 0 : mig_peer_error(m, type, in, stage);
}

static int mig_negotiate(struct migration *m, bool offer_memfd)
{
	struct sbuf in;
	uint32_t accepted;
	int r;

	r = mig_send_hello(m, (m->p.compress ? MIG_F_ZLIB : 0) | (offer_memfd ? MIG_F_MEMFD : 0));
	if (!r)
		r = mig_send_config(m);
	if (r) {
		if (!mig_cancelled(m))
			mig_error(m, "sending the configuration: %s", strerror(-r));
		return r;
	}
	r = mig_expect(m, MIG_ACCEPT, MIG_ACCEPT_TIMEOUT_MS, &in, "during the configuration");
	if (r)
		return r;
	accepted = sbuf_get_u32(&in);
	return (int)(accepted & MIG_F_MEMFD);
}

/* Whether the host has swap: /proc/swaps has more than its header line (sysinfo is not in the sandbox). */
static bool mig_host_has_swap(void)
{
	char line[256];
	int n = 0;
	FILE *f = fopen("/proc/swaps", "re");

	if (!f)
		return true; /* unknown: assume the worst */
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n > 1;
}

/*
 * Pages of anonymous RAM never touched are not resident and read as zero
 * (valid without swap: a swapped-out page is not resident either).  Reading
 * them instead would allocate them (shared anonymous memory has no zero page).
 */
static unsigned char *mig_residency(struct vm *vm)
{
	unsigned char *vec;

	if (vm->mem.fd >= 0 || vm->cfg.mem_file || mig_host_has_swap())
		return NULL;
	vec = malloc(vm->mem.size / MIG_PAGE);
	if (vec && mincore(vm->mem.base, vm->mem.size, vec) < 0) {
		free(vec);
		return NULL;
	}
	return vec;
}

struct mig_round_ctx {
	uint64_t pages, zero, bytes0, t0;
	uint64_t send_ns; /* time in the socket: the link's rate, not the scan's */
	bool first;
	unsigned char *res;
};

static void mig_progress_cb(struct migration *m, void *arg)
{
	struct mig_round_ctx *rc = arg;

	m->st.bytes = m->conn.bytes_out;
	m->st.pages += rc->pages;
	m->st.zero_pages += rc->zero;
	rc->pages = rc->zero = 0;
}

/* --bandwidth: sleeps until the round's bytes fit the rate. */
static void mig_pace(struct migration *m, struct mig_round_ctx *rc)
{
	uint64_t sent = m->conn.bytes_out - rc->bytes0, due_ns, el;

	if (!m->p.bandwidth_mib)
		return;
	due_ns = sent * 1000000000ull / ((uint64_t)m->p.bandwidth_mib * MiB);
	el = now_ns() - rc->t0;
	if (due_ns > el)
		usleep((due_ns - el) / 1000);
}

/* Sends every page in the dirty set; the first round leaves out zero pages (the target's RAM is zero). */
static int mig_send_dirty(struct migration *m, struct mig_round_ctx *rc)
{
	struct mig_batch b;
	uint8_t *ram = m->vm->mem.base;
	uint64_t p = 0, t;
	int r = 0;

	mig_batch_init(&b, m->p.compress);
	while ((p = mig_dirty_next(&m->dirty, p)) < m->dirty.npages) {
		const uint8_t *page = ram + p * MIG_PAGE;

		/* Never touched: not even read (a zero page that was touched goes as an 8-byte marker). */
		if (rc->first && rc->res && !(rc->res[p] & 1)) {
			rc->zero++;
			rc->pages++;
			p++;
			continue;
		}
		mig_batch_add(&b, p, page);
		p++;
		if (b.n < MIG_BATCH_PAGES)
			continue;
		t = now_ns();
		r = mig_batch_flush(&b, &m->conn);
		rc->send_ns += now_ns() - t;
		if (r)
			break;
		rc->pages += b.pages;
		rc->zero += b.zero_pages;
		b.pages = b.zero_pages = 0;
		mig_update(m, mig_progress_cb, rc);
		if (mig_cancelled(m)) {
			r = -ECANCELED;
			break;
		}
		mig_pace(m, rc);
	}
	t = now_ns();
	if (!r)
		r = mig_batch_flush(&b, &m->conn);
	rc->send_ns += now_ns() - t;
	rc->pages += b.pages;
	rc->zero += b.zero_pages;
	mig_update(m, mig_progress_cb, rc);
	mig_batch_free(&b);
	return r;
}

static int mig_send_round_marker(struct migration *m, unsigned round, uint64_t pages)
{
	struct sbuf b;
	int r;

	sbuf_init(&b);
	sbuf_put_u32(&b, round);
	sbuf_put_u64(&b, pages);
	r = b.err ? b.err : mig_send(&m->conn, MIG_ROUND, b.data, b.len);
	sbuf_free(&b);
	return r;
}

static void *mig_throttler(void *arg)
{
	struct migration *m = arg;
	struct vm *vm = m->vm;

	while (!__atomic_load_n(&m->throttle_stop, __ATOMIC_ACQUIRE)) {
		usleep(VCPU_THROTTLE_PERIOD_US);
		if (!__atomic_load_n(&vm->throttle_pct, __ATOMIC_RELAXED) || vm_get_state(vm) != VM_RUNNING)
			continue;
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_kick(&vm->vcpus[i]);
	}
	return NULL;
}

static void mig_throttle_set(struct migration *m, unsigned pct)
{
	__atomic_store_n(&m->vm->throttle_pct, pct, __ATOMIC_RELAXED);
	if (pct && !m->throttler_started)
		m->throttler_started = pthread_create(&m->throttler, NULL, mig_throttler, m) == 0;
}

static void mig_throttle_end(struct migration *m)
{
	__atomic_store_n(&m->vm->throttle_pct, 0, __ATOMIC_RELAXED);
	if (m->throttler_started) {
		__atomic_store_n(&m->throttle_stop, true, __ATOMIC_RELEASE);
		pthread_join(m->throttler, NULL);
		m->throttler_started = false;
	}
}

struct mig_round_end {
	unsigned round;
	struct migrate_round h;
	uint64_t remaining;
	double est_ms, dirty_rate;
};

static void mig_round_end_cb(struct migration *m, void *arg)
{
	struct mig_round_end *e = arg;

	m->st.round = e->round;
	m->st.remaining_pages = e->remaining;
	m->st.bandwidth_mibs = m->bw / MiB;
	m->st.dirty_pages_per_s = e->dirty_rate;
	m->st.est_downtime_ms = e->est_ms;
	m->st.throttle_pct = e->h.throttle_pct;
	if (m->st.nhistory < MIGRATE_HISTORY)
		m->st.history[m->st.nhistory++] = e->h;
}

/* Dirty-log rounds until the rest fits the downtime budget (or the round bound is reached). */
static int mig_rounds(struct migration *m)
{
	unsigned budget = m->p.downtime_ms ? m->p.downtime_ms : MIGRATE_DEFAULT_DOWNTIME_MS;
	unsigned max_rounds = m->p.max_rounds ? m->p.max_rounds : MIGRATE_DEFAULT_MAX_ROUNDS;
	uint64_t prev_remaining = ~0ull;
	unsigned throttle = 0;
	int r;

	for (unsigned round = 1;; round++) {
		struct mig_round_ctx rc = { .bytes0 = m->conn.bytes_out, .t0 = now_ns(), .first = round == 1 };
		struct mig_round_end e = { .round = round };
		uint64_t sent, ns;

		r = mig_dirty_sync(&m->dirty);
		if (r) {
			mig_error(m, "reading the dirty log: %s", strerror(-r));
			return r;
		}
		e.h.pages = mig_dirty_count(&m->dirty);
		if (rc.first)
			rc.res = mig_residency(m->vm);
		r = mig_send_dirty(m, &rc);
		free(rc.res);
		if (!r)
			r = mig_send_round_marker(m, round, e.h.pages);
		if (r)
			return r;
		ns = MAX(now_ns() - rc.t0, 1);
		sent = m->conn.bytes_out - rc.bytes0;
		/*
		 * The rate pages leave at (copy and socket), not the round's time,
		 * which includes scanning pages that were skipped.  Small rounds say
		 * little: keep the last good estimate.
		 */
		if (sent >= MIG_BW_MIN_BYTES || !m->bw)
			m->bw = MAX(sent * 1e9 / MAX(rc.send_ns, 1), 1.0 * MiB);
		r = mig_dirty_sync(&m->dirty);
		if (r) {
			mig_error(m, "reading the dirty log: %s", strerror(-r));
			return r;
		}
		e.remaining = mig_dirty_count(&m->dirty);
		e.dirty_rate = e.remaining * 1e9 / ns;
		e.est_ms = e.remaining * (double)(MIG_PAGE + 8) / m->bw * 1e3;
		e.h.bytes = sent;
		e.h.ns = ns;
		e.h.dirty_pages = e.remaining;
		e.h.throttle_pct = throttle;
		mig_update(m, mig_round_end_cb, &e);
		pr_debug("migration: round %u: %llu pages in %.1f ms, %llu dirty, %.0f MiB/s, est. downtime %.1f ms", round,
			 (unsigned long long)e.h.pages, ns / 1e6, (unsigned long long)e.remaining, m->bw / MiB, e.est_ms);
		/*
		 * Within the budget, one more round is still worth it while it halves
		 * the rest: the guest pays seconds of throttle less than it pays
		 * milliseconds of pause.
		 */
		if (e.est_ms <= budget && (e.est_ms <= budget / 4.0 || e.remaining * 2 >= prev_remaining))
			return 0;
		if (round >= max_rounds) {
			pr_warn("migration: %u rounds without converging (estimated downtime %.1f ms, budget %u ms): "
				"stopping to copy the rest", round, e.est_ms, budget);
			return 0;
		}
		/* Not converging: the guest dirties faster than the link carries.  Slow its vCPUs a step more. */
		if (!m->p.no_auto_converge && round >= 2 && e.remaining * 10 > prev_remaining * 8) {
			throttle = throttle ? MIN(throttle + MIG_THROTTLE_STEP, MIG_THROTTLE_MAX) : MIG_THROTTLE_FIRST;
			mig_throttle_set(m, throttle);
			pr_debug("migration: auto-converge: vCPUs throttled to %u %%", throttle);
		}
		prev_remaining = e.remaining;
	}
}

/* Every section of the VM (paused), as one stream; the save and the send timed apart. */
static int mig_send_state(struct migration *m, struct migrate_phases *ph)
{
	struct state_registry reg;
	uint32_t fmt = STATE_MEM_STREAM;
	struct sbuf out;
	struct state_sink sink = { state_sbuf_write, &out };
	uint64_t t = now_ns();
	int r;

	state_registry_init(&reg);
	sbuf_init(&out);
	r = state_vm_register(m->vm, &reg, &fmt);
	if (!r)
		r = state_save_all(&reg, &sink);
	if (!r)
		r = out.err;
	state_registry_free(&reg);
	ph->save_ns = now_ns() - t;
	if (r) {
		mig_error(m, "saving the VM state: %s", strerror(-r));
	} else {
		t = now_ns();
		r = mig_send(&m->conn, MIG_STATE, out.data, out.len);
		ph->state_send_ns = now_ns() - t;
	}
	sbuf_free(&out);
	return r;
}

static void mig_commit_cb(struct migration *m, void *arg)
{
	m->committed = *(bool *)arg;
}

static void mig_downtime_cb(struct migration *m, void *arg)
{
	const struct migrate_stats *d = arg;

	m->st.downtime_ns = d->downtime_ns;
	m->st.sent_ns = d->sent_ns;
	m->st.target_downtime_ns = d->target_downtime_ns;
	m->st.phases = d->phases;
}

/* The last dirty pages: the guest is paused, so what is read now is final. */
static int mig_last_pages(struct migration *m, struct mig_round_ctx *rc, struct migrate_phases *ph)
{
	struct mig_round_end e = { .round = m->st.round + 1 };
	uint64_t t = now_ns();
	int r = mig_dirty_sync(&m->dirty);

	if (r)
		return r;
	mig_dirty_add_devices(&m->dirty);
	e.h.pages = mig_dirty_count(&m->dirty);
	ph->harvest_ns = now_ns() - t;
	t = now_ns();
	r = mig_send_dirty(m, rc);
	ph->pages_ns = now_ns() - t;
	e.h.bytes = m->conn.bytes_out - rc->bytes0;
	e.h.ns = now_ns() - rc->t0;
	mig_update(m, mig_round_end_cb, &e);
	return r;
}

/* Ready, go, done: the handover.  d gets the downtimes as the source sees them. */
static int mig_handover(struct migration *m, uint64_t t_pause, struct migrate_stats *d)
{
	struct migrate_phases *ph = &d->phases;
	struct sbuf in;
	uint64_t t = now_ns();
	int r;

	r = mig_expect(m, MIG_READY, MIG_READY_TIMEOUT_MS, &in, "while loading the state");
	if (r)
		return r;
	if (mig_cancelled(m))
		return -ECANCELED;
	ph->ready_ns = now_ns() - t;
	/*
	 * The point of no return: from here on the guest belongs to the target.
	 * A go that could not be written (16 bytes go whole or not at all) never
	 * reached it: the guest is still ours.
	 */
	mig_update(m, mig_commit_cb, &(bool){ true });
	t = now_ns();
	r = mig_send(&m->conn, MIG_GO, NULL, 0);
	if (r) {
		mig_update(m, mig_commit_cb, &(bool){ false });
		mig_error(m, "the connection broke before the handover: %s", strerror(-r));
		return r;
	}
	r = mig_expect(m, MIG_DONE, MIG_READY_TIMEOUT_MS, &in, "after the handover");
	if (r)
		return r;
	/* Stamped here: what follows (dirty logging off, the report) happens while the target runs the guest. */
	d->downtime_ns = now_ns() - t_pause;
	ph->handover_ns = now_ns() - t;
	d->target_downtime_ns = sbuf_get_u64(&in);
	ph->target_load_ns = sbuf_get_u64(&in);
	ph->target_wake_ns = sbuf_get_u64(&in);
	if (in.err) /* a target that tells only its downtime */
		ph->target_load_ns = ph->target_wake_ns = 0;
	return 0;
}

static void mig_log_phases(const struct migrate_stats *d)
{
	const struct migrate_phases *p = &d->phases;

	pr_debug("migration: downtime %.2f ms (QEMU's definition, until the state was sent: %.2f ms): pause %.2f, "
		 "dirty harvest %.2f, last pages %.2f, state save %.2f, state send %.2f, until ready %.2f "
		 "(target load %.2f), go to done %.2f (target wake-up %.2f)",
		 d->downtime_ns / 1e6, d->sent_ns / 1e6, p->pause_ns / 1e6, p->harvest_ns / 1e6, p->pages_ns / 1e6,
		 p->save_ns / 1e6, p->state_send_ns / 1e6, p->ready_ns / 1e6, p->target_load_ns / 1e6,
		 p->handover_ns / 1e6, p->target_wake_ns / 1e6);
}

/* Pause, the last pages and the state, then the handover. */
static int mig_stop_and_copy(struct migration *m, bool memfd, uint64_t *t_pause)
{
	struct mig_round_ctx rc = { .bytes0 = m->conn.bytes_out };
	struct migrate_stats *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	mig_throttle_end(m);
	mig_set_status(m, MIGRATE_STOP_COPY);
	*t_pause = rc.t0 = now_ns();
	if (vm_get_state(m->vm) == VM_RUNNING) {
		r = vm_pause(m->vm);
		if (r) {
			mig_error(m, "cannot pause the VM: %s", strerror(-r));
			goto out;
		}
		m->paused_by_us = true;
	}
	d->phases.pause_ns = now_ns() - *t_pause;
	r = mig_send(&m->conn, MIG_STOPCOPY, NULL, 0);
	if (!r && !memfd)
		r = mig_last_pages(m, &rc, &d->phases);
	if (!r)
		r = mig_send_state(m, &d->phases);
	if (r)
		goto out;
	d->sent_ns = now_ns() - *t_pause;
	r = mig_handover(m, *t_pause, d);
	if (!r) {
		mig_update(m, mig_downtime_cb, d);
		mig_log_phases(d);
	}
out:
	free(d);
	return r;
}

/*
 * A send failed: the target usually said why before it closed (a refusal,
 * a failed load); that beats "connection lost" as the reason to report.
 */
static void mig_peer_reason(struct migration *m)
{
	unsigned type;
	struct sbuf in;

	if (m->conn.fd < 0 || mig_cancelled(m))
		return;
	mig_set_timeout(&m->conn, 200);
	/* Page frames and the like may still be queued towards us only from a broken peer: look at a few. */
	for (int i = 0; i < 4 && !mig_recv(&m->conn, &type, &in); i++) {
		if (type == MIG_ERROR || type == MIG_REFUSE) {
			mig_peer_error(m, type, &in, "meanwhile");
			break;
		}
	}
}

static int mig_run(struct migration *m, uint64_t *t_pause)
{
	struct vm *vm = m->vm;
	bool offer_memfd = !m->p.no_fd_passing && !strncmp(m->p.dest, "unix:", 5) && vm->mem.fd >= 0 &&
			   !vm->cfg.mem_file;
	int memfd, r;

	r = mig_check_vm(m);
	if (r)
		return r;
	r = mig_connect(m->p.dest, &m->conn);
	if (r) {
		mig_error(m, "cannot connect to %s: %s", m->p.dest, strerror(-r));
		return r;
	}
	pthread_mutex_lock(&m->lock);
	m->sock = m->conn.fd;
	pthread_mutex_unlock(&m->lock);
	if (mig_cancelled(m))
		return -ECANCELED;
	memfd = mig_negotiate(m, offer_memfd);
	if (memfd < 0)
		return memfd;
	pthread_mutex_lock(&m->lock);
	m->st.setup_ns = now_ns() - m->t_start;
	m->st.status = MIGRATE_ACTIVE;
	m->st.fd_passed = memfd;
	pthread_mutex_unlock(&m->lock);
	if (memfd) {
		struct sbuf b;

		sbuf_init(&b);
		sbuf_put_u64(&b, vm->mem.size);
		r = b.err ? b.err : mig_send_fd(&m->conn, MIG_MEMFD, b.data, b.len, vm->mem.fd);
		sbuf_free(&b);
	} else {
		r = mig_dirty_start(&m->dirty, vm);
		if (r)
			mig_error(m, "cannot start dirty-page logging: %s", strerror(-r));
		else
			r = mig_rounds(m);
	}
	if (!r)
		r = mig_stop_and_copy(m, memfd, t_pause);
	return r;
}

static void mig_report(struct migration *m)
{
	const struct migrate_stats *s = &m->st;

	pr_info("migration to %s completed: %.1f ms total, downtime %.2f ms (target %.2f ms, until sent %.2f ms), "
		"%u rounds, %.1f MiB sent, %llu pages (%llu zero)%s",
		s->dest, s->total_ns / 1e6, s->downtime_ns / 1e6, s->target_downtime_ns / 1e6, s->sent_ns / 1e6, s->round,
		s->bytes / (double)MiB, (unsigned long long)s->pages, (unsigned long long)s->zero_pages,
		s->fd_passed ? ", memory passed as a memfd" : "");
}

/* After success: kite migrate reads the report before this process goes. */
static void mig_linger(struct migration *m)
{
	for (unsigned ms = 0; ms < MIG_REPORT_LINGER_MS; ms += 10) {
		bool read;

		pthread_mutex_lock(&m->lock);
		read = m->report_read;
		pthread_mutex_unlock(&m->lock);
		if (read || mig_cancelled(m))
			break;
		usleep(10000);
	}
}

static void *mig_thread(void *arg)
{
	struct migration *m = arg;
	uint64_t t0 = m->t_start, t_pause = 0, t_stop;
	int r;

	r = mig_run(m, &t_pause);
	if (r && !m->st.error[0])
		mig_peer_reason(m);
	t_stop = now_ns();
	mig_throttle_end(m);
	mig_dirty_stop(&m->dirty);
	/* After done this no longer counts as downtime (it used to: ~1-4 ms of slot updates under load). */
	pr_debug("migration: dirty logging off in %.2f ms", (now_ns() - t_stop) / 1e6);
	pthread_mutex_lock(&m->lock);
	m->st.bytes = m->conn.bytes_out;
	m->st.total_ns = now_ns() - t0;
	if (t_pause && !m->st.downtime_ns) /* a failure after the pause: until the guest is given back */
		m->st.downtime_ns = now_ns() - t_pause;
	if (!r) {
		m->st.status = MIGRATE_COMPLETED;
	} else if (m->committed) {
		/* The target may run the guest or may not: never run a second copy. */
		m->st.status = MIGRATE_FAILED;
		m->st.guest_paused = true;
		snprintf(m->st.error + strlen(m->st.error), sizeof(m->st.error) - strlen(m->st.error),
			 "%s(the target got \"go\" but did not confirm: the guest stays paused here; check the target, "
			 "or kite resume this VM if it does not run there)", m->st.error[0] ? " " : "");
	} else {
		m->st.status = mig_cancelled(m) ? MIGRATE_CANCELLED : MIGRATE_FAILED;
		if (!m->st.error[0])
			snprintf(m->st.error, sizeof(m->st.error), "%s",
				 mig_cancelled(m) ? "cancelled" : r == -ECONNRESET || r == -EPIPE ? "connection lost" : strerror(-r));
	}
	m->sock = -1;
	pthread_mutex_unlock(&m->lock);
	if (r && !m->committed) {
		/* Tell the target why (it discards what it has) and give the guest back. */
		if (m->conn.fd >= 0)
			mig_send_error(&m->conn, "%s", m->st.error);
		if (m->paused_by_us)
			vm_resume(m->vm);
		pr_err("migration to %s %s: %s; the VM runs on here", m->p.dest,
		       m->st.status == MIGRATE_CANCELLED ? "cancelled" : "failed", m->st.error);
	} else if (r) {
		pr_err("migration to %s: %s", m->p.dest, m->st.error);
	}
	mig_conn_close(&m->conn);
	if (!r) {
		mig_report(m);
		mig_linger(m);
		char detail[MIGRATE_DEST_MAX + 16];

		snprintf(detail, sizeof(detail), "migrated to %s", m->p.dest);
		vm_request_stop(m->vm, STOP_USER, 0, detail);
	}
	pthread_mutex_lock(&m->lock);
	m->finished = true;
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

static void mig_free(struct migration *m)
{
	pthread_join(m->thread, NULL);
	mig_dirty_release(&m->dirty);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int migrate_start(struct vm *vm, const struct migrate_params *p)
{
	struct migration *m = vm->migration;
	enum vm_state s = vm_get_state(vm);
	int r;

	if (m && migrate_active(vm))
		return -EBUSY;
	if (s != VM_RUNNING && s != VM_PAUSED)
		return -EINVAL;
	if (migrate_parse_addr(p->dest))
		return -EINVAL;
	if (m) {
		mig_free(m);
		vm->migration = NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->vm = vm;
	m->p = *p;
	m->sock = -1;
	m->conn.fd = m->conn.rx_fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	m->st.status = MIGRATE_SETUP;
	m->st.mem_bytes = vm->mem.size;
	m->t_start = now_ns();
	snprintf(m->st.dest, sizeof(m->st.dest), "%s", p->dest);
	r = pthread_create(&m->thread, NULL, mig_thread, m);
	if (r) {
		pthread_mutex_destroy(&m->lock);
		free(m);
		return -r;
	}
	vm->migration = m;
	pr_info("migration to %s started", p->dest);
	return 0;
}

int migrate_cancel(struct vm *vm)
{
	struct migration *m = vm->migration;
	int r = 0;

	if (!m || !migrate_active(vm))
		return -ENOENT;
	pthread_mutex_lock(&m->lock);
	if (m->committed || m->st.status == MIGRATE_COMPLETED) {
		r = -EALREADY;
	} else {
		__atomic_store_n(&m->cancel, true, __ATOMIC_RELEASE);
		/* Wakes a sender blocked in send or receive; it sees the flag and resumes the guest. */
		if (m->sock >= 0)
			shutdown(m->sock, SHUT_RDWR);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int migrate_get_stats(struct vm *vm, struct migrate_stats *out)
{
	struct migration *m = vm->migration;

	if (!m)
		return -ENOENT;
	pthread_mutex_lock(&m->lock);
	*out = m->st;
	if (out->status == MIGRATE_SETUP || out->status == MIGRATE_ACTIVE || out->status == MIGRATE_STOP_COPY)
		out->total_ns = now_ns() - m->t_start;
	else
		m->report_read = true;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

bool migrate_active(struct vm *vm)
{
	struct migration *m = vm->migration;
	bool active;

	if (!m)
		return false;
	pthread_mutex_lock(&m->lock);
	active = m->st.status == MIGRATE_SETUP || m->st.status == MIGRATE_ACTIVE || m->st.status == MIGRATE_STOP_COPY;
	pthread_mutex_unlock(&m->lock);
	return active;
}

void migrate_cleanup(struct vm *vm)
{
	struct migration *m = vm->migration;

	if (!m)
		return;
	/* The VM has stopped: whatever the sender waits for, it waits no more. */
	pthread_mutex_lock(&m->lock);
	__atomic_store_n(&m->cancel, true, __ATOMIC_RELEASE);
	if (m->sock >= 0)
		shutdown(m->sock, SHUT_RDWR);
	pthread_mutex_unlock(&m->lock);
	mig_free(m);
	vm->migration = NULL;
}
