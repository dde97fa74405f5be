// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <kite/log.h>
#include <kite/machine.h>
#include <kite/msix.h>
#include <kite/pci.h>

struct msix_cap {
	uint8_t id, next;
	uint16_t control;
	uint32_t table;
	uint32_t pba;
} __attribute__((packed));

int msix_init(struct msix *x, struct pci_dev *d, struct machine *m, unsigned nvec, unsigned bar, uint32_t table_off,
	      uint32_t pba_off)
{
	struct msix_cap cap = {
		.control = (uint16_t)(nvec - 1),
		.table = table_off | bar,
		.pba = pba_off | bar,
	};
	int off;

	if (!nvec || nvec > MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS || (table_off | pba_off) & 7)
		return -EINVAL;
	memset(x, 0, sizeof(*x));
	off = pci_dev_add_cap(d, PCI_CAP_ID_MSIX, &cap, sizeof(cap));
	if (off < 0)
		return off;
	x->dev = d;
	x->m = m;
	x->nvec = nvec;
	x->cap = (unsigned)off;
	pthread_mutex_init(&x->lock, NULL);
	for (unsigned i = 0; i < nvec; i++) {
		x->table[i].ctrl = MSIX_VEC_MASKED;
		x->route[i].gsi = -1;
		x->route[i].efd = -1;
	}
	d->wmask[off + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
	d->msix = x;
	return 0;
}

void msix_exit(struct msix *x)
{
	if (!x->m)
		return;
	for (unsigned i = 0; i < x->nvec; i++) {
		struct msix_route *r = &x->route[i];

		if (r->efd >= 0) {
			x->m->irqfd(x->m, r->efd, (unsigned)r->gsi, 0);
			close(r->efd);
		}
	}
	pthread_mutex_destroy(&x->lock);
	x->m = NULL;
}

static uint16_t msix_control(struct msix *x)
{
	return pci_cfg_read16(x->dev, x->cap + 2);
}

bool msix_enabled(struct msix *x)
{
	return msix_control(x) & MSIX_CTRL_ENABLE;
}

static bool vec_masked(struct msix *x, unsigned v)
{
	return (msix_control(x) & MSIX_CTRL_MASKALL) || (x->table[v].ctrl & MSIX_VEC_MASKED);
}

/* Binds vector v to a GSI and an irqfd on first use. Caller holds the lock. */
static int msix_route(struct msix *x, unsigned v, uint64_t addr, uint32_t data)
{
	struct machine *m = x->m;
	struct msix_route *r = &x->route[v];
	int gsi, efd;

	if (r->efd < 0) {
		gsi = m->alloc_gsi(m);
		if (gsi < 0)
			return gsi;
		efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (efd < 0)
			return -errno;
		if (m->route_msi(m, (unsigned)gsi, addr, data) || m->irqfd(m, efd, (unsigned)gsi, 1)) {
			close(efd);
			return -EIO;
		}
		r->gsi = gsi;
		r->efd = efd;
	} else if (!r->routed || r->addr != addr || r->data != data) {
		if (m->route_msi(m, (unsigned)r->gsi, addr, data))
			return -EIO;
	}
	r->routed = true;
	r->addr = addr;
	r->data = data;
	return 0;
}

/* Caller holds the lock; the vector is enabled and unmasked. */
static void msix_fire(struct msix *x, unsigned v)
{
	struct machine *m = x->m;
	struct msix_entry *e = &x->table[v];
	uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo, one = 1;

	if (m->alloc_gsi && m->route_msi && m->irqfd && msix_route(x, v, addr, e->data) == 0) {
		if (write(x->route[v].efd, &one, sizeof(one)) >= 0 || errno == EAGAIN)
			return;
	}
	if (m->msi)
		m->msi(m, addr, e->data);
}

static void msix_flush_pending(struct msix *x)
{
	if (!msix_enabled(x))
		return;
	for (unsigned v = 0; v < x->nvec; v++) {
		uint64_t bit = 1ull << (v % 64);

		if ((x->pba[v / 64] & bit) && !vec_masked(x, v)) {
			x->pba[v / 64] &= ~bit;
			msix_fire(x, v);
		}
	}
}

void msix_table_access(struct msix *x, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	uint8_t *t = (uint8_t *)x->table;
	uint64_t size = (uint64_t)x->nvec * MSIX_ENTRY_SIZE;

	if (off >= size || len > size - off) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&x->lock);
	if (!is_write) {
		memcpy(data, t + off, len);
	} else {
		memcpy(t + off, data, len);
		/* Only the mask bit of Vector Control is writable. */
		x->table[off / MSIX_ENTRY_SIZE].ctrl &= MSIX_VEC_MASKED;
		x->table[(off + len - 1) / MSIX_ENTRY_SIZE].ctrl &= MSIX_VEC_MASKED;
		msix_flush_pending(x);
	}
	pthread_mutex_unlock(&x->lock);
}

void msix_pba_access(struct msix *x, uint64_t off, uint8_t *data, unsigned len, bool is_write)
{
	if (is_write)
		return;
	memset(data, 0, len);
	if (off >= sizeof(x->pba) || len > sizeof(x->pba) - off)
		return;
	pthread_mutex_lock(&x->lock);
	memcpy(data, (uint8_t *)x->pba + off, len);
	pthread_mutex_unlock(&x->lock);
}

void msix_control_written(struct msix *x)
{
	pthread_mutex_lock(&x->lock);
	msix_flush_pending(x);
	pthread_mutex_unlock(&x->lock);
}

int msix_notify(struct msix *x, unsigned vec)
{
	if (vec >= x->nvec)
		return -EINVAL;
	pthread_mutex_lock(&x->lock);
	if (vec_masked(x, vec))
		x->pba[vec / 64] |= 1ull << (vec % 64);
	else
		msix_fire(x, vec);
	pthread_mutex_unlock(&x->lock);
	return 0;
}

void msix_clear_pending(struct msix *x)
{
	pthread_mutex_lock(&x->lock);
	memset(x->pba, 0, sizeof(x->pba));
	pthread_mutex_unlock(&x->lock);
}
