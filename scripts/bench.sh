#!/usr/bin/env bash
# Runs ecapi's benchmarks and writes docs/benchmarks.md:
#   1. internal/benchnodes: GET /v1/nodes against kube-apiserver's own
#      GET /api/v1/nodes for 1000 realistic nodes and against a bare Go TLS
#      handler of the same bytes; /v1/health against the bare handler, and
#      its p99 during a login storm (about 5 minutes, plus a real
#      kube-apiserver and etcd from scripts/testenv.sh);
#   2. scripts/bench-bundle.sh: join-bundle streaming (up to 5 minutes,
#      about 2.2 GiB of free space under ${TMPDIR:-/tmp}).
# Each prints a Markdown section; both go into docs/benchmarks.md, which is
# only replaced when both succeed. Loopback only, bounded in time, and
# everything started is stopped on exit. Arguments go to benchnodes
# (e.g. -duration 3s -rounds 1 for a quick look); BENCH_BUNDLE_ARGS to
# bench-bundle.sh.
set -euo pipefail

cd "$(dirname "$0")/.."
work="$(mktemp -d "${TMPDIR:-/tmp}/ecapi-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

command -v hyperfine >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq hyperfine; } || true
go build -o "$work/benchnodes" ./internal/benchnodes
echo "==> benchmark 1 of 2: /v1/nodes and /v1/health" >&2
# benchnodes stops its servers and the control plane on SIGTERM; the servers
# also die with it if it is killed.
nice -n 5 timeout --kill-after=30s 20m "$work/benchnodes" "$@" | tee "$work/nodes.md"

echo "==> benchmark 2 of 2: join bundle" >&2
# shellcheck disable=SC2086 # word splitting of the extra arguments is wanted
bash scripts/bench-bundle.sh ${BENCH_BUNDLE_ARGS:-} | tee "$work/bundle.md"

{
  echo "# Benchmarks"
  echo
  echo "Written by \`scripts/bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores" \
    "($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), $(go env GOVERSION)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end. Run it again to refresh this page;" \
    "figures from a shared or busy machine are noisy, ratios less so."
  echo
  cat "$work/nodes.md"
  echo
  cat "$work/bundle.md"
} > "$work/benchmarks.md"
mkdir -p docs
mv "$work/benchmarks.md" docs/benchmarks.md
echo "==> wrote docs/benchmarks.md" >&2
