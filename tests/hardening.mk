# Hardening: the fault-injection shim and the soak test.  Included by the
# top-level Makefile (-include tests/*.mk).
#
#   tests/faultinject.so   LD_PRELOAD shim for tests/test_faults.py; built
#                          by `make units` (so by `make test`)
#   make soak              60 s (SOAK_SECONDS) at SOAK_RATE requests/s
#                          through nginx -> relay-fcgi -> spool -> spoold
#                          -> fake sendmail; not part of `make test`
#
# The shim is built without the sanitizer flags: it is preloaded into
# sanitized programs as well (ASAN_OPTIONS=verify_asan_link_order=0).

SOAK_SECONDS	?= 60
SOAK_RATE	?= 200
FI_CFLAGS	= -O2 -g -std=gnu11 -Wall -Wextra $(WERROR) -fPIC -shared -pthread

tests/faultinject.so: tests/faultinject.c
	$(CC) $(FI_CFLAGS) -o $@ tests/faultinject.c -ldl

units: tests/faultinject.so

soak: all tests/fake-sendmail
	$(PYTHON) tests/soak.py --seconds $(SOAK_SECONDS) --rate $(SOAK_RATE)

hardening-clean:
	rm -f tests/faultinject.so

clean: hardening-clean

.PHONY: soak hardening-clean
