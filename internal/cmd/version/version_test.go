package version

import (
	"context"
	"errors"
	"testing"

	"github.com/ecapi/ecapi/internal/build"
	"github.com/ecapi/ecapi/internal/cmdutil/cmdtest"
	"github.com/ecapi/ecapi/pkg/client"
	"github.com/ecapi/ecapi/pkg/client/clienttest"
)

func fixedBuild() build.Info {
	return build.Info{Version: "v0.1.0", Commit: "1234567", Date: "2026-02-01_10:00:00"}
}

func TestNewCmdVersion(t *testing.T) {
	tests := []struct {
		name    string
		argv    string
		want    VersionOptions
		wantErr bool
	}{
		{name: "defaults", argv: "", want: VersionOptions{Output: "text"}},
		{name: "client json", argv: "--client -o json", want: VersionOptions{ClientOnly: true, Output: "json"}},
		{name: "unknown output", argv: "-o yaml", wantErr: true},
		{name: "positional argument", argv: "server", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cmdtest.ParseOptions(t, NewCmdVersion, tt.argv, tt.wantErr)
			if tt.wantErr {
				return
			}
			if got.ClientOnly != tt.want.ClientOnly || got.Output != tt.want.Output {
				t.Errorf("options = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestVersionRun(t *testing.T) {
	tests := []struct {
		name       string
		output     string
		clientOnly bool
		noServer   bool
	}{
		{name: "text with server", output: "text"},
		{name: "json with server", output: "json"},
		{name: "client only", output: "text", clientOnly: true},
		{name: "no server configured", output: "json", noServer: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := cmdtest.Isolate(t)
			srv := clienttest.NewServer(t)
			s := cmdtest.NewStreams(false)
			g := cmdtest.Globals(srv, dir)
			if tt.noServer {
				g.Server = ""
			}
			opts := &VersionOptions{IO: s.IO, Globals: g, Output: tt.output, ClientOnly: tt.clientOnly, BuildInfo: fixedBuild}
			if err := versionRun(context.Background(), opts); err != nil {
				t.Fatalf("versionRun: %v", err)
			}
			cmdtest.Golden(t, cmdtest.Scrub(s.Out.String(), srv))
			if n := len(srv.Calls()); (n == 1) != (!tt.clientOnly && !tt.noServer) {
				t.Errorf("server saw %d calls", n)
			}
		})
	}
}

func TestVersionRunServerUnreachable(t *testing.T) {
	dir := cmdtest.Isolate(t)
	srv := clienttest.NewServer(t)
	s := cmdtest.NewStreams(false)
	g := cmdtest.Globals(srv, dir)
	g.Pin = "" // not trusted
	err := versionRun(context.Background(), &VersionOptions{IO: s.IO, Globals: g, Output: "text", BuildInfo: fixedBuild})
	var tlsErr *client.TLSError
	if !errors.As(err, &tlsErr) {
		t.Fatalf("err = %v, want the TLS error (exit 5)", err)
	}
	cmdtest.Golden(t, s.Out.String())
}
