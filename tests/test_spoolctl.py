"""spoolctl: every command, its output, its exit codes, and its races with a
running spoold."""

import json
import os
import threading
import time

import pytest

from spoolhelp import Spool, new_id, wait_for

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_IOERR, EX_TEMPFAIL, EX_CONFIG = \
    64, 65, 66, 74, 75, 78
UNKNOWN = "0640a1b2c3d4e-0123456789abcdef"


@pytest.fixture
def sp(tmp_path):
    s = Spool(tmp_path)
    yield s
    s.close()


def fields(sp, jid):
    return sp.read(jid)[0]


# -- list, show, stats -----------------------------------------------------

def test_list_every_state_text_and_json(sp):
    now = int(time.time())
    p = sp.add(new_id(now - 300), subject="Gr\u00fc\u00dfe")
    w = sp.add(due=now + 600, attempts=2, error="exit 75: later\nagain")
    h = sp.add(state="held")
    f = sp.add(state="failed", attempts=1, error="exit 67: no such user")
    c = sp.add(state="processing")
    r = sp.ctl("list")
    assert r.returncode == 0, r.stderr
    for jid in (p, w, h, f, c):
        assert jid in r.stdout
    assert "Gr\u00fc\u00dfe" in r.stdout
    assert "error: exit 75: later\\nagain" in r.stdout    # one line
    assert "+10m" in r.stdout or "+9m" in r.stdout
    js = {j["id"]: j for j in sp.ctl_json("list")}
    assert set(js) == {p, w, h, f, c}
    assert js[p]["state"] == "pending" and js[p]["due"] is True
    assert js[p]["age"] >= 300 and js[p]["attempts"] == 0
    assert js[p]["subject"] == "Gr\u00fc\u00dfe"
    assert js[p]["error"] is None
    assert js[w]["due"] is False and js[w]["next_attempt"] == now + 600
    assert js[w]["attempts"] == 2 and js[w]["error"] == "exit 75: later\nagain"
    assert js[f]["state"] == "failed"
    assert js[c]["state"] == "processing"
    assert js[p]["sender"] == "app@example.org"
    assert js[p]["recipients"] == ["to@example.net",
                                   "bcc+%s@example.net" % p]
    assert js[p]["message_id"] == p + "@relay.test"
    assert js[p]["size"] == len(sp.message(p, "Gr\u00fc\u00dfe"))
    # oldest first within a state
    pend = [j["id"] for j in sp.ctl_json("list", "--state", "pending")]
    assert pend == sorted([p, w])
    assert [j["id"] for j in sp.ctl_json("list", "--state", "held")] == [h]


def test_list_empty_and_corrupt(sp):
    # An empty queue says so, as mailq does, and is no error.
    r = sp.ctl("list")
    assert r.returncode == 0 and r.stdout == "queue is empty\n"
    r = sp.ctl("list", "--state", "held")
    assert r.returncode == 0 and r.stdout == "no held jobs\n"
    assert sp.ctl_json("list") == []
    bad = new_id()
    with open(os.path.join(sp.spool, "failed", bad), "w") as f:
        f.write("not a job\n")
    js = sp.ctl_json("list")
    assert js == [{"id": bad, "state": "failed", "corrupt": True,
                   "error": "not a valid job file"}]
    assert sp.ctl("show", bad).returncode == EX_DATAERR


def test_show_text_raw_json(sp):
    jid = sp.add(attempts=1, error="exit 75: try\tlater")
    r = sp.ctl("show", jid)
    assert r.returncode == 0
    out = r.stdout
    assert "id: %s\nstate: pending\ncaller: app\n" % jid in out
    assert "message-id: <%s@relay.test>" % jid in out
    assert "attempts: 1\n" in out
    assert "rcpt: to@example.net\nrcpt: bcc+%s@example.net\n" % jid in out
    assert "error: exit 75: try\\tlater\n" in out
    assert "headers:\nFrom: App <app@example.org>\n" in out
    assert "Hi there." not in out                # headers only
    raw = sp.ctl("show", jid, "--raw")
    assert raw.returncode == 0
    assert raw.stdout.encode() == sp.message(jid)
    js = sp.ctl_json("show", jid)
    assert js["id"] == jid and js["error"] == "exit 75: try\tlater"


ADDR = ["from Shop \\xc3\\xa9 <app@example.org>", "to Ann <to@example.net>",
        "to b@example.net", "cc C <c@example.net>",
        "bcc hidden@example.net", "reply-to help@example.org"]


def add_addressed(sp):
    """A job as relay-fcgi writes it with the addressing lines."""
    jid = new_id()
    data = sp.job_bytes(jid, "app@example.org",
                        ["to@example.net", "b@example.net", "c@example.net",
                         "hidden@example.net"], "Hello", sp.message(jid))
    data = data.replace(b"\nattempts 0\n",
                        ("\n" + "\n".join(ADDR) + "\nattempts 0\n").encode())
    tmp = os.path.join(sp.spool, "tmp", jid)
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.rename(tmp, os.path.join(sp.spool, "pending", jid))
    return jid


ADDR_TEXT = ("from: Shop \u00e9 <app@example.org>\n"
             "to: Ann <to@example.net>\nto: b@example.net\n"
             "cc: C <c@example.net>\nbcc: hidden@example.net\n"
             "reply-to: help@example.org\n")


def check_addr_json(js):
    assert js["from"] == "Shop \u00e9 <app@example.org>"
    assert js["to"] == ["Ann <to@example.net>", "b@example.net"]
    assert js["cc"] == ["C <c@example.net>"]
    assert js["bcc"] == ["hidden@example.net"]
    assert js["reply_to"] == ["help@example.org"]


def test_show_the_addressing_of_a_job_and_of_its_record(sp):
    jid = add_addressed(sp)
    r = sp.ctl("show", jid)
    assert r.returncode == 0, r.stderr
    assert ADDR_TEXT in r.stdout
    check_addr_json(sp.ctl_json("show", jid))
    # handed over: sent/<id> keeps the same lines, shown the same way
    assert sp.once() == 0
    assert os.path.exists(os.path.join(sp.spool, "sent", jid))
    r = sp.ctl("show", jid)
    assert r.returncode == 0, r.stderr
    assert "state: sent" in r.stdout and ADDR_TEXT in r.stdout
    check_addr_json(sp.ctl_json("show", jid))
    # a job written before the lines: none shown, from null, lists empty
    old = sp.add()
    assert "from: " not in sp.ctl("show", old).stdout
    js = sp.ctl_json("show", old)
    assert js["from"] is None and js["to"] == [] and js["bcc"] == []


def test_stats(sp):
    old = sp.add(new_id(time.time() - 120))
    sp.add(due=int(time.time()) + 600)
    sp.add(state="held")
    sp.add(state="failed")
    sp.add(state="failed")
    js = sp.ctl_json("stats")
    assert js["pending"] == 2 and js["held"] == 1 and js["failed"] == 2
    assert js["processing"] == 0
    assert 119 <= js["oldest_pending_age"] <= 125
    assert 119 <= js["oldest_due_age"] <= 125
    assert js["spoold"] is False
    r = sp.ctl("stats")
    assert r.returncode == 0
    assert "pending     2" in r.stdout and "not running" in r.stdout
    p = sp.start()
    # pending drops when spoold claims the job; delivered comes after.
    wait_for(lambda: sp.ctl_json("stats")["pending"] == 1 and
             old in sp.delivered(), 5, "drain")
    js = sp.ctl_json("stats")
    assert js["spoold"] is True and js["oldest_due_age"] is None
    sp.stop(p)
    assert sp.ctl_json("stats")["spoold"] is False


# -- changes ---------------------------------------------------------------

def test_hold_and_release(sp):
    a, b = sp.add(), sp.add(state="failed")
    r = sp.ctl("hold", a)
    assert r.returncode == 0 and sp.where(a) == "held"
    assert sp.ctl("hold", a).returncode == 0          # already held
    assert sp.once() == 0
    assert sp.calls() == []                           # held: not sent
    r = sp.ctl("hold", b)
    assert r.returncode == EX_DATAERR and "failed" in r.stderr
    assert sp.ctl("release", b).returncode == EX_DATAERR
    os.utime(os.path.join(sp.spool, "held", a), (1, 1))
    r = sp.ctl("release", a)
    assert r.returncode == 0 and sp.where(a) == "pending"
    assert sp.mtime(a) >= time.time() - 5             # due now
    assert sp.ctl("release", a).returncode == EX_DATAERR
    assert sp.once() == 0
    assert sp.call_ids() == [a]


def test_retry(sp):
    f = sp.add(state="failed", attempts=3, error="max attempts (3): exit 75")
    h = sp.add(state="held", attempts=1)
    w = sp.add(due=int(time.time()) + 3600, attempts=1)
    r = sp.ctl("retry", f, h, w)
    assert r.returncode == 0, r.stderr
    for jid in (f, h, w):
        assert sp.where(jid) == "pending"
        assert sp.mtime(jid) <= time.time()
    assert fields(sp, f)["attempts"] == ["0"]
    assert fields(sp, f)["error"] == ["max attempts (3): exit 75"]
    assert sp.read(f)[1] == sp.message(f)             # message intact
    assert sp.once() == 0
    assert sorted(sp.call_ids()) == sorted([f, h, w])


def test_retry_failed_all(sp):
    ids = [sp.add(state="failed", attempts=1) for _ in range(3)]
    keep = sp.add(state="held")
    r = sp.ctl("retry", "--failed")
    assert r.returncode == 0
    assert sp.jobs("failed") == [] and sp.jobs() == sorted(ids)
    assert sp.where(keep) == "held"
    assert "no failed jobs" in sp.ctl("retry", "--failed").stdout


def test_delete(sp):
    p, h, f = sp.add(), sp.add(state="held"), sp.add(state="failed")
    r = sp.ctl("delete", p, h, f)
    assert r.returncode == 0
    assert "(was pending)" in r.stdout and "(was failed)" in r.stdout
    assert [sp.where(x) for x in (p, h, f)] == [None, None, None]
    # one unknown id among good ones: the others are still done
    g = sp.add()
    r = sp.ctl("delete", UNKNOWN, g)
    assert r.returncode == EX_NOINPUT and sp.where(g) is None
    assert "%s: no such job" % UNKNOWN in r.stderr


def test_processing_is_never_touched(sp):
    c = sp.add(state="processing")
    before = sp.read(c, "processing")
    for cmd, code in (("hold", EX_TEMPFAIL), ("release", EX_TEMPFAIL),
                      ("retry", EX_TEMPFAIL), ("delete", EX_TEMPFAIL)):
        r = sp.ctl(cmd, c)
        assert r.returncode == code, (cmd, r.stderr)
        assert "delivering it right now" in r.stderr
    assert sp.where(c) == "processing" and sp.read(c) == before
    assert sp.ctl("show", c).returncode == 0


def test_flush(sp):
    later = int(time.time()) + 3600
    a = sp.add(due=later)
    b = sp.add(due=later)
    h = sp.add(state="held", due=later)
    r = sp.ctl("flush")
    assert r.returncode == 0
    assert "2 jobs made due now" in r.stdout
    assert "spoold is not running" in r.stderr
    assert sp.mtime(a) <= time.time() and sp.mtime(b) <= time.time()
    assert sp.mtime(h, "held") == later
    assert sp.ctl("flush").stdout.startswith("0 jobs")


# -- bad input -------------------------------------------------------------

@pytest.mark.parametrize("args", [
    (), ("frob",), ("list", "extra"), ("list", "--state"),
    ("list", "--state", "bogus"), ("list", "--raw"), ("show",),
    ("show", UNKNOWN, UNKNOWN), ("show", UNKNOWN, "--raw", "--json"),
    ("hold",), ("release",), ("delete",), ("retry",), ("flush", UNKNOWN),
    ("stats", "--state", "held"), ("hold", "../../etc/passwd"),
    ("show", "0640A1B2C3D4E-0123456789ABCDEF"), ("delete", "-x"),
])
def test_usage_errors(sp, args):
    r = sp.ctl(*args)
    assert r.returncode == EX_USAGE, r
    assert r.stderr


def test_unknown_ids(sp):
    for cmd in ("show", "hold", "release", "retry", "delete"):
        r = sp.ctl(cmd, UNKNOWN)
        assert r.returncode == EX_NOINPUT, cmd
        assert "no such job" in r.stderr


def test_config_and_spool_errors(sp, tmp_path):
    r = sp.ctl("-c", str(tmp_path / "missing.conf"), "list", conf=False)
    assert r.returncode == EX_CONFIG and "missing.conf" in r.stderr
    gone = tmp_path / "nospool"
    sp.write_conf(spool=str(gone))
    r = sp.ctl("stats")
    assert r.returncode == EX_IOERR and str(gone) in r.stderr
    assert not gone.exists()                  # spoolctl creates nothing


# -- races with spoold -----------------------------------------------------

def test_hold_racing_spoold_never_loses_or_doubles(sp):
    sp.control(sleep=3)
    ids = sp.add_many(120)
    p = sp.start()
    results = {}

    def holder(chunk):
        for jid in chunk:
            results[jid] = sp.ctl("hold", jid).returncode

    ts = [threading.Thread(target=holder, args=(ids[i::3],))
          for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wait_for(lambda: not sp.jobs() and not sp.jobs("processing"), 20,
             "drain")
    sp.stop(p)
    got = sp.delivered()
    held = set(sp.jobs("held"))
    for jid in ids:
        sent = len(got.get(jid, []))
        assert (sent == 1) != (jid in held), jid
        if jid in held:
            assert results[jid] == 0
        elif results[jid] != 0:
            assert results[jid] == EX_TEMPFAIL or \
                results[jid] == EX_NOINPUT or results[jid] == EX_DATAERR
    assert held, "no hold won a race: the test did not test anything"
