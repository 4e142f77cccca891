//go:build linux

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/ecapi/ecapi/internal/bundle"
)

// Fixed per-request files, as the real handler would pass them.
var (
	benchModTime = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	benchDynamic = []bundle.File{
		{Name: "license.yaml", Mode: 0o600, Data: []byte("apiVersion: kots.io/v1beta1\nkind: License\nspec:\n  appSlug: demo\n")},
		{Name: "k0s-join-token", Mode: 0o600, Data: []byte("H4sIAAAAAAAC/bench-token")},
		{Name: "cluster-seed.json", Mode: 0o644, Data: []byte(`{"clusterID":"bench"}`)},
		{Name: "cluster-seed.json.sig", Mode: 0o644, Data: []byte("signature")},
		{Name: "cluster-seed.pub", Mode: 0o644, Data: []byte("public key")},
	}
)

// readyInfo is the one JSON line the server prints on stdout once it serves.
type readyInfo struct {
	URL        string  `json:"url"`
	CertFile   string  `json:"certFile"`
	BundleSize int64   `json:"bundleSize"`
	WarmSecs   float64 `json:"warmSecs"`
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "synthetic data dir")
	work := fs.String("work", "", "directory for the cache, the anchor file and the certificate")
	lifetime := fs.Duration("max-lifetime", 6*time.Minute, "stop by itself after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store := bundle.NewStore(*dataDir, "demo", filepath.Join(*work, "cache"), logger)
	started := time.Now()
	if err := store.Warm(ctx); err != nil {
		return fmt.Errorf("warm: %w", err)
	}
	warm := time.Since(started)

	anchorPath := filepath.Join(*work, "anchor.tar.gz")
	size, err := writeAnchor(ctx, store, anchorPath)
	if err != nil {
		return err
	}
	certFile := filepath.Join(*work, "server.crt")
	cert, err := selfSigned(certFile)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /bundle", func(w http.ResponseWriter, r *http.Request) {
		b, err := store.Open(r.Context(), benchDynamic, benchModTime)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer b.Close()
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("ETag", b.ETag())
		http.ServeContent(w, r, "demo-join.tar.gz", benchModTime, b)
	})
	mux.HandleFunc("GET /anchor", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(anchorPath)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/gzip")
		http.ServeContent(w, r, "demo-join.tar.gz", benchModTime, f)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1 only
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()

	// Start the measurements from a settled heap.
	runtime.GC()
	debug.FreeOSMemory()
	info := readyInfo{URL: "https://" + ln.Addr().String(), CertFile: certFile, BundleSize: size, WarmSecs: warm.Seconds()}
	if err := json.NewEncoder(os.Stdout).Encode(info); err != nil {
		return err
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// writeAnchor saves the very bytes /bundle serves into one file, the anchor's
// content.
func writeAnchor(ctx context.Context, store *bundle.Store, path string) (int64, error) {
	b, err := store.Open(ctx, benchDynamic, benchModTime)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("write anchor: %w", err)
	}
	return n, nil
}

func selfSigned(certFile string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "benchbundle"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, pemBytes, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
