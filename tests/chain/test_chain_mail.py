"""The whole chain with the shipped Postfix and OpenDKIM configuration:
HTTPS with mTLS -> nginx -> relay-fcgi -> spool -> spoold -> Postfix's
sendmail -> OpenDKIM -> an SMTP sink on loopback.  Nothing leaves the host."""

import email
import email.policy
import shutil
import uuid

import chainstack as ch

SENDER = "app@" + ch.DOMAIN


def send(chain, **fields):
    body = {"from": {"email": SENDER, "name": "Relay Test"},
            "to": "to@example.net",
            "subject": "chain %s" % uuid.uuid4().hex[:8],
            "text": "hello from the chain\n"}
    body.update(fields)
    r = ch.https(chain.nginx.port, "POST", "/send", chain.pki,
                 cert=chain.pki.good, body=body, headers=chain.relay.auth())
    assert r.status == 202, r
    return r.json()


def msgid(value):
    return value.strip().strip("<>")


def check_signed(chain, data):
    """A DKIM-Signature by the test key that verifies."""
    import dkim
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    sig = msg["DKIM-Signature"]
    assert sig is not None, "unsigned:\n%s" % data[:2000].decode(
        errors="replace")
    tags = dict(t.strip().split("=", 1) for t in
                "".join(sig.split()).split(";") if "=" in t)
    assert tags["d"] == ch.DOMAIN and tags["s"] == ch.SELECTOR, sig
    signed = [h.lower() for h in tags["h"].split(":")]
    for h in ("from", "to", "subject", "date", "message-id"):
        assert h in signed, sig
    assert dkim.verify(data, dnsfunc=chain.dkim.dnsfunc), \
        "DKIM-Signature does not verify:\n%s" % data[:2000].decode(
            errors="replace")


def test_shipped_postfix_and_opendkim_configs_check(chain, scratch):
    # postfix check on the instance made from the shipped files
    p = chain.postfix.cmd("check", check=False)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p
    # the shipped files alone: no unknown or unused parameters
    shutil.copy(ch.CONF / "postfix" / "main.cf", scratch / "main.cf")
    shutil.copy(ch.CONF / "postfix" / "master.cf", scratch / "master.cf")
    p = ch.run(["postconf", "-c", scratch, "-n"])
    assert p.stderr == "", p.stderr
    p = ch.run(["postconf", "-c", scratch, "-M"])
    assert p.stderr == "", p.stderr
    services = {tuple(line.split()[:2]) for line in p.stdout.splitlines()}
    assert ("submission", "inet") not in services
    assert ("smtps", "inet") not in services
    assert [s for s in services if s[1] == "inet"] == [("smtp", "inet")]

    def value(name):
        return ch.run(["postconf", "-c", scratch, "-h", name]).stdout.strip()
    assert value("inet_interfaces") == "loopback-only"
    assert value("mynetworks") == "127.0.0.0/8 [::1]/128"
    assert value("milter_default_action") == "tempfail"
    assert value("smtpd_milters").startswith("unix:")
    assert value("non_smtpd_milters") == "$smtpd_milters"
    assert value("smtp_tls_security_level") == "may"
    p = chain.dkim.check_config()
    assert p.returncode == 0, p


def test_health_through_the_chain(chain):
    r = ch.https(chain.nginx.port, "GET", "/health", chain.pki,
                 cert=chain.pki.good)
    assert r.status == 200, r


def test_request_arrives_signed_with_exact_envelope(chain):
    to = ["to1@example.net", "To Two <to2@example.org>"]
    res = send(chain,
               to=[to[0], {"email": "to2@example.org", "name": "To Two"}],
               cc="cc@example.net",
               bcc=["hidden1@example.org", "hidden2@example.net"],
               subject="Grüße über die Kette",
               text="plain body\nwith two lines\n",
               html="<p>html body</p>")
    m = chain.sink.wait(msgid(res["messageId"]))
    assert m["mail_from"] == SENDER
    assert sorted(r.lower() for r in m["rcpt_tos"]) == sorted([
        "to1@example.net", "to2@example.org", "cc@example.net",
        "hidden1@example.org", "hidden2@example.net"])
    check_signed(chain, m["data"])
    msg = email.message_from_bytes(m["data"], policy=email.policy.default)
    assert msg["Bcc"] is None
    assert b"hidden1" not in m["data"] and b"hidden2" not in m["data"]
    assert msgid(msg["Message-ID"]) == msgid(res["messageId"])
    assert msgid(res["messageId"]) == "%s@%s" % (res["id"], ch.DOMAIN)
    assert msg["Subject"] == "Grüße über die Kette"
    assert msg["From"].addresses[0].addr_spec == SENDER
    ch.wait_for(chain.relay.spool_empty, 10, "the spool to drain")


def test_postfix_stopped_sendmail_queues_and_delivers_after_start(chain):
    chain.postfix.stop()
    try:
        res = send(chain, subject="while postfix is down")
        # spoold hands it over: sendmail exits 0 into the maildrop queue
        ch.wait_for(chain.relay.spool_empty, 10,
                    "spoold to hand the job to sendmail")
        assert list((chain.postfix.queue / "maildrop").iterdir())
        assert chain.sink.find(msgid(res["messageId"])) is None
    finally:
        chain.postfix.start()
    m = chain.sink.wait(msgid(res["messageId"]))
    check_signed(chain, m["data"])


def rejects(chain):
    """Postfix's milter-reject 4.7.1 lines so far (the whole log)."""
    try:
        text = chain.postfix.maillog.read_text(errors="replace")
    except OSError:
        return 0
    return sum(1 for line in text.splitlines()
               if "milter-reject" in line and "4.7.1" in line)


def test_opendkim_stopped_nothing_leaves_unsigned(chain):
    chain.dkim.stop()
    try:
        res = send(chain, subject="while opendkim is down")
        ch.wait_for(chain.relay.spool_empty, 10,
                    "spoold to hand the job to sendmail")
        # Postfix refuses it for now (milter_default_action = tempfail)...
        ch.wait_for(lambda: "milter-reject" in chain.postfix.log()
                    and "4.7.1" in chain.postfix.log(), 10,
                    "Postfix to tempfail the message")
        # Kicked, Postfix tries again and is refused again.
        refused = rejects(chain)
        chain.postfix.kick()
        ch.wait_for(lambda: rejects(chain) > refused, 10,
                    "Postfix to try again and tempfail again")
        assert chain.sink.find(msgid(res["messageId"])) is None
        # ...and keeps it.
        assert list((chain.postfix.queue / "maildrop").iterdir())
    finally:
        chain.dkim.start()
    chain.postfix.kick()
    m = chain.sink.wait(msgid(res["messageId"]), 90)
    check_signed(chain, m["data"])


def test_every_message_that_reached_the_sink_is_signed(chain):
    res = send(chain, subject="last one")
    chain.sink.wait(msgid(res["messageId"]))
    for m in chain.sink.messages:
        check_signed(chain, m["data"])
