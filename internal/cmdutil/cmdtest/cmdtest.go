// Package cmdtest holds what the verbs' tests share: golden files with
// -update, an isolated environment, and running a command from argv.
package cmdtest

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/pkg/client"
	"github.com/ecapi/ecapi/pkg/client/clienttest"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// Golden compares got with testdata/<test name>.golden, or rewrites the
// file when the test runs with -update.
func Golden(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(t.Name())+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// Isolate clears the ECAPI_* environment and points the config directory
// at a fresh temp dir, which it returns.
func Isolate(t *testing.T) string {
	t.Helper()
	for _, env := range []string{client.EnvServer, client.EnvToken, client.EnvPassword, client.EnvPin, client.EnvCAFile} {
		t.Setenv(env, "")
	}
	dir := t.TempDir()
	t.Setenv(cmdutil.EnvConfigDir, dir)
	return dir
}

// Streams are test IO streams and their buffers.
type Streams struct {
	IO     *iostreams.IOStreams
	In     *bytes.Buffer
	Out    *bytes.Buffer
	ErrOut *bytes.Buffer
}

// NewStreams returns buffers that look like terminals when tty is true.
func NewStreams(tty bool) Streams {
	ios, in, out, errOut := iostreams.Test()
	ios.SetTTY(tty)
	return Streams{IO: ios, In: in, Out: out, ErrOut: errOut}
}

// Factory returns a factory on s with empty globals.
func Factory(s Streams) *cmdutil.Factory {
	return &cmdutil.Factory{IOStreams: s.IO, Globals: &cmdutil.GlobalOptions{}, Executable: "ecapi"}
}

// Globals points a verb at the fake server, trusting it by pin, with the
// config directory dir.
func Globals(srv *clienttest.Server, dir string) *cmdutil.GlobalOptions {
	return &cmdutil.GlobalOptions{Server: srv.URL, Pin: srv.Pin(), ConfigDir: dir}
}

// Execute runs cmd with the whitespace-separated argv, reporting flag
// errors as *cmdutil.FlagError like the root command does.
func Execute(cmd *cobra.Command, argv string) error {
	cmd.SetArgs(strings.Fields(argv))
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cmdutil.FlagError{Err: err} })
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return cmd.Execute()
}

// ParseOptions builds a verb with newCmd, runs it on argv with a run
// function that only captures its Options, and returns them (TestNewCmdXxx).
// With wantErr it checks the failure is a *cmdutil.FlagError (exit 2) and
// returns nil.
func ParseOptions[O any](t *testing.T, newCmd func(*cmdutil.Factory, func(*O) error) *cobra.Command, argv string, wantErr bool) *O {
	t.Helper()
	var got *O
	cmd := newCmd(Factory(NewStreams(false)), func(o *O) error { got = o; return nil })
	err := Execute(cmd, argv)
	if wantErr {
		var flagErr *cmdutil.FlagError
		if !errors.As(err, &flagErr) {
			t.Fatalf("argv %q: err = %v, want *cmdutil.FlagError", argv, err)
		}
		return nil
	}
	if err != nil {
		t.Fatalf("argv %q: %v", argv, err)
	}
	return got
}

// Scrub replaces the fake server's variable parts (URL, pin) in out with
// stable placeholders for golden files.
func Scrub(out string, srv *clienttest.Server) string {
	out = strings.ReplaceAll(out, srv.URL, "https://SERVER")
	out = strings.ReplaceAll(out, strings.TrimPrefix(srv.URL, "https://"), "SERVER")
	return strings.ReplaceAll(out, srv.Pin(), "sha256//PIN")
}
