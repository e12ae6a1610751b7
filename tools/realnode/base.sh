#!/usr/bin/env bash
# Make the base of the real node's image with debootstrap: Debian $BASE_SUITE
# (minbase) with Python, a `python` link as in the python:3.11-slim image, no
# apt lists or logs. Cached as $SCHEMAOP_CACHE/realnode/base-<key>.tar, keyed
# by versions.env and this script; prints the tar's path.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
log_tag=realnode-base
# shellcheck source=lib.sh
source "$here/lib.sh"

out="${SCHEMAOP_CACHE:-$HOME/.cache/schemaop}/realnode"
key="$(cat "$here/versions.env" "$here/base.sh" | sha256sum | cut -c1-12)"
base_tar="$out/base-$key.tar"
if [ -s "$base_tar" ]; then
  echo "$base_tar"
  exit 0
fi
need_commands debootstrap:debootstrap
mkdir -p "$out"
log "making the image base with debootstrap ($BASE_SUITE, minbase + $BASE_PACKAGES; about 4 minutes, cached in $base_tar)"
work="$(mktemp -d "$out/debootstrap-XXXXXX")"
trap 'rm -rf "$work"' EXIT
with_progress "running debootstrap" "$out/debootstrap.log" \
  nice -n 10 debootstrap --variant=minbase --include="$BASE_PACKAGES" \
    "$BASE_SUITE" "$work/root" "$BASE_MIRROR"
ln -sf python3 "$work/root/usr/bin/python"
rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin \
       "$work/root/var/log/"* "$work/root/debootstrap"
tar -C "$work/root" --numeric-owner -cf "$base_tar.tmp" .
mv "$base_tar.tmp" "$base_tar"
echo "$base_tar"
