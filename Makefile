# eniwall — top-level build. `make demo` and `make test` are the two commands a
# fresh Debian machine needs (as root): each installs what is missing first.

APT_PACKAGES := build-essential python3 liburing-dev clang-format iproute2 nftables \
                iputils-ping netcat-openbsd socat iperf3 procps clang libclang-rt-14-dev prometheus \
                tshark awscli containernetworking-plugins qemu-system-x86 busybox-static \
                dpkg-dev systemd man-db etcd-server etcd-client dpdk-dev
NODE_GYP := node_modules/.bin/node-gyp
TSC := node_modules/.bin/tsc
# Build the addon against the installed Node headers (Debian ships them under
# /usr/include/node); node-gyp would otherwise try to download them.
NODEDIR_FLAG := $(if $(wildcard /usr/include/node/node_api.h),--nodedir=/usr,)

.PHONY: all deps apt-deps npm-deps build build-native build-ts native-test lint format test \
        test-ts clean demo bench bench-core bench-overlay bench-quick bench-compile bench-deps install fuzz \
        install-cni deb qemu-guest

all: build

# --- dependencies -----------------------------------------------------------
deps: apt-deps npm-deps

apt-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

npm-deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The QEMU TCG guest's kernel (issue #12 item 2): a Debian cloud kernel .deb
# downloaded and unpacked (never installed) into .cache/qemu-guest.
QEMU_GUEST_DIR ?= .cache/qemu-guest
qemu-guest: apt-deps
	sh scripts/qemu-guest-kernel.sh $(QEMU_GUEST_DIR)

# --- build ------------------------------------------------------------------
build: deps build-native build-ts

build-native: npm-deps
	$(NODE_GYP) rebuild --silent $(NODEDIR_FLAG)

build-ts: npm-deps
	$(TSC) -p tsconfig.json

# --- checks -----------------------------------------------------------------
# libFuzzer seconds per harness inside `make test` (six harnesses); `make fuzz` runs long.
TEST_FUZZ_SECONDS ?= 30
native-test: apt-deps qemu-guest
	$(MAKE) -C native test
	$(MAKE) -C native test-qemu QEMU_GUEST_DIR=$(abspath $(QEMU_GUEST_DIR))
	$(MAKE) -C native test-sanitize
	$(MAKE) -C native test-tsan
	$(MAKE) -C native fuzz-replay
	$(MAKE) -C native fuzz-smoke FUZZ_SMOKE_SECONDS=$(TEST_FUZZ_SECONDS)

# libFuzzer runs of every harness (native/fuzz/), FUZZ_SECONDS each (default
# 600), with the new coverage merged back into native/fuzz/corpus.
FUZZ_SECONDS ?= 600
fuzz: apt-deps
	$(MAKE) -C native fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

lint: deps
	node_modules/.bin/eslint .
	node_modules/.bin/prettier --check .
	$(MAKE) -C native lint

format: npm-deps
	node_modules/.bin/prettier --write .
	$(MAKE) -C native format

# The test command (README, .ci/run): native unit tests (plain, ASan+UBSan, TSan),
# then every TypeScript test, including the real-traffic ones in namespaces.
test: build native-test qemu-guest test-ts

test-ts:
	node --test --test-concurrency=1 --test-reporter=spec dist/test/

# Real Terraform (hashicorp/aws 5.100.0 from a filesystem mirror) against the EC2
# endpoint, with traffic (root; optional, NOT part of `make test`: it says so and
# exits 0 where terraform or the provider mirror is missing).
.PHONY: e2e-terraform
e2e-terraform: build
	bash scripts/e2e-terraform.sh

bench-compile: build
	node dist/bench/compile.js

# Fleet (etcd store): a change on host 1 until applied on 3 hosts, p50/p99 (root; own etcd).
.PHONY: bench-fleet
bench-fleet: build
	node dist/bench/fleet-propagation.js --passive 0,50,200
	node dist/bench/fleet-propagation.js --sizing

# Restarts under 10,000 UDP flows and a TCP stream: gap, frames lost (root; README "Restarts").
.PHONY: bench-restart
bench-restart: build
	node dist/bench/restart.js --flows 10000 --rounds 3

clean:
	rm -rf dist build dist-deb
	$(MAKE) -C native clean

# --- demo and install (daemon/CLI) ------------------------------------------
# The README's first command: a web and a db tier with real traffic (root).
demo: build
	bash scripts/demo.sh

# Puts the CLI on the PATH (it runs from this checkout's dist/ and build/).
install: build
	ln -sf $(CURDIR)/bin/eniwall /usr/local/bin/eniwall

# The CNI plugin where runtimes look (bin_dir /opt/cni/bin): a copied wrapper that runs
# this checkout's plugin with this node (runtimes may exec plugins with a bare PATH).
CNI_BIN_DIR ?= /opt/cni/bin
install-cni: build
	install -d $(CNI_BIN_DIR)
	printf '#!/bin/sh\nexec %s %s "$$@"\n' "$$(command -v node)" "$(CURDIR)/bin/eniwall-cni" \
	  > $(CNI_BIN_DIR)/eniwall-cni.tmp
	chmod 755 $(CNI_BIN_DIR)/eniwall-cni.tmp
	mv $(CNI_BIN_DIR)/eniwall-cni.tmp $(CNI_BIN_DIR)/eniwall-cni

# The Debian package: dist-deb/eniwall_<version>_<arch>.deb (scripts/build-deb.sh;
# install with apt-get install ./dist-deb/eniwall_*.deb, see README "Install: the Debian package").
deb: build
	bash scripts/build-deb.sh

# --- packets-per-second benchmark (root; not part of `make test`) -----------
# Results go to bench/results/<date>.{json,md,svg}; method in bench/README.md.
bench: build bench-deps
	$(MAKE) -C native/bench
	node dist/bench/run.js

# The overlay's cost: iperf3 TCP and 64-byte UDP, same host vs across the VXLAN
# underlay between two daemons in host namespaces (bench/overlay.ts; root).
bench-overlay: build
	node --test dist/bench/overlay.js

# The C core alone (no Node, no TAP): ns and callgrind instructions per packet
# per scenario (bench/core/, native/bench/core_bench.c). valgrind is a Debian package.
bench-core: build
	command -v valgrind >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; }
	$(MAKE) -C native/bench
	node dist/bench/core/run.js $(BENCH_CORE_ARGS)

bench-quick: build bench-deps
	$(MAKE) -C native/bench
	node dist/bench/run.js --quick

# Scenario O needs Open vSwitch's userspace tools (the bench starts its own
# private ovsdb-server/ovs-vswitchd; a system instance is neither used nor needed).
bench-deps:
	command -v ovs-vswitchd >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openvswitch-switch; }
