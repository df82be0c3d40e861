"""POST /send and GET /health through a real nginx: every status code of
the contract, the job on disk, and the message it holds parsed back."""

import base64
import email
import email.policy
import json
import os
import signal
import subprocess
import threading

import requests

from relaystack import RELAY_FCGI, make_token, wait_for

MSG = {
    "from": {"email": "app@example.org", "name": "Zoë Müller"},
    "to": [{"email": "rcpt@example.net", "name": "Ünïcode Person"},
           "second@example.net"],
    "cc": "cc@example.net",
    "bcc": ["hidden@example.com"],
    "replyTo": {"email": "reply@example.org"},
    "subject": "Grüße aus Köln — ✉ test",
    "text": "Hello,\nthis is the text part. Ünïcödé.\n",
    "html": "<p>Hello, <b>Ünïcödé</b></p>\n",
    "headers": {"X-Campaign": "spring-2026",
                "List-Unsubscribe": "<mailto:unsub@example.org>"},
    "attachments": [{"filename": "report.bin",
                     "contentType": "application/octet-stream",
                     "content": base64.b64encode(bytes(range(256)) * 3)
                     .decode()}],
}


def error_of(r):
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["ok"] is False
    return body["error"]


def test_accepted_job_is_durable_and_complete(stack):
    r = stack.send(MSG)
    assert r.status_code == 202, r.text
    body = r.json()
    jid = body["id"]
    assert body == {"ok": True, "queued": True, "id": jid,
                    "messageId": "<%s@relay.test>" % jid}
    assert r.headers["X-Relay-Id"] == jid
    assert r.headers["X-Relay-Caller"] == "app"
    assert stack.jobs("pending") == [jid]
    assert stack.jobs("tmp") == []

    fields, raw = stack.job(jid)
    assert fields["sender"] == ["app@example.org"]
    assert fields["rcpt"] == ["rcpt@example.net", "second@example.net",
                              "cc@example.net", "hidden@example.com"]
    assert fields["caller"] == ["app"]

    msg = email.message_from_bytes(raw, policy=email.policy.strict)
    assert not msg.defects
    assert msg["Message-ID"] == "<%s@relay.test>" % jid
    assert msg["Bcc"] is None and b"hidden@example.com" not in raw
    assert str(msg["Subject"]) == MSG["subject"]
    assert msg["From"].addresses[0].display_name == "Zoë Müller"
    assert msg["To"].addresses[0].display_name == "Ünïcode Person"
    assert msg["X-Campaign"] == "spring-2026"
    assert msg.get_content_type() == "multipart/mixed"
    alt, att = msg.get_payload()
    text, html = alt.get_payload()
    assert text.get_content() == MSG["text"]
    assert html.get_content() == MSG["html"]
    assert att.get_filename() == "report.bin"
    assert att.get_content() == bytes(range(256)) * 3
    assert all(len(line) <= 998 for line in raw.split(b"\n"))
    assert b"\r" not in raw


def test_access_log_names_caller_and_job(stack):
    r = stack.send(MSG)
    jid = r.json()["id"]
    wait_for(lambda: jid in stack.log("access.log"), what="access log")
    assert "caller=app id=%s" % jid in stack.log("access.log")


def test_unauthorized(stack):
    for token in ("", "wrong", stack.token[:-1] + "x", stack.token + "x"):
        r = stack.send(MSG, token=token)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert error_of(r) == "unauthorized"
        assert "X-Relay-Caller" not in r.headers
    r = stack.send(MSG, token=stack.token,
                   headers={"Authorization": "Basic " + stack.token})
    assert r.status_code == 401
    assert stack.jobs() == []


def test_sender_not_allowed(stack):
    r = stack.send(MSG, token=stack.other_token)
    assert r.status_code == 400
    assert error_of(r) == "sender_not_allowed"
    assert r.json()["field"] == "from"
    r = stack.send(dict(MSG, **{"from": "APP@Example.ORG"}))
    assert r.status_code == 202, r.text


def test_content_type(stack):
    r = stack.send(MSG, headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and error_of(r) == "unsupported_media_type"
    r = stack.send(MSG, headers={"Content-Type":
                                 "application/json; charset=latin1"})
    assert r.status_code == 415
    r = stack.send(MSG, headers={"Content-Type":
                                 "application/json; charset=UTF-8"})
    assert r.status_code == 202


def test_body_too_large_before_reading(stack):
    big = dict(MSG, text="x" * (600 * 1024))
    r = stack.send(big)
    assert r.status_code == 413 and error_of(r) == "body_too_large"
    assert stack.jobs() == []


def test_bad_bodies(stack):
    cases = [
        (b"{not json", "invalid_json"),
        (b'{"from":"app@example.org","to":"a@example.net","subject":"s",'
         b'"text":"t","bogus":1}', "unknown_field"),
        (b'{"from":"app@example.org","from":"app@example.org",'
         b'"to":"a@example.net","subject":"s","text":"t"}', "duplicate_key"),
        (b'{"from":"app@example.org","to":"a@example.net","subject":"s\xff",'
         b'"text":"t"}', "invalid_utf8"),
    ]
    for raw, code in cases:
        r = stack.send(None, raw=raw)
        assert r.status_code == 400, raw
        assert error_of(r) == code, (raw, r.text)
    r = stack.send(dict(MSG, subject="a\r\nBcc: x@example.com"))
    assert r.status_code == 400
    assert r.json()["field"] == "subject"
    r = stack.send(dict(MSG, to="not an address"))
    assert r.status_code == 400 and r.json()["field"].startswith("to")
    assert stack.jobs() == []


def test_routes_and_methods(stack):
    r = requests.get(stack.url + "/send")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert error_of(r) == "method_not_allowed"
    r = requests.post(stack.url + "/health")
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    r = requests.get(stack.url + "/nope")
    assert r.status_code == 404 and error_of(r) == "not_found"
    assert "X-Relay-Id" in r.headers


def test_idempotency(stack):
    key = {"Idempotency-Key": "order-1234"}
    first = stack.send(MSG, headers=key)
    assert first.status_code == 202
    again = stack.send(MSG, headers=key)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["X-Relay-Id"] == first.json()["id"]
    other = stack.send(dict(MSG, subject="changed"), headers=key)
    assert other.status_code == 409 and error_of(other) == \
        "idempotency_conflict"
    # The key belongs to the caller: another caller may use it.
    r = stack.send(dict(MSG, **{"from": "other@example.net"}),
                   token=stack.other_token, headers=key)
    assert r.status_code == 202
    assert len(stack.jobs()) == 2
    for bad in ("", "x" * 256, "caf\u00e9"):
        r = stack.send(MSG, headers={"Idempotency-Key":
                                     bad.encode("utf-8")})
        assert r.status_code == 400, bad
        assert error_of(r) == "invalid_idempotency_key"


def test_idempotency_race(stack):
    key = {"Idempotency-Key": "race-1"}
    results = []

    def go():
        results.append(stack.send(MSG, headers=key))
    threads = [threading.Thread(target=go) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200] * 15 + [202]
    assert len({r.json()["id"] for r in results}) == 1
    assert len(stack.jobs()) == 1


def test_spool_full(make_stack):
    s = make_stack(conf={"max_pending": "2"}).start()
    assert s.send(MSG).status_code == 202
    assert s.send(MSG).status_code == 202
    r = s.send(MSG)
    assert r.status_code == 503 and error_of(r) == "spool_full"
    assert "Retry-After" in r.headers
    assert len(s.jobs()) == 2


def test_spool_unwritable_leaves_nothing(stack):
    os.rmdir(os.path.join(stack.spool, "pending"))
    r = stack.send(MSG)
    assert r.status_code == 503 and error_of(r) == "spool_unavailable"
    assert "Retry-After" in r.headers
    assert stack.jobs("tmp") == []


def test_health(stack):
    r = requests.get(stack.url + "/health")
    assert r.status_code == 503 and "spoold" in r.text
    stack.start_spoold()
    r = requests.get(stack.url + "/health")
    assert r.status_code == 200 and r.text == "ok\n"
    r = requests.head(stack.url + "/health")
    assert r.status_code == 200 and r.text == ""
    stack.stop("spoold")
    assert requests.get(stack.url + "/health").status_code == 503


def test_sighup_reloads_tokens(stack):
    token, line = make_token("late", "late@example.org")
    late = dict(MSG, **{"from": "late@example.org"})
    assert stack.send(late, token=token).status_code == 401
    with open(stack.tokens_path, "a") as f:
        f.write(line + "\n")
    stack.procs["fcgi"].send_signal(signal.SIGHUP)
    wait_for(lambda: stack.send(late, token=token).status_code == 202,
             what="reloaded tokens")
    # A broken file on reload keeps the old tokens working.
    stack.write_tokens("broken line\n")
    stack.procs["fcgi"].send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in stack.log("relay-fcgi.log"),
             what="reload failure logged")
    assert stack.send(late, token=token).status_code == 202


def test_refuses_to_start(make_stack):
    s = make_stack()
    s.write_tokens(open(s.tokens_path).read(), mode=0o644)
    r = subprocess.run([RELAY_FCGI, "-d", "-c", s.conf_path, "-s",
                        os.path.join(s.dir, "x.sock")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "world-readable" in r.stderr
    with open(s.conf_path, "a") as f:
        f.write("no_such_key = 1\n")
    r = subprocess.run([RELAY_FCGI, "-c", s.conf_path], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode != 0
    assert s.conf_path + ":" in r.stderr and "unknown key" in r.stderr


def test_token_never_logged(stack):
    stack.send(MSG)
    stack.send(MSG, token="wrong-token-value")
    log = stack.log("relay-fcgi.log")
    assert "queued" in log
    assert stack.token not in log and "wrong-token-value" not in log
    assert "Hello" not in log


def test_relay_token_output():
    token, line = make_token("svc", "a@example.org", "b@example.org")
    assert len(token) == 64 and int(token, 16) >= 0
    name, digest, *senders = line.split()
    import hashlib
    assert name == "svc"
    assert digest == "sha256:" + hashlib.sha256(token.encode()).hexdigest()
    assert senders == ["a@example.org", "b@example.org"]
    assert make_token("svc", "a@example.org")[0] != token
    r = subprocess.run([os.path.join(os.path.dirname(RELAY_FCGI),
                                     "relay-token"), "svc", "bad address"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and r.stderr.count("\n") == 1


def test_serves_inherited_socket(make_stack):
    s = make_stack()
    s.start_fcgi(inherit=True)
    s.start_nginx()
    r = s.send(MSG)
    assert r.status_code == 202, r.text
    assert s.jobs() == [r.json()["id"]]


def test_sigterm_exits_zero(stack):
    p = stack.procs["fcgi"]
    assert stack.send(MSG).status_code == 202
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0
