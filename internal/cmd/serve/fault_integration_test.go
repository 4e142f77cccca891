package serve

import (
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/testenv"
)

// TestKubeAPIServerOutage stops the kube-apiserver under a running daemon:
// /v1/nodes answers 503 JSON while it is down and recovers by itself.
func TestKubeAPIServerOutage(t *testing.T) {
	own, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { own.Stop() })
	ctx, cancel := testenv.Ctx()
	defer cancel()
	if err := own.SeedCluster(ctx, password); err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.CreateNode(ctx, own.Client, testenv.NodeSpec{Name: "controller-0", InternalIP: "127.0.0.1", Ready: true, Labels: testenv.ControllerLabels("controller")}); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, own)
	token := d.login(t, password)
	if r := d.do(t, "GET", "/v1/nodes", token, ""); r.Status != 200 {
		t.Fatalf("before outage: %d %s", r.Status, r.Body)
	}

	if err := own.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "503 while the kube-apiserver is down", func() bool {
		return d.do(t, "GET", "/v1/nodes", token, "").Status == 503
	})
	r := d.do(t, "GET", "/v1/nodes", token, "")
	wantError(t, r, 503, "unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// Health stays up: it reports the daemon, not the cluster.
	if r := d.do(t, "GET", "/v1/health", "", ""); r.Status != 200 {
		t.Fatalf("health during outage: %d", r.Status)
	}

	if err := own.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 60*time.Second, "recovery after the kube-apiserver restarts", func() bool {
		return d.do(t, "GET", "/v1/nodes", token, "").Status == 200
	})
	t.Logf("recovered %s after the kube-apiserver came back", took)
}
