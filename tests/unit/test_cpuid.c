// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kite/cpuid.h>

/* A host's supported list, shaped like KVM's on an AMD machine: leaf 0xB with one sub-leaf. */
static struct kvm_cpuid2 *fake_supported(void)
{
	static const struct kvm_cpuid_entry2 e[] = {
		{ .function = 0, .eax = 0x10 },
		{ .function = 1, .eax = 0xa00f11, .ebx = 0x00020800, .ecx = 0x01202000, .edx = 0x078bfbff },
		{ .function = 4, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x63 },
		{ .function = 0xa, .eax = 0x07300402, .ebx = 0, .edx = 0x603 },
		{ .function = 0xb, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ .function = 0x40000000, .eax = 0x40000001 },
		{ .function = 0x40000001, .eax = 0x01007efb },
		{ .function = 0x80000001, .ecx = 0x00400391 },
		{ .function = 0x80000008, .eax = 0x3030, .ecx = 0x7001 },
	};
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + sizeof(e));

	c->nent = sizeof(e) / sizeof(e[0]);
	memcpy(c->entries, e, sizeof(e));
	return c;
}

static void test_leaf1_apic_and_count(void **state)
{
	struct kvm_cpuid2 *s = fake_supported(), *c = cpuid_policy(s, 3, 4);
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 1, 0);

	assert_non_null(e);
	assert_int_equal(e->ebx >> 24, 3);
	assert_int_equal((e->ebx >> 16) & 0xff, 4);
	assert_int_equal(e->ebx & 0xffff, 0x0800); /* CLFLUSH size etc. kept */
	assert_true(e->ecx & (1u << 31));          /* hypervisor */
	assert_true(e->edx & (1u << 28));          /* HTT */
	free(c);
	c = cpuid_policy(s, 0, 1);
	e = cpuid_find(c, 1, 0);
	assert_false(e->edx & (1u << 28));
	free(c);
	free(s);
}

static void test_topology_leaf_b(void **state)
{
	struct kvm_cpuid2 *s = fake_supported(), *c = cpuid_policy(s, 5, 6);
	struct kvm_cpuid_entry2 *e;

	e = cpuid_find(c, 0xb, 0);
	assert_non_null(e);
	assert_int_equal(e->ebx, 1);
	assert_int_equal((e->ecx >> 8) & 0xff, 1); /* SMT */
	assert_int_equal(e->edx, 5);
	e = cpuid_find(c, 0xb, 1);
	assert_non_null(e);
	assert_int_equal(e->eax, 3); /* 6 cpus need 3 bits */
	assert_int_equal(e->ebx, 6);
	assert_int_equal((e->ecx >> 8) & 0xff, 2); /* core */
	e = cpuid_find(c, 0xb, 2);
	assert_non_null(e);
	assert_int_equal((e->ecx >> 8) & 0xff, 0); /* end */
	free(c);
	free(s);
}

static void test_no_pmu_and_hv_leaf(void **state)
{
	struct kvm_cpuid2 *s = fake_supported(), *c = cpuid_policy(s, 0, 2);
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 0xa, 0);
	char sig[13] = "";

	assert_int_equal(e->eax | e->ebx | e->ecx | e->edx, 0);
	e = cpuid_find(c, 0x40000000, 0);
	memcpy(sig, &e->ebx, 4);
	memcpy(sig + 4, &e->ecx, 4);
	memcpy(sig + 8, &e->edx, 4);
	assert_memory_equal(sig, "KVMKVMKVM\0\0\0", 12);
	assert_int_equal(e->eax, 0x40000001);
	e = cpuid_find(c, 0x40000001, 0);
	assert_int_equal(e->eax, 0x01007efb); /* KVM's features passed through */
	free(c);
	free(s);
}

static void test_amd_core_count(void **state)
{
	struct kvm_cpuid2 *s = fake_supported(), *c = cpuid_policy(s, 0, 4);
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 0x80000008, 0);

	assert_int_equal(e->ecx & 0xff, 3);
	assert_int_equal((e->ecx >> 12) & 0xf, 2);
	e = cpuid_find(c, 0x80000001, 0);
	assert_true(e->ecx & 2);
	free(c);
	free(s);
}

static void test_leaf4_cores(void **state)
{
	struct kvm_cpuid2 *s = fake_supported(), *c = cpuid_policy(s, 0, 3);
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 4, 0);

	/* 0x63: level 3 unified cache: 3 cpus share it, 4 core ids in the package. */
	assert_int_equal((e->eax >> 26) + 1, 4);
	assert_int_equal(((e->eax >> 14) & 0xfff) + 1, 3);
	assert_int_equal(e->eax & 0x3fff, 0x63);
	free(c);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leaf1_apic_and_count), cmocka_unit_test(test_topology_leaf_b),
		cmocka_unit_test(test_no_pmu_and_hv_leaf),   cmocka_unit_test(test_amd_core_count),
		cmocka_unit_test(test_leaf4_cores),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
