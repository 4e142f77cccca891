package cmdutil

import (
	"strings"
	"testing"
	"time"

	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/pkg/client"
)

func isolate(t *testing.T) string {
	t.Helper()
	for _, env := range []string{client.EnvServer, client.EnvToken, client.EnvPassword, client.EnvPin, client.EnvCAFile} {
		t.Setenv(env, "")
	}
	return t.TempDir()
}

func TestClientConfigSavedLogin(t *testing.T) {
	dir := isolate(t)
	saved := SavedLogin{Server: "https://10.0.0.11:30081", Pin: "sha256//saved", CAFile: "/saved/ca.pem", Token: "saved-token"}
	if _, err := SaveLogin(dir, saved); err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := iostreams.Test()
	tests := []struct {
		name                 string
		g                    GlobalOptions // as the layering leaves them
		envToken             string
		wantPin, wantCA, tok string
	}{
		{name: "saved server", g: GlobalOptions{Server: "10.0.0.11", Pin: saved.Pin, CAFile: saved.CAFile},
			wantPin: saved.Pin, wantCA: saved.CAFile, tok: saved.Token},
		{name: "another server drops saved trust and token", g: GlobalOptions{Server: "10.0.0.12", Pin: saved.Pin, CAFile: saved.CAFile}},
		{name: "another server keeps given trust", g: GlobalOptions{Server: "10.0.0.12", Pin: "sha256//given", CAFile: saved.CAFile},
			wantPin: "sha256//given"},
		{name: "ECAPI_TOKEN wins", g: GlobalOptions{Server: "10.0.0.11", Pin: saved.Pin}, envToken: "env-token",
			wantPin: saved.Pin, tok: "env-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(client.EnvToken, tt.envToken)
			g := tt.g
			g.ConfigDir = dir
			cfg, err := ClientConfig(ios, &g)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Pin != tt.wantPin || cfg.CAFile != tt.wantCA || cfg.Token != tt.tok {
				t.Errorf("pin %q, CA %q, token %q; want %q, %q, %q", cfg.Pin, cfg.CAFile, cfg.Token, tt.wantPin, tt.wantCA, tt.tok)
			}
		})
	}
}

func TestClientConfigSavesRefreshedToken(t *testing.T) {
	dir := isolate(t)
	if _, err := SaveLogin(dir, SavedLogin{Server: "https://10.0.0.11:30081", Token: "old"}); err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := iostreams.Test()
	cfg, err := ClientConfig(ios, &GlobalOptions{Server: "10.0.0.11", ConfigDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnTokenRefresh(client.Token{Token: "new"})
	if got, _ := LoadSavedLogin(dir); got.Token != "new" || got.Server != "https://10.0.0.11:30081" {
		t.Errorf("saved login = %+v, want the new token", got)
	}
}

func TestClientConfigMessages(t *testing.T) {
	dir := isolate(t)
	ios, _, _, errOut := iostreams.Test()
	if _, err := ClientConfig(ios, &GlobalOptions{ConfigDir: dir}); err == nil || !strings.Contains(err.Error(), "no server") {
		t.Fatalf("err = %v, want the no-server usage error", err)
	}
	cfg, err := ClientConfig(ios, &GlobalOptions{Server: "10.0.0.11", Insecure: true, Verbose: true, ConfigDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "NOT verified") {
		t.Errorf("no insecure warning: %q", errOut.String())
	}
	errOut.Reset()
	cfg.OnRequest(client.RequestInfo{Method: "GET", URL: "https://10.0.0.11:30081/v1/nodes", Status: 200, Duration: 12 * time.Millisecond})
	cfg.OnClockSkew(-2 * time.Minute)
	want := "* GET https://10.0.0.11:30081/v1/nodes → 200 12ms\n" +
		"Warning: this machine's clock is 2m0s behind the server's; tokens may be refused as expired or not yet valid: sync the clocks (NTP)\n"
	if got := errOut.String(); got != want {
		t.Errorf("stderr =\n%q\nwant\n%q", got, want)
	}
}
