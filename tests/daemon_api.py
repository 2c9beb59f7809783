#!/usr/bin/env python3
"""pktexportd driven over HTTP on 127.0.0.1:0: every endpoint, mode, state
change, timeout and error of the Packet Export API 1.3, concurrent
downloads, disconnects and restarts.  Prints "N passed, N failed"."""
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from checks import check, summary, wait_until

API = "/api/npm.packet_export/1.3"


class Daemon:
    def __init__(self, root, args=(), headers=None, nofile=None):
        self.root = root
        self.args = list(args)
        self.headers = dict(headers or {})  # sent with every request
        self.nofile = nofile  # a descriptor limit of its own (no wrapper then)
        self.start()

    def start(self):
        cmd = [os.environ["PKTEXPORTD"], "--root", self.root, "--listen", "127.0.0.1:0"] + self.args
        wrapper = os.environ.get("PKTEXPORTD_WRAPPER", "")
        if wrapper and not self.nofile:
            cmd = wrapper.split() + cmd
        # stderr to a file: a pipe nobody reads could stall the daemon.
        self.errfile = tempfile.TemporaryFile(mode="w+")
        limit = None
        if self.nofile:
            def limit():
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.errfile, text=True,
                                     preexec_fn=limit)
        line = self.proc.stdout.readline().strip()  # printed once it accepts
        if not line:
            self.errfile.seek(0)
            raise RuntimeError("daemon did not start: " + self.errfile.read())
        host, port = line.rsplit(":", 1)
        self.host, self.port = host, int(port)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -9
        self.errfile.seek(0)
        self.stderr = self.errfile.read()
        self.errfile.close()
        self.proc.stdout.close()
        return rc

    def request(self, method, path, body=None, headers=None, raw=False):
        c = http.client.HTTPConnection(self.host, self.port, timeout=60)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        h = dict(self.headers)
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        if raw:
            return r, data
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = ("not json", data[:200])
        return r.status, doc, r

    def post(self, config, **extra):
        body = dict(extra)
        body["config"] = config
        return self.request("POST", API + "/exports", body)

    def get(self, eid):
        return self.request("GET", API + "/exports/items/" + eid)

    def download(self, eid):
        r, data = self.request("GET", API + "/packets/items/" + eid, raw=True)
        return r, data


def is_error(doc, eid):
    return (isinstance(doc, dict) and set(doc) == {"error_id", "error_text"}
            and doc["error_id"] == eid and isinstance(doc["error_text"], str) and doc["error_text"])


def cli(root, args, out):
    cmd = [os.environ["PKTEXPORT"], "export", "--root", root, "-o", out] + args
    return subprocess.run(cmd, capture_output=True).returncode


def cli_args(cfg):
    a = []
    for f in cfg.get("filters", {}).get("items", []):
        a += ["-f", "%s:%s" % (f["type"], f["value"])]
    if "start_time" in cfg:
        a += ["--start", cfg["start_time"]]
    if "end_time" in cfg:
        a += ["--end", cfg["end_time"]]
    # the API's default format; the command line's follows the input
    a += ["-F", cfg.get("output_format", "PCAP_US")]
    if "snap_length" in cfg:
        a += ["-s", str(cfg["snap_length"])]
    for k in ("packet_limit", "size_limit"):
        if k in cfg.get("stop_rule", {}):
            a += ["--" + k.replace("_", "-"), str(cfg["stop_rule"][k])]
    return a + [cfg["path"]]


def reference(root, cfg, tmp):
    out = os.path.join(tmp, "ref-%d.out" % time.monotonic_ns())
    rc = cli(root, cli_args(cfg), out)
    data = open(out, "rb").read() if rc == 0 else None
    if rc == 0:
        os.unlink(out)
    return data


def test_common(d):
    st, doc, _ = d.request("GET", "/api/common/1.0/ping")
    check("ping", st == 200 and doc == {}, doc)
    st, doc, _ = d.request("GET", "/api/common/1.0/info")
    check("info", st == 200 and {"device_name", "model", "sw_version"} <= set(doc), doc)
    st, doc, _ = d.request("GET", "/api/common/1.0/services")
    check("services lists npm.packet_export 1.3",
          st == 200 and {"id": "npm.packet_export", "versions": ["1.3"]} in doc, doc)
    st, doc, _ = d.request("GET", API)
    check("service definition", st == 200 and doc.get("name") == "npm.packet_export"
          and doc.get("version") == "1.3" and "export" in doc.get("resources", {}), str(doc)[:100])
    # Every service listed has its definition, in the service_def schema.
    st, services, _ = d.request("GET", "/api/common/1.0/services")
    for svc in services:
        for v in svc["versions"]:
            st, doc, _ = d.request("GET", "/api/%s/%s" % (svc["id"], v))
            check("definition of %s %s served" % (svc["id"], v), st == 200
                  and doc.get("$schema") == "http://support.riverbed.com/apis/service_def/2.2"
                  and doc.get("name") == svc["id"] and doc.get("version") == v
                  and doc.get("resources"), (st, str(doc)[:200]))
    st, doc, _ = d.request("POST", "/api/common/1.0/ping", "{}")
    check("405 on POST ping", st == 405 and is_error(doc, "HTTP_INVALID_METHOD"), doc)
    # HEAD answers with GET's headers and no body, so the next response on
    # the same connection is read right.
    s = socket.create_connection((d.host, d.port), timeout=30)
    s.sendall(b"HEAD /api/common/1.0/info HTTP/1.1\r\nHost: x\r\n\r\n"
              b"HEAD " + API.encode() + b"/exports/items/nosuch HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /api/common/1.0/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        raw += b
    s.close()
    parts = raw.split(b"HTTP/1.1 ")
    check("HEAD: three responses, no bodies before the last",
          len(parts) == 4 and parts[1].startswith(b"200") and parts[1].endswith(b"\r\n\r\n")
          and parts[2].startswith(b"404") and parts[2].endswith(b"\r\n\r\n")
          and parts[3].startswith(b"200") and parts[3].endswith(b"\r\n\r\n{}"), raw[:600])
    check("HEAD: Content-Length of the GET body",
          b"Content-Length: " in parts[1] and int(parts[1].split(b"Content-Length: ")[1].split(b"\r")[0]) > 20,
          raw[:300])


def test_buffer_stream(d, root, tmp):
    cfg = {"path": "fs/sample.pcap", "filters": {"items": [{"id": "f1", "type": "BPF", "value": "tcp"}]},
           "start_time": "1700000000.5", "end_time": "1700000002.25"}
    st, doc, r = d.post(cfg, tag="kept")
    ok = check("POST 201", st == 201, doc)
    if not ok:
        return
    eid = doc["id"]
    check("id is 32 hex", len(eid) == 32 and all(c in "0123456789abcdef" for c in eid), eid)
    check("Location header", r.getheader("Location") == API + "/exports/items/" + eid)
    check("unknown top-level property kept", doc.get("tag") == "kept", doc)
    check("READY after create", doc["status"]["state"] == "READY", doc["status"])
    check("defaults stated", doc["config"]["mode"] == "BUFFER_STREAM"
          and doc["config"]["output_format"] == "PCAP_US"
          and doc["config"]["connection_timeout_msec"] == 180000, doc["config"])
    check("owner admin", doc["status"]["owner"] == "admin")
    check("total_bytes known up front",
          doc["status"]["stats"]["total_bytes"] == os.path.getsize(os.path.join(root, "fs/sample.pcap")))
    st, lst, _ = d.request("GET", API + "/exports")
    check("listed", st == 200 and eid in [x["id"] for x in lst["items"]])
    st, lst2, _ = d.request("GET", API + "/exports/")
    check("a trailing slash names the same collection", st == 200 and lst2 == lst)
    st, lst, _ = d.request("GET", API + "/exports?path=fs/sample.pcap")
    check("path filter keeps it", eid in [x["id"] for x in lst["items"]])
    st, lst, _ = d.request("GET", API + "/exports?path=fs/other.pcap")
    check("path filter drops it", eid not in [x["id"] for x in lst["items"]])
    r, data = d.download(eid)
    check("download 200", r.status == 200, r.status)
    check("octet-stream", r.getheader("Content-Type") == "application/octet-stream")
    check("Content-Disposition filename", ('filename="%s.pcap"' % eid) in (r.getheader("Content-Disposition") or ""))
    ref = reference(root, cfg, tmp)
    check("download equals pktexport export byte for byte", ref is not None and data == ref,
          "%d vs %s" % (len(data), ref and len(ref)))
    st, doc, _ = d.get(eid)
    check("DONE after download", doc["status"]["state"] == "DONE", doc["status"])
    check("progress 100", doc["status"]["progress"] == 100)
    check("exported_packets counted", doc["status"]["stats"]["exported_packets"] == count_records(data))
    r, data = d.download(eid)
    check("second download 409", r.status == 409 and is_error(json.loads(data), "EXPORT_STATE_CONFLICT"), data)
    st, _, _ = d.request("DELETE", API + "/exports/items/" + eid)
    check("DELETE 204", st == 204)
    st, doc, _ = d.get(eid)
    check("gone after DELETE", st == 404 and is_error(doc, "RESOURCE_NOT_FOUND"), doc)


def count_records(data):
    n, o = 0, 24
    while o + 16 <= len(data):
        caplen = struct.unpack("<I", data[o + 8:o + 12])[0]
        o += 16 + caplen
        n += 1
    return n


def test_formats(d, root, tmp):
    for fmt in ("PCAP_NS", "PCAP_US"):
        cfg = {"path": "fs/sample.pcap", "output_format": fmt, "snap_length": 100,
               "stop_rule": {"packet_limit": 50}}
        st, doc, _ = d.post(cfg)
        if not check("POST %s" % fmt, st == 201, doc):
            continue
        r, data = d.download(doc["id"])
        check("%s download equals CLI" % fmt, data == reference(root, cfg, tmp))
        st, doc, _ = d.get(doc["id"])
        check("%s packet_limit truncates" % fmt, doc["status"]["stats"]["truncated"] is True
              and doc["status"]["stats"]["exported_packets"] == 50, doc["status"]["stats"])


def test_legacy(d, root, tmp):
    st, doc, _ = d.post({"path": "fs/sample.pcap", "mode": "LEGACY"})
    if not check("POST LEGACY", st == 201, doc):
        return
    eid = doc["id"]
    r, data = d.download(eid)
    check("LEGACY download", r.status == 200 and len(data) > 24)
    st, doc, _ = d.get(eid)
    check("LEGACY removed after download", st == 404, doc)


def test_nodata(d, root, tmp):
    st, doc, _ = d.post({"path": "fs/sample.pcap", "filters": {"items": [
        {"id": "x", "type": "BPF", "value": "host 192.0.2.99"}]}})
    eid = doc["id"]
    r, data = d.download(eid)
    check("NODATA download is a valid empty capture", r.status == 200 and len(data) == 24
          and data[:4] == b"\xd4\xc3\xb2\xa1", data[:8])
    st, doc, _ = d.get(eid)
    check("NODATA state", doc["status"]["state"] == "NODATA", doc["status"])


def test_prepare(d, root, tmp):
    cfg = {"path": "fs/sample.pcap", "mode": "PREPARE",
           "filters": {"items": [{"id": "u", "type": "BPF", "value": "udp"}]}}
    st, doc, _ = d.post(cfg)
    if not check("POST PREPARE", st == 201 and doc["status"]["state"] in ("RUNNING", "READY"), doc):
        return
    eid = doc["id"]
    check("PREPARE reaches READY", wait_until(lambda: d.get(eid)[1]["status"]["state"] == "READY"))
    st, doc, _ = d.get(eid)
    ref = reference(root, cfg, tmp)
    check("PREPARE exact stats", doc["status"]["stats"]["exported_packets"] == count_records(ref)
          and doc["status"]["progress"] == 100, doc["status"])
    # HEAD, ranges and a resumed download of the spool.
    r, data = d.request("HEAD", API + "/packets/items/" + eid, raw=True)
    etag = r.getheader("ETag") or ""
    check("HEAD of a spool: its length and tag, no body", r.status == 200 and data == b""
          and r.getheader("Content-Length") == str(len(ref)) and etag.startswith('"' + eid)
          and r.getheader("Accept-Ranges") == "bytes", r.getheaders())
    st, doc, _ = d.get(eid)
    check("HEAD leaves it READY", doc["status"]["state"] == "READY", doc["status"])
    r, data = d.request("GET", API + "/packets/items/" + eid, headers={"Range": "bytes=0-99"},
                        raw=True)
    check("a range of a spool: 206", r.status == 206 and data == ref[:100]
          and r.getheader("Content-Range") == "bytes 0-99/%d" % len(ref), (r.status, len(data)))
    # As below: the answer is whole for the client a moment before the
    # worker has told the loop it is over.
    wait_until(lambda: d.get(eid)[1]["status"]["state"] != "STREAMING", 5)
    st, doc, _ = d.get(eid)
    check("a range short of the end leaves it READY", doc["status"]["state"] == "READY",
          doc["status"])
    r, data = d.request("GET", API + "/packets/items/" + eid, headers={"Range": "bytes=%d-" % len(ref)},
                        raw=True)
    check("a range past the end: 416", r.status == 416
          and r.getheader("Content-Range") == "bytes */%d" % len(ref), r.status)
    r, data = d.request("GET", API + "/packets/items/" + eid,
                        headers={"Range": "bytes=100-", "If-Range": etag}, raw=True)
    check("the rest with If-Range: 206, and the two parts are the spool", r.status == 206
          and ref[:100] + data == ref, (r.status, len(data)))
    # A known-length answer is whole for the client a moment before the
    # service's worker has told the loop it is over: DONE follows.
    wait_until(lambda: d.get(eid)[1]["status"]["state"] == "DONE", 5)
    st, doc, _ = d.get(eid)
    check("PREPARE DONE once its end was sent", doc["status"]["state"] == "DONE", doc["status"])
    r, data = d.download(eid)
    check("then a download is 409", r.status == 409, r.status)
    # Its last bytes may have been sent and never arrived: for a while
    # a range of the spool is still sent, and changes nothing.
    r, data = d.request("GET", API + "/packets/items/" + eid,
                        headers={"Range": "bytes=200-", "If-Range": etag}, raw=True)
    check("DONE: a resumed range of the kept spool is 206", r.status == 206
          and data == ref[200:] and r.getheader("Content-Range")
          == "bytes 200-%d/%d" % (len(ref) - 1, len(ref)), (r.status, len(data)))
    wait_until(lambda: d.get(eid)[1]["status"]["state"] != "STREAMING", 5)
    st, doc, _ = d.get(eid)
    check("and it stays DONE", doc["status"]["state"] == "DONE", doc["status"])
    r, data = d.request("GET", API + "/packets/items/" + eid,
                        headers={"Range": "bytes=0-", "If-Range": '"other"'}, raw=True)
    check("DONE: a range whose If-Range is another tag (the whole again) is 409",
          r.status == 409, r.status)
    r, data = d.request("GET", API + "/packets/items/" + eid,
                        headers={"Range": "bytes=%d-" % len(ref)}, raw=True)
    check("DONE: a range past the end is 416", r.status == 416, r.status)
    spool = os.path.join(root, ".pktexport", "spool", eid)
    check("DONE: the spool is kept a while", os.path.exists(spool), spool)
    st, _, _ = d.request("DELETE", API + "/exports/items/" + eid)
    check("DELETE of a DONE export with a kept spool: its spool goes", st == 204
          and not os.path.exists(spool), (st, spool))
    # A READY export switched to PREPARE with PUT.
    cfg2 = {"path": "fs/sample.pcap", "filters": {"items": [{"id": "t", "type": "BPF", "value": "tcp port 80"}]}}
    st, doc, _ = d.post(cfg2)
    eid = doc["id"]
    new = dict(doc["config"])
    new["mode"] = "PREPARE"
    st, doc, _ = d.request("PUT", API + "/exports/items/" + eid, {"config": new})
    check("PUT to PREPARE", st == 200 and doc["config"]["mode"] == "PREPARE", doc)
    check("PUT export reaches READY", wait_until(lambda: d.get(eid)[1]["status"]["state"] == "READY"))
    r, data = d.download(eid)
    check("PUT PREPARE download equals CLI", data == reference(root, cfg2, tmp))
    # Only the mode may change.
    st, doc, _ = d.post(cfg2)
    eid = doc["id"]
    changed = dict(doc["config"])
    changed["snap_length"] = 64
    st, doc, _ = d.request("PUT", API + "/exports/items/" + eid, {"config": changed})
    check("PUT other config refused", st == 400 and is_error(doc, "REQUEST_INVALID_INPUT"), doc)
    st, doc, _ = d.request("PUT", API + "/exports/items/" + eid, {"config": {"path": "fs/sample.pcap", "bogus": 1}})
    check("PUT unknown key refused", st == 400 and is_error(doc, "REQUEST_INVALID_INPUT"), doc)
    other = dict(doc_config := d.get(eid)[1]["config"], mode="LEGACY")
    st, doc, _ = d.request("PUT", API + "/exports/items/" + eid, {"config": other})
    check("PUT to a mode other than PREPARE is 400", st == 400 and is_error(doc, "REQUEST_INVALID_INPUT"), doc)
    st, doc, _ = d.request("PUT", API + "/exports/items/" + eid, {"id": "0" * 32, "config": doc_config})
    check("PUT with another id is 400", st == 400 and is_error(doc, "REQUEST_INVALID_INPUT"), doc)
    st, doc, _ = d.request("PUT", API + "/exports/items/" + eid, {"id": eid, "config": doc_config, "tag": 1})
    check("PUT with its own id is 200", st == 200 and doc.get("tag") == 1, doc)
    deep = {}
    for _ in range(40):
        deep = {"n": deep}
    st, doc, _ = d.post(cfg2, deep=deep)
    check("a property nested 40 deep is 400", st == 400 and is_error(doc, "REQUEST_INVALID_INPUT"), doc)
    shallow = {}
    for _ in range(20):
        shallow = {"n": [shallow]}
    st, doc, _ = d.post(cfg2, shallow=shallow)
    check("a property nested 40 deep in objects and arrays is 400", st == 400, doc)
    st, doc, _ = d.post(cfg2, fine={"a": [{"b": 1}]})
    check("a shallow extra property is kept", st == 201 and doc.get("fine") == {"a": [{"b": 1}]}, doc)


def count_bytes(capture):
    """Captured bytes of a pcap's records."""
    off, total = 24, 0
    while off + 16 <= len(capture):
        incl = struct.unpack_from("<I", capture, off + 8)[0]
        total += incl
        off += 16 + incl
    return total


def test_stream_to_file(d, root, tmp):
    cfg = {"path": "fs/sample.pcap", "mode": "STREAM_TO_FILE", "output_filename": "out/result.pcap",
           "filters": {"items": [{"id": "d", "type": "BPF", "value": "udp port 53"}]}}
    os.makedirs(os.path.join(root, "fs/out"), exist_ok=True)
    st, doc, _ = d.post(cfg)
    if not check("POST STREAM_TO_FILE", st == 201, doc):
        return
    eid = doc["id"]
    check("STREAM_TO_FILE DONE", wait_until(lambda: d.get(eid)[1]["status"]["state"] == "DONE"))
    path = os.path.join(root, "fs/out/result.pcap")
    check("output under its final name equals CLI",
          os.path.exists(path) and open(path, "rb").read() == reference(root, cfg, tmp))
    check("no temporary file left", [f for f in os.listdir(os.path.join(root, "fs/out")) if f.startswith(".")] == [])
    r, data = d.download(eid)
    check("download of STREAM_TO_FILE is 409, saying why",
          r.status == 409 and b"not to a download" in data, data[:200])
    before = open(path, "rb").read()
    st, doc, _ = d.post(cfg)
    check("never overwrites an existing file", st == 409 and is_error(doc, "RESOURCE_EXISTS")
          and open(path, "rb").read() == before, doc)
    for bad in ("../escape.pcap", "/tmp/abs.pcap", "out/../../x.pcap", "", "x" * 256 + ".pcap",
                "out/.pktexport-0123.part"):
        c = dict(cfg, output_filename=bad)
        st, doc, _ = d.post(c)
        check("output_filename %r refused" % bad, st == 400 and is_error(doc, "REQUEST_INVALID_INPUT"), doc)
    os.symlink(tmp, os.path.join(root, "fs/outside"))
    st, doc, _ = d.post(dict(cfg, output_filename="outside/x.pcap"))
    check("symlinked folder out of fs/ refused", st == 400 and not os.path.exists(os.path.join(tmp, "x.pcap")), doc)
    st, doc, _ = d.post(dict(cfg, output_filename="missing-dir/x.pcap"))
    check("missing output folder is 404", st == 404, doc)
    st, doc, _ = d.post({"path": "fs/sample.pcap", "mode": "STREAM_TO_FILE"})
    check("STREAM_TO_FILE needs output_filename", st == 400, doc)
    # Five clients ask for the same new file at once: one writes it, the
    # others are told at once, none is accepted to fail later.
    same = dict(cfg, path="fs/big.pcap", output_filename="out/race.pcap")
    answers = [None] * 5

    def race(i):
        answers[i] = d.post(same)[:2]
    threads = [threading.Thread(target=race, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [doc["id"] for st, doc in answers if st == 201]
    check("one STREAM_TO_FILE of a name at a time: one 201",
          len(won) == 1 and sum(1 for st, doc in answers
                                if st == 409 and is_error(doc, "RESOURCE_EXISTS")) == 4, answers)
    if won:
        check("the one accepted is DONE",
              wait_until(lambda: d.get(won[0])[1]["status"]["state"] == "DONE", 60))


def test_time_past_2106(d, root, tmp):
    """A packet stamped past 2106 fits no pcap record: PCAP_* exports end in
    ERRORS naming it (no file kept), PCAPNG_* keep its time."""
    name = "time_2106_overflow.pcapng"
    shutil.copy(os.path.join(os.environ["CORPUS"], name), os.path.join(root, "fs", name))
    os.makedirs(os.path.join(root, "fs/out2106"), exist_ok=True)
    for mode in ("PREPARE", "STREAM_TO_FILE", "BUFFER_STREAM"):
        cfg = {"path": "fs/" + name, "mode": mode, "output_format": "PCAP_NS"}
        if mode == "STREAM_TO_FILE":
            cfg["output_filename"] = "out2106/x.pcap"
        st, doc, _ = d.post(cfg)
        if not check("2106 %s POST" % mode, st == 201, doc):
            continue
        eid = doc["id"]
        if mode == "BUFFER_STREAM":
            r, data = d.download(eid)
            check("2106 BUFFER_STREAM download is the JSON error", r.status >= 400
                  and b"PCAPNG" in data, (r.status, data[:300]))
        check("2106 %s ends in ERRORS" % mode,
              wait_until(lambda: d.get(eid)[1]["status"]["state"] == "ERRORS"), d.get(eid)[1])
        err = d.get(eid)[1]["status"].get("error") or {}
        check("2106 %s error names the packet and PCAPNG" % mode, "past 2106" in json.dumps(err)
              and "PCAPNG_US" in json.dumps(err), err)
    check("2106: no file kept", os.listdir(os.path.join(root, "fs/out2106")) == [])
    cfg = {"path": "fs/" + name, "output_format": "PCAPNG_NS"}
    st, doc, _ = d.post(cfg)
    r, data = d.download(doc["id"])
    # The one packet's timestamp (if_tsresol 9): 2^32 s.
    check("2106 PCAPNG_NS keeps the time", r.status == 200 and data == reference(root, cfg, tmp)
          and struct.pack("<II", (2**32 * 10**9) >> 32, (2**32 * 10**9) & 0xFFFFFFFF) in data)


def raw_exchange(d, raw):
    """Sends raw bytes (the server may stop reading early) and returns all
    it answers."""
    s = socket.create_connection((d.host, d.port), timeout=10)
    try:
        s.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    resp = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return resp


def test_errors(d):
    bad_configs = [
        ({"path": 5}, "wrong type"),
        ({}, "missing path"),
        ({"path": "fs/sample.pcap", "bogus": 1}, "unknown key in config"),
        ({"path": "fs/sample.pcap", "mode": "FAST"}, "bad mode"),
        ({"path": "fs/sample.pcap", "output_format": "PCAPX"}, "bad format"),
        ({"path": "fs/sample.pcap", "snap_length": 70000}, "snap_length over 65535"),
        ({"path": "fs/sample.pcap", "snap_length": "64"}, "snap_length string"),
        ({"path": "fs/sample.pcap", "start_time": "yesterday"}, "bad time"),
        ({"path": "fs/sample.pcap", "end_time": "1.1234567890"}, "10 fraction digits"),
        ({"path": "fs/sample.pcap", "stop_rule": {"packet_limit": -1}}, "negative limit"),
        ({"path": "fs/sample.pcap", "stop_rule": {"time_limit": 2 ** 32}}, "time_limit over uint32"),
        ({"path": "fs/sample.pcap", "stop_rule": {"bogus": 1}}, "unknown stop_rule key"),
        ({"path": "fs/sample.pcap", "filters": {"items": [{"id": "a", "type": "BPF"}]}}, "filter without value"),
        ({"path": "fs/sample.pcap", "filters": {"items": [{"id": "a", "type": "XPATH", "value": "x"}]}}, "bad filter type"),
        ({"path": "fs/sample.pcap", "filters": {"items": [{"id": "a", "type": "BPF", "value": "tcp port"}]}}, "BPF syntax"),
        ({"path": "fs/sample.pcap", "filters": {"items": [], "more": 1}}, "unknown filters key"),
        ({"path": "fs/sample.pcap", "time_intervals": [{"start_time": "1"}]}, "interval without end"),
        ({"path": "fs/sample.pcap", "time_intervals": [{"start_time": "1", "end_time": "2", "x": 1}]}, "unknown interval key"),
        ({"path": "fs/../../etc/passwd"}, "dot-dot path"),
        ({"path": "/etc/passwd"}, "absolute path"),
        ({"path": "fs/" + "a" * 5000}, "5000-character path"),
        ({"path": "nowhere/x.pcap"}, "unknown source prefix"),
        ({"path": "fs/sample.pcap", "mode": "LIVE_STREAM"}, "LIVE_STREAM without live source"),
        ({"path": "fs/notes.txt"}, "not a capture"),
    ]
    # Bounded filters (doc/api.md "Limits"): each refusal names the field.
    port_list = " or ".join("port %d" % i for i in range(1, 200))[:1025]
    bounds = [
        ({"path": "fs/sample.pcap", "filters": {"items": [{"id": "a", "type": "BPF", "value": port_list}]}},
         "a BPF value of 1025 bytes", "items[0].value"),
        ({"path": "fs/sample.pcap", "filters": {"items": [{"id": "i%d" % i, "type": "BPF", "value": "tcp"}
                                                          for i in range(17)]}}, "17 filter items", "17 items"),
        ({"path": "fs/sample.pcap", "filters": {"items": [{"id": "i%d" % i, "type": "BPF", "value": port_list[:1000]}
                                                          for i in range(3)]}}, "3000 bytes of BPF", "BPF values"),
        ({"path": "fs/sample.pcap", "filters": {"items": [{"id": "w", "type": "WIRESHARK", "value": "tcp or " * 3000}]}},
         "a WIRESHARK value of 18000 bytes", "items[0].value"),
    ]
    for cfg, what, says in bounds:
        bad_configs.append((cfg, what))
    for cfg, what in bad_configs:
        st, doc, _ = d.post(cfg)
        check("400 for %s" % what, st == 400 and is_error(doc, "REQUEST_INVALID_INPUT"), "%s %s" % (st, doc))
    for cfg, what, says in bounds:
        st, doc, _ = d.post(cfg)
        check("%s: the refusal names %s" % (what, says), says in (doc or {}).get("error_text", ""), doc)
    st, doc, _ = d.post({"path": "fs/sample.pcap", "filters": {"items": [
        {"id": "i%d" % i, "type": "BPF", "value": port_list[:120]} for i in range(16)]}})
    check("16 items of 120 bytes of BPF are accepted", st == 201, "%s %s" % (st, doc))
    if st == 201:
        d.request("DELETE", API + "/exports/items/" + doc["id"])
    # Properties kept beside config are bounded (they go out with every list).
    st, doc, _ = d.request("POST", API + "/exports", json.dumps(
        {"config": {"path": "fs/sample.pcap"}, "note": "x" * 20000}), {"Content-Type": "application/json"})
    check("400 for 20 kB of extra properties", st == 400 and is_error(doc, "REQUEST_INVALID_INPUT")
          and "16384 bytes" in doc.get("error_text", ""), "%s %s" % (st, doc))
    st, doc, _ = d.post({"path": "fs/missing.pcap"})
    check("404 for a missing source", st == 404 and is_error(doc, "RESOURCE_NOT_FOUND"), doc)
    for body, what in [("{", "truncated JSON"), (b"\x00\xff\xfe binary", "binary body"), ("[1,2]", "array body"),
                       ('{"config": {"path": "fs/sample.pcap"}, "status": {"bogus": 1}}', "unknown status key"),
                       ('{"config": 1}', "config not an object"), ("", "empty body"),
                       ('{"config": {"path": "a", "path": "b"}}', "duplicate key")]:
        st, doc, _ = d.request("POST", API + "/exports", body, {"Content-Type": "application/json"})
        check("400 for %s" % what, st == 400 and is_error(doc, "REQUEST_INVALID_INPUT"), "%s %s" % (st, doc))
    resp = raw_exchange(d, b"POST " + API.encode() + b"/exports HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                        % (2 << 20) + b"x" * (2 << 20))
    head, _, body = resp.partition(b"\r\n\r\n")
    check("413 for a body over the limit", head.startswith(b"HTTP/1.1 413")
          and is_error(json.loads(body or b"null"), "REQUEST_TOO_LARGE"), resp[:300])
    for path in ["/exports/items/../../../etc/passwd", "/exports/items/%2e%2e%2fx", "/exports/items/ab%00cd",
                 "/exports/items/" + "f" * 5000, "/packets/items/%00", "/nothing", "/exports/items/"]:
        st, doc, _ = d.request("GET", API + path)
        check("404 for %s" % path[:40], st == 404 and is_error(doc, "RESOURCE_NOT_FOUND"), "%s %s" % (st, doc))
    st, doc, _ = d.request("PATCH", API + "/exports", "{}")
    check("405 PATCH", st == 405 and is_error(doc, "HTTP_INVALID_METHOD"), doc)
    st, doc, _ = d.request("DELETE", API + "/exports")
    check("405 DELETE collection", st == 405 and is_error(doc, "HTTP_INVALID_METHOD"), doc)
    st, doc, _ = d.request("POST", API + "/packets/items/" + "0" * 32, "{}")
    check("405 POST packets", st == 405 and is_error(doc, "HTTP_INVALID_METHOD"), doc)
    # Raw protocol abuse: a huge Content-Length, garbage request lines.
    for raw in [b"POST " + API.encode() + b"/exports HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{}",
                b"GARBAGE\r\n\r\n", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"]:
        resp = raw_exchange(d, raw)
        head, _, body = resp.partition(b"\r\n\r\n")
        ok = not resp or (head[:9] == b"HTTP/1.1 " and head[9:10] == b"4" and is_error(json.loads(body or b"null"),
                                                                  json.loads(body)["error_id"] if body else ""))
        check("raw request %r answered with a JSON error" % raw[:30], ok, resp[:200])
    # Shapes a request smuggler uses, versions and methods not served: each
    # is its status with the API's JSON error, on a connection then closed.
    for raw, status, eid in [
            (b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", 400,
             "REQUEST_INVALID_INPUT"),
            (b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
             400, "REQUEST_INVALID_INPUT"),
            (b"GET / HTTP/1.99999999999\r\n\r\n", 400, "REQUEST_INVALID_INPUT"),
            (b"GET / HTTP/2.0\r\n\r\n", 505, "REQUEST_INVALID_INPUT"),
            (b"CONNECT a:443 HTTP/1.1\r\n\r\n", 405, "HTTP_INVALID_METHOD"),
            (b"GET /api/common/1.0/ping HTTP/1.1\r\nExpect: x\r\n\r\n", 417, "REQUEST_INVALID_INPUT")]:
        resp = raw_exchange(d, raw)
        head, _, body = resp.partition(b"\r\n\r\n")
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        check("raw %r: %d %s, closed" % (raw[:40], status, eid),
              head.startswith(b"HTTP/1.1 %d " % status) and is_error(doc, eid)
              and b"Connection: close" in head, resp[:300])
    # Two requests in one write: both answered, in order.
    resp = raw_exchange(d, b"GET /api/common/1.0/ping HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /api/common/1.0/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check("pipelined requests answered in order", resp.count(b"HTTP/1.1 200 OK") == 2
          and resp.index(b"{}") < resp.index(b"sw_version"), resp[:400])
    st, _, _ = d.request("GET", "/api/common/1.0/ping")
    check("alive after abuse", st == 200)


def test_connection_cap(tmp):
    """Descriptors limited to 128: the service serves 64 connections at
    once.  Past that the connection idle longest is closed for a new one;
    when none is idle the new one gets a 503 and is closed, and the
    service answers again as soon as a connection goes."""
    root = os.path.join(tmp, "caproot")
    os.makedirs(os.path.join(root, "fs"), exist_ok=True)
    d = Daemon(root, nofile=128)
    held = []
    try:
        for _ in range(80):
            held.append(socket.create_connection((d.host, d.port), timeout=10))
        st, _, _ = d.request("GET", "/api/common/1.0/ping")
        check("80 idle connections at a cap of 64: a request is served", st == 200, st)
        closed = 0
        for s in held[:20]:
            s.settimeout(5)
            try:
                closed += s.recv(1) == b""
            except OSError:
                closed += 1
        check("the oldest idle connections were closed for the new ones", closed >= 16, closed)
        for s in held:
            s.close()
        held = []
        # Connections that are busy (a head read, its body awaited: the
        # 100 Continue says the daemon has it) are never closed.
        for _ in range(64):
            s = socket.create_connection((d.host, d.port), timeout=10)
            s.sendall(b"POST /api/common/1.0/ping HTTP/1.1\r\nHost: x\r\n"
                      b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            held.append(s)
        continued = sum(s.recv(4096).startswith(b"HTTP/1.1 100 ") for s in held)
        check("64 busy connections (100 Continue)", continued == 64, continued)
        s = socket.create_connection((d.host, d.port), timeout=10)
        answer = s.recv(4096)
        s.close()
        check("all busy: a new connection gets 503 SERVICE_BUSY", answer.startswith(b"HTTP/1.1 503 ")
              and b"SERVICE_BUSY" in answer, answer[:200])
        held[0].sendall(b"{}")
        reply = held[0].recv(4096)
        check("a busy connection is still served (POST ping: 405)",
              reply.startswith(b"HTTP/1.1 405 ") and b"HTTP_INVALID_METHOD" in reply, reply[:300])
        held[0].close()
        for s in held[1:]:
            s.close()
        held = []
        # Heads trickling in for over a second serve no one: at the cap
        # the oldest of them goes for a new connection.
        for _ in range(64):
            s = socket.create_connection((d.host, d.port), timeout=10)
            s.sendall(b"GET /api/common/1.0/ping HTTP/1.1\r\nX-Slow: a")
            held.append(s)
        time.sleep(1.5)  # their heads are over a second old
        st, _, _ = d.request("GET", "/api/common/1.0/ping")
        check("64 trickling heads at a cap of 64: a new request is served", st == 200, st)
        for s in held:
            s.close()
        held = []
        check("and the service answers others once they go",
              wait_until(lambda: d.request("GET", "/api/common/1.0/ping")[0] == 200, 10))
    finally:
        for s in held:
            s.close()
        rc = d.stop()
        check("cap daemon exits 0", rc == 0, d.stderr[-1000:])


def test_max_exports(tmp):
    """--max-exports 3: a new export makes room by removing the oldest
    finished one; when none has finished it is refused."""
    root = os.path.join(tmp, "max-root")
    os.makedirs(os.path.join(root, "fs"))
    shutil.copy(os.path.join(tmp, "root", "fs", "sample.pcap"), os.path.join(root, "fs"))
    d = Daemon(root, ["--max-exports", "3"])
    try:
        ids = []
        for _ in range(2):
            eid = d.post({"path": "fs/sample.pcap"})[1]["id"]
            d.download(eid)
            ids.append(eid)
        ids.append(d.post({"path": "fs/sample.pcap"})[1]["id"])
        st, doc, _ = d.post({"path": "fs/sample.pcap"})
        check("a 4th export is made", st == 201, doc)
        ids.append(doc["id"])
        listed = [e["id"] for e in d.request("GET", API + "/exports")[1]["items"]]
        check("the oldest finished export made room", listed == ids[1:], (listed, ids))
        ids.append(d.post({"path": "fs/sample.pcap"})[1]["id"])
        listed = [e["id"] for e in d.request("GET", API + "/exports")[1]["items"]]
        check("then the next finished one", listed == ids[2:], (listed, ids))
        st, doc, _ = d.post({"path": "fs/sample.pcap"})
        check("none finished: 503", st == 503 and is_error(doc, "SERVICE_BUSY"), (st, doc))
        d.request("DELETE", API + "/exports/items/" + ids[2])
        st, doc, _ = d.post({"path": "fs/sample.pcap"})
        check("room again after a DELETE", st == 201, (st, doc))
    finally:
        check("--max-exports daemon exits 0", d.stop() == 0, d.stderr[-2000:])
    p = subprocess.run([os.environ["PKTEXPORTD"], "--root", root, "--max-exports", "0"],
                       capture_output=True, text=True, timeout=60)
    check("--max-exports 0 refused", p.returncode == 2 and "--max-exports" in p.stderr, p.stderr)
    # Command line mistakes name what was wrong before the usage.
    for args, says in (([], "--root DIR is required"),
                       (["--root", root, "--listen", "bogus"], '--listen "bogus" is not ADDR:PORT'),
                       (["--root", root, "--listen", "127.0.0.1:99999"], "is not ADDR:PORT"),
                       (["--root", root, "extra"], 'unexpected argument "extra"'),
                       (["--root", root, "--stop-grace", "0"], "--stop-grace takes seconds")):
        p = subprocess.run([os.environ["PKTEXPORTD"]] + args, capture_output=True, text=True, timeout=60)
        check("pktexportd %s: exit 2, says %r" % (" ".join(args), says),
              p.returncode == 2 and p.stderr.startswith("pktexportd: ") and says in p.stderr, p.stderr)
    p = subprocess.run([os.environ["PKTEXPORTD"], "--version"], capture_output=True, text=True, timeout=60)
    check("pktexportd --version", p.returncode == 0 and p.stdout.startswith("pktexportd "), p.stdout)


def test_vendor_plugins(tmp):
    """A vendor's folder after the installed one (--plugin-dir A:B): its
    filter type, unknown to the API's enum, is served over HTTP."""
    dirs = os.environ["PKTEXPORT_PLUGIN_DIR"] + ":" + os.environ["TEST_MODULE_DIR"]
    d = Daemon(os.path.join(tmp, "root"), ["--plugin-dir", dirs])
    drops_id = ""
    try:
        st, doc, _ = d.post({"path": "fs/sample.pcap", "filters": {"items": [
            {"id": "v", "type": "SEQ", "value": "3/0"}]}})
        check("vendor filter type: 201", st == 201, (st, doc))
        if st == 201:
            r, data = d.download(doc["id"])
            n = 0
            off = 24
            while off + 16 <= len(data):
                off += 16 + struct.unpack_from("<I", data, off + 8)[0]
                n += 1
            check("vendor filter: every third of 3000 packets", r.status == 200 and n == 1000, n)
        st, doc, _ = d.post({"path": "fs/sample.pcap", "filters": {"items": [
            {"id": "v", "type": "NOSUCH", "value": "x"}]}})
        check("a type nothing serves: 400 naming it", st == 400 and is_error(doc, "REQUEST_INVALID_INPUT")
              and "NOSUCH is not available" in doc["error_text"] and "SEQ_BATCH" in doc["error_text"], (st, doc))
        # ABI 1.5: a source counts its drops through its export handle:
        # they are the export's dropped_packets, and its log line names
        # the export.
        st, doc, _ = d.post({"path": "test/drops/100"})
        drops_id = doc.get("id", "") if isinstance(doc, dict) else ""
        if check("test/drops: 201", st == 201, (st, doc)):
            d.download(drops_id)
            stats = d.get(drops_id)[1]["status"]["stats"]
            check("a source's counted drops are dropped_packets", stats["dropped_packets"] == 10
                  and stats["exported_packets"] == 100, stats)
    finally:
        check("vendor daemon exits 0", d.stop() == 0, d.stderr[-2000:])
    if drops_id:
        check("a plugin's log line names its export",
              "export %s: 100 packets read, 10 dropped" % drops_id in d.stderr, d.stderr[-1000:])


def test_service_manager(tmp):
    """Started by a service manager ($NOTIFY_SOCKET, systemd's Type=notify):
    READY=1 once it accepts requests, STOPPING=1 at SIGTERM."""
    path = os.path.join(tmp, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    os.environ["NOTIFY_SOCKET"] = path
    try:
        d = Daemon(os.path.join(tmp, "root"))
    finally:
        del os.environ["NOTIFY_SOCKET"]
    try:
        msg = sock.recv(256)
        check("READY=1 sent", msg == b"READY=1", msg)
        st, _, _ = d.request("GET", "/api/common/1.0/ping")
        check("and it answers", st in (200, 204), st)
    finally:
        rc = d.stop()
    try:
        msg = sock.recv(256)
    except socket.timeout:
        msg = b"(nothing)"
    check("STOPPING=1 sent at SIGTERM", msg == b"STOPPING=1", msg)
    check("notified daemon exits 0", rc == 0, d.stderr[-2000:])
    sock.close()


def test_timeouts(d):
    st, doc, _ = d.post({"path": "fs/sample.pcap", "connection_timeout_msec": 300})
    eid = doc["id"]
    check("connection timeout removes an idle READY export", wait_until(lambda: d.get(eid)[0] == 404, 10))
    st, doc, _ = d.post({"path": "fs/sample.pcap", "handle_timeout_msec": 300})
    eid = doc["id"]
    d.download(eid)
    check("handle timeout removes a downloaded export", wait_until(lambda: d.get(eid)[0] == 404, 10))
    # 0 is no timeout: both outlive an export whose 300 ms ran out.
    st, doc, _ = d.post({"path": "fs/sample.pcap", "connection_timeout_msec": 0})
    never_idle = doc["id"]
    st, doc, _ = d.post({"path": "fs/sample.pcap", "handle_timeout_msec": 0})
    never_done = doc["id"]
    d.download(never_done)
    st, doc, _ = d.post({"path": "fs/sample.pcap", "connection_timeout_msec": 300})
    clock = doc["id"]
    check("a 300 ms export runs out beside them", wait_until(lambda: d.get(clock)[0] == 404, 10))
    check("connection_timeout_msec 0: the READY export stays", d.get(never_idle)[0] == 200)
    check("handle_timeout_msec 0: the DONE export stays",
          d.get(never_done)[0] == 200 and d.get(never_done)[1]["status"]["state"] == "DONE")
    r, data = d.download(never_idle)
    check("an export kept by timeout 0 still downloads", r.status == 200 and count_records(data) > 0)
    for eid in (never_idle, never_done):
        d.request("DELETE", API + "/exports/items/" + eid)


def test_concurrent(d, root, tmp):
    exprs = ["tcp", "udp", "ip6", "vlan", "tcp port 80", "udp port 53", "icmp", "arp"]
    cfgs = [{"path": "fs/big.pcap", "filters": {"items": [{"id": "c", "type": "BPF", "value": e}]}} for e in exprs]
    ids = [d.post(c)[1]["id"] for c in cfgs]
    results = [None] * len(ids)

    def fetch(i):
        results[i] = d.download(ids[i])[1]
    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(len(ids))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, c in enumerate(cfgs):
        check("concurrent download %d (%s) equals CLI" % (i, exprs[i]), results[i] == reference(root, c, tmp))


def test_create_then_download_at_once(d):
    """A download right behind the 201, many times over, from several
    clients: the export is never answered while its validation still runs."""
    bad = []

    def worker(n):
        for _ in range(n):
            st, doc, _ = d.post({"path": "fs/sample.pcap", "stop_rule": {"packet_limit": 5}})
            if st != 201:
                bad.append(("post", st))
                continue
            r, data = d.download(doc["id"])
            if r.status != 200 or count_records(data) != 5:
                bad.append(("download", r.status, len(data)))
    threads = [threading.Thread(target=worker, args=(25,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check("100 create-then-download races all succeed", not bad, bad[:3])


def slow_download(d, eid):
    """Starts a download and reads only its first bytes, so the export stays
    STREAMING behind back-pressure."""
    s = socket.create_connection((d.host, d.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(("GET %s/packets/items/%s HTTP/1.1\r\nHost: x\r\n\r\n" % (API, eid)).encode())
    first = s.recv(4096)
    return s, first


def test_download_waits(d, root, tmp):
    """A download that finds another one of its export under way waits a
    while for it to end instead of being refused at once: a client asking
    again right after its own download was cut (or was whole for it a
    moment before the service's worker said so) is served."""
    cfg = {"path": "fs/big.pcap"}
    st, doc, _ = d.post(cfg)
    eid = doc["id"]
    s, first = slow_download(d, eid)
    check("waits: a slow download started", first.startswith(b"HTTP/1.1 200"), first[:40])
    t0 = time.monotonic()
    r, data = d.download(eid)
    took = time.monotonic() - t0
    check("a second download while one is under way: 409 once it has waited a while",
          r.status == 409 and b"another download" in data and 1.5 <= took < 10,
          (r.status, took, data[:200]))
    # One deleted while a download waits on it: the waiting one is told.
    st, doc, _ = d.post(cfg)
    other = doc["id"]
    s2, first = slow_download(d, other)
    got = {}
    waiting = threading.Thread(target=lambda: got.update(r=d.download(other)[0]))
    waiting.start()
    t1 = time.monotonic()
    d.request("DELETE", API + "/exports/items/" + other)
    waiting.join(10)
    r2 = got.get("r")
    check("a download waiting on (or coming after) an export deleted: 404 at once",
          r2 is not None and r2.status == 404 and time.monotonic() - t1 < 1.5,
          (r2 and r2.status, time.monotonic() - t1))
    s2.close()
    s.close()
    r, data = d.download(eid)  # at once: the cut one may not have ended yet
    check("asked again at once after a cut: 200, the whole output",
          r.status == 200 and data == reference(root, cfg, tmp), (r.status, len(data)))


def test_disconnect_and_delete(d, root):
    st, doc, _ = d.post({"path": "fs/big.pcap"})
    eid = doc["id"]
    s, first = slow_download(d, eid)
    check("slow download started", first.startswith(b"HTTP/1.1 200"), first[:40])
    st, doc, _ = d.get(eid)
    check("STREAMING while the client lags", doc["status"]["state"] == "STREAMING", doc["status"])
    check("progress below 100 mid-stream", 0 <= doc["status"]["progress"] < 100, doc["status"]["progress"])
    st, doc, _ = d.request("PUT", API + "/exports/items/" + eid, {"config": {"path": "fs/big.pcap", "mode": "PREPARE"}})
    check("PUT while streaming is 409", st == 409 and is_error(doc, "EXPORT_STATE_CONFLICT"), doc)
    s.close()
    # A download its client cut can be asked for again: from the start,
    # its stats counted again, the whole file.
    check("a client that disconnects leaves its export READY",
          wait_until(lambda: d.get(eid)[1]["status"]["state"] == "READY"))
    st, doc, _ = d.get(eid)
    check("no error, stats reset", "error" not in doc["status"]
          and doc["status"]["stats"]["exported_packets"] == 0, doc["status"])
    r, data = d.download(eid)
    whole = open(os.path.join(root, "fs/big.pcap"), "rb").read()
    check("asked again: the whole file", r.status == 200 and data[24:] == whole[24:],
          (r.status, len(data), len(whole)))
    st, doc, _ = d.get(eid)
    check("then DONE, counted once", doc["status"]["state"] == "DONE"
          and doc["status"]["stats"]["exported_bytes"] == count_bytes(whole), doc["status"])
    # DELETE of a running export stops it and cuts its download.
    st, doc, _ = d.post({"path": "fs/big.pcap"})
    eid = doc["id"]
    s, first = slow_download(d, eid)
    st, _, _ = d.request("DELETE", API + "/exports/items/" + eid)
    check("DELETE of a streaming export 204", st == 204)
    s.settimeout(20)
    got = 0
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    size = os.path.getsize(os.path.join(root, "fs/big.pcap"))
    check("deleted export's download is cut short", got < size, got)
    st, _, _ = d.request("GET", "/api/common/1.0/ping")
    check("alive after disconnects", st == 200)


def test_restart(d, root, tmp):
    st, ready, _ = d.post({"path": "fs/sample.pcap"}, keep="yes")
    st, done, _ = d.post({"path": "fs/sample.pcap", "filters": {"items": [{"id": "i", "type": "BPF", "value": "icmp"}]}})
    d.download(done["id"])
    st, running, _ = d.post({"path": "fs/big.pcap"})
    s, _ = slow_download(d, running["id"])
    rc = d.stop()
    s.close()
    check("SIGTERM exits 0", rc == 0, d.stderr[-500:])
    d.start()
    st, doc, _ = d.get(ready["id"])
    check("READY export survives a restart", st == 200 and doc["status"]["state"] == "READY"
          and doc.get("keep") == "yes", doc)
    st, doc, _ = d.get(done["id"])
    check("DONE export survives a restart", st == 200 and doc["status"]["state"] in ("DONE", "NODATA"), doc)
    st, doc, _ = d.get(running["id"])
    check("a running export comes back as ERRORS", st == 200 and doc["status"]["state"] == "ERRORS"
          and doc["status"].get("error", {}).get("error_text"), doc)
    r, data = d.download(ready["id"])
    check("restored READY export downloads", r.status == 200 and data == reference(root, {"path": "fs/sample.pcap"}, tmp))
    # STREAM_TO_FILE stopped midway never shows its final name.
    st, doc, _ = d.post({"path": "fs/big.pcap", "mode": "STREAM_TO_FILE", "output_filename": "cut.pcap",
                         "stop_rule": {"time_limit": 60}})
    rc = d.stop()
    final = os.path.join(root, "fs/cut.pcap")
    complete = os.path.exists(final) and os.path.getsize(final) == os.path.getsize(os.path.join(root, "fs/big.pcap"))
    check("no partial STREAM_TO_FILE under its final name", not os.path.exists(final) or complete)
    check("no temporary file left after stop", not [f for f in os.listdir(os.path.join(root, "fs")) if f.startswith(".pktexport")])
    d.start()


class SlowReader(threading.Thread):
    """Downloads an export through a 16 KiB window, 16 KiB every 20 ms
    ("slow"), not at all ("hold"), or as fast as it comes ("fast"), and
    keeps the raw reply."""

    def __init__(self, d, eid):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.sock.connect((d.host, d.port))
        self.sock.sendall(("GET %s/packets/items/%s HTTP/1.1\r\nHost: x\r\n\r\n"
                           % (API, eid)).encode())
        self.sock.settimeout(60)
        self.mode, self.raw, self.reset = "slow", bytearray(), False
        self.start()

    def run(self):
        try:
            while True:
                if self.mode == "hold":
                    time.sleep(0.01)
                    continue
                got = self.sock.recv(16384 if self.mode == "slow" else 1 << 20)
                if not got:
                    break
                self.raw += got
                if self.mode == "slow":
                    time.sleep(0.02)
        except (ConnectionResetError, socket.timeout):
            self.reset = True
        self.sock.close()

    def body(self):
        """The de-chunked body, and whether it ended with the last chunk."""
        head, _, rest = bytes(self.raw).partition(b"\r\n\r\n")
        out = bytearray()
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                return bytes(out), True
            out += rest[:n]
            rest = rest[n + 2:]
        return bytes(out), False


def test_state_disk_full(tmp):
    """The folder of the exports' state fills up (a 64 KiB tmpfs mounted on
    it): a new export is refused rather than made and lost, a download is
    refused rather than sent and forgotten (the export would come back
    READY after a restart and go out twice), and once there is room both
    work and a downloaded export stays downloaded across a restart
    (issue 18, finding 9).  Needs root to mount; skipped otherwise."""
    if os.geteuid() != 0:
        print("SKIP: state disk full (needs root to mount a tmpfs)")
        return
    root = os.path.join(tmp, "fullroot")
    state = os.path.join(root, ".pktexport", "exports")
    os.makedirs(os.path.join(root, "fs"))
    os.makedirs(state)
    shutil.copy(os.path.join(tmp, "root", "fs", "sample.pcap"), os.path.join(root, "fs"))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", state]).returncode != 0:
        print("SKIP: state disk full (cannot mount a tmpfs here)")
        return
    d = Daemon(root)
    filler = os.path.join(state, "filler")
    try:
        st, ready, _ = d.post({"path": "fs/sample.pcap", "connection_timeout_msec": 0})
        check("an export is made while there is room", st == 201, (st, ready))
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 512) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        st, doc, _ = d.post({"path": "fs/sample.pcap"})
        check("disk full: a new export is refused, 503 saying why", st == 503 and is_error(doc, "SERVICE_BUSY")
              and "No space left" in doc["error_text"], (st, doc))
        st, listed, _ = d.request("GET", API + "/exports")
        check("... and is not kept", st == 200 and len(listed) == 1, listed)
        r, data = d.download(ready["id"])
        check("disk full: the download is refused (503), nothing sent", r.status == 503 and b"SERVICE_BUSY" in data,
              (r.status, data[:200]))
        st, doc, _ = d.get(ready["id"])
        check("... and the export is still READY", st == 200 and doc["status"]["state"] == "READY", doc)
        os.unlink(filler)
        r, data = d.download(ready["id"])
        check("with room again it downloads", r.status == 200 and len(data) > 24, r.status)
        check("restart", d.stop() == 0, d.stderr[-500:])
        d.start()
        st, doc, _ = d.get(ready["id"])
        check("after a restart the downloaded export is not READY again (%s)" % doc.get("status", {}).get("state"),
              st == 200 and doc["status"]["state"] != "READY", doc)
        r, _ = d.download(ready["id"])
        check("... nor downloaded twice", r.status == 409, r.status)
    finally:
        if d.proc.poll() is None:
            d.stop()
        if os.path.exists(filler):
            os.unlink(filler)
        subprocess.run(["umount", state])


def test_stop_while_sending(tmp):
    """SIGTERM after an export is DONE but before its reply has left the
    service: the client still gets all of it within --stop-grace, and
    otherwise a reset, with the export saved as ERRORS.  A root of its
    own: the daemons here stop and start beside the main one."""
    root = os.path.join(tmp, "stop-root")
    os.makedirs(os.path.join(root, "fs"))
    subprocess.run([sys.executable, os.environ["MKCAP"], os.path.join(root, "fs/mid.pcap"),
                    "--packets", "20000", "--seed", "5"], check=True)
    ref = reference(root, {"path": "fs/mid.pcap"}, tmp)
    for grace, reader_after in (("30", "slow"), ("2", "hold")):
        d = Daemon(root, ["--stop-grace", grace])
        st, doc, _ = d.post({"path": "fs/mid.pcap"})
        eid = doc["id"]
        r = SlowReader(d, eid)
        check("stop-grace %s: DONE while the client still reads" % grace,
              wait_until(lambda: d.get(eid)[1]["status"]["state"] == "DONE", 60))
        r.mode = reader_after
        t0 = time.monotonic()
        rc = d.stop()
        took = time.monotonic() - t0
        check("stop-grace %s: SIGTERM exits 0 (%s)" % (grace, rc), rc == 0, d.stderr[-1000:])
        r.mode = "fast"
        r.join(60)
        body, whole = r.body()
        if reader_after == "slow":
            check("stop-grace 30: the reply was sent in full (%d of %d bytes)"
                  % (len(body), len(ref)), whole and body == ref)
        else:
            check("stop-grace 2: stopped within the grace (%.1f s)" % took, took < 10)
            check("stop-grace 2: the cut reply does not end like a whole one "
                  "(%d of %d bytes, reset %s)" % (len(body), len(ref), r.reset),
                  not whole and len(body) < len(ref))
            d.start()
            st, doc, _ = d.get(eid)
            check("stop-grace 2: the export was saved as ERRORS",
                  doc["status"]["state"] == "ERRORS"
                  and doc["status"].get("error", {}).get("error_id") == "EXPORT_CANCELLED", doc["status"])
            d.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="pktexportd-test.")
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "fs"))
    mkcap = os.environ["MKCAP"]
    subprocess.run([sys.executable, mkcap, os.path.join(root, "fs/sample.pcap"), "--packets", "3000",
                    "--seed", "3", "--format", "pcap-ns"], check=True)
    subprocess.run([sys.executable, mkcap, os.path.join(root, "fs/big.pcap"), "--packets", "120000",
                    "--seed", "4"], check=True)
    open(os.path.join(root, "fs/notes.txt"), "w").write("not a capture\n")
    d = Daemon(root)
    try:
        test_common(d)
        test_buffer_stream(d, root, tmp)
        test_formats(d, root, tmp)
        test_legacy(d, root, tmp)
        test_nodata(d, root, tmp)
        test_prepare(d, root, tmp)
        test_stream_to_file(d, root, tmp)
        test_time_past_2106(d, root, tmp)
        test_errors(d)
        test_timeouts(d)
        test_concurrent(d, root, tmp)
        test_create_then_download_at_once(d)
        test_download_waits(d, root, tmp)
        test_disconnect_and_delete(d, root)
        test_restart(d, root, tmp)
        test_max_exports(tmp)
        test_connection_cap(tmp)
        test_service_manager(tmp)
        test_vendor_plugins(tmp)
        test_stop_while_sending(tmp)
        test_state_disk_full(tmp)
    finally:
        rc = d.stop()
        check("final SIGTERM exits 0", rc == 0, d.stderr[-2000:])
        if "ERROR: AddressSanitizer" in d.stderr or "runtime error" in d.stderr or "LeakSanitizer" in d.stderr:
            check("no sanitizer report", False, d.stderr[-4000:])
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
