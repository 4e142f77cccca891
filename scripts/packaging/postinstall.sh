#!/bin/sh
# Make systemd see the new or changed unit. The service is not enabled:
# ecapi serve belongs on controllers only; run `systemctl enable --now ecapi`
# there. An upgrade restarts a running service.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  if systemctl is-active --quiet ecapi.service; then
    systemctl try-restart ecapi.service >/dev/null 2>&1 || true
  fi
fi
