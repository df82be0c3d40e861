# mail-relay: relay-fcgi, relay-token, spoold, spoolctl.
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
EXAMPLEDIR ?= $(PREFIX)/share/doc/mail-relay/examples
PYTHON	?= /usr/bin/python3
PKG_CONFIG ?= pkg-config

CC	?= cc
WERROR	?= -Werror
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 -Wall -Wextra $(WERROR) -Wshadow -Wpointer-arith \
	   -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 \
	   -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE \
	   -pthread -MMD -MP -Icgi -Ispoold -Itrackd
CFLAGS	+= $(shell $(PKG_CONFIG) --cflags libcjson libbsd-overlay libmd fcgi 2>/dev/null)
CFLAGS	+= $(SANFLAGS)
LDFLAGS	+= -pie -Wl,-z,relro,-z,now -Wl,--as-needed -pthread $(SANFLAGS)
LDLIBS	+= $(shell $(PKG_CONFIG) --libs libcjson libbsd-overlay libmd 2>/dev/null) -lfcgi

MAINS	= cgi/relay-fcgi.c cgi/relay-token.c spoold/spoold.c spoold/spoolctl.c \
	  tests/fake-sendmail.c tests/build-message.c
LIBSRCS	= $(filter-out $(MAINS), $(wildcard cgi/*.c spoold/*.c trackd/*.c))
LIBOBJS	= $(LIBSRCS:.c=.o)
LIB	= libmailrelay.a
PROGS	= cgi/relay-fcgi cgi/relay-token spoold/spoold spoold/spoolctl
UNITSRCS = $(wildcard tests/unit_*.c)
UNITS	= $(UNITSRCS:.c=)
MANS	= $(wildcard cgi/*.[1-8] spoold/*.[1-8])

all: $(PROGS)

cgi/relay-fcgi: cgi/relay-fcgi.o $(LIB)
cgi/relay-token: cgi/relay-token.o $(LIB)
spoold/spoold: spoold/spoold.o $(LIB)
spoold/spoolctl: spoold/spoolctl.o $(LIB)
tests/fake-sendmail: tests/fake-sendmail.o
tests/build-message: tests/build-message.o $(LIB)

$(LIB): $(LIBOBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(PROGS) tests/fake-sendmail tests/build-message:
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests/unit_%: tests/unit_%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

deps:
	@sh conf/dev/deps.sh

units: $(UNITS) tests/fake-sendmail tests/build-message

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

run: deps
	@$(MAKE) -s all
	@sh conf/dev/run.sh

lint:
	mandoc -Tlint -W warning $(MANS)

install: all
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(PROGS) $(DESTDIR)$(SBINDIR)
	for m in $(MANS); do \
	    s=$${m##*.}; install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s; done
	install -d -m 0755 $(DESTDIR)$(SYSTEMDDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/tmpfiles.d $(DESTDIR)$(SYSCONFDIR)/sysusers.d \
	    $(DESTDIR)$(SYSCONFDIR)/mail-relay $(DESTDIR)$(EXAMPLEDIR)/nginx \
	    $(DESTDIR)$(EXAMPLEDIR)/postfix $(DESTDIR)$(EXAMPLEDIR)/opendkim
	for u in relay-fcgi.socket relay-fcgi.service spoold.service; do \
	    sed 's|/usr/local/sbin/|$(SBINDIR)/|' conf/systemd/$$u \
	        > $(DESTDIR)$(SYSTEMDDIR)/$$u && \
	    chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/$$u || exit 1; done
	install -m 0644 conf/systemd/mail-relay.tmpfiles \
	    $(DESTDIR)$(SYSCONFDIR)/tmpfiles.d/mail-relay.conf
	install -m 0644 conf/systemd/mail-relay.sysusers \
	    $(DESTDIR)$(SYSCONFDIR)/sysusers.d/mail-relay.conf
	install -m 0644 conf/mail-relay/relay.conf $(DESTDIR)$(EXAMPLEDIR)
	test -e $(DESTDIR)$(SYSCONFDIR)/mail-relay/relay.conf || \
	    install -m 0644 conf/mail-relay/relay.conf \
	        $(DESTDIR)$(SYSCONFDIR)/mail-relay/relay.conf
	install -m 0644 conf/nginx/mail-relay.conf conf/nginx/nginx.conf \
	    $(DESTDIR)$(EXAMPLEDIR)/nginx
	install -m 0644 conf/postfix/main.cf conf/postfix/master.cf \
	    $(DESTDIR)$(EXAMPLEDIR)/postfix
	install -m 0644 conf/opendkim/opendkim.conf conf/opendkim/KeyTable \
	    conf/opendkim/SigningTable conf/opendkim/TrustedHosts \
	    $(DESTDIR)$(EXAMPLEDIR)/opendkim

clean: bench-clean
	rm -f $(LIB) cgi/*.o cgi/*.d spoold/*.o spoold/*.d trackd/*.o trackd/*.d \
	    tests/*.o tests/*.d \
	    $(PROGS) $(UNITS) tests/fake-sendmail tests/build-message

# Keep intermediate objects (unit and fuzz harness .o files) between runs.
.SECONDARY:

.PHONY: all deps units test sanitize valgrind run lint install clean bench

bench: all
	sh bench/run.sh

-include bench/bench.mk $(wildcard tests/fuzz/*.mk tests/*.mk)
-include $(wildcard cgi/*.d spoold/*.d trackd/*.d tests/*.d)
