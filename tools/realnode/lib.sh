# Shared helpers of the tools/realnode scripts (sourced; set $log_tag first).
# shellcheck shell=bash

log() { echo "[${log_tag:-realnode}] $*" >&2; }

# Run a command with its output in a log file, printing a progress line every
# 30 s so a long step (a cold build, debootstrap) never looks hung; on failure
# print the log's tail and exit.
with_progress() {
  local what="$1" logfile="$2"; shift 2
  local t0=$SECONDS
  "$@" >"$logfile" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    if kill -0 "$pid" 2>/dev/null && (( (SECONDS - t0) % 30 < 5 )); then
      log "  ... still $what ($((SECONDS - t0))s)"
    fi
  done
  if ! wait "$pid"; then
    log "FAILED: $what; last lines of $logfile:"
    tail -n 30 "$logfile" >&2
    exit 1
  fi
  log "  done: $what in $((SECONDS - t0))s"
}

# Install Debian packages for the commands that are missing ("command:package ...").
need_commands() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} from Debian"
    local sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
      "${missing[@]}" >&2
  fi
}

# The options of buildah and podman for the image storage kept with the cache
# ($1: the cache's realnode directory), not in /var/lib/containers. podman refuses
# a run root longer than 50 characters (a HOME deeper than /root makes one): then
# the run root (locks and mounts, not kept across boots) is a short path named
# after the cache in /run ($XDG_RUNTIME_DIR or /tmp when /run is not writable).
# A short one stays where it was: podman's database remembers the run root it
# was made with.
container_storage() {
  local runroot="$1/containers/run"
  if [ "${#runroot}" -gt 50 ]; then
    local base=/run
    [ -w "$base" ] || base="${XDG_RUNTIME_DIR:-/tmp}"
    runroot="$base/schemaop-containers-$(printf '%s' "$1" | sha256sum | cut -c1-12)"
  fi
  storage=(--root "$1/containers/storage" --runroot "$runroot" --storage-driver overlay)
}
