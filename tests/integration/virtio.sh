# virtio-pci devices driven by guests/virtio_test.c (its own polling driver).
# A guest that passes writes 0 to debug-exit: kite exits with status 1.

# checksum FILE OFFSET: sum of byte[i] * (i + 1) mod 2^32 over 4096 bytes, as the guest computes it.
virtio_checksum() {
	od -An -v -tu1 -j "$2" -N 4096 "$1" |
		awk '{ for (i = 1; i <= NF; i++) { n++; s = (s + $i * n) % 4294967296 } } END { printf "0x%x\n", s }'
}

virtio_guest() { # TEST [kite run args...]
	local test=$1
	shift
	have_kvm || { skip "/dev/kvm is not usable"; return; }
	[ -x "$KITE" ] || { fail "$KITE is missing: run make kite"; return; }
	[ -f "$GUESTS/virtio_test.elf" ] || { fail "$GUESTS/virtio_test.elf is missing: run make guests"; return; }
	expect_status 1 "$KITE" run --kernel "$GUESTS/virtio_test.elf" --cmdline "test=$test" "$@"
}

test_virtio_blk_guest_io() {
	head -c 1048576 /dev/urandom >"$TMP/disk.img"
	want_read=$(virtio_checksum "$TMP/disk.img" 4096)
	virtio_guest blk --disk "$TMP/disk.img,id=kite-disk-0" || return
	expect_in "$TMP/out" "virtio-blk: 00:01.0 capacity 2048 sectors" &&
	expect_in "$TMP/out" "virtio-blk: serial 'kite-disk-0'" &&
	expect_in "$TMP/out" "virtio-blk: read checksum $want_read" &&
	expect_in "$TMP/out" "virtio-blk: ok" || return
	# What the guest wrote is in the image: its pattern and its checksum.
	wrote=$(virtio_checksum "$TMP/disk.img" 0)
	expect_in "$TMP/out" "virtio-blk: wrote checksum $wrote" || return
	[ "$(od -An -tx1 -N 4 "$TMP/disk.img" | tr -d ' ')" = "030a1118" ] || fail "image does not start with the guest's pattern"
}

# A disk with four request queues (VIRTIO_BLK_F_MQ) serves a driver that does not take MQ on its first queue.
test_virtio_blk_queues_without_mq_driver() {
	head -c 1048576 /dev/urandom >"$TMP/disk.img"
	want_read=$(virtio_checksum "$TMP/disk.img" 4096)
	virtio_guest blk --disk "$TMP/disk.img,id=kite-disk-0,queues=4" || return
	expect_in "$TMP/out" "virtio-blk: read checksum $want_read" &&
	expect_in "$TMP/out" "virtio-blk: ok"
}

# cache=none: the same guest I/O through the disk's io_uring (under the default
# seccomp sandbox), then through worker threads; a host without io_uring skips the first.
test_virtio_blk_guest_io_direct() {
	local aio want_read wrote
	have_kvm || { skip "/dev/kvm is not usable"; return; }
	for aio in io_uring threads; do
		head -c 1048576 /dev/urandom >"$TMP/disk.img"
		want_read=$(virtio_checksum "$TMP/disk.img" 4096)
		timeout -k 5 60 "$KITE" run --kernel "$GUESTS/virtio_test.elf" --cmdline "test=blk" \
			--disk "$TMP/disk.img,id=kite-disk-0,cache=none,aio=$aio" >"$TMP/out" 2>"$TMP/err" </dev/null
		if [ $? != 1 ]; then
			grep -q "does not support O_DIRECT" "$TMP/err" && { skip "no O_DIRECT on $TMP"; return; }
			grep -q "aio=io_uring: " "$TMP/err" && { skip "no io_uring here: $(cat "$TMP/err")"; return; }
			cat "$TMP/err"; fail "aio=$aio: the guest did not pass"; return
		fi
		wrote=$(virtio_checksum "$TMP/disk.img" 0)
		expect_in "$TMP/out" "virtio-blk: read checksum $want_read" &&
		expect_in "$TMP/out" "virtio-blk: wrote checksum $wrote" &&
		expect_in "$TMP/out" "virtio-blk: ok" || return
	done
}

# kite stats shows cache=none requests going to the disk's ring, none lost or failed.
test_virtio_blk_ring_stats() {
	have_kvm || { skip "no /dev/kvm"; return; }
	export KITE_RUNTIME_DIR=$TMP/run
	truncate -s 1M "$TMP/ring.img"
	"$KITE" run --kernel "$GUESTS/virtio_test.elf" --cmdline "test=blkloop reqs=1000000" \
		--disk "$TMP/ring.img,cache=none,aio=io_uring" --serial "file:$TMP/ring.out" --name blkring \
		>"$TMP/ring.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do grep -q "blkloop: 1000 requests" "$TMP/ring.out" 2>/dev/null && break; sleep 0.1; done
	if ! kill -0 $pid 2>/dev/null; then
		wait $pid
		grep -q "aio=io_uring: \|O_DIRECT" "$TMP/ring.log" && { skip "$(cat "$TMP/ring.log")"; return; }
		cat "$TMP/ring.log"; fail "kite ended early"; return
	fi
	"$KITE" stats blkring --json >"$TMP/stats.json"
	kill $pid; wait $pid 2>/dev/null
	python3 - "$TMP/stats.json" <<'PY' || { cat "$TMP/stats.json"; fail "cache=none requests did not go through the ring"; }
import json, sys
d = json.load(open(sys.argv[1]))
b = [v for k, v in d["devices"].items() if k.startswith("blk")][0]
assert b["read_requests"] > 0 and b["write_requests"] > 0, b
assert b["ring_requests"] >= 1000, b
assert b["errors"] == 0, b
PY
}

test_virtio_blk_readonly_refuses_writes() {
	head -c 65536 /dev/zero >"$TMP/ro.img"
	have_kvm || { skip "/dev/kvm is not usable"; return; }
	expect_status 3 "$KITE" run --kernel "$GUESTS/virtio_test.elf" --cmdline "test=blk" --disk "$TMP/ro.img,ro" ||
		return
	expect_in "$TMP/out" "virtio-blk: write or flush failed" || return
	[ "$(od -An -tx1 -N 4 "$TMP/ro.img" | tr -d ' ')" = "00000000" ] || fail "a read-only image was written"
}

# virtio_evil DISK_OPTIONS: every broken chain puts the device in NEEDS_RESET, and it serves after a reset.
virtio_evil() {
	head -c 65536 /dev/zero >"$TMP/evil.img"
	virtio_guest evil --disk "$TMP/evil.img$1" || return
	for what in "descriptor loop" "buffer outside RAM" "indirect inside indirect" "zero-length buffer" \
		"avail index jump"; do
		expect_in "$TMP/out" "evil: $what -> NEEDS_RESET" || return
	done
	expect_in "$TMP/out" "evil: device still serves after reset"
}

test_virtio_malicious_chains() {
	virtio_evil ""
}

# The same against a cache=none disk with two queues, whose requests go through io_uring rings.
test_virtio_malicious_chains_direct() {
	virtio_evil ",cache=none,queues=2"
}

test_virtio_rng_guest() {
	virtio_guest rng --rng || return
	expect_in "$TMP/out" "virtio-rng: 64 bytes"
}

test_virtio_console_guest_file() {
	virtio_guest console --console "virtio,file:$TMP/hvc0" || return
	expect_in "$TMP/out" "virtio-console: sent 16 bytes" &&
	expect_in "$TMP/hvc0" "hello from hvc0"
}

test_virtio_disk_errors_before_start() {
	[ -x "$KITE" ] || { fail "$KITE is missing: run make kite"; return; }
	expect_status 4 "$KITE" run --kernel "$GUESTS/virtio_test.elf" --disk "$TMP/missing.img" || return
	expect_in "$TMP/err" "disk $TMP/missing.img: No such file or directory" || return
	expect_status 4 "$KITE" run --kernel "$GUESTS/virtio_test.elf" --disk "$TMP" || return
	expect_in "$TMP/err" "is a directory" || return
	expect_status 2 "$KITE" run --kernel "$GUESTS/virtio_test.elf" --disk "$TMP/x.img,cache=sometimes" || return
	expect_in "$TMP/err" "bad option 'cache'" || return
	expect_status 2 "$KITE" run --kernel "$GUESTS/virtio_test.elf" --disk "$TMP/x.img,aio=io_uring" || return
	expect_in "$TMP/err" "aio= applies to cache=none only" || return
	expect_status 2 "$KITE" run --kernel "$GUESTS/virtio_test.elf" --disk "$TMP/x.img,cache=none,aio=posix" || return
	expect_in "$TMP/err" "bad option 'aio'" || return
	expect_status 2 "$KITE" run --kernel "$GUESTS/virtio_test.elf" --disk "$TMP/x.img,queues=9" || return
	expect_in "$TMP/err" "queues=1-8"
}

# Two VMs cannot write one image: the second is refused while the first runs.
test_virtio_disk_lock() {
	have_kvm || { skip "/dev/kvm is not usable"; return; }
	head -c 65536 /dev/zero >"$TMP/shared.img"
	# The shell holds the write lock as a first VM would.
	exec 9>>"$TMP/shared.img"
	flock -x 9
	expect_status 4 "$KITE" run --kernel "$GUESTS/virtio_test.elf" --disk "$TMP/shared.img"
	r=$?
	exec 9>&-
	[ $r = 0 ] || return 1
	expect_in "$TMP/err" "in use by another process"
}

# kite stats counts the disk's requests and bytes while the guest works.
test_virtio_blk_stats() {
	have_kvm || { skip "no /dev/kvm"; return; }
	export KITE_RUNTIME_DIR=$TMP/run
	truncate -s 1M "$TMP/st.img"
	"$KITE" run --kernel "$GUESTS/virtio_test.elf" --cmdline "test=blkloop reqs=1000000" --disk "$TMP/st.img" \
		--serial "file:$TMP/st.out" --name blkstats >"$TMP/st.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do grep -q "blkloop: 1000 requests" "$TMP/st.out" 2>/dev/null && break; sleep 0.1; done
	"$KITE" stats blkstats --json >"$TMP/stats.json"
	kill $pid; wait $pid 2>/dev/null
	python3 - "$TMP/stats.json" <<'PY' || { cat "$TMP/stats.json"; fail "no virtio-blk request or byte counters in kite stats"; }
import json, sys
d = json.load(open(sys.argv[1]))
blk = [v for k, v in d["devices"].items() if k.startswith("blk")]
assert blk, d["devices"].keys()
b = blk[0]
assert b["read_requests"] > 0 and b["write_requests"] > 0, b
assert b["read_bytes"] >= 4096 * b["read_requests"] and b["write_bytes"] >= 4096 * b["write_requests"], b
assert b["errors"] == 0, b
PY
}
