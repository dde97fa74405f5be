// SPDX-License-Identifier: MIT
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

struct kvm_msrs *msr_reset_values(const struct kvm *k)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + ARRAY_SIZE(msr_reset) * sizeof(m->entries[0]));

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
	return m;
}
