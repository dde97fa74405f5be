/* SPDX-License-Identifier: MIT */
#ifndef KITE_CPUID_H
#define KITE_CPUID_H

/*
 * kite's CPUID policy (docs/architecture.md, "CPUID policy"): start from what
 * KVM supports on this host, then
 *   - topology: one package, `ncpus` cores, one thread per core; APIC id =
 *     vCPU index (leaf 1 EBX, leaf 4 EAX, leaves 0xB and 0x1F);
 *   - leaf 1: the hypervisor bit set, HTT when ncpus > 1;
 *   - leaf 0xA: no PMU (counters are host-specific and break snapshots and
 *     migration between hosts);
 *   - hypervisor leaves: 0x40000000 "KVMKVMKVM\0\0\0" with max leaf
 *     0x40000001, whose EAX holds the kvmclock and paravirtual features KVM
 *     offers (as KVM reports them).
 */

#include <linux/kvm.h>

#define CPUID_HV_SIGNATURE "KVMKVMKVM\0\0\0"

/* A malloc'd CPUID table for vCPU `index` of `ncpus`, or NULL when out of memory. */
struct kvm_cpuid2 *cpuid_policy(const struct kvm_cpuid2 *supported, unsigned index, unsigned ncpus);
/* The entry for (function, index) in `c`, or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned function, unsigned index);

#endif
