# The seccomp sandbox of the running VM (docs/security.md): on by default, on
# every thread, and what a VM does while it runs (devices, pause, snapshot,
# restore, migration) still works under it.  The rest of the suite runs with
# the default (on) as well; these cases check the option and the filter itself.

sbx_setup() {
	vm_setup
}

# sbx_start NAME CMDLINE [kite run options]: the dirty guest in the background, until round 2.
sbx_start() {
	local name=$1 cmdline=$2
	shift 2
	dirty_start "$name" "$cmdline" 64M "$@"
}

# sbx_filtered PID: every thread of PID runs under exactly one seccomp filter (/proc/PID/task/*/status).
sbx_filtered() {
	local t n=0
	for t in /proc/"$1"/task/*; do
		grep -q '^Seccomp:[[:space:]]*2$' "$t/status" || { fail "thread $(basename "$t") is not filtered"; return 1; }
		n=$((n + 1))
	done
	# The event loop, one vCPU, and whatever workers exist; at least two threads.
	[ "$n" -ge 2 ] || { fail "only $n threads seen"; return 1; }
}

test_seccomp_bad_value_is_usage_error() {
	[ -x "$KITE" ] || { fail "$KITE is missing: run make kite"; return 1; }
	expect_status 2 "$KITE" run --kernel "$GUESTS/hello.elf" --seccomp bogus || return
	expect_in "$TMP/err" "--seccomp 'bogus': expected on, trap or off" || return
	expect_status 2 "$KITE" run --kernel "$GUESTS/hello.elf" --seccomp || return
	expect_status 2 "$KITE" restore "$TMP/none" --seccomp maybe || return
	expect_in "$TMP/err" "--seccomp 'maybe'" || return
	"$KITE" help run | grep -q -- "--seccomp on|trap|off" || fail "kite help run does not list --seccomp"
}

test_seccomp_modes_run_hello() {
	have_kvm || { skip "no /dev/kvm"; return; }
	for m in on trap off; do
		expect_status 1 "$KITE" run --kernel "$GUESTS/hello.elf" --cmdline greeting=hello --api none --seccomp $m ||
			return
		expect_in "$TMP/out" "hello: syscall ok" || return
	done
}

# Default on: every thread is filtered, once; with off, none is.
test_seccomp_default_filters_every_thread() {
	sbx_setup || return
	head -c 1048576 /dev/zero >"$TMP/disk.img"
	sbx_start d "mem_mb=4 print_ms=50 rounds=100000" --cpus 2 --disk "$TMP/disk.img" --rng || return
	sbx_filtered "$PID_d" || return
	grep -q '^Seccomp_filters:[[:space:]]*1$' /proc/"$PID_d"/status || { fail "not exactly one filter"; return 1; }
	grep -q '^NoNewPrivs:[[:space:]]*1$' /proc/"$PID_d"/status || { fail "no_new_privs is not set"; return 1; }
	sbx_start o "mem_mb=4 print_ms=50 rounds=100000" --seccomp off || return
	grep -q '^Seccomp:[[:space:]]*0$' /proc/"$PID_o"/status || fail "--seccomp off: the process is filtered"
}

# What a running VM is asked to do, under the filter: pause, resume, snapshot
# (files created, fsynced, renamed), stats, then a restore that runs under it.
test_seccomp_pause_snapshot_restore() {
	sbx_setup || return
	sbx_start s "mem_mb=8 print_ms=50 rounds=2000" --seccomp on || return
	"$KITE" pause s && "$KITE" resume s || { fail "pause/resume under the filter"; return 1; }
	"$KITE" stats s >/dev/null && "$KITE" info s >/dev/null || { fail "stats/info under the filter"; return 1; }
	"$KITE" snapshot s "$TMP/snap" || { cat "$TMP/s.log"; fail "kite snapshot under the filter"; return 1; }
	kill -0 "$PID_s" 2>/dev/null || { cat "$TMP/s.log"; fail "the VM died during the snapshot"; return 1; }
	kill "$PID_s"
	expect_status 1 "$KITE" restore "$TMP/snap" --name r --serial "file:$TMP/r.out" --seccomp on || return
	expect_in "$TMP/r.out" "dirty: done after 2000 rounds" || return
	! grep -q "expected" "$TMP/r.out" || fail "the restored guest found a bad checksum"
}

# Live migration: the source connects and sends under its filter, the target runs under its own.
test_seccomp_migrate_unix() {
	sbx_setup || return
	sbx_start m "mem_mb=8 print_ms=50 rounds=100000" || return
	"$KITE" run --incoming "unix:$TMP/m.sock" --name t --serial "file:$TMP/t.out" >"$TMP/t.log" 2>&1 &
	PIDS="$PIDS $!"
	local tpid=$!
	for _ in $(seq 100); do [ -S "$TMP/m.sock" ] && break; sleep 0.1; done
	"$KITE" migrate m "unix:$TMP/m.sock" >"$TMP/mig.log" 2>&1 ||
		{ cat "$TMP/mig.log" "$TMP/m.log" "$TMP/t.log"; fail "kite migrate under the filter"; return 1; }
	for _ in $(seq 100); do grep -q 'dirty: round' "$TMP/t.out" 2>/dev/null && break; sleep 0.1; done
	expect_in "$TMP/t.out" "dirty: round" || return
	sbx_filtered "$tpid"
}

# tcp: with a host name: getaddrinfo (NSS files, maybe DNS) and TCP sockets, under the source's filter.
test_seccomp_migrate_tcp_localhost() {
	sbx_setup || return
	local port=$((20000 + RANDOM % 20000))
	sbx_start m "mem_mb=4 print_ms=50 rounds=100000" || return
	"$KITE" run --incoming "tcp:localhost:$port" --name t --serial "file:$TMP/t.out" >"$TMP/t.log" 2>&1 &
	PIDS="$PIDS $!"
	for _ in $(seq 100); do grep -q "waiting for a migration" "$TMP/t.log" 2>/dev/null && break; sleep 0.1; done
	"$KITE" migrate m "tcp:localhost:$port" >"$TMP/mig.log" 2>&1 ||
		{ cat "$TMP/mig.log" "$TMP/m.log" "$TMP/t.log"; fail "kite migrate tcp:localhost under the filter"; return 1; }
	for _ in $(seq 100); do grep -q 'dirty: round' "$TMP/t.out" 2>/dev/null && break; sleep 0.1; done
	expect_in "$TMP/t.out" "dirty: round"
}

test_seccomp_virtio_devices() {
	have_kvm || { skip "no /dev/kvm"; return; }
	head -c 1048576 /dev/urandom >"$TMP/disk.img"
	expect_status 1 "$KITE" run --kernel "$GUESTS/virtio_test.elf" --cmdline test=blk --disk "$TMP/disk.img" \
		--seccomp on || return
	expect_in "$TMP/out" "virtio-blk: ok" || return
	expect_status 1 "$KITE" run --kernel "$GUESTS/virtio_test.elf" --cmdline test=rng --rng --seccomp on
}

# --reboot restart builds the next VM inside the confined process: its devices too (disks - one with
# io_uring rings, made anew each boot - rng, a pty console).
test_seccomp_reboot_restart_with_devices() {
	have_kvm || { skip "no /dev/kvm"; return; }
	command -v gcc >/dev/null && command -v ld >/dev/null || { skip "no gcc/ld for the reset guest"; return; }
	again_guest || return 1
	head -c 65536 /dev/zero >"$TMP/disk.img"
	head -c 65536 /dev/zero >"$TMP/direct.img"
	timeout -k 2 4 "$KITE" run --kernel "$TMP/again.elf" --reboot restart --api none --disk "$TMP/disk.img" --rng \
		--disk "$TMP/direct.img,cache=none,aio=io_uring,queues=2" \
		--console virtio,pty --seccomp trap >"$TMP/out" 2>"$TMP/err"
	st=$?
	grep -q "aio=io_uring: \|does not support O_DIRECT" "$TMP/err" && [ "$(tr -cd B <"$TMP/out" | wc -c)" = 0 ] &&
		{ skip "no io_uring or O_DIRECT here: $(head -n 1 "$TMP/err")"; return; }
	! grep -q "seccomp" "$TMP/err" || { cat "$TMP/err"; fail "a rebuilt VM needed a call outside the filter"; return 1; }
	[ "$st" = 124 ] || { tail -n 5 "$TMP/err"; fail "kite exited $st (want 124: still rebooting at the timeout)"; return 1; }
	n=$(tr -cd B <"$TMP/out" | wc -c)
	[ "$n" -ge 3 ] || fail "the guest booted $n times in 4 s with --reboot restart"
}
