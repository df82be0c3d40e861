#!/bin/sh
# make deb-test: the Debian package installed, reinstalled, upgraded from
# an older build, removed and purged in a throwaway Debian 12 chroot that
# mmdebstrap makes from Debian's mirror (tests/deb-check.sh runs inside).
# Takes a few minutes; run as root after `make deb`.
#	deb-test.sh DIST
set -eu
dist=$1
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
new=$dist/mail-relay_${version}_${arch}.deb
old_version="${version}~pre1"
old=$dist/old/mail-relay_${old_version}_${arch}.deb

[ -f "$new" ] || { echo "deb-test: $new missing (make deb)" >&2; exit 1; }
# debian/control's Build-Depends resolve (apt-get build-dep . works).
apt-get -s -q build-dep ./ >/dev/null
echo "deb-test: build-dep resolves"

# The "older release": this tree with a lower version, built the same way.
echo "deb-test: building $old_version"
if ! sh conf/dev/deb-build.sh "$dist/old" "$old_version" \
    > "$dist/old-build.log" 2>&1; then
	tail -n 30 "$dist/old-build.log" >&2
	exit 1
fi

echo "deb-test: making a Debian 12 chroot and running tests/deb-check.sh in it"
# The format null: the chroot is deleted when the hooks are done.
mmdebstrap --variant=apt --format=null \
    --customize-hook="copy-in $new $old tests/deb-check.sh /tmp" \
    --customize-hook="chroot \"\$1\" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root LANG=C.UTF-8 sh /tmp/deb-check.sh '$version' '$old_version'" \
    bookworm /dev/null
