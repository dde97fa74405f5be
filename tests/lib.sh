# Shared helpers for integration tests (sourced by tests/run-all).
# A test file defines functions named test_*; each one is a case.  A case
# passes by returning 0, skips by calling `skip "reason"` (returns 77), and
# fails otherwise; `fail "why"` prints the reason.
# Available: $KITE (the binary), $GUESTS (built test guests), $TMP (a scratch
# directory removed afterwards), $ROOT (the checkout).

skip() { echo "SKIP-REASON: $*"; return 77; }
fail() { echo "FAIL-REASON: $*"; return 1; }

# expect_status WANT cmd...: runs cmd with a timeout, fails unless it exits WANT.
# Output goes to $TMP/out and $TMP/err.
expect_status() {
	local want=$1 got; shift
	timeout -k 5 "${TIMEOUT:-60}" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	got=$?
	if [ "$got" != "$want" ]; then
		echo "--- stdout"; tail -n 20 "$TMP/out"; echo "--- stderr"; tail -n 20 "$TMP/err"
		fail "exit status $got, wanted $want: $*"
		return 1
	fi
	return 0
}

# expect_in FILE TEXT: fails unless FILE contains the fixed string TEXT.
expect_in() {
	if ! grep -qF -- "$2" "$1"; then
		echo "--- $1"; tail -n 20 "$1"
		fail "'$2' not found in $(basename "$1")"
		return 1
	fi
	return 0
}

have_kvm() { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }
have_qemu() { command -v qemu-system-x86_64 >/dev/null 2>&1; }

# For tests that run VMs in the background: checks, a private runtime directory for
# their sockets, and the pids in $PIDS killed when the test ends (plus what
# $EXTRA_CLEANUP names).  Returns 77 (skip) without /dev/kvm or the dirty guest.
vm_setup() {
	have_kvm || { skip "no /dev/kvm"; return 77; }
	[ -x "$KITE" ] || { fail "$KITE is missing: run make kite"; return 1; }
	GUEST=$GUESTS/dirty.elf
	[ -f "$GUEST" ] || { skip "build/guests/dirty.elf not built (make guests)"; return 77; }
	export KITE_RUNTIME_DIR=$TMP/run
	PIDS=""
	trap vm_cleanup EXIT
	return 0
}

vm_cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	[ -z "${EXTRA_CLEANUP:-}" ] || $EXTRA_CLEANUP
	return 0
}

# dirty_start NAME CMDLINE MEM [kite run options]: the dirty guest in the background, serial
# in $TMP/NAME.out; its pid in $PIDS and $PID_NAME; waits until it has printed two rounds.
dirty_start() {
	local name=$1 cmdline=$2 mem=$3
	shift 3
	"$KITE" run --kernel "$GUESTS/dirty.elf" --cmdline "$cmdline" --mem "$mem" --serial "file:$TMP/$name.out" \
		--name "$name" "$@" >"$TMP/$name.log" 2>&1 &
	PIDS="$PIDS $!"
	eval "PID_$name=$!"
	for _ in $(seq 200); do
		[ "$(grep -c 'dirty: round' "$TMP/$name.out" 2>/dev/null)" -ge 2 ] && return 0
		sleep 0.1
	done
	cat "$TMP/$name.log"
	fail "$name did not start"
}

# wait_text FILE TEXT [SECS]: until FILE holds the fixed string TEXT (default 20 s).
# Silent: the caller says what did not happen.
wait_text() {
	for _ in $(seq $((${3:-20} * 10))); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# wait_round FILE N: until the dirty guest has printed a round >= N in FILE (up to 20 s).
wait_round() {
	for _ in $(seq 200); do
		[ "$(last_round "$1")" -ge "$2" ] 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# The highest and the first round number the dirty guest printed in FILE.
last_round() { grep -o 'dirty: round [0-9]*' "$1" | awk '{print $3}' | sort -n | tail -n 1; }
first_round() { grep -o 'dirty: round [0-9]*' "$1" | head -n 1 | awk '{print $3}'; }

# no_mismatch FILE [WHEN]: the dirty guest checks a checksum of its buffer every round and
# prints "expected ..." (then exits 3) on a mismatch; fails if it did in FILE.  WHEN ends
# the message (default "in FILE").
no_mismatch() {
	if grep -q "expected" "$1"; then
		grep "expected" "$1"
		fail "the guest found a bad checksum ${2:-in $(basename "$1")}"
		return 1
	fi
}

# asm_guest NAME 'assembly': builds $TMP/NAME.elf, a 32-bit PVH guest whose entry runs the
# code (then halts); a few ring-0 instructions, fine where ring 0 is emulated.
asm_guest() {
	cat >"$TMP/$1.S" <<EOS
	.section .note.Xen, "a"
	.align 4
	.long 4, 4, 18
	.asciz "Xen"
	.long _start
	.text
	.code32
	.globl _start
_start:
$2
1:	hlt
	jmp 1b
	.data
msg:	.ascii "string io\n"
msg_end:
	.align 8
null_idt:
	.word 0
	.long 0
EOS
	cat >"$TMP/$1.ld" <<EOS
ENTRY(_start)
SECTIONS { . = 0x100000; .text : { *(.text) } .data : { *(.data) } .note : { *(.note.Xen) } }
EOS
	gcc -m32 -c "$TMP/$1.S" -o "$TMP/$1.o" && ld -m elf_i386 -T "$TMP/$1.ld" "$TMP/$1.o" -o "$TMP/$1.elf" ||
		{ fail "cannot assemble the $1 guest"; return 1; }
}

# again_guest: builds $TMP/again.elf, a guest that prints 'B' on the UART and then resets
# through the i8042 (0xfe to port 0x64): under --reboot restart, one B per boot.
again_guest() {
	asm_guest again "
	mov \$0x3f8, %dx
	mov \$'B', %al
	outb %al, %dx
	mov \$0xfe, %al
	outb %al, \$0x64"
}
