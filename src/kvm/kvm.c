// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <kite/kvm.h>
#include <kite/log.h>
#include <kite/util.h>

const struct kvm_cap_desc kvm_caps[] = {
	{ KVM_CAP_USER_MEMORY, "USER_MEMORY", true, "guest RAM from kite's own mapping" },
	{ KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR", true, "x86 real-mode support pages" },
	{ KVM_CAP_EXT_CPUID, "EXT_CPUID", true, "CPUID policy" },
	{ KVM_CAP_IRQCHIP, "IRQCHIP", true, "in-kernel PIC, IOAPIC and LAPIC" },
	{ KVM_CAP_PIT2, "PIT2", true, "in-kernel PIT" },
	{ KVM_CAP_IRQ_ROUTING, "IRQ_ROUTING", true, "GSI routing (ISA IRQ0 to IOAPIC pin 2, MSI)" },
	{ KVM_CAP_IRQFD, "IRQFD", true, "device interrupts from the event loop" },
	{ KVM_CAP_IOEVENTFD, "IOEVENTFD", true, "virtio doorbells" },
	{ KVM_CAP_SIGNAL_MSI, "SIGNAL_MSI", true, "MSI delivery" },
	{ KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT", true, "race-free vCPU kicks for pause and stop" },
	{ KVM_CAP_MP_STATE, "MP_STATE", true, "vCPU run state (SMP, snapshots)" },
	{ KVM_CAP_ADJUST_CLOCK, "ADJUST_CLOCK", false, "kvmclock save and restore" },
	{ KVM_CAP_KVMCLOCK_CTRL, "KVMCLOCK_CTRL", false, "telling the guest it was paused" },
	{ KVM_CAP_VCPU_EVENTS, "VCPU_EVENTS", false, "snapshots" },
	{ KVM_CAP_XSAVE2, "XSAVE2", false, "snapshots of large XSAVE areas" },
	{ KVM_CAP_XCRS, "XCRS", false, "snapshots" },
	{ KVM_CAP_DEBUGREGS, "DEBUGREGS", false, "snapshots" },
	{ KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, "MANUAL_DIRTY_LOG_PROTECT2", false, "live migration" },
	{ KVM_CAP_TSC_DEADLINE_TIMER, "TSC_DEADLINE_TIMER", false, "guest timer" },
	{ KVM_CAP_NR_VCPUS, "NR_VCPUS", false, "recommended vCPU count" },
	{ KVM_CAP_MAX_VCPUS, "MAX_VCPUS", false, "vCPU limit" },
};
const unsigned kvm_ncaps = ARRAY_SIZE(kvm_caps);

static int kvm_ioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR && req != KVM_RUN);
	return r < 0 ? -errno : r;
}

int kvm_check_cap(int fd, long cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

static int kvm_load_cpuid(struct kvm *k)
{
	for (unsigned n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		int r;

		if (!c)
			return -ENOMEM;
		c->nent = n;
		r = kvm_ioctl(k->fd, KVM_GET_SUPPORTED_CPUID, c);
		if (r == -E2BIG) {
			free(c);
			continue;
		}
		if (r < 0) {
			free(c);
			return r;
		}
		k->supported_cpuid = c;
		return 0;
	}
	return -E2BIG;
}

static int kvm_load_msr_list(struct kvm *k)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *l;
	int r;

	r = kvm_ioctl(k->fd, KVM_GET_MSR_INDEX_LIST, &probe);
	if (r < 0 && r != -E2BIG)
		return r;
	l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(l->indices[0]));
	if (!l)
		return -ENOMEM;
	l->nmsrs = probe.nmsrs;
	r = kvm_ioctl(k->fd, KVM_GET_MSR_INDEX_LIST, l);
	if (r < 0) {
		free(l);
		return r;
	}
	k->msr_list = l;
	return 0;
}

int kvm_open(struct kvm *k, const char *path)
{
	int r;

	memset(k, 0, sizeof(*k));
	path = path ? path : "/dev/kvm";
	k->fd = open(path, O_RDWR | O_CLOEXEC);
	if (k->fd < 0) {
		r = -errno;
		pr_err("cannot open %s: %s%s", path, strerror(errno),
		       errno == ENOENT ? " (is the kvm module loaded and virtualization enabled in the firmware?)"
		       : errno == EACCES ? " (add yourself to the 'kvm' group or run as root)" : "");
		return r;
	}
	k->api_version = ioctl(k->fd, KVM_GET_API_VERSION, 0);
	if (k->api_version != KVM_API_VERSION) {
		pr_err("%s: KVM API version %d, kite needs %d", path, k->api_version, KVM_API_VERSION);
		r = -ENOTSUP;
		goto fail;
	}
	for (unsigned i = 0; i < kvm_ncaps; i++) {
		if (kvm_caps[i].required && !kvm_check_cap(k->fd, kvm_caps[i].cap)) {
			pr_err("%s lacks the capability KVM_CAP_%s, which kite needs for %s", path, kvm_caps[i].name,
			       kvm_caps[i].why);
			r = -ENOTSUP;
			goto fail;
		}
	}
	k->vcpu_mmap_size = ioctl(k->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		pr_err("%s: bad vCPU mmap size %d", path, k->vcpu_mmap_size);
		r = -ENOTSUP;
		goto fail;
	}
	k->max_vcpus = kvm_check_cap(k->fd, KVM_CAP_MAX_VCPUS);
	if (!k->max_vcpus)
		k->max_vcpus = kvm_check_cap(k->fd, KVM_CAP_NR_VCPUS);
	if (!k->max_vcpus)
		k->max_vcpus = 4; /* what api.rst promises when the capability is absent */
	r = kvm_load_cpuid(k);
	if (r < 0) {
		pr_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
		goto fail;
	}
	r = kvm_load_msr_list(k);
	if (r < 0) {
		pr_err("KVM_GET_MSR_INDEX_LIST: %s", strerror(-r));
		goto fail;
	}
	return 0;
fail:
	kvm_close(k);
	return r;
}

void kvm_close(struct kvm *k)
{
	if (k->fd > 0)
		close(k->fd);
	free(k->supported_cpuid);
	free(k->msr_list);
	memset(k, 0, sizeof(*k));
	k->fd = -1;
}

bool kvm_has_msr(const struct kvm *k, uint32_t index)
{
	for (unsigned i = 0; k->msr_list && i < k->msr_list->nmsrs; i++)
		if (k->msr_list->indices[i] == index)
			return true;
	return false;
}

int kvm_create_vm(struct kvm *k)
{
	int r;

	do
		r = ioctl(k->fd, KVM_CREATE_VM, 0);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

int kvm_set_memory_region(int vmfd, uint32_t slot, uint64_t gpa, uint64_t size, void *hva, uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return kvm_ioctl(vmfd, KVM_SET_USER_MEMORY_REGION, &r);
}

int kvm_set_tss_addr(int vmfd, uint64_t addr)
{
	int r = ioctl(vmfd, KVM_SET_TSS_ADDR, (unsigned long)addr);

	return r < 0 ? -errno : 0;
}

int kvm_set_identity_map_addr(int vmfd, uint64_t addr)
{
	return kvm_ioctl(vmfd, KVM_SET_IDENTITY_MAP_ADDR, &addr);
}

int kvm_create_irqchip(int vmfd)
{
	return kvm_ioctl(vmfd, KVM_CREATE_IRQCHIP, NULL);
}

int kvm_create_pit2(int vmfd)
{
	/* The speaker port 0x61 is then handled in the kernel too (PIT channel 2 gate). */
	struct kvm_pit_config c = { .flags = KVM_PIT_SPEAKER_DUMMY };

	return kvm_ioctl(vmfd, KVM_CREATE_PIT2, &c);
}

int kvm_irq_line(int vmfd, uint32_t gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };

	return kvm_ioctl(vmfd, KVM_IRQ_LINE, &l);
}

int kvm_signal_msi(int vmfd, uint64_t addr, uint32_t data)
{
	struct kvm_msi m = { .address_lo = (uint32_t)addr, .address_hi = addr >> 32, .data = data };
	int r = kvm_ioctl(vmfd, KVM_SIGNAL_MSI, &m);

	return r < 0 ? r : 0;
}

int kvm_set_gsi_routing(int vmfd, const struct kvm_irq_routing_entry *e, unsigned nr)
{
	struct kvm_irq_routing *t = calloc(1, sizeof(*t) + nr * sizeof(*e));
	int r;

	if (!t)
		return -ENOMEM;
	t->nr = nr;
	memcpy(t->entries, e, nr * sizeof(*e));
	r = kvm_ioctl(vmfd, KVM_SET_GSI_ROUTING, t);
	free(t);
	return r;
}

int kvm_irqfd(int vmfd, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd i = { .fd = fd, .gsi = gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };

	return kvm_ioctl(vmfd, KVM_IRQFD, &i);
}

int kvm_ioeventfd(int vmfd, int fd, uint64_t addr, uint32_t len, bool pio, bool assign)
{
	struct kvm_ioeventfd e = {
		.addr = addr, .len = len, .fd = fd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	return kvm_ioctl(vmfd, KVM_IOEVENTFD, &e);
}

int kvm_create_vcpu(int vmfd, unsigned id)
{
	int r;

	do
		r = ioctl(vmfd, KVM_CREATE_VCPU, (unsigned long)id);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

int kvm_run(int vcpufd)
{
	return ioctl(vcpufd, KVM_RUN, 0) < 0 ? -errno : 0;
}

int kvm_get_regs(int vcpufd, struct kvm_regs *r)
{
	return kvm_ioctl(vcpufd, KVM_GET_REGS, r);
}

int kvm_set_regs(int vcpufd, const struct kvm_regs *r)
{
	return kvm_ioctl(vcpufd, KVM_SET_REGS, (void *)r);
}

int kvm_get_sregs(int vcpufd, struct kvm_sregs *s)
{
	return kvm_ioctl(vcpufd, KVM_GET_SREGS, s);
}

int kvm_set_sregs(int vcpufd, const struct kvm_sregs *s)
{
	return kvm_ioctl(vcpufd, KVM_SET_SREGS, (void *)s);
}

int kvm_set_fpu(int vcpufd, const struct kvm_fpu *f)
{
	return kvm_ioctl(vcpufd, KVM_SET_FPU, (void *)f);
}

int kvm_set_cpuid2(int vcpufd, const struct kvm_cpuid2 *c)
{
	return kvm_ioctl(vcpufd, KVM_SET_CPUID2, (void *)c);
}

int kvm_set_msrs(int vcpufd, const struct kvm_msrs *m)
{
	int r = kvm_ioctl(vcpufd, KVM_SET_MSRS, (void *)m);

	if (r >= 0 && (unsigned)r != m->nmsrs)
		return -EINVAL; /* KVM stops at the first MSR it refuses */
	return r < 0 ? r : 0;
}

int kvm_get_lapic(int vcpufd, struct kvm_lapic_state *l)
{
	return kvm_ioctl(vcpufd, KVM_GET_LAPIC, l);
}

int kvm_set_lapic(int vcpufd, const struct kvm_lapic_state *l)
{
	return kvm_ioctl(vcpufd, KVM_SET_LAPIC, (void *)l);
}

int kvm_get_mp_state(int vcpufd, struct kvm_mp_state *s)
{
	return kvm_ioctl(vcpufd, KVM_GET_MP_STATE, s);
}

int kvm_translate(int vcpufd, uint64_t gva, uint64_t *gpa)
{
	struct kvm_translation t = { .linear_address = gva };
	int r = kvm_ioctl(vcpufd, KVM_TRANSLATE, &t);

	if (r < 0)
		return r;
	if (!t.valid)
		return -EFAULT;
	*gpa = t.physical_address;
	return 0;
}

int kvm_kvmclock_ctrl(int vcpufd)
{
	return kvm_ioctl(vcpufd, KVM_KVMCLOCK_CTRL, NULL);
}

int kvm_set_mp_state(int vcpufd, const struct kvm_mp_state *s)
{
	return kvm_ioctl(vcpufd, KVM_SET_MP_STATE, (void *)s);
}

int kvm_get_fpu(int vcpufd, struct kvm_fpu *f)
{
	return kvm_ioctl(vcpufd, KVM_GET_FPU, f);
}

int kvm_xsave_size(int vmfd)
{
	int n = kvm_check_cap(vmfd, KVM_CAP_XSAVE2);

	return n > (int)sizeof(struct kvm_xsave) ? n : (int)sizeof(struct kvm_xsave);
}

int kvm_get_xsave(int vcpufd, struct kvm_xsave *x, int size)
{
	/* KVM_GET_XSAVE copies exactly 4 KiB; larger areas (AMX) need the XSAVE2 form. */
	return kvm_ioctl(vcpufd, size > (int)sizeof(*x) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, x);
}

int kvm_set_xsave(int vcpufd, const struct kvm_xsave *x)
{
	return kvm_ioctl(vcpufd, KVM_SET_XSAVE, (void *)x);
}

int kvm_get_xcrs(int vcpufd, struct kvm_xcrs *x)
{
	return kvm_ioctl(vcpufd, KVM_GET_XCRS, x);
}

int kvm_set_xcrs(int vcpufd, const struct kvm_xcrs *x)
{
	return kvm_ioctl(vcpufd, KVM_SET_XCRS, (void *)x);
}

int kvm_get_debugregs(int vcpufd, struct kvm_debugregs *d)
{
	return kvm_ioctl(vcpufd, KVM_GET_DEBUGREGS, d);
}

int kvm_set_debugregs(int vcpufd, const struct kvm_debugregs *d)
{
	return kvm_ioctl(vcpufd, KVM_SET_DEBUGREGS, (void *)d);
}

int kvm_get_msrs(int vcpufd, struct kvm_msrs *m)
{
	return kvm_ioctl(vcpufd, KVM_GET_MSRS, m);
}

int kvm_set_msrs_partial(int vcpufd, const struct kvm_msrs *m)
{
	return kvm_ioctl(vcpufd, KVM_SET_MSRS, (void *)m);
}

int kvm_get_vcpu_events(int vcpufd, struct kvm_vcpu_events *e)
{
	return kvm_ioctl(vcpufd, KVM_GET_VCPU_EVENTS, e);
}

int kvm_set_vcpu_events(int vcpufd, const struct kvm_vcpu_events *e)
{
	return kvm_ioctl(vcpufd, KVM_SET_VCPU_EVENTS, (void *)e);
}

int kvm_get_tsc_khz(int vcpufd)
{
	int r = ioctl(vcpufd, KVM_GET_TSC_KHZ, 0);

	return r < 0 ? -errno : r;
}

int kvm_set_tsc_khz(int vcpufd, unsigned khz)
{
	int r = ioctl(vcpufd, KVM_SET_TSC_KHZ, (unsigned long)khz);

	return r < 0 ? -errno : 0;
}

int kvm_get_irqchip(int vmfd, struct kvm_irqchip *c)
{
	return kvm_ioctl(vmfd, KVM_GET_IRQCHIP, c);
}

int kvm_set_irqchip(int vmfd, const struct kvm_irqchip *c)
{
	return kvm_ioctl(vmfd, KVM_SET_IRQCHIP, (void *)c);
}

int kvm_get_pit2(int vmfd, struct kvm_pit_state2 *p)
{
	return kvm_ioctl(vmfd, KVM_GET_PIT2, p);
}

int kvm_set_pit2(int vmfd, const struct kvm_pit_state2 *p)
{
	return kvm_ioctl(vmfd, KVM_SET_PIT2, (void *)p);
}

int kvm_get_clock(int vmfd, struct kvm_clock_data *c)
{
	return kvm_ioctl(vmfd, KVM_GET_CLOCK, c);
}

int kvm_set_clock(int vmfd, const struct kvm_clock_data *c)
{
	return kvm_ioctl(vmfd, KVM_SET_CLOCK, (void *)c);
}

int kvm_enable_cap(int vmfd, uint32_t cap, uint64_t arg0)
{
	struct kvm_enable_cap c = { .cap = cap, .args = { arg0 } };

	return kvm_ioctl(vmfd, KVM_ENABLE_CAP, &c);
}

int kvm_get_dirty_log(int vmfd, uint32_t slot, void *bitmap)
{
	struct kvm_dirty_log d = { .slot = slot, .dirty_bitmap = bitmap };

	return kvm_ioctl(vmfd, KVM_GET_DIRTY_LOG, &d);
}

int kvm_clear_dirty_log(int vmfd, uint32_t slot, uint64_t first_page, uint32_t num_pages, void *bitmap)
{
	struct kvm_clear_dirty_log c = {
		.slot = slot, .num_pages = num_pages, .first_page = first_page, .dirty_bitmap = bitmap,
	};

	return kvm_ioctl(vmfd, KVM_CLEAR_DIRTY_LOG, &c);
}
