package testenv

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestControlPlane proves the harness starts the real binaries, enables
// bootstrap tokens and seeds what EC would leave behind.
func TestControlPlane(t *testing.T) {
	env, err := Start(Options{})
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	t.Logf("control plane up in %s", env.StartupTime)
	ctx, cancel := Ctx()
	defer cancel()

	info, err := env.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if info.GitVersion != "v1.37.2" {
		t.Errorf("kube-apiserver version = %q, want v1.37.2", info.GitVersion)
	}
	if err := env.SeedCluster(ctx, "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateNode(ctx, env.Client, NodeSpec{Name: "controller-0", InternalIP: "10.0.0.11", Ready: true, Labels: ControllerLabels("controller")}); err != nil {
		t.Fatal(err)
	}
	node, err := env.Client.CoreV1().Nodes().Get(ctx, "controller-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := node.Status.Addresses; len(got) != 1 || got[0].Address != "10.0.0.11" {
		t.Errorf("addresses = %v", got)
	}
	if c := node.Status.Conditions; len(c) != 1 || c[0].Status != "True" {
		t.Errorf("conditions = %v", c)
	}
	cm, err := env.Client.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	if err != nil || cm.Data["ca.crt"] == "" {
		t.Errorf("root CA configmap: %v %v", cm, err)
	}

	// A restart keeps the CA, so existing clients reconnect.
	if err := env.StopAPIServer(); err != nil {
		t.Fatalf("stop apiserver: %v", err)
	}
	if _, err := env.Client.Discovery().ServerVersion(); err == nil {
		t.Fatal("apiserver still answers after stop")
	}
	if err := env.StartAPIServer(); err != nil {
		t.Fatalf("restart apiserver: %v", err)
	}
	if _, err := env.Client.CoreV1().Nodes().Get(ctx, "controller-0", metav1.GetOptions{}); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}
