# VM exits and how kite ends: tiny 32-bit PVH guests assembled at test time,
# each doing one thing in ring 0 (a few instructions: fine even where ring 0 is emulated).

# debug_exit VALUE: assembly that writes VALUE to port 0xf4.
debug_exit() { printf 'mov $0xf4, %%dx\n mov $%s, %%eax\n outl %%eax, %%dx\n' "$1"; }

host_ring0() { "$KITE" host 2>/dev/null | sed -n 's/^ring0: //p'; }

test_debug_exit_status() {
	asm_guest dx "$(debug_exit 0x12)" || return 1
	expect_status $((0x12 * 2 + 1)) "$KITE" run --kernel "$TMP/dx.elf"
}

test_unclaimed_port_reads_all_ones() {
	# in from an unclaimed port: 0xffffffff; exit(1) if so, exit(2) otherwise.
	asm_guest unclaimed "
	mov \$0x2f0, %dx
	inl %dx, %eax
	cmp \$0xffffffff, %eax
	jne 2f
	$(debug_exit 1)
2:	$(debug_exit 2)" || return 1
	expect_status 3 "$KITE" run --kernel "$TMP/unclaimed.elf"
}

test_string_io_to_uart() {
	# rep outsb: one exit carrying several bytes.
	asm_guest strio "
	mov \$0x3f8, %dx
	mov \$msg, %esi
	mov \$(msg_end - msg), %ecx
	cld
	rep outsb
	$(debug_exit 0)" || return 1
	expect_status 1 "$KITE" run --kernel "$TMP/strio.elf" || return 1
	expect_in "$TMP/out" "string io"
}

test_i8042_reset_ends_with_0() {
	asm_guest kbdreset "
	mov \$0xfe, %al
	outb %al, \$0x64" || return 1
	expect_status 0 "$KITE" run --kernel "$TMP/kbdreset.elf" || return 1
	expect_in "$TMP/err" "i8042 reset"
}

test_triple_fault_ends_with_0() {
	# An empty IDT: the #UD cannot be delivered, the double fault neither.
	asm_guest triple "
	lidt null_idt
	ud2" || return 1
	expect_status 0 "$KITE" run --kernel "$TMP/triple.elf" || return 1
	expect_in "$TMP/err" "triple fault"
}

test_reboot_restart_boots_again() {
	again_guest || return 1
	timeout -k 2 3 "$KITE" run --kernel "$TMP/again.elf" --reboot restart >"$TMP/out" 2>"$TMP/err"
	n=$(tr -cd B <"$TMP/out" | wc -c)
	[ "$n" -ge 3 ] || fail "the guest booted $n times in 3 s with --reboot restart"
}

test_emulation_failure_is_reported() {
	[ "$(host_ring0)" = emulated ] ||
		{ skip "needs a host whose KVM emulates guest ring 0 (int3 is fine on VT-x/AMD-V)"; return; }
	asm_guest int3 "int3" || return 1
	expect_status 4 "$KITE" run --kernel "$TMP/int3.elf" || return 1
	expect_in "$TMP/err" "internal error" && expect_in "$TMP/err" "code at gpa" && expect_in "$TMP/err" "rip "
}

test_sigterm_stops_cleanly() {
	asm_guest spin "
2:	jmp 2b" || return 1
	"$KITE" run --kernel "$TMP/spin.elf" >"$TMP/out" 2>"$TMP/err" &
	pid=$!
	sleep 0.5
	kill -TERM $pid
	wait $pid
	rc=$?
	[ $rc = 0 ] || fail "kite exited $rc after SIGTERM" || return 1
	expect_in "$TMP/err" "Terminated"
}

test_two_cpus_stop_together() {
	# The BSP exits while the AP never got a SIPI: kite must not hang on the parked AP.
	asm_guest bsp "$(debug_exit 0)" || return 1
	expect_status 1 "$KITE" run --cpus 4 --kernel "$TMP/bsp.elf"
}
