"""POST /emails, Resend's wire format, through a real nginx with plain HTTP:
every status code and error name of the contract, in Resend's shape, and
the job on disk."""

import email
import email.policy
import fcntl
import hashlib
import json
import os
import re
import socket
import subprocess
import time

import requests

from relaystack import SPOOLCTL, wait_for

MSG = {"from": "App <app@example.org>", "to": "rcpt@example.net",
       "subject": "Hello", "text": "Hello\n"}


def post(stack, body, path="/emails", token=None, headers=None, raw=None):
    h = {"Content-Type": "application/json"}
    tok = stack.token if token is None else token
    if tok:
        h["Authorization"] = "Bearer " + tok
    h.update(headers or {})
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(stack.url + path, data=data, headers=h, timeout=10)


def resend_error(r, status, name):
    """An error in Resend's shape: exactly statusCode, name, message."""
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"statusCode", "name", "message"}, body
    assert body["statusCode"] == status and body["name"] == name, body
    assert isinstance(body["message"], str) and body["message"]
    assert "X-Relay-Id" in r.headers
    return body["message"]


def test_accepted_is_200_id_only(stack):
    r = post(stack, MSG)
    assert r.status_code == 200, r.text
    jid = r.json()["id"]
    assert r.json() == {"id": jid}          # no statusCode on success
    assert r.headers["X-Relay-Id"] == jid
    assert r.headers["X-Relay-Caller"] == "app"
    assert stack.jobs() == [jid]
    fields, raw = stack.job(jid)
    assert fields["caller"] == ["app"]
    assert fields["sender"] == ["app@example.org"]
    msg = email.message_from_bytes(raw, policy=email.policy.strict)
    assert msg["Message-ID"] == "<%s@relay.test>" % jid
    assert msg["From"].addresses[0].display_name == "App"
    assert "tag" not in fields


def test_one_id_space_with_send(stack):
    a = post(stack, MSG).json()["id"]
    b = stack.send({"from": "app@example.org", "to": "x@example.net",
                    "subject": "s", "text": "t"}).json()["id"]
    assert sorted(stack.jobs()) == sorted([a, b])


def test_addresses_in_resend_form(stack):
    r = post(stack, dict(MSG, **{
        "from": '"Doe, Jane \\"JD\\"" <app@example.org>',
        "to": ["A <a@example.net>", "b@example.net"],
        "cc": "C Person <c@example.net>", "bcc": ["d@example.net"],
        "reply_to": ["R <r@example.net>", "r2@example.net"]}))
    assert r.status_code == 200, r.text
    fields, raw = stack.job(r.json()["id"])
    assert fields["rcpt"] == ["a@example.net", "b@example.net",
                              "c@example.net", "d@example.net"]
    msg = email.message_from_bytes(raw, policy=email.policy.strict)
    assert msg["From"].addresses[0].display_name == 'Doe, Jane "JD"'
    assert [a.addr_spec for a in msg["Reply-To"].addresses] == \
        ["r@example.net", "r2@example.net"]
    assert msg["Bcc"] is None


def test_null_optional_fields_are_absent(stack):
    r = post(stack, dict(MSG, cc=None, bcc=None, reply_to=None, html=None,
                         headers=None, attachments=None, tags=None,
                         scheduled_at=None, topic_id=None))
    assert r.status_code == 200, r.text


def test_attachment_forms(stack):
    body = dict(MSG, attachments=[
        {"filename": "a.bin", "content": {"type": "Buffer",
                                          "data": [0, 1, 2, 255]}},
        {"filename": "b.pdf", "content": "JVBERi0=",
         "content_type": "application/pdf"},
        {"filename": "c.png", "content": "iVBORw==", "path": None}])
    r = post(stack, body)
    assert r.status_code == 200, r.text
    msg = email.message_from_bytes(stack.job(r.json()["id"])[1],
                                   policy=email.policy.strict)
    a, b, c = msg.get_payload()[1:]
    assert a.get_content_type() == "application/octet-stream"
    assert a.get_content() == bytes([0, 1, 2, 255])
    assert b.get_content_type() == "application/pdf"
    assert c.get_content_type() == "image/png"     # from the extension


def test_missing_and_invalid_token(stack):
    for token in ("", None):
        h = {} if token is None else {"Authorization": "Bearer "}
        r = requests.post(stack.url + "/emails", data=json.dumps(MSG),
                          headers=dict(h, **{"Content-Type":
                                             "application/json"}))
        resend_error(r, 401, "missing_api_key")
        assert "X-Relay-Caller" not in r.headers
    r = post(stack, MSG, token="re_123456789")
    resend_error(r, 403, "invalid_api_key")
    assert stack.jobs() == []


def test_sender_outside_the_allowlist_is_403(stack):
    r = post(stack, MSG, token=stack.other_token)
    msg = resend_error(r, 403, "validation_error")
    assert "from" in msg
    assert stack.jobs() == []


def test_validation_errors(stack):
    cases = [
        ({"to": "a@example.net", "subject": "s", "text": "t"},
         "missing_required_field"),
        (dict(MSG, subject=None), "missing_required_field"),
        ({"from": "app@example.org", "to": "a@example.net",
          "subject": "s"}, "missing_required_field"),
        (dict(MSG, **{"from": "not an address"}), "invalid_from_address"),
        (dict(MSG, **{"from": "Bad\u0001Name <app@example.org>"}),
         "invalid_from_address"),
        (dict(MSG, to="nope"), "validation_error"),
        (dict(MSG, to=["a%d@example.net" % i for i in range(51)]),
         "validation_error"),
        (dict(MSG, subject="a\r\nBcc: x@example.com"), "validation_error"),
        (dict(MSG, headers={"Bcc": "x@example.com"}), "validation_error"),
        (dict(MSG, bogus=1), "validation_error"),
        (dict(MSG, template={"id": "t"}), "validation_error"),
        (dict(MSG, tags=[{"name": "bad name", "value": "v"}]),
         "validation_error"),
        (dict(MSG, tags=[{"name": "a", "value": "x" * 257}]),
         "validation_error"),
        (dict(MSG, tags=[{"name": "a", "value": "1"},
                         {"name": "a", "value": "2"}]), "validation_error"),
        (dict(MSG, tags={"name": "a"}), "validation_error"),
        (dict(MSG, scheduled_at="tomorrow"), "validation_error"),
        (dict(MSG, scheduled_at="2026-12-01T10:00:00"), "validation_error"),
        (dict(MSG, scheduled_at="2099-01-01T00:00:00Z"), "validation_error"),
        (dict(MSG, attachments=[{"filename": "a", "content": "!!"}]),
         "invalid_attachment"),
        (dict(MSG, attachments=[{"filename": "a", "content":
                                 {"type": "Buffer", "data": [256]}}]),
         "invalid_attachment"),
        (dict(MSG, attachments=[{"filename": "a", "path":
                                 "https://example.com/a.pdf"}]),
         "validation_error"),
        (dict(MSG, attachments=[{"filename": "a", "content": "AA==",
                                 "content_id": "a b"}]),
         "invalid_attachment"),
        (dict(MSG, attachments=[{"filename": "../a", "content": "AA=="}]),
         "invalid_attachment"),
    ]
    for body, name in cases:
        resend_error(post(stack, body), 422, name)
    for raw in (b"{not json", b"[1,2]", b'{"from":"a","from":"b"}',
                b'{"subject":"\xff"}'):
        resend_error(post(stack, None, raw=raw), 422, "validation_error")
    assert stack.jobs() == []


def test_field_names_are_resends(stack):
    msg = resend_error(post(stack, dict(MSG, reply_to="nope")), 422,
                       "validation_error")
    assert msg.startswith("reply_to") and "replyTo" not in msg
    msg = resend_error(post(stack, dict(MSG, attachments=[
        {"filename": "a", "content": "AA==", "content_type": "x"}])), 422,
        "invalid_attachment")
    assert msg.startswith("attachments[0].content_type")


def test_http_level_errors(stack):
    resend_error(post(stack, MSG, headers={"Content-Type": "text/plain"}),
                 415, "validation_error")
    resend_error(post(stack, dict(MSG, text="x" * (600 * 1024))), 413,
                 "validation_error")
    r = requests.get(stack.url + "/emails",
                     headers={"Authorization": "Bearer " + stack.token})
    resend_error(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "POST"
    resend_error(requests.get(stack.url + "/emails/nope/deeper"), 404,
                 "not_found")


def test_length_required(stack):
    with socket.create_connection(("127.0.0.1", stack.port)) as s:
        s.sendall(b"POST /emails HTTP/1.0\r\nHost: x\r\n"
                  b"Authorization: Bearer " + stack.token.encode() +
                  b"\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\n\r\n")
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.split()[1] == b"411", out
    body = json.loads(body)
    assert body["statusCode"] == 411 and body["name"] == "validation_error"


def test_idempotency_with_resends_semantics(stack):
    key = {"Idempotency-Key": "welcome/user-42"}
    first = post(stack, MSG, headers=key)
    assert first.status_code == 200
    again = post(stack, MSG, headers=key)
    assert again.status_code == 200 and again.json() == first.json()
    other = post(stack, dict(MSG, subject="other"), headers=key)
    resend_error(other, 409, "invalid_idempotent_request")
    assert len(stack.jobs()) == 1
    assert post(stack, MSG, headers={"Idempotency-Key": "k" * 256}) \
        .status_code == 200
    for bad in ("k" * 257, "caf\u00e9"):
        r = post(stack, MSG, headers={"Idempotency-Key": bad.encode()})
        resend_error(r, 400, "invalid_idempotency_key")


def test_concurrent_idempotent_request_is_409(stack):
    """While another request holds the key (its lock on the record), a
    second one is refused at once instead of waiting."""
    key = "in-flight-1"
    name = hashlib.sha256(b"app\0" + key.encode()).hexdigest()
    path = os.path.join(stack.spool, "idem", name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = post(stack, MSG, headers={"Idempotency-Key": key})
        resend_error(r, 409, "concurrent_idempotent_requests")
        assert stack.jobs() == []
    finally:
        os.close(fd)
    r = post(stack, MSG, headers={"Idempotency-Key": key})
    assert r.status_code == 200


def test_spool_full_and_unwritable_are_503_application_error(make_stack):
    s = make_stack(conf={"max_pending": "1"}).start()
    assert post(s, MSG).status_code == 200
    r = post(s, MSG)
    resend_error(r, 503, "application_error")
    assert int(r.headers["Retry-After"]) > 0
    t = make_stack().start()
    os.rmdir(os.path.join(t.spool, "pending"))
    r = post(t, MSG)
    resend_error(r, 503, "application_error")
    assert int(r.headers["Retry-After"]) > 0
    assert t.jobs("tmp") == []


def test_rejections_are_logged_with_both_codes(stack):
    post(stack, MSG, token=stack.other_token)
    log = stack.log("relay-fcgi.log")
    assert "rejected status=403 error=sender_not_allowed field=from" in log


def test_every_send_error_code_has_a_twin_in_the_manual():
    """relay-fcgi(8) lists every /send error code, and its Resend table
    gives each one a twin; the table agrees with resend.c's."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    page = open(os.path.join(root, "cgi", "relay-fcgi.8")).read()
    send_list = page.split("The error codes (400 unless noted)")[1] \
        .split(".El")[0]
    codes = set(re.findall(r"^\.It Li (\w+)$", send_list, re.M))
    table = page.split("Each\n.Li /send\nerror code has a twin:")[1] \
        .split(".El")[0]
    rows = re.findall(r"^\.It Li (\w+) Ta (\d+) Ta Li (\w+)$", table, re.M)
    assert codes and codes == {code for code, _, _ in rows}
    source = open(os.path.join(root, "cgi", "resend.c")).read()
    twins = dict((c, (int(s), n)) for c, s, n in re.findall(
        r'\{ "(\w+)",\s+(\d+), "(\w+)" \}', source))
    for code, status, name in rows:
        if code in ("unauthorized", "invalid_address", "invalid_name"):
            continue            # decided by more than the code
        want = twins.get(code, (422, "validation_error"))
        assert want == (int(status), name), code


def patch(stack, jid, body, token=None, raw=None):
    h = {"Content-Type": "application/json",
         "Authorization": "Bearer " + (token or stack.token)}
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.patch(stack.url + "/emails/" + jid, data=data,
                          headers=h, timeout=10)


def cancel(stack, jid, token=None):
    return requests.post(stack.url + "/emails/%s/cancel" % jid, headers={
        "Content-Type": "application/json",
        "Authorization": "Bearer " + (token or stack.token)}, timeout=10)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_scheduled_job_waits_in_pending_with_its_due_time(stack):
    due = int(time.time()) + 7200
    r = post(stack, dict(MSG, scheduled_at=iso(due)))
    jid = r.json()["id"]
    assert os.stat(os.path.join(stack.spool, "pending", jid)).st_mtime == due
    assert stack.job(jid)[0]["scheduled"] == [str(due)]
    # /send takes scheduledAt, in the same id space.
    r = stack.send({"from": "app@example.org", "to": "x@example.net",
                    "subject": "s", "text": "t",
                    "scheduledAt": iso(due + 60).replace("Z", "+00:00")})
    assert r.status_code == 202, r.text
    sid = r.json()["id"]
    assert os.stat(os.path.join(stack.spool, "pending", sid)).st_mtime == \
        due + 60
    r = stack.send({"from": "app@example.org", "to": "x@example.net",
                    "subject": "s", "text": "t", "scheduledAt": "soon"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_scheduled_at"
    assert r.json()["field"] == "scheduledAt"
    out = subprocess.run([SPOOLCTL, "-c", stack.conf_path, "list",
                          "--json"], capture_output=True, text=True)
    states = {j["id"]: j["state"] for j in json.loads(out.stdout)}
    assert states[jid] == "scheduled" and states[sid] == "scheduled"


def test_patch_moves_a_waiting_job(stack):
    due = int(time.time()) + 7200
    jid = post(stack, dict(MSG, scheduled_at=iso(due))).json()["id"]
    r = patch(stack, jid, {"scheduled_at": iso(due + 600)})
    assert r.status_code == 200, r.text
    assert r.json() == {"object": "email", "id": jid}
    path = os.path.join(stack.spool, "pending", jid)
    assert os.stat(path).st_mtime == due + 600
    fields, raw = stack.job(jid)
    assert fields["scheduled"] == [str(due + 600)]
    assert raw.startswith(b"From: App <app@example.org>\n")
    assert stack.jobs("tmp") == [] and os.listdir(
        os.path.join(stack.spool, "tmp")) == []
    # Only its caller; an unknown id looks the same.
    resend_error(patch(stack, jid, {"scheduled_at": iso(due)},
                       token=stack.other_token), 404, "not_found")
    resend_error(patch(stack, "0" * 13 + "-" + "0" * 16,
                       {"scheduled_at": iso(due)}), 404, "not_found")
    for body in ({"scheduled_at": "later"}, {"scheduled_at": iso(due),
                                             "x": 1}, {}):
        resend_error(patch(stack, jid, body), 422, "validation_error") \
            if body else resend_error(patch(stack, jid, body), 422,
                                      "missing_required_field")
    resend_error(patch(stack, jid, None, raw=b"{"), 422, "validation_error")
    assert os.stat(path).st_mtime == due + 600


def test_cancel_records_canceled_and_only_while_waiting(stack):
    due = int(time.time()) + 7200
    jid = post(stack, dict(MSG, scheduled_at=iso(due))).json()["id"]
    resend_error(cancel(stack, jid, token=stack.other_token), 404,
                 "not_found")
    r = cancel(stack, jid)
    assert r.status_code == 200, r.text
    assert r.json() == {"object": "email", "id": jid}
    assert stack.jobs("pending") == [] and stack.jobs("canceled") == [jid]
    # Canceled: no longer waiting, for PATCH and cancel alike.
    resend_error(cancel(stack, jid), 422, "validation_error")
    resend_error(patch(stack, jid, {"scheduled_at": iso(due)}), 422,
                 "validation_error")
    # GET /messages/{id} tells the same.
    r = requests.get(stack.url + "/messages/" + jid, headers={
        "Authorization": "Bearer " + stack.token})
    assert r.status_code == 200 and r.json()["state"] == "canceled", r.text


def test_handed_over_job_cannot_be_moved(make_stack):
    s = make_stack().start(spoold=True)
    jid = post(s, MSG).json()["id"]
    wait_for(lambda: s.jobs("sent") == [jid], what="the hand-over")
    resend_error(patch(s, jid, {"scheduled_at": iso(time.time() + 60)}),
                 422, "validation_error")
    resend_error(cancel(s, jid), 422, "validation_error")


def test_routes_under_emails(stack):
    jid = post(stack, MSG).json()["id"]
    r = requests.get(stack.url + "/emails/%s/cancel" % jid)
    resend_error(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "POST"
    r = requests.delete(stack.url + "/emails/" + jid)
    resend_error(r, 405, "method_not_allowed")
    for path in ("/emails/nope", "/emails/%s/x" % jid, "/emails/%sx" % jid,
                 "/emailsx"):
        r = requests.patch(stack.url + path, headers={
            "Authorization": "Bearer " + stack.token})
        assert r.status_code == 404, path
    resend_error(requests.post(stack.url + "/emails/%s/cancel" % jid),
                 401, "missing_api_key")
