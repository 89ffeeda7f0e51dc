#!/usr/bin/env bash
# Starts a private Docker engine for the container test suites (see packages/testing/README.md).
#
#   eval "$(scripts/docker-up.sh)"     # prints `export DOCKER_HOST=... ZABKIT_DOCKER_DIR=...` lines
#   ...run tests...
#   scripts/docker-down.sh "$ZABKIT_DOCKER_DIR"
#
# Needs root. Installs Debian's docker.io when dockerd is missing. The engine runs with its own
# data root in a temp dir (vfs storage, no iptables, no bridge of its own unless docker0 exists),
# so it touches no other daemon or container on the machine. All progress goes to stderr; only the
# export lines go to stdout.
set -euo pipefail

log() { echo "docker-up: $*" >&2; }

if [ "$(id -u)" != 0 ]; then log "needs root (it starts dockerd, and may apt-get install docker.io)"; exit 1; fi
if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io (apt-get, quiet)"
  apt_log=$(mktemp /tmp/zabkit-apt.XXXXXX.log)
  # another apt-get may hold the dpkg lock for a while: wait for it rather than fail
  apt_opts=(-o DPkg::Lock::Timeout=600 -qq)
  if ! { apt-get "${apt_opts[@]}" update && DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends docker.io; } >"$apt_log" 2>&1; then
    log "apt-get failed:"; tail -n 20 "$apt_log" >&2; rm -f "$apt_log"; exit 1
  fi
  rm -f "$apt_log"
fi
for tool in dockerd curl ip; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool not found"; exit 1; }
done

D=$(mktemp -d /tmp/zabkit-docker.XXXXXX)
echo '{}' > "$D/daemon.json"
# --bridge=none deletes an existing docker0: only use it when there is none; otherwise give this
# daemon a bridge of its own (remembered in $D/bridge so docker-down.sh removes it).
BR=none
if ip link show docker0 >/dev/null 2>&1; then
  BR="zkbr$(( $$ % 100000 ))"
  ip link add "$BR" type bridge
  echo "$BR" > "$D/bridge"
fi
setsid dockerd --data-root "$D/root" --exec-root "$D/exec" --pidfile "$D/dockerd.pid" \
  -H "unix://$D/docker.sock" --config-file "$D/daemon.json" --storage-driver vfs \
  --bridge="$BR" --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  >"$D/dockerd.log" 2>&1 </dev/null &
echo $! > "$D/pid"   # dockerd deletes its pidfile on exit: keep our own copy of the pid

ok=
for _ in $(seq 300); do
  if curl -sf --unix-socket "$D/docker.sock" http://localhost/_ping >/dev/null 2>&1; then ok=1; break; fi
  kill -0 "$(cat "$D/pid")" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ok" ]; then
  log "dockerd did not come up; its log:"
  tail -n 30 "$D/dockerd.log" >&2 || true
  "$(dirname "$0")/docker-down.sh" "$D" >&2 || true
  exit 1
fi
log "dockerd $(cat "$D/pid") ready on unix://$D/docker.sock"
cat <<OUT
export ZABKIT_DOCKER_DIR=$D
export DOCKER_HOST=unix://$D/docker.sock
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
OUT
