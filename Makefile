# goc — everyday commands. The real build is CMake; this file only picks the
# build directory and options for each mode.
#
#   make / make all     release build (RelWithDebInfo: -O2 -g) in build/
#   make test           release build + the whole suite but the `heavy` stress cases
#   make test-stress    release build + the `heavy` stress cases (CI runs them)
#   make test-race      ThreadSanitizer build (clang, Debug) in build-race/, suite minus `notsan`
#   make test-asan      ASan + UBSan build (clang, Debug) in build-asan/, suite minus `noasan`
#   make test-aarch64   cross build in build-aarch64/, tests labelled `aarch64` under qemu
#   make debug          Debug build (GOC_DEBUG assertions) in build-debug/ + the suite
#   make bench          release build + bench/run.sh
#   make run            release build + goc-sum on /usr/include timed against coreutils
#                       (scripts/run-flagship.sh) + every example (scripts/run-examples.sh)
#   make install        install the release build into $(PREFIX) (default /usr/local)
#   make format         clang-format every C source and header
#   make format-check   fail if any C source or header is not clang-formatted
#   make clean          remove every build directory

CMAKE ?= cmake
CTEST ?= ctest
MAKEFLAGS += --no-print-directory
NPROC := $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local

TSAN_OPTIONS ?= halt_on_error=1:second_deadlock_stack=1:atexit_sleep_ms=0
ASAN_OPTIONS ?= detect_stack_use_after_return=1:detect_leaks=1
UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1

BUILD_DIRS := build build-race build-asan build-aarch64 build-debug
DEPS_TARGETS := $(addprefix deps-,release race asan aarch64 debug bench format all)

.PHONY: all release race asan aarch64 debug-build deps $(DEPS_TARGETS) \
        test test-stress test-race test-asan test-aarch64 debug bench run install format format-check clean

all: release

# Every build first makes sure the packages its mode needs are installed
# (scripts/install-deps.sh <mode>: a release build does not pull in the
# cross compiler, clang or Go). `make deps` installs those of every mode.
deps: deps-all

$(DEPS_TARGETS): deps-%:
	@bash scripts/install-deps.sh --check $* || bash scripts/install-deps.sh $*

# --- configure (once per build directory; later CMakeLists.txt edits are
# picked up by `cmake --build` itself)

build/CMakeCache.txt: | deps-release
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo

build-race/CMakeCache.txt: | deps-race
	$(CMAKE) -S . -B build-race -DCMAKE_C_COMPILER=clang \
		-DCMAKE_BUILD_TYPE=Debug -DGOC_SANITIZE=thread

build-asan/CMakeCache.txt: | deps-asan
	$(CMAKE) -S . -B build-asan -DCMAKE_C_COMPILER=clang \
		-DCMAKE_BUILD_TYPE=Debug -DGOC_SANITIZE=address

build-aarch64/CMakeCache.txt: | deps-aarch64
	$(CMAKE) -S . -B build-aarch64 \
		-DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/aarch64-linux-gnu.cmake \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo

build-debug/CMakeCache.txt: | deps-debug
	$(CMAKE) -S . -B build-debug -DCMAKE_BUILD_TYPE=Debug

# --- build

release: build/CMakeCache.txt | deps-release
	$(CMAKE) --build build -j$(NPROC)

race: build-race/CMakeCache.txt | deps-race
	$(CMAKE) --build build-race -j$(NPROC)

asan: build-asan/CMakeCache.txt | deps-asan
	$(CMAKE) --build build-asan -j$(NPROC)

aarch64: build-aarch64/CMakeCache.txt | deps-aarch64
	$(CMAKE) --build build-aarch64 -j$(NPROC)

debug-build: build-debug/CMakeCache.txt | deps-debug
	$(CMAKE) --build build-debug -j$(NPROC)

# --- test

test: release
	$(CTEST) --test-dir build --output-on-failure -j2 -LE heavy

# The multi-second stress cases (a million parked goroutines, SIGQUIT storms):
# kept out of `make test` so it stays quick; .ci/run runs both.
test-stress: release
	$(CTEST) --test-dir build --output-on-failure -j1 -L heavy

test-race: race
	TSAN_OPTIONS='$(TSAN_OPTIONS)' \
		$(CTEST) --test-dir build-race --output-on-failure -j2 -LE notsan

test-asan: asan
	ASAN_OPTIONS='$(ASAN_OPTIONS)' UBSAN_OPTIONS='$(UBSAN_OPTIONS)' \
		$(CTEST) --test-dir build-asan --output-on-failure -j2 -LE noasan

test-aarch64: aarch64
	$(CTEST) --test-dir build-aarch64 --output-on-failure -j2 -L aarch64

debug: debug-build
	$(CTEST) --test-dir build-debug --output-on-failure -j2

# --- run things

bench: release | deps-bench
	@if [ -f bench/run.sh ]; then \
		bash bench/run.sh build; \
	else \
		echo "bench: bench/run.sh does not exist yet"; \
	fi

run: release
	@rc=0; bash scripts/run-flagship.sh build || rc=1; \
	bash scripts/run-examples.sh build || rc=1; exit $$rc

install: release
	$(CMAKE) --install build --prefix $(PREFIX)

# --- housekeeping

format: | deps-format
	@command -v clang-format >/dev/null || { echo "clang-format not installed (scripts/install-deps.sh format)"; exit 1; }
	@files=$$(find src include tests bench examples tools -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null); \
	if [ -n "$$files" ]; then clang-format -i $$files; fi

format-check: | deps-format
	@command -v clang-format >/dev/null || { echo "clang-format not installed (scripts/install-deps.sh format)"; exit 1; }
	@files=$$(find src include tests bench examples tools -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null); \
	clang-format --dry-run --Werror $$files && echo "format-check: every C file is clang-formatted"

clean:
	rm -rf $(BUILD_DIRS)
