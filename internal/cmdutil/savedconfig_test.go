package cmdutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveLoginRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "ecapi")
	want := SavedLogin{Server: "https://10.0.0.11:30081", Pin: "sha256//x", CAFile: "/etc/ca.pem", Token: "tok"}
	path, err := SaveLogin(dir, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadSavedLogin(dir)
	if err != nil || got != want {
		t.Fatalf("LoadSavedLogin = %+v, %v; want %+v", got, err, want)
	}
	for p, mode := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode().Perm(), err, mode)
		}
	}
	data, _ := os.ReadFile(path)
	for _, key := range []string{"server:", "pin:", "ca-file:", "token:"} {
		if !strings.Contains(string(data), key) {
			t.Errorf("config.yaml lacks %q (the root's layering reads these names):\n%s", key, data)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only config.yaml (no temp files)", len(entries))
	}
}

func TestSaveLoginKeepsOtherKeysAndDropsEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(ConfigFilePath(dir), []byte("timeout: 5m\npin: old\ntoken: old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := SaveLogin(dir, SavedLogin{Server: "https://a:1", Token: "new"}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(ConfigFilePath(dir))
	if got, want := string(data), "server: https://a:1\ntimeout: 5m\ntoken: new\n"; got != want {
		t.Errorf("config.yaml =\n%s\nwant\n%s", got, want)
	}
}

func TestLoadSavedLoginMissingAndBroken(t *testing.T) {
	dir := t.TempDir()
	if got, err := LoadSavedLogin(dir); err != nil || got != (SavedLogin{}) {
		t.Errorf("missing file: %+v, %v; want empty, nil", got, err)
	}
	if err := os.WriteFile(ConfigFilePath(dir), []byte("server: [unclosed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSavedLogin(dir); err == nil {
		t.Error("broken YAML accepted")
	}
}
