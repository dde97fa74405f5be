# The test guests under kite: the same checks as tests/integration/qemu.sh.
# A guest that passes writes 0 to debug-exit: kite exits with status 1.

COMPUTE_RESULT=0x0004520a66db2ff0	# guests/compute.c, default mib=32
DIRTY_ROUND3_SUM=0xc00007ffe000		# guests/dirty.c, 64 MiB, round 3

# kite_guest GUEST CMDLINE WANT_STATUS [kite run args...]: output in $TMP/out.
kite_guest() {
	local guest=$GUESTS/$1 cmdline=$2 want=$3
	shift 3
	have_kvm || { skip "/dev/kvm is not usable"; return; }
	[ -x "$KITE" ] || { fail "$KITE is missing: run make kite"; return; }
	[ -f "$guest" ] || { fail "$guest is missing: run make guests"; return; }
	expect_status "$want" "$KITE" run --kernel "$guest" --cmdline "$cmdline" "$@"
}

test_hello() {
	kite_guest hello.elf "greeting=hi answer=42" 1 || return
	expect_in "$TMP/out" "hello from kite guest" &&
	expect_in "$TMP/out" "hello: boot protocol pvh" &&
	expect_in "$TMP/out" "hello: cmdline 'greeting=hi answer=42'" &&
	expect_in "$TMP/out" "hello: syscall ok"
}

test_hello_multiboot() {
	kite_guest hello-mb.elf "via=multiboot" 1 || return
	expect_in "$TMP/out" "hello from kite guest" &&
	expect_in "$TMP/out" "hello: boot protocol multiboot" &&
	expect_in "$TMP/out" "via=multiboot'"
}

test_hello_trap() {
	kite_guest hello.elf "fault=ud" 255 || return
	expect_in "$TMP/out" "kit: FATAL vector 6 (#UD)"
}

test_hello_serial_file() {
	kite_guest hello.elf "to=file" 1 --serial "file:$TMP/serial" || return
	expect_in "$TMP/serial" "hello: cmdline 'to=file'"
}

test_smp_2() {
	kite_guest smp.elf "cpus=2" 1 --cpus 2 || return
	expect_in "$TMP/out" "smp: cpu 1 (apic id " &&
	expect_in "$TMP/out" "smp: all 2 cpus checked in"
}

# No cpus= on the command line: the guest counts the CPUs in kite's MADT.
test_smp_4() {
	kite_guest smp.elf "" 1 --cpus 4 || return
	for i in 1 2 3; do
		expect_in "$TMP/out" "smp: cpu $i (apic id " || return
	done
	expect_in "$TMP/out" "smp: all 4 cpus checked in"
}

test_smp_missing_cpu_times_out() {
	kite_guest smp.elf "cpus=3" 5 --cpus 2 || return
	expect_in "$TMP/out" "smp: timeout: 2 of 3 cpus checked in"
}

test_timer() {
	kite_guest timer.elf "" 1 || return
	expect_in "$TMP/out" "timer: ok"
}

test_compute() {
	kite_guest compute.elf "" 1 || return
	expect_in "$TMP/out" "compute: result $COMPUTE_RESULT"
}

# The same result line as QEMU's for the same guest.
test_compute_matches_qemu() {
	local accel=tcg
	have_qemu || { skip "qemu-system-x86_64 is not installed"; return; }
	kite_guest compute.elf "mib=8" 1 || return
	have_kvm && accel=kvm
	timeout 60 qemu-system-x86_64 -M microvm -accel "$accel" -m 256M -nodefaults -no-reboot -nographic \
		-display none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 \
		-kernel "$GUESTS/compute.elf" -append "mib=8" </dev/null >"$TMP/qemu.out" 2>/dev/null
	local k q
	k=$(grep -a 'compute: result' "$TMP/out" | tr -d '\r')
	q=$(grep -a 'compute: result' "$TMP/qemu.out" | tr -d '\r')
	[ -n "$q" ] || fail "no result from QEMU" || return
	[ "$k" = "$q" ] || fail "kite '$k' vs QEMU '$q'"
}

test_dirty() {
	kite_guest dirty.elf "rounds=3" 1 --mem 256M || return
	expect_in "$TMP/out" "dirty: round 3 sum $DIRTY_ROUND3_SUM" &&
	expect_in "$TMP/out" "dirty: done after 3 rounds"
}

test_dirty_too_big() {
	kite_guest dirty.elf "mem_mb=1024 rounds=1" 3 --mem 128M || return
	expect_in "$TMP/out" "does not fit"
}
