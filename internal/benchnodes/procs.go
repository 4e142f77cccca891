//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"time"

	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

// child is a server process that dies with this one (PDEATHSIG) and is
// stopped with SIGTERM, then SIGKILL.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid once done is closed
	once sync.Once
}

func startChild(name string, stdout, stderr io.Writer, path string, args ...string) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// exited is an error when the process has already ended.
func (c *child) exited() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited: %v", c.name, c.err)
	default:
		return nil
	}
}

func (c *child) stop() {
	c.once.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
}

// buildECAPI compiles cmd/ecapi into dir.
func buildECAPI(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "ecapi")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/ecapi")
	cmd.Dir = testenv.RepoRoot()
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/ecapi: %w: %s", err, msg)
	}
	return out, nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ecapiServer is a running `ecapi serve`.
type ecapiServer struct {
	*child
	url     string
	certPEM []byte
	log     string
}

// startECAPI runs `ecapi serve` at warn level (no access log lines, as a
// quiet production daemon would run) and waits until /v1/health answers.
func startECAPI(ctx context.Context, bin, dataDir, kubeconfig, logFile string) (*ecapiServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	c, err := startChild("ecapi serve", io.Discard, logf, bin, "serve",
		"--data-dir", dataDir, "--kubeconfig", kubeconfig,
		"--bind-address", "127.0.0.1", "--api-port", strconv.Itoa(port), "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	s := &ecapiServer{child: c, url: "https://127.0.0.1:" + strconv.Itoa(port), log: logFile}
	certFile := filepath.Join(dataDir, "ecapi", "tls.crt")
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		if err := c.exited(); err != nil {
			return nil, fmt.Errorf("%w\n%s", err, s.logTail())
		}
		if pemBytes, err := os.ReadFile(certFile); err == nil && s.healthy(wctx, pemBytes) {
			s.certPEM = pemBytes
			return s, nil
		}
		select {
		case <-wctx.Done():
			c.stop()
			return nil, fmt.Errorf("ecapi serve did not answer on %s within 90s: %w\n%s", s.url, wctx.Err(), s.logTail())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *ecapiServer) healthy(ctx context.Context, certPEM []byte) bool {
	tlsConfig, err := trusting(certPEM)
	if err != nil {
		return false
	}
	client := newClient(tlsConfig, 1)
	defer client.CloseIdleConnections()
	_, err = send(ctx, client, request{method: http.MethodGet, url: s.url + api.PathHealth, header: identity(), ok: statusOK})
	return err == nil
}

// logTail is the end of the server's log, for error messages.
func (s *ecapiServer) logTail() string {
	data, _ := os.ReadFile(s.log)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return "ecapi serve log (last lines):\n" + strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// anchorServer is a running `benchnodes anchor`.
type anchorServer struct {
	*child
	url string
}

// startAnchor runs this binary's anchor subcommand and reads its URL.
func startAnchor(ctx context.Context, certFile, keyFile, nodesFile, healthFile string) (*anchorServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	first := &firstLine{ready: make(chan struct{})}
	c, err := startChild("anchor", first, os.Stderr, self, "anchor",
		"-cert", certFile, "-key", keyFile, "-nodes-body", nodesFile, "-health-body", healthFile)
	if err != nil {
		return nil, err
	}
	select {
	case <-first.ready:
		return &anchorServer{child: c, url: first.line}, nil
	case <-c.done:
		return nil, fmt.Errorf("anchor exited before serving: %v", c.err)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		c.stop()
		return nil, errors.New("anchor did not start within 30s")
	}
}

// firstLine is a child's stdout that keeps the first line and drops the rest.
type firstLine struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	line  string
	ready chan struct{}
	done  bool
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return len(p), nil
	}
	f.buf.Write(p)
	if line, err := bufio.NewReader(bytes.NewReader(f.buf.Bytes())).ReadString('\n'); err == nil {
		f.line, f.done = strings.TrimSpace(line), true
		close(f.ready)
	}
	return len(p), nil
}

// trusting is a client TLS config that trusts exactly certPEM.
func trusting(certPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		return nil, errors.New("no certificate in PEM data")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// identity asks for the uncompressed body, so every server sends the bytes
// the benchmark compares.
func identity() http.Header { return http.Header{"Accept-Encoding": {"identity"}} }
