#!/usr/bin/env bash
# Fails when a shell script or Makefile pipes a producer into a reader that may
# exit early (grep -q/-m, head, awk/sed that quit): under pipefail the producer's
# SIGPIPE (exit 141) then fails the pipeline at random. Read the producer's
# output whole first (grep -q PAT <<<"$(cmd)"), or drop -q and send grep's
# output to /dev/null. A line may opt out with "# pipe-ok: <why>".
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -- '*.sh' Makefile '*.mk' '.ci/*')
bad=$(grep -nE '(^|[^|])\|[[:space:]]*(grep[[:space:]]+(-[A-Za-z]*[qm]|--quiet|--max-count)|head([[:space:]]|$)|awk[[:space:]].*\bexit\b|sed[[:space:]]+-n[[:space:]]+.*q)' \
  "${files[@]}" | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#|# pipe-ok:' || true)
if [[ -n $bad ]]; then
  echo "early-exiting readers in pipelines (racy under pipefail; see scripts/check-pipes.sh):" >&2
  echo "$bad" >&2
  exit 1
fi
echo "check-pipes: ${#files[@]} files, no early-exiting reader in a pipeline"
