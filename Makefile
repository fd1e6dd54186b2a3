# sockpolicy: everything builds into build/. `make`, `make check`, `make demo`, `make bench`.
# Project flags come first, the user's CFLAGS/LDFLAGS last. V=1 for verbose commands.
CC ?= cc
PREFIX ?= /usr/local
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
LIBDIR ?= $(PREFIX)/lib$(if $(MULTIARCH),/$(MULTIARCH))
BINDIR ?= $(PREFIX)/bin
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
# The library reads $(SYSCONFDIR)/sockpolicy.conf in every process: /etc whatever the PREFIX,
# so that a /usr/local install and a package obey the same host-wide file.
SYSCONFDIR ?= /etc
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DOCDIR ?= $(PREFIX)/share/doc/sockpolicy
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
BUILD := build

WARN := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wwrite-strings \
        -Wimplicit-fallthrough
ifneq ($(CI),)
WARN += -Werror
endif
SAN :=
ifeq ($(SANITIZE),1)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
# ThreadSanitizer for the preload library itself (tests/real/threads.t builds one with clang),
# so that TSan sees the shim's atomics rather than only its interceptors.
ifeq ($(SANITIZE),thread)
SAN := -fsanitize=thread -fno-omit-frame-pointer
endif

SP_CFLAGS := -std=gnu11 -O2 -g -fPIC -fvisibility=hidden -D_GNU_SOURCE $(WARN) $(SAN) \
             -Icore -Ipolicy -Idiag -Ishim -Isupervise -Icmd -DSP_VERSION='"$(VERSION)"' -DSP_LIBDIR='"$(LIBDIR)"' \
             -DSP_SYSCONFDIR='"$(SYSCONFDIR)"'
SP_LDFLAGS := $(SAN)
ALL_CFLAGS = $(SP_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SP_LDFLAGS) $(LDFLAGS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

CORE_SRC := $(wildcard core/*.c)
POLICY_SRC := $(wildcard policy/*.c)
DIAG_SRC := $(wildcard diag/*.c)
SHIM_SRC := $(wildcard shim/*.c)
# The seccomp front end (supervise/): linked into the command, never with the hooks.
SUPERVISE_SRC := $(wildcard supervise/*.c)
CMD_SRC := $(wildcard cmd/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c)
PROG_SRC := $(wildcard tests/progs/*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
CORE_OBJ := $(call obj,$(CORE_SRC))
POLICY_OBJ := $(call obj,$(POLICY_SRC))
DIAG_OBJ := $(call obj,$(DIAG_SRC))
CMD_OBJ := $(call obj,$(CMD_SRC))
SUPERVISE_OBJ := $(call obj,$(SUPERVISE_SRC))
SHIM_OBJ := $(call obj,$(SHIM_SRC))

CORE_LIB := $(BUILD)/libsockpolicy_core.a
POLICY_LIB := $(BUILD)/libsockpolicy_policy.a
DIAG_LIB := $(BUILD)/libsockpolicy_diag.a
SHIM_LIB := $(BUILD)/libsockpolicy.so
CMD := $(BUILD)/sockpolicy
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
PROG_BIN := $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(PROG_SRC))
BENCH_BIN := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

TARGETS := $(CORE_LIB) $(POLICY_LIB) $(DIAG_LIB)
ifneq ($(SHIM_SRC),)
TARGETS += $(SHIM_LIB)
endif
ifneq ($(CMD_SRC),)
TARGETS += $(CMD)
endif

.PHONY: all check check-real demo bench fuzz clean tests install uninstall
all: $(TARGETS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(CORE_LIB): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^
$(POLICY_LIB): $(POLICY_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^
$(DIAG_LIB): $(DIAG_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SHIM_LIB): $(SHIM_OBJ) $(DIAG_OBJ) $(POLICY_OBJ) $(CORE_OBJ) shim/exports.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,--version-script=shim/exports.map -Wl,-z,lazy -Wl,-z,pack-relative-relocs $(ALL_LDFLAGS) \
	    -o $@ $(SHIM_OBJ) $(DIAG_OBJ) $(POLICY_OBJ) $(CORE_OBJ) -ldl

$(CMD): $(CMD_OBJ) $(SUPERVISE_OBJ) $(DIAG_LIB) $(POLICY_LIB) $(CORE_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(CMD_OBJ) $(SUPERVISE_OBJ) $(DIAG_LIB) $(POLICY_LIB) \
	    $(CORE_LIB) -lpthread

# Unit tests link core/ and policy/ directly. A test may add libraries with a line such as
# build/tests/conformance: TEST_LIBS += -lcrypto
$(BUILD)/tests/%: tests/unit/%.c tests/tap.h $(POLICY_LIB) $(CORE_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests $(ALL_LDFLAGS) -o $@ $< $(POLICY_LIB) $(CORE_LIB) \
	    $(TEST_LIBS) -lpthread

# Plain programs, written as any program would be, run under the shim by the tests.
$(BUILD)/progs/%: tests/progs/%.c $(wildcard tests/progs/*.h)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -O1 -g -Wall $(SAN) -o $@ $< -lpthread

$(BUILD)/bench/%: tests/bench/%.c $(POLICY_LIB) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests $(ALL_LDFLAGS) -o $@ $< $(POLICY_LIB) $(CORE_LIB) \
	    $(BENCH_LIBS) -lpthread

include $(wildcard tests/unit/*.mk)

tests: all $(UNIT_BIN) $(PROG_BIN)

# The whole suite: C unit tests and shell tests, run by prove.
check: tests
	SP_BUILD=$(abspath $(BUILD)) SP_TOP=$(CURDIR) SANITIZE=$(SANITIZE) \
	    prove -f $(UNIT_BIN) $(sort $(wildcard tests/*.t))

# Issue 6: real suites (CPython's tests), real servers under load (nginx+wrk, redis, sshd),
# valgrind and ThreadSanitizer/helgrind, each bare and under the shim. Minutes, not seconds.
check-real: tests
	SP_BUILD=$(abspath $(BUILD)) SP_TOP=$(CURDIR) SANITIZE=$(SANITIZE) \
	    prove -v -f $(sort $(wildcard tests/real/*.t))

demo: all $(PROG_BIN)
	@SP_BUILD=$(abspath $(BUILD)) bash examples/demo.sh

bench: all $(PROG_BIN) $(BENCH_BIN)
	@SP_BUILD=$(abspath $(BUILD)) bash tests/bench/run.sh

fuzz:
	@SP_BUILD=$(abspath $(BUILD)) bash tests/fuzz.sh $(FUZZ_SECONDS)

# The command has LIBDIR and VERSION compiled in: rebuild its objects when they change, so that
# `make && make install PREFIX=/usr` installs a command that finds the installed library.
PATHS_STAMP := $(BUILD)/paths
ifneq ($(file <$(PATHS_STAMP)),$(LIBDIR) $(SYSCONFDIR) $(VERSION))
$(shell mkdir -p $(BUILD))
$(file >$(PATHS_STAMP),$(LIBDIR) $(SYSCONFDIR) $(VERSION))
endif
$(CMD_OBJ): $(PATHS_STAMP)

# Every path under $(DESTDIR). The example policy does nothing until edited, and an existing
# /etc/sockpolicy.conf is never overwritten.
install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR)/sockpolicy \
	    $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(DOCDIR)/examples \
	    $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 $(SHIM_LIB) $(DESTDIR)$(LIBDIR)/libsockpolicy.so
	install -m 0644 $(CORE_LIB) $(DESTDIR)$(LIBDIR)/libsockpolicy_core.a
	install -m 0755 $(CMD) $(DESTDIR)$(BINDIR)/sockpolicy
	install -m 0644 core/bio.h core/sysops.h core/sockopt.h $(DESTDIR)$(INCLUDEDIR)/sockpolicy/
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' sockpolicy-core.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/sockpolicy-core.pc
	[ -e $(DESTDIR)$(SYSCONFDIR)/sockpolicy.conf ] || \
	    install -m 0644 examples/sockpolicy.conf $(DESTDIR)$(SYSCONFDIR)/sockpolicy.conf
	for m in docs/*.1; do [ -e "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man1/; done; true
	for m in docs/*.5; do [ -e "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man5/; done; true
	for m in docs/*.7; do [ -e "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man7/; done; true
	for f in examples/*; do [ -f "$$f" ] && install -m 0644 "$$f" $(DESTDIR)$(DOCDIR)/examples/; done; true
	[ ! -e completion/sockpolicy.bash ] || \
	    install -m 0644 completion/sockpolicy.bash $(DESTDIR)$(BASHCOMPDIR)/sockpolicy

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libsockpolicy.so $(DESTDIR)$(LIBDIR)/libsockpolicy_core.a \
	    $(DESTDIR)$(BINDIR)/sockpolicy $(DESTDIR)$(LIBDIR)/pkgconfig/sockpolicy-core.pc \
	    $(DESTDIR)$(BASHCOMPDIR)/sockpolicy
	rm -rf $(DESTDIR)$(INCLUDEDIR)/sockpolicy $(DESTDIR)$(DOCDIR)
	cd $(DESTDIR)$(MANDIR) && rm -f man1/sockpolicy.1 man5/sockpolicy.conf.5 man7/libsockpolicy.7

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
