//go:build linux

// Command benchnodes measures `ecapi serve`'s GET /v1/nodes and /v1/health
// against their anchors, in one run, on 127.0.0.1. scripts/bench.sh runs it
// and writes its Markdown section into docs/benchmarks.md.
//
// It starts a real kube-apiserver and etcd (internal/testenv), creates 1000
// realistic nodes (about 12 KB each), builds ecapi and runs `ecapi serve`
// against that cluster as a separate process, and starts the anchor (a bare
// net/http TLS server with ecapi's certificate that serves the bytes ecapi
// returned, from memory) as a second process of this binary, so that
// neither server shares a Go runtime with the load generator (the login
// storm runs in a third). Then it interleaves fixed-length load runs and
// prints a Markdown table:
//
//   - ecapi GET /v1/nodes vs kube-apiserver GET /api/v1/nodes (same nodes),
//     identity and gzip
//   - ecapi GET /v1/nodes vs the bare handler (same bytes)
//   - ecapi GET /v1/health vs the bare handler
//   - ecapi /v1/health p99 during a login storm vs idle
//
// Everything is bounded (-timeout) and cleaned up on exit, error, SIGINT or
// SIGTERM; the two servers also die with this process (PDEATHSIG).
// Linux only, like internal/bundle/benchbundle.
package main

import (
	"fmt"
	"os"
)

func main() {
	sub := ""
	if len(os.Args) > 1 {
		sub = os.Args[1]
	}
	var err error
	switch sub {
	case "anchor":
		err = serveAnchor(os.Args[2:])
	case "storm":
		err = runStorm(os.Args[2:])
	default:
		err = run(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchnodes:", err)
		os.Exit(1)
	}
}
