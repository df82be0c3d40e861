"""Hostile input, tried for real: tables of requests sent through nginx to
a running relay (raw sockets or a FastCGI client where an HTTP library
would tidy things up), each with the answer relay-fcgi(8) documents.
For every request the relay accepts, the job file is read back: the
envelope holds exactly the recipients asked for, and the message exactly
the headers asked for, each decoding to the literal input, so no
injected header, recipient or MIME part can have slipped through."""

import base64
import collections
import email
import email.header
import email.policy
import email.utils
import json
import os
import re
import signal
import socket
import struct
import subprocess

import pytest
import requests

from relaystack import RELAY_FCGI, Stack, make_token, wait_for

BASE = {"from": "app@example.org", "to": "rcpt@example.net",
        "subject": "hello", "text": "body\n"}


@pytest.fixture(scope="module")
def relay():
    s = Stack(workers=4)
    try:
        yield s.start()
    finally:
        s.close()


def req(**over):
    r = dict(BASE)
    r.update(over)
    return r


def post(s, body, token=None, headers=None):
    """POST /send; body: a dict (JSON, ASCII-escaped) or raw bytes."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"Content-Type": "application/json",
         "Authorization": "Bearer " + (s.token if token is None else token)}
    h.update(headers or {})
    return requests.post(s.url + "/send", data=data, headers=h, timeout=30)


def expect_error(r, status, code, field=None):
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert body["ok"] is False and body["error"] == code, body
    if field is not None:
        assert body.get("field") == field, body
    return body


# -- reading an accepted job back ---------------------------------------------

def addrs_of(v):
    """[(email, name or None)] of a to/cc/bcc/replyTo/from value."""
    if v is None:
        return []
    if isinstance(v, str):
        return [(v, None)]
    if isinstance(v, dict):
        return [(v["email"], v.get("name") or None)]
    return [a for x in v for a in addrs_of(x)]


def rfc2047(text):
    return "".join(b.decode(c or "ascii") if isinstance(b, bytes) else b
                   for b, c in email.header.decode_header(text))


def check_job(s, jid, r):
    """The job of an accepted request r: envelope, headers and parts are
    exactly what r asks for."""
    fields, raw = s.job(jid)
    rcpts = [e for k in ("to", "cc", "bcc") for e, _ in addrs_of(r.get(k))]
    assert fields["rcpt"] == rcpts, "envelope differs from the request"
    assert fields["sender"] == [addrs_of(r["from"])[0][0]]
    assert b"\r" not in raw and b"\0" not in raw
    assert all(len(line) <= 998 for line in raw.split(b"\n"))
    head = raw.split(b"\n\n", 1)[0].decode("ascii")
    for line in head.split("\n"):
        assert re.match(r"[!-9;-~]+: \S|[ \t]+\S", line), line

    msg = email.message_from_bytes(raw, policy=email.policy.strict)
    assert not msg.defects
    single = not r.get("attachments") and not (r.get("text") and
                                               r.get("html"))
    want = ["from", "to", "subject", "date", "message-id", "mime-version",
            "content-type"]
    want += ["cc"] if r.get("cc") else []
    want += ["reply-to"] if r.get("replyTo") else []
    want += ["content-transfer-encoding"] if single else []
    want += [k.lower() for k in r.get("headers", {})]
    assert collections.Counter(k.lower() for k in msg.keys()) == \
        collections.Counter(want), msg.keys()
    old = email.message_from_bytes(raw, policy=email.policy.compat32)
    for key, hdr in (("from", "From"), ("to", "To"), ("cc", "Cc"),
                     ("replyTo", "Reply-To")):
        if not r.get(key):
            continue
        got = [(a.addr_spec, a.display_name or None)
               for a in msg[hdr].addresses]
        if got != addrs_of(r[key]):
            # Python's phrase parser keeps the space between adjacent
            # encoded words (RFC 2047 6.2 drops it): decode by the RFC.
            got = [(a, rfc2047(n) or None)
                   for n, a in email.utils.getaddresses([old[hdr]])]
        assert got == addrs_of(r[key]), (hdr, got)
    assert str(msg["Subject"]) == r["subject"]
    for k, v in r.get("headers", {}).items():
        assert str(msg[k]) == v, (k, str(msg[k]), v)
    parts = [p for p in msg.walk() if not p.is_multipart()]
    texts = [p for p in parts if p.get_content_disposition() is None]
    atts = [p for p in parts if p.get_content_disposition() == "attachment"]
    norm = {k: r[k].replace("\r\n", "\n").replace("\r", "\n")
            for k in ("text", "html") if r.get(k)}
    assert sorted(p.get_content_subtype() for p in texts) == \
        sorted({"text": "plain", "html": "html"}[k] for k in norm)
    for p in texts:
        k = "text" if p.get_content_subtype() == "plain" else "html"
        assert p.get_content() == norm[k]
    assert len(atts) == len(r.get("attachments", []))
    for p, a in zip(atts, r.get("attachments", [])):
        assert p.get_filename() == a["filename"]
        assert p.get_content_type() == a["contentType"].lower()
        assert p.get_payload(decode=True) == base64.b64decode(a["content"])
    return msg


def accept(s, r, **kw):
    resp = post(s, r, **kw)
    assert resp.status_code == 202, resp.text
    return check_job(s, resp.json()["id"], r)


# -- every header-bound field against every separator -------------------------

ATT = {"filename": "a.txt", "contentType": "text/plain", "content": "eA=="}

FIELDS = {
    # name: (request with v inside, refusal code, error field)
    "from.name": (lambda v: {"from": {"email": "app@example.org",
                                      "name": "A" + v + "Bcc: x"}},
                  "invalid_name", "from.name"),
    "to.name": (lambda v: {"to": [{"email": "rcpt@example.net",
                                   "name": "A" + v + "Bcc: x"}]},
                "invalid_name", "to[0].name"),
    "cc.name": (lambda v: {"cc": {"email": "cc@example.net",
                                  "name": "A" + v + "Bcc: x"}},
                "invalid_name", "cc.name"),
    "bcc.name": (lambda v: {"bcc": {"email": "bcc@example.net",
                                    "name": "A" + v + "To: x"}},
                 "invalid_name", "bcc.name"),
    "replyTo.name": (lambda v: {"replyTo": {"email": "r@example.net",
                                            "name": "A" + v + "Bcc: x"}},
                     "invalid_name", "replyTo.name"),
    "subject": (lambda v: {"subject": "A" + v + "Bcc: evil@example.com"},
                "invalid_subject", "subject"),
    "headers.X-Test": (lambda v: {"headers": {
        "X-Test": "A" + v + "Bcc: evil@example.com"}},
        "invalid_header", "headers.X-Test"),
    "headers.References": (lambda v: {"headers": {
        "References": "<a@example.org>" + v + "Bcc: evil@example.com"}},
        "invalid_header", "headers.References"),
    "header name": (lambda v: {"headers": {"X-A" + v + "Bcc": "x"}},
                    "invalid_header", None),
    "filename": (lambda v: {"attachments": [dict(
        ATT, filename="a" + v + "Content-Type: text-html")]},
        "invalid_attachment", "attachments[0].filename"),
    "contentType": (lambda v: {"attachments": [dict(
        ATT, contentType="text/plain" + v + "x")]},
        "invalid_attachment", "attachments[0].contentType"),
    "to": (lambda v: {"to": "rcpt" + v + "@example.net"},
           "invalid_address", "to"),
    "from": (lambda v: {"from": "app" + v + "@example.org"},
             "invalid_address", "from"),
}

SEPARATORS = {"CR": "\r", "LF": "\n", "CRLF": "\r\n", "NUL": "\x00",
              "TAB": "\t", "ESC": "\x1b", "DEL": "\x7f",
              "U+0085": "\u0085", "U+2028": "\u2028", "U+2029": "\u2029",
              "%0d%0a": "%0d%0a"}


@pytest.mark.parametrize("sep", list(SEPARATORS))
@pytest.mark.parametrize("field", list(FIELDS))
def test_header_bound_field(relay, field, sep):
    make, code, where = FIELDS[field]
    r = req(**make(SEPARATORS[sep]))
    before = relay.jobs()
    if sep == "NUL":
        expect_error(post(relay, r), 400, "nul_character")
    elif sep == "%0d%0a":
        # Literal text: accepted where the field's syntax allows '%'
        # (everywhere but the sender, which is not this caller's).
        if field == "from":
            expect_error(post(relay, r), 400, "sender_not_allowed", "from")
        else:
            accept(relay, r)
            return
    else:
        expect_error(post(relay, r), 400, code, where)
        if SEPARATORS[sep] >= "\x80":
            # The same, as raw UTF-8 rather than a \\u escape.
            raw = json.dumps(r, ensure_ascii=False).encode()
            expect_error(post(relay, raw), 400, code, where)
    assert relay.jobs() == before


@pytest.mark.parametrize("sep", ["\r", "\n", "\x00", "\x1b"])
def test_raw_control_bytes_in_json_strings(relay, sep):
    raw = json.dumps(req(subject="A@B")).encode().replace(
        b"@", sep.encode())
    expect_error(post(relay, raw), 400, "invalid_json")


@pytest.mark.parametrize("ctl,code", [("\x00", "nul_character"),
                                      ("\x1b", "invalid_body"),
                                      ("\x7f", "invalid_body")])
def test_body_controls(relay, ctl, code):
    for k in ("text", "html"):
        expect_error(post(relay, req(**{k: "a" + ctl + "b"})), 400, code)


def test_body_line_breaks_and_separators_are_content(relay):
    accept(relay, req(text="a\r\nBcc: evil@example.com\rb\n\u2028\u2029"
                      "\u0085c\r\n\r\nContent-Type: text/html\r\n",
                      html="<p>\r\n\r\n--boundary\r\nX-Evil: 1</p>"))


# -- headers trying to add Bcc, To, Content-Type and the like ----------------

STRUCTURAL = ["Bcc", "bcc", "BCC", "To", "Cc", "From", "Sender", "Reply-To",
              "Subject", "Date", "Message-ID", "MIME-Version",
              "Content-Type", "content-type", "Content-Transfer-Encoding",
              "Content-Disposition", "Return-Path", "Received",
              "DKIM-Signature", "Resent-To", "Resent-Bcc", "X-", "Xbcc",
              "Disposition-Notification-To"]


@pytest.mark.parametrize("name", STRUCTURAL)
def test_structural_header_refused(relay, name):
    expect_error(post(relay, req(headers={name: "evil@example.com"})),
                 400, "header_not_allowed")


@pytest.mark.parametrize("name", ["X-A: b", "X-A:", "X A", "Bcc:",
                                  "X-A\u00e9", "", "(X-A)", "X-A,Bcc",
                                  "X-" + "a" * 63])
def test_malformed_header_names(relay, name):
    expect_error(post(relay, req(headers={name: "x"})), 400,
                 "invalid_header")


@pytest.mark.parametrize("headers,code", [
    ({"X-A": ""}, "invalid_header"),
    ({"X-A": " lead"}, "invalid_header"),
    ({"X-A": "trail "}, "invalid_header"),
    ({"References": "non-ascii \u00e9"}, "invalid_header"),
    ({"X-Long": "x" * 2000}, "invalid_header"),
    ({"X-A": "1", "x-a": "2"}, "duplicate_key"),
    ({"X-%d" % i: "v" for i in range(51)}, "too_many_headers"),
])
def test_bad_header_values(relay, headers, code):
    expect_error(post(relay, req(headers=headers)), 400, code)


INJECTIONS_ACCEPTED = [
    # Literal text that looks like structure: it must stay text.
    dict(subject="=?UTF-8?Q?a=0D=0ABcc:_evil@example.com?="),
    dict(subject="a%0d%0aBcc: evil@example.com"),
    dict(subject="Bcc: evil@example.com"),
    dict(subject="\\r\\nBcc: evil@example.com"),
    dict(subject="x" * 200),
    dict(subject="\U0001F600" * 200),
    dict(to={"email": "rcpt@example.net",
             "name": "Evil <evil@example.com>, other@example.com"}),
    dict(to={"email": "rcpt@example.net", "name": 'a"b\\",<evil@x.com>'}),
    dict(to={"email": "rcpt@example.net",
             "name": "=?UTF-8?B?ZXZpbEBleGFtcGxlLmNvbT4sIDx4?="}),
    dict(to={"email": "rcpt@example.net", "name": "A\u00e9 " * 66}),
    {"from": {"email": "app@example.org", "name": "CEO <ceo@example.org>"}},
    dict(replyTo={"email": "r@example.net",
                  "name": "x\";bcc=evil@example.com"}),
    dict(headers={"X-Note": "Bcc: evil@example.com",
                  "X-Enc": "=?UTF-8?Q?=0D=0ABcc:_x?=",
                  "X-Uni": "na\u00efve \u2014 text",
                  "References": " ".join("<%d@example.org>" % i
                                         for i in range(100)),
                  "List-Unsubscribe": "<mailto:u@example.org?subject=x>"}),
    dict(attachments=[dict(ATT, filename='a.pdf"; name="evil.exe'),
                      dict(ATT, filename="=?UTF-8?Q?evil.exe?="),
                      dict(ATT, filename="\u00fc" * 120),
                      dict(ATT, filename="multi word name.txt",
                           contentType="Application/PDF")]),
    dict(text="x" * 200000, html="<p>" + "y" * 300000 + "</p>"),
    dict(text="\n".join("From line %d\n.\n..\n" % i for i in range(50))),
]


@pytest.mark.parametrize("over", INJECTIONS_ACCEPTED,
                         ids=range(len(INJECTIONS_ACCEPTED)))
def test_literal_lookalikes_stay_literal(relay, over):
    accept(relay, req(**over))


@pytest.mark.parametrize("over,code,field", [
    (dict(to="a@example.net, evil@example.com"), "invalid_address", "to"),
    (dict(to="a@example.net>"), "invalid_address", "to"),
    (dict(to="<a@example.net>"), "invalid_address", "to"),
    (dict(to="a@example.net (comment)"), "invalid_address", "to"),
    (dict(to='"a b"@example.net'), "invalid_address", "to"),
    (dict(to="a@[127.0.0.1]"), "invalid_address", "to"),
    (dict(to="-oQ/tmp/x@example.net"), None, None),
    (dict(to="a@example.net\u00a0"), "invalid_address", "to"),
    (dict(bcc="evil@example.com\r\nX: y"), "invalid_address", "bcc"),
    (dict(cc=["ok@example.net", "bad"]), "invalid_address", "cc[1]"),
    (dict(attachments=[dict(ATT, contentType="text/html; charset=x; a=b")]),
     "invalid_attachment", "attachments[0].contentType"),
    (dict(attachments=[dict(ATT, contentType="multipart/mixed")]),
     "invalid_attachment", "attachments[0].contentType"),
    (dict(attachments=[dict(ATT, contentType="message/rfc822")]),
     "invalid_attachment", "attachments[0].contentType"),
    (dict(attachments=[dict(ATT, filename="../../etc/passwd")]),
     "invalid_attachment", "attachments[0].filename"),
    (dict(attachments=[dict(ATT, filename="..")]),
     "invalid_attachment", "attachments[0].filename"),
    (dict(attachments=[dict(ATT, content="eA==\n")]),
     "invalid_attachment", "attachments[0].content"),
])
def test_addresses_and_attachments(relay, over, code, field):
    r = req(**over)
    if code is None:
        # Looks like a sendmail option: a valid address, passed after --.
        accept(relay, r)
    else:
        expect_error(post(relay, r), 400, code, field)


# -- malformed UTF-8, surrogates, JSON shapes --------------------------------

@pytest.mark.parametrize("bad", [
    b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"\x80",
    b"\xbf", b"\xe2\x82", b"\xf0\x9f\x98", b"\xfe", b"\xff",
    b"\xc3\x28",
])
def test_malformed_utf8(relay, bad):
    for key in ("subject", "text", "name"):
        if key == "name":
            r = req(to={"email": "rcpt@example.net", "name": "@@"})
        else:
            r = req(**{key: "@@"})
        raw = json.dumps(r).encode().replace(b"@@", b"a" + bad + b"b")
        expect_error(post(relay, raw), 400, "invalid_utf8")


@pytest.mark.parametrize("esc", ["\\ud800", "\\udbff", "\\udc00",
                                 "\\udfff", "\\ud800\\u0041",
                                 "\\ud800\\ud800", "\\udc00\\ud800"])
def test_lone_surrogates(relay, esc):
    for key in ("subject", "text", "name"):
        if key == "name":
            raw = ('{"from":{"email":"app@example.org","name":"a%sb"},'
                   '"to":"rcpt@example.net","subject":"s","text":"t"}'
                   % esc)
        else:
            r = req(**{key: "@@"})
            raw = json.dumps(r).replace("@@", "a%sb" % esc)
        expect_error(post(relay, raw.encode()), 400, "invalid_utf8")


def test_surrogate_pair_is_fine(relay):
    raw = json.dumps(req(subject="@@")).replace("@@", "\\ud83d\\ude00")
    r = post(relay, raw.encode())
    assert r.status_code == 202
    msg = check_job(relay, r.json()["id"], req(subject="\U0001F600"))
    assert str(msg["Subject"]) == "\U0001F600"


@pytest.mark.parametrize("raw,code", [
    (b"[" * 9 + b"]" * 9, "too_deep"),
    (b"[" * 100000, "too_deep"),
    (b'{"a":' * 50000, "too_deep"),
    (json.dumps(req(to=[[[[[[[[["rcpt@example.net"]]]]]]]]])).encode(),
     "too_deep"),
    (json.dumps(req(x={"a": {"b": {"c": {"d": {"e": {"f": {"g": {
        "h": 1}}}}}}}})).encode(), "too_deep"),
    (json.dumps(req(subject=1e300)).replace("1e+300", "1e999999").encode(),
     "invalid_type"),
    (json.dumps(req(to="@@")).replace('"@@"', "9" * 100000).encode(),
     "invalid_type"),
    (json.dumps(req(text=-0.0)).encode(), "invalid_type"),
    (json.dumps(req(subject=None)).encode(), "invalid_type"),
    (json.dumps(req(to=True)).encode(), "invalid_type"),
    (b'{"subject":NaN}', "invalid_json"),
    (b'{"subject":Infinity}', "invalid_json"),
    (json.dumps(req()).encode() + b"x", "invalid_json"),
    (json.dumps(req()).encode() + b'{"a":1}', "invalid_json"),
    (b"\xef\xbb\xbf" + json.dumps(req()).encode(), "invalid_json"),
    (json.dumps([req()]).encode(), "invalid_json"),
    (b'"just a string"', "invalid_json"),
    (b"", "invalid_json"),
    (b"{}", "missing_field"),
    (json.dumps(req(bogus=1)).encode(), "unknown_field"),
    (json.dumps(req(to=[])).encode(), "empty_array"),
    (json.dumps(req(subject="")).encode(), "invalid_subject"),
    (json.dumps(req(subject="x" * 201)).encode(), "invalid_subject"),
    (json.dumps(req(text="", html="")).encode(), "missing_body"),
])
def test_json_shapes(relay, raw, code):
    expect_error(post(relay, raw), 400, code)


@pytest.mark.parametrize("raw,field", [
    (b'{"from":"app@example.org","from":"app@example.org",'
     b'"to":"rcpt@example.net","subject":"s","text":"t"}', "from"),
    (b'{"from":"app@example.org","to":"rcpt@example.net","subject":"s",'
     b'"subj\\u0065ct":"t","text":"t"}', "subject"),
    (b'{"from":"app@example.org","to":[{"email":"a@example.net",'
     b'"email":"evil@example.com"}],"subject":"s","text":"t"}',
     "to[0].email"),
    (b'{"from":"app@example.org","to":"rcpt@example.net","subject":"s",'
     b'"text":"t","attachments":[{"filename":"a","filename":"b",'
     b'"contentType":"text/plain","content":""}]}',
     "attachments[0].filename"),
    (b'{"from":"app@example.org","to":"rcpt@example.net","subject":"s",'
     b'"text":"t","headers":{"X-A":"1","X-A":"2"}}', "headers.X-A"),
])
def test_duplicate_keys(relay, raw, field):
    expect_error(post(relay, raw), 400, "duplicate_key", field)


@pytest.mark.parametrize("key", ["to", "bcc", "replyTo"])
def test_ten_thousand_recipients(relay, key):
    many = ["r%d@example.net" % i for i in range(10000)]
    r = req(**{key: many})
    expect_error(post(relay, r), 400, "too_many_recipients", key)


def test_fifty_recipients_exactly(relay):
    r = req(to=["t%d@example.net" % i for i in range(20)],
            cc=["c%d@example.net" % i for i in range(20)],
            bcc=["b%d@example.net" % i for i in range(10)])
    msg = accept(relay, r)
    assert msg["Bcc"] is None
    expect_error(post(relay, req(to=r["to"], cc=r["cc"],
                                 bcc=r["bcc"] + ["one@example.net"])),
                 400, "too_many_recipients")


# -- HTTP framing: raw sockets ------------------------------------------------

def raw_http(s, data, shut=False, timeout=5):
    c = socket.create_connection(("127.0.0.1", s.port), timeout=timeout)
    try:
        c.sendall(data)
        if shut:
            c.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                d = c.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            out += d
        return out
    finally:
        c.close()


def statuses(resp):
    return [int(m) for m in re.findall(rb"^HTTP/1\.1 (\d{3}) ", resp, re.M)]


def head(s, extra=b"", length=None, body=b""):
    return (b"POST /send HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n"
            b"Authorization: Bearer " + s.token.encode() + b"\r\n"
            b"Content-Type: application/json\r\n" + extra +
            (b"Content-Length: %d\r\n" % length if length is not None
             else b"") + b"\r\n" + body)


def test_content_length_larger_than_body(relay):
    body = json.dumps(BASE).encode()
    before = relay.jobs()
    out = raw_http(relay, head(relay, length=len(body) + 100, body=body),
                   shut=True)
    # nginx never hands the relay a short body: no answer, or its 400.
    assert statuses(out) in ([], [400]), out[:200]
    assert relay.jobs() == before


def test_body_larger_than_declared(relay):
    body = json.dumps(BASE).encode()
    before = relay.jobs()
    out = raw_http(relay, head(relay, length=10, body=body + b"\r\n" * 4))
    # The relay sees the first 10 bytes only; the rest is never a body.
    assert statuses(out) == [400], out[:300]
    assert b'"error":"invalid_json"' in out
    assert relay.jobs() == before


def test_chunked_body_is_fine_and_mixed_framing_refused(relay):
    body = json.dumps(BASE).encode()
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    out = raw_http(relay, head(relay, b"Transfer-Encoding: chunked\r\n",
                               body=chunked))
    assert statuses(out) == [202], out[:300]
    before = relay.jobs()
    out = raw_http(relay, head(relay, b"Transfer-Encoding: chunked\r\n",
                               length=5, body=chunked))
    assert statuses(out) == [400]
    assert relay.jobs() == before


def test_missing_length_and_header_tricks(relay):
    before = relay.jobs()
    out = raw_http(relay, head(relay))
    assert statuses(out) == [411] and b"length_required" in out
    body = json.dumps(BASE).encode()
    for extra in (b"Authorization: Bearer other\r\n",          # twice
                  b"Content-Length: 1\r\n",                     # twice
                  b"X-Evil: a\x00b\r\n"):
        out = raw_http(relay, head(relay, extra, len(body), body))
        assert statuses(out) == [400], (extra, out[:200])
    assert relay.jobs() == before


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/send", 405), ("PUT", "/send", 405), ("DELETE", "/send", 405),
    ("PATCH", "/send", 405), ("OPTIONS", "/send", 405),
    ("HEAD", "/send", 405), ("FOO", "/send", 405), ("TRACE", "/send", 405),
    ("POST", "/health", 405), ("PUT", "/health", 405),
    ("POST", "/", 404), ("POST", "/send/", 404), ("POST", "/Send", 404),
    ("POST", "/send.php", 404), ("POST", "/send;x", 404),
    ("POST", "/send%2f", 404), ("POST", "/health/x", 404),
    ("GET", "/etc/passwd", 404), ("POST", "/send%00", 400),
])
def test_wrong_methods_and_paths(relay, method, path, status):
    body = json.dumps(BASE).encode()
    before = relay.jobs()
    data = (method.encode() + b" " + path.encode() + b" HTTP/1.1\r\n"
            b"Host: relay\r\nConnection: close\r\n"
            b"Authorization: Bearer " + relay.token.encode() + b"\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body)
    out = raw_http(relay, data)
    assert statuses(out) == [status], out[:300]
    if status == 405 and method != "TRACE":
        assert re.search(rb"^Allow: ", out, re.M)
    assert relay.jobs() == before


@pytest.mark.parametrize("path", ["/send?x=1", "//send", "/./send",
                                  "/x/../send"])
def test_equivalent_paths_route_to_send(relay, path):
    body = json.dumps(BASE).encode()
    data = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: relay\r\n"
            b"Connection: close\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body)
    out = raw_http(relay, data)
    assert statuses(out) == [401]        # /send: no token, no job


# -- FastCGI directly: what nginx never sends ---------------------------------

def fcgi_request(sock_path, params, stdin=b""):
    """One FastCGI responder request; returns (status, headers, body)."""
    def rec(t, content):
        return struct.pack(">BBHHBx", 1, t, 1, len(content), 0) + content

    def nv(k, v):
        out = b""
        for x in (k, v):
            n = len(x)
            out += bytes([n]) if n < 128 else struct.pack(">I", n | 1 << 31)
        return out + k + v
    pairs = b"".join(nv(k.encode(), v.encode()) for k, v in params.items())
    msg = rec(1, struct.pack(">HB5x", 1, 0)) + rec(4, pairs) + rec(4, b"")
    for i in range(0, len(stdin), 65535):
        msg += rec(5, stdin[i:i + 65535])
    msg += rec(5, b"")
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(10)
    c.connect(sock_path)
    c.sendall(msg)
    out, buf = b"", b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        buf += d
    c.close()
    while len(buf) >= 8:
        _, t, _, n, pad = struct.unpack(">BBHHBx", buf[:8])
        if t == 6:
            out += buf[8:8 + n]
        buf = buf[8 + n + pad:]
    headers, _, body = out.partition(b"\r\n\r\n")
    status = int(re.search(rb"^Status: (\d+)", headers, re.M).group(1))
    return status, headers, body


def fcgi_send(s, body, length=None, **extra):
    params = {"REQUEST_METHOD": "POST", "DOCUMENT_URI": "/send",
              "SCRIPT_NAME": "/send", "CONTENT_TYPE": "application/json",
              "HTTP_AUTHORIZATION": "Bearer " + s.token,
              "CONTENT_LENGTH": str(len(body) if length is None else length)}
    params.update(extra)
    return fcgi_request(os.path.join(s.dir, "relay.sock"), params, body)


def test_fastcgi_short_body(relay):
    body = json.dumps(BASE).encode()
    before = relay.jobs()
    st, _, out = fcgi_send(relay, body, length=len(body) + 50)
    assert st == 400 and json.loads(out)["error"] == "short_body"
    assert relay.jobs() == before


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "0x10", " 10",
                                    "99999999999999999999999", ""])
def test_fastcgi_malformed_content_length(relay, length):
    body = json.dumps(BASE).encode()
    before = relay.jobs()
    st, _, out = fcgi_send(relay, body, length=length)
    assert 400 <= st < 500, (st, out)
    assert relay.jobs() == before


def test_fastcgi_long_body_is_cut_at_length(relay):
    body = json.dumps(BASE).encode()
    st, _, out = fcgi_send(relay, body + b'{"evil":1}', length=len(body))
    assert st == 202, out
    check_job(relay, json.loads(out)["id"], BASE)


def test_fastcgi_params_without_method_or_path(relay):
    sock = os.path.join(relay.dir, "relay.sock")
    st, _, _ = fcgi_request(sock, {"CONTENT_LENGTH": "0"})
    assert st == 404
    st, _, _ = fcgi_request(sock, {"REQUEST_METHOD": "POST"})
    assert st == 404


# -- tokens -------------------------------------------------------------------

def flip_last(tok):
    return tok[:-1] + ("0" if tok[-1] != "0" else "1")


def test_tokens_differing_in_the_last_byte(relay):
    before = relay.jobs()
    other = dict(BASE, **{"from": "other@example.net"})
    for tok, body in ((relay.token, BASE), (relay.other_token, other)):
        assert post(relay, body, token=tok).status_code == 202
        for bad in (flip_last(tok), tok[:-1] + "g", tok[:-1], tok + "0",
                    tok.upper(), " " + tok[:-1]):
            if bad == tok:
                continue
            r = post(relay, body, token=bad)
            expect_error(r, 401, "unauthorized")
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert len(relay.jobs()) == len(before) + 2


@pytest.mark.parametrize("auth", [None, "", "Bearer", "Bearer ",
                                  "Bearer    ", "Basic dXNlcjpwdw==",
                                  "Token {tok}", "Bearer\t{tok}",
                                  "Bearer {tok}x", "{tok}",
                                  "Bearer " + "a" * 600])
def test_empty_and_malformed_authorization(relay, auth):
    h = {"Content-Type": "application/json"}
    if auth is not None:
        h["Authorization"] = auth.format(tok=relay.token)
    r = requests.post(relay.url + "/send", data=json.dumps(BASE), headers=h,
                      timeout=10)
    expect_error(r, 401, "unauthorized")
    assert "X-Relay-Caller" not in r.headers


def test_bearer_scheme_is_case_insensitive(relay):
    r = requests.post(relay.url + "/send", data=json.dumps(BASE),
                      headers={"Content-Type": "application/json",
                               "Authorization": "bEaReR " + relay.token},
                      timeout=10)
    assert r.status_code == 202


def run_relay(s, timeout=5):
    """Starts relay-fcgi on s's config: (exit status, or None once it is
    listening, and stderr)."""
    sock = os.path.join(s.dir, "probe.sock")
    errpath = os.path.join(s.dir, "probe.err")

    def err():
        with open(errpath, errors="replace") as f:
            return f.read()
    with open(errpath, "w") as errf:
        p = subprocess.Popen([RELAY_FCGI, "-d", "-c", s.conf_path, "-s",
                              sock], stdout=subprocess.DEVNULL, stderr=errf)
    try:
        # Serving (SIGTERM while it is still starting is test_crash.py's
        # business), or gone.
        wait_for(lambda: p.poll() is not None or "serving with" in err(),
                 timeout, "relay-fcgi to exit or serve")
        if p.poll() is not None:
            return p.returncode, err()
        p.send_signal(signal.SIGTERM)
        p.wait(5)
        return None, err()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.parametrize("mode,starts", [
    (0o600, True), (0o400, True), (0o640, True), (0o440, True),
    (0o604, False), (0o644, False), (0o666, False), (0o620, False),
    (0o602, False), (0o660, False), (0o606, False),
])
def test_tokens_file_mode(mode, starts):
    s = Stack()
    try:
        os.chmod(s.tokens_path, mode)
        rc, err = run_relay(s)
        if starts:
            assert rc is None, err
        else:
            assert rc == 78, (rc, err)
            assert s.tokens_path in err and "%04o" % mode in err
    finally:
        s.close()


def test_tokens_file_symlink_directory_empty_missing():
    s = Stack()
    try:
        real = s.tokens_path + ".real"
        os.rename(s.tokens_path, real)
        os.symlink(real, s.tokens_path)
        rc, err = run_relay(s)
        assert rc == 78 and s.tokens_path in err
        os.unlink(s.tokens_path)
        os.mkdir(s.tokens_path, 0o700)
        rc, err = run_relay(s)
        assert rc == 78 and "not a regular file" in err
        os.rmdir(s.tokens_path)
        s.write_tokens("# nobody\n")
        rc, err = run_relay(s)
        assert rc == 78 and "no callers" in err
        os.unlink(s.tokens_path)
        rc, err = run_relay(s)
        assert rc == 78 and "No such file" in err
    finally:
        s.close()


def test_reload_refuses_world_readable_tokens_and_keeps_old(make_stack):
    s = make_stack().start()
    token, line = make_token("late", "late@example.org")
    with open(s.tokens_path, "a") as f:
        f.write(line + "\n")
    os.chmod(s.tokens_path, 0o644)
    s.procs["fcgi"].send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in s.log("relay-fcgi.log"),
             what="refused reload")
    assert "world-readable" in s.log("relay-fcgi.log")
    late = dict(BASE, **{"from": "late@example.org"})
    assert post(s, late, token=token).status_code == 401
    assert post(s, BASE).status_code == 202
