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
