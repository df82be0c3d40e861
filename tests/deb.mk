# The Debian package (debian/).  Included by the top-level Makefile.
#
#   make deb        dist/mail-relay_*.deb built by dpkg-buildpackage from a
#                   clean copy of the tracked files, then lintian on the
#                   .deb and the .changes (no error, no warning)
#   make deb-test   install, reinstall, upgrade from an older build, remove
#                   and purge in a throwaway Debian 12 chroot (mmdebstrap);
#                   takes minutes, not part of `make test`
#   make unit-tests the cmocka unit tests alone (the package build runs
#                   them)

DEBDIST	?= dist

unit-tests: units
	@sh tests/run-units.sh $(UNITS)

deb:
	@sh conf/dev/deps.sh deb
	sh conf/dev/deb-build.sh $(DEBDIST)

deb-test: deb
	@sh conf/dev/deps.sh deb-test
	sh tests/deb-test.sh $(DEBDIST)

deb-clean:
	rm -rf $(DEBDIST)

clean: deb-clean

.PHONY: unit-tests deb deb-test deb-clean
