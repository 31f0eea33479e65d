#!/usr/bin/env bash
# Side by side on a real cluster: `kubectl netcheck external TARGET` against
# the manual procedure of the troubleshooting guides, node after node:
#
#   kubectl run <pod> --image=busybox:1.36 --overrides='{"spec":{"nodeName":"<node>"}}' -- sleep 3600
#   kubectl wait --for=condition=Ready pod/<pod>
#   kubectl exec <pod> -- ping -c 3 -W 2 TARGET
#   kubectl delete pod <pod> --wait
#
# Prints both wall times and their ratio, the manual time per step, and the
# plugin's own time to first probe ready vs its total (from -o json).
#
# Usage: scripts/compare-manual.sh [TARGET]   (default 198.19.0.1, the lab's external host)
# Env:   KUBECONFIG (default /run/netcheck-e2e/kubeconfig, the lab cluster)
#        NETCHECK_BIN (default bin/kubectl-netcheck, built with `make build` if missing)
#        NAMESPACE (default: default)
#
# Only the pods this script creates are ever deleted (label netcheck.io/manual-run=<id>);
# the plugin removes its own.
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET=${1:-198.19.0.1}
export KUBECONFIG=${KUBECONFIG:-/run/netcheck-e2e/kubeconfig}
BIN=${NETCHECK_BIN:-bin/kubectl-netcheck}
NS=${NAMESPACE:-default}
IMAGE=busybox:1.36
RUN=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
LABEL=netcheck.io/manual-run=$RUN
WORK=$(mktemp -d)
PLUGIN_PID=

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
k() { kubectl -n "$NS" "$@"; }

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

mapfile -t NODES < <(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
((${#NODES[@]} > 0)) || { echo "no nodes" >&2; exit 2; }
echo "cluster: ${#NODES[@]} nodes (${NODES[*]}), target $TARGET, namespace $NS, run $RUN"

# (a) the plugin. Exit 0 = healthy, 1 = problems found: both are a finished run.
echo
echo "== (a) $BIN external $TARGET -o json"
t0=$(now)
set +e
"$BIN" external "$TARGET" -n "$NS" -o json >"$WORK/plugin.json" 2>"$WORK/plugin.err" &
PLUGIN_PID=$!
wait "$PLUGIN_PID"
prc=$?
set -e
PLUGIN_PID=
t1=$(now)
plugin=$(secs "$t0" "$t1")
if ((prc > 1)); then
	echo "plugin failed (exit $prc):" >&2
	cat "$WORK/plugin.err" >&2
	exit 1
fi
first=$(jq -r '(.status.firstProbeReadyMillis // "?" | tostring) + " ms"' "$WORK/plugin.json")
dur=$(jq -r '(.status.durationMillis // "?" | tostring) + " ms"' "$WORK/plugin.json")
healthy=$(jq -r '.status.healthy' "$WORK/plugin.json")
cleanupmsg=$(jq -r '.status.cleanup // ""' "$WORK/plugin.json")
echo "wall ${plugin}s (exit $prc, healthy=$healthy); report: firstProbeReady=$first duration=$dur; $cleanupmsg"

# (b) the manual procedure, one node after the other.
echo
echo "== (b) manual: kubectl run / wait / exec ping / delete --wait, per node"
printf '%-12s %7s %7s %7s %7s %7s  %s\n' node run wait exec delete total ping
declare -A STEP
m0=$(now)
for i in "${!NODES[@]}"; do
	node=${NODES[$i]}
	pod=netcheck-manual-$RUN-$i
	s0=$(now)
	k run "$pod" --image="$IMAGE" --image-pull-policy=IfNotPresent --restart=Never \
		--labels="$LABEL" --overrides="{\"apiVersion\":\"v1\",\"spec\":{\"nodeName\":\"$node\"}}" \
		-- sleep 3600 >/dev/null
	s1=$(now)
	k wait --for=condition=Ready "pod/$pod" --timeout=120s >/dev/null
	s2=$(now)
	set +e
	out=$(k exec "$pod" -- ping -c 3 -W 2 "$TARGET" 2>&1)
	set -e
	s3=$(now)
	k delete pod "$pod" --wait >/dev/null
	s4=$(now)
	summary=$(grep -Eo '[0-9]+ packets transmitted, [0-9]+ (packets )?received' <<<"$out" || echo "no ping summary")
	STEP[run]=$(awk -v a="${STEP[run]:-0}" -v d="$(secs "$s0" "$s1")" 'BEGIN{print a+d}')
	STEP[wait]=$(awk -v a="${STEP[wait]:-0}" -v d="$(secs "$s1" "$s2")" 'BEGIN{print a+d}')
	STEP[exec]=$(awk -v a="${STEP[exec]:-0}" -v d="$(secs "$s2" "$s3")" 'BEGIN{print a+d}')
	STEP[delete]=$(awk -v a="${STEP[delete]:-0}" -v d="$(secs "$s3" "$s4")" 'BEGIN{print a+d}')
	printf '%-12s %7s %7s %7s %7s %7s  %s\n' "$node" "$(secs "$s0" "$s1")" "$(secs "$s1" "$s2")" \
		"$(secs "$s2" "$s3")" "$(secs "$s3" "$s4")" "$(secs "$s0" "$s4")" "$summary"
done
m1=$(now)
manual=$(secs "$m0" "$m1")
nodel=$(awk -v t="$manual" -v d="${STEP[delete]}" 'BEGIN { printf "%.2f", t - d }')
printf '%-12s %7.2f %7.2f %7.2f %7.2f %7s\n' "sum" "${STEP[run]}" "${STEP[wait]}" "${STEP[exec]}" "${STEP[delete]}" "$manual"

echo
echo "== result (${#NODES[@]} nodes, target $TARGET)"
awk -v p="$plugin" -v m="$manual" -v nd="$nodel" -v f="$first" -v d="$dur" 'BEGIN {
	printf "plugin wall            %7.2f s   (report: first probe ready %s of %s)\n", p, f, d
	printf "manual wall            %7.2f s\n", m
	printf "manual without deletes %7.2f s   (delete --wait waits out the 30 s grace period: sleep ignores SIGTERM)\n", nd
	printf "ratio manual/plugin    %7.1f x   (%.1f x without the deletes)\n", m / p, nd / p
}'
