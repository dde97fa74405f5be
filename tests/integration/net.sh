# virtio-net under kite with the net guest (guests/net.c), inside network
# namespaces that each test makes and removes: namespace H holds a bridge,
# the guests' TAPs and one end of a veth pair; namespace C holds the other
# end (10.0.0.1/24) and plays the outside world.  No traffic leaves them;
# every exchange is bounded in count and time.
#
#   C: vc0 10.0.0.1 ──veth── H: vh0 ─┐
#                                     br0 ── kt0 (guest 10.0.0.2), kt1 (10.0.0.3)

NET_PFX=
NET_PIDS=

net_cleanup() {
	local p
	for p in $NET_PIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $NET_PIDS; do
		wait "$p" 2>/dev/null
	done
	NET_PIDS=
	[ -n "$NET_PFX" ] || return 0
	ip netns del "${NET_PFX}h" 2>/dev/null
	ip netns del "${NET_PFX}c" 2>/dev/null
}

# net_setup NTAPS: the namespaces, bridge, veth and NTAPS TAPs (kt0..).
net_setup() {
	local n=$1 i
	have_kvm || { skip "/dev/kvm is not usable"; return; }
	[ "$(id -u)" = 0 ] || { skip "needs root for network namespaces"; return; }
	command -v ip >/dev/null || { skip "iproute2 is missing (tools/deps)"; return; }
	[ -f "$GUESTS/net.elf" ] || { fail "$GUESTS/net.elf is missing: run make guests"; return; }
	NET_PFX=kn$$
	trap net_cleanup EXIT
	ip netns add "${NET_PFX}h" && ip netns add "${NET_PFX}c" || { skip "cannot create network namespaces"; return; }
	H() { ip netns exec "${NET_PFX}h" "$@"; }
	C() { ip netns exec "${NET_PFX}c" "$@"; }
	H ip link add br0 type bridge &&
	H ip link set br0 up &&
	H ip link add vh0 type veth peer name vc0 netns "${NET_PFX}c" &&
	H ip link set vh0 master br0 up &&
	C ip addr add 10.0.0.1/24 dev vc0 &&
	C ip link set vc0 up &&
	C ip link set lo up || { fail "namespace set-up failed"; return; }
	for i in $(seq 0 $((n - 1))); do
		H ip tuntap add dev "kt$i" mode tap vnet_hdr &&
		H ip link set "kt$i" master br0 up || { fail "cannot create kt$i"; return; }
	done
}

# net_guest I CMDLINE [kite args]: starts guest I on kt$I in the background; output in $TMP/g$I.{out,err}.
net_guest() {
	local i=$1 cmdline=$2
	shift 2
	H timeout -k 5 90 "$KITE" run --kernel "$GUESTS/net.elf" --cmdline "$cmdline" --net "tap=kt$i${NET_OPTS:-}" \
		--name "net$i-$$" --api none "$@" >"$TMP/g$i.out" 2>"$TMP/g$i.err" </dev/null &
	NET_PIDS="$NET_PIDS $!"
	eval "NET_PID$i=$!"
}

# kite_pid I: the kite process of guest I (under ip netns exec and timeout).
kite_pid() {
	local p
	for p in $(pgrep -f -- "--name net$1-$$"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = kite ] && echo "$p"
	done
}

# wait_for FILE TEXT SECS: polls until FILE has TEXT (bounded).
wait_for() {
	wait_text "$1" "$2" "${3:-10}" && return 0
	echo "--- $1"; tail -n 20 "$1" 2>/dev/null
	fail "'$2' did not appear in $(basename "$1") within ${3:-10} s"
}

# Tells guest at IP to exit (UDP "kite-quit" to port 7).
net_quit() {
	C python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'kite-quit', ('$1', 7))"
}

# wait_exit PID WANT: the guest's kite exits with WANT within 20 s.
wait_exit() {
	local pid=$1 want=$2 rc i
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid"
	rc=$?
	NET_PIDS=$(echo "$NET_PIDS" | tr ' ' '\n' | grep -vx "$pid" | tr '\n' ' ')
	[ "$rc" = "$want" ] || { fail "kite exited with $rc, wanted $want"; return 1; }
}

test_net_ping() {
	net_setup 1 || return
	net_guest 0 "ip=10.0.0.2"
	wait_for "$TMP/g0.out" "net: up ip 10.0.0.2" 20 || return
	command -v ping >/dev/null || { skip "ping is missing (iputils-ping, tools/deps)"; return; }
	C ping -c 5 -i 0.2 -W 2 10.0.0.2 >"$TMP/ping" 2>&1 || { cat "$TMP/ping"; fail "no ping replies"; return; }
	expect_in "$TMP/ping" "5 received" || return
	net_quit 10.0.0.2
	wait_exit "$NET_PID0" 1 || return
	expect_in "$TMP/g0.out" "icmp 5"
}

test_net_udp_echo_10000() {
	net_setup 1 || return
	command -v python3 >/dev/null || { skip "python3 is missing"; return; }
	net_guest 0 "ip=10.0.0.2"
	wait_for "$TMP/g0.out" "net: up" 20 || return
	C python3 "$ROOT/tests/integration/net_udp_echo.py" 10.0.0.2 7 10000 60 >"$TMP/udp" 2>&1 ||
		{ cat "$TMP/udp"; fail "UDP echo failed"; return; }
	cat "$TMP/udp"
	expect_in "$TMP/udp" "10000/10000 datagrams intact" || return
	net_quit 10.0.0.2
	wait_exit "$NET_PID0" 1
}

test_net_two_guests() {
	net_setup 2 || return
	net_guest 0 "ip=10.0.0.2"
	wait_for "$TMP/g0.out" "net: up" 20 || return
	# Guest 1 resolves guest 0 by ARP and pings it 5 times, then exits with pass.
	net_guest 1 "ip=10.0.0.3 peer=10.0.0.2 pings=5 secs=30"
	wait_exit "$NET_PID1" 1 || { cat "$TMP/g1.out"; return 1; }
	expect_in "$TMP/g1.out" "net: peer 10.0.0.2 answered 5 pings" || return
	# Different default MACs (hash of the VM name).
	[ "$(grep -o 'mac [0-9a-f:]*' "$TMP/g0.out")" != "$(grep -o 'mac [0-9a-f:]*' "$TMP/g1.out")" ] ||
		{ fail "both guests have the same MAC"; return; }
	net_quit 10.0.0.2
	wait_exit "$NET_PID0" 1
}

test_net_tap_deleted() {
	net_setup 1 || return
	net_guest 0 "ip=10.0.0.2"
	wait_for "$TMP/g0.out" "net: up" 20 || return
	C ping -c 1 -W 2 10.0.0.2 >/dev/null 2>&1
	H ip link del kt0 || { fail "cannot delete kt0"; return; }
	wait_for "$TMP/g0.err" "tap kt0 is gone" 10 || return
	wait_for "$TMP/g0.out" "net: link down" 10 || return
	sleep 0.5
	kill -0 "$NET_PID0" 2>/dev/null || { cat "$TMP/g0.err"; fail "kite died after the TAP went away"; return; }
	# kite stops normally on SIGTERM (status 0), not by a crash.
	kill -TERM "$(kite_pid 0)" || { fail "no kite process"; return; }
	wait_exit "$NET_PID0" 0 || { cat "$TMP/g0.err"; return 1; }
	[ "$(grep -c 'is gone' "$TMP/g0.err")" = 1 ] || { fail "the loss was reported more than once"; return; }
}

test_net_mac_option() {
	net_setup 1 || return
	NET_OPTS=",mac=52:54:00:aa:bb:cc" net_guest 0 "ip=10.0.0.2"
	wait_for "$TMP/g0.out" "mac 52:54:00:aa:bb:cc" 20 || return
	net_quit 10.0.0.2
	wait_exit "$NET_PID0" 1
}

test_net_bad_options() {
	[ -x "$KITE" ] || { fail "$KITE is missing"; return; }
	expect_status 2 "$KITE" run --kernel "$GUESTS/net.elf" --net "tap=kt0,mac=01:00:00:00:00:01" || return
	expect_in "$TMP/err" "--net" || return
	expect_status 2 "$KITE" run --kernel "$GUESTS/net.elf" --net "bogus" || return
	expect_status 2 "$KITE" run --kernel "$GUESTS/net.elf" --net "tap=a-name-too-long-for-linux"
}

# tools/kite-net inside a namespace of the test's own: up --nat, a TAP, a
# guest on it answering pings from the bridge's address, then down leaves
# nothing behind; every step twice (idempotent).
test_kite_net_tool() {
	local ns=kn$$t tool=$ROOT/tools/kite-net st=$TMP/state
	have_kvm || { skip "/dev/kvm is not usable"; return; }
	[ "$(id -u)" = 0 ] || { skip "needs root for network namespaces"; return; }
	command -v nft >/dev/null || { skip "nft is missing (nftables, tools/deps)"; return; }
	command -v ping >/dev/null || { skip "ping is missing (iputils-ping, tools/deps)"; return; }
	ip netns add "$ns" || { skip "cannot create a network namespace"; return; }
	NET_PFX=
	trap 'kill $NET_PIDS 2>/dev/null; wait 2>/dev/null; ip netns del '"$ns"' 2>/dev/null' EXIT
	N() { KITE_NET_STATE=$st ip netns exec "$ns" "$@"; }
	N "$tool" up --nat && N "$tool" up --nat || { fail "kite-net up failed"; return; }
	N "$tool" tap add vm0 && N "$tool" tap add vm0 || { fail "kite-net tap add failed"; return; }
	N nft list table ip kite_net_kite0 >/dev/null || { fail "no NAT table"; return; }
	N timeout -k 5 60 "$KITE" run --kernel "$GUESTS/net.elf" --cmdline "ip=10.77.0.2" --net tap=vm0 \
		--name kn-tool-$$ --api none >"$TMP/g.out" 2>"$TMP/g.err" </dev/null &
	NET_PIDS=$!
	wait_for "$TMP/g.out" "net: up" 20 || return
	N ping -c 3 -i 0.2 -W 2 10.77.0.2 >"$TMP/ping" 2>&1 || { cat "$TMP/ping"; fail "no ping replies"; return; }
	N python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'kite-quit', ('10.77.0.2', 7))"
	wait "$NET_PIDS"
	[ $? = 1 ] || { fail "the guest did not pass"; return; }
	NET_PIDS=
	N "$tool" down && N "$tool" down || { fail "kite-net down failed"; return; }
	[ "$(N ip -o link | grep -c -v ': lo:')" = 0 ] || { N ip -br link; fail "interfaces left behind"; return; }
	! N nft list table ip kite_net_kite0 >/dev/null 2>&1 || { fail "NAT table left behind"; return; }
	[ "$(N cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || { fail "ip_forward not restored"; return; }
}

# mac_of FILE: the MAC the net guest printed at start.
mac_of() { grep -o 'mac [0-9a-f:]*' "$1" | head -n 1 | awk '{print $2}'; }
# info_mac NAME: the guest_mac of the VM's first NIC, as kite info --json reports it.
info_mac() {
	"$KITE" info "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["network_interfaces"][0]["guest_mac"])'
}
# ping_ok N: C pings the guest at 10.0.0.2 N times, all answered.
ping_ok() {
	C ping -c "$1" -i 0.2 -W 2 10.0.0.2 >"$TMP/ping" 2>&1 || { cat "$TMP/ping"; fail "no ping replies"; return 1; }
	expect_in "$TMP/ping" "$1 received"
}

# Issue 8 item 6 / issue 6: a guest on kt0 answers pings; snapshot, kill -9,
# restore: it answers again with the same MAC.  A clone on kt1 gets a MAC
# derived from its name: kite reports it, the guest (which rereads its
# configuration space) sees it, and the host's neighbour table learns it.
test_net_snapshot_restore_clone() {
	local name=ns$$ snap=$TMP/snap pid kp mac rmac cmac cpid
	net_setup 2 || return
	command -v ping >/dev/null || { skip "ping is missing (iputils-ping, tools/deps)"; return; }
	command -v python3 >/dev/null || { skip "python3 is missing"; return; }
	export KITE_RUNTIME_DIR=$TMP/run
	H timeout -k 5 90 "$KITE" run --kernel "$GUESTS/net.elf" --cmdline "ip=10.0.0.2" --net tap=kt0 \
		--name "$name" >"$TMP/g0.out" 2>"$TMP/g0.err" </dev/null &
	pid=$!
	NET_PIDS="$NET_PIDS $pid"
	wait_for "$TMP/g0.out" "net: up ip 10.0.0.2" 20 || return
	mac=$(mac_of "$TMP/g0.out")
	ping_ok 3 || return
	"$KITE" snapshot "$name" "$snap" >"$TMP/snap.out" 2>&1 || { cat "$TMP/snap.out"; fail "kite snapshot failed"; return; }
	for kp in $(pgrep -f -- "--name $name"); do
		[ "$(cat "/proc/$kp/comm" 2>/dev/null)" = kite ] && kill -9 "$kp"
	done
	wait "$pid" 2>/dev/null
	H timeout -k 5 60 "$KITE" restore "$snap" --serial "file:$TMP/r.out" >"$TMP/r.err" 2>&1 </dev/null &
	NET_PIDS="$NET_PIDS $!"
	wait_for "$TMP/r.err" "restored $name" 10 || return
	ping_ok 3 || return
	rmac=$(info_mac "$name")
	[ "$rmac" = "$mac" ] || { fail "the restored NIC has MAC $rmac, the saved one was $mac"; return; }
	"$KITE" stop "$name" >/dev/null 2>&1
	# A clone on kt1 (kt%d: clone 1): a MAC of its own, seen by kite, the guest and the host.
	H "$KITE" clone "$snap" -n 1 --name "c$$" --net "tap=kt%d" >"$TMP/clone.out" 2>&1 ||
		{ cat "$TMP/clone.out" "$KITE_RUNTIME_DIR/c$$-1.log"; fail "kite clone failed"; return; }
	cpid=$(awk '{print $2}' "$TMP/clone.out")
	NET_PIDS="$NET_PIDS $cpid"
	cmac=$(info_mac "c$$-1")
	[ -n "$cmac" ] && [ "$cmac" != "$mac" ] || { fail "the clone kept MAC $mac ($cmac)"; return; }
	wait_for "$KITE_RUNTIME_DIR/c$$-1.log" "net: mac changed to $cmac" 10 || return
	C ip neigh flush dev vc0
	ping_ok 3 || return
	C ip neigh show 10.0.0.2 | grep -qi "$cmac" || { C ip neigh show; fail "the host did not learn $cmac"; return; }
	# A --net beyond the saved NICs is refused.
	expect_status 2 "$KITE" restore "$snap" --net tap=kt0 --net tap=kt1 || return
	expect_in "$TMP/err" "cannot add" || return
	"$KITE" stop "c$$-1" >/dev/null 2>&1
	return 0
}
