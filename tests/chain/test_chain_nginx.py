"""The shipped nginx entry (conf/nginx) in front of the real relay-fcgi:
who gets in, who is refused by nginx itself, and what nginx logs."""

import re

import pytest

import chainstack as ch

SENDER = "app@" + ch.DOMAIN
MAX_BODY = 512 * 1024   # relay.conf's default max_body


def mail(subject="entry test"):
    return {"from": SENDER, "to": "rcpt@example.net", "subject": subject,
            "text": "hello\n"}


def variants(entry):
    return {"on": entry.on, "optional": entry.optional}


def assert_nginx_error(r, status, code):
    """An answer nginx gave itself: status, the relay's JSON error shape,
    and no sign of relay-fcgi."""
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r
    body = r.json()
    assert body["ok"] is False and body["error"] == code, r
    assert isinstance(body["message"], str) and body["message"], r
    assert r.header("X-Relay-Id") is None, r
    assert r.header("X-Relay-Caller") is None, r


def test_nginx_t_passes_on_the_shipped_files(entry):
    for n in (entry.on, entry.optional, entry.down):
        p = n.test_config()
        assert p.returncode == 0, p.stderr
        assert "test is successful" in p.stderr


@pytest.mark.parametrize("variant", ["on", "optional"])
@pytest.mark.parametrize("cert,code", [
    (None, "client_cert_required"),
    ("foreign", "client_cert_invalid"),
    ("expired", "client_cert_invalid"),
])
def test_bad_client_certificates_are_refused_by_nginx(entry, variant, cert,
                                                       code):
    n = variants(entry)[variant]
    c = getattr(entry.pki, cert) if cert else None
    before = entry.relay.jobs("pending")
    logged = len(n.access_lines())
    # A valid token does not help without a valid certificate.
    r = ch.https(n.port, "POST", "/send", entry.pki, cert=c, body=mail(),
                 headers=entry.relay.auth())
    assert_nginx_error(r, 403, code)
    assert entry.relay.jobs("pending") == before
    line = n.new_access_line(logged)
    assert " status=403 " in line and "caller=- id=-" in line, line


@pytest.mark.parametrize("variant", ["on", "optional"])
def test_good_certificate_without_or_with_wrong_token_gets_401(entry,
                                                               variant):
    n = variants(entry)[variant]
    for headers in ({}, {"Authorization": "Bearer " + "A" * 43}):
        r = ch.https(n.port, "POST", "/send", entry.pki, cert=entry.pki.good,
                     body=mail(), headers=headers)
        assert r.status == 401, r
        assert r.header("WWW-Authenticate").startswith("Bearer"), r
        assert r.json()["ok"] is False


@pytest.mark.parametrize("variant", ["on", "optional"])
def test_good_certificate_and_token_is_accepted_and_logged(entry, variant):
    n = variants(entry)[variant]
    r = ch.https(n.port, "POST", "/send", entry.pki, cert=entry.pki.good,
                 body=mail("accepted via " + variant),
                 headers=entry.relay.auth())
    assert r.status == 202, r
    body = r.json()
    job = body["id"]
    assert body["ok"] is True and body["queued"] is True
    # The job id reaches the caller; the caller name stays in the log.
    assert r.header("X-Relay-Id") == job
    assert r.header("X-Relay-Caller") is None
    assert job in entry.relay.jobs("pending")
    line = ch.wait_for(lambda: [x for x in n.access_lines() if job in x],
                       5, "the access log line")[0]
    serial = entry.pki.serial(entry.pki.good)
    assert re.search(r"^\S+ client=127\.0\.0\.1 ", line), line
    assert 'CN=app-good' in line and "serial=%s " % serial in line, line
    assert 'method=POST path="/send" status=202 ' in line, line
    assert re.search(r" bytes=\d+ rt=\d+\.\d+ ", line), line
    assert line.endswith(" caller=%s id=%s" % (entry.relay.caller, job)), line
    assert entry.relay.token not in n.access_log.read_text()


def test_address_outside_the_allowlist_gets_403(entry):
    before = entry.relay.jobs("pending")
    r = ch.https(entry.on.port, "POST", "/send", entry.pki,
                 cert=entry.pki.good, body=mail(),
                 headers=entry.relay.auth(), source="127.0.0.2")
    assert_nginx_error(r, 403, "forbidden")
    assert entry.relay.jobs("pending") == before


def test_burst_over_the_limit_gets_429_in_json(entry):
    # A certificate of its own: the limit is keyed on the certificate DN.
    # Requests without a token are cheap (401 from the relay) but count.
    results = [ch.https(entry.on.port, "POST", "/send", entry.pki,
                        cert=entry.pki.burst, body=mail())
               for _ in range(40)]
    statuses = [r.status for r in results]
    # 60r/m with burst=30: the first 31 pass at once, the rest are refused
    # (at most one more may pass per second elapsed).
    assert 429 not in statuses[:31], statuses
    assert statuses.count(429) >= 5, statuses
    for r in results:
        if r.status == 429:
            assert_nginx_error(r, 429, "rate_limited")
            assert int(r.header("Retry-After")) > 0
        else:
            assert r.status == 401, r
    # Another client (another DN) is not limited by that burst.
    r = ch.https(entry.on.port, "POST", "/send", entry.pki,
                 cert=entry.pki.good, body=mail())
    assert r.status == 401, r


def test_refused_addresses_do_not_use_up_a_callers_limit(entry):
    # A valid certificate used from an address outside the allowlist: every
    # request is refused before the rate limit counts it...
    for _ in range(40):
        r = ch.https(entry.on.port, "POST", "/send", entry.pki,
                     cert=entry.pki.elsewhere, body=mail(),
                     source="127.0.0.2")
        assert_nginx_error(r, 403, "forbidden")
    # ...so the caller's own requests still have the whole burst.
    for _ in range(20):
        r = ch.https(entry.on.port, "POST", "/send", entry.pki,
                     cert=entry.pki.elsewhere, body=mail())
        assert r.status == 401, r


def test_oversized_body_gets_413_in_json_and_max_body_passes(entry):
    before = entry.relay.jobs("pending")
    body = b"x" * (MAX_BODY + 1)
    r = ch.https(entry.on.port, "POST", "/send", entry.pki,
                 cert=entry.pki.good, body=body,
                 headers=dict(entry.relay.auth(),
                              **{"Content-Type": "application/json"}))
    assert_nginx_error(r, 413, "body_too_large")
    # Exactly max_body gets through nginx to the relay (which then finds it
    # is not JSON): client_max_body_size agrees with relay.conf's max_body.
    r = ch.https(entry.on.port, "POST", "/send", entry.pki,
                 cert=entry.pki.good, body=b"x" * MAX_BODY,
                 headers=dict(entry.relay.auth(),
                              **{"Content-Type": "application/json"}))
    assert r.status == 400, r
    assert entry.relay.jobs("pending") == before


@pytest.mark.parametrize("method,path,status,allow", [
    ("GET", "/send", 405, "POST"),
    ("PUT", "/send", 405, "POST"),
    ("POST", "/health", 405, "GET, HEAD"),
    ("DELETE", "/health", 405, "GET, HEAD"),
    ("POST", "/messages/0640a1b2c3d4e-0123456789abcdef", 405, "GET"),
    ("DELETE", "/messages/0640a1b2c3d4e-0123456789abcdef", 405, "GET"),
    ("GET", "/messagesx", 404, None),
    ("GET", "/", 404, None),
    ("POST", "/send/x", 404, None),
    ("GET", "/relay.conf", 404, None),
])
def test_only_post_send_and_get_head_health_reach_the_relay(entry, method,
                                                            path, status,
                                                            allow):
    r = ch.https(entry.on.port, method, path, entry.pki, cert=entry.pki.good,
                 headers=entry.relay.auth())
    assert_nginx_error(r, status, "method_not_allowed" if status == 405
                       else "not_found")
    assert r.header("Allow") == allow


def test_get_messages_reaches_the_relay(entry):
    r = ch.https(entry.on.port, "POST", "/send", entry.pki,
                 cert=entry.pki.good, body=mail("status via nginx"),
                 headers=entry.relay.auth())
    assert r.status == 202, r
    job = r.json()["id"]
    r = ch.https(entry.on.port, "GET", "/messages/" + job, entry.pki,
                 cert=entry.pki.good, headers=entry.relay.auth())
    assert r.status == 200, r
    body = r.json()
    assert body["id"] == job and body["state"] in ("queued", "sending",
                                                   "sent")
    assert r.header("X-Relay-Id") == job
    # the relay's own 404 (not nginx's): the same for any unknown id
    r = ch.https(entry.on.port, "GET", "/messages/" + job[:-1] +
                 ("1" if job[-1] == "0" else "0"), entry.pki,
                 cert=entry.pki.good, headers=entry.relay.auth())
    assert r.status == 404 and r.json()["message"] == "no such message", r


def test_relay_down_gets_502_in_json(entry):
    r = ch.https(entry.down.port, "POST", "/send", entry.pki,
                 cert=entry.pki.good, body=mail(), headers=entry.relay.auth())
    assert_nginx_error(r, 502, "relay_unavailable")
    assert int(r.header("Retry-After")) > 0


def http_get(port, path, source="127.0.0.1"):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15,
                                      source_address=(source, 0))
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        conn.close()


def test_metrics_server_answers_loopback_and_refuses_other_addresses(entry):
    status, ctype, text = http_get(entry.on.metrics_port, "/metrics")
    assert status == 200, text
    assert ctype.startswith("text/plain; version=0.0.4")
    assert 'mail_relay_up{program="relay-fcgi"} 1' in text
    status, ctype, text = http_get(entry.on.metrics_port, "/metrics",
                                   source="127.0.0.2")
    assert status == 403 and '"error":"forbidden"' in text, text
    assert "mail_relay" not in text
    # Only /metrics is served there: /send is not reachable without TLS.
    status, _, text = http_get(entry.on.metrics_port, "/send")
    assert status == 404, text


def assert_resend_error(r, status, name):
    """An error in Resend's shape (statusCode, name, message), as the
    Resend SDKs read it."""
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r
    body = r.json()
    assert set(body) == {"statusCode", "name", "message"}, r
    assert body["statusCode"] == status and body["name"] == name, r


def test_resend_api_through_the_shipped_entry(entry):
    r = ch.https(entry.on.port, "POST", "/emails", entry.pki,
                 cert=entry.pki.good, body=mail("via /emails"),
                 headers=entry.relay.auth())
    assert r.status == 200, r
    job = r.json()["id"]
    assert r.json() == {"id": job}
    assert job in entry.relay.jobs("pending")
    assert r.header("X-Relay-Caller") is None
    # Methods are the relay's to refuse, in Resend's shape.
    r = ch.https(entry.on.port, "DELETE", "/emails", entry.pki,
                 cert=entry.pki.good, headers=entry.relay.auth())
    assert_resend_error(r, 405, "method_not_allowed")
    r = ch.https(entry.on.port, "POST", "/emails", entry.pki,
                 cert=entry.pki.good, body=mail())
    assert_resend_error(r, 401, "missing_api_key")


def test_nginx_errors_on_emails_are_in_resends_shape(entry):
    r = ch.https(entry.on.port, "POST", "/emails", entry.pki,
                 cert=entry.pki.good, body=mail(),
                 headers=entry.relay.auth(), source="127.0.0.2")
    assert_resend_error(r, 403, "invalid_access")
    r = ch.https(entry.optional.port, "POST", "/emails", entry.pki,
                 body=mail(), headers=entry.relay.auth())
    assert_resend_error(r, 403, "invalid_access")
    r = ch.https(entry.on.port, "POST", "/emails", entry.pki,
                 cert=entry.pki.good, body=b"x" * (MAX_BODY + 1),
                 headers=dict(entry.relay.auth(),
                              **{"Content-Type": "application/json"}))
    assert_resend_error(r, 413, "validation_error")
    r = ch.https(entry.down.port, "POST", "/emails", entry.pki,
                 cert=entry.pki.good, body=mail(), headers=entry.relay.auth())
    assert_resend_error(r, 502, "application_error")
    assert int(r.header("Retry-After")) > 0


def test_burst_on_emails_gets_rate_limit_exceeded(entry):
    # The optional variant has its own limit zone: a fresh budget for the
    # burst certificate.
    results = [ch.https(entry.optional.port, "POST", "/emails", entry.pki,
                        cert=entry.pki.burst, body=mail())
               for _ in range(40)]
    statuses = [r.status for r in results]
    assert 429 not in statuses[:31], statuses
    assert statuses.count(429) >= 5, statuses
    for r in results:
        if r.status == 429:
            assert_resend_error(r, 429, "rate_limit_exceeded")
            assert int(r.header("Retry-After")) > 0
        else:
            assert_resend_error(r, 401, "missing_api_key")


def test_reads_and_sends_under_emails_have_their_own_budgets(entry):
    """GET /emails/{id} counts in the reads' zone, with GET /messages/{id};
    POST and PATCH under /emails count in the sends' zone.  nginx-down
    (no relay behind it: 502 for what the limit lets through) with
    certificates whose budgets no other test uses there."""
    jid = "0000000000000-0000000000000000"
    job = "/emails/" + jid

    def go(method, path, cert, body=None):
        return ch.https(entry.down.port, method, path, entry.pki, cert=cert,
                        body=body, headers=entry.relay.auth())
    # sends used up (60r/m, burst 30), PATCH /emails/{id} among them...
    sends = [go("POST", "/emails", entry.pki.burst, mail()).status
             for _ in range(35)]
    assert 429 not in sends[:31] and sends.count(429) >= 3, sends
    patches = [go("PATCH", job, entry.pki.burst,
                  {"scheduled_at": "2030-01-01T00:00:00Z"}) for _ in range(3)]
    assert 429 in [r.status for r in patches], patches
    for r in patches:
        if r.status == 429:
            assert_resend_error(r, 429, "rate_limit_exceeded")
    # ...leave the reads alone: GET /emails/{id} reaches the (absent) relay
    r = go("GET", job, entry.pki.burst)
    assert_resend_error(r, 502, "application_error")
    # reads have their own limit (10r/s, burst 20), one for both APIs:
    # GET /emails/{id} and GET /messages/{id} in turns
    paths = [job, "/messages/" + jid] * 30
    results = [go("GET", p, entry.pki.elsewhere) for p in paths]
    statuses = [r.status for r in results]
    assert 429 not in statuses[:21], statuses
    # 20 of each in the first 40: only a shared budget refuses any of them
    assert 429 in statuses[:40] and statuses.count(429) >= 5, statuses
    for p, r in zip(paths, results):
        if p == job:
            if r.status == 429:
                assert_resend_error(r, 429, "rate_limit_exceeded")
                assert int(r.header("Retry-After")) > 0
            else:
                assert_resend_error(r, 502, "application_error")
        elif r.status == 429:
            assert_nginx_error(r, 429, "rate_limited")
        else:
            assert_nginx_error(r, 502, "relay_unavailable")
    # used-up reads leave the sends alone
    r = go("POST", job + "/cancel", entry.pki.elsewhere)
    assert_resend_error(r, 502, "application_error")
    r = go("POST", "/send", entry.pki.elsewhere, mail())
    assert_nginx_error(r, 502, "relay_unavailable")
