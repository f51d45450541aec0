# Everything a fresh machine with Go needs is built by these targets: the
# local control plane (etcd, kube-apiserver, controller-manager, scheduler,
# kwok) and Knative's ApiServerSource adapter are built from Go modules and
# cached under $(XDG_CACHE_HOME:-~/.cache)/job-executor-knative.

GO      ?= go
BIN     := bin
LDFLAGS := -s -w
# Static binaries: they run on distroless/static and in any container.
export CGO_ENABLED ?= 0

.PHONY: all build test unit e2e bench demo demo-generic cluster-up cluster-down fmt vet lint clean

all: build

build: ## build bin/function, bin/initcontainer and bin/jobctl
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/... ./initcontainer

test: vet lint unit e2e ## all tests: gofmt and vet, lint, unit tests, then end-to-end tests on the local control plane

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) vet ./...
	cd test && $(GO) vet ./...

# golangci-lint with .golangci.yml on the product module and on test/. The
# binary is built from the version test/tools/lint pins, once, into the test
# bed's cache (`testbed tool` prints its path); see test/README.md.
lint: ## golangci-lint on both modules (built from Go modules on first use)
	@lint=$$(cd test && $(GO) run ./cmd/testbed tool golangci-lint) && \
	echo "$$lint run ./..." && "$$lint" run ./... && \
	echo "cd test && $$lint run ./..." && cd test && "$$lint" run ./...

unit: ## unit tests of the product module (no cluster)
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# The real-node lane (test/realnode: a kubelet with containerd runs the
# Jobs' containers) changes the host, so it runs only when asked: as root
# with REAL_NODE=1, or CI=true. Otherwise its tests skip, and this says so.
e2e: ## end-to-end tests: builds the local control plane once, then each test package starts it
	cd test && $(GO) run ./cmd/testbed build
	@if [ "$$CI" = true ] || [ "$$REAL_NODE" = 1 ]; then \
		echo "e2e: the real-node lane (test/realnode) runs: CI=true or REAL_NODE=1"; \
	else \
		echo "e2e: SKIPPING the real-node lane (test/realnode): run as root with REAL_NODE=1 to turn it on (CI runs it)"; \
	fi
	cd test && $(GO) test -count=1 -timeout 60m -p 1 ./...

# Go benchmarks of the pure parts, then the function against the limits of
# its design on the local control plane (test/bench; 80 to 100 minutes on 2 cores,
# most of it the throughput benchmark's 28 one-minute batches and the
# deletion of each batch's Jobs). -benchtime bounds the time: 300 ms per Go
# benchmark, and one run of each end-to-end scenario. The whole log goes to docs/bench/<date>.log
# (with the load average before and after: the machine may be shared),
# which docs/benchmarks.md quotes; it ends with the summary lines and the
# table of goals (met or not: nothing in it asserts a time).
bench: ## benchmarks (log in docs/bench/, results in docs/benchmarks.md)
	@mkdir -p docs/bench && out="docs/bench/$$(date -u +%Y-%m-%d).log" && \
	printf '== make bench %s: %s cores, %s memory, %s; load average before: %s\n' "$$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$(nproc)" "$$(free -h | awk '/^Mem:/ {print $$2}')" "$$($(GO) version)" "$$(cut -d' ' -f1-3 /proc/loadavg)" | tee "$$out" && \
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 300ms -count 3 ./pkg/... 2>&1 | tee -a "$$out" && \
	(cd test && $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 120m ./bench 2>&1) | tee -a "$$out" && \
	{ printf '\n== load average after: %s\n\n== summary\n' "$$(cut -d' ' -f1-3 /proc/loadavg)"; \
	  grep '^summary: ' "$$out" | sed 's/^summary: //'; \
	  printf '\n== goals\n| goal | target | measured | met |\n|---|---|---|---|\n'; \
	  grep '^goal: ' "$$out" | sed 's/^goal: //'; } | tee -a "$$out" && \
	! grep -q -e '^FAIL' -e '^--- FAIL' -e '^panic:' "$$out"

demo: ## run the main job end to end on the local control plane (a real node as root with the lane's packages, else kwok)
	cd test && $(GO) run ./cmd/testbed build
	cd test && $(GO) run ./cmd/demo

demo-generic: ## run the generic mode end to end: a CloudEvent that is not Keptn's runs a Job, its result comes back as a CloudEvent
	cd test && $(GO) run ./cmd/testbed build
	cd test && $(GO) run ./cmd/demo --generic

cluster-up: ## start the local control plane in the background; prints KUBECONFIG
	cd test && $(GO) run ./cmd/testbed up

cluster-down: ## stop what cluster-up started
	cd test && $(GO) run ./cmd/testbed down

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
