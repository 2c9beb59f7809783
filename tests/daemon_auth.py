#!/usr/bin/env python3
"""pktexportd --users: the mgmt.aaa 2.0 token endpoint, bearer tokens on
every Packet Export request, refresh tokens, expiry, the users file's
refusals, and a slow password hash that must not stall the loop.
Prints "N passed, N failed"."""
import base64
import http.client
import json
import os
import re
import select
import threading
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import warnings

from checks import check, summary, wait_until
from daemon_api import API, Daemon, is_error

AAA = "/api/mgmt.aaa/2.0"


def crypt_hash(password, salt, rounds=None):
    """A SHA-512 crypt(3) hash, as `openssl passwd -6` makes them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import crypt
        except ImportError:
            crypt = None
    if crypt is not None:
        setting = "$6$" + ("rounds=%d$" % rounds if rounds else "") + salt + "$"
        return crypt.crypt(password, setting)
    if rounds:
        return None
    return subprocess.run(["openssl", "passwd", "-6", "-salt", salt, password],
                          capture_output=True, text=True, check=True).stdout.strip()


def write_users(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def refused_at_start(root, users, what, expect):
    """The daemon must refuse the users file before it listens."""
    p = subprocess.run([os.environ["PKTEXPORTD"], "--root", root, "--listen", "127.0.0.1:0",
                        "--users", users], capture_output=True, text=True, timeout=60)
    check("%s: refused at start" % what, p.returncode != 0 and p.stdout == "",
          "rc=%d out=%r" % (p.returncode, p.stdout))
    check("%s: says why" % what, expect in p.stderr, p.stderr)


def test_users_file(root, tmp):
    good = crypt_hash("pw", "saltsalt")
    f = os.path.join(tmp, "bad-users")
    refused_at_start(root, os.path.join(tmp, "missing"), "missing file", "No such file")
    write_users(f, "alice:%s\n" % good, 0o666)
    refused_at_start(root, f, "world-writable file", "writable by others")
    write_users(f, "alice:%s\n" % good, 0o644)
    refused_at_start(root, f, "world-readable file", "readable by others")
    write_users(f, "alice %s\n" % good)
    refused_at_start(root, f, "line without a colon", "line 1: expected NAME:HASH")
    write_users(f, "alice:%s\n" % good, 0o620)
    refused_at_start(root, f, "group-writable file", "writable by its group")
    write_users(f, "# comment\n  \t# indented comment\n\nal/ice:%s\n" % good)
    refused_at_start(root, f, "bad user name", "line 4: expected NAME:HASH")
    write_users(f, "alice:plaintext\n")
    refused_at_start(root, f, "plain-text password", "not a crypt(3) hash")
    write_users(f, "alice:$9$nosuchmethod$abc\n")
    refused_at_start(root, f, "unknown hash method", "not a crypt(3) hash")
    write_users(f, "alice:%s\nalice:%s\n" % (good, good))
    refused_at_start(root, f, "user listed twice", "listed twice")
    write_users(f, "# nobody\n")
    refused_at_start(root, f, "no user", "lists no user")
    write_users(f, "alice:%s:root\n" % good)
    refused_at_start(root, f, "unknown role", "neither admin nor user")
    # A comment longer than any buffer stays a comment: its tail is not a
    # user.
    write_users(f, "alice:%s\n#%s eve:%s\n" % (good, "x" * 5000, good))
    d = Daemon(root, ["--users", f])
    try:
        st, doc, _ = login(d, "eve", "pw")
        check("a long comment's tail is no user", st == 401, (st, doc))
        st, doc, _ = login(d, "alice", "pw")
        check("the user before it logs in", st == 201, (st, doc))
    finally:
        check("long-comment daemon exits 0", d.stop() == 0, d.stderr[-2000:])
    p = subprocess.run([os.environ["PKTEXPORTD"], "--root", root, "--token-lifetime", "0"],
                       capture_output=True, text=True, timeout=60)
    check("--token-lifetime 0 refused", p.returncode == 2 and "--token-lifetime" in p.stderr,
          p.stderr)


def login(d, user, password, **extra):
    body = {"user_credentials": {"username": user, "password": password}}
    body.update(extra)
    return d.request("POST", AAA + "/token", body)


def bearer(token):
    return {"Authorization": "Bearer " + token}


def test_tokens(d, root):
    st, doc, _ = d.request("GET", "/api/common/1.0/ping")
    check("ping needs no token", st == 200, st)
    st, doc, _ = d.request("GET", "/api/common/1.0/info")
    check("info needs no token and names no host with --users",
          st == 200 and doc.get("device_name") == "pktexport"
          and socket.gethostname() not in json.dumps(doc), doc)
    st, doc, _ = d.request("GET", "/api/common/1.0/auth_info")
    check("auth_info lists BASIC, COOKIE, OAUTH_2_0, OAUTH2.0",
          st == 200 and doc.get("supported_methods") == ["BASIC", "COOKIE", "OAUTH_2_0", "OAUTH2.0"],
          doc)
    st, doc, _ = d.request("GET", "/api/common/1.0/services")
    check("services list mgmt.aaa 2.0",
          st == 200 and {"id": "mgmt.aaa", "versions": ["2.0"]} in doc, doc)
    st, doc, _ = d.request("GET", "/api/mgmt.aaa/2.0")
    check("mgmt.aaa 2.0 definition served without credentials",
          st == 200 and doc.get("name") == "mgmt.aaa" and "access_tokens" in doc["resources"], st)
    st, doc, _ = d.request("GET", "/api/common/1.0")
    check("common 1.0 definition served without credentials",
          st == 200 and doc.get("name") == "common" and "session_auth" in doc["resources"], st)

    # Every Packet Export request needs a token.
    for method, path in (("GET", API + "/exports"), ("POST", API + "/exports"),
                         ("GET", API + "/exports/items/" + "0" * 32),
                         ("DELETE", API + "/exports/items/" + "0" * 32),
                         ("GET", API + "/packets/items/" + "0" * 32), ("GET", API)):
        st, doc, r = d.request(method, path)
        check("%s %s without a token: 401" % (method, path),
              st == 401 and is_error(doc, "AUTH_REQUIRED") and
              r.getheader("WWW-Authenticate", "").startswith("Bearer"), (st, doc))
    st, doc, r = d.request("GET", API + "/exports", headers={"Authorization": "Basic YTpi"})
    check("wrong Basic credentials: 401 AUTH_INVALID_CREDENTIALS",
          st == 401 and is_error(doc, "AUTH_INVALID_CREDENTIALS") and
          r.getheader("WWW-Authenticate", "").startswith("Basic"), (st, doc))
    st, doc, r = d.request("GET", API + "/exports", headers=bearer("0" * 64))
    check("a token of ours not known (expired, restart): 401 AUTH_EXPIRED_TOKEN",
          st == 401 and is_error(doc, "AUTH_EXPIRED_TOKEN") and
          "invalid_token" in r.getheader("WWW-Authenticate", ""), (st, doc))
    st, doc, r = d.request("GET", API + "/exports", headers=bearer("not-a-token"))
    check("not a token of ours: 401 AUTH_INVALID_TOKEN",
          st == 401 and is_error(doc, "AUTH_INVALID_TOKEN"), (st, doc))
    st, doc, r = d.request("GET", API + "/exports", headers={"Cookie": "SESSID=" + "1" * 64})
    check("an unknown session: 401 AUTH_INVALID_SESSION",
          st == 401 and is_error(doc, "AUTH_INVALID_SESSION"), (st, doc))

    # Logins.
    st, doc, _ = login(d, "alice", "wrong")
    check("wrong password: 401", st == 401 and is_error(doc, "AUTH_INVALID_CREDENTIALS"),
          (st, doc))
    st, doc, _ = login(d, "mallory", "pw-a")
    check("unknown user: 401, same answer",
          st == 401 and is_error(doc, "AUTH_INVALID_CREDENTIALS"), (st, doc))
    for body, what in (({}, "empty request"),
                       ({"user_credentials": {"username": "alice"}}, "no password"),
                       ({"user_credentials": {"username": "alice", "password": 5}},
                        "password not a string"),
                       ({"user_credentials": {"username": "alice", "password": "pw-a",
                                              "x": 1}}, "extra credential"),
                       ({"user_credentials": "alice:pw-a"}, "credentials not an object"),
                       ({"refresh_token": "abc", "user_credentials":
                         {"username": "alice", "password": "pw-a"}}, "both grants"),
                       ({"refresh_token": "abc", "generate_refresh_token": True},
                        "refresh with a new refresh"),
                       ({"refresh_token": 1}, "refresh token not a string"),
                       ({"user_credentials": {"username": "alice", "password": "pw-a"},
                         "scope": "all"}, "unknown property")):
        st, doc, _ = d.request("POST", AAA + "/token", body)
        check("token request, %s: 400" % what, st == 400 and is_error(doc, "INVALID_ARGUMENT")
              or (st == 400 and isinstance(doc, dict) and set(doc) == {"error_id", "error_text"}),
              (st, doc))
    st, doc, _ = d.request("POST", AAA + "/token", "not json")
    check("token request not JSON: 400", st == 400, (st, doc))
    st, doc, _ = d.request("GET", AAA + "/token")
    check("GET token: 405", st == 405 and isinstance(doc, dict) and "error_id" in doc, (st, doc))
    st, doc, _ = d.request("GET", AAA + "/users")
    check("unknown aaa resource: 404", st == 404, (st, doc))

    before = int(time.time())
    st, doc, _ = login(d, "alice", "pw-a", state="opaque-1")
    check("login: 201", st == 201, (st, doc))
    check("login answer's fields",
          isinstance(doc, dict) and doc.get("token_type") == "bearer" and
          doc.get("state") == "opaque-1" and "refresh_token" not in doc and
          len(doc.get("access_token", "")) == 64, doc)
    check("expires_at is an hour on",
          isinstance(doc.get("expires_at"), int) and
          before + 3600 <= doc["expires_at"] <= int(time.time()) + 3600, doc)
    alice = doc["access_token"]
    st, doc, _ = login(d, "bob", "pw-b", generate_refresh_token=True)
    check("login with a refresh token", st == 201 and len(doc.get("refresh_token", "")) == 64,
          (st, doc))
    bob, bob_refresh = doc["access_token"], doc["refresh_token"]
    check("tokens differ", len({alice, bob, bob_refresh}) == 3)

    # The token works, and the export records its owner.
    st, doc, _ = d.request("POST", API + "/exports", {"config": {"path": "fs/a.pcap"}},
                           headers=bearer(alice))
    check("export created with a token", st == 201, (st, doc))
    eid = doc["id"]
    check("owner is the token's user", doc["status"]["owner"] == "alice", doc["status"])
    st, doc, _ = d.request("GET", API + "/exports/items/" + eid,
                           headers={"Authorization": "bearer  " + bob})
    check("scheme name in any case", st == 200 and doc["status"]["owner"] == "alice", (st, doc))
    r, data = d.request("GET", API + "/packets/items/" + eid, headers=bearer(alice), raw=True)
    check("download with a token", r.status == 200 and data[:4] == b"\xd4\xc3\xb2\xa1" and
          len(data) > 24, (r.status, data[:64]))
    ref = subprocess.run([os.environ["PKTEXPORT"], "export", "--root", root, "-o", "-",
                          "fs/a.pcap"], capture_output=True)
    check("download equals the command line's", data == ref.stdout, len(data))

    # Refresh tokens: listed for their owner only, redeemed, revoked.
    st, doc, _ = d.request("GET", AAA + "/refresh_tokens", headers=bearer(bob))
    items = doc.get("items", []) if isinstance(doc, dict) else []
    check("bob's refresh tokens listed",
          st == 200 and len(items) == 1 and items[0]["partial_token"] == bob_refresh[:8] and
          items[0]["user"] == "bob" and items[0]["times_redeemed"] == 0, (st, doc))
    st, doc, _ = d.request("GET", AAA + "/refresh_tokens", headers=bearer(alice))
    check("alice sees none of bob's", st == 200 and doc == {"items": []}, (st, doc))
    st, doc, _ = d.request("GET", AAA + "/refresh_tokens")
    check("refresh token list needs a token", st == 401, (st, doc))
    st, doc, _ = d.request("POST", AAA + "/token", {"refresh_token": bob_refresh, "state": "s"})
    check("refresh token redeemed", st == 201 and doc.get("state") == "s" and
          "refresh_token" not in doc and doc["access_token"] not in (alice, bob), (st, doc))
    bob2 = doc["access_token"]
    st, doc, _ = d.request("GET", API + "/exports", headers=bearer(bob2))
    check("redeemed token works", st == 200, (st, doc))
    st, doc, _ = d.request("GET", AAA + "/refresh_tokens", headers=bearer(bob))
    check("redemption counted", doc["items"][0]["times_redeemed"] == 1 and
          doc["items"][0]["last_redeemed"] >= before, doc)
    st, doc, _ = d.request("POST", AAA + "/token", {"refresh_token": bob})
    check("an access token is not a refresh token", st == 401, (st, doc))
    st, doc, _ = d.request("POST", AAA + "/refresh_tokens/revoke",
                           {"refresh_token": bob_refresh}, headers=bearer(alice))
    check("alice cannot revoke bob's", st == 404, (st, doc))
    st, doc, _ = login(d, "bob", "pw-b")
    bob_plain = doc["access_token"] if st == 201 else ""
    st, doc, _ = d.request("POST", AAA + "/refresh_tokens/revoke",
                           {"refresh_token": bob_refresh}, headers=bearer(bob))
    check("bob revokes his", st == 204, (st, doc))
    st, doc, _ = d.request("POST", AAA + "/token", {"refresh_token": bob_refresh})
    check("revoked refresh token refused", st == 401 and
          is_error(doc, "AUTH_INVALID_CREDENTIALS"), (st, doc))
    st, doc, _ = d.request("GET", API + "/exports", headers=bearer(bob2))
    check("the access token traded for it ends with it", st == 401, (st, doc))
    st, doc, _ = d.request("GET", API + "/exports", headers=bearer(bob))
    check("so does the one given with it", st == 401, (st, doc))
    st, doc, _ = d.request("GET", API + "/exports", headers=bearer(bob_plain))
    check("bob's token of another login stays valid", st == 200, (st, doc))
    st, doc, _ = d.request("GET", API + "/exports", headers=bearer(alice))
    check("alice's token stays valid", st == 200, (st, doc))
    return alice


def test_slow_hash_keeps_loop_free(d):
    """A login against a deliberately slow hash runs on its own thread:
    the loop answers other requests while it runs.  Pings are sent one
    after the other until the login's answer arrives; a loop blocked by
    the hash would answer none of them in the meantime."""
    c = http.client.HTTPConnection(d.host, d.port, timeout=300)
    c.request("POST", AAA + "/token", json.dumps(
        {"user_credentials": {"username": "carol", "password": "pw-c"}}))
    pings = 0
    while not select.select([c.sock], [], [], 0)[0]:
        st, _, _ = d.request("GET", "/api/common/1.0/ping")
        pings += st == 200
    r = c.getresponse()
    r.read()
    c.close()
    check("slow login succeeds", r.status == 201, r.status)
    check("pings answered while the slow hash ran", pings >= 3, pings)


def timed_login(d, user, password):
    t0 = time.monotonic()
    st = login(d, user, password)[0]
    return st, time.monotonic() - t0


def test_abuse(d):
    """What an attacker without an account can and cannot do."""
    # Unknown names cost what the costliest known one does: a wrong
    # password for carol (2,000,000 rounds) and an unknown name take
    # about as long, alice's cheap hash much less.  (Every wrong answer
    # also waits its second.)
    _, t_alice = timed_login(d, "alice", "wrong")
    _, t_carol = timed_login(d, "carol", "wrong")
    st, t_unknown = timed_login(d, "nobody-at-all", "wrong")
    check("a wrong password waits a second", t_alice >= 1.0, t_alice)
    check("an unknown name costs the costliest hash",
          st == 401 and t_unknown - t_alice > 0.5 * (t_carol - t_alice),
          (t_alice, t_carol, t_unknown))
    # One address holds at most two logins at once (a wrong answer holds
    # its place for its second too): of three at once, whichever comes
    # third is refused at once, the others get their answers.
    results = []

    def slow_login():
        st, doc, _ = login(d, "carol", "wrong")
        results.append((st, doc.get("error_text", "") if isinstance(doc, dict) else ""))
    threads = [threading.Thread(target=slow_login) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(st for st, _ in results)
    check("three logins from one address: two answered, one 503",
          codes == [401, 401, 503] and
          any("in progress" in text for st, text in results if st == 503), results)
    st, doc, _ = login(d, "alice", "pw-a")
    check("then the address logs in again", st == 201, (st, doc))
    # Log lines cannot be forged through the user name.
    login(d, "x\"\npktexport: info: forged line\u001b[2J", "wrong")
    # Each user's tokens are bounded apart: bob churning tokens does not
    # log alice out; refresh tokens are refused past 16, not evicted.
    st, doc, _ = login(d, "alice", "pw-a", generate_refresh_token=True)
    alice, alice_refresh = doc["access_token"], doc["refresh_token"]
    st, doc, _ = login(d, "bob", "pw-b", generate_refresh_token=True)
    bob_refresh = doc["refresh_token"]
    for _ in range(70):
        d.request("POST", AAA + "/token", {"refresh_token": bob_refresh})
    st, _, _ = d.request("GET", API + "/exports", headers=bearer(alice))
    check("70 of bob's tokens leave alice's access token alone", st == 200, st)
    st, _, _ = d.request("POST", AAA + "/token", {"refresh_token": alice_refresh})
    check("and her refresh token", st == 201, st)
    codes = [login(d, "bob", "pw-b", generate_refresh_token=True)[0] for _ in range(16)]
    check("bob's 17th refresh token is refused, 409", codes[:15] == [201] * 15 and codes[15] == 409,
          codes)


def head_only(d, head, wait=10):
    """Sends a request's head alone (no body), reads what comes back until
    the server closes or wait seconds pass: (status, headers, body)."""
    s = socket.create_connection((d.host, d.port), timeout=wait)
    s.sendall(head)
    data = b""
    try:
        while True:
            got = s.recv(65536)
            if not got:
                break
            data += got
            h, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?i)content-length: *(\d+)", h)
                if m and len(rest) >= int(m.group(1)):
                    break
    except socket.timeout:
        pass
    s.close()
    h, _, body = data.partition(b"\r\n\r\n")
    status = int(h.split(b" ")[1]) if h.startswith(b"HTTP/1.") else None
    return status, h, body


def test_before_body(d):
    """With --users, what a request may not do is answered from its head,
    before any of its body is sent; a body over the limit likewise."""
    for length in (500000, 100000000):
        head = ("POST %s/exports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % (API, length)).encode()
        t0 = time.monotonic()
        st, h, body = head_only(d, head)
        took = time.monotonic() - t0
        ok = st == 401
        try:
            ok = ok and json.loads(body)["error_id"] == "AUTH_REQUIRED"
        except ValueError:
            ok = False
        check("no credentials, Content-Length %d: 401 AUTH_REQUIRED before the body (%.3f s)"
              % (length, took), ok and took < 5, (st, h[:200], body[:200]))
    # What needs no credentials (a login) may bring 64 KiB at most: 300
    # such requests cannot make the service hold 300 MB.
    for path in (AAA + "/token", "/api/common/1.0/login"):
        head = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % (path, 65537)).encode()
        st, h, body = head_only(d, head)
        check("no credentials needed, Content-Length 65537 to %s: 413 before the body" % path,
              st == 413 and b"REQUEST_TOO_LARGE" in body, (st, h[:200], body[:200]))
    st, doc, _ = login(d, "alice", "pw-a")
    token = doc["access_token"]
    head = ("POST %s/exports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Length: 100000000\r\n\r\n" % (API, token)).encode()
    st, h, body = head_only(d, head)
    check("a token and a body over the limit: 413 before the body", st == 413
          and b"REQUEST_TOO_LARGE" in body, (st, h[:200], body[:200]))
    # Expect: 100-continue is answered 100 once the head is accepted.
    cfg = json.dumps({"config": {"path": "fs/a.pcap"}}).encode()
    head = ("POST %s/exports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
            % (API, token, len(cfg))).encode()
    s = socket.create_connection((d.host, d.port), timeout=10)
    s.sendall(head)
    first = s.recv(4096)
    s.sendall(cfg)
    rest = b""
    while b"\r\n\r\n" not in rest or not rest.rstrip().endswith(b"}"):
        got = s.recv(65536)
        if not got:
            break
        rest += got
    s.close()
    check("Expect: 100-continue gets 100, then the answer", first.startswith(b"HTTP/1.1 100 ")
          and rest.startswith(b"HTTP/1.1 201 "), (first[:100], rest[:100]))
    st, _, _ = d.request("GET", "/api/common/1.0/ping")
    check("the service answers after all that", st == 200, st)


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()}


def test_basic_and_sessions(d):
    """HTTP Basic on any request (checked once, then kept a minute under
    a keyed hash), cookie sessions from /login, /logout, and the 1.0
    token endpoint."""
    t0 = time.monotonic()
    st, doc, _ = d.request("GET", API + "/exports", headers=basic("alice", "pw-a"))
    first = time.monotonic() - t0
    check("Basic: 200", st == 200 and "items" in doc, (st, doc))
    st, doc, _ = d.request("POST", API + "/exports", {"config": {"path": "fs/a.pcap"}},
                           headers=basic("bob", "pw-b"))
    check("Basic POST: 201, owned by bob", st == 201 and doc["status"]["owner"] == "bob", (st, doc))
    # Kept: a burst of Basic requests is as fast as tokens.
    st, doc, _ = login(d, "alice", "pw-a")
    token = doc["access_token"]
    rates = {}
    for name, h in (("basic", basic("alice", "pw-a")), ("bearer", bearer(token))):
        c = http.client.HTTPConnection(d.host, d.port, timeout=30)
        t0 = time.monotonic()
        for _ in range(300):
            c.request("GET", API + "/exports", headers=h)
            r = c.getresponse()
            r.read()
        rates[name] = 300 / (time.monotonic() - t0)
        c.close()
    print("requests/s with Basic: %.0f, with a bearer token: %.0f (first Basic %.3f s)"
          % (rates["basic"], rates["bearer"], first))
    check("Basic credentials kept: at least half the rate of tokens (%.0f vs %.0f)"
          % (rates["basic"], rates["bearer"]), rates["basic"] >= 0.5 * rates["bearer"])
    # A wrong password is not kept: it is checked (and slowed) each time.
    st, doc, _ = d.request("GET", API + "/exports", headers=basic("alice", "pw-b"))
    check("Basic with another's password: 401", st == 401
          and is_error(doc, "AUTH_INVALID_CREDENTIALS"), (st, doc))
    # Cookie sessions.
    st, doc, r = d.request("POST", "/api/common/1.0/login", {"username": "alice", "password": "pw-a"})
    cookie = r.getheader("Set-Cookie", "")
    check("login: 200 with session_key/session_id and a cookie",
          st == 200 and doc.get("session_key") == "SESSID" and
          cookie.startswith("SESSID=" + doc.get("session_id", "?") + ";") and
          "HttpOnly" in cookie and "SameSite=Strict" in cookie, (st, doc, cookie))
    jar = {"Cookie": "other=1; SESSID=%s" % doc.get("session_id", "")}
    st, doc, _ = d.request("GET", API + "/exports", headers=jar)
    check("a request with the session cookie: 200", st == 200, (st, doc))
    st, doc, _ = d.request("POST", "/api/common/1.0/login", {"username": "alice", "password": "no"})
    check("login with a wrong password: 401", st == 401
          and is_error(doc, "AUTH_INVALID_CREDENTIALS"), (st, doc))
    st, _, r = d.request("POST", "/api/common/1.0/logout", headers=jar)
    check("logout: 204", st == 204, st)
    st, doc, _ = d.request("GET", API + "/exports", headers=jar)
    check("the cookie after logout: 401 AUTH_INVALID_SESSION",
          st == 401 and is_error(doc, "AUTH_INVALID_SESSION"), (st, doc))
    st, doc, _ = d.request("POST", "/api/mgmt.aaa/1.0/token",
                           {"user_credentials": {"username": "bob", "password": "pw-b"}})
    check("the 1.0 token endpoint: 201", st == 201 and "access_token" in doc, (st, doc))
    st, doc, _ = d.request("GET", AAA + "/refresh_tokens", headers=basic("bob", "pw-b"))
    check("refresh tokens listed with Basic", st == 200 and "items" in doc, (st, doc))


def oauth(d, code, state="s-42"):
    """The vendor client's OAuth exchange of an access code."""
    head = base64.urlsafe_b64encode(b'{"alg":"none"}').decode()
    body = urllib.parse.urlencode({"grant_type": "access_code",
                                   "assertion": "%s.%s." % (head, code), "state": state})
    return d.request("POST", "/api/common/1.0/oauth/token", body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_oauth(d):
    """Access codes (refresh tokens) traded at /api/common/1.0/oauth/token
    for access tokens, with the state given back."""
    st, doc, _ = login(d, "erin", "pw-e", generate_refresh_token=True)
    code = doc.get("refresh_token", "")
    st, doc, _ = oauth(d, code)
    check("access code traded: an access token, state given back",
          st in (200, 201) and doc.get("state") == "s-42" and doc.get("token_type") == "bearer"
          and "." not in doc.get("access_token", "."), (st, doc))
    st, lst, _ = d.request("GET", API + "/exports", headers=bearer(doc.get("access_token", "")))
    check("its access token works", st == 200, (st, lst))
    st, doc, _ = oauth(d, "f" * 64)
    check("an unknown access code: 401 AUTH_INVALID_CREDENTIALS",
          st == 401 and is_error(doc, "AUTH_INVALID_CREDENTIALS"), (st, doc))
    st, doc, _ = d.request("POST", "/api/common/1.0/oauth/token", "grant_type=password&x=y",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    check("another grant type: 400", st == 400 and is_error(doc, "REQUEST_INVALID_INPUT"), (st, doc))


def test_roles(d):
    """NAME:HASH:user sees and controls only the exports it owns (others'
    are 404); NAME:HASH and NAME:HASH:admin see every export."""
    dave, erin, alice = basic("dave", "pw-d"), basic("erin", "pw-e"), basic("alice", "pw-a")
    cfg = {"config": {"path": "fs/a.pcap"}}
    st, mine, _ = d.request("POST", API + "/exports", cfg, headers=dave)
    st2, theirs, _ = d.request("POST", API + "/exports", cfg, headers=alice)
    if not check("dave and alice each create an export", st == 201 and st2 == 201, (st, st2)):
        return
    st, doc, _ = d.request("GET", API + "/exports", headers=dave)
    ids = [e["id"] for e in doc["items"]]
    check("a user lists only its own exports", mine["id"] in ids and theirs["id"] not in ids
          and all(e["status"]["owner"] == "dave" for e in doc["items"]), ids)
    for name, h in (("alice (old line: admin)", alice), ("erin (admin)", erin)):
        st, doc, _ = d.request("GET", API + "/exports", headers=h)
        ids = [e["id"] for e in doc["items"]]
        check("%s lists every export" % name, mine["id"] in ids and theirs["id"] in ids, ids)
    for method, path in (("GET", "/exports/items/"), ("PUT", "/exports/items/"),
                         ("DELETE", "/exports/items/"), ("GET", "/packets/items/")):
        body = {"config": theirs["config"]} if method == "PUT" else None
        st, doc, _ = d.request(method, API + path + theirs["id"], body, headers=dave)
        check("%s of another's export as a user: 404" % method, st == 404
              and is_error(doc, "RESOURCE_NOT_FOUND"), (st, doc))
    st, doc, _ = d.request("GET", API + "/exports/items/" + mine["id"], headers=dave)
    check("a user reads its own export", st == 200 and doc["id"] == mine["id"], (st, doc))
    st, _, _ = d.request("DELETE", API + "/exports/items/" + mine["id"], headers=erin)
    check("an admin deletes another's export", st == 204, st)
    st, _, _ = d.request("GET", API + "/exports/items/" + theirs["id"], headers=alice)
    check("alice's export is still there", st == 200, st)


def login_from(d, addr, user, password):
    """A token request from another loopback address: (status, seconds)."""
    c = http.client.HTTPConnection(d.host, d.port, timeout=120, source_address=(addr, 0))
    t0 = time.monotonic()
    c.request("POST", AAA + "/token", json.dumps(
        {"user_credentials": {"username": user, "password": password}}))
    st = c.getresponse().status
    c.close()
    return st, time.monotonic() - t0


def test_throttle(d):
    """Guesses against one account from many addresses: past 5 failures
    its next check waits 2^(failures-5) s (30 s at most) and its checks
    start one at a time; the right password still gets in, other
    accounts are not slowed, and a success clears it."""
    results = []

    def guess(i):
        results.append(login_from(d, "127.0.0.%d" % (10 + i), "erin", "wrong%d" % i))
    threads = [threading.Thread(target=guess, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check("8 guesses from 8 addresses: all 401", [st for st, _ in results] == [401] * 8, results)
    st, slow = login_from(d, "127.0.0.30", "erin", "pw-e")
    check("the right password still gets in, 8 s later (%.1f s)" % slow,
          st == 201 and 6.5 <= slow < 20, (st, slow))
    st, fast = login_from(d, "127.0.0.31", "alice", "pw-a")
    check("another account is not slowed (%.2f s)" % fast, st == 201 and fast < 1, (st, fast))
    st, after = login_from(d, "127.0.0.32", "erin", "pw-e")
    check("a success clears the account (%.2f s)" % after, st == 201 and after < 1, (st, after))


def test_expiry(root, users):
    d = Daemon(root, ["--users", users, "--token-lifetime", "1"])
    try:
        st, doc, _ = login(d, "alice", "pw-a")
        check("short-lived token granted", st == 201 and
              doc["expires_at"] <= int(time.time()) + 1, (st, doc))
        token = doc["access_token"]
        st, doc, _ = d.request("GET", API + "/exports", headers=bearer(token))
        check("fresh token works (lifetime 1 s)", st in (200, 401), (st, doc))
        check("expired token refused",
              wait_until(lambda: d.request("GET", API + "/exports",
                                           headers=bearer(token))[0] == 401, 10), token)
        st, doc, _ = d.request("GET", API + "/exports", headers=bearer(token))
        check("an expired token is AUTH_EXPIRED_TOKEN (the client logs in again)",
              st == 401 and is_error(doc, "AUTH_EXPIRED_TOKEN"), (st, doc))
    finally:
        check("expiry daemon exits 0", d.stop() == 0, d.stderr[-2000:])


def test_off(root):
    d = Daemon(root)
    try:
        st, doc, _ = d.request("GET", "/api/common/1.0/auth_info")
        check("without --users every method is listed (any credentials get in)",
              st == 200 and doc.get("supported_methods") == ["BASIC", "COOKIE", "OAUTH_2_0",
                                                             "OAUTH2.0"], doc)
        st, doc, _ = oauth(d, "anything")
        check("without --users any access code gets a token", st == 200
              and doc.get("state") == "s-42" and doc.get("access_token"), (st, doc))
        st, doc, _ = d.request("GET", API + "/exports", headers=basic("x", "y"))
        check("without --users Basic credentials get in", st == 200, (st, doc))
        st, doc, r = d.request("POST", "/api/common/1.0/login", {"username": "x", "password": "y"})
        check("without --users a login succeeds", st == 200 and "session_id" in doc, (st, doc))
        st, doc, _ = d.request("POST", AAA + "/token",
                               {"user_credentials": {"username": "a", "password": "b"}})
        check("without --users the token endpoint is 404",
              st == 404 and isinstance(doc, dict) and "--users" in doc.get("error_text", ""),
              (st, doc))
        st, doc, _ = d.request("POST", API + "/exports", {"config": {"path": "fs/a.pcap"}})
        check("without --users no token is needed; owner admin",
              st == 201 and doc["status"]["owner"] == "admin", (st, doc))
    finally:
        check("open daemon exits 0", d.stop() == 0, d.stderr[-2000:])


def test_shares(root, users):
    """One user's READY exports (that never time out) fill only that
    user's share of the table: another user still creates and downloads,
    also after a restart (issue 18, finding 2)."""
    own = root + "-shares"  # a data root of its own: another daemon runs on root
    os.makedirs(os.path.join(own, "fs"))
    shutil.copy(os.path.join(root, "fs", "a.pcap"), os.path.join(own, "fs"))
    d = Daemon(own, ["--users", users, "--max-exports", "8", "--max-user-exports", "3"])
    try:
        dave, erin = basic("dave", "pw-d"), basic("erin", "pw-e")
        cfg = {"config": {"path": "fs/a.pcap", "connection_timeout_msec": 0}}
        codes = [d.request("POST", API + "/exports", cfg, headers=dave)[0] for _ in range(5)]
        check("one user keeps its share, 3, then is refused (503)",
              codes == [201, 201, 201, 503, 503], codes)
        st, doc, _ = d.request("POST", API + "/exports", cfg, headers=dave)
        check("... saying it is that user's share", st == 503 and is_error(doc, "SERVICE_BUSY")
              and "dave" in doc["error_text"], doc)
        for when in ("", " after a restart"):
            st, e, _ = d.request("POST", API + "/exports", {"config": {"path": "fs/a.pcap"}},
                                 headers=erin)
            check("another user still creates an export" + when, st == 201, (st, e))
            r, data = d.request("GET", API + "/packets/items/" + e.get("id", ""), headers=erin,
                                raw=True)
            check("and downloads it" + when, r.status == 200 and len(data) > 24, r.status)
            if not when:
                check("restart", d.stop() == 0)
                d.start()
    finally:
        if d.proc.poll() is None:
            d.stop()


def test_running_share(root, users):
    """Downloads a user starts and never reads hold only that user's share
    of the running exports (--max-user-running): that user's next one is
    refused, and another user's POST and download go through at once
    (issue 18, finding 6)."""
    own = root + "-running"
    os.makedirs(os.path.join(own, "fs"))
    subprocess.run([sys.executable, os.environ["GENCAP"], os.path.join(own, "fs/big.pcap"),
                    "--packets", "100000", "--seed", "9"], check=True)
    d = Daemon(own, ["--users", users, "--max-user-running", "2"])
    held = []
    try:
        dave, erin = basic("dave", "pw-d"), basic("erin", "pw-e")
        cfg = {"config": {"path": "fs/big.pcap"}}
        made = [d.request("POST", API + "/exports", cfg, headers=dave)[1] for _ in range(3)]
        check("one user creates three exports", all("id" in e for e in made), made)
        for e in made[:2]:
            s = socket.create_connection((d.host, d.port), timeout=10)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(("GET %s/packets/items/%s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n"
                       % (API, e["id"], dave["Authorization"])).encode())
            held.append(s)
        # Both are running (37 MB each, nobody reading) once the
        # service says so for a third: a download, or a POST (whose
        # checks run as a job too).
        e = made[2]
        third = None

        def third_refused():
            nonlocal third
            r, data = d.request("GET", API + "/packets/items/" + e["id"], headers=dave, raw=True)
            third = (r.status, data[:300])
            return r.status == 503
        check("a third download of the same user is refused while two stall",
              wait_until(third_refused, 10) and b"dave" in third[1] and b"SERVICE_BUSY" in third[1], third)
        st, doc, _ = d.request("POST", API + "/exports", cfg, headers=dave)
        check("... and so is a new export of that user", st == 503 and is_error(doc, "SERVICE_BUSY"), (st, doc))
        t0 = time.monotonic()
        st, mine, _ = d.request("POST", API + "/exports", {"config": {"path": "fs/big.pcap",
                                                                      "stop_rule": {"packet_limit": 1000}}},
                                headers=erin)
        r, data = d.request("GET", API + "/packets/items/" + mine.get("id", ""), headers=erin, raw=True)
        took = time.monotonic() - t0
        check("another user creates and downloads meanwhile (%.2f s)" % took,
              st == 201 and r.status == 200 and len(data) > 1000 * 60 and took < 2, (st, r.status, took))
    finally:
        for s in held:
            s.close()
        if d.proc.poll() is None:
            check("the service stops with downloads stalled", d.stop() == 0)
        shutil.rmtree(own, ignore_errors=True)


def test_disk_share(root, users):
    """Spools (PREPARE) of one user stay within --max-user-disk: a spool
    that would pass it fails, leaving nothing behind; the others' spools
    are not limited by it, and deleting one makes room again (issue 18,
    per-user disk)."""
    own = root + "-disk"
    os.makedirs(os.path.join(own, "fs"))
    subprocess.run([sys.executable, os.environ["GENCAP"], os.path.join(own, "fs/c.pcap"),
                    "--packets", "20000", "--seed", "5"], check=True)
    size = os.path.getsize(os.path.join(own, "fs/c.pcap"))
    d = Daemon(own, ["--users", users, "--max-user-disk", "%d" % (size // 2)])
    dave, erin = basic("dave", "pw-d"), basic("erin", "pw-e")

    def prepare(who, limit=None):
        cfg = {"path": "fs/c.pcap", "mode": "PREPARE", "output_format": "PCAP_US"}
        if limit:
            cfg["stop_rule"] = {"packet_limit": limit}
        st, e, _ = d.request("POST", API + "/exports", {"config": cfg}, headers=who)
        if st != 201:
            return st, e
        wait_until(lambda: d.request("GET", API + "/exports/items/" + e["id"], headers=who)[1]
                   ["status"]["state"] not in ("RUNNING", "INITIALIZING"), 20)
        return st, d.request("GET", API + "/exports/items/" + e["id"], headers=who)[1]
    try:
        st, e = prepare(dave)
        err = e.get("status", {}).get("error", {}) if st == 201 else e
        check("a spool past the user's share fails, saying so", st in (201, 503)
              and "--max-user-disk" in json.dumps(err), (st, e))
        spool = os.path.join(own, ".pktexport", "spool")
        check("... leaving no part of it", not [f for f in os.listdir(spool) if f.endswith(".part")]
              if os.path.isdir(spool) else True, os.listdir(spool) if os.path.isdir(spool) else None)
        st, small = prepare(dave, 5000)
        check("a spool within it is READY", st == 201 and small["status"]["state"] == "READY", small)
        states = [prepare(dave, 5000)[1].get("status", {}).get("state") for _ in range(2)]
        check("the user's spools stop at the share (%s)" % states, "READY" not in states[1:], states)
        st, hers = prepare(erin, 5000)
        check("another user's spools are not held back by it", st == 201 and hers["status"]["state"] == "READY",
              hers)
        d.request("DELETE", API + "/exports/items/" + small["id"], headers=dave)
        st, again = prepare(dave, 5000)
        check("deleting one makes room again", st == 201 and again["status"]["state"] == "READY", (st, again))
    finally:
        if d.proc.poll() is None:
            check("the service stops", d.stop() == 0)
        shutil.rmtree(own, ignore_errors=True)


def main():
    tmp = tempfile.mkdtemp(prefix="pktexport-auth-")
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "fs"))
    subprocess.run([sys.executable, os.environ["GENCAP"], os.path.join(root, "fs/a.pcap"),
                    "--packets", "200", "--seed", "7"], check=True)
    users = os.path.join(tmp, "users")
    slow = crypt_hash("pw-c", "slowsalt", rounds=2000000)
    write_users(users, "# test users\nalice:%s\nbob:%s\ndave:%s:user\nerin:%s:admin\n%s" % (
        crypt_hash("pw-a", "alicesal"), crypt_hash("pw-b", "bobsalt1"),
        crypt_hash("pw-d", "davesalt"), crypt_hash("pw-e", "erinsalt"),
        "carol:%s\n" % slow if slow else ""), 0o640)
    try:
        test_users_file(root, tmp)
        d = Daemon(root, ["--users", users, "-v"])
        try:
            test_tokens(d, root)
            test_before_body(d)
            test_basic_and_sessions(d)
            test_roles(d)
            test_oauth(d)
            test_throttle(d)
            test_running_share(root, users)
            test_disk_share(root, users)
            test_shares(root, users)
            if slow:
                test_slow_hash_keeps_loop_free(d)
                test_abuse(d)
        finally:
            rc = d.stop()
            check("SIGTERM exits 0", rc == 0, d.stderr[-2000:])
            check("no forged log line", "forged line" not in d.stderr and "\x1b" not in d.stderr,
                  d.stderr[-1000:])
            for marker in ("ERROR: AddressSanitizer", "runtime error", "LeakSanitizer"):
                if marker in d.stderr:
                    check("no sanitizer report", False, d.stderr[-4000:])
        test_expiry(root, users)
        test_off(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
