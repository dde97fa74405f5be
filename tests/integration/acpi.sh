# ACPI tables as a guest gets them: `kite run --dump-acpi` and iasl's disassembler.

have_iasl() { command -v iasl >/dev/null 2>&1; }

# RSDP.dat: signature, revision 2, both checksums (iasl 20200925 cannot read a bare RSDP).
check_rsdp() { # FILE
	local f=$1 sum=0 i
	local -a b
	read -r -a b < <(od -An -v -t u1 "$f" | tr '\n' ' ')
	[ ${#b[@]} = 36 ] || { fail "RSDP.dat is ${#b[@]} bytes, not 36"; return 1; }
	[ "$(head -c 8 "$f")" = "RSD PTR " ] || { fail "RSDP.dat has no 'RSD PTR ' signature"; return 1; }
	[ "${b[15]}" = 2 ] || { fail "RSDP revision ${b[15]}, not 2"; return 1; }
	for i in $(seq 0 19); do sum=$((sum + b[i])); done
	[ $((sum & 255)) = 0 ] || { fail "RSDP checksum (first 20 bytes) wrong"; return 1; }
	for i in $(seq 20 35); do sum=$((sum + b[i])); done
	[ $((sum & 255)) = 0 ] || { fail "RSDP extended checksum wrong"; return 1; }
}

# Disassembles every table; any error, warning or remark from iasl fails.
check_tables() { # DIR
	local dir=$1 f out
	for sig in XSDT FACP APIC DSDT MCFG; do
		[ -s "$dir/$sig.dat" ] || { fail "no $sig.dat"; return 1; }
	done
	check_rsdp "$dir/RSDP.dat" || return 1
	for f in "$dir"/*.dat; do
		[ "$(basename "$f")" = RSDP.dat ] && continue
		out=$(cd "$dir" && iasl -d "$(basename "$f")" 2>&1)
		if [ $? != 0 ] || printf '%s\n' "$out" | grep -qiE 'error|warning|remark'; then
			printf '%s\n' "$out" | tail -n 20
			fail "iasl -d $(basename "$f") complained"
			return 1
		fi
		[ -s "${f%.dat}.dsl" ] || { fail "iasl wrote no ${f%.dat}.dsl"; return 1; }
	done
	# Recompiling the DSDT must give no error or warning either.
	out=$(cd "$dir" && iasl -p recompiled DSDT.dsl 2>&1)
	if [ $? != 0 ] || printf '%s\n' "$out" | grep -qE '[1-9][0-9]* (Errors|Warnings)'; then
		printf '%s\n' "$out" | tail -n 20
		fail "iasl cannot recompile the DSDT"
		return 1
	fi
}

test_dump_acpi_4cpus() {
	have_iasl || { skip "iasl (acpica-tools) not installed"; return; }
	have_kvm || { skip "no /dev/kvm"; return; }
	expect_status 0 "$KITE" run --kernel "$GUESTS/hello.elf" --cpus 4 --dump-acpi "$TMP/acpi" || return 1
	check_tables "$TMP/acpi" || return 1
	[ "$(grep -c 'Subtable Type : 00 \[Processor Local APIC\]' "$TMP/acpi/APIC.dsl")" = 4 ] ||
		{ fail "MADT does not have 4 local APICs"; return 1; }
	expect_in "$TMP/acpi/FACP.dsl" "Hardware Reduced (V5) : 1" || return 1
	expect_in "$TMP/acpi/DSDT.dsl" 'Name (_HID, EisaId ("PNP0A08")' || return 1
	expect_in "$TMP/acpi/DSDT.dsl" 'Name (_HID, EisaId ("PNP0501")' || return 1
	expect_in "$TMP/acpi/DSDT.dsl" "_S5" || return 1
}

test_dump_acpi_1cpu() {
	have_iasl || { skip "iasl (acpica-tools) not installed"; return; }
	have_kvm || { skip "no /dev/kvm"; return; }
	expect_status 0 "$KITE" run --kernel "$GUESTS/hello.elf" --dump-acpi "$TMP/acpi" || return 1
	check_tables "$TMP/acpi" || return 1
	[ "$(grep -c 'Processor Local APIC\]' "$TMP/acpi/APIC.dsl")" = 1 ] || { fail "MADT: not 1 local APIC"; return 1; }
}

# --dump-acpi into a path that cannot be a directory: a clear error, status 4.
test_dump_acpi_bad_dir() {
	have_kvm || { skip "no /dev/kvm"; return; }
	: >"$TMP/file"
	expect_status 4 "$KITE" run --kernel "$GUESTS/hello.elf" --dump-acpi "$TMP/file/sub" || return 1
	expect_in "$TMP/err" "$TMP/file/sub"
}

# The DSDT in ACPICA's own interpreter (the one Linux runs): it loads, and the
# objects the OS evaluates return what they should, with no error or warning.
test_dsdt_in_acpiexec() {
	command -v acpiexec >/dev/null 2>&1 || { skip "acpiexec (acpica-tools) not installed"; return; }
	have_kvm || { skip "no /dev/kvm"; return; }
	expect_status 0 "$KITE" run --kernel "$GUESTS/hello.elf" --cpus 2 --dump-acpi "$TMP/acpi" || return 1
	local objs="\\_S5 \\_SB.COM1._STA \\_SB.COM1._CRS \\_SB.PCI0._CRS \\_SB.PCI0._PRT \\_SB.PCI0._BBN \\_SB.MRES._CRS \\_SB.C001._UID"
	local cmds="" o
	for o in $objs; do cmds="$cmds evaluate $o;"; done
	(cd "$TMP/acpi" && timeout 60 acpiexec -b "$cmds" DSDT.dat) >"$TMP/exec" 2>&1
	if grep -qE 'ACPI Error|ACPI Warning|ACPI Exception|AE_[A-Z_]+' "$TMP/exec"; then
		grep -E 'ACPI Error|ACPI Warning|ACPI Exception|AE_[A-Z_]+' "$TMP/exec" | head -n 10
		fail "acpiexec reported problems with the DSDT"
		return 1
	fi
	for o in $objs; do
		expect_in "$TMP/exec" "Evaluation of $o returned" || return 1
	done
	# _PRT: 32 slots x 4 pins; _S5: SLP_TYP 5.
	expect_in "$TMP/exec" "[Package] Contains 128 Elements:" || return 1
	grep -A1 'Evaluation of \\_S5 returned' "$TMP/exec" | grep -q 'Contains 4 Elements' ||
		{ fail "_S5 is not a 4-element package"; return 1; }
}
