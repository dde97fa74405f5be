# The test guests under QEMU (microvm + isa-debug-exit): the reference the
# same guests are held to under kite (tests/integration/guests.sh).
# A guest that passes writes 0 to debug-exit: QEMU exits with status 1.

COMPUTE_RESULT=0x0004520a66db2ff0	# guests/compute.c, default mib=32
DIRTY_ROUND3_SUM=0xc00007ffe000		# guests/dirty.c, 64 MiB, round 3

# qemu_guest GUEST CMDLINE WANT_STATUS [qemu args...]: output in $TMP/out.
qemu_guest() {
	local guest=$GUESTS/$1 cmdline=$2 want=$3 accel=tcg
	shift 3
	have_qemu || { skip "qemu-system-x86_64 is not installed"; return; }
	[ -f "$guest" ] || { fail "$guest is missing: run make guests"; return; }
	have_kvm && accel=kvm
	expect_status "$want" qemu-system-x86_64 -M microvm -accel "$accel" -m 256M -nodefaults -no-reboot \
		-nographic -display none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-kernel "$guest" -append "$cmdline" "$@"
}

test_hello() {
	qemu_guest hello.elf "greeting=hi answer=42" 1 || return
	expect_in "$TMP/out" "hello from kite guest" &&
	expect_in "$TMP/out" "hello: boot protocol pvh" &&
	expect_in "$TMP/out" "hello: cmdline 'greeting=hi answer=42'" &&
	expect_in "$TMP/out" "hello: syscall ok"
}

test_hello_multiboot() {
	qemu_guest hello-mb.elf "via=multiboot" 1 || return
	expect_in "$TMP/out" "hello from kite guest" &&
	expect_in "$TMP/out" "hello: boot protocol multiboot" &&
	expect_in "$TMP/out" "via=multiboot'"
}

test_hello_trap() {
	qemu_guest hello.elf "fault=gp" 255 || return
	expect_in "$TMP/out" "kit: FATAL vector 13 (#GP)"
}

test_smp_2() {
	qemu_guest smp.elf "cpus=2" 1 -smp 2 || return
	expect_in "$TMP/out" "smp: cpu 1 (apic id " &&
	expect_in "$TMP/out" "smp: all 2 cpus checked in"
}

test_smp_4_from_madt() {
	qemu_guest smp.elf "" 1 -smp 4 || return
	expect_in "$TMP/out" "smp: cpu 3 (apic id " &&
	expect_in "$TMP/out" "smp: all 4 cpus checked in"
}

test_smp_missing_cpu_times_out() {
	qemu_guest smp.elf "cpus=3" 5 -smp 2 || return
	expect_in "$TMP/out" "smp: timeout: 2 of 3 cpus checked in"
}

test_timer() {
	qemu_guest timer.elf "" 1 || return
	expect_in "$TMP/out" "timer: ok"
}

test_timer_250hz() {
	qemu_guest timer.elf "hz=250" 1 || return
	expect_in "$TMP/out" "(want 250 Hz" && expect_in "$TMP/out" "timer: ok"
}

test_compute() {
	qemu_guest compute.elf "" 1 || return
	expect_in "$TMP/out" "compute: result $COMPUTE_RESULT"
}

test_dirty() {
	qemu_guest dirty.elf "rounds=3" 1 || return
	expect_in "$TMP/out" "dirty: round 3 sum $DIRTY_ROUND3_SUM" &&
	expect_in "$TMP/out" "dirty: done after 3 rounds"
}

test_dirty_too_big() {
	qemu_guest dirty.elf "mem_mb=1024 rounds=1" 3 || return
	expect_in "$TMP/out" "does not fit"
}
