// SPDX-License-Identifier: MIT
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

struct kvm_cpuid2 *cpuid_policy(const struct kvm_cpuid2 *supported, unsigned index, unsigned ncpus)
{
	size_t size = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);

	if (!c)
		return NULL;
	memcpy(c, supported, size);
	for (unsigned i = 0; i < c->nent; i++)
		cpuid_fix_entry(&c->entries[i], index, ncpus);
	return c;
}
