#!/usr/bin/env bash
# shellcheck disable=SC2317 # the check functions are called through check()
# Offline check of the krew packaging, the way a user installs: this
# repository is its own krew index. It rebuilds the release archives
# (reproducible: mk/dist.mk), fails if their sha256s differ from those the
# committed plugins/netcheck.yaml names, validates that manifest, then
# `krew index add`s a clone of this repository and `krew install`s
# netcheck/netcheck from it into a throwaway KREW_ROOT. krew downloads the
# archives from the manifest's GitHub URLs through scripts/releaseproxy, which
# answers them from dist/ on loopback (nothing leaves the machine), and checks
# the committed sha256s. Then the installed plugin runs, its completion helper
# works through kubectl, and it uninstalls.
#
#   bash .ci/krew.sh                   all six release platforms (CI)
#   KREW_CHECK=host bash .ci/krew.sh   the host's platform only, against its line
#                                      of the committed manifest (quicker)
#
# Needs go, make, tar, zip, git. krew and validate-krew-manifest are
# go-installed once into ${NETCHECK_TOOLS:-/var/cache/netcheck-tools}/bin (from
# the Go module proxy). Nothing here talks to a cluster.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

KREW_VERSION=v0.4.3 # v0.4.5 is refused by the module proxy
TOOLS_BIN=${NETCHECK_TOOLS:-/var/cache/netcheck-tools}/bin
MANIFEST=plugins/netcheck.yaml
RENDERED=dist/netcheck.yaml
ALL_PLATFORMS="linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64 windows_arm64"
case ${KREW_CHECK:-all} in
all) PLATFORMS=$ALL_PLATFORMS partial= ;;
host) PLATFORMS="$(go env GOOS)_$(go env GOARCH)" partial=1 ;;
*) echo "KREW_CHECK must be host or all, not ${KREW_CHECK}" >&2; exit 2 ;;
esac

pass=0 fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/netcheck-krew.XXXXXX")
proxy_pid=
trap '[ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
# No kubeconfig: nothing below may reach a cluster, even by accident.
export KUBECONFIG=/dev/null
# krew would otherwise ask GitHub, now and then, whether it is up to date.
export KREW_NO_UPGRADE_CHECK=1

ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
finish() {
	echo "krew: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
}
# check NAME CMD...: runs CMD with its output in a log, shown on failure.
check() {
	local name=$1 log
	shift
	log=$tmp/$(echo "$name" | tr -c 'A-Za-z0-9\n' '_').log
	if "$@" >"$log" 2>&1; then
		ok "$name"
	else
		bad "$name"
		sed 's/^/     | /' "$log" | tail -40
	fi
}
secs() { echo "$(($(date +%s) - $1))s"; }

# --- tools -------------------------------------------------------------------
# A tool is reused if `go version -m` says it was built from krew $KREW_VERSION.
tool_ok() { [ -x "$TOOLS_BIN/$1" ] && grep -q "sigs.k8s.io/krew[[:space:]]*$KREW_VERSION" <<<"$(go version -m "$TOOLS_BIN/$1" 2>/dev/null)"; }
if ! tool_ok krew || ! tool_ok validate-krew-manifest; then
	t=$(date +%s)
	echo "installing krew $KREW_VERSION into $TOOLS_BIN"
	mkdir -p "$TOOLS_BIN"
	if ! (cd "$tmp" && GOBIN=$TOOLS_BIN GOFLAGS='' go install \
		"sigs.k8s.io/krew/cmd/krew@$KREW_VERSION" \
		"sigs.k8s.io/krew/cmd/validate-krew-manifest@$KREW_VERSION"); then
		bad "go install krew $KREW_VERSION"
		finish
	fi
	echo "installed in $(secs "$t")"
fi
krew=$TOOLS_BIN/krew

# --- archives and manifest ---------------------------------------------------
t=$(date +%s)
if ! make dist DIST_PLATFORMS="${PLATFORMS//_//}" KREW_PARTIAL="$partial"; then
	bad "make dist"
	finish
fi
ok "make dist ($(secs "$t"))"
version=$(cat dist/version)

archives() {
	local p f want got mode
	(cd dist && sha256sum -c --quiet checksums.txt) || return 1
	for p in $PLATFORMS; do
		case $p in
		windows_*)
			f=dist/kubectl-netcheck_${version}_$p.zip
			want="LICENSE kubectl-netcheck.exe kubectl_complete-netcheck kubectl_complete-netcheck.cmd"
			got=$(unzip -Z1 "$f" | sort | xargs) || return 1
			;;
		*)
			f=dist/kubectl-netcheck_${version}_$p.tar.gz
			want="LICENSE kubectl-netcheck kubectl_complete-netcheck"
			got=$(tar -tzf "$f" | sort | xargs) || return 1
			for x in kubectl-netcheck kubectl_complete-netcheck; do
				mode=$(tar -tvzf "$f" "$x" | cut -c1-10)
				[ "$mode" = "-rwxr-xr-x" ] || { echo "$f: $x has mode $mode"; return 1; }
			done
			;;
		esac
		[ "$got" = "$want" ] || { echo "$f holds: $got; want: $want"; return 1; }
		grep -q "$(basename "$f")" "$RENDERED" || { echo "$RENDERED does not name $f"; return 1; }
	done
	echo "$(wc -w <<<"$PLATFORMS") archives, checksums match"
}
check "archives: $(wc -w <<<"$PLATFORMS") platform(s), binary + completion helper + LICENSE, checksums" archives

# The committed manifest names exactly the archives rebuilt here: the whole
# file when all six were built, the host's sha256 line otherwise.
committed() {
	[ -f "$MANIFEST" ] || { echo "no $MANIFEST: run make plugins and commit it"; return 1; }
	if [ -z "$partial" ]; then
		cmp -s "$RENDERED" "$MANIFEST" && return 0
		diff -u "$MANIFEST" "$RENDERED"
	else
		local sum
		sum=$(cut -d' ' -f1 dist/checksums.txt)
		grep -qx "    sha256: $sum" "$MANIFEST" && return 0
		echo "$MANIFEST does not name the sha256 $sum of the archive rebuilt here"
	fi
	echo "$MANIFEST does not match the archives rebuilt from this tree: run make plugins, and commit $MANIFEST on its own"
	return 1
}
check "committed $MANIFEST names the sha256s of the archives rebuilt here" committed

check "validate-krew-manifest $MANIFEST" \
	"$TOOLS_BIN/validate-krew-manifest" -manifest "$MANIFEST" -skip-install

# --- krew index add + krew install from this repository ----------------------
export KREW_ROOT=$tmp/krew
mkdir -p "$KREW_ROOT"
if ! go build -o "$tmp/releaseproxy" ./scripts/releaseproxy; then
	bad "go build ./scripts/releaseproxy"
	finish
fi
"$tmp/releaseproxy" -dir dist -prefix "/netcheck/kubectl-netcheck/releases/download/$version/" \
	-ca "$tmp/ca.pem" -addr-file "$tmp/proxy-addr" 2>"$tmp/releaseproxy.log" &
proxy_pid=$!
for _ in $(seq 50); do [ -s "$tmp/proxy-addr" ] && break; sleep 0.1; done
repo=$(git rev-parse --show-toplevel)
# krew clones the index with git: the committed tree of this repository, as
# `kubectl krew index add netcheck <its git URL>` would.
check "krew index add netcheck $repo" "$krew" index add netcheck "$repo"
from_index() {
	HTTPS_PROXY="http://$(cat "$tmp/proxy-addr")" SSL_CERT_FILE="$tmp/ca.pem" "$krew" install netcheck/netcheck || {
		sed 's/^/releaseproxy| /' "$tmp/releaseproxy.log"
		return 1
	}
	grep -F "GET \"https://github.com/netcheck/kubectl-netcheck/releases/download/$version/" "$tmp/releaseproxy.log"
}
check "krew install netcheck/netcheck (downloads through releaseproxy, the committed sha256 checked)" from_index

plugin=$KREW_ROOT/bin/kubectl-netcheck
store=$KREW_ROOT/store/netcheck/$version
runs_version() {
	local out
	out=$("$@") || return 1
	echo "$out"
	case $out in *"kubectl-netcheck $version "*) ;; *) echo "want version $version"; return 1 ;; esac
}
check "installed plugin: kubectl-netcheck version" runs_version "$plugin" version
shows_help() {
	local out
	out=$("$plugin" --help) || return 1
	if ! grep -q '^  kubectl netcheck \[command\]' <<<"$out" || ! grep -q '^  completion ' <<<"$out"; then
		echo "$out"
		return 1
	fi
}
check "installed plugin: kubectl-netcheck --help" shows_help

installed_files() {
	local f
	for f in kubectl-netcheck kubectl_complete-netcheck LICENSE; do
		[ -f "$store/$f" ] || { ls -la "$store"; echo "missing $store/$f"; return 1; }
	done
	[ -x "$store/kubectl_complete-netcheck" ] || { ls -la "$store"; return 1; }
	grep -q 'kubectl netcheck __complete "\$@"' "$store/kubectl_complete-netcheck" ||
		{ cat "$store/kubectl_complete-netcheck"; return 1; }
}
check "installed completion helper (executable) and LICENSE in the store" installed_files

if command -v kubectl >/dev/null; then
	via_kubectl() { PATH="$KREW_ROOT/bin:$PATH" runs_version kubectl netcheck version; }
	check "kubectl netcheck version (plugin found on PATH)" via_kubectl
	# The recipe of `completion --help`: copy the helper next to the plugin, then kubectl
	# completes plugin arguments through it (kubectl >= 1.26).
	completes() {
		cp "$store/kubectl_complete-netcheck" "$KREW_ROOT/bin/" || return 1
		local out
		out=$(PATH="$KREW_ROOT/bin:$PATH" kubectl __complete netcheck "") || return 1
		echo "$out"
		grep -q '^external' <<<"$out" && grep -q '^completion' <<<"$out"
	}
	check "kubectl __complete netcheck \"\" through the helper" completes
else
	echo "skip kubectl netcheck (no kubectl on PATH)"
fi

uninstall() {
	# krew refuses to uninstall without a local plugin index ("run kubectl krew
	# update", which downloads krew-index): an empty git repository stands in.
	git init -q "$KREW_ROOT/index/default" || return 1
	"$krew" uninstall netcheck || return 1
	if [ -e "$plugin" ] || [ -L "$plugin" ]; then echo "$plugin still there"; return 1; fi
	[ ! -e "$KREW_ROOT/store/netcheck" ] || { echo "$KREW_ROOT/store/netcheck still there"; return 1; }
}
check "krew uninstall netcheck" uninstall

finish
