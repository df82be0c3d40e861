#!/usr/bin/python3
"""Capture Postfix's log lines for trackd's parser tests.

Runs a private Postfix 3.x instance (tests/chain/chainstack.py, without
OpenDKIM) that writes its log with postlogd, in front of a loopback
aiosmtpd sink answering 250, 451 or 550 per recipient, plus an LMTP sink
and local, virtual, pipe, error, retry and discard transports; sends
relay-form and foreign messages through its sendmail and writes the
resulting log to the file named on the command line.  Run as root:

    /usr/bin/python3 tests/trackd/capture.py tests/trackd/postfix-3.7-postlogd.log

Postfix logs to syslog(3) only through /dev/log, so the rsyslog form is
made by sending the same lines, tag and pid as Postfix's syslog(3) would,
to a private rsyslogd (Debian 12's default file format) and keeping what
it writes:

    /usr/bin/python3 tests/trackd/capture.py --rsyslog \
        tests/trackd/postfix-3.7-postlogd.log tests/trackd/postfix-3.7-rsyslog.log

The lines are committed as test data (tests/unit_trackd_parse.c); this
script is how they were made, not part of `make test`."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chain"))
import chainstack as ch  # noqa: E402

DOMAIN = "relay.example.test"
JOB = ["18d2f6a1b2c3d-0123456789abcdef", "18d2f6a1b2c3e-fedcba9876543210",
       "18d2f6a1b2c3f-00112233445566aa"]


def lmtp_sink():
    from aiosmtpd.controller import Controller
    from aiosmtpd.lmtp import LMTP

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            return "250 2.0.0 Ok: lmtp kept"

    class LmtpController(Controller):
        def factory(self):
            return LMTP(self.handler)

    port = ch.free_port()
    c = LmtpController(Handler(), hostname="127.0.0.1", port=port)
    c.start()
    return c, port


def send(pf, sender, rcpts, msgid, subject="capture"):
    hdr = "From: %s\nTo: %s\nSubject: %s\n" % (sender, ", ".join(rcpts),
                                              subject)
    if msgid:
        hdr += "Message-ID: %s\n" % msgid
    msg = hdr + "\nhello\n"
    subprocess.run(pf.sendmail_argv() + ["-i", "-f", sender, "--"] + rcpts,
                   input=msg.encode(), check=True)


def main():
    out = Path(sys.argv[1])
    base = ch.make_base("trackd-capture-")
    sink = ch.Sink().start()
    lmtp, lport = lmtp_sink()
    pf = ch.Postfix(base, sink.port, base / "no-milter")
    vbase = base / "vmail"
    vbase.mkdir()
    os.chown(vbase, 65534, 65534)
    pf.postconf(
        "smtpd_milters=", "non_smtpd_milters=",
        "myhostname=relay.example.test",
        "mydestination=loc.test", "local_transport=local",
        "alias_maps=inline:{ {loc=/dev/null} }",
        "alias_database=",
        "local_recipient_maps=$alias_maps",
        "virtual_mailbox_domains=virt.test",
        "virtual_mailbox_base=%s" % vbase,
        "virtual_mailbox_maps=inline:{ {v@virt.test=v/} }",
        "virtual_uid_maps=static:65534", "virtual_gid_maps=static:65534",
        "transport_maps=inline:{ {err.test=error:5.7.1 no mail for err.test}"
        ", {later.test=retry:4.4.1 try later.test later}"
        ", {disc.test=discard:dropped here}"
        ", {pipe.test=capturepipe:}"
        ", {lmtp.test=lmtp:inet:127.0.0.1:%d} }" % lport,
    )
    with open(pf.dir / "master.cf", "a") as f:
        f.write("lmtp unix - - n - - lmtp\n"
                "local unix - n n - - local\n"
                "virtual unix - n n - - virtual\n"
                "capturepipe unix - n n - - pipe\n"
                "  flags=q user=nobody argv=/bin/cat\n")
    sink.answers.update({
        "b@dest.test": "550 5.1.1 <b@dest.test>: no such user here",
        "d@dest.test": "451 4.3.0 <d@dest.test>: try again later",
        "e@dest.test": "451 4.3.0 <e@dest.test>: mailbox busy",
        "long@dest.test": "550 5.7.1 " + "refused " * 80 + "end",
    })
    pf.start()
    try:
        relay = "noreply@example.test"
        send(pf, relay, ["a@dest.test", "b@dest.test", "d@dest.test",
                         "long@dest.test"],
             "<%s@%s>" % (JOB[0], DOMAIN))
        send(pf, relay, ["x@dest.test"], "<abc123@example.test>")
        send(pf, relay, ["y@dest.test"], None)
        send(pf, relay, ["z@dest.test"], "<%s@other.example>" % JOB[1])
        send(pf, relay, ["A.Mixed@Dest.Test", "u@err.test", "w@later.test",
                         "q@disc.test", "p@pipe.test", "l@lmtp.test",
                         "loc@loc.test", "v@virt.test"],
             "<%s@%s>" % (JOB[1], DOMAIN.upper()))
        pf.kick()
        ch.wait_for(lambda: "d@dest.test>, relay=" in ch.tail(pf.maillog, 400)
                    and "l@lmtp.test" in ch.tail(pf.maillog, 400)
                    and "v@virt.test" in ch.tail(pf.maillog, 400),
                    30, "first deliveries")
        # the deferred recipient is accepted on a later try
        with sink.lock:
            del sink.answers["d@dest.test"]
        pf.kick()
        ch.wait_for(lambda: "to=<d@dest.test>" in
                    "".join(line for line in
                            ch.tail(pf.maillog, 400).splitlines(True)
                            if "status=sent" in line),
                    30, "d@dest.test delivered on retry")
        # a message that expires in the queue
        pf.postconf("maximal_queue_lifetime=1s", "bounce_queue_lifetime=1s")
        pf.cmd("reload")
        send(pf, relay, ["e@dest.test"], "<%s@%s>" % (JOB[2], DOMAIN))
        pf.kick()
        for _ in range(30):
            time.sleep(1)
            pf.kick()
            if "status=expired" in ch.tail(pf.maillog, 400):
                break
        time.sleep(2)
    finally:
        pf.stop()
        sink.stop()
        lmtp.stop()
    out.write_text(pf.maillog.read_text())
    ch.remove_base(base)


RSYSLOG_CONF = """\
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{dir}/log.sock")
global(workDirectory="{dir}")
mail.*	{dir}/mail.log
"""


def rsyslog(src, dst):
    base = ch.make_base("trackd-rsyslog-")
    (base / "rsyslog.conf").write_text(RSYSLOG_CONF.format(dir=base))
    p = subprocess.Popen(["rsyslogd", "-n", "-f", str(base / "rsyslog.conf"),
                          "-i", str(base / "pid")])
    try:
        ch.wait_for(lambda: (base / "log.sock").exists(), 10, "rsyslogd")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        n = 0
        for line in open(src):
            m = re.match(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ (\S+?)\[(\d+)\]: "
                         r"(.*)$", line.rstrip("\n"))
            if m:
                # <mail.info>TIMESTAMP tag[pid]: text, as syslog(3) sends it
                s.sendto(("<22>%s %s[%s]: %s"
                          % (time.strftime("%b %e %H:%M:%S"), *m.groups())
                          ).encode(), str(base / "log.sock"))
                n += 1
        ch.wait_for(lambda: (base / "mail.log").exists() and
                    len((base / "mail.log").read_text().splitlines()) == n,
                    10, "rsyslogd's file")
        Path(dst).write_text((base / "mail.log").read_text())
    finally:
        p.terminate()
        p.wait()
        ch.remove_base(base)


if __name__ == "__main__":
    if sys.argv[1] == "--rsyslog":
        rsyslog(sys.argv[2], sys.argv[3])
    else:
        main()
