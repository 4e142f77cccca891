package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

const password = "correct horse battery staple"

var (
	// env is the control plane shared by the package: seeded like an EC
	// install with one Ready controller, controller-0.
	env *testenv.Env
	// ecapiBin is the binary under test, built once by TestMain.
	ecapiBin string
)

func TestMain(m *testing.M) {
	code := testenv.MainSeeded(m, &env, password, &ecapiBin)
	stopNotReadyEnv()
	os.Exit(code)
}

// The second control plane has no Ready controller, for wait-ready timeouts
// and join-command's 409. It starts on first use and stops after the tests.
var (
	notReadyOnce sync.Once
	notReady     *testenv.Env
	notReadyErr  error
)

const lonelyController = "lonely-controller"

func notReadyEnv(t *testing.T) *testenv.Env {
	t.Helper()
	notReadyOnce.Do(func() {
		e, err := testenv.Start(testenv.Options{})
		if err != nil {
			notReadyErr = err
			return
		}
		notReady = e
		ctx, cancel := testenv.Ctx()
		defer cancel()
		if err := e.SeedCluster(ctx, password); err != nil {
			notReadyErr = err
			return
		}
		_, notReadyErr = testenv.CreateNode(ctx, e.Client, testenv.NodeSpec{
			Name: lonelyController, InternalIP: "127.0.0.1", Ready: false, Labels: testenv.ControllerLabels("controller"),
		})
	})
	if notReadyErr != nil {
		t.Fatalf("control plane without a Ready controller: %v", notReadyErr)
	}
	return notReady
}

func stopNotReadyEnv() {
	if notReady != nil {
		if err := notReady.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stop second control plane:", err)
		}
	}
}

type syncBuffer = testenv.SyncBuffer

// serveProc is one `ecapi serve` subprocess.
type serveProc struct {
	URL     string
	Pin     string
	DataDir string
	logs    *syncBuffer
	http    *http.Client
}

// startServe runs `ecapi serve` against e on a free loopback port with the
// sample data dir (changed by prepare, if given, before it starts), waits
// until /v1/health answers, and stops it with SIGTERM when t ends.
func startServe(t *testing.T, e *testenv.Env, prepare func(dataDir string)) *serveProc {
	t.Helper()
	dataDir := t.TempDir()
	if err := testenv.WriteSampleDataDir(dataDir, "demo", true); err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(dataDir)
	}
	port := freePort(t)
	proc := startBackground(t, baseEnv(t), ecapiBin, "serve", "--data-dir", dataDir, "--kubeconfig", e.Kubeconfig,
		"--bind-address", "127.0.0.1", "--api-port", strconv.Itoa(port), "--log-format", "json")
	t.Cleanup(func() { stopServe(t, proc) })

	s := &serveProc{URL: "https://127.0.0.1:" + strconv.Itoa(port), DataDir: dataDir, logs: &proc.stderr}
	proc.waitFor(t, 30*time.Second, `ecapi serve logs "serving the API"`, func() bool {
		s.Pin = logField(s.logs.String(), "serving the API", "pin")
		return s.Pin != ""
	})
	if want := pinOfCertFile(t, filepath.Join(dataDir, "ecapi", "tls.crt")); s.Pin != want {
		t.Fatalf("logged pin %s is not the pin of tls.crt, %s", s.Pin, want)
	}
	s.http = pinnedClient(s.Pin)
	proc.waitFor(t, 30*time.Second, "GET /v1/health answers 200", func() bool {
		resp, err := s.http.Get(s.URL + api.PathHealth)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

// stopServe sends SIGTERM and expects a clean exit within the grace period.
func stopServe(t *testing.T, p *background) {
	select {
	case <-p.done:
		t.Errorf("ecapi serve had exited during the test (%v):\n%s", p.err, p.stderr.String())
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM ecapi serve: %v", err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("ecapi serve exited with %v after SIGTERM:\n%s", p.err, p.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Errorf("ecapi serve still running 15s after SIGTERM; killing it")
	}
}

// background is a command running while the test goes on.
type background struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{} // closed when the command has exited
	err            error         // cmd.Wait's error, set before done closes
}

// startBackground starts a command with exactly envv; it is killed when
// the test ends if it still runs then.
func startBackground(t *testing.T, envv []string, name string, args ...string) *background {
	t.Helper()
	b := &background{cmd: exec.Command(name, args...), done: make(chan struct{})}
	b.cmd.Env = envv
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

// waitFor polls cond every 5 ms until it holds; it fails the test if b
// exits first or within passes.
func (b *background) waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(within)
	for !cond() {
		select {
		case <-b.done:
			t.Fatalf("%s exited (%v) before %s:\nstdout:\n%s\nstderr:\n%s", b.cmd.Path, b.err, what, b.stdout.String(), b.stderr.String())
		case <-deadline:
			t.Fatalf("%s: not within %s\nstdout:\n%s\nstderr:\n%s", what, within, b.stdout.String(), b.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// logField finds the first JSON log line with msg and returns its field.
func logField(logs, msg, field string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["msg"] != msg {
			continue
		}
		s, _ := line[field].(string)
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

// spkiPin is the sha256// pin of a public key, as ecapi prints it.
func spkiPin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}

func pinOfCertFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("no PEM certificate in %s", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return spkiPin(cert)
}

// pinnedClient trusts exactly the server whose leaf key has pin.
func pinnedClient(pin string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || spkiPin(cs.PeerCertificates[0]) != pin {
				return errors.New("server key does not match the pin")
			}
			return nil
		},
	}}}
}

// apiLogin gets a token straight from the API, bypassing the CLI.
func (s *serveProc) apiLogin(t *testing.T) string {
	t.Helper()
	body, _ := json.Marshal(api.TokenRequest{Password: password})
	resp, err := s.http.Post(s.URL+api.PathAuthToken, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok api.TokenResponse
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&tok) != nil || tok.Token == "" {
		t.Fatalf("POST %s: %s", api.PathAuthToken, resp.Status)
	}
	return tok.Token
}

// apiGet returns the body of an authenticated GET.
func (s *serveProc) apiGet(t *testing.T, path, token string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s (%v)", path, resp.Status, b, err)
	}
	return b
}

// clientEnv is what a client's environment variables say about s.
func (s *serveProc) clientEnv() []string {
	return []string{"ECAPI_SERVER=" + s.URL, "ECAPI_PIN=" + s.Pin, "ECAPI_PASSWORD=" + password}
}

// baseEnv is a minimal environment for subprocesses: nothing ECAPI_* from
// the test's own environment, a private HOME and config dir, and the
// directory of the built ecapi first in PATH.
func baseEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	home := t.TempDir()
	e := []string{
		"PATH=" + filepath.Dir(ecapiBin) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + home,
		"ECAPI_CONFIG_DIR=" + filepath.Join(home, "ecapi-config"),
		"LANG=C.UTF-8",
	}
	return append(e, extra...)
}

// envValue is key's value in envv.
func envValue(envv []string, key string) string {
	v := ""
	for _, kv := range envv {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val // the last one wins, as in exec
		}
	}
	return v
}

// result is a finished ecapi run.
type result struct {
	Code           int
	Stdout, Stderr string
	Took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %s\nstdout:\n%s\nstderr:\n%s", r.Code, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// run runs a command to completion (at most a minute) with exactly envv
// and stdin; dir is its working directory when not empty.
func run(t *testing.T, envv []string, stdin, dir, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env, cmd.Dir = envv, dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.Exited():
		r.Code = exitErr.ExitCode()
	default:
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, r)
	}
	return r
}

// ecapi runs the built binary.
func ecapi(t *testing.T, envv []string, stdin string, args ...string) result {
	t.Helper()
	return run(t, envv, stdin, "", ecapiBin, args...)
}

func wantExit(t *testing.T, r result, code int, what string) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("%s: want exit %d, got %s", what, code, r)
	}
}
