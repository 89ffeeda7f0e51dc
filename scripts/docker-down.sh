#!/usr/bin/env bash
# Stops a Docker engine started by scripts/docker-up.sh and removes everything it made:
#   scripts/docker-down.sh "$ZABKIT_DOCKER_DIR"
# Only acts on the directory given (or $ZABKIT_DOCKER_DIR): never on another daemon.
set -uo pipefail

D=${1:-${ZABKIT_DOCKER_DIR:-}}
case "$D" in
  /tmp/zabkit-docker.*) ;;
  *) echo "docker-down: not a directory made by docker-up.sh: '$D'" >&2; exit 1 ;;
esac
[ -d "$D" ] || exit 0

if [ -f "$D/pid" ]; then
  pid=$(cat "$D/pid")
  # the pid must still be the dockerd we started (its command line names our socket)
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$D/docker.sock"; then
    # our containers first (they run under this daemon only), then the daemon
    if command -v docker >/dev/null 2>&1; then
      ids=$(DOCKER_HOST="unix://$D/docker.sock" timeout 20 docker ps -aq 2>/dev/null || true)
      [ -n "$ids" ] && DOCKER_HOST="unix://$D/docker.sock" timeout 30 docker rm -f $ids >/dev/null 2>&1 || true
    fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; sleep 0.5; fi
  fi
fi
# dockerd leaves its default netns mounted and (with vfs) container roots under data-root
umount "$D/exec/netns/default" 2>/dev/null || true
grep -o " $D/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
if [ -f "$D/bridge" ]; then ip link delete "$(cat "$D/bridge")" 2>/dev/null || true; fi
rm -rf "$D"
