package waitready

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/cmdutil/cmdtest"
	"github.com/ecapi/ecapi/pkg/api"
	"github.com/ecapi/ecapi/pkg/client"
	"github.com/ecapi/ecapi/pkg/client/clienttest"
)

func TestNewCmdWaitReady(t *testing.T) {
	tests := []struct {
		name    string
		argv    string
		want    WaitReadyOptions
		wantErr bool
	}{
		{name: "defaults", argv: "", want: WaitReadyOptions{Timeout: 10 * time.Minute, Interval: 2 * time.Second, Min: 1}},
		{name: "all flags", argv: "--timeout 30s --interval 500ms --role worker --min 3", want: WaitReadyOptions{Timeout: 30 * time.Second, Interval: 500 * time.Millisecond, Role: "worker", Min: 3}},
		{name: "zero interval", argv: "--interval 0s", wantErr: true},
		{name: "zero timeout", argv: "--timeout 0s", wantErr: true},
		{name: "min zero", argv: "--min 0", wantErr: true},
		{name: "bad duration", argv: "--timeout soon", wantErr: true},
		{name: "positional argument", argv: "controller", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cmdtest.ParseOptions(t, NewCmdWaitReady, tt.argv, tt.wantErr)
			if tt.wantErr {
				return
			}
			if got.Timeout != tt.want.Timeout || got.Interval != tt.want.Interval || got.Role != tt.want.Role || got.Min != tt.want.Min {
				t.Errorf("options = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

var (
	notReadyController = api.Node{Name: "controller-0", Roles: []string{"controller"}, Labels: map[string]string{controlPlaneLabel: ""}}
	readyController    = api.Node{Name: "controller-0", Roles: []string{"controller"}, Labels: map[string]string{controlPlaneLabel: ""}, Ready: true}
)

// script makes the fake answer request i (from 0) with steps[i], and the
// steps after the last one like the last one. A step is a node list or a
// failure: "drop" (connection closed) or an HTTP status.
type step struct {
	fail  string
	nodes []api.Node
}

func script(srv *clienttest.Server, steps ...step) {
	var mu sync.Mutex
	i := 0
	srv.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != api.PathNodes {
			return false
		}
		mu.Lock()
		s := steps[min(i, len(steps)-1)]
		i++
		mu.Unlock()
		switch s.fail {
		case "drop":
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return true
		case "503":
			clienttest.WriteError(w, http.StatusServiceUnavailable, "node cache not synced yet")
			return true
		}
		srv.SetNodes(s.nodes...)
		return false
	})
}

func newOpts(t *testing.T, srv *clienttest.Server, tty bool) (*WaitReadyOptions, cmdtest.Streams) {
	t.Helper()
	dir := cmdtest.Isolate(t)
	t.Setenv(client.EnvToken, srv.IssueToken())
	s := cmdtest.NewStreams(tty)
	return &WaitReadyOptions{IO: s.IO, Globals: cmdtest.Globals(srv, dir), Timeout: time.Minute, Interval: time.Millisecond, Min: 1}, s
}

func TestWaitReadyRun(t *testing.T) {
	tests := []struct {
		name  string
		role  string
		min   int
		steps []step
	}{
		{
			name: "rides through a starting server",
			steps: []step{
				{fail: "drop"}, {fail: "503"},
				{nodes: []api.Node{notReadyController}}, {nodes: []api.Node{notReadyController}},
				{nodes: []api.Node{readyController}},
			},
		},
		{
			name:  "controller recognised by its label",
			steps: []step{{nodes: []api.Node{{Name: "cp-0", Roles: []string{"management"}, Labels: map[string]string{controlPlaneLabel: ""}, Ready: true}}}},
		},
		{
			name: "several nodes of a custom role",
			role: "gpu", min: 2,
			steps: []step{
				{nodes: []api.Node{readyController, {Name: "gpu-0", Roles: []string{"worker", "gpu"}, Ready: true}}},
				{nodes: []api.Node{readyController, {Name: "gpu-0", Roles: []string{"gpu"}, Ready: true}, {Name: "gpu-1", Roles: []string{"gpu"}}}},
				{nodes: []api.Node{readyController, {Name: "gpu-0", Roles: []string{"gpu"}, Ready: true}, {Name: "gpu-1", Roles: []string{"gpu"}, Ready: true}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := clienttest.NewServer(t)
			script(srv, tt.steps...)
			opts, s := newOpts(t, srv, false)
			opts.Role = tt.role
			if tt.min > 0 {
				opts.Min = tt.min
			}
			if err := waitReadyRun(context.Background(), opts); err != nil {
				t.Fatalf("waitReadyRun: %v", err)
			}
			cmdtest.Golden(t, "--- stdout ---\n"+s.Out.String()+"--- stderr ---\n"+cmdtest.Scrub(s.ErrOut.String(), srv))
		})
	}
}

func TestWaitReadyRunTTY(t *testing.T) {
	srv := clienttest.NewServer(t)
	script(srv, step{fail: "503"}, step{nodes: []api.Node{notReadyController}}, step{nodes: []api.Node{readyController}})
	opts, s := newOpts(t, srv, true)
	if err := waitReadyRun(context.Background(), opts); err != nil {
		t.Fatalf("waitReadyRun: %v", err)
	}
	if got := s.Out.String(); got != "condition met\n" {
		t.Errorf("stdout = %q", got)
	}
	if got, want := s.ErrOut.String(), "\r✓ 1 of 1 controller node Ready (controller-0)\n"; !strings.HasSuffix(got, want) {
		t.Errorf("stderr = %q, want the spinner cleared and then %q", got, want)
	}
}

func TestWaitReadyRunTimeout(t *testing.T) {
	srv := clienttest.NewServer(t)
	script(srv, step{nodes: []api.Node{notReadyController, {Name: "worker-0", Roles: []string{"worker"}, Ready: true}}})
	opts, s := newOpts(t, srv, false)
	opts.Timeout = 50 * time.Millisecond
	err := waitReadyRun(context.Background(), opts)
	var timeoutErr *cmdutil.TimeoutError
	if !errors.As(err, &timeoutErr) {
		t.Fatalf("err = %v, want a TimeoutError (exit 3)", err)
	}
	if want := "timed out after 50ms waiting for 1 Ready controller node; last seen: 0 of 1 controller node Ready"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if s.Out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", s.Out.String())
	}
}

func TestWaitReadyRunFatalErrors(t *testing.T) {
	t.Run("pin mismatch", func(t *testing.T) {
		srv := clienttest.NewServer(t)
		opts, _ := newOpts(t, srv, false)
		opts.Globals.Pin = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		err := waitReadyRun(context.Background(), opts)
		if !errors.Is(err, client.ErrPinMismatch) {
			t.Fatalf("err = %v, want a pin mismatch at once", err)
		}
	})
	t.Run("not logged in", func(t *testing.T) {
		srv := clienttest.NewServer(t)
		opts, _ := newOpts(t, srv, false)
		t.Setenv(client.EnvToken, "")
		err := waitReadyRun(context.Background(), opts)
		var apiErr *api.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
			t.Fatalf("err = %v, want 401 at once", err)
		}
		if n := srv.CallCount(http.MethodGet, api.PathNodes); n != 1 {
			t.Errorf("polled %d times, want 1", n)
		}
	})
}

func TestWaitReadyRunLogsInWithPassword(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.SetNodes(readyController)
	opts, s := newOpts(t, srv, false)
	t.Setenv(client.EnvToken, "")
	t.Setenv(client.EnvPassword, clienttest.DefaultPassword)
	if err := waitReadyRun(context.Background(), opts); err != nil {
		t.Fatalf("waitReadyRun: %v", err)
	}
	if s.Out.String() != "condition met\n" || srv.CallCount(http.MethodPost, api.PathAuthToken) != 1 {
		t.Errorf("stdout = %q, logins = %d; want condition met after one login", s.Out.String(), srv.CallCount(http.MethodPost, api.PathAuthToken))
	}
}
