package nodes

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/cmdutil/cmdtest"
	"github.com/ecapi/ecapi/pkg/api"
	"github.com/ecapi/ecapi/pkg/client/clienttest"
)

var testNodes = []api.Node{
	{
		Name:        "controller-0",
		Labels:      map[string]string{"node-role.kubernetes.io/control-plane": "", "kots.io/embedded-cluster-role": "total-1", "kots.io/embedded-cluster-role-0": "controller"},
		Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0", "k0sproject.io/version": "v1.33.4"},
		Roles:       []string{"controller"},
		InternalIP:  "10.0.0.11",
		Ready:       true,
	},
	{
		Name:       "worker-1",
		Labels:     map[string]string{"kots.io/embedded-cluster-role": "total-2", "kots.io/embedded-cluster-role-0": "worker", "kots.io/embedded-cluster-role-1": "gpu"},
		Roles:      []string{"worker", "gpu"},
		InternalIP: "10.0.0.12",
	},
	{Name: "worker-2", Ready: true},
}

func TestNewCmdNodes(t *testing.T) {
	tests := []struct {
		name    string
		argv    string
		want    NodesOptions
		wantErr bool
	}{
		{name: "defaults", argv: "", want: NodesOptions{Output: "table"}},
		{name: "all flags", argv: "-o wide --role controller -w", want: NodesOptions{Output: "wide", Role: "controller", Watch: true}},
		{name: "yaml", argv: "--output yaml", want: NodesOptions{Output: "yaml"}},
		{name: "unknown output", argv: "-o xml", wantErr: true},
		{name: "positional argument", argv: "controller-0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cmdtest.ParseOptions(t, NewCmdNodes, tt.argv, tt.wantErr)
			if tt.wantErr {
				return
			}
			if got.Output != tt.want.Output || got.Role != tt.want.Role || got.Watch != tt.want.Watch || got.WatchInterval != DefaultWatchInterval {
				t.Errorf("options = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestNodesRun(t *testing.T) {
	tests := []struct {
		name   string
		tty    bool
		output string
		role   string
		nodes  []api.Node
	}{
		{name: "table tty", tty: true, output: "table"},
		{name: "wide tty", tty: true, output: "wide"},
		{name: "table piped", output: "table"},
		{name: "wide piped", output: "wide"},
		{name: "json", output: "json"},
		{name: "yaml", output: "yaml"},
		{name: "role filter", output: "table", role: "gpu"},
		{name: "no nodes", tty: true, output: "table", nodes: []api.Node{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := cmdtest.Isolate(t)
			srv := clienttest.NewServer(t)
			nodes := testNodes
			if tt.nodes != nil {
				nodes = tt.nodes
			}
			srv.SetNodes(nodes...)
			t.Setenv("ECAPI_TOKEN", srv.IssueToken())
			s := cmdtest.NewStreams(tt.tty)
			opts := &NodesOptions{IO: s.IO, Globals: cmdtest.Globals(srv, dir), Output: tt.output, Role: tt.role}
			if err := nodesRun(context.Background(), opts); err != nil {
				t.Fatalf("nodesRun: %v", err)
			}
			cmdtest.Golden(t, "--- stdout ---\n"+s.Out.String()+"--- stderr ---\n"+s.ErrOut.String())
		})
	}
}

func TestNodesRunAuth(t *testing.T) {
	tests := []struct {
		name      string
		saved     func(srv *clienttest.Server) cmdutil.SavedLogin
		password  string
		want401   bool
		wantLogin bool
	}{
		{name: "saved token", saved: func(srv *clienttest.Server) cmdutil.SavedLogin {
			return cmdutil.SavedLogin{Server: srv.URL, Token: srv.IssueToken()}
		}},
		{name: "saved token of another server is not sent", saved: func(srv *clienttest.Server) cmdutil.SavedLogin {
			return cmdutil.SavedLogin{Server: "https://10.9.9.9:30081", Token: srv.IssueToken()}
		}, want401: true},
		{name: "not logged in", want401: true},
		{name: "password from environment", password: clienttest.DefaultPassword, wantLogin: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := cmdtest.Isolate(t)
			srv := clienttest.NewServer(t)
			srv.SetNodes(testNodes...)
			if tt.saved != nil {
				if _, err := cmdutil.SaveLogin(dir, tt.saved(srv)); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("ECAPI_PASSWORD", tt.password)
			s := cmdtest.NewStreams(false)
			err := nodesRun(context.Background(), &NodesOptions{IO: s.IO, Globals: cmdtest.Globals(srv, dir), Output: "json"})
			var apiErr *api.Error
			if tt.want401 != (errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized) {
				t.Fatalf("err = %v, want 401: %v", err, tt.want401)
			}
			if !tt.want401 && err != nil {
				t.Fatal(err)
			}
			if got := srv.CallCount(http.MethodPost, api.PathAuthToken) == 1; got != tt.wantLogin {
				t.Errorf("logged in: %v, want %v", got, tt.wantLogin)
			}
		})
	}
}

func TestNodesRunWatch(t *testing.T) {
	for _, output := range []string{"table", "json"} {
		t.Run(output, func(t *testing.T) {
			dir := cmdtest.Isolate(t)
			srv := clienttest.NewServer(t)
			srv.SetNodes(testNodes[0])
			t.Setenv("ECAPI_TOKEN", srv.IssueToken())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()

			// Poll 1 prints, poll 2 fails with 503 (a warning, the watch goes
			// on), poll 3 is unchanged (nothing printed), poll 4 sees a new
			// node, poll 5 ends the watch as Ctrl-C would.
			var mu sync.Mutex
			polls := 0
			srv.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
				mu.Lock()
				defer mu.Unlock()
				polls++
				switch polls {
				case 2:
					clienttest.WriteError(w, http.StatusServiceUnavailable, "node cache not synced yet")
					return true
				case 4:
					srv.SetNodes(testNodes[:2]...)
				case 5:
					cancel()
				}
				return false
			})
			s := cmdtest.NewStreams(false)
			g := cmdtest.Globals(srv, dir)
			opts := &NodesOptions{IO: s.IO, Globals: g, Output: output, Watch: true, WatchInterval: time.Millisecond}
			if err := nodesRun(ctx, opts); err != nil {
				t.Fatalf("nodesRun: %v", err)
			}
			cmdtest.Golden(t, "--- stdout ---\n"+s.Out.String()+"--- stderr ---\n"+cmdtest.Scrub(s.ErrOut.String(), srv))
		})
	}
}
