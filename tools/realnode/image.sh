#!/usr/bin/env bash
# Build the schemaop image from the repository's own Dockerfile, for the real
# node (tools/devenv/realnode.py), and print the path of its OCI archive.
#
# No registry is reachable here, so the Dockerfile's default base
# (python:3.11-slim-bookworm) cannot be pulled. Instead this script makes a base
# of the same Debian release and Python minor version with debootstrap and
# passes it as the PYTHON_IMAGE build argument; the Dockerfile is used as it is.
# Both steps are cached under $SCHEMAOP_CACHE/realnode, keyed by their inputs:
#
#   base-<key>.tar        the debootstrap root (key: versions.env, this script)
#   images/<key>.tar      the image as an OCI archive (key: the base key, the
#                         Dockerfile, .dockerignore, requirements.lock,
#                         pyproject.toml, README.md and every file under operator/)
#
# so a second run with the same inputs only prints the archive path. The image
# is tagged localhost/schemaop:realnode-<key> inside the archive (its last path
# component is `schemaop`, like every image the chart runs).
#
# Usage: tools/realnode/image.sh     # prints "<archive path> <image ref>" on stdout
# Env:   SCHEMAOP_CACHE (default ~/.cache/schemaop)
# Needs: debootstrap, buildah, podman (Debian packages; installed when missing).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${SCHEMAOP_CACHE:-$HOME/.cache/schemaop}"
out="$cache_root/realnode"
mkdir -p "$out/images"

log_tag=realnode-image
# shellcheck source=lib.sh
source "$here/lib.sh"
container_storage "$out"  # sets $storage

# --- inputs and keys ------------------------------------------------------------
base_key="$(cat "$here/versions.env" "$here/base.sh" | sha256sum | cut -c1-12)"
base_ref="localhost/schemaop-base:$base_key"
image_key="$(
  cd "$repo"
  {
    echo "$base_key"
    # Contents, not git blobs: uncommitted edits count too.
    { printf '%s\n' Dockerfile .dockerignore requirements.lock pyproject.toml README.md
      git ls-files -co --exclude-standard operator | grep -v -e '__pycache__/' -e '\.pyc$'
    } | LC_ALL=C sort -u | while read -r f; do [ -f "$f" ] && sha256sum "$f"; done
  } | sha256sum | cut -c1-12
)"
image_ref="localhost/schemaop:realnode-$image_key"
archive="$out/images/$image_key.tar"

if [ -s "$archive" ]; then
  echo "$archive $image_ref"
  exit 0
fi
# One build at a time; whoever waited finds the archive built.
mkdir -p "$out/images"
exec 9>"$out/images/.lock"
flock 9
if [ -s "$archive" ]; then
  echo "$archive $image_ref"
  exit 0
fi
need_commands buildah:buildah podman:podman
start_all=$SECONDS

# --- the base -------------------------------------------------------------------
base_tar="$(bash "$here/base.sh")"
if ! podman "${storage[@]}" image exists "$base_ref"; then
  with_progress "importing the base" "$out/import.log" \
    podman "${storage[@]}" import --change 'CMD ["python3"]' "$base_tar" "$base_ref"
fi

# --- the image ------------------------------------------------------------------
log "building $image_ref from $repo/Dockerfile (about 2 minutes)"
# Host network (no CNI for build steps) and this machine's CA bundle, read-only,
# for pip and apt inside the build; nothing of either ends up in the image.
with_progress "building the image" "$out/build.log" \
  nice -n 10 buildah "${storage[@]}" bud --network host --layers \
    --volume /etc/ssl/certs:/etc/ssl/certs:ro \
    --build-arg "PYTHON_IMAGE=$base_ref" \
    --tag "$image_ref" --file "$repo/Dockerfile" "$repo"
with_progress "saving the image" "$out/save.log" \
  podman "${storage[@]}" save --format oci-archive --output "$archive.tmp" "$image_ref"
mv "$archive.tmp" "$archive"
# Older builds are not needed once their inputs changed: drop their tags from the
# build storage (the layer cache stays: a change under operator/ reuses the
# dependency layer) and keep the newest three archives.
podman "${storage[@]}" images --format '{{.Repository}}:{{.Tag}}' \
  | grep -E '^localhost/schemaop:realnode-' | grep -vxF "$image_ref" \
  | xargs -r podman "${storage[@]}" rmi >/dev/null 2>&1 || true
find "$out/images" -maxdepth 1 -name '*.tar' -printf '%T@ %p\n' | sort -rn | tail -n +4 \
  | cut -d' ' -f2- | xargs -r rm -f
log "image ready in $((SECONDS - start_all))s: $image_ref"
echo "$archive $image_ref"
