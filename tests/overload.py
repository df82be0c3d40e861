#!/usr/bin/python3
"""Overload through nginx: more than the relay can take, and slow clients.

    tests/overload.py [--seconds 30] [--factor 4] [--slow 1000]

(`make overload` runs it.)  On loopback, nginx -> relay-fcgi -> spool:

 1. calibrate: the durable POST /send rate R with 16 connections;
 2. overload: wrk offers factor x R for --seconds (connections paced by
    delay(), many more of them than relay-fcgi has workers), while the
    resident memory of relay-fcgi is sampled;
 3. recovery: the latency of single requests right after the load;
 4. slow clients: --slow connections each trickling a request body one
    byte a second, while ordinary requests go on being answered: nginx
    buffers a body before the FastCGI hop, so they hold no worker.

It checks, printing figures and exiting 1 on any failure: every request
answered (202, or 503 with Retry-After; no timeout, no socket error, no
other status); every 202 a complete job in pending/ and every job in
pending/ answered 202 (none lost, none twice, none unanswered); nothing
left in tmp/; relay-fcgi's RSS flat after the first seconds; the relay
every request sent during the slow clients answered 202.  Figures, not
thresholds, for speed: the report says what was offered and taken, the
latency during and right after the load.
"""

import argparse
import json
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from relaystack import Stack  # noqa: E402
from soak import proc_stat  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "overload.lua")
RSS_ALLOW_KB = 1024
BODY = {"from": "app@example.org", "to": ["a@example.net", "b@example.net"],
        "subject": "Your order 1234 has shipped",
        "text": "Hello,\n\n" + "Your order is on its way. " * 40 + "\n",
        "html": "<p>Hello,</p><p>" + "Your order is on its way. " * 40 +
        "</p>"}


def wrk(stack, outdir, seconds, conns, delay_ms):
    for f in os.listdir(outdir):
        if f.startswith("ids."):
            os.unlink(os.path.join(outdir, f))
    env = dict(os.environ, OVERLOAD_DIR=outdir, OVERLOAD_TOKEN=stack.token,
               OVERLOAD_DELAY_MS=str(delay_ms))
    r = subprocess.run(["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds,
                        "--timeout", "60s", "-s", LUA, stack.url + "/send"],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("wrk failed: " + r.stderr)
    out = {"status": {}}
    for line in r.stdout.splitlines():
        w = line.split()
        if w and w[0] == "status":
            out["status"][int(w[1])] = int(w[2])
        elif w and w[0] == "errors":
            out["errors"] = [int(x) for x in w[1:]]
        elif w and w[0] == "latency_us":
            out["p50"], out["p99"], out["max"] = (int(x) / 1000 for x in w[1:])
        elif w and w[0] == "requests":
            out["requests"], out["seconds"] = int(w[1]), float(w[3])
    ids = []
    for f in os.listdir(outdir):
        if f.startswith("ids."):
            with open(os.path.join(outdir, f)) as fh:
                ids += [x for x in fh.read().split("\n") if x]
    out["ids"] = ids
    return out


def settle(stack):
    """Waits until relay-fcgi has finished what wrk left behind: the job
    count and nginx's log stop changing (checked every half second)."""
    last = None
    for _ in range(240):
        now = (len(stack.jobs()), len(stack.log("access.log")))
        if now == last:
            return
        last = now
        time.sleep(0.5)     # the period of the check above


def single_latency(stack):
    t0 = time.monotonic()
    r = stack.send(BODY)
    return r.status_code, time.monotonic() - t0


def slow_clients(stack, n, seconds):
    """n connections trickling a body; returns how many stayed open."""
    body = json.dumps(BODY).encode()
    head = ("POST /send HTTP/1.1\r\nHost: x\r\nContent-Type: "
            "application/json\r\nAuthorization: Bearer %s\r\n"
            "Content-Length: %d\r\n\r\n" % (stack.token, len(body))).encode()
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", stack.port))
        s.sendall(head)
        socks.append(s)
    answers = []
    stop = threading.Event()

    def ordinary():
        while not stop.is_set():
            answers.append(stack.send(BODY).status_code)
    t = threading.Thread(target=ordinary)
    t.start()
    for i in range(seconds):
        for s in socks:
            s.send(body[i:i + 1])
        time.sleep(1)       # the trickle itself: one byte a second
    stop.set()
    t.join()
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            s.recv(1)       # an answer or a close: cut off
        except BlockingIOError:
            alive += 1      # still waiting for its body, as it should
        except OSError:
            pass
        s.close()
    return alive, answers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--factor", type=float, default=4)
    ap.add_argument("--slow", type=int, default=1000)
    ap.add_argument("--slow-seconds", type=int, default=10)
    a = ap.parse_args()
    failures = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (16384, 16384))
    stack = Stack(conf={"max_pending": "60000"}, workers=16,
                  nginx_connections=4096)
    try:
        stack.start()
        outdir = stack.dir
        with open(os.path.join(outdir, "body.json"), "w") as f:
            json.dump(BODY, f)
        pid = stack.procs["fcgi"].pid

        cal = wrk(stack, outdir, 5, 16, 0)
        rate = cal["status"].get(202, 0) / cal["seconds"]
        conns = 900
        offered = a.factor * rate
        delay = max(1, int(conns * 1000 / offered))
        print("calibration: %.0f req/s durable (p50 %.1f ms, p99 %.1f ms)"
              % (rate, cal["p50"], cal["p99"]))

        rss, stop = [], threading.Event()

        def sample():
            while not stop.is_set():
                st = proc_stat(pid)
                if st:
                    rss.append((time.monotonic(), st[0]))
                time.sleep(0.5)     # the sampling period, not a wait
        sampler = threading.Thread(target=sample)
        sampler.start()
        t0 = time.monotonic()
        ov = wrk(stack, outdir, a.seconds, conns, delay)
        stop.set()
        sampler.join()
        after = [single_latency(stack) for _ in range(20)]
        normal = max(0.05, 3 * cal["p99"] / 1000)
        back = next((i for i, (c, s) in enumerate(after) if s < normal),
                    None)
        print("overload: offered %.0f req/s over %d connections for %d s; "
              "answered %d (%.0f/s): %s" % (
                  offered, conns, a.seconds, ov["requests"],
                  ov["requests"] / ov["seconds"],
                  ", ".join("%d x %d" % (n, c)
                            for c, n in sorted(ov["status"].items()))))
        print("overload latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms; "
              "errors connect/read/write/timeout/status %s"
              % (ov["p50"], ov["p99"], ov["max"], ov["errors"]))
        print("after the load: first request %.1f ms, normal again after "
              "%s requests; latencies ms %s" % (
                  after[0][1] * 1000, back,
                  [round(s * 1000, 1) for _, s in after[:5]]))
        if rss:
            settled = [k for t, k in rss if t - t0 >= 5] or [rss[-1][1]]
            print("relay-fcgi RSS kB: start %d, at 5 s %d, max %d, end %d"
                  % (rss[0][1], settled[0], max(k for _, k in rss),
                     rss[-1][1]))
            if max(settled) - settled[0] > RSS_ALLOW_KB:
                failures.append("relay-fcgi RSS grew after 5 s")

        bad = {c: n for c, n in ov["status"].items() if c not in (202, 503)}
        if bad:
            failures.append("answers other than 202/503: %s" % bad)
        if any(ov["errors"]):
            failures.append("socket errors or timeouts: %s" % ov["errors"])
        ids = cal["ids"] + ov["ids"]
        accepted = set(ids)
        if len(accepted) != len(ids):
            failures.append("an id answered 202 twice")
        settle(stack)
        jobs = set(stack.jobs())
        later = sum(1 for c, _ in after if c == 202)
        # wrk closes its connections at the end with requests in flight.
        # nginx logs each request with the job id relay-fcgi answered:
        # 202 when it had passed the answer on (the client may have gone
        # already), 499 when the client left first.  Every job on disk
        # must be one of those; every 202 wrk saw, a job on disk.
        by_status = {}
        for line in stack.log("access.log").splitlines():
            m = re.search(r'" (\d+) \d+ caller=\S* id=(\S*)$', line)
            if m:
                by_status.setdefault(m.group(1), []).append(m.group(2))
        logged202 = set(by_status.get("202", []))
        left = by_status.get("499", [])
        extra = jobs - logged202
        print("jobs on disk %d: wrk saw %d + %d answers 202, nginx logged "
              "%d x 202 and %d x 499; %d jobs of clients that left first" % (
                  len(jobs), len(accepted), later, len(logged202), len(left),
                  len(extra)))
        if not logged202 <= jobs or len(extra) > len(left):
            failures.append("jobs on disk do not match the answers")
        if not accepted <= jobs:
            failures.append("%d accepted jobs missing" % len(accepted - jobs))
        if stack.jobs("tmp"):
            failures.append("files left in tmp/")

        alive, answers = slow_clients(stack, a.slow, a.slow_seconds)
        print("slow clients: %d of %d still sending after %d s; %d ordinary "
              "requests answered meanwhile: %s" % (
                  alive, a.slow, a.slow_seconds, len(answers),
                  sorted(set(answers))))
        if not answers or set(answers) - {202, 503}:
            failures.append("ordinary requests not answered during the "
                            "slow clients")
        if alive < a.slow * 0.9:
            failures.append("slow clients were cut off: %d" % alive)
        if re.search(r"ThreadSanitizer|AddressSanitizer",
                     stack.log("relay-fcgi.log")):
            failures.append("a sanitizer report in relay-fcgi's log")
    finally:
        stack.close()
    for f in failures:
        print("FAIL: " + f)
    print("overload: %s" % ("FAILED" if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
