package serve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecapi/ecapi/internal/testenv"
	"github.com/ecapi/ecapi/pkg/api"
)

// TestBadConfigAtStart: an unreadable or invalid license or EC config stops
// serve at start with an error that names the flag to fix.
func TestBadConfigAtStart(t *testing.T) {
	write := func(t *testing.T, path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		mod  func(t *testing.T, o *ServeOptions)
		want []string
	}{
		"license is a directory": {func(t *testing.T, o *ServeOptions) { o.License = t.TempDir() }, []string{"--license", "is a directory"}},
		"license not YAML": {func(t *testing.T, o *ServeOptions) {
			write(t, o.License, "{{{ not yaml")
		}, []string{"--license", "parse YAML"}},
		"license of another kind": {func(t *testing.T, o *ServeOptions) {
			write(t, o.License, "apiVersion: v1\nkind: ConfigMap\n")
		}, []string{"--license", "not a kots.io/v1beta1 License"}},
		"license slug unsafe": {func(t *testing.T, o *ServeOptions) {
			write(t, o.License, strings.Replace(testenv.SampleLicense("demo", true), "appSlug: demo", "appSlug: ../../bin/sh", 1))
		}, []string{"--license", "appSlug"}},
		"EC config not YAML": {func(t *testing.T, o *ServeOptions) { write(t, o.ECConfig, "spec: [") }, []string{"--ec-config"}},
		"EC config duplicate roles": {func(t *testing.T, o *ServeOptions) {
			write(t, o.ECConfig, "spec:\n  roles:\n    controller:\n      name: a\n    custom:\n    - name: a\n")
		}, []string{"--ec-config", "declared twice"}},
		"EC config roles collide as labels": {func(t *testing.T, o *ServeOptions) {
			write(t, o.ECConfig, "spec:\n  roles:\n    custom:\n    - name: web frontend\n    - name: web/frontend\n")
		}, []string{"--ec-config", "same label value"}},
	} {
		t.Run(name, func(t *testing.T) {
			dataDir := t.TempDir()
			if err := testenv.WriteSampleDataDir(dataDir, "demo", true); err != nil {
				t.Fatal(err)
			}
			opts := startOpts(dataDir)
			tc.mod(t, opts)
			d, err := start(context.Background(), opts, discardLogger())
			if err == nil {
				d.cancel()
				d.api.Close()
				t.Fatal("serve started")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestConfigChangesWhileRunning: serve reads the license and EC config once,
// at start (restart it to apply a change), so a file broken or replaced
// while it runs changes nothing until then.
func TestConfigChangesWhileRunning(t *testing.T) {
	d := startDaemon(t, env)
	token := d.login(t, password)
	for _, f := range []string{"license.yaml", "ec-config.yaml"} {
		p := filepath.Join(d.DataDir, f)
		_ = os.Chmod(p, 0o600)
		if err := os.WriteFile(p, []byte("garbage: ["), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r, resp := d.createJoin(t, token, `{"roles":["web frontend"]}`)
	if r.Status != 200 {
		t.Fatalf("create-join-command after the files broke: %d %s", r.Status, r.Body)
	}
	b := d.do(t, "GET", "/v1/join-bundle?roles=web+frontend", joinToken(t, resp), "")
	if b.Status != 200 {
		t.Fatalf("download after the files broke: %d %s", b.Status, b.Body)
	}
	if lic := fileData(untar(t, b.Body)["license.yaml"]); !strings.Contains(string(lic), "kind: License") {
		t.Errorf("bundle license = %q, want the one read at start", lic)
	}
}

// TestBadRoleNames: names no EC config could hold are refused with 400 on
// both endpoints.
func TestBadRoleNames(t *testing.T) {
	d := startDaemon(t, env)
	token := d.login(t, password)
	for name, body := range map[string]string{
		"overlong":     `{"roles":["` + strings.Repeat("r", 300) + `"]}`,
		"blank":        `{"roles":["   "]}`,
		"control char": `{"roles":["a\nb"]}`,
		"not a string": `{"roles":[1]}`,
		"null":         `{"roles":null}`,
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, d.do(t, "POST", api.PathCreateJoinCommand, token, body, jsonCT), 400, "")
		})
	}
	for name, query := range map[string]string{
		"overlong":  "roles=" + strings.Repeat("r", 300),
		"empty":     "roles=",
		"empty one": "roles=controller,,database",
		"duplicate": "roles=controller,controller",
		"twice":     "roles=controller&roles=database",
		"unknown":   "roles=..%2F..%2Fetc",
	} {
		t.Run("bundle "+name, func(t *testing.T) {
			wantError(t, d.do(t, "GET", "/v1/join-bundle?"+query, token, ""), 400, "")
		})
	}
}

// TestDataDirEscapes: a symlink in the data dir that points outside it is
// left out of bundles; the bundle is still served.
func TestDataDirEscapes(t *testing.T) {
	d := startDaemon(t, env, func(o *ServeOptions) {
		if err := os.Symlink("/etc/passwd", filepath.Join(o.DataDir, "images", "passwd.tar")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/etc", filepath.Join(o.DataDir, "charts", "etc")); err != nil {
			t.Fatal(err)
		}
	})
	token := d.login(t, password)
	b := d.do(t, "GET", "/v1/join-bundle?roles=controller", token, "")
	if b.Status != 200 {
		t.Fatalf("bundle: %d %s", b.Status, b.Body)
	}
	for name := range untar(t, b.Body) {
		if strings.Contains(name, "passwd") || strings.Contains(name, "charts/etc") || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
			t.Errorf("bundle holds %s", name)
		}
	}
}
