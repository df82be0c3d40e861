# Benchmark tools, built with the Makefile's compiler and flags
# (included by the top-level Makefile):
#	make bench-tools
# bench/run.sh does this itself; `make bench` runs bench/run.sh.

BENCHPROGS = bench/fcgi-echo bench/durable-loop bench/noop-sendmail \
	     bench/spawn-loop bench/spool-fill bench/log-writer \
	     bench/html2text-cost

bench-tools: $(BENCHPROGS)

bench/fcgi-echo: bench/fcgi-echo.o bench/benchjob.o $(SPOOL_LIB)
bench/durable-loop: bench/durable-loop.o bench/benchjob.o $(SPOOL_LIB)
bench/noop-sendmail: bench/noop-sendmail.o
bench/spawn-loop: bench/spawn-loop.o
bench/spool-fill: bench/spool-fill.o bench/benchjob.o $(SPOOL_LIB)
bench/log-writer: bench/log-writer.o
bench/html2text-cost: bench/html2text-cost.o $(CGI_LIB)

$(BENCHPROGS):
	$(LINK)

bench-clean:
	rm -f $(BENCHPROGS) bench/*.o bench/*.d

.PHONY: bench-tools bench-clean

-include $(wildcard bench/*.d)
