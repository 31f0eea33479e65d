# kubectl-netcheck — build, test, e2e.
SHELL := /bin/bash
BIN := bin/kubectl-netcheck
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X github.com/netcheck/kubectl-netcheck/pkg/cmd.Version=$(VERSION) \
	-X github.com/netcheck/kubectl-netcheck/pkg/cmd.Commit=$(COMMIT) \
	-X github.com/netcheck/kubectl-netcheck/pkg/cmd.Date=$(DATE)
PREFIX ?= /usr/local

.PHONY: build install test ci-cold unit fuzz vet lint check-pipes krew-check demo e2e-cluster e2e-down e2e e2e-nft e2e-flannel clean

build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kubectl-netcheck

install: build
	install -m 0755 $(BIN) $(PREFIX)/bin/kubectl-netcheck

vet:
	go vet ./...
	go vet -tags e2e ./e2e/
	@test -z "$$(gofmt -l cmd pkg e2e scripts)" || { echo "gofmt needed:"; gofmt -l cmd pkg e2e scripts; exit 1; }

# golangci-lint (installed once into /var/cache/netcheck-tools).
lint:
	bash scripts/lint.sh

# The six release archives rebuilt and compared with plugins/netcheck.yaml, that
# manifest validated, and netcheck installed with a real krew from this repository
# as a krew index, offline. KREW_CHECK=host: the host's archive only (quicker).
krew-check:
	KREW_CHECK=$(KREW_CHECK) bash .ci/krew.sh

# No early-exiting reader (grep -q, head) in a pipeline of any script.
check-pipes:
	bash scripts/check-pipes.sh

# Unit tests (fake clientset, captured tool output) — no root, no cluster — under the race detector.
unit:
	go test -race ./...

# Bounded fuzzing of the target parser (no accepted target reaches argv with a shell
# metacharacter) and of the nftables JSON reader. Budgets are execution counts, not
# durations: go1.26's fuzz coordinator can fail a clean run with "context deadline
# exceeded" when a -fuzztime duration ends mid-exec (go.dev/issue/75804; CI hit it).
# A count has no deadline to race. ~15-20 s each on 2 cores.
fuzz:
	go test -run '^$$' -fuzz FuzzParse -fuzztime 600000x ./pkg/target/
	go test -run '^$$' -fuzz FuzzParseNftJSON -fuzztime 250000x ./pkg/facts/

# Everything a change must pass, each stage timed (scripts/test.sh): static checks,
# unit tests under -race, fuzzing, the fan-out benchmark at reduced delays, the krew
# packaging check, then the real-cluster e2e suite.
test:
	bash scripts/test.sh

# The same on empty caches, as on a fresh machine (everything rebuilt: ~50 min).
ci-cold:
	NETCHECK_COLD=1 bash scripts/test.sh

e2e-cluster:
	bash e2e/cluster/up.sh

# A first run without a cluster of your own: the lab cluster, one node broken
# the way the first seed describes, the verdict, the printed fix applied,
# healthy again (KEEP=1 leaves the cluster up).
demo: build
	KEEP=$(KEEP) bash scripts/demo.sh

e2e-down:
	bash e2e/cluster/down.sh

# Runs the e2e suite against the lab cluster (started if needed), then tears it down
# and checks nothing is left behind.
e2e: build
	bash e2e/run.sh

# The Service, DNS, API and nftables scenarios again, with the lab's kube-proxy
# in nftables mode.
e2e-nft: build
	NETCHECK_E2E_PROXY_MODE=nftables E2E_RUN='^Test(Service|DNS|API|Nftables)' bash e2e/run.sh

# The flannel profile (VXLAN, K3s's CIDRs): its own scenarios, the healthy
# run of every command, and the Service, DNS and API suites.
e2e-flannel: build
	NETCHECK_E2E_PROFILE=flannel E2E_RUN='^Test(Flannel|NodeHealthy|PodsHealthy|PodsMTUBlackhole|Service|DNS|API)' bash e2e/run.sh

# NetworkPolicy for real: kube-router's firewall enforcing in the lab, the
# policy scenarios, the healthy runs of the commands beside its rules, and
# kube-proxy killed (a firewall-only kube-router is no Service proxy).
e2e-netpol: build
	NETCHECK_E2E_POLICY=kube-router E2E_RUN='^Test(NetworkPolicy.*|ExternalHealthy|NodeHealthy|PodsHealthy|ServiceHealthy|DNSHealthy|ServiceKubeProxyKilled)$$' bash e2e/run.sh

clean:
	rm -rf bin dist
-include mk/*.mk
