//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/ecapi/ecapi/pkg/client"
)

// cliTiming is the wall time of `ecapi nodes` and `kubectl get nodes` over
// the same cluster, measured by hyperfine in one run.
type cliTiming struct {
	ecapi, kubectl float64 // mean seconds
	missing        string  // a tool that was not installed
}

// measureCLI runs hyperfine on both commands (no shell, warm-up runs first).
// The ecapi side uses a token from the environment, as a CI job would.
func measureCLI(ctx context.Context, bin, server, caFile, token, kubeconfig, work string) (cliTiming, error) {
	for _, tool := range []string{"hyperfine", "kubectl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return cliTiming{missing: tool}, nil
		}
	}
	export := filepath.Join(work, "cli.json")
	cmd := exec.CommandContext(ctx, "hyperfine", "--shell=none", "--warmup", "2", "--runs", "10", "--style", "none",
		"--export-json", export,
		bin+" nodes", "kubectl --kubeconfig "+kubeconfig+" get nodes")
	cmd.Env = append(os.Environ(),
		client.EnvServer+"="+server, client.EnvCAFile+"="+caFile, client.EnvToken+"="+token,
		"ECAPI_CONFIG_DIR="+filepath.Join(work, "cli-config"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return cliTiming{}, fmt.Errorf("hyperfine: %w\n%s", err, out)
	}
	data, err := os.ReadFile(export)
	if err != nil {
		return cliTiming{}, err
	}
	var res struct {
		Results []struct {
			Mean float64 `json:"mean"`
		} `json:"results"`
	}
	if err := json.Unmarshal(data, &res); err != nil || len(res.Results) != 2 {
		return cliTiming{}, fmt.Errorf("hyperfine export %s: %v", export, err)
	}
	return cliTiming{ecapi: res.Results[0].Mean, kubectl: res.Results[1].Mean}, nil
}
