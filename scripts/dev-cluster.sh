#!/usr/bin/env bash
# Local quick start: real etcd + kube-apiserver on loopback, seeded like an
# Embedded Cluster controller, and `ecapi serve` on 127.0.0.1:30081 in the
# foreground. Ctrl-C stops everything. State lives in .dev/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
export KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$(bash scripts/testenv.sh)}"
make --no-print-directory build
go build -o bin/devcluster ./internal/testenv/devcluster
exec bin/devcluster --dir .dev --ecapi bin/ecapi "$@"
