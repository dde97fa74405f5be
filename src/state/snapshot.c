// SPDX-License-Identifier: MIT
/*
 * kite snapshot: pause, write the state and the memory into temporary names,
 * fsync, rename into place, resume.  Either the whole snapshot appears under
 * its final name or nothing does, and the VM runs on in both cases.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <kite/log.h>
#include <kite/state.h>
#include <kite/util.h>
#include <kite/vm.h>

#define PAGE         4096ul
#define CHUNK        (2ul << 20) /* pages examined per step */
#define ZLIB_OUT     (256ul << 10)

struct snap_paths {
	char tmpdir[PATH_MAX]; /* "" for the two-file form */
	char state_tmp[PATH_MAX + 16], mem_tmp[PATH_MAX + 16];
	char state_final[PATH_MAX + 16], mem_final[PATH_MAX + 16];
};

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (unsigned i = 0; i < PAGE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}

/*
 * Pages of anonymous guest RAM that were never touched are not resident
 * (mincore) and read as zero; asking saves faulting them in just to find
 * zeros.  Only valid without swap (a swapped-out page is not resident either)
 * and for anonymous RAM (a file mapping's absent pages hold file data); a
 * memfd tells its holes itself.  NULL: look at every page.
 */
/* RAM in a memfd (--mem-shared): its holes, which SEEK_DATA skips, read as zero; swapped pages are data. */
static unsigned char *snap_memfd_extents(struct vm *vm)
{
	uint64_t pages = vm->mem.size / PAGE;
	unsigned char *vec = calloc(1, pages);
	off_t pos = 0, size = vm->mem.size;

	while (vec && pos < size) {
		off_t data = lseek(vm->mem.fd, pos, SEEK_DATA), hole;

		if (data < 0)
			break; /* ENXIO: no data after pos */
		hole = lseek(vm->mem.fd, data, SEEK_HOLE);
		if (hole < 0)
			hole = size;
		hole = MIN(hole, size);
		memset(vec + data / PAGE, 1, (ALIGN_UP((uint64_t)hole, PAGE) - ALIGN_DOWN((uint64_t)data, PAGE)) / PAGE);
		pos = hole;
	}
	return vec;
}

static unsigned char *snap_residency(struct vm *vm)
{
	uint64_t pages = vm->mem.size / PAGE;
	unsigned char *vec;
	char line[256];
	int nlines = 0;
	FILE *f;

	if (vm->mem.fd >= 0 && !vm->cfg.mem_file)
		return snap_memfd_extents(vm);
	if (vm->mem.fd >= 0)
		return NULL;
	f = fopen("/proc/swaps", "re");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f))
		nlines++;
	fclose(f);
	if (nlines > 1)
		return NULL;
	vec = malloc(pages);
	if (vec && mincore(vm->mem.base, vm->mem.size, vec) < 0) {
		free(vec);
		return NULL;
	}
	return vec;
}

static bool snap_page_has_data(struct vm *vm, const unsigned char *res, uint64_t page)
{
	if (res && !(res[page] & 1))
		return false;
	return !page_is_zero(vm->mem.base + page * PAGE);
}

static void snap_progress(const struct snapshot_opts *o, uint64_t done, uint64_t size, unsigned *next)
{
	if (!o->progress || size < 512 * MiB || done * 4 < (uint64_t)*next * size)
		return;
	pr_info("snapshot: memory %llu%% (%llu of %llu MiB)", (unsigned long long)(done * 100 / size),
		(unsigned long long)(done >> 20), (unsigned long long)(size >> 20));
	(*next)++;
}

/* Raw RAM with holes for zero pages: runs of data pages are written where they belong. */
static int snap_write_raw(struct vm *vm, int fd, const struct snapshot_opts *o)
{
	uint64_t pages = vm->mem.size / PAGE, p = 0;
	unsigned char *res = snap_residency(vm);
	unsigned next = 1;
	int r = 0;

	while (p < pages && !r) {
		uint64_t start, end;

		while (p < pages && !snap_page_has_data(vm, res, p))
			p++;
		start = p;
		while (p < pages && p - start < CHUNK / PAGE && snap_page_has_data(vm, res, p))
			p++;
		end = p;
		if (end > start) {
			ssize_t n = pwrite(fd, vm->mem.base + start * PAGE, (end - start) * PAGE, start * PAGE);

			if (n < 0)
				r = -errno;
			else if ((uint64_t)n != (end - start) * PAGE)
				r = -ENOSPC;
			/* A short write is retried by the next loop turn only in theory; treat it as full. */
		}
		snap_progress(o, p * PAGE, vm->mem.size, &next);
	}
	free(res);
	if (!r && ftruncate(fd, vm->mem.size) < 0)
		r = -errno;
	return r;
}

static int snap_deflate_out(z_stream *z, int fd, uint8_t *out, int flush)
{
	do {
		int zr;

		z->next_out = out;
		z->avail_out = ZLIB_OUT;
		zr = deflate(z, flush);
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		if (ZLIB_OUT - z->avail_out) {
			int r = write_full(fd, out, ZLIB_OUT - z->avail_out);

			if (r)
				return r;
		}
	} while (z->avail_out == 0);
	return 0;
}

/* One zlib stream of the RAM; untouched pages go in as zeros without being faulted in. */
static int snap_write_zlib(struct vm *vm, int fd, const struct snapshot_opts *o)
{
	static const uint8_t zero[PAGE];
	uint64_t pages = vm->mem.size / PAGE;
	unsigned char *res = snap_residency(vm);
	uint8_t *out = malloc(ZLIB_OUT);
	z_stream z = { 0 };
	unsigned next = 1;
	int r = 0;

	if (!out || deflateInit(&z, Z_BEST_SPEED) != Z_OK) {
		free(out);
		free(res);
		return -ENOMEM;
	}
	for (uint64_t p = 0; p < pages && !r; p++) {
		z.next_in = (Bytef *)((res && !(res[p] & 1)) ? zero : vm->mem.base + p * PAGE);
		z.avail_in = PAGE;
		r = snap_deflate_out(&z, fd, out, Z_NO_FLUSH);
		if (!(p % (CHUNK / PAGE)))
			snap_progress(o, p * PAGE, vm->mem.size, &next);
	}
	if (!r)
		r = snap_deflate_out(&z, fd, out, Z_FINISH);
	deflateEnd(&z);
	free(out);
	free(res);
	return r;
}

static int snap_fsync_dir(const char *path)
{
	char buf[PATH_MAX];
	int fd, r = 0;

	snprintf(buf, sizeof(buf), "%s", path);
	fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int snap_write_memory(struct vm *vm, const struct snap_paths *sp, const struct snapshot_opts *o)
{
	int fd = open(sp->mem_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444), r;

	if (fd < 0) {
		r = -errno;
		pr_err("snapshot: %s: %s", sp->mem_tmp, strerror(-r));
		return r;
	}
	uint64_t t0 = now_ns(), t1;

	r = o->compress ? snap_write_zlib(vm, fd, o) : snap_write_raw(vm, fd, o);
	t1 = now_ns();
	if (!r && fsync(fd) < 0)
		r = -errno;
	pr_debug("snapshot: memory written in %.1f ms, fsync %.1f ms", (t1 - t0) / 1e6, (now_ns() - t1) / 1e6);
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r)
		pr_err("snapshot: writing the memory (%llu MiB) to %s: %s", (unsigned long long)(vm->mem.size >> 20),
		       sp->mem_tmp, strerror(-r));
	return r;
}

static int snap_write_state(struct vm *vm, const struct snap_paths *sp, uint32_t mem_format)
{
	struct state_registry reg;
	struct sbuf buf;
	struct state_sink sink = { state_sbuf_write, &buf };
	int fd, r;

	state_registry_init(&reg);
	sbuf_init(&buf);
	r = state_vm_register(vm, &reg, &mem_format);
	/* Into memory first: the file is written in one go, after every device has answered. */
	if (!r)
		r = state_save_all(&reg, &sink);
	state_registry_free(&reg);
	if (r) {
		sbuf_free(&buf);
		return r;
	}
	fd = open(sp->state_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0) {
		r = -errno;
	} else {
		r = write_full(fd, buf.data, buf.len);
		if (!r && fsync(fd) < 0)
			r = -errno;
		if (close(fd) < 0 && !r)
			r = -errno;
	}
	if (r)
		pr_err("snapshot: writing %s: %s", sp->state_tmp, strerror(-r));
	sbuf_free(&buf);
	return r;
}

static int snap_paths(const struct snapshot_opts *o, struct snap_paths *sp)
{
	int pid = getpid(), n;

	memset(sp, 0, sizeof(*sp));
	if (o->dir) {
		if (strlen(o->dir) > PATH_MAX - 32)
			return -ENAMETOOLONG;
		n = snprintf(sp->tmpdir, sizeof(sp->tmpdir), "%s.tmp-%d", o->dir, pid);
		snprintf(sp->state_tmp, sizeof(sp->state_tmp), "%s/state", sp->tmpdir);
		snprintf(sp->mem_tmp, sizeof(sp->mem_tmp), "%s/memory", sp->tmpdir);
		snprintf(sp->state_final, sizeof(sp->state_final), "%s/state", o->dir);
		snprintf(sp->mem_final, sizeof(sp->mem_final), "%s/memory", o->dir);
		if (n >= (int)sizeof(sp->tmpdir) - 8)
			return -ENAMETOOLONG;
		if (access(o->dir, F_OK) == 0) {
			pr_err("snapshot: %s exists (remove it or choose another directory)", o->dir);
			return -EEXIST;
		}
		return 0;
	}
	if (!o->state_path || !o->mem_path)
		return -EINVAL;
	if (snprintf(sp->state_tmp, sizeof(sp->state_tmp), "%s.tmp-%d", o->state_path, pid) >= (int)sizeof(sp->state_tmp) ||
	    snprintf(sp->mem_tmp, sizeof(sp->mem_tmp), "%s.tmp-%d", o->mem_path, pid) >= (int)sizeof(sp->mem_tmp))
		return -ENAMETOOLONG;
	snprintf(sp->state_final, sizeof(sp->state_final), "%s", o->state_path);
	snprintf(sp->mem_final, sizeof(sp->mem_final), "%s", o->mem_path);
	if (!strcmp(o->state_path, o->mem_path)) {
		pr_err("snapshot: the state and the memory need two different files");
		return -EINVAL;
	}
	return 0;
}

static void snap_cleanup(const struct snap_paths *sp)
{
	unlink(sp->state_tmp);
	unlink(sp->mem_tmp);
	if (sp->tmpdir[0])
		rmdir(sp->tmpdir);
}

/* Into place: the directory in one rename; two files memory first, so a state file always has its memory. */
static int snap_commit(const struct snapshot_opts *o, const struct snap_paths *sp)
{
	int r = 0;

	if (sp->tmpdir[0]) {
		if (renameat2(AT_FDCWD, sp->tmpdir, AT_FDCWD, o->dir, RENAME_NOREPLACE) < 0)
			r = -errno;
		if (r)
			pr_err("snapshot: renaming %s to %s: %s", sp->tmpdir, o->dir, strerror(-r));
		return r ? r : snap_fsync_dir(o->dir);
	}
	if (rename(sp->mem_tmp, sp->mem_final) < 0 || rename(sp->state_tmp, sp->state_final) < 0) {
		r = -errno;
		pr_err("snapshot: renaming into place: %s", strerror(-r));
		unlink(sp->mem_final);
		return r;
	}
	snap_fsync_dir(sp->mem_final);
	return snap_fsync_dir(sp->state_final);
}

static int snap_write(struct vm *vm, const struct snapshot_opts *o, const struct snap_paths *sp)
{
	uint32_t fmt = o->compress ? STATE_MEM_ZLIB : STATE_MEM_RAW;
	int r;

	if (sp->tmpdir[0] && mkdir(sp->tmpdir, 0755) < 0) {
		r = -errno;
		pr_err("snapshot: cannot create %s: %s", sp->tmpdir, strerror(-r));
		return r;
	}
	/* The state first: it needs no space to speak of and fails fast on an unsupported device. */
	r = snap_write_state(vm, sp, fmt);
	if (!r)
		r = snap_write_memory(vm, sp, o);
	if (!r)
		r = snap_commit(o, sp);
	return r;
}

int snapshot_create(struct vm *vm, const struct snapshot_opts *o)
{
	struct snap_paths sp;
	enum vm_state st = vm_get_state(vm);
	uint64_t t0 = now_ns();
	int r;

	r = snap_paths(o, &sp);
	if (r) {
		if (r != -EEXIST && r != -EINVAL)
			pr_err("snapshot: path too long");
		return r;
	}
	if (st == VM_STOPPED) {
		pr_err("snapshot: the VM has stopped");
		return -EBUSY;
	}
	if (st == VM_RUNNING) {
		r = vm_pause(vm);
		if (r) {
			pr_err("snapshot: cannot pause the VM: %s", strerror(-r));
			return r;
		}
	}
	r = snap_write(vm, o, &sp);
	if (r)
		snap_cleanup(&sp);
	if (!r && o->stop_after)
		vm_request_stop(vm, STOP_USER, 0, "stopped after a snapshot");
	else if (st == VM_RUNNING)
		vm_resume(vm);
	if (!r)
		pr_info("snapshot of %s (%llu MiB) written to %s in %.1f ms", vm->cfg.name,
			(unsigned long long)(vm->mem.size >> 20), o->dir ? o->dir : o->state_path,
			(now_ns() - t0) / 1e6);
	return r;
}
