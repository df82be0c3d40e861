"""spoold against a stand-in sendmail (tests/helpers/fake-sendmail):
ordering, the exact hand-over, every outcome class, backoff, max attempts,
the outage guard, timeouts, signals, recovery, kill -9 during a drain."""

import os
import random
import re
import signal
import subprocess
import tempfile
import time

import pytest

from spoolhelp import (FAKE, SPOOLD, Spool, in_poll, new_id, running,
                       sanitized, wait_for)


@pytest.fixture
def sp(tmp_path):
    s = Spool(tmp_path)
    yield s
    s.close()


def attempts(sp, jid):
    return int(sp.read(jid)[0]["attempts"][0])


def error(sp, jid):
    f = sp.read(jid)[0]
    return f["error"][0] if "error" in f else None


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


# -- the hand-over ---------------------------------------------------------

def test_oldest_due_first_and_exact_handover(sp):
    now = time.time()
    ids = [new_id(now - 50 + i) for i in range(5)]
    later = new_id(now - 100)           # the oldest, but not due yet
    for jid in random.sample(ids, len(ids)):
        sp.add(jid)
    sp.add(later, due=int(now) + 3600)
    assert sp.once() == 0
    assert sp.call_ids() == ids
    assert sp.jobs() == [later]
    assert sp.jobs("processing") == []
    c = sp.calls()[0]
    assert c["argv"] == [FAKE, "-D", sp.outbox, "-oi", "-f",
                         "app@example.org", "--", "to@example.net",
                         "bcc+%s@example.net" % ids[0]]
    assert sp.delivered()[ids[0]] == [sp.message(ids[0])]
    assert re.search(r"job=%s delivered message-id=<%s@relay.test> "
                     r"attempt=1 delay=\d+s" % (ids[0], ids[0]), sp.log())


def test_exact_bytes_and_hostile_envelope(sp):
    body = ("x" * 990 + "\n.\n..\nFrom me\n\xe2\x82\xac\n").encode() * 2000
    jid = new_id()
    msg = b"Subject: big\nMessage-ID: <%s@relay.test>\n\n" % \
        jid.encode() + body
    # A recipient that looks like an option stays a recipient after "--".
    sp.add(jid, sender="-bs@example.org",
           rcpts=["-oQ/tmp@example.org", "bcc+%s@example.net" % jid],
           msg=msg)
    assert sp.once() == 0
    c = sp.calls()[0]
    assert c["argv"][3:] == ["-oi", "-f", "-bs@example.org", "--",
                             "-oQ/tmp@example.org",
                             "bcc+%s@example.net" % jid]
    assert sp.delivered()[jid] == [msg]


def test_child_gets_minimal_env_no_fds_default_signals(sp):
    sp.add()
    e = {"SECRET_TOKEN": "x", "MAIL_CONFIG": "/etc/postfix-test",
         "LD_PRELOAD": ""}
    p = sp.spoold("-1", env=e)
    assert p.wait(10) == 0
    c = sp.calls()[0]
    assert sorted(c["env"]) == ["MAIL_CONFIG=/etc/postfix-test",
                                "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    assert c["fds"] == [0, 1, 2]
    assert int(c["sigblk"], 16) == 0
    assert int(c["sigign"], 16) & 0x7fffffff == 0     # signals 1..31


def test_output_is_captured_and_capped(sp):
    sp.control(exit=75, output_bytes=1000000)
    jid = sp.add()
    assert sp.once() == 0
    err = error(sp, jid)
    assert err == "exit 75: " + "x" * 4096


# -- outcomes --------------------------------------------------------------

@pytest.mark.parametrize("control,reason", [
    ({"exit": 75, "output": "4.3.0 try later"}, "exit 75: 4.3.0 try later"),
    ({"exit": 71}, "exit 71"),
    ({"exit": 74}, "exit 74"),
    ({"exit": 69}, "exit 69"),
    ({"exit": 73}, "exit 73"),
    ({"signal": 9}, "signal 9"),
    ({"signal": 15}, "signal 15"),
])
def test_temporary_outcomes_defer(sp, control, reason):
    sp.control(**control)
    jid = sp.add()
    t0 = time.time()
    assert sp.once() == 0
    assert sp.where(jid) == "pending"
    assert attempts(sp, jid) == 1
    assert error(sp, jid) == reason
    # next attempt: now + backoff_initial (1s), to whole seconds
    assert t0 + 1 <= sp.mtime(jid) <= time.time() + 2
    assert "job=%s deferred message-id=<%s@relay.test> attempt=1" % (
        jid, jid) in sp.log()


def test_missing_sendmail_defers(sp):
    sp.write_conf(sendmail="/nonexistent/sendmail -t")
    jid = sp.add()
    assert sp.once() == 0
    assert sp.where(jid) == "pending"
    assert error(sp, jid) == ("cannot run /nonexistent/sendmail: "
                              "No such file or directory")


@pytest.mark.parametrize("status", [1, 64, 65, 67, 68, 76, 77, 78, 100])
def test_permanent_outcomes_fail_at_once(sp, status):
    sp.control(exit=status, output="5.1.1 user unknown")
    jid = sp.add()
    assert sp.once() == 0
    assert sp.where(jid) == "failed"
    assert attempts(sp, jid) == 1
    assert error(sp, jid) == "exit %d: 5.1.1 user unknown" % status
    assert "job=%s failed message-id=<%s@relay.test> attempt=1" % (
        jid, jid) in sp.log()
    assert len(sp.calls()) == 1


def test_max_attempts_then_failed(sp):
    sp.control(exit=75)
    jid = sp.add(attempts=2, error="exit 75")      # max_attempts = 3
    keep = sp.add(attempts=1)
    assert sp.once() == 0
    assert sp.where(jid) == "failed"
    assert attempts(sp, jid) == 3
    assert error(sp, jid) == "max attempts (3): exit 75"
    assert sp.where(keep) == "pending" and attempts(sp, keep) == 2


def test_backoff_schedule(sp):
    """backoff_initial 1s, backoff_max 2s, max_attempts 3: retries after
    about 1s, then 2s (capped), then failed."""
    sp.control(exit=75)
    jid = sp.add()
    p = sp.start()
    wait_for(lambda: sp.where(jid) == "failed", 10, "failed")
    times = [c["time"] / 1e9 for c in sp.calls()]
    assert len(times) == 3
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert 1.0 <= gaps[0] < 2.2, gaps
    assert 2.0 <= gaps[1] < 3.2, gaps
    assert sp.stop(p) == 0


def test_deferred_job_keeps_history_across_restart(sp):
    sp.control(exit=75, output="try later")
    jid = sp.add()
    assert sp.once() == 0
    f, msg = sp.read(jid)
    assert f["attempts"] == ["1"] and f["error"] == ["exit 75: try later"]
    assert msg == sp.message(jid)
    # not due yet: a new run does nothing
    assert sp.once() == 0
    assert len(sp.calls()) == 1
    sp.control(exit=0)
    os.utime(os.path.join(sp.spool, "pending", jid))
    assert sp.once() == 0
    assert sp.where(jid) is None
    assert "job=%s delivered message-id=<%s@relay.test> attempt=2" % (
        jid, jid) in sp.log()


def test_outage_guard(sp):
    sp.write_conf(max_attempts="8")
    sp.control(exit=75)
    ids = sp.add_many(8)
    p = sp.start()
    wait_for(lambda: "paused" in sp.log(), 5, "paused")
    assert len(sp.calls()) == 5             # then it stops spending attempts
    assert [attempts(sp, j) for j in ids[5:]] == [0, 0, 0]
    wait_for(lambda: len(sp.calls()) >= 6, 4, "one probe")
    # Nothing between the pause and the probe, which comes a backoff
    # (backoff_initial, 1 s) after the last failure.
    calls = sp.calls()
    assert len(calls) == 6
    assert calls[5]["time"] - calls[4]["time"] >= 0.99e9
    sp.control(exit=0)
    # The failed probe doubles the backoff: the next call is the next
    # probe, 2 s (backoff_max) later, with nothing in between.
    wait_for(lambda: len(sp.calls()) >= 7, 5, "the second probe")
    calls = sp.calls()
    assert calls[6]["time"] - calls[5]["time"] >= 1.99e9
    wait_for(lambda: not sp.jobs() and not sp.jobs("processing"), 8,
             "drained after the outage")
    assert sp.stop(p) == 0
    log = sp.log()
    assert log.count("paused:") == 1
    assert log.count("resumed") == 1
    for j in ids[5:]:
        if j not in sp.call_ids()[:6]:
            assert "job=%s delivered message-id=<%s@relay.test> " \
                   "attempt=1 " % (j, j) in log


def test_timeout_sigterm(sp):
    sp.control(sleep=5000)
    jid = sp.add()
    t0 = time.time()
    assert sp.once() == 0
    assert time.time() - t0 < 3
    assert sp.where(jid) == "pending"
    assert error(sp, jid) == "timeout after 1s"


def test_timeout_sigkill_after_grace(sp):
    sp.control(sleep=10000, ignore_term=1)
    jid = sp.add()
    t0 = time.time()
    assert sp.once() == 0
    assert 1.9 <= time.time() - t0 < 4
    assert error(sp, jid) == "timeout after 1s, killed"
    pid = sp.calls()[0]["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_corrupt_job_goes_to_failed(sp):
    bad = new_id()
    with open(os.path.join(sp.spool, "tmp", bad), "w") as f:
        f.write("mail-relay-job 1\nid %s\ngarbage\n\nbody\n" % bad)
    os.rename(os.path.join(sp.spool, "tmp", bad),
              os.path.join(sp.spool, "pending", bad))
    good = sp.add()
    assert sp.once() == 0
    assert sp.where(bad) == "failed"
    assert sp.call_ids() == [good]
    assert "job=%s failed: not a valid job file" % bad in sp.log()


# -- the daemon ------------------------------------------------------------

def test_second_instance_refused(sp):
    p = sp.start()
    r = subprocess.run([SPOOLD, "-d", "-c", sp.conf_path],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 75
    assert "another spoold is running" in r.stderr
    assert sp.stop(p) == 0


def test_bad_config_and_usage(sp):
    r = subprocess.run([SPOOLD, "-d", "-c", sp.conf_path + ".missing"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 78 and "relay.conf.missing" in r.stderr
    with open(sp.conf_path, "a") as f:
        f.write("colour = blue\n")
    r = subprocess.run([SPOOLD, "-d", "-c", sp.conf_path],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 78 and "unknown key" in r.stderr
    r = subprocess.run([SPOOLD, "-x"], capture_output=True, timeout=10)
    assert r.returncode == 64


def test_new_jobs_wake_an_idle_daemon_without_polling(sp):
    p = sp.start()
    wait_for(lambda: in_poll(p.pid), 5, "spoold asleep in poll")
    ticks = cpu_ticks(p.pid)
    time.sleep(1.0)     # the interval measured, not a wait for an event
    assert cpu_ticks(p.pid) == ticks        # idle: no CPU at all
    jid = sp.add()
    wait_for(lambda: jid in sp.delivered(), 1.0, "inotify pickup")
    assert sp.stop(p) == 0


def test_flush_and_retry_wake_the_daemon(sp):
    future = int(time.time()) + 3600
    waiting = sp.add(due=future, attempts=1)
    failed = sp.add(state="failed", attempts=3, error="exit 75")
    p = sp.start()
    # Asleep with a job not yet due and one failed: nothing sent, and
    # nothing until spoolctl asks (the first call comes after the flush).
    wait_for(lambda: in_poll(p.pid), 5, "spoold asleep in poll")
    assert sp.calls() == []
    flushed = time.time_ns()
    assert sp.ctl("flush").returncode == 0
    wait_for(lambda: waiting in sp.delivered(), 1.0, "flushed job")
    assert sp.call_ids() == [waiting]
    assert sp.calls()[0]["time"] >= flushed
    assert sp.ctl("retry", failed).returncode == 0
    wait_for(lambda: failed in sp.delivered(), 1.0, "retried job")
    held = sp.add(state="held")
    assert sp.ctl("release", held).returncode == 0
    wait_for(lambda: held in sp.delivered(), 1.0, "released job")
    assert sp.stop(p) == 0


def test_next_job_is_claimed_while_one_is_sent(sp):
    sp.control(sleep=500)
    first, second, third = sp.add_many(3)
    p = sp.start()
    wait_for(lambda: sp.calls(), 2, "first send started")
    # While the first is sent, the second waits claimed in processing/.
    wait_for(lambda: sp.where(second) == "processing", 2, "second claimed")
    assert sp.where(first) == "processing" and sp.where(third) == "pending"
    # A delivered job is gone before the next sendmail starts, so a crash
    # from then on cannot send it twice.
    wait_for(lambda: len(sp.calls()) >= 2, 3, "second send started")
    assert sp.where(first) is None
    assert sp.call_ids()[:2] == [first, second]
    wait_for(lambda: not sp.jobs() and not sp.jobs("processing"), 5,
             "drained")
    assert sp.call_ids() == [first, second, third]
    assert sp.stop(p) == 0


def anon_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon for %d" % pid)


def test_memory_goes_back_after_a_backlog(sp):
    sp.write_conf(sendmail="/bin/true")
    p = sp.start()
    if sanitized(p.pid):
        sp.stop(p)
        pytest.skip("ASan's quarantine keeps freed memory")
    wait_for(lambda: in_poll(p.pid), 5, "spoold asleep in poll")
    idle = anon_kb(p.pid)
    assert sp.stop(p) == 0
    sp.add_many(4000)
    p = sp.start()
    wait_for(lambda: not sp.jobs() and not sp.jobs("processing"), 120,
             "drained")
    # Asleep again: the drain is over and its memory handed back.
    wait_for(lambda: in_poll(p.pid), 5, "spoold asleep in poll")
    # The index of 4,000 jobs and the listing that built it took ~350 kB.
    assert anon_kb(p.pid) - idle < 100
    assert sp.stop(p) == 0


def test_sigterm_during_send_finishes_the_job(sp):
    sp.control(sleep=700)
    first, second = sp.add_many(2)
    p = sp.start()
    wait_for(lambda: sp.calls(), 2, "send started")
    # The second is claimed while the first is sent; it goes back.
    wait_for(lambda: sp.where(second) == "processing", 2, "second claimed")
    p.send_signal(signal.SIGTERM)
    assert p.wait(5) == 0
    assert sp.where(first) is None and first in sp.delivered()
    assert sp.where(second) == "pending"
    assert sp.jobs("processing") == []
    assert "exiting on signal" in sp.log()


def test_sigterm_during_hung_send_times_out_then_exits(sp):
    sp.control(sleep=10000)
    jid = sp.add()
    p = sp.start()
    wait_for(lambda: sp.calls(), 2, "send started")
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    assert p.wait(5) == 0
    assert time.time() - t0 < 2
    assert sp.where(jid) == "pending" and attempts(sp, jid) == 1


def test_sighup_reloads_and_rescans(sp, tmp_path):
    other = tmp_path / "outbox2"
    other.mkdir()

    def delivered():
        return [n for n in os.listdir(other) if n.endswith(".eml")]
    p = sp.start()
    sp.write_conf(sendmail="%s -D %s" % (FAKE, other))
    p.send_signal(signal.SIGHUP)
    wait_for(lambda: "reloaded" in sp.log(), 2, "reload")
    # A job renamed in is seen through inotify, after the reload's rescan.
    sp.add()
    wait_for(lambda: len(delivered()) == 1, 5,
             "delivery through the new sendmail")
    # Written straight into pending/ (no rename): inotify does not see it,
    # the rescan on SIGHUP does.  Another job renamed in after it is
    # delivered while the first still waits, unseen.
    jid = new_id()
    with open(os.path.join(sp.spool, "pending", jid), "wb") as f:
        f.write(sp.job_bytes(jid, "app@example.org",
                             ["bcc+%s@example.net" % jid], "s",
                             sp.message(jid)))
    sp.add()
    wait_for(lambda: len(delivered()) == 2, 5, "the renamed job")
    assert sp.where(jid) == "pending"
    p.send_signal(signal.SIGHUP)
    wait_for(lambda: sp.where(jid) is None and len(delivered()) == 3, 5,
             "the unseen job delivered after the rescan")
    assert sp.calls() == []
    # A broken file keeps the running configuration.
    with open(sp.conf_path, "a") as f:
        f.write("nonsense\n")
    p.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in sp.log(), 2, "reload failure")
    jid2 = sp.add()
    wait_for(lambda: sp.where(jid2) is None, 2, "still delivering")
    assert sp.stop(p) == 0


def test_restart_recovery(sp):
    # A job spoold was handing over when it died.
    inflight = sp.add(state="processing")
    # A deferral cut short: rewritten into pending/, processing copy left.
    cut = new_id()
    sp.add(cut, state="processing")
    sp.add(cut, attempts=1, error="exit 75")
    # tmp/: a stale leftover and a write in progress.
    stale = os.path.join(sp.spool, "tmp", new_id())
    fresh = os.path.join(sp.spool, "tmp", new_id())
    for path in (stale, fresh):
        with open(path, "w") as f:
            f.write("partial")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    assert sp.once() == 0
    assert "job=%s recovered message-id=<%s@relay.test>" % (
        inflight, inflight) in sp.log()
    assert "job=%s recovered" % cut not in sp.log()
    assert sorted(sp.call_ids()) == sorted([inflight, cut])
    assert "job=%s delivered message-id=<%s@relay.test> attempt=2" % (
        cut, cut) in sp.log()
    assert sp.jobs() == [] and sp.jobs("processing") == []
    assert not os.path.exists(stale) and os.path.exists(fresh)


def test_kill9_during_drain_loses_nothing(sp):
    sp.control(sleep=2)
    ids = sp.add_many(400)
    kills = 10
    rnd = random.Random(os.getpid())
    for _ in range(kills):
        p = sp.spoold()
        time.sleep(rnd.uniform(0.01, 0.12))     # the kill lands at random
        p.kill()
        p.wait()
    assert sp.jobs(), "drained before the last kill: nothing tested"
    p = sp.start()
    wait_for(lambda: not sp.jobs() and not sp.jobs("processing"), 60,
             "final drain")
    assert sp.stop(p) == 0
    # fake-sendmail children outlive a killed spoold: wait for them.
    wait_for(lambda: not running(sp.outbox), 10, "the sendmail children")
    got = sp.delivered()
    assert set(ids) <= set(got), "lost jobs"
    dups = sum(len(v) - 1 for v in got.values())
    assert dups <= kills
    assert sp.jobs("failed") == [] and sp.jobs("tmp") == []
    # A kill leaves at most two jobs in processing/: the one being sent
    # (maybe twice) and the next, claimed but not sent.
    recovered = len(re.findall(r"recovered message-id", sp.log()))
    assert 1 <= recovered <= 2 * kills
    assert "another spoold is running" not in sp.log()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_drops_privileges_to_user():
    base = tempfile.mkdtemp(prefix="spoold-user-")
    os.chmod(base, 0o755)
    s = Spool(base, user="nobody")
    try:
        os.chmod(s.outbox, 0o777)
        jid = s.add()
        assert s.once() == 0, s.log()
        import pwd
        nobody = pwd.getpwnam("nobody")
        assert s.calls()[0]["uid"] == nobody.pw_uid
        assert jid in s.delivered()
        st = os.stat(os.path.join(s.spool, "pending"))
        assert st.st_uid == nobody.pw_uid
    finally:
        s.close()
        subprocess.run(["rm", "-rf", base])
