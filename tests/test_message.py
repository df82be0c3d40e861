"""The message relay-fcgi builds, parsed back with Python's email package.

tests/helpers/build-message runs req_parse() and mime_build() on a JSON
request read from stdin and prints the message.  Every message here must parse
with policy.strict and policy.default without a defect (but the two that
Python reports for the RFC 2047 name= of an attachment whose name cannot
be quoted: encoded words in a quoted string are what mail clients write
there), and decode to exactly what was sent: names, subject, extra
headers, text and html (CR LF and CR normalised to LF), the text part
derived from html-only requests (tests/helpers/html2text), attachments
byte for byte with their charset.
"""

import base64
import datetime
import email.header
import email.utils
import json
import os
import random
import re
import subprocess

import pytest
from email import policy
from email.parser import BytesParser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BUILD_MESSAGE: another build of it (e.g. with sanitizers).
BUILD = os.environ.get("BUILD_MESSAGE",
                       os.path.join(ROOT, "tests", "helpers", "build-message"))
HTML2TEXT = os.environ.get("HTML2TEXT",
                           os.path.join(ROOT, "tests", "helpers", "html2text"))
# What Python says of encoded words in a quoted name= (RFC 2047 5 does not
# allow them there; mail clients write them and readers decode them).
NAME_EW_DEFECTS = {"encoded word inside quoted string",
                   "missing trailing whitespace after encoded-word"}
DATE = datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
ADDR_HEADERS = (("from", "From"), ("to", "To"), ("cc", "Cc"),
                ("replyTo", "Reply-To"))


@pytest.fixture(scope="module", autouse=True)
def build_message():
    for prog in (BUILD, HTML2TEXT):
        if not os.access(prog, os.X_OK):
            subprocess.run(["make", "-C", ROOT, os.path.relpath(prog, ROOT)],
                           check=False, capture_output=True)
        if not os.access(prog, os.X_OK):
            pytest.fail("%s is missing: make %s" % (prog, prog))


def run(req, *flags):
    body = req if isinstance(req, bytes) else json.dumps(req).encode()
    return subprocess.run([BUILD, *flags], input=body, capture_output=True,
                          timeout=30)


def build(req, *flags):
    """The message; flags: -T for html_to_text = no."""
    p = run(req, *flags)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def derived(html):
    """The text part the relay derives from html (empty: none)."""
    p = subprocess.run([HTML2TEXT], input=norm(html).encode(),
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def reject(req):
    """The "code field" build-message prints for a refused request."""
    p = run(req)
    assert p.returncode == 65, (p.returncode, p.stdout[:200])
    assert p.stdout == b""
    first = p.stderr.decode().splitlines()[0].split(" ")
    return first[0], first[1] if len(first) > 1 else ""


def addresses(value):
    """[(name, email)] as the request gives them (name "" when absent)."""
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    out = []
    for a in value:
        if isinstance(a, str):
            out.append(("", a))
        else:
            out.append((a.get("name", ""), a["email"]))
    return out


def check_lines(raw, fold=78):
    assert b"\r" not in raw
    head, sep, _ = raw.partition(b"\n\n")
    assert sep, "no empty line after the header"
    for line in raw.split(b"\n"):
        assert len(line) <= 998
    for line in head.split(b"\n"):
        assert len(line) <= fold, line
        assert line.isascii(), line
        assert line.strip() != b"", "whitespace-only header line"


def walk_defects(msg):
    for part in msg.walk():
        assert part.defects == [], (part.get_content_type(), part.defects)
        for name, value in part.items():
            defects = value.defects
            if name == "Content-Type" and "name" in value.params:
                defects = tuple(d for d in defects
                                if str(d) not in NAME_EW_DEFECTS)
            assert defects == (), (name, value, value.defects)


def check(req, raw, fold=78, derive=True):
    """Everything the request says is in the message, exactly; derive:
    built as with html_to_text = yes."""
    check_lines(raw, fold)
    for pol in (policy.strict, policy.default):
        msg = BytesParser(policy=pol).parsebytes(raw)
        walk_defects(msg)
        check_headers(req, msg)
        check_body(req, msg, derive)
    return BytesParser(policy=policy.default).parsebytes(raw)


def check_headers(req, msg):
    for key, header in ADDR_HEADERS:
        want = addresses(req.get(key))
        if not want:
            assert msg[header] is None
            continue
        got = [(a.display_name, a.addr_spec) for a in msg[header].addresses]
        assert got == want
        assert len(msg.get_all(header)) == 1
    assert msg["Bcc"] is None
    for _, a in addresses(req.get("bcc")):
        assert a.encode() not in msg.as_bytes()
    assert str(msg["Subject"]) == req["subject"]
    assert msg["Message-ID"] == "<test@example.org>"
    assert msg["MIME-Version"] == "1.0"
    assert msg["Date"].datetime == DATE
    for name, value in req.get("headers", {}).items():
        assert msg.get_all(name) == [value]


def norm(s):
    return s.replace("\r\n", "\n").replace("\r", "\n")


def want_charset(a, data):
    """The charset an attachment's Content-Type must carry, or None."""
    ctype, _, param = a["contentType"].partition(";")
    if param:
        return param.split("=", 1)[1].strip().lower()
    if not ctype.strip().lower().startswith("text/") or data.isascii():
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "utf-8"


def check_body(req, msg, derive=True):
    text, html = req.get("text") or None, req.get("html") or None
    if html and not text and derive:
        text = derived(html) or None
    atts = req.get("attachments", [])
    body = msg
    if atts:
        assert msg.get_content_type() == "multipart/mixed"
        parts = list(msg.iter_parts())
        assert len(parts) == 1 + len(atts)
        body = parts[0]
        for a, part in zip(atts, parts[1:]):
            data = base64.b64decode(a["content"])
            assert part.get_content_type() == \
                a["contentType"].split(";")[0].strip().lower()
            assert part.get_content_disposition() == "attachment"
            assert part.get_filename() == a["filename"]
            # name= on Content-Type too, for readers older than RFC 2231
            assert part["Content-Type"].params["name"] == a["filename"]
            assert part.get_param("charset") == want_charset(a, data)
            assert part.get_payload(decode=True) == data
            if part.get_param("charset") == "utf-8":
                assert part.get_content() == data.decode("utf-8")
    if text and html:
        assert body.get_content_type() == "multipart/alternative"
        plain, rich = list(body.iter_parts())
    else:
        plain, rich = (body, None) if text else (None, body)
    for part, want, sub in ((plain, text, "plain"), (rich, html, "html")):
        if want is None:
            continue
        assert part.get_content_type() == "text/" + sub
        assert part.get_content_charset() == "utf-8"
        assert part.get_content() == norm(want)


def req_of(**kw):
    r = {"from": "sender@example.com", "to": "rcpt@example.org",
         "subject": "Hello", "text": "Hello, world.\n"}
    r.update(kw)
    return {k: v for k, v in r.items() if v is not None}


# Shapes

def test_ascii_plain():
    req = req_of()
    raw = build(req)
    assert raw.startswith(b"From: sender@example.com\nTo: rcpt@example.org\n"
                          b"Subject: Hello\n"
                          b"Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
                          b"Message-ID: <test@example.org>\n"
                          b"MIME-Version: 1.0\n")
    check(req, raw)


def test_html_only():
    """The text part derived from the html comes first."""
    req = req_of(text=None, html="<p>Hi &amp; <b>bye</b></p>\n")
    msg = check(req, build(req))
    assert msg.get_content_type() == "multipart/alternative"
    plain, rich = msg.iter_parts()
    assert plain.get_content() == "Hi & bye\n"
    assert rich.get_content() == req["html"]


def test_html_only_without_html_to_text():
    req = req_of(text=None, html="<p>Hi &amp; <b>bye</b></p>\n")
    msg = check(req, build(req, "-T"), derive=False)
    assert msg.get_content_type() == "text/html"


def test_html_without_text_to_derive():
    """An html body with no text at all stays alone."""
    req = req_of(text=None, html='<img src="cid:x" alt=""><p> </p>')
    assert derived(req["html"]) == ""
    msg = check(req, build(req))
    assert msg.get_content_type() == "text/html"


def test_text_and_html():
    req = req_of(text="plain\n", html="<p>rich</p>")
    msg = check(req, build(req))
    assert msg.get_content_type() == "multipart/alternative"


def test_empty_text_is_absent():
    req = req_of(text="", html="<p>only</p>")
    msg = check(req, build(req))
    assert msg.get_content_type() == "multipart/alternative"
    assert next(msg.iter_parts()).get_content() == "only\n"
    msg = check(req, build(req, "-T"), derive=False)
    assert msg.get_content_type() == "text/html"


def test_every_address_shape():
    req = req_of(
        **{"from": {"email": "Sender@Example.com", "name": "The Sender"},
           "to": ["a@example.org", {"email": "b@example.org"},
                  {"email": "c@example.org", "name": "Cé"}],
           "cc": {"email": "d@example.org", "name": "Dee"},
           "bcc": "hidden@example.net",
           "replyTo": ["r1@example.org", {"email": "r2@example.org",
                                          "name": "Reply, Two"}]})
    raw = build(req)
    check(req, raw)
    assert b"hidden" not in raw


def test_many_recipients_folded():
    to = [{"email": "user%d@sub%d.example.org" % (i, i),
           "name": "Recipient Number %d" % i} for i in range(30)]
    cc = ["cc%d@example.com" % i for i in range(15)]
    bcc = ["bcc%d@example.com" % i for i in range(5)]
    req = req_of(to=to, cc=cc, bcc=bcc)
    raw = build(req)
    check(req, raw)
    assert raw.count(b"\n ") > 20


def test_extra_headers():
    req = req_of(headers={
        "X-Campaign": "spring  sale 2024",
        "x-lower": "kept as given",
        "List-Unsubscribe": "<mailto:unsub@example.com?subject=u>, "
                            "<https://example.com/unsubscribe?id=1234567890"
                            "abcdef&list=news>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "In-Reply-To": "<abc@example.org>",
        "References": " ".join("<ref%d.%d@example.org>" % (i, i * 7919)
                               for i in range(40)),
        "X-Unicode": "välue 🎉 中文",
        "X-Looks-Encoded": "=?utf-8?q?not_decoded?=",
        "Auto-Submitted": "auto-generated",
    })
    raw = build(req)
    check(req, raw)
    assert b"\nList-Unsubscribe: <mailto:" in raw


@pytest.mark.parametrize("value", ["no", "auto-generated", "auto-replied",
                                   "auto-notified"])
def test_auto_submitted_values(value):
    """RFC 3834's values (and RFC 5436's auto-notified) are taken, and the
    header is written once, as given (others are refused below)."""
    req = req_of(headers={"Auto-Submitted": value})
    raw = build(req)
    check(req, raw)
    assert raw.count(b"\nAuto-Submitted: ") == 1
    assert b"\nAuto-Submitted: " + value.encode() + b"\n" in raw


def test_header_name_case_is_canonical():
    req = req_of(headers={"list-unsubscribe": "<mailto:u@example.com>"})
    raw = build(req)
    assert b"\nList-Unsubscribe: <mailto:u@example.com>\n" in raw


# Names and subjects

NAMES = [
    "José García", "Zoë 🎉", "山田太郎", "e\u0301te\u0301 combining",
    "Ελληνικά Γράμματα", "Dr. Müller-Lüdenscheidt, Jr.", "O'Brien",
    "Smith, John", 'He said "hi" \\ bye', "  spaced  out  ", "=?utf-8?q?x?=",
    "A =?utf-8?q?x?= B", "Straße 👩‍👩‍👧‍👦", "한국어 이름", "😀", "a", "x é y ü z",
    "(comment) <angle> [square]; colon: at@", "trailing é ",
]


@pytest.mark.parametrize("name", NAMES)
def test_display_names(name):
    req = req_of(**{"from": {"email": "a@example.com", "name": name},
                    "to": [{"email": "b@example.org", "name": name},
                           {"email": "c@example.org", "name": name}],
                    "replyTo": {"email": "r@example.org", "name": name}})
    check(req, build(req))


SUBJECTS = [
    "Plain ASCII subject", "Ünïcødé", "Emoji 🎉🎊 party", "漢字かな交じり文",
    "e\u0301\u0301 combining marks", "  leading and trailing  ",
    "double  spaces  inside", "=?utf-8?q?literal?=", 'quotes " and \\',
    "a" * 200, "word " * 39 + "last!", "🎉" * 200, "中" * 200,
    "é" * 199 + "x", ("Ω≈ç√∫ " * 34)[:200], "x" * 190 + " end", "-",
    "From here", "%0d%0aBcc: injected@example.com",
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_subjects(subject):
    req = req_of(subject=subject)
    # A single 190-octet ASCII word cannot be folded: only 998 applies.
    fold = 998 if "x" * 190 in subject or subject == "a" * 200 else 78
    check(req, build(req), fold)


# Long display names of real senders and recipients, ASCII and non-ASCII
# words mixed: every run of words that needs encoding fits in one encoded
# word, so the relay writes no two encoded words side by side and every
# decoder, Python's included, gives the name back exactly.
LONG_NAMES = [
    "Service client — Société Générale de Banque",
    "Bérénice-Amélie Rosemonde Dûbois-Bénard",
    "José María García-López de la Fuente y Martínez Núñez",
    "Crédit Agricole d'Île-de-France — Service Relations Clientèle",
    "Université Paris-Saclay, Département d'Informatique",
    "Maria Magdalena Schröder-Dürrenmatt von und zu Hohenlöwenstein",
    "Müller & Söhne GmbH (Vertrieb), Köln",
    "Dr. Hans-Jürgen Müller-Lüdenscheidt, Jr. (Geschäftsführung)",
    "Zürich Office of Société Générale Private Banking (Suisse) SA",
    'Björn "The Hammer" Ångström, Sveriges Riksbank',
    "François-Xavier de La Rochefoucauld-Liancourt, Directeur Général",
    "São Paulo Atendimento ao Cliente — Banco do Brasil S.A.",
]
# Runs of non-ASCII words longer than one encoded word: split between two
# words (test_long_names_split_between_words), one CJK word longer than
# an encoded word: split between two characters.
LONG_RUNS = [
    "Александр Сергеевич Пушкин и Наталья Николаевна Гончарова",
    "Ελληνικά Γράμματα Ελληνικά Γράμματα Ελληνικά Γράμματα",
    "山田 太郎 山田 太郎 山田 太郎 山田 太郎 山田 太郎 山田 太郎",
    "Zoë Ünïcødé Ærøskøbing Ågård Ørsted Ñoño Çağrı Łódź Śląsk Żółć",
    "Łukasz Żółkiewski-Szczęśniak, Wydział Współpracy Międzynarodowej",
]
LONG_SUBJECTS = [
    "Réservation confirmée : votre location du 12 au 19 août à "
    "Saint-Étienne-de-Tinée est enregistrée",
    "Ваш заказ № 40213 отправлен и будет доставлен в течение трёх "
    "рабочих дней",
    "Ελληνικά Γράμματα " * 5 + "τέλος",
    "注文 40213 は 本日 発送 されました お届け まで 二、三日 お待ち ください",
    "Zoë 🎉 " * 20 + "end",
]


EW = r"=\?UTF-8\?[BQ]\?[^?]*\?="


def encoded_words(raw, header):
    """The decoded text of each encoded word of a header, as runs of
    adjacent words (only white space between them)."""
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    value = re.sub(r"\n[ \t]", " ", msg.get(header))
    return [[email.header.decode_header(w)[0][0].decode()
             for w in re.findall(EW, run.group(0))]
            for run in re.finditer(EW + "(?: +" + EW + ")*", value)]


def split_between_words(runs):
    """Each encoded word ends at a space or the next begins with one."""
    for words in runs:
        for a, b in zip(words, words[1:]):
            assert a.endswith(" ") or b.startswith(" "), (a, b)


@pytest.mark.parametrize("subject", LONG_SUBJECTS)
def test_long_subjects_split_between_words(subject):
    req = req_of(subject=subject)
    raw = build(req)
    check(req, raw)       # policy.strict gives the subject back exactly
    runs = encoded_words(raw, "Subject")
    assert len(runs) == 1 and len(runs[0]) > 1
    assert "".join(runs[0]) == subject
    split_between_words(runs)


def name_req(name):
    return req_of(**{"from": {"email": "a@example.com", "name": name},
                     "to": [{"email": "b@example.org", "name": name}],
                     "cc": [{"email": "c@example.org", "name": name}],
                     "replyTo": {"email": "r@example.org", "name": name}})


@pytest.mark.parametrize("name", LONG_NAMES)
def test_long_names_decode_exactly(name):
    """Only the runs of words that need encoding are encoded, ASCII words
    are atoms or quoted-strings ("Jr." "(Vertrieb),"), so no encoded word
    stands next to another: Python's email (policy.strict, check()) gives
    each name back exactly, with no space added at a split, and so does
    compat32's RFC 2047 decoder."""
    req = name_req(name)
    raw = build(req)
    check(req, raw)
    for header in ("From", "To", "Cc", "Reply-To"):
        assert rfc2047_names(raw, header)[0][0] == name
        runs = encoded_words(raw, header)
        assert runs and all(len(r) == 1 for r in runs), (header, runs)
    # The ASCII words as they are: atoms, or quoted-strings with specials.
    value = BytesParser(policy=policy.compat32).parsebytes(raw)["From"]
    tokens = re.sub(r"\n[ \t]", " ", value).split(" ")
    for w in name.split(" "):
        if re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+", w):
            assert w in tokens, (w, tokens)
        elif w.isascii():
            quoted = '"' + w.replace("\\", "\\\\").replace('"', '\\"') + '"'
            assert quoted in tokens, (quoted, tokens)


def python_shows(raw, header):
    """The display name Python's email shows where CPython issue 128110
    is not fixed (Debian 12's Python 3.11): a space between every two
    adjacent encoded words of an address header, beside the one that an
    encoded word may end with."""
    return "".join(" ".join(run) for run in encoded_words(raw, header))


@pytest.mark.parametrize("name", LONG_RUNS)
def test_long_names_split_between_words(name):
    """A run of words needing encoding that does not fit in one encoded
    word is split, between two words: the space is encoded at the end of
    the first word, as RFC 2047 6.2 wants, so RFC decoders (compat32's)
    give the name back exactly.  Python's email in address headers adds a
    space between the two encoded words (CPython issue 128110, in Debian
    12's Python 3.11): it shows the name with one more space beside a
    space that is there, never inside a word; this is inherent to such a
    split (without the encoded space, RFC decoders would join the words)."""
    req = name_req(name)
    raw = build(req)
    check_lines(raw)
    assert rfc2047_names(raw, "From") == [(name, "a@example.com")]
    runs = encoded_words(raw, "From")
    assert len(runs) == 1 and len(runs[0]) > 1
    split_between_words(runs)
    shown = python_shows(raw, "From")
    assert shown != name and re.sub(" +", " ", shown) == name
    assert shown.count("  ") == len(runs[0]) - 1
    for pol in (policy.strict, policy.default):
        msg = BytesParser(policy=pol).parsebytes(raw)
        walk_defects(msg)
        for header in ("From", "To", "Cc", "Reply-To"):
            got = msg[header].addresses[0].display_name
            assert got in (name, python_shows(raw, header)), (got, name)


def test_long_word_splits_at_characters():
    """A word longer than one encoded word is cut between characters,
    never inside one; RFC decoders join the pieces.  Python's email shows
    a space at each cut (CPython issue 128110): inherent to a word that no
    single encoded word can hold."""
    name = "名前" * 100
    req = req_of(**{"from": {"email": "a@example.com", "name": name}})
    raw = build(req)
    check_lines(raw)
    assert rfc2047_names(raw, "From") == [(name, "a@example.com")]
    words = encoded_words(raw, "From")[0]
    assert "".join(words) == name and len(words) > 1
    for pol in (policy.strict, policy.default):
        msg = BytesParser(policy=pol).parsebytes(raw)
        walk_defects(msg)
        assert msg["From"].addresses[0].display_name in \
            (name, " ".join(words))


def rfc2047_names(raw, header):
    """[(name, email)] of an address header, decoded by compat32's RFC 2047
    decoder (which keeps the text of encoded words as it is)."""
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    out = []
    for enc, addr in email.utils.getaddresses([msg[header]]):
        parts = email.header.decode_header(enc)
        out.append(("".join(b.decode(c or "ascii") if isinstance(b, bytes)
                            else b for b, c in parts), addr))
    return out


@pytest.mark.parametrize("name", ["é  two spaces", "  é", "é  ", "中 　 文"])
def test_name_space_runs(name):
    req = req_of(**{"from": {"email": "a@example.com", "name": name}})
    raw = build(req)
    check_lines(raw)
    assert rfc2047_names(raw, "From") == [(name, "a@example.com")]
    for pol in (policy.strict, policy.default):
        walk_defects(BytesParser(policy=pol).parsebytes(raw))


# Bodies

def test_body_line_rules():
    text = ("From the start\n"
            ".\n"
            "..leading dots\n"
            "trailing space \n"
            "trailing tab\t\n"
            "= equals =3D\n"
            + "long " * 400 + "\n"
            + "x" * 5000 + "\n"
            + "é" * 100 + "\n"
            + "a" + "é" * 100 + "\n"
            + "ab" + "🎉" * 60 + "\n"
            + "windows\r\nline\rends\r\n"
            + "\tindented\n"
            + "From  two spaces\nFrom\n"
            + "ends without newline")
    req = req_of(text=text, html=text)
    raw = build(req)
    check(req, raw)
    for line in raw.split(b"\n"):
        assert len(line) <= 76, line
        assert not line.endswith(b" ") and not line.endswith(b"\t")
        assert not line.startswith(b"From ")


@pytest.mark.parametrize("text", [
    "no final newline", "final newline\n", "two\n\n", "\n", "x", " ",
    "trailing space ", "=", "é", "x" * 75, "x" * 76, "x" * 77,
    "x" * 75 + "é", "x" * 74 + " ", "x" * 75 + " ", "x" * 76 + "\n",
])
def test_body_edges_single_and_multipart(text):
    for req in (req_of(text=text), req_of(text=text, html=text),
                req_of(text=text, attachments=[
                    {"filename": "a.bin", "contentType": "application/octet-stream",
                     "content": "AA=="}])):
        check(req, build(req))


def test_mostly_non_ascii_text_goes_base64():
    text = "日本語のテキストです。" * 50 + "\n"
    req = req_of(text=text)
    raw = build(req)
    msg = check(req, raw)
    assert msg["Content-Transfer-Encoding"] == "base64"
    latin = req_of(text="Meet me at the café on the corner at noon.\n" * 20)
    msg = check(latin, build(latin))
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"


@pytest.mark.parametrize("unit,cte", [
    ("Meet me at the café on the corner at noon. ", "quoted-printable"),
    ("日本語のテキストです。", "base64"),
])
def test_long_bodies(unit, cte):
    text = unit * (60000 // len(unit.encode()))
    req = req_of(text=text, html="<p>" + text + "</p>\n")
    msg = check(req, build(req))
    for part in msg.iter_parts():
        assert part["Content-Transfer-Encoding"] == cte


# Attachments

def b64(data):
    return base64.b64encode(data).decode()


def test_attachments():
    rnd = random.Random(7)
    binary = bytes(rnd.getrandbits(8) for _ in range(100000))
    atts = [
        {"filename": "report.pdf", "contentType": "application/pdf",
         "content": b64(binary)},
        {"filename": "notes.txt", "contentType": "Text/Plain",
         "content": b64("line one\r\nline two\n--=_boundary?\n".encode())},
        {"filename": "empty.bin", "contentType": "application/octet-stream",
         "content": ""},
        {"filename": "résumé 2024.pdf", "contentType": "application/pdf",
         "content": b64(b"%PDF-1.4")},
        {"filename": "日本語のファイル名.txt", "contentType": "text/plain",
         "content": b64("内容".encode())},
        {"filename": "ü" * 127 + "x", "contentType": "image/png",
         "content": b64(b"\x89PNG\r\n\x1a\n")},
        {"filename": "a" * 255, "contentType": "application/x-long",
         "content": b64(b"1")},
        {"filename": 'quote " and %41 percent; x=y.txt',
         "contentType": "text/plain", "content": b64(b"q")},
        {"filename": "inner   spaces kept.txt", "contentType": "text/plain",
         "content": b64(b"s")},
        {"filename": "=?utf-8?q?x?=.txt", "contentType": "text/plain",
         "content": b64(b"e")},
        {"filename": "exactly-sixty-four-octets-long-name-for-the-quoted-form.pdf",
         "contentType": "application/pdf", "content": b64(b"64")},
    ]
    for text, html in (("see attached", None), (None, "<p>attached</p>"),
                       ("both", "<p>both</p>")):
        req = req_of(text=text, html=html, attachments=atts)
        check(req, build(req))


# Random inputs

def random_text(rnd, n, header):
    pools = ["abcdefghij ", "ABC xyz", "0123456789", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
             "éüßøåñç", "Ωλπ", "中文字漢", "かなカナ", "🎉😀👍", "\u0301\u0308", " ", "=?", "From "]
    if not header:
        pools += ["\n", "\t", "\r\n", "\r"]
    out = "".join(rnd.choice(rnd.choice(pools)) for _ in range(n))
    return out


def test_random_requests():
    rnd = random.Random(2024)
    for _ in range(150):
        # Python's address parser collapses runs of spaces inside encoded
        # words (test_name_space_runs checks those with the RFC decoder).
        name = re.sub("  +", " ", random_text(rnd, rnd.randint(1, 12), True))
        subject = random_text(rnd, rnd.randint(1, 200), True)
        text = random_text(rnd, rnd.randint(1, 600), False)
        html = random_text(rnd, rnd.randint(1, 300), False)
        fname = "f" + re.sub(r"[/\\]", "_", random_text(
            rnd, rnd.randint(0, 40), True)) + ".x"
        data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 200)))
        req = req_of(**{
            "from": {"email": "a@example.com", "name": name},
            "to": [{"email": "b@example.org", "name": name}],
            "subject": subject,
            "text": text if rnd.random() < 0.8 else None,
            "html": html,
            "attachments": [{"filename": fname, "contentType": "application/x-y",
                             "content": b64(data)}] if rnd.random() < 0.5 else None,
        })
        check(req, build(req), 998)


# Rejections

@pytest.mark.parametrize("body,code,field", [
    (b"", "invalid_json", ""),
    (b"[]", "invalid_json", ""),
    (b'{"to":', "invalid_json", ""),
    (b'{"subject":"\xc3\x28"}', "invalid_utf8", ""),
    (b'{"subject":"a\\u0000b"}', "nul_character", ""),
    (b'{"subject":"\\ud800"}', "invalid_utf8", ""),
    (b"[" * 9 + b"]" * 9, "too_deep", ""),
])
def test_rejected_bodies(body, code, field):
    assert reject(body) == (code, field)


@pytest.mark.parametrize("change,code,field", [
    ({"to": None}, "missing_field", "to"),
    ({"subject": ""}, "invalid_subject", "subject"),
    ({"subject": "a\nBcc: x@example.com"}, "invalid_subject", "subject"),
    ({"subject": "line\u2028sep"}, "invalid_subject", "subject"),
    ({"subject": "x" * 201}, "invalid_subject", "subject"),
    ({"text": None}, "missing_body", ""),
    ({"to": "bad@@example.com"}, "invalid_address", "to"),
    ({"to": [{"email": "a@b"}]}, "invalid_address", "to[0].email"),
    ({"to": ["ok@example.com"] * 51}, "too_many_recipients", "to"),
    ({"headers": {"Bcc": "x@example.com"}}, "header_not_allowed", "headers.Bcc"),
    ({"headers": {"X-A": "a\r\nBcc: x@example.com"}}, "invalid_header",
     "headers.X-A"),
    ({"headers": {"X-Long": "x" * 1000}}, "invalid_header", "headers.X-Long"),
    ({"headers": {"Auto-Submitted": "yes"}}, "invalid_header",
     "headers.Auto-Submitted"),
    ({"headers": {"Auto-Submitted": "auto-replied; owner-email=a@b.example"}},
     "invalid_header", "headers.Auto-Submitted"),
    ({"cc": []}, "empty_array", "cc"),
    ({"attachments": [{"filename": "../x", "contentType": "text/plain",
                       "content": ""}]}, "invalid_attachment",
     "attachments[0].filename"),
    ({"attachments": [{"filename": "x", "contentType": "text/plain; a=b",
                       "content": ""}]}, "invalid_attachment",
     "attachments[0].contentType"),
    ({"attachments": [{"filename": "x",
                       "contentType": "application/pdf; charset=utf-8",
                       "content": ""}]}, "invalid_attachment",
     "attachments[0].contentType"),
    ({"attachments": [{"filename": "x",
                       "contentType": 'text/plain; charset="utf-8"',
                       "content": ""}]}, "invalid_attachment",
     "attachments[0].contentType"),
    ({"attachments": [{"filename": "x", "contentType": "text/plain",
                       "content": "QQ"}]}, "invalid_attachment",
     "attachments[0].content"),
    ({"attachments": [{"filename": " x", "contentType": "text/plain",
                       "content": ""}]}, "invalid_attachment",
     "attachments[0].filename"),
    ({"extra": 1}, "unknown_field", "extra"),
])
def test_rejected_requests(change, code, field):
    req = req_of()
    for k, v in change.items():
        if v is None:
            req.pop(k, None)
        else:
            req[k] = v
    assert reject(req) == (code, field)


def test_duplicate_key_rejected():
    body = (b'{"from":"a@example.com","to":"b@example.org","subject":"s",'
            b'"text":"t","to":"c@example.org"}')
    assert reject(body) == ("duplicate_key", "to")
