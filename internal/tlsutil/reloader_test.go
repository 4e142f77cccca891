package tlsutil_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/tlsutil"
)

// syncBuffer is a log sink safe for the reloader's and the test's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// pair is a certificate and key on disk.
type pair struct {
	certFile, keyFile string
	pin               string
}

// newPair makes a self-signed pair with its own fresh key.
func newPair(t *testing.T, hosts ...string) pair {
	t.Helper()
	certFile, keyFile, _ := ensure(t, t.TempDir(), hosts, time.Now())
	return pair{certFile: certFile, keyFile: keyFile, pin: tlsutil.SPKIPin(parseCertFile(t, certFile))}
}

// mtimes makes every install look newer than the last, whatever the
// file system's timestamp resolution.
var mtimes = struct {
	sync.Mutex
	next time.Time
}{next: time.Now().Add(time.Hour)}

// install copies src over dst the way an operator would (write, rename) and
// bumps its mtime.
func install(t *testing.T, dst string, content []byte) {
	t.Helper()
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	mtimes.Lock()
	mtimes.next = mtimes.next.Add(time.Second)
	m := mtimes.next
	mtimes.Unlock()
	if err := os.Chtimes(dst, m, m); err != nil {
		t.Fatal(err)
	}
}

func installPair(t *testing.T, served, p pair) {
	t.Helper()
	install(t, served.keyFile, readFile(t, p.keyFile))
	install(t, served.certFile, readFile(t, p.certFile))
}

// servedPair copies p into a directory of its own, the files the reloader serves.
func servedPair(t *testing.T, p pair) pair {
	t.Helper()
	dir := t.TempDir()
	s := pair{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key"), pin: p.pin}
	installPair(t, s, p)
	return s
}

func servedPin(t *testing.T, r *tlsutil.Reloader) string {
	t.Helper()
	c, err := r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	if c == nil || c.Leaf == nil {
		t.Fatal("GetCertificate returned no certificate")
	}
	return tlsutil.SPKIPin(c.Leaf)
}

// waitFor polls cond; the reloader looks at its files at most once a second.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newReloader(t *testing.T, p pair) (*tlsutil.Reloader, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	r, err := tlsutil.NewReloader(p.certFile, p.keyFile, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("NewReloader: %v", err)
	}
	return r, logs
}

func TestNewReloaderErrors(t *testing.T) {
	a, b := newPair(t, "127.0.0.1"), newPair(t, "127.0.0.1")
	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	cases := []struct{ name, cert, key string }{
		{"missing cert", missing, a.keyFile},
		{"missing key", a.certFile, missing},
		{"garbage cert", garbage, a.keyFile},
		{"garbage key", a.certFile, garbage},
		{"mismatched pair", a.certFile, b.keyFile},
		{"swapped files", a.keyFile, a.certFile},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tlsutil.NewReloader(tc.cert, tc.key, slog.New(slog.DiscardHandler)); err == nil {
				t.Error("NewReloader accepted a broken pair")
			}
		})
	}
}

func TestReloaderServesAndReloads(t *testing.T) {
	a := newPair(t, "127.0.0.1")
	served := servedPair(t, a)
	r, logs := newReloader(t, served)

	if got := servedPin(t, r); got != a.pin {
		t.Fatalf("serves %s, want %s", got, a.pin)
	}
	if r.Pin() != a.pin || tlsutil.SPKIPin(r.Leaf()) != a.pin {
		t.Errorf("Pin/Leaf report %s, want %s", r.Pin(), a.pin)
	}

	b := newPair(t, "127.0.0.1")
	installPair(t, served, b)
	waitFor(t, "the new certificate", func() bool { return servedPin(t, r) == b.pin })
	if r.Pin() != b.pin {
		t.Errorf("Pin() %s after reload, want %s", r.Pin(), b.pin)
	}
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Errorf("reload not logged: %s", logs)
	}
	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Error("log contains key material")
	}
}

func TestReloaderKeepsCertOnBrokenReplacement(t *testing.T) {
	a, b := newPair(t, "127.0.0.1"), newPair(t, "127.0.0.1")
	cases := []struct {
		name    string
		breakIt func(t *testing.T, served pair)
	}{
		{"garbage cert", func(t *testing.T, s pair) { install(t, s.certFile, []byte("garbage")) }},
		{"truncated cert", func(t *testing.T, s pair) {
			c := readFile(t, b.certFile)
			install(t, s.certFile, c[:len(c)/2])
		}},
		{"cert of another key", func(t *testing.T, s pair) { install(t, s.certFile, readFile(t, b.certFile)) }},
		{"key removed", func(t *testing.T, s pair) {
			if err := os.Remove(s.keyFile); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each case waits out the reloader's check interval twice
			served := servedPair(t, a)
			r, logs := newReloader(t, served)
			if got := servedPin(t, r); got != a.pin {
				t.Fatalf("serves %s, want %s", got, a.pin)
			}
			tc.breakIt(t, served)
			waitFor(t, "the failed reload to be logged", func() bool {
				servedPin(t, r)
				return strings.Contains(logs.String(), "certificate reload failed")
			})
			if got := servedPin(t, r); got != a.pin {
				t.Errorf("after a broken replacement serves %s, want the old %s", got, a.pin)
			}
			// Once a good pair lands it is picked up.
			installPair(t, served, b)
			waitFor(t, "the repaired certificate", func() bool { return servedPin(t, r) == b.pin })
		})
	}
}

// trustingClient trusts only the certificates in certFiles and keeps
// connections alive.
func trustingClient(t *testing.T, certFiles ...string) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	for _, f := range certFiles {
		if !roots.AppendCertsFromPEM(readFile(t, f)) {
			t.Fatalf("no certificate in %s", f)
		}
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// get fetches url and reports the served pin and whether the connection was reused.
func get(client *http.Client, url string) (pin string, reused bool, err error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", false, err
	}
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := client.Do(req)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", false, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("status %d", resp.StatusCode)
	}
	return tlsutil.SPKIPin(resp.TLS.PeerCertificates[0]), reused, nil
}

func TestReloaderTLSRoundTrip(t *testing.T) {
	a := newPair(t, "127.0.0.1")
	served := servedPair(t, a)
	r, _ := newReloader(t, served)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "https://" + ln.Addr().String() + "/"

	oldClient := trustingClient(t, a.certFile)
	pin, _, err := get(oldClient, url)
	if err != nil {
		t.Fatalf("handshake with the first certificate: %v", err)
	}
	if pin != a.pin {
		t.Fatalf("served %s, want %s", pin, a.pin)
	}

	b := newPair(t, "127.0.0.1")
	installPair(t, served, b)

	// New connections see the new certificate once the reloader looks again.
	waitFor(t, "a new connection to get the new certificate", func() bool {
		pin, _, err := get(trustingClient(t, a.certFile, b.certFile), url)
		return err == nil && pin == b.pin
	})
	newClient := trustingClient(t, b.certFile)
	if pin, _, err := get(newClient, url); err != nil || pin != b.pin {
		t.Errorf("client trusting only the new certificate: pin %s, err %v", pin, err)
	}

	// The connection opened before the rotation is still alive and usable.
	pin, reused, err := get(oldClient, url)
	if err != nil {
		t.Fatalf("kept-alive connection after rotation: %v", err)
	}
	if !reused || pin != a.pin {
		t.Errorf("kept-alive request: reused=%v pin %s, want the old connection with %s", reused, pin, a.pin)
	}
	// A fresh connection from a client trusting only the old certificate now fails verification.
	oldClient.Transport.(*http.Transport).CloseIdleConnections()
	_, _, err = get(oldClient, url)
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Errorf("client trusting only the old certificate: %v, want a verification error", err)
	}
}
