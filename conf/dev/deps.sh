#!/bin/sh
# Install the Debian 12 packages that building, running and testing
# mail-relay need, when any is missing.  Runs apt-get only as root.
#	deps.sh [run|test|deb|deb-test]	(test: run's and the tests')
set -eu

# What building and running a local relay (make run) needs.
RUN="build-essential pkg-config libfcgi-dev libcjson-dev libbsd-dev
libmd-dev libxml2-dev libcurl4-openssl-dev libssl-dev nginx-light curl"
# What the tests add (make test): the chain's Postfix and OpenDKIM, pytest,
# the manual linter, valgrind, clang's sanitizers and fuzzer, wrk,
# Prometheus (its promtool checks /metrics), mpack and SpamAssassin.
TEST="libfcgi-bin libcmocka-dev postfix opendkim opendkim-tools python3
python3-pytest python3-requests python3-dkim systemd python3-aiosmtpd
openssl mandoc valgrind clang libclang-rt-14-dev wrk procps prometheus
mpack spamassassin strace"
# The Debian package (make deb: debian/control's Build-Depends, lintian)
# and its chroot test (make deb-test).
DEB="build-essential debhelper dpkg-dev pkg-config libfcgi-dev
libcjson-dev libbsd-dev libmd-dev libxml2-dev libcmocka-dev
libcurl4-openssl-dev libssl-dev lintian git"
DEBTEST="mmdebstrap"

case "${1:-test}" in
run)		PKGS=$RUN ;;
test)		PKGS="$RUN $TEST" ;;
deb)		PKGS=$DEB ;;
deb-test)	PKGS="$DEB $DEBTEST" ;;
*)		echo "usage: deps.sh [run|test|deb|deb-test]" >&2; exit 64 ;;
esac

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$' || missing="$missing $p"
done
# The tests run the official Resend SDK (tests/package.json) on Node.js:
# Debian's nodejs and npm where no node is installed.
if [ "${1:-test}" = test ]; then
	command -v node >/dev/null 2>&1 || missing="$missing nodejs"
	command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing (run as root to install)" >&2
	exit 1
fi
echo "deps: installing$missing"
# Postfix asks how to configure itself; "No configuration" starts nothing.
echo "postfix postfix/main_mailer_type select No configuration" |
    debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections
# Keep package scripts from starting nginx, Postfix or OpenDKIM.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 0755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
