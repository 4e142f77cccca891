package join

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/ecapi/ecapi/internal/ecconfig"
)

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"controller":                  "controller",
		"sha256//abc+/=":              "sha256//abc+/=",
		"Authorization: Bearer x.y.z": "'Authorization: Bearer x.y.z'",
		"it's":                        `'it'\''s'`,
		"":                            "''",
		"a;rm -rf /":                  "'a;rm -rf /'",
		"$(id)":                       "'$(id)'",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
	// The shell reads every quoted word back as it was.
	for _, in := range []string{"it's", "a b\tc", "$(id)`x`", "\\n'\"", "web frontend"} {
		out, err := exec.Command("sh", "-c", "printf %s "+ShellQuote(in)).Output()
		if err != nil || string(out) != in {
			t.Errorf("sh read %q back as %q (%v)", in, out, err)
		}
	}
}

func TestBundleNameAndURL(t *testing.T) {
	issued := time.Date(2026, 1, 15, 12, 0, 0, 0, time.FixedZone("x", 3600))
	if got := BundleFileName("demo", []string{"controller", "web frontend"}, issued); got != "demo-join-controller-web-frontend-20260115-110000.tar.gz" {
		t.Errorf("file name = %s", got)
	}
	if got := BundleURL("10.0.0.11", 30081, []string{"controller", "web frontend"}); got != "https://10.0.0.11:30081/v1/join-bundle?roles=controller,web+frontend" {
		t.Errorf("url = %s", got)
	}
	if got := BundleURL("fd00::10", 30081, []string{"controller"}); got != "https://[fd00::10]:30081/v1/join-bundle?roles=controller" {
		t.Errorf("IPv6 url = %s", got)
	}
}

func TestStepsAreShellSafe(t *testing.T) {
	steps := Steps("sha256//AAAA", "hdr.payload.sig", "https://10.0.0.11:30081/v1/join-bundle?roles=controller", "demo-join-controller-20260115-120000.tar.gz", "demo")
	want := []string{
		"curl -fsS -k --pinnedpubkey sha256//AAAA -H 'Authorization: Bearer hdr.payload.sig' 'https://10.0.0.11:30081/v1/join-bundle?roles=controller' -o demo-join-controller-20260115-120000.tar.gz",
		"tar xzf demo-join-controller-20260115-120000.tar.gz",
		"sudo ./demo node join",
	}
	for i, s := range steps {
		if s.Command != want[i] {
			t.Errorf("step %d = %q\nwant      %q", i, s.Command, want[i])
		}
	}
	if steps[0].Description != "Download the join bundle" || steps[1].Description != "Extract the bundle" || steps[2].Description != "Run the join command" {
		t.Errorf("descriptions = %+v", steps)
	}
}

func TestK0sJoinToken(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	for _, tc := range []struct {
		controller bool
		server     string
		user       string
		advertise  string
	}{
		{false, "https://10.0.0.11:6443", "kubelet-bootstrap", "10.0.0.11"},
		{true, "https://10.0.0.11:9443", "controller-bootstrap", "10.0.0.11"},
		{false, "https://[fd00::10]:6443", "kubelet-bootstrap", "fd00::10"},
	} {
		tok, err := K0sJoinToken(BootstrapToken{ID: "abcdef", Secret: "0123456789abcdef", Controller: tc.controller}, tc.advertise, ca)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(tok)
		if err != nil {
			t.Fatalf("not standard base64: %v", err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("not gzip: %v", err)
		}
		kubeconfig, _ := io.ReadAll(zr)
		cfg, err := clientcmd.Load(kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		ctx := cfg.Contexts[cfg.CurrentContext]
		if len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 || ctx == nil || ctx.AuthInfo != tc.user {
			t.Fatalf("kubeconfig shape: %+v", cfg)
		}
		if got := cfg.Clusters[ctx.Cluster].Server; got != tc.server {
			t.Errorf("server = %s, want %s", got, tc.server)
		}
		if !bytes.Equal(cfg.Clusters[ctx.Cluster].CertificateAuthorityData, ca) {
			t.Error("CA data differs")
		}
		if got := cfg.AuthInfos[tc.user].Token; got != "abcdef.0123456789abcdef" {
			t.Errorf("token = %s", got)
		}
	}
}

func TestParseRoles(t *testing.T) {
	cfg, err := ecconfig.Parse([]byte("spec:\n  roles:\n    controller:\n      name: ctrl\n    custom:\n    - name: db\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{Roles: cfg}
	roles, err := s.ParseRoles([]string{"db", "ctrl"})
	if err != nil || len(roles) != 2 || roles[0].Name != "db" || !roles[1].Controller {
		t.Fatalf("ParseRoles = %+v, %v", roles, err)
	}
	for _, bad := range [][]string{nil, {}, {"x"}, {"db", "db"}, {""}, {" "}, {strings.Repeat("a", 300)}} {
		_, err := s.ParseRoles(bad)
		var je *Error
		if err == nil || !asJoinError(err, &je) || je.Kind != Invalid {
			t.Errorf("ParseRoles(%q) = %v, want an Invalid error", bad, err)
		}
	}
	_, err = s.ParseRoles([]string{"x"})
	if !strings.Contains(err.Error(), `"ctrl", "db"`) {
		t.Errorf("unknown-role message does not list the valid roles: %v", err)
	}
}

func TestParseTTL(t *testing.T) {
	for in, want := range map[string]time.Duration{"": time.Hour, "5m": 5 * time.Minute, "24h": 24 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := parseTTL(in); err != nil || got != want {
			t.Errorf("parseTTL(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"4m59s", "25h", "-1h", "soon", "1"} {
		if _, err := parseTTL(bad); err == nil {
			t.Errorf("parseTTL(%q) accepted", bad)
		}
	}
}

func asJoinError(err error, target **Error) bool {
	e, ok := err.(*Error)
	*target = e
	return ok
}
