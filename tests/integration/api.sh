# The control socket against running guests: curl --unix-socket, the kite
# lifecycle commands, malformed requests, parallel clients.  Every VM runs the
# `dirty` guest with its serial port in a file, so progress is visible as the
# file growing.  Sockets live in a private runtime directory ($TMP/run).

api_setup() {
	vm_setup || return
	command -v curl >/dev/null || { skip "curl not installed"; return 77; }
}

# api_start NAME [kite run options...]: boots dirty in the background and waits for its socket.
api_start() {
	name=$1; shift
	# Not under timeout(1): $! must be kite's own pid (GET /kite/vm reports it); vm_cleanup kills it.
	"$KITE" run --kernel "$GUEST" --cmdline "mem_mb=2 print_ms=100" \
		--serial "file:$TMP/$name.out" --name "$name" "$@" >"$TMP/$name.log" 2>&1 &
	PIDS="$PIDS $!"
	eval "PID_$(echo "$name" | tr -c 'a-zA-Z0-9\n' _)=$!"
	for _ in $(seq 100); do
		[ -S "$KITE_RUNTIME_DIR/$name.sock" ] && return 0
		sleep 0.1
	done
	cat "$TMP/$name.log"
	fail "the socket of $name never appeared"
}

# c NAME curl-args...: curl against NAME's socket.
c() {
	sock=$KITE_RUNTIME_DIR/$1.sock; shift
	curl -s --max-time 10 --unix-socket "$sock" "$@"
}

# code NAME curl-args...: the HTTP status only.
code() {
	c "$@" -o "$TMP/body" -w '%{http_code}'
}

jget() { # FILE-or-'-' PYTHON-EXPRS on j: printed space-separated
	python3 -c "import json,sys; j=json.load(open(sys.argv[1]) if sys.argv[1] != '-' else sys.stdin); print($2)" "$1"
}

# The socket is published before the VM (and its serial file) exists: no file yet is 0 bytes.
out_size() { stat -c %s "$TMP/$1.out" 2>/dev/null || echo 0; }

# waits until NAME's serial output grows past its size now (the guest makes progress).
expect_progress() {
	s0=$(out_size "$1")
	for _ in $(seq 50); do
		[ "$(out_size "$1")" -gt "$s0" ] && return 0
		sleep 0.1
	done
	fail "$1 made no progress (serial output stuck at $s0 bytes)"
}

# raw NAME PYTHON-BYTES [close]: sends raw bytes, half-closes, prints the status line of the reply.
raw() {
	python3 - "$KITE_RUNTIME_DIR/$1.sock" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(eval(sys.argv[2]))
    s.shutdown(socket.SHUT_WR)
except (BrokenPipeError, ConnectionResetError):
    pass
out = b''
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except (ConnectionResetError, socket.timeout):
    pass
print(out.split(b'\r\n', 1)[0].decode(errors='replace'))
EOF
}

test_get_info_matches_config() {
	api_setup || return $?
	api_start info1 --cpus 2 --mem 64M || return 1
	[ "$(code info1 http://localhost/)" = 200 ] || fail "GET / failed" || return 1
	[ "$(jget "$TMP/body" "j['id'], j['state'], j['app_name']")" = "info1 Running kite" ] ||
		{ cat "$TMP/body"; fail "GET / does not match"; return 1; }
	[ "$(code info1 http://localhost/kite/vm)" = 200 ] || fail "GET /kite/vm failed" || return 1
	got=$(jget "$TMP/body" "j['name'], j['pid'], j['vcpus'], j['memory_mib'], j['state'], j['cmdline']")
	[ "$got" = "info1 $PID_info1 2 64 Running mem_mb=2 print_ms=100" ] ||
		{ cat "$TMP/body"; fail "GET /kite/vm: $got"; return 1; }
	[ "$(code info1 http://localhost/machine-config)" = 200 ] || fail "GET /machine-config" || return 1
	[ "$(jget "$TMP/body" "j['vcpu_count'], j['mem_size_mib']")" = "2 64" ] || fail "machine-config" || return 1
	"$KITE" info info1 --json | jget - "j['name']" | grep -qx info1 || fail "kite info --json" || return 1
	"$KITE" info info1 | grep -q '^state  *Running' || fail "kite info" || return 1
}

test_socket_modes() {
	api_setup || return $?
	api_start modes || return 1
	[ "$(stat -c %a "$KITE_RUNTIME_DIR/modes.sock")" = 600 ] || fail "socket mode is not 0600" || return 1
	[ "$(stat -c %a "$KITE_RUNTIME_DIR")" = 700 ] || fail "runtime dir mode is not 0700" || return 1
}

test_pause_stops_progress_and_resume_continues() {
	api_setup || return $?
	api_start p1 || return 1
	expect_progress p1 || return 1
	"$KITE" pause p1 || fail "kite pause failed" || return 1
	[ "$(c p1 http://localhost/ | jget - "j['state']")" = Paused ] || fail "state is not Paused" || return 1
	s1=$(out_size p1)
	sleep 1
	s2=$(out_size p1)
	[ "$s1" = "$s2" ] || fail "the guest wrote $((s2 - s1)) bytes while paused" || return 1
	# Pausing twice is fine (idempotent), as in Firecracker.
	[ "$(code p1 -X PATCH -d '{"state": "Paused"}' http://localhost/vm)" = 204 ] || fail "second pause" || return 1
	"$KITE" resume p1 || fail "kite resume failed" || return 1
	[ "$(c p1 http://localhost/ | jget - "j['state']")" = Running ] || fail "state is not Running" || return 1
	expect_progress p1 || return 1
	# The checksum dirty verifies every round still holds: memory was untouched while paused.
	! grep -q expected "$TMP/p1.out" || fail "dirty saw a wrong checksum" || return 1
}

test_ls_three_vms_then_none() {
	api_setup || return $?
	for n in vm-a vm-b vm-c; do api_start $n || return 1; done
	"$KITE" ls >"$TMP/ls" || fail "kite ls failed" || return 1
	for n in vm-a vm-b vm-c; do
		grep -q "^$n  *[0-9][0-9]*  *Running  *1  *128M" "$TMP/ls" || { cat "$TMP/ls"; fail "$n missing"; return 1; }
	done
	[ "$("$KITE" ls --json | jget - "len(j)")" = 3 ] || fail "kite ls --json" || return 1
	"$KITE" stop vm-a || fail "kite stop" || return 1
	"$KITE" stop vm-b || fail "kite stop" || return 1
	# A VM that dies without cleaning up leaves a stale socket: ls must drop it.
	kill -9 "$PID_vm_c"
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	[ -S "$KITE_RUNTIME_DIR/vm-c.sock" ] || fail "expected vm-c's stale socket" || return 1
	"$KITE" ls >"$TMP/ls" || return 1
	[ "$(wc -l <"$TMP/ls")" = 1 ] || { cat "$TMP/ls"; fail "kite ls still lists VMs"; return 1; }
	[ ! -e "$KITE_RUNTIME_DIR/vm-c.sock" ] || fail "stale socket not removed" || return 1
	[ "$("$KITE" ls --json | jget - "len(j)")" = 0 ] || fail "kite ls --json not empty" || return 1
}

test_stop_exits_zero_and_removes_socket() {
	api_setup || return $?
	api_start s1 || return 1
	[ "$(code s1 -X PUT http://localhost/kite/stop)" = 204 ] || fail "PUT /kite/stop" || return 1
	wait "$PID_s1"; rc=$?
	[ $rc = 0 ] || fail "kite run exited $rc after PUT /kite/stop" || return 1
	[ ! -e "$KITE_RUNTIME_DIR/s1.sock" ] || fail "socket left behind" || return 1
}

test_name_in_use_and_stale_socket() {
	api_setup || return $?
	api_start dup || return 1
	expect_status 2 "$KITE" run --kernel "$GUEST" --serial none --name dup || return 1
	[ "$(wc -l <"$TMP/err")" = 1 ] && expect_in "$TMP/err" "another VM is serving it" || return 1
	# Five VMs racing for one name: exactly one wins, the others exit 2.
	for i in 1 2 3 4 5; do
		("$KITE" run --kernel "$GUEST" --cmdline mem_mb=2 --serial none --name race >/dev/null 2>&1
		 echo "$?" >>"$TMP/race") &
	done
	for _ in $(seq 50); do [ "$(wc -l <"$TMP/race" 2>/dev/null)" = 4 ] && break; sleep 0.1; done
	[ "$(grep -c '^2$' "$TMP/race")" = 4 ] || { cat "$TMP/race"; fail "name race: not four refusals"; return 1; }
	"$KITE" stop race || fail "the winner of the race does not answer" || return 1
	for _ in $(seq 50); do [ "$(wc -l <"$TMP/race")" = 5 ] && break; sleep 0.1; done
	[ "$(grep -c '^0$' "$TMP/race")" = 1 ] || fail "the winner did not exit 0" || return 1
	ls "$KITE_RUNTIME_DIR" | grep -q tmp && fail "temporary socket names left behind" && return 1
	# A stale socket (nobody listening) is replaced.
	python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$KITE_RUNTIME_DIR/stale.sock"
	api_start stale || return 1
	# The stale file satisfies api_start before kite has replaced it: give the replacement a moment.
	for _ in $(seq 50); do [ "$(code stale http://localhost/)" = 200 ] && break; sleep 0.1; done
	[ "$(code stale http://localhost/)" = 200 ] || fail "VM on a replaced stale socket does not answer" || return 1
	# --api PATH: a socket anywhere; NAME arguments may be paths.
	"$KITE" run --kernel "$GUEST" --serial none --name other --api "$TMP/custom.sock" >"$TMP/other.log" 2>&1 &
	PIDS="$PIDS $!"
	for _ in $(seq 100); do [ -S "$TMP/custom.sock" ] && break; sleep 0.1; done
	[ -S "$TMP/custom.sock" ] || fail "--api PATH" || return 1
	[ ! -e "$KITE_RUNTIME_DIR/other.sock" ] || fail "--api PATH also made the default socket" || return 1
	"$KITE" pause "$TMP/custom.sock" && "$KITE" resume "$TMP/custom.sock" || fail "control by path" || return 1
}

test_unknown_vm_exit_2() {
	api_setup || return $?
	for cmd in pause resume stop shutdown info stats console; do
		expect_status 2 "$KITE" $cmd no-such-vm || return 1
		[ "$(wc -l <"$TMP/err")" = 1 ] || { cat "$TMP/err"; fail "kite $cmd: not one line"; return 1; }
		expect_in "$TMP/err" "no-such-vm" || return 1
	done
}

test_malformed_requests_get_4xx_and_vm_runs_on() {
	api_setup || return $?
	api_start bad || return 1
	check() { # want got what
		[ "${2%% *}" = "HTTP/1.1" ] && [ "$(echo "$2" | cut -d' ' -f2)" = "$1" ] && return 0
		fail "$3: got '$2', wanted $1"
	}
	check 400 "$(raw bad "b'garbage\r\n\r\n'")" "garbage request line" || return 1
	check 400 "$(raw bad "b'GET / HTTP/1.1\n\n'")" "bare LF" || return 1
	check 400 "$(raw bad "b'GET / HTTP/9.9\r\n\r\n'")" "HTTP version" || return 1
	check 400 "$(raw bad "b'PATCH /vm HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"state\"'")" "truncated body" || return 1
	check 431 "$(raw bad "b'GET / HTTP/1.1\r\nX: ' + b'a' * (1 << 20) + b'\r\n\r\n'")" "1 MiB header" || return 1
	check 413 "$(raw bad "b'PUT /actions HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n'")" "huge body" || return 1
	check 411 "$(raw bad "b'PUT /actions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'")" "chunked" || return 1
	[ "$(code bad -X PATCH -d '{"state": "Paused"' http://localhost/vm)" = 400 ] || fail "bad JSON" || return 1
	jget "$TMP/body" "j['fault_message']" | grep -q "invalid JSON" || fail "fault_message for bad JSON" || return 1
	[ "$(code bad -X PATCH -d '{"state": 7}' http://localhost/vm)" = 400 ] || fail "wrong type" || return 1
	[ "$(code bad -X PATCH -d '{"state": "Paused", "x": 1}' http://localhost/vm)" = 400 ] || fail "extra field" || return 1
	[ "$(code bad -X PUT -d '{"action_type": ["x"]}' http://localhost/actions)" = 400 ] || fail "wrong type" || return 1
	[ "$(code bad -X PUT -d '' http://localhost/actions)" = 400 ] || fail "empty body" || return 1
	[ "$(code bad http://localhost/no/such/path)" = 404 ] || fail "unknown path" || return 1
	[ "$(code bad -X DELETE http://localhost/vm)" = 405 ] || fail "wrong method" || return 1
	jget "$TMP/body" "j['fault_message']" | grep -q "not allowed" || fail "405 fault_message" || return 1
	# After all that: still answering, still running, still making progress.
	[ "$(c bad http://localhost/ | jget - "j['state']")" = Running ] || fail "VM not running" || return 1
	expect_progress bad || return 1
	kill -0 "$PID_bad" || fail "kite died" || return 1
}

test_keep_alive_and_pipelining() {
	api_setup || return $?
	api_start ka || return 1
	# One curl, one connection, several requests.
	got=$(c ka -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' http://localhost/ http://localhost/kite/vm \
		http://localhost/metrics | tr '\n' ' ')
	[ "$got" = "200 1 200 0 200 0 " ] || fail "keep-alive: $got" || return 1
	# Three pipelined requests in one write: three responses, in order.
	python3 - "$KITE_RUNTIME_DIR/ka.sock" <<'EOF' || { fail "pipelining"; return 1; }
import re, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
s.sendall(b'GET / HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\nGET /machine-config HTTP/1.1\r\nConnection: close\r\n\r\n')
out = b''
while True:
    b = s.recv(65536)
    if not b: break
    out += b
codes = re.findall(rb'HTTP/1\.1 (\d{3}) ', out)
sys.exit(0 if codes == [b'200', b'404', b'200'] else print(codes) or 1)
EOF
}

test_twenty_parallel_clients() {
	api_setup || return $?
	api_start par || return 1
	for i in $(seq 20); do
		c par -o /dev/null -o /dev/null -o /dev/null -o /dev/null -w '%{http_code}\n' http://localhost/ http://localhost/kite/stats \
			http://localhost/kite/vm http://localhost/metrics >"$TMP/par.$i" &
	done
	for j in $(jobs -p); do [ "$j" = "$PID_par" ] || wait "$j"; done
	n=$(cat "$TMP"/par.* | grep -c '^200$')
	[ "$n" = 80 ] || fail "$n of 80 requests answered 200" || return 1
	[ "$(c par http://localhost/kite/stats | jget - "j['api']['requests'] >= 80")" = True ] ||
		fail "request counter" || return 1
}

test_stats_and_metrics() {
	api_setup || return $?
	api_start st || return 1
	expect_progress st || return 1
	[ "$(c st http://localhost/kite/stats | jget - "j['vcpus'][0]['exits']['io'] > 0 and j['devices']['com1']['tx_bytes'] > 0")" = True ] ||
		fail "stats: no I/O exits or serial bytes counted" || return 1
	"$KITE" stats st | grep -q "^0 " || fail "kite stats table" || return 1
	"$KITE" stats st --json | jget - "j['exits']['io'] > 0" | grep -qx True || fail "kite stats --json" || return 1
	c st -D "$TMP/hdr" http://localhost/metrics >"$TMP/metrics"
	grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/hdr" || fail "metrics content type" || return 1
	grep -q '^kite_vcpu_exits_total{vm="st",vcpu="0",reason="io"} [1-9]' "$TMP/metrics" || fail "metrics exits" || return 1
	grep -q '^kite_vm_state{vm="st",state="Running"} 1' "$TMP/metrics" || fail "metrics state" || return 1
}

test_ctrl_alt_del_action() {
	api_setup || return $?
	api_start cad || return 1
	[ "$(code cad -X PUT -d '{"action_type": "SendCtrlAltDel"}' http://localhost/actions)" = 204 ] ||
		{ cat "$TMP/body"; fail "SendCtrlAltDel"; return 1; }
	# dirty has no keyboard driver: it ignores the keys and runs on.
	"$KITE" shutdown cad || fail "kite shutdown" || return 1
	expect_progress cad || return 1
}

test_console_over_the_socket() {
	api_setup || return $?
	api_start con --serial socket || return 1
	# kite console relays the serial output until its stdin ends.
	(sleep 1.5) | timeout 10 "$KITE" console con >"$TMP/con.out" 2>"$TMP/con.err"
	rc=$?
	[ $rc = 0 ] || { cat "$TMP/con.err"; fail "kite console exited $rc"; return 1; }
	grep -q "^dirty: round [0-9]* sum" "$TMP/con.out" || { head -c 300 "$TMP/con.out"; fail "no serial output"; return 1; }
	# One console at a time; a detached console can be attached again.
	python3 - "$KITE_RUNTIME_DIR/con.sock" <<'PY' || { fail "console attach/409/re-attach"; return 1; }
import socket, sys, time
def attach():
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
    s.sendall(b'GET /kite/console HTTP/1.1\r\nUpgrade: kite-console\r\nConnection: Upgrade\r\n\r\n')
    d = b''
    while b'dirty: round' not in d and b'\r\n\r\n{' not in d:
        b = s.recv(4096)
        if not b: break
        d += b
    return s, d
a, d = attach()
assert d.startswith(b'HTTP/1.1 101 '), d[:100]
b, d = attach()
assert d.startswith(b'HTTP/1.1 409 '), d[:100]
b.close(); a.close()
time.sleep(0.3)
c, d = attach()
assert d.startswith(b'HTTP/1.1 101 ') and b'dirty: round' in d, d[:100]
PY
	# Without --serial socket there is nothing to attach to.
	api_start noconsole || return 1
	[ "$(code noconsole -H 'Upgrade: kite-console' -H 'Connection: Upgrade' http://localhost/kite/console)" = 409 ] ||
		fail "console on a VM without --serial socket" || return 1
	expect_status 4 "$KITE" console noconsole || return 1
}
