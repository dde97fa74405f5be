/* SPDX-License-Identifier: MIT */
#ifndef KITE_BOOT_CPU_H
#define KITE_BOOT_CPU_H

/*
 * The boot processor's first register state for a loaded kernel: turns the
 * loader's struct boot_entry into what KVM_SET_REGS / KVM_SET_SREGS take.
 */

#include <kite/boot.h>

struct kvm_regs;
struct kvm_sregs;

/*
 * Fills `regs` entirely and updates `sregs`, which the caller read with
 * KVM_GET_SREGS (its TR, LDT, IDT, APIC base and interrupt bitmap stay).
 * -EINVAL for an unknown mode.
 */
int boot_cpu_setup(const struct boot_entry *e, struct kvm_regs *regs, struct kvm_sregs *sregs);

#endif
