#!/usr/bin/env bash
# Benchmarks join-bundle streaming (internal/bundle) against its anchor,
# http.ServeContent of the same bytes prebuilt in one file, over TLS on
# 127.0.0.1: MB/s and ratio, first-byte latency, and the server's peak RSS
# growth for 1 and 50 concurrent downloads. Prints a Markdown table.
#
# Loopback only, bounded (at most 5 minutes, then everything is killed), and
# it cleans up after itself: the ~1 GiB synthetic data dir, the cache and the
# anchor file live in a temp dir removed on exit. Needs about 2.2 GiB of free
# space under ${TMPDIR:-/tmp}. Extra arguments go to `benchbundle run`
# (e.g. -size-mib 256 -concurrent 10 for a quick look).
set -euo pipefail

cd "$(dirname "$0")/.."
work="$(mktemp -d "${TMPDIR:-/tmp}/ecapi-bench-bundle.XXXXXX")"
trap 'rm -rf "$work"' EXIT

go build -o "$work/benchbundle" ./internal/bundle/benchbundle
# The server is a child of benchbundle and dies with it (PDEATHSIG).
nice -n 5 timeout --kill-after=10s 300s "$work/benchbundle" run -work "$work" "$@"
