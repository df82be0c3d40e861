# ThreadSanitizer (make tsan): relay-fcgi, the other programs and the units
# built with -fsanitize=thread, then the tests that drive relay-fcgi's
# worker threads concurrently: parallel sends, Idempotency-Key races,
# SIGHUP reloads under load, SIGTERM with requests in flight, the metrics
# counters.  A report ends the program (halt_on_error) and the tests look
# for it in relay-fcgi's log.  Included by the top-level Makefile.
TSAN	= -O1 -g -fsanitize=thread -fno-omit-frame-pointer
TSAN_TESTS = tests/test_concurrency.py tests/test_send.py \
	  tests/test_metrics.py

tsan: deps
	$(MAKE) clean
	$(MAKE) SANFLAGS="$(TSAN)" all units
	TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$(CURDIR)/tests/tsan.supp" \
	    sh tests/run-units.sh $(UNITS)
	TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$(CURDIR)/tests/tsan.supp" \
	    $(PYTHON) -m pytest -q -p no:cacheprovider $(TSAN_TESTS)
	$(MAKE) clean

.PHONY: tsan
