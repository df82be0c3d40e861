#!/usr/bin/python3
"""Load and soak: a steady rate of POST /send through nginx -> relay-fcgi
-> spool, with spoold draining into tests/helpers/fake-sendmail, on loopback.

    tests/soak.py [--seconds 60] [--rate 200] [--clients 8] [--flat-from 10]

(`make soak` runs it for SOAK_SECONDS at SOAK_RATE.)  It stops by itself
and checks, printing a summary and exiting 1 on any failure:

  - every request answered 202: zero 5xx, zero other answers;
  - every accepted job delivered exactly once (none lost, none twice, none
    that was not accepted), the spool empty at the end;
  - the resident memory of relay-fcgi, spoold and every nginx process flat
    from the --flat-from'th second to the end (growth within a small
    allowance for allocator noise);
  - their open file descriptors flat: within the in-flight bound during
    the load, and back to exactly the idle count of before the load once
    the queue is drained.

tests/test_crash.py runs a short version of the same checks in the
default suite (run() below).
"""

import argparse
import http.client
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from relaystack import Stack, connections, wait_for  # noqa: E402
from spoolhelp import sanitized  # noqa: E402

RSS_ALLOW_KB = 1024         # allocator noise allowed on top of...
RSS_ALLOW_FRAC = 0.02       # ... this fraction of the size at flat-from
MSGID_RE = re.compile(rb"^Message-ID: <([0-9a-f]{13}-[0-9a-f]{16})@", re.M)


def proc_stat(pid):
    """(resident kB, open fds) of a process, or None once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))
        return rss, len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, AttributeError):
        return None


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return out


class Load:
    """clients threads share one schedule: request i is due at i / rate."""

    def __init__(self, stack, seconds, rate, clients):
        self.stack = stack
        self.total = int(seconds * rate)
        self.rate = rate
        self.clients = clients
        self.lock = threading.Lock()
        self.next = 0
        self.results = []           # (i, status, job id or None, seconds)
        self.errors = []

    def body(self, i):
        return json.dumps({
            "from": "app@example.org",
            "to": ["rcpt%d@example.net" % (i % 97), "second@example.net"],
            "bcc": "audit@example.org",
            "subject": "soak %d" % i,
            "text": ("Message %d of the soak test.\n" % i) * 20,
            "html": "<p>Message %d</p>\n" % i,
        }).encode()

    def client(self):
        conn = None
        headers = {"Content-Type": "application/json",
                   "Authorization": "Bearer " + self.stack.token}
        while True:
            with self.lock:
                i = self.next
                self.next += 1
            if i >= self.total:
                break
            delay = self.t0 + i / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)       # the schedule: rate requests/s
            t = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(
                        "127.0.0.1", self.stack.port, timeout=30)
                conn.request("POST", "/send", self.body(i), headers)
                r = conn.getresponse()
                data = r.read()
                jid = None
                if r.status == 202:
                    jid = json.loads(data)["id"]
                self.results.append((i, r.status, jid, time.monotonic() - t))
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                self.errors.append((i, repr(e)))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def run(self):
        self.t0 = time.monotonic()
        threads = [threading.Thread(target=self.client)
                   for _ in range(self.clients)]
        for t in threads:
            t.start()
        return threads


class Sampler(threading.Thread):
    """Once a second: RSS and fd count of every process of the stack."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids            # name -> pid
        self.samples = []           # (seconds since start, {name: (rss, fds)})
        self.stop = threading.Event()

    def run(self):
        t0 = time.monotonic()
        while not self.stop.is_set():
            snap = {n: proc_stat(p) for n, p in self.pids.items()}
            self.samples.append((time.monotonic() - t0, snap))
            self.stop.wait(1.0)


def stack_pids(stack):
    pids = {"relay-fcgi": stack.procs["fcgi"].pid,
            "spoold": stack.procs["spoold"].pid,
            "nginx-master": stack.procs["nginx"].pid}
    for k, p in enumerate(sorted(children(stack.procs["nginx"].pid))):
        pids["nginx-worker%d" % k] = p
    return pids


def quiet(pids):
    """Nothing in flight: no connection open in any process of the stack,
    no sendmail running under spoold."""
    return (all(connections(p) == 0 for p in pids.values()
                if proc_stat(p) is not None) and
            not children(pids["spoold"]))


def idle_counts(pids, timeout=10):
    """fd counts once nothing is in flight (or, past timeout, as they are:
    what is still open shows in the comparison)."""
    try:
        wait_for(lambda: quiet(pids), timeout, "the stack to go quiet")
    except AssertionError:
        pass
    best = {}
    for n, p in pids.items():
        s = proc_stat(p)
        if s is not None:
            best[n] = s[1]
    return best


def delivered_ids(outbox):
    got = {}
    for name in os.listdir(outbox):
        if not name.endswith(".eml") or name.startswith("."):
            continue
        with open(os.path.join(outbox, name), "rb") as f:
            m = MSGID_RE.search(f.read(4096))
        jid = m.group(1).decode() if m else "?" + name
        got[jid] = got.get(jid, 0) + 1
    return got


def check_flat(samples, flat_from, in_flight, idle_before, idle_after,
               skip_rss=()):
    """Failures of the memory and fd checks, as strings."""
    fails = []
    names = sorted({n for _, s in samples for n in s})
    for n in names:
        series = [(t, s[n]) for t, s in samples
                  if t >= flat_from and s.get(n) is not None]
        if len(series) < 2:
            continue
        rss0 = series[0][1][0]
        rss_max = max(v[0] for _, v in series)
        allow = RSS_ALLOW_KB + int(rss0 * RSS_ALLOW_FRAC)
        if n not in skip_rss and rss_max - rss0 > allow:
            fails.append("%s: RSS grew from %d kB to %d kB after %ds "
                         "(allowed +%d kB)" % (n, rss0, rss_max, flat_from,
                                               allow))
        fds = [v[1] for _, v in series]
        if max(fds) - min(fds) > in_flight:
            fails.append("%s: fds ranged %d..%d under load (in-flight bound "
                         "%d)" % (n, min(fds), max(fds), in_flight))
        if n in idle_before and idle_after.get(n) != idle_before[n]:
            fails.append("%s: %d fds idle after the load, %d before" % (
                n, idle_after.get(n, -1), idle_before[n]))
    return fails


def run(seconds=60, rate=200, clients=8, flat_from=10, workers=4,
        drain_timeout=60, out=sys.stdout):
    """Runs the load; returns (ok, report lines)."""
    stack = Stack(workers=workers, conf={"max_pending": "1000000"})
    report = []
    try:
        stack.start_fcgi()
        stack.start_nginx()
        stack.start_spoold()
        # Warm up every worker and allocator arena, then let it drain.
        warm = Load(stack, 1, min(rate, 100), clients)
        for t in warm.run():
            t.join()
        assert all(s == 202 for _, s, _, _ in warm.results), warm.results
        wait_for(lambda: len(delivered_ids(stack.outbox)) ==
                 len(warm.results), 30, "warm-up drain")
        pids = stack_pids(stack)
        idle_before = idle_counts(pids)

        sampler = Sampler(pids)
        sampler.start()
        load = Load(stack, seconds, rate, clients)
        t_start = time.monotonic()
        for t in load.run():
            t.join()
        elapsed = time.monotonic() - t_start
        accepted = {jid for _, s, jid, _ in load.results if s == 202}
        accepted |= {jid for _, s, jid, _ in warm.results if s == 202}

        def drained():
            return (not stack.jobs("pending") and
                    not stack.jobs("processing") and
                    sum(delivered_ids(stack.outbox).values()) >=
                    len(accepted))
        try:
            wait_for(drained, drain_timeout, "drain")
        except AssertionError:
            pass
        sampler.stop.set()
        sampler.join()
        idle_after = idle_counts(pids)

        statuses = {}
        for _, s, _, _ in load.results:
            statuses[s] = statuses.get(s, 0) + 1
        lat = sorted(x for _, _, _, x in load.results)
        got = delivered_ids(stack.outbox)
        lost = accepted - set(got)
        dups = {j: n for j, n in got.items() if n > 1}
        unknown = set(got) - accepted

        report.append("load: %d requests in %.1fs (%.0f/s target %d/s), "
                      "%d clients, %d relay workers" % (
                          len(load.results), elapsed,
                          len(load.results) / elapsed, rate, clients,
                          workers))
        report.append("answers: %s; transport errors: %d" % (
            " ".join("%d=%d" % kv for kv in sorted(statuses.items())),
            len(load.errors)))
        if lat:
            report.append("latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms"
                          % (lat[len(lat) // 2] * 1e3,
                             lat[int(len(lat) * 0.99)] * 1e3, lat[-1] * 1e3))
        report.append("delivered: %d distinct of %d accepted; lost %d, "
                      "duplicated %d, unknown %d" % (
                          len(got), len(accepted), len(lost), len(dups),
                          len(unknown)))
        for n in sorted(pids):
            ser = [(t, s[n]) for t, s in sampler.samples
                   if s.get(n) is not None]
            if ser:
                after = [v for t, v in ser if t >= flat_from] or [ser[-1][1]]
                report.append("%-14s RSS %6d -> %6d kB (max %6d after %ds), "
                              "fds %d..%d, idle %s -> %s" % (
                                  n, ser[0][1][0], ser[-1][1][0],
                                  max(v[0] for v in after), flat_from,
                                  min(v[1] for _, v in ser),
                                  max(v[1] for _, v in ser),
                                  idle_before.get(n), idle_after.get(n)))

        fails = []
        if len(load.results) != load.total or load.errors:
            fails.append("%d of %d requests answered; errors: %s" % (
                len(load.results), load.total, load.errors[:5]))
        if set(statuses) - {202}:
            fails.append("answers other than 202: %s" % statuses)
        if lost:
            fails.append("lost jobs: %s" % sorted(lost)[:10])
        if dups:
            fails.append("duplicated jobs: %s" % sorted(dups)[:10])
        if unknown:
            fails.append("delivered but never accepted: %s" %
                         sorted(unknown)[:10])
        if stack.jobs("pending") or stack.jobs("processing") or \
                stack.jobs("failed") or stack.jobs("tmp"):
            fails.append("spool not empty at the end")
        asan = [n for n, p in pids.items() if sanitized(p)]
        if asan:
            report.append("RSS not checked for %s: sanitizer build" %
                          ", ".join(asan))
        # In flight at most: per client a connection to nginx and one
        # from nginx to relay-fcgi; spoold's pipe, pidfd and job file.
        fails += check_flat(sampler.samples, flat_from,
                            2 * clients + workers + 4, idle_before,
                            idle_after, asan)
        for name in ("relay-fcgi", "spoold"):
            if stack.procs["fcgi" if name == "relay-fcgi" else
                           "spoold"].poll() is not None:
                fails.append("%s died" % name)
        report += ["FAIL: " + f for f in fails]
        report.append("soak: " + ("FAILED" if fails else "ok"))
        return not fails, report
    finally:
        stack.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--flat-from", type=float, default=10)
    a = ap.parse_args()
    ok, report = run(a.seconds, a.rate, a.clients, a.flat_from, a.workers)
    print("\n".join(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
