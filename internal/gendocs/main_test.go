package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ecapi/ecapi/internal/cmd/completion"
	"github.com/ecapi/ecapi/internal/cmdutil"
)

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := generate(a); err != nil {
		t.Fatal(err)
	}
	// Environment the output must not depend on.
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("ECAPI_SERVER", "https://192.0.2.1:30081")
	t.Setenv("SOURCE_DATE_EPOCH", "0")
	if err := generate(b); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, sh := range completion.Shells {
		want = append(want, filepath.Join("completions", sh.File))
	}
	want = append(want, filepath.Join("man", "ecapi.1"))
	for _, c := range newRoot().Commands() {
		if c.IsAvailableCommand() {
			want = append(want, filepath.Join("man", "ecapi-"+c.Name()+".1"))
		}
	}
	for _, rel := range want {
		da, err := os.ReadFile(filepath.Join(a, rel))
		if err != nil {
			t.Errorf("not generated: %v", err)
			continue
		}
		db, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(da, db) {
			t.Errorf("%s differs between two runs", rel)
		}
	}
}

func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if err := writeManPages(dir); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	root := read("ecapi.1")
	for _, want := range []string{
		`.TH "ECAPI" "1" "Jan 2026" "ecapi" "ecapi manual"`,
		".SH EXIT STATUS", ".B 0\nsuccess", ".B 5\nTLS verification failed",
		".SH ENVIRONMENT", ".B ECAPI_SERVER", ".SH FILES",
		"ECAPI_<FLAG>", // cobra/doc renders Markdown: unescaped, <FLAG> would vanish as an HTML tag
	} {
		if !strings.Contains(root, want) {
			t.Errorf("ecapi.1 lacks %q", want)
		}
	}
	if i, j := strings.Index(root, ".SH EXIT STATUS"), strings.Index(root, ".SH SEE ALSO"); i > j {
		t.Error("EXIT STATUS comes after SEE ALSO")
	}
	serve := read("ecapi-serve.1")
	if !strings.Contains(serve, "<data-dir>/ec-config.yaml") {
		t.Errorf("ecapi-serve.1 lost <data-dir> in the --ec-config description:\n%s", serve)
	}
	if strings.Contains(serve, "Auto generated") {
		t.Error("ecapi-serve.1 has cobra's dated auto-generated footer")
	}
	// A stale page of a removed verb is deleted.
	stale := filepath.Join(dir, "ecapi-removed-verb.1")
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeManPages(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale man page kept: %v", err)
	}
}

// TestOperatorsDocCoversServeFlags keeps the flag table of
// docs/operators.md in step with `ecapi serve`.
func TestOperatorsDocCoversServeFlags(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operators.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range newRoot().Commands() {
		if c.Name() != "serve" {
			continue
		}
		n := 0
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			n++
			for _, want := range []string{"`--" + f.Name + "`", "`" + cmdutil.EnvName(f.Name) + "`"} {
				if !bytes.Contains(doc, []byte(want)) {
					t.Errorf("docs/operators.md does not document %s of ecapi serve", want)
				}
			}
		})
		if n == 0 {
			t.Fatal("ecapi serve has no flags?")
		}
		return
	}
	t.Fatal("no serve command")
}
