#!/usr/bin/env bash
# Builds the Kubernetes server binaries the e2e cluster runs, from the Go module
# proxy only. k8s.io/kubernetes cannot be `go install`ed (its go.mod points the
# staging modules at ./staging), so a throwaway module requires it and replaces
# each staging module with its published v0.x twin.
set -euo pipefail
K8S_VERSION="${K8S_VERSION:?set K8S_VERSION (lib.sh does)}"
CACHE="${NETCHECK_E2E_CACHE:-/var/cache/netcheck-e2e}"
OUT="$CACHE/k8s/$K8S_VERSION"   # lib.sh K8S_BIN
MOD="$CACHE/k8s-build"
staging_version="v0.${K8S_VERSION#v1.}"
bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
# Extra commands from k8s.io/kubernetes/cmd (e.g. K8S_EXTRA_BINS=kubectl on a machine without one).
read -r -a extra <<<"${K8S_EXTRA_BINS:-}"
bins+=("${extra[@]}")

have_all=1
for b in "${bins[@]}"; do [[ -x "$OUT/$b" ]] || have_all=0; done
if [[ $have_all == 1 ]]; then
  echo "kubernetes $K8S_VERSION binaries cached in $OUT"; exit 0
fi

mkdir -p "$OUT" "$MOD"
cd "$MOD"
go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
upstream_mod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
{
  echo "module netcheck.local/k8sbuild"
  echo
  echo "go $(awk '/^go /{print $2; exit}' "$upstream_mod")"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  awk '/=> \.\/staging\/src\//{print "\t" $1 " => " $1 " '"$staging_version"'"}' "$upstream_mod"
  echo ")"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
for b in "${bins[@]}"; do
  if [[ -x "$OUT/$b" ]]; then continue; fi
  echo "building $b $K8S_VERSION"
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -tags tools -trimpath -ldflags "$ldflags" -o "$OUT/$b" "k8s.io/kubernetes/cmd/$b"
done
echo "kubernetes $K8S_VERSION binaries built in $OUT"
