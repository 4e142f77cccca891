package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecapi/ecapi/internal/testenv"
)

// TestWaitReady waits for a node of the custom role "database" on a
// cluster of its own: a timeout while it is NotReady exits 3; flipping it
// Ready during a wait exits 0. It uses ECAPI_* variables only, no login.
func TestWaitReady(t *testing.T) {
	t.Parallel()
	e := notReadyEnv(t)
	s := startServe(t, e, nil)
	ctx, cancel := testenv.Ctx()
	defer cancel()
	const db = "e2e-db-0"
	if _, err := testenv.CreateNode(ctx, e.Client, testenv.NodeSpec{
		Name: db, InternalIP: "10.2.0.5", Ready: false,
		Labels: map[string]string{testenv.LabelRoleTotal: "total-1", testenv.LabelRolePrefix + "0": "database"},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Client.CoreV1().Nodes().Delete(context.Background(), db, metav1.DeleteOptions{}) })
	envv := baseEnv(t, s.clientEnv()...)

	r := ecapi(t, envv, "", "wait-ready", "--role", "database", "--timeout", "3s", "--interval", "200ms")
	t.Logf("wait-ready --timeout 3s gave up after %s", r.Took.Round(time.Millisecond))
	wantExit(t, r, 3, "wait-ready with the database node NotReady")
	if !strings.Contains(r.Stderr, "database") {
		t.Errorf("the timeout does not say what it waited for:\n%s", r)
	}

	w := startBackground(t, envv, ecapiBin, "wait-ready", "--role", "database", "--timeout", "30s", "--interval", "200ms")
	// Flip the node only once the command has seen it NotReady.
	const notReadyYet = "0 of 1 database node Ready"
	w.waitFor(t, 20*time.Second, "wait-ready reports "+notReadyYet, func() bool { return strings.Contains(w.stderr.String(), notReadyYet) })
	if err := testenv.SetNodeReady(ctx, e.Client, db, true); err != nil {
		t.Fatal(err)
	}
	flipped := time.Now()
	select {
	case <-w.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("wait-ready still running 40s after the node became Ready:\n%s", w.stderr.String())
	}
	t.Logf("wait-ready exited %s after the node became Ready", time.Since(flipped).Round(time.Millisecond))
	if w.err != nil {
		t.Fatalf("wait-ready after the node became Ready: %v\nstdout:\n%s\nstderr:\n%s", w.err, w.stdout.String(), w.stderr.String())
	}
	if !strings.Contains(w.stdout.String(), "condition met") {
		t.Errorf("stdout lacks %q:\n%s", "condition met", w.stdout.String())
	}
}

// TestJoinCommandNeedsReadyController: the API's 409 becomes exit 1 with
// the hint to run wait-ready.
func TestJoinCommandNeedsReadyController(t *testing.T) {
	t.Parallel()
	e := notReadyEnv(t)
	s := startServe(t, e, nil)
	r := ecapi(t, baseEnv(t, s.clientEnv()...), "", "join-command", "--roles", "controller")
	wantExit(t, r, 1, "join-command with no Ready controller")
	if !strings.Contains(r.Stderr, "wait-ready") {
		t.Errorf("stderr lacks the hint to run wait-ready:\n%s", r)
	}
	if r.Stdout != "" {
		t.Errorf("stdout is not empty:\n%s", r)
	}
}
