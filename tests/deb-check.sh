#!/bin/sh
# Run by tests/deb-test.sh as root inside a fresh Debian 12 chroot (no
# systemd running): the package as an operator installs, upgrades and
# purges it.  The two .debs are in /tmp.
#	deb-check.sh VERSION OLD_VERSION
set -u
new_v=$1
old_v=$2
new=$(ls /tmp/mail-relay_"$new_v"_*.deb)
old=$(ls /tmp/mail-relay_"$old_v"_*.deb)
export DEBIAN_FRONTEND=noninteractive
conf=/etc/mail-relay
spool=/var/spool/mail-relay
passed=0
failed=0

# check DESCRIPTION SHELL-COMMAND: one test, its output shown when it fails.
check() {
	if (eval "$2") > /tmp/check.out 2>&1; then
		passed=$((passed + 1))
		echo "ok     $1"
	else
		failed=$((failed + 1))
		echo "FAILED $1"
		sed 's/^/       /' /tmp/check.out
	fi
}
# apt as an operator runs it: with Recommends (mmdebstrap turns them off
# for its own installs, hooks included).
apt() {
	apt-get -q -y -o APT::Install-Recommends=true -o Dpkg::Use-Pty=0 "$@" \
	    < /dev/null > /tmp/apt.out 2>&1 || { cat /tmp/apt.out; return 1; }
}
modes() {	# PATH: "mode owner group"
	stat -c '%a %U %G' "$1"
}
version() {
	dpkg-query -W -f='${Version}' mail-relay
}
# The files of the system, as names (what a purge must give back).
snapshot() {
	find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp \
	    -o -path /run -o -path /var/log -o -path /var/cache \
	    -o -path /var/lib/apt -o -path /var/lib/dpkg \) -prune -o -print |
	    sort
}
ours() {	# files left anywhere with one of the package's names
	find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp \
	    -o -path /var/log \) -prune -o \( -name '*mail-relay*' \
	    -o -name 'relay-fcgi*' -o -name 'relay-token*' -o -name 'spoold*' \
	    -o -name 'spoolctl*' \) -print
}
installed_ok() {
	check "$1: mail-relay $2 installed" '[ "$(version)" = "'"$2"'" ]'
	check "$1: user mail-relay, no login, home the spool" \
	    'getent passwd mail-relay | grep -q ":/var/spool/mail-relay:/usr/sbin/nologin$"'
	check "$1: spool directories 0700 mail-relay" '
	    for d in "" tmp pending processing held failed idem; do
		[ "$(modes $spool/$d)" = "700 mail-relay mail-relay" ] ||
		    { modes $spool/$d; exit 1; }
	    done'
	check "$1: $conf 0750, relay.conf and tokens 0640 root:mail-relay" '
	    [ "$(modes $conf)" = "750 root mail-relay" ] &&
	    [ "$(modes $conf/relay.conf)" = "640 root mail-relay" ] &&
	    [ "$(modes $conf/tokens)" = "640 root mail-relay" ]'
	check "$1: relay-fcgi.socket and spoold.service enabled" '
	    [ -L /etc/systemd/system/sockets.target.wants/relay-fcgi.socket ] &&
	    [ -L /etc/systemd/system/multi-user.target.wants/spoold.service ]'
	check "$1: the nginx server block is shipped, not enabled" '
	    [ -f /etc/nginx/sites-available/mail-relay ] &&
	    [ ! -e /etc/nginx/sites-enabled/mail-relay ]'
	check "$1: spoolctl stats" 'spoolctl stats && spoolctl stats | grep -q "^pending *0$"'
	check "$1: spoolctl list on an empty queue says so, exit 0" \
	    'spoolctl list | grep -q .'
	check "$1: the programs in /usr/sbin, each with its manual" '
	    progs=$(dpkg -L mail-relay | grep "^/usr/sbin/.") &&
	    for p in relay-fcgi relay-token spoold spoolctl trackd hookd; do
		echo "$progs" | grep -qx "/usr/sbin/$p" || exit 1
	    done &&
	    for p in $progs; do
		[ -x "$p" ] && ls /usr/share/man/man8/"${p##*/}".8.gz || exit 1
	    done'
	check "$1: trackd and hookd installed, not enabled (nothing to follow yet)" '
	    [ -f /lib/systemd/system/trackd.service ] &&
	    [ -f /lib/systemd/system/hookd.service ] &&
	    [ -z "$(find /etc/systemd/system -name trackd.service -o -name hookd.service)" ]'
	check "$1: no dpkg leftovers in $conf" \
	    '[ -z "$(find $conf -name "*.dpkg-*" -o -name "*.ucf-*")" ]'
}

echo "postfix postfix/main_mailer_type select No configuration" |
    debconf-set-selections
# No package script starts a daemon in here.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
apt-get -q update > /dev/null

echo "== first install, then purge"
check "install pulls the dependencies" 'apt install "$new"'
check "libraries, systemd, and the Recommends (postfix, nginx) installed" '
    for p in libfcgi0ldbl libcjson1 libbsd0 libmd0 systemd postfix nginx; do
	dpkg-query -W -f="\${Status}\n" $p | grep -q "install ok installed" ||
	    { echo "$p missing"; exit 1; }
    done'
installed_ok "install" "$new_v"
check "relay-token without a tty: two lines, the tokens line well formed" '
    relay-token shop app@example.com < /dev/null > /tmp/t &&
    [ $(wc -l < /tmp/t) -eq 2 ] && sed -n 1p /tmp/t | grep -Eq "^[0-9a-f]{64}$" &&
    sed -n 2p /tmp/t | grep -Eq "^shop sha256:[0-9a-f]{64} app@example.com$"'
check "relay-token -o FILE: token in FILE (0600), tokens line on stdout" '
    relay-token -o /root/shop.token shop app@example.com < /dev/null \
	>> $conf/tokens &&
    grep -Eq "^[0-9a-f]{64}$" /root/shop.token &&
    [ "$(modes /root/shop.token)" = "600 root root" ] &&
    grep -Eq "^shop sha256:[0-9a-f]{64} app@example.com$" $conf/tokens'
rm -f /root/shop.token /tmp/t
mkdir -p $spool/sent $spool/idem
echo "record" > $spool/sent/0000000000000-0000000000000001
echo "record" > $spool/idem/key
check "purge" 'apt purge mail-relay'
check "purge: configuration, server block, spool and overrides gone" '
    [ ! -e $conf ] && [ ! -e /etc/nginx/sites-available/mail-relay ] &&
    [ ! -e $spool ] && ! dpkg-statoverride --list | grep mail-relay'
check "purge: no file with the package's names is left" '[ -z "$(ours)" ] || { ours; exit 1; }'
check "purge: the mail-relay user stays (its files may remain elsewhere)" \
    'getent passwd mail-relay'

echo "== older build, upgrade, reinstall, remove, purge"
snapshot > /tmp/before
check "install $old_v" 'apt install "$old"'
installed_ok "older" "$old_v"
# The operator's changes, which upgrades must keep.
sed -i 's/^message_id_domain = .*/message_id_domain = mta.example.com/' \
    $conf/relay.conf
relay-token shop app@example.com | sed -n 2p >> $conf/tokens
sums=$(md5sum $conf/relay.conf $conf/tokens)
check "upgrade to $new_v" 'apt install "$new"'
installed_ok "upgrade" "$new_v"
check "upgrade keeps relay.conf and tokens as the operator left them" \
    '[ "$(md5sum $conf/relay.conf $conf/tokens)" = "$sums" ]'
check "reinstall $new_v" 'apt install --reinstall "$new"'
installed_ok "reinstall" "$new_v"
check "reinstall keeps relay.conf and tokens" \
    '[ "$(md5sum $conf/relay.conf $conf/tokens)" = "$sums" ]'
# A job that was never delivered and a batch (POST /emails/batch) not yet
# split into jobs, beside records that go with the spool.
echo "mail-relay-job 1" > $spool/pending/0000000000000-0000000000000000
mkdir -p $spool/batch $spool/sent $spool/idem
echo "mail-relay-batch 1" > $spool/batch/0000000000000-0000000000000002
echo "record" > $spool/sent/0000000000000-0000000000000001
echo "record" > $spool/idem/key
chown -R mail-relay:mail-relay $spool
check "remove" 'apt remove mail-relay'
check "remove: programs gone, configuration and spool kept" '
    [ ! -e /usr/sbin/spoold ] && [ -f $conf/relay.conf ] &&
    [ "$(md5sum $conf/relay.conf $conf/tokens)" = "$sums" ] &&
    [ -f $spool/pending/0000000000000-0000000000000000 ] &&
    [ -f $spool/batch/0000000000000-0000000000000002 ]'
check "purge with a job and a batch in the spool" 'apt purge mail-relay &&
    grep -q "mail-relay: $spool kept: it holds 2 jobs" /tmp/apt.out'
check "purge: configuration gone, the spool with its job and batch kept" '
    [ ! -e $conf ] && [ -f $spool/pending/0000000000000-0000000000000000 ] &&
    [ -f $spool/batch/0000000000000-0000000000000002 ]'
rm -rf $spool
check "purge: every file the package made is gone again" '
    snapshot > /tmp/after; diff /tmp/before /tmp/after'

echo "deb-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
