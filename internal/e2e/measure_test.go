//go:build measure

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

const measureNodes = 1000

// TestMeasureNodesCLI is a measurement, not a check: on a cluster of 1000
// realistic nodes it runs hyperfine on `ecapi nodes` against `kubectl get
// nodes`, and on `ecapi --help`, and logs the figures. It is built only
// with -tags measure (make bench-cli): it takes a minute and asserts no
// timings.
func TestMeasureNodesCLI(t *testing.T) {
	hyperfine, err := exec.LookPath("hyperfine")
	if err != nil {
		t.Fatal("hyperfine is not installed (apt-get install -y hyperfine)")
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl is not installed")
	}

	e, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := e.SeedCluster(ctx, password); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := testenv.CreateRealisticNodes(ctx, e.Client, measureNodes); err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d realistic nodes in %s", measureNodes, time.Since(start).Round(time.Millisecond))

	s := startServe(t, e, nil)
	token := s.apiLogin(t)
	for {
		var list api.NodesResponse
		body := s.apiGet(t, api.PathNodes, token)
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Nodes) == measureNodes {
			t.Logf("GET /v1/nodes: %d nodes, %d KiB", len(list.Nodes), len(body)>>10)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	envv := baseEnv(t)
	wantExit(t, ecapi(t, envv, password, "login", "--server", s.URL, "--pin", s.Pin, "--password-stdin"), 0, "login")

	dir := t.TempDir()
	listing := hyperfineRun(t, hyperfine, envv, filepath.Join(dir, "nodes.json"), "--warmup", "2", "--runs", "10",
		ecapiBin+" nodes", kubectl+" --kubeconfig "+e.Kubeconfig+" get nodes")
	startup := hyperfineRun(t, hyperfine, envv, filepath.Join(dir, "help.json"), "--warmup", "2", ecapiBin+" --help")

	ecapiNodes, kubectlNodes := listing[0], listing[1]
	t.Logf("ecapi nodes:       %s", ecapiNodes)
	t.Logf("kubectl get nodes: %s", kubectlNodes)
	t.Logf("ecapi / kubectl:   %.3f (goal <= 0.25)", ecapiNodes.Mean/kubectlNodes.Mean)
	t.Logf("ecapi --help:      %s", startup[0])
}

// timing is one hyperfine result, in seconds.
type timing struct {
	Command string  `json:"command"`
	Mean    float64 `json:"mean"`
	Stddev  float64 `json:"stddev"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
}

func (r timing) String() string {
	ms := func(s float64) string { return fmt.Sprintf("%.1f ms", s*1000) }
	return fmt.Sprintf("mean %s ± %s (min %s, max %s)", ms(r.Mean), ms(r.Stddev), ms(r.Min), ms(r.Max))
}

// hyperfineRun runs hyperfine without a shell (so no shell start-up is
// measured or subtracted) and returns its results in command order.
func hyperfineRun(t *testing.T, hyperfine string, envv []string, export string, args ...string) []timing {
	t.Helper()
	args = append([]string{"--shell=none", "--style", "basic", "--export-json", export}, args...)
	r := run(t, envv, "", "", hyperfine, args...)
	t.Logf("hyperfine %s\n%s%s", strings.Join(args, " "), r.Stdout, r.Stderr)
	wantExit(t, r, 0, "hyperfine")
	data, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Results []timing `json:"results"`
	}
	if err := json.Unmarshal(data, &out); err != nil || len(out.Results) == 0 {
		t.Fatalf("hyperfine export %s: %v\n%s", export, err, data)
	}
	return out.Results
}
