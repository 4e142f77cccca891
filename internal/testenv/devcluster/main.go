// Command devcluster is the local quick start: a real kube-apiserver and
// etcd on loopback, seeded as an Embedded Cluster install leaves them, and
// `ecapi serve` on 127.0.0.1:30081 in the foreground. Ctrl-C stops it all.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ecapi/ecapi/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", ".dev", "working directory (kubeconfig, data dir, certificates)")
	ecapi := flag.String("ecapi", "bin/ecapi", "the ecapi binary to run")
	port := flag.Int("port", 30081, "API port")
	seedOnly := flag.Bool("seed-only", false, "start and seed the control plane, print, and wait without running ecapi serve")
	flag.Parse()

	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintln(os.Stderr, "devcluster: starting etcd and kube-apiserver …")
	env, err := testenv.Start(testenv.Options{Dir: filepath.Join(abs, "cluster")})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(os.Stderr, "devcluster: stopping the control plane")
		env.Stop()
	}()
	kubeconfig := filepath.Join(abs, "kubeconfig")
	if err := testenv.WriteKubeconfig(kubeconfig, env.Config); err != nil {
		return err
	}
	password := randomPassword()
	sctx, cancel := testenv.Ctx()
	defer cancel()
	if err := env.SeedCluster(sctx, password); err != nil {
		return err
	}
	if _, err := testenv.CreateNode(sctx, env.Client, testenv.NodeSpec{
		Name: "controller-0", InternalIP: "127.0.0.1", Ready: true, Labels: testenv.ControllerLabels("controller"),
	}); err != nil {
		return err
	}
	dataDir := filepath.Join(abs, "data")
	if err := testenv.WriteSampleDataDir(dataDir, "demo", true); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(abs, "password"), []byte(password+"\n"), 0o600); err != nil {
		return err
	}

	fmt.Printf("Control plane ready in %s: kubectl --kubeconfig %s get nodes\n", env.StartupTime.Round(time.Millisecond), kubeconfig)
	fmt.Printf("Installer password (also in %s): %s\n", filepath.Join(abs, "password"), password)
	if *seedOnly {
		fmt.Println("Seeded; press Ctrl-C to stop.")
		<-ctx.Done()
		return nil
	}

	serve := exec.Command(*ecapi, "serve",
		"--data-dir", dataDir, "--kubeconfig", kubeconfig, "--node-name", "controller-0",
		"--api-port", strconv.Itoa(*port), "--metrics-address", "127.0.0.1:9090", "--log-format", "text")
	serve.Stdout, serve.Stderr = os.Stdout, os.Stderr
	serve.Env = append(os.Environ(), "KUBECONFIG=")
	if err := serve.Start(); err != nil {
		return fmt.Errorf("start %s serve: %w", *ecapi, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()

	base := "https://127.0.0.1:" + strconv.Itoa(*port)
	if err := waitHealthy(ctx, base, exited); err != nil {
		serve.Process.Signal(syscall.SIGTERM)
		return err
	}
	cacert := filepath.Join(dataDir, "ecapi", "tls.crt")
	fmt.Printf(`
ecapi serve is up on %[1]s (Ctrl-C stops everything). Try the API:

  curl --cacert %[2]s %[1]s/v1/health
  curl --cacert %[2]s %[1]s/v1/version
  TOKEN=$(curl -s --cacert %[2]s -X POST %[1]s/v1/auth/token \
    -H 'Content-Type: application/json' \
    -d '{"password":"'"$(cat %[3]s)"'"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl --cacert %[2]s %[1]s/v1/nodes -H "Authorization: Bearer $TOKEN"

Metrics: curl http://127.0.0.1:9090/metrics

`, base, cacert, filepath.Join(abs, "password"))

	select {
	case <-ctx.Done():
		serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(40 * time.Second):
			serve.Process.Kill()
			<-exited
		}
		return nil
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("ecapi serve exited: %w", err)
		}
		return nil
	}
}

func waitHealthy(ctx context.Context, base string, exited <-chan error) error {
	// Loopback readiness poll only: the printed commands verify with --cacert.
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("ecapi serve exited during start-up: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := c.Get(base + "/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("ecapi serve did not answer %s/v1/health within 60s", base)
}

func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
