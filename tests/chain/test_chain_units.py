"""conf/systemd checked with systemd's own tools (without running systemd),
and the values that several shipped files must agree on."""

import re

import pytest

import chainstack as ch

SYSTEMD = ch.CONF / "systemd"
UNITS = ("relay-fcgi.socket", "relay-fcgi.service", "spoold.service",
         "trackd.service")


def text(*parts):
    return ch.CONF.joinpath(*parts).read_text()


def setting(unit, key):
    """Every value of `key` in a unit file, in order."""
    return re.findall(r"^%s=(.*)$" % re.escape(key), unit, re.MULTILINE)


@pytest.fixture
def units(scratch):
    """The shipped units with ExecStart pointing at the built programs
    (verify insists that the binary exists)."""
    if not ch.which("systemd-analyze"):
        pytest.skip("not installed: systemd-analyze (Debian package systemd)")
    for p in (ch.RELAY_FCGI, ch.SPOOLD, ch.TRACKD):
        if not p.exists():
            pytest.skip("%s is not built (run make)" % p.relative_to(ch.ROOT))
    for name in UNITS:
        t = (SYSTEMD / name).read_text()
        t = t.replace("/usr/local/sbin/relay-fcgi", str(ch.RELAY_FCGI))
        t = t.replace("/usr/local/sbin/spoold", str(ch.SPOOLD))
        t = t.replace("/usr/local/sbin/trackd", str(ch.TRACKD))
        (scratch / name).write_text(t)
    return scratch


def test_systemd_analyze_verify_is_clean(units):
    p = ch.run(["systemd-analyze", "verify", "--man=no"] +
               [units / u for u in UNITS], check=False)
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr


@pytest.mark.parametrize("unit,limit", [("relay-fcgi.service", 0.5),
                                        ("spoold.service", 1.0),
                                        ("trackd.service", 0.5)])
def test_systemd_analyze_security_exposure_stays_low(units, unit, limit):
    p = ch.run(["systemd-analyze", "security", "--offline=true",
                "--no-pager", units / unit], check=False)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", p.stdout)
    assert m, p.stdout + p.stderr
    assert float(m.group(1)) <= limit, p.stdout


def test_hardening_list_is_present():
    for name in ("relay-fcgi.service", "spoold.service", "trackd.service"):
        u = (SYSTEMD / name).read_text()
        for key, value in [("User", "mail-relay"), ("NoNewPrivileges", "yes"),
                           ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                           ("PrivateTmp", "yes"), ("PrivateDevices", "yes"),
                           ("CapabilityBoundingSet", ""), ("UMask", "0077")]:
            assert setting(u, key) == [value], (name, key)
        assert setting(u, "RestrictAddressFamilies"), name
        assert setting(u, "SystemCallFilter"), name
        assert setting(u, "ReadWritePaths")[0].split()[0] == \
            "/var/spool/mail-relay", name


def test_tmpfiles_and_sysusers_apply(scratch):
    if not ch.which("systemd-tmpfiles") or not ch.which("systemd-sysusers"):
        pytest.skip("not installed: systemd-tmpfiles/systemd-sysusers "
                    "(Debian package systemd)")
    etc = scratch / "etc"
    etc.mkdir()
    for f in ("passwd", "group", "shadow", "gshadow"):
        (etc / f).write_text("")
    ch.run(["systemd-sysusers", "--root", scratch,
            SYSTEMD / "mail-relay.sysusers"])
    m = re.search(r"^mail-relay:x:(\d+):(\d+):", (etc / "passwd").read_text(),
                  re.MULTILINE)
    assert m
    uid, gid = int(m.group(1)), int(m.group(2))
    ch.run(["systemd-tmpfiles", "--create", "--root", scratch,
            SYSTEMD / "mail-relay.tmpfiles"])
    spool = scratch / "var/spool/mail-relay"
    for d in ("", "tmp", "pending", "processing", "held", "failed", "idem"):
        st = (spool / d).stat()
        assert st.st_mode & 0o7777 == 0o700, d
        assert (st.st_uid, st.st_gid) == (uid, gid), d


def test_shipped_files_agree_with_each_other():
    nginx = text("nginx", "mail-relay.conf")
    sock = text("systemd", "relay-fcgi.socket")
    # nginx reaches the socket systemd listens on, as the group it runs as
    passes = set(re.findall(r"fastcgi_pass unix:(\S+);", nginx))
    assert passes == set(setting(sock, "ListenStream")), passes
    user = re.search(r"^user (\S+);", text("nginx", "nginx.conf"),
                     re.MULTILINE).group(1)
    assert setting(sock, "SocketGroup") == [user]
    assert setting(sock, "SocketMode") == ["0660"]
    # client_max_body_size equals relay.conf's default max_body (512k),
    # and in the /emails/batch location its max_batch_body (4m)
    assert re.findall(r"client_max_body_size\s+(\S+);", nginx) == \
        ["512k", "4m"]
    batch = nginx.split("location = /emails/batch {")[1].split("}")[0]
    assert re.findall(r"client_max_body_size\s+(\S+);", batch) == ["4m"]
    # Postfix talks to the socket OpenDKIM creates
    milter = re.search(r"^smtpd_milters = unix:(\S+)$",
                       text("postfix", "main.cf"), re.MULTILINE).group(1)
    dkim = re.search(r"^Socket\s+local:(\S+)$",
                     text("opendkim", "opendkim.conf"), re.MULTILINE).group(1)
    assert milter == dkim
    # every key in the KeyTable is what the SigningTable refers to
    keys = {line.split()[0] for line in text("opendkim", "KeyTable")
            .splitlines() if line and not line.startswith("#")}
    refs = {line.split()[1] for line in text("opendkim", "SigningTable")
            .splitlines() if line and not line.startswith("#")}
    assert refs == keys
    trusted = text("opendkim", "TrustedHosts").split()
    assert "127.0.0.1" in trusted
