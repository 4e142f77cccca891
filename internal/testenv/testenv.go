// Package testenv runs a real kube-apiserver and etcd (built by
// scripts/testenv.sh from the Go module proxy) for integration tests and the
// local quick start, with helpers that seed what Embedded Cluster would have.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// AssetsDir returns the directory holding kube-apiserver and etcd:
// $KUBEBUILDER_ASSETS when set, else what scripts/testenv.sh builds or has
// cached.
func AssetsDir() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	script := filepath.Join(RepoRoot(), "scripts", "testenv.sh")
	var stderr bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build control-plane binaries with %s: %w: %s", script, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// RepoRoot is the module's root directory, found from this source file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Options tune Start.
type Options struct {
	// Dir keeps the apiserver's certificates, so a restarted apiserver keeps
	// its CA and clients keep working. Empty: a temporary directory.
	Dir string
	// Output receives the control plane's logs; nil discards them.
	Output *os.File
}

// Env is a running control plane.
type Env struct {
	env *envtest.Environment
	// Config is an admin (system:masters) client config.
	Config *rest.Config
	Client kubernetes.Interface
	// Kubeconfig is the path of a kubeconfig file for Config.
	Kubeconfig string
	dir        string
	ownDir     bool
	// StartupTime is how long the control plane took to come up.
	StartupTime time.Duration
}

// Start brings up etcd and kube-apiserver with bootstrap-token
// authentication enabled, and writes an admin kubeconfig.
func Start(opts Options) (*Env, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	dir, ownDir := opts.Dir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ecapi-testenv-"); err != nil {
			return nil, fmt.Errorf("make testenv dir: %w", err)
		}
		ownDir = true
	}
	// A fresh cluster needs fresh certificates: envtest only learns its CA
	// when it generates them.
	certDir := filepath.Join(dir, "apiserver")
	if err := os.RemoveAll(certDir); err != nil {
		return nil, fmt.Errorf("clear apiserver dir: %w", err)
	}
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, fmt.Errorf("make apiserver dir: %w", err)
	}
	te := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: time.Minute, ControlPlaneStopTimeout: stopTimeout}
	apiServer := te.ControlPlane.GetAPIServer()
	apiServer.CertDir = certDir
	apiServer.Configure().Set("enable-bootstrap-token-auth", "true")
	if opts.Output != nil {
		apiServer.Out, apiServer.Err = opts.Output, opts.Output
	}
	start := time.Now()
	cfg, err := te.Start()
	if err != nil {
		if ownDir {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("start kube-apiserver and etcd from %s: %w", assets, err)
	}
	e := &Env{env: te, Config: cfg, dir: dir, ownDir: ownDir, StartupTime: time.Since(start)}
	if e.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		e.Stop()
		return nil, fmt.Errorf("client for testenv: %w", err)
	}
	e.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := WriteKubeconfig(e.Kubeconfig, cfg); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// Stop stops the control plane and removes what Start created.
func (e *Env) Stop() error {
	err := e.env.Stop()
	if err != nil && strings.Contains(err.Error(), "timeout waiting for process") {
		err = nil // killed after stopTimeout
	}
	if e.ownDir {
		err = errors.Join(err, os.RemoveAll(e.dir))
	}
	return err
}

// stopTimeout bounds a graceful stop; kube-apiserver drains open watches
// for far longer, and a kill is as good as a stop for tests.
const stopTimeout = 5 * time.Second

// StopAPIServer stops kube-apiserver only (etcd keeps the data), to test
// what happens while the cluster's API is down. A kube-apiserver that does
// not stop within stopTimeout is killed, as in a crash.
func (e *Env) StopAPIServer() error {
	err := e.env.ControlPlane.GetAPIServer().Stop()
	if err != nil && strings.Contains(err.Error(), "timeout waiting for process") {
		return nil
	}
	return err
}

// StartAPIServer restarts kube-apiserver on the same address with the same
// certificates after StopAPIServer.
func (e *Env) StartAPIServer() error {
	return e.env.ControlPlane.GetAPIServer().Start()
}

// Dir is the environment's working directory.
func (e *Env) Dir() string { return e.dir }

// Ctx is a context bounded for one seeding call.
func Ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// Main starts one control plane for a test package, runs its tests, and
// stops it; use it from TestMain. A control plane that cannot start fails
// the package rather than skipping it.
func Main(m interface{ Run() int }, out **Env) int {
	e, err := Start(Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	*out = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: stop:", err)
	}
	return code
}

// MainSeeded is Main plus what the integration packages share: it seeds
// the control plane as an EC install leaves it (root CA, the password
// Secret with this password, ecapi's namespace, one Ready controller named
// controller-0 at 127.0.0.1) and, when ecapiBin is not nil, builds the
// ecapi binary into it while the control plane starts.
func MainSeeded(m interface{ Run() int }, env **Env, password string, ecapiBin *string) int {
	built := make(chan error, 1)
	if ecapiBin == nil {
		built <- nil
	} else {
		binDir, err := os.MkdirTemp("", "ecapi-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			return 1
		}
		defer os.RemoveAll(binDir)
		go func() {
			path := filepath.Join(binDir, "ecapi")
			err := BuildECAPI(path)
			if err == nil {
				*ecapiBin = path
			}
			built <- err
		}()
	}
	return Main(runFunc(func() int {
		if err := <-built; err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			return 1
		}
		ctx, cancel := Ctx()
		defer cancel()
		if err := (*env).SeedCluster(ctx, password); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: seed:", err)
			return 1
		}
		if _, err := CreateNode(ctx, (*env).Client, NodeSpec{
			Name: "controller-0", InternalIP: "127.0.0.1", Ready: true, Labels: ControllerLabels("controller"),
		}); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: seed:", err)
			return 1
		}
		return m.Run()
	}), env)
}

type runFunc func() int

func (f runFunc) Run() int { return f() }
