// SPDX-License-Identifier: MIT
/*
 * The target side: one migration, accepted on a listening socket.  Every
 * frame is untrusted: the configuration passes the same checks as a
 * snapshot's, page indices are bounds-checked against the RAM this side
 * created, the state stream is checked whole before anything loads.  The
 * guest runs only after the source's "go"; anything else discards the VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <kite/event.h>
#include <kite/log.h>
#include <kite/migrate.h>
#include <kite/migrate_proto.h>
#include <kite/state.h>
#include <kite/util.h>
#include <kite/vm.h>

#define MIG_GO_TIMEOUT_MS 30000

struct migrate_target {
	struct mig_conn conn;
	struct state_vm_info info; /* the strings vm->cfg points to */
	struct migrate_stats st;
	uint64_t t_start, t_stopcopy;
	uint64_t load_ns;          /* the state frame read until ready written */
	uint64_t t_ready, t_go;    /* ready written; the go frame began to arrive */
	char mem_path[32];         /* /proc/self/fd/N of a passed memfd */
	unsigned long *written;    /* pages that hold data (mig_pages_apply) */
	/* After ready: waiting for go on the VM's event loop. */
	struct vm *vm;
	struct event_timer *go_timer;
	void (*on_run)(void *opaque);
	void *opaque;
	int memfd;
};

static int mig_recv_hello(struct migrate_target *t, uint32_t *features)
{
	unsigned type;
	struct sbuf in;
	uint32_t major, page;
	char *ver = NULL, *arch = NULL;
	int r;

	r = mig_recv(&t->conn, &type, &in);
	if (r)
		return r;
	if (type != MIG_HELLO) {
		pr_err("migration: expected a hello, got a '%s' frame", mig_type_name(type));
		return -EPROTO;
	}
	major = sbuf_get_u32(&in);
	sbuf_get_u32(&in);
	ver = sbuf_get_str(&in, 64);
	arch = sbuf_get_str(&in, 64);
	page = sbuf_get_u32(&in);
	*features = sbuf_get_u32(&in);
	r = 0;
	if (in.err) {
		pr_err("migration: malformed hello");
		r = -EPROTO;
	} else if (major != MIG_PROTO_MAJOR || !arch || strcmp(arch, STATE_ARCH) || page != MIG_PAGE) {
		pr_err("migration: the source speaks protocol %u on %s with %u-byte pages (kite %s); this is %u on %s",
		       major, arch ? arch : "?", page, ver ? ver : "?", MIG_PROTO_MAJOR, STATE_ARCH);
		mig_send_error(&t->conn, "protocol %u on %s is not spoken here (kite %s: protocol %u on %s)", major,
			       arch ? arch : "?", KITE_VERSION, MIG_PROTO_MAJOR, STATE_ARCH);
		r = -EPROTO;
	} else {
		pr_info("migration: source kite %s", ver ? ver : "?");
	}
	free(ver);
	free(arch);
	return r;
}

static void mig_refuse(struct migrate_target *t, const char *why)
{
	struct sbuf b;

	pr_err("migration refused: %s", why);
	sbuf_init(&b);
	sbuf_put_str(&b, why);
	if (!b.err)
		mig_send(&t->conn, MIG_REFUSE, b.data, b.len);
	sbuf_free(&b);
}

/* What this host cannot give the VM: a disk path that is not here, more RAM than the host has. */
static int mig_host_check(const struct vm_config *cfg, char *why, unsigned len)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	for (unsigned i = 0; i < cfg->ndisks; i++) {
		int mode = cfg->disks[i].readonly ? R_OK : R_OK | W_OK;

		int fd;

		if (access(cfg->disks[i].path, mode) < 0) {
			snprintf(why, len, "disk %u: %s: %s", i, cfg->disks[i].path, strerror(errno));
			return -ENOENT;
		}
		/* The disk backend locks its image (exclusive when writable): say so before anything is sent. */
		fd = open(cfg->disks[i].path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && flock(fd, (cfg->disks[i].readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
			snprintf(why, len, "disk %u: %s is locked by another process (a writable disk cannot be shared "
				 "on one host; use ,ro on both sides)", i, cfg->disks[i].path);
			close(fd);
			return -EBUSY;
		}
		if (fd >= 0)
			close(fd);
	}
	if (pages > 0 && psize > 0 && cfg->mem_size > (uint64_t)pages * psize) {
		snprintf(why, len, "%llu MiB of guest RAM is more than this host has (%llu MiB)",
			 (unsigned long long)(cfg->mem_size >> 20), (unsigned long long)((uint64_t)pages * psize >> 20));
		return -ENOMEM;
	}
	return 0;
}

static int mig_recv_config(struct migrate_target *t, const struct migrate_incoming *in, migrate_cfg_check_fn check,
			   void *opaque, struct vm_config *cfg)
{
	struct state_mem_source ms;
	struct state_source src = { state_mem_read, &ms };
	struct state_file f = { 0 };
	char why[240] = "";
	unsigned type;
	struct sbuf b;
	int r;

	r = mig_recv(&t->conn, &type, &b);
	if (r)
		return r;
	if (type != MIG_CONFIG) {
		pr_err("migration: expected the configuration, got a '%s' frame", mig_type_name(type));
		return -EPROTO;
	}
	ms = (struct state_mem_source){ b.data, b.len, 0 };
	r = state_read_file(&src, "the source's configuration", &f);
	if (!r)
		r = state_vm_info(&f, &t->info);
	state_file_free(&f);
	if (r) {
		mig_refuse(t, "the configuration is malformed or of another format version");
		return r;
	}
	*cfg = t->info.cfg;
	if (in->name)
		snprintf(cfg->name, sizeof(cfg->name), "%s", in->name);
	cfg->serial = in->serial;
	cfg->api_path = in->api_path;
	cfg->incoming = true;
	cfg->mem_file = NULL;
	r = mig_host_check(cfg, why, sizeof(why));
	if (!r && check)
		r = check(opaque, cfg, why, sizeof(why));
	if (r) {
		mig_refuse(t, why[0] ? why : strerror(-r));
		return r;
	}
	pr_info("migration: %s, %u vCPUs, %llu MiB, %u disks", cfg->name, cfg->ncpus,
		(unsigned long long)(cfg->mem_size >> 20), cfg->ndisks);
	return 0;
}

/* Creates the VM, refusing the configuration when that fails (a disk in use, too little memory...). */
static int mig_create(struct migrate_target *t, struct vm *vm, struct vm_config *cfg, bool refuse)
{
	char why[200];
	int r = vm_create(vm, cfg);

	if (!r)
		return 0;
	snprintf(why, sizeof(why), "cannot create the VM: %s (the target's log says more)", strerror(-r));
	if (refuse)
		mig_refuse(t, why);
	else
		mig_send_error(&t->conn, "%s", why);
	return r;
}

/* ACCEPT once the VM exists; with a passed memfd the VM is made from it afterwards. */
static int mig_accept_config(struct migrate_target *t, uint32_t features, struct vm *vm, struct vm_config *cfg)
{
	uint32_t take = 0;
	unsigned type;
	struct sbuf b;
	int r;

	if ((features & MIG_F_MEMFD) && t->conn.is_unix)
		take |= MIG_F_MEMFD;
	if (!take && (r = mig_create(t, vm, cfg, true)))
		return r;
	sbuf_init(&b);
	sbuf_put_u32(&b, take);
	r = b.err ? b.err : mig_send(&t->conn, MIG_ACCEPT, b.data, b.len);
	sbuf_free(&b);
	if (r && !take)
		vm_destroy(vm);
	if (r || !(take & MIG_F_MEMFD))
		return r;
	/* The source's RAM itself: mapped privately, so nothing here writes it before "go". */
	r = mig_recv(&t->conn, &type, &b);
	if (r)
		return r;
	if (type != MIG_MEMFD || t->conn.rx_fd < 0 || sbuf_get_u64(&b) != cfg->mem_size) {
		pr_err("migration: expected the memory fd of %llu bytes", (unsigned long long)cfg->mem_size);
		return -EPROTO;
	}
	t->memfd = t->conn.rx_fd;
	t->conn.rx_fd = -1;
	snprintf(t->mem_path, sizeof(t->mem_path), "/proc/self/fd/%d", t->memfd);
	cfg->mem_file = t->mem_path;
	t->st.fd_passed = true;
	return mig_create(t, vm, cfg, false);
}

static int mig_load_state(struct migrate_target *t, struct vm *vm, struct sbuf *b)
{
	struct state_mem_source ms = { b->data, b->len, 0 };
	struct state_source src = { state_mem_read, &ms };
	struct state_registry reg;
	struct state_file f = { 0 };
	uint32_t fmt = STATE_MEM_STREAM;
	int r;

	r = state_read_file(&src, "the source's state", &f);
	state_registry_init(&reg);
	if (!r)
		r = state_vm_register(vm, &reg, &fmt);
	if (!r)
		r = state_load_all(&reg, &f, NULL);
	state_registry_free(&reg);
	state_file_free(&f);
	if (r)
		return r;
	for (unsigned i = 0; i < vm->ncpus; i++)
		kvm_kvmclock_ctrl(vm->vcpus[i].fd);
	return 0;
}

/* The state frame: load it, say ready. */
static int mig_state_ready(struct migrate_target *t, struct vm *vm, struct sbuf *b)
{
	uint64_t t0 = now_ns(), t1;
	int r = mig_load_state(t, vm, b);

	if (r) {
		mig_send_error(&t->conn, "loading the state: %s (see the target's log)", strerror(-r));
		return r;
	}
	t1 = now_ns();
	r = mig_send(&t->conn, MIG_READY, NULL, 0);
	t->t_ready = now_ns();
	t->load_ns = t->t_ready - t0;
	pr_debug("migration: stop-copy to state read %.2f ms, state loaded in %.2f ms, ready written in %.2f ms",
		 t->t_stopcopy ? (t0 - t->t_stopcopy) / 1e6 : 0.0, (t1 - t0) / 1e6, (now_ns() - t1) / 1e6);
	return r;
}

/* Frames until the state is loaded and the target said ready. */
static int mig_recv_stream(struct migrate_target *t, struct vm *vm)
{
	uint64_t npages = vm->mem.size / MIG_PAGE;

	t->written = calloc(ALIGN_UP(npages, 64) / 8, 1);
	if (!t->written)
		return -ENOMEM;
	for (;;) {
		unsigned type;
		struct sbuf b;
		char *why;
		int r = mig_recv(&t->conn, &type, &b);

		if (r) {
			pr_err("migration: %s", r == -ECONNRESET ? "the source closed the connection" : strerror(-r));
			return r;
		}
		switch (type) {
		case MIG_PAGES:
			if (t->st.fd_passed || mig_pages_apply(&b, vm->mem.base, npages, &t->st.pages, t->written)) {
				pr_err("migration: a malformed page batch");
				mig_send_error(&t->conn, "malformed page batch");
				return -EPROTO;
			}
			break;
		case MIG_ROUND:
			t->st.round = sbuf_get_u32(&b);
			break;
		case MIG_STOPCOPY:
			t->t_stopcopy = now_ns();
			break;
		case MIG_STATE:
			return mig_state_ready(t, vm, &b);
		case MIG_ERROR:
			why = sbuf_get_str(&b, 240);
			pr_err("migration: the source ended it: %s", why ? why : "(no reason)");
			free(why);
			return -ECANCELED;
		default:
			pr_err("migration: unexpected '%s' frame", mig_type_name(type));
			mig_send_error(&t->conn, "unexpected '%s' frame", mig_type_name(type));
			return -EPROTO;
		}
	}
}

static void mig_target_free(struct migrate_target *t)
{
	mig_conn_close(&t->conn);
	if (t->memfd >= 0)
		close(t->memfd);
	state_vm_info_free(&t->info);
	free(t->written);
	free(t);
}

static int mig_wait_source(const struct migrate_incoming *in, struct migrate_target *t)
{
	int lfd = mig_listen(in->addr), r;

	if (lfd < 0)
		return lfd;
	pr_info("waiting for a migration on %s", in->addr);
	r = mig_accept(lfd, &t->conn);
	close(lfd);
	if (!strncmp(in->addr, "unix:", 5))
		unlink(in->addr + 5);
	if (r)
		pr_err("migration: accept on %s: %s", in->addr, strerror(-r));
	return r;
}

int migrate_receive(struct vm *vm, const struct migrate_incoming *in, migrate_cfg_check_fn check, void *opaque,
		    struct migrate_target **out)
{
	struct migrate_target *t = calloc(1, sizeof(*t));
	struct vm_config cfg;
	uint32_t features = 0;
	bool created = false;
	int r;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->conn.fd = t->conn.rx_fd = t->memfd = -1;
	r = mig_wait_source(in, t);
	if (r)
		goto fail;
	t->t_start = now_ns();
	r = mig_recv_hello(t, &features);
	if (!r)
		r = mig_recv_config(t, in, check, opaque, &cfg);
	if (!r)
		r = mig_accept_config(t, features, vm, &cfg);
	if (r)
		goto fail;
	created = true;
	if (in->created && (r = in->created(opaque, vm))) {
		mig_send_error(&t->conn, "the target could not prepare the VM: %s", strerror(-r));
		goto fail;
	}
	/* Threads made and parked now, while pages arrive: waiting for them after ready cost 0.1-12 ms of downtime. */
	r = vm_start_vcpus_parked(vm);
	if (r) {
		mig_send_error(&t->conn, "the target could not start the vCPU threads: %s", strerror(-r));
		goto fail;
	}
	r = mig_recv_stream(t, vm);
	if (r)
		goto fail;
	t->st.status = MIGRATE_COMPLETED;
	t->st.mem_bytes = vm->mem.size;
	t->st.bytes = t->conn.bytes_in;
	*out = t;
	return 0;
fail:
	if (created) {
		vm_stop_vcpus(vm, "the migration failed");
		vm_destroy(vm);
	}
	pr_err("migration failed; nothing of it is kept here");
	mig_target_free(t);
	return r ? r : -EPROTO;
}

/* The guest runs here from now on: resume it, confirm, let the caller serve it. */
static void mig_target_go(struct migrate_target *t)
{
	uint64_t down, wake;
	struct sbuf b;

	vm_resume(t->vm);
	down = t->t_stopcopy ? now_ns() - t->t_stopcopy : 0;
	wake = now_ns() - t->t_go;
	t->st.target_downtime_ns = down;
	t->st.total_ns = now_ns() - t->t_start;
	sbuf_init(&b);
	sbuf_put_u64(&b, down);
	sbuf_put_u64(&b, t->load_ns);
	sbuf_put_u64(&b, wake);
	if (!b.err && mig_send(&t->conn, MIG_DONE, b.data, b.len))
		pr_warn("migration: the source did not get the confirmation (the guest runs here)");
	sbuf_free(&b);
	pr_debug("migration: go read %.2f ms after ready, vCPUs resumed %.2f ms after go, done written %.2f ms after go",
		 (t->t_go - t->t_ready) / 1e6, wake / 1e6, (now_ns() - t->t_go) / 1e6);
	pr_info("migration: the guest runs here (%.1f ms downtime seen from the target, %.1f MiB received, %u rounds)",
		down / 1e6, t->st.bytes / (double)MiB, t->st.round);
	if (t->on_run)
		t->on_run(t->opaque);
}

static void mig_target_disarm(struct migrate_target *t)
{
	event_timer_free(t->go_timer);
	t->go_timer = NULL;
	if (t->conn.fd >= 0) {
		event_loop_del(t->vm->loop, t->conn.fd);
		mig_conn_close(&t->conn);
	}
}

static void mig_target_abort(struct migrate_target *t, const char *why)
{
	pr_err("migration: %s; the guest never ran here", why);
	mig_target_disarm(t);
	vm_request_stop(t->vm, STOP_FAILURE, 0, "the migration ended before the handover");
}

static void mig_target_on_frame(void *opaque, uint32_t events)
{
	struct migrate_target *t = opaque;
	char msg[300], *why;
	unsigned type;
	struct sbuf b;
	int r;

	t->t_go = now_ns();
	mig_set_timeout(&t->conn, 1000); /* the rest of a frame that has begun */
	r = mig_recv(&t->conn, &type, &b);
	if (!r && type == MIG_GO) {
		mig_target_go(t);
		mig_target_disarm(t);
		return;
	}
	if (!r && type == MIG_ERROR && (why = sbuf_get_str(&b, 240))) {
		snprintf(msg, sizeof(msg), "the source ended it before the handover: %s", why);
		free(why);
	} else {
		snprintf(msg, sizeof(msg), "no go from the source: %s",
			 r == -ECONNRESET ? "it closed the connection" : r ? strerror(-r) : mig_type_name(type));
	}
	mig_target_abort(t, msg);
}

static void mig_target_go_timeout(void *opaque)
{
	mig_target_abort(opaque, "no go from the source within 30 s");
}

int migrate_target_arm(struct migrate_target *t, struct vm *vm, void (*on_run)(void *opaque), void *opaque)
{
	int r;

	t->vm = vm;
	t->on_run = on_run;
	t->opaque = opaque;
	t->go_timer = event_timer_new(vm->loop, MIG_GO_TIMEOUT_MS * 1000000ull, 0, mig_target_go_timeout, t);
	r = event_loop_add(vm->loop, t->conn.fd, EPOLLIN, mig_target_on_frame, t);
	if (!t->go_timer || r < 0) {
		event_timer_free(t->go_timer);
		t->go_timer = NULL;
		return r < 0 ? r : -ENOMEM;
	}
	return 0;
}

void migrate_target_stats(const struct migrate_target *t, struct migrate_stats *out)
{
	*out = t->st;
}

void migrate_target_free(struct migrate_target *t)
{
	if (t)
		mig_target_free(t);
}
