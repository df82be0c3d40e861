# libFuzzer harnesses for everything that parses or encodes outside data.
# Included by the top-level Makefile (-include tests/fuzz/*.mk), which
# provides the flags (STDFLAGS, WARNFLAGS, HARDFLAGS, fortify), PKG_CPPFLAGS,
# PKG_LIBS and lib_objs.
#
#   make fuzz            each harness for FUZZ_SECONDS (default 60)
#   make fuzz-smoke      each harness for FUZZ_SMOKE_SECONDS (default 10)
#   make fuzz-replay     each harness over its checked-in corpus, once
#   make fuzz-build      build the harnesses only
#   make fuzz-clean
#
# Harnesses and library objects are built with clang (FUZZ_CC), the main
# build's warning and hardening flags, FUZZ_CFLAGS (default -g -O1) and
# -fsanitize=fuzzer, address and undefined, no recovery.  A run starts
# from the seeds in tests/fuzz/corpus/<harness>/ (read only) and keeps
# what it finds in tests/fuzz/fuzz_out/<harness>/corpus/; a crash is saved
# there as crash-* and fails the target.  Copy a crash into the seed corpus to keep
# it as a regression input: fuzz-replay and every later run replay it.

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_DIR	= tests/fuzz
FUZZ_OBJDIR	= $(FUZZ_DIR)/fuzz_obj
FUZZ_OUT	= $(FUZZ_DIR)/fuzz_out
FUZZ_SAN	= -fsanitize=address,undefined -fno-sanitize-recover=all \
		  -fno-omit-frame-pointer
FUZZ_CFLAGS	?= -g -O1
FUZZ_CPPFLAGS	:= $(FOLDERS:%=-I%) -I$(FUZZ_DIR) $(PKG_CPPFLAGS) \
		   $(call fortify,$(FUZZ_CC),$(FUZZ_CFLAGS))
FUZZ_ALL_CFLAGS	= $(STDFLAGS) $(WARNFLAGS) $(HARDFLAGS) $(FUZZ_CFLAGS) \
		  $(FUZZ_SAN) $(DEPFLAGS)
FUZZ_LDLIBS	= $(PKG_LIBS) -pthread
FUZZ_NAMES	= req build addr mime spool record cfg tokens trackd html2text \
		  resend event batch
FUZZ_BINS	= $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_LIBOBJS	= $(patsubst %,$(FUZZ_OBJDIR)/%, \
		  $(foreach d,$(FOLDERS),$(call lib_objs,$(d))))
FUZZ_LIB	= $(FUZZ_OBJDIR)/libfuzzrelay.a
FUZZ_UTIL	= $(FUZZ_OBJDIR)/fuzzutil.o
# Per-harness options: bodies need room; the rest stay small.
FUZZ_OPTS_req	= -max_len=16384 -dict=$(FUZZ_DIR)/json.dict
FUZZ_OPTS_resend = -max_len=16384 -dict=$(FUZZ_DIR)/json.dict
FUZZ_OPTS_build	= -max_len=8192
FUZZ_OPTS_spool	= -max_len=8192
FUZZ_OPTS_record	= -max_len=8192
FUZZ_OPTS_event	= -max_len=8192
FUZZ_OPTS_batch	= -max_len=16384
FUZZ_OPTS_cfg	= -max_len=4096 -dict=$(FUZZ_DIR)/cfg.dict
FUZZ_OPTS_trackd = -max_len=4096 -dict=$(FUZZ_DIR)/trackd.dict
FUZZ_OPTS_html2text = -max_len=16384 -dict=$(FUZZ_DIR)/html.dict

fuzz-build: $(FUZZ_BINS)

$(FUZZ_OBJDIR)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_ALL_CFLAGS) -fsanitize=fuzzer-no-link \
	    -c -o $@ $<

$(FUZZ_OBJDIR)/fuzzutil.o: $(FUZZ_DIR)/fuzzutil.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_ALL_CFLAGS) -c -o $@ $<

$(FUZZ_OBJDIR)/fuzz_%.o: $(FUZZ_DIR)/fuzz_%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_ALL_CFLAGS) -fsanitize=fuzzer-no-link \
	    -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIBOBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_OBJDIR)/fuzz_%.o $(FUZZ_UTIL) $(FUZZ_LIB)
	$(FUZZ_CC) $(HARDLDFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ \
	    $(FUZZ_LDLIBS)

# One harness for $(1) seconds: new inputs to fuzz_out, seeds read only.
# The last status line (execs, coverage, corpus) goes to fuzz_out/summary;
# a failure is reported and the next harness still runs.
define fuzz_run
	@mkdir -p $(FUZZ_OUT)/$(1)/corpus
	@echo "fuzz_$(1): $(2)s"
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ./$(FUZZ_DIR)/fuzz_$(1) -max_total_time=$(2) -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 $(FUZZ_OPTS_$(1)) \
	    -artifact_prefix=$(FUZZ_OUT)/$(1)/ \
	    $(FUZZ_OUT)/$(1)/corpus $(FUZZ_DIR)/corpus/$(1) \
	    > $(FUZZ_OUT)/$(1)/log 2>&1 || \
	    { tail -n 40 $(FUZZ_OUT)/$(1)/log; \
	      echo "fuzz_$(1) FAILED: $(FUZZ_OUT)/$(1)/log" | \
	      tee -a $(FUZZ_OUT)/summary; touch $(FUZZ_OUT)/failed; }
	@{ printf 'fuzz_%-7s ' $(1); \
	   grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' $(FUZZ_OUT)/$(1)/log | \
	   tail -n 1; \
	   grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
	   $(FUZZ_OUT)/$(1)/log | tr '\n' ' '; echo; } | \
	   tee -a $(FUZZ_OUT)/summary

endef

fuzz: fuzz-build
	@mkdir -p $(FUZZ_OUT) && : > $(FUZZ_OUT)/summary && rm -f $(FUZZ_OUT)/failed
	$(foreach h,$(FUZZ_NAMES),$(call fuzz_run,$(h),$(FUZZ_SECONDS)))
	@! test -e $(FUZZ_OUT)/failed

fuzz-smoke: fuzz-build
	@mkdir -p $(FUZZ_OUT) && : > $(FUZZ_OUT)/summary && rm -f $(FUZZ_OUT)/failed
	$(foreach h,$(FUZZ_NAMES),$(call fuzz_run,$(h),$(FUZZ_SMOKE_SECONDS)))
	@! test -e $(FUZZ_OUT)/failed

# Every checked-in input once: the regression run (seconds in all).
fuzz-replay: fuzz-build
	@mkdir -p $(FUZZ_OUT); fail=0; for h in $(FUZZ_NAMES); do \
	    echo "replay fuzz_$$h"; \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ./$(FUZZ_DIR)/fuzz_$$h -runs=0 \
	        -artifact_prefix=$(FUZZ_OUT)/replay-$$h- $(FUZZ_DIR)/corpus/$$h \
	        > $(FUZZ_OUT)/replay-$$h.log 2>&1 || \
	        { tail -n 30 $(FUZZ_OUT)/replay-$$h.log; \
	          echo "fuzz_$$h: FAILED"; fail=1; }; \
	done; exit $$fail

fuzz-clean:
	rm -rf $(FUZZ_OBJDIR) $(FUZZ_OUT) $(FUZZ_BINS)

.PHONY: fuzz fuzz-smoke fuzz-replay fuzz-build fuzz-clean

-include $(wildcard $(FUZZ_OBJDIR)/*.d $(FUZZ_OBJDIR)/*/*.d)
