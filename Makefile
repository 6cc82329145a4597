# Thin wrapper over CMake. `make deps` installs what is missing (Debian 12), `make check`
# builds and runs every test (also under ASan+UBSan), `make demo` runs the main job.

BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)

# Debian packages the build and the tests need.
DEB_BUILD = build-essential cmake pkg-config libssl-dev libjansson-dev libmicrohttpd-dev \
	libcurl4-openssl-dev libunbound-dev libldns-dev libsqlite3-dev libpq-dev libidn2-dev \
	libpsl-dev libcmocka-dev libevent-dev nettle-dev clang dns-root-data
DEB_TEST = openssl curl knot knot-dnsutils certbot python3-certbot-dns-rfc2136 lego pebble \
	iproute2 sqlite3 valgrind

SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build check check-unit demo bench bench-peak clean

all: build

deps:
	@missing=""; for p in $(DEB_BUILD) $(DEB_TEST); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || \
	    missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

# Every test: unit + integration on the normal build, then the whole suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer.
check: build
	cd $(BUILD) && ctest --output-on-failure -j 1
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDEED_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j 1

check-unit: build
	cd $(BUILD) && ctest --output-on-failure -E '^integration/'

demo: build
	@bash tests/demo.sh

# deed-bench against deed-ca and Pebble in the same run, and the ratio (docs/performance.md).
# BENCH_MODE=http-01|dns-01, BENCH_SECONDS, BENCH_CONCURRENCY.
bench: build
	@bash scripts/bench-compare.sh

# deed-ca alone at its peak (16 clients, dns-persist-01); PERF=1 adds a perf breakdown.
bench-peak: build
	@bash scripts/bench-peak.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# Fuzz every parser of untrusted input (libFuzzer, clang, ASan+UBSan) for FUZZ_SECONDS each,
# starting from the seed corpora in tests/fuzz/corpus (never written to: new inputs go to a
# temporary directory). Fails on the first crash, leak or sanitizer report.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	  -DDEED_SANITIZE=ON -DDEED_FUZZ=ON -DDEED_INTEGRATION=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$$//')
	@set -e; work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; \
	for t in $$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$$//'); do \
	  mkdir -p "$$work/$$t"; \
	  echo "== $$t ($(FUZZ_SECONDS) s)"; \
	  $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix="$$work/" "$$work/$$t" tests/fuzz/corpus/$$t 2>&1 | \
	    grep -E '^stat::number_of_executed_units|ERROR|SUMMARY' || true; \
	  if ls "$$work"/crash-* "$$work"/leak-* "$$work"/timeout-* >/dev/null 2>&1; then \
	    echo "$$t: crash found"; cp "$$work"/crash-* "$$work"/leak-* . 2>/dev/null; exit 1; fi; \
	done; echo "fuzz: all targets ran $(FUZZ_SECONDS) s without a crash"
