"""A spool, a relay.conf and a fake-sendmail outbox in a temporary directory,
for the spoold and spoolctl tests.

Jobs are written here from Python exactly as spool(5) documents them (into
tmp/, then renamed into a state directory), so these tests also hold the
format to its documentation."""

import atexit
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPOOLD = os.path.join(ROOT, "spoold", "spoold")
SPOOLCTL = os.path.join(ROOT, "spoold", "spoolctl")
BUILT_FAKE = os.path.join(ROOT, "tests", "helpers", "fake-sendmail")


def _reachable_fake():
    """spoold runs sendmail after dropping to its configured user, who may
    not be able to traverse the checkout (root's home is 0700 on Debian):
    the tests run a copy from a 0755 directory."""
    if not os.path.exists(BUILT_FAKE):
        return BUILT_FAKE
    d = tempfile.mkdtemp(prefix="relay-fake-")
    os.chmod(d, 0o755)
    atexit.register(shutil.rmtree, d, True)
    dst = os.path.join(d, "fake-sendmail")
    shutil.copy2(BUILT_FAKE, dst)
    return dst


FAKE = _reachable_fake()
STATES = ("pending", "processing", "held", "failed")


def new_id(t=None):
    us = int((time.time() if t is None else t) * 1000000)
    return "%013x-%016x" % (us, secrets.randbits(64))


def wait_for(pred, timeout=10.0, what="condition", step=0.01):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)        # the poll interval
    raise AssertionError("timed out waiting for " + what)


def escape_error(s):
    out = []
    for b in s.encode():
        c = chr(b)
        if c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif b < 0x20 or b >= 0x7f:
            out.append("\\x%02x" % b)
        else:
            out.append(c)
    return "".join(out)


def parse_job(data):
    """A job file's bytes -> ({key: [values]}, message bytes), read as
    spool(5) documents the format."""
    head, _, msg = data.partition(b"\n\n")
    fields = {}
    for line in head.decode().split("\n")[1:]:
        k, _, v = line.partition(" ")
        fields.setdefault(k, []).append(v)
    return fields, msg


class Spool:
    def __init__(self, path, **conf):
        self.dir = str(path)
        self.spool = os.path.join(self.dir, "spool")
        self.outbox = os.path.join(self.dir, "outbox")
        self.conf_path = os.path.join(self.dir, "relay.conf")
        self.log_path = os.path.join(self.dir, "spoold.log")
        os.makedirs(self.outbox, exist_ok=True)
        os.makedirs(self.spool, mode=0o700, exist_ok=True)
        for d in ("tmp", "idem") + STATES:
            os.makedirs(os.path.join(self.spool, d), mode=0o700,
                        exist_ok=True)
        self.settings = {
            "spool": self.spool,
            "tokens": os.path.join(self.dir, "tokens"),
            "message_id_domain": "relay.test",
            "sendmail": "%s -D %s" % (FAKE, self.outbox),
            "sendmail_timeout": "1s",
            "max_attempts": "3",
            "backoff_initial": "1s",
            "backoff_max": "2s",
        }
        self.write_conf(**conf)
        self.procs = []

    # configuration and the stand-in ----------------------------------
    def write_conf(self, **over):
        self.settings.update(over)
        tmp = self.conf_path + ".tmp"
        with open(tmp, "w") as f:
            for k, v in self.settings.items():
                if v is not None:
                    f.write("%s = %s\n" % (k, v))
        os.rename(tmp, self.conf_path)

    def control(self, **kv):
        """What fake-sendmail does from its next call on."""
        tmp = os.path.join(self.outbox, ".control")
        with open(tmp, "w") as f:
            for k, v in kv.items():
                f.write("%s %s\n" % (k.replace("_", "-"), v))
        os.rename(tmp, os.path.join(self.outbox, "control"))

    def calls(self):
        try:
            with open(os.path.join(self.outbox, "calls.log")) as f:
                return [json.loads(line) for line in f]
        except FileNotFoundError:
            return []

    def call_ids(self):
        """Job ids (from the Message-ID recipient tag) in call order."""
        return [c["argv"][-1].split("+")[1].split("@")[0]
                for c in self.calls()]

    def delivered(self):
        """{job id: [message bytes, ...]} of every filed message."""
        out = {}
        for name in sorted(os.listdir(self.outbox)):
            if not name.endswith(".eml") or name.startswith("."):
                continue
            with open(os.path.join(self.outbox, name), "rb") as f:
                data = f.read()
            m = re.search(rb"^Message-ID: <([0-9a-f-]+)@", data, re.M)
            out.setdefault(m.group(1).decode(), []).append(data)
        return out

    # jobs --------------------------------------------------------------
    def message(self, jid, subject="Hello", body="Hi there.\n"):
        return ("From: App <app@example.org>\nTo: to@example.net\n"
                "Subject: %s\nMessage-ID: <%s@relay.test>\n"
                "MIME-Version: 1.0\n\n%s" % (subject, jid, body)).encode()

    def job_bytes(self, jid, sender, rcpts, subject, msg, attempts=0,
                  error=None, created=None):
        head = ["mail-relay-job 1", "id " + jid,
                "created %d" % (created if created is not None
                                else int(jid[:13], 16) // 1000000),
                "caller app", "message-id %s@relay.test" % jid,
                "sender " + sender]
        head += ["rcpt " + r for r in rcpts]
        head += ["subject " + subject, "attempts %d" % attempts]
        if error is not None:
            head.append("error " + escape_error(error))
        return ("\n".join(head) + "\n\n").encode() + msg

    def add(self, jid=None, sender="app@example.org", rcpts=None,
            subject="Hello", msg=None, state="pending", attempts=0,
            error=None, due=None, created=None):
        """Writes a job as relay-fcgi would: tmp/, then a rename."""
        jid = jid or new_id()
        if rcpts is None:
            # The last recipient tags the job so calls can be matched.
            rcpts = ["to@example.net", "bcc+%s@example.net" % jid]
        if msg is None:
            msg = self.message(jid, subject)
        data = self.job_bytes(jid, sender, rcpts, subject, msg, attempts,
                              error, created)
        tmp = os.path.join(self.spool, "tmp", jid)
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o600)
        if due is not None:
            os.utime(tmp, (due, due))
        os.rename(tmp, os.path.join(self.spool, state, jid))
        return jid

    def add_many(self, n, **kw):
        ids = []
        for _ in range(n):
            ids.append(self.add(**kw))
            # Ids carry their microsecond: the next one is later.
            time.sleep(0.000002)
        return ids

    def jobs(self, state="pending"):
        return sorted(x for x in os.listdir(os.path.join(self.spool, state))
                      if not x.startswith("."))

    def where(self, jid):
        for s in STATES:
            if os.path.exists(os.path.join(self.spool, s, jid)):
                return s
        return None

    def read(self, jid, state=None):
        state = state or self.where(jid)
        with open(os.path.join(self.spool, state, jid), "rb") as f:
            return parse_job(f.read())

    def mtime(self, jid, state="pending"):
        return os.stat(os.path.join(self.spool, state, jid)).st_mtime

    # programs ----------------------------------------------------------
    def spoold(self, *args, env=None):
        """Starts spoold -d; its stderr goes to spoold.log."""
        log = open(self.log_path, "ab")
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.Popen([SPOOLD, "-d", "-v", "-c", self.conf_path,
                              *args], stdout=log, stderr=log, env=e)
        log.close()
        self.procs.append(p)
        return p

    def start(self, *args, env=None):
        p = self.spoold(*args, env=env)
        wait_for(lambda: "started" in self.log() or p.poll() is not None,
                 what="spoold start")
        assert p.poll() is None, self.log()
        return p

    def once(self, timeout=30):
        """spoold -1: drains what is due, exits."""
        p = self.spoold("-1")
        p.wait(timeout)
        return p.returncode

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def ctl(self, *args, conf=True):
        cmd = [SPOOLCTL] + (["-c", self.conf_path] if conf else []) + \
            list(args)
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=30)

    def ctl_json(self, *args):
        r = self.ctl(*args, "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        if p.poll() is None:
            p.send_signal(sig)
        return p.wait(timeout)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


class Daemon:
    """One of the relay's daemons run in the foreground with -d, its stderr
    appended to self.err; a class that mixes it in sets self.err and
    self.proc = None.  spawn waits for the daemon's "started:" line."""

    def spawn(self, argv, what):
        n = self.log().count("started:")
        with open(self.err, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
        wait_for(lambda: self.log().count("started:") > n or
                 self.proc.poll() is not None, what=what)
        assert self.proc.poll() is None, self.log()
        return self.proc

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        return self.proc.returncode

    def log(self):
        try:
            with open(self.err, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def sanitized(pid):
    """Whether a process runs with ASan (its quarantine holds freed memory,
    so its RSS grows by design and says nothing about leaks)."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False


def running(mark):
    """Pids of the processes whose command line holds mark (a path of one
    test's own directory, such as its outbox): how a test sees that the
    sendmail children of a killed spoold are gone.  A zombie has an empty
    command line, so only live processes count."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if mark.encode() in f.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


# poll(2) and ppoll(2) in /proc/PID/syscall: x86_64, i386, arm64.
POLL_SYSCALLS = {"x86_64": (7, 271), "i686": (168, 309), "aarch64": (73,)}


def in_poll(pid):
    """Whether the process sleeps in poll(2): for spoold with no job due
    and no sendmail running, idle."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state != "S":
            return False
        with open("/proc/%d/wchan" % pid) as f:
            if "poll" in f.read():
                return True
        with open("/proc/%d/syscall" % pid) as f:
            nr = f.read().split()[0]
    except (OSError, IndexError):
        return False
    return nr.isdigit() and int(nr) in POLL_SYSCALLS.get(os.uname().machine,
                                                          ())
