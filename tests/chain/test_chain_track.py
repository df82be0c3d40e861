"""Delivery status through the real chain: POST /send through nginx,
relay-fcgi, spoold, Postfix's sendmail, a private Postfix (from
conf/postfix, logging with postlogd) with OpenDKIM, and an SMTP sink that
answers 250, 451 or 550 per recipient; trackd follows Postfix's log, and
the records are read back with spoolctl (show --json, suppressed --json).

Also: messages that are not the relay's leave no record.  Restarts and
rotations with exact counts are tests/test_trackd.py's."""

import json
import os
import re
import signal

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
