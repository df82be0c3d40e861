# Benchmark tools, built with the Makefile's compiler and flags:
#	make -f Makefile -f bench/bench.mk bench-tools
# bench/run.sh does this itself; `make bench` runs bench/run.sh.

BENCHPROGS = bench/fcgi-echo bench/durable-loop bench/noop-sendmail \
	     bench/spawn-loop bench/spool-fill

bench-tools: $(BENCHPROGS)

bench/fcgi-echo: bench/fcgi-echo.o
bench/durable-loop: bench/durable-loop.o
bench/noop-sendmail: bench/noop-sendmail.o
bench/spawn-loop: bench/spawn-loop.o
bench/spool-fill: bench/spool-fill.o $(LIB)

$(BENCHPROGS):
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-clean:
	rm -f $(BENCHPROGS) bench/*.o bench/*.d

.PHONY: bench-tools bench-clean

-include $(wildcard bench/*.d)
