"""POST /emails/batch through a real nginx with plain HTTP: strict and
permissive validation, every status of the endpoint in Resend's shape,
idempotency of the batch as one unit, the batch file and its split into
ordinary jobs, and the jobs delivered once each by spoold."""

import email
import email.policy
import fcntl
import hashlib
import json
import os
import subprocess

import requests

from relaystack import SPOOLCTL, wait_for

ONE = {"from": "App <app@example.org>", "to": "rcpt@example.net",
       "subject": "Hello", "text": "Hello\n"}


def emails(n, **over):
    return [dict(ONE, subject="Hello %d" % i, **over) for i in range(n)]


def post(stack, body, token=None, headers=None, raw=None,
         path="/emails/batch"):
    h = {"Content-Type": "application/json"}
    tok = stack.token if token is None else token
    if tok:
        h["Authorization"] = "Bearer " + tok
    h.update(headers or {})
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(stack.url + path, data=data, headers=h, timeout=30)


PERMISSIVE = {"x-batch-validation": "permissive"}


def resend_error(r, status, name):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"statusCode", "name", "message"}, body
    assert body["statusCode"] == status and body["name"] == name, body
    assert "X-Relay-Id" in r.headers
    return body["message"]


def ids_of(r):
    assert r.status_code == 200, r.text
    body = r.json()
    assert "statusCode" not in body
    return [x["id"] for x in body["data"]]


def subjects(stack, ids):
    out = []
    for jid in ids:
        fields, raw = stack.job(jid)
        out.append(fields["subject"][0])
    return out


def test_strict_batch_is_data_ids_in_order(stack):
    r = post(stack, emails(3))
    ids = ids_of(r)
    assert set(r.json()) == {"data"}
    assert len(ids) == 3 and len(set(ids)) == 3
    assert r.headers["X-Relay-Caller"] == "app"
    assert r.headers["X-Relay-Id"] not in ids       # the batch's own id
    assert sorted(stack.jobs()) == sorted(ids)
    assert subjects(stack, ids) == ["Hello 0", "Hello 1", "Hello 2"]
    for jid in ids:
        fields, raw = stack.job(jid)
        assert fields["caller"] == ["app"]
        assert fields["rcpt"] == ["rcpt@example.net"]
        m = email.message_from_bytes(raw, policy=email.policy.strict)
        assert m["Message-ID"] == "<%s@relay.test>" % jid
    # the batch file, their durable copy, waits for spoold (not running)
    assert len(stack.jobs("batch")) == 1 and stack.jobs("tmp") == []
    log = stack.log("relay-fcgi.log")
    for i, jid in enumerate(ids):
        assert "job=%s caller=app" % jid in log
        assert "batch=%s index=%d" % (r.headers["X-Relay-Id"], i) in log


def test_ids_are_found_at_once_by_both_apis(stack):
    """The split is done before the answer: no 404 right after the 200."""
    ids = ids_of(post(stack, emails(5)))
    for jid in ids:
        g = requests.get(stack.url + "/messages/" + jid, timeout=10,
                         headers={"Authorization": "Bearer " + stack.token})
        assert g.status_code == 200, g.text
        assert g.json()["state"] == "queued"
    for i, jid in enumerate(ids):
        g = requests.get(stack.url + "/emails/" + jid, timeout=10,
                         headers={"Authorization": "Bearer " + stack.token})
        assert g.status_code == 200, g.text
        d = g.json()
        assert d["object"] == "email" and d["id"] == jid
        assert d["from"] == "App <app@example.org>"
        assert d["to"] == ["rcpt@example.net"]
        assert d["subject"] == "Hello %d" % i
        assert d["last_event"] == "queued"


def test_strict_refuses_all_naming_the_index(stack):
    batch = emails(4)
    batch[2]["to"] = "not an address"
    msg = resend_error(post(stack, batch), 422, "validation_error")
    assert msg.startswith("[2].to"), msg
    assert stack.jobs() == [] and stack.jobs("batch") == []
    del batch[2]["to"]
    msg = resend_error(post(stack, batch), 422, "missing_required_field")
    assert msg.startswith("[2]"), msg
    batch[2] = dict(ONE, **{"from": "bad@@example.org"})
    resend_error(post(stack, batch), 422, "invalid_from_address")
    assert stack.jobs() == []


def test_permissive_enqueues_the_valid_and_lists_the_rest(stack):
    batch = emails(4)
    batch[1]["to"] = "not an address"
    batch[3]["from"] = "other@example.net"          # not the caller's
    r = post(stack, batch, headers=PERMISSIVE)
    ids = ids_of(r)
    body = r.json()
    assert set(body) == {"data", "errors"}
    assert len(ids) == 2
    assert [e["index"] for e in body["errors"]] == [1, 3]
    assert body["errors"][0]["message"].startswith("to")
    assert body["errors"][1]["message"].startswith("from")
    assert sorted(stack.jobs()) == sorted(ids)
    assert subjects(stack, ids) == ["Hello 0", "Hello 2"]
    # all valid: errors is empty
    r = post(stack, emails(2), headers=PERMISSIVE)
    assert r.json()["errors"] == [] and len(ids_of(r)) == 2
    # none valid: nothing enqueued, still 200
    bad = emails(2, to="nobody")
    r = post(stack, bad, headers=PERMISSIVE)
    assert ids_of(r) == [] and len(r.json()["errors"]) == 2
    assert len(stack.jobs()) == 4


def test_foreign_sender_is_403_in_strict(stack):
    batch = emails(3)
    batch[1]["from"] = "other@example.net"
    msg = resend_error(post(stack, batch), 403, "validation_error")
    assert msg.startswith("[1].from"), msg
    assert stack.jobs() == []
    r = post(stack, emails(1), token=stack.other_token)
    resend_error(r, 403, "validation_error")


def test_attachments_and_scheduled_at_are_refused(stack):
    att = emails(2)
    att[1]["attachments"] = [{"filename": "a.txt", "content": "aGk="}]
    msg = resend_error(post(stack, att), 422, "validation_error")
    assert msg.startswith("[1].attachments"), msg
    sch = emails(2)
    sch[0]["scheduled_at"] = "2030-01-01T00:00:00Z"
    msg = resend_error(post(stack, sch), 422, "validation_error")
    assert msg.startswith("[0].scheduled_at"), msg
    r = post(stack, att + sch, headers=PERMISSIVE)
    assert [e["index"] for e in r.json()["errors"]] == [1, 2]
    assert len(ids_of(r)) == 2
    # null is absent, as the SDK may send it
    ok = emails(1, attachments=None, scheduled_at=None)
    assert len(ids_of(post(stack, ok))) == 1


def test_100_emails_and_101(stack):
    ids = ids_of(post(stack, emails(100)))
    assert len(set(ids)) == 100
    assert sorted(stack.jobs()) == sorted(ids)
    msg = resend_error(post(stack, emails(101)), 422, "validation_error")
    assert "100" in msg
    assert len(stack.jobs()) == 100


def test_body_shapes(stack):
    resend_error(post(stack, []), 422, "validation_error")
    resend_error(post(stack, ONE), 422, "validation_error")   # an object
    resend_error(post(stack, None, raw=b"[{"), 422, "validation_error")
    msg = resend_error(post(stack, [ONE, 7]), 422, "validation_error")
    assert msg.startswith("[1]"), msg
    r = post(stack, emails(1), headers={"x-batch-validation": "lenient"})
    resend_error(r, 422, "validation_error")
    assert stack.jobs() == []


def test_token_type_method_and_length(stack):
    resend_error(post(stack, emails(1), token=""), 401, "missing_api_key")
    resend_error(post(stack, emails(1), token="nope"), 403, "invalid_api_key")
    r = post(stack, emails(1), headers={"Content-Type": "text/plain"})
    resend_error(r, 415, "validation_error")
    r = requests.get(stack.url + "/emails/batch", timeout=10, headers={
        "Authorization": "Bearer " + stack.token})
    resend_error(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "POST"
    assert stack.jobs() == []


def test_max_batch_body(make_stack):
    s = make_stack(conf={"max_batch_body": "2k"}).start()
    resend_error(post(s, emails(40)), 413, "validation_error")
    assert len(ids_of(post(s, emails(2)))) == 2
    # max_body does not limit a batch
    t = make_stack(conf={"max_body": "1k"}).start()
    assert len(ids_of(post(t, emails(30)))) == 30


def test_idempotent_batch_is_one_unit(stack):
    key = {"Idempotency-Key": "batch-7"}
    batch = emails(3)
    batch[1]["to"] = "nobody"
    h = dict(key, **PERMISSIVE)
    first = post(stack, batch, headers=h)
    ids = ids_of(first)
    again = post(stack, batch, headers=h)
    assert again.status_code == 200 and again.content == first.content
    assert sorted(stack.jobs()) == sorted(ids)
    other = post(stack, emails(3), headers=h)
    resend_error(other, 409, "invalid_idempotent_request")
    # the key of a batch is not a single email's either
    r = post(stack, ONE, headers=key, path="/emails")
    resend_error(r, 409, "invalid_idempotent_request")
    assert len(stack.jobs()) == 2


def test_concurrent_idempotent_batch_is_409(stack):
    key = "batch-in-flight"
    name = hashlib.sha256(b"app\0" + key.encode()).hexdigest()
    fd = os.open(os.path.join(stack.spool, "idem", name),
                 os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = post(stack, emails(2), headers={"Idempotency-Key": key})
        resend_error(r, 409, "concurrent_idempotent_requests")
        assert stack.jobs() == []
    finally:
        os.close(fd)
    assert len(ids_of(post(stack, emails(2),
                           headers={"Idempotency-Key": key}))) == 2


def test_full_spool_refuses_the_whole_batch(make_stack):
    s = make_stack(conf={"max_pending": "5"}).start()
    assert len(ids_of(post(s, emails(3)))) == 3
    r = post(s, emails(3))
    resend_error(r, 503, "application_error")
    assert int(r.headers["Retry-After"]) > 0
    assert len(s.jobs()) == 3
    assert len(ids_of(post(s, emails(2)))) == 2
    t = make_stack().start()
    os.rmdir(os.path.join(t.spool, "batch"))
    r = post(t, emails(2))
    resend_error(r, 503, "application_error")
    assert t.jobs() == [] and t.jobs("tmp") == []


def test_suppressed_recipient(stack):
    r = subprocess.run([SPOOLCTL, "-c", stack.conf_path, "suppress",
                        "gone@example.net"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    batch = emails(3)
    batch[2]["bcc"] = ["gone@example.net"]
    msg = resend_error(post(stack, batch), 422, "validation_error")
    assert msg.startswith("[2].bcc") and "gone@example.net" in msg, msg
    assert stack.jobs() == []
    r = post(stack, batch, headers=PERMISSIVE)
    assert [e["index"] for e in r.json()["errors"]] == [2]
    assert len(ids_of(r)) == 2


def test_metrics_and_stats_count_every_message(stack):
    ids = ids_of(post(stack, emails(7)))
    m = requests.get(stack.url + "/metrics", timeout=10).text
    line = [x for x in m.splitlines()
            if x.startswith("mail_relay_accepted_messages_total") and
            'caller="app"' in x]
    assert line and line[0].split()[-1] == "7", line
    st = json.loads(subprocess.run(
        [SPOOLCTL, "-c", stack.conf_path, "stats", "--json"],
        capture_output=True, text=True).stdout)
    assert st["pending"] == len(ids)


def test_spoold_delivers_each_once(make_stack):
    s = make_stack().start(spoold=True)
    ids = ids_of(post(s, emails(20)))

    def delivered():
        found = {}
        for name in os.listdir(s.outbox):
            if name.endswith(".eml") and not name.startswith("."):
                raw = open(os.path.join(s.outbox, name), "rb").read()
                for jid in ids:
                    if ("<%s@relay.test>" % jid).encode() in raw:
                        found[jid] = found.get(jid, 0) + 1
        return found
    wait_for(lambda: len(delivered()) == 20, what="20 deliveries")
    assert set(delivered().values()) == {1}
    # spoold synced the jobs and removed the batch file
    wait_for(lambda: s.jobs("batch") == [], what="batch/ empty")
    assert "split" not in s.log("spoold.log")
    # a batch committed while spoold was down is finished at its start
    s.stop("spoold")
    more = ids_of(post(s, emails(3)))
    assert len(s.jobs("batch")) == 1
    s.start_spoold()
    wait_for(lambda: s.jobs("batch") == [], what="batch/ empty")
    ids += more
    wait_for(lambda: len(delivered()) == 23, what="23 deliveries")
    assert set(delivered().values()) == {1}


def outbox_ids(stack, ids):
    """{id: deliveries} for the jobs of ids that reached the stand-in."""
    found = {}
    for name in os.listdir(stack.outbox):
        if name.endswith(".eml") and not name.startswith("."):
            raw = open(os.path.join(stack.outbox, name), "rb").read()
            for jid in ids:
                if ("<%s@relay.test>" % jid).encode() in raw:
                    found[jid] = found.get(jid, 0) + 1
    return found


def test_a_job_deleted_before_its_batch_is_finished_stays_deleted(make_stack):
    """spoold is down, so the batch file stays in batch/ after the split;
    spoolctl delete finishes the batch first, so spoold, started later,
    finds no batch to make the deleted job again from."""
    s = make_stack().start()
    ids = ids_of(post(s, emails(4)))
    assert len(s.jobs("batch")) == 1 and s.jobs() == sorted(ids)
    gone = ids[1]
    r = subprocess.run([SPOOLCTL, "-c", s.conf_path, "delete", gone],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "%s: deleted (was pending)\n" % gone
    assert s.jobs("batch") == []
    assert s.jobs() == sorted(set(ids) - {gone})
    s.start_spoold()
    rest = [j for j in ids if j != gone]
    wait_for(lambda: len(outbox_ids(s, ids)) == 3, what="3 deliveries")
    wait_for(lambda: s.jobs() == [] and s.jobs("processing") == [],
             what="the spool drained")
    assert outbox_ids(s, ids) == {j: 1 for j in rest}
    assert "split" not in s.log("spoold.log")
    # hold, then delete from held/: the same rule, nothing comes back
    s.stop("spoold")
    more = ids_of(post(s, emails(2)))
    r = subprocess.run([SPOOLCTL, "-c", s.conf_path, "hold", more[0]],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert s.jobs("batch") == [] and s.jobs("held") == [more[0]]
    r = subprocess.run([SPOOLCTL, "-c", s.conf_path, "delete", more[0]],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    s.start_spoold()
    wait_for(lambda: len(outbox_ids(s, more)) == 1, what="1 delivery")
    wait_for(lambda: s.jobs() == [] and s.jobs("processing") == [],
             what="the spool drained")
    assert outbox_ids(s, more) == {more[1]: 1}
    assert s.jobs("held") == []


def test_health_and_metrics_count_a_batchs_jobs_as_pending(make_stack):
    """A batch's jobs are ordinary pending jobs once it answered: the
    pending gauge, spoolctl stats and /health's max_pending_age see them.
    spoold's lock is held by the test (spoold "up" but not draining)."""
    s = make_stack(conf={"max_pending_age": "1"}).start()
    fd = os.open(os.path.join(s.spool, "spoold.lock"),
                 os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        ids = ids_of(post(s, emails(5)))
        m = requests.get(s.url + "/metrics", timeout=10).text
        assert 'mail_relay_queue_jobs{state="pending"} 5' in m.splitlines()
        st = json.loads(subprocess.run(
            [SPOOLCTL, "-c", s.conf_path, "stats", "--json"],
            capture_output=True, text=True).stdout)
        assert st["pending"] == 5 and st["spoold"] is True
        assert st["oldest_due_age"] is not None

        def too_old():
            r = requests.get(s.url + "/health", timeout=10)
            return r.status_code == 503 and \
                r.text.startswith("oldest pending job waits")
        wait_for(too_old, what="/health: the batch's jobs wait too long")
        ages = [x for x in requests.get(s.url + "/metrics",
                                        timeout=10).text.splitlines()
                if x.startswith("mail_relay_queue_oldest_due_age_seconds ")]
        assert ages and float(ages[0].split()[1]) >= 2, ages
        # they go (here: deleted), and /health is well again
        for jid in ids:
            subprocess.run([SPOOLCTL, "-c", s.conf_path, "delete", jid],
                           check=True, capture_output=True, timeout=30)
        r = requests.get(s.url + "/health", timeout=10)
        assert r.status_code == 200 and r.text == "ok\n"
    finally:
        os.close(fd)
