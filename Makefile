# kite: a Type 2 hypervisor on /dev/kvm.  `make help` lists the targets.
CC      ?= gcc
BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# SAN=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer (in build/san).
ifeq ($(SAN),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

CPPFLAGS += -Iinclude -D_GNU_SOURCE -DKITE_VERSION='"$(VERSION)"'
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wmissing-prototypes -pthread -MMD -MP $(SANFLAGS)
LDFLAGS  += -pthread $(SANFLAGS)
LDLIBS   += -lelf -lz -ljansson -lseccomp -luring

LIB_SRCS  := $(sort $(shell find src -name '*.c' ! -path 'src/cli/main.c'))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ  := $(BUILD)/src/cli/main.o
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
BENCH_SRCS := $(sort $(wildcard bench/*/*.c))
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all kite guests run test unit test-unit test-integration test-asan test-valgrind test-linux-bzimage \
	fuzz bench install uninstall clean deps help

all: deps kite guests

kite: $(BUILD)/kite

$(BUILD)/kite: $(MAIN_OBJ) $(BUILD)/libkite.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libkite.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libkite.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libkite.a $(LDFLAGS) $(LDLIBS) -lcmocka

$(BUILD)/bench/%: bench/%.c $(BUILD)/libkite.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libkite.a $(LDFLAGS) $(LDLIBS)

# The guest kit is freestanding code with its own flags (guests/Makefile).
guests:
	$(MAKE) -C guests O=$(abspath build/guests)

unit: $(UNIT_BINS)

deps:
	@tools/deps

# The hello guest passes with debug-exit 0, which kite reports as status 1 (QEMU's convention).
run: all
	@$(BUILD)/kite run --kernel build/guests/hello.elf --cmdline "greeting=hello"; s=$$?; \
	if [ $$s = 1 ]; then echo "make run: the guest passed (kite exit status 1 = debug-exit 0)"; else exit $$s; fi

# make test: a clang build (warnings are errors there too), then the unit tests and every
# integration test against kite built with ASan+UBSan; one summary line.
test: deps
	$(MAKE) guests
	$(MAKE) CC=clang BUILD=build/clang kite
	$(MAKE) SAN=1 unit kite
	KITE=$(abspath build/san/kite) tests/run-all

test-unit: deps
	$(MAKE) SAN=1 unit
	tests/run-all --only unit

test-integration: all
	tests/run-all --only integration

test-asan: deps guests
	$(MAKE) SAN=1 unit kite
	KITE=$(abspath build/san/kite) tests/run-all

test-valgrind: deps
	$(MAKE) unit
	tests/run-all --only unit --valgrind

test-linux-bzimage: all
	tests/linux/run --bzimage

fuzz: deps
	tests/fuzz/run

# One JSON array on stdout and in build/bench/results.json (make's own lines go to stdout too: use the file).
bench: all $(BENCH_BINS)
	@mkdir -p $(BUILD)/bench
	@bench/run-all | tee $(BUILD)/bench/results.json

install: kite
	install -D -m 0755 $(BUILD)/kite $(DESTDIR)$(PREFIX)/bin/kite
	install -D -m 0644 docs/kite.1 $(DESTDIR)$(PREFIX)/share/man/man1/kite.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/kite $(DESTDIR)$(PREFIX)/share/man/man1/kite.1

clean:
	rm -rf build

help:
	@echo "make            build kite and the test guests (installs missing Debian packages as root)"
	@echo "make run        boot the bundled hello guest"
	@echo "make test       unit tests (ASan+UBSan) and integration tests; ends with 'N passed, M failed'"
	@echo "make test-valgrind   unit tests under valgrind"
	@echo "make test-linux-bzimage   boot the Debian cloud bzImage to its early-boot checks (slow here)"
	@echo "make fuzz       time-bounded libFuzzer runs (clang, ASan+UBSan)"
	@echo "make bench      benchmarks, JSON side by side with QEMU"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)"

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d)
