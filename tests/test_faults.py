"""Fault injection: open, write, fsync and rename failing with ENOSPC, EIO
or EMFILE (tests/helpers/faultinject.so, an LD_PRELOAD shim), sendmail
missing or broken, and a real full disk.

relay-fcgi under a fault: the client gets 503 with Retry-After, nothing
partial or orphaned is ever in pending/, tmp/ is clean, no fd leaks, and
the relay takes mail again once the fault is gone.  spoold under a fault
in a state change: the job stays in one state (a deferral cut short may
leave the older copy in processing/ until the next claim or restart, as
spool(5) says), keeps its history, and is delivered once the fault is
gone."""

import contextlib
import email
import email.policy
import os
import shutil
import subprocess
import time

import pytest

from relaystack import ROOT, Stack, connections, wait_for
from spoolhelp import FAKE, Spool, new_id, parse_job, running
from spoolhelp import wait_for as sp_wait_for

SHIM = os.path.join(ROOT, "tests", "helpers", "faultinject.so")
MSG = {"from": "app@example.org", "to": "rcpt@example.net",
       "subject": "fault test", "text": "Hello\n" * 200}


@pytest.fixture(scope="module", autouse=True)
def shim():
    if not os.path.exists(SHIM):
        pytest.fail("tests/helpers/faultinject.so is missing: "
                    "make units builds it")


class Faults:
    """A control file for the shim; one fault set at a time."""

    def __init__(self, directory, name="fi"):
        self.path = os.path.join(directory, name + ".control")
        self.log_path = os.path.join(directory, name + ".log")

    def env(self):
        return {"LD_PRELOAD": SHIM, "FI_CONTROL": self.path,
                "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                ":verify_asan_link_order=0"}

    def set(self, **kv):
        kv.setdefault("log", self.log_path)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            for k, v in kv.items():
                f.write("%s %s\n" % (k, v))
        os.rename(tmp, self.path)

    def clear(self):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def injected(self):
        try:
            with open(self.log_path) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    @contextlib.contextmanager
    def active(self, **kv):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log_path)
        self.set(**kv)
        try:
            yield self
        finally:
            self.clear()


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def idle_fds(pid):
    """The fd count once the last connection is closed (libfcgi closes it
    just after the answer is out).  If one stays open past 2 s, the count
    with it: a leak the caller's comparison shows."""
    end = time.time() + 2
    while connections(pid) and time.time() < end:
        time.sleep(0.01)        # the poll interval
    return fd_count(pid)


def check_job_file(path):
    """A job in the spool is complete: every header key of spool(5), and
    a message that parses without a defect.  Returns (fields, message)."""
    with open(path, "rb") as f:
        data = f.read()
    assert b"\n\n" in data, "no end of header in " + path
    assert data.startswith(b"mail-relay-job 1\n"), path
    fields, raw = parse_job(data)
    for k in ("id", "created", "caller", "message-id", "sender", "rcpt",
              "subject", "attempts"):
        assert k in fields, (path, k)
    m = email.message_from_bytes(raw, policy=email.policy.strict)
    assert not m.defects
    return fields, m


# -- relay-fcgi --------------------------------------------------------------

@pytest.fixture(scope="module")
def relay():
    """nginx -> relay-fcgi with the shim preloaded (faults off)."""
    s = Stack(workers=2)
    faults = Faults(s.dir)
    saved = dict(os.environ)
    try:
        os.environ.update(faults.env())
        s.start_fcgi()
        os.environ.clear()
        os.environ.update(saved)
        s.start_nginx()
        s.faults = faults
        # Warm up: every worker thread has run once, so fd and memory
        # counts after this are steady.
        for _ in range(4):
            assert s.send(MSG).status_code == 202
        yield s
    finally:
        os.environ.clear()
        os.environ.update(saved)
        s.close()


SPOOL_FAULTS = [
    # (name, shim settings)
    ("create-tmp-ENOSPC", dict(funcs="openat", errno="ENOSPC",
                               path="*/spool/tmp/*")),
    ("create-tmp-EMFILE", dict(funcs="openat", errno="EMFILE",
                               path="*/spool/tmp/*")),
    ("write-header-ENOSPC", dict(funcs="write", errno="ENOSPC",
                                 path="*/spool/tmp/*")),
    ("write-message-EIO", dict(funcs="write", errno="EIO", after=1,
                               path="*/spool/tmp/*")),
    ("short-writes", dict(funcs="write", short=1, times=0,
                          path="*/spool/tmp/*")),
    ("short-writes-then-ENOSPC", dict(funcs="write", errno="ENOSPC",
                                      short=1, after=4,
                                      path="*/spool/tmp/*")),
    ("fsync-file-EIO", dict(funcs="fsync", errno="EIO",
                            path="*/spool/tmp/*")),
    ("rename-to-pending-EIO", dict(funcs="renameat2", errno="EIO",
                                   path="*/spool/pending/*")),
    ("rename-to-pending-ENOSPC", dict(funcs="renameat2", errno="ENOSPC",
                                      path="*/spool/pending/*")),
    ("fsync-pending-dir-EIO", dict(funcs="fsync", errno="EIO",
                                   path="*/spool/pending")),
]


@pytest.mark.parametrize("name,fault", SPOOL_FAULTS,
                         ids=[n for n, _ in SPOOL_FAULTS])
def test_relay_spool_fault_gives_503_and_leaves_nothing(relay, name, fault):
    pid = relay.procs["fcgi"].pid
    before = set(relay.jobs("pending"))
    fds = idle_fds(pid)
    with relay.faults.active(**fault) as f:
        r = relay.send(dict(MSG, subject=name))
        injected = f.injected()
    assert injected, "the fault never fired: %s" % (fault,)
    if name == "short-writes":
        # Short writes alone must be completed, not turned into errors.
        assert r.status_code == 202, r.text
        jid = r.json()["id"]
        fields, m = check_job_file(os.path.join(relay.spool, "pending", jid))
        assert m.get_content() == MSG["text"]
        before.add(jid)
    else:
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "spool_unavailable"
        assert r.headers["Retry-After"].isdigit()
    assert set(relay.jobs("pending")) == before, "orphan job in pending/"
    assert relay.jobs("tmp") == [], "partial file left in tmp/"
    assert idle_fds(pid) == fds, "fd leak on the error path"
    # The fault is gone: mail flows again.
    r = relay.send(MSG)
    assert r.status_code == 202, r.text
    check_job_file(os.path.join(relay.spool, "pending", r.json()["id"]))


def test_relay_idempotency_key_not_burnt_by_a_fault(relay):
    key = {"Idempotency-Key": "fault-%d" % time.time_ns()}
    with relay.faults.active(funcs="openat", errno="ENOSPC",
                             path="*/spool/tmp/*") as f:
        r = relay.send(MSG, headers=key)
        assert f.injected()
    assert r.status_code == 503
    # The failed attempt must not be remembered as the first job.
    first = relay.send(MSG, headers=key)
    assert first.status_code == 202, first.text
    again = relay.send(MSG, headers=key)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


def test_relay_idempotency_store_fault_gives_503(relay):
    before = relay.jobs("pending")
    with relay.faults.active(funcs="openat", errno="EMFILE",
                             path="*/spool/idem/*") as f:
        r = relay.send(MSG, headers={"Idempotency-Key": "idem-fault"})
        assert f.injected()
    assert r.status_code == 503 and r.json()["error"] == "spool_unavailable"
    assert relay.jobs("pending") == before


def test_relay_concurrent_faults_leave_no_orphans(relay):
    """Faults hitting some of many concurrent requests: every 202 is an
    intact job, every other answer a 503, and nothing else is on disk."""
    import threading
    before = set(relay.jobs("pending"))
    results = []

    def go(i):
        results.append(relay.send(dict(MSG, subject="c%d" % i)))
    with relay.faults.active(funcs="fsync", errno="EIO", after=3, times=6,
                             path="*/spool/*"):
        threads = [threading.Thread(target=go, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    codes = sorted(r.status_code for r in results)
    assert set(codes) <= {202, 503}, codes
    assert 503 in codes and 202 in codes, codes
    ok = {r.json()["id"] for r in results if r.status_code == 202}
    assert set(relay.jobs("pending")) - before == ok
    for jid in ok:
        check_job_file(os.path.join(relay.spool, "pending", jid))
    assert relay.jobs("tmp") == []


# -- spoold -------------------------------------------------------------------

@pytest.fixture
def sp(tmp_path):
    s = Spool(tmp_path)
    s.faults = Faults(str(tmp_path))
    yield s
    s.close()


def once_with(sp, **fault):
    """spoold -1 with the shim and the given fault; returns the injected
    fault lines."""
    with sp.faults.active(**fault) as f:
        p = sp.spoold("-1", env=sp.faults.env())
        assert p.wait(30) == 0, sp.log()
        return f.injected()


def states_of(sp, jid):
    return [s for s in ("pending", "processing", "held", "failed")
            if os.path.exists(os.path.join(sp.spool, s, jid))]


SPOOLD_FAULTS = [
    # (name, sendmail exit, fault)
    ("claim-rename-EIO", 0, dict(funcs="renameat", errno="EIO",
                                 path="*/spool/processing/*")),
    ("read-open-EMFILE", 0, dict(funcs="openat", errno="EMFILE",
                                 path="*/spool/processing/[0-9a-f]*")),
    ("defer-create-ENOSPC", 75, dict(funcs="openat", errno="ENOSPC",
                                     path="*/spool/tmp/*")),
    ("defer-write-EIO", 75, dict(funcs="write", errno="EIO",
                                 path="*/spool/tmp/*")),
    ("defer-fsync-EIO", 75, dict(funcs="fsync", errno="EIO",
                                 path="*/spool/tmp/*")),
    ("defer-rename-EIO", 75, dict(funcs="renameat", errno="EIO",
                                  path="*/spool/tmp/*")),
    ("fail-create-ENOSPC", 65, dict(funcs="openat", errno="ENOSPC",
                                    path="*/spool/tmp/*")),
    ("fail-rename-EIO", 65, dict(funcs="renameat", errno="EIO",
                                 path="*/spool/failed/*")),
]


@pytest.mark.parametrize("name,status,fault", SPOOLD_FAULTS,
                         ids=[n for n, _, _ in SPOOLD_FAULTS])
def test_spoold_state_change_fault_keeps_one_state(sp, name, status, fault):
    sp.control(exit=status)
    jid = sp.add(attempts=1, error="exit 75: earlier")
    injected = once_with(sp, **fault)
    assert injected, "the fault never fired"
    # Exactly one state, history as it was, nothing stray.  A permanent
    # failure that cannot be rewritten (no space in tmp/) still ends in
    # failed/, unchanged, rather than running sendmail again.
    if name == "fail-create-ENOSPC":
        assert states_of(sp, jid) == ["failed"], states_of(sp, jid)
        f, msg = sp.read(jid)
        assert f["attempts"] == ["1"] and msg == sp.message(jid)
        assert sp.jobs("tmp") == [] and sp.jobs("processing") == []
        assert sp.once() == 0 and jid not in sp.delivered()
        return
    assert states_of(sp, jid) == ["pending"], states_of(sp, jid)
    f, msg = sp.read(jid)
    assert f["attempts"] == ["1"] and f["error"] == ["exit 75: earlier"]
    assert msg == sp.message(jid)
    assert sp.jobs("tmp") == [] and sp.jobs("processing") == []
    # Fault gone, MTA fine: delivered, once.
    sp.control(exit=0)
    assert sp.once() == 0
    assert states_of(sp, jid) == []
    assert sp.delivered()[jid] == [sp.message(jid)]
    if status != 0:
        # sendmail ran before the failed state change, then once more.
        assert sp.call_ids().count(jid) == 2


def test_spoold_defer_dir_fsync_fault_resolves_to_one_copy(sp):
    """The rename into pending/ happened but its directory fsync failed:
    both copies exist for a while (spool(5)); the pending one is the
    newer, and a restart or the next claim leaves one."""
    sp.control(exit=75)
    jid = sp.add()
    injected = once_with(sp, funcs="fsync", errno="EIO",
                         path="*/spool/pending")
    assert injected
    assert "pending" in states_of(sp, jid)
    assert sp.read(jid, "pending")[0]["attempts"] == ["1"]
    assert sp.jobs("tmp") == []
    # Not yet due: a restart recovers to exactly one copy, the newer one.
    assert sp.once() == 0
    assert states_of(sp, jid) == ["pending"]
    assert sp.read(jid)[0]["attempts"] == ["1"]
    sp.control(exit=0)
    os.utime(os.path.join(sp.spool, "pending", jid))
    assert sp.once() == 0
    assert states_of(sp, jid) == [] and jid in sp.delivered()


def test_spoold_running_retries_after_fault_clears(sp):
    """A long-running spoold: a claim fault keeps the job in pending/, and
    it goes out once the fault is gone (backoff_initial later)."""
    jid = sp.add()
    sp.faults.set(funcs="renameat", errno="EIO", path="*/spool/processing/*")
    p = sp.start(env=sp.faults.env())
    # EIO reads as a spool that cannot be written: said once, then retried.
    sp_wait_for(lambda: "job=%s cannot claim" % jid in sp.log() or
                "cannot be written (claim" in sp.log(), 5,
                "the claim fault handled")
    assert states_of(sp, jid) == ["pending"] and sp.calls() == []
    sp.faults.clear()
    sp_wait_for(lambda: jid in sp.delivered() and states_of(sp, jid) == [],
                15, "delivery after the fault")
    assert sp.stop(p) == 0
    assert len(sp.delivered()[jid]) == 1


def test_spoold_done_unlink_fault_is_delivered_not_lost(sp):
    """Delivered, but the job cannot be removed from processing/: it is
    never lost; the restart hands it over again (at least once)."""
    jid = sp.add()
    assert once_with(sp, funcs="unlinkat", errno="EIO",
                     path="*/spool/processing/*")
    assert jid in sp.delivered()
    assert states_of(sp, jid) == ["processing"]
    assert sp.once() == 0
    assert states_of(sp, jid) == []
    assert "job=%s recovered" % jid in sp.log()


# -- sendmail missing or broken -----------------------------------------------

def test_sendmail_missing_then_installed(sp, tmp_path):
    prog = str(tmp_path / "bin" / "sendmail")
    sp.write_conf(sendmail="%s -D %s" % (prog, sp.outbox))
    jid = sp.add()
    assert sp.once() == 0
    assert states_of(sp, jid) == ["pending"]
    assert "No such file or directory" in sp.read(jid)[0]["error"][0]
    os.makedirs(os.path.dirname(prog))
    shutil.copy(FAKE, prog)
    os.utime(os.path.join(sp.spool, "pending", jid))
    assert sp.once() == 0
    assert states_of(sp, jid) == [] and jid in sp.delivered()


def test_sendmail_not_executable_then_fixed(sp, tmp_path):
    prog = str(tmp_path / "sendmail")
    shutil.copy(FAKE, prog)
    os.chmod(prog, 0o644)
    sp.write_conf(sendmail="%s -D %s" % (prog, sp.outbox))
    jid = sp.add()
    assert sp.once() == 0
    assert states_of(sp, jid) == ["pending"]
    f = sp.read(jid)[0]
    assert f["attempts"] == ["1"]
    assert "Permission denied" in f["error"][0]
    os.chmod(prog, 0o755)
    os.utime(os.path.join(sp.spool, "pending", jid))
    assert sp.once() == 0
    assert states_of(sp, jid) == [] and jid in sp.delivered()


def test_sendmail_dies_mid_read_then_delivers_whole(sp):
    jid = new_id()
    msg = sp.message(jid, body="".join("line %05d\n" % i
                                       for i in range(20000)))
    sp.add(jid, msg=msg)
    sp.control(read_bytes=1000, signal=9)
    assert sp.once() == 0
    assert states_of(sp, jid) == ["pending"]
    assert sp.read(jid)[0]["error"] == ["signal 9"]
    assert sp.calls()[0]["bytes"] == 1000
    sp.control(exit=0)
    os.utime(os.path.join(sp.spool, "pending", jid))
    assert sp.once() == 0
    assert sp.delivered()[jid] == [msg]


# -- corrupt spool entries ----------------------------------------------------

def test_attempts_at_int_max_fail_cleanly(sp):
    """A job file whose attempts counter is INT_MAX (damaged, or edited by
    hand) must not overflow into a negative count: it goes to failed/
    (over max_attempts, or as an unreadable job file) and keeps a
    non-negative count.  Found by tests/fuzz/fuzz_spool (seed
    corpus/spool/regress-attempts-int-max)."""
    sp.control(exit=75)
    jid = sp.add(attempts=2 ** 31 - 1)
    assert sp.once() == 0
    assert "runtime error" not in sp.log()
    where = states_of(sp, jid)
    assert where == ["failed"], (where, sp.log())
    attempts = sp.read(jid, "failed")[0]["attempts"][0]
    assert attempts.isdigit(), attempts


# -- a real full disk ---------------------------------------------------------

def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=%s,mode=0700" % size, "tmpfs", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs for the full-disk test "
                    "(needs root and mount permission): " + r.stderr.strip())


def test_real_full_disk(tmp_path):
    """The spool on a 256 KiB tmpfs, filled by real requests: the relay
    answers 202 while jobs fit and 503 (spool_unavailable) once they do
    not; every 202 is an intact job, nothing partial is left; spoold
    drains it and the relay accepts mail again."""
    s = Stack(workers=2)
    mounted = False
    try:
        mount_tmpfs(s.spool, "256k")
        mounted = True
        s.start()
        big = dict(MSG, text="".join("%06d full disk test line\n" % i
                                     for i in range(1500)))
        codes, ok = [], []
        for i in range(60):
            r = s.send(dict(big, subject="fill %d" % i))
            codes.append(r.status_code)
            if r.status_code == 202:
                ok.append(r.json()["id"])
            elif r.status_code == 503:
                assert r.json()["error"] in ("spool_unavailable",)
                assert "Retry-After" in r.headers
                if codes.count(503) >= 3:
                    break
        assert set(codes) <= {202, 503}, codes
        assert ok and 503 in codes, codes
        assert sorted(s.jobs("pending")) == sorted(ok)
        assert s.jobs("tmp") == []
        for jid in ok:
            f, m = check_job_file(os.path.join(s.spool, "pending", jid))
            assert m.get_content() == big["text"]
        # spoold drains the disk; the relay takes mail again.
        s.start_spoold()
        wait_for(lambda: s.jobs("pending") == [], 20, "drain")
        r = s.send(big)
        assert r.status_code == 202, r.text

        def delivered():
            return [n for n in os.listdir(s.outbox) if n.endswith(".eml")]
        wait_for(lambda: len(delivered()) >= len(ok) + 1, 10, "delivery")
        # Nothing more can come once spoold and its sendmails are gone.
        s.stop("spoold")
        wait_for(lambda: not running(s.outbox), 10, "sendmail children")
        assert len(delivered()) == len(ok) + 1
        assert s.jobs("pending") == [] and s.jobs("processing") == []
    finally:
        for name in list(s.procs):
            s.stop(name)
        if mounted:
            subprocess.run(["umount", "-l", s.spool])
        s.close()
