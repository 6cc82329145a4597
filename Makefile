# Thin wrapper over CMake. `make deps` installs what is missing (Debian 12), `make check`
# builds and runs every test (also under ASan+UBSan), `make demo` runs the main job.

BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)

# Debian packages the build and the tests need.
DEB_BUILD = build-essential cmake pkg-config libssl-dev libjansson-dev libmicrohttpd-dev \
	libcurl4-openssl-dev libunbound-dev libldns-dev libsqlite3-dev libpq-dev libidn2-dev \
	libpsl-dev libcmocka-dev libevent-dev nettle-dev clang
DEB_TEST = openssl curl knot knot-dnsutils certbot python3-certbot-dns-rfc2136 lego pebble \
	iproute2 sqlite3

SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build check check-unit check-asan demo clean

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
	cd $(BUILD) && ctest --output-on-failure -L '' -E '^integration/'

demo: build
	@bash tests/demo.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
