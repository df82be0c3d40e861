"""trackd's group commit: queue ids, records and webhook events are
written without a flush of their own, and one syncfs(2) before each save
of track.pos makes every line the position covers durable (watched with
strace: every rename of track.pos comes after a syncfs that follows the
last of those writes).  What a crash may lose before that save is made
again from the log: the same record (the seq), the same event (its id
from the job and the line), the same suppression; an event that cannot
be written holds the line until it can."""

import os
import re
import shutil
import signal
import subprocess

import pytest

from spoolhelp import wait_for
from test_trackd import TRACKD, Track

pytestmark = pytest.mark.skipif(not os.access(TRACKD, os.X_OK),
                                reason="trackd is not built (run make)")

STRACE = shutil.which("strace")


def events(tr):
    d = os.path.join(tr.sp.spool, "events")
    return sorted(n for n in os.listdir(d) if not n.startswith(".")) \
        if os.path.isdir(d) else []


def caught_up(tr):
    size = os.path.getsize(tr.path)
    wait_for(lambda: tr.pos()["offset"] == str(size), 10,
             "the position to cover the log\n" + tr.log()[-2000:])


@pytest.mark.skipif(STRACE is None, reason="strace is not installed "
                    "(conf/dev/deps.sh installs it)")
def test_one_syncfs_before_each_position_save(tmp_path):
    tr = Track(tmp_path, webhooks=str(tmp_path / "webhooks"))
    trace = str(tmp_path / "strace.out")
    try:
        jobs = [(tr.job(["a%d@dest.test" % i, "b%d@dest.test" % i]), i)
                for i in range(20)]
        log = open(tr.err, "ab")
        st = subprocess.Popen(
            [STRACE, "-f", "-y", "-qq", "-o", trace, "-e",
             "trace=fsync,fdatasync,syncfs,sync,rename,renameat,renameat2",
             TRACKD, "-d", "-v", "-c", tr.sp.conf_path],
            stdout=log, stderr=log)
        log.close()
        wait_for(lambda: "started:" in tr.log() or st.poll() is not None,
                 10, "trackd under strace")
        assert st.poll() is None, tr.log()
        lines = []
        for jid, i in jobs:
            q = tr.qid()
            lines += [tr.link(q, jid), tr.rcpt(q, "a%d@dest.test" % i, "sent"),
                      tr.rcpt(q, "b%d@dest.test" % i, "deferred"),
                      tr.removed(q)]
        half = len(lines) // 2
        tr.write(*lines[:half])
        caught_up(tr)               # one save in the middle, at least
        tr.write(*lines[half:])
        for jid, i in jobs:
            tr.wait_status(jid, "b%d@dest.test" % i, "deferred", 1)
        caught_up(tr)
        wait_for(lambda: len(events(tr)) == 40, 10, "40 events")
        with open(os.path.join(tr.sp.spool, "trackd.lock")) as f:
            os.kill(int(f.read()), signal.SIGTERM)
        assert st.wait(20) == 0, tr.log()
    finally:
        if st.poll() is None:
            st.kill()
            st.wait()
        tr.close()
    spool = os.path.realpath(tr.sp.spool)
    lazy = re.compile(r'renameat2?\(\d+<%s/tmp>, "(?:sent|qid|ev)\.[^"]*", '
                      r'\d+<%s/(sent|qid|events)>, "[^"]+"(?:, \w+)?\) = 0'
                      % (re.escape(spool), re.escape(spool)))
    pos = re.compile(r'renameat2?\(\d+<%s/tmp>, "track\.pos", \d+<%s>, '
                     r'"track\.pos"(?:, \w+)?\) = 0'
                     % (re.escape(spool), re.escape(spool)))
    flush = re.compile(r'(fsync|fdatasync)\(\d+<([^>]*)>\) = 0')
    dirty = 0
    n = {"lazy": 0, "pos": 0, "syncfs": 0}
    with open(trace) as f:
        for line in f:
            if lazy.search(line):
                dirty += 1
                n["lazy"] += 1
            elif pos.search(line):
                assert dirty == 0, "track.pos saved over %d unsynced " \
                    "writes: %s" % (dirty, line)
                n["pos"] += 1
            elif re.search(r"\bsyncfs\(\d+<%s>\) = 0" % re.escape(spool),
                           line):
                dirty = 0
                n["syncfs"] += 1
            else:
                m = flush.search(line)
                if m:       # only the position file and the spool's root
                    assert m.group(2) in (spool, spool + "/tmp/track.pos"), \
                        line
    # 20 links, 40 outcomes, 40 events; saved twice or more, each synced
    assert n["lazy"] == 100, n
    assert n["pos"] >= 2 and n["syncfs"] >= 2, n
    assert dirty == 0


def test_an_event_that_cannot_be_written_holds_the_line(tmp_path):
    tr = Track(tmp_path, webhooks=str(tmp_path / "webhooks"))
    try:
        jid = tr.job(["a@dest.test", "b@dest.test"])
        tr.start()
        evdir = os.path.join(tr.sp.spool, "events")
        if os.path.isdir(evdir):
            os.rmdir(evdir)
        with open(evdir, "w") as f:     # events/ cannot be written
            f.write("in the way\n")
        q = tr.qid()
        tr.write(tr.link(q, jid), tr.rcpt(q, "a@dest.test", "sent"),
                 tr.rcpt(q, "b@dest.test", "sent"))
        tr.wait_status(jid, "a@dest.test", "delivered", 1)
        wait_for(lambda: "cannot write its webhook event, will try again"
                 in tr.log(), 10, "the event refused")
        # the line waits: b is not heard, the position stays before a
        assert tr.status(jid, "b@dest.test") == ("queued", 0)
        assert int(tr.pos()["seq"]) < 2
        os.unlink(evdir)
        wait_for(lambda: len(events(tr)) == 2, 20, "both events\n" +
                 tr.log()[-2000:])
        tr.wait_status(jid, "b@dest.test", "delivered", 1)
        caught_up(tr)
        # each outcome once
        assert tr.status(jid, "a@dest.test") == ("delivered", 1)
        assert tr.log().count("rcpt=<a@dest.test> status=delivered") == 1
    finally:
        tr.close()


def test_a_line_read_again_makes_its_suppression_and_expiry_events(tmp_path):
    tr = Track(tmp_path, webhooks=str(tmp_path / "webhooks"))
    try:
        jid = tr.job(["a@dest.test"])
        jx = tr.job(["x@dest.test", "y@dest.test"])
        tr.write("before the start")
        tr.start()
        caught_up(tr)
        pos = os.path.join(tr.sp.spool, "track.pos")
        shutil.copy(pos, str(tmp_path / "pos.before"))
        q, qx = tr.qid(), tr.qid()
        tr.write(tr.link(q, jid), tr.link(qx, jx),
                 tr.rcpt(q, "a@dest.test", "bounced"),
                 tr.rcpt(qx, "x@dest.test", "deferred"), tr.expired(qx))
        tr.wait_status(jid, "a@dest.test", "bounced", 1)
        tr.wait_status(jx, "y@dest.test", "expired", 0)
        wait_for(lambda: len(events(tr)) == 4, 10, "four events")
        first = events(tr)
        assert tr.suppressed() == ["a@dest.test"]
        assert tr.stop() == 0
        # As after a crash that kept the records but not what followed
        # them: no events, no suppression, the position from before.
        for e in first:
            os.unlink(os.path.join(tr.sp.spool, "events", e))
        supp = os.path.join(tr.sp.spool, "suppress")
        for name in os.listdir(supp):
            os.unlink(os.path.join(supp, name))
        shutil.copy(str(tmp_path / "pos.before"), pos)
        tr.start()
        wait_for(lambda: events(tr) == first, 10, "the same four events\n" +
                 tr.log()[-2000:])
        wait_for(lambda: tr.suppressed() == ["a@dest.test"], 10,
                 "the suppression made again")
        caught_up(tr)
        assert tr.status(jid, "a@dest.test") == ("bounced", 1)
        assert tr.status(jx, "x@dest.test") == ("expired", 1)
        assert tr.status(jx, "y@dest.test") == ("expired", 0)
        assert events(tr) == first
    finally:
        tr.close()
