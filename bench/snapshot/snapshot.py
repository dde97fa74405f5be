#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/snapshot: snapshot, restore and clone numbers for kite, with QEMU's
migrate-to-file and -incoming "exec:cat FILE" on the same guest in the same
run.  Prints one JSON document on stdout (progress on stderr).

  bench/snapshot/snapshot.py [--mem 256M,1G] [--clones 50] [--runs 5]
                             [--kite build/kite] [--qemu qemu-system-x86_64|none]

The guest is build/guests/dirty.elf: it writes a counter into every page of a
buffer (a quarter of RAM), so the snapshot holds that much data and the rest
of RAM is zero.  For the clone density the clones come from a separate
snapshot whose guest dirties only 1 MiB (the idle-template case the numbers
are meant for): private RSS per clone is what the clone process owns alone
(smaps_rollup Private_Clean + Private_Dirty).
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

GUEST = "build/guests/dirty.elf"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def size_bytes(s):
    m = re.fullmatch(r"(\d+)([KMG]?)", s.upper())
    if not m:
        raise SystemExit(f"bad size {s}")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


def rounds_in(path):
    try:
        with open(path, errors="replace") as f:
            return [int(x) for x in re.findall(r"dirty: round (\d+)", f.read())]
    except FileNotFoundError:
        return []


def wait_rounds(path, n, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(rounds_in(path)) >= n:
            return True
        time.sleep(0.02)
    return False


def disk_usage(path):
    st = os.stat(path)
    return st.st_size, st.st_blocks * 512


def private_rss(pid):
    vals = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"):
                vals[k] = int(v.split()[0]) * 1024
    return vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0), vals.get("Pss", 0), vals.get("Rss", 0)


class Kite:
    def __init__(self, kite, tmp):
        self.kite, self.tmp = kite, tmp
        self.env = dict(os.environ, KITE_RUNTIME_DIR=os.path.join(tmp, "run"))

    def run(self, *args, **kw):
        return subprocess.run([self.kite, *args], env=self.env, capture_output=True, text=True, **kw)

    def start(self, name, mem, buf_mb):
        out = os.path.join(self.tmp, name + ".out")
        p = subprocess.Popen([self.kite, "run", "--kernel", GUEST, "--mem", mem, "--name", name,
                              "--cmdline", f"mem_mb={buf_mb} print_ms=100", "--serial", "file:" + out],
                             env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_rounds(out, 2):
            p.kill()
            raise SystemExit(f"kite: {name} did not start")
        return p

    def snapshot(self, name, mem, buf_mb, d):
        p = self.start(name, mem, buf_mb)
        t0 = time.monotonic()
        r = self.run("snapshot", name, d, "--stop")
        ms = (time.monotonic() - t0) * 1e3
        p.wait(timeout=30)
        if r.returncode:
            raise SystemExit("kite snapshot failed: " + r.stderr)
        return ms

    def restore_once(self, d, eager=False):
        """Internal time to the first instruction (kite's own log line) and the wall time to it."""
        args = [self.kite, "restore", d, "--serial", "none", "--api", "none"] + (["--eager"] if eager else [])
        t0 = time.monotonic()
        p = subprocess.Popen(args, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = p.stderr.readline()
        wall = (time.monotonic() - t0) * 1e3
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
        m = re.search(r"in ([\d.]+) ms", line)
        if not m:
            raise SystemExit("kite restore: " + line)
        return float(m.group(1)), wall

    def clones(self, d, n):
        logs = os.path.join(self.tmp, "clone-logs")
        os.makedirs(logs, exist_ok=True)
        t0 = time.monotonic()
        r = self.run("clone", d, "-n", str(n), "--name", "bc", "--log-dir", logs, "-q")
        ms = (time.monotonic() - t0) * 1e3
        pids = [int(l.split()[1]) for l in r.stdout.splitlines() if l.strip()]
        time.sleep(1.0)  # each clone runs its guest for a while: the pages it touches become its own
        priv, pss = [], []
        for pid in pids:
            try:
                a, b, _ = private_rss(pid)
                priv.append(a)
                pss.append(b)
            except OSError:
                pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        for pid in pids:
            for _ in range(200):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.01)
        return {"count": n, "started": len(pids), "start_all_ms": round(ms, 1),
                "private_rss_mib_mean": round(statistics.mean(priv) / 2**20, 2) if priv else None,
                "private_rss_mib_max": round(max(priv) / 2**20, 2) if priv else None,
                "pss_mib_mean": round(statistics.mean(pss) / 2**20, 2) if pss else None}


class Qmp:
    def __init__(self, path, timeout=30):
        end = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.001)
        self.f = self.s.makefile("rw")
        self.f.readline()
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            j = json.loads(self.f.readline())
            if "return" in j or "error" in j:
                return j


class Qemu:
    def __init__(self, qemu, tmp):
        self.qemu, self.tmp = qemu, tmp

    def argv(self, mem, buf_mb, out, qmp):
        return [self.qemu, "-M", "microvm", "-accel", "kvm", "-m", mem, "-nodefaults", "-no-reboot", "-nographic",
                "-display", "none", "-serial", "file:" + out, "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                "-kernel", GUEST, "-append", f"mem_mb={buf_mb} print_ms=100", "-qmp", f"unix:{qmp},server=on,wait=off"]

    @contextlib.contextmanager
    def running(self, argv):
        """QEMU with argv for the with-block, killed and reaped at its end, whether it quit or failed."""
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield p
        finally:
            p.kill()
            p.wait()

    def snapshot(self, mem, buf_mb, path):
        out, qmp = os.path.join(self.tmp, f"q-{mem}.out"), os.path.join(self.tmp, "q.qmp")
        with self.running(self.argv(mem, buf_mb, out, qmp)):
            if not wait_rounds(out, 2):
                raise SystemExit("qemu: the guest did not start")
            q = Qmp(qmp)
            # No bandwidth cap (QEMU's default is 128 MiB/s): a file is the destination.
            q.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 40})
            t0 = time.monotonic()
            q.cmd("stop")
            q.cmd("migrate", uri=f"exec:cat > {path}")
            while q.cmd("query-migrate")["return"].get("status") not in ("completed", "failed"):
                time.sleep(0.001)
            ms = (time.monotonic() - t0) * 1e3
            q.cmd("quit")
        return ms

    def restore_once(self, mem, buf_mb, path):
        out, qmp = os.path.join(self.tmp, "qr.out"), os.path.join(self.tmp, "qr.qmp")
        argv = self.argv(mem, buf_mb, out, qmp) + ["-incoming", f"exec:cat {path}"]
        t0 = time.monotonic()
        with self.running(argv):
            q = Qmp(qmp)
            # The source was stopped before it migrated, so the incoming VM stays paused once loaded.
            while q.cmd("query-status")["return"].get("status") == "inmigrate":
                time.sleep(0.0005)
            q.cmd("cont")
            while q.cmd("query-status")["return"].get("status") != "running":
                time.sleep(0.0005)
            ms = (time.monotonic() - t0) * 1e3
            q.cmd("quit")
        return ms


def bench_size(mem, args, kite, qemu, tmp):
    buf_mb = max(1, size_bytes(mem) // 4 >> 20)
    res = {"mem": mem, "guest_dirty_buffer_mib": buf_mb}
    d = os.path.join(tmp, "snap-" + mem)
    log(f"kite {mem}: snapshot")
    res_k = {"snapshot_ms": round(kite.snapshot("b-" + mem, mem, buf_mb, d), 1)}
    size, used = disk_usage(os.path.join(d, "memory"))
    res_k["memory_file_bytes"], res_k["memory_file_allocated_bytes"] = size, used
    res_k["state_file_bytes"] = os.stat(os.path.join(d, "state")).st_size
    log(f"kite {mem}: restore x{args.runs}")
    lazy = [kite.restore_once(d) for _ in range(args.runs)]
    eager = [kite.restore_once(d, eager=True) for _ in range(max(1, args.runs // 2))]
    res_k["restore_to_first_instruction_ms_median"] = round(statistics.median(x[0] for x in lazy), 2)
    res_k["restore_to_first_instruction_ms_min"] = round(min(x[0] for x in lazy), 2)
    res_k["restore_process_wall_ms_median"] = round(statistics.median(x[1] for x in lazy), 2)
    res_k["restore_eager_ms_median"] = round(statistics.median(x[0] for x in eager), 2)
    res["kite"] = res_k
    shutil.rmtree(d, ignore_errors=True)

    if args.clones:
        d = os.path.join(tmp, "tmpl-" + mem)
        log(f"kite {mem}: {args.clones} clones")
        kite.snapshot("t-" + mem, mem, 1, d)
        res["kite"]["clones"] = kite.clones(d, args.clones)
        res["kite"]["clones"]["guest_dirty_buffer_mib"] = 1
        shutil.rmtree(d, ignore_errors=True)

    if qemu:
        path = os.path.join(tmp, "qemu-" + mem + ".mig")
        log(f"qemu {mem}: migrate to file, -incoming exec:cat x{args.runs}")
        res_q = {"snapshot_ms": round(qemu.snapshot(mem, buf_mb, path), 1), "file_bytes": os.stat(path).st_size}
        qr = [qemu.restore_once(mem, buf_mb, path) for _ in range(args.runs)]
        res_q["restore_to_running_ms_median"] = round(statistics.median(qr), 2)
        res["qemu"] = res_q
        os.unlink(path)
        kr = res_k["restore_to_first_instruction_ms_median"]
        res["ratio"] = {"qemu_restore_over_kite": round(res_q["restore_to_running_ms_median"] / kr, 1) if kr else None,
                        "qemu_snapshot_over_kite": round(res_q["snapshot_ms"] / res_k["snapshot_ms"], 2)}
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mem", default="256M,1G")
    ap.add_argument("--clones", type=int, default=50)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kite", default="build/kite")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="kite-bench-snap-", dir="/var/tmp")
    kite = Kite(os.path.abspath(args.kite), tmp)
    qemu = Qemu(args.qemu, tmp) if args.qemu != "none" and shutil.which(args.qemu) else None
    try:
        results = [bench_size(m, args, kite, qemu, tmp) for m in args.mem.split(",")]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"benchmark": "snapshot", "host_cpus": os.cpu_count(),
                      "notes": "kite snapshot_ms includes fsync of both files; QEMU's migrate to file does not fsync",
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
