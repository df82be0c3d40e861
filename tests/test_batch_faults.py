"""POST /emails/batch under injected spool faults and crashes
(tests/helpers/faultinject.so): a fault before the batch's commit refuses
the whole batch (503) and leaves none of its jobs, nor a partial file,
behind; a fault or a SIGKILL of relay-fcgi in the middle of the split
leaves a committed batch that spoold finishes; a SIGKILL of spoold in the
middle of that resumes at its next start.  Whatever happened, every job
of an accepted batch reaches the stand-in sendmail exactly once.  The
crashes are made at an exact call by the shim (kill), never by timing."""

import email
import email.policy
import json
import os
import subprocess

import pytest

from relaystack import SPOOLD, Stack, wait_for
from test_faults import SHIM, Faults

ONE = {"from": "app@example.org", "to": "rcpt@example.net",
       "subject": "batch", "text": "Hello\n" * 20}


@pytest.fixture(scope="module", autouse=True)
def shim():
    if not os.path.exists(SHIM):
        pytest.fail("tests/helpers/faultinject.so is missing: "
                    "make units builds it")


def emails(n, tag):
    return [dict(ONE, subject="%s %d" % (tag, i)) for i in range(n)]


def post(stack, body):
    import requests
    return requests.post(stack.url + "/emails/batch",
                         data=json.dumps(body).encode(), timeout=30,
                         headers={"Content-Type": "application/json",
                                  "Authorization": "Bearer " + stack.token})


def start_fcgi_with(stack, faults):
    saved = dict(os.environ)
    try:
        os.environ.update(faults.env())
        stack.start_fcgi()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def relay():
    """nginx -> relay-fcgi with the shim (faults off); spoold not yet."""
    s = Stack(workers=2)
    s.faults = Faults(s.dir, "fcgi")
    try:
        start_fcgi_with(s, s.faults)
        s.start_nginx()
        yield s
    finally:
        s.close()


def deliveries(stack):
    """Subject -> how many times the stand-in sendmail got it."""
    out = {}
    for name in os.listdir(stack.outbox):
        if not name.endswith(".eml") or name.startswith("."):
            continue            # .*: still being written by the stand-in
        with open(os.path.join(stack.outbox, name), "rb") as f:
            m = email.message_from_bytes(f.read(), policy=email.policy.strict)
        out[m["Subject"]] = out.get(m["Subject"], 0) + 1
    return out


def all_once(stack, tag, n):
    want = {"%s %d" % (tag, i) for i in range(n)}
    wait_for(lambda: want <= set(deliveries(stack)), 20,
             what="every job of batch %s delivered" % tag)
    got = deliveries(stack)
    assert {k: v for k, v in got.items() if k in want} == \
        {k: 1 for k in want}, got


def settled(stack):
    return stack.jobs("batch") == [] and stack.jobs("tmp") == []


BEFORE_COMMIT = [
    ("write-batch-ENOSPC", dict(funcs="write", errno="ENOSPC", after=1,
                                path="*/spool/tmp/batch.*")),
    ("short-then-EIO", dict(funcs="write", errno="EIO", short=1, after=2,
                            path="*/spool/tmp/batch.*")),
    ("fsync-batch-EIO", dict(funcs="fsync", errno="EIO",
                             path="*/spool/tmp/batch.*")),
    ("rename-into-batch-EIO", dict(funcs="renameat2", errno="EIO",
                                   path="*/spool/batch/*")),
    ("fsync-batch-dir-EIO", dict(funcs="fsync", errno="EIO",
                                 path="*/spool/batch")),
    ("create-batch-EMFILE", dict(funcs="openat", errno="EMFILE",
                                 path="*/spool/tmp/batch.*")),
]


@pytest.mark.parametrize("name,fault", BEFORE_COMMIT,
                         ids=[n for n, _ in BEFORE_COMMIT])
def test_fault_before_the_commit_leaves_nothing(relay, name, fault):
    relay.faults.set(**fault)
    try:
        r = post(relay, emails(10, name))
    finally:
        relay.faults.clear()
    assert relay.faults.injected(), "the fault never fired"
    assert r.status_code == 503, r.text
    assert r.json()["name"] == "application_error"
    assert r.headers["Retry-After"].isdigit()
    assert relay.jobs("pending") == [], "a job of a refused batch is left"
    assert settled(relay), (relay.jobs("batch"), relay.jobs("tmp"))
    # the fault is gone: the same batch goes through, and out once each
    r = post(relay, emails(10, name))
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]) == 10
    relay.start_spoold()
    all_once(relay, name, 10)


def test_fault_in_the_split_is_finished_by_spoold(relay):
    """Committed, then the third job's rename fails: the answer is still
    200 with every id (they are durable in the batch file); spoold, told
    by the batch file's close, splits the rest."""
    relay.start_spoold()
    relay.faults.set(funcs="renameat2", errno="EIO", after=2, times=1,
                     path="*/spool/pending/*")
    try:
        r = post(relay, emails(8, "split-fault"))
    finally:
        relay.faults.clear()
    assert relay.faults.injected()
    assert r.status_code == 200, r.text
    ids = [x["id"] for x in r.json()["data"]]
    assert len(ids) == 8
    all_once(relay, "split-fault", 8)
    wait_for(lambda: settled(relay), what="batch/ and tmp/ empty")
    assert "split 6 jobs from interrupted batches" in relay.log("spoold.log")
    got = set()
    for name in os.listdir(relay.outbox):
        if name.endswith(".eml") and not name.startswith("."):
            raw = open(os.path.join(relay.outbox, name), "rb").read()
            got |= {j for j in ids if ("<%s@relay.test>" % j).encode()
                    in raw}
    assert got == set(ids)          # the ids answered are the ids sent


def test_relay_killed_mid_split_then_spoold_killed_mid_resume(relay):
    """relay-fcgi dies (SIGKILL) on the fourth job's rename: nginx gives
    502, the batch is committed.  spoold then dies on its second rename
    while resuming the split at start; the next spoold finishes it.
    Every job goes out once: none lost, none made twice."""
    relay.faults.set(funcs="renameat2", kill=1, after=3,
                     path="*/spool/pending/*")
    r = post(relay, emails(10, "crash"))
    assert r.status_code == 502, r.text
    wait_for(lambda: relay.procs["fcgi"].poll() is not None, what="kill")
    assert any(" kill " in x for x in relay.faults.injected())
    assert len(relay.jobs("batch")) == 1
    assert len(relay.jobs("pending")) == 3
    # spoold, killed at its second split rename (before any delivery)
    sf = Faults(relay.dir, "spoold")
    sf.set(funcs="renameat2", kill=1, after=1, path="*/spool/pending/*")
    env = dict(os.environ, **sf.env())
    with open(os.path.join(relay.dir, "spoold.log"), "ab") as log:
        p = subprocess.Popen([SPOOLD, "-d", "-c", relay.conf_path],
                             stdout=log, stderr=log, env=env)
    assert p.wait(20) == -9
    assert len(relay.jobs("pending")) == 4
    assert len(relay.jobs("batch")) == 1
    assert deliveries(relay) == {}
    relay.start_spoold()
    all_once(relay, "crash", 10)
    wait_for(lambda: settled(relay), what="batch/ and tmp/ empty")
    assert "split 6 jobs from interrupted batches" in relay.log("spoold.log")


def test_relay_killed_while_spoold_runs(relay):
    """spoold is up and delivering the jobs relay-fcgi split before it
    died; the close of the dead process's batch file tells spoold, which
    splits only the rest: those already sent are never made again."""
    relay.start_spoold()
    relay.faults.set(funcs="renameat2", kill=1, after=5,
                     path="*/spool/pending/*")
    r = post(relay, emails(9, "live"))
    assert r.status_code == 502, r.text
    all_once(relay, "live", 9)
    wait_for(lambda: settled(relay), what="batch/ and tmp/ empty")
