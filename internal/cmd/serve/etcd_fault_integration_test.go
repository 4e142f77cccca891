package serve

import (
	"testing"
	"time"

	"github.com/ecapi/ecapi/pkg/api"
)

// TestEtcdStalls freezes etcd under a running daemon: requests that need the
// cluster fail with 503 JSON within their own timeouts instead of hanging,
// health stays up, and everything recovers by itself once etcd runs again.
func TestEtcdStalls(t *testing.T) {
	own := startOwnCluster(t)
	d := startDaemon(t, own)
	token := d.login(t, password)
	if r := d.do(t, "GET", api.PathNodes, token, ""); r.Status != 200 {
		t.Fatalf("before the stall: %d %s", r.Status, r.Body)
	}
	if err := own.PauseEtcd(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			own.ResumeEtcd()
		}
	})
	eventually(t, 30*time.Second, "503 while etcd is frozen", func() bool {
		return d.do(t, "GET", api.PathNodes, token, "").Status == 503
	})
	wantError(t, d.do(t, "GET", api.PathNodes, token, ""), 503, "unavailable")
	if r := d.do(t, "GET", api.PathHealth, "", ""); r.Status != 200 {
		t.Fatalf("health while etcd is frozen: %d", r.Status)
	}
	// Logins need no etcd round trip: the password and keys are watched.
	d.login(t, password)

	if err := own.ResumeEtcd(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	took := eventually(t, 60*time.Second, "recovery after etcd resumes", func() bool {
		return d.do(t, "GET", api.PathNodes, token, "").Status == 200 &&
			d.do(t, "POST", api.PathCreateJoinCommand, token, `{"roles":["controller"]}`, jsonCT).Status == 200
	})
	t.Logf("recovered %s after etcd resumed", took)
}
