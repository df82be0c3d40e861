"""The operator's path: the README's examples run as shown against
`make run`, relay-token without a terminal, the one rule for the tokens
file's mode, and the modes `make install` gives /etc/mail-relay."""

import email
import email.policy
import hashlib
import os
import re
import select
import signal
import stat
import subprocess
import tempfile
import time

import pytest
import requests

from relaystack import (RELAY_FCGI, RELAY_TOKEN, ROOT, Stack, free_port,
                        wait_for)

EX_CANTCREAT = 73
EX_IOERR = 74
EX_CONFIG = 78


def readme_block(after):
    """The first ```sh block of the README that follows the line `after`."""
    with open(os.path.join(ROOT, "README")) as f:
        text = f.read()
    start = text.index(after)
    m = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M).search(text, start)
    assert m, "no sh block after %r" % after
    return m.group(1)


# --- the README against make run -------------------------------------------

class MakeRun:
    """conf/dev/run.sh (what `make run` starts once the programs are built)
    with its run/ directory under a temporary directory, which also links
    cgi/ and spoold/ so that the README's relative paths work there."""

    def __init__(self):
        self.top = tempfile.mkdtemp(prefix="make-run-")
        for d in ("cgi", "spoold"):
            os.symlink(os.path.join(ROOT, d), os.path.join(self.top, d))
        self.run = os.path.join(self.top, "run")
        self.port = free_port()
        env = dict(os.environ, PORT=str(self.port), RUN=self.run)
        self.proc = subprocess.Popen(
            ["sh", os.path.join(ROOT, "conf", "dev", "run.sh")], cwd=ROOT,
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.output = self._read_until("Ctrl-C stops everything.")
        url = "http://127.0.0.1:%d/health" % self.port
        wait_for(lambda: self._health(url), 10, "make run's /health")

    def _read_until(self, marker, timeout=20):
        out = b""
        end = time.time() + timeout
        while marker.encode() not in out:
            left = end - time.time()
            assert left > 0 and self.proc.poll() is None, out.decode()
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                assert chunk, out.decode()
                out += chunk
        return out.decode()

    @staticmethod
    def _health(url):
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def sh(self, script):
        """Runs a README block as the operator pastes it: in the directory
        that holds run/, against this instance's port."""
        script = script.replace("127.0.0.1:8025", "127.0.0.1:%d" % self.port)
        return subprocess.run(["sh", "-e", "-c", script], cwd=self.top,
                              capture_output=True, text=True, timeout=30)

    def emls(self):
        box = os.path.join(self.run, "outbox")
        return sorted(f for f in os.listdir(box) if f.endswith(".eml"))

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc.stdout.close()
        subprocess.run(["rm", "-rf", self.top])


@pytest.fixture
def make_run():
    m = MakeRun()
    try:
        yield m
    finally:
        m.close()


def test_readme_request_runs_against_make_run(make_run):
    block = readme_block("## The request")
    assert "127.0.0.1:8025" in block and "run/token" in block
    r = make_run.sh(block)
    assert r.returncode == 0, r.stderr
    assert '"ok":true' in r.stdout and '"queued":true' in r.stdout, r.stdout
    job = re.search(r'"id":"([^"]+)"', r.stdout).group(1)

    # Sent again: the same id, nothing more queued (as the README says).
    again = make_run.sh(block)
    assert '"duplicate":true' in again.stdout, again.stdout
    assert job in again.stdout

    # Delivered, and the spool empty: a duplicate would be in it or in
    # the outbox.
    spool = os.path.join(make_run.run, "spool")
    wait_for(lambda: make_run.emls() and not any(
        os.listdir(os.path.join(spool, d))
        for d in ("tmp", "pending", "processing")), 10,
        "the message in run/outbox and an empty spool")
    emls = make_run.emls()
    assert len(emls) == 1, emls
    box = os.path.join(make_run.run, "outbox")
    with open(os.path.join(box, emls[0]), "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    assert msg["From"].addresses[0].addr_spec == "app@example.com"
    assert "Bcc" not in msg and msg["X-Order"] == "1234"
    parts = {p.get_filename(): p for p in msg.iter_attachments()}
    assert parts["invoice.pdf"].get_content_type() == "application/pdf"
    assert parts["invoice.pdf"].get_content() == b"%PDF-1.4\n%%EOF\n"
    with open(os.path.join(box, emls[0][:-4] + ".env")) as f:
        envelope = f.read().split()
    assert "audit@example.com" in envelope and "bob@example.net" in envelope

    # The README's next block: the outbox and spoolctl.
    r = make_run.sh(readme_block("The message is in"))
    assert r.returncode == 0, r.stderr
    assert emls[0] in r.stdout and re.search(r"^pending\s+0$", r.stdout, re.M)


def test_make_run_prints_a_curl_that_works(make_run):
    m = re.search(r"^(curl .*?\}')$", make_run.output, re.S | re.M)
    assert m, make_run.output
    r = make_run.sh(m.group(1))
    assert r.returncode == 0 and " 202 " in r.stdout.splitlines()[0], \
        r.stdout + r.stderr
    assert "example.org" not in make_run.output


# --- relay-token without a terminal ----------------------------------------

def no_tty(argv, **kw):
    """argv with no controlling terminal and stdin from /dev/null, as over
    `ssh host cmd`, Ansible or cloud-init."""
    return subprocess.run(argv, stdin=subprocess.DEVNULL,
                          start_new_session=True, **kw)


def test_relay_token_to_a_file(tmp_path):
    path = tmp_path / "shop.token"
    old = os.umask(0)
    try:
        r = no_tty([RELAY_TOKEN, "-o", str(path), "shop", "app@example.com"],
                   capture_output=True, text=True)
    finally:
        os.umask(old)
    assert r.returncode == 0 and r.stderr == ""
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = path.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}\n", token)
    # stdout: the tokens-file line alone, for the token in the file
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    assert r.stdout == "shop sha256:%s app@example.com\n" % digest


def test_relay_token_file_is_never_replaced(tmp_path):
    path = tmp_path / "shop.token"
    path.write_text("keep\n")
    r = no_tty([RELAY_TOKEN, "-o", str(path), "shop", "app@example.com"],
               capture_output=True, text=True)
    assert r.returncode == EX_CANTCREAT and r.stdout == ""
    assert str(path) in r.stderr and r.stderr.count("\n") == 1
    assert path.read_text() == "keep\n"
    link = tmp_path / "link"
    os.symlink(tmp_path / "elsewhere", link)
    r = no_tty([RELAY_TOKEN, "-o", str(link), "shop", "app@example.com"],
               capture_output=True, text=True)
    assert r.returncode == EX_CANTCREAT and not (tmp_path / "elsewhere").exists()


def test_relay_token_unwritable_stdout_leaves_no_token_file(tmp_path):
    path = tmp_path / "shop.token"
    with open("/dev/full", "w") as full:
        r = no_tty([RELAY_TOKEN, "-o", str(path), "shop", "app@example.com"],
                   stdout=full, stderr=subprocess.PIPE, text=True)
    assert r.returncode == EX_IOERR and "standard output" in r.stderr
    assert not path.exists()


def test_relay_token_without_option_and_without_tty():
    r = no_tty([RELAY_TOKEN, "shop", "app@example.com"], capture_output=True,
               text=True)
    token, line = r.stdout.splitlines()
    assert r.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}", token)
    assert line.startswith("shop sha256:")
    r = no_tty([RELAY_TOKEN, "-o"], capture_output=True, text=True)
    assert r.returncode == 64 and "usage" in r.stderr


# --- the tokens file's mode: one rule, one hint ------------------------------

def test_tokens_mode_error_names_the_mode_that_works():
    s = Stack()
    try:
        os.chmod(s.tokens_path, 0o644)
        sock = os.path.join(s.dir, "probe.sock")
        r = subprocess.run([RELAY_FCGI, "-d", "-c", s.conf_path, "-s", sock],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == EX_CONFIG
        assert "chmod 0640" in r.stderr and "root:mail-relay" in r.stderr
        assert "0600" not in r.stderr
    finally:
        s.close()


# --- make install ------------------------------------------------------------

def test_make_install_modes_and_paths(tmp_path):
    dest = tmp_path / "dest"
    r = subprocess.run(["make", "-s", "install", "DESTDIR=%s" % dest,
                        "PREFIX=/usr"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr

    def mode(p):
        return stat.S_IMODE(os.stat(dest / p).st_mode)
    assert mode("etc/mail-relay") == 0o750
    assert mode("etc/mail-relay/relay.conf") == 0o640
    assert mode("etc/mail-relay/tokens") == 0o640
    assert os.path.getsize(dest / "etc/mail-relay/tokens") == 0
    for prog in ("relay-fcgi", "relay-token", "spoold", "spoolctl"):
        assert mode("usr/sbin/" + prog) == 0o755
    units = sorted(os.listdir(dest / "etc/systemd/system"))
    assert {"relay-fcgi.service", "relay-fcgi.socket",
            "spoold.service"} <= set(units)
    for u in units:
        text = (dest / "etc/systemd/system" / u).read_text()
        settings = [ln for ln in text.splitlines()
                    if ln and not ln.startswith("#")]
        assert not [ln for ln in settings if "/usr/local" in ln], u
        for exe in re.findall(r"^ExecStart=(\S+)", text, re.M):
            assert exe.startswith("/usr/sbin/") and \
                os.path.exists(str(dest) + exe), (u, exe)
    assert (dest / "etc/tmpfiles.d/mail-relay.conf").exists()
    assert (dest / "etc/sysusers.d/mail-relay.conf").exists()
    # An operator's relay.conf and tokens survive the next install.
    (dest / "etc/mail-relay/relay.conf").write_text("spool = /x\n")
    (dest / "etc/mail-relay/tokens").write_text("shop sha256:00 a@b.c\n")
    r = subprocess.run(["make", "-s", "install", "DESTDIR=%s" % dest,
                        "PREFIX=/usr"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (dest / "etc/mail-relay/relay.conf").read_text() == "spool = /x\n"
    assert (dest / "etc/mail-relay/tokens").read_text() == \
        "shop sha256:00 a@b.c\n"
