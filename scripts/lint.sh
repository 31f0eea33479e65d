#!/usr/bin/env bash
# golangci-lint v2.15.0, installed once from the Go module proxy into a cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${NETCHECK_TOOLS:-/var/cache/netcheck-tools}/bin
if [[ ! -x $bin/golangci-lint ]]; then
  echo "installing golangci-lint v2.15.0 into $bin (about 2 minutes, once)"
  mkdir -p "$bin"
  GOBIN=$bin go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
fi
"$bin/golangci-lint" run ./...
