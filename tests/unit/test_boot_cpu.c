// SPDX-License-Identifier: MIT
/* boot_entry -> KVM register state: flat 32-bit protected mode and 64-bit long mode. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/kvm.h>

#include <kite/boot_cpu.h>

/* What KVM_GET_SREGS returns after a vCPU reset (the parts boot_cpu_setup must change or keep). */
static void reset_sregs(struct kvm_sregs *s)
{
	memset(s, 0, sizeof(*s));
	s->cr0 = 0x60000010; /* CD | NW | ET */
	s->cs = (struct kvm_segment){ .base = 0xffff0000, .limit = 0xffff, .selector = 0xf000, .type = 0xb,
				      .present = 1, .s = 1 };
	s->tr = (struct kvm_segment){ .limit = 0xffff, .type = 0xb, .present = 1 };
	s->idt.limit = 0xffff;
	s->apic_base = 0xfee00900;
}

static void check_flat(const struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	assert_int_equal(s->base, 0);
	assert_int_equal(s->limit, 0xffffffff);
	assert_int_equal(s->selector, sel);
	assert_int_equal(s->type, type);
	assert_int_equal(s->present, 1);
	assert_int_equal(s->s, 1);
	assert_int_equal(s->g, 1);
	assert_int_equal(s->dpl, 0);
}

static void test_prot32(void **state)
{
	struct boot_entry e = { .mode = BOOT_CPU_PROT32, .rip = 0x100010, .rsp = 0x3000, .rax = 0x2BADB002,
				.rbx = 0x1000, .gdt_base = 0x2000, .gdt_limit = 31 };
	struct kvm_regs regs;
	struct kvm_sregs s;

	reset_sregs(&s);
	assert_int_equal(boot_cpu_setup(&e, &regs, &s), 0);
	assert_int_equal(regs.rip, 0x100010);
	assert_int_equal(regs.rsp, 0x3000);
	assert_int_equal(regs.rax, 0x2BADB002);
	assert_int_equal(regs.rbx, 0x1000);
	assert_int_equal(regs.rflags, 0x2);
	check_flat(&s.cs, BOOT_GDT_CS, 0xb);
	assert_int_equal(s.cs.db, 1);
	assert_int_equal(s.cs.l, 0);
	check_flat(&s.ds, BOOT_GDT_DS, 0x3);
	check_flat(&s.ss, BOOT_GDT_DS, 0x3);
	assert_int_equal(s.ss.db, 1);
	check_flat(&s.es, BOOT_GDT_DS, 0x3);
	assert_int_equal(s.cr0, 0x11); /* PE | ET: paging off, caches on */
	assert_int_equal(s.cr4 & 0x20, 0);
	assert_int_equal(s.efer, 0);
	assert_int_equal(s.gdt.base, 0x2000);
	assert_int_equal(s.gdt.limit, 31);
	/* Left as KVM had them. */
	assert_int_equal(s.tr.type, 0xb);
	assert_int_equal(s.apic_base, 0xfee00900);
}

static void test_long64(void **state)
{
	struct boot_entry e = { .mode = BOOT_CPU_LONG64, .rip = 0x1000200, .rsi = 0x7000, .cr3 = 0x9000,
				.gdt_base = 0x2000, .gdt_limit = 31, .rsp = 0x4000 };
	struct kvm_regs regs;
	struct kvm_sregs s;

	reset_sregs(&s);
	assert_int_equal(boot_cpu_setup(&e, &regs, &s), 0);
	assert_int_equal(regs.rip, 0x1000200);
	assert_int_equal(regs.rsi, 0x7000);
	assert_int_equal(regs.rflags, 0x2);
	check_flat(&s.cs, BOOT_GDT_CS, 0xb);
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0);
	check_flat(&s.ds, BOOT_GDT_DS, 0x3);
	assert_int_equal(s.cr0, 0x80000011); /* PG | ET | PE */
	assert_int_equal(s.cr3, 0x9000);
	assert_int_equal(s.cr4 & 0x20, 0x20);
	assert_int_equal(s.efer, 0x500); /* LME | LMA */
}

static void test_bad_mode(void **state)
{
	struct boot_entry e = { .mode = 7 };
	struct kvm_regs regs;
	struct kvm_sregs s;

	reset_sregs(&s);
	assert_int_equal(boot_cpu_setup(&e, &regs, &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prot32),
		cmocka_unit_test(test_long64),
		cmocka_unit_test(test_bad_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
