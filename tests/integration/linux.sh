# The stock Debian cloud kernel under kite (tests/linux/run does the work).

# run_linux ARGS: maps tests/linux/run's statuses onto pass / skip / fail.
run_linux() {
	local out rc
	out=$(TIMEOUT=900 "$ROOT/tests/linux/run" --kite "$KITE" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	case $rc in
	0) return 0 ;;
	77) skip "$(printf '%s\n' "$out" | sed -n 's/^SKIP-REASON: //p' | tail -n 1)" ;;
	*) fail "$(printf '%s\n' "$out" | sed -n 's/^FAIL-REASON: //p' | head -n 1)" ;;
	esac
}

# PVH boot of vmlinux with --cpus 2 --mem 512M: command line, e820, ACPI, SMP;
# on hosts with native guest ring 0 also the initramfs, a clean poweroff and the bzImage.
test_linux_boot() { run_linux; }
