# Fan-out benchmark and the real-cluster comparison. Included by the Makefile
# (-include mk/*.mk). See docs/performance.md.
#
#   make bench            pkg/fanout benchmark at 3/30/300/1000 simulated nodes, lab delays, as a table
#   make bench-quick      the same at a quarter of the delays (under a minute on 2 cores)
#   make compare-manual   plugin vs. the manual kubectl run/wait/exec/delete procedure on the lab cluster

.PHONY: bench bench-quick compare-manual

bench:
	bash scripts/bench.sh

bench-quick:
	NETCHECK_BENCH_SCALE=0.25 bash scripts/bench.sh

compare-manual: build
	bash scripts/compare-manual.sh
