#!/usr/bin/env bash
# Fails when the committed completions/ and man/ differ from what the code
# generates (`make generate`, i.e. go run ./internal/gendocs). CI runs it so
# that a changed flag or verb cannot ship with stale docs.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A clean environment: the output must depend on the code alone.
env -i PATH="$PATH" HOME="$tmp/home" GOCACHE="$(go env GOCACHE)" GOMODCACHE="$(go env GOMODCACHE)" \
  GOFLAGS="$(go env GOFLAGS)" GOPROXY="$(go env GOPROXY)" GOTOOLCHAIN="$(go env GOTOOLCHAIN)" \
  go run ./internal/gendocs -out "$tmp"

status=0
for dir in completions man; do
  if [ ! -d "$dir" ]; then
    echo "check-generated: $dir/ is missing" >&2
    status=1
    continue
  fi
  if ! diff -ru "$dir" "$tmp/$dir" >"$tmp/$dir.diff"; then
    echo "check-generated: $dir/ is out of date with the code:" >&2
    sed 's/^/  /' "$tmp/$dir.diff" | head -n 40 >&2
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "check-generated: run 'make generate' (go run ./internal/gendocs) and commit the result" >&2
  exit 1
fi
echo "check-generated: completions/ and man/ are current"
