"""Delivery status through nginx: GET /messages/{id} in every state, the
suppression list on POST /send, spoolctl's record commands, retention of
records and /health's trackd check.  Outcomes are applied with the spool
API (tests/helpers/record-outcome), as trackd applies them; the chain
tests do it with real Postfix."""

import fcntl
import json
import os
import re
import subprocess
import time

import requests

from relaystack import ROOT, SPOOLCTL, wait_for

OUTCOME = os.path.join(ROOT, "tests", "helpers", "record-outcome")

MSG = {
    "from": "app@example.org",
    "to": ["alice@dest.test", {"email": "b@dest.test", "name": "B"}],
    "cc": "c@dest.test",
    "bcc": ["d@dest.test"],
    "subject": "Status",
    "text": "Hello.\n",
}
RCPTS = ["alice@dest.test", "b@dest.test", "c@dest.test", "d@dest.test"]
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def get(stack, jid, token=None, method="GET"):
    tok = stack.token if token is None else token
    h = {"Authorization": "Bearer " + tok} if tok else {}
    return requests.request(method, stack.url + "/messages/" + jid,
                            headers=h, timeout=10)


def ctl(stack, *args):
    return subprocess.run([SPOOLCTL, "-c", stack.conf_path, *args],
                          capture_output=True, text=True, timeout=30)


def fake_control(stack, **kv):
    tmp = os.path.join(stack.outbox, ".control")
    with open(tmp, "w") as f:
        for k, v in kv.items():
            f.write("%s %s\n" % (k.replace("_", "-"), v))
    os.rename(tmp, os.path.join(stack.outbox, "control"))


def outcome(stack, jid, rcpt, status, dsn, reply, seq, qid="DC61410C683",
            at=None, relay="127.0.0.1[127.0.0.1]:2526"):
    r = subprocess.run([OUTCOME, stack.spool, jid, qid, rcpt, status, dsn,
                        relay, reply, str(int(at or time.time())), str(seq)],
                       capture_output=True, text=True)
    return r.returncode


def state_of(stack, jid):
    r = get(stack, jid)
    assert r.status_code == 200, r.text
    return r.json()


def by_email(body):
    return {r["email"]: r for r in body["recipients"]}


def test_every_state(make_stack):
    s = make_stack(conf={"max_attempts": "2"}).start()
    r = s.send(MSG)
    assert r.status_code == 202, r.text
    jid = r.json()["id"]

    # pending: queued, every recipient (Bcc too), nothing sent yet
    body = state_of(s, jid)
    assert body["ok"] is True and body["id"] == jid
    assert body["messageId"] == "<%s@relay.test>" % jid
    assert body["state"] == "queued" and body["attempts"] == 0
    assert ISO.match(body["createdAt"]) and body["sentAt"] is None
    assert [x["email"] for x in body["recipients"]] == RCPTS
    assert all(x["status"] == "queued" and x["dsn"] is None and
               x["reply"] is None and x["at"] is None
               for x in body["recipients"])
    assert "lastError" not in body

    assert ctl(s, "hold", jid).returncode == 0
    assert state_of(s, jid)["state"] == "held"
    assert ctl(s, "release", jid).returncode == 0

    # a deferral: queued again, with attempts and the last error
    fake_control(s, exit=75, output="451 try later")
    s.start_spoold()
    wait_for(lambda: state_of(s, jid)["attempts"] == 1, 10, "a deferral")
    body = state_of(s, jid)
    assert body["state"] == "queued" and "451 try later" in body["lastError"]
    assert ISO.match(body["nextAttemptAt"])

    # the last attempt fails for good
    wait_for(lambda: state_of(s, jid)["state"] == "failed", 15, "failed")
    body = state_of(s, jid)
    assert body["attempts"] == 2 and "451 try later" in body["lastError"]

    # retried and handed over: sent, nothing heard from Postfix yet
    fake_control(s, exit=0)
    assert ctl(s, "retry", jid).returncode == 0
    wait_for(lambda: state_of(s, jid)["state"] == "sent", 10, "sent")
    body = state_of(s, jid)
    assert ISO.match(body["sentAt"]) and body["attempts"] == 1
    assert "lastError" not in body
    assert all(x["status"] == "queued" for x in body["recipients"])
    # the record keeps no message body
    with open(os.path.join(s.spool, "sent", jid), "rb") as f:
        rec = f.read()
    assert b"Hello." not in rec and b"Subject:" not in rec

    # what Postfix says, per recipient, in log order
    assert outcome(s, jid, "alice@dest.test", "delivered", "2.0.0",
                   "250 2.0.0 stored", 1) == 0
    assert outcome(s, jid, "b@dest.test", "bounced", "5.1.1",
                   "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 "
                   "<b@dest.test>: no such user here", 2) == 0
    assert outcome(s, jid, "c@DEST.test", "deferred", "4.3.0",
                   "451 4.3.0 try again later", 3) == 0
    assert outcome(s, jid, "d@dest.test", "delivered", "2.0.0", "250 ok",
                   4) == 0
    # a replay applies nothing twice
    assert outcome(s, jid, "c@dest.test", "deferred", "4.3.0", "451", 3) == 1
    body = state_of(s, jid)
    assert body["state"] == "deferred"
    rc = by_email(body)
    assert rc["alice@dest.test"] == {
        "email": "alice@dest.test", "status": "delivered", "dsn": "2.0.0",
        "reply": "250 2.0.0 stored", "relay": "127.0.0.1[127.0.0.1]:2526",
        "at": rc["alice@dest.test"]["at"], "attempts": 1}
    assert ISO.match(rc["alice@dest.test"]["at"])
    assert rc["b@dest.test"]["status"] == "bounced"
    assert rc["c@dest.test"]["status"] == "deferred"
    assert rc["c@dest.test"]["attempts"] == 1

    # the deferred one is accepted later: every recipient is final
    assert outcome(s, jid, "c@dest.test", "delivered", "2.0.0", "250 ok",
                   5) == 0
    body = state_of(s, jid)
    assert body["state"] == "partially_bounced"
    assert by_email(body)["c@dest.test"]["attempts"] == 2

    # spoolctl show, list --state sent, stats
    r = ctl(s, "show", jid)
    assert r.returncode == 0, r.stderr
    assert "state: sent (partially_bounced)" in r.stdout
    assert re.search(r"rcpt: b@dest\.test bounced attempts=1 dsn=5\.1\.1",
                     r.stdout)
    assert "reply: host 127.0.0.1[127.0.0.1] said: 550 5.1.1" in r.stdout
    js = json.loads(ctl(s, "show", jid, "--json").stdout)
    assert js["message_state"] == "partially_bounced"
    assert js["queue_ids"] == ["DC61410C683"]
    listed = json.loads(ctl(s, "list", "--state", "sent", "--json").stdout)
    assert [j["id"] for j in listed] == [jid]
    assert jid in ctl(s, "list", "--state", "sent").stdout
    st = json.loads(ctl(s, "stats", "--json").stdout)
    assert st["sent"] == 1
    assert st["recipients"]["delivered"] == 3
    assert st["recipients"]["bounced"] == 1
    assert st["recipients"]["deferred"] == 0


def test_all_delivered_and_all_bounced(make_stack):
    s = make_stack().start(spoold=True)
    one = dict(MSG, to="alice@dest.test", cc=None, bcc=None)
    del one["cc"], one["bcc"]
    a = s.send(one).json()["id"]
    b = s.send(one).json()["id"]
    wait_for(lambda: state_of(s, a)["state"] == "sent" and
             state_of(s, b)["state"] == "sent", 10, "both sent")
    assert outcome(s, a, "alice@dest.test", "delivered", "2.0.0", "250 ok",
                   1, qid="AAA") == 0
    assert outcome(s, b, "alice@dest.test", "deferred", "4.4.1", "timeout",
                   2, qid="BBB") == 0
    assert outcome(s, b, "alice@dest.test", "expired", "4.4.1", "-",
                   3, qid="BBB") == 0
    assert state_of(s, a)["state"] == "delivered"
    body = state_of(s, b)
    assert body["state"] == "bounced"
    assert by_email(body)["alice@dest.test"]["reply"] == "timeout"


def test_not_found_is_the_same_for_unknown_and_foreign(make_stack):
    s = make_stack().start()
    jid = s.send(MSG).json()["id"]
    mine = get(s, jid)
    assert mine.status_code == 200
    foreign = get(s, jid, token=s.other_token)
    unknown_id = jid[:-1] + ("0" if jid[-1] != "0" else "1")
    unknown = get(s, unknown_id)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.content == unknown.content
    assert foreign.json() == {"ok": False, "error": "not_found",
                              "message": "no such message"}
    assert foreign.headers["Content-Type"] == unknown.headers["Content-Type"]
    # malformed ids, other methods, no token
    for bad in ("nonsense", jid.upper(), jid + "0", ""):
        r = get(s, bad)
        assert r.status_code == 400 and r.json()["error"] == "invalid_id", bad
    for m in ("POST", "DELETE", "PUT", "HEAD"):
        r = get(s, jid, method=m)
        assert r.status_code == 405, m
        assert r.headers["Allow"] == "GET"
    r = get(s, jid, token="")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = get(s, jid, token="wrong")
    assert r.status_code == 401


def test_suppressed_recipient_refused_then_accepted(make_stack):
    s = make_stack().start()
    r = ctl(s, "suppress", "d@DEST.test")
    assert r.returncode == 0, r.stderr
    listed = json.loads(ctl(s, "suppressed", "--json").stdout)
    assert "d@dest.test" in [x["address"] for x in listed]
    before = s.jobs("pending")
    r = s.send(MSG)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "recipient_suppressed"
    assert body["field"] == "bcc[0]"
    assert "d@dest.test" in body["message"]
    assert s.jobs("pending") == before and s.jobs("tmp") == []
    # to as an object, cc as a plain string: the paths follow the request
    assert ctl(s, "suppress", "b@dest.test").returncode == 0
    assert s.send(MSG).json()["field"] == "to[1].email"
    assert ctl(s, "suppress", "c@dest.test").returncode == 0
    assert ctl(s, "unsuppress", "b@dest.test").returncode == 0
    assert s.send(MSG).json()["field"] == "cc"
    # all removed: accepted again
    for a in ("c@dest.test", "d@dest.test"):
        assert ctl(s, "unsuppress", a).returncode == 0
    assert json.loads(ctl(s, "suppressed", "--json").stdout) == []
    r = s.send(MSG)
    assert r.status_code == 202, r.text
    r = ctl(s, "unsuppress", "d@dest.test")
    assert r.returncode != 0 and "not suppressed" in r.stderr
    r = ctl(s, "suppress", "not an address")
    assert r.returncode != 0


def test_retention_removes_old_records(make_stack):
    s = make_stack(conf={"track_retention": "1d"}).start(spoold=True)
    old = s.send(MSG).json()["id"]
    new = s.send(MSG).json()["id"]
    sent = os.path.join(s.spool, "sent")
    wait_for(lambda: sorted(os.listdir(sent)) == sorted([old, new]), 10,
             "both records")
    assert outcome(s, old, "alice@dest.test", "delivered", "2.0.0", "250",
                   1, qid="OLDQ") == 0
    t = time.time() - 2 * 86400
    os.utime(os.path.join(sent, old), (t, t))
    # spoold drops expired records at start and every hour
    s.stop("spoold")
    s.start_spoold()
    wait_for(lambda: not os.path.exists(os.path.join(sent, old)), 10,
             "old record removed")
    assert os.path.exists(os.path.join(sent, new))
    assert get(s, old).status_code == 404
    assert state_of(s, new)["state"] == "sent"
    assert "expired 1 delivery records" in s.log("spoold.log")


def test_health_wants_trackd_when_postfix_log_is_set(make_stack, tmp_path):
    log = tmp_path / "mail.log"
    log.write_text("")
    s = make_stack(conf={"postfix_log": str(log)}).start(spoold=True)
    r = requests.get(s.url + "/health", timeout=10)
    assert r.status_code == 503 and r.text == "trackd not running\n"
    # A process holding trackd.lock as trackd does (a POSIX record lock).
    fd = os.open(os.path.join(s.spool, "trackd.lock"),
                 os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = requests.get(s.url + "/health", timeout=10)
        assert r.status_code == 200, r.text
        st = json.loads(ctl(s, "stats", "--json").stdout)
        assert st["trackd"] is True
    finally:
        os.close(fd)
    r = requests.get(s.url + "/health", timeout=10)
    assert r.status_code == 503


def test_health_without_postfix_log_needs_no_trackd(make_stack):
    s = make_stack().start(spoold=True)
    assert requests.get(s.url + "/health", timeout=10).status_code == 200
