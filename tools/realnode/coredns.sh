#!/usr/bin/env bash
# Build the real node's cluster DNS: a minimal CoreDNS (coredns/main.go: the
# server core and the plugins bind, errors, health, kubernetes, ready)
# at COREDNS_VERSION (versions.env), static, from the Go module proxy. Cached as
# $SCHEMAOP_CACHE/realnode/coredns-<key>/coredns, keyed by versions.env, this
# script, main.go and the Go version; a second run only prints the path.
#
# Usage: tools/realnode/coredns.sh      # prints the binary's path on stdout
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
log_tag=realnode-coredns
# shellcheck source=lib.sh
source "$here/lib.sh"

cache_root="${SCHEMAOP_CACHE:-$HOME/.cache/schemaop}"
go_version="$(go env GOVERSION)"
key="$(cat "$here/versions.env" "$here/coredns.sh" "$here/coredns/main.go" <(echo "$go_version") \
  | sha256sum | cut -c1-12)"
out="$cache_root/realnode/coredns-$key"
binary="$out/coredns"
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi

mkdir -p "$out"
# One build at a time; whoever waited finds the binary built.
exec 9>"$out.lock"
flock 9
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
start_all=$SECONDS
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
gomajor="$(echo "$go_version" | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"
log "building CoreDNS $COREDNS_VERSION (minimal plugin set; cached afterwards in $out)"
src="$out/src"; rm -rf "$src"; mkdir -p "$src"; cd "$src"
printf 'module schemaop.local/realnode/coredns\n\ngo %s\n' "$gomajor" > go.mod
cp "$here/coredns/main.go" .
# The packages main.go imports, not the module's root (its main imports every
# plugin, and `go get` would fetch all their dependencies).
packages=()
while read -r pkg; do packages+=("$pkg@$COREDNS_VERSION"); done \
  < <(sed -nE 's#^[[:space:]]*(_ )?"(github.com/coredns/coredns/[^"]+)"#\2#p' main.go)
with_progress "resolving CoreDNS modules" "$out/build.log" go get "${packages[@]}"
with_progress "building coredns" "$out/build.log" \
  nice -n 10 go build -trimpath \
    -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" \
    -o "$binary.tmp" .
mv "$binary.tmp" "$binary"
log "coredns ready in $((SECONDS - start_all))s: $binary"
echo "$binary"
