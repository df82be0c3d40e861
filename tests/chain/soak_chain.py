#!/usr/bin/python3
"""The whole chain under realistic traffic for a long time.

    tests/chain/soak_chain.py [--seconds 120] [--rate 3] [--report-every 10]

(`make soak-chain` runs it, SOAK_CHAIN_SECONDS long; one hour is
SOAK_CHAIN_SECONDS=3600.)  As root, on loopback, from the shipped conf/:
HTTPS with client certificates -> nginx -> relay-fcgi -> spoold -> a
private Postfix (+ OpenDKIM, logging with postlogd) -> an SMTP sink that
delivers most recipients, defers some once (451, then accepts on Postfix's
retry) and bounces others (550); trackd follows Postfix's log, and hookd
posts webhooks when it is built.  Along the way each daemon is restarted
once: spoold (SIGTERM), trackd (SIGKILL), relay-fcgi (SIGTERM), hookd
(SIGKILL).  At the end it checks, printing figures and exiting 1 on any
failure:

  - every accepted message has the final status the sink gave it, per
    recipient (delivered, delivered after a deferral, bounced), as
    GET /messages/{id} reports it, and reached the sink once per
    delivered recipient;
  - nothing is left in tmp/, pending/ or processing/;
  - RSS and open descriptors of every relay process flat from the first
    tenth of the run to the end (reported over time);
  - when hookd runs, every webhook event arrived.
"""

import argparse
import http.server
import json
import os
import random
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import chainstack as ch  # noqa: E402
from soak import children, proc_stat  # noqa: E402

TRACKD = ch.ROOT / "trackd" / "trackd"
HOOKD = ch.ROOT / "hookd" / "hookd"
RSS_ALLOW_KB = 1024
RSS_ALLOW_FRAC = 0.05
CERTS = 4                   # the nginx limit is per certificate: 60/min


class Answers:
    """The sink's reply per recipient: bounce-* 550, defer-* 451 once."""

    def __init__(self):
        self.seen = set()
        self.lock = threading.Lock()

    def get(self, addr):
        local = addr.split("@", 1)[0]
        if local.startswith("bounce"):
            return "550 5.1.1 <%s>: no such user here" % addr
        if local.startswith("defer"):
            with self.lock:
                if addr not in self.seen:
                    self.seen.add(addr)
                    return "451 4.3.0 <%s>: try again later" % addr
        return None


def expected(addr):
    return "bounced" if addr.startswith("bounce") else "delivered"


class Chain:
    def __init__(self, base):
        self.base = base
        self.procs = ch.Procs(base)
        self.pki = ch.Pki(base / "pki")
        self.certs = [self.pki._leaf("ca", "soak%d" % i,
                                     "/O=mail-relay test/CN=soak-%d" % i,
                                     "client_ext") for i in range(CERTS)]
        self.sink = ch.Sink()
        self.sink.answers = Answers()
        self.sink.start()
        self.dkim = ch.OpenDkim(base, self.procs)
        self.postfix = ch.Postfix(base, self.sink.port, self.dkim.socket)
        self.dkim.start()
        self.postfix.start()
        self.relay = ch.Relay(base, self.procs,
                              sendmail=" ".join(self.postfix.sendmail_argv()))
        extra = "postfix_log = %s\n" % self.postfix.maillog
        self.hooks = None
        if os.access(HOOKD, os.X_OK):
            self.hooks = Receiver()
            extra += self.hooks.conf(base, self.relay)
        with open(self.relay.conf, "a") as f:
            f.write(extra)
        self.relay.start_fcgi()
        self.relay.start_spoold()
        self.start_trackd()
        if self.hooks:
            self.start_hookd()
        self.nginx = ch.Nginx(base, self.procs, self.pki,
                              self.relay.socket).start()

    def start_trackd(self):
        p = self.procs.start("trackd", [TRACKD, "-d", "-c", self.relay.conf])
        ch.wait_for(lambda: (self.relay.spool / "trackd.lock").exists() and
                    "started:" in self.procs.log("trackd") or
                    p.poll() is not None, 10, "trackd start")
        assert p.poll() is None, self.procs.log("trackd")

    def start_hookd(self):
        p = self.procs.start("hookd", [HOOKD, "-d", "-c", self.relay.conf])
        ch.wait_for(lambda: "started" in self.procs.log("hookd") or
                    p.poll() is not None, 10, "hookd start")
        assert p.poll() is None, self.procs.log("hookd")

    def pids(self):
        out = {}
        for name in ("relay-fcgi", "spoold", "trackd", "hookd"):
            p = self.procs.procs.get(name)
            if p is not None and p.poll() is None:
                out[name] = p.pid
        ng = self.procs.procs.get("nginx")
        if ng is not None:
            out["nginx-master"] = ng.pid
            for i, c in enumerate(sorted(children(ng.pid))):
                out["nginx-worker%d" % i] = c
        return out

    def restart(self, name, sig):
        self.procs.stop(name, sig)
        {"spoold": self.relay.start_spoold,
         "relay-fcgi": self.relay.start_fcgi,
         "trackd": self.start_trackd,
         "hookd": self.start_hookd}[name]()

    def close(self):
        self.postfix.stop()
        self.procs.stop_all()
        self.sink.stop()
        if self.hooks:
            self.hooks.stop()


class Receiver:
    """A loopback webhook receiver that keeps every event by webhook-id."""

    def __init__(self):
        self.events = {}
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    outer.events[self.headers.get("webhook-id")] = \
                        json.loads(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def conf(self, base, relay):
        import base64
        secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        path = base / "webhooks"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("%s http://127.0.0.1:%d/hook %s\n"
                    % (relay.caller, self.port, secret))
        return "webhooks = %s\n" % path

    def stop(self):
        self.server.shutdown()


def send(c, i, cert):
    rcpts = ["ok-%d@dest.test" % i]
    roll = random.random()
    if roll < 0.2:
        rcpts.append("defer-%d@dest.test" % i)
    elif roll < 0.3:
        rcpts.append("bounce-%d@dest.test" % i)
    body = {"from": "app@" + ch.DOMAIN, "to": rcpts,
            "subject": "soak %d" % i, "text": "message %d\n" % i}
    try:
        r = ch.https(c.nginx.port, "POST", "/send", c.pki, cert=cert,
                     body=body, headers=c.relay.auth())
    except OSError as e:
        return None, rcpts, repr(e)
    if r.status == 202:
        return r.json()["id"], rcpts, 202
    return None, rcpts, r.status


def status_of(c, jid, cert):
    r = ch.https(c.nginx.port, "GET", "/messages/" + jid, c.pki, cert=cert,
                 headers=c.relay.auth())
    if r.status != 200:
        return None
    return r.json()


def flat(samples, start):
    """(first, last, max) of the samples taken from `start` on."""
    vals = [v for t, v in samples if t >= start] or [samples[-1][1]]
    return vals[0], vals[-1], max(vals)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--rate", type=float, default=3.0)
    ap.add_argument("--report-every", type=int, default=10)
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("soak-chain: needs root (Postfix, OpenDKIM)")
    base = ch.make_base("mail-relay-soak-chain-")
    failures, accepted, refused = [], {}, {}
    c = None
    try:
        c = Chain(base)
        samples = {}
        t0 = time.monotonic()
        restarts = [(0.3, "spoold", signal.SIGTERM),
                    (0.5, "trackd", signal.SIGKILL),
                    (0.7, "relay-fcgi", signal.SIGTERM)]
        if c.hooks:
            restarts.append((0.85, "hookd", signal.SIGKILL))
        i, next_report = 0, 0
        while True:
            now = time.monotonic() - t0
            if now >= a.seconds:
                break
            if restarts and now >= restarts[0][0] * a.seconds:
                _, name, sig = restarts.pop(0)
                c.restart(name, sig)
                print("%5.0fs restarted %s" % (now, name))
            jid, rcpts, code = send(c, i, c.certs[i % CERTS])
            if jid:
                accepted[jid] = rcpts
            else:
                refused[code] = refused.get(code, 0) + 1
            i += 1
            if now >= next_report:
                for name, pid in c.pids().items():
                    st = proc_stat(pid)
                    if st:
                        samples.setdefault(name, []).append((now, st))
                print("%5.0fs sent %d accepted %d sink %d" % (
                    now, i, len(accepted), len(c.sink.messages)))
                next_report += a.report_every
            delay = t0 + i / a.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)   # the schedule of the load, not a wait
        c.postfix.kick()

        # Final statuses, as a caller reads them.
        def final(jid):
            m = status_of(c, jid, c.certs[hash(jid) % CERTS])
            if m is None:
                return False
            got = {r["email"]: r["status"] for r in m["recipients"]}
            return all(got.get(r) == expected(r) for r in accepted[jid])
        pending = set(accepted)

        def settled():
            for jid in list(pending):
                if final(jid):
                    pending.discard(jid)
            c.postfix.kick()
            return not pending
        try:
            ch.wait_for(settled, 300, "every message final", interval=2)
        except AssertionError:
            failures.append("%d messages without their final status, e.g. "
                            "%s" % (len(pending), sorted(pending)[:3]))
        for name, pid in c.pids().items():
            st = proc_stat(pid)
            if st:
                samples.setdefault(name, []).append(
                    (time.monotonic() - t0, st))

        # At the sink: once per delivered recipient (Postfix's bounce
        # notices to the sender arrive there too: not counted).
        got = {}
        for m in c.sink.messages:
            for r in m["rcpt_tos"]:
                if r.lower().endswith("@dest.test"):
                    got[r.lower()] = got.get(r.lower(), 0) + 1
        want = [r for rs in accepted.values() for r in rs
                if expected(r) == "delivered"]
        missing = [r for r in want if got.get(r, 0) == 0]
        twice = [r for r, n in got.items() if n > 1]
        print("messages: %d sent, %d accepted, refused %s; recipients at "
              "the sink %d of %d, %d twice" % (
                  i, len(accepted), refused, len(got), len(want),
                  len(twice)))
        if twice:
            print("delivered twice: %s" % twice[:10])
        if missing:
            failures.append("recipients never delivered: %s" % missing[:5])
        # At least once: a restart may repeat the job in hand.
        if len(twice) > 3:
            failures.append("recipients delivered twice: %s" % twice[:5])
        for state in ("tmp", "pending", "processing"):
            left = c.relay.jobs(state)
            if left:
                failures.append("left in %s/: %s" % (state, left[:3]))

        # Memory and descriptors over time.
        for name, ss in sorted(samples.items()):
            if len(ss) < 2:
                continue
            rss = [(t, s[0]) for t, s in ss]
            fds = [(t, s[1]) for t, s in ss]
            first, last, top = flat(rss, a.seconds * 0.1)
            print("%-14s RSS kB %s; fds %s" % (
                name, " ".join("%d" % v for _, v in rss),
                " ".join("%d" % v for _, v in fds)))
            since = [t for t, _ in ss if t >= a.seconds * 0.1]
            if name in ("spoold", "trackd", "hookd", "relay-fcgi") and \
                    since and top - first > RSS_ALLOW_KB + first * \
                    RSS_ALLOW_FRAC:
                failures.append("%s RSS grew %d -> %d kB" % (name, first,
                                                             top))
            f0, f1, _ = flat(fds, a.seconds * 0.1)
            if f1 > f0 + 8:
                failures.append("%s fds grew %d -> %d" % (name, f0, f1))

        if c.hooks:
            # One event per message sent and per recipient outcome (events
            # are kept by webhook-id: a retried one counts once).
            want_events = {
                "email.sent": len(accepted),
                "email.delivered": len(want),
                "email.bounced": sum(1 for rs in accepted.values()
                                     for r in rs if expected(r) == "bounced"),
                "email.delivery_delayed": sum(
                    1 for rs in accepted.values() for r in rs
                    if r.startswith("defer"))}

            def kinds():
                with c.hooks.lock:
                    events = list(c.hooks.events.values())
                out = {}
                for e in events:
                    out[e["type"]] = out.get(e["type"], 0) + 1
                return out
            try:
                ch.wait_for(lambda: all(kinds().get(k, 0) >= n for k, n in
                                        want_events.items()), 120,
                            "every webhook event", interval=1)
            except AssertionError:
                pass
            got_events = kinds()
            print("webhook events: %s" % got_events)
            for kind, n in want_events.items():
                if got_events.get(kind, 0) != n:
                    failures.append("%s events: %d, expected %d" % (
                        kind, got_events.get(kind, 0), n))
    finally:
        if c is not None:
            c.close()
        if failures or os.environ.get("MAIL_RELAY_KEEP_TEST_DIRS"):
            print("directory kept: %s" % base)
        else:
            ch.remove_base(base)
    for f in failures:
        print("FAIL: " + f)
    print("soak-chain: %s" % ("FAILED" if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
