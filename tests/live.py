#!/usr/bin/env python3
"""Live capture (interfaces/<name>, the source-live plugin) on the loopback
interface, through the CLI and the daemon: packet limits, end times, Ctrl-C,
LIVE_STREAM downloads and their end when the client leaves, and the refusals
(unknown interface, LIVE_STREAM of a file, unattended live exports without
a stop rule).  Our own UDP datagrams, numbered, on a port nothing else uses,
are the traffic; a filter keeps only them.  Skipped (77) where this process
may not capture (no CAP_NET_RAW)."""
import http.client
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from checks import check, summary, wait_until

PKT = os.environ["PKTEXPORT"]
PKTD = os.environ.get("PKTEXPORTD", os.path.join(os.path.dirname(PKT), "pktexportd"))
API = "/api/npm.packet_export/1.3"
TAG = b"pkx-live-"


class Sender(threading.Thread):
    """Numbered datagrams to 127.0.0.1:port every 5 ms until stopped, or
    `count` of them."""

    def __init__(self, port, count=None):
        super().__init__(daemon=True)
        self.port, self.count, self.sent = port, count, 0
        self.halt = threading.Event()

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while not self.halt.is_set() and (self.count is None or self.sent < self.count):
            s.sendto(TAG + b"%08d" % self.sent, ("127.0.0.1", self.port))
            self.sent += 1
            time.sleep(0.005)
        s.close()

    def stop(self):
        self.halt.set()
        self.join()


def udp_port():
    """A port bound here for the whole test, so no one else sends to it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def pcap_records(data):
    """(ts_ns, payload tail) of each record of a PCAP_NS file; None when
    the bytes are not one whole file."""
    if len(data) < 24 or struct.unpack("<I", data[:4])[0] != 0xA1B23C4D:
        return None
    out, off = [], 24
    while off < len(data):
        if off + 16 > len(data):
            return None
        sec, ns, cap, _ = struct.unpack("<IIII", data[off:off + 16])
        body = data[off + 16:off + 16 + cap]
        if len(body) != cap:
            return None
        out.append((sec * 10**9 + ns, body[-(len(TAG) + 8):]))
        off += 16 + cap
    return out


def ours_in_order(recs):
    """All records are our datagrams, numbers rising, times not falling."""
    if not all(p.startswith(TAG) for _, p in recs):
        return False
    seqs = [int(p[len(TAG):]) for _, p in recs]
    times = [t for t, _ in recs]
    return seqs == sorted(set(seqs)) and times == sorted(times)


def cli(root, *args, **kw):
    return subprocess.run([PKT, "export", "--root", root, "-F", "PCAP_NS"] + list(args),
                          capture_output=True, timeout=kw.get("timeout", 60))


def main():
    root = tempfile.mkdtemp(prefix="pkx-live.")
    os.makedirs(os.path.join(root, "fs"))
    keep, port = udp_port()
    bpf = "BPF:udp port %d" % port

    probe = cli(root, "--end", "1", "-o", os.path.join(root, "probe.pcap"), "interfaces/lo")
    if probe.returncode != 0:
        print("SKIP: cannot capture on lo here: %s" % probe.stderr.decode().strip())
        return 77

    # --- CLI refusals
    out = os.path.join(root, "x.pcap")
    r = cli(root, "-o", out, "interfaces/nosuch")
    err = r.stderr.decode()
    check("unknown interface: exit 2", r.returncode == 2, err)
    check("unknown interface: RESOURCE_NOT_FOUND, saying where to look, listing none",
          "RESOURCE_NOT_FOUND" in err and "ip link" in err and "\"lo\"" not in err
          and " lo," not in err, err)
    check("unknown interface: no file", not os.path.exists(out))
    cfg = os.path.join(root, "live.json")
    with open(cfg, "w") as f:
        json.dump({"path": "fs/none.pcap", "mode": "LIVE_STREAM"}, f)
    r = cli(root, "--config", cfg, "-o", out, "fs/none.pcap")
    check("LIVE_STREAM of a file: exit 2", r.returncode == 2, r.stderr.decode())
    check("LIVE_STREAM of a file: says why", b"interfaces/" in r.stderr, r.stderr.decode())

    # --- a packet limit: exactly the first 20 of ours, in order
    snd = Sender(port)
    snd.start()
    t0 = time.time_ns()
    r = cli(root, "-v", "--packet-limit", "20", "-f", bpf, "-o", out, "interfaces/lo")
    t1 = time.time_ns()
    snd.stop()
    check("packet limit: the BPF filter runs in the kernel",
          ('kernel filter "(udp port %d)"' % port).encode() in r.stderr, r.stderr.decode())
    recs = pcap_records(open(out, "rb").read()) if os.path.exists(out) else None
    check("packet limit: exit 0", r.returncode == 0, r.stderr.decode())
    check("packet limit: 20 records", recs is not None and len(recs) == 20,
          "%s" % (None if recs is None else len(recs)))
    check("packet limit: ours, in order, nanosecond times",
          recs and ours_in_order(recs) and all(t0 - 10**9 <= t <= t1 for t, _ in recs))

    # --- a SteelFilter said in BPF (its to_bpf) also runs in the kernel
    plugins = subprocess.run([PKT, "plugins"], capture_output=True).stdout
    if b"STEELFILTER" in plugins:
        snd = Sender(port)
        snd.start()
        r = cli(root, "-v", "--packet-limit", "10", "-f", "STEELFILTER:udp.port==%d" % port,
                "-o", out, "interfaces/lo")
        snd.stop()
        recs = pcap_records(open(out, "rb").read()) if os.path.exists(out) else None
        check("SteelFilter, live: its BPF runs in the kernel",
              re.search(rb'kernel filter ".*udp port %d' % port, r.stderr) is not None,
              r.stderr.decode())
        check("SteelFilter, live: 10 of ours in order",
              r.returncode == 0 and recs is not None and len(recs) == 10 and ours_in_order(recs),
              "%s %s" % (r.returncode, None if recs is None else len(recs)))

    # --- a WIRESHARK filter (answers in batches) on a live source
    plugins = subprocess.run([PKT, "plugins"], capture_output=True).stdout
    if b"WIRESHARK" in plugins:
        snd = Sender(port)
        snd.start()
        r = cli(root, "--packet-limit", "10", "-f", "WIRESHARK:udp.port == %d" % port,
                "-o", out, "interfaces/lo", timeout=180)
        snd.stop()
        recs = pcap_records(open(out, "rb").read()) if os.path.exists(out) else None
        check("WIRESHARK filter, live: exit 0", r.returncode == 0, r.stderr.decode())
        check("WIRESHARK filter, live: 10 of ours in order",
              recs is not None and len(recs) == 10 and ours_in_order(recs),
              "%s" % (None if recs is None else len(recs)))

    # --- an end time ends a quiet capture; a window keeps only its packets
    start = time.time()
    r = cli(root, "--end", "%.3f" % (start + 1.0), "-f", bpf, "-o", out, "interfaces/lo")
    took = time.time() - start
    recs = pcap_records(open(out, "rb").read()) if os.path.exists(out) else None
    check("end time, no traffic: exit 0 (%.1f s)" % took, r.returncode == 0 and took < 15,
          r.stderr.decode())
    check("end time, no traffic: an empty capture", recs == [])
    snd = Sender(port)
    snd.start()
    w0 = time.time() + 0.3
    w1 = w0 + 0.6
    r = cli(root, "--start", "%.9f" % w0, "--end", "%.9f" % w1, "-f", bpf, "-o", out,
            "interfaces/lo")
    snd.stop()
    recs = pcap_records(open(out, "rb").read()) if os.path.exists(out) else None
    check("window: exit 0", r.returncode == 0, r.stderr.decode())
    check("window: packets, all inside it",
          recs and ours_in_order(recs) and
          all(int(w0 * 10**9) - 1000 <= t < int(w1 * 10**9) + 1000 for t, _ in recs),
          "%s" % (None if recs is None else len(recs)))

    # --- Ctrl-C ends a live capture and keeps a whole file
    p = subprocess.Popen([PKT, "export", "-v", "--root", root, "-F", "PCAP_NS", "-f", bpf,
                          "-o", out, "interfaces/lo"], stderr=subprocess.PIPE)
    seen, deadline = b"", time.monotonic() + 30
    while b"capturing on lo" not in seen and time.monotonic() < deadline:
        if select.select([p.stderr], [], [], 1)[0]:
            chunk = os.read(p.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    check("Ctrl-C: the capture started", b"capturing on lo" in seen, seen.decode())
    snd = Sender(port, count=30)
    snd.start()
    snd.join()
    p.send_signal(signal.SIGINT)
    try:
        rc = p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
    recs = pcap_records(open(out, "rb").read()) if os.path.exists(out) else None
    check("Ctrl-C: exit 0", rc == 0, "%s" % rc)
    check("Ctrl-C: the 30 packets sent, in a whole file",
          recs is not None and len(recs) == 30 and ours_in_order(recs),
          "%s" % (None if recs is None else len(recs)))

    # --- the daemon
    errlog = open(os.path.join(root, "daemon.log"), "w")
    d = subprocess.Popen([PKTD, "--root", root, "--listen", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=errlog, text=True)
    host, hport = d.stdout.readline().strip().rsplit(":", 1)
    hport = int(hport)

    def call(method, path, body=None):
        c = http.client.HTTPConnection(host, hport, timeout=60)
        c.request(method, API + path, json.dumps(body) if body is not None else None,
                  {"Content-Type": "application/json"} if body is not None else {})
        resp = c.getresponse()
        data = resp.read()
        c.close()
        return resp.status, data

    def post(config):
        status, data = call("POST", "/exports", {"config": config})
        return status, json.loads(data or b"{}")

    def state(eid):
        status, data = call("GET", "/exports/items/" + eid)
        return json.loads(data).get("status", {}).get("state") if status == 200 else None

    try:
        filt = {"items": [{"id": "u", "type": "BPF", "value": "udp port %d" % port}]}
        status, body = post({"path": "interfaces/nosuch", "mode": "LIVE_STREAM"})
        check("daemon: unknown interface is 404", status == 404, "%s %s" % (status, body))
        status, body = post({"path": "fs/none.pcap", "mode": "LIVE_STREAM"})
        check("daemon: LIVE_STREAM of a file is 400",
              status == 400 and body.get("error_id") == "REQUEST_INVALID_INPUT",
              "%s %s" % (status, body))
        for mode in ("PREPARE", "STREAM_TO_FILE"):
            status, body = post({"path": "interfaces/lo", "mode": mode,
                                 "output_filename": "live.pcap"})
            check("daemon: unbounded live %s is 400" % mode,
                  status == 400 and "stop_rule" in body.get("error_text", ""),
                  "%s %s" % (status, body))
        status, body = post({"path": "interfaces/lo", "mode": "PREPARE", "filters": filt,
                             "stop_rule": {"time_limit": 1}})
        check("daemon: live PREPARE with a time limit is 201", status == 201, "%s" % status)
        if status == 201:
            eid = body["id"]
            check("daemon: live PREPARE ends (no traffic: NODATA)",
                  wait_until(lambda: state(eid) == "NODATA", 20), "%s" % state(eid))

        # LIVE_STREAM with a packet limit: the download holds 10 of ours.
        status, body = post({"path": "interfaces/lo", "mode": "LIVE_STREAM",
                             "output_format": "PCAP_NS", "filters": filt,
                             "stop_rule": {"packet_limit": 10}})
        check("daemon: LIVE_STREAM is 201", status == 201, "%s %s" % (status, body))
        if status == 201:
            eid = body["id"]
            snd = Sender(port)
            snd.start()
            status, data = call("GET", "/packets/items/" + eid)
            snd.stop()
            recs = pcap_records(data)
            check("daemon: LIVE_STREAM download holds 10 of ours in order",
                  status == 200 and recs is not None and len(recs) == 10 and ours_in_order(recs),
                  "%s %s" % (status, None if recs is None else len(recs)))
            check("daemon: LIVE_STREAM export then DONE",
                  wait_until(lambda: state(eid) == "DONE", 20), "%s" % state(eid))

        # A client that leaves ends the stream: DONE, not an error.
        status, body = post({"path": "interfaces/lo", "mode": "LIVE_STREAM",
                             "output_format": "PCAP_NS", "filters": filt})
        if status == 201:
            eid = body["id"]
            snd = Sender(port)
            snd.start()
            s = socket.create_connection((host, hport), timeout=30)
            s.sendall(("GET %s/packets/items/%s HTTP/1.1\r\nHost: x\r\n\r\n"
                       % (API, eid)).encode())
            got = b""
            t0 = time.monotonic()
            while got.count(TAG) < 3:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            # 3 datagrams take 15 ms to send; output is handed on at
            # least every 100 ms, not when 256 KiB have piled up.
            check("daemon: LIVE_STREAM streams as packets arrive",
                  got.count(TAG) >= 3 and time.monotonic() - t0 < 2, time.monotonic() - t0)
            s.close()
            ended = wait_until(lambda: state(eid) in ("DONE", "NODATA", "ERRORS"), 20)
            snd.stop()
            check("daemon: the client left, the export is DONE",
                  ended and state(eid) == "DONE", "%s" % state(eid))
        # Steady traffic (200 datagrams a second, never a quiet 100 ms):
        # the time limit holds to the packet, not to the thousandth.
        status, body = post({"path": "interfaces/lo", "mode": "LIVE_STREAM",
                             "filters": filt, "stop_rule": {"time_limit": 1}})
        if status == 201:
            eid = body["id"]
            snd = Sender(port)
            snd.start()
            t0 = time.monotonic()
            r, data = call("GET", "/packets/items/" + eid)
            took = time.monotonic() - t0
            snd.stop()
            check("daemon: time_limit 1 under steady traffic ends in time",
                  r == 200 and took < 3.5, "%s after %.1f s" % (r, took))
            check("daemon: time_limit 1 export is DONE, truncated",
                  wait_until(lambda: state(eid) == "DONE", 20), "%s" % state(eid))
        # A quiet stream ends as promptly when its client leaves.
        status, body = post({"path": "interfaces/lo", "mode": "LIVE_STREAM", "filters": filt})
        if status == 201:
            eid = body["id"]
            s = socket.create_connection((host, hport), timeout=30)
            s.sendall(("GET %s/packets/items/%s HTTP/1.1\r\nHost: x\r\n\r\n"
                       % (API, eid)).encode())
            check("daemon: a quiet stream starts streaming",
                  wait_until(lambda: state(eid) == "STREAMING", 20), "%s" % state(eid))
            s.close()
            check("daemon: a quiet stream whose client left is over",
                  wait_until(lambda: state(eid) in ("DONE", "NODATA"), 20), "%s" % state(eid))
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(timeout=30)
        except subprocess.TimeoutExpired:
            d.kill()
            check("daemon: stops on SIGTERM", False)
        keep.close()

    return summary()


if __name__ == "__main__":
    sys.exit(main())
