# xtrace: eBPF network traffic monitor. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

MODE ?= xdp
# the modes the appliance runs: src/modes/registry.ts is the list (test/unit/registry.test.ts keeps this one equal)
MODES := xdp stack limit rdma nccl
INTERFACE ?=
XTRACE_ARGS ?=
CLANG ?= clang
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
MULTIARCH := $(shell uname -m)-linux-gnu
# bpf/cflags is the one list of compile flags (src/bpf/build.ts reads it too)
BPF_CFLAGS := $(shell cat bpf/cflags) -D__TARGET_ARCH_$(ARCH) -Ibpf/include -I/usr/include/$(MULTIARCH)
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,build/bpf/%.bpf.o,$(BPF_SRCS))
BENCH_BPF_OBJS := $(patsubst bench/bpf/%.bpf.c,build/bench/%.bpf.o,$(wildcard bench/bpf/*.bpf.c))
TS_SRCS := $(shell find src test bench -name '*.ts' 2>/dev/null)
XTRACE := node dist/src/cli.js
NODE_MAJOR_MIN := 20
# Debian/Ubuntu packages for building and testing
APT_PKGS := clang llvm libbpf-dev iproute2 iputils-ping python3 make gcc

.PHONY: help deps build build-bpf run run-with-interface test test-kernels bench interfaces info clean \
	docker-base docker-build docker-up $(addprefix docker-up-,$(MODES)) docker-down docker-logs docker-run \
	docker-shell docker-info docker-network-info docker-test docker-clean

IMAGE ?= xtrace:latest
CONTAINER ?= xtrace
BASE_IMAGE ?= debian:trixie-slim
DEVICE ?=
TARGET_IP ?=
INTERVAL ?=
# EXPORT=vm: start VictoriaMetrics beside the appliance (compose profile vm) and push to it
EXPORT ?=
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
DOCKER_ENV = MODE='$(MODE)' INTERFACE='$(INTERFACE)' DEVICE='$(DEVICE)' TARGET_IP='$(TARGET_IP)' INTERVAL='$(if $(INTERVAL),$(INTERVAL),5000)' \
	XTRACE_ARGS='$(XTRACE_ARGS)' XTRACE_IMAGE='$(IMAGE)' XTRACE_CONTAINER='$(CONTAINER)' XTRACE_BASE='$(BASE_IMAGE)' \
	$(if $(filter vm,$(EXPORT)),XTRACE_VICTORIAMETRICS='http://127.0.0.1:8428' COMPOSE_PROFILES=vm)
# BPF, PERFMON and SYS_RESOURCE where the engine knows them (Docker 20.10 does not know the first two) and the
# host's bounding set grants them: each is tried on a throw-away container.
EXTRA_CAPS = $(shell for c in BPF PERFMON SYS_RESOURCE; do docker run --rm --cap-add $$c --entrypoint true $(IMAGE) >/dev/null 2>&1 && printf '%s ' $$c; done)
DOCKER_CAPS = --cap-add SYS_ADMIN --cap-add NET_ADMIN $(foreach c,$(EXTRA_CAPS),--cap-add $(c)) $(if $(filter SYS_RESOURCE,$(EXTRA_CAPS)),--ulimit memlock=-1) \
	--security-opt seccomp=unconfined --security-opt apparmor=unconfined
DOCKER_RUN_ENV = -e MODE='$(MODE)' -e INTERFACE='$(INTERFACE)' -e DEVICE='$(DEVICE)' -e TARGET_IP='$(TARGET_IP)' \
	$(if $(INTERVAL),-e INTERVAL='$(INTERVAL)') -e XTRACE_ARGS='$(XTRACE_ARGS)'

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-22s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@printf '  %-22s %s\n' "docker-up-<mode>" "docker-up with MODE=<mode>, for <mode> in: $(MODES)"
	@echo "  variables (make VAR=value target):"
	@printf '    %-26s%s\n' "MODE=$(MODE)" "$(subst $(eval) , | ,$(MODES)) (run, docker-up, docker-run)"
	@echo "    INTERFACE=<name[,name]>   interfaces to monitor (default: the default-route interface)"
	@echo "    TARGET_IP=<ip[,cidr]>     addresses to count in/out (-w)"
	@echo "    INTERVAL=<ms>             report interval (default: 5000)"
	@echo "    DEVICE=<mlx5_N>           one RDMA device (rdma, nccl)"
	@echo "    XTRACE_ARGS='<flags>'     more xtrace flags, e.g. XTRACE_ARGS='-p --protocol tcp'"

# what:package pairs (a command, or a file) that the build and the tests need; scripts/install-missing.sh installs the missing ones
BUILD_NEEDS := $(CLANG):clang llc:llvm /usr/include/bpf/bpf_helpers.h:libbpf-dev /usr/include/$(MULTIARCH)/asm/types.h:linux-libc-dev \
	bpftool:bpftool ip:iproute2 tc:iproute2 /usr/lib/$(MULTIARCH)/libpcap.so.0.8:libpcap0.8
TEST_NEEDS := nft:nftables sysctl:procps nstat:iproute2 ping:iputils-ping python3:python3 setpriv:util-linux taskset:util-linux \
	prometheus:prometheus promtool:prometheus victoria-metrics:victoria-metrics prometheus-node-exporter:prometheus-node-exporter \
	tcpdump:tcpdump tshark:tshark iperf3:iperf3
# and under the second kernel (make test-kernels): qemu and the initramfs tools; verbs traffic on Soft-RoCE
KERNEL_TEST_NEEDS := qemu-system-x86_64:qemu-system-x86 busybox:busybox-static cpio:cpio depmod:kmod \
	ibv_rc_pingpong:ibverbs-utils /etc/libibverbs.d/rxe.driver:ibverbs-providers ethtool:ethtool rdma:iproute2

deps: ## install what is missing (apt-get: clang, llvm, libbpf-dev, bpftool, iproute2; Node.js >= 20; node modules)
	@scripts/install-missing.sh $(BUILD_NEEDS) node:nodejs npm:npm
	@v=$$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0); \
	if [ "$$v" -lt $(NODE_MAJOR_MIN) ]; then echo "xtrace: needs Node.js >= $(NODE_MAJOR_MIN) (found $$(node --version 2>/dev/null || echo none)); Debian 13, Ubuntu 24.10 or NodeSource ship it" >&2; exit 1; fi
	@$(MAKE) --no-print-directory node_modules/.package-lock.json

test-deps: deps ## install what the tests call (procps, iputils-ping, python3, util-linux; prometheus, victoria-metrics, node_exporter for the export tests)
	@scripts/install-missing.sh $(TEST_NEEDS)

# node modules, installed when missing or older than the lock file (make build on a fresh clone needs them)
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/include/*.h) bpf/cflags
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build/bench/%.bpf.o: bench/bpf/%.bpf.c
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build-bpf: $(BPF_OBJS) ## compile the kernel programs (bpf/*.bpf.c -> build/bpf/*.bpf.o)

dist/src/cli.js: $(TS_SRCS) tsconfig.json package.json node_modules/.package-lock.json
	node_modules/.bin/tsc -p tsconfig.json
	@chmod +x dist/src/cli.js

build: build-bpf dist/src/cli.js ## build kernel programs and the app

run: deps build ## install, build, and run MODE (default xdp) on INTERFACE (default: the default-route interface)
	$(XTRACE) $(MODE) $(if $(INTERFACE),-i $(INTERFACE)) $(XTRACE_ARGS)

run-with-interface: ## like run, but INTERFACE is required
	@[ -n "$(INTERFACE)" ] || { echo "make run-with-interface: set INTERFACE=<name> (see: make interfaces)" >&2; exit 2; }
	@$(MAKE) --no-print-directory run

test: test-deps build ## run every test (kernel tests need root; XTRACE_REQUIRE_KERNEL_TESTS=1 makes their skips failures)
	npm test

test-kernels: test-deps build ## the xdp, stack and limit tests again under Debian 12's 6.1 kernel in qemu (kprobes, fentry, no tcx), and rdma/nccl on Soft-RoCE there; KERNEL_SERIES=6.1
	@scripts/install-missing.sh $(KERNEL_TEST_NEEDS)
	bash test/kernels/run.sh

bench: deps build $(BENCH_BPF_OBJS) ## benchmarks over a veth pair: cost per packet at fixed loads (own CPU, BPF run time, loss; xtrace and tcpdump), memory and start-up, xdp (packets/s, TCP, CPU per packet), the ring consumer's ceiling (BPF_PROG_TEST_RUN), stack (TCP bulk, request/response, events/s) against no tracer, limit against tc tbf (JSON lines)
	@command -v iperf3 >/dev/null && command -v tcpdump >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 tcpdump >/dev/null; }
	node dist/bench/cost.js
	node dist/bench/footprint.js
	node dist/bench/xdp.js
	node dist/bench/consumer.js
	node dist/bench/stack.js
	node dist/bench/limit.js

interfaces: build ## list interfaces, their addresses and attached XDP/TC programs
	$(XTRACE) interfaces

info: build ## versions and kernel features xtrace depends on
	$(XTRACE) probe

clean: ## remove build output
	rm -rf build dist

docker-base: ## build the debian:trixie-slim base offline (debootstrap minbase + docker import)
	docker/base-image.sh $(BASE_IMAGE)

docker-build: ## build the image (makes the base offline when no registry can be reached)
	@docker image inspect $(BASE_IMAGE) >/dev/null 2>&1 || timeout 60 docker pull -q $(BASE_IMAGE) >/dev/null 2>&1 || docker/base-image.sh $(BASE_IMAGE)
	@# npm's CA bundle, when this host configures one (registry behind a TLS proxy), for the build stage only
	@cafile=$$(npm config get cafile 2>/dev/null); if [ -f "$$cafile" ]; then cp "$$cafile" docker/npm-ca.pem; else : > docker/npm-ca.pem; fi
	docker build -q --force-rm -f docker/Dockerfile --build-arg BASE=$(BASE_IMAGE) -t $(IMAGE) .

docker-up: docker-build ## start the appliance in the background: MODE INTERFACE DEVICE TARGET_IP INTERVAL XTRACE_ARGS; EXPORT=vm adds VictoriaMetrics
	@mkdir -p build && caps='$(strip $(EXTRA_CAPS))'; \
	printf 'services:\n  xtrace:\n    cap_add: [%s]\n' "$$(echo $$caps | sed 's/ /, /g')" > build/compose.caps.yml; \
	case " $$caps " in *" SYS_RESOURCE "*) printf '    ulimits:\n      memlock: -1\n' >> build/compose.caps.yml;; esac
	$(DOCKER_ENV) $(COMPOSE) -f docker-compose.yml -f build/compose.caps.yml up -d --no-build

# docker-up-xdp, docker-up-stack, ...: docker-up with MODE set (XTRACE_ARGS='-p 443' filters stack; limit needs XTRACE_ARGS='-p PID -r 1M'; DEVICE=mlx5_0 for rdma)
$(addprefix docker-up-,$(MODES)): docker-up-%:
	@$(MAKE) --no-print-directory docker-up MODE=$*

docker-down: ## stop and remove the appliance (the kernel detaches its programs)
	$(DOCKER_ENV) COMPOSE_PROFILES=vm $(COMPOSE) -f docker-compose.yml down

docker-logs: ## follow the appliance's output
	docker logs -f $(CONTAINER)

docker-run: docker-build ## run MODE in the foreground in a throw-away container (Ctrl-C stops it)
	docker run --rm $(shell [ -t 0 ] && echo -it) --network host --pid host $(DOCKER_CAPS) $(DOCKER_RUN_ENV) $(IMAGE)

docker-shell: docker-build ## a shell in the image, with the same privileges
	docker run --rm -it --network host --pid host $(DOCKER_CAPS) --entrypoint bash $(IMAGE)

docker-info: ## engine version, image size, appliance state
	@docker version --format 'engine {{.Server.Version}} (client {{.Client.Version}})'
	@docker image inspect $(IMAGE) --format '$(IMAGE): {{.Size}} bytes, built {{.Created}}' 2>/dev/null || echo "$(IMAGE): not built (make docker-build)"
	@docker ps -a --filter name=^/$(CONTAINER)$$ --format '$(CONTAINER): {{.Status}}' | grep . || echo "$(CONTAINER): not running"

docker-network-info: docker-build ## interfaces as the container sees them (host network)
	docker run --rm --network host $(DOCKER_CAPS) $(IMAGE) xtrace interfaces

docker-test: build ## end-to-end tests against a real Docker engine (starts dockerd if none runs)
	node --test --test-concurrency=1 --test-timeout=900000 dist/test/docker/*.test.js

docker-clean: docker-down ## remove the appliance and its image
	-docker rmi $(IMAGE)
