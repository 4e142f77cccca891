#!/bin/sh
# Stop and disable the service before its binary goes away, but not on an
# upgrade (deb: "upgrade"; rpm: $1 is 1 when another version stays).
set -e
case "$1" in
  upgrade|1) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
  systemctl disable --now ecapi.service >/dev/null 2>&1 || true
fi
