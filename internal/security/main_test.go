// Package security holds the review's end-to-end checks: a full run of the
// built ecapi binary against a real kube-apiserver must leave no secret in
// its logs and must write every file with the intended mode.
package security

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/testenv"
)

// password is distinctive so that a leak cannot hide behind a common word.
const password = "Zq7-installer-PASSWORD-x91"

var (
	env      *testenv.Env
	ecapiBin string
)

func TestMain(m *testing.M) {
	os.Exit(testenv.MainSeeded(m, &env, password, &ecapiBin))
}

// daemon is a running `ecapi serve` subprocess.
type daemon struct {
	URL     string
	Pin     string
	DataDir string
	cmd     *exec.Cmd
	out     *testenv.SyncBuffer // stdout and stderr together: everything it logs
	done    chan struct{}
	err     error
	http    *http.Client
}

// startServe runs `ecapi serve --log-level debug` on a free loopback port
// and waits until it serves.
func startServe(t *testing.T) *daemon {
	t.Helper()
	dataDir := t.TempDir()
	if err := testenv.WriteSampleDataDir(dataDir, "demo", true); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	d := &daemon{URL: "https://127.0.0.1:" + strconv.Itoa(port), DataDir: dataDir, out: &testenv.SyncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(ecapiBin, "serve", "--data-dir", dataDir, "--kubeconfig", env.Kubeconfig,
		"--bind-address", "127.0.0.1", "--api-port", strconv.Itoa(port), "--log-format", "json", "--log-level", "debug")
	d.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start ecapi serve: %v", err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	})
	d.waitFor(t, `"serving the API"`, func() bool {
		d.Pin = logField(d.out.String(), "serving the API", "pin")
		return d.Pin != ""
	})
	d.http = pinnedClient(d.Pin)
	d.waitFor(t, "GET /v1/health answers 200", func() bool {
		resp, err := d.http.Get(d.URL + "/v1/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return d
}

func (d *daemon) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-d.done:
			t.Fatalf("ecapi serve exited (%v) before %s:\n%s", d.err, what, d.out.String())
		case <-deadline:
			t.Fatalf("%s: not within 30s\n%s", what, d.out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for a clean exit, so every log line is out.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM ecapi serve: %v", err)
	}
	select {
	case <-d.done:
		if d.err != nil {
			t.Errorf("ecapi serve exited with %v after SIGTERM", d.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("ecapi serve still running 20s after SIGTERM")
	}
}

// call sends a request and returns the status and body.
func (d *daemon) call(t *testing.T, method, path, token, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// mustCall is call expecting status want.
func (d *daemon) mustCall(t *testing.T, want int, method, path, token, body string) []byte {
	t.Helper()
	status, b := d.call(t, method, path, token, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d; body %.300s", method, path, status, want, b)
	}
	return b
}

func logField(logs, msg, field string) string {
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != msg {
			continue
		}
		s, _ := m[field].(string)
		return s
	}
	return ""
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

func spkiPin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}

// pinnedClient trusts exactly the server whose leaf key has pin.
func pinnedClient(pin string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || spkiPin(cs.PeerCertificates[0]) != pin {
				return errors.New("server key does not match the pin")
			}
			return nil
		},
	}}}
}

// certPin is the pin of the PEM certificate in path.
func certPin(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("no PEM block in %s", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return spkiPin(cert)
}

// runCLI runs the built binary to completion with exactly envv and stdin.
func runCLI(t *testing.T, envv []string, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ecapiBin, args...)
	cmd.Env = envv
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ecapi %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), errb.String()
}
