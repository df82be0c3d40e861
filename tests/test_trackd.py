"""trackd against a log file the test writes, in the exact form Postfix
3.7's postlogd writes it (the lines of tests/trackd/postfix-3.7-postlogd.log
with queue ids and job ids of the test's own): links, outcomes per
recipient, suppression, foreign messages, the first start at the end,
partial lines, both kinds of rotation, restarts and SIGKILL, and the
records and files checked as spool(5) documents them.  The same daemon
against real Postfix is tests/chain/test_chain_track.py."""

import os
import random
import signal
import subprocess
import time

import pytest

from spoolhelp import ROOT, Daemon, Spool, new_id, wait_for

TRACKD = os.path.join(ROOT, "trackd", "trackd")
PRE = "Dec 01 18:15:48 relay "
SMTP = "postfix/smtp[8470]: "

pytestmark = pytest.mark.skipif(not os.access(TRACKD, os.X_OK),
                                reason="trackd is not built (run make)")


def unescape(s):
    if s == "-":
        return ""
    out, i = bytearray(), 0
    b = s.encode()
    while i < len(b):
        if b[i:i + 1] == b"\\":
            c = b[i + 1:i + 2]
            if c == b"x":
                out.append(int(b[i + 2:i + 4], 16))
                i += 4
                continue
            out += {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(c, c)
            i += 2
            continue
        out.append(b[i])
        i += 1
    return out.decode()


class Track(Daemon):
    """A spool (spoolhelp.Spool) with postfix_log set, the log file, and
    trackd -d -v started on demand."""

    def __init__(self, tmp_path, **conf):
        self.sp = Spool(tmp_path, **conf)
        self.logdir = os.path.join(str(tmp_path), "log")
        os.makedirs(self.logdir)
        self.path = os.path.join(self.logdir, "mail.log")
        self.sp.write_conf(postfix_log=self.path)
        self.err = os.path.join(str(tmp_path), "trackd.log")
        self.proc = None
        self.qn = 0x10000

    # the log ---------------------------------------------------------------
    def write(self, *lines, path=None, end="\n"):
        with open(path or self.path, "a") as f:
            f.write("".join(line + end for line in lines))

    def qid(self):
        self.qn += 1
        return "DC614%06X" % self.qn

    @staticmethod
    def link(qid, jid, domain="relay.test"):
        return ("%spostfix/cleanup[1697]: %s: message-id=<%s@%s>"
                % (PRE, qid, jid, domain))

    @staticmethod
    def rcpt(qid, to, status, dsn=None, reply=None, prog="smtp"):
        dsn = dsn or {"sent": "2.0.0", "deferred": "4.3.0",
                      "bounced": "5.1.1"}[status]
        reply = reply or {"sent": "250 2.0.0 Ok: kept",
                          "deferred": "host 127.0.0.1[127.0.0.1] said: 451 "
                          "4.3.0 <%s>: try again later (in reply to RCPT TO "
                          "command)" % to,
                          "bounced": "host 127.0.0.1[127.0.0.1] said: 550 "
                          "5.1.1 <%s>: no such user here (in reply to RCPT "
                          "TO command)" % to}[status]
        return ("%spostfix/%s[8470]: %s: to=<%s>, relay=127.0.0.1[127.0.0.1]"
                ":2526, delay=0.03, delays=0.01/0.01/0/0.01, dsn=%s, "
                "status=%s (%s)" % (PRE, prog, qid, to, dsn, status, reply))

    @staticmethod
    def expired(qid):
        return ("%spostfix/qmgr[1657]: %s: from=<app@example.org>, "
                "status=expired, returned to sender" % (PRE, qid))

    @staticmethod
    def removed(qid):
        return "%spostfix/qmgr[1657]: %s: removed" % (PRE, qid)

    # the daemon --------------------------------------------------------------
    def start(self, *args):
        return self.spawn([TRACKD, "-d", "-v", "-c", self.sp.conf_path,
                           *args], "trackd start")

    def close(self):
        self.kill()
        self.sp.close()

    # the spool ---------------------------------------------------------------
    def job(self, rcpts):
        """A job in pending/, as relay-fcgi writes it: trackd makes its
        record when Postfix speaks before spoold wrote one."""
        return self.sp.add(rcpts=rcpts)

    def record(self, jid):
        """sent/<id> read as spool(5) documents it, or None."""
        try:
            with open(os.path.join(self.sp.spool, "sent", jid)) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return None
        assert lines[0] == "mail-relay-sent 1"
        rec = {"rcpt": [], "queue-id": [], "outcome": {}}
        for line in lines[1:]:
            k, _, v = line.partition(" ")
            if k == "rcpt" or k == "queue-id":
                rec[k].append(v)
            elif k == "outcome":
                i, st, att, at, dsn, relay, reply = v.split(" ")
                rec["outcome"][rec["rcpt"][int(i)]] = {
                    "status": st, "attempts": int(att), "at": int(at),
                    "dsn": unescape(dsn), "relay": unescape(relay),
                    "reply": unescape(reply)}
            else:
                rec[k] = v
        return rec

    def status(self, jid, rcpt):
        rec = self.record(jid)
        if rec is None or rcpt not in rec["outcome"]:
            return ("queued", 0)
        o = rec["outcome"][rcpt]
        return (o["status"], o["attempts"])

    def wait_status(self, jid, rcpt, status, attempts=None, timeout=10):
        def ok():
            st, att = self.status(jid, rcpt)
            return st == status and (attempts is None or att == attempts)
        wait_for(ok, timeout, "%s %s -> %s (%s); now %s\n%s"
                 % (jid, rcpt, status, attempts, self.status(jid, rcpt),
                    self.log()[-3000:]))

    def suppressed(self):
        d = os.path.join(self.sp.spool, "suppress")
        out = []
        for name in os.listdir(d) if os.path.isdir(d) else []:
            with open(os.path.join(d, name)) as f:
                for line in f:
                    if line.startswith("address "):
                        out.append(line.split(" ", 1)[1].strip())
        return sorted(out)

    def pos(self):
        with open(os.path.join(self.sp.spool, "track.pos")) as f:
            return dict(line.split() for line in f.read().splitlines()[1:])


@pytest.fixture
def tr(tmp_path):
    t = Track(tmp_path)
    yield t
    t.close()


def test_without_postfix_log_exits_with_a_clear_message(tmp_path):
    sp = Spool(tmp_path)
    p = subprocess.run([TRACKD, "-d", "-c", sp.conf_path],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 78          # EX_CONFIG
    assert "postfix_log is not set" in p.stderr
    assert not os.path.exists(os.path.join(sp.spool, "trackd.lock"))


def test_usage(tmp_path):
    p = subprocess.run([TRACKD, "-x"], capture_output=True, text=True)
    assert p.returncode == 64 and "usage: trackd" in p.stderr


def test_outcomes_per_recipient_and_suppression(tr):
    jid = tr.job(["a@dest.test", "b@dest.test", "d@dest.test"])
    tr.write("old line before the first start")
    tr.start()
    q = tr.qid()
    tr.write("%spostfix/pickup[1656]: %s: uid=0 from=<app@example.org>"
             % (PRE, q), tr.link(q, jid),
             "%spostfix/qmgr[1657]: %s: from=<app@example.org>, size=303, "
             "nrcpt=3 (queue active)" % (PRE, q),
             tr.rcpt(q, "a@dest.test", "sent"),
             tr.rcpt(q, "b@dest.test", "bounced"),
             tr.rcpt(q, "d@dest.test", "deferred"))
    tr.wait_status(jid, "d@dest.test", "deferred", 1)
    rec = tr.record(jid)
    assert rec["queue-id"] == [q]
    a, b = rec["outcome"]["a@dest.test"], rec["outcome"]["b@dest.test"]
    assert (a["status"], a["dsn"], a["reply"]) == \
        ("delivered", "2.0.0", "250 2.0.0 Ok: kept")
    assert a["relay"] == "127.0.0.1[127.0.0.1]:2526"
    assert (b["status"], b["dsn"]) == ("bounced", "5.1.1")
    assert "550 5.1.1 <b@dest.test>: no such user here" in b["reply"]
    assert tr.suppressed() == ["b@dest.test"]
    # later Postfix retries the deferred one, and it goes through
    tr.write(tr.rcpt(q, "d@Dest.Test", "sent"),
             tr.removed(q))
    tr.wait_status(jid, "d@dest.test", "delivered", 2)
    # each outcome is logged with the job and the queue id
    log = tr.log()
    assert "job=%s qid=%s queued by postfix" % (jid, q) in log
    assert "job=%s qid=%s rcpt=<b@dest.test> status=bounced dsn=5.1.1" \
        % (jid, q) in log
    assert "job=%s qid=%s suppressed: bounced with 5.1.1" % (jid, q) in log


def test_addresses_only_at_debug(tr):
    jid = tr.job(["a@dest.test"])
    tr.sp.write_conf()
    log = open(tr.err, "ab")
    tr.proc = subprocess.Popen([TRACKD, "-d", "-c", tr.sp.conf_path],
                               stdout=log, stderr=log)
    log.close()
    wait_for(lambda: "started:" in tr.log(), what="trackd start")
    q = tr.qid()
    tr.write(tr.link(q, jid), tr.rcpt(q, "a@dest.test", "bounced"))
    tr.wait_status(jid, "a@dest.test", "bounced", 1)
    wait_for(lambda: "suppressed" in tr.log(), what="suppression logged")
    assert "job=%s qid=%s status=bounced dsn=5.1.1" % (jid, q) in tr.log()
    assert "a@dest.test" not in tr.log()


def test_domain_case_and_orig_to_and_agents(tr):
    jid = tr.job(["Alice@Example.NET", "bob@example.net", "c@example.net"])
    tr.start()
    q = tr.qid()
    tr.write(tr.link(q, jid, domain="RELAY.Test"),
             tr.rcpt(q, "Alice@example.net", "sent", prog="lmtp"),
             tr.rcpt(q, "x@elsewhere.test", "sent").replace(
                 ", relay=", ", orig_to=<bob@EXAMPLE.net>, relay="),
             tr.rcpt(q, "c@example.net", "bounced", dsn="5.7.1",
                     reply="no mail for example.net", prog="error"))
    tr.wait_status(jid, "c@example.net", "bounced", 1)
    assert tr.status(jid, "Alice@Example.NET") == ("delivered", 1)
    assert tr.status(jid, "bob@example.net") == ("delivered", 1)


def test_foreign_messages_leave_no_record(tr):
    tr.start()
    mine = tr.job(["a@dest.test"])
    lines = []
    for msgid in ("<abc123@example.test>", "<%s@other.example>" % new_id(),
                  "<20261201181609.D6F6C11A5B2@relay.test>", ""):
        q = tr.qid()
        if msgid:
            lines.append("%spostfix/cleanup[1]: %s: message-id=%s"
                         % (PRE, q, msgid))
        lines += [tr.rcpt(q, "a@dest.test", "bounced"), tr.expired(q),
                  tr.removed(q)]
    q = tr.qid()
    lines += [tr.link(q, mine), tr.rcpt(q, "a@dest.test", "sent")]
    tr.write(*lines)
    tr.wait_status(mine, "a@dest.test", "delivered", 1)
    assert os.listdir(os.path.join(tr.sp.spool, "sent")) == [mine]
    assert os.listdir(os.path.join(tr.sp.spool, "qid")) == [q]
    assert tr.suppressed() == []


def test_suppress_bounces_no(tmp_path):
    tr = Track(tmp_path, suppress_bounces="no")
    try:
        jid = tr.job(["b@dest.test", "c@dest.test"])
        tr.start()
        q = tr.qid()
        tr.write(tr.link(q, jid), tr.rcpt(q, "b@dest.test", "bounced"),
                 tr.rcpt(q, "c@dest.test", "sent"))
        tr.wait_status(jid, "c@dest.test", "delivered")
        assert tr.status(jid, "b@dest.test") == ("bounced", 1)
        assert tr.suppressed() == []
    finally:
        tr.close()


def test_a_4xx_bounce_is_not_suppressed(tr):
    jid = tr.job(["b@dest.test"])
    tr.start()
    q = tr.qid()
    tr.write(tr.link(q, jid), tr.rcpt(q, "b@dest.test", "bounced",
                                      dsn="4.4.7", reply="too old"))
    tr.wait_status(jid, "b@dest.test", "bounced")
    assert tr.suppressed() == []


def test_expired_ends_every_open_recipient(tr):
    jid = tr.job(["a@dest.test", "d@dest.test", "e@dest.test"])
    tr.start()
    q = tr.qid()
    tr.write(tr.link(q, jid), tr.rcpt(q, "a@dest.test", "sent"),
             tr.rcpt(q, "d@dest.test", "deferred"))
    tr.wait_status(jid, "d@dest.test", "deferred", 1)
    tr.write(tr.rcpt(q, "d@dest.test", "deferred"), tr.expired(q))
    tr.wait_status(jid, "e@dest.test", "expired")
    assert tr.status(jid, "d@dest.test") == ("expired", 2)
    assert tr.status(jid, "a@dest.test") == ("delivered", 1)
    assert tr.suppressed() == []


def test_first_start_begins_at_the_end(tr):
    jid = tr.job(["a@dest.test", "b@dest.test"])
    q = tr.qid()
    # before the first start: not read, nor the partial last line's start
    tr.write(tr.link(q, jid), tr.rcpt(q, "a@dest.test", "sent"))
    head = tr.rcpt(q, "b@dest.test", "bounced")
    tr.write(head[:60], end="")
    tr.start()
    assert tr.pos()["offset"] == str(os.path.getsize(tr.path) - 60)
    # the line completes; its queue id was linked before the start
    tr.write(head[60:])
    q2 = tr.qid()
    tr.write(tr.link(q2, jid), tr.rcpt(q2, "b@dest.test", "bounced"))
    tr.wait_status(jid, "b@dest.test", "bounced", 1)
    assert tr.status(jid, "a@dest.test") == ("queued", 0)
    assert tr.record(jid)["queue-id"] == [q2]


def test_a_partial_line_is_held_until_complete(tr):
    jid = tr.job(["a@dest.test"])
    tr.start()
    q = tr.qid()
    tr.write(tr.link(q, jid))
    line = tr.rcpt(q, "a@dest.test", "sent")
    for i in range(0, len(line), 25):
        tr.write(line[i:i + 25], end="")
        time.sleep(0.01)        # the line arrives in pieces: the test
    # not before the newline: the reply could still be growing
    wait_for(lambda: "queued by postfix" in tr.log(), what="link")
    assert tr.status(jid, "a@dest.test") == ("queued", 0)
    tr.write("")
    tr.wait_status(jid, "a@dest.test", "delivered", 1)
    assert tr.record(jid)["outcome"]["a@dest.test"]["reply"] == \
        "250 2.0.0 Ok: kept"


def test_hostile_lines_do_not_stop_it(tr):
    jid = tr.job(["a@dest.test"])
    tr.start()
    q = tr.qid()
    with open(tr.path, "ab") as f:
        f.write(b"\x00\xff\xfe garbage \x00\n")
        f.write(b"x" * 200000 + b"\n")          # longer than a read buffer
        f.write(tr.link(q, jid).encode() + b"\n")
        f.write(tr.rcpt(q, "a@dest.test", "bounced").encode()
                .replace(b"no such", b"no\x00\x1b[31m\xc2\x85such") + b"\n")
    tr.wait_status(jid, "a@dest.test", "bounced", 1)
    reply = tr.record(jid)["outcome"]["a@dest.test"]["reply"]
    assert "no[31msuch user here" in reply
    assert tr.proc.poll() is None


def test_one_trackd_per_spool(tr):
    tr.start()
    p = subprocess.run([TRACKD, "-d", "-c", tr.sp.conf_path],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 75 and "trackd.lock is held" in p.stderr


def test_log_not_there_yet_then_created(tr):
    tr.start()
    assert "not there yet" in tr.log()
    jid = tr.job(["a@dest.test"])
    q = tr.qid()
    tr.write(tr.link(q, jid), tr.rcpt(q, "a@dest.test", "sent"))
    tr.wait_status(jid, "a@dest.test", "delivered", 1)


def test_unreadable_log_is_a_clear_error(tr):
    if os.geteuid() == 0:
        tr.sp.write_conf(user="nobody")
        os.chmod(os.path.dirname(tr.sp.dir), 0o755)
        os.chmod(tr.sp.dir, 0o755)
    tr.write("x")
    os.chmod(tr.path, 0o600)
    if os.geteuid() != 0:
        os.chmod(tr.path, 0)
    p = subprocess.run([TRACKD, "-d", "-c", tr.sp.conf_path],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 66, p.stderr          # EX_NOINPUT
    assert "cannot follow %s" % tr.path in p.stderr
    assert "Permission denied" in p.stderr


# -- rotation and restarts ----------------------------------------------------

def flow(tr, jobs):
    """Postfix's lines for jobs (each recipient deferred twice, then sent
    or bounced) and what each recipient must end as."""
    want = {}
    lines = []
    for jid, rcpts in jobs:
        q = tr.qid()
        lines.append(tr.link(q, jid))
        for r in rcpts:
            final = random.choice(["sent", "bounced"])
            want[(jid, r)] = ("delivered" if final == "sent" else "bounced",
                              3)
            lines += [tr.rcpt(q, r, "deferred"), tr.rcpt(q, r, "deferred"),
                      tr.rcpt(q, r, final)]
        lines.append(tr.removed(q))
    return want, lines


def test_rotation_both_ways_and_sigkill_exactly_once(tr):
    random.seed(11)
    jobs = []
    for i in range(30):
        rcpts = ["r%d-%d@dest.test" % (i, k) for k in range(3)]
        jobs.append((tr.job(rcpts), rcpts))
    want, lines = flow(tr, jobs)
    tr.write("before the start")
    tr.start()
    n = len(lines)
    cuts = sorted(random.sample(range(1, n), 8))
    events = ["rename", "kill", "copytruncate", "kill", "rename-late",
              "kill-rename", "copytruncate", "kill"]
    done = 0
    rotated = 0
    for cut, ev in zip(cuts, events):
        tr.write(*lines[done:cut])
        done = cut
        # wait until trackd consumed what was written (its position)
        size = os.path.getsize(tr.path)
        wait_for(lambda: int(tr.pos()["offset"]) == size and
                 tr.pos()["ino"] == str(os.stat(tr.path).st_ino), 10,
                 "trackd to catch up before %s\n%s" % (ev, tr.log()[-2000:]))
        if ev == "rename":
            rotated += 1
            os.rename(tr.path, "%s.%d" % (tr.path, rotated))
            tr.write(lines[done])      # the writer reopens at once
            done += 1
        elif ev == "rename-late":
            # logrotate's create: an empty file first; the writer still
            # writes the old one until it reopens
            rotated += 1
            old = "%s.%d" % (tr.path, rotated)
            os.rename(tr.path, old)
            open(tr.path, "w").close()
            tr.write(*lines[done:done + 3], path=old)
            tr.write(lines[done + 3])
            done += 4
        elif ev == "copytruncate":
            with open(tr.path, "r+") as f:
                f.truncate(0)
            tr.write(lines[done])
            done += 1
        elif ev == "kill":
            tr.stop(signal.SIGKILL)
            tr.write(*lines[done:done + 5])
            done += 5
            tr.start()
        elif ev == "kill-rename":
            # rotated while trackd is down: the rest of the old file first
            tr.stop(signal.SIGKILL)
            tr.write(*lines[done:done + 5])
            done += 5
            rotated += 1
            os.rename(tr.path, "%s.%d" % (tr.path, rotated))
            tr.write(*lines[done:done + 5])
            done += 5
            tr.start()
    tr.write(*lines[done:])
    for (jid, r), (st, att) in want.items():
        tr.wait_status(jid, r, st, att)
    # exactly once: every recipient heard three times, no more
    for (jid, r), (st, att) in want.items():
        assert tr.status(jid, r) == (st, att)
    bounced = sorted(r for (jid, r), (st, _) in want.items()
                     if st == "bounced")
    assert tr.suppressed() == bounced
    assert "was rotated: following the new file" in tr.log()
    assert "was truncated" in tr.log()
    assert "was rotated while stopped: reading" in tr.log()


def test_position_is_saved_and_restart_repeats_nothing(tr):
    jid = tr.job(["a@dest.test"])
    tr.start()
    q = tr.qid()
    tr.write(tr.link(q, jid), tr.rcpt(q, "a@dest.test", "deferred"))
    tr.wait_status(jid, "a@dest.test", "deferred", 1)
    assert tr.stop() == 0
    pos = tr.pos()
    assert pos["offset"] == str(os.path.getsize(tr.path))
    assert pos["ino"] == str(os.stat(tr.path).st_ino)
    assert int(pos["seq"]) == 2
    tr.write(tr.rcpt(q, "a@dest.test", "deferred"))
    tr.start()
    tr.wait_status(jid, "a@dest.test", "deferred", 2)
    # a position older than the records (a crash before the save): the
    # lines come again and change nothing
    tr.stop(signal.SIGKILL)
    with open(os.path.join(tr.sp.spool, "track.pos"), "w") as f:
        f.write("mail-relay-track 1\ndev %s\nino %s\noffset 0\nseq 0\n"
                % (pos["dev"], pos["ino"]))
    tr.write(tr.rcpt(q, "a@dest.test", "sent"))
    tr.start()
    tr.wait_status(jid, "a@dest.test", "delivered", 3)
    assert "line 2 already recorded" in tr.log()


def test_a_recipient_not_in_the_job_and_a_job_gone(tr):
    jid = tr.job(["a@dest.test"])
    gone = tr.job(["g@dest.test"])
    tr.start()
    q, qg = tr.qid(), tr.qid()
    tr.write(tr.link(q, jid), tr.link(qg, gone))
    wait_for(lambda: tr.log().count("queued by postfix") == 2, what="links")
    os.unlink(os.path.join(tr.sp.spool, "pending", gone))
    tr.write(tr.rcpt(q, "stranger@dest.test", "bounced"),
             tr.rcpt(qg, "g@dest.test", "bounced"),
             tr.rcpt(q, "a@dest.test", "sent"))
    tr.wait_status(jid, "a@dest.test", "delivered", 1)
    assert "job=%s qid=%s outcome for a recipient the job does not have" \
        % (jid, q) in tr.log()
    assert "job=%s qid=%s no record any more" % (gone, qg) in tr.log()
    assert tr.record(gone) is None
    assert tr.suppressed() == []
    assert list(tr.record(jid)["outcome"]) == ["a@dest.test"]


def test_copytruncate_then_sigkill_before_a_save_loses_nothing(tr):
    # The position is saved at most once a second while lines flow, but a
    # truncation is saved before any line after it is read: a restart must
    # not find the break again and number new lines as old ones.
    jid = tr.job(["a@dest.test"])
    tr.start()
    q = tr.qid()
    tr.write(tr.link(q, jid), tr.rcpt(q, "a@dest.test", "deferred"))
    tr.wait_status(jid, "a@dest.test", "deferred", 1)
    size = os.path.getsize(tr.path)
    wait_for(lambda: tr.pos()["offset"] == str(size), what="position saved")
    with open(tr.path, "r+") as f:
        f.truncate(0)
    tr.write(tr.rcpt(q, "a@dest.test", "deferred"))
    tr.wait_status(jid, "a@dest.test", "deferred", 2)
    tr.stop(signal.SIGKILL)
    assert tr.pos()["offset"] == "0"
    tr.write(tr.rcpt(q, "a@dest.test", "sent"))
    tr.start()
    tr.wait_status(jid, "a@dest.test", "delivered", 3)


def test_copytruncate_seen_after_the_file_grew_back_past_the_position(tr):
    # trackd falls behind a copytruncate after which more was written than
    # it had read, with a newline exactly where its position was: only the
    # bytes before the position, not one, tell that they changed.
    jid = tr.job(["a@dest.test", "b@dest.test"])
    tr.start()
    q = tr.qid()
    other = PRE + "postfix/smtpd[1]: connect from client.example[192.0.2.1]"
    tr.write(tr.link(q, jid), other, other, other, other)
    wait_for(lambda: "queued by postfix" in tr.log(), what="link")
    read = os.path.getsize(tr.path)
    wait_for(lambda: tr.pos()["offset"] == str(read), what="position saved")
    first = tr.link(q, jid) + "\n" + tr.rcpt(q, "a@dest.test", "sent") + "\n"
    pad = read - len(first) - 1 - len(other)
    assert pad >= 0
    tr.proc.send_signal(signal.SIGSTOP)
    try:
        os.truncate(tr.path, 0)
        tr.write(first + other + "x" * pad, tr.rcpt(q, "b@dest.test", "sent"))
        with open(tr.path, "rb") as f:
            f.seek(read - 1)
            assert f.read(1) == b"\n"          # what one byte would see
    finally:
        tr.proc.send_signal(signal.SIGCONT)
    tr.wait_status(jid, "b@dest.test", "delivered", 1)
    tr.wait_status(jid, "a@dest.test", "delivered", 1)
    assert "was truncated (copytruncate?)" in tr.log()


def test_rotated_file_gone_while_stopped(tr):
    jid = tr.job(["a@dest.test"])
    tr.start()
    q = tr.qid()
    tr.write(tr.link(q, jid), tr.rcpt(q, "a@dest.test", "deferred"))
    tr.wait_status(jid, "a@dest.test", "deferred", 1)
    assert tr.stop() == 0
    # rotated and compressed away while trackd was down
    os.unlink(tr.path)
    tr.write(tr.rcpt(q, "a@dest.test", "sent"))
    tr.start()
    tr.wait_status(jid, "a@dest.test", "delivered", 2)
    # (a new file may get the old inode number back: then it is the
    # saved file truncated, and read from its start all the same)
    assert "the old file is gone" in tr.log() or \
        "was truncated" in tr.log()


def test_rename_then_last_lines_to_the_old_file(tr):
    # A reload replaces postlogd: the new one creates the new file while
    # the old one may still write its last lines to the renamed file.
    jid = tr.job(["a@dest.test", "b@dest.test", "c@dest.test"])
    tr.start()
    q = tr.qid()
    tr.write(tr.link(q, jid))
    wait_for(lambda: "queued by postfix" in tr.log(), what="link")
    old = tr.path + ".1"
    os.rename(tr.path, old)
    tr.write(tr.rcpt(q, "b@dest.test", "sent"))           # the new file
    tr.wait_status(jid, "b@dest.test", "delivered", 1)
    assert "following the new file" in tr.log()
    tr.write(tr.rcpt(q, "a@dest.test", "sent"), path=old)  # late, old one
    tr.wait_status(jid, "a@dest.test", "delivered", 1)
    tr.write(tr.rcpt(q, "c@dest.test", "sent"))
    tr.wait_status(jid, "c@dest.test", "delivered", 1)
    # a restart numbers the new file's lines as before: nothing twice
    tr.stop(signal.SIGKILL)
    tr.write(tr.rcpt(q, "c@dest.test", "deferred"))
    tr.start()
    size = os.path.getsize(tr.path)
    wait_for(lambda: tr.pos()["offset"] == str(size), what="caught up")
    assert tr.status(jid, "a@dest.test") == ("delivered", 1)
    assert tr.status(jid, "b@dest.test") == ("delivered", 1)
    assert tr.status(jid, "c@dest.test") == ("delivered", 1)


def test_copytruncate_loses_what_was_not_read_and_says_from_where(tr):
    # What copytruncate costs by its nature: lines written before the copy
    # that trackd had not read yet are only in the copy, which trackd does
    # not read; it says from which byte of the old content on.
    jid = tr.job(["a@dest.test", "b@dest.test"])
    tr.start()
    q = tr.qid()
    tr.write(tr.link(q, jid))
    wait_for(lambda: "queued by postfix" in tr.log(), what="link")
    read = os.path.getsize(tr.path)
    tr.proc.send_signal(signal.SIGSTOP)         # trackd falls behind
    try:
        tr.write(tr.rcpt(q, "a@dest.test", "sent"))
        with open(tr.path, "rb") as f, open(tr.path + ".1", "wb") as out:
            out.write(f.read())                 # logrotate's copy ...
        os.truncate(tr.path, 0)                 # ... and truncation
        tr.write(tr.rcpt(q, "b@dest.test", "sent"))
    finally:
        tr.proc.send_signal(signal.SIGCONT)
    tr.wait_status(jid, "b@dest.test", "delivered", 1)
    assert "was truncated (copytruncate?): reading it from the start; " \
        "lines from byte %d of the old content on were not read" % read \
        in tr.log()
    assert tr.status(jid, "a@dest.test") == ("queued", 0)
