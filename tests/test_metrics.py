"""GET /metrics: the Prometheus text format checked by promtool, exact
counter values after a known sequence of requests and hand-overs, what a
restart resets (and that nothing is ever counted twice), the token."""

import os
import re
import shutil
import signal
import subprocess

import pytest
import requests

from relaystack import Stack, wait_for

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape(stack, **kw):
    r = requests.get(stack.url + "/metrics", timeout=10, **kw)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return r.text


def parse(text):
    """{"name{labels}": float} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SERIES.match(line)
        assert m, "not a sample line: %r" % line
        key = m.group(1) + (m.group(2) or "")
        assert key not in out, "series twice: " + key
        out[key] = float(m.group(3))
    return out


def body(to="to@example.net", sender="app@example.org"):
    return {"from": sender, "to": to, "subject": "s", "text": "t"}


@pytest.fixture
def relay():
    s = Stack(conf={"max_attempts": "2"})
    try:
        yield s.start(spoold=True)
    finally:
        s.close()


def control(stack, **kv):
    tmp = os.path.join(stack.outbox, ".control")
    with open(tmp, "w") as f:
        for k, v in kv.items():
            f.write("%s %s\n" % (k.replace("_", "-"), v))
    os.rename(tmp, os.path.join(stack.outbox, "control"))


def known_sequence(stack):
    """4 accepted (one of them to a recipient sendmail refuses for good),
    2 refused without a valid token, 1 refused for its sender."""
    control(stack, rcpt_exit="gone@example.net 67")
    for i in range(3):
        assert stack.send(body()).status_code == 202
    assert stack.send({**body(), "to": ["gone@example.net", "b@example.net"]}
                      ).status_code == 202
    assert stack.send(body(), token="0" * 64).status_code == 401
    assert stack.send(body(), token="").status_code == 401
    assert stack.send(body(sender="evil@example.org")).status_code == 400
    wait_for(lambda: len(stack.jobs("failed")) == 1 and
             not stack.jobs("pending") and not stack.jobs("processing"),
             what="the four jobs handed over")


def test_counters_after_a_known_sequence(relay):
    known_sequence(relay)
    m = parse(scrape(relay))
    assert m['mail_relay_requests_total{endpoint="send",code="202"}'] == 4
    assert m['mail_relay_requests_total{endpoint="send",code="401"}'] == 2
    assert m['mail_relay_requests_total{endpoint="send",code="400"}'] == 1
    assert m['mail_relay_rejections_total{endpoint="send",'
             'error="unauthorized"}'] == 2
    assert m['mail_relay_rejections_total{endpoint="send",'
             'error="sender_not_allowed"}'] == 1
    assert m['mail_relay_accepted_messages_total{caller="app"}'] == 4
    assert m['mail_relay_accepted_recipients_total{caller="app"}'] == 5
    assert m['mail_relay_accepted_messages_total{caller="other"}'] == 0
    assert m['mail_relay_handovers_total{outcome="ok"}'] == 3
    assert m['mail_relay_handovers_total{outcome="permanent"}'] == 1
    assert m.get('mail_relay_handovers_total{outcome="temporary"}', 0) == 0
    assert m['mail_relay_sendmail_duration_seconds_count'] == 4
    assert m['mail_relay_sendmail_duration_seconds_bucket{le="+Inf"}'] == 4
    assert m['mail_relay_handover_delay_seconds_count'] == 3
    assert m['mail_relay_queue_jobs{state="failed"}'] == 1
    assert m['mail_relay_queue_jobs{state="pending"}'] == 0
    assert m['mail_relay_queue_oldest_due_age_seconds'] == 0
    assert m['mail_relay_suppressed_addresses'] == 0
    assert m['mail_relay_up{program="relay-fcgi"}'] == 1
    assert m['mail_relay_up{program="spoold"}'] == 1
    assert m['mail_relay_up{program="trackd"}'] == 0
    assert m['mail_relay_start_time_seconds{program="spoold"}'] > 0
    # Buckets are cumulative and end at the count.
    buckets = [(k, v) for k, v in m.items()
               if k.startswith("mail_relay_sendmail_duration_seconds_bucket")]
    values = [v for _, v in buckets]
    assert values == sorted(values) and values[-1] == 4


def test_promtool_accepts_a_scrape_after_real_traffic(relay):
    known_sequence(relay)
    text = scrape(relay)
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_restart_resets_only_that_program_and_counts_nothing_twice(relay):
    known_sequence(relay)
    before = parse(scrape(relay))
    # relay-fcgi killed: its counters start again from zero ...
    relay.procs["fcgi"].send_signal(signal.SIGKILL)
    relay.procs["fcgi"].wait()
    os.unlink(os.path.join(relay.dir, "relay.sock"))
    relay.start_fcgi()
    after = parse(scrape(relay))
    assert after.get('mail_relay_requests_total{endpoint="send",'
                     'code="202"}', 0) == 0
    assert after['mail_relay_accepted_messages_total{caller="app"}'] == 0
    # ... spoold's are untouched by it.
    assert after['mail_relay_handovers_total{outcome="ok"}'] == \
        before['mail_relay_handovers_total{outcome="ok"}'] == 3
    # spoold killed: it is down and its series are gone, not frozen.
    relay.procs["spoold"].send_signal(signal.SIGKILL)
    relay.procs["spoold"].wait()
    down = parse(scrape(relay))
    assert down['mail_relay_up{program="spoold"}'] == 0
    assert not any(k.startswith("mail_relay_handovers_total") for k in down)
    relay.start_spoold()
    assert relay.send(body()).status_code == 202
    wait_for(lambda: parse(scrape(relay)).get(
        'mail_relay_handovers_total{outcome="ok"}') == 1,
        what="one hand-over counted after the restart")
    again = parse(scrape(relay))
    assert again['mail_relay_up{program="spoold"}'] == 1
    assert again['mail_relay_requests_total{endpoint="send",code="202"}'] == 1
    assert again['mail_relay_accepted_messages_total{caller="app"}'] == 1


def test_metrics_token(make_stack):
    s = make_stack(conf={"metrics_token": "scrape-secret"}).start()
    assert requests.get(s.url + "/metrics", timeout=10).status_code == 401
    assert requests.get(s.url + "/metrics", timeout=10, headers={
        "Authorization": "Bearer wrong"}).status_code == 401
    text = scrape(s, headers={"Authorization": "Bearer scrape-secret"})
    assert "mail_relay_up" in text
    m = parse(text)
    assert m['mail_relay_rejections_total{endpoint="metrics",'
             'error="unauthorized"}'] == 2
    r = requests.post(s.url + "/metrics", timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"


def test_the_dashboard_uses_only_metrics_the_relay_exports(relay):
    import json
    families = set(re.findall(r"^# TYPE (\S+) (\S+)$", scrape(relay),
                              re.MULTILINE))
    names = {n for n, _ in families}
    hist = {n for n, t in families if t == "histogram"}
    path = os.path.join(os.path.dirname(__file__), "..", "conf", "grafana",
                        "mail-relay.json")
    with open(path) as f:
        dash = json.load(f)
    assert dash["__inputs"][0]["pluginId"] == "prometheus"
    used = set()
    for p in dash["panels"]:
        assert p["targets"], p["title"]
        for t in p["targets"]:
            for m in re.findall(r"mail_relay_[a-z_]+", t["expr"]):
                used.add(m)
                base = re.sub(r"_(bucket|sum|count)$", "", m)
                assert m in names or (base in hist and base != m), \
                    "%s: %s is not exported" % (p["title"], m)
    # Every part the issue names has a panel.
    for m in ("mail_relay_requests_total", "mail_relay_rejections_total",
              "mail_relay_queue_jobs", "mail_relay_handovers_total",
              "mail_relay_recipient_outcomes_total",
              "mail_relay_handover_delay_seconds_bucket",
              "mail_relay_delivery_delay_seconds_bucket"):
        assert m in used, m


def test_trackd_counts_each_recipient_outcome_once(make_stack, tmp_path):
    from test_trackd import TRACKD, Track
    log = tmp_path / "mail.log"
    log.write_text("")
    s = make_stack(conf={"postfix_log": str(log)}).start()
    r = s.send({**body(), "to": ["a@dest.test", "b@dest.test",
                                 "d@dest.test"]})
    assert r.status_code == 202
    jid = r.json()["id"]

    def start():
        err = open(tmp_path / "trackd.err", "ab")
        p = subprocess.Popen([TRACKD, "-d", "-c", s.conf_path], stdout=err,
                             stderr=err)
        wait_for(lambda: parse(scrape(s))['mail_relay_up{program="trackd"}']
                 == 1 or p.poll() is not None, what="trackd up")
        assert p.poll() is None
        return p

    def outcomes():
        m = parse(scrape(s))
        return {o: m.get('mail_relay_recipient_outcomes_total{outcome="%s"}'
                         % o) for o in ("delivered", "deferred", "bounced",
                                        "expired")}
    p = start()
    q = "DC61410C683"
    with open(log, "a") as f:
        f.write("\n".join([Track.link(q, jid),
                           Track.rcpt(q, "a@dest.test", "sent"),
                           Track.rcpt(q, "b@dest.test", "bounced"),
                           Track.rcpt(q, "d@dest.test", "deferred")]) + "\n")
    wait_for(lambda: outcomes()["deferred"] == 1, what="three outcomes")
    assert outcomes() == {"delivered": 1, "deferred": 1, "bounced": 1,
                          "expired": 0}
    m = parse(scrape(s))
    assert m["mail_relay_delivery_delay_seconds_count"] == 1
    assert m['mail_relay_delivery_delay_seconds_bucket{le="+Inf"}'] == 1
    assert m["mail_relay_suppressed_addresses"] == 1
    # Killed and restarted: its counters start again from zero and the
    # lines it had read are not counted again.
    p.send_signal(signal.SIGKILL)
    p.wait()
    p = start()
    with open(log, "a") as f:
        f.write(Track.rcpt(q, "d@dest.test", "sent") + "\n")
    wait_for(lambda: outcomes()["delivered"] == 1, what="the retry")
    assert outcomes() == {"delivered": 1, "deferred": 0, "bounced": 0,
                          "expired": 0}
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0


def test_hookd_counts_webhook_deliveries_by_outcome(make_stack, tmp_path):
    from hookhelp import HOOKD, Receiver, new_secret
    if not os.access(HOOKD, os.X_OK):
        pytest.skip("hookd is not built")
    # The first two POSTs get 500 (retried), the third 204.
    rcv = Receiver(answer=lambda n: 500 if n < 2 else 204)
    hooks = tmp_path / "webhooks"
    fd = os.open(hooks, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("app %s %s email.sent\n" % (rcv.url(), new_secret()))
    s = make_stack(conf={"webhooks": str(hooks)}).start(spoold=True)
    err = open(tmp_path / "hookd.err", "ab")
    p = subprocess.Popen([HOOKD, "-d", "-b", "50", "-c", s.conf_path],
                         stdout=err, stderr=err)
    try:
        wait_for(lambda: parse(scrape(s))['mail_relay_up{program="hookd"}']
                 == 1 or p.poll() is not None, what="hookd up")
        assert p.poll() is None
        assert s.send(body()).status_code == 202

        def count(outcome):
            return parse(scrape(s)).get(
                'mail_relay_webhook_deliveries_total{outcome="%s"}'
                % outcome)
        wait_for(lambda: count("ok") == 1, 30, what="the event delivered")
        assert count("retry") == 2 and count("failed") == 0
        assert len(rcv.got()) == 3
    finally:
        p.terminate()
        p.wait(10)
        rcv.close()
