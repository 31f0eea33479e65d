#!/usr/bin/env bash
# Side by side on a real cluster: `kubectl netcheck external TARGET` against
# the manual procedures of the troubleshooting guides, node after node.
#
# pod-only, per node:
#   kubectl run <pod> --image=busybox:1.36 --overrides='{"spec":{"nodeName":"<node>"}}' -- sleep 3600
#   kubectl wait --for=condition=Ready pod/<pod>
#   kubectl exec <pod> -- ping -c 3 -W 2 TARGET
# pod+node, per node, as the plugin does: the same pod and a privileged
# hostNetwork pod on the node, both waited for, ping from each, and the
# node's route to the target (`ip route get TARGET` in the node's namespace).
#
# The three are interleaved, ROUNDS times (plugin, pod-only, pod+node, plugin,
# ...), and the medians compared. The manual times leave the deletes out:
# a `kubectl delete --wait` of a busybox `sleep` waits out its 30 s grace
# period, which would flatter the plugin; this script deletes its pods with a
# 1 s grace period after each procedure and waits for them to be gone,
# untimed, before the next run.
#
# Usage: scripts/compare-manual.sh [TARGET]   (default 198.19.0.1, the lab's external host)
# Env:   KUBECONFIG (default /run/netcheck-e2e/kubeconfig, the lab cluster)
#        NETCHECK_BIN (default bin/kubectl-netcheck, built with `make build` if missing)
#        NAMESPACE (default: default; the node pods need it to admit privileged pods)
#        ROUNDS (default 3)
#
# Only the pods this script creates are ever deleted (label netcheck.io/manual-run=<id>);
# the plugin removes its own.
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET=${1:-198.19.0.1}
export KUBECONFIG=${KUBECONFIG:-/run/netcheck-e2e/kubeconfig}
BIN=${NETCHECK_BIN:-bin/kubectl-netcheck}
NS=${NAMESPACE:-default}
ROUNDS=${ROUNDS:-3}
IMAGE=busybox:1.36
RUN=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
LABEL=netcheck.io/manual-run=$RUN
WORK=$(mktemp -d)
PLUGIN_PID=

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
k() { kubectl -n "$NS" "$@"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $PLUGIN_PID ]] && kill -0 "$PLUGIN_PID" 2>/dev/null; then
		# Ctrl-C reached the plugin too, and it is deleting its pods: let it
		# finish. Signalling it again would tell it to skip the cleanup.
		echo "cleanup: waiting for the plugin to remove its probe pods" >&2
		wait "$PLUGIN_PID" 2>/dev/null || true
	fi
	if [[ -n $(k get pods -l "$LABEL" -o name 2>/dev/null) ]]; then
		echo "cleanup: deleting this script's pods ($LABEL)" >&2
		k delete pods -l "$LABEL" --grace-period=0 --force --ignore-not-found >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ -x $BIN ]] || make build >&2
command -v jq >/dev/null || { echo "compare-manual.sh needs jq (apt-get install jq)" >&2; exit 2; }

mapfile -t NODES < <(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
((${#NODES[@]} > 0)) || { echo "no nodes" >&2; exit 2; }
echo "cluster: ${#NODES[@]} nodes (${NODES[*]}), target $TARGET, namespace $NS, run $RUN, $ROUNDS rounds"

# quiesce deletes this script's pods and waits until they are gone (untimed).
quiesce() {
	k delete pods -l "$LABEL" --grace-period=1 --wait=false --ignore-not-found >/dev/null
	local i
	for ((i = 0; i < 120; i++)); do
		[[ -z $(k get pods -l "$LABEL" -o name) ]] && return 0
		sleep 0.5
	done
	echo "the manual pods did not go in 60 s" >&2
	return 1
}

# plugin prints its wall time in seconds; exit 0 = healthy, 1 = problems
# found: both are a finished run.
plugin() {
	local t0 t1 prc
	t0=$(now)
	set +e
	"$BIN" external "$TARGET" -n "$NS" -o json >"$WORK/plugin.json" 2>"$WORK/plugin.err" &
	PLUGIN_PID=$!
	wait "$PLUGIN_PID"
	prc=$?
	set -e
	PLUGIN_PID=
	t1=$(now)
	if ((prc > 1)); then
		echo "plugin failed (exit $prc):" >&2
		cat "$WORK/plugin.err" >&2
		exit 1
	fi
	jq -r --arg rc "$prc" '"  plugin: exit \($rc), healthy=\(.status.healthy), first probe Ready \(.status.firstProbeReadyMillis) ms, fan-out \(.status.durationMillis) ms; \(.status.cleanup // "")"' "$WORK/plugin.json" >&2
	secs "$t0" "$t1"
}

run_pod() { # NAME NODE [hostnet]
	local overrides="{\"apiVersion\":\"v1\",\"spec\":{\"nodeName\":\"$2\"}}"
	if [[ ${3:-} == hostnet ]]; then
		overrides="{\"apiVersion\":\"v1\",\"spec\":{\"nodeName\":\"$2\",\"hostNetwork\":true,\"containers\":[{\"name\":\"$1\",\"image\":\"$IMAGE\",\"args\":[\"sleep\",\"3600\"],\"securityContext\":{\"privileged\":true}}]}}"
	fi
	k run "$1" --image="$IMAGE" --image-pull-policy=IfNotPresent --restart=Never \
		--labels="$LABEL" --overrides="$overrides" -- sleep 3600 >/dev/null
}

# manual MODE prints the procedure's time in seconds, node after node, deletes
# left out; the steps go to stderr.
manual() {
	local mode=$1 m0 m1 i node pod s0 s1 s2 s3 out summary
	m0=$(now)
	for i in "${!NODES[@]}"; do
		node=${NODES[$i]}
		pod=nc-manual-$RUN-$mode-$i
		s0=$(now)
		run_pod "$pod" "$node"
		[[ $mode == podnode ]] && run_pod "$pod-node" "$node" hostnet
		s1=$(now)
		k wait --for=condition=Ready "pod/$pod" --timeout=120s >/dev/null
		[[ $mode == podnode ]] && k wait --for=condition=Ready "pod/$pod-node" --timeout=120s >/dev/null
		s2=$(now)
		set +e
		out=$(k exec "$pod" -- ping -c 3 -W 2 "$TARGET" 2>&1)
		if [[ $mode == podnode ]]; then
			out+=$'\n'$(k exec "$pod-node" -- ping -c 3 -W 2 "$TARGET" 2>&1)
			out+=$'\n'$(k exec "$pod-node" -- ip route get "$TARGET" 2>&1)
		fi
		set -e
		s3=$(now)
		summary=$(grep -Eo '[0-9]+ packets transmitted, [0-9]+ (packets )?received' <<<"$out" | paste -sd ';' || echo "no ping summary")
		printf '  %-8s %-10s run %5s  wait %5s  exec %5s  %s\n' "$mode" "$node" "$(secs "$s0" "$s1")" \
			"$(secs "$s1" "$s2")" "$(secs "$s2" "$s3")" "$summary" >&2
	done
	m1=$(now)
	secs "$m0" "$m1"
}

P=() M=() N=()
for ((r = 1; r <= ROUNDS; r++)); do
	echo "== round $r"
	P+=("$(plugin)")
	echo "  plugin   ${P[-1]} s"
	M+=("$(manual pod)")
	echo "  pod-only ${M[-1]} s"
	quiesce
	N+=("$(manual podnode)")
	echo "  pod+node ${N[-1]} s"
	quiesce
done

p=$(median "${P[@]}") m=$(median "${M[@]}") n=$(median "${N[@]}")
echo
echo "== result (${#NODES[@]} nodes, target $TARGET, median of $ROUNDS, interleaved)"
awk -v p="$p" -v m="$m" -v n="$n" -v ps="${P[*]}" -v ms="${M[*]}" -v ns="${N[*]}" 'BEGIN {
	printf "plugin                 %7.2f s   (%s)\n", p, ps
	printf "manual, pod only       %7.2f s   (%s)   %5.1f x the plugin\n", m, ms, m / p
	printf "manual, pod + node     %7.2f s   (%s)   %5.1f x the plugin\n", n, ns, n / p
}'
