package fetchbundle

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ecapi/ecapi/internal/cmdutil/cmdtest"
	"github.com/ecapi/ecapi/pkg/api"
	"github.com/ecapi/ecapi/pkg/client"
	"github.com/ecapi/ecapi/pkg/client/clienttest"
)

const bundleName = "demo-join-controller-20260115-120000.tar.gz"

func TestNewCmdFetchBundle(t *testing.T) {
	tests := []struct {
		name    string
		argv    string
		want    FetchBundleOptions
		wantErr bool
	}{
		{name: "roles only", argv: "--roles controller", want: FetchBundleOptions{Roles: []string{"controller"}}},
		{name: "file and extract", argv: "--roles worker,gpu -O b.tar.gz --extract join", want: FetchBundleOptions{Roles: []string{"worker", "gpu"}, File: "b.tar.gz", Extract: "join"}},
		{name: "output dir", argv: "--roles controller --output-dir /tmp", want: FetchBundleOptions{Roles: []string{"controller"}, OutputDir: "/tmp"}},
		{name: "stdout", argv: "--roles controller -O -", want: FetchBundleOptions{Roles: []string{"controller"}, File: "-"}},
		{name: "duplicate role", argv: "--roles gpu,gpu", wantErr: true},
		{name: "no roles", argv: "", wantErr: true},
		{name: "empty role", argv: "--roles controller,", wantErr: true},
		{name: "file and dir", argv: "--roles controller -O b.tar.gz --output-dir /tmp", wantErr: true},
		{name: "stdout and extract", argv: "--roles controller -O - --extract join", wantErr: true},
		{name: "positional argument", argv: "--roles controller join", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cmdtest.ParseOptions(t, NewCmdFetchBundle, tt.argv, tt.wantErr)
			if tt.wantErr {
				return
			}
			if !slices.Equal(got.Roles, tt.want.Roles) || got.File != tt.want.File || got.OutputDir != tt.want.OutputDir || got.Extract != tt.want.Extract {
				t.Errorf("options = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

type fixture struct {
	srv    *clienttest.Server
	s      cmdtest.Streams
	opts   *FetchBundleOptions
	work   string // where the bundle goes
	bundle []byte
}

func newFixture(t *testing.T, tty bool) *fixture {
	t.Helper()
	dir := cmdtest.Isolate(t)
	srv := clienttest.NewServer(t)
	srv.SetNodes(api.Node{Name: "controller-0", Roles: []string{"controller"}, Ready: true})
	bundle := goodBundle(t)
	srv.SetBundle(bundleName, bundle)
	t.Setenv(client.EnvToken, srv.IssueToken())
	s := cmdtest.NewStreams(tty)
	work := t.TempDir()
	opts := &FetchBundleOptions{IO: s.IO, Globals: cmdtest.Globals(srv, dir), Roles: []string{"controller"}, OutputDir: work}
	return &fixture{srv: srv, s: s, opts: opts, work: work, bundle: bundle}
}

// output is stdout and stderr with the variable paths replaced.
func (f *fixture) output() string {
	out := "--- stdout ---\n" + f.s.Out.String() + "--- stderr ---\n" + f.s.ErrOut.String()
	return strings.ReplaceAll(out, f.work, "WORK")
}

// files lists the names in the work directory.
func (f *fixture) files(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(f.work)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestFetchBundleRun(t *testing.T) {
	f := newFixture(t, false)
	if err := fetchBundleRun(context.Background(), f.opts); err != nil {
		t.Fatalf("fetchBundleRun: %v", err)
	}
	cmdtest.Golden(t, f.output())
	path := filepath.Join(f.work, bundleName)
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, f.bundle) {
		t.Fatalf("bundle on disk differs from the server's (%v)", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("bundle mode = %v, want 0600 (it holds a join token)", fi.Mode())
	}
	if names := f.files(t); !slices.Equal(names, []string{bundleName}) {
		t.Errorf("work dir holds %q, want only the bundle", names)
	}
}

func TestFetchBundleRunExtract(t *testing.T) {
	for _, tty := range []bool{false, true} {
		name := map[bool]string{false: "piped", true: "tty"}[tty]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tty)
			f.opts.Extract = filepath.Join(f.work, "join")
			if err := fetchBundleRun(context.Background(), f.opts); err != nil {
				t.Fatalf("fetchBundleRun: %v", err)
			}
			out := f.output()
			if tty {
				// The progress bar's rate and timing vary: keep stdout only.
				out = "--- stdout ---\n" + strings.ReplaceAll(f.s.Out.String(), f.work, "WORK")
			}
			cmdtest.Golden(t, out)
			if data, err := os.ReadFile(filepath.Join(f.opts.Extract, "demo")); err != nil || !strings.Contains(string(data), "echo join") {
				t.Errorf("extracted binary: %q, %v", data, err)
			}
		})
	}
}

func TestFetchBundleRunToFileAndStdout(t *testing.T) {
	f := newFixture(t, false)
	f.opts.OutputDir, f.opts.File = "", filepath.Join(f.work, "mine.tar.gz")
	if err := fetchBundleRun(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	if names := f.files(t); !slices.Equal(names, []string{"mine.tar.gz"}) {
		t.Errorf("work dir holds %q", names)
	}

	f = newFixture(t, false)
	f.opts.OutputDir, f.opts.File = "", "-"
	if err := fetchBundleRun(context.Background(), f.opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.s.Out.Bytes(), f.bundle) {
		t.Errorf("stdout holds %d bytes, want the %d of the bundle", f.s.Out.Len(), len(f.bundle))
	}
}

func TestFetchBundleRunRefusesUnsafeName(t *testing.T) {
	for _, name := range []string{"../evil.tar.gz", ".bashrc", "authorized_keys"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, false)
			f.srv.SetBundle(name, f.bundle)
			err := fetchBundleRun(context.Background(), f.opts)
			if err == nil || !strings.Contains(err.Error(), "unsafe file name") {
				t.Fatalf("err = %v, want the name refused", err)
			}
			if names := f.files(t); len(names) != 0 {
				t.Errorf("work dir holds %q, want nothing", names)
			}
		})
	}
}

func TestFetchBundleRunLeavesNothingOnFailure(t *testing.T) {
	t.Run("connection keeps dropping", func(t *testing.T) {
		f := newFixture(t, false)
		f.srv.DropBundleDownloads(100, 100)
		err := fetchBundleRun(context.Background(), f.opts)
		if err == nil || !strings.Contains(err.Error(), "removed the partial file") {
			t.Fatalf("err = %v, want a failed download", err)
		}
		if names := f.files(t); len(names) != 0 {
			t.Errorf("work dir holds %q, want nothing", names)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		f := newFixture(t, true)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Send the headers and a first chunk, then stall until the client
		// gives up. Ctrl-C comes once the progress bar shows bytes.
		f.srv.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != api.PathJoinBundle {
				return false
			}
			w.Header().Set("Content-Type", "application/gzip")
			w.Header().Set("Content-Disposition", "attachment; filename="+bundleName)
			w.Header().Set("Content-Length", "1000000")
			_, _ = w.Write(make([]byte, 4096))
			_ = http.NewResponseController(w).Flush()
			<-r.Context().Done()
			return true
		})
		f.s.IO.ErrOut = cancelOnWrite{cancel}
		err := fetchBundleRun(ctx, f.opts)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("err = %v, want an interrupted download", err)
		}
		if names := f.files(t); len(names) != 0 {
			t.Errorf("work dir holds %q, want nothing", names)
		}
	})
	t.Run("bad checksum", func(t *testing.T) {
		f := newFixture(t, false)
		f.srv.SetBundle(bundleName, makeArchive(t, false,
			entry{name: "demo", body: "tampered"},
			entry{name: sumsFile, body: strings.Repeat("0", 64) + "  demo\n"}))
		f.opts.Extract = filepath.Join(f.work, "join")
		err := fetchBundleRun(context.Background(), f.opts)
		if err == nil || !strings.Contains(err.Error(), "demo: checksum differs") {
			t.Fatalf("err = %v, want the verification to fail", err)
		}
	})
}

// cancelOnWrite cancels a context at the first write to it.
type cancelOnWrite struct{ cancel context.CancelFunc }

func (c cancelOnWrite) Write(p []byte) (int, error) {
	c.cancel()
	return len(p), nil
}

func TestPendingFile(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "b.tar.gz")
	if err := os.WriteFile(dest, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := createPending(dest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteString("new"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); string(got) != "old" {
		t.Fatalf("dest changed before commit: %q", got)
	}
	if err := p.commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); string(got) != "new" {
		t.Errorf("dest = %q after commit, want new", got)
	}
	p, err = createPending(dest)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = p.WriteString("partial")
	p.discard()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries after discard, want only b.tar.gz", len(entries))
	}
}

func TestFetchBundleRunResumes(t *testing.T) {
	f := newFixture(t, false)
	f.srv.DropBundleDownloads(1, 300)
	if err := fetchBundleRun(context.Background(), f.opts); err != nil {
		t.Fatalf("fetchBundleRun: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(f.work, bundleName))
	if err != nil || !bytes.Equal(got, f.bundle) {
		t.Fatalf("resumed bundle differs (%v)", err)
	}
}
