# Overload through nginx (tests/overload.py): factor x the durable /send
# rate for OVERLOAD_SECONDS, then slow clients.  Included by the top-level
# Makefile (-include tests/*.mk); not part of `make test`.
OVERLOAD_SECONDS ?= 30
OVERLOAD_FACTOR	?= 4
OVERLOAD_SLOW	?= 1000

overload: all
	$(PYTHON) tests/overload.py --seconds $(OVERLOAD_SECONDS) \
	    --factor $(OVERLOAD_FACTOR) --slow $(OVERLOAD_SLOW)

.PHONY: overload
