//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ecapi/ecapi/pkg/api"
)

// serveAnchor is `benchnodes anchor`: the bare Go TLS handler. It serves
// the given bodies from memory with nothing but Content-Type and
// Content-Length, prints its URL on stdout and runs until SIGTERM or
// -max-lifetime.
func serveAnchor(args []string) error {
	fs := flag.NewFlagSet("anchor", flag.ContinueOnError)
	certFile := fs.String("cert", "", "PEM certificate (ecapi's)")
	keyFile := fs.String("key", "", "PEM private key of -cert")
	nodesFile := fs.String("nodes-body", "", "file holding the /v1/nodes response body")
	healthFile := fs.String("health-body", "", "file holding the /v1/health response body")
	lifetime := fs.Duration("max-lifetime", 20*time.Minute, "stop by itself after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return fmt.Errorf("anchor certificate: %w", err)
	}
	nodesBody, err := os.ReadFile(*nodesFile)
	if err != nil {
		return err
	}
	healthBody, err := os.ReadFile(*healthFile)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+api.PathNodes, staticJSON(nodesBody))
	mux.Handle("GET "+api.PathHealth, staticJSON(healthBody))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	fmt.Printf("https://%s\n", ln.Addr())

	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func staticJSON(body []byte) http.Handler {
	size := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", size)
		_, _ = w.Write(body)
	})
}
