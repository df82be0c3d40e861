"""Start the relay for tests: relay-fcgi behind a real nginx on loopback,
optionally spoold, each with its own config, tokens, spool and logs under a
temporary directory."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import requests

from spoolhelp import FAKE, parse_job

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELAY_FCGI = os.path.join(ROOT, "cgi", "relay-fcgi")
RELAY_TOKEN = os.path.join(ROOT, "cgi", "relay-token")
SPOOLD = os.path.join(ROOT, "spoold", "spoold")
SPOOLCTL = os.path.join(ROOT, "spoold", "spoolctl")
FAKE_SENDMAIL = FAKE
NGINX = "/usr/sbin/nginx"

NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
worker_rlimit_nofile {nginx_files};
events {{ worker_connections {nginx_connections}; }}
http {{
    log_format relay '$remote_addr "$request" $status $body_bytes_sent '
                     'caller=$upstream_http_x_relay_caller id=$upstream_http_x_relay_id';
    access_log {dir}/access.log relay;
    client_body_temp_path {dir}/body;
    fastcgi_temp_path {dir}/fastcgi;
    proxy_temp_path {dir}/proxy;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size {nginx_max_body};
    server {{
        listen 127.0.0.1:{port};
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:{dir}/relay.sock;
        }}
    }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.02)        # the poll interval
    raise AssertionError("timed out waiting for " + what)


def connections(pid):
    """How many connections pid has open: the accepted ends of its unix
    socket connections (connected, carrying the listening socket's path,
    which a connecting end and a socketpair do not) and its TCP sockets
    that are not listening; matched by inode in /proc/net."""
    conn = set()
    for table in ("unix", "tcp", "tcp6"):
        try:
            with open("/proc/net/" + table) as f:
                next(f)
                for line in f:
                    c = line.split()
                    if table == "unix":
                        if len(c) >= 8 and c[5] == "03":
                            conn.add(c[6])
                    elif c[3] != "0A":
                        conn.add(c[9])
        except OSError:
            pass
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in conn:
            n += 1
    return n


def make_token(name, *senders):
    out = subprocess.run([RELAY_TOKEN, name, *senders], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    return out[0], out[1]


class Stack:
    """nginx -> relay-fcgi (-> spoold -> fake sendmail) in one directory."""

    def __init__(self, conf=None, senders=("app@example.org",), workers=4,
                 nginx_max_body="4m", nginx_connections=1024):
        self.dir = tempfile.mkdtemp(prefix="relay-test-")
        os.chmod(self.dir, 0o755)
        self.spool = os.path.join(self.dir, "spool")
        self.outbox = os.path.join(self.dir, "outbox")
        os.mkdir(self.outbox)
        self.tokens_path = os.path.join(self.dir, "tokens")
        self.token, line = make_token("app", *senders)
        self.other_token, other = make_token("other", "other@example.net")
        self.write_tokens(line + "\n" + other + "\n")
        self.conf_path = os.path.join(self.dir, "relay.conf")
        settings = {
            "spool": self.spool,
            "tokens": self.tokens_path,
            "message_id_domain": "relay.test",
            "sendmail": "%s -D %s" % (FAKE_SENDMAIL, self.outbox),
            "sendmail_timeout": "5s",
            "backoff_initial": "1s",
            "backoff_max": "2s",
        }
        settings.update(conf or {})
        self.write_conf(settings)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.workers = workers
        self.nginx_max_body = nginx_max_body
        self.nginx_connections = nginx_connections
        self.procs = {}

    # files -------------------------------------------------------------
    def write_tokens(self, text, mode=0o600):
        with open(self.tokens_path, "w") as f:
            f.write(text)
        os.chmod(self.tokens_path, mode)

    def write_conf(self, settings):
        with open(self.conf_path, "w") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))

    # processes ---------------------------------------------------------
    def start_fcgi(self, inherit=False):
        """relay-fcgi on relay.sock: opened by itself with -s, or, with
        inherit, a listening socket handed over on fd 0 as systemd and
        spawn-fcgi do."""
        sock = os.path.join(self.dir, "relay.sock")
        # The socket of an earlier run may still be there: up is when this
        # run says it serves.
        before = self.log("relay-fcgi.log").count("serving with")
        log = open(os.path.join(self.dir, "relay-fcgi.log"), "ab")
        argv = [RELAY_FCGI, "-d", "-c", self.conf_path, "-n",
                str(self.workers)]
        if inherit:
            lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            lsock.bind(sock)
            lsock.listen(128)
            p = subprocess.Popen(argv, stdin=lsock, stdout=log, stderr=log)
            lsock.close()
        else:
            p = subprocess.Popen(argv + ["-s", sock], stdout=log, stderr=log)
        self.procs["fcgi"] = p
        log.close()
        wait_for(lambda: p.poll() is not None or
                 self.log("relay-fcgi.log").count("serving with") > before,
                 what="relay-fcgi serving")
        assert p.poll() is None, self.log("relay-fcgi.log")
        return p

    def start_nginx(self):
        for d in ("body", "fastcgi", "proxy", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(
                dir=self.dir, port=self.port,
                nginx_max_body=self.nginx_max_body,
                nginx_connections=self.nginx_connections,
                nginx_files=2 * self.nginx_connections + 64))
        p = subprocess.Popen([NGINX, "-c", conf, "-p", self.dir],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs["nginx"] = p

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        wait_for(up, what="nginx")
        return p

    def start_spoold(self, env=None):
        log = open(os.path.join(self.dir, "spoold.log"), "ab")
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.Popen([SPOOLD, "-d", "-c", self.conf_path],
                             stdout=log, stderr=log, env=e)
        self.procs["spoold"] = p
        wait_for(lambda: self.spoold_locked() or p.poll() is not None,
                 what="spoold lock")
        assert p.poll() is None, self.log("spoold.log")
        return p

    def spoold_locked(self):
        r = subprocess.run([SPOOLCTL, "-c", self.conf_path, "stats",
                            "--json"], capture_output=True, text=True)
        try:
            return bool(json.loads(r.stdout).get("spoold"))
        except ValueError:
            return False

    def start(self, spoold=False):
        self.start_fcgi()
        self.start_nginx()
        if spoold:
            self.start_spoold()
        return self

    def stop(self, name):
        p = self.procs.pop(name, None)
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM if name != "nginx" else signal.SIGQUIT)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def close(self):
        for name in list(self.procs):
            self.stop(name)
        subprocess.run(["rm", "-rf", self.dir])

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name)) as f:
                return f.read()
        except OSError:
            return ""

    # requests ----------------------------------------------------------
    def send(self, body, token=None, headers=None, raw=None):
        h = {"Content-Type": "application/json"}
        tok = self.token if token is None else token
        if tok:
            h["Authorization"] = "Bearer " + tok
        h.update(headers or {})
        data = raw if raw is not None else json.dumps(body).encode()
        return requests.post(self.url + "/send", data=data, headers=h,
                             timeout=10)

    # spool -------------------------------------------------------------
    def jobs(self, state="pending"):
        d = os.path.join(self.spool, state)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def job(self, jid, state="pending"):
        with open(os.path.join(self.spool, state, jid), "rb") as f:
            return parse_job(f.read())
