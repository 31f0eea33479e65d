#!/usr/bin/env bash
# Installs and builds everything the e2e cluster runs, into the cache dir
# ${NETCHECK_E2E_CACHE:-/var/cache/netcheck-e2e}. Idempotent: a second run only
# checks stamps and takes seconds.
#   bin/    kube-* and kubelet (build-k8s.sh), coredns, pause, echo, busybox, flanneld, flannel (CNI),
#           kube-router (the NetworkPolicy enforcer of NETCHECK_E2E_POLICY=kube-router)
#   cni-bin/ Debian's CNI plugins and flannel's, for the flannel profile
#   images/ OCI image archives (and NAME.digest, the manifest digest): the probe image
#           ghcr.io/netcheck/probe:1.35.0 (also named busybox:1.36 and by its digest),
#           registry.k8s.io/pause:3.10, registry.k8s.io/coredns/coredns:v1.12.4, netcheck.local/echo:1
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root

PKGS=(containerd runc containernetworking-plugins iptables nftables conntrack ipset etcd-server openssl
      busybox-static iproute2 util-linux dpkg-dev build-essential ca-certificates)
STAMPS="$CACHE/stamps"
mkdir -p "$BIN" "$IMAGES" "$STAMPS"

# --- Debian packages ---------------------------------------------------------------
apt_updated=0
apt_update() { ((apt_updated)) || { log "apt-get update"; apt-get update -qq; apt_updated=1; }; }

missing=()
for p in "${PKGS[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *'install ok installed'* ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  apt_update
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || die "go toolchain not found in PATH"

# --- stamps: rebuild an artifact only when its inputs change -------------------------
# inputs_hash ARG...: an ARG naming a file contributes its content, any other ARG its text.
inputs_hash() {
  local a
  for a in "$@"; do
    if [[ -f $a ]]; then sha256sum <"$a"; else printf '%s\n' "$a"; fi
  done | sha256sum | cut -d' ' -f1
}
fresh() { # fresh NAME HASH OUTPUT...: all outputs exist and the stamp matches
  local name=$1 hash=$2; shift 2
  local o; for o in "$@"; do [[ -e $o ]] || return 1; done
  [[ -f $STAMPS/$name && $(<"$STAMPS/$name") == "$hash" ]]
}
stamp() { echo "$2" >"$STAMPS/$1"; }

# --- Kubernetes ----------------------------------------------------------------------
extra=""
command -v kubectl >/dev/null 2>&1 || extra=kubectl
K8S_VERSION=$K8S_VERSION K8S_EXTRA_BINS=$extra NETCHECK_E2E_CACHE=$CACHE bash "$CLUSTER_DIR/build-k8s.sh"

# --- small Go programs ---------------------------------------------------------------
go_build() { # go_build NAME OUT [ldflags]
  local name=$1 out=$2 dir="$CLUSTER_DIR/images/$1"
  local files=("$dir"/go.mod "$dir"/*.go)
  [[ -f $dir/go.sum ]] && files+=("$dir/go.sum")
  local h; h=$(inputs_hash "$(go env GOVERSION)" "${files[@]}")
  if fresh "$name" "$h" "$out"; then log "$name cached"; return; fi
  log "building $name"
  (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$out.tmp" .)
  mv "$out.tmp" "$out"
  stamp "$name" "$h"
}
# The plugin's own programs in the probe image, built reproducibly (no VCS
# stamp: the digest must not follow the commit): netcheck-ping, ping through an
# unprivileged ICMP socket (the restricted pod probe has no NET_RAW), and
# netcheck-wget, https for servers busybox's TLS cannot talk to (Go 1.25+), and
# netcheck-lookup, a lookup through the search list as applications do it.
REPO_DIR="$(cd "$CLUSTER_DIR/../.." && pwd)"
for tool in netcheck-ping netcheck-wget netcheck-lookup; do
  th=$(inputs_hash "$(go env GOVERSION)" "$REPO_DIR/go.mod" "$REPO_DIR/go.sum" "$REPO_DIR"/cmd/$tool/*.go)
  if fresh "$tool" "$th" "$BIN/$tool"; then log "$tool cached"; continue; fi
  log "building $tool"
  (cd "$REPO_DIR" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -buildvcs=false -ldflags "-s -w -buildid=" -o "$BIN/$tool.tmp" ./cmd/$tool)
  mv "$BIN/$tool.tmp" "$BIN/$tool"
  stamp "$tool" "$th"
done
go_build pause "$BIN/pause"
go_build echo "$BIN/echo"
go_build coredns "$BIN/coredns"

# tool_build NAME OUT PACKAGE CGO: a command of a module images/NAME/go.mod names as a tool.
tool_build() {
  local name=$1 out=$2 pkg=$3 cgo=$4 dir="$CLUSTER_DIR/images/$1"
  local h; h=$(inputs_hash "$(go env GOVERSION)" "$dir/go.mod" "$dir/go.sum" "$pkg" "$cgo")
  if fresh "$name" "$h" "$out"; then log "$name cached"; return; fi
  log "building $name ($pkg)"
  (cd "$dir" && CGO_ENABLED=$cgo GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  stamp "$name" "$h"
}
# flannel's profile: flanneld (its udp backend needs cgo) and the flannel CNI meta plugin
tool_build flanneld "$BIN/flanneld" github.com/flannel-io/flannel 1
tool_build flannel-cni "$BIN/flannel" github.com/containernetworking/plugins/plugins/meta/flannel 0
# the NetworkPolicy enforcer of NETCHECK_E2E_POLICY=kube-router (test cluster only:
# v2.1.0 has reported security flaws; never shipped or recommended by the plugin)
tool_build kube-router "$BIN/kube-router" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router 0
mkdir -p "$CACHE/cni-bin"
for f in /usr/lib/cni/*; do ln -sfn "$f" "$CACHE/cni-bin/$(basename "$f")"; done
ln -sfn "$BIN/flannel" "$CACHE/cni-bin/flannel"

# --- busybox, rebuilt from Debian's source package -----------------------------------
# Debian's binaries lack the wget timeout feature (`wget -T 3` segfaults) and more.
BB_SRC="$CACHE/src/busybox"
bb_h=$(inputs_hash busybox-v2 "$(dpkg-query -W -f='${Version}' busybox-static)")
if fresh busybox "$bb_h" "$BIN/busybox"; then
  log "busybox cached"
else
  src_list=/etc/apt/sources.list.d/netcheck-e2e-src.sources
  if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # deb-src entries for the same mirrors/suites as the binary packages
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
      sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$src_list"
    else
      grep -h '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' >"${src_list%.sources}.list"
    fi
    apt_updated=0
  fi
  if ! grep -q "\.dsc'" <<<"$(apt-get source --print-uris -qq busybox 2>/dev/null)"; then apt_updated=0; fi
  apt_update
  rm -rf "$BB_SRC"; mkdir -p "$BB_SRC"
  log "fetching busybox source package"
  (cd "$BB_SRC" && apt-get source -qq busybox >/dev/null 2>&1) || die "apt-get source busybox failed"
  dir=$(find "$BB_SRC" -mindepth 1 -maxdepth 1 -type d -name 'busybox-*' -print -quit)
  [[ -n $dir ]] || die "busybox source not unpacked in $BB_SRC"
  log "building busybox (static, defconfig, no tc, reproducible) in $dir"
  (
    cd "$dir"
    # No build time in the binary: the probe image's digest is pinned in the
    # plugin, so the same sources and toolchain must give the same bytes.
    export KCONFIG_NOTIMESTAMP=1 SOURCE_DATE_EPOCH=0
    make -s defconfig >/dev/null
    sed -i -e 's/^# CONFIG_STATIC is not set/CONFIG_STATIC=y/' -e 's/^CONFIG_TC=y/# CONFIG_TC is not set/' .config
    yes '' | make -s oldconfig >/dev/null 2>&1 || true
    grep -q '^CONFIG_STATIC=y' .config && ! grep -q '^CONFIG_TC=y' .config
    make -s -j"$(nproc)" busybox >"$BB_SRC/build.log" 2>&1 || { tail -n 30 "$BB_SRC/build.log"; exit 1; }
    install -m 0755 busybox "$BIN/busybox.tmp"
  )
  mv "$BIN/busybox.tmp" "$BIN/busybox"
  # Read the whole list first: `busybox --list | grep -q` races (grep exits at the
  # first match, busybox dies of SIGPIPE, pipefail reports a missing applet).
  applets=$("$BIN/busybox" --list)
  for a in wget nc nslookup ping ip nsenter timeout httpd sh; do
    grep -qx "$a" <<<"$applets" || die "rebuilt busybox lacks applet $a"
  done
  # wget -T must time out cleanly, not crash (exit 139)
  rc=0; "$BIN/busybox" wget -T 1 -qO- http://127.0.0.1:9/ >/dev/null 2>&1 || rc=$?
  ((rc < 128)) || die "rebuilt busybox wget -T crashed (exit $rc)"
  stamp busybox "$bb_h"
  rm -rf "$dir"   # keep the downloaded source package, drop the build tree
fi

# --- container images (OCI image archives, no registry) ------------------------------
# make_image OUT ROOTFS ENTRYPOINT_JSON CMD_JSON NAME...: an OCI image layout in a tar,
# every NAME in its index (containerd's import names the image after each), plus the
# name REPO@DIGEST of the first NAME, so that a digest-pinned reference resolves
# without a registry. Writes OUT.digest. Everything is fixed (mtimes, order,
# owners), so the digest depends on the rootfs alone.
make_image() {
  local out=$1 rootfs=$2 ep=$3 cmd=$4 w layer cfg man size n repo entries=""
  shift 4
  w=$(mktemp -d)
  mkdir -p "$w/blobs/sha256"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$w/layer.tar" .
  layer=$(sha256sum "$w/layer.tar" | cut -d' ' -f1)
  mv "$w/layer.tar" "$w/blobs/sha256/$layer"
  printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"netcheck-e2e build.sh"}]}' \
    "$ep" "$cmd" "$layer" >"$w/config.json"
  cfg=$(sha256sum "$w/config.json" | cut -d' ' -f1)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
    "$cfg" "$(stat -c %s "$w/config.json")" "$layer" "$(stat -c %s "$w/blobs/sha256/$layer")" >"$w/manifest.json"
  mv "$w/config.json" "$w/blobs/sha256/$cfg"
  man=$(sha256sum "$w/manifest.json" | cut -d' ' -f1)
  size=$(stat -c %s "$w/manifest.json")
  mv "$w/manifest.json" "$w/blobs/sha256/$man"
  repo=${1%:*}
  for n in "$@" "$repo@sha256:$man"; do
    entries+="${entries:+,}{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$man\",\"size\":$size,\"annotations\":{\"io.containerd.image.name\":\"$n\"}}"
  done
  printf '{"imageLayoutVersion":"1.0.0"}' >"$w/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$entries" >"$w/index.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$w" -cf "$out.tmp" oci-layout index.json blobs
  mv "$out.tmp" "$out"
  echo "sha256:$man" >"$out.digest"
  rm -rf "$w"
}

IMAGE_EXTRA=() # more files whose content the next image holds
image() { # image NAME BINARY ENTRYPOINT_JSON CMD_JSON ROOTFS_SETUP_FN REF...
  local name=$1 binary=$2 ep=$3 cmd=$4 setup=$5 h r
  shift 5
  h=$(inputs_hash image-v2 "$*" "$binary" "${IMAGE_EXTRA[@]}" "$ep" "$cmd" "$(declare -f "$setup" make_image)")
  if fresh "image-$name" "$h" "$IMAGES/$name.tar"; then log "image $1 cached"; return; fi
  log "making image $*"
  r=$(mktemp -d)
  "$setup" "$r" "$binary"
  make_image "$IMAGES/$name.tar" "$r" "$ep" "$cmd" "$@"
  rm -rf "$r"
  stamp "image-$name" "$h"
}

base_etc() {
  mkdir -p "$1/etc" "$1/tmp" "$1/root" "$1/var" "$1/home"
  chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$1/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$1/etc/group"
}
setup_busybox() {
  local r=$1 bb=$2 p
  base_etc "$r"
  mkdir -p "$r/bin"
  install -m 0755 "$bb" "$r/bin/busybox"
  while read -r p; do
    [[ $p == bin/busybox ]] && continue
    mkdir -p "$r/$(dirname "$p")"
    ln -sf /bin/busybox "$r/$p"
  done < <("$bb" --list-full)
  install -m 0755 "$BIN/netcheck-ping" "$r/bin/netcheck-ping"
  install -m 0755 "$BIN/netcheck-wget" "$r/bin/netcheck-wget"
  install -m 0755 "$BIN/netcheck-lookup" "$r/bin/netcheck-lookup"
}
setup_single() { # the binary at /<basename>
  base_etc "$1"
  install -m 0755 "$2" "$1/$(basename "$2")"
}

# The probe image: its digest is pkg/launch's DefaultImage (e2e checks they agree).
IMAGE_EXTRA=("$BIN/netcheck-ping" "$BIN/netcheck-wget" "$BIN/netcheck-lookup")
image busybox "$BIN/busybox" null '["sh"]' setup_busybox ghcr.io/netcheck/probe:1.35.0 docker.io/library/busybox:1.36
IMAGE_EXTRA=()
log "probe image digest: $(<"$IMAGES/busybox.tar.digest")"
image pause "$BIN/pause" '["/pause"]' null setup_single registry.k8s.io/pause:3.10
image coredns "$BIN/coredns" '["/coredns"]' null setup_single "registry.k8s.io/coredns/coredns:$COREDNS_VERSION"
image echo "$BIN/echo" '["/echo"]' null setup_single netcheck.local/echo:1

log "build complete: binaries in $BIN, images in $IMAGES"
