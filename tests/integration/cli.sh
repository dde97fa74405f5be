# kite's command line: bad input gives exit 2 and one clear line; good input runs.

kernel() { echo "$GUESTS/hello.elf"; }

# expect_usage "what the message must contain" args...
expect_usage() {
	local msg=$1; shift
	expect_status 2 "$KITE" "$@" || return 1
	[ "$(wc -l <"$TMP/err")" -le 1 ] || fail "usage error printed more than one line: $(cat "$TMP/err")" || return 1
	expect_in "$TMP/err" "$msg"
}

test_no_command() { expect_usage "unknown command 'frobnicate'" frobnicate; }
test_run_needs_kernel() { expect_usage "--kernel PATH is required" run; }
test_run_bad_mem_suffix() { expect_usage "--mem '12X' is not a size" run --kernel "$(kernel)" --mem 12X; }
test_run_mem_too_small() { expect_usage "--mem 1K: must be between" run --kernel "$(kernel)" --mem 1K; }
test_run_bad_cpus() { expect_usage "--cpus '0'" run --kernel "$(kernel)" --cpus 0; }
test_run_too_many_cpus() { expect_usage "--cpus '999'" run --kernel "$(kernel)" --cpus 999; }
test_run_unknown_option() { expect_usage "unknown option '--frob'" run --kernel "$(kernel)" --frob; }
test_run_missing_value() { expect_usage "needs a value" run --kernel; }
test_run_missing_kernel_file() { expect_usage "No such file or directory" run --kernel /nonexistent/vmlinux; }
test_run_bad_serial() { expect_usage "--serial 'tcp:1'" run --kernel "$(kernel)" --serial tcp:1; }
test_run_bad_name() { expect_usage "--name 'a/b'" run --kernel "$(kernel)" --name a/b; }
test_run_extra_argument() { expect_usage "unexpected argument 'extra'" run --kernel "$(kernel)" extra; }

test_run_not_a_kernel() {
	printf 'this is not a kernel\n' >"$TMP/junk"
	expect_status 4 "$KITE" run --kernel "$TMP/junk" || return 1
	expect_in "$TMP/err" "$TMP/junk"
}

test_run_directory_as_kernel() {
	expect_status 4 "$KITE" run --kernel "$TMP" || return 1
	expect_in "$TMP/err" "$TMP"
}

test_version() {
	expect_status 0 "$KITE" --version || return 1
	expect_in "$TMP/out" "kite $(cat "$ROOT/VERSION")"
}

test_help_lists_commands() {
	expect_status 0 "$KITE" help || return 1
	expect_in "$TMP/out" "run" && expect_in "$TMP/out" "host"
}

test_help_run() {
	expect_status 0 "$KITE" help run || return 1
	expect_in "$TMP/out" "--kernel PATH"
}

test_help_unknown() { expect_usage "unknown command 'nope'" help nope; }

test_host() {
	have_kvm || { skip "no /dev/kvm"; return; }
	expect_status 0 "$KITE" host || return 1
	expect_in "$TMP/out" "virtualization:" && expect_in "$TMP/out" "IRQCHIP"
}

test_host_json() {
	have_kvm || { skip "no /dev/kvm"; return; }
	expect_status 0 "$KITE" host --json || return 1
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["api_version"] == 12' "$TMP/out" ||
		fail "kite host --json is not the expected JSON"
}
