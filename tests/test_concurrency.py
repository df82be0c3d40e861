"""relay-fcgi's worker threads under concurrent load: parallel sends, the
Idempotency-Key race, SIGHUP reloads while requests run, SIGTERM with
requests in flight.  Each checks what a caller depends on (every 202 is a
complete job on disk, exactly once); `make tsan` runs them against a
ThreadSanitizer build, where any report ends relay-fcgi (halt_on_error)
and is found in its log."""

import os
import signal
import threading
from email import policy
from email.parser import BytesParser

import pytest
import requests

from relaystack import make_token, wait_for
from spoolhelp import parse_job

MSG = {"from": "app@example.org", "to": "to@example.net",
       "subject": "concurrent", "text": "body\n"}


def no_tsan_report(stack):
    log = stack.log("relay-fcgi.log")
    assert "ThreadSanitizer" not in log, log[-4000:]
    assert "AddressSanitizer" not in log, log[-4000:]


def session():
    # No environment lookups from threads: pytest changes os.environ
    # between phases, which an iteration in another thread trips over.
    s = requests.Session()
    s.trust_env = False
    return s


def post(s, stack, key=None, token=None):
    h = {"Authorization": "Bearer " + (token or stack.token)}
    if key:
        h["Idempotency-Key"] = key
    return s.post(stack.url + "/send", json=MSG, headers=h, timeout=30)


def hammer(stack, threads, per_thread, results, stop=None, **kw):
    def go():
        s = session()
        for _ in range(per_thread):
            if stop is not None and stop.is_set():
                return
            try:
                r = s.post(stack.url + "/send", json=kw.get("body", MSG),
                           headers={"Authorization": "Bearer " +
                                    kw.get("token", stack.token)},
                           timeout=30)
                results.append((r.status_code, r.json().get("id")
                                if r.headers.get("Content-Type", "")
                                .startswith("application/json") else None))
            except requests.RequestException as e:
                results.append((None, repr(e)))
    ts = [threading.Thread(target=go) for _ in range(threads)]
    for t in ts:
        t.start()
    return ts


def job_complete(stack, jid):
    with open(os.path.join(stack.spool, "pending", jid), "rb") as f:
        fields, msg = parse_job(f.read())
    return fields["id"] == [jid] and b"Message-ID: <%s@" % jid.encode() in msg


@pytest.fixture
def busy(make_stack):
    return make_stack(workers=8).start()


def test_parallel_sends_each_make_one_complete_job(busy):
    results = []
    for t in hammer(busy, 16, 25, results):
        t.join()
    assert [c for c, _ in results] == [202] * 400
    ids = [i for _, i in results]
    assert len(set(ids)) == 400
    assert sorted(ids) == busy.jobs()
    assert all(job_complete(busy, i) for i in ids)
    assert busy.jobs("tmp") == []
    no_tsan_report(busy)


def test_parallel_html_only_sends_each_derive_their_text(busy):
    """Each worker thread keeps its own html parser between requests
    (html2text.c): two templates sent html-only from 16 threads at once
    each get exactly their own text part, nothing of the other's."""
    html_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "html")
    want, results, threads = {}, {}, []
    for name in ("receipt", "newsletter"):
        with open(os.path.join(html_dir, name + ".html")) as f:
            html = f.read()
        with open(os.path.join(html_dir, name + ".txt")) as f:
            want[name] = f.read()
        results[name] = []
        body = {k: v for k, v in MSG.items() if k != "text"}
        threads += hammer(busy, 8, 10, results[name],
                          body=dict(body, html=html, subject=name))
    for t in threads:
        t.join()
    for name, res in results.items():
        assert [c for c, _ in res] == [202] * 80
        for _, jid in res:
            with open(os.path.join(busy.spool, "pending", jid), "rb") as f:
                msg = BytesParser(policy=policy.strict).parsebytes(
                    parse_job(f.read())[1])
            assert msg["Subject"] == name
            plain, _ = msg.iter_parts()
            assert plain.get_content() == want[name], jid
    no_tsan_report(busy)


def test_idempotency_key_race_gives_one_job(busy):
    results = []
    def go(k):
        results.append(post(session(), busy, key="race-%d" % k))
    ts = [threading.Thread(target=go, args=(k,))
          for k in range(4) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200] * 28 + [202] * 4
    assert len({r.json()["id"] for r in results}) == 4
    assert len(busy.jobs()) == 4
    no_tsan_report(busy)


def test_sighup_reloads_under_load(busy):
    token, line = make_token("late", "late@example.org")
    base = open(busy.tokens_path).read()
    results, stop = [], threading.Event()
    ts = hammer(busy, 8, 10000, results, stop=stop)
    p = busy.procs["fcgi"]
    log = "relay-fcgi.log"
    for i in range(11):
        busy.write_tokens(base + (line + "\n" if i % 2 == 0 else ""))
        n = busy.log(log).count("configuration reloaded")
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: busy.log(log).count("configuration reloaded") > n,
                 what="reload %d" % i)
    # The last reload added "late": it may send now.
    late = busy.send(dict(MSG, **{"from": "late@example.org"}), token=token)
    assert late.status_code == 202
    stop.set()
    for t in ts:
        t.join()
    assert p.poll() is None
    assert results and all(c == 202 for c, _ in results), \
        [r for r in results if r[0] != 202][:5]
    assert len(busy.jobs()) == len(results) + 1
    no_tsan_report(busy)


def test_sigterm_with_requests_in_flight(busy):
    results, stop = [], threading.Event()
    ts = hammer(busy, 16, 10000, results, stop=stop)
    wait_for(lambda: len(results) >= 50, what="load")
    p = busy.procs["fcgi"]
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 0
    stop.set()
    for t in ts:
        t.join()
    accepted = [i for c, i in results if c == 202]
    # Every 202 is a complete job, and every job was answered 202: nothing
    # half-written, nothing accepted and lost.
    assert sorted(accepted) == busy.jobs()
    assert all(job_complete(busy, i) for i in accepted)
    assert busy.jobs("tmp") == []
    # After the exit nginx answers for the relay, never with a 202.
    assert {c for c, _ in results} <= {202, 502, None}
    no_tsan_report(busy)
