"""The producers of webhook events, for real: relay-fcgi behind nginx,
spoold handing to the stand-in sendmail, trackd following a log written
here in Postfix 3.7's exact form (tests/chain does it with real Postfix),
hookd posting to a loopback receiver, every request checked by the
reference verifier (npm standardwebhooks).  One message with a delivered,
a deferred and a bounced recipient gives exactly email.sent and the three
recipient events; a permanent failure gives email.failed; a suppressed
recipient email.suppressed; without webhooks nothing is written."""

import json
import os
import subprocess

import pytest

from hookhelp import (HOOKD, Receiver, new_secret, verifier_ready, verify,
                      wait_for)
from relaystack import ROOT, Stack

TRACKD = os.path.join(ROOT, "trackd", "trackd")
SPOOLCTL = os.path.join(ROOT, "spoold", "spoolctl")
PRE = "Dec 01 18:15:48 relay "

pytestmark = [
    pytest.mark.skipif(not os.access(HOOKD, os.X_OK),
                       reason="hookd is not built (run make)"),
    pytest.mark.skipif(not verifier_ready(),
                       reason="npm standardwebhooks is not installed"),
]


class Chain:
    def __init__(self, webhooks=True):
        self.rcv = Receiver()
        self.secret = new_secret()
        d = None
        self.stack = Stack()
        d = self.stack.dir
        self.hooks = os.path.join(d, "webhooks")
        fd = os.open(self.hooks, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("app %s %s\n" % (self.rcv.url(), self.secret))
        self.maillog = os.path.join(d, "mail.log")
        open(self.maillog, "w").close()
        conf = {"postfix_log": self.maillog}
        if webhooks:
            conf["webhooks"] = self.hooks
        with open(self.stack.conf_path, "a") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        self.procs = []
        self.stack.start(spoold=True)
        self.start(TRACKD, "trackd")
        if webhooks:
            self.start(HOOKD, "hookd", "-b", "50")

    def start(self, prog, name, *args):
        log = os.path.join(self.stack.dir, name + ".log")
        with open(log, "ab") as f:
            p = subprocess.Popen([prog, "-d", "-v", "-c",
                                  self.stack.conf_path, *args],
                                 stdout=f, stderr=f)
        self.procs.append(p)
        wait_for(lambda: "started" in open(log).read() or
                 p.poll() is not None, what=name + " start")
        assert p.poll() is None, open(log).read()

    def postfix(self, *lines):
        with open(self.maillog, "a") as f:
            f.write("".join(PRE + line + "\n" for line in lines))

    def events(self):
        d = os.path.join(self.stack.spool, "events")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def got(self):
        got = self.rcv.got()
        res = verify([(self.secret, r["body"], r["headers"]) for r in got])
        assert all(ok for ok, _ in res), res
        return [json.loads(r["body"]) for r in got]

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.rcv.close()
        self.stack.close()


@pytest.fixture
def ch():
    c = Chain()
    yield c
    c.close()


def rcpt_line(qid, to, status, dsn, reply):
    return ("postfix/smtp[8470]: %s: to=<%s>, relay=127.0.0.1[127.0.0.1]:"
            "2526, delay=0.03, delays=0.01/0.01/0/0.01, dsn=%s, status=%s "
            "(%s)" % (qid, to, dsn, status, reply))


def test_delivered_deferred_bounced_give_exactly_their_events(ch):
    msg = {"from": "app@example.org", "subject": "Order 1",
           "to": ["a@dest.test", "b@dest.test", "c@dest.test"],
           "text": "Hello.\n"}
    r = ch.stack.send(msg)
    assert r.status_code == 202, r.text
    jid = r.json()["id"]
    wait_for(lambda: len(ch.rcv.got()) == 1, what="email.sent")
    qid = "DC61410C683"
    bounce = ("host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <c@dest.test>: no "
              "such user here (in reply to RCPT TO command)")
    ch.postfix(
        "postfix/cleanup[1697]: %s: message-id=<%s@relay.test>" % (qid, jid),
        rcpt_line(qid, "a@dest.test", "sent", "2.0.0", "250 2.0.0 stored"),
        rcpt_line(qid, "b@dest.test", "deferred", "4.3.0",
                  "host 127.0.0.1[127.0.0.1] said: 451 4.3.0 try again"),
        rcpt_line(qid, "c@dest.test", "bounced", "5.1.1", bounce))
    wait_for(lambda: len(ch.rcv.got()) >= 4 and not ch.events(),
             what="the recipients' events")
    bodies = ch.got()
    assert len(bodies) == 4
    by = {b["type"]: b for b in bodies}
    assert sorted(by) == ["email.bounced", "email.delivered",
                          "email.delivery_delayed", "email.sent"]
    for b in bodies:
        assert b["data"]["email_id"] == jid
        assert b["data"]["from"] == "app@example.org"
        assert b["data"]["subject"] == "Order 1"
    # to is the To list, as Resend's; a recipient's event names its own
    for b in bodies:
        assert b["data"]["to"] == msg["to"]
    assert "recipient" not in by["email.sent"]["data"]
    assert by["email.delivered"]["data"]["recipient"] == "a@dest.test"
    assert by["email.delivery_delayed"]["data"]["recipient"] == "b@dest.test"
    assert by["email.bounced"]["data"]["recipient"] == "c@dest.test"
    assert by["email.bounced"]["data"]["bounce"] == {
        "message": bounce, "type": "Permanent", "dsn": "5.1.1"}
    ids = [r["headers"]["webhook-id"] for r in ch.rcv.got()]
    assert len(set(ids)) == 4
    # /metrics counts hookd's deliveries
    import re
    import requests
    m = requests.get(ch.stack.url + "/metrics", timeout=10)
    assert m.status_code == 200
    ok = re.search(r'^mail_relay_webhook_deliveries_total\{outcome="ok"\} '
                   r'(\d+)$', m.text, re.M)
    assert ok and int(ok.group(1)) == 4, m.text


def test_failed_and_suppressed(ch):
    # a permanent failure of sendmail: the relay gives up
    with open(os.path.join(ch.stack.outbox, "control"), "w") as f:
        f.write("exit 67\n")
    r = ch.stack.send({"from": "app@example.org", "to": "x@dest.test",
                       "subject": "Nope", "text": "x\n"})
    assert r.status_code == 202
    jid = r.json()["id"]
    wait_for(lambda: ch.rcv.got(), what="email.failed")
    [b] = ch.got()
    assert b["type"] == "email.failed" and b["data"]["email_id"] == jid
    assert b["data"]["failed"]["reason"]
    os.unlink(os.path.join(ch.stack.outbox, "control"))
    # a suppressed recipient: refused with 422, and an event
    p = subprocess.run([SPOOLCTL, "-c", ch.stack.conf_path, "suppress",
                        "s@dest.test"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    r = ch.stack.send({"from": "app@example.org",
                       "to": ["ok@dest.test", "s@dest.test"],
                       "subject": "Hi", "text": "x\n"})
    assert r.status_code == 422
    wait_for(lambda: len(ch.rcv.got()) == 2, what="email.suppressed")
    b = ch.got()[1]
    assert b["type"] == "email.suppressed"
    assert b["data"]["to"] == ["ok@dest.test", "s@dest.test"]
    assert b["data"]["recipient"] == "s@dest.test"
    assert b["data"]["suppressed"]["type"] == "OnAccountSuppressionList"


def test_without_webhooks_no_events_are_written():
    c = Chain(webhooks=False)
    try:
        r = c.stack.send({"from": "app@example.org", "to": "a@dest.test",
                          "subject": "x", "text": "x\n"})
        assert r.status_code == 202
        jid = r.json()["id"]
        wait_for(lambda: os.path.exists(os.path.join(c.stack.spool, "sent",
                                                     jid)), what="sent")
        assert not os.path.exists(os.path.join(c.stack.spool, "events"))
    finally:
        c.close()


def test_spoolctl_hooks_lists_and_retries(tmp_path):
    from hookhelp import Hooks
    hk = Hooks(tmp_path, webhook_max_age="60s")
    try:
        gate = {"code": 500}
        rcv = hk.receiver(answer=lambda n: gate["code"])
        hk.caller("app", rcv.url())
        hk.start()
        eid = hk.event("email.sent")
        wait_for(lambda: "failed: older than webhook_max_age" in hk.log(),
                 what="failed")
        hk.stop()
        other = hk.event("email.sent", caller="shop")
        out = hk.sp.ctl_json("hooks")
        by = {c["caller"]: c["events"] for c in out}
        assert [e["id"] for e in by["app"]] == [eid]
        assert by["app"][0]["state"] == "failed"
        assert by["app"][0]["status"] == "500"
        assert by["app"][0]["attempts"] >= 1
        assert by["shop"][0]["id"] == other      # pending: hookd stopped
        assert by["shop"][0]["state"] == "pending"
        text = hk.sp.ctl("hooks").stdout
        assert "app:" in text and eid in text and "1 pending, 1 failed" in text
        r = hk.sp.ctl("hooks", "retry", "--failed")
        assert r.returncode == 0 and eid in r.stdout
        assert hk.failed() == [] and eid in hk.pending()
        assert hk.sp.ctl("hooks", "retry", "0" * 13 + "-" + "0" * 16
                         ).returncode == 66
        assert hk.sp.ctl("hooks", "retry", "nope").returncode == 64
        gate["code"] = 200
        hk.start()
        wait_for(lambda: eid not in hk.pending(), what="the retry")
        assert [r["headers"]["webhook-id"] for r in rcv.got()][-1] == eid
    finally:
        hk.close()


def test_scheduled_through_the_resend_api_with_tags(ch):
    import datetime
    import requests
    due = (datetime.datetime.now(datetime.timezone.utc) +
           datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = requests.post(ch.stack.url + "/emails", timeout=10, json={
        "from": "App <app@example.org>", "to": "later@dest.test",
        "subject": "Later", "text": "x\n", "scheduled_at": due,
        "tags": [{"name": "category", "value": "confirm_email"}]},
        headers={"Authorization": "Bearer " + ch.stack.token})
    assert r.status_code == 200, r.text
    jid = r.json()["id"]
    wait_for(lambda: ch.rcv.got(), what="email.scheduled")
    [b] = ch.got()
    assert b["type"] == "email.scheduled"
    assert b["data"]["email_id"] == jid
    assert b["data"]["to"] == ["later@dest.test"]
    assert b["data"]["tags"] == [{"name": "category",
                                  "value": "confirm_email"}]


def test_canceled_through_the_resend_api(ch):
    import datetime
    import requests
    due = (datetime.datetime.now(datetime.timezone.utc) +
           datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    auth = {"Authorization": "Bearer " + ch.stack.token}
    r = requests.post(ch.stack.url + "/emails", timeout=10, json={
        "from": "App <app@example.org>", "to": "later@dest.test",
        "subject": "Later", "text": "x\n", "scheduled_at": due},
        headers=auth)
    assert r.status_code == 200, r.text
    jid = r.json()["id"]
    wait_for(lambda: len(ch.rcv.got()) == 1, what="email.scheduled")
    r = requests.post(ch.stack.url + "/emails/%s/cancel" % jid, timeout=10,
                      headers=dict(auth, **{"Content-Type":
                                            "application/json"}))
    assert r.status_code == 200, r.text
    wait_for(lambda: len(ch.rcv.got()) == 2, what="email.canceled")
    kinds = [b["type"] for b in ch.got()]
    assert sorted(kinds) == ["email.canceled", "email.scheduled"]
    [b] = [b for b in ch.got() if b["type"] == "email.canceled"]
    assert b["data"]["email_id"] == jid
    assert b["data"]["to"] == ["later@dest.test"]


def test_from_and_to_as_given_and_never_the_bcc(ch):
    """/send and POST /emails, each with a display From, a To, a Cc and a
    Bcc: every event's from is the From as given and its to the To list;
    no Bcc or Cc address is in to, and a Bcc address is in no body but
    as the recipient of its own event."""
    import requests
    r = ch.stack.send({"from": {"email": "app@example.org", "name": "Shop"},
                       "to": [{"email": "a@dest.test", "name": "Ann"}],
                       "cc": ["c@dest.test"],
                       "bcc": ["hidden1@dest.test"], "subject": "One",
                       "text": "x\n"})
    assert r.status_code == 202, r.text
    j1 = r.json()["id"]
    r = requests.post(ch.stack.url + "/emails", timeout=10, json={
        "from": "Shop <app@example.org>", "to": ["b@dest.test",
                                                 "Bo <b2@dest.test>"],
        "cc": "c2@dest.test", "bcc": ["hidden2@dest.test"],
        "reply_to": "help@example.org", "subject": "Two", "text": "x\n"},
        headers={"Authorization": "Bearer " + ch.stack.token})
    assert r.status_code == 200, r.text
    j2 = r.json()["id"]
    wait_for(lambda: len(ch.rcv.got()) == 2, what="the two email.sent")
    qid = "DC61410C684"
    ch.postfix(
        "postfix/cleanup[1697]: %s: message-id=<%s@relay.test>" % (qid, j1),
        rcpt_line(qid, "hidden1@dest.test", "sent", "2.0.0",
                  "250 2.0.0 stored"))
    wait_for(lambda: len(ch.rcv.got()) >= 3 and not ch.events(),
             what="the Bcc recipient's email.delivered")
    bodies = ch.got()
    assert len(bodies) == 3
    sent = {b["data"]["email_id"]: b for b in bodies
            if b["type"] == "email.sent"}
    assert sorted(sent) == sorted([j1, j2])
    assert sent[j1]["data"]["from"] == "Shop <app@example.org>"
    assert sent[j1]["data"]["to"] == ["Ann <a@dest.test>"]
    assert sent[j2]["data"]["from"] == "Shop <app@example.org>"
    assert sent[j2]["data"]["to"] == ["b@dest.test", "Bo <b2@dest.test>"]
    for b in sent.values():
        assert "hidden" not in json.dumps(b)
        assert "cc" not in b["data"] and "bcc" not in b["data"]
        assert "reply_to" not in b["data"]
    [d] = [b for b in bodies if b["type"] == "email.delivered"]
    assert d["data"]["email_id"] == j1
    assert d["data"]["to"] == ["Ann <a@dest.test>"]
    assert d["data"]["recipient"] == "hidden1@dest.test"
    assert d["data"]["from"] == "Shop <app@example.org>"
