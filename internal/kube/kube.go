// Package kube resolves how ecapi reaches the Kubernetes API.
package kube

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RESTConfig finds a client config: the kubeconfig flag, then $KUBECONFIG,
// then the in-cluster service account, then <data-dir>/k0s/pki/admin.conf.
// It returns where the config came from, for the start-up log.
func RESTConfig(kubeconfig, dataDir string) (*rest.Config, string, error) {
	if kubeconfig == "" {
		kubeconfig = os.Getenv("KUBECONFIG")
	}
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, "", fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
		}
		return tune(cfg), kubeconfig, nil
	}
	cfg, err := rest.InClusterConfig()
	if err == nil {
		return tune(cfg), "in-cluster service account", nil
	}
	if !errors.Is(err, rest.ErrNotInCluster) {
		return nil, "", fmt.Errorf("load in-cluster config: %w", err)
	}
	admin := filepath.Join(dataDir, "k0s", "pki", "admin.conf")
	cfg, err = clientcmd.BuildConfigFromFlags("", admin)
	if err != nil {
		return nil, "", fmt.Errorf("no kubeconfig: pass --kubeconfig, set KUBECONFIG, run in-cluster, or provide %s: %w", admin, err)
	}
	return tune(cfg), admin, nil
}

func tune(cfg *rest.Config) *rest.Config {
	cfg.UserAgent = "ecapi"
	// The node informer and a few Secret reads are all ecapi asks for; the
	// defaults (5 QPS) would throttle bursts of join commands.
	cfg.QPS, cfg.Burst = 50, 100
	return cfg
}
