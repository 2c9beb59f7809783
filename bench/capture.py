#!/usr/bin/env python3
"""Recording benchmark: the highest packet rate pktexport capture, tcpdump -w
and dumpcap -w each sustain with zero drops on the same veth pair, each
measured alone in the same run, and their CPU per packet (user + sys of the
recording process, from wait4).

  bench/capture.py [--seconds S] [--lo PPS] [--hi PPS] [--steps N]
                   [--cpu-rates PPS,PPS --repeat N]
                   [--long SECONDS --long-rate PPS]

Needs root (a network namespace and a veth pair are made and removed), the
build's pktexport-capture and tests/pktgen, tcpdump and dumpcap.  The
generator runs in the namespace and sends numbered frames of 64 to 1514
bytes (tests/pktgen's mix) on the peer; each tool records the other end
into a file under a fresh folder of --dir (default /var/tmp: a disk, not
memory).  A trial passes when the file holds every frame sent and the
tool reports no drop.

The search, per tool: a trial at --lo must pass; then a bisection between
the highest rate that passed and the lowest that failed (starting from
--hi), --steps trials; the result is the highest rate that passed.  Since
the generator shares the machine (2 cores here: one is the generator's,
the kernel's delivery to the ring runs on it too), the rate the generator
actually reached is what is reported for a trial.

CPU per packet is compared at the same rates (--cpu-rates, each below
every tool's highest), the median of --repeat trials per tool: at a tool's
own highest rate the kernel's and the disk's work per packet differ.

--long runs the job and tcpdump together on the same interface for that
many seconds at --long-rate, and checks that neither dropped and that a
window of the job's recording equals tcpdump's."""
import argparse
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPTURE = os.environ.get("PKTEXPORT_CAPTURE", os.path.join(TOP, "pktexport-capture"))
PKTEXPORT = os.environ.get("PKTEXPORT", os.path.join(TOP, "pktexport"))
PKTGEN = os.environ.get("PKTGEN", os.path.join(TOP, "tests", "pktgen"))
NS = "pkxb%d" % os.getpid()
IF, PEER = "pkxb%da" % os.getpid(), "pkxb%db" % os.getpid()


def sh(*a):
    subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def setup():
    sh("ip", "netns", "add", NS)
    sh("ip", "link", "add", IF, "type", "veth", "peer", "name", PEER, "netns", NS)
    subprocess.run(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % IF])
    subprocess.run(["ip", "netns", "exec", NS, "sysctl", "-qw",
                    "net.ipv6.conf.%s.disable_ipv6=1" % PEER])
    sh("ip", "link", "set", IF, "up")
    sh("ip", "-n", NS, "link", "set", PEER, "up")


def teardown():
    subprocess.run(["ip", "netns", "del", NS], stderr=subprocess.DEVNULL)


def count_ours(paths):
    """Frames of the generator in pcap/pcapng files (whole records)."""
    n = 0
    for p in paths:
        d = open(p, "rb").read()
        if d[:4] == b"\x0a\x0d\x0d\x0a":
            o = 0
            while o + 12 <= len(d):
                t, ln = struct.unpack("<II", d[o:o + 8])
                if ln < 12 or o + ln > len(d):
                    break
                if t == 6 and d[o + 28 + 42:o + 28 + 46] == b"PKXG":
                    n += 1
                o += ln
        else:
            o = 24
            while o + 16 <= len(d):
                cap = struct.unpack("<I", d[o + 8:o + 12])[0]
                if o + 16 + cap > len(d):
                    break
                if d[o + 16 + 42:o + 16 + 46] == b"PKXG":
                    n += 1
                o += 16 + cap
    return n


def ready(proc, check):
    end = time.monotonic() + 20
    while time.monotonic() < end and proc.poll() is None:
        if check():
            return True
        time.sleep(0.02)
    return False


class Tool:
    def __init__(self, name, work):
        self.name, self.work = name, work

    def start(self):
        os.makedirs(self.work, exist_ok=True)
        self.err = open(os.path.join(self.work, "stderr"), "w+")
        self.proc = subprocess.Popen(self.cmd(), stderr=self.err, stdout=subprocess.DEVNULL)
        if not ready(self.proc, self.is_ready):
            raise RuntimeError("%s did not start: %s" % (self.name, self.stderr()))

    def stderr(self):
        self.err.flush()
        return open(os.path.join(self.work, "stderr")).read()

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.proc.returncode = status
        return ru.ru_utime + ru.ru_stime


class Ours(Tool):
    def cmd(self):
        return [CAPTURE, "--root", self.work, "--file-size", "1G", "bench", IF]

    def is_ready(self):
        try:
            return b'"RUNNING"' in open(os.path.join(self.work, "jobs/bench/.recorder.json"), "rb").read()
        except OSError:
            return False

    def files(self):
        d = os.path.join(self.work, "jobs", "bench")
        return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".pcap"))

    def drops(self):
        import json
        st = json.load(open(os.path.join(self.work, "jobs/bench/.recorder.json")))
        i = st["interfaces"][0]
        return i["kernel_drops"] + i["interface_drops"] + i["our_drops"]


class Tcpdump(Tool):
    def cmd(self):
        # As a user records: -w, the kernel's nanosecond stamps, full snap.
        return ["tcpdump", "-i", IF, "-s", "262144", "--time-stamp-precision=nano"] + \
            (["-B", str(self.buffer_kib)] if getattr(self, "buffer_kib", 0) else []) + \
            ["-w", os.path.join(self.work, "t.pcap")]

    def is_ready(self):
        return "listening on" in self.stderr()

    def files(self):
        return [os.path.join(self.work, "t.pcap")]

    def drops(self):
        import re
        m = re.search(r"(\d+) packets dropped by kernel", self.stderr())
        return int(m.group(1)) if m else -1


class Dumpcap(Tool):
    def cmd(self):
        return ["dumpcap", "-q", "-i", IF, "-s", "262144", "-P", "-w",
                os.path.join(self.work, "d.pcap")]

    def is_ready(self):
        return "Capturing on" in self.stderr() or "File:" in self.stderr()

    def files(self):
        return [os.path.join(self.work, "d.pcap")]

    def drops(self):
        import re
        m = re.search(r"Packets received/dropped on interface.*: \d+/(\d+)", self.stderr())
        return int(m.group(1)) if m else 0


def trial(tool, rate, seconds):
    shutil.rmtree(tool.work, ignore_errors=True)
    tool.start()
    # Some tools say they are ready a moment before their ring takes
    # packets: the same pause for all, before the count starts.
    time.sleep(0.5)
    n = int(rate * seconds)
    t0 = time.monotonic()
    g = subprocess.run(["ip", "netns", "exec", NS, PKTGEN, PEER, str(rate), str(n)],
                       stdout=subprocess.PIPE, text=True)
    took = time.monotonic() - t0
    # What the ring still holds is handed over within its timeout (1 s
    # for tcpdump and dumpcap): wait before stopping.
    time.sleep(1.5)
    cpu = tool.stop()
    got = count_ours(tool.files())
    drops = tool.drops()
    sent_s = float(g.stdout.split()[-2]) if g.returncode == 0 else took
    ok = got == n and drops == 0
    print("  %-8s %8d pps asked, %8.0f reached: %s (%d of %d recorded, %d dropped), "
          "%.2f us CPU/packet" % (tool.name, rate, n / sent_s, "PASS" if ok else "fail",
                                  got, n, drops, cpu / max(got, 1) * 1e6), flush=True)
    shutil.rmtree(tool.work, ignore_errors=True)
    return ok, n / sent_s, cpu / max(got, 1)


def search(tool, lo, hi, steps, seconds):
    ok, reached, cpu = trial(tool, lo, seconds)
    if not ok:
        return 0, 0, None
    best = (lo, reached, cpu)
    good, bad = lo, hi
    ok, reached, cpu = trial(tool, hi, seconds)
    if ok:
        return hi, reached, cpu
    for _ in range(steps):
        mid = (good + bad) // 2
        if bad - good < max(lo // 20, 1000):
            break
        ok, reached, cpu = trial(tool, mid, seconds)
        if ok:
            good, best = mid, (mid, reached, cpu)
        else:
            bad = mid
    return best


def long_run(base, seconds, rate):
    ours, td = Ours("job", os.path.join(base, "long-job")), Tcpdump("tcpdump", os.path.join(base, "long-td"))
    # Both share the core the generator leaves: tcpdump gets a ring of
    # the job's size (its default of 2 MiB overflows while the two take
    # turns).
    td.buffer_kib = 65536
    for t in (ours, td):
        shutil.rmtree(t.work, ignore_errors=True)
        t.start()
    time.sleep(0.5)
    n = int(rate * seconds)
    started = time.time()
    g = subprocess.run(["ip", "netns", "exec", NS, PKTGEN, PEER, str(rate), str(n)],
                       stdout=subprocess.PIPE, text=True)
    time.sleep(1.5)
    ours.stop()
    td.stop()
    a, b = count_ours(ours.files()), count_ours(td.files())
    print("long run: %s; %d sent, job recorded %d (%d dropped), tcpdump %d (%d dropped)"
          % (g.stdout.strip(), n, a, ours.drops(), b, td.drops()))
    # A window of 2 s in the middle, from both recordings.
    t = int(started + seconds / 2)
    win = ["--start", str(t), "--end", str(t + 2), "-F", "PCAP_NS"]
    w1, w2 = os.path.join(base, "w-job.pcap"), os.path.join(base, "w-td.pcap")
    r1 = subprocess.run([PKTEXPORT, "export", "--root", ours.work, "-o", w1] + win + ["jobs/bench"])
    os.makedirs(os.path.join(td.work, "fs"), exist_ok=True)
    os.rename(td.files()[0], os.path.join(td.work, "fs", "t.pcap"))
    r2 = subprocess.run([PKTEXPORT, "export", "--root", td.work, "-o", w2] + win + ["fs/t.pcap"])
    same = r1.returncode == 0 and r2.returncode == 0 and open(w1, "rb").read() == open(w2, "rb").read()
    print("window of 2 s: %d bytes, job's export %s tcpdump's" %
          (os.path.getsize(w1), "equals" if same else "DIFFERS FROM"))
    ok = a == n and b == n and ours.drops() == 0 and td.drops() == 0 and same
    shutil.rmtree(ours.work, ignore_errors=True)
    shutil.rmtree(td.work, ignore_errors=True)
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--lo", type=int, default=100000)
    ap.add_argument("--hi", type=int, default=1000000)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--tools", default="ours,tcpdump,dumpcap")
    ap.add_argument("--long", type=float, default=0)
    ap.add_argument("--long-rate", type=int, default=100000)
    ap.add_argument("--cpu-rates", default="100000,200000")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/capture.py: needs root (namespaces, veth, packet sockets)")
    base = tempfile.mkdtemp(prefix="pkx-capbench-", dir=a.dir)
    setup()
    try:
        if a.long:
            ok = long_run(base, a.long, a.long_rate)
            print("long run:", "PASS" if ok else "FAIL")
        tools = {"ours": Ours("ours", os.path.join(base, "ours")),
                 "tcpdump": Tcpdump("tcpdump", os.path.join(base, "tcpdump")),
                 "dumpcap": Dumpcap("dumpcap", os.path.join(base, "dumpcap"))}
        res = {}
        for name in a.tools.split(","):
            if name:
                print("%s:" % name, flush=True)
                res[name] = search(tools[name], a.lo, a.hi, a.steps, a.seconds)
        cpu_at = {}
        for rate in [int(r) for r in a.cpu_rates.split(",") if r]:
            for name in a.tools.split(","):
                if not name:
                    continue
                runs = []
                for _ in range(a.repeat):
                    ok, reached, c = trial(tools[name], rate, a.seconds)
                    if ok:
                        runs.append(c)
                cpu_at[(name, rate)] = sorted(runs)[len(runs) // 2] if len(runs) == a.repeat else None
        print("\nhighest rate with zero drops (%g s trials, frames of 64 to 1514 bytes):" % a.seconds)
        for name, (rate, reached, _) in res.items():
            print("  %-8s %8.0f pps reached (%8d asked)%s" %
                  (name, reached, rate, "  (the generator's ceiling: no higher rate "
                   "could be tried)" if reached < rate * 0.99 else ""))
        if "ours" in res:
            for name in res:
                if name != "ours" and res[name][0]:
                    print("  ours / %s: highest rate reached %.2f" % (name, res["ours"][1] / res[name][1]))
        if cpu_at:
            print("\nCPU per packet (user + sys of the recording process), median of %d "
                  "trials of %g s at the same rate, each tool alone:" % (a.repeat, a.seconds))
            for (name, rate), c in sorted(cpu_at.items(), key=lambda x: (x[0][1], x[0][0])):
                ref = cpu_at.get(("ours", rate))
                print("  %7d pps %-8s %s%s" % (
                    rate, name, "%.2f us" % (c * 1e6) if c else "drops in a trial",
                    "" if name == "ours" or not c or not ref else "   ours / %s: %.2f" % (name, ref / c)))
    finally:
        teardown()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
