#!/usr/bin/env bash
# Installs the peers `pnpm bench` compares zabkit with: Apache ZooKeeper 3.8 (Debian package
# `zookeeper`, run by the bench with `java -cp /usr/share/java/zookeeper.jar ...`) and etcd 3.4
# (Debian package `etcd-server`, /usr/bin/etcd). Needs root (or sudo) on Debian/Ubuntu; Java 17+.
# The bench starts and stops every server itself on 127.0.0.1; the packages' own services are
# stopped and disabled here so that they do not hold ports or CPU during a run.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends zookeeper etcd-server default-jre-headless
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for svc in zookeeper etcd; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi
test -f /usr/share/java/zookeeper.jar && echo "zookeeper: /usr/share/java/zookeeper.jar"
/usr/bin/etcd --version | head -1
java -version 2>&1 | head -1
echo "ready: pnpm install && pnpm bench --quick"
