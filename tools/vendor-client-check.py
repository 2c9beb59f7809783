#!/usr/bin/env python3
"""Runs the vendor's Python client (steelscript-appresponse, unmodified; not
part of this project: install it, or put its repositories on PYTHONPATH)
against pktexportd, as an automation script would: for each login method
(Basic, cookie session, OAuth access code), AppResponse(host, auth) ->
fs.get_file_by_id -> an export with a time window and a BPF filter ->
download -> delete; then the same after the daemon restarts, and again
after the token or session lifetime has passed.  Every download must equal
the reference file byte for byte.  The daemon is started here, over HTTPS
with a self-signed certificate the client is told to trust
(REQUESTS_CA_BUNDLE), with or without --users.

  tools/vendor-client-check.py --root DIR --file /a.pcap --start S --end E \\
      --bpf 'tcp port 80' --ref REF.pcap [--users FILE --user U --password P]

Prints one line per step and exits 0 when every step was whole."""
import argparse
import filecmp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--root", required=True)
ap.add_argument("--file", required=True, help="file id, e.g. /a.pcap")
ap.add_argument("--start", required=True)
ap.add_argument("--end", required=True)
ap.add_argument("--bpf", required=True)
ap.add_argument("--ref", required=True, help="pktexport export's output for the same request")
ap.add_argument("--users")
ap.add_argument("--user", default="alice")
ap.add_argument("--password", default="x")
ap.add_argument("--pktexportd", default=os.environ.get("PKTEXPORTD", "pktexportd"))
ap.add_argument("--pktexport", default=os.environ.get("PKTEXPORT", "pktexport"))
ap.add_argument("--port", type=int, default=18443)
args = ap.parse_args()

tmp = tempfile.mkdtemp(prefix="pktexport-vendor-")
cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
               check=True, capture_output=True)
os.environ["REQUESTS_CA_BUNDLE"] = cert
os.environ.pop("CURL_CA_BUNDLE", None)
os.environ["HOME"] = tmp  # the client caches service definitions there

from steelscript.appresponse.core.appresponse import AppResponse  # noqa: E402
from steelscript.appresponse.core.types import TimeFilter  # noqa: E402
from steelscript.common.service import Auth, OAuth, UserAuth  # noqa: E402

cmd = [args.pktexportd, "--root", args.root, "--listen", "127.0.0.1:%d" % args.port,
       "--tls-cert", cert, "--tls-key", key, "--token-lifetime", "3"]
if args.users:
    cmd += ["--users", args.users]
proc = None


def start():
    global proc
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # printed once it accepts


def stop():
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    proc.stdout.close()


def once(ar, tag):
    f = ar.fs.get_file_by_id(args.file)
    out = os.path.join(tmp, "dl.pcap")
    with ar.create_export(f, TimeFilter(start=args.start, end=args.end),
                          [{"id": "f1", "type": "BPF", "value": args.bpf}]) as e:
        e.download(out, overwrite=True)
        eid = e.exp_id
    same = filecmp.cmp(out, args.ref, shallow=False)
    gone = eid not in [x["id"] for x in ar.export.exports.execute("get").data.get("items", [])]
    print("%-24s %s, export deleted: %s" % (tag, "identical" if same else "DIFFERENT", gone))
    return same and gone


code = subprocess.run([args.pktexport, "access-code", "--root", args.root, args.user],
                      capture_output=True, text=True, check=True).stdout.strip()
ok = True
start()
try:
    for name, auth in (("basic", UserAuth(args.user, args.password, method=Auth.BASIC)),
                       ("cookie", UserAuth(args.user, args.password, method=Auth.COOKIE)),
                       ("oauth", OAuth(code))):
        ar = AppResponse("127.0.0.1:%d" % args.port, auth=auth)
        ok &= once(ar, name)
        stop()
        start()
        ok &= once(ar, name + " after restart")
        time.sleep(4)
        ok &= once(ar, name + " after expiry")
finally:
    stop()
    subprocess.run([args.pktexport, "access-code", "--root", args.root, "--revoke", code[:8]],
                   capture_output=True)
print("ALL WHOLE" if ok else "FAILED")
sys.exit(0 if ok else 1)
