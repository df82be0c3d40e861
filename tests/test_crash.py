"""Crash and restart, and a short load run.

kill -9 of relay-fcgi in the middle of concurrent sends (the fault shim
slows its writes so the kills land inside them): every 202 has its job
intact on disk, every other request got an error or no answer, nothing
half-written is ever in pending/, and the partial files a kill leaves in
tmp/ are never delivered and are removed by spoold once stale.

kill -9 of spoold at random points of a drain where a quarter of the
deliveries fail temporarily (so kills also land in deferrals, slowed by
the shim): every job is delivered at least once, none is lost or failed,
and every duplicate is a job spoold logged as recovered, i.e. the one in
hand at a kill.  (tests/test_spoold.py kills a plain drain; this adds the
deferral path and ties each duplicate to a kill.)

A five-second version of tests/soak.py: zero 5xx, nothing lost or
doubled, file descriptors back to their idle count."""

import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

import soak
from relaystack import RELAY_FCGI, ROOT, Stack, wait_for
from spoolhelp import FAKE, Spool, running
from spoolhelp import wait_for as sp_wait_for
from test_faults import Faults, check_job_file

SHIM = os.path.join(ROOT, "tests", "helpers", "faultinject.so")


@pytest.fixture(scope="module", autouse=True)
def shim():
    if not os.path.exists(SHIM):
        pytest.fail("tests/helpers/faultinject.so is missing: "
                    "make units builds it")


def start_fcgi_with(stack, env):
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        return stack.start_fcgi()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def body_for(tag):
    return {"from": "app@example.org", "to": "rcpt@example.net",
            "bcc": "hidden@example.org", "subject": tag,
            "text": ("%s: the text of this message.\n" % tag) * 400}


def test_kill9_relay_during_concurrent_sends():
    s = Stack(workers=4)
    faults = Faults(s.dir)
    # Every write to tmp/ is cut in halves and every write and fsync there
    # waits 2 ms: a job takes tens of ms to write, so kills land inside.
    faults.set(funcs="write,fsync", short=1, delay=2, times=0,
               path="*/spool/tmp/*")
    answers = []            # (tag, status or exception name, job id)
    lock = threading.Lock()
    rnd = random.Random(os.getpid())
    try:
        start_fcgi_with(s, faults.env())
        s.start_nginx()
        for rnd_no in range(3):
            if rnd_no > 0:
                start_fcgi_with(s, faults.env())
            stop = threading.Event()

            def client(c):
                k = 0
                while not stop.is_set():
                    tag = "crash r%d c%d n%d" % (rnd_no, c, k)
                    k += 1
                    try:
                        r = s.send(body_for(tag))
                        jid = r.json()["id"] if r.status_code == 202 \
                            else None
                        res = (tag, r.status_code, jid)
                    except (requests.RequestException, ValueError) as e:
                        res = (tag, type(e).__name__, None)
                    with lock:
                        answers.append(res)
            threads = [threading.Thread(target=client, args=(c,))
                       for c in range(8)]
            for t in threads:
                t.start()

            def answered(pred, since=0):
                with lock:
                    return any(pred(st) for _, st, _ in answers[since:])
            # Under load (a request accepted this round), then the kill
            # at a random moment: the random delay is the test.
            n0 = len(answers)
            wait_for(lambda: answered(lambda st: st == 202, n0), 10,
                     "a request accepted")
            time.sleep(rnd.uniform(0.1, 0.4))
            s.procs["fcgi"].send_signal(signal.SIGKILL)
            s.procs["fcgi"].wait()
            # The clients see the relay gone before they stop.
            n1 = len(answers)
            wait_for(lambda: answered(lambda st: st != 202, n1), 10,
                     "a request refused")
            stop.set()
            for t in threads:
                t.join()
            del s.procs["fcgi"]

        ok = {jid: tag for tag, st, jid in answers if st == 202}
        others = [st for _, st, _ in answers if st != 202]
        assert ok, "no request was accepted"
        assert others, "no request was cut off: the kills hit nothing"
        assert set(others) <= {502, 503, 504, "ConnectionError",
                               "ReadTimeout", "ChunkedEncodingError"}, \
            set(others)
        # Every 202 is intact; every job on disk is complete and ours.
        sent = {tag for tag, _, _ in answers}
        pending = s.jobs("pending")
        assert set(ok) <= set(pending), "an accepted job is missing"
        for jid in pending:
            fields, m = check_job_file(os.path.join(s.spool, "pending", jid))
            tag = str(m["Subject"])
            assert tag in sent
            assert m.get_content() == body_for(tag)["text"]
            assert fields["rcpt"] == ["rcpt@example.net",
                                      "hidden@example.org"]
            if jid in ok:
                assert ok[jid] == tag
        # What the kills left in tmp/ is never delivered, and goes once
        # stale (spool(5): an hour).
        leftovers = s.jobs("tmp")
        old = time.time() - 7200
        for name in leftovers:
            os.utime(os.path.join(s.spool, "tmp", name), (old, old))
        s.start_spoold()
        wait_for(lambda: not s.jobs("pending") and
                 len([n for n in os.listdir(s.outbox)
                      if n.endswith(".eml")]) >= len(pending), 30, "drain")
        # Nothing more can come once spoold and its sendmails are gone.
        s.stop("spoold")
        sp_wait_for(lambda: not running(s.outbox), 10, "sendmail children")
        # Checked with spoold stopped: while it runs, the delivery record
        # it writes passes through tmp/ too.
        assert s.jobs("tmp") == [], "stale tmp/ files not removed"
        got = set()
        for name in os.listdir(s.outbox):
            if name.endswith(".eml"):
                with open(os.path.join(s.outbox, name), "rb") as f:
                    got.add(re.search(rb"^Message-ID: <([^@]+)@", f.read(),
                                      re.M).group(1).decode())
        assert got == set(pending)
    finally:
        s.close()


RANDOM_TEMPFAIL = """#!/bin/sh
# A quarter of the calls fail temporarily, without delivering.
r=$(od -An -N1 -tu1 /dev/urandom)
if [ "$r" -lt 64 ]; then
	cat >/dev/null
	echo "4.3.0 try again" >&2
	exit 75
fi
exec %s -D %s "$@"
"""


def test_kill9_spoold_during_drain_with_deferrals(tmp_path):
    sp = Spool(tmp_path, max_attempts="1000", backoff_initial="1s",
               backoff_max="1s", sendmail_timeout="5s")
    try:
        wrapper = os.path.join(sp.dir, "sendmail")
        with open(wrapper, "w") as f:
            f.write(RANDOM_TEMPFAIL % (FAKE, sp.outbox))
        os.chmod(wrapper, 0o755)
        sp.write_conf(sendmail=wrapper)
        faults = Faults(sp.dir)
        # State changes slowed down: kills land inside claims and
        # deferrals (tmp write, fsync, rename, directory fsync).
        faults.set(funcs="fsync,renameat,renameat2", delay=3, times=0,
                   path="*/spool/*")
        ids = sp.add_many(80)
        rnd = random.Random(os.getpid())
        kills = 10
        for _ in range(kills):
            p = sp.spoold(env=faults.env())
            time.sleep(rnd.uniform(0.05, 0.35))     # the kill lands at random
            p.kill()
            p.wait()
        p = sp.spoold(env=faults.env())
        sp_wait_for(lambda: not sp.jobs() and not sp.jobs("processing")
                    and set(ids) <= set(sp.delivered()), 60, "final drain")
        assert sp.stop(p) == 0
        # Children of killed spoolds finish: wait for them.
        sp_wait_for(lambda: not running(sp.dir), 10, "sendmail children")
        got = sp.delivered()
        assert set(ids) <= set(got), "lost: %s" % (set(ids) - set(got))
        assert set(got) <= set(ids)
        assert sp.jobs("failed") == []
        dups = {j: len(v) - 1 for j, v in got.items() if len(v) > 1}
        assert sum(dups.values()) <= kills, dups
        recovered = set(re.findall(r"job=(\S+) recovered", sp.log()))
        assert set(dups) <= recovered, \
            "duplicates of jobs not in hand at a kill: %s" % (
                set(dups) - recovered)
        deferred = set(re.findall(r"job=(\S+) deferred", sp.log()))
        assert deferred, "no deferral happened"
        # A kill inside a deferral may leave tmp/<id>: never a job, and
        # removed at a start once stale.
        old = time.time() - 7200
        for name in sp.jobs("tmp"):
            assert name in ids
            os.utime(os.path.join(sp.spool, "tmp", name), (old, old))
        assert sp.once() == 0
        assert sp.jobs("tmp") == []
    finally:
        sp.close()


def test_relay_sigterm_while_starting_exits():
    """SIGTERM while relay-fcgi is still starting must stop it (now, or
    once it is up), never leave it running without serving.  libfcgi's
    FCGX_Init installs a SIGTERM handler that only marks a shutdown as
    pending; relay-fcgi blocks TERM for its sigwait loop later.  The shim
    holds the start at the unlink of a stale socket, after FCGX_Init."""
    s = Stack()
    try:
        sock = os.path.join(s.dir, "relay.sock")
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(sock)
        stale.close()
        faults = Faults(s.dir)
        faults.set(funcs="unlink", delay=600, times=0, path=sock)
        log = open(os.path.join(s.dir, "relay-fcgi.log"), "ab")
        p = subprocess.Popen([RELAY_FCGI, "-d", "-c", s.conf_path, "-s",
                              sock], stdout=log, stderr=log,
                             env=dict(os.environ, **faults.env()))
        s.procs["fcgi"] = p         # s.close() stops it whatever happens
        # The shim logs the delay as it starts it: from here on relay-fcgi
        # is held inside its start.
        wait_for(lambda: faults.injected() or p.poll() is not None, 5,
                 "the held start")
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(4)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            pytest.fail("relay-fcgi ignored SIGTERM received while starting "
                        "and kept running without serving:\n" +
                        s.log("relay-fcgi.log")[-500:])
    finally:
        s.close()


def test_stack_spoold_delivers_into_outbox():
    """The harness the tests above rely on: Stack.start(spoold=True)
    delivers into the stand-in's outbox.  spoold gives sendmail PATH and
    MAIL_CONFIG only, so the outbox must reach it by argument."""
    s = Stack()
    try:
        s.start(spoold=True)
        r = s.send(body_for("stack e2e"))
        assert r.status_code == 202
        wait_for(lambda: not s.jobs("pending") and
                 not s.jobs("processing"), 5, "drain")
        assert s.jobs("failed") == [], s.log("spoold.log")
        assert any(n.endswith(".eml") for n in os.listdir(s.outbox))
    finally:
        s.close()


def test_short_soak():
    ok, report = soak.run(seconds=5, rate=100, clients=4, flat_from=2,
                          drain_timeout=120)
    assert ok, "\n".join(report)
