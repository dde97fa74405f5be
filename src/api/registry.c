// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <kite/api_registry.h>
#include <kite/log.h>

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

int api_runtime_dir(char *buf, size_t size)
{
	const char *e = getenv("KITE_RUNTIME_DIR");
	int n;

	if (e && *e)
		n = snprintf(buf, size, "%s", e);
	else if ((e = getenv("XDG_RUNTIME_DIR")) && *e)
		n = snprintf(buf, size, "%s/kite", e);
	else if (geteuid() == 0)
		n = snprintf(buf, size, "/run/kite");
	else
		n = snprintf(buf, size, "/tmp/kite-%u", (unsigned)geteuid());
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* mkdir -p with mode 0700 for what it creates; an existing directory must be ours. */
static int api_make_dir(const char *dir)
{
	char tmp[SUN_PATH_MAX];
	struct stat st;

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		goto fail;
	if (stat(dir, &st) < 0)
		goto fail;
	if (!S_ISDIR(st.st_mode)) {
		pr_err("runtime directory %s is not a directory", dir);
		return -ENOTDIR;
	}
	/* Someone else's directory could hold sockets that impersonate our VMs. */
	if (st.st_uid != geteuid()) {
		pr_err("runtime directory %s belongs to uid %u, not to us", dir, (unsigned)st.st_uid);
		return -EPERM;
	}
	return 0;
fail:
	pr_err("runtime directory %s: %s", tmp, strerror(errno));
	return -errno;
}

int api_default_socket(const char *name, char *buf, size_t size)
{
	char dir[SUN_PATH_MAX];
	int r, n;

	r = api_runtime_dir(dir, sizeof(dir));
	if (r) {
		pr_err("runtime directory: path too long for a UNIX socket");
		return r;
	}
	n = snprintf(buf, size, "%s/%s" API_SOCKET_SUFFIX, dir, name);
	if (n < 0 || (size_t)n >= size || (size_t)n >= SUN_PATH_MAX) {
		pr_err("API socket %s/%s" API_SOCKET_SUFFIX ": longer than a UNIX socket path may be", dir, name);
		return -ENAMETOOLONG;
	}
	return api_make_dir(dir);
}

int api_socket_probe(const char *path, bool remove_stale)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		pr_err("%s exists and is not a socket; not touching it", path);
		return -EEXIST;
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	close(fd);
	/* EAGAIN: the listen backlog is full, so someone is listening. */
	if (r == 0 || r == -EAGAIN)
		return 1;
	if (r == -ECONNREFUSED) {
		if (remove_stale && unlink(path) == 0)
			pr_debug("removed the stale socket %s", path);
		return 0;
	}
	if (r == -ENOENT)
		return 0;
	return r;
}

int api_resolve(const char *name, char *buf, size_t size)
{
	char dir[SUN_PATH_MAX];
	int n, r;

	if (strchr(name, '/')) {
		n = snprintf(buf, size, "%s", name);
	} else {
		if (api_runtime_dir(dir, sizeof(dir)))
			return -ENAMETOOLONG;
		n = snprintf(buf, size, "%s/%s" API_SOCKET_SUFFIX, dir, name);
	}
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	r = api_socket_probe(buf, true);
	return r > 0 ? 0 : r == 0 ? -ENOENT : r;
}

static int api_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int api_foreach_vm(api_vm_fn fn, void *opaque)
{
	char dir[SUN_PATH_MAX], path[SUN_PATH_MAX + 256];
	size_t n = 0, cap = 0, slen = strlen(API_SOCKET_SUFFIX);
	char **names = NULL;
	struct dirent *e;
	DIR *d;
	int r = 0;

	if (api_runtime_dir(dir, sizeof(dir)))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len <= slen || strcmp(e->d_name + len - slen, API_SOCKET_SUFFIX))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));

			if (!nn) {
				r = -ENOMEM;
				break;
			}
			names = nn;
		}
		names[n] = strndup(e->d_name, len - slen);
		if (!names[n]) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), api_name_cmp);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s" API_SOCKET_SUFFIX, dir, names[i]);
		if (!r && api_socket_probe(path, true) > 0)
			fn(opaque, names[i], path);
		free(names[i]);
	}
	free(names);
	return r;
}
