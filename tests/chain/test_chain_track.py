"""Delivery status through the real chain: POST /send through nginx,
relay-fcgi, spoold, Postfix's sendmail, a private Postfix (from
conf/postfix, logging with postlogd) with OpenDKIM, and an SMTP sink that
answers 250, 451 or 550 per recipient; trackd follows Postfix's log, and
the records are read back with spoolctl (show --json, suppressed --json).

Also: messages that are not the relay's leave no record, and trackd
killed with SIGKILL and restarted while mail flows, with the log rotated
by `postfix logrotate`, by a rename while trackd is down and by
copytruncate, records every outcome exactly once: each recipient's
attempts equal the delivery lines Postfix wrote for it (as many as the
sink's tries), but for lines the copytruncate took before trackd read
them, which trackd names (usually none).  The same with lines of the
test's own: tests/test_trackd.py."""

import gzip
import json
import os
import re
import shutil
import signal
import threading
import time

import pytest

import chainstack as ch
from conftest import (LOG_DIRS, require_built, require_modules, require_root,
                      require_tools)

SINK_DOMAIN = "dest.test"


class Track:
    """The chain with trackd following the private Postfix's log."""


@pytest.fixture(scope="module")
def track(pki):
    require_root()
    require_tools("nginx", "postfix", "postconf", "postkick", "sendmail",
                  "opendkim", "opendkim-genkey")
    require_modules("dkim", "aiosmtpd")
    require_built()
    if not os.access(ch.TRACKD, os.X_OK):
        pytest.skip("trackd is not built (run make)")
    base = ch.make_base("mail-relay-track-")
    LOG_DIRS.append(base)
    procs = ch.Procs(base)
    t = Track()
    t.pki, t.procs, t.base = pki, procs, base
    t.sink = t.postfix = None
    try:
        t.sink = ch.Sink().start()
        t.dkim = ch.OpenDkim(base, procs)
        t.postfix = ch.Postfix(base, t.sink.port, t.dkim.socket)
        t.dkim.start()
        t.postfix.start()
        # postlogd writes the file at the first line: the master's start
        ch.wait_for(t.postfix.maillog.exists, 10, "Postfix's log file")
        t.relay = ch.Relay(base, procs,
                           sendmail=" ".join(t.postfix.sendmail_argv()))
        with open(t.relay.conf, "a") as f:
            f.write("postfix_log = %s\n" % t.postfix.maillog)
        t.relay.start_fcgi()
        t.relay.start_spoold()
        t.nginx = ch.Nginx(base, procs, pki, t.relay.socket).start()
        start_trackd(t)
        yield t
    finally:
        if t.postfix:
            t.postfix.stop()
        procs.stop_all()
        if t.sink:
            t.sink.stop()
        LOG_DIRS.remove(base)
        ch.remove_base(base)


def start_trackd(t):
    log = t.base / "trackd.log"
    n = log.read_text().count("started:") if log.exists() else 0
    p = t.procs.start("trackd", [ch.TRACKD, "-d", "-v", "-c", t.relay.conf])

    def up():
        if p.poll() is not None:
            raise AssertionError("trackd exited %s:\n%s"
                                 % (p.returncode, t.procs.log("trackd")))
        return log.read_text().count("started:") > n
    ch.wait_for(up, 10, "trackd to start")
    return p


def trackd_log(t):
    return (t.base / "trackd.log").read_text(errors="replace")


def kill_trackd(t):
    p = t.procs.procs["trackd"]
    t.procs.stop("trackd", signal.SIGKILL)
    assert p.returncode == -signal.SIGKILL


def send(t, rcpts, subject="status"):
    r = ch.https(t.nginx.port, "POST", "/send", t.pki, cert=t.pki.good,
                 headers=t.relay.auth(),
                 body={"from": "app@" + ch.DOMAIN, "to": rcpts,
                       "subject": subject, "text": "hello\n"})
    assert r.status == 202, r
    return r.json()["id"]


def spoolctl(t, *args):
    p = ch.run([ch.SPOOLCTL, "-c", t.relay.conf] + list(args), check=False)
    return p


def record(t, jid):
    p = spoolctl(t, "show", jid, "--json")
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)


def rcpt_status(t, jid):
    rec = record(t, jid)
    if rec is None or rec.get("state") != "sent":
        return {}            # a job still in the spool: nothing heard yet
    return {r["email"]: r for r in rec["recipients"]}


def wait_status(t, jid, email, status, timeout=40):
    def ok():
        r = rcpt_status(t, jid).get(email)
        return r if r and r["status"] == status else None
    try:
        return ch.wait_for(ok, timeout, "%s %s -> %s" % (jid, email, status),
                           interval=0.2)
    except AssertionError:
        raise AssertionError("%s %s never %s: %s\n--- trackd:\n%s\n--- "
                             "maillog:\n%s" % (
                                 jid, email, status, rcpt_status(t, jid),
                                 t.procs.log("trackd"), t.postfix.log()))


def suppressed(t):
    p = spoolctl(t, "suppressed", "--json")
    assert p.returncode == 0, p
    return {s["address"]: s for s in json.loads(p.stdout)}


def test_delivered_deferred_bounced_per_recipient(track):
    t = track
    ok, bad, later = ("ok@" + SINK_DOMAIN, "bad@" + SINK_DOMAIN,
                      "later@" + SINK_DOMAIN)
    with t.sink.lock:
        t.sink.answers[bad] = "550 5.1.1 <%s>: no such user here" % bad
        t.sink.answers[later] = "451 4.3.0 <%s>: try again later" % later
    jid = send(t, [ok, bad, later])
    r_ok = wait_status(t, jid, ok, "delivered")
    r_bad = wait_status(t, jid, bad, "bounced")
    r_later = wait_status(t, jid, later, "deferred")
    assert (r_ok["dsn"], r_ok["attempts"]) == ("2.0.0", 1)
    assert r_ok["reply"].startswith("250 ")
    assert re.match(r"127\.0\.0\.1\[127\.0\.0\.1\]:\d+$", r_ok["relay"])
    assert (r_bad["dsn"], r_bad["attempts"]) == ("5.1.1", 1)
    assert "550 5.1.1 <%s>: no such user here" % bad in r_bad["reply"]
    assert r_later["dsn"] == "4.3.0" and r_later["attempts"] >= 1
    rec = record(t, jid)
    assert rec["message_state"] == "deferred"
    qids = rec["queue_ids"]
    assert len(qids) == 1
    # the bounced address is on the suppression list, with the job
    s = suppressed(t)
    assert bad in s and s[bad]["id"] == jid
    assert ok not in s and later not in s
    # the sink takes the deferred recipient at a later try
    with t.sink.lock:
        del t.sink.answers[later]
    t.postfix.kick()
    r_later = wait_status(t, jid, later, "delivered")
    assert r_later["attempts"] >= 2 and r_later["dsn"] == "2.0.0"
    assert record(t, jid)["message_state"] == "partially_bounced"
    # the caller reads the same through nginx
    r = ch.https(t.nginx.port, "GET", "/messages/" + jid, t.pki,
                 cert=t.pki.good, headers=t.relay.auth())
    assert r.status == 200, r
    body = r.json()
    assert body["id"] == jid and body["state"] == "partially_bounced"
    got = {x["email"]: x for x in body["recipients"]}
    assert got[ok]["status"] == "delivered" and got[ok]["dsn"] == "2.0.0"
    assert got[bad]["status"] == "bounced" and got[bad]["dsn"] == "5.1.1"
    assert "no such user here" in got[bad]["reply"]
    assert got[later]["status"] == "delivered"
    # /health: trackd holds its lock
    r = ch.https(t.nginx.port, "GET", "/health", t.pki, cert=t.pki.good)
    assert r.status == 200, r
    # the bounced address is refused now, and accepted once unsuppressed
    r = ch.https(t.nginx.port, "POST", "/send", t.pki, cert=t.pki.good,
                 headers=t.relay.auth(),
                 body={"from": "app@" + ch.DOMAIN, "to": [ok],
                       "bcc": [bad], "subject": "again", "text": "x\n"})
    assert r.status == 422 and r.json()["error"] == "recipient_suppressed", r
    assert bad in r.json()["message"]
    assert spoolctl(t, "unsuppress", bad).returncode == 0
    with t.sink.lock:
        del t.sink.answers[bad]
    jid2 = send(t, [bad])
    wait_status(t, jid2, bad, "delivered")
    # every outcome in trackd's log with the job and the queue id
    log = trackd_log(t)
    for st in ("delivered", "bounced", "deferred"):
        assert re.search(r"job=%s qid=%s rcpt=<[^>]+> status=%s" %
                         (jid, qids[0], st), log), log


def test_foreign_messages_leave_no_record(track):
    t = track
    before = set(os.listdir(t.relay.spool / "sent"))
    msgid = "<foreign-%d@elsewhere.test>" % os.getpid()
    msg = ("From: someone@%s\nTo: x@%s\nSubject: not the relay's\n"
           "Message-ID: %s\n\nhi\n" % (ch.DOMAIN, SINK_DOMAIN, msgid))
    ch.run(t.postfix.sendmail_argv() + ["-i", "-f", "someone@" + ch.DOMAIN,
                                        "--", "x@" + SINK_DOMAIN],
           input=msg)
    t.postfix.kick()
    t.sink.wait(msgid)
    line = ch.wait_for(lambda: [ln for ln in t.postfix.maillog.read_text()
                                .splitlines() if "message-id=" + msgid in ln],
                       10, "cleanup's line")[0]
    qid = re.search(r": ([0-9A-Za-z]+): message-id=", line).group(1)
    ch.wait_for(lambda: re.search(qid + r": to=<x@dest\.test>.*status=sent",
                                  t.postfix.maillog.read_text()), 20,
                "the foreign delivery line")
    # trackd read past it (a relay message after it is recorded) ...
    jid = send(t, ["after-foreign@" + SINK_DOMAIN])
    wait_status(t, jid, "after-foreign@" + SINK_DOMAIN, "delivered")
    # ... and left nothing for it
    assert not (t.relay.spool / "qid" / qid).exists()
    assert set(os.listdir(t.relay.spool / "sent")) - before == {jid}
    assert "qid=%s " % qid not in trackd_log(t)


# -- SIGKILL and rotations while mail flows -----------------------------------

def outcome_lines(t):
    """(job id, recipient) -> [(file name, byte offset, status)] of the
    delivery lines Postfix wrote for it, over the log and its rotated
    copies (plain or gzip): what trackd had to see."""
    jobs, found = {}, []
    link = re.compile(r": ([0-9A-Za-z]+): message-id=<([0-9a-f]{13}-"
                      r"[0-9a-f]{16})@" + re.escape(ch.DOMAIN) + ">")
    rcpt = re.compile(r"postfix/smtp\[\d+\]: ([0-9A-Za-z]+): to=<([^>]+)>, "
                      r".*status=(sent|deferred|bounced)")
    for p in sorted(t.postfix.logdir.iterdir()):
        if not p.name.startswith(t.postfix.maillog.name):
            continue
        data = p.read_bytes()
        if p.name.endswith(".gz"):
            data = gzip.decompress(data)
        off = 0
        for line in data.decode(errors="replace").split("\n"):
            m = link.search(line)
            if m:
                jobs[m.group(1)] = m.group(2)
            m = rcpt.search(line)
            if m:
                found.append((m.group(1), m.group(2), p.name, off,
                              m.group(3)))
            off += len(line.encode()) + 1
    out = {}
    for qid, r, name, off, st in found:
        if qid in jobs:
            out.setdefault((jobs[qid], r), []).append((name, off, st))
    return out


def postlogd_pid(t):
    """The pid of the private instance's postlogd (a child of its master),
    or None while none runs."""
    master = t.postfix.master_pid()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if comm == "postlogd" and ppid == master:
            return int(d)
    return None


def log_count(t, what):
    return trackd_log(t).count(what)


def wait_log(t, what, n, timeout=30):
    ch.wait_for(lambda: log_count(t, what) > n, timeout,
                "trackd to log %r\n%s" % (what, trackd_log(t)[-3000:]))


def caught_up(t, timeout=30):
    """track.pos covers the whole log: every line in it is recorded."""
    pos = t.relay.spool / "track.pos"

    def ok():
        try:
            p = dict(ln.split() for ln in pos.read_text().splitlines()[1:])
            st = os.stat(t.postfix.maillog)
        except (OSError, ValueError):
            return False
        return int(p["ino"]) == st.st_ino and int(p["offset"]) == st.st_size
    ch.wait_for(ok, timeout, "trackd to catch up with the log")


TRUNCATED = re.compile(r"was truncated \(copytruncate\?\): reading it from "
                       r"the start; lines from byte (\d+) of the old content "
                       r"on were not read")


def copytruncate(t, n):
    """logrotate's copytruncate: the file copied, then truncated, with
    postlogd stopped in between (its clients' datagrams wait in the
    socket), since logrotate alone also loses what is written between the
    two, which no reader of the log can see.  What trackd had not read
    when the file was copied is lost all the same (trackd(8)); it says
    from which byte of the copy on."""
    pid = ch.wait_for(lambda: postlogd_pid(t), 10, "postlogd")
    os.kill(pid, signal.SIGSTOP)
    try:
        shutil.copyfile(t.postfix.maillog, "%s.%d" % (t.postfix.maillog, n))
        os.truncate(t.postfix.maillog, 0)
    finally:
        os.kill(pid, signal.SIGCONT)


def restart_after_growth(t, size):
    """Starts trackd again once Postfix has logged more (mail flowed while
    it was down)."""
    ch.wait_for(lambda: os.path.getsize(t.postfix.maillog) > size, 30,
                "Postfix to log while trackd is down")
    start_trackd(t)


def test_sigkill_and_both_rotations_while_mail_flows_exactly_once(track):
    t = track
    n = 15
    answers = {"b": "451 4.3.0 try again later",
               "c": "550 5.1.1 no such user here"}
    names = {}
    with t.sink.lock:
        for i in range(n):
            for k, a in answers.items():
                t.sink.answers["flow%d-%s@%s" % (i, k, SINK_DOMAIN)] = a
    sent, errors = [], []

    def sender():
        try:
            for i in range(n):
                rs = ["flow%d-%s@%s" % (i, k, SINK_DOMAIN) for k in "abc"]
                jid = send(t, rs, subject="flow %d" % i)
                names[jid] = rs
                sent.append(jid)
                time.sleep(0.2)     # the pace of the mail, not a wait
        except Exception as e:      # noqa: BLE001 (reported below)
            errors.append(e)
    th = threading.Thread(target=sender)
    th.start()
    rot, cut = 0, None
    try:
        for what, after in [("kill", 2), ("logrotate", 4),
                            ("kill-rename", 7), ("copytruncate", 10),
                            ("kill", 12)]:
            ch.wait_for(lambda: len(sent) >= after or errors, 60,
                        "%d messages sent" % after, interval=0.05)
            if what == "kill":
                size = os.path.getsize(t.postfix.maillog)
                kill_trackd(t)
                restart_after_growth(t, size)
            elif what == "logrotate":
                # Postfix's own: rename, reload, gzip a second later
                k = log_count(t, "following the new file")
                t.postfix.cmd("logrotate")
                wait_log(t, "following the new file", k)
            elif what == "kill-rename":
                # rotated while trackd is down (logrotate's create and
                # delaycompress, postfix reload as its postrotate)
                k = log_count(t, "rotated while stopped")
                k2 = log_count(t, "following the new file")
                kill_trackd(t)
                rot += 1
                os.rename(t.postfix.maillog,
                          "%s.%d" % (t.postfix.maillog, rot))
                t.postfix.cmd("reload")
                ch.wait_for(lambda: t.postfix.maillog.exists() and
                            os.path.getsize(t.postfix.maillog) > 0, 30,
                            "postlogd to write the new file")
                start_trackd(t)
                wait_log(t, "rotated while stopped", k)
                # and on to the new file (a copytruncate before that
                # would take lines trackd has not read: see below)
                wait_log(t, "following the new file", k2)
            else:
                k = log_count(t, "was truncated")
                rot += 1
                copytruncate(t, rot)
                wait_log(t, "was truncated", k)
                cut = ("%s.%d" % (t.postfix.maillog.name, rot),
                       int(TRUNCATED.findall(trackd_log(t))[k]))
                # a line of the new content read: the position after the
                # truncation is saved (a restart before that finds the
                # break again, from a position it cannot check as well)
                ch.wait_for(lambda: re.search(
                    r"(queued by postfix|status=)", trackd_log(t).split(
                        "was truncated")[k + 1]), 30,
                    "trackd to read on after the truncation")
    finally:
        th.join(60)
    assert not errors, errors
    assert len(sent) == n
    # the deferred ones go through at a later try
    for jid in sent:
        wait_status(t, jid, names[jid][1], "deferred", timeout=60)
    with t.sink.lock:
        for i in range(n):
            del t.sink.answers["flow%d-b@%s" % (i, SINK_DOMAIN)]
    t.postfix.kick()
    for jid in sent:
        wait_status(t, jid, names[jid][1], "delivered", timeout=60)
    caught_up(t)
    # Every line Postfix wrote is in the log files: one for each try the
    # sink saw (more if a try failed before its RCPT TO).
    lines = {k: v for k, v in outcome_lines(t).items() if k[0] in names}
    with t.sink.lock:
        tries = dict(t.sink.rcpt_count)
    assert set(lines) == {(jid, r) for jid in sent for r in names[jid]}
    assert all(len(v) >= tries[k[1]] for k, v in lines.items())
    # Each one is recorded exactly once, but for those the copytruncate
    # took before trackd read them (usually none).
    want = {}
    for key, seen in lines.items():
        seen = [st for name, off, st in seen
                if not (name == cut[0] and off >= cut[1])]
        st = ("delivered" if "sent" in seen else "bounced"
              if "bounced" in seen else "deferred" if seen else "queued")
        want[key] = (st, len(seen))
    got = {(jid, email): (r["status"], r["attempts"]) for jid in sent
           for email, r in rcpt_status(t, jid).items()}
    assert got == want
    assert all(want[(jid, names[jid][1])][1] >= 2 for jid in sent)
    s = suppressed(t)
    assert all(names[jid][2] in s for jid in sent
               if want[(jid, names[jid][2])][0] == "bounced")
    assert trackd_log(t).count("started:") >= 4
