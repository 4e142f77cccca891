//go:build linux

// Command benchbundle measures join-bundle streaming against its anchor,
// http.ServeContent of the same bytes prebuilt in one file, over real TLS on
// 127.0.0.1 with an HTTP/1.1 client. scripts/bench-bundle.sh runs it:
//
//	benchbundle run -work DIR [-size-mib 1024] [-concurrent 50]
//
// "run" writes a synthetic data dir under DIR, starts "benchbundle serve" as
// a separate process (so the RSS it reads from /proc is the server's alone),
// measures throughput, first-byte latency and peak RSS growth, prints a
// Markdown table and stops the server. Everything is bounded in time.
// Linux only: it reads the server's RSS from /proc.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchbundle run|serve [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runBench(os.Args[2:])
	case "serve":
		err = serve(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchbundle:", err)
		os.Exit(1)
	}
}
