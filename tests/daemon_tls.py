#!/usr/bin/env python3
"""pktexportd over HTTPS (--tls-cert, --tls-key): TLS 1.2 and 1.3 with AEAD
ciphers only, the same API and bytes as over HTTP, a plain listener kept
on loopback beside it, and the certificate read again on SIGHUP.  Makes
its own self-signed certificates with the openssl command.  Prints
"N passed, N failed"."""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

from checks import check, summary, wait_until

API = "/api/npm.packet_export/1.3"


def make_cert(tmp, name):
    cert, key = os.path.join(tmp, name + ".crt"), os.path.join(tmp, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                    "/CN=" + name, "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class TlsDaemon:
    def __init__(self, root, args):
        cmd = [os.environ["PKTEXPORTD"], "--root", root, "--listen", "127.0.0.1:0"] + args
        wrapper = os.environ.get("PKTEXPORTD_WRAPPER", "")
        if wrapper:
            cmd = wrapper.split() + cmd
        self.errfile = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.errfile, text=True)
        self.lines = [self.proc.stdout.readline().strip()]
        if "--plain-listen" in args:
            self.lines.append(self.proc.stdout.readline().strip())
        if not self.lines[0]:
            self.errfile.seek(0)
            raise RuntimeError("daemon did not start: " + self.errfile.read())
        host, port = self.lines[0].rsplit(":", 1)
        self.host, self.port = host, int(port)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -9
        self.errfile.seek(0)
        self.stderr = self.errfile.read()
        self.proc.stdout.close()
        return rc


def context(cafile, **kw):
    ctx = ssl.create_default_context(cafile=cafile)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def request(d, ctx, method, path, body=None, headers=None):
    c = http.client.HTTPSConnection(d.host, d.port, context=ctx, timeout=60)
    c.request(method, path, body=json.dumps(body) if isinstance(body, dict) else body,
              headers=headers or {})
    r = c.getresponse()
    data = r.read()
    version = c.sock.version() if c.sock else None
    c.close()
    return r.status, data, version


def handshake_fails(d, ctx):
    try:
        with socket.create_connection((d.host, d.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                return False
    except (ssl.SSLError, ConnectionResetError, OSError):
        return True


def peer_cert(d, cafile):
    with socket.create_connection((d.host, d.port), timeout=10) as raw:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(raw) as s:
            return s.getpeercert(binary_form=True)


def der_of(cert):
    pem = open(cert).read()
    b64 = "".join(l for l in pem.splitlines() if l and not l.startswith("-----"))
    return base64.b64decode(b64)


def main():
    if not shutil.which("openssl"):
        print("SKIP: the openssl command is not installed")
        return 77
    tmp = tempfile.mkdtemp(prefix="pktexportd-tls.")
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "fs"))
    subprocess.run([sys.executable, os.environ["GENCAP"], os.path.join(root, "fs", "a.pcap"),
                    "--packets", "20000", "--seed", "8"], check=True)
    cert, key = make_cert(tmp, "first")
    users = os.path.join(tmp, "users")
    hashed = subprocess.run(["openssl", "passwd", "-6", "-salt", "tlssalt1", "pw-a"],
                            capture_output=True, text=True, check=True).stdout.strip()
    with open(users, "w") as f:
        f.write("alice:%s\n" % hashed)
    os.chmod(users, 0o600)
    basic = {"Authorization": "Basic " + base64.b64encode(b"alice:pw-a").decode()}
    d = TlsDaemon(root, ["--users", users, "--tls-cert", cert, "--tls-key", key,
                         "--plain-listen", "127.0.0.1:0"])
    try:
        ctx = context(cert)
        st, data, version = request(d, ctx, "GET", "/api/common/1.0/ping")
        check("HTTPS ping: 200 (%s)" % version, st == 200 and version == "TLSv1.3", (st, data))
        st, data, version = request(d, context(cert, maximum_version=ssl.TLSVersion.TLSv1_2),
                                    "GET", "/api/common/1.0/ping")
        check("TLS 1.2 (AEAD) served", st == 200 and version == "TLSv1.2", (st, version))
        # Refused by the server: TLS 1.1, and TLS 1.2 without an AEAD cipher.
        old = context(cert, minimum_version=ssl.TLSVersion.TLSv1,
                      maximum_version=ssl.TLSVersion.TLSv1_1)
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        check("TLS 1.1 refused", handshake_fails(d, old))
        cbc = context(cert, maximum_version=ssl.TLSVersion.TLSv1_2)
        cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA:AES128-SHA")
        check("TLS 1.2 with only CBC ciphers refused", handshake_fails(d, cbc))
        # Plain HTTP to the TLS port gets nothing that looks like an answer.
        with socket.create_connection((d.host, d.port), timeout=10) as s:
            s.sendall(b"GET /api/common/1.0/ping HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                got = s.recv(100)
            except OSError:
                got = b""
        check("plain HTTP on the TLS port: no HTTP answer", not got.startswith(b"HTTP/"), got)
        # The API over HTTPS: credentials, an export, its bytes.
        st, data, _ = request(d, ctx, "GET", API + "/exports")
        check("HTTPS without credentials: 401", st == 401, (st, data))
        cfg = {"config": {"path": "fs/a.pcap", "filters": {"items": [
            {"id": "u", "type": "BPF", "value": "udp"}]}}}
        st, data, _ = request(d, ctx, "POST", API + "/exports", cfg, basic)
        doc = json.loads(data)
        check("HTTPS POST with Basic: 201", st == 201, (st, data[:200]))
        st, body, _ = request(d, ctx, "GET", API + "/packets/items/" + doc.get("id", "x"),
                              headers=basic)
        ref = os.path.join(tmp, "ref.pcap")
        subprocess.run([os.environ["PKTEXPORT"], "export", "--root", root, "-f", "BPF:udp",
                        "-o", ref, "fs/a.pcap"], check=True)
        check("download over HTTPS equals pktexport export", st == 200 and body == open(ref, "rb").read(),
              (st, len(body)))
        # As the vendor's client downloads: the export made on a kept-alive
        # connection, then fetched on it with "Connection: close".  The end
        # of each answer must leave before the close (a deferred write
        # callback once closed it with the last chunk unsent, about one
        # time in twenty).
        ref_bytes = open(ref, "rb").read()
        whole = 0
        for _ in range(40):
            c = http.client.HTTPSConnection(d.host, d.port, context=ctx, timeout=60)
            c.request("POST", API + "/exports", body=json.dumps(cfg), headers=basic)
            r = c.getresponse()
            eid = json.loads(r.read()).get("id", "x")
            c.request("GET", API + "/packets/items/" + eid,
                      headers=dict(basic, Connection="close"))
            r = c.getresponse()
            try:
                got = r.read()
            except http.client.HTTPException:
                got = b""
            c.close()
            whole += got == ref_bytes
        check("40 downloads closed by the server after their answer: all whole",
              whole == 40, whole)
        c = http.client.HTTPSConnection(d.host, d.port, context=ctx, timeout=60)
        c.request("POST", "/api/common/1.0/login", body=json.dumps(
            {"username": "alice", "password": "pw-a"}))
        r = c.getresponse()
        r.read()
        cookie = r.getheader("Set-Cookie", "")
        c.close()
        check("a login over HTTPS: a Secure, HttpOnly cookie", r.status == 200
              and "; Secure" in cookie and "HttpOnly" in cookie, (r.status, cookie))
        # The plain listener beside it, on loopback.
        host, port = d.lines[1].rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        c.request("GET", "/api/common/1.0/ping")
        check("plain listener on loopback: 200", c.getresponse().status == 200)
        c.close()
        # SIGHUP: the new certificate for new connections; one that does
        # not load leaves the old in use.
        check("the first certificate is served", peer_cert(d, cert) == der_of(cert))
        cert2, key2 = make_cert(tmp, "second")
        shutil.copy(cert2, cert)
        shutil.copy(key2, key)
        d.proc.send_signal(signal.SIGHUP)
        check("after SIGHUP the new certificate is served",
              wait_until(lambda: peer_cert(d, cert) == der_of(cert2), 10))
        with open(key, "w") as f:
            f.write("not a key\n")
        d.proc.send_signal(signal.SIGHUP)
        st, data, _ = request(d, context(cert2), "GET", "/api/common/1.0/ping")
        check("a key that does not load: the one in use stays", st == 200
              and peer_cert(d, cert) == der_of(cert2), (st, data))
    finally:
        rc = d.stop()
        check("TLS daemon exits 0", rc == 0, d.stderr[-2000:])
        check("the bad reload was said", "does not load" in d.stderr, d.stderr[-1000:])
    # Refusals at start.
    for args, says in ((["--tls-cert", cert], "go together"),
                       (["--tls-cert", cert, "--tls-key", key], "TLS with certificate"),
                       (["--plain-listen", "127.0.0.1:0"], "--plain-listen is for")):
        p = subprocess.run([os.environ["PKTEXPORTD"], "--root", root, "--listen", "127.0.0.1:0"] + args,
                           capture_output=True, text=True, timeout=30)
        check("refused at start: %s" % " ".join(args[:1]), p.returncode in (1, 2) and says in p.stderr,
              (p.returncode, p.stderr[-300:]))
    shutil.copy(key2, key)
    p = subprocess.run([os.environ["PKTEXPORTD"], "--root", root, "--listen", "127.0.0.1:0",
                        "--tls-cert", cert, "--tls-key", key, "--plain-listen", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=30)
    check("--plain-listen off loopback refused", p.returncode == 1 and "loopback" in p.stderr,
          (p.returncode, p.stderr[-300:]))
    shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
