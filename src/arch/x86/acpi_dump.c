// SPDX-License-Identifier: MIT
/*
 * `kite run --dump-acpi DIR`: the tables as files, one per signature, for
 * `iasl -d`.  The tables are read back from guest memory through gmem_ptr()
 * and every length is checked, so the dump also proves what the guest sees.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kite/acpi.h>
#include <kite/gmem.h>
#include <kite/log.h>
#include <kite/util.h>

#include "acpi_tables.h"

#define ACPI_TABLE_MAX (1u << 20) /* more than anything kite writes */

static int dump_file(const char *dir, const char *sig, const void *p, size_t len)
{
	char path[4096], name[5];
	int fd, r;

	/* Signatures become file names: keep them to what a table signature may hold. */
	for (int i = 0; i < 4; i++) {
		char c = sig[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
			pr_err("ACPI dump: table with a bad signature");
			return -EINVAL;
		}
		name[i] = c;
	}
	name[4] = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.dat", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		pr_err("ACPI dump: cannot create %s: %s", path, strerror(-r));
		return r;
	}
	r = write_full(fd, p, len);
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r)
		pr_err("ACPI dump: cannot write %s: %s", path, strerror(-r));
	return r;
}

/* The table at `gpa` with its checked length, or NULL with a message. */
static const struct acpi_header *table_at(const struct gmem *m, uint64_t gpa, uint32_t *len)
{
	const struct acpi_header *h = gmem_ptr(m, gpa, sizeof(*h));

	if (!h) {
		pr_err("ACPI dump: table address 0x%llx is not in guest memory", (unsigned long long)gpa);
		return NULL;
	}
	*len = h->length;
	if (*len < sizeof(*h) || *len > ACPI_TABLE_MAX || !gmem_ptr(m, gpa, *len)) {
		pr_err("ACPI dump: table at 0x%llx has a bad length %u", (unsigned long long)gpa, *len);
		return NULL;
	}
	return h;
}

static const struct acpi_header *dump_one(const struct gmem *m, uint64_t gpa, const char *dir, uint32_t *len)
{
	const struct acpi_header *h = table_at(m, gpa, len);

	if (!h || dump_file(dir, h->signature, h, *len))
		return NULL;
	return h;
}

/* An XSDT entry; the FADT brings its DSDT along (which is not followed further). */
static int dump_table(const struct gmem *m, uint64_t gpa, const char *dir)
{
	const struct acpi_header *h;
	uint64_t dsdt;
	uint32_t len;

	h = dump_one(m, gpa, dir, &len);
	if (!h)
		return -EINVAL;
	if (memcmp(h->signature, "FACP", 4) != 0)
		return 0;
	if (len < offsetof(struct acpi_fadt, x_dsdt) + 8) {
		pr_err("ACPI dump: FADT too short for X_DSDT");
		return -EINVAL;
	}
	memcpy(&dsdt, (const uint8_t *)h + offsetof(struct acpi_fadt, x_dsdt), 8);
	return dump_one(m, dsdt, dir, &len) ? 0 : -EINVAL;
}

int acpi_dump(const struct gmem *m, uint64_t rsdp_addr, const char *dir)
{
	const struct acpi_rsdp *rsdp = gmem_ptr(m, rsdp_addr, sizeof(*rsdp));
	const struct acpi_header *xsdt;
	uint32_t len;
	int r;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		pr_err("ACPI dump: cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	if (!rsdp || memcmp(rsdp->signature, "RSD PTR ", 8) != 0) {
		pr_err("ACPI dump: no RSDP at 0x%llx", (unsigned long long)rsdp_addr);
		return -EINVAL;
	}
	r = dump_file(dir, "RSDP", rsdp, sizeof(*rsdp));
	if (r)
		return r;
	xsdt = table_at(m, rsdp->xsdt_addr, &len);
	if (!xsdt)
		return -EINVAL;
	r = dump_file(dir, xsdt->signature, xsdt, len);
	for (uint32_t off = sizeof(*xsdt); !r && off + 8 <= len; off += 8) {
		uint64_t gpa;

		memcpy(&gpa, (const uint8_t *)xsdt + off, 8);
		r = dump_table(m, gpa, dir);
	}
	return r;
}
