# Hardening: the fault-injection shim and the soak test.  Included by the
# top-level Makefile (-include tests/*.mk).
#
#   tests/helpers/faultinject.so
#                          LD_PRELOAD shim for tests/test_faults.py and
#                          tests/test_crash.py; built by `make units` (so
#                          by `make test`)
#   make soak              60 s (SOAK_SECONDS) at SOAK_RATE requests/s
#                          through nginx -> relay-fcgi -> spool -> spoold
#                          -> fake sendmail; not part of `make test`
#
# The shim is built with the main build's warnings but without the
# sanitizer flags (it is preloaded into sanitized programs as well,
# ASAN_OPTIONS=verify_asan_link_order=0) and without _FORTIFY_SOURCE and
# the other hardening flags: it defines open() and friends itself, which
# the fortified inline wrappers in <fcntl.h> would clash with.

SOAK_SECONDS	?= 60
SOAK_RATE	?= 200
FI_SHIM		= tests/helpers/faultinject.so

$(FI_SHIM): tests/helpers/faultinject.c
	$(CC) $(STDFLAGS) $(WARNFLAGS) $(CFLAGS) -fPIC -shared $(CPPFLAGS) \
	    $(LDFLAGS) -o $@ $< -ldl

units: $(FI_SHIM)

soak: all tests/helpers/fake-sendmail
	$(PYTHON) tests/soak.py --seconds $(SOAK_SECONDS) --rate $(SOAK_RATE)

hardening-clean:
	rm -f $(FI_SHIM)

clean: hardening-clean

.PHONY: soak hardening-clean

# The whole chain (nginx, relay-fcgi, spoold, Postfix + OpenDKIM, a sink
# that delivers, defers and bounces, trackd, hookd when built) under
# steady traffic, each daemon restarted once: SOAK_CHAIN_SECONDS (one hour:
# 3600) at SOAK_CHAIN_RATE messages a second.  Root; not part of make test.
SOAK_CHAIN_SECONDS ?= 120
SOAK_CHAIN_RATE	?= 3

soak-chain: all
	$(PYTHON) tests/chain/soak_chain.py --seconds $(SOAK_CHAIN_SECONDS) \
	    --rate $(SOAK_CHAIN_RATE)

.PHONY: soak-chain
