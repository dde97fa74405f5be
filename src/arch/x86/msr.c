// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stdlib.h>

#include <kite/msr.h>
#include <kite/util.h>

static const struct {
	uint32_t index;
	uint64_t value;
} msr_reset[] = {
	{ MSR_IA32_SYSENTER_CS, 0 },
	{ MSR_IA32_SYSENTER_ESP, 0 },
	{ MSR_IA32_SYSENTER_EIP, 0 },
	{ MSR_STAR, 0 },
	{ MSR_LSTAR, 0 },
	{ MSR_CSTAR, 0 },
	{ MSR_SYSCALL_MASK, 0 },
	{ MSR_KERNEL_GS_BASE, 0 },
	{ MSR_IA32_TSC, 0 },
	{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
	{ MSR_IA32_CR_PAT, PAT_POWER_ON_VALUE },
	/* No firmware runs before the kernel: do what it would and enable write-back MTRRs. */
	{ MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E_WB },
};

static bool msr_host_is_amd(const struct kvm *k)
{
	for (unsigned i = 0; k->supported_cpuid && i < k->supported_cpuid->nent; i++)
		if (k->supported_cpuid->entries[i].function == 0)
			return k->supported_cpuid->entries[i].ebx == 0x68747541; /* "Auth"enticAMD */
	return false;
}

struct kvm_msrs *msr_reset_values(const struct kvm *k)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + (ARRAY_SIZE(msr_reset) + 1) * sizeof(m->entries[0]));

	if (!m)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(msr_reset); i++) {
		/* MTRR and PAT are not always in the index list but KVM always emulates them. */
		if (!kvm_has_msr(k, msr_reset[i].index) && msr_reset[i].index != MSR_MTRR_DEF_TYPE &&
		    msr_reset[i].index != MSR_IA32_CR_PAT && msr_reset[i].index != MSR_IA32_MISC_ENABLE)
			continue;
		m->entries[m->nmsrs].index = msr_reset[i].index;
		m->entries[m->nmsrs].data = msr_reset[i].value;
		m->nmsrs++;
	}
	/*
	 * AMD: HWCR.TscFreqSel says the TSC counts at the P0 frequency, as
	 * every AMD firmware leaves it; without it Linux reports a firmware bug.
	 */
	if (msr_host_is_amd(k)) {
		m->entries[m->nmsrs].index = MSR_K7_HWCR;
		m->entries[m->nmsrs].data = HWCR_TSC_FREQ_SEL;
		m->nmsrs++;
	}
	return m;
}
