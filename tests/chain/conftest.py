"""Fixtures for the tests that run the real servers from conf/.

Everything is started here, without systemd, on loopback and under private
directories, and stopped and removed again however the tests end.  Set
MAIL_RELAY_KEEP_TEST_DIRS=1 to keep the directories for a post-mortem."""

import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chainstack as ch  # noqa: E402

# Directories whose *.log files are shown when a test fails.
LOG_DIRS = []


def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: starts Postfix and OpenDKIM, which switch "
                    "users, and nginx workers reading root-owned test files")


def require_tools(*names):
    missing = [n for n in names if not ch.which(n)]
    if missing:
        pytest.skip("not installed: %s (conf/dev/deps.sh installs them)"
                    % ", ".join(missing))


def require_modules(*names):
    import importlib
    for n in names:
        try:
            importlib.import_module(n)
        except ImportError:
            pytest.skip("python module %s missing (Debian package "
                        "python3-%s; run with /usr/bin/python3)" % (n, n))


def require_built():
    for p in (ch.RELAY_FCGI, ch.RELAY_TOKEN, ch.SPOOLD):
        if not os.access(p, os.X_OK):
            pytest.skip("%s is not built (run make)" % p.relative_to(ch.ROOT))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        for d in LOG_DIRS:
            for log in sorted(Path(d).rglob("*.log")) + \
                    sorted(Path(d).rglob("maillog")):
                rep.sections.append(("log " + str(log), ch.tail(log, 30)))


@pytest.fixture
def scratch():
    """A temporary directory removed after the test (pytest's tmp_path
    keeps the last runs' directories)."""
    with tempfile.TemporaryDirectory(prefix="mail-relay-test-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def pki():
    require_tools("openssl")
    base = ch.make_base("mail-relay-pki-")
    try:
        yield ch.Pki(base / "pki")
    finally:
        ch.remove_base(base)


class Entry:
    """relay-fcgi behind three nginx instances built from conf/nginx:
    `on` (the shipped file), `optional` (the documented mixed variant) and
    `down` (pointing at a socket nobody serves)."""


@pytest.fixture(scope="module")
def entry(pki):
    require_root()
    require_tools("nginx")
    require_built()
    base = ch.make_base("mail-relay-entry-")
    LOG_DIRS.append(base)
    procs = ch.Procs(base)
    e = Entry()
    e.pki = pki
    try:
        e.relay = ch.Relay(base, procs).start_fcgi()
        e.on = ch.Nginx(base, procs, pki, e.relay.socket, "nginx-on")
        e.optional = ch.Nginx(base, procs, pki, e.relay.socket,
                              "nginx-optional", optional=True)
        e.down = ch.Nginx(base, procs, pki, base / "nobody.sock",
                          "nginx-down")
        for n in (e.on, e.optional, e.down):
            n.start()
        yield e
    finally:
        procs.stop_all()
        LOG_DIRS.remove(base)
        ch.remove_base(base)


class Chain:
    """HTTPS+mTLS -> nginx -> relay-fcgi -> spool -> spoold -> Postfix's
    sendmail -> Postfix (+ OpenDKIM) -> the SMTP sink."""


@pytest.fixture(scope="module")
def chain(pki):
    require_root()
    require_tools("nginx", "postfix", "postconf", "postkick", "sendmail",
                  "opendkim", "opendkim-genkey")
    require_modules("dkim", "aiosmtpd")
    require_built()
    base = ch.make_base("mail-relay-chain-")
    LOG_DIRS.append(base)
    procs = ch.Procs(base)
    c = Chain()
    c.pki = pki
    c.sink = None
    c.postfix = None
    try:
        c.sink = ch.Sink().start()
        c.dkim = ch.OpenDkim(base, procs)
        c.postfix = ch.Postfix(base, c.sink.port, c.dkim.socket)
        c.dkim.start()
        c.postfix.start()
        c.relay = ch.Relay(base, procs,
                           sendmail=" ".join(c.postfix.sendmail_argv()))
        c.relay.start_fcgi()
        c.relay.start_spoold()
        c.nginx = ch.Nginx(base, procs, pki, c.relay.socket).start()
        yield c
    finally:
        if c.postfix:
            c.postfix.stop()
        procs.stop_all()
        if c.sink:
            c.sink.stop()
        LOG_DIRS.remove(base)
        ch.remove_base(base)
