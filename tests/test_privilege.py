"""Privilege and exposure, as far as a root shell without systemd can check.

relay-fcgi and spoold started as root with `user =` (a test user made with
useradd, removed afterwards) run, in every thread, as that user and its
group only, with no capabilities; spoolctl run by root works as the
spool's owner, and stops rather than go on as root when it cannot; they work under no_new_privs (what
NoNewPrivileges=yes gives them under systemd); the spool is 0700
directories and 0600 files whatever the umask; the FastCGI socket is 0660;
the user they run as cannot read a DKIM key kept as the README says; and
the systemd units keep the confinement the README's Security section
describes."""

import grp
import os
import pwd
import re
import signal
import stat
import subprocess
import tempfile

import pytest

from relaystack import (RELAY_FCGI, ROOT, SPOOLD, Stack, make_token,
                        wait_for)
from spoolhelp import SPOOLCTL, Spool

USER = "mrelaytest"
MSG = {"from": "app@example.org", "to": "rcpt@example.net",
       "subject": "privileges", "text": "Hello\n"}
SPOOL_DIRS = ("tmp", "pending", "processing", "held", "failed", "idem")

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="privilege tests need root")


@pytest.fixture(scope="module")
def user():
    """(name, uid, gid) of an unprivileged test user, made if missing."""
    made = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--no-create-home",
                            "--shell", "/usr/sbin/nologin", "--user-group",
                            USER], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("cannot create a test user: " + r.stderr.strip())
        made = True
    pw = pwd.getpwnam(USER)
    try:
        yield USER, pw.pw_uid, pw.pw_gid
    finally:
        if made:
            subprocess.run(["userdel", USER], capture_output=True)
            try:
                grp.getgrnam(USER)
                subprocess.run(["groupdel", USER], capture_output=True)
            except KeyError:
                pass


def status(pid, task=None):
    path = "/proc/%d/status" % pid if task is None else \
        "/proc/%d/task/%d/status" % (pid, task)
    with open(path) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


def check_creds(pid, uid, gid):
    """Every thread of pid: uid/gid in all four slots, only the one
    group, no capabilities."""
    tasks = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    for t in tasks:
        st = status(pid, t)
        assert st["Uid"].split() == [str(uid)] * 4, (t, st["Uid"])
        assert st["Gid"].split() == [str(gid)] * 4, (t, st["Gid"])
        assert st["Groups"].split() == [str(gid)], (t, st["Groups"])
        assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
        assert int(st["CapAmb"], 16) == 0
    return tasks


def open_fds(pid):
    d = "/proc/%d/fd" % pid
    out = []
    for n in os.listdir(d):
        try:
            out.append(os.readlink(os.path.join(d, n)))
        except OSError:
            pass
    return out


def world_traversable_dir():
    d = tempfile.mkdtemp(prefix="relay-priv-")
    os.chmod(d, 0o755)
    return d


def prepare_like_tmpfiles(s, uid, gid):
    """The layout README's install steps make: spool dirs 0700 owned by
    the user, relay.conf and tokens 0640 root:group."""
    os.mkdir(s.spool, 0o700)
    os.chown(s.spool, uid, gid)
    for d in SPOOL_DIRS:
        p = os.path.join(s.spool, d)
        os.mkdir(p, 0o700)
        os.chown(p, uid, gid)
    for f in (s.tokens_path, s.conf_path):
        os.chown(f, 0, gid)
        os.chmod(f, 0o640)


def start_with_umask(stack, mask=0):
    old = os.umask(mask)
    try:
        stack.start_fcgi()
    finally:
        os.umask(old)
    stack.start_nginx()


def test_relay_fcgi_runs_as_user(user):
    name, uid, gid = user
    s = Stack(conf={"user": name})
    try:
        prepare_like_tmpfiles(s, uid, gid)
        start_with_umask(s, 0)      # modes must not come from the umask
        pid = s.procs["fcgi"].pid
        assert len(check_creds(pid, uid, gid)) > 1      # worker threads too
        assert status(pid)["NoNewPrivs"].strip() in ("0", "1")
        sock = os.stat(os.path.join(s.dir, "relay.sock"))
        assert stat.S_ISSOCK(sock.st_mode)
        assert stat.S_IMODE(sock.st_mode) == 0o660

        r = s.send(MSG, headers={"Idempotency-Key": "priv-1"})
        assert r.status_code == 202, r.text
        jid = r.json()["id"]
        job = os.stat(os.path.join(s.spool, "pending", jid))
        assert (job.st_uid, job.st_gid) == (uid, gid)
        assert stat.S_IMODE(job.st_mode) == 0o600
        for n in os.listdir(os.path.join(s.spool, "idem")):
            st = os.stat(os.path.join(s.spool, "idem", n))
            assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == uid
        # Neither the tokens file nor the config stays open.
        fds = open_fds(pid)
        assert s.tokens_path not in fds and s.conf_path not in fds

        # SIGHUP re-reads the (group-readable) tokens as the user.
        token, line = make_token("late", "late@example.org")
        with open(s.tokens_path, "a") as f:
            f.write(line + "\n")
        s.procs["fcgi"].send_signal(signal.SIGHUP)
        late = dict(MSG, **{"from": "late@example.org"})
        wait_for(lambda: s.send(late, token=token).status_code == 202, 5,
                 "reload as the user")
        check_creds(pid, uid, gid)
    finally:
        s.close()


def test_relay_fcgi_started_as_root_on_a_fresh_spool(user):
    """user = X, started as root, spool not made beforehand: relay-fcgi
    creates it (as root) before it drops privileges.  It must then either
    serve (the spool handed to the user, as spoold does) or refuse to start
    with a clear message; never start and answer every request 503."""
    name, uid, gid = user
    s = Stack(conf={"user": name})
    try:
        start_with_umask(s, 0o022)
        p = s.procs["fcgi"]
        r = s.send(MSG)
        if p.poll() is not None:
            assert p.returncode != 0
            return
        assert r.status_code == 202, (
            "relay-fcgi runs as %s but cannot write the spool it created "
            "as root: %s %s" % (name, r.status_code, r.text))
    finally:
        s.close()


def test_spoold_runs_as_user_and_owns_the_spool(user):
    name, uid, gid = user
    base = world_traversable_dir()
    sp = Spool(base, user=name)
    try:
        os.chown(sp.outbox, uid, gid)
        jid = sp.add()          # written by root: spoold hands it over
        old = os.umask(0)
        try:
            p = sp.start()
        finally:
            os.umask(old)
        check_creds(p.pid, uid, gid)
        wait_for(lambda: jid in sp.delivered(), 5, "delivery")
        call = sp.calls()[0]
        assert call["uid"] == uid
        assert all(e.startswith(("PATH=", "MAIL_CONFIG="))
                   for e in call["env"]), call["env"]
        for dirpath, dirs, files in os.walk(sp.spool):
            st = os.stat(dirpath)
            assert (st.st_uid, st.st_gid) == (uid, gid), dirpath
            assert stat.S_IMODE(st.st_mode) == 0o700, dirpath
            for f in files:
                st = os.stat(os.path.join(dirpath, f))
                assert st.st_uid == uid, f
                assert stat.S_IMODE(st.st_mode) == 0o600, f
        assert sp.stop(p) == 0
    finally:
        sp.close()
        subprocess.run(["rm", "-rf", base])


def test_work_under_no_new_privs(user):
    """NoNewPrivileges=yes (systemd) sets no_new_privs: both daemons start
    as root, drop to the user and carry a message end to end under it."""
    name, uid, gid = user
    s = Stack(conf={"user": name})
    spoold = None
    try:
        prepare_like_tmpfiles(s, uid, gid)
        os.chown(s.outbox, uid, gid)
        sock = os.path.join(s.dir, "relay.sock")
        log = open(os.path.join(s.dir, "relay-fcgi.log"), "ab")
        p = subprocess.Popen(["setpriv", "--no-new-privs", RELAY_FCGI, "-d",
                              "-c", s.conf_path, "-s", sock, "-n", "2"],
                             stdout=log, stderr=log)
        s.procs["fcgi"] = p
        wait_for(lambda: os.path.exists(sock) or p.poll() is not None,
                 what="relay-fcgi")
        assert p.poll() is None, s.log("relay-fcgi.log")
        s.start_nginx()
        spoold = subprocess.Popen(["setpriv", "--no-new-privs", SPOOLD, "-d",
                                   "-c", s.conf_path], stdout=log,
                                  stderr=log)
        s.procs["spoold"] = spoold
        wait_for(lambda: "started" in s.log("relay-fcgi.log") or
                 spoold.poll() is not None, what="spoold")
        assert spoold.poll() is None, s.log("relay-fcgi.log")
        for proc in (p, spoold):
            assert status(proc.pid)["NoNewPrivs"].strip() == "1"
            check_creds(proc.pid, uid, gid)
        r = s.send(MSG)
        assert r.status_code == 202, r.text
        wait_for(lambda: any(n.endswith(".eml")
                             for n in os.listdir(s.outbox)), 5, "delivery")
    finally:
        s.close()


def owned_spool(uid, gid):
    """A spool with one failed job, every file of it owned by the user."""
    base = world_traversable_dir()
    sp = Spool(base)
    jid = sp.add(state="failed", attempts=1, error="exit 67: no such user")
    for dirpath, dirs, files in os.walk(sp.spool):
        for n in [dirpath] + [os.path.join(dirpath, f) for f in files]:
            os.chown(n, uid, gid)
    return base, sp, jid


def test_spoolctl_works_as_the_spools_owner(user):
    """Root's spoolctl writes as the owner: the job it rewrites stays
    readable to a spoold that runs as the user."""
    name, uid, gid = user
    base, sp, jid = owned_spool(uid, gid)
    try:
        r = sp.ctl("retry", jid)
        assert r.returncode == 0, r.stderr
        st = os.stat(os.path.join(sp.spool, "pending", jid))
        assert (st.st_uid, st.st_gid) == (uid, gid)
        assert sp.read(jid)[0]["attempts"] == ["0"]
    finally:
        sp.close()
        subprocess.run(["rm", "-rf", base])


def test_spoolctl_refuses_to_go_on_as_root(user):
    """Root that may not change its ids (no CAP_SETUID or CAP_SETGID, as
    in a confined container) gets one line and EX_OSERR from spoolctl,
    which changes nothing rather than work on the spool as root."""
    name, uid, gid = user
    confine = ["setpriv", "--bounding-set=-setuid,-setgid", "--"]
    if subprocess.run(confine + ["true"]).returncode != 0:
        pytest.skip("setpriv cannot drop capabilities here")
    base, sp, jid = owned_spool(uid, gid)
    try:
        for args in (["retry", jid], ["list"]):
            r = subprocess.run(confine + [SPOOLCTL, "-c", sp.conf_path] +
                               args, capture_output=True, text=True,
                               timeout=30)
            assert r.returncode == 71, (r.returncode, r.stderr)
            assert r.stdout == ""
            lines = r.stderr.splitlines()
            assert len(lines) == 1, r.stderr
            assert lines[0].startswith("spoolctl: cannot become the "
                                       "spool's owner"), lines[0]
            assert "not going on as root" in lines[0]
        assert sp.where(jid) == "failed"
        assert sp.read(jid)[0]["attempts"] == ["1"]
        assert os.listdir(os.path.join(sp.spool, "tmp")) == []
    finally:
        sp.close()
        subprocess.run(["rm", "-rf", base])


def can_open_as(uid, gid, groups, path):
    """Whether a process with these credentials can open path (read)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            try:
                if os.path.isdir(path):
                    os.listdir(path)
                else:
                    open(path, "rb").close()
                os._exit(0)
            except PermissionError:
                os._exit(1)
        except BaseException:
            os._exit(2)
    _, st = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(st)
    assert code in (0, 1), "credential switch failed"
    return code == 0


def test_relay_user_cannot_read_dkim_key(user):
    name, uid, gid = user
    s = Stack(conf={"user": name})
    keydir = tempfile.mkdtemp(prefix="dkimkeys-")
    try:
        prepare_like_tmpfiles(s, uid, gid)
        s.start()
        st = status(s.procs["fcgi"].pid)
        ruid = int(st["Uid"].split()[0])
        rgid = int(st["Gid"].split()[0])
        groups = [int(g) for g in st["Groups"].split()]
        # A key as README installs it: opendkim:opendkim 0600, in a 0700
        # directory of opendkim's.
        try:
            dk = pwd.getpwnam("opendkim")
            kuid, kgid = dk.pw_uid, dk.pw_gid
        except KeyError:
            kuid, kgid = 0, 0
        key = os.path.join(keydir, "mail.private")
        with open(key, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\n")
        os.chmod(key, 0o600)
        os.chown(key, kuid, kgid)
        os.chmod(keydir, 0o700)
        os.chown(keydir, kuid, kgid)
        assert can_open_as(kuid, kgid, [kgid], key) or kuid == 0
        assert not can_open_as(ruid, rgid, groups, key)
        assert not can_open_as(ruid, rgid, groups, keydir)
        if os.path.isdir("/etc/dkimkeys"):
            assert not can_open_as(ruid, rgid, groups, "/etc/dkimkeys")
    finally:
        s.close()
        subprocess.run(["rm", "-rf", keydir])


# -- what systemd adds: the units as shipped ---------------------------------

def unit(name):
    with open(os.path.join(ROOT, "conf", "systemd", name)) as f:
        text = f.read()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


@pytest.mark.parametrize("name", ["relay-fcgi.service", "spoold.service",
                                  "trackd.service"])
def test_units_confine_the_daemons(name):
    u = unit(name)
    assert u["User"] == ["mail-relay"] and u["Group"] == ["mail-relay"]
    assert u["NoNewPrivileges"] == ["yes"]
    assert u["CapabilityBoundingSet"] == [""]
    assert u["AmbientCapabilities"] == [""]
    assert u["ProtectSystem"] == ["strict"]
    assert u["UMask"] == ["0077"]
    rw = " ".join(u["ReadWritePaths"]).split()
    assert rw[0] == "/var/spool/mail-relay"
    assert all(p.lstrip("-").startswith(("/var/spool/mail-relay",
                                         "/var/spool/postfix/"))
               for p in rw)
    assert "-/etc/dkimkeys" in " ".join(u["InaccessiblePaths"]).split()
    assert "@system-service" in u["SystemCallFilter"]
    assert u["PrivateNetwork"] == ["yes"] and u["IPAddressDeny"] == ["any"]
    if name in ("relay-fcgi.service", "trackd.service"):
        assert u["RestrictAddressFamilies"] == ["AF_UNIX"]
    if name == "trackd.service":
        # it reads the log and writes the spool, nothing else
        assert rw == ["/var/spool/mail-relay"]
        assert "-/var/spool/postfix" in " ".join(
            u["InaccessiblePaths"]).split()
        assert u["RestartPreventExitStatus"] == ["78"]


def test_socket_unit_is_for_nginx_alone():
    u = unit("relay-fcgi.socket")
    assert u["SocketMode"] == ["0660"]
    assert u["SocketGroup"] == ["www-data"]
    assert u["SocketUser"] == ["root"]


def test_tmpfiles_spool_is_private():
    with open(os.path.join(ROOT, "conf", "systemd",
                           "mail-relay.tmpfiles")) as f:
        rows = [line.split() for line in f if line.startswith("d")]
    spool = [r for r in rows if r[1] == "/var/spool/mail-relay" or
             r[1].startswith("/var/spool/mail-relay/")]
    assert sorted(r[1] for r in spool) == sorted(
        ["/var/spool/mail-relay"] +
        ["/var/spool/mail-relay/" + d for d in SPOOL_DIRS])
    for r in spool:
        assert r[2:5] == ["0700", "mail-relay", "mail-relay"], r
