package completion_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/cli"
	"github.com/ecapi/ecapi/internal/cmd/completion"
	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/cmdutil/cmdtest"
	"github.com/ecapi/ecapi/pkg/api"
	"github.com/ecapi/ecapi/pkg/client"
	"github.com/ecapi/ecapi/pkg/client/clienttest"
)

const ecConfig = `apiVersion: embeddedcluster.replicated.com/v1beta1
kind: Config
spec:
  roles:
    controller:
      name: controller
    custom:
    - name: database
    - name: web
`

// env is an isolated user: a config dir, a local EC config with the roles
// controller, database and web, and a fake server whose nodes carry the
// roles controller, database and gpu.
type env struct {
	dir string
	srv *clienttest.Server
}

func newEnv(t *testing.T) env {
	t.Helper()
	dir := cmdtest.Isolate(t)
	ecPath := filepath.Join(t.TempDir(), "ec-config.yaml")
	if err := os.WriteFile(ecPath, []byte(ecConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ECAPI_EC_CONFIG", ecPath)
	t.Setenv("ECAPI_DATA_DIR", t.TempDir())
	srv := clienttest.NewServer(t)
	srv.SetNodes(
		api.Node{Name: "c0", Roles: []string{"controller"}, Ready: true},
		api.Node{Name: "w0", Roles: []string{"database", "gpu"}, Ready: true},
	)
	return env{dir: dir, srv: srv}
}

func (e env) login(t *testing.T, pin string) {
	t.Helper()
	if _, err := cmdutil.SaveLogin(e.dir, cmdutil.SavedLogin{Server: e.srv.URL, Pin: pin, Token: e.srv.IssueToken()}); err != nil {
		t.Fatal(err)
	}
}

// complete runs `ecapi __complete argv... last` through the real command
// tree and returns the offered values.
func complete(t *testing.T, last string, argv ...string) []string {
	t.Helper()
	s := cmdtest.NewStreams(false)
	root := cli.NewCmdRoot(cmdtest.Factory(s))
	root.SetArgs(append(append([]string{"__complete"}, argv...), last))
	if err := root.Execute(); err != nil {
		t.Fatalf("__complete %v: %v", argv, err)
	}
	lines := strings.Split(strings.TrimSpace(s.Out.String()), "\n")
	if len(lines) == 0 || lines[len(lines)-1] != ":4" {
		t.Fatalf("__complete %v: want the NoFileComp directive (:4) last, got %q", argv, s.Out.String())
	}
	return lines[:len(lines)-1]
}

func want(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("completions = %q, want %q", got, want)
	}
}

func TestRolesLoggedIn(t *testing.T) {
	e := newEnv(t)
	e.login(t, e.srv.Pin())

	// Local config order first, then what only the server knows.
	want(t, complete(t, "", "join-command", "--roles"), "controller", "database", "web", "gpu")
	want(t, complete(t, "", "fetch-bundle", "--roles"), "controller", "database", "web", "gpu")
	// The last element of a list is completed; listed roles are not offered again.
	want(t, complete(t, "controller,", "join-command", "--roles"), "controller,database", "controller,web", "controller,gpu")
	want(t, complete(t, "web,g", "join-command", "--roles"), "web,gpu")
	// Single-role flags.
	want(t, complete(t, "d", "nodes", "--role"), "database")
	want(t, complete(t, "", "wait-ready", "--role"), "controller", "database", "web", "gpu")

	if n := e.srv.CallCount("GET", api.PathNodes); n != 6 {
		t.Errorf("GET /v1/nodes called %d times, want once per completion (6)", n)
	}
	for _, c := range e.srv.Calls() {
		if c.Method != "GET" || c.Path != api.PathNodes || !c.Bearer {
			t.Errorf("completion sent %s %s (bearer %v): only an authenticated GET /v1/nodes is allowed", c.Method, c.Path, c.Bearer)
		}
	}
}

func TestRolesWithoutLogin(t *testing.T) {
	e := newEnv(t)
	// A password alone must not make a TAB log in: a wrong one would count
	// towards the server's lockout.
	t.Setenv(client.EnvServer, e.srv.URL)
	t.Setenv(client.EnvPin, e.srv.Pin())
	t.Setenv(client.EnvPassword, clienttest.DefaultPassword)

	want(t, complete(t, "", "join-command", "--roles"), "controller", "database", "web")
	if calls := e.srv.Calls(); len(calls) != 0 {
		t.Errorf("completion without a token called the server: %+v", calls)
	}
}

func TestRolesWithEnvToken(t *testing.T) {
	e := newEnv(t)
	t.Setenv(client.EnvServer, e.srv.URL)
	t.Setenv(client.EnvPin, e.srv.Pin())
	t.Setenv(client.EnvToken, e.srv.IssueToken())
	want(t, complete(t, "g", "join-command", "--roles"), "gpu")
}

func TestRolesFailSoft(t *testing.T) {
	t.Run("untrusted server", func(t *testing.T) {
		e := newEnv(t)
		e.login(t, "sha256//"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
		want(t, complete(t, "", "join-command", "--roles"), "controller", "database", "web")
	})
	t.Run("expired token", func(t *testing.T) {
		e := newEnv(t)
		e.login(t, e.srv.Pin())
		e.srv.RevokeTokens()
		want(t, complete(t, "", "join-command", "--roles"), "controller", "database", "web")
	})
	t.Run("server hangs", func(t *testing.T) {
		e := newEnv(t)
		e.login(t, e.srv.Pin())
		// The server answers only after 3×CompletionTimeout: if the
		// completion waited that long, "gpu" would be offered.
		e.srv.Intercept(func(_ http.ResponseWriter, r *http.Request) bool {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * cmdutil.CompletionTimeout):
			}
			return false
		})
		want(t, complete(t, "", "join-command", "--roles"), "controller", "database", "web")
	})
	t.Run("no local config and no login", func(t *testing.T) {
		cmdtest.Isolate(t)
		t.Setenv("ECAPI_EC_CONFIG", filepath.Join(t.TempDir(), "missing.yaml"))
		want(t, complete(t, "", "join-command", "--roles"))
	})
	t.Run("data dir fallback", func(t *testing.T) {
		cmdtest.Isolate(t)
		dataDir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dataDir, "ec-config.yaml"), []byte(ecConfig), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("ECAPI_EC_CONFIG", "")
		t.Setenv("ECAPI_DATA_DIR", dataDir)
		want(t, complete(t, "w", "join-command", "--roles"), "web")
	})
}

func TestOutputValues(t *testing.T) {
	newEnv(t)
	want(t, complete(t, "", "join-command", "-o"), "text", "json", "shell")
	want(t, complete(t, "", "nodes", "--output"), "table", "wide", "json", "yaml")
	want(t, complete(t, "", "version", "-o"), "text", "json")
}

func TestCompletionCommand(t *testing.T) {
	for _, sh := range completion.Shells {
		t.Run(sh.Name, func(t *testing.T) {
			s := cmdtest.NewStreams(false)
			root := cli.NewCmdRoot(cmdtest.Factory(s))
			root.SetArgs([]string{"completion", sh.Name})
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			var generated bytes.Buffer
			if err := completion.Generate(cli.NewCmdRoot(cmdutil.NewFactory()), sh.Name, &generated); err != nil {
				t.Fatal(err)
			}
			if s.Out.String() != generated.String() {
				t.Error("`ecapi completion` and the generated file differ")
			}
			if !strings.Contains(s.Out.String(), "__complete") {
				t.Error("the script does not call back into ecapi for dynamic completion")
			}
		})
	}

	s := cmdtest.NewStreams(false)
	root := cli.NewCmdRoot(cmdtest.Factory(s))
	err := cmdtest.Execute(root, "completion tcsh")
	var flagErr *cmdutil.FlagError
	if !errors.As(err, &flagErr) || !strings.Contains(err.Error(), "tcsh") {
		t.Errorf("completion tcsh: err = %v, want a usage error naming the shell", err)
	}
}
