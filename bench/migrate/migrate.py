#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Live migration on loopback: kite vs QEMU, same guest, same memory, in one run.

For each RAM size and workload the `dirty` test guest (build/guests/dirty.elf)
runs under a source VMM and migrates over TCP on 127.0.0.1 to a target of the
same VMM:
  idle   a 1 MiB buffer rewritten every 200 ms (almost nothing dirtied)
  dirty  a 64 MiB buffer rewritten as fast as the guest can (every page, every
         round; the migration must converge or throttle)
kite: kite run --incoming / kite migrate --json (downtime measured on both
sides, and the way QEMU defines it: pause until the last byte sent).  QEMU: -M microvm -incoming tcp:..., QMP migrate, QEMU's own reported
downtime and total time; its downtime limit and bandwidth are set to kite's
(50 ms, unlimited) and auto-converge is on, so both chase the same goal.

Prints one JSON object; --out writes it too; --plot draws the rounds of kite's
migrations (pages per round, dirty rate) with gnuplot into bench/results/.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KITE = os.environ.get("KITE", os.path.join(ROOT, "build", "kite"))
GUEST = os.path.join(os.environ.get("GUESTS", os.path.join(ROOT, "build", "guests")), "dirty.elf")
WORKLOADS = {
    "idle": "mem_mb=1 pause_ms=200 print_ms=100000",
    "dirty": "mem_mb=64 print_ms=100000",
}
DOWNTIME_MS = 50


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_file(path, text, secs=30):
    end = time.time() + secs
    while time.time() < end:
        try:
            with open(path, "rb") as f:
                if text.encode() in f.read():
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return False


def stop(*procs):
    for p in procs:
        if p and p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        if p:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def guest_ok(path):
    with open(path, "rb") as f:
        return b"expected" not in f.read()


def run_kite(tmp, mem_mib, workload):
    env = dict(os.environ, KITE_RUNTIME_DIR=os.path.join(tmp, "run"))
    port = free_port()
    src_out, dst_out = os.path.join(tmp, "ks.out"), os.path.join(tmp, "kd.out")
    src = subprocess.Popen([KITE, "run", "--kernel", GUEST, "--cmdline", WORKLOADS[workload], "--mem",
                            "%dM" % mem_mib, "--serial", "file:" + src_out, "--name", "bsrc"], env=env,
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "ks.log"), "w"))
    dst = subprocess.Popen([KITE, "run", "--incoming", "tcp:127.0.0.1:%d" % port, "--name", "bdst", "--serial",
                            "file:" + dst_out], env=env, stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(tmp, "kd.log"), "w"))
    try:
        if not wait_file(src_out, "dirty: round 1 ") or not wait_file(os.path.join(tmp, "kd.log"), "waiting"):
            raise RuntimeError("kite source or target did not start")
        time.sleep(1.0)
        r = subprocess.run([KITE, "migrate", "bsrc", "tcp:127.0.0.1:%d" % port, "--json", "--downtime",
                            str(DOWNTIME_MS)], env=env, capture_output=True, text=True, timeout=300)
        rep = json.loads(r.stdout) if r.stdout.strip() else {"status": "failed", "error": r.stderr.strip()}
        time.sleep(0.5)
        ok = rep.get("status") == "completed" and dst.poll() is None and guest_ok(dst_out)
        return {
            "vmm": "kite", "workload": workload, "mem_mib": mem_mib, "ok": ok,
            "total_ms": rep.get("total_ms"), "downtime_ms": rep.get("downtime_ms"),
            "target_downtime_ms": rep.get("target_downtime_ms"), "downtime_sent_ms": rep.get("downtime_sent_ms"),
            "downtime_phases": rep.get("downtime_phases"), "rounds": rep.get("round"),
            "bytes": rep.get("bytes"), "pages": rep.get("pages"), "zero_pages": rep.get("zero_pages"),
            "round_detail": rep.get("rounds", []), "error": rep.get("error"),
        }
    finally:
        stop(src, dst)


class QMP:
    def __init__(self, path):
        for _ in range(200):
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.05)
        self.f = self.s.makefile("rw")
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            m = json.loads(self.f.readline())
            if "return" in m or "error" in m:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (name, m["error"]))
                return m["return"]


def qemu_cmd(tmp, tag, mem_mib, workload, extra):
    return ["qemu-system-x86_64", "-M", "microvm", "-accel", "kvm", "-m", "%dM" % mem_mib, "-nodefaults",
            "-no-reboot", "-nographic", "-display", "none", "-serial", "file:" + os.path.join(tmp, tag + ".out"),
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", GUEST, "-append", WORKLOADS[workload],
            "-qmp", "unix:%s,server=on,wait=off" % os.path.join(tmp, tag + ".qmp")] + extra


def run_qemu(tmp, mem_mib, workload):
    port = free_port()
    src = subprocess.Popen(qemu_cmd(tmp, "qs", mem_mib, workload, []), stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(tmp, "qs.log"), "w"))
    dst = subprocess.Popen(qemu_cmd(tmp, "qd", mem_mib, workload, ["-incoming", "tcp:127.0.0.1:%d" % port]),
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "qd.log"), "w"))
    try:
        if not wait_file(os.path.join(tmp, "qs.out"), "dirty: round 1 "):
            raise RuntimeError("QEMU source did not start")
        time.sleep(1.0)
        q = QMP(os.path.join(tmp, "qs.qmp"))
        q.cmd("migrate-set-capabilities", capabilities=[{"capability": "auto-converge", "state": True}])
        q.cmd("migrate-set-parameters", **{"downtime-limit": DOWNTIME_MS, "max-bandwidth": 1 << 40})
        q.cmd("migrate", uri="tcp:127.0.0.1:%d" % port)
        end = time.time() + 300
        info = {}
        while time.time() < end:
            info = q.cmd("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.05)
        time.sleep(0.5)
        ok = info.get("status") == "completed" and dst.poll() is None and guest_ok(os.path.join(tmp, "qd.out"))
        ram = info.get("ram", {})
        return {
            "vmm": "qemu", "workload": workload, "mem_mib": mem_mib, "ok": ok,
            "total_ms": info.get("total-time"), "downtime_ms": None, "downtime_sent_ms": info.get("downtime"),
            "setup_ms": info.get("setup-time"), "rounds": ram.get("dirty-sync-count"),
            "bytes": ram.get("total"), "transferred": ram.get("transferred"),
            "pages": ram.get("normal"), "zero_pages": ram.get("duplicate"),
            "error": info.get("error-desc"),
        }
    finally:
        stop(src, dst)


def plot(results, outdir):
    if not shutil.which("gnuplot"):
        print("migrate.py: gnuplot is not installed: no plot", file=sys.stderr)
        return None
    os.makedirs(outdir, exist_ok=True)
    runs = [r for r in results if r["vmm"] == "kite" and r.get("round_detail")]
    if not runs:
        print("migrate.py: no kite run to plot", file=sys.stderr)
        return None
    dat = os.path.join(outdir, "migrate-rounds.dat")
    with open(dat, "w") as f:
        for r in runs:
            f.write('"%s %d MiB"\n' % (r["workload"], r["mem_mib"]))
            for d in r["round_detail"]:
                rate = d["dirty_pages"] / (d["ms"] / 1000.0) if d["ms"] else 0
                f.write("%d %d %.0f %d\n" % (d["round"], d["pages"], rate, d["throttle_pct"]))
            f.write("\n\n")
    svg = os.path.join(outdir, "migrate-rounds.svg")
    script = """
set terminal svg size 1000,420 dynamic
set output '%s'
set multiplot layout 1,2 title 'kite live migration: rounds (loopback, downtime budget %d ms)'
set xlabel 'round'
set xtics 1
set ylabel 'pages in the round (dirty set; round 1: all RAM)'
set logscale y
set key top right
plot for [i=0:%d] '%s' index i using 1:2 with linespoints title columnheader(1)
set ylabel 'dirty rate (pages/s)'
plot for [i=0:%d] '%s' index i using 1:3 with linespoints title columnheader(1)
unset multiplot
""" % (svg, DOWNTIME_MS, len(runs) - 1, dat, len(runs) - 1, dat)
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return svg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="256,1024", help="RAM sizes in MiB (default 256,1024)")
    ap.add_argument("--workloads", default="idle,dirty")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per case; the run with the median downtime is kept (noisy hosts)")
    ap.add_argument("--markdown", action="store_true", help="also print a Markdown table on stderr")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--plot", nargs="?", const=os.path.join(ROOT, "bench", "results"),
                    help="gnuplot the rounds into DIR (default bench/results)")
    a = ap.parse_args()
    qemu = not a.no_qemu and shutil.which("qemu-system-x86_64")
    results = []
    load0 = os.getloadavg()
    for mem in [int(x) for x in a.sizes.split(",")]:
        for w in a.workloads.split(","):
            for fn in [run_kite] + ([run_qemu] if qemu else []):
                runs = []
                for _ in range(max(a.repeat, 1)):
                    tmp = tempfile.mkdtemp(prefix="kite-migbench-")
                    try:
                        runs.append(fn(tmp, mem, w))
                    except Exception as e:  # a failed run is a result too
                        runs.append({"vmm": fn.__name__[4:], "workload": w, "mem_mib": mem, "ok": False,
                                     "error": str(e)})
                    finally:
                        shutil.rmtree(tmp, ignore_errors=True)
                good = sorted([x for x in runs if x["ok"]], key=lambda x: x["downtime_ms"] or x["downtime_sent_ms"])
                r = good[len(good) // 2] if len(good) == len(runs) else [x for x in runs if not x["ok"]][0]
                r["runs"] = len(runs)
                results.append(r)
                print("migrate.py: %-4s %-5s %5d MiB: %s total %s ms, downtime %s ms (until sent %s ms), %s rounds" %
                      (r["vmm"], w, mem, "ok" if r["ok"] else "FAILED", r.get("total_ms"), r.get("downtime_ms"),
                       r.get("downtime_sent_ms"), r.get("rounds")), file=sys.stderr)
    if a.markdown:
        print("| VMM | workload | RAM | total ms | downtime ms: until sent (QEMU's definition) | until the target "
              "runs it | rounds | MiB sent |", file=sys.stderr)
        print("|---|---|---|---|---|---|---|---|", file=sys.stderr)
        for r in results:
            sent = r.get("transferred", r.get("bytes")) or 0
            print("| %s | %s | %d MiB | %s | %s | %s | %s | %.1f |" % (
                r["vmm"], r["workload"], r["mem_mib"],
                "%.0f" % r["total_ms"] if r.get("total_ms") is not None else "-",
                "%.1f" % r["downtime_sent_ms"] if r.get("downtime_sent_ms") is not None else "-",
                "%.1f" % r["downtime_ms"] if r.get("downtime_ms") is not None else "-",
                r.get("rounds", "-"), sent / 2**20), file=sys.stderr)
    doc = {"benchmark": "migrate", "transport": "tcp loopback", "downtime_budget_ms": DOWNTIME_MS,
           "guest": "dirty.elf", "command": " ".join(["bench/migrate/migrate.py"] + sys.argv[1:]),
           "loadavg_1min_before_after": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
           "downtime_definitions": {
               "downtime_sent_ms": "guest paused at the source until the source has sent the last byte "
                                   "(QEMU's 'downtime'; for QEMU it is QEMU's own number)",
               "downtime_ms": "kite only: guest paused at the source until the target's confirmation that "
                              "it runs the guest arrived (includes loading the state there, waking its vCPU and "
                              "two round trips: ready/go and go/done)",
               "target_downtime_ms": "kite only: from the target reading stop-copy to its vCPUs resumed"},
           "results": results}
    if a.plot:
        doc["plot"] = plot(results, a.plot)
    text = json.dumps(doc, indent=2)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
