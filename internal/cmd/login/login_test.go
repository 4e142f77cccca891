package login

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/cmdutil/cmdtest"
	"github.com/ecapi/ecapi/pkg/client"
	"github.com/ecapi/ecapi/pkg/client/clienttest"
)

func TestNewCmdLogin(t *testing.T) {
	tests := []struct {
		name    string
		argv    string
		env     string // ECAPI_PASSWORD
		want    LoginOptions
		wantErr bool
	}{
		{name: "no flags", argv: ""},
		{name: "stdin", argv: "--password-stdin", want: LoginOptions{PasswordStdin: true}},
		{name: "password flag", argv: "--password hunter2", want: LoginOptions{Password: "hunter2", PasswordInArgv: true}},
		{name: "password from env through layering", argv: "--password hunter2", env: "hunter2", want: LoginOptions{Password: "hunter2"}},
		{name: "env and stdin", argv: "--password hunter2 --password-stdin", env: "hunter2", want: LoginOptions{Password: "hunter2", PasswordStdin: true}},
		{name: "flag and stdin", argv: "--password hunter2 --password-stdin", wantErr: true},
		{name: "positional argument", argv: "https://10.0.0.1", wantErr: true},
		{name: "unknown flag", argv: "--token x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmdtest.Isolate(t)
			t.Setenv(client.EnvPassword, tt.env)
			got := cmdtest.ParseOptions(t, NewCmdLogin, tt.argv, tt.wantErr)
			if tt.wantErr {
				return
			}
			if got.PasswordStdin != tt.want.PasswordStdin || got.Password != tt.want.Password || got.PasswordInArgv != tt.want.PasswordInArgv {
				t.Errorf("options = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

type loginCase struct {
	tty   bool
	stdin string
	opts  LoginOptions
	env   string // ECAPI_PASSWORD
	// trust: "pin", "ca" or "" (trust on first use)
	trust string
}

// runLogin runs loginRun against srv with a config dir that does not
// exist yet, and returns its path and the streams.
func runLogin(t *testing.T, srv *clienttest.Server, lc loginCase) (string, cmdtest.Streams, error) {
	t.Helper()
	base := cmdtest.Isolate(t)
	t.Setenv(client.EnvPassword, lc.env)
	dir := filepath.Join(base, "ecapi")
	s := cmdtest.NewStreams(lc.tty)
	s.In.WriteString(lc.stdin)
	g := &cmdutil.GlobalOptions{Server: srv.URL, ConfigDir: dir}
	switch lc.trust {
	case "pin":
		g.Pin = srv.Pin()
	case "ca":
		g.CAFile = srv.CAFile(t)
	}
	opts := lc.opts
	opts.IO, opts.Globals = s.IO, g
	err := loginRun(context.Background(), &opts)
	return dir, s, err
}

func TestLoginRun(t *testing.T) {
	tests := []struct {
		name string
		lc   loginCase
	}{
		{name: "stdin with pin", lc: loginCase{stdin: clienttest.DefaultPassword + "\n", opts: LoginOptions{PasswordStdin: true}, trust: "pin"}},
		{name: "env with CA file on a terminal", lc: loginCase{tty: true, env: clienttest.DefaultPassword, trust: "ca"}},
		{name: "password flag warns", lc: loginCase{opts: LoginOptions{Password: clienttest.DefaultPassword, PasswordInArgv: true}, trust: "pin"}},
		{name: "trust on first use", lc: loginCase{tty: true, stdin: "y\n", env: clienttest.DefaultPassword}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := clienttest.NewServer(t)
			dir, s, err := runLogin(t, srv, tt.lc)
			if err != nil {
				t.Fatalf("loginRun: %v", err)
			}
			out := "--- stdout ---\n" + s.Out.String() + "--- stderr ---\n" + s.ErrOut.String()
			out = strings.ReplaceAll(cmdtest.Scrub(out, srv), dir, "CONFIG_DIR")
			cmdtest.Golden(t, out)

			saved, err := cmdutil.LoadSavedLogin(dir)
			if err != nil {
				t.Fatal(err)
			}
			if saved.Server != srv.URL || saved.Token == "" || client.TokenExpiry(saved.Token).IsZero() {
				t.Errorf("saved login = %+v, want the server and a token", saved)
			}
			switch tt.lc.trust {
			case "ca":
				if saved.CAFile == "" || saved.Pin != "" {
					t.Errorf("saved login = %+v, want the CA file and no pin", saved)
				}
			default: // a pin given or accepted on first use is remembered
				if saved.Pin != srv.Pin() || saved.CAFile != "" {
					t.Errorf("saved pin = %q, want %q", saved.Pin, srv.Pin())
				}
			}
			assertMode(t, dir, 0o700)
			assertMode(t, filepath.Join(dir, "config.yaml"), 0o600)
		})
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %o, want %o", path, got, want)
	}
}

func TestLoginRunUntrustedServer(t *testing.T) {
	tests := []struct {
		name string
		lc   loginCase
	}{
		{name: "not a terminal", lc: loginCase{stdin: clienttest.DefaultPassword, opts: LoginOptions{PasswordStdin: true}}},
		{name: "declined on a terminal", lc: loginCase{tty: true, stdin: "n\n", env: clienttest.DefaultPassword}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := clienttest.NewServer(t)
			dir, _, err := runLogin(t, srv, tt.lc)
			var tlsErr *client.TLSError
			if !errors.As(err, &tlsErr) || tlsErr.Pin != srv.Pin() {
				t.Fatalf("err = %v, want a TLSError naming the server's pin", err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("config dir exists after a failed login: %v", err)
			}
			if n := srv.CallCount("POST", "/v1/auth/token"); n != 0 {
				t.Errorf("password sent %d times to an untrusted server", n)
			}
		})
	}
}

func TestLoginRunWrongPassword(t *testing.T) {
	srv := clienttest.NewServer(t)
	_, _, err := runLogin(t, srv, loginCase{env: "wrong", trust: "pin"})
	var authErr *cmdutil.AuthError
	if !errors.As(err, &authErr) || !strings.Contains(err.Error(), "invalid password") {
		t.Fatalf("err = %v, want an AuthError (exit 4) with the server's message", err)
	}
}

func TestLoginRunNoPassword(t *testing.T) {
	srv := clienttest.NewServer(t)
	_, _, err := runLogin(t, srv, loginCase{trust: "pin"})
	var flagErr *cmdutil.FlagError
	if !errors.As(err, &flagErr) {
		t.Fatalf("err = %v, want a FlagError", err)
	}
}

func TestLoginRunKeepsOtherConfigKeys(t *testing.T) {
	srv := clienttest.NewServer(t)
	base := cmdtest.Isolate(t)
	if err := os.WriteFile(filepath.Join(base, "config.yaml"), []byte("timeout: 5m\ntoken: old\nca-file: /old/ca.pem\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(client.EnvPassword, clienttest.DefaultPassword)
	s := cmdtest.NewStreams(false)
	opts := &LoginOptions{IO: s.IO, Globals: &cmdutil.GlobalOptions{Server: srv.URL, Pin: srv.Pin(), ConfigDir: base}}
	if err := loginRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(base, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if !strings.Contains(text, "timeout: 5m") || strings.Contains(text, "token: old") || strings.Contains(text, "ca-file") || !strings.Contains(text, "pin: sha256//") {
		t.Errorf("config.yaml =\n%s\nwant timeout kept, token replaced, ca-file dropped, pin saved", text)
	}
	assertMode(t, filepath.Join(base, "config.yaml"), 0o600)
}

func TestLoginRunReplacesSavedTrust(t *testing.T) {
	srv := clienttest.NewServer(t)
	dir := cmdtest.Isolate(t)
	stalePin := "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	if _, err := cmdutil.SaveLogin(dir, cmdutil.SavedLogin{Server: srv.URL, Pin: stalePin, Token: "old"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv(client.EnvPassword, clienttest.DefaultPassword)
	s := cmdtest.NewStreams(false)
	// As after the layering: --ca-file from the command line, the stale
	// pin from the config file.
	g := &cmdutil.GlobalOptions{Server: srv.URL, Pin: stalePin, CAFile: srv.CAFile(t), ConfigDir: dir}
	if err := loginRun(context.Background(), &LoginOptions{IO: s.IO, Globals: g}); err != nil {
		t.Fatalf("loginRun: %v", err)
	}
	saved, err := cmdutil.LoadSavedLogin(dir)
	if err != nil || saved.Pin != "" || saved.CAFile != g.CAFile {
		t.Errorf("saved = %+v, %v; want the CA file replacing the stale pin", saved, err)
	}
}
