package rbac

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
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/ecapi/ecapi/internal/testenv"
)

// The package shares one control plane and one built ecapi binary.
var (
	env      *testenv.Env
	ecapiBin string
)

const (
	password  = "correct horse battery staple"
	namespace = "embedded-cluster"
	// serviceAccount is the identity rbac.yaml grants.
	serviceAccount = "ecapi"
	// unboundAccount has no bindings at all.
	unboundAccount = "ecapi-unbound"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.MainSeeded(applied{m}, &env, password, &ecapiBin))
}

// applied applies scripts/kubernetes/rbac.yaml and an unbound
// ServiceAccount to the seeded cluster before the tests run.
type applied struct{ m *testing.M }

func (a applied) Run() int {
	if err := applyRBAC(); err != nil {
		fmt.Fprintln(os.Stderr, "rbac tests:", err)
		return 1
	}
	return a.m.Run()
}

func applyRBAC() error {
	ctx, cancel := testenv.Ctx()
	defer cancel()
	objs, err := decodeManifests(filepath.Join(testenv.RepoRoot(), "scripts", "kubernetes", "rbac.yaml"))
	if err != nil {
		return err
	}
	if err := apply(ctx, objs, false); err != nil {
		return fmt.Errorf("apply rbac.yaml: %w", err)
	}
	if _, err := env.Client.CoreV1().ServiceAccounts(namespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: unboundAccount, Namespace: namespace}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create service account %s: %w", unboundAccount, err)
	}
	return nil
}

// decodeManifests reads a multi-document YAML file into typed objects.
func decodeManifests(path string) ([]runtime.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
	decode := scheme.Codecs.UniversalDeserializer().Decode
	var objs []runtime.Object
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", path, err)
		}
		objs = append(objs, obj)
	}
}

// apply creates objs with the admin client; existing objects are kept.
// With dryRun the API server validates and admits them without storing.
func apply(ctx context.Context, objs []runtime.Object, dryRun bool) error {
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	c := env.Client
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.Namespace:
			_, err = c.CoreV1().Namespaces().Create(ctx, o, opts)
		case *corev1.ServiceAccount:
			_, err = c.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, opts)
		case *rbacv1.ClusterRole:
			_, err = c.RbacV1().ClusterRoles().Create(ctx, o, opts)
		case *rbacv1.ClusterRoleBinding:
			_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, o, opts)
		case *rbacv1.Role:
			_, err = c.RbacV1().Roles(o.Namespace).Create(ctx, o, opts)
		case *rbacv1.RoleBinding:
			_, err = c.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, opts)
		case *appsv1.DaemonSet:
			_, err = c.AppsV1().DaemonSets(o.Namespace).Create(ctx, o, opts)
		default:
			return fmt.Errorf("no client for %T", obj)
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %T: %w", obj, err)
		}
	}
	return nil
}

// kubeconfigAs writes a kubeconfig that authenticates as the admin and
// impersonates the service account, with the groups the API server gives
// a real service account token.
func kubeconfigAs(t *testing.T, account string) string {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + namespace + ":" + account,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testenv.WriteKubeconfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// daemon is a running `ecapi serve` process.
type daemon struct {
	URL        string
	MetricsURL string
	DataDir    string
	client     *http.Client
	stderr     *syncBuffer
	cmd        *exec.Cmd
	exited     chan struct{}
	waitErr    error
}

type syncBuffer = testenv.SyncBuffer

// runServe starts the built binary: `ecapi serve` on a free loopback port
// with a sample data dir, a clean environment and the given kubeconfig.
func runServe(t *testing.T, kubeconfig string, extra ...string) *daemon {
	t.Helper()
	dataDir := t.TempDir()
	if err := testenv.WriteSampleDataDir(dataDir, "demo", true); err != nil {
		t.Fatal(err)
	}
	port, metricsPort := freePort(t), freePort(t)
	args := append([]string{"serve",
		"--kubeconfig", kubeconfig, "--data-dir", dataDir, "--node-name", "controller-0",
		"--api-port", strconv.Itoa(port), "--metrics-address", "127.0.0.1:" + strconv.Itoa(metricsPort),
		"--log-format", "json",
	}, extra...)
	cmd := exec.Command(ecapiBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "ECAPI_CONFIG_DIR=" + t.TempDir()}
	d := &daemon{
		URL: "https://127.0.0.1:" + strconv.Itoa(port), MetricsURL: "http://127.0.0.1:" + strconv.Itoa(metricsPort),
		DataDir: dataDir, stderr: &syncBuffer{}, cmd: cmd, exited: make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = d.stderr, d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ecapi serve: %v", err)
	}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
			if d.waitErr != nil {
				t.Errorf("ecapi serve did not stop cleanly on SIGTERM: %v\n%s", d.waitErr, d.stderr)
			}
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("ecapi serve did not stop within 40s of SIGTERM")
		}
	})
	return d
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

// waitHealthy waits for /v1/health over TLS, trusting the self-signed
// certificate serve wrote; it fails the test if serve exits first.
func (d *daemon) waitHealthy(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	certFile := filepath.Join(d.DataDir, "ecapi", "tls.crt")
	for {
		select {
		case <-d.exited:
			t.Fatalf("ecapi serve exited during start-up (%v):\n%s", d.waitErr, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ecapi serve not healthy within 90s:\n%s", d.stderr)
		}
		if d.client == nil {
			if pem, err := os.ReadFile(certFile); err == nil {
				pool := x509.NewCertPool()
				if pool.AppendCertsFromPEM(pem) {
					d.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
				}
			}
		}
		if d.client != nil {
			if resp, err := d.client.Get(d.URL + "/v1/health"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitExit waits for serve to exit by itself and returns its exit code.
func (d *daemon) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-d.exited:
	case <-time.After(within):
		t.Fatalf("ecapi serve still running after %s; output:\n%s", within, d.stderr)
	}
	var exitErr *exec.ExitError
	if errors.As(d.waitErr, &exitErr) {
		return exitErr.ExitCode()
	}
	if d.waitErr != nil {
		t.Fatalf("wait for ecapi serve: %v", d.waitErr)
	}
	return 0
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends one request; body, when set, is JSON.
func (d *daemon) do(t *testing.T, method, path, token, body string) response {
	t.Helper()
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.URL+path, rdr)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
