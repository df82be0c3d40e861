"""GET /emails/{id} through nginx with plain HTTP: Resend's email object in
every state the relay can produce (last_event), the addressing kept as
given in the job, its delivery record and canceled/, one id space with
/send and GET /messages/{id}, and every error status.  Outcomes are
applied with the spool API (tests/helpers/record-outcome), as trackd
applies them."""

import json
import os
import re
import time
from datetime import datetime

import requests

from relaystack import ROOT, wait_for

from test_messages import fake_control, outcome
from test_resend import cancel, iso, patch, post, resend_error

OUTCOME = os.path.join(ROOT, "tests", "helpers", "record-outcome")
SHIM = os.path.join(ROOT, "tests", "helpers", "faultinject.so")
# Resend's form: ISO 8601, microseconds, "+00:00".
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")

MSG = {"from": '"Doe, Jane" <app@example.org>',
       "to": ["A <a@dest.test>", "b@dest.test"],
       "cc": "C Person <c@dest.test>", "bcc": ["d@dest.test"],
       "reply_to": ["R <r@dest.test>", "r2@dest.test"],
       "subject": "Grüße", "text": "Hello\n", "html": "<p>Hello</p>",
       "tags": [{"name": "kind", "value": "welcome"},
                {"name": "user_id", "value": "42"}]}
KEYS = {"object", "id", "from", "to", "cc", "bcc", "reply_to", "subject",
        "html", "text", "message_id", "created_at", "scheduled_at", "tags",
        "last_event"}


def get(stack, jid, token=None, method="GET"):
    tok = stack.token if token is None else token
    h = {"Authorization": "Bearer " + tok} if tok else {}
    return requests.request(method, stack.url + "/emails/" + jid, headers=h,
                            timeout=10)


def email_of(stack, jid):
    r = get(stack, jid)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["X-Relay-Id"] == jid
    body = r.json()
    assert set(body) == KEYS, body
    assert "statusCode" not in body
    return body


def event(stack, jid):
    return email_of(stack, jid)["last_event"]


def stamp(s):
    assert STAMP.match(s), s
    return datetime.fromisoformat(s).timestamp()


def test_fields_as_given_while_queued(stack):
    before = time.time()
    jid = post(stack, MSG).json()["id"]
    body = email_of(stack, jid)
    assert body == {
        "object": "email", "id": jid,
        "from": '"Doe, Jane" <app@example.org>',
        "to": ["A <a@dest.test>", "b@dest.test"],
        "cc": ["C Person <c@dest.test>"], "bcc": ["d@dest.test"],
        "reply_to": ["R <r@dest.test>", "r2@dest.test"],
        "subject": "Grüße", "html": None, "text": None,
        "message_id": "<%s@relay.test>" % jid,
        "created_at": body["created_at"], "scheduled_at": None,
        "tags": MSG["tags"], "last_event": "queued"}
    assert int(before) <= stamp(body["created_at"]) <= time.time()
    # The job keeps them as header lines, escaped; rcpt stays the envelope.
    fields, _ = stack.job(jid)
    assert fields["from"] == ['"Doe, Jane" <app@example.org>']
    assert fields["to"] == ["A <a@dest.test>", "b@dest.test"]
    assert fields["cc"] == ["C Person <c@dest.test>"]
    assert fields["bcc"] == ["d@dest.test"]
    assert fields["reply-to"] == ["R <r@dest.test>", "r2@dest.test"]
    assert fields["rcpt"] == ["a@dest.test", "b@dest.test", "c@dest.test",
                              "d@dest.test"]


def test_empty_lists_are_null_and_names_escaped(stack):
    jid = post(stack, {"from": "Zoë Ünal <app@example.org>",
                       "to": "x@dest.test", "subject": "s",
                       "text": "t"}).json()["id"]
    body = email_of(stack, jid)
    assert body["from"] == "Zoë Ünal <app@example.org>"
    assert body["to"] == ["x@dest.test"]
    assert body["cc"] is None and body["bcc"] is None
    assert body["reply_to"] is None and body["tags"] == []
    with open(os.path.join(stack.spool, "pending", jid), "rb") as f:
        head = f.read().partition(b"\n\n")[0]
    # Bytes >= 0x7f are escaped as the error line's are.
    assert b"\nfrom Zo\\xc3\\xab \\xc3\\x9cnal <app@example.org>\n" in head


def test_one_id_space_with_send(stack):
    r = stack.send({"from": {"email": "app@example.org", "name": "App"},
                    "to": [{"email": "x@dest.test", "name": "X"}],
                    "bcc": "y@dest.test", "replyTo": "r@dest.test",
                    "subject": "from /send", "text": "t"})
    assert r.status_code == 202, r.text
    sid = r.json()["id"]
    body = email_of(stack, sid)
    assert body["from"] == "App <app@example.org>"
    assert body["to"] == ["X <x@dest.test>"] and body["cc"] is None
    assert body["bcc"] == ["y@dest.test"]
    assert body["reply_to"] == ["r@dest.test"]
    assert body["subject"] == "from /send"
    # and a POST /emails job through GET /messages/{id}
    eid = post(stack, MSG).json()["id"]
    r = requests.get(stack.url + "/messages/" + eid,
                     headers={"Authorization": "Bearer " + stack.token})
    assert r.status_code == 200 and r.json()["state"] == "queued", r.text


def test_job_without_the_new_lines(stack):
    """A job written before the addressing lines existed is still read:
    From is its sender, To its envelope."""
    jid = post(stack, MSG).json()["id"]
    path = os.path.join(stack.spool, "pending", jid)
    with open(path, "rb") as f:
        head, _, msg = f.read().partition(b"\n\n")
    old = b"\n".join(line for line in head.split(b"\n") if not re.match(
        rb"(from|to|cc|bcc|reply-to) ", line))
    tmp = os.path.join(stack.spool, "tmp", jid)
    with open(tmp, "wb") as f:
        f.write(old + b"\n\n" + msg)
    os.rename(tmp, path)
    body = email_of(stack, jid)
    assert body["from"] == "app@example.org"
    assert body["to"] == ["a@dest.test", "b@dest.test", "c@dest.test",
                          "d@dest.test"]
    assert body["cc"] is None and body["bcc"] is None
    assert body["reply_to"] is None
    assert body["tags"] == MSG["tags"] and body["last_event"] == "queued"


def test_scheduled_rescheduled_canceled(stack):
    due = int(time.time()) + 7200
    jid = post(stack, dict(MSG, scheduled_at=iso(due))).json()["id"]
    body = email_of(stack, jid)
    assert body["last_event"] == "scheduled"
    assert stamp(body["scheduled_at"]) == due
    assert patch(stack, jid, {"scheduled_at": iso(due + 600)}
                 ).status_code == 200
    body = email_of(stack, jid)
    assert stamp(body["scheduled_at"]) == due + 600
    assert body["to"] == MSG["to"]          # kept through the rewrite
    assert cancel(stack, jid).status_code == 200
    body = email_of(stack, jid)
    assert body["last_event"] == "canceled"
    assert body["bcc"] == ["d@dest.test"] and body["tags"] == MSG["tags"]
    assert stamp(body["scheduled_at"]) == due + 600


def test_sent_then_what_postfix_says(make_stack):
    s = make_stack().start(spoold=True)
    one = dict(MSG, to="a@dest.test")
    for k in ("cc", "bcc"):
        del one[k]
    a = post(s, one).json()["id"]
    b = post(s, one).json()["id"]
    c = post(s, dict(one, to=["a@dest.test", "b@dest.test"])).json()["id"]
    wait_for(lambda: sorted(s.jobs("sent")) == sorted([a, b, c]), 10,
             "the hand-overs")
    for jid in (a, b, c):
        assert event(s, jid) == "sent"
    # The record keeps the addressing, the tags and no body.
    body = email_of(s, c)
    assert body["to"] == ["a@dest.test", "b@dest.test"]
    assert body["reply_to"] == MSG["reply_to"]
    assert body["tags"] == MSG["tags"] and body["html"] is None
    fields, _ = s.job(c, "sent")
    assert fields["from"] == ['"Doe, Jane" <app@example.org>']
    assert fields["tag"] == ["kind welcome", "user_id 42"]

    assert outcome(s, a, "a@dest.test", "deferred", "4.3.0", "451 later",
                   1, qid="AAA") == 0
    assert event(s, a) == "delivery_delayed"
    assert outcome(s, a, "a@dest.test", "delivered", "2.0.0", "250 ok", 2,
                   qid="AAA") == 0
    assert event(s, a) == "delivered"
    assert outcome(s, b, "a@dest.test", "bounced", "5.1.1", "550 no", 3,
                   qid="BBB") == 0
    assert event(s, b) == "bounced"
    # Partially bounced is bounced; while one is open it is still sent.
    assert outcome(s, c, "a@dest.test", "delivered", "2.0.0", "250 ok", 4,
                   qid="CCC") == 0
    assert event(s, c) == "sent"
    assert outcome(s, c, "b@dest.test", "bounced", "5.1.1", "550 no", 5,
                   qid="CCC") == 0
    assert event(s, c) == "bounced"
    assert email_of(s, c)["to"] == ["a@dest.test", "b@dest.test"]


def test_failed(make_stack):
    s = make_stack(conf={"max_attempts": "1"}).start()
    jid = post(s, MSG).json()["id"]
    fake_control(s, exit=75, output="451 try later")
    s.start_spoold()
    wait_for(lambda: s.jobs("failed") == [jid], 10, "failed")
    body = email_of(s, jid)
    assert body["last_event"] == "failed" and body["to"] == MSG["to"]


def test_not_found_is_the_same_for_unknown_foreign_and_malformed(stack):
    jid = post(stack, MSG).json()["id"]
    foreign = get(stack, jid, token=stack.other_token)
    unknown = get(stack, jid[:-1] + ("0" if jid[-1] != "0" else "1"))
    resend_error(foreign, 404, "not_found")
    resend_error(unknown, 404, "not_found")
    assert foreign.content == unknown.content
    for bad in ("nope", jid + "x", jid.upper(), "%s/x" % jid):
        resend_error(get(stack, bad), 404, "not_found")


def test_tokens_and_methods(stack):
    jid = post(stack, MSG).json()["id"]
    resend_error(get(stack, jid, token=""), 401, "missing_api_key")
    resend_error(get(stack, jid, token="re_123456789"), 403,
                 "invalid_api_key")
    for method in ("DELETE", "PUT", "POST"):
        r = get(stack, jid, method=method)
        resend_error(r, 405, "method_not_allowed")
        assert r.headers["Allow"] == "GET, PATCH"
    # HEAD is not GET here: Resend's API has no HEAD either.
    assert get(stack, jid, method="HEAD").status_code == 405
    assert json.loads(get(stack, jid).text)["id"] == jid


def test_reschedule_racing_the_claim_waits(make_stack):
    """PATCH lands between spoold's due check and its claim (held open by
    the shim's gate on the claim's rename): spoold claims the rescheduled
    copy, sees it is not due and puts it back; nothing goes out early."""
    s = make_stack().start()
    gate = os.path.join(s.dir, "gate")
    os.mkdir(gate)
    jid = post(s, MSG).json()["id"]                 # due now
    control = os.path.join(s.dir, "fi.control")
    with open(control, "w") as f:
        f.write("funcs renameat\npath */spool/pending/%s\ntimes 0\n"
                "gate %s\nlog %s\n" % (jid, gate,
                                       os.path.join(s.dir, "fi.log")))
    s.start_spoold(env={"LD_PRELOAD": SHIM, "FI_CONTROL": control,
                        "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                        ":verify_asan_link_order=0"})
    wait_for(lambda: os.path.exists(os.path.join(gate, "reached")),
             what="spoold's claim of a due job")
    due = int(time.time()) + 3600
    assert patch(s, jid, {"scheduled_at": iso(due)}).status_code == 200
    open(os.path.join(gate, "release"), "w").close()
    wait_for(lambda: "rescheduled while claimed" in s.log("spoold.log") or
             s.jobs("sent") != [], what="the claim")
    assert s.jobs("sent") == [] and s.jobs("processing") == []
    assert s.jobs("pending") == [jid]
    assert os.stat(os.path.join(s.spool, "pending", jid)).st_mtime == due
    assert "job=%s rescheduled while claimed; back to pending, due=%d" % (
        jid, due) in s.log("spoold.log")
    assert not [n for n in os.listdir(s.outbox) if n.endswith(".eml")]
    body = email_of(s, jid)
    assert body["last_event"] == "scheduled"
    assert stamp(body["scheduled_at"]) == due
