"""The real servers for the chain tests, each started from the shipped
configuration under conf/ with only machine-specific values (paths, ports)
replaced, and each stopped again by the test that started it.

Pieces: test certificates (openssl), nginx from conf/nginx, relay-fcgi and
spoold, a private Postfix instance from conf/postfix, OpenDKIM from
conf/opendkim with a key made at test time, and an aiosmtpd sink that
keeps what Postfix delivers."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
RELAY_FCGI = ROOT / "cgi" / "relay-fcgi"
RELAY_TOKEN = ROOT / "cgi" / "relay-token"
SPOOLD = ROOT / "spoold" / "spoold"
SPOOLCTL = ROOT / "spoold" / "spoolctl"
TRACKD = ROOT / "trackd" / "trackd"

SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
SERVER_NAME = "relay.example.com"
DOMAIN = "example.com"
SELECTOR = "mail"


def which(name):
    return shutil.which(name, path=SBIN_PATH)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, what="condition", interval=0.05):
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)    # the poll interval


def argv(cmd):
    """Strings, with the program found in sbin too (root's PATH may not be
    the test runner's)."""
    cmd = [str(c) for c in cmd]
    if "/" not in cmd[0]:
        cmd[0] = which(cmd[0]) or cmd[0]
    return cmd


def run(cmd, check=True, **kw):
    """Run a command, failing with its output when it fails."""
    p = subprocess.run(argv(cmd), capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, cmd)), p.returncode,
                                p.stdout, p.stderr))
    return p


def render(text, replacements, what):
    """Apply (regex, replacement) pairs to a shipped file's text.  Each
    pattern must match: a shipped file that changed shape fails loudly here
    instead of being tested with a value it no longer has."""
    for pattern, repl in replacements:
        text, n = re.subn(pattern, lambda m, r=repl: m.expand(r), text,
                          flags=re.MULTILINE)
        if n == 0:
            raise AssertionError("%s: no match for %r" % (what, pattern))
    return text


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return "(%s)" % e


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Procs:
    """Processes started in their own session, so that each can be stopped
    with its children by process group, and only those."""

    def __init__(self, logdir):
        self.logdir = Path(logdir)
        self.procs = {}
        self.final_signal = {}

    def start(self, name, cmd, final_signal=signal.SIGTERM, **kw):
        log = open(self.logdir / (name + ".log"), "ab")
        p = subprocess.Popen(argv(cmd), stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, **kw)
        log.close()
        self.procs[name] = p
        self.final_signal[name] = final_signal
        return p

    def log(self, name):
        return tail(self.logdir / (name + ".log"))

    def stop(self, name, sig=signal.SIGTERM, timeout=10.0):
        p = self.procs.pop(name, None)
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)

    def stop_all(self):
        """Cleanup: each with the signal given at start."""
        for name in list(self.procs):
            self.stop(name, self.final_signal.get(name, signal.SIGTERM),
                      timeout=5.0)


def make_base(prefix):
    """A private directory that is not below a world-writable one: OpenDKIM
    refuses keys under /tmp.  /run is root's tmpfs on Debian."""
    parent = "/run" if os.access("/run", os.W_OK) else None
    base = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(base, 0o755)
    return base


def remove_base(base):
    if os.environ.get("MAIL_RELAY_KEEP_TEST_DIRS"):
        return
    shutil.rmtree(base, ignore_errors=True)


# --- certificates ------------------------------------------------------------

CA_CNF = """\
[ca]
default_ca = test_ca
[test_ca]
database = {db}/index.txt
new_certs_dir = {db}
serial = {db}/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
organizationName = optional
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:{server_name}, IP:127.0.0.1
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
"""


class Pki:
    """A client CA, a server certificate it signs, and client certificates:
    good, burst and elsewhere (more good ones, for the rate limit), expired,
    and one from a foreign CA with the same subject as the good one."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(mode=0o700, exist_ok=True)
        self._ca("ca", "/O=mail-relay test/CN=Test Client CA")
        self._ca("foreign-ca", "/O=mail-relay test/CN=Foreign CA")
        self.server = self._leaf("ca", "server", "/CN=" + SERVER_NAME,
                                 "server_ext")
        self.good = self._leaf("ca", "good", "/O=mail-relay test/CN=app-good",
                               "client_ext")
        self.burst = self._leaf("ca", "burst",
                                "/O=mail-relay test/CN=app-burst",
                                "client_ext")
        self.elsewhere = self._leaf("ca", "elsewhere",
                                    "/O=mail-relay test/CN=app-elsewhere",
                                    "client_ext")
        self.expired = self._leaf("ca", "expired",
                                  "/O=mail-relay test/CN=app-expired",
                                  "client_ext",
                                  dates=("20200101000000Z",
                                         "20200102000000Z"))
        self.foreign = self._leaf("foreign-ca", "foreign",
                                  "/O=mail-relay test/CN=app-good",
                                  "client_ext")
        self.ca_crt = self.dir / "ca.crt"

    def _key_req(self, name, subject):
        run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", self.dir / (name + ".key"),
             "-out", self.dir / (name + ".csr"), "-subj", subject])

    def _ca(self, name, subject):
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", self.dir / (name + ".key"),
             "-out", self.dir / (name + ".crt"), "-days", "2",
             "-subj", subject,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        db = self.dir / (name + ".db")
        db.mkdir()
        (db / "index.txt").write_text("")
        (db / "serial").write_text("%x\n" % (0x1000 + len(name)))
        (self.dir / (name + ".cnf")).write_text(
            CA_CNF.format(db=db, server_name=SERVER_NAME))

    def _leaf(self, ca, name, subject, ext, dates=None):
        self._key_req(name, subject)
        cmd = ["openssl", "ca", "-batch", "-notext",
               "-config", self.dir / (ca + ".cnf"),
               "-cert", self.dir / (ca + ".crt"),
               "-keyfile", self.dir / (ca + ".key"),
               "-in", self.dir / (name + ".csr"),
               "-out", self.dir / (name + ".crt"), "-extensions", ext]
        if dates:
            cmd += ["-startdate", dates[0], "-enddate", dates[1]]
        else:
            cmd += ["-days", "2"]
        run(cmd)
        return (str(self.dir / (name + ".crt")),
                str(self.dir / (name + ".key")))

    def serial(self, cert):
        out = run(["openssl", "x509", "-noout", "-serial", "-in",
                   cert[0]]).stdout
        return out.strip().split("=", 1)[1]


# --- HTTPS client ------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name)

    def __repr__(self):
        return "<%d %r %r>" % (self.status, dict(self.headers),
                               self.body[:300])


def https(port, method, path, pki, cert=None, body=None, headers=None,
          source="127.0.0.1", timeout=15):
    """One request on a fresh connection (so each is a new TLS handshake)
    from `source` to 127.0.0.1:port, presenting `cert` if given."""
    ctx = ssl.create_default_context(cafile=str(pki.ca_crt))
    if cert:
        ctx.load_cert_chain(cert[0], cert[1])
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                       timeout=timeout,
                                       source_address=(source, 0))
    try:
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.headers, data)
    finally:
        conn.close()


# --- nginx -------------------------------------------------------------------

class Nginx:
    """nginx from conf/nginx/nginx.conf + conf/nginx/mail-relay.conf.  Only
    the listen address, file paths, the worker user and the temp paths are
    replaced; `optional` switches ssl_verify_client to the documented mixed
    variant."""

    def __init__(self, base, procs, pki, fcgi_socket, name="nginx",
                 optional=False):
        self.procs = procs
        self.name = name
        self.port = free_port()
        self.metrics_port = free_port()
        self.dir = Path(base) / name
        self.logs = self.dir / "logs"
        self.logs.mkdir(parents=True)
        conf = self.dir / "conf"
        conf.mkdir()
        shutil.copy("/etc/nginx/fastcgi_params", conf / "fastcgi_params")
        subst = [
            (r"^(\s*)listen 443 ssl;", r"\g<1>listen 127.0.0.1:%d ssl;"
             % self.port),
            (r"^\s*listen \[::\]:443 ssl;\n", ""),
            (r"^(\s*)listen 127\.0\.0\.1:9425;", r"\g<1>listen 127.0.0.1:%d;"
             % self.metrics_port),
            (r"/etc/mail-relay/tls/server\.crt", pki.server[0]),
            (r"/etc/mail-relay/tls/server\.key", pki.server[1]),
            (r"/etc/mail-relay/tls/client-ca\.crt", str(pki.ca_crt)),
            (r"unix:/run/mail-relay/relay-fcgi\.sock", "unix:%s"
             % fcgi_socket),
            (r"/var/log/nginx/", "%s/" % self.logs),
        ]
        if optional:
            subst.append((r"^(\s*ssl_verify_client\s+)on;",
                          r"\g<1>optional;"))
        inc = render((CONF / "nginx" / "mail-relay.conf").read_text(), subst,
                     "conf/nginx/mail-relay.conf")
        (conf / "mail-relay.conf").write_text(inc)
        temp = "\n".join("    %s_temp_path %s/%s;" % (t, self.dir, t)
                         for t in ("client_body", "fastcgi", "proxy",
                                   "uwsgi", "scgi"))
        main = render((CONF / "nginx" / "nginx.conf").read_text(), [
            (r"^user www-data;", "user root;"),
            (r"/run/nginx\.pid", str(self.dir / "nginx.pid")),
            (r"/var/log/nginx/", "%s/" % self.logs),
            (r"include /etc/nginx/conf\.d/mail-relay\.conf;",
             "include %s;" % (conf / "mail-relay.conf")),
            (r"^http \{", "http {\n" + temp),
        ], "conf/nginx/nginx.conf")
        self.conf = conf / "nginx.conf"
        self.conf.write_text(main)
        self.access_log = self.logs / "mail-relay.access.log"
        self.error_log = self.logs / "mail-relay.error.log"

    def argv(self):
        return ["nginx", "-e", self.logs / "startup.log", "-p", self.dir,
                "-c", self.conf]

    def test_config(self):
        return run(self.argv() + ["-t"], check=False)

    def start(self):
        p = self.procs.start(self.name, self.argv() + ["-g", "daemon off;"])

        def up():
            if p.poll() is not None:
                raise AssertionError("nginx exited %s:\n%s\n%s" % (
                    p.returncode, self.procs.log(self.name),
                    tail(self.logs / "startup.log")))
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        wait_for(up, 10, "nginx on port %d" % self.port)
        return self

    def access_lines(self):
        try:
            return self.access_log.read_text().splitlines()
        except FileNotFoundError:
            return []

    def new_access_line(self, before):
        """The first line logged after `before` lines: nginx writes it after
        the answer is sent, so wait for it."""
        lines = wait_for(lambda: self.access_lines()[before:], 5,
                         "nginx's access log line")
        return lines[0]

    def stop(self):
        self.procs.stop(self.name, signal.SIGQUIT)


# --- relay-fcgi and spoold ---------------------------------------------------

class Relay:
    """relay.conf, a tokens file with one caller, a spool; relay-fcgi on a
    unix socket and, on demand, spoold."""

    def __init__(self, base, procs, senders=("app@" + DOMAIN,),
                 sendmail="/bin/false", caller="app"):
        self.procs = procs
        self.dir = Path(base) / "relay"
        self.dir.mkdir(mode=0o700)
        self.spool = self.dir / "spool"
        self.spool.mkdir(mode=0o700)
        for d in ("tmp", "pending", "processing", "held", "failed", "idem"):
            (self.spool / d).mkdir(mode=0o700)
        self.socket = self.dir / "relay-fcgi.sock"
        self.caller = caller
        out = run([RELAY_TOKEN, caller] + list(senders)).stdout.splitlines()
        lines = [line for line in out if line.strip()]
        self.token = lines[0].strip()
        self.tokens = self.dir / "tokens"
        fd = os.open(self.tokens, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(lines[1] + "\n")
        self.conf = self.dir / "relay.conf"
        self.conf.write_text(
            "spool = %s\n"
            "tokens = %s\n"
            "message_id_domain = %s\n"
            "max_body = 512k\n"
            "workers = 4\n"
            "sendmail = %s\n"
            "sendmail_timeout = 20s\n"
            "backoff_initial = 1s\n"
            "backoff_max = 2s\n"
            % (self.spool, self.tokens, DOMAIN, sendmail))

    def auth(self):
        return {"Authorization": "Bearer " + self.token}

    def start_fcgi(self):
        p = self.procs.start("relay-fcgi", [RELAY_FCGI, "-d", "-c", self.conf,
                                            "-s", self.socket])

        def up():
            if p.poll() is not None:
                raise AssertionError("relay-fcgi exited %s:\n%s"
                                     % (p.returncode,
                                        self.procs.log("relay-fcgi")))
            return self.socket.exists()
        wait_for(up, 10, "relay-fcgi socket")
        return self

    def start_spoold(self):
        logpath = self.procs.logdir / "spoold.log"

        def starts():
            try:
                return logpath.read_text(errors="replace").count("started:")
            except OSError:
                return 0
        before = starts()
        p = self.procs.start("spoold", [SPOOLD, "-d", "-c", self.conf])

        def up():
            if p.poll() is not None:
                raise AssertionError("spoold exited %s:\n%s"
                                     % (p.returncode,
                                        self.procs.log("spoold")))
            return starts() > before
        wait_for(up, 10, "spoold start")
        return self

    def jobs(self, state):
        return sorted(os.listdir(self.spool / state))

    def spool_empty(self):
        return not any(self.jobs(s) for s in
                       ("tmp", "pending", "processing", "held", "failed"))


# --- SMTP sink ---------------------------------------------------------------

class Sink:
    """A loopback SMTP server (aiosmtpd) that keeps every message: the
    envelope and the raw bytes as received.  `answers` maps a recipient
    address (lower case) to the reply its RCPT TO gets, e.g. "550 5.1.1
    <b@dest.test>: no such user here" or "451 4.3.0 try again later";
    every other recipient is accepted.  Tests change it while running."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        self.messages = []
        self.answers = {}
        self.rcpt_count = {}    # address (lower case) -> RCPT TOs seen
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address,
                                  rcpt_options):
                with sink.lock:
                    answer = sink.answers.get(address.lower())
                    sink.rcpt_count[address.lower()] = \
                        sink.rcpt_count.get(address.lower(), 0) + 1
                if answer and not answer.startswith("250"):
                    return answer
                envelope.rcpt_tos.append(address)
                return "250 2.1.5 Ok"

            async def handle_DATA(self, server, session, envelope):
                raw = envelope.original_content or envelope.content
                with sink.lock:
                    sink.messages.append({
                        "mail_from": envelope.mail_from,
                        "rcpt_tos": list(envelope.rcpt_tos),
                        "data": raw,
                    })
                return "250 2.0.0 Ok: kept"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1",
                                     port=self.port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def find(self, needle):
        with self.lock:
            for m in self.messages:
                if needle.encode() in m["data"]:
                    return m
        return None

    def wait(self, needle, timeout=20):
        return wait_for(lambda: self.find(needle), timeout,
                        "a message containing %r at the sink" % needle)


# --- OpenDKIM ----------------------------------------------------------------

class OpenDkim:
    """OpenDKIM from conf/opendkim with a key made by opendkim-genkey.  Only
    paths are replaced.  The run directory is setgid to the postfix group, so
    the socket (mode 0770 from the shipped UMask) is reachable by Postfix as
    it is in production through `adduser postfix opendkim`, without changing
    this machine's groups."""

    def __init__(self, base, procs):
        self.procs = procs
        self.dir = Path(base) / "opendkim"
        self.dir.mkdir(mode=0o755)
        self.keys = self.dir / "keys"
        self.keys.mkdir(mode=0o700)
        self.rundir = self.dir / "run"
        self.rundir.mkdir(mode=0o750)
        self.socket = self.rundir / "opendkim.sock"
        run(["opendkim-genkey", "-b", "1024", "-d", DOMAIN, "-s", SELECTOR,
             "-D", self.keys])
        key = self.keys / (SELECTOR + ".private")
        shutil.chown(key, "opendkim", "opendkim")
        os.chmod(key, 0o600)
        shutil.chown(self.keys, "opendkim", "opendkim")
        shutil.chown(self.rundir, "opendkim", "postfix")
        os.chmod(self.rundir, 0o2770)
        self.txt = self._txt_record((self.keys / (SELECTOR + ".txt"))
                                    .read_text())
        src = CONF / "opendkim"
        paths = [(r"/etc/opendkim/", "%s/" % self.dir),
                 (r"/etc/dkimkeys/", "%s/" % self.keys),
                 (r"/run/opendkim/", "%s/" % self.rundir)]
        self.conf = self.dir / "opendkim.conf"
        self.conf.write_text(render((src / "opendkim.conf").read_text(),
                                    paths[:1] + paths[2:],
                                    "conf/opendkim/opendkim.conf"))
        (self.dir / "KeyTable").write_text(
            render((src / "KeyTable").read_text(), paths[1:2],
                   "conf/opendkim/KeyTable"))
        for name in ("SigningTable", "TrustedHosts"):
            shutil.copy(src / name, self.dir / name)

    @staticmethod
    def _txt_record(text):
        """The TXT value from opendkim-genkey's zone snippet."""
        return "".join(re.findall(r'"([^"]*)"', text)).encode()

    def dnsfunc(self, name, timeout=5):
        if name.rstrip(b".") == ("%s._domainkey.%s" % (SELECTOR, DOMAIN)
                                 ).encode():
            return self.txt
        return None

    def check_config(self):
        return run(["opendkim", "-n", "-x", self.conf], check=False)

    def start(self):
        # At cleanup a test instance is killed: SIGTERM takes it ~5 s.
        p = self.procs.start("opendkim", ["opendkim", "-f", "-x", self.conf],
                             final_signal=signal.SIGKILL)

        def up():
            if p.poll() is not None:
                raise AssertionError("opendkim exited %s:\n%s"
                                     % (p.returncode,
                                        self.procs.log("opendkim")))
            return self.socket.exists()
        wait_for(up, 10, "the OpenDKIM socket")
        return self

    def stop(self):
        self.procs.stop("opendkim", signal.SIGTERM, timeout=10)
        try:
            self.socket.unlink()
        except FileNotFoundError:
            pass


# --- Postfix -----------------------------------------------------------------

class Postfix:
    """A private Postfix instance (postfix -c DIR) from conf/postfix: the
    shipped main.cf and master.cf, then postconf -e for what a test machine
    needs instead (its own queue, a log file, the sink as relayhost, the test
    OpenDKIM socket, and the loopback listener on a free port)."""

    def __init__(self, base, sink_port, milter_socket):
        self.base = Path(base)
        self.dir = self.base / "postfix"
        self.dir.mkdir()
        self.queue = self.base / "postfix-queue"
        self.queue.mkdir(mode=0o755)
        self.logdir = self.base / "postfix-log"
        self.logdir.mkdir(mode=0o755)
        self.maillog = self.logdir / "maillog"
        self.smtp_port = free_port()
        shutil.copy(CONF / "postfix" / "main.cf", self.dir / "main.cf")
        master = render((CONF / "postfix" / "master.cf").read_text(), [
            (r"^smtp(\s+)inet ", "127.0.0.1:%d inet " % self.smtp_port),
        ], "conf/postfix/master.cf")
        (self.dir / "master.cf").write_text(master)
        self.postconf(
            "queue_directory=%s" % self.queue,
            # not pre-created: Postfix makes it, owned by postfix
            "data_directory=%s" % (self.base / "postfix-data"),
            "maillog_file=%s" % self.maillog,
            "maillog_file_prefixes=%s" % self.logdir,
            "relayhost=[127.0.0.1]:%d" % sink_port,
            "smtpd_milters=unix:%s" % milter_socket,
            # retry fast where the tests wait for a retry
            "queue_run_delay=1s", "minimal_backoff_time=1s",
            "maximal_backoff_time=2s",
        )

    def postconf(self, *settings):
        run(["postconf", "-c", self.dir, "-e"] + list(settings))

    def cmd(self, *args, check=True):
        return run(["postfix", "-c", self.dir] + list(args), check=check)

    def master_pid(self):
        try:
            return int((self.queue / "pid" / "master.pid").read_text())
        except (OSError, ValueError):
            return None

    def running(self):
        pid = self.master_pid()
        return pid is not None and pid_alive(pid)

    def start(self):
        self.cmd("start")
        wait_for(self.running, 10, "the Postfix master")
        return self

    def stop(self):
        pid = self.master_pid()
        if pid is None or not pid_alive(pid):
            return
        self.cmd("stop", check=False)
        try:
            wait_for(lambda: not pid_alive(pid), 10, "the Postfix master "
                     "to exit")
        except AssertionError:
            # master runs in its own session: its group holds its children
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def sendmail_argv(self):
        return ["/usr/sbin/sendmail", "-C", str(self.dir)]

    def kick(self):
        """Wake pickup (maildrop) and flush the deferred queue."""
        run(["postqueue", "-c", self.dir, "-f"], check=False)
        run(["postkick", "-c", self.dir, "public", "pickup", "W"],
            check=False)

    def log(self):
        return tail(self.maillog, 60)
