# Snapshot, restore and clone (issue 6) with the `dirty` guest: its state lives
# in guest memory and it checks a checksum of its whole buffer every round, so a
# restored guest that prints further rounds proves that registers and memory
# came back.  VMs run with their serial port in a file under $TMP; sockets live
# in a private runtime directory.

snap_setup() {
	vm_setup || return
	EXTRA_CLEANUP=snap_unmount
}

# Unmounts the small tmpfs a disk-full test made, if any.
snap_unmount() {
	[ -n "${MNT:-}" ] && umount "$MNT" 2>/dev/null
	return 0
}

# snap_start NAME CMDLINE [kite run options]: dirty in the background, waits for round 2.
snap_start() {
	local name=$1 cmdline=$2
	shift 2
	dirty_start "$name" "$cmdline" 128M "$@"
}

# snap_no_mismatch FILE: no_mismatch (tests/lib.sh), worded for a restored guest.
snap_no_mismatch() { no_mismatch "$1" "after the restore"; }

test_snapshot_restore_dirty() {
	snap_setup || return
	snap_start d "mem_mb=16 print_ms=50 rounds=400" || return
	before=$(last_round "$TMP/d.out")
	"$KITE" snapshot d "$TMP/s" || { fail "kite snapshot failed"; return 1; }
	# The VM runs on after the snapshot: what it printed by now bounds the snapshot point from above.
	after=$(last_round "$TMP/d.out")
	[ -f "$TMP/s/state" ] && [ -f "$TMP/s/memory" ] || { fail "no state/memory in the snapshot"; return 1; }
	kill -9 "$PID_d"
	expect_status 1 "$KITE" restore "$TMP/s" --name r --serial "file:$TMP/r.out" || return
	snap_no_mismatch "$TMP/r.out" || return
	expect_in "$TMP/r.out" "dirty: done after 400 rounds" || return
	first=$(first_round "$TMP/r.out")
	# It continues from the round the snapshot was taken in, never from 1.
	[ "$first" -ge "$before" ] && [ "$first" -le $((after + 1)) ] ||
		{ fail "restored guest starts at round $first; the snapshot was taken between rounds $before and $after"; return 1; }
	! grep -q "MiB at" "$TMP/r.out" || { fail "the guest started over"; return 1; }
	# Memory is sparse: 128 MiB of RAM, a 16 MiB buffer.
	used=$(du -k "$TMP/s/memory" | cut -f1)
	[ "$used" -lt 65536 ] || { fail "memory file uses $used KiB: zero pages not left as holes"; return 1; }
}

test_snapshot_restore_eager_and_compressed() {
	snap_setup || return
	snap_start d "mem_mb=8 print_ms=50 rounds=1000" || return
	"$KITE" snapshot d "$TMP/z" --compress || { fail "kite snapshot --compress failed"; return 1; }
	kill "$PID_d"
	expect_status 1 "$KITE" restore "$TMP/z" --serial "file:$TMP/z.out" --api none || return
	snap_no_mismatch "$TMP/z.out" && expect_in "$TMP/z.out" "dirty: done after 1000 rounds" || return
	[ "$(first_round "$TMP/z.out")" -gt 1 ] || { fail "compressed restore started over"; return 1; }
}

# The rounds printed before and after each `kite snapshot` bound where its restore may resume
# (the VM runs on while the command returns, more so under ASan).
test_snapshot_several_any_order() {
	snap_setup || return
	snap_start d "mem_mb=8 print_ms=20 rounds=100000" || return
	a1=$(last_round "$TMP/d.out")
	"$KITE" snapshot d "$TMP/s1" || return
	b1=$(last_round "$TMP/d.out")
	wait_round "$TMP/d.out" $((b1 + 30)) || { fail "no progress after the first snapshot"; return 1; }
	a2=$(last_round "$TMP/d.out")
	"$KITE" snapshot d "$TMP/s2" || return
	b2=$(last_round "$TMP/d.out")
	kill "$PID_d"
	for s in s2 s1 s2; do
		TIMEOUT=2 expect_status 124 "$KITE" restore "$TMP/$s" --serial "file:$TMP/$s.out" --api none || return
		snap_no_mismatch "$TMP/$s.out" || return
		eval "f_$s=$(first_round "$TMP/$s.out")"
	done
	[ "$f_s1" -ge "$a1" ] && [ "$f_s1" -le $((b1 + 1)) ] && [ "$f_s2" -ge "$a2" ] && [ "$f_s2" -le $((b2 + 1)) ] ||
		{ fail "s1 resumed at $f_s1 (saved within $a1-$b1), s2 at $f_s2 (saved within $a2-$b2)"; return 1; }
}

test_snapshot_clones() {
	snap_setup || return
	snap_start d "mem_mb=8 print_ms=50" || return
	"$KITE" snapshot d "$TMP/t" --stop || return
	wait "$PID_d"
	"$KITE" clone "$TMP/t" -n 2 --name c --log-dir "$TMP" >"$TMP/clones" 2>"$TMP/clone.err" ||
		{ cat "$TMP/clone.err"; fail "kite clone failed"; return 1; }
	PIDS="$PIDS $(awk '{print $2}' "$TMP/clones")"
	[ "$(wc -l <"$TMP/clones")" = 2 ] || { fail "expected two clones: $(cat "$TMP/clones")"; return 1; }
	"$KITE" ls >"$TMP/ls"
	expect_in "$TMP/ls" "c-1" && expect_in "$TMP/ls" "c-2" || return
	# Each runs on its own copy: both make progress at once from the saved round.
	s=$(last_round "$TMP/d.out")
	for n in c-1 c-2; do
		wait_round "$TMP/$n.log" $((s + 20)) || { tail "$TMP/$n.log"; fail "$n makes no progress"; return 1; }
		snap_no_mismatch "$TMP/$n.log" || return
	done
	# Diverging: one clone stopped, the other runs on.
	"$KITE" stop c-1 || return
	n2=$(last_round "$TMP/c-2.log")
	wait_round "$TMP/c-2.log" $((n2 + 10)) || { fail "c-2 stopped with c-1"; return 1; }
	"$KITE" stop c-2
}

# The VM generation ID (16 bytes at 0xff000, include/kite/acpi.h) is new after every restore.
genid() { dd if="$1/memory" bs=16 skip=$((0xff000 / 16)) count=1 2>/dev/null | od -An -tx1 | tr -d ' \n'; }

test_snapshot_vmgenid_changes() {
	snap_setup || return
	snap_start d "mem_mb=2 print_ms=50" || return
	"$KITE" snapshot d "$TMP/g0" --stop || return
	wait "$PID_d"
	for i in 1 2; do
		"$KITE" restore "$TMP/g0" --name "r$i" --serial none >"$TMP/r$i.log" 2>&1 &
		PIDS="$PIDS $!"
	done
	for i in 1 2; do
		for _ in $(seq 100); do [ -S "$KITE_RUNTIME_DIR/r$i.sock" ] && break; sleep 0.1; done
		"$KITE" snapshot "r$i" "$TMP/g$i" --stop || return
	done
	g0=$(genid "$TMP/g0") g1=$(genid "$TMP/g1") g2=$(genid "$TMP/g2")
	[ "$g0" != 00000000000000000000000000000000 ] || { fail "no generation ID at boot"; return 1; }
	[ "$g0" != "$g1" ] && [ "$g0" != "$g2" ] && [ "$g1" != "$g2" ] ||
		{ fail "generation IDs did not change: $g0 $g1 $g2"; return 1; }
}

# A Firecracker-style request with two named files; kite restore finds them as DIR/state and DIR/memory.
test_snapshot_api_firecracker_fields() {
	snap_setup || return
	command -v curl >/dev/null || { skip "curl not installed"; return; }
	snap_start d "mem_mb=4 print_ms=50 rounds=3000" || return
	mkdir "$TMP/fc"
	code=$(curl -s --max-time 60 --unix-socket "$KITE_RUNTIME_DIR/d.sock" -o "$TMP/body" -w '%{http_code}' \
		-X PUT http://localhost/snapshot/create -H 'Content-Type: application/json' \
		-d "{\"snapshot_type\": \"Full\", \"snapshot_path\": \"$TMP/fc/state\", \"mem_file_path\": \"$TMP/fc/memory\"}")
	[ "$code" = 204 ] || { cat "$TMP/body"; fail "PUT /snapshot/create: HTTP $code"; return 1; }
	code=$(curl -s --max-time 10 --unix-socket "$KITE_RUNTIME_DIR/d.sock" -o "$TMP/body" -w '%{http_code}' \
		-X PUT http://localhost/snapshot/create -d '{"snapshot_type": "Diff", "snapshot_path": "/x"}')
	[ "$code" = 400 ] || { fail "a Diff snapshot was not refused (HTTP $code)"; return 1; }
	kill "$PID_d"
	expect_status 1 "$KITE" restore "$TMP/fc" --serial "file:$TMP/fc.out" --api none || return
	snap_no_mismatch "$TMP/fc.out" && expect_in "$TMP/fc.out" "dirty: done after 3000 rounds"
}

# Rewrites the file header (fields at their offsets in docs/snapshot-format.md) and fixes its CRC.
patch_header() { # FILE OFFSET BYTES(python literal)
	python3 - "$@" <<'EOF'
import sys, zlib, struct
p, off, val = sys.argv[1], int(sys.argv[2]), eval(sys.argv[3])
b = bytearray(open(p, 'rb').read())
b[off:off + len(val)] = val
b[60:64] = struct.pack('<I', zlib.crc32(bytes(b[:60])))
open(p, 'wb').write(b)
EOF
}

# refused DIR TEXT: kite restore exits 2 with TEXT on stderr and no VM ran.
refused() {
	expect_status 2 "$KITE" restore "$1" --serial "file:$TMP/never.out" --api none || return
	expect_in "$TMP/err" "$2" || return
	[ ! -s "$TMP/never.out" ] || { fail "a guest ran from a refused snapshot"; return 1; }
}

test_snapshot_bad_files_refused() {
	snap_setup || return
	snap_start d "mem_mb=2 print_ms=50" || return
	"$KITE" snapshot d "$TMP/good" --stop || return
	wait "$PID_d"
	mk() { rm -rf "$TMP/$1"; mkdir "$TMP/$1"; cp "$TMP/good/state" "$TMP/good/memory" "$TMP/$1/"; chmod u+w "$TMP/$1/"*; }
	size=$(stat -c %s "$TMP/good/state")

	mk corrupt
	printf '\xff' | dd of="$TMP/corrupt/state" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
	refused "$TMP/corrupt" "checksum mismatch" || return

	mk trunc
	truncate -s $((size - 100)) "$TMP/trunc/state"
	refused "$TMP/trunc" "truncated" || return

	mk version
	patch_header "$TMP/version/state" 8 "b'\x02\x00'"
	refused "$TMP/version" "format version 2.0" || return

	mk arch
	patch_header "$TMP/arch/state" 40 "b'aarch64\0'"
	refused "$TMP/arch" "state of a aarch64 machine" || return

	mk magic
	printf 'NOTKITE!' | dd of="$TMP/magic/state" bs=1 seek=0 conv=notrunc 2>/dev/null
	refused "$TMP/magic" "not a kite state file" || return

	# A guest that was offered a CPU feature this host's kite does not offer (3DNow!, 0x80000001.EDX
	# bit 31, the last word of the vcpu section): refused, the section re-checksummed as a real file.
	mk cpuid
	python3 - "$TMP/cpuid/state" <<'PY'
import struct, sys, zlib
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
off = 64
while True:
    tag = b[off:off + 24].rstrip(b'\0').decode()
    inst, length = struct.unpack_from('<I', b, off + 24)[0], struct.unpack_from('<Q', b, off + 32)[0]
    if tag == 'vcpu' and inst == 0:
        end = off + 48 + length
        b[end - 1] |= 0x80
        crc = zlib.crc32(bytes(b[off:off + 40]) + bytes(b[off + 48:end]))
        struct.pack_into('<I', b, off + 40, crc)
        break
    off += 48 + length
open(p, 'wb').write(b)
PY
	refused "$TMP/cpuid" "0x80000001.EDX bits 0x80000000 that this host does not offer" || return

	mk nomem
	rm "$TMP/nomem/memory"
	expect_status 4 "$KITE" restore "$TMP/nomem" --api none --serial none || return
	expect_in "$TMP/err" "memory" || return

	# The unchanged snapshot still restores.
	TIMEOUT=2 expect_status 124 "$KITE" restore "$TMP/good" --serial "file:$TMP/good.out" --api none || return
	wait_text "$TMP/good.out" "dirty: round" || { fail "the good snapshot did not run"; return 1; }
}

test_snapshot_full_disk_fails_cleanly() {
	snap_setup || return
	[ "$(id -u)" = 0 ] || { skip "mounting a tmpfs needs root"; return; }
	MNT=$TMP/small
	mkdir "$MNT"
	mount -t tmpfs -o size=1M tmpfs "$MNT" 2>/dev/null || { skip "cannot mount a tmpfs here"; return; }
	snap_start d "mem_mb=16 print_ms=50" || return
	expect_status 4 "$KITE" snapshot d "$MNT/s" || return
	expect_in "$TMP/err" "No space left on device" || return
	[ -z "$(ls -A "$MNT")" ] || { ls -la "$MNT"; fail "a partial snapshot was left behind"; return 1; }
	# The VM runs on.
	r=$(last_round "$TMP/d.out")
	wait_round "$TMP/d.out" $((r + 5)) || { fail "the VM did not resume after the failed snapshot"; return 1; }
	"$KITE" ls >"$TMP/ls" && expect_in "$TMP/ls" "Running"
}

# PCI and virtio sections: a VM with a disk and an RNG restores; a disk whose size changed is refused.
test_snapshot_virtio_devices() {
	snap_setup || return
	truncate -s 8M "$TMP/disk.img"
	snap_start d "mem_mb=4 print_ms=50 rounds=3000" --disk "$TMP/disk.img" --rng || return
	"$KITE" snapshot d "$TMP/v" || return
	kill "$PID_d"
	wait "$PID_d"
	expect_status 1 "$KITE" restore "$TMP/v" --serial "file:$TMP/v.out" --api none || return
	snap_no_mismatch "$TMP/v.out" && expect_in "$TMP/v.out" "dirty: done after 3000 rounds" || return
	truncate -s 16M "$TMP/disk.img"
	refused "$TMP/v" "its size changed"
}

# image_sum FILE BLOCKS: the blkloop guest's checksum of the first BLOCKS 4 KiB blocks of a disk image.
image_sum() {
	python3 -c "import sys; d = open(sys.argv[1], 'rb').read(int(sys.argv[2]) * 4096)
print(hex(sum(b * (i + 1) for i, b in enumerate(d)) & 0xffffffff))" "$1" "$2"
}

# The blkloop guest keeps 8 requests in flight (writes with a new generation, reads checked)
# all the time: a snapshot catches some between submission and completion.  After kill and
# restore the guest completes them, its checks pass, and the image holds what it says.
# snap_blk_in_flight DISK_OPTIONS: a snapshot taken with the guest's disk requests in flight loses none.
snap_blk_in_flight() {
	snap_setup || return
	command -v python3 >/dev/null || { skip "python3 is missing"; return; }
	[ -f "$GUESTS/virtio_test.elf" ] || { skip "build/guests/virtio_test.elf not built"; return; }
	truncate -s 8M "$TMP/bl.img"
	"$KITE" run --kernel "$GUESTS/virtio_test.elf" --cmdline "test=blkloop reqs=60000" --disk "$TMP/bl.img$1" \
		--serial "file:$TMP/bl.out" --name bl >"$TMP/bl.log" 2>&1 &
	PIDS="$PIDS $!"
	pid=$!
	wait_text "$TMP/bl.out" "blkloop: 3000 requests" || { cat "$TMP/bl.out" "$TMP/bl.log"; fail "blkloop did not start"; return 1; }
	"$KITE" snapshot bl "$TMP/blsnap" --stop || return
	wait "$pid"
	! grep -q "blkloop: ok" "$TMP/bl.out" || { skip "the guest finished before the snapshot (fast host)"; return; }
	n=$(grep -c "^blkloop: [0-9]* requests" "$TMP/bl.out")
	expect_status 1 "$KITE" restore "$TMP/blsnap" --serial "file:$TMP/blr.out" --api none || { cat "$TMP/blr.out"; return 1; }
	! grep -q "blkloop: bad\|status\|no completion" "$TMP/blr.out" || { cat "$TMP/blr.out"; fail "the guest's checks failed"; return 1; }
	expect_in "$TMP/blr.out" "blkloop: ok" || return
	# Both logs together hold each progress line once (a line cut by the snapshot joins up).
	[ "$(cat "$TMP/bl.out" "$TMP/blr.out" | grep -c "^blkloop: [0-9]* requests")" = 60 ] ||
		{ cat "$TMP/blr.out"; fail "the restored guest did not go on from $n thousand requests"; return 1; }
	want=$(grep -o 'image checksum 0x[0-9a-f]*' "$TMP/blr.out" | awk '{print $3}')
	got=$(image_sum "$TMP/bl.img" 256)
	[ "$want" = "$got" ] || { fail "image checksum $got, the guest read $want"; return 1; }
}

test_snapshot_virtio_blk_in_flight() {
	snap_blk_in_flight ""
}

# The same with cache=none: requests in flight on the disk's io_uring (or its workers) when the VM stops;
# two request queues (the guest uses one), which the restored device must have too.
test_snapshot_virtio_blk_in_flight_direct() {
	snap_blk_in_flight ",cache=none,queues=2"
}

test_run_restore_and_detach() {
	snap_setup || return
	"$KITE" run -d --kernel "$GUEST" --cmdline "mem_mb=2 print_ms=50" --name bg >"$TMP/bg" 2>"$TMP/bg.err" ||
		{ cat "$TMP/bg.err"; fail "kite run -d failed"; return 1; }
	PIDS="$PIDS $(awk '{print $2}' "$TMP/bg")"
	log=$(awk '{print $3}' "$TMP/bg")
	wait_text "$log" "dirty: round" || { fail "the detached VM shows no output in $log"; return 1; }
	"$KITE" snapshot bg "$TMP/b" --stop || return
	TIMEOUT=2 expect_status 124 "$KITE" run --restore "$TMP/b" --serial "file:$TMP/b.out" --api none || return
	[ "$(first_round "$TMP/b.out")" -gt 1 ] || { fail "kite run --restore started over"; return 1; }
}

# The timer guest counts LAPIC timer interrupts against the TSC over 0.5 s: a snapshot taken
# inside that window and restored must keep both (TSC MSR, LAPIC timer state, kvmclock).
test_snapshot_timer_continues() {
	snap_setup || return
	[ -f "$GUESTS/timer.elf" ] || { skip "build/guests/timer.elf not built"; return; }
	"$KITE" run --kernel "$GUESTS/timer.elf" --cmdline "hz=200" --serial "file:$TMP/t.out" --name t \
		>"$TMP/t.log" 2>&1 &
	PIDS="$PIDS $!"
	pid=$!
	wait_text "$TMP/t.out" "timer: tsc" || { fail "the timer guest did not start"; return 1; }
	"$KITE" snapshot t "$TMP/ts" --stop || return
	wait "$pid"
	! grep -q "interrupts in" "$TMP/t.out" || { skip "the snapshot came after the measurement (slow host)"; return; }
	expect_status 1 "$KITE" restore "$TMP/ts" --serial "file:$TMP/tr.out" --api none || { cat "$TMP/tr.out"; return 1; }
	expect_in "$TMP/tr.out" "timer: ok"
}

# RAM in a memfd (--mem-shared): the memfd's holes become the file's holes.
test_snapshot_mem_shared() {
	snap_setup || return
	snap_start d "mem_mb=8 print_ms=50 rounds=2000" --mem-shared || return
	"$KITE" snapshot d "$TMP/m" --stop || return
	wait "$PID_d"
	used=$(du -k "$TMP/m/memory" | cut -f1)
	[ "$used" -lt 32768 ] || { fail "memory file uses $used KiB for an 8 MiB buffer"; return 1; }
	expect_status 1 "$KITE" restore "$TMP/m" --serial "file:$TMP/m.out" --api none || return
	snap_no_mismatch "$TMP/m.out" && expect_in "$TMP/m.out" "dirty: done after 2000 rounds"
}

# api METHOD PATH [JSON]: one request on $SOCK; the status code on stdout, the body in $TMP/body.
api() {
	curl -s --max-time 30 --unix-socket "$SOCK" -o "$TMP/body" -w '%{http_code}' -X "$1" "http://localhost$2" \
		${3:+-H 'Content-Type: application/json' -d "$3"}
}

# Firecracker's model: kite run --api PATH alone waits ("Not started"), refuses what needs a VM,
# then PUT /snapshot/load restores one in that process: Paused (resume_vm false) until PATCH /vm.
test_snapshot_api_load() {
	snap_setup || return
	command -v curl >/dev/null || { skip "curl not installed"; return; }
	snap_start d "mem_mb=4 print_ms=50 rounds=3000" || return
	"$KITE" snapshot d "$TMP/s" --stop || return
	wait "$PID_d"
	saved=$(last_round "$TMP/d.out")
	SOCK=$TMP/w.sock
	"$KITE" run --api "$SOCK" --serial "file:$TMP/w.out" >"$TMP/w.log" 2>&1 &
	PIDS="$PIDS $!"
	pid=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
	[ "$(api GET /)" = 200 ] && expect_in "$TMP/body" '"Not started"' || { cat "$TMP/w.log"; fail "GET / before a load"; return 1; }
	[ "$(api PATCH /vm '{"state": "Paused"}')" = 400 ] && expect_in "$TMP/body" "PUT /snapshot/load" ||
		{ fail "PATCH /vm without a VM was not refused clearly"; return 1; }
	[ "$(api GET /kite/vm)" = 200 ] && expect_in "$TMP/body" '"Not started"' || { fail "GET /kite/vm without a VM"; return 1; }
	[ "$(api GET /kite/stats)" = 400 ] || { fail "GET /kite/stats without a VM"; return 1; }
	[ "$(api PUT /snapshot/load '{"snapshot_path": "/nonexistent/state"}')" = 400 ] &&
		expect_in "$TMP/body" "No such file" || { cat "$TMP/body"; fail "a missing snapshot"; return 1; }
	[ "$(api PUT /snapshot/load "{\"snapshot_path\": \"$TMP/s/state\", \"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": \"/x\"}}")" = 400 ] ||
		{ fail "a Uffd backend was not refused"; return 1; }
	code=$(api PUT /snapshot/load "{\"snapshot_path\": \"$TMP/s/state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$TMP/s/memory\"}, \"resume_vm\": false}")
	[ "$code" = 204 ] || { cat "$TMP/body" "$TMP/w.log"; fail "PUT /snapshot/load: HTTP $code"; return 1; }
	[ "$(api GET /)" = 200 ] && expect_in "$TMP/body" '"Paused"' || { cat "$TMP/body"; fail "not Paused after the load"; return 1; }
	[ "$(api PUT /snapshot/load "{\"snapshot_path\": \"$TMP/s\"}")" = 400 ] || { fail "a second load"; return 1; }
	sleep 0.3
	! grep -q "dirty: round" "$TMP/w.out" 2>/dev/null || { fail "the guest ran while Paused"; return 1; }
	[ "$(api PATCH /vm '{"state": "Resumed"}')" = 204 ] || { cat "$TMP/body"; fail "PATCH /vm Resumed"; return 1; }
	wait_round "$TMP/w.out" $((saved + 5)) || { fail "the loaded guest does not run"; return 1; }
	[ "$(first_round "$TMP/w.out")" -gt 1 ] || { fail "the guest started over"; return 1; }
	snap_no_mismatch "$TMP/w.out" || return
	# The older form (mem_file_path) and resume_vm true, on a kite directory's files.
	api PUT /kite/stop >/dev/null
	wait "$pid"
	SOCK=$TMP/w2.sock
	"$KITE" run --api "$SOCK" --name w2 --serial "file:$TMP/w2.out" >"$TMP/w2.log" 2>&1 &
	PIDS="$PIDS $!"
	for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
	code=$(api PUT /snapshot/load "{\"snapshot_path\": \"$TMP/s/state\", \"mem_file_path\": \"$TMP/s/memory\", \"resume_vm\": true}")
	[ "$code" = 204 ] || { cat "$TMP/body" "$TMP/w2.log"; fail "PUT /snapshot/load (mem_file_path): HTTP $code"; return 1; }
	wait_round "$TMP/w2.out" $((saved + 5)) || { fail "resume_vm true: the guest does not run"; return 1; }
	[ "$(api GET /kite/vm)" = 200 ] && expect_in "$TMP/body" '"name": "w2"' || { cat "$TMP/body"; return 1; }
	# Without --api, a kernel is still required.
	expect_status 2 "$KITE" run --serial none || return
	expect_in "$TMP/err" "--kernel"
}
