#!/bin/sh
# Forget the removed unit. ecapi's state (<data-dir>/ecapi/, the Secrets in
# the cluster) is left alone: other controllers may share it.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
