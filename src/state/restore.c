// SPDX-License-Identifier: MIT
/*
 * Restore: the saved configuration recreates the VM without the loader,
 * memory comes from the snapshot (mapped privately, copied, or inflated),
 * then every section is loaded.  The state file is checked completely before
 * anything is created.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include <kite/log.h>
#include <kite/state.h>
#include <kite/util.h>
#include <kite/virtio_net.h>
#include <kite/vm.h>

#define STATE_FILE_MAX (256u << 20)
#define ZLIB_IN        (256ul << 10)
#define ZLIB_OUT       (256ul << 10)
#define PAGE           4096ul

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int restore_read_state(struct restore_image *img)
{
	struct state_mem_source ms;
	struct state_source src = { state_mem_read, &ms };
	void *buf;
	size_t len;
	int r;

	r = read_file(img->state_path, &buf, &len);
	if (r) {
		pr_err("restore: %s: %s", img->state_path, strerror(-r));
		return r;
	}
	if (len > STATE_FILE_MAX) {
		free(buf);
		pr_err("restore: %s is too large for a state file", img->state_path);
		return -EINVAL;
	}
	ms = (struct state_mem_source){ buf, len, 0 };
	r = state_read_file(&src, img->state_path, &img->file);
	free(buf);
	return r;
}

int restore_open(struct restore_image *img, const char *dir, const char *state_path, const char *mem_path)
{
	char *copy;
	int r;

	memset(img, 0, sizeof(*img));
	if (dir) {
		img->state_path = path_join(dir, "state");
		img->mem_path = path_join(dir, "memory");
	} else {
		img->state_path = strdup(state_path);
		if (mem_path) {
			img->mem_path = strdup(mem_path);
		} else if ((copy = strdup(state_path))) {
			char *slash = strrchr(copy, '/');

			if (slash)
				*slash = 0;
			img->mem_path = path_join(slash ? copy : ".", "memory");
			free(copy);
		}
	}
	if (!img->state_path || !img->mem_path) {
		restore_close(img);
		return -ENOMEM;
	}
	r = restore_read_state(img);
	if (!r)
		r = state_vm_info(&img->file, &img->info);
	if (r)
		restore_close(img);
	return r;
}

void restore_close(struct restore_image *img)
{
	state_file_free(&img->file);
	state_vm_info_free(&img->info);
	free(img->state_path);
	free(img->mem_path);
	memset(img, 0, sizeof(*img));
}

int restore_configure(struct restore_image *img, const char *name, const struct net_config *nets, unsigned nnets)
{
	struct vm_config *c = &img->info.cfg;
	bool renamed = name && strcmp(name, c->name);

	if (nnets > c->nnets) {
		pr_err("restore: %u --net given, the snapshot has %u network interface%s (--net replaces a saved "
		       "one's backend, it cannot add one)", nnets, c->nnets, c->nnets == 1 ? "" : "s");
		return -EINVAL;
	}
	if (name)
		snprintf(c->name, sizeof(c->name), "%s", name);
	for (unsigned i = 0; i < c->nnets; i++) {
		struct net_config *n = &c->nets[i];

		if (i < nnets) {
			n->tap = nets[i].tap;
			n->fd = nets[i].fd;
			img->info.net_by_fd[i] = !nets[i].tap;
		} else if (img->info.net_by_fd[i]) {
			pr_info("restore: NIC %u had a TAP fd; reopening its interface %s by name", i, n->tap);
		}
		if (i < nnets && nets[i].mac_set)
			memcpy(n->mac, nets[i].mac, 6);
		else if (renamed)
			virtio_net_default_mac(c->name, i, n->mac);
		n->mac_set = true;
	}
	return 0;
}

/* --eager: read the data extents of the sparse file into anonymous RAM (holes stay untouched zeros). */
static int restore_copy_raw(struct vm *vm, int fd)
{
	off_t pos = 0, size = vm->mem.size;

	while (pos < size) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;

		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		hole = MIN(hole, size);
		for (off_t at = data; at < hole;) {
			ssize_t n = pread(fd, vm->mem.base + at, hole - at, at);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EINVAL;
			at += n;
		}
		pos = hole;
	}
	return 0;
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (unsigned i = 0; i < PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

/*
 * Inflates through a bounce buffer and copies only the pages that are not
 * zero: fresh RAM reads as zero already, and untouched pages cost no memory.
 */
static int restore_inflate(struct vm *vm, int fd)
{
	uint8_t *in = malloc(ZLIB_IN), *out = malloc(ZLIB_OUT);
	uint64_t done = 0;
	z_stream z = { 0 };
	int zr = Z_OK, r = 0;

	if (!in || !out || inflateInit(&z) != Z_OK) {
		free(in);
		free(out);
		return -ENOMEM;
	}
	while (zr != Z_STREAM_END && !r) {
		ssize_t n = read(fd, in, ZLIB_IN);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EINVAL; /* a stream that ends early is truncated */
			break;
		}
		z.next_in = in;
		z.avail_in = n;
		while (z.avail_in && zr != Z_STREAM_END && !r) {
			size_t got;

			z.next_out = out;
			z.avail_out = ZLIB_OUT;
			zr = inflate(&z, Z_NO_FLUSH);
			if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
				r = -EINVAL;
				break;
			}
			got = ZLIB_OUT - z.avail_out;
			/* More output than RAM is a corrupt stream. */
			if (got > vm->mem.size - done) {
				r = -EINVAL;
				break;
			}
			/* RAM is fresh: a zero window (aligned or not) is already in place. */
			for (size_t off = 0; off < got; off += PAGE) {
				size_t len = MIN((size_t)PAGE, got - off);

				if (len < PAGE || !page_is_zero(out + off))
					memcpy(vm->mem.base + done + off, out + off, len);
			}
			done += got;
			if (!got && zr == Z_BUF_ERROR)
				break; /* needs more input */
		}
	}
	if (!r && done != vm->mem.size)
		r = -EINVAL;
	inflateEnd(&z);
	free(in);
	free(out);
	return r;
}

static int restore_memory(struct vm *vm, struct restore_image *img)
{
	int fd, r;

	fd = open(img->mem_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		pr_err("restore: %s: %s", img->mem_path, strerror(-r));
		return r;
	}
	if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		r = -errno;
		close(fd);
		pr_err("restore: %s is locked by a writer", img->mem_path);
		return r;
	}
	r = img->info.mem_format == STATE_MEM_ZLIB ? restore_inflate(vm, fd) : restore_copy_raw(vm, fd);
	close(fd);
	if (r)
		pr_err("restore: %s: %s", img->mem_path,
		       r == -EINVAL ? "corrupt or truncated memory image" : strerror(-r));
	return r;
}

static int restore_load(struct vm *vm, struct restore_image *img)
{
	struct state_registry reg;
	uint32_t fmt = img->info.mem_format;
	int r;

	state_registry_init(&reg);
	reg.new_identity = true; /* a new VM generation */
	r = state_vm_register(vm, &reg, &fmt);
	if (!r)
		r = state_load_all(&reg, &img->file, NULL);
	state_registry_free(&reg);
	if (r)
		return r;
	/* The guest was stopped for a while: let a kvmclock guest's watchdogs know (fails harmlessly without one). */
	for (unsigned i = 0; i < vm->ncpus; i++)
		kvm_kvmclock_ctrl(vm->vcpus[i].fd);
	return 0;
}

int restore_vm(struct vm *vm, struct restore_image *img, bool eager)
{
	struct vm_config cfg = img->info.cfg;
	uint64_t t0 = now_ns(), t1, t2;
	int r;

	if (img->info.mem_format != STATE_MEM_RAW && img->info.mem_format != STATE_MEM_ZLIB) {
		pr_err("restore: the memory of this state travels separately (a migration stream)");
		return -EINVAL;
	}
	cfg.incoming = true;
	cfg.mem_file = img->info.mem_format == STATE_MEM_RAW && !eager ? img->mem_path : NULL;
	r = vm_create(vm, &cfg);
	if (r)
		return r;
	t1 = now_ns();
	if (!cfg.mem_file)
		r = restore_memory(vm, img);
	t2 = now_ns();
	if (!r)
		r = restore_load(vm, img);
	if (r)
		vm_destroy(vm);
	else
		pr_debug("restore: VM created in %.2f ms, memory %.2f ms, state loaded in %.2f ms", (t1 - t0) / 1e6,
			 (t2 - t1) / 1e6, (now_ns() - t2) / 1e6);
	return r;
}
