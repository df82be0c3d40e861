# mail-relay: relay-fcgi, relay-token, spoold, spoolctl, trackd, hookd.
#
#   make            build the programs
#   make test       install missing Debian packages, run every test
#   make run        start a local relay on 127.0.0.1 (see README)
#   make install    PREFIX=/usr/local DESTDIR=
#   make lint       mandoc -Tlint on every man page
#   make sanitize   the test suite built with ASan + UBSan
#   make valgrind   the unit tests under valgrind memcheck
#   make fuzz       libFuzzer harnesses (FUZZ_SECONDS each); fuzz-smoke
#                   runs each ~10 s, fuzz-replay replays the corpora
#   make soak       60 s steady load, checks nothing lost and flat memory
#   make bench      the benchmark (bench/RESULTS.md)

PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
SYSTEMDDIR ?= $(SYSCONFDIR)/systemd/system
TMPFILESDIR ?= $(SYSCONFDIR)/tmpfiles.d
SYSUSERSDIR ?= $(SYSCONFDIR)/sysusers.d
# /etc/mail-relay and the files in it: root:mail-relay 0750 and 0640
# (the group is set when it exists; the Debian package sets both with
# dpkg-statoverride instead).
CONFDIRMODE ?= 0750
CONFMODE ?= 0640
EXAMPLEDIR ?= $(PREFIX)/share/doc/mail-relay/examples
PYTHON	?= /usr/bin/python3
PKG_CONFIG ?= pkg-config

# Flags.  What the code needs is kept apart from what a user may set:
# CFLAGS (default -O2 -g), CPPFLAGS, LDFLAGS and LDLIBS given on the command
# line or in the environment add to the required flags, never replace them,
# so `make CC=clang`, `make CFLAGS=-O0` and `make -j2` all build.  WARNFLAGS
# and HARDFLAGS are the one set used by the main build, the sanitizer build
# (SANFLAGS) and the fuzz build (tests/fuzz/fuzz.mk).
CFLAGS	?= -O2 -g
WERROR	?= -Werror
STDFLAGS = -std=gnu11 -pthread
WARNFLAGS = -Wall -Wextra $(WERROR) -Wshadow -Wpointer-arith \
	   -Wmissing-prototypes -Wstrict-prototypes -Wformat=2
HARDFLAGS = -fstack-protector-strong -fstack-clash-protection -fPIE
HARDLDFLAGS = -pie -Wl,-z,relro,-z,now -Wl,--as-needed
DEPFLAGS = -MMD -MP

# _FORTIFY_SOURCE: level 3 where compiler and C library support it, else 2;
# it needs an optimising build, so none at -O0 (or with no -O at all), where
# glibc would warn and -Werror would stop the build.  $(call fortify,CC,
# flags) gives the -D for that compiler and those flags.
fortify_level = $(shell printf '\043include <stdio.h>\n\043if __USE_FORTIFY_LEVEL < 3\n\043error\n\043endif\n' | \
	$(1) -O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -E -x c - >/dev/null 2>&1 && echo 3 || echo 2)
fortify = $(if $(filter-out -O0,$(lastword $(filter -O%,$(2)))), \
	-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=$(call fortify_level,$(1)))
FORTIFY := $(call fortify,$(CC),$(CFLAGS) $(SANFLAGS))

# Libraries, from pkg-config.  Every program gets the same -l list;
# --as-needed keeps only the ones it uses (readelf -d shows them).
PKGS	= libcjson libbsd-overlay libmd fcgi libxml-2.0
PKG_CPPFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(or $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null), \
	-lcjson -lbsd -lmd -lfcgi -lxml2)
# hookd alone links libcurl and libcrypto (the HMAC of its signatures).
HOOK_PKG_LIBS := $(or $(shell $(PKG_CONFIG) --libs libcurl libcrypto \
	2>/dev/null),-lcurl -lcrypto)
CMOCKA_LIBS := $(or $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null),-lcmocka)

ALL_CPPFLAGS = $(FOLDERS:%=-I%) $(PKG_CPPFLAGS) $(FORTIFY) $(CPPFLAGS)
ALL_CFLAGS = $(STDFLAGS) $(WARNFLAGS) $(HARDFLAGS) $(CFLAGS) $(SANFLAGS)
ALL_LDFLAGS = $(HARDLDFLAGS) -pthread $(SANFLAGS) $(LDFLAGS)
ALL_LDLIBS = $(PKG_LIBS) $(LDLIBS)

%.o: %.c
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

%.a:
	rm -f $@
	$(AR) rcs $@ $^

# Link $@ from the objects and archives among its prerequisites; the
# archives form a group, so the order they are named in does not matter.
LINK	= $(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) \
	  -Wl,--start-group $(filter %.a,$^) -Wl,--end-group $(ALL_LDLIBS)

# Folders and programs.  FOLDERS are the source folders beside each other
# (each on the include path).  A program's main is <folder>/<program>.c;
# the folder's other .c files are its library, found by wildcard: a new
# source file needs no edit here.  Each program links the libraries it
# uses:
#
#	spoold/libspool.a  the spool module, cfg, log, metrics, priv, text,
#	                   pindex (all of spoold/ but the mains and deliver.c)
#	spoold/deliver.o   spawning sendmail; spoold only
#	cgi/libcgi.a       the CGI's modules (all of cgi/ but the mains)
#	trackd/libtrack.a  trackd's modules (all of trackd/ but its main)
#	hookd/libhook.a    hookd's modules; hookd alone links libcurl and
#	                   libcrypto (HOOK_PKG_LIBS)
#
# A new program folder (say hookd/): add it to FOLDERS and its program to
# PROGS, then (one library line, one program line)
#	$(HOOK_LIB): $(call lib_objs,hookd)	with HOOK_LIB = hookd/libhook.a
#	hookd/hookd: hookd/hookd.o $(HOOK_LIB) $(SPOOL_LIB)
# and a unit test that needs the folder names it (see tests/unit_% below).
FOLDERS	= cgi spoold trackd hookd
PROGS	= cgi/relay-fcgi cgi/relay-token spoold/spoold spoold/spoolctl \
	  trackd/trackd hookd/hookd
HELPERS	= tests/helpers/fake-sendmail tests/helpers/build-message \
	  tests/helpers/record-outcome \
	  tests/helpers/html2text
MAINS	= $(PROGS:=.c) $(HELPERS:=.c)
SRCDIRS	= $(FOLDERS) tests tests/helpers bench
lib_objs = $(patsubst %.c,%.o,$(filter-out $(MAINS) $(2),$(wildcard $(1)/*.c)))

DELIVER	= spoold/deliver.o
SPOOL_LIB = spoold/libspool.a
CGI_LIB	= cgi/libcgi.a
TRACK_LIB = trackd/libtrack.a
HOOK_LIB = hookd/libhook.a
$(SPOOL_LIB): $(call lib_objs,spoold,spoold/deliver.c)
$(CGI_LIB): $(call lib_objs,cgi)
$(TRACK_LIB): $(call lib_objs,trackd)
$(HOOK_LIB): $(call lib_objs,hookd)

UNITSRCS = $(wildcard tests/unit_*.c)
UNITS	= $(UNITSRCS:.c=)
MANS	= $(wildcard $(SRCDIRS:=/*.[1-8]))

all: $(PROGS)

cgi/relay-fcgi: cgi/relay-fcgi.o $(CGI_LIB) $(SPOOL_LIB)
cgi/relay-token: cgi/relay-token.o $(CGI_LIB) $(SPOOL_LIB)
spoold/spoold: spoold/spoold.o $(DELIVER) $(SPOOL_LIB)
spoold/spoolctl: spoold/spoolctl.o $(SPOOL_LIB)
trackd/trackd: trackd/trackd.o $(TRACK_LIB) $(SPOOL_LIB)
hookd/hookd: hookd/hookd.o $(HOOK_LIB) $(SPOOL_LIB)
tests/helpers/fake-sendmail: tests/helpers/fake-sendmail.o
tests/helpers/build-message: tests/helpers/build-message.o $(CGI_LIB)
tests/helpers/record-outcome: tests/helpers/record-outcome.o $(SPOOL_LIB)
tests/helpers/html2text: tests/helpers/html2text.o $(CGI_LIB)

$(PROGS) $(HELPERS):
	$(LINK)
hookd/hookd: LDLIBS += $(HOOK_PKG_LIBS)

# Unit tests: tests/unit_<name>.c.  Each links the cgi objects and the
# spool library (an archive adds only the members a test calls); one that
# needs more names it on a line of its own.
tests/unit_%: tests/unit_%.o $(CGI_LIB) $(SPOOL_LIB)
	$(LINK) $(CMOCKA_LIBS)
tests/unit_trackd_parse: $(TRACK_LIB)
tests/unit_spool tests/unit_record tests/unit_spool_tags: tests/spoolfx.o
tests/unit_spool_addr: tests/spoolfx.o
tests/unit_hookd: $(HOOK_LIB)
tests/unit_hookd: LDLIBS += $(HOOK_PKG_LIBS)

deps:
	@sh conf/dev/deps.sh test

deps-run:
	@sh conf/dev/deps.sh run

units: $(UNITS) $(HELPERS)

# The README's test command.  Installs what it needs, then runs every test.
test: deps
	$(MAKE) all units
	@sh tests/run-units.sh $(UNITS)
	$(PYTHON) -m pytest -q -p no:cacheprovider tests

# The same suite built with ASan + UBSan; any finding aborts the program.
SAN	= -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	  -fno-omit-frame-pointer
sanitize: deps
	$(MAKE) clean
	$(MAKE) SANFLAGS="$(SAN)" all units
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    sh tests/run-units.sh $(UNITS)
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests
	$(MAKE) clean

# The unit tests under valgrind memcheck: no errors, no definite leaks.
valgrind: deps
	$(MAKE) all units
	@for t in $(UNITS); do \
	    echo "valgrind $$t"; \
	    valgrind -q --error-exitcode=1 --leak-check=full \
	        --errors-for-leak-kinds=definite $$t >/dev/null || exit 1; \
	done

run: deps-run
	@$(MAKE) -s all
	@sh conf/dev/run.sh

lint:
	mandoc -Tlint -W warning $(MANS)

install: all
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(PROGS) $(DESTDIR)$(SBINDIR)
	for m in $(MANS); do \
	    s=$${m##*.}; install -d -m 0755 $(DESTDIR)$(MANDIR)/man$$s && \
	    install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s || exit 1; done
	install -d -m 0755 $(DESTDIR)$(SYSTEMDDIR) \
	    $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(EXAMPLEDIR)/nginx \
	    $(DESTDIR)$(EXAMPLEDIR)/postfix $(DESTDIR)$(EXAMPLEDIR)/opendkim
	install -d -m $(CONFDIRMODE) $(DESTDIR)$(SYSCONFDIR)/mail-relay
	for u in $(notdir $(wildcard conf/systemd/*.service conf/systemd/*.socket \
	    conf/systemd/*.timer)); do \
	    sed 's|/usr/local/sbin/|$(SBINDIR)/|' conf/systemd/$$u \
	        > $(DESTDIR)$(SYSTEMDDIR)/$$u && \
	    chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/$$u || exit 1; done
	install -m 0644 conf/systemd/mail-relay.tmpfiles \
	    $(DESTDIR)$(TMPFILESDIR)/mail-relay.conf
	install -m 0644 conf/systemd/mail-relay.sysusers \
	    $(DESTDIR)$(SYSUSERSDIR)/mail-relay.conf
	install -m 0644 conf/mail-relay/relay.conf $(DESTDIR)$(EXAMPLEDIR)
	test -e $(DESTDIR)$(SYSCONFDIR)/mail-relay/relay.conf || \
	    install -m $(CONFMODE) conf/mail-relay/relay.conf \
	        $(DESTDIR)$(SYSCONFDIR)/mail-relay/relay.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/mail-relay/tokens || \
	    install -m $(CONFMODE) /dev/null $(DESTDIR)$(SYSCONFDIR)/mail-relay/tokens
	if [ -z "$(DESTDIR)" ] && getent group mail-relay >/dev/null; then \
	    chgrp mail-relay $(SYSCONFDIR)/mail-relay \
	        $(SYSCONFDIR)/mail-relay/relay.conf $(SYSCONFDIR)/mail-relay/tokens; fi
	install -m 0644 conf/nginx/mail-relay.conf conf/nginx/nginx.conf \
	    $(DESTDIR)$(EXAMPLEDIR)/nginx
	install -m 0644 conf/postfix/main.cf conf/postfix/master.cf \
	    $(DESTDIR)$(EXAMPLEDIR)/postfix
	install -m 0644 conf/opendkim/opendkim.conf conf/opendkim/KeyTable \
	    conf/opendkim/SigningTable conf/opendkim/TrustedHosts \
	    $(DESTDIR)$(EXAMPLEDIR)/opendkim

clean: bench-clean
	rm -f $(foreach d,$(SRCDIRS),$(d)/*.o $(d)/*.d $(d)/*.a) \
	    $(PROGS) $(UNITS) $(HELPERS)

# Keep intermediate objects (unit and fuzz harness .o files) between runs.
.SECONDARY:

.PHONY: all deps deps-run units test sanitize valgrind run lint install clean bench

bench: all
	sh bench/run.sh

-include bench/bench.mk $(wildcard tests/fuzz/*.mk tests/*.mk)
-include $(wildcard $(SRCDIRS:=/*.d))
