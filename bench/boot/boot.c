// SPDX-License-Identifier: MIT
/*
 * bench/boot: boot-to-exit wall time and peak RSS of a test guest, kite vs
 * QEMU microvm, alternating runs in one invocation; medians and ratios as JSON.
 *
 *   boot [--runs N] [--kite PATH] [--guest PATH] [--qemu PATH|none] [--mem SIZE]
 *
 * Each run is fork+exec of the whole VMM, timed from just before fork to
 * wait4() returning; peak RSS is the child's ru_maxrss.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 1000

struct sample {
	double ms;
	long rss_kib;
	int status;
};

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int run_once(char *const argv[], struct sample *s)
{
	struct rusage ru;
	int status, fd;
	double t0 = now_ms();
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		return -errno;
	s->ms = now_ms() - t0;
	s->rss_kib = ru.ru_maxrss;
	s->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct series {
	const char *name;
	struct sample s[MAX_RUNS];
	int n, bad;
};

static void series_stats(struct series *r, double *ms, double *min_ms, double *rss_mib)
{
	double t[MAX_RUNS], m[MAX_RUNS];

	for (int i = 0; i < r->n; i++) {
		t[i] = r->s[i].ms;
		m[i] = r->s[i].rss_kib / 1024.0;
	}
	*ms = median(t, r->n);
	*min_ms = t[0];
	*rss_mib = median(m, r->n);
}

int main(int argc, char **argv)
{
	const char *kite = "build/kite", *guest = "build/guests/hello.elf", *qemu = "qemu-system-x86_64", *mem = "128M";
	int runs = 20, opt;
	static struct series k = { .name = "kite" }, q = { .name = "qemu" };
	static const struct option opts[] = {
		{ "runs", required_argument, NULL, 'n' }, { "kite", required_argument, NULL, 'k' },
		{ "guest", required_argument, NULL, 'g' }, { "qemu", required_argument, NULL, 'q' },
		{ "mem", required_argument, NULL, 'm' },   { NULL, 0, NULL, 0 },
	};

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			runs = atoi(optarg);
			break;
		case 'k':
			kite = optarg;
			break;
		case 'g':
			guest = optarg;
			break;
		case 'q':
			qemu = optarg;
			break;
		case 'm':
			mem = optarg;
			break;
		default:
			fprintf(stderr, "usage: boot [--runs N] [--kite PATH] [--guest PATH] [--qemu PATH|none] [--mem SIZE]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS) {
		fprintf(stderr, "boot: --runs must be 1..%d\n", MAX_RUNS);
		return 2;
	}
	int have_qemu = strcmp(qemu, "none") != 0;
	char *kargv[] = { (char *)kite, "run", "--kernel", (char *)guest, "--mem", (char *)mem, "--serial", "none", NULL };
	char *qargv[] = { (char *)qemu, "-M", "microvm", "-accel", "kvm", "-m", (char *)mem, "-nodefaults", "-no-reboot",
			  "-nographic", "-display", "none", "-serial", "null", "-device",
			  "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", (char *)guest, NULL };
	struct sample s;

	/* One warm-up each so that page cache and KVM module state are alike. */
	run_once(kargv, &s);
	if (have_qemu)
		run_once(qargv, &s);
	for (int i = 0; i < runs; i++) {
		if (run_once(kargv, &k.s[k.n]) == 0)
			k.bad += k.s[k.n++].status != 1;
		if (have_qemu && run_once(qargv, &q.s[q.n]) == 0)
			q.bad += q.s[q.n++].status != 1;
	}
	double kms, kmin, krss, qms = 0, qmin = 0, qrss = 0;

	series_stats(&k, &kms, &kmin, &krss);
	printf("{\n  \"benchmark\": \"boot\",\n  \"guest\": \"%s\",\n  \"mem\": \"%s\",\n  \"runs\": %d,\n", guest, mem, runs);
	printf("  \"kite\": {\"median_ms\": %.2f, \"min_ms\": %.2f, \"median_peak_rss_mib\": %.2f, \"bad_exits\": %d}",
	       kms, kmin, krss, k.bad);
	if (have_qemu && q.n) {
		series_stats(&q, &qms, &qmin, &qrss);
		printf(",\n  \"qemu\": {\"median_ms\": %.2f, \"min_ms\": %.2f, \"median_peak_rss_mib\": %.2f, \"bad_exits\": %d}",
		       qms, qmin, qrss, q.bad);
		printf(",\n  \"ratio\": {\"time_kite_over_qemu\": %.3f, \"rss_kite_over_qemu\": %.3f},\n", kms / qms,
		       krss / qrss);
		printf("  \"targets\": {\"time_ratio_max\": 0.1, \"rss_ratio_max\": 0.1, \"time_met\": %s, \"rss_met\": %s}",
		       kms / qms <= 0.1 ? "true" : "false", krss / qrss <= 0.1 ? "true" : "false");
	}
	printf("\n}\n");
	return k.bad || q.bad ? 1 : 0;
}
