"""The spool on a real, small ext4 (a loop-mounted image): filled to the
last block, and turned read-only by a disk error, while mail flows.  relay-fcgi answers
503 with nothing partial left; spoold keeps running, says so once rather
than once per job, loses nothing and resumes by itself when space or
write access comes back.  Needs root (mount); skipped otherwise."""

import base64
import json
import os
import re
import subprocess
import threading
import time

import pytest

from relaystack import ROOT, SPOOLCTL, Stack, wait_for

MSG = {"from": "app@example.org", "to": "to@example.net",
       "subject": "real filesystem", "text": "a line of text\n" * 40}


def sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True)


@pytest.fixture
def ext4(tmp_path):
    img, mnt = tmp_path / "spool.img", tmp_path / "mnt"
    mnt.mkdir()
    # -m 0: no blocks kept for root, who would otherwise still write.
    if sh("truncate", "-s", "12M", str(img)).returncode != 0 or \
            sh("mkfs.ext4", "-q", "-F", "-m", "0", str(img)).returncode != 0:
        pytest.skip("cannot make an ext4 image")
    r = sh("mount", "-o", "loop,errors=remount-ro", str(img), str(mnt))
    if r.returncode != 0:
        pytest.skip("cannot loop-mount an ext4 image: " + r.stderr.strip())
    yield img, mnt
    if sh("umount", str(mnt)).returncode != 0:
        sh("umount", "-l", str(mnt))


@pytest.fixture
def relay(ext4, tmp_path):
    yield from make_relay(ext4, tmp_path)


@pytest.fixture
def relay_slow_retry(ext4, tmp_path):
    """Deferred jobs stay put for 10 s: nothing rewrites them (and so
    frees or takes blocks) while the test fills the disk; the outage
    guard's probes come every 10 s."""
    yield from make_relay(ext4, tmp_path, backoff_initial="10s",
                          backoff_max="10s")


def make_relay(ext4, tmp_path, **conf):
    """The stack with its spool on the ext4, and trackd and hookd (when
    built) following a Postfix log and posting webhooks from it."""
    spool = str(ext4[1] / "spool")
    log, hooks = tmp_path / "mail.log", tmp_path / "webhooks"
    log.write_text("")
    fd = os.open(hooks, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("app http://127.0.0.1:9/hook whsec_%s\n" %
                base64.b64encode(os.urandom(32)).decode())
    conf.update({"spool": spool, "postfix_log": str(log),
                 "webhooks": str(hooks)})
    s = Stack(workers=4, conf=conf)
    s.spool = spool
    try:
        s.start(spoold=True)
        for name in ("trackd", "hookd"):
            prog = os.path.join(ROOT, name, name)
            if os.access(prog, os.X_OK):
                out = open(os.path.join(s.dir, name + ".log"), "ab")
                s.procs[name] = subprocess.Popen(
                    [prog, "-d", "-c", s.conf_path], stdout=out, stderr=out)
                wait_for(lambda: "started" in s.log(name + ".log") or
                         s.procs[name].poll() is not None, 10, name)
                assert s.procs[name].poll() is None, s.log(name + ".log")
        yield s
    finally:
        for name in list(s.procs):
            s.stop(name)
        s.close()


def fill(mnt):
    """Writes a file until the filesystem has not one block left."""
    path = os.path.join(str(mnt), "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 4096, 1):
            chunk = b"\0" * size
            while True:
                try:
                    if os.write(fd, chunk) < size:
                        break
                except OSError:
                    break
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def delivered_ids(stack):
    ids = []
    for n in os.listdir(stack.outbox):
        if n.endswith(".eml"):
            with open(os.path.join(stack.outbox, n), "rb") as f:
                m = re.search(rb"^Message-ID: <([0-9a-f-]+)@", f.read(), re.M)
            ids.append(m.group(1).decode())
    return ids


def first_delivery(stack, jid):
    """When the stand-in first filed jid (its file names start with the
    time in nanoseconds)."""
    times = []
    for n in os.listdir(stack.outbox):
        if n.endswith(".eml"):
            with open(os.path.join(stack.outbox, n), "rb") as f:
                if ("<%s@" % jid).encode() in f.read():
                    times.append(int(n.split("-", 1)[0]) / 1e9)
    return min(times)


def spool_quiet(stack):
    return not stack.jobs("pending") and not stack.jobs("processing")


def control(stack, **kv):
    """What the stand-in sendmail does from its next call on."""
    tmp = os.path.join(stack.outbox, ".control")
    with open(tmp, "w") as f:
        for k, v in kv.items():
            f.write("%s %s\n" % (k, v))
    os.rename(tmp, os.path.join(stack.outbox, "control"))


def tempfails(stack):
    try:
        with open(os.path.join(stack.outbox, "calls.log")) as f:
            return sum(1 for line in f if json.loads(line)["exit"] == 75)
    except FileNotFoundError:
        return 0


def flush(stack):
    r = subprocess.run([SPOOLCTL, "-c", stack.conf_path, "flush"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def running(stack):
    for name, p in stack.procs.items():
        assert p.poll() is None, "%s exited %s" % (name, p.returncode)


def flush_quietly(stack):
    subprocess.run([SPOOLCTL, "-c", stack.conf_path, "flush"],
                   capture_output=True)


def condition_lines(stack, word):
    """spoold's lines about the condition; a delivered job that could not
    be removed is named on a line of its own (it will be sent again)."""
    return [line for line in stack.log("spoold.log").splitlines()
            if word in line and "delivered but not removed" not in line]


def test_full_to_the_last_block(relay_slow_retry, ext4):
    relay = relay_slow_retry
    first = [relay.send(dict(MSG, subject="before %d" % i)).json()["id"]
             for i in range(3)]
    wait_for(lambda: spool_quiet(relay) and len(delivered_ids(relay)) == 3,
             20, "the first three delivered")
    # The stand-in refuses for now: five jobs are deferred and wait.
    control(relay, exit=75)
    waiting = [relay.send(dict(MSG, subject="waiting %d" % i)).json()["id"]
               for i in range(5)]
    wait_for(lambda: tempfails(relay) >= 5 and
             not relay.jobs("processing") and
             sorted(relay.jobs("pending")) == sorted(waiting), 20,
             "five deferrals written")
    filler = fill(ext4[1])
    for i in range(8):
        r = relay.send(dict(MSG, subject="full %d" % i))
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "spool_unavailable"
        assert "Retry-After" in r.headers
    assert relay.jobs("tmp") == []
    running(relay)
    # Due again on a full disk: spoold cannot write a deferral; it keeps
    # every job, keeps running and says so once, not once per job.
    flush(relay)
    wait_for(lambda: tempfails(relay) >= 7, 40, "retries on a full disk")
    assert relay.procs["spoold"].poll() is None
    wait_for(lambda: sorted(relay.jobs("pending")) == sorted(waiting), 20,
             "every waiting job back in pending/")
    said = condition_lines(relay, "No space left on device")
    assert 1 <= len(said) <= 2, said
    running(relay)
    # Space again: everything goes out, once.
    os.unlink(filler)
    control(relay, exit=0)
    flush(relay)
    r = relay.send(dict(MSG, subject="after"))
    assert r.status_code == 202, r.text
    ok = first + waiting + [r.json()["id"]]
    wait_for(lambda: spool_quiet(relay) and
             set(delivered_ids(relay)) >= set(ok), 60, "all delivered")
    got = delivered_ids(relay)
    assert sorted(got) == sorted(ok)
    assert relay.jobs("failed") == []
    # spoold writes its delivery records through tmp/: wait for the last.
    wait_for(lambda: relay.jobs("tmp") == [], 10, "tmp/ empty")


def test_read_only_while_mail_flows(relay, ext4):
    """A disk error makes ext4 (errors=remount-ro) read-only under the
    running programs, as a failing disk does.  A clean `mount -o
    remount,ro` is refused while programs hold files open for writing (the
    locks), and ext4 takes no `remount,rw` after an error, so the way back
    is the operator's: stop, fsck, mount, start; nothing is lost."""
    img, mnt = ext4
    dev = os.path.basename(os.path.realpath(subprocess.run(
        ["findmnt", "-n", "-o", "SOURCE", str(mnt)], capture_output=True,
        text=True).stdout.strip()))
    trigger = "/sys/fs/ext4/%s/trigger_fs_error" % dev
    if not os.path.exists(trigger):
        pytest.skip("this kernel has no " + trigger)
    control(relay, sleep=300)      # a backlog: spoold is busy when it fails
    results, stop = [], threading.Event()

    def flow():
        i = 0
        while not stop.is_set():
            r = relay.send(dict(MSG, subject="flow %d" % i))
            results.append((r.status_code, r.headers["X-Relay-Id"],
                            r.json().get("error")))
            i += 1
    t = threading.Thread(target=flow)
    t.start()
    wait_for(lambda: sum(1 for c, _, _ in results if c == 202) >= 20, 20,
             "mail flowing")
    failed_at = time.time()
    with open(trigger, "w") as f:
        f.write("test: the disk fails")
    n = len(results)
    wait_for(lambda: len(results) >= n + 20, 20, "answers while read-only")
    stop.set()
    t.join()
    ro = results[n + 2:]
    assert ro and all(c == 503 and e == "spool_unavailable"
                      for c, _, e in ro), ro[:5]
    assert {c for c, _, _ in results} <= {202, 503}
    # All keep running; spoold says what is wrong once, not per job.
    running(relay)
    flush_quietly(relay)
    wait_for(lambda: condition_lines(relay, "Read-only file system"), 20,
             "spoold noticing")
    said = condition_lines(relay, "Read-only file system")
    assert len(said) <= 2, said
    # The operator's way back; then every 202 goes out, once.
    for name in ("spoold", "fcgi", "trackd", "hookd"):
        relay.stop(name)
    assert sh("umount", str(mnt)).returncode == 0
    sh("e2fsck", "-p", "-f", str(img))
    assert sh("mount", "-o", "loop", str(img), str(mnt)).returncode == 0
    if os.path.exists(os.path.join(relay.dir, "relay.sock")):
        os.unlink(os.path.join(relay.dir, "relay.sock"))
    relay.start_fcgi()
    control(relay, sleep=0)
    relay.start_spoold()
    ok = [i for c, i, _ in results if c == 202]
    wait_for(lambda: spool_quiet(relay) and
             set(delivered_ids(relay)) >= set(ok), 60, "all delivered")
    got = delivered_ids(relay)
    # A request whose job was renamed into pending/ just before the disk
    # failed, so that its directory could not be synced, was answered 503
    # (not known durable) and may still go out: only such a one is extra.
    refused = {i for c, i, _ in results if c == 503}
    assert set(ok) <= set(got) and set(got) - set(ok) <= refused, \
        set(got) ^ set(ok)
    assert len(set(got) - set(ok)) <= 1
    # At least once: a job goes out twice only if it was delivered as the
    # disk failed: spoold could not remove it (and named it), or removed it
    # in the second before, whose directory sync the failure cut short
    # (spoold syncs processing/ once a second, as after a crash).
    again = {i for i in got if got.count(i) > 1}
    named = " ".join(line for line in relay.log("spoold.log").splitlines()
                     if "delivered but not removed" in line)
    for i in again:
        assert i in named or first_delivery(relay, i) >= failed_at - 2.5, i
    # A file being written as the disk failed cannot be removed on a
    # read-only disk: it stays in tmp/ (never a job; spoold removes stale
    # ones at start after SPOOL_TMP_MAXAGE) and its request had a 503.
    assert set(relay.jobs("tmp")) <= refused
    assert relay.jobs("failed") == []
