#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd from the Go module proxy and caches
# them outside the repo. Prints the directory holding both binaries (suitable
# for KUBEBUILDER_ASSETS). Idempotent and safe to run concurrently (flock).
set -euo pipefail

K8S_VERSION=${ECAPI_K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ECAPI_ETCD_VERSION:-v3.7.3}
# k8s.io staging modules are published as v0.<minor>.<patch>.
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
CACHE_ROOT=${ECAPI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ecapi}
DEST="$CACHE_ROOT/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}"

log() { echo "testenv: $*" >&2; }

ready() { [ -x "$DEST/kube-apiserver" ] && [ -x "$DEST/etcd" ]; }

if ready; then echo "$DEST"; exit 0; fi

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.build.lock"
flock 9
if ready; then echo "$DEST"; exit 0; fi

export CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod
work=$(mktemp -d "$CACHE_ROOT/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out"

build_etcd() {
  local d="$work/etcd"; mkdir -p "$d"; cd "$d"
  go mod init ecapi.local/etcdbuild >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
  printf 'package tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -trimpath -ldflags "-s -w" -o "$work/out/etcd" go.etcd.io/etcd/server/v3
}

build_apiserver() {
  local d="$work/apiserver"; mkdir -p "$d"; cd "$d"
  go mod init ecapi.local/apiserverbuild >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@${K8S_VERSION}"
  # kubernetes' own go.mod replaces every k8s.io/* module with ./staging; a
  # module consumer must replace them with the published staging versions.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$gomod"); do
    go mod edit -replace="$m=$m@${STAGING_VERSION}"
  done
  printf 'package tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' > tools.go
  go mod tidy >/dev/null 2>&1 || go mod tidy
  go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION}" \
    -o "$work/out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
}

start=$(date +%s)
log "building etcd ${ETCD_VERSION} and kube-apiserver ${K8S_VERSION} into $DEST (first run only, several minutes)"
(build_etcd)
log "etcd built after $(( $(date +%s) - start ))s"
(build_apiserver)
log "kube-apiserver built after $(( $(date +%s) - start ))s"
rm -rf "$DEST"
mv "$work/out" "$DEST"
echo "$DEST"
