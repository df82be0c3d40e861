"""The official Resend Node SDK (npm `resend`, pinned in tests/package.json
and package-lock.json) pointed at the relay with RESEND_BASE_URL, as a user
switching over would: what it sends is accepted, delivered through spoold
to the stand-in sendmail, and parsed back (Python's email, strict policy)
into what the SDK was given; what it is refused comes back as the SDK's
own error objects."""

import base64
import email
import email.policy
import json
import os
import shutil
import subprocess
import time
from datetime import datetime

import pytest

from relaystack import ROOT, wait_for

TESTS = os.path.join(ROOT, "tests")
DRIVER = os.path.join(TESTS, "resend_sdk.mjs")
SDK_VERSION = "6.38.0"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg==")


def sdk_installed():
    try:
        with open(os.path.join(TESTS, "node_modules", "resend",
                               "package.json")) as f:
            return json.load(f)["version"] == SDK_VERSION
    except (OSError, ValueError, KeyError):
        return False


@pytest.fixture(scope="module")
def sdk():
    """tests/node_modules from the committed lockfile (npm ci), once."""
    for tool in ("node", "npm"):
        assert shutil.which(tool), tool + " is missing: conf/dev/deps.sh"
    if not sdk_installed():
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund",
                            "--loglevel=error"], cwd=TESTS,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
    assert sdk_installed()


@pytest.fixture
def relay(make_stack, sdk):
    s = make_stack()
    s.start(spoold=True)
    return s


def run_sdk(stack, ops, key=None):
    env = dict(os.environ, RESEND_BASE_URL=stack.url,
               RESEND_API_KEY=key or stack.token)
    p = subprocess.run(["node", DRIVER], input=json.dumps(ops), env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def sdk_one(stack, op, key=None):
    return run_sdk(stack, [op], key)[0]


def delivered(stack, jid):
    """The message of job jid as the stand-in sendmail got it."""
    def find():
        for name in os.listdir(stack.outbox):
            if not name.endswith(".eml") or name.startswith("."):
                continue        # .*: still being written
            with open(os.path.join(stack.outbox, name), "rb") as f:
                raw = f.read()
            if ("<%s@relay.test>" % jid).encode() in raw:
                return raw
        return None
    return wait_for(find, what="delivery of " + jid) or find()


EMAIL = {
    "from": "Zoë App <app@example.org>",
    "to": ["Ünïcode Person <rcpt@example.net>", "second@example.net"],
    "cc": "cc@example.net",
    "bcc": ["hidden@example.com"],
    "replyTo": "reply@example.org",
    "subject": "Grüße — your order ✉",
    "text": "Hello,\nyour order is on its way.\n",
    "html": '<p>Hello, <img src="cid:logo"> your order</p>\n',
    "headers": {"X-Order": "1234"},
    "tags": [{"name": "category", "value": "order_confirmation"},
             {"name": "shop", "value": "eu-1"}],
    "attachments": [
        {"filename": "invoice.pdf", "content":
         {"$buffer": base64.b64encode(b"%PDF-1.4 " + bytes(range(256)))
          .decode()}},
        {"filename": "notes.txt", "content":
         base64.b64encode("plain notes\n".encode()).decode(),
         "contentType": "text/plain"},
        {"filename": "logo.png", "content":
         {"$buffer": base64.b64encode(PNG).decode()},
         "contentType": "image/png", "contentId": "logo"},
    ],
}


def parts(msg):
    return {p.get_content_type(): p for p in msg.walk()}


def test_send_is_delivered_as_the_sdk_gave_it(relay):
    r = sdk_one(relay, {"op": "send", "payload": EMAIL})
    assert r["error"] is None, r
    jid = r["data"]["id"]
    assert r["data"] == {"id": jid}
    raw = delivered(relay, jid)
    msg = email.message_from_bytes(raw, policy=email.policy.strict)
    assert not msg.defects
    assert msg["From"].addresses[0].display_name == "Zoë App"
    assert msg["From"].addresses[0].addr_spec == "app@example.org"
    to = msg["To"].addresses
    assert [a.addr_spec for a in to] == ["rcpt@example.net",
                                          "second@example.net"]
    assert to[0].display_name == "Ünïcode Person"
    assert msg["Cc"].addresses[0].addr_spec == "cc@example.net"
    assert msg["Reply-To"].addresses[0].addr_spec == "reply@example.org"
    assert msg["Bcc"] is None and b"hidden@example.com" not in raw
    assert str(msg["Subject"]) == EMAIL["subject"]
    assert msg["X-Order"] == "1234"
    # Tags stay with the job: nowhere in the message.
    assert b"order_confirmation" not in raw and b"category" not in raw

    # mixed: alternative(text, related(html, logo)), invoice, notes
    assert msg.get_content_type() == "multipart/mixed"
    alt = msg.get_payload()[0]
    assert alt.get_content_type() == "multipart/alternative"
    text, related = alt.get_payload()
    assert text.get_content() == EMAIL["text"]
    assert related.get_content_type() == "multipart/related"
    html, logo = related.get_payload()
    assert html.get_content() == EMAIL["html"]
    assert logo.get_content_type() == "image/png"
    assert logo["Content-ID"] == "<logo>"
    assert logo.get_content_disposition() == "inline"
    assert logo.get_content() == PNG
    invoice, notes = msg.get_payload()[1:]
    assert invoice.get_filename() == "invoice.pdf"
    assert invoice.get_content_type() == "application/pdf"
    assert invoice.get_content() == b"%PDF-1.4 " + bytes(range(256))
    assert notes.get_filename() == "notes.txt"
    assert notes.get_content() == "plain notes\n"
    assert msg.get_body(("html",)).get_content() == EMAIL["html"]

    # The envelope: To, Cc and Bcc.
    calls = [json.loads(x) for x in open(os.path.join(relay.outbox,
                                                      "calls.log"))]
    argv = calls[-1]["argv"]
    assert argv[argv.index("--") + 1:] == [
        "rcpt@example.net", "second@example.net", "cc@example.net",
        "hidden@example.com"]


def test_tags_are_kept_with_the_job(make_stack, sdk):
    s = make_stack().start()            # no spoold: the job stays
    r = sdk_one(s, {"op": "send", "payload": dict(EMAIL, attachments=[])})
    jid = r["data"]["id"]
    fields, raw = s.job(jid)
    assert fields["tag"] == ["category order_confirmation", "shop eu-1"]
    assert b"order_confirmation" not in raw


def test_scheduled_at_keeps_the_job_until_due(relay):
    due = int(time.time()) + 3600
    at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(due))
    r = sdk_one(relay, {"op": "send", "payload": {
        "from": "app@example.org", "to": "later@example.net",
        "subject": "later", "text": "later\n", "scheduledAt": at}})
    assert r["error"] is None, r
    later = r["data"]["id"]
    assert os.stat(os.path.join(relay.spool, "pending", later)).st_mtime \
        == due
    # A message sent after it goes first, and the scheduled one waits.
    r = sdk_one(relay, {"op": "send", "payload": {
        "from": "app@example.org", "to": "now@example.net",
        "subject": "now", "text": "now\n"}})
    delivered(relay, r["data"]["id"])
    assert relay.jobs("pending") == [later]


def test_sdk_error_objects(relay):
    base = {"from": "app@example.org", "to": "rcpt@example.net",
            "subject": "s", "text": "t"}
    r = sdk_one(relay, {"op": "send", "payload": base,
                        "key": "re_not_a_token"})
    assert r["data"] is None
    assert r["error"]["name"] == "invalid_api_key"
    assert r["error"]["statusCode"] == 403 and r["error"]["message"]

    r = sdk_one(relay, {"op": "send", "payload": dict(
        base, **{"from": "Someone <someone@elsewhere.example>"})})
    assert r["error"]["name"] == "validation_error"
    assert r["error"]["statusCode"] == 403

    r = sdk_one(relay, {"op": "send", "payload": {
        "from": "app@example.org", "to": "rcpt@example.net", "text": "t"}})
    assert r["error"]["name"] == "missing_required_field"
    assert r["error"]["statusCode"] == 422
    assert "subject" in r["error"]["message"]

    first, again, other = run_sdk(relay, [
        {"op": "send", "payload": base, "options": {"idempotencyKey": "o-1"}},
        {"op": "send", "payload": base, "options": {"idempotencyKey": "o-1"}},
        {"op": "send", "payload": dict(base, subject="changed"),
         "options": {"idempotencyKey": "o-1"}}])
    assert first["error"] is None and again["error"] is None
    assert again["data"]["id"] == first["data"]["id"]
    assert other["data"] is None
    assert other["error"]["name"] == "invalid_idempotent_request"
    assert other["error"]["statusCode"] == 409
    assert relay.jobs("failed") == []


def test_update_and_cancel_a_scheduled_email(relay):
    due = int(time.time()) + 3600
    at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(due))
    later = time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                          time.gmtime(due + 600))
    sent = sdk_one(relay, {"op": "send", "payload": {
        "from": "app@example.org", "to": "later@example.net",
        "subject": "later", "text": "later\n", "scheduledAt": at}})
    jid = sent["data"]["id"]
    updated, canceled, again = run_sdk(relay, [
        {"op": "update", "id": jid, "scheduledAt": later},
        {"op": "cancel", "id": jid},
        {"op": "cancel", "id": jid}])
    assert updated["error"] is None, updated
    assert updated["data"] == {"object": "email", "id": jid}
    assert canceled["error"] is None, canceled
    assert canceled["data"] == {"object": "email", "id": jid}
    assert relay.jobs("canceled") == [jid] and relay.jobs("pending") == []
    assert again["data"] is None
    assert again["error"]["statusCode"] == 422
    assert again["error"]["name"] == "validation_error"
    # Another caller's token: the same 404 as for an unknown id.
    r = sdk_one(relay, {"op": "update", "id": jid, "scheduledAt": later},
                key=relay.other_token)
    assert r["error"]["name"] == "not_found" and r["error"]["statusCode"] \
        == 404


def as_list(v):
    return v if isinstance(v, list) else [v]


def test_get_returns_what_send_was_given(relay):
    due = int(time.time()) + 3600
    at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(due))
    payload = dict(EMAIL, scheduledAt=at)
    sent = sdk_one(relay, {"op": "send", "payload": payload})
    assert sent["error"] is None, sent
    jid = sent["data"]["id"]
    now = sdk_one(relay, {"op": "send", "payload": dict(EMAIL,
                                                        attachments=[])})
    nid = now["data"]["id"]
    delivered(relay, nid)
    wait_for(lambda: nid in relay.jobs("sent"), what="the record")
    got, handed, foreign = run_sdk(relay, [
        {"op": "get", "id": jid}, {"op": "get", "id": nid},
        {"op": "get", "id": jid, "key": relay.other_token}])
    assert got["error"] is None, got
    d = got["data"]
    assert d["object"] == "email" and d["id"] == jid
    assert d["from"] == EMAIL["from"]
    assert d["to"] == as_list(EMAIL["to"])
    assert d["cc"] == as_list(EMAIL["cc"])
    assert d["bcc"] == as_list(EMAIL["bcc"])
    assert d["reply_to"] == as_list(EMAIL["replyTo"])
    assert d["subject"] == EMAIL["subject"]
    assert d["tags"] == EMAIL["tags"]
    assert d["last_event"] == "scheduled"
    # The same instant, in Resend's form (ISO 8601, +00:00).
    assert datetime.fromisoformat(d["scheduled_at"]).timestamp() == due
    assert abs(datetime.fromisoformat(d["created_at"]).timestamp() -
               time.time()) < 120
    assert d["html"] is None and d["text"] is None
    assert d["message_id"] == "<%s@relay.test>" % jid
    # Handed to the stand-in sendmail: sent, the record keeps the rest.
    assert handed["error"] is None, handed
    h = handed["data"]
    assert h["last_event"] == "sent" and h["scheduled_at"] is None
    assert h["bcc"] == as_list(EMAIL["bcc"]) and h["tags"] == EMAIL["tags"]
    assert foreign["data"] is None
    assert foreign["error"]["name"] == "not_found"
    assert foreign["error"]["statusCode"] == 404


def batch_email(i):
    """An email of a batch: EMAIL without attachments (the SDK's batch
    type has none), each one its own."""
    e = {k: v for k, v in EMAIL.items() if k != "attachments"}
    e["subject"] = "%s #%d" % (EMAIL["subject"], i)
    e["html"] = "<p>Hello %d</p>\n" % i
    e["text"] = "Hello %d,\nyour order is on its way.\n" % i
    return e


def check_delivered(stack, jid, e):
    raw = delivered(stack, jid)
    msg = email.message_from_bytes(raw, policy=email.policy.strict)
    assert not msg.defects
    assert msg["Message-ID"] == "<%s@relay.test>" % jid
    assert msg["From"].addresses[0].display_name == "Zoë App"
    assert [a.addr_spec for a in msg["To"].addresses] == [
        "rcpt@example.net", "second@example.net"]
    assert msg["To"].addresses[0].display_name == "Ünïcode Person"
    assert msg["Cc"].addresses[0].addr_spec == "cc@example.net"
    assert msg["Reply-To"].addresses[0].addr_spec == "reply@example.org"
    assert msg["Bcc"] is None and b"hidden@example.com" not in raw
    assert str(msg["Subject"]) == e["subject"]
    assert msg["X-Order"] == "1234"
    assert b"order_confirmation" not in raw
    assert msg.get_body(("plain",)).get_content() == e["text"]
    assert msg.get_body(("html",)).get_content() == e["html"]


def test_batch_send_strict_and_permissive(relay):
    batch = [batch_email(i) for i in range(3)]
    r = sdk_one(relay, {"op": "batch", "payload": batch})
    assert r["error"] is None, r
    ids = [x["id"] for x in r["data"]["data"]]
    assert len(set(ids)) == 3
    for jid, e in zip(ids, batch):
        check_delivered(relay, jid, e)

    # strict: one bad email refuses the batch; the SDK's error object
    bad = batch + [dict(batch_email(3), to="not an address")]
    r = sdk_one(relay, {"op": "batch", "payload": bad})
    assert r["data"] is None
    assert r["error"]["statusCode"] == 422
    assert r["error"]["name"] == "validation_error"
    assert r["error"]["message"].startswith("[3].to")

    # permissive: the valid ones go, the bad one is listed
    bad = [batch_email(4), dict(batch_email(5), **{"from":
           "other@example.net"}), batch_email(6)]
    r = sdk_one(relay, {"op": "batch", "payload": bad,
                        "options": {"batchValidation": "permissive"}})
    assert r["error"] is None, r
    ids = [x["id"] for x in r["data"]["data"]]
    assert len(ids) == 2
    assert [x["index"] for x in r["data"]["errors"]] == [1]
    check_delivered(relay, ids[0], bad[0])
    check_delivered(relay, ids[1], bad[2])
    subjects = []
    for name in os.listdir(relay.outbox):
        if name.endswith(".eml") and not name.startswith("."):
            m = email.message_from_bytes(
                open(os.path.join(relay.outbox, name), "rb").read(),
                policy=email.policy.strict)
            subjects.append(str(m["Subject"]))
    assert sorted(subjects) == sorted(e["subject"] for e in
                                      batch + [bad[0], bad[2]])


def test_batch_send_idempotency_key(relay):
    batch = [batch_email(i) for i in range(2)]
    opts = {"idempotencyKey": "sdk-batch-1"}
    a, b, c = run_sdk(relay, [
        {"op": "batch", "payload": batch, "options": opts},
        {"op": "batch", "payload": batch, "options": opts},
        {"op": "batch", "payload": batch[:1], "options": opts}])
    assert a["error"] is None and a["data"] == b["data"]
    assert c["error"]["statusCode"] == 409
    assert c["error"]["name"] == "invalid_idempotent_request"
