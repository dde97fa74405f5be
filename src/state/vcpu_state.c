// SPDX-License-Identifier: MIT
/*
 * A vCPU's KVM state as one section.  The orders are KVM's (Documentation/
 * virt/kvm/api.rst, and what Firecracker's vstate and QEMU's
 * kvm_arch_{get,put}_registers do):
 *   save: MP state first (KVM_GET_MP_STATE accepts pending INIT/SIPI events
 *         and may change the LAPIC), then regs, sregs, XSAVE, XCRs, debug
 *         registers, LAPIC, TSC frequency, MSRs, and the vCPU events last
 *         (pending exceptions and interrupts as of the end).
 *   load: MP state, regs, sregs (APIC base, EFER before the MSRs that need
 *         them), XSAVE, XCRs, debug registers, LAPIC (before TSC_DEADLINE),
 *         MSRs by ascending index (TSC before TSC_DEADLINE and TSC_ADJUST,
 *         kvmclock after the TSC), and the events after the registers.
 * 1.1 appends the CPUID feature registers the guest was offered; loading
 * refuses a host that lacks any of those features (checked first).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kite/cpuid.h>
#include <kite/log.h>
#include <kite/state.h>
#include <kite/util.h>
#include <kite/vm.h>

#define VCPU_MSR_MAX 1024

static void put_blob(struct sbuf *b, const void *p, uint32_t n)
{
	sbuf_put_u32(b, n);
	sbuf_put(b, p, n);
}

/* A blob of exactly n bytes. */
static int get_blob(struct sbuf *b, void *p, uint32_t n, const char *what)
{
	uint32_t len = sbuf_get_u32(b);

	if (b->err)
		return b->err;
	if (len != n) {
		pr_err("vCPU state: %s has %u bytes, KVM's structure %u", what, len, n);
		return -EINVAL;
	}
	sbuf_get(b, p, n);
	return b->err;
}

/*
 * KVM_RUN with immediate_exit set completes an exit kite already handled
 * (the data of a port read lands in RAX, RIP moves on) without running guest
 * code: only then are the registers consistent (api.rst, KVM_EXIT_IO/MMIO).
 */
static void vcpu_complete_exit(struct vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	kvm_run(v->fd);
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Every MSR KVM lists that it lets us read, by ascending index. */
static int vcpu_save_msrs(struct vcpu *v, struct sbuf *out)
{
	const struct kvm_msr_list *l = v->vm->kvm.msr_list;
	unsigned n = MIN(l->nmsrs, VCPU_MSR_MAX), done = 0, saved = 0;
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(m->entries[0]));
	uint32_t *idx = malloc(n * sizeof(*idx));
	size_t count_at;

	if (!m || !idx) {
		free(m);
		free(idx);
		return -ENOMEM;
	}
	memcpy(idx, l->indices, n * sizeof(*idx));
	qsort(idx, n, sizeof(*idx), cmp_u32);
	count_at = out->len;
	sbuf_put_u32(out, 0); /* patched below */
	while (done < n) {
		int r;

		m->nmsrs = n - done;
		for (unsigned i = 0; i < m->nmsrs; i++)
			m->entries[i] = (struct kvm_msr_entry){ .index = idx[done + i] };
		r = kvm_get_msrs(v->fd, m);
		if (r < 0) {
			free(m);
			free(idx);
			pr_err("vCPU %u: KVM_GET_MSRS: %s", v->index, strerror(-r));
			return r;
		}
		for (int i = 0; i < r; i++) {
			sbuf_put_u32(out, m->entries[i].index);
			sbuf_put_u64(out, m->entries[i].data);
			saved++;
		}
		/* KVM stops at the first MSR it cannot read for this vCPU: skip that one. */
		done += r + 1;
	}
	if (!out->err) {
		for (int i = 0; i < 4; i++)
			out->data[count_at + i] = saved >> (8 * i);
	}
	free(m);
	free(idx);
	return 0;
}

/*
 * The feature leaves a guest may have acted on: a restore or migration onto a
 * host whose CPUID policy lacks one of their bits would break the guest.
 */
static const struct {
	uint32_t function, index;
	uint8_t reg; /* 0 eax, 1 ebx, 2 ecx, 3 edx */
	uint32_t ignore; /* bits that are state, not features */
	const char *name;
} vcpu_feature_regs[] = {
	{ 1, 0, 2, 1u << 27, "1.ECX" }, /* OSXSAVE mirrors CR4 */
	{ 1, 0, 3, 0, "1.EDX" },
	{ 7, 0, 1, 0, "7.EBX" },
	{ 7, 0, 2, 1u << 4, "7.ECX" }, /* OSPKE mirrors CR4 */
	{ 7, 0, 3, 0, "7.EDX" },
	{ 0xd, 1, 0, 0, "0xD.1.EAX" },
	{ 0x80000001, 0, 2, 0, "0x80000001.ECX" },
	{ 0x80000001, 0, 3, 0, "0x80000001.EDX" },
};

static uint32_t cpuid_reg(const struct kvm_cpuid_entry2 *e, unsigned reg)
{
	const uint32_t r[4] = { e->eax, e->ebx, e->ecx, e->edx };

	return r[reg & 3];
}

/* The feature registers of the CPUID kite gives this vCPU on this host (its policy is deterministic). */
static int vcpu_features(struct vcpu *v, uint32_t *out)
{
	struct kvm_cpuid2 *c = cpuid_policy(v->vm->kvm.supported_cpuid, v->index, v->vm->ncpus);

	if (!c)
		return -ENOMEM;
	for (unsigned i = 0; i < ARRAY_SIZE(vcpu_feature_regs); i++) {
		struct kvm_cpuid_entry2 *e = cpuid_find(c, vcpu_feature_regs[i].function, vcpu_feature_regs[i].index);

		out[i] = e ? cpuid_reg(e, vcpu_feature_regs[i].reg) & ~vcpu_feature_regs[i].ignore : 0;
	}
	free(c);
	return 0;
}

/* 1.1: the features the guest was offered, which this host must offer too. */
static int vcpu_load_features(struct vcpu *v, struct sbuf *in)
{
	uint32_t n = sbuf_get_u32(in), here[ARRAY_SIZE(vcpu_feature_regs)];
	int r = vcpu_features(v, here);

	if (r)
		return r;
	for (uint32_t i = 0; i < n && !in->err; i++) {
		uint32_t saved = sbuf_get_u32(in), missing;

		if (i >= ARRAY_SIZE(vcpu_feature_regs))
			continue; /* a register a newer kite checks */
		missing = saved & ~vcpu_feature_regs[i].ignore & ~here[i];
		if (missing) {
			pr_err("vCPU %u: the guest was given CPUID %s bits 0x%08x that this host does not offer",
			       v->index, vcpu_feature_regs[i].name, missing);
			return -EINVAL;
		}
	}
	return in->err;
}

int state_vcpu_save(struct vcpu *v, struct sbuf *out)
{
	int xsize = kvm_xsave_size(v->vm->fd);
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave *xs = calloc(1, xsize);
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dbg;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	const char *what;
	int r, khz;

	if (!xs)
		return -ENOMEM;
	vcpu_complete_exit(v);
	memset(&xcrs, 0, sizeof(xcrs));
	if ((r = kvm_get_mp_state(v->fd, &mp)), what = "KVM_GET_MP_STATE", r)
		goto out;
	if ((r = kvm_get_regs(v->fd, &regs)), what = "KVM_GET_REGS", r)
		goto out;
	if ((r = kvm_get_sregs(v->fd, &sregs)), what = "KVM_GET_SREGS", r)
		goto out;
	if ((r = kvm_get_xsave(v->fd, xs, xsize)), what = "KVM_GET_XSAVE", r)
		goto out;
	if (kvm_check_cap(v->vm->kvm.fd, KVM_CAP_XCRS) && ((r = kvm_get_xcrs(v->fd, &xcrs)), what = "KVM_GET_XCRS", r))
		goto out;
	if ((r = kvm_get_debugregs(v->fd, &dbg)), what = "KVM_GET_DEBUGREGS", r)
		goto out;
	if ((r = kvm_get_lapic(v->fd, &lapic)), what = "KVM_GET_LAPIC", r)
		goto out;
	khz = kvm_get_tsc_khz(v->fd);
	sbuf_put_u32(out, mp.mp_state);
	put_blob(out, &regs, sizeof(regs));
	put_blob(out, &sregs, sizeof(sregs));
	put_blob(out, xs, xsize);
	put_blob(out, &xcrs, sizeof(xcrs));
	put_blob(out, &dbg, sizeof(dbg));
	put_blob(out, &lapic, sizeof(lapic));
	sbuf_put_u32(out, khz > 0 ? khz : 0);
	r = vcpu_save_msrs(v, out);
	if (r)
		goto done;
	if ((r = kvm_get_vcpu_events(v->fd, &ev)), what = "KVM_GET_VCPU_EVENTS", r)
		goto out;
	put_blob(out, &ev, sizeof(ev));
	{
		uint32_t f[ARRAY_SIZE(vcpu_feature_regs)];

		r = vcpu_features(v, f);
		if (r)
			goto done;
		sbuf_put_u32(out, ARRAY_SIZE(f));
		for (unsigned i = 0; i < ARRAY_SIZE(f); i++)
			sbuf_put_u32(out, f[i]);
	}
	goto done;
out:
	pr_err("vCPU %u: %s: %s", v->index, what, strerror(-r));
done:
	free(xs);
	return r;
}

/* MSRs in the saved (ascending) order; one KVM refuses is named and skipped. */
static int vcpu_load_msrs(struct vcpu *v, struct sbuf *in)
{
	uint32_t n = sbuf_get_u32(in), done = 0;
	struct kvm_msrs *m;

	if (in->err || n > VCPU_MSR_MAX || n * 12ull > sbuf_left(in)) {
		pr_err("vCPU %u state: bad MSR count %u", v->index, n);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m) + n * sizeof(m->entries[0]));
	if (!m)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		m->entries[i].index = sbuf_get_u32(in);
		m->entries[i].data = sbuf_get_u64(in);
	}
	while (done < n) {
		struct kvm_msrs *part = (struct kvm_msrs *)((uint8_t *)m + done * sizeof(m->entries[0]));
		struct kvm_msrs save = *part; /* the header overlaps an entry already set */
		int r;

		part->nmsrs = n - done;
		part->pad = 0;
		r = kvm_set_msrs_partial(v->fd, part);
		*part = save;
		if (r < 0) {
			free(m);
			pr_err("vCPU %u: KVM_SET_MSRS: %s", v->index, strerror(-r));
			return r;
		}
		done += r;
		if (done < n) {
			pr_warn("vCPU %u: KVM refused MSR 0x%x = 0x%llx; skipped", v->index, m->entries[done].index,
				(unsigned long long)m->entries[done].data);
			done++;
		}
	}
	free(m);
	return 0;
}

/* A different TSC rate on this host: ask KVM to scale the guest's to the saved one. */
static void vcpu_load_tsc_khz(struct vcpu *v, uint32_t khz)
{
	int now = kvm_get_tsc_khz(v->fd);

	if (!khz || now <= 0 || (uint32_t)now == khz)
		return;
	if (kvm_set_tsc_khz(v->fd, khz))
		pr_warn("vCPU %u: the guest's TSC ran at %u kHz, this host's at %d kHz and KVM cannot scale it",
			v->index, khz, now);
}

/* The feature list is last in the section: walk a copy of the cursor past the rest to reach it. */
static int vcpu_check_features(struct vcpu *v, const struct sbuf *in)
{
	struct sbuf b = *in;
	uint32_t n;

	b.pos = 0;
	sbuf_get_u32(&b); /* mp_state */
	for (int i = 0; i < 6 && !b.err; i++) { /* regs, sregs, xsave, xcrs, debugregs, lapic */
		uint32_t len = sbuf_get_u32(&b);

		if (len > sbuf_left(&b))
			return -EOVERFLOW;
		b.pos += len;
	}
	sbuf_get_u32(&b); /* TSC kHz */
	n = sbuf_get_u32(&b);
	if (b.err || n > VCPU_MSR_MAX || n * 12ull > sbuf_left(&b))
		return -EOVERFLOW;
	b.pos += n * 12;
	n = sbuf_get_u32(&b); /* events */
	if (b.err || n > sbuf_left(&b))
		return -EOVERFLOW;
	b.pos += n;
	return vcpu_load_features(v, &b);
}

int state_vcpu_load(struct vcpu *v, struct sbuf *in, unsigned minor)
{
	int xsize = kvm_xsave_size(v->vm->fd);
	struct kvm_mp_state mp = { .mp_state = sbuf_get_u32(in) };
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave *xs = calloc(1, xsize);
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dbg;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	uint32_t xlen, khz;
	const char *what = "decoding";
	int r;

	if (!xs)
		return -ENOMEM;
	if (minor >= 1 && (r = vcpu_check_features(v, in))) {
		free(xs);
		return r;
	}
	r = get_blob(in, &regs, sizeof(regs), "regs");
	if (!r)
		r = get_blob(in, &sregs, sizeof(sregs), "sregs");
	xlen = sbuf_get_u32(in);
	if (!r && (in->err || xlen < sizeof(struct kvm_xsave) || xlen > (uint32_t)xsize)) {
		pr_err("vCPU %u state: XSAVE area of %u bytes, this host's KVM takes %d", v->index, xlen, xsize);
		r = -EINVAL;
	}
	if (!r) {
		sbuf_get(in, xs, xlen);
		r = get_blob(in, &xcrs, sizeof(xcrs), "xcrs");
	}
	if (!r)
		r = get_blob(in, &dbg, sizeof(dbg), "debugregs");
	if (!r)
		r = get_blob(in, &lapic, sizeof(lapic), "lapic");
	khz = sbuf_get_u32(in);
	if (r || in->err)
		goto fail;
	if (mp.mp_state > KVM_MP_STATE_AP_RESET_HOLD) {
		pr_err("vCPU %u state: unknown MP state %u", v->index, mp.mp_state);
		r = -EINVAL;
		goto fail;
	}
	vcpu_load_tsc_khz(v, khz);
	if ((r = kvm_set_mp_state(v->fd, &mp)), what = "KVM_SET_MP_STATE", r)
		goto fail;
	if ((r = kvm_set_regs(v->fd, &regs)), what = "KVM_SET_REGS", r)
		goto fail;
	if ((r = kvm_set_sregs(v->fd, &sregs)), what = "KVM_SET_SREGS", r)
		goto fail;
	if ((r = kvm_set_xsave(v->fd, xs)), what = "KVM_SET_XSAVE", r)
		goto fail;
	if (xcrs.nr_xcrs && ((r = kvm_set_xcrs(v->fd, &xcrs)), what = "KVM_SET_XCRS", r))
		goto fail;
	if ((r = kvm_set_debugregs(v->fd, &dbg)), what = "KVM_SET_DEBUGREGS", r)
		goto fail;
	if ((r = kvm_set_lapic(v->fd, &lapic)), what = "KVM_SET_LAPIC", r)
		goto fail;
	what = "MSRs";
	r = vcpu_load_msrs(v, in);
	if (r)
		goto fail;
	r = get_blob(in, &ev, sizeof(ev), "events");
	if (r)
		goto fail;
	/* Apply the saved NMI and SIPI state too, not only the exception and interrupt. */
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	ev.flags &= ~KVM_VCPUEVENT_VALID_PAYLOAD; /* only with KVM_CAP_EXCEPTION_PAYLOAD enabled */
	if ((r = kvm_set_vcpu_events(v->fd, &ev)), what = "KVM_SET_VCPU_EVENTS", r)
		goto fail;
	free(xs);
	return 0;
fail:
	if (r && r != -EINVAL && r != -EOVERFLOW)
		pr_err("vCPU %u: %s: %s", v->index, what, strerror(-r));
	free(xs);
	return r ? r : in->err;
}
