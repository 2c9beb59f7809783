#!/usr/bin/env python3
"""pktexportd's services on the data root, as the vendor's client uses
them: npm.packet_capture (stores as capture jobs with stable ids,
interfaces), npm.clips, npm.filesystem (tree, file objects, downloads,
uploads streamed to disk and checked, folders, deletion), their
permissions and credentials, access codes kept across restarts, and the
same over HTTPS.  Prints "N passed, N failed"."""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

from checks import check, summary, wait_until
from daemon_api import API, Daemon, cli, is_error
from daemon_auth import crypt_hash, write_users
from daemon_tls import make_cert

CAP = "/api/npm.packet_capture/3.0"
CLIPS = "/api/npm.clips/1.0"
FS = "/api/npm.filesystem/1.0"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
T0 = 1700000000


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()}


def make_root(tmp):
    root = os.path.join(tmp, "root")
    for sub in ("fs/sub", "clips"):
        os.makedirs(os.path.join(root, sub))
    gen = [sys.executable, os.environ["GENCAP"]]
    subprocess.run(gen + [os.path.join(root, "fs/a.pcap"), "--packets", "3000", "--seed", "3",
                          "--start", str(T0), "--pps", "100"], check=True)
    subprocess.run(gen + [os.path.join(root, "fs/sub/b.pcapng"), "--packets", "500",
                          "--format", "pcapng", "--start", str(T0 + 100)], check=True)
    with open(os.path.join(root, "fs/notes.pcap"), "w") as f:
        f.write("not a capture\n")
    shutil.copy(os.path.join(root, "fs/a.pcap"), os.path.join(root, "fs/.hidden.pcap"))
    os.symlink(os.path.join(root, "fs/a.pcap"), os.path.join(root, "fs/link.pcap"))
    subprocess.run([os.environ["PKTEXPORT"], "store", "import", "--root", root, "core-1",
                    os.path.join(root, "fs/a.pcap")], check=True, capture_output=True)
    with open(os.path.join(root, "clips/c1.json"), "w") as f:
        json.dump({"id": "c1", "config": {"job_id": "core-1", "start_time": "%d.5" % (T0 + 3),
                                          "end_time": str(T0 + 8), "description": "incident 42"}}, f)
    with open(os.path.join(root, "clips/broken.json"), "w") as f:
        f.write('{"config": {"start_time": "1"}}')
    return root


def export_bytes(d, cfg):
    st, doc, _ = d.post(cfg)
    if not check("export of %s created" % cfg["path"], st == 201, doc):
        return None
    r, data = d.download(doc["id"])
    check("export of %s downloaded" % cfg["path"], r.status == 200, r.status)
    d.request("DELETE", API + "/exports/items/" + doc["id"])
    return data


def reference(root, tmp, args):
    out = os.path.join(tmp, "ref.pcap")
    rc = cli(root, args, out)
    return open(out, "rb").read() if rc == 0 else None


# ------------------------------------------------------------- the services

def test_listing(d):
    st, doc, _ = d.request("GET", "/api/common/1.0/services")
    ids = {s["id"]: s["versions"] for s in doc}
    check("services lists npm.packet_capture 3.0, npm.clips 1.0, npm.filesystem 1.0",
          ids.get("npm.packet_capture") == ["3.0"] and ids.get("npm.clips") == ["1.0"]
          and ids.get("npm.filesystem") == ["1.0"], doc)
    for name, ver in (("npm.packet_capture", "3.0"), ("npm.clips", "1.0"),
                      ("npm.filesystem", "1.0")):
        st, sd, _ = d.request("GET", "/api/%s/%s" % (name, ver))
        check("%s definition served" % name,
              st == 200 and sd.get("$schema") == "http://support.riverbed.com/apis/service_def/2.2"
              and sd.get("name") == name and sd.get("version") == ver, (st, str(sd)[:200]))
        # Every resource a link says is served answers (no 404/405 behind a get).
        for rname, res in sd.get("resources", {}).items():
            check("%s/%s has a self link" % (name, rname), "path" in res.get("links", {}).get(
                "self", {}), res.get("links"))


def test_jobs(d, root, tmp):
    st, doc, _ = d.request("GET", CAP + "/jobs")
    items = doc.get("items", []) if st == 200 else []
    check("one job listed", st == 200 and len(items) == 1, doc)
    if not items:
        return None
    j = items[0]
    check("job id shaped like a UUID", UUID.match(j["id"]) is not None, j)
    check("job name and state", j["config"]["name"] == "core-1"
          and j["state"]["status"]["state"] == "STOPPED", j)
    check("job counts", j["state"]["stats"]["packets_written"]["total"] == 3000
          and j["state"]["status"]["capture_disk_space"] == os.path.getsize(
              os.path.join(root, "fs/a.pcap")), j)
    check("job times are second strings with 9 decimals",
          re.match(r"^%d\.\d{9}$" % T0, j["state"]["status"]["packet_start_time"]) is not None
          and float(j["state"]["status"]["packet_end_time"]) > T0 + 29, j)
    st, one, _ = d.request("GET", CAP + "/jobs/items/" + j["id"])
    check("job by id", st == 200 and one == j, one)
    st, one, _ = d.request("GET", CAP + "/jobs/items/core-1")
    check("job by name", st == 200 and one["id"] == j["id"], one)
    st, doc, _ = d.request("GET", CAP + "/jobs/items/0000")
    check("unknown job is 404", st == 404 and is_error(doc, "RESOURCE_NOT_FOUND"), doc)
    st, doc, _ = d.request("POST", CAP + "/jobs", {"config": {"name": "x"}})
    check("a job without its settings is refused, naming the field (400)",
          st == 400 and is_error(doc, "REQUEST_INVALID_INPUT")
          and "config.enabled" in doc["error_text"], (st, doc))
    st, doc, _ = d.request("DELETE", CAP + "/jobs/items/core-1")
    check("a store that no job records is not deleted over the API (409)",
          st == 409 and is_error(doc, "RESOURCE_CONFLICT"), (st, doc))
    window = {"start_time": "%d.25" % (T0 + 2), "end_time": "%d" % (T0 + 9)}
    got = export_bytes(d, dict(window, path="jobs/" + j["id"],
                               filters={"items": [{"id": "f", "type": "BPF", "value": "tcp"}]}))
    ref = reference(root, tmp, ["--start", window["start_time"], "--end", window["end_time"],
                                "-f", "BPF:tcp", "jobs/core-1"])
    check("export of jobs/<id> equals the CLI's of jobs/<name>", got is not None and got == ref
          and len(ref) > 24, (len(got or b""), len(ref or b"")))
    return j["id"]


def test_interfaces(d):
    st, doc, _ = d.request("GET", CAP + "/interfaces")
    names = [i["name"] for i in doc.get("items", [])] if st == 200 else []
    check("interfaces listed (lo among them)", "lo" in names, doc)
    st, lo, _ = d.request("GET", CAP + "/interfaces/items/lo")
    check("interface lo", st == 200 and lo["name"] == "lo" and lo["state"]["mtu"] > 0
          and "packets_total" in lo["state"]["stats"], lo)
    st, doc, _ = d.request("GET", CAP + "/interfaces/items/nosuch0")
    check("unknown interface is 404", st == 404 and is_error(doc, "RESOURCE_NOT_FOUND"), doc)
    st, doc, _ = d.request("GET", CAP + "/vifgs")
    vifgs = {v["config"]["name"]: v for v in doc.get("items", [])} if st == 200 else {}
    check("a VIFG per interface", sorted(vifgs) == sorted(names) and doc["count"] == len(names)
          and vifgs["lo"]["config"]["members"] == ["lo"], doc)
    if "lo" in vifgs:
        st, one, _ = d.request("GET", CAP + "/vifgs/items/%d" % vifgs["lo"]["id"])
        check("VIFG by id", st == 200 and one["config"]["name"] == "lo", one)
    st, doc, _ = d.request("GET", CAP + "/vifgs/items/x")
    check("unknown VIFG is 404", st == 404, doc)


def test_clips(d, root, tmp, job_id):
    st, doc, _ = d.request("GET", CLIPS + "/clips")
    items = doc.get("items", []) if st == 200 else []
    check("the readable clip is listed, the broken one left out",
          [c["id"] for c in items] == ["c1"], doc)
    st, c1, _ = d.request("GET", CLIPS + "/clips/items/c1")
    check("clip c1", st == 200 and c1["config"]["job_id"] == job_id
          and c1["config"]["start_time"] == "%d.500000000" % (T0 + 3)
          and c1["config"]["end_time"] == "%d.000000000" % (T0 + 8)
          and c1["config"]["description"] == "incident 42", c1)
    st, doc, _ = d.request("GET", CLIPS + "/clips/items/broken")
    check("a broken clip says why (422)", st == 422 and is_error(doc, "REQUEST_INVALID_INPUT")
          and "job" in doc["error_text"], doc)
    st, doc, _ = d.request("GET", CLIPS + "/clips/items/none")
    check("unknown clip is 404", st == 404 and is_error(doc, "RESOURCE_NOT_FOUND"), doc)
    got = export_bytes(d, {"path": "clips/c1"})
    ref = reference(root, tmp, ["clips/c1"])
    check("export of clips/<id> equals the CLI's", got == ref and len(ref) > 24,
          (len(got or b""), len(ref or b"")))
    # The clip's job named by id (as the client writes it) works too.
    with open(os.path.join(root, "clips/c2.json"), "w") as f:
        json.dump({"config": {"job_id": job_id, "start_time": "%d.5" % (T0 + 3),
                              "end_time": str(T0 + 8)}}, f)
    check("a clip naming its job by id exports the same", export_bytes(
        d, {"path": "clips/c2"}) == ref)
    os.unlink(os.path.join(root, "clips/c2.json"))


def walk(dirobj, files, dirs):
    dirs.append(dirobj["id"])
    for f in dirobj["files"]["items"]:
        files[f["id"]] = f
    for sub in dirobj["dirs"]["items"]:
        walk(sub, files, dirs)


def test_files(d, root, tmp):
    st, doc, _ = d.request("GET", FS + "/fs")
    files, dirs = {}, []
    if check("tree", st == 200 and len(doc.get("items", [])) == 1, doc):
        walk(doc["items"][0], files, dirs)
    check("tree holds the folders", dirs == ["/", "/sub"], dirs)
    check("tree holds the files, no link and no dot name",
          sorted(files) == ["/a.pcap", "/notes.pcap", "/sub/b.pcapng"], sorted(files))
    a = files.get("/a.pcap", {})
    check("a capture described", a.get("type") == "PCAP_FILE" and a.get("format") == "PCAP_US"
          and a.get("link_type") == "EN10MB"
          and a.get("size") == os.path.getsize(os.path.join(root, "fs/a.pcap"))
          and re.match(r"^\d+\.\d{9}$", a.get("created", "")) is not None
          and re.match(r"^\d+\.\d{9}$", a.get("modified", "")) is not None, a)
    check("a pcapng described", files.get("/sub/b.pcapng", {}).get("type") == "PCAPNG_FILE",
          files.get("/sub/b.pcapng"))
    check("a file that is no capture is UNKNOWN_FILE",
          files.get("/notes.pcap", {}).get("type") == "UNKNOWN_FILE", files.get("/notes.pcap"))
    st, f, _ = d.request("GET", FS + "/fs//a.pcap")
    check("file by id (fs//a.pcap)", st == 200 and f["type"] == "FILE"
          and f["id"] == "/a.pcap" and f["file"]["id"] == "/a.pcap", f)
    st, f2, _ = d.request("GET", FS + "/fs/a.pcap")
    check("file by id without the leading slash", st == 200 and f2 == f, f2)
    st, sub, _ = d.request("GET", FS + "/fs//sub")
    check("folder by id", st == 200 and sub["type"] == "DIRECTORY"
          and [x["id"] for x in sub["dir"]["files"]["items"]] == ["/sub/b.pcapng"], sub)
    for bad in ("/fs//nope.pcap", "/fs//link.pcap", "/fs//.hidden.pcap", "/fs//sub/../a.pcap",
                "/fs//%2e%2e/etc", "/fs//sub//b.pcapng"):
        st, doc, _ = d.request("GET", FS + bad)
        check("%s is 404" % bad, st == 404 and is_error(doc, "RESOURCE_NOT_FOUND"), (st, doc))
    # The packets and time span are known once the file was read whole.
    check("packets unknown before an index", "packets" not in a, a)
    subprocess.run([os.environ["PKTEXPORT"], "store", "index", "--root", root, "fs/a.pcap"],
                   check=True, capture_output=True)
    st, f, _ = d.request("GET", FS + "/fs//a.pcap")
    check("packets and span once indexed", f["file"].get("packets") == 3000
          and f["file"]["index"]["stats"]["items"][0]["start_time"].startswith(str(T0)), f)
    # Download: the bytes, with their length.
    r, data = d.request("GET", FS + "/fileop/download//sub/b.pcapng", raw=True)
    check("download", r.status == 200 and data == open(os.path.join(root, "fs/sub/b.pcapng"),
                                                       "rb").read()
          and r.getheader("Content-Length") == str(len(data))
          and 'filename="b.pcapng"' in (r.getheader("Content-Disposition") or ""), r.status)
    whole = data
    etag = r.getheader("ETag") or ""
    check("download: a strong ETag and Accept-Ranges", re.match(r'^"[0-9a-f.-]+"$', etag)
          and r.getheader("Accept-Ranges") == "bytes", (etag, r.getheader("Accept-Ranges")))
    dl = FS + "/fileop/download//sub/b.pcapng"
    r, data = d.request("HEAD", dl, raw=True)
    check("HEAD: the headers, no body", r.status == 200 and data == b""
          and r.getheader("Content-Length") == str(len(whole)) and r.getheader("ETag") == etag,
          (r.status, r.getheaders()))
    n = len(whole)
    for rng, want in (("bytes=100-199", whole[100:200]), ("bytes=%d-" % (n - 10), whole[-10:]),
                      ("bytes=-25", whole[-25:]), ("bytes=0-", whole),
                      ("bytes=10-%d" % (n * 2), whole[10:])):
        r, data = d.request("GET", dl, headers={"Range": rng}, raw=True)
        first = n - len(want)
        if rng.startswith("bytes=10-"):
            first = 10
        if rng.startswith("bytes=100-"):
            first = 100
        check("Range %s: 206 and those bytes" % rng, r.status == 206 and data == want
              and r.getheader("Content-Range") == "bytes %d-%d/%d" % (first, first + len(want) - 1, n)
              and r.getheader("Content-Length") == str(len(want)),
              (r.status, r.getheader("Content-Range"), len(data)))
    r, data = d.request("GET", dl, headers={"Range": "bytes=%d-" % n}, raw=True)
    check("a range past the end: 416 with the size", r.status == 416
          and r.getheader("Content-Range") == "bytes */%d" % n
          and is_error(json.loads(data), "REQUEST_INVALID_INPUT"), (r.status, data[:100]))
    r, data = d.request("GET", dl, headers={"Range": "bytes=0-9", "If-Range": '"other"'}, raw=True)
    check("If-Range that does not match: the whole file", r.status == 200 and data == whole,
          r.status)
    r, data = d.request("GET", dl, headers={"Range": "bytes=0-9", "If-Range": etag}, raw=True)
    check("If-Range that matches: the range", r.status == 206 and data == whole[:10], r.status)
    r, data = d.request("GET", dl, headers={"Range": "bytes=0-9,20-29"}, raw=True)
    check("several ranges: the whole file", r.status == 200 and data == whole, r.status)
    st, doc, _ = d.request("GET", FS + "/fileop/download//sub")
    check("a folder is not downloaded", st == 400 and is_error(doc, "REQUEST_INVALID_INPUT"), doc)
    # What an export writes under fs/ is a name this service can show.
    for bad in ("out\n.pcap", "out\u202e.pcap", "x\u2066.pcap", "del\u007f.pcap"):
        st, doc, _ = d.post({"path": "fs/a.pcap", "mode": "STREAM_TO_FILE", "output_filename": bad})
        check("output_filename %r refused" % bad, st == 400 and is_error(
            doc, "REQUEST_INVALID_INPUT") and "control" in doc["error_text"], doc)
    st, doc, _ = d.request("GET", FS + "/fileop/download//link.pcap")
    check("a link is not followed", st == 404, doc)
    # A file id is an export source.
    got = export_bytes(d, {"path": "fs" + "/a.pcap", "start_time": str(T0 + 1),
                           "end_time": str(T0 + 2)})
    check("fs + id exports", got == reference(root, tmp, ["--start", str(T0 + 1), "--end",
                                                           str(T0 + 2), "fs/a.pcap"]))


def upload(d, folder, name, body, headers=None):
    h = {"Content-Type": "application/octet-stream"}
    if name is not None:
        h["Content-Disposition"] = name
    h.update(headers or {})
    return d.request("POST", FS + "/fs/" + folder, body, headers=h)


def leftovers(root):
    found = []
    for dirpath, _, names in os.walk(os.path.join(root, "fs")):
        found += [n for n in names if n.startswith(".upload-")]
    return found


def test_uploads(d, root):
    data = open(os.path.join(root, "fs/a.pcap"), "rb").read()
    st, doc, r = upload(d, "/sub", "up.pcap", data)
    check("upload answers 201 with the file", st == 201 and doc["id"] == "/sub/up.pcap"
          and doc["file"]["type"] == "PCAP_FILE" and doc["file"]["size"] == len(data), doc)
    check("upload Location", r.getheader("Location") == FS + "/fs//sub/up.pcap",
          r.getheader("Location"))
    check("uploaded bytes kept", open(os.path.join(root, "fs/sub/up.pcap"), "rb").read() == data)
    st, doc, _ = upload(d, "/sub", 'attachment; filename="up.pcap"', data)
    check("an upload never replaces a file (409)", st == 409 and is_error(
        doc, "RESOURCE_CONFLICT"), doc)
    st, doc, _ = upload(d, "", "text.pcap", b"hello, not a capture\n" * 10)
    check("a non-capture is refused", st == 400 and is_error(doc, "REQUEST_INVALID_INPUT")
          and "not a capture" in doc["error_text"], doc)
    check("and nothing is left of it", not os.path.exists(os.path.join(root, "fs/text.pcap")))
    st, doc, _ = upload(d, "", "empty.pcap", b"")
    check("an empty upload is refused", st == 400, doc)
    for name in (".dot.pcap", "a/b.pcap", "", None, "x\x01y"):
        st, doc, _ = upload(d, "", name, data[:1000])
        check("bad name %r refused" % (name,), st == 400 and is_error(doc, "REQUEST_INVALID_INPUT"),
              doc)
    st, doc, _ = upload(d, "/nofolder", "x.pcap", data)
    check("upload into a missing folder is 404", st == 404, doc)
    check("no temporary file left", wait_until(lambda: not leftovers(root)), leftovers(root))
    # A client that leaves midway: nothing under the name, nothing hidden.
    s = socket.create_connection((d.host, d.port))
    s.sendall(("POST %s/fs/ HTTP/1.1\r\nHost: x\r\nContent-Disposition: cut.pcap\r\n"
               "Content-Length: %d\r\n%s\r\n" % (
                   FS, 50 << 20, "".join("%s: %s\r\n" % kv for kv in d.headers.items()))
               ).encode() + data)
    time.sleep(0.2)
    s.close()
    check("a cut upload leaves nothing", wait_until(
        lambda: not leftovers(root) and not os.path.exists(os.path.join(root, "fs/cut.pcap"))),
        leftovers(root))
    st, doc, _ = d.request("GET", API + "/exports")
    check("the service goes on after a cut upload", st == 200, doc)


def test_big_upload(d, root):
    """Streamed to disk: the daemon's memory does not follow the body."""
    head = open(os.path.join(root, "fs/a.pcap"), "rb").read()
    rec = head[24:]
    n = (160 << 20) // len(rec)
    size = 24 + len(rec) * n

    def body():
        yield head[:24]
        for _ in range(n):
            yield rec

    def hwm():
        with open("/proc/%d/status" % d.proc.pid) as f:
            return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))

    before = hwm()
    c = http.client.HTTPConnection(d.host, d.port, timeout=120)
    h = dict(d.headers, **{"Content-Disposition": "big.pcap", "Content-Length": str(size)})
    c.request("POST", FS + "/fs/", body=body(), headers=h)
    r = c.getresponse()
    r.read()
    c.close()
    after = hwm()
    check("a 160 MB upload is stored", r.status == 201 and os.path.getsize(
        os.path.join(root, "fs/big.pcap")) == size, r.status)
    # AddressSanitizer keeps freed memory in quarantine: no measure then.
    if not os.environ.get("ASAN_OPTIONS"):
        check("memory stays flat (peak grew %d kB)" % (after - before),
              after - before < 40 * 1024, (before, after))
    os.unlink(os.path.join(root, "fs/big.pcap"))


def test_folders(d, root):
    h = {"Content-Type": "application/x-shark-directory", "Content-Disposition": "new"}
    st, doc, r = d.request("POST", FS + "/fs//sub", None, headers=h)
    check("mkdir answers 201", st == 201 and doc == {"id": "/sub/new", "type": "DIRECTORY"}
          and os.path.isdir(os.path.join(root, "fs/sub/new")), doc)
    st, doc, _ = d.request("POST", FS + "/fs//sub", None, headers=h)
    check("mkdir of an existing name is 409", st == 409 and is_error(doc, "RESOURCE_CONFLICT"), doc)
    st, doc, _ = d.request("DELETE", FS + "/fs//sub")
    check("a folder that is not empty is not deleted", st == 409
          and is_error(doc, "RESOURCE_CONFLICT"), doc)
    st, doc, _ = d.request("DELETE", FS + "/fs//sub/new")
    check("an empty folder is deleted", st == 204 and not os.path.exists(
        os.path.join(root, "fs/sub/new")), (st, doc))
    idx = os.path.join(root, ".index/fs/a.pcap.idx")
    check("the indexed file has a sidecar", os.path.exists(idx))
    st, doc, _ = d.request("DELETE", FS + "/fs//a.pcap")
    check("a file is deleted with its index", st == 204 and not os.path.exists(
        os.path.join(root, "fs/a.pcap")) and not os.path.exists(idx), (st, doc))
    st, doc, _ = d.request("DELETE", FS + "/fs//a.pcap")
    check("deleting it again is 404", st == 404, doc)
    st, doc, _ = d.request("DELETE", FS + "/fs/")
    check("the top folder is not deleted", st == 400, doc)
    st, doc, _ = d.request("DELETE", FS + "/fs//link.pcap")
    check("a link is not reached", st == 404 and os.path.islink(
        os.path.join(root, "fs/link.pcap")), doc)


# ---------------------------------------------------- credentials and roles

def test_access(root, tmp, users):
    d = Daemon(root, ["--users", users])
    try:
        for path in (CAP, CAP + "/jobs", CAP + "/interfaces", CLIPS + "/clips", FS, FS + "/fs",
                     FS + "/fs//sub", FS + "/fileop/download//sub/b.pcapng"):
            st, doc, _ = d.request("GET", path)
            check("%s without credentials: 401 AUTH_REQUIRED" % path,
                  st == 401 and is_error(doc, "AUTH_REQUIRED"), (st, doc))
        st, doc, _ = upload(d, "", "anon.pcap", b"x" * 100)
        check("upload without credentials: 401", st == 401 and is_error(doc, "AUTH_REQUIRED"), doc)
        st, doc, _ = d.request("GET", FS + "/fs", headers=basic("alice", "wrong"))
        check("wrong password: AUTH_INVALID_CREDENTIALS", st == 401 and is_error(
            doc, "AUTH_INVALID_CREDENTIALS"), doc)
        data = open(os.path.join(root, "fs/sub/b.pcapng"), "rb").read()
        # Basic on an upload: the body waits for the password check.
        st, doc, _ = upload(d, "", "by-alice.pcapng", data, basic("alice", "pw-a"))
        check("admin uploads with Basic", st == 201 and open(
            os.path.join(root, "fs/by-alice.pcapng"), "rb").read() == data, doc)
        st, doc, _ = d.request("GET", FS + "/fs//by-alice.pcapng", headers=basic("dave", "pw-d"))
        check("a user reads files", st == 200, doc)
        st, doc, _ = upload(d, "", "by-dave.pcapng", data, basic("dave", "pw-d"))
        check("a user may not upload (403)", st == 403 and is_error(doc, "AUTH_FORBIDDEN"), doc)
        st, doc, _ = d.request("DELETE", FS + "/fs//by-alice.pcapng", headers=basic("dave", "pw-d"))
        check("a user may not delete (403)", st == 403 and os.path.exists(
            os.path.join(root, "fs/by-alice.pcapng")), doc)
        st, doc, _ = d.request("POST", FS + "/fs/", headers=dict(
            basic("dave", "pw-d"), **{"Content-Type": "application/x-shark-directory",
                                      "Content-Disposition": "d"}))
        check("a user may not make folders (403)", st == 403, doc)
        st, doc, _ = d.request("GET", CAP + "/jobs", headers=basic("dave", "pw-d"))
        check("a user lists jobs", st == 200 and len(doc["items"]) == 1, doc)
        st, doc, _ = d.request("DELETE", FS + "/fs//by-alice.pcapng", headers=basic("alice", "pw-a"))
        check("admin deletes", st == 204, doc)
        # Another user's export is not there for a plain user.
        st, doc, _ = d.request("POST", API + "/exports", {"config": {"path": "fs/sub/b.pcapng"}},
                               headers=basic("alice", "pw-a"))
        eid = doc.get("id", "")
        st, doc, _ = d.request("GET", API + "/exports/items/" + eid, headers=basic("dave", "pw-d"))
        check("another user's export is 404", st == 404 and is_error(doc, "RESOURCE_NOT_FOUND"), doc)
        r, data = d.request("GET", API + "/packets/items/" + eid, headers=basic("alice", "pw-a"),
                            raw=True)
        d.request("DELETE", API + "/exports/items/" + eid, headers=basic("alice", "pw-a"))
        # A path that tries to start a log line of its own.
        d.request("POST", API + "/exports", {"config": {
            "path": "fs/x\n2026-01-01T00:00:00.000Z pktexportd: info: forged\u202e\u001b[2J"}},
            headers=basic("alice", "pw-a"))
        first_log = test_access_codes(d, root)
    finally:
        rc = d.stop()
        check("SIGTERM exits 0 (users)", rc == 0, d.stderr[-2000:])
    log = first_log + d.stderr
    # At the default level the log says who exported what, when, how much.
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z pktexportd: "
    line = re.search(stamp + r"info: export %s by alice streamed: fs/sub/b\.pcapng, filters \[\], "
                     r"window \.\., BUFFER_STREAM PCAP_US: DONE, (\d+) packets, (\d+) bytes, "
                     r"[\d.]+ s$" % eid, log, re.M)
    check("the export's log line: who, what, when, how much", line is not None
          and int(line.group(1)) == 500 and int(line.group(2)) > 0, log[-3000:])
    for what in (r"info: export %s by alice created: fs/sub/b\.pcapng" % eid,
                 r"info: export %s deleted by alice" % eid,
                 r"info: login: alice from 127\.0\.0\.1: Basic",
                 r"warning: login refused: wrong user name or password for \"alice\"",
                 r"info: pktexportd \S+ serving .* access control on", r"info: stopped$"):
        check("logged: %s" % what, re.search(stamp + what, log, re.M) is not None, log[-3000:])
    check("no line forged through a path", not re.search(r"^2026-01-01", log, re.M)
          and "\x1b" not in log and "\u202e" not in log
          and "forged\\u{202e}\\x1b[2J" in log, log[-2000:])
    check("no password in the log", "pw-a" not in log and "pw-d" not in log)


def exchange(d, code):
    form = urllib.parse.urlencode({"grant_type": "access_code", "state": "s1",
                                   "assertion": "eyJhbGciOiJub25lIn0=.%s." % code})
    return d.request("POST", "/api/common/1.0/oauth/token", form,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_access_codes(d, root):
    p = subprocess.run([os.environ["PKTEXPORT"], "access-code", "--root", root, "alice"],
                       capture_output=True, text=True)
    code = p.stdout.strip()
    check("pktexport access-code prints a code", p.returncode == 0
          and re.match(r"^[0-9a-f]{64}$", code) is not None, p)
    st, doc, _ = exchange(d, code)
    check("the running daemon takes a code issued meanwhile", st in (200, 201)
          and doc.get("state") == "s1" and doc.get("token_type") == "bearer", doc)
    tok = doc.get("access_token", "")
    st, doc, _ = d.request("GET", FS + "/fs", headers={"Authorization": "Bearer " + tok})
    check("its token works", st == 200, doc)
    # A code given by the API (a refresh token) is kept the same way.
    st, doc, _ = d.request("POST", "/api/mgmt.aaa/2.0/token", {
        "user_credentials": {"username": "alice", "password": "pw-a"},
        "generate_refresh_token": True})
    api_code = doc.get("refresh_token", "")
    stored = open(os.path.join(root, ".pktexport/access-codes")).read()
    check("codes are stored as digests, never as themselves",
          code not in stored and api_code and api_code not in stored
          and (os.stat(os.path.join(root, ".pktexport/access-codes")).st_mode & 0o077) == 0, stored)
    d.stop()
    before = d.stderr
    d.start()
    st, doc, _ = exchange(d, code)
    check("a code works after a restart", st in (200, 201), doc)
    st, doc, _ = exchange(d, api_code)
    check("an API-given code works after a restart", st in (200, 201), doc)
    st, doc, _ = d.request("GET", FS + "/fs", headers={"Authorization": "Bearer " + tok})
    check("an access token from before the restart: AUTH_EXPIRED_TOKEN", st == 401
          and is_error(doc, "AUTH_EXPIRED_TOKEN"), doc)
    p = subprocess.run([os.environ["PKTEXPORT"], "access-code", "--root", root, "--list"],
                       capture_output=True, text=True)
    check("--list shows both, by prefix only", p.returncode == 0 and code[:8] in p.stdout
          and api_code[:8] in p.stdout and code not in p.stdout, p.stdout)
    p = subprocess.run([os.environ["PKTEXPORT"], "access-code", "--root", root, "--revoke",
                        code[:8]], capture_output=True, text=True)
    check("--revoke", p.returncode == 0, p.stderr)
    st, doc, _ = exchange(d, code)
    check("a revoked code is refused at once", st == 401 and is_error(
        doc, "AUTH_INVALID_CREDENTIALS"), doc)
    st, doc, _ = exchange(d, api_code)
    check("the other code still works", st in (200, 201), doc)
    return before


# ------------------------------------------------------------------ HTTPS

class TlsClient:
    def __init__(self, d, cert, headers):
        self.d, self.headers = d, headers
        self.ctx = ssl.create_default_context(cafile=cert)

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPSConnection(self.d.host, self.d.port, timeout=60, context=self.ctx)
        h = dict(self.headers, **(headers or {}))
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data, r


def test_https(root, tmp, users):
    cert, key = make_cert(tmp, "services")
    d = Daemon(root, ["--users", users, "--tls-cert", cert, "--tls-key", key])
    try:
        t = TlsClient(d, cert, basic("alice", "pw-a"))
        st, data, _ = t.request("GET", CAP + "/jobs")
        check("jobs over HTTPS", st == 200 and len(json.loads(data)["items"]) == 1, data[:200])
        st, data, _ = t.request("GET", FS + "/fs//sub")
        check("a folder over HTTPS", st == 200 and json.loads(data)["type"] == "DIRECTORY")
        src = open(os.path.join(root, "fs/sub/b.pcapng"), "rb").read()
        st, data, _ = t.request("POST", FS + "/fs/", src, {"Content-Disposition": "tls.pcapng"})
        check("upload over HTTPS", st == 201, data[:200])
        st, data, r = t.request("GET", FS + "/fileop/download//tls.pcapng")
        check("download over HTTPS is the same bytes", st == 200 and data == src
              and r.getheader("Content-Length") == str(len(src)), st)
        st, data, _ = t.request("DELETE", FS + "/fs//tls.pcapng")
        check("delete over HTTPS", st == 204, data)
    finally:
        rc = d.stop()
        check("SIGTERM exits 0 (HTTPS)", rc == 0, d.stderr[-2000:])


def main():
    tmp = tempfile.mkdtemp(prefix="pktexport-services-")
    try:
        root = make_root(tmp)
        users = os.path.join(tmp, "users")
        write_users(users, "alice:%s\ndave:%s:user\n" % (
            crypt_hash("pw-a", "alicesal"), crypt_hash("pw-d", "davesalt")), 0o600)
        test_access(root, tmp, users)
        test_https(root, tmp, users)
        d = Daemon(root, ["-v"])
        try:
            test_listing(d)
            job_id = test_jobs(d, root, tmp)
            d.stop()
            d.start()
            st, doc, _ = d.request("GET", CAP + "/jobs")
            check("job id stable across a restart", st == 200 and job_id
                  and doc["items"][0]["id"] == job_id, doc)
            test_interfaces(d)
            test_clips(d, root, tmp, job_id)
            test_files(d, root, tmp)
            test_uploads(d, root)
            if not os.environ.get("PKTEXPORTD_WRAPPER") and not os.environ.get("SKIPBIG"):
                test_big_upload(d, root)
            test_folders(d, root)
        finally:
            rc = d.stop()
            check("SIGTERM exits 0", rc == 0, d.stderr[-2000:])
            for marker in ("ERROR: AddressSanitizer", "runtime error", "LeakSanitizer"):
                if marker in d.stderr:
                    check("no sanitizer report", False, d.stderr[-4000:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
