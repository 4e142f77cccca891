package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

// The whole package shares one real kube-apiserver + etcd.
var env *testenv.Env

const password = "correct horse battery staple"

func TestMain(m *testing.M) {
	os.Exit(testenv.MainSeeded(m, &env, password, nil))
}

// testDaemon is one running `ecapi serve`.
type testDaemon struct {
	*daemon
	URL     string
	DataDir string
	client  *http.Client
	logs    *syncBuffer
}

type syncBuffer = testenv.SyncBuffer

// startDaemon runs serve in-process against env on a free loopback port.
func startDaemon(t *testing.T, e *testenv.Env, mods ...func(*ServeOptions)) *testDaemon {
	t.Helper()
	dataDir := t.TempDir()
	if err := testenv.WriteSampleDataDir(dataDir, "demo", true); err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := iostreams.Test()
	opts := &ServeOptions{
		IO: ios, APIPort: 30081, BindAddress: "127.0.0.1", DataDir: dataDir, Kubeconfig: e.Kubeconfig,
		PasswordSecret: "kotsadm/kotsadm-password", Namespace: "embedded-cluster", LogFormat: "json", LogLevel: "info",
	}
	for _, m := range mods {
		m(opts)
	}
	if err := opts.complete(); err != nil {
		t.Fatal(err)
	}
	opts.APIPort = 0 // a free port; complete() insists on a real one for users
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	d, err := start(ctx, opts, logger)
	if err != nil {
		cancel()
		t.Fatalf("start serve: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- d.wait(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve stopped with: %v", err)
		}
	})
	return &testDaemon{daemon: d, URL: "https://" + d.addr.String(), DataDir: dataDir, client: trustingClient(t, filepath.Join(dataDir, "ecapi", "tls.crt")), logs: logs}
}

func trustingClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request; headers are "Name: value" strings.
func (d *testDaemon) do(t *testing.T, method, path, token string, body string, headers ...string) response {
	t.Helper()
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.URL+path, rdr)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(k, strings.TrimSpace(v))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (d *testDaemon) login(t *testing.T, pw string) string {
	t.Helper()
	r := d.do(t, "POST", api.PathAuthToken, "", `{"password":`+quote(pw)+`}`, "Content-Type: application/json")
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	var tok api.TokenResponse
	mustDecode(t, r.Body, &tok)
	if tok.Token == "" {
		t.Fatal("login returned an empty token")
	}
	return tok.Token
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func mustDecode(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

// wantError checks the API's error shape and status.
func wantError(t *testing.T, r response, status int, msgPart string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e api.Error
	mustDecode(t, r.Body, &e)
	if e.StatusCode != status || e.Message == "" {
		t.Errorf("error body = %+v", e)
	}
	if msgPart != "" && !strings.Contains(e.Message, msgPart) {
		t.Errorf("message %q does not mention %q", e.Message, msgPart)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func startOpts(dataDir string) *ServeOptions {
	ios, _, _, _ := iostreams.Test()
	o := &ServeOptions{
		IO: ios, APIPort: 30081, BindAddress: "127.0.0.1", DataDir: dataDir, Kubeconfig: env.Kubeconfig,
		PasswordSecret: "kotsadm/kotsadm-password", Namespace: "embedded-cluster", LogFormat: "json", LogLevel: "info",
	}
	_ = o.complete()
	o.APIPort = 0
	return o
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
