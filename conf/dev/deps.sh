#!/bin/sh
# Install the Debian 12 packages that building, running and testing
# mail-relay need, when any is missing.  Runs apt-get only as root.
set -eu

PKGS="build-essential pkg-config libfcgi-dev libfcgi-bin libcjson-dev
libbsd-dev libmd-dev libcmocka-dev nginx-light postfix opendkim
opendkim-tools python3 python3-pytest python3-requests python3-dkim systemd
python3-aiosmtpd openssl curl mandoc valgrind clang libclang-rt-14-dev wrk
procps prometheus libxml2-dev mpack spamassassin"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$' || missing="$missing $p"
done
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
