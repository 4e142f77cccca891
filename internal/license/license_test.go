package license_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecapi/ecapi/internal/license"
)

func doc(slug string, extra string) string {
	return "apiVersion: kots.io/v1beta1\nkind: License\nmetadata:\n  name: customer\nspec:\n  licenseID: 2abcDEF\n  appSlug: " + slug + "\n" + extra
}

func TestParse(t *testing.T) {
	cases := []struct {
		name      string
		yaml      string
		slug      string
		multiNode bool
	}{
		{"multi-node license", doc("my-app", "  isEmbeddedClusterMultiNodeEnabled: true\n"), "my-app", true},
		{"multi-node disabled", doc("my-app", "  isEmbeddedClusterMultiNodeEnabled: false\n"), "my-app", false},
		{"multi-node absent", doc("my-app", ""), "my-app", false},
		{"one-character slug", doc("a", ""), "a", false},
		{"digits", doc("app2", ""), "app2", false},
		{"63-character slug", doc(strings.Repeat("a", 63), ""), strings.Repeat("a", 63), false},
		{"quoted slug", doc(`"quoted-app"`, ""), "quoted-app", false},
		{"unknown fields ignored", doc("my-app", "  isAirgapSupported: true\n  entitlements:\n    seats: {value: 5}\n"), "my-app", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := license.Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if l.AppSlug != tc.slug || l.MultiNode != tc.multiNode || l.LicenseID != "2abcDEF" {
				t.Errorf("got slug %q multiNode %v id %q, want %q %v 2abcDEF", l.AppSlug, l.MultiNode, l.LicenseID, tc.slug, tc.multiNode)
			}
			if string(l.Raw) != tc.yaml {
				t.Error("Raw is not the document as given")
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		errWant string
	}{
		{"bad apiVersion", strings.Replace(doc("my-app", ""), "kots.io/v1beta1", "kots.io/v1beta2", 1), "not a kots.io/v1beta1 License"},
		{"bad kind", strings.Replace(doc("my-app", ""), "kind: License", "kind: Installation", 1), "not a kots.io/v1beta1 License"},
		{"no header", "spec:\n  appSlug: my-app\n", "not a kots.io/v1beta1 License"},
		{"empty slug", doc(`""`, ""), "appSlug"},
		{"missing slug", "apiVersion: kots.io/v1beta1\nkind: License\nspec: {}\n", "appSlug"},
		{"upper-case slug", doc("UPPER", ""), "appSlug"},
		{"mixed-case slug", doc("My-App", ""), "appSlug"},
		{"slash", doc("a/b", ""), "appSlug"},
		{"path traversal", doc("../x", ""), "appSlug"},
		{"dot", doc("a.b", ""), "appSlug"},
		{"leading dash", doc("-app", ""), "appSlug"},
		{"trailing dash", doc("app-", ""), "appSlug"},
		{"underscore", doc("my_app", ""), "appSlug"},
		{"space", doc(`"my app"`, ""), "appSlug"},
		{"shell metacharacters", doc(`"app;rm -rf /"`, ""), "appSlug"},
		{"64 characters", doc(strings.Repeat("a", 64), ""), "appSlug"},
		{"very long", doc(strings.Repeat("a", 300), ""), "appSlug"},
		{"invalid YAML", "apiVersion: kots.io/v1beta1\nkind: [License\n", "parse YAML"},
		{"wrong type", doc("my-app", "  isEmbeddedClusterMultiNodeEnabled: [yes]\n"), "parse YAML"},
		{"empty document", "", "not a kots.io/v1beta1 License"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := license.Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", l)
			}
			if !strings.Contains(err.Error(), tc.errWant) {
				t.Errorf("error %q does not mention %q", err, tc.errWant)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "license.yaml")
	content := doc("my-app", "  isEmbeddedClusterMultiNodeEnabled: true\n")
	if err := os.WriteFile(good, []byte(content), 0o400); err != nil {
		t.Fatal(err)
	}
	l, err := license.Load(good)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if l.AppSlug != "my-app" || !l.MultiNode || string(l.Raw) != content {
		t.Errorf("loaded %+v", l)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(doc("UPPER", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
	}{
		{"missing file", filepath.Join(dir, "missing.yaml")},
		{"directory", dir},
		{"invalid license", bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := license.Load(tc.path)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", l)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
