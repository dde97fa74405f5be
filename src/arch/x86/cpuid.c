// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <kite/cpuid.h>

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT        (1u << 28)

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned function, unsigned index)
{
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != function)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
			continue;
		return e;
	}
	return NULL;
}

/* Bits needed to number `n` things: the x2APIC id shift of a topology level. */
static unsigned order_base_2(unsigned n)
{
	unsigned s = 0;

	while ((1u << s) < n)
		s++;
	return s;
}

static void cpuid_topology_leaf(struct kvm_cpuid_entry2 *e, unsigned apic_id, unsigned ncpus)
{
	unsigned shift = order_base_2(ncpus);

	switch (e->index) {
	case 0: /* SMT level: one thread per core */
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (1u << 8) | e->index;
		break;
	case 1: /* core level */
		e->eax = shift;
		e->ebx = ncpus;
		e->ecx = (2u << 8) | e->index;
		break;
	default: /* no further levels */
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;
		break;
	}
	e->edx = apic_id;
}

static void cpuid_fix_entry(struct kvm_cpuid_entry2 *e, unsigned apic_id, unsigned ncpus)
{
	switch (e->function) {
	case 0x1:
		e->ebx = (e->ebx & 0x0000ffffu) | ((ncpus > 255 ? 255 : ncpus) << 16) | (apic_id << 24);
		e->ecx |= CPUID_1_ECX_HYPERVISOR;
		if (ncpus > 1)
			e->edx |= CPUID_1_EDX_HTT;
		else
			e->edx &= ~CPUID_1_EDX_HTT;
		break;
	case 0x4:
		/* EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing the cache - 1. */
		if (e->eax & 0x1f) {
			unsigned cores = 1u << order_base_2(ncpus);
			unsigned level = (e->eax >> 5) & 7;
			unsigned sharing = level >= 3 ? ncpus - 1 : 0;

			e->eax = (e->eax & 0x3fff) | ((sharing & 0xfff) << 14) | (((cores - 1) & 0x3f) << 26);
		}
		break;
	case 0xa:
		e->eax = e->ebx = e->ecx = e->edx = 0;
		break;
	case 0x80000001:
		/* CmpLegacy: the HTT count of leaf 1 counts cores (AMD). */
		if (ncpus > 1)
			e->ecx |= 1u << 1;
		else
			e->ecx &= ~(1u << 1);
		break;
	case 0x80000008:
		/* AMD core count: ECX[7:0] = cores - 1, ECX[15:12] = APIC id bits for the core. */
		e->ecx = (e->ecx & ~0xf0ffu) | (order_base_2(ncpus) << 12) | ((ncpus - 1) & 0xff);
		break;
	case 0xb:
	case 0x1f:
		cpuid_topology_leaf(e, apic_id, ncpus);
		break;
	case 0x40000000:
		e->eax = 0x40000001;
		memcpy(&e->ebx, CPUID_HV_SIGNATURE, 4);
		memcpy(&e->ecx, &CPUID_HV_SIGNATURE[4], 4);
		memcpy(&e->edx, &CPUID_HV_SIGNATURE[8], 4);
		break;
	}
}

/*
 * KVM lists leaf 0xB (and 0x1F) with whatever sub-leaves the host had, often
 * just one: kite replaces them with the three sub-leaves of its own topology
 * (SMT, core, end marker).
 */
static bool cpuid_is_topology(const struct kvm_cpuid_entry2 *e)
{
	return e->function == 0xb || e->function == 0x1f;
}

static void cpuid_add_topology(struct kvm_cpuid2 *c, unsigned function, unsigned apic_id, unsigned ncpus)
{
	for (unsigned sub = 0; sub < 3; sub++) {
		struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

		memset(e, 0, sizeof(*e));
		e->function = function;
		e->index = sub;
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		cpuid_topology_leaf(e, apic_id, ncpus);
	}
}

struct kvm_cpuid2 *cpuid_policy(const struct kvm_cpuid2 *supported, unsigned index, unsigned ncpus)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (supported->nent + 6) * sizeof(c->entries[0]));
	bool has_1f = false;
	unsigned max_basic = 0;

	if (!c)
		return NULL;
	for (unsigned i = 0; i < supported->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &supported->entries[i];

		if (e->function == 0)
			max_basic = e->eax;
		if (e->function == 0x1f)
			has_1f = true;
		if (cpuid_is_topology(e))
			continue;
		c->entries[c->nent] = *e;
		cpuid_fix_entry(&c->entries[c->nent], index, ncpus);
		c->nent++;
	}
	if (max_basic >= 0xb)
		cpuid_add_topology(c, 0xb, index, ncpus);
	if (has_1f && max_basic >= 0x1f)
		cpuid_add_topology(c, 0x1f, index, ncpus);
	return c;
}
