#!/bin/sh
# make deb: build the Debian package from a clean copy of the tracked files
# (what a clean clone holds, with this work tree's edits and new files), then lintian on
# the .deb and the .changes.  Results in DIST (dist/).
#	deb-build.sh DIST [VERSION]
# VERSION replaces the changelog's (deb-test's older build); that build
# runs neither the unit tests nor lintian.
set -eu
dist=$1
version=${2:-}
top=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - |
    tar -C "$work/src" -xf -
cd "$work/src"
if [ -n "$version" ]; then
	sed -i "1s/([^)]*)/($version)/" debian/changelog
	export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }nocheck"
fi
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
dpkg-buildpackage -us -uc -b
cd "$top"
mkdir -p "$dist"
for f in "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo; do
	cp "$f" "$dist/"
done
changes=$dist/mail-relay_${version}_${arch}.changes
echo "deb: $dist/mail-relay_${version}_${arch}.deb"
if [ -z "${2:-}" ]; then
	lintian --fail-on error,warning \
	    "$dist/mail-relay_${version}_${arch}.deb" "$changes"
	echo "deb: lintian: no errors, no warnings"
fi
