package joincommand

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/cmdutil/cmdtest"
	"github.com/ecapi/ecapi/pkg/api"
	"github.com/ecapi/ecapi/pkg/client"
	"github.com/ecapi/ecapi/pkg/client/clienttest"
)

func TestNewCmdJoinCommand(t *testing.T) {
	tests := []struct {
		name    string
		argv    string
		want    JoinCommandOptions
		wantErr bool
	}{
		{name: "roles only", argv: "--roles controller", want: JoinCommandOptions{Roles: []string{"controller"}, Output: "text"}},
		{name: "all flags", argv: "--roles worker,gpu -o shell --ttl 30m --max-uses 2 --allow-parallel",
			want: JoinCommandOptions{Roles: []string{"worker", "gpu"}, Output: "shell", TTL: 30 * time.Minute, MaxUses: 2, AllowParallel: true}},
		{name: "repeated roles flag", argv: "--roles worker --roles gpu -o json", want: JoinCommandOptions{Roles: []string{"worker", "gpu"}, Output: "json"}},
		{name: "no roles", argv: "", wantErr: true},
		{name: "empty role", argv: "--roles worker,,gpu", wantErr: true},
		{name: "duplicate role", argv: "--roles gpu,gpu", wantErr: true},
		{name: "unknown output", argv: "--roles controller -o yaml", wantErr: true},
		{name: "zero ttl", argv: "--roles controller --ttl 0s", wantErr: true},
		{name: "bad ttl", argv: "--roles controller --ttl an-hour", wantErr: true},
		{name: "negative max uses", argv: "--roles controller --max-uses -1", wantErr: true},
		{name: "positional argument", argv: "--roles controller host-1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cmdtest.ParseOptions(t, NewCmdJoinCommand, tt.argv, tt.wantErr)
			if tt.wantErr {
				return
			}
			if !slices.Equal(got.Roles, tt.want.Roles) || got.Output != tt.want.Output || got.TTL != tt.want.TTL || got.MaxUses != tt.want.MaxUses || got.AllowParallel != tt.want.AllowParallel {
				t.Errorf("options = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

var readyController = api.Node{Name: "controller-0", Roles: []string{"controller"}, InternalIP: "10.0.0.11", Ready: true}

func joinResponse(srv *clienttest.Server) api.CreateJoinCommandResponse {
	return api.CreateJoinCommandResponse{
		JoinSteps: []api.JoinStep{
			{Description: "Download the join bundle", Command: "curl -fsS -k --pinnedpubkey '" + srv.Pin() + "' -H 'Authorization: Bearer eyJhbGciOi.join.token' 'https://10.0.0.11:30081/v1/join-bundle?roles=controller' -o demo-join-controller-20260115-120000.tar.gz"},
			{Description: "Extract the bundle", Command: "tar xzf demo-join-controller-20260115-120000.tar.gz"},
			{Description: "Run the join command\n(as root)", Command: "sudo ./demo node join"},
		},
		TokenID:   "abc123",
		ExpiresAt: "2026-01-15T13:00:00Z",
		Roles:     []string{"controller"},
		Warnings:  []string{"the license expires in 5 days"},
	}
}

func TestJoinCommandRun(t *testing.T) {
	tests := []struct {
		name   string
		tty    bool
		output string
	}{
		{name: "text tty", tty: true, output: "text"},
		{name: "text piped", output: "text"},
		{name: "json", output: "json"},
		{name: "shell", output: "shell"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := cmdtest.Isolate(t)
			srv := clienttest.NewServer(t)
			srv.SetNodes(readyController)
			srv.SetJoinCommand(joinResponse(srv))
			t.Setenv(client.EnvToken, srv.IssueToken())
			s := cmdtest.NewStreams(tt.tty)
			opts := &JoinCommandOptions{IO: s.IO, Globals: cmdtest.Globals(srv, dir), Roles: []string{"controller"}, Output: tt.output}
			if err := joinCommandRun(context.Background(), opts); err != nil {
				t.Fatalf("joinCommandRun: %v", err)
			}
			cmdtest.Golden(t, cmdtest.Scrub("--- stdout ---\n"+s.Out.String()+"--- stderr ---\n"+s.ErrOut.String(), srv))
		})
	}
}

func TestJoinCommandRunSendsOptions(t *testing.T) {
	dir := cmdtest.Isolate(t)
	srv := clienttest.NewServer(t)
	srv.SetNodes(readyController)
	t.Setenv(client.EnvToken, srv.IssueToken())
	s := cmdtest.NewStreams(false)
	opts := &JoinCommandOptions{IO: s.IO, Globals: cmdtest.Globals(srv, dir), Roles: []string{"worker", "gpu"}, Output: "json", TTL: 90 * time.Minute, MaxUses: 3, AllowParallel: true}
	if err := joinCommandRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	calls := srv.Calls()
	var body map[string]any
	if err := json.Unmarshal(calls[len(calls)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"roles": []any{"worker", "gpu"}, "ttl": "1h30m0s", "maxUses": float64(3), "allowParallel": true}
	gotJSON, _ := json.Marshal(body)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("request body = %s, want %s", gotJSON, wantJSON)
	}
	var doc JoinCommand
	if err := json.Unmarshal(s.Out.Bytes(), &doc); err != nil || doc.APIVersion != "ecapi/v1" || doc.Kind != "JoinCommand" || len(doc.JoinSteps) != 3 {
		t.Errorf("json output = %s (%v)", s.Out.String(), err)
	}
}

func TestJoinCommandRunNotReady(t *testing.T) {
	dir := cmdtest.Isolate(t)
	srv := clienttest.NewServer(t)
	t.Setenv(client.EnvToken, srv.IssueToken())
	s := cmdtest.NewStreams(false)
	err := joinCommandRun(context.Background(), &JoinCommandOptions{IO: s.IO, Globals: cmdtest.Globals(srv, dir), Roles: []string{"controller"}, Output: "shell"})
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
		t.Fatalf("err = %v, want 409", err)
	}
	if s.Out.Len() != 0 {
		t.Errorf("printed %q on failure; a pipe to ssh must get nothing", s.Out.String())
	}
}

// TestShellScriptRuns runs the -o shell output with sh, with the commands
// replaced by harmless ones, to check that it is a valid script that stops
// at the first failing step.
func TestShellScriptRuns(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh: %v", err)
	}
	dir := t.TempDir()
	var b strings.Builder
	steps := []api.JoinStep{
		{Description: "First; rm -rf /\nsecond line", Command: "echo one > " + filepath.Join(dir, "out")},
		{Description: "Fails", Command: "false"},
		{Description: "Never runs", Command: "echo three >> " + filepath.Join(dir, "out")},
	}
	if err := writeShell(&b, steps); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh)
	cmd.Stdin = strings.NewReader(b.String())
	if err := cmd.Run(); err == nil {
		t.Fatalf("script succeeded, want set -e to stop at the failing step:\n%s", b.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil || string(got) != "one\n" {
		t.Errorf("out = %q, %v; want only the first step's output", got, err)
	}
}
