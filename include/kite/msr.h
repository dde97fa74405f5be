/* SPDX-License-Identifier: MIT */
#ifndef KITE_MSR_H
#define KITE_MSR_H

#include <kite/kvm.h>

#define MSR_IA32_TSC            0x00000010
#define MSR_IA32_APICBASE       0x0000001b
#define MSR_IA32_SYSENTER_CS    0x00000174
#define MSR_IA32_SYSENTER_ESP   0x00000175
#define MSR_IA32_SYSENTER_EIP   0x00000176
#define MSR_IA32_MISC_ENABLE    0x000001a0
#define MSR_MTRR_DEF_TYPE       0x000002ff
#define MSR_IA32_CR_PAT         0x00000277
#define MSR_K7_HWCR             0xc0010015
#define MSR_EFER                0xc0000080
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_SYSCALL_MASK        0xc0000084
#define MSR_KERNEL_GS_BASE      0xc0000102

#define MISC_ENABLE_FAST_STRING 1ull
#define HWCR_TSC_FREQ_SEL       (1ull << 24)
#define PAT_POWER_ON_VALUE      0x0007040600070406ull
#define MTRR_DEF_TYPE_E_WB      ((1ull << 11) | 6) /* MTRRs enabled, default write-back */

/*
 * The MSR values of a vCPU at power-on, as a real CPU (and firmware that
 * enables MTRRs) would leave them; only MSRs KVM lists are included.
 * Returns a malloc'd kvm_msrs or NULL.
 */
struct kvm_msrs *msr_reset_values(const struct kvm *k);

#endif
