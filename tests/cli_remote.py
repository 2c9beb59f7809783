#!/usr/bin/env python3
"""pktexport --server URL: the command line as a client of pktexportd.
create/watch/download against a local export of the same window and
filters, list/show/delete, resumed downloads (Range, If-Range, a tag that
no longer matches, an interrupted download), logins (password from the
environment, a file, a terminal; a file others may read; a wrong
password; a bearer token), HTTPS with and without --cacert, and the
errors and exit statuses.  Prints "N passed, N failed"."""
import http.client
import json
import os
import pty
import re
import select
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

from checks import check, summary, wait_until
from daemon_api import API, Daemon
from daemon_auth import crypt_hash, write_users
from daemon_tls import TlsDaemon, make_cert

PKTEXPORT = os.environ["PKTEXPORT"]
START = 1700000000  # gencap's default first packet


def clean_env(**extra):
    """The environment of a person at a shell: human errors, no secrets."""
    env = dict(os.environ)
    for k in ("PKTEXPORT_JSON_ERRORS", "PKTEXPORT_PASSWORD", "PKTEXPORT_TOKEN",
              "PKTEXPORT_SERVER"):
        env.pop(k, None)
    env.update(extra)
    return env


def remote(server, *args, env=None, timeout=120):
    """pktexport --server SERVER ARGS, without a controlling terminal."""
    return subprocess.run([PKTEXPORT, "--server", server] + list(args),
                          capture_output=True, text=True, env=env or clean_env(),
                          timeout=timeout, start_new_session=True)


def local(args, out):
    return subprocess.run([PKTEXPORT] + args + ["-w", out, "-q"], capture_output=True,
                          text=True, env=clean_env(), timeout=120)


def same_file(a, b):
    with open(a, "rb") as f, open(b, "rb") as g:
        return f.read() == g.read()


def one_line(text):
    return len(text.strip().splitlines()) == 1


def made(p):
    """The id create printed."""
    return p.stdout.strip() if p.returncode == 0 and re.fullmatch(r"[0-9a-f]{32}\n", p.stdout) else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_plain(d, root, tmp):
    server = "http://%s:%d" % (d.host, d.port)
    cap = os.path.join(root, "fs", "a.pcap")
    window = ["--start", "%d.05" % START, "--duration", "100ms", "-s", "96"]
    want = os.path.join(tmp, "local.pcap")
    check("local export of the window, some packets in it",
          local(["-r", cap] + window + ["tcp"], want).returncode == 0
          and os.path.getsize(want) > 10000)

    p = remote(server, "create", "fs/a.pcap", *window, "tcp")
    eid = made(p)
    check("create prints the new export's id", eid is not None, (p.returncode, p.stdout, p.stderr))
    p = remote(server, "watch", eid)
    check("watch ends 0 once the export is READY", p.returncode == 0 and "READY" in p.stderr,
          (p.returncode, p.stderr))
    got = os.path.join(tmp, "remote.pcap")
    p = remote(server, "download", eid, "-w", got)
    check("download exits 0", p.returncode == 0, (p.returncode, p.stderr))
    check("download = local export of the same window and filters", same_file(got, want))
    check("no .part left once whole", not os.path.exists(got + ".part")
          and not os.path.exists(got + ".part.etag"), os.listdir(tmp))
    p = remote(server, "download", eid, "-w", os.path.join(tmp, "again.pcap"))
    check("a second download: 409, exit 7, no file", p.returncode == 7
          and "EXPORT_STATE_CONFLICT" in p.stderr
          and not os.path.exists(os.path.join(tmp, "again.pcap"))
          and not os.path.exists(os.path.join(tmp, "again.pcap.part")), (p.returncode, p.stderr))

    p = remote(server, "show", eid)
    check("show: human lines", p.returncode == 0 and re.search(r"^state +DONE$", p.stdout, re.M)
          and re.search(r"^path +fs/a.pcap$", p.stdout, re.M), p.stdout)
    p = remote(server, "show", "--json", eid)
    doc = json.loads(p.stdout) if p.returncode == 0 else {}
    cfg = doc.get("config", {})
    check("show --json: the API's export with the config create built",
          doc.get("id") == eid and cfg.get("path") == "fs/a.pcap"
          and cfg.get("filters", {}).get("items", [{}])[0].get("value") == "tcp"
          and cfg.get("snap_length") == 96 and cfg.get("mode") == "PREPARE"
          and cfg.get("start_time", "").startswith("%d.05" % START), doc)
    p = remote(server, "list")
    check("list names it", p.returncode == 0 and re.search(r"^%s +DONE" % eid, p.stdout, re.M),
          p.stdout)
    p = remote(server, "list", "--json")
    check("list --json: the API's items", p.returncode == 0
          and eid in [e["id"] for e in json.loads(p.stdout)["items"]], p.stdout)
    p = remote(server, "delete", eid)
    check("delete exits 0", p.returncode == 0, (p.returncode, p.stderr))
    p = remote(server, "list")
    check("gone from the list", eid not in p.stdout, p.stdout)

    # Errors: what was typed, the server's error id and text, an exit each.
    p = remote(server, "show", eid)
    check("show of a deleted export: exit 6, one line", p.returncode == 6 and one_line(p.stderr)
          and ("show %s" % eid) in p.stderr and "RESOURCE_NOT_FOUND" in p.stderr, p.stderr)
    p = remote(server, "download", "nosuchid", "-w", os.path.join(tmp, "x.pcap"))
    check("download of a bad id: exit 6, no file", p.returncode == 6
          and "download nosuchid" in p.stderr and "no export" in p.stderr
          and not os.listdir(tmp).count("x.pcap.part"), (p.returncode, p.stderr))
    p = remote(server, "--json-errors", "delete", "nosuchid")
    err = json.loads(p.stderr) if p.stderr.startswith("{") else {}
    check("--json-errors: the server's JSON", p.returncode == 6
          and set(err) == {"error_id", "error_text"} and err["error_id"] == "RESOURCE_NOT_FOUND",
          p.stderr)
    p = remote(server, "show", "nosuchid", env=clean_env(PKTEXPORT_JSON_ERRORS="1"))
    check("PKTEXPORT_JSON_ERRORS=1 too", p.returncode == 6 and p.stderr.startswith('{"error_id"'),
          p.stderr)
    p = remote(server, "create", "fs/a.pcap", "-f", "bpf:tcp port")
    check("a filter the server refuses: exit 2, named as typed",
          p.returncode == 2 and "-f 'bpf:tcp port'" in p.stderr
          and "REQUEST_INVALID_INPUT" in p.stderr and one_line(p.stderr), p.stderr)
    p = remote(server, "create", "fs/a.pcap", "--start", "yesterday-ish")
    check("a time the parser refuses, before any request", p.returncode == 2
          and "--start" in p.stderr, p.stderr)
    p = remote(server, "create", "-r", cap)
    check("create -r: refused (the server reads its own files)", p.returncode == 2
          and "-r" in p.stderr, p.stderr)
    p = remote(server, "create", "fs/a.pcap", "-w", os.path.join(tmp, "y.pcap"))
    check("create -w without --download: refused", p.returncode == 2
          and "--download" in p.stderr, p.stderr)
    p = remote("http://127.0.0.1:%d" % free_port(), "list")
    check("connection refused: exit 3, says so", p.returncode == 3
          and "cannot reach" in p.stderr and one_line(p.stderr), p.stderr)
    p = subprocess.run([PKTEXPORT, "list"], capture_output=True, text=True, env=clean_env(),
                       timeout=60)
    check("no server: exit 2", p.returncode == 2 and "--server" in p.stderr, p.stderr)
    p = remote(server, "list", env=clean_env(PKTEXPORT_PASSWORD="x"))
    check("no --user: no login, none needed", p.returncode == 0, p.stderr)

    # create --download: made, followed and downloaded in one command.
    got = os.path.join(tmp, "oneshot.pcap")
    p = remote(server, "create", "--download", "-w", got, "fs/a.pcap", *window, "tcp")
    check("create --download -w: the same bytes", p.returncode == 0 and made(p) is not None
          and same_file(got, want), (p.returncode, p.stderr))

    test_resume(d, server, root, tmp)
    test_damaged(server, root, tmp)
    test_compressed_name(server, tmp)
    test_streams(server, root, tmp)
    test_scheme()


def test_compressed_name(server, tmp):
    before = remote(server, "list", "--json").stdout
    out = os.path.join(tmp, "x.pcap.gz")
    p = remote(server, "create", "--download", "-w", out, "fs/a.pcap")
    check("create --download -w NAME.gz: refused (exit 2), naming the pipe",
          p.returncode == 2 and "| gzip >" in p.stderr and not os.path.exists(out),
          (p.returncode, p.stderr))
    check("... and no export made on the server", remote(server, "list", "--json").stdout == before)
    p = remote(server, "download", "-w", out, "0" * 32)
    check("download -w NAME.gz: refused (exit 2)", p.returncode == 2 and "gzip" in p.stderr,
          (p.returncode, p.stderr))


def test_streams(server, root, tmp):
    """download -w into a FIFO, /dev/stdout or /dev/fd/N writes into it
    (no .part beside it, nothing replaced), as the local -w does."""
    want = os.path.join(tmp, "streams-local.pcap")
    local(["-r", os.path.join(root, "fs", "a.pcap"), "udp"], want)

    def new_export():
        p = remote(server, "create", "fs/a.pcap", "udp")
        eid = made(p)
        remote(server, "watch", eid or "none")
        return eid or "none"
    fifo = os.path.join(tmp, "stream.fifo")
    os.mkfifo(fifo)
    got = {}

    def drain():
        with open(fifo, "rb") as f:
            got["data"] = f.read()
    th = threading.Thread(target=drain, daemon=True)
    th.start()
    p = remote(server, "download", "-q", "-w", fifo, new_export())
    th.join(60)
    check("download -w FIFO: exit 0, the reader gets the export", p.returncode == 0
          and len(got.get("data", b"")) > 1000
          and got.get("data") == open(want, "rb").read(), (p.returncode, p.stderr))
    check("... the FIFO is still one, no .part beside it",
          stat.S_ISFIFO(os.lstat(fifo).st_mode) and not os.path.exists(fifo + ".part"))
    eid = new_export()
    r = subprocess.run([PKTEXPORT, "--server", server, "download", "-w", "/dev/stdout", eid],
                       capture_output=True, env=clean_env(), timeout=120, start_new_session=True)
    check("download -w /dev/stdout into a pipe: the export, /dev/stdout still a link",
          r.returncode == 0 and r.stdout == open(want, "rb").read()
          and os.path.islink("/dev/stdout") and not os.path.exists("/dev/stdout.part"),
          (r.returncode, r.stderr))
    check("... the summary names /dev/stdout", b"to /dev/stdout" in r.stderr, r.stderr)
    p = remote(server, "download", "-w", "/dev/fd/9", eid)
    check("download -w /dev/fd/9 not open: exit 2, says so",
          p.returncode == 2 and "descriptor 9 is not open" in p.stderr and one_line(p.stderr),
          (p.returncode, p.stderr))
    # Not a descriptor of its own either (its connection took 4 or 5):
    # refused before the server is asked, so the export is still there.
    eid = new_export()
    for n in (3, 4, 5):
        p = remote(server, "download", "-w", "/dev/fd/%d" % n, eid)
        check("download -w /dev/fd/%d, not given: exit 2, not open" % n,
              p.returncode == 2 and ("descriptor %d is not open" % n) in p.stderr,
              (p.returncode, p.stderr))
    p = remote(server, "download", "-q", "-w", os.path.join(tmp, "still.pcap"), eid)
    check("... and the export was not spent: it downloads after", p.returncode == 0
          and open(os.path.join(tmp, "still.pcap"), "rb").read() == open(want, "rb").read(),
          (p.returncode, p.stderr))
    # create --download to standard output: the capture alone there, the
    # id on stderr.
    r = subprocess.run([PKTEXPORT, "--server", server, "create", "--download", "-q",
                        "fs/a.pcap", "udp"], capture_output=True, env=clean_env(),
                       timeout=120, start_new_session=True)
    check("create --download to stdout: the capture alone, byte for byte",
          r.returncode == 0 and r.stdout == open(want, "rb").read(), (r.returncode, r.stderr))
    check("... the id on stderr", re.search(rb"^[0-9a-f]{32}$", r.stderr, re.M), r.stderr)
    before = remote(server, "list", "--json").stdout
    p = remote(server, "create", "--download", "-w", "/dev/fd/9", "fs/a.pcap", "udp")
    check("create --download -w /dev/fd/9 not open: exit 2, no id printed",
          p.returncode == 2 and "descriptor 9 is not open" in p.stderr and not p.stdout,
          (p.returncode, p.stdout, p.stderr))
    check("... and no export made on the server", remote(server, "list", "--json").stdout == before)


def test_scheme():
    for url in ("ftp://127.0.0.1:1", "127.0.0.1:8080", "file:///etc"):
        p = remote(url, "list")
        check("--server %s: refused (exit 2), asking for http:// or https://" % url,
              p.returncode == 2 and "http://HOST:PORT" in p.stderr and one_line(p.stderr),
              (p.returncode, p.stderr))


def test_damaged(server, root, tmp):
    """An export of a damaged source holds what came before the damage;
    the remote commands write it and exit 1 saying so, as a local export
    of the file does."""
    with open(os.path.join(root, "fs", "a.pcap"), "rb") as f:
        data = f.read(300000)
    cut = os.path.join(root, "fs", "cut.pcap")
    with open(cut, "wb") as f:
        f.write(data[:-7])  # the last record cut short
    want = os.path.join(tmp, "cut-local.pcap")
    lp = local(["-r", cut], want)
    check("(a local export of the cut file: exit 1, packets kept)",
          lp.returncode == 1 and os.path.getsize(want) > 24, (lp.returncode, lp.stderr))
    got = os.path.join(tmp, "cut-remote.pcap")
    p = remote(server, "create", "--download", "-w", got, "fs/cut.pcap")
    eid = p.stdout.strip()
    check("create --download of a damaged source: exit 1", p.returncode == 1,
          (p.returncode, p.stderr))
    check("... saying the export holds what came before an error",
          "holds what came before" in p.stderr.splitlines()[-1], p.stderr)
    check("... the packets before the damage written, as locally",
          os.path.exists(got) and same_file(got, want), p.stderr)
    p = remote(server, "watch", "-q", eid)
    check("watch of it: exit 1, saying so", p.returncode == 1
          and "holds what came before" in p.stderr, (p.returncode, p.stderr))
    got2 = os.path.join(tmp, "cut-remote2.pcap")
    eid2 = made(remote(server, "create", "fs/cut.pcap"))
    p = remote(server, "download", "-q", "-w", got2, eid2 or "none")
    check("download of it: exit 1, the packets written", p.returncode == 1
          and os.path.exists(got2) and same_file(got2, want), (p.returncode, p.stderr))


def range_get(d, eid, last):
    """Bytes 0..last of a download, as a client cut after them would have."""
    c = http.client.HTTPConnection(d.host, d.port, timeout=60)
    c.request("GET", API + "/packets/items/" + eid, headers={"Range": "bytes=0-%d" % last})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.getheader("ETag"), data


def prepared(server, path, *args):
    eid = made(remote(server, "create", path, *args))
    if eid:
        remote(server, "watch", "-q", eid)
    return eid


def test_resume(d, server, root, tmp):
    whole = os.path.join(tmp, "whole.pcap")
    local(["-r", os.path.join(root, "fs", "a.pcap")], whole)
    size = os.path.getsize(whole)

    # A .part the server's download cut: the rest is asked for (Range,
    # If-Range with its tag) and the result is whole.
    eid = prepared(server, "fs/a.pcap")
    status, etag, head = range_get(d, eid, size // 3 - 1)
    check("a range of the spool: 206 with a tag", status == 206 and etag and len(head) == size // 3,
          (status, etag, len(head)))
    out = os.path.join(tmp, "resumed.pcap")
    with open(out + ".part", "wb") as f:
        f.write(head)
    with open(out + ".part.etag", "w") as f:
        f.write(etag + "\n")
    p = remote(server, "download", eid, "-w", out)
    check("download resumes the .part at its end", p.returncode == 0
          and ("at byte %d" % (size // 3)) in p.stderr, (p.returncode, p.stderr))
    check("the resumed file is the whole export", os.path.exists(out) and same_file(out, whole))
    check("its .part and tag are gone", not os.path.exists(out + ".part")
          and not os.path.exists(out + ".part.etag"))

    # A .part whose tag is not the export's: the server sends the whole.
    eid = prepared(server, "fs/a.pcap")
    out = os.path.join(tmp, "stale.pcap")
    with open(out + ".part", "wb") as f:
        f.write(b"not these bytes" * 1000)
    with open(out + ".part.etag", "w") as f:
        f.write('"0123456789abcdef0123456789abcdef-1"\n')
    p = remote(server, "download", eid, "-w", out)
    check("a stale .part: started again from zero", p.returncode == 0
          and "started again" in p.stderr, (p.returncode, p.stderr))
    check("the file holds the export, none of the stale bytes", same_file(out, whole))

    # A .part longer than the export (416): started again as well.
    eid = prepared(server, "fs/a.pcap")
    out = os.path.join(tmp, "long.pcap")
    status, etag, _ = range_get(d, eid, 0)
    with open(out + ".part", "wb") as f:
        f.write(b"x" * (size + 10))
    with open(out + ".part.etag", "w") as f:
        f.write(etag + "\n")
    p = remote(server, "download", eid, "-w", out)
    check("a .part past the end (416): started again", p.returncode == 0 and same_file(out, whole),
          (p.returncode, p.stderr))

    # An interrupted download keeps its .part, never the name; the same
    # command finishes it.  The source is large enough that the server
    # cannot have sent it all into the sockets' buffers.
    big = os.path.join(root, "fs", "big.pcap")
    subprocess.run([sys.executable, os.environ["GENCAP"], big, "--packets", "90000", "--seed", "5"],
                   check=True)
    bigwant = os.path.join(tmp, "big-local.pcap")
    local(["-r", big], bigwant)
    eid = prepared(server, "fs/big.pcap")
    out = os.path.join(tmp, "cut.pcap")
    proc = subprocess.Popen([PKTEXPORT, "--server", server, "download", "--limit-rate", "1M",
                             eid, "-w", out], stderr=subprocess.PIPE, text=True, env=clean_env(),
                            start_new_session=True)
    check("a slow download is under way",
          wait_until(lambda: os.path.exists(out + ".part") and os.path.getsize(out + ".part") > 100000,
                     30))
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=60)
    err = proc.stderr.read()
    proc.stderr.close()
    check("Ctrl-C: exit 130, the .part kept, no file under the name", rc == 130
          and os.path.exists(out + ".part") and not os.path.exists(out) and "kept" in err, (rc, err))
    p = remote(server, "download", eid, "-w", out)
    check("the same command resumes it", p.returncode == 0 and "resumed" in p.stderr,
          (p.returncode, p.stderr))
    check("the interrupted then resumed file is whole", os.path.exists(out) and same_file(out, bigwant))


def test_users_tls(root, tmp):
    users = os.path.join(tmp, "users")
    write_users(users, "alice:%s\n" % crypt_hash("pw-a", "remotesa"))
    cert, key = make_cert(tmp, "remote")
    d = TlsDaemon(root, ["--users", users, "--tls-cert", cert, "--tls-key", key,
                         "--plain-listen", "127.0.0.1:0"])
    try:
        https = "https://127.0.0.1:%d" % d.port
        http_ = "http://" + d.lines[1]
        p = remote(http_, "list")
        check("--users without --user: exit 5, asks for a login", p.returncode == 5
              and "AUTH_REQUIRED" in p.stderr and "--user" in p.stderr and one_line(p.stderr),
              p.stderr)
        p = remote(http_, "--user", "alice", "list", env=clean_env(PKTEXPORT_PASSWORD="pw-a"))
        check("password from PKTEXPORT_PASSWORD", p.returncode == 0, p.stderr)
        p = remote(http_, "--user", "alice", "list", env=clean_env(PKTEXPORT_PASSWORD="wrong"))
        check("a wrong password: exit 5, says so", p.returncode == 5
              and "AUTH_INVALID_CREDENTIALS" in p.stderr and "alice" in p.stderr
              and one_line(p.stderr), p.stderr)
        p = remote(http_, "--user", "alice", "list")
        check("no password and no terminal: exit 2, says how to give one",
              p.returncode == 2 and "PKTEXPORT_PASSWORD" in p.stderr, p.stderr)
        pwfile = os.path.join(tmp, "password")
        with open(pwfile, "w") as f:
            f.write("pw-a\n")
        os.chmod(pwfile, 0o644)
        p = remote(http_, "--user", "alice", "--password-file", pwfile, "list")
        check("a password file others may read: refused", p.returncode == 2
              and "chmod 600" in p.stderr and "0644" in p.stderr, p.stderr)
        os.chmod(pwfile, 0o600)

        # HTTPS: the certificate is checked unless its CA is given.
        p = remote(https, "--user", "alice", "--password-file", pwfile, "list")
        check("an untrusted certificate: exit 4, names --cacert", p.returncode == 4
              and "--cacert" in p.stderr and one_line(p.stderr), p.stderr)
        p = remote(https, "--cacert", os.path.join(tmp, "nosuch.pem"), "list")
        check("a CA file that is not there: exit 4", p.returncode == 4, p.stderr)
        want = os.path.join(tmp, "users-local.pcap")
        local(["-r", os.path.join(root, "fs", "a.pcap"), "udp", "-c", "500"], want)
        got = os.path.join(tmp, "users-remote.pcap")
        p = remote(https, "--cacert", cert, "--user", "alice", "--password-file", pwfile,
                   "create", "--download", "-w", got, "fs/a.pcap", "udp", "-c", "500")
        eid = made(p)
        check("HTTPS with --cacert, password file 0600: create --download", eid is not None
              and same_file(got, want), (p.returncode, p.stderr))
        p = remote(https, "--cacert", cert, "--user", "alice", "--password-file", pwfile,
                   "show", "--json", eid)
        check("the export is alice's", p.returncode == 0
              and json.loads(p.stdout)["status"]["owner"] == "alice", p.stdout)

        # A bearer token, from the environment or a file only we read.
        c = http.client.HTTPConnection(*d.lines[1].rsplit(":", 1), timeout=60)
        c.request("POST", "/api/mgmt.aaa/2.0/token", body=json.dumps(
            {"user_credentials": {"username": "alice", "password": "pw-a"}}))
        token = json.loads(c.getresponse().read())["access_token"]
        c.close()
        p = remote(http_, "show", eid, env=clean_env(PKTEXPORT_TOKEN=token))
        check("a bearer token from PKTEXPORT_TOKEN", p.returncode == 0 and eid in p.stdout, p.stderr)
        tokfile = os.path.join(tmp, "token")
        with open(tokfile, "w") as f:
            f.write(token + "\n")
        os.chmod(tokfile, 0o640)
        p = remote(http_, "--token-file", tokfile, "list")
        check("a token file its group may read: refused", p.returncode == 2
              and "chmod 600" in p.stderr, p.stderr)
        os.chmod(tokfile, 0o600)
        p = remote(http_, "--token-file", tokfile, "delete", eid)
        check("--token-file 0600: delete", p.returncode == 0, p.stderr)
        p = remote(http_, "show", eid, env=clean_env(PKTEXPORT_TOKEN="f" * 64))
        check("an unknown token: exit 5", p.returncode == 5 and "AUTH_EXPIRED_TOKEN" in p.stderr,
              p.stderr)
        p = subprocess.run([PKTEXPORT, "--json-errors", "--server", http_, "list"],
                           capture_output=True, text=True, env=clean_env(), timeout=60)
        check("401 with --json-errors: the server's JSON", p.returncode == 5
              and json.loads(p.stderr).get("error_id") == "AUTH_REQUIRED", p.stderr)
        test_prompt(http_)
    finally:
        check("TLS daemon exits 0", d.stop() == 0, getattr(d, "stderr", "")[-2000:])


def test_prompt(server):
    """On a terminal the password is asked for, and not echoed."""
    pid, fd = pty.fork()
    if pid == 0:
        env = clean_env()
        os.execve(PKTEXPORT, [PKTEXPORT, "--server", server, "--user", "alice", "list"], env)
    seen = b""
    end = time.monotonic() + 30
    while b"Password for alice" not in seen and time.monotonic() < end:
        if select.select([fd], [], [], 1)[0]:
            try:
                seen += os.read(fd, 1024)
            except OSError:
                break
    check("a terminal is asked for the password", b"Password for alice" in seen, seen)
    os.write(fd, b"pw-a\n")
    rest = b""
    while time.monotonic() < end:
        if select.select([fd], [], [], 1)[0]:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            rest += chunk
    done, status = os.waitpid(pid, os.WNOHANG)
    while not done and time.monotonic() < end + 10:
        select.select([], [], [], 0.05)
        done, status = os.waitpid(pid, os.WNOHANG)
    if not done:  # still waiting for its answer: a failure, not a hang
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    check("the password typed logs in", os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
          (status, rest))
    check("and is not echoed", b"pw-a" not in rest, rest)


def main():
    tmp = tempfile.mkdtemp(prefix="pktexport-remote.")
    root = os.path.join(tmp, "root")
    out = os.path.join(tmp, "out")
    os.makedirs(os.path.join(root, "fs"))
    os.makedirs(out)
    subprocess.run([sys.executable, os.environ["GENCAP"], os.path.join(root, "fs", "a.pcap"),
                    "--packets", "20000", "--seed", "11"], check=True)
    d = Daemon(root)
    try:
        test_plain(d, root, out)
    finally:
        check("daemon exits 0", d.stop() == 0, d.stderr[-2000:])
    test_users_tls(root, out)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
