"""What the webhook tests share: a loopback receiver (HTTP, or HTTPS with
a CA made by openssl), events written as spool(5) documents them, hookd
started on demand, and the reference verifier (the npm standardwebhooks
package, run by tests/webhook_verify.mjs)."""

import base64
import http.server
import json
import os
import secrets
import socket
import ssl
import subprocess
import threading
import time

from spoolhelp import (ROOT, Daemon, Spool, escape_error, new_id,
                       wait_for)

HOOKD = os.path.join(ROOT, "hookd", "hookd")
TESTS = os.path.join(ROOT, "tests")
VERIFY = os.path.join(TESTS, "webhook_verify.mjs")
NODE_MODULES = os.path.join(TESTS, "node_modules")


def verifier_ready():
    """tests/node_modules from the committed lockfile (npm ci) if needed."""
    if os.path.isdir(os.path.join(NODE_MODULES, "standardwebhooks")):
        return True
    if not os.path.exists(os.path.join(TESTS, "package-lock.json")):
        return False
    p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=TESTS,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode == 0 and os.path.isdir(
        os.path.join(NODE_MODULES, "standardwebhooks"))


def verify(items):
    """[(secret, body, headers)] -> [(ok, error)] by standardwebhooks."""
    data = json.dumps([{"secret": s, "body": b, "headers": h}
                       for s, b, h in items])
    p = subprocess.run(["node", VERIFY], input=data.encode(), cwd=TESTS,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    return [(r["ok"], r.get("error")) for r in json.loads(p.stdout)]


def new_secret():
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_ca(d):
    """A CA and a server certificate for 127.0.0.1, by openssl."""
    d = str(d)

    def run(*a):
        subprocess.run(["openssl", *a], check=True, cwd=d,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=hook test CA", "-keyout", "ca.key", "-out", "ca.pem",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "srv.key", "-out", "srv.csr")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey",
        "ca.key", "-CAcreateserial", "-days", "2", "-out", "srv.pem",
        "-extfile", "ext.cnf")
    return (os.path.join(d, "ca.pem"), os.path.join(d, "srv.pem"),
            os.path.join(d, "srv.key"))


class Receiver:
    """A loopback webhook receiver.  answer(req_number) gives the status,
    or "hang" (hold the request until close), or (301, location)."""

    def __init__(self, port=0, tls=None, answer=None):
        self.requests = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.answer = answer or (lambda n: 200)
        rcv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                with rcv.lock:
                    i = len(rcv.requests)
                    rcv.requests.append({
                        "path": self.path, "body": body, "time": time.time(),
                        "headers": {k.lower(): v
                                    for k, v in self.headers.items()}})
                a = rcv.answer(i)
                if a == "hang":
                    rcv.released.wait(60)
                    return
                loc = None
                if isinstance(a, tuple):
                    a, loc = a
                self.send_response(a)
                if loc:
                    self.send_header("Location", loc)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.srv.daemon_threads = True
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            self.srv.socket = ctx.wrap_socket(self.srv.socket,
                                              server_side=True)
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def url(self, path="/hook"):
        scheme = "https" if isinstance(self.srv.socket, ssl.SSLSocket) \
            else "http"
        return "%s://127.0.0.1:%d%s" % (scheme, self.port, path)

    def got(self, path=None):
        with self.lock:
            return [r for r in self.requests
                    if path is None or r["path"] == path]

    def close(self):
        self.released.set()
        self.srv.shutdown()
        self.srv.server_close()


class Hooks(Daemon):
    """A spool with webhooks set, the webhooks file, hookd on demand."""

    def __init__(self, tmp_path, **conf):
        self.tmp = str(tmp_path)
        self.file = os.path.join(self.tmp, "webhooks")
        conf.setdefault("webhook_max_age", "1h")
        self.sp = Spool(tmp_path, webhooks=self.file, **conf)
        self.err = os.path.join(self.tmp, "hookd.log")
        self.proc = None
        self.callers = {}
        self.receivers = []

    def receiver(self, **kw):
        r = Receiver(**kw)
        self.receivers.append(r)
        return r

    def caller(self, name, url, secret=None, types=()):
        self.callers[name] = (url, secret or new_secret(), types)
        self.write_hooks()
        return self.callers[name][1]

    def write_hooks(self):
        tmp = self.file + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("# name url secret [types]\n")
            for name, (url, secret, types) in self.callers.items():
                f.write(" ".join([name, url, secret, *types]) + "\n")
        os.rename(tmp, self.file)

    def event(self, type, caller="app", job=None, rcpts=("a@example.net",),
              recipient=None, dsn=None, reply=None, subject="Hello",
              sender="app@example.org", at=None):
        """events/<eid> written as spool(5) documents it."""
        eid = new_id()
        job = job or new_id()
        at = int(time.time()) if at is None else at
        lines = ["mail-relay-event 1", "id " + eid, "type " + type,
                 "at %d" % at, "created %d" % (int(job[:13], 16) // 1000000),
                 "job " + job, "caller " + caller,
                 "sender " + escape_error(sender),
                 "subject " + escape_error(subject)]
        lines += ["rcpt " + escape_error(r) for r in rcpts]
        if recipient:
            lines.append("recipient " + escape_error(recipient))
        if dsn:
            lines.append("dsn " + dsn)
        if reply:
            lines.append("reply " + escape_error(reply))
        d = os.path.join(self.sp.spool, "events")
        os.makedirs(d, mode=0o700, exist_ok=True)
        tmp = os.path.join(self.sp.spool, "tmp", "ev." + eid)
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.rename(tmp, os.path.join(d, eid))
        return eid

    def pending(self):
        return sorted(os.listdir(os.path.join(self.sp.spool, "events")))

    def failed(self):
        d = os.path.join(self.sp.spool, "events-failed")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def state(self, eid):
        p = os.path.join(self.sp.spool, "events-state", eid)
        try:
            with open(p) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return None
        assert lines[0] == "mail-relay-hook 1"
        return dict(line.split(" ", 1) for line in lines[1:])

    def start(self, *args, backoff=50, timeout=2000):
        return self.spawn([HOOKD, "-d", "-v", "-b", str(backoff), "-t",
                           str(timeout), "-c", self.sp.conf_path, *args],
                          "hookd start")

    def close(self):
        self.kill()
        for r in self.receivers:
            r.close()
        self.sp.close()


__all__ = ["Hooks", "Receiver", "make_ca", "new_secret", "verify",
           "verifier_ready", "free_port", "wait_for", "new_id", "HOOKD"]
