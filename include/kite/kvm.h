/* SPDX-License-Identifier: MIT */
#ifndef KITE_KVM_H
#define KITE_KVM_H

/*
 * Thin, typed wrappers of the /dev/kvm ioctls: the only place that knows
 * them.  Each returns 0 (or a value) on success and -errno on failure, and
 * leaves the message to the caller, who knows what the call was for.
 */

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

struct kvm {
	int fd;
	int api_version;
	int vcpu_mmap_size;
	int max_vcpus;
	struct kvm_cpuid2 *supported_cpuid; /* KVM_GET_SUPPORTED_CPUID, malloc'd */
	struct kvm_msr_list *msr_list;      /* KVM_GET_MSR_INDEX_LIST, malloc'd */
};

struct kvm_cap_desc {
	long cap;
	const char *name;
	bool required;
	const char *why;
};

/* The capabilities kite uses; `kite host` prints them. */
extern const struct kvm_cap_desc kvm_caps[];
extern const unsigned kvm_ncaps;

/* Opens `path` (NULL = /dev/kvm), checks the API version and every required capability. */
int kvm_open(struct kvm *k, const char *path);
void kvm_close(struct kvm *k);
int kvm_check_cap(int fd, long cap);
bool kvm_has_msr(const struct kvm *k, uint32_t index);

int kvm_create_vm(struct kvm *k);
int kvm_set_memory_region(int vmfd, uint32_t slot, uint64_t gpa, uint64_t size, void *hva, uint32_t flags);
int kvm_set_tss_addr(int vmfd, uint64_t addr);
int kvm_set_identity_map_addr(int vmfd, uint64_t addr);
int kvm_create_irqchip(int vmfd);
int kvm_create_pit2(int vmfd);
int kvm_irq_line(int vmfd, uint32_t gsi, int level);
int kvm_signal_msi(int vmfd, uint64_t addr, uint32_t data);
int kvm_set_gsi_routing(int vmfd, const struct kvm_irq_routing_entry *e, unsigned nr);
int kvm_irqfd(int vmfd, int fd, uint32_t gsi, bool assign);
int kvm_ioeventfd(int vmfd, int fd, uint64_t addr, uint32_t len, bool pio, bool assign);

int kvm_create_vcpu(int vmfd, unsigned id);
int kvm_run(int vcpufd); /* 0, or -errno (-EINTR when kicked) */
int kvm_get_regs(int vcpufd, struct kvm_regs *r);
int kvm_set_regs(int vcpufd, const struct kvm_regs *r);
int kvm_get_sregs(int vcpufd, struct kvm_sregs *s);
int kvm_set_sregs(int vcpufd, const struct kvm_sregs *s);
int kvm_set_fpu(int vcpufd, const struct kvm_fpu *f);
int kvm_set_cpuid2(int vcpufd, const struct kvm_cpuid2 *c);
/* Sets the `n` MSRs; fails unless KVM accepted all of them. */
int kvm_set_msrs(int vcpufd, const struct kvm_msrs *m);
int kvm_get_lapic(int vcpufd, struct kvm_lapic_state *l);
int kvm_set_lapic(int vcpufd, const struct kvm_lapic_state *l);
int kvm_get_mp_state(int vcpufd, struct kvm_mp_state *s);
int kvm_translate(int vcpufd, uint64_t gva, uint64_t *gpa);
int kvm_kvmclock_ctrl(int vcpufd);

/* Saving and restoring a vCPU and the VM's in-kernel devices (src/state). */
int kvm_set_mp_state(int vcpufd, const struct kvm_mp_state *s);
int kvm_get_fpu(int vcpufd, struct kvm_fpu *f);
/* Bytes of the XSAVE area (KVM_CAP_XSAVE2), at least sizeof(struct kvm_xsave). */
int kvm_xsave_size(int vmfd);
/* `x` holds kvm_xsave_size() bytes; KVM_GET_XSAVE2 when the size is larger than 4 KiB. */
int kvm_get_xsave(int vcpufd, struct kvm_xsave *x, int size);
int kvm_set_xsave(int vcpufd, const struct kvm_xsave *x);
int kvm_get_xcrs(int vcpufd, struct kvm_xcrs *x);
int kvm_set_xcrs(int vcpufd, const struct kvm_xcrs *x);
int kvm_get_debugregs(int vcpufd, struct kvm_debugregs *d);
int kvm_set_debugregs(int vcpufd, const struct kvm_debugregs *d);
/* Returns the number of MSRs read (KVM stops at the first one it refuses). */
int kvm_get_msrs(int vcpufd, struct kvm_msrs *m);
/* Like kvm_set_msrs but returns the number KVM accepted. */
int kvm_set_msrs_partial(int vcpufd, const struct kvm_msrs *m);
int kvm_get_vcpu_events(int vcpufd, struct kvm_vcpu_events *e);
int kvm_set_vcpu_events(int vcpufd, const struct kvm_vcpu_events *e);
int kvm_get_tsc_khz(int vcpufd);
int kvm_set_tsc_khz(int vcpufd, unsigned khz);
int kvm_get_irqchip(int vmfd, struct kvm_irqchip *c);
int kvm_set_irqchip(int vmfd, const struct kvm_irqchip *c);
int kvm_get_pit2(int vmfd, struct kvm_pit_state2 *p);
int kvm_set_pit2(int vmfd, const struct kvm_pit_state2 *p);
int kvm_get_clock(int vmfd, struct kvm_clock_data *c);
int kvm_set_clock(int vmfd, const struct kvm_clock_data *c);

/* Dirty-page logging (src/migrate): slots carry KVM_MEM_LOG_DIRTY_PAGES while it is on. */
int kvm_enable_cap(int vmfd, uint32_t cap, uint64_t arg0);
/* `bitmap`: one bit per page of the slot, 64-bit aligned; with manual protect it is not cleared. */
int kvm_get_dirty_log(int vmfd, uint32_t slot, void *bitmap);
/* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: clears and write-protects the set bits; first_page and num_pages 64-aligned. */
int kvm_clear_dirty_log(int vmfd, uint32_t slot, uint64_t first_page, uint32_t num_pages, void *bitmap);

#endif
