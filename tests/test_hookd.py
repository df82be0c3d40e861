"""hookd against loopback receivers (HTTP, and HTTPS with a CA openssl
makes here), every request checked by the reference verifier (the npm
standardwebhooks package): bodies in Resend's shape, signatures that a
tampered body or a wrong secret fail, retries with the same webhook-id,
redirects not followed, timeouts, a hanging receiver that holds up only
its own caller, SIGKILL mid-delivery, failed events.  Events are written
here as spool(5) documents them; the producers' events are
tests/test_hookd_events.py."""

import json
import os
import signal
import time

import pytest

from hookhelp import (HOOKD, Hooks, free_port, make_ca, new_id, new_secret,
                      verifier_ready, verify, wait_for)

pytestmark = [
    pytest.mark.skipif(not os.access(HOOKD, os.X_OK),
                       reason="hookd is not built (run make)"),
    pytest.mark.skipif(not verifier_ready(),
                       reason="npm standardwebhooks is not installed"),
]


@pytest.fixture
def hk(tmp_path):
    h = Hooks(tmp_path)
    yield h
    h.close()


def verified(hk, rcv, secret):
    got = rcv.got()
    res = verify([(secret, r["body"], r["headers"]) for r in got])
    assert all(ok for ok, _ in res), res
    return got


def test_body_signature_and_tampering(hk):
    rcv = hk.receiver()
    secret = hk.caller("app", rcv.url())
    job = new_id()
    hk.start()
    eid = hk.event("email.bounced", job=job,
                   rcpts=["a@example.net", "b@example.net"],
                   recipient="b@example.net", dsn="5.1.1",
                   reply="550 5.1.1 <b@example.net>: no such user",
                   subject="Grüße \\ \"quoted\"")
    wait_for(lambda: rcv.got() and not hk.pending(), what="delivery")
    [r] = verified(hk, rcv, secret)
    h = r["headers"]
    assert h["webhook-id"] == eid
    assert abs(int(h["webhook-timestamp"]) - time.time()) < 60
    assert h["webhook-signature"].startswith("v1,")
    assert h["content-type"] == "application/json"
    body = json.loads(r["body"])
    assert body["type"] == "email.bounced"
    assert body["created_at"].endswith("Z")
    d = body["data"]
    assert d["email_id"] == job
    assert d["from"] == "app@example.org"
    assert d["to"] == ["b@example.net"]
    assert d["subject"] == "Grüße \\ \"quoted\""
    assert d["tags"] == []
    assert d["bounce"]["type"] == "Permanent"
    assert d["bounce"]["message"] == "550 5.1.1 <b@example.net>: no such user"
    # the verifier checks the signature, not merely its presence
    bad_body = r["body"].replace("b@example.net", "c@example.net")
    other = new_secret()
    bad_sig = dict(h, **{"webhook-signature": "v1," + h[
        "webhook-signature"][3:][::-1]})
    bad_id = dict(h, **{"webhook-id": new_id()})
    res = verify([(secret, bad_body, h), (other, r["body"], h),
                  (secret, r["body"], bad_sig), (secret, r["body"], bad_id)])
    assert [ok for ok, _ in res] == [False, False, False, False], res
    assert hk.state(eid) is None
    assert "event=%s job=%s caller=app type=email.bounced status=200 ms=" % (
        eid, job) in hk.log()


def test_https_with_a_private_ca(hk, tmp_path):
    ca, cert, key = make_ca(tmp_path)
    rcv = hk.receiver(tls=(cert, key))
    secret = hk.caller("app", rcv.url())
    # the system's CAs do not know this one: TLS fails, nothing is sent
    hk.start()
    eid = hk.event("email.sent")
    wait_for(lambda: (hk.state(eid) or {}).get("attempts") == "1",
             what="a failed TLS attempt")
    assert rcv.got() == []
    assert "SSL" in hk.state(eid)["status"] or \
        "certificate" in hk.state(eid)["status"]
    hk.stop()
    hk.sp.write_conf(webhook_ca_file=ca)
    hk.start()
    wait_for(lambda: not hk.pending(), what="delivery over TLS")
    [r] = verified(hk, rcv, secret)
    assert r["headers"]["webhook-id"] == eid


def test_500_is_retried_with_the_same_id(hk):
    rcv = hk.receiver(answer=lambda n: 500 if n < 3 else 204)
    secret = hk.caller("app", rcv.url())
    hk.start()
    eid = hk.event("email.delivered", recipient="a@example.net")
    wait_for(lambda: not hk.pending(), what="delivery after retries")
    got = verified(hk, rcv, secret)
    assert len(got) == 4
    assert {r["headers"]["webhook-id"] for r in got} == {eid}
    assert len({r["body"] for r in got}) == 1
    log = hk.log()
    assert log.count("event=%s" % eid) >= 4
    assert "status=500" in log and "retry in" in log


def test_redirect_is_not_followed_and_the_event_fails(tmp_path):
    hk = Hooks(tmp_path, webhook_max_age="60s")    # 0.6 s at -b 50
    try:
        rcv = hk.receiver(answer=lambda n: (301, "/elsewhere"))
        hk.caller("app", rcv.url())
        hk.start()
        eid = hk.event("email.sent")
        wait_for(lambda: "failed: older than webhook_max_age" in hk.log(),
                 what="the event failed")
        assert hk.failed() == [eid] and hk.pending() == []
        assert {r["path"] for r in rcv.got()} == {"/hook"}
        st = hk.state(eid)
        assert st["status"] == "301" and int(st["attempts"]) >= 1
    finally:
        hk.close()


def test_a_hanging_receiver_delays_only_its_own_caller(hk):
    slow = hk.receiver(answer=lambda n: "hang")
    fast = hk.receiver()
    hk.caller("slow", slow.url())
    secret = hk.caller("fast", fast.url())
    hk.start(timeout=5000)
    for _ in range(10):
        hk.event("email.sent", caller="slow")
    wait_for(lambda: len(slow.got()) >= 4, what="slow transfers hanging")
    t0 = time.time()
    ids = [hk.event("email.sent", caller="fast") for _ in range(10)]
    wait_for(lambda: len(fast.got()) == 10, what="fast caller's events")
    assert time.time() - t0 < 4.0        # before the slow ones time out
    got = verified(hk, fast, secret)
    assert sorted(r["headers"]["webhook-id"] for r in got) == sorted(ids)
    # the slow ones time out and are kept for a retry
    wait_for(lambda: "Timeout" in hk.log() or "timed out" in hk.log(),
             timeout=15, what="the timeout")
    assert len(hk.pending()) == 10


def test_receiver_down_then_up_nothing_lost(hk):
    port = free_port()
    secret = hk.caller("app", "http://127.0.0.1:%d/hook" % port)
    hk.start()
    ids = [hk.event("email.sent") for _ in range(5)]
    wait_for(lambda: all(int((hk.state(e) or {}).get("attempts", 0)) >= 2
                         for e in ids), what="refused attempts")
    rcv = hk.receiver(port=port)
    wait_for(lambda: not hk.pending(), timeout=20, what="delivery")
    got = verified(hk, rcv, secret)
    assert sorted({r["headers"]["webhook-id"] for r in got}) == sorted(ids)


def test_sigkill_mid_delivery_then_restart(hk):
    gate = {"hang": True}
    rcv = hk.receiver(answer=lambda n: "hang" if gate["hang"] else 200)
    secret = hk.caller("app", rcv.url())
    hk.start()
    ids = [hk.event("email.delivered", recipient="a@example.net")
           for _ in range(6)]
    wait_for(lambda: len(rcv.got()) >= 4, what="transfers in flight")
    hk.stop(signal.SIGKILL)
    assert sorted(hk.pending()) == sorted(ids)
    gate["hang"] = False
    hk.start()
    wait_for(lambda: not hk.pending(), timeout=20, what="every event")
    got = verified(hk, rcv, secret)
    assert {r["headers"]["webhook-id"] for r in got} == set(ids)


def test_event_types_filter_and_unknown_callers(hk):
    rcv = hk.receiver()
    hk.caller("app", rcv.url(), types=["email.bounced"])
    hk.start()
    hk.event("email.sent")
    hk.event("email.sent", caller="nobody")
    eid = hk.event("email.bounced", recipient="a@example.net")
    wait_for(lambda: not hk.pending(), what="all handled")
    assert [r["headers"]["webhook-id"] for r in rcv.got()] == [eid]


def test_sighup_reloads_the_webhooks_file(hk):
    a = hk.receiver()
    b = hk.receiver()
    hk.caller("app", a.url())
    hk.start()
    hk.event("email.sent")
    wait_for(lambda: len(a.got()) == 1, what="first delivery")
    secret = hk.caller("app", b.url())
    hk.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reloaded" in hk.log(), what="reload")
    hk.event("email.sent")
    wait_for(lambda: len(b.got()) == 1, what="delivery to the new URL")
    verified(hk, b, secret)


@pytest.mark.parametrize("line,why", [
    ("app http://example.com/h %s", "http:// only"),
    ("app ftp://127.0.0.1/h %s", "must be https://"),
    ("app https://127.0.0.1/h whsec_c2hvcnQ=", "secret"),
    ("app https://127.0.0.1/h %s email.nothing", "unknown event type"),
    ("a/b https://127.0.0.1/h %s", "bad caller name"),
])
def test_bad_webhooks_lines(hk, line, why):
    with open(hk.file, "w") as f:
        f.write((line % new_secret() if "%s" in line else line) + "\n")
    os.chmod(hk.file, 0o600)
    p = __import__("subprocess").run([HOOKD, "-d", "-c", hk.sp.conf_path],
                                     capture_output=True, text=True,
                                     timeout=10)
    assert p.returncode == 78, p.stderr
    assert why in p.stderr and ":1:" in p.stderr


def test_webhooks_file_mode(hk):
    hk.caller("app", "https://127.0.0.1/h")
    os.chmod(hk.file, 0o644)
    p = __import__("subprocess").run([HOOKD, "-d", "-c", hk.sp.conf_path],
                                     capture_output=True, text=True,
                                     timeout=10)
    assert p.returncode == 78 and "mode 0644" in p.stderr


def test_relay_token_makes_a_secret_both_sides_accept(hk):
    import subprocess
    rcv = hk.receiver()
    p = subprocess.run([os.path.join(os.path.dirname(HOOKD), "..", "cgi",
                        "relay-token"), "--webhook-secret", "app", rcv.url()],
                       capture_output=True, text=True, check=True)
    secret, line = p.stdout.splitlines()
    assert secret.startswith("whsec_") and line == "app %s %s" % (
        rcv.url(), secret)
    fd = os.open(hk.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(line + "\n")
    hk.start()
    hk.event("email.sent")
    wait_for(lambda: not hk.pending(), what="delivery")
    verified(hk, rcv, secret)


def test_the_unit_is_the_one_with_network(tmp_path):
    u = {}
    with open(os.path.join(os.path.dirname(HOOKD), "..", "conf", "systemd",
                           "hookd.service")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                u.setdefault(k, []).append(v)
    assert u["User"] == ["mail-relay"] and u["NoNewPrivileges"] == ["yes"]
    assert u["CapabilityBoundingSet"] == [""]
    assert u["ProtectSystem"] == ["strict"]
    assert u["ReadWritePaths"] == ["/var/spool/mail-relay"]
    assert u["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert "PrivateNetwork" not in u
    assert "@system-service" in u["SystemCallFilter"]
    assert u["RestartPreventExitStatus"] == ["78"]
