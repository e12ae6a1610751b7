#!/usr/bin/env bash
# Build the node binaries of the real node (kubelet, kube-proxy, kube-scheduler)
# from the same pinned k8s.io/kubernetes release as the control plane
# (tools/k8s-testbins/versions.env), plus a static `pause` (the pod sandbox
# process, pause/main.go). Cached under $SCHEMAOP_CACHE/realnode/bin-<key>, keyed
# by those versions, this script, pause/main.go and the Go version; a second run
# only prints the directory. The sandbox image is pause.oci.tar there, tagged
# localhost/schemaop-pause:<key>.
#
# It starts from the control plane's generated module (go.mod and go.sum of
# tools/k8s-testbins/build.sh, built first if needed), so the Kubernetes modules
# and the Go build cache are shared and a warm build takes a minute or two.
#
# Also crictl, with which the node removes its pods at stop (CNI teardown).
#
# Usage: tools/realnode/build.sh      # prints the bin directory on stdout
set -euo pipefail

# cri-tools has no release per Kubernetes minor; any speaks CRI v1.
CRICTL_VERSION=v1.34.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
testbins_dir="$here/../k8s-testbins"
# shellcheck source=../k8s-testbins/versions.env
source "$testbins_dir/versions.env"
log_tag=realnode-bins
# shellcheck source=lib.sh
source "$here/lib.sh"

cache_root="${SCHEMAOP_CACHE:-$HOME/.cache/schemaop}"
go_version="$(go env GOVERSION)"
key="$(cat "$testbins_dir/versions.env" "$here/build.sh" "$here/pause/main.go" <(echo "$go_version") \
  | sha256sum | cut -c1-12)"
out="$cache_root/realnode/bin-$key"
bin="$out/bin"
binaries=(kubelet kube-proxy kube-scheduler crictl pause pause.oci.tar)

complete() {
  for b in "${binaries[@]}"; do [ -s "$bin/$b" ] || return 1; done
}
if complete; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin" "$out/src"
# One build at a time (make test-realnode and make dev-real may start together);
# whoever waited finds the binaries built.
exec 9>"$out.lock"
flock 9
if complete; then
  echo "$bin"
  exit 0
fi
start_all=$SECONDS
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
gomajor="$(echo "$go_version" | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"

# --- kubelet, kube-proxy, kube-scheduler ---------------------------------------
if [ ! -x "$bin/kubelet" ] || [ ! -x "$bin/kube-proxy" ] || [ ! -x "$bin/kube-scheduler" ]; then
  testbins="$(bash "$testbins_dir/build.sh")"
  control_src="$(dirname "$testbins")/src/kube"
  if [ ! -f "$control_src/go.mod" ] || [ ! -f "$control_src/go.sum" ]; then
    log "expected the control plane's generated module in $control_src"; exit 1
  fi
  log "building kubelet, kube-proxy, kube-scheduler $K8S_VERSION (cached afterwards in $out)"
  kube_src="$out/src/kube"; rm -rf "$kube_src"; mkdir -p "$kube_src"; cd "$kube_src"
  sed 's#^module .*#module schemaop.local/realnode/kube#' "$control_src/go.mod" > go.mod
  cp "$control_src/go.sum" go.sum
  with_progress "resolving Kubernetes modules" "$out/last-build.log" \
    go get "k8s.io/kubernetes/cmd/kubelet@$K8S_VERSION" \
           "k8s.io/kubernetes/cmd/kube-proxy@$K8S_VERSION" \
           "k8s.io/kubernetes/cmd/kube-scheduler@$K8S_VERSION"
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  done
  for cmd in kubelet kube-proxy kube-scheduler; do
    with_progress "building $cmd" "$out/last-build.log" \
      nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
    mv "$bin/$cmd.tmp" "$bin/$cmd"
  done
fi

# --- crictl ---------------------------------------------------------------------
if [ ! -x "$bin/crictl" ]; then
  crictl_src="$out/src/crictl"; rm -rf "$crictl_src"; mkdir -p "$crictl_src"; cd "$crictl_src"
  printf 'module schemaop.local/realnode/crictl\n\ngo %s\n' "$gomajor" > go.mod
  with_progress "resolving cri-tools modules" "$out/last-build.log" \
    go get "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  with_progress "building crictl" "$out/last-build.log" \
    nice -n 10 go build -trimpath -ldflags "-s -w" -o "$bin/crictl.tmp" sigs.k8s.io/cri-tools/cmd/crictl
  mv "$bin/crictl.tmp" "$bin/crictl"
fi

# --- pause ----------------------------------------------------------------------
if [ ! -x "$bin/pause" ]; then
  pause_src="$out/src/pause"; rm -rf "$pause_src"; mkdir -p "$pause_src"; cd "$pause_src"
  printf 'module schemaop.local/realnode/pause\n\ngo %s\n' "$gomajor" > go.mod
  cp "$here/pause/main.go" .
  with_progress "building pause" "$out/last-build.log" \
    go build -trimpath -ldflags "-s -w" -o "$bin/pause.tmp" .
  mv "$bin/pause.tmp" "$bin/pause"
fi
# The sandbox image (containerd's sandbox_image): just that binary, as an OCI
# archive that the node imports into containerd.
if [ ! -s "$bin/pause.oci.tar" ]; then
  need_commands buildah:buildah
  container_storage "$cache_root/realnode"  # sets $storage
  ctr="$(buildah "${storage[@]}" from scratch)"
  buildah "${storage[@]}" copy "$ctr" "$bin/pause" /pause >/dev/null
  buildah "${storage[@]}" config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
  buildah "${storage[@]}" commit -q "$ctr" "localhost/schemaop-pause:$key" >/dev/null
  buildah "${storage[@]}" rm "$ctr" >/dev/null
  rm -f "$bin/pause.oci.tar.tmp"
  buildah "${storage[@]}" push -q "localhost/schemaop-pause:$key" \
    "oci-archive:$bin/pause.oci.tar.tmp:localhost/schemaop-pause:$key"
  mv "$bin/pause.oci.tar.tmp" "$bin/pause.oci.tar"
fi

log "node binaries ready in $bin ($((SECONDS - start_all))s)"
echo "$bin"
