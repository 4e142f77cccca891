//go:build long

package loadtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

const password = "correct horse battery staple"

var (
	// env is the control plane shared by the package, seeded with one
	// Ready controller.
	env *testenv.Env
	// ecapiBin is the binary under load, built once by TestMain.
	ecapiBin string
)

func TestMain(m *testing.M) {
	os.Exit(testenv.MainSeeded(m, &env, password, &ecapiBin))
}

// serveProc is one `ecapi serve` subprocess.
type serveProc struct {
	URL   string
	Pid   int
	roots *x509.CertPool
}

// startServe runs `ecapi serve` on a free loopback port with the sample
// data dir (changed by prepare, if given), waits for /v1/health, and stops
// it with SIGTERM when t ends. Its logs go to a file, shown on failure.
func startServe(t *testing.T, prepare func(dataDir string)) *serveProc {
	t.Helper()
	dataDir := t.TempDir()
	if err := testenv.WriteSampleDataDir(dataDir, "demo", true); err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(dataDir)
	}
	logPath := filepath.Join(t.TempDir(), "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(ecapiBin, "serve", "--data-dir", dataDir, "--kubeconfig", env.Kubeconfig,
		"--bind-address", "127.0.0.1", "--api-port", strconv.Itoa(port), "--log-format", "json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LANG=C.UTF-8"}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ecapi serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() { stopServe(t, cmd, exited, logPath) })

	s := &serveProc{URL: "https://127.0.0.1:" + strconv.Itoa(port), Pid: cmd.Process.Pid}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("ecapi serve exited (%v) before answering /v1/health:\n%s", err, tail(logPath))
		default:
		}
		if s.roots == nil {
			if pem, err := os.ReadFile(filepath.Join(dataDir, "ecapi", "tls.crt")); err == nil {
				s.roots = x509.NewCertPool()
				if !s.roots.AppendCertsFromPEM(pem) {
					s.roots = nil
				}
			}
		}
		if s.roots != nil {
			if resp, err := s.client("", true).Get(s.URL + api.PathHealth); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return s
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ecapi serve did not answer /v1/health within a minute:\n%s", tail(logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopServe(t *testing.T, cmd *exec.Cmd, exited chan error, logPath string) {
	select {
	case err := <-exited:
		t.Errorf("ecapi serve had exited during the test (%v):\n%s", err, tail(logPath))
		return
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM ecapi serve: %v", err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("ecapi serve exited with %v after SIGTERM:\n%s", err, tail(logPath))
		}
	case <-time.After(40 * time.Second):
		_ = cmd.Process.Kill()
		t.Errorf("ecapi serve still running 40s after SIGTERM; killed:\n%s", tail(logPath))
	}
	if t.Failed() {
		t.Logf("ecapi serve log (end):\n%s", tail(logPath))
	}
}

// tail is the end of a log file.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const keep = 8 << 10
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// client is an HTTP client of its own connections to s, from localIP (any
// 127.0.0.0/8 address; empty: the default), kept alive or not.
func (s *serveProc) client(localIP string, keepAlive bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if localIP != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: s.roots},
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 4,
	}}
}

// login returns a login token, or the status it got instead.
func login(ctx context.Context, c *http.Client, url, pw string) (string, *http.Response, error) {
	body, _ := json.Marshal(api.TokenRequest{Password: pw})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+api.PathAuthToken, bytes.NewReader(body))
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", resp, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", resp, nil
	}
	var tok api.TokenResponse
	if err := json.Unmarshal(b, &tok); err != nil || tok.Token == "" {
		return "", resp, fmt.Errorf("login answer %q: %v", b, err)
	}
	return tok.Token, resp, nil
}

func mustLogin(t *testing.T, s *serveProc) string {
	t.Helper()
	tok, resp, err := login(context.Background(), s.client("", false), s.URL, password)
	if err != nil || tok == "" {
		t.Fatalf("login: %v (%v)", err, resp)
	}
	return tok
}

// get sends GET path with an optional token and returns status and body.
func get(ctx context.Context, c *http.Client, url, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// loopbackIP is the n-th client address in 127.1.0.0/16 (n < 62 500).
func loopbackIP(n int) string {
	return fmt.Sprintf("127.1.%d.%d", n/250, n%250+1)
}

// percentile of sorted durations, p in [0,100].
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

func summary(d []time.Duration) string {
	s := slices.Clone(d)
	slices.Sort(s)
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", len(s), percentile(s, 50).Round(10*time.Microsecond),
		percentile(s, 99).Round(10*time.Microsecond), percentile(s, 100).Round(10*time.Microsecond))
}

// vmHWM is a process's peak resident set size in bytes (/proc/<pid>/status).
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("parse VmHWM %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// writeIncompressible writes size bytes the bundle store streams from the
// source rather than caching compressed (as it does image archives).
func writeIncompressible(t *testing.T, path string, size int) {
	t.Helper()
	block := make([]byte, 1<<20)
	if _, err := rand.NewChaCha8([32]byte{9}).Read(block); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for written := 0; written < size; written += len(block) {
		if _, err := f.Write(block[:min(len(block), size-written)]); err != nil {
			f.Close()
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
